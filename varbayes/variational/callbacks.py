"""``varbayes.variational.callbacks``: the callbacks, under PyMC's module path."""

from varbayes.variational.api.callbacks import *  # noqa: F403
from varbayes.variational.api.callbacks import __all__  # noqa: F401
