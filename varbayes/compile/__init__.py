"""The bridge from PyTensor graphs to pure JAX functions."""

from varbayes.compile.jaxify import jaxify
from varbayes.compile.model import CompiledModel, JaxFunction, build_function, compile_logdensity, compile_model
from varbayes.compile.ravel import Ravel, VarLayout

__all__ = ["jaxify", "CompiledModel", "JaxFunction", "build_function", "compile_logdensity", "compile_model", "Ravel", "VarLayout"]
