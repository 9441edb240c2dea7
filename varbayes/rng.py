"""Shared random generators whose every ``.eval()`` gives new draws."""

from __future__ import annotations

import warnings

import numpy as np
import pytensor
from pytensor.compile.sharedvalue import SharedVariable

from varbayes.config import default_seed

__all__ = ["shared_generator", "advance_on_eval", "jax_key"]


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


def jax_key(seed: int):
    """``jax.random.key(seed)``, made without compiling a program where the key's bits are known.

    With JAX's default generator (threefry) the key of a non-negative 64-bit
    seed holds its high and low 32-bit words; ``jax.random.key`` computes them
    with a small compiled program, which costs a new process a few milliseconds.

    Examples
    --------
    >>> import jax, numpy as np
    >>> seed = 2**40 + 7
    >>> bool(np.all(jax.random.key_data(jax_key(seed)) == jax.random.key_data(jax.random.key(seed))))
    True
    """
    import jax

    if jax.config.jax_default_prng_impl == "threefry2x32" and 0 <= seed < 2**64:
        return jax.random.wrap_key_data(np.array([seed >> 32, seed & 0xFFFFFFFF], dtype=np.uint32))
    return jax.random.key(seed)
