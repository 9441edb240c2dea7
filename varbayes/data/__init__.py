"""Data containers: ``Data`` and ``Minibatch``."""

from varbayes.data.containers import Data, set_data
from varbayes.data.minibatch import Minibatch, is_minibatch

__all__ = ["Data", "set_data", "Minibatch", "is_minibatch"]
