"""What ``sample_stats`` records of each NUTS transition, for plain NUTS and NUTS within Gibbs (pure JAX)."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from varbayes.sampling.adaptation import averaged_step_size

__all__ = ["NUTSStats", "nuts_stats"]


class NUTSStats(NamedTuple):
    """What is recorded of each NUTS transition (``sample_stats``)."""

    lp: jax.Array
    diverging: jax.Array
    energy: jax.Array
    step_size: jax.Array
    step_size_bar: jax.Array
    tree_depth: jax.Array
    n_steps: jax.Array
    acceptance_rate: jax.Array
    reached_max_treedepth: jax.Array


def nuts_stats(lp, info, warm, max_treedepth: int) -> NUTSStats:
    """The record of a transition: ``info`` is blackjax's, ``warm`` the warmup state the transition used.

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> info = NS(is_divergent=False, energy=1.0, num_trajectory_expansions=10, num_integration_steps=1023,
    ...           acceptance_rate=0.9)
    >>> from varbayes.sampling.adaptation import warmup
    >>> init, _ = warmup(0.8)
    >>> warm = init(2, 0.5, jnp.ones(2))._replace(step_size_state=NS(log_step_size_avg=0.0))
    >>> s = nuts_stats(-3.0, info, warm, max_treedepth=10)
    >>> float(s.step_size_bar), bool(s.reached_max_treedepth)
    (1.0, True)
    """
    return NUTSStats(
        lp=lp,
        diverging=info.is_divergent,
        energy=info.energy,
        step_size=warm.step_size,
        step_size_bar=averaged_step_size(warm),
        tree_depth=info.num_trajectory_expansions,
        n_steps=info.num_integration_steps,
        acceptance_rate=info.acceptance_rate,
        reached_max_treedepth=info.num_trajectory_expansions >= max_treedepth,
    )
