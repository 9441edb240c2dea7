"""Shared random generators whose every ``.eval()`` gives new draws."""

from __future__ import annotations

import warnings

import numpy as np
import pytensor
from pytensor.compile.sharedvalue import SharedVariable

from varbayes.config import default_seed

__all__ = ["shared_generator", "advance_on_eval"]


def shared_generator(random_seed: int | None = None) -> SharedVariable:
    """A shared NumPy generator (seeded from the global seed when ``random_seed`` is None)."""
    return pytensor.shared(np.random.default_rng(default_seed(random_seed)))


def advance_on_eval(rng: SharedVariable, next_rng) -> None:
    """Make every compiled function that draws from ``rng`` advance it.

    PyTensor deprecates default updates, but they are what lets a plain
    ``.eval()`` of a random graph give fresh draws each time, as the
    PyMC3 API promises (``sample_node``, ``Minibatch``).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        rng.default_update = next_rng
