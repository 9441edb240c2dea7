"""Variational inference: a pure-JAX core and the PyMC-style API on top of it."""

from varbayes.variational.api import *  # noqa: F403
from varbayes.variational.api import __all__ as _api
from varbayes.variational import callbacks

__all__ = ["callbacks", *_api]
