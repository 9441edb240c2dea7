"""The step size a fit chooses for itself: an Adam whose learning rate is data.

The learning rate lives in the optimizer's state (``optax.inject_hyperparams``),
so one compiled loop serves every step size the schedule tries: the search
at the start and each later reduction change a number, not the program.

The search follows the adaptation phase of Stan's ADVI (Kucukelbir et al.
2017) and the step-size search of Agrawal, Sheldon & Domke (2020): every
candidate runs a few dozen iterations from the same start with the same
random numbers, largest first, and the one with the lowest average loss
over its second half is kept. Candidates that diverge are dropped; as in
Stan, the search ends at the first candidate that does worse than the best
before it.
"""

from __future__ import annotations

from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np
import optax

__all__ = [
    "CANDIDATE_STEP_SIZES",
    "adaptive_adam",
    "learning_rate",
    "with_learning_rate",
    "search_score",
]

#: Adam learning rates tried at the start, largest first.
CANDIDATE_STEP_SIZES = (0.1, 0.03, 0.01, 0.003, 0.001)


@lru_cache(maxsize=16)
def adaptive_adam(step_size: float = 0.1) -> optax.GradientTransformation:
    """Adam with its learning rate in the state, settable with :func:`with_learning_rate`.

    The same object is returned for the same ``step_size``, so that programs
    built on it (its jitted ``init``) are reused by later fits.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> opt = adaptive_adam(0.1)
    >>> state = with_learning_rate(opt.init(jnp.zeros(2)), 0.01)
    >>> learning_rate(state)
    0.01
    """
    return optax.inject_hyperparams(optax.adam)(learning_rate=step_size)


def _find(opt_state):
    """The ``InjectHyperparamsState`` inside ``opt_state`` (possibly within a chain's tuple)."""
    if hasattr(opt_state, "hyperparams"):
        return opt_state
    if isinstance(opt_state, tuple):
        for inner in opt_state:
            found = _find(inner)
            if found is not None:
                return found
    return None


def learning_rate(opt_state) -> float | None:
    """The learning rate held in ``opt_state``, or ``None`` for an optimizer that holds none."""
    found = _find(opt_state)
    return None if found is None else float(found.hyperparams["learning_rate"])


def with_learning_rate(opt_state, value: float):
    """``opt_state`` with its learning rate set to ``value`` (same dtype, so no recompilation)."""

    def replace(state):
        if hasattr(state, "hyperparams"):
            old = state.hyperparams["learning_rate"]
            return state._replace(hyperparams={**state.hyperparams, "learning_rate": _scalar(value, old.dtype)})
        if isinstance(state, tuple) and not hasattr(state, "_fields"):
            return tuple(replace(inner) for inner in state)
        return state

    if _find(opt_state) is None:
        raise ValueError("this optimizer state holds no learning rate to set")
    return replace(opt_state)


def _scalar(value, dtype):
    """``jnp.asarray(value, dtype)``; for a number on the host a transfer, where jnp.asarray compiles a conversion."""
    if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
        return jax.device_put(np.asarray(value, dtype))
    return jnp.asarray(value, dtype)


def search_score(losses: np.ndarray) -> float:
    """A candidate's score: mean loss over the second half of its run (``inf`` if any is not finite).

    Examples
    --------
    >>> search_score(np.array([5.0, 4.0, 1.0, 3.0]))
    2.0
    """
    losses = np.asarray(losses)
    if losses.size == 0 or not np.all(np.isfinite(losses)):
        return float("inf")
    return float(np.mean(losses[losses.size // 2 :]))
