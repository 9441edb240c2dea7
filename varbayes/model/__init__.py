"""Models: the context, variables, deterministics and potentials."""

from varbayes.model.core import Model, modelcontext
from varbayes.model.variables import Deterministic, Potential

__all__ = ["Model", "modelcontext", "Deterministic", "Potential"]
