"""Global numeric settings: the float type and the default random seed."""

from __future__ import annotations

import numpy as np
import pytensor

__all__ = ["floatX", "set_seed", "set_tt_rng", "default_seed", "next_seed"]

_rng = np.random.default_rng()


def floatX(x):
    """Cast ``x`` to PyTensor's float type (``pytensor.config.floatX``).

    Examples
    --------
    >>> import varbayes as pm
    >>> pm.floatX([0.2, 0.8]).dtype
    dtype('float64')
    """
    if hasattr(x, "astype") and not isinstance(x, np.ndarray) and hasattr(x, "type"):
        return x.astype(pytensor.config.floatX)
    return np.asarray(x, dtype=pytensor.config.floatX)


def set_seed(seed: int | None) -> None:
    """Set the default seed used when an entry point gets no ``random_seed``.

    Examples
    --------
    >>> import varbayes as pm
    >>> pm.set_seed(42)
    """
    global _rng
    _rng = np.random.default_rng(_check_seed(seed))


#: PyMC3's name for :func:`set_seed`.
set_tt_rng = set_seed


def next_seed() -> int:
    """Draw a fresh integer seed from the global generator."""
    return int(_rng.integers(0, 2**31 - 1))


def default_seed(random_seed: int | None) -> int:
    """``random_seed`` itself, or a fresh one from the global generator."""
    if random_seed is None:
        return next_seed()
    return _check_seed(random_seed)


def _check_seed(seed):
    if seed is None:
        return None
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"random_seed must be an integer or None, got {seed!r}")
    if seed < 0:
        raise ValueError(f"random_seed must be a non-negative integer, got {seed}")
    return int(seed)
