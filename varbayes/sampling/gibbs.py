"""Metropolis within Gibbs: NUTS on the continuous θ, an integer random walk on the discrete ``k`` (pure JAX).

Discrete free variables with an infinite support (Poisson, NegativeBinomial,
Binomial whose ``n`` is a free variable, ...) cannot be summed out. Each
step of this sampler then moves the two parts in turn, as PyMC's compound
step does:

1. a NUTS transition of θ targeting ``p(θ | k, data)``, with the windowed
   warmup of step size and diagonal mass matrix (:mod:`.adaptation`)
   running inside this loop while ``k`` moves;
2. for each discrete variable (a block of ``k``), a Metropolis update
   targeting ``p(k | θ, data)`` with a symmetric integer random-walk proposal
   (:func:`integer_proposal`), whose scale is tuned during warmup towards an
   acceptance probability of :data:`TARGET_ACCEPT`. A proposal outside the
   variable's support has log-density ``-inf`` and is rejected.

Both moves leave the joint posterior invariant, so their composition does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from varbayes.sampling import adaptation
from varbayes.sampling.chunks import chunk_runner
from varbayes.sampling.stats import NUTSStats, nuts_stats

if TYPE_CHECKING:  # blackjax is imported on the first sample(): importing it takes most of a second
    from blackjax.mcmc.hmc import HMCState

__all__ = [
    "TARGET_ACCEPT",
    "GibbsState",
    "GibbsStats",
    "MetropolisStats",
    "build_runners",
    "discrete_sweep",
    "integer_proposal",
]

#: Acceptance probability the proposal scale of each discrete variable is tuned to during warmup
#: (about the optimum of a one-dimensional random walk, 0.44, and of a many-dimensional one, 0.23).
TARGET_ACCEPT = 0.4

# log of the proposal scale: where it starts, and the range it is kept in (a scale below 1 only
# thins how many elements of a block move; one far above any support's width only wastes proposals)
_LOG_SCALE_START = 0.0
_LOG_SCALE_RANGE = (np.log(0.05), np.log(1e6))
# Robbins-Monro gain of the scale's adaptation at warmup step t: (t + 1) ** -_GAIN_DECAY
_GAIN_DECAY = 0.6


# NUTSStats' fields, then the Metropolis part's
GibbsStats = NamedTuple("GibbsStats", [*NUTSStats.__annotations__.items(), ("accept", jax.Array)])
GibbsStats.__doc__ = """What is recorded of each compound step (``sample_stats``).

The NUTS fields are those of :class:`~varbayes.sampling.stats.NUTSStats`
(``lp`` is the joint log-density after the whole step); ``accept`` is the
Metropolis acceptance probability ``min(1, p(k') / p(k))`` of the step's
discrete proposals, averaged over the discrete variables.
"""


class MetropolisStats(NamedTuple):
    """What is recorded of each step when there is no continuous variable (Metropolis alone)."""

    lp: jax.Array
    accept: jax.Array


class GibbsState(NamedTuple):
    """State of one chain.

    ``hmc`` holds θ with ``log p(θ, k)`` and its gradient in θ at the
    current ``discrete`` values ``k``; ``log_scale`` is the log of each
    discrete variable's proposal scale.
    """

    hmc: HMCState
    discrete: jax.Array
    log_scale: jax.Array
    warmup: adaptation.WarmupState


def integer_proposal(key, values: jax.Array, scale) -> jax.Array:
    """A symmetric random-walk proposal on the integers for the flat block ``values``.

    Each element moves by a normal draw of sd ``scale`` rounded to the
    nearest integer; one element, picked uniformly, always moves (by at least
    one), so that no proposal is the current point. The step's distribution
    does not depend on ``values`` and is the same for ``+d`` and ``-d``: the
    proposal is symmetric and the Metropolis ratio is ``p(k') / p(k)``.

    Parameters
    ----------
    key : jax.Array
        Random key.
    values : jax.Array
        Current integer values, 1-D.
    scale : float
        Standard deviation of the unrounded steps.

    Returns
    -------
    jax.Array
        The proposal, of the dtype of ``values``.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> k = jnp.array([3, 3, 3])
    >>> moved = integer_proposal(jax.random.key(0), k, 0.1) - k
    >>> int((moved != 0).sum()), int(jnp.abs(moved).max())
    (1, 1)
    """
    key_step, key_pick = jax.random.split(key)
    raw = scale * jax.random.normal(key_step, values.shape)
    step = jnp.round(raw)
    pick = jax.random.randint(key_pick, (), 0, values.shape[0])
    forced = jnp.where(raw[pick] < 0, -1.0, 1.0) * jnp.maximum(1.0, jnp.abs(step[pick]))
    return values + step.at[pick].set(forced).astype(values.dtype)


def discrete_sweep(
    key,
    discrete: jax.Array,
    logdensity: jax.Array,
    logdensity_fn: Callable,
    blocks: Sequence,
    scales: jax.Array,
):
    """One Metropolis update of each block of ``discrete``, in turn.

    Parameters
    ----------
    key : jax.Array
        Random key.
    discrete : jax.Array
        Current flat integer values ``k``.
    logdensity : jax.Array
        ``logdensity_fn(discrete)``.
    logdensity_fn : callable
        ``k -> log p(θ, k, data)`` with θ fixed.
    blocks : sequence
        One per discrete variable, with ``offset`` and ``size`` (its slice
        of ``k``) and ``lower`` and ``upper`` (flat bounds of its support,
        ``-inf`` / ``inf`` where unknown).
    scales : jax.Array
        Proposal scale of each block.

    Returns
    -------
    tuple
        The new ``k``, its log-density, and each block's acceptance
        probability, shape ``(len(blocks),)``.

    Examples
    --------
    >>> import jax, jax.numpy as jnp, numpy as np
    >>> from types import SimpleNamespace
    >>> block = SimpleNamespace(offset=0, size=1, lower=np.array([0.0]), upper=np.array([np.inf]))
    >>> logp = lambda k: -0.5 * jnp.sum((k - 5.0) ** 2)
    >>> k, lp, accept = discrete_sweep(jax.random.key(1), jnp.array([0]), logp(jnp.array([0])), logp, [block], jnp.ones(1))
    >>> accept.shape
    (1,)
    """
    from blackjax.mcmc.random_walk import RWState, build_rmh

    kernel = build_rmh()
    accepts = []
    for i, block in enumerate(blocks):
        start, stop = block.offset, block.offset + block.size
        lower, upper = jnp.asarray(block.lower), jnp.asarray(block.upper)
        current = discrete

        def block_logdensity(values, current=current, lower=lower, upper=upper, start=start, stop=stop):
            # checked here rather than left to the logp: outside the support it may be NaN, not -inf
            inside = jnp.all((values >= lower) & (values <= upper))
            return jnp.where(inside, logdensity_fn(current.at[start:stop].set(values)), -jnp.inf)

        state, info = kernel(
            jax.random.fold_in(key, i),
            RWState(discrete[start:stop], logdensity),
            block_logdensity,
            lambda k, values, scale=scales[i]: integer_proposal(k, values, scale),
        )
        discrete = discrete.at[start:stop].set(state.position)
        logdensity = state.logdensity
        accepts.append(info.acceptance_rate)
    return discrete, logdensity, jnp.stack(accepts)


def _adapt_log_scale(log_scale, accept, step, adapting):
    # Robbins-Monro towards TARGET_ACCEPT, with a decaying gain, during warmup only
    accept = jnp.where(jnp.isfinite(accept), accept, 0.0)
    gain = (step + 1.0) ** -_GAIN_DECAY
    tuned = jnp.clip(log_scale + gain * (accept - TARGET_ACCEPT), *_LOG_SCALE_RANGE)
    return jnp.where(adapting, tuned, log_scale)


def build_runners(
    logdensity: Callable,
    n_dims: int,
    blocks: Sequence,
    buffer: int,
    max_treedepth: int,
    target_accept: float,
):
    """Compiled ``init`` and ``run`` of the compound sampler for one model.

    Parameters
    ----------
    logdensity : callable
        ``logdensity(theta, k, data) -> scalar``, the joint log-density of
        the continuous θ (unconstrained, length ``n_dims``) and the flat
        integer ``k``.
    n_dims : int
        Length of θ; with 0 the step is the Metropolis sweep alone.
    blocks : sequence
        The discrete variables' slices and bounds (see :func:`discrete_sweep`).
    buffer : int
        Rows recorded per chunk (:func:`~varbayes.sampling.chunks.chunk_runner`).
    max_treedepth : int
        Maximum number of NUTS trajectory doublings.
    target_accept : float
        Target acceptance of NUTS's step-size adaptation.

    Returns
    -------
    tuple of callable
        ``init(theta, k, step_size, inverse_mass_matrix, data)`` (chains on the
        leading axis) and ``run(state, keys, schedule, start, n_steps, data)``,
        whose records are ``((theta, k), stats)`` with stats
        :class:`GibbsStats` (:class:`MetropolisStats` when ``n_dims == 0``).

    Examples
    --------
    >>> import jax, jax.numpy as jnp, numpy as np
    >>> from types import SimpleNamespace
    >>> from varbayes.sampling import adaptation
    >>> block = SimpleNamespace(offset=0, size=1, lower=np.array([0.0]), upper=np.array([np.inf]))
    >>> def logdensity(theta, k, data):  # k ~ Poisson(3), theta ~ N(0, 1)
    ...     return -0.5 * jnp.sum(theta**2) + jnp.sum(k * jnp.log(3.0) - jax.scipy.special.gammaln(k + 1.0))
    >>> init, run = build_runners(logdensity, 1, [block], 64, 10, 0.8)
    >>> state = init(jnp.zeros((2, 1)), jnp.full((2, 1), 3), 0.5, jnp.ones((2, 1)), ())
    >>> schedule = jnp.asarray(adaptation.schedule(32, 32, 64))
    >>> state, ((theta, k), stats) = run(state, jax.random.split(jax.random.key(0), 2), schedule, 0, 64, ())
    >>> k.shape, stats.accept.shape
    ((2, 64, 1), (2, 64))
    """
    import blackjax

    kernel = blackjax.nuts.build_kernel()
    warmup_init, warmup_update = adaptation.warmup(target_accept)
    blocks = tuple(blocks)

    def init(theta, discrete, step_size, inverse_mass_matrix, data):
        def one_chain(theta, k, imm):
            hmc = blackjax.mcmc.hmc.init(theta, lambda t: logdensity(t, k, data))
            log_scale = jnp.full(len(blocks), _LOG_SCALE_START, dtype=jnp.result_type(float))
            return GibbsState(hmc, k, log_scale, warmup_init(n_dims, step_size, imm))

        return jax.vmap(one_chain)(theta, discrete, inverse_mass_matrix)

    def transition(state: GibbsState, key, step, schedule, data):
        row = schedule[step]
        key_continuous, key_discrete = jax.random.split(jax.random.fold_in(key, step))
        k, warm, hmc = state.discrete, state.warmup, state.hmc
        if n_dims:
            hmc, info = kernel(
                key_continuous,
                hmc,
                lambda theta: logdensity(theta, k, data),
                warm.step_size,
                warm.inverse_mass_matrix,
                max_num_doublings=max_treedepth,
            )
            warm = warmup_update(warm, row, hmc.position, info.acceptance_rate)
        theta = hmc.position
        k, _, accept = discrete_sweep(
            key_discrete, k, hmc.logdensity, lambda values: logdensity(theta, values, data), blocks, jnp.exp(state.log_scale)
        )
        log_scale = _adapt_log_scale(state.log_scale, accept, step, row[0] != adaptation.FIXED)
        # the gradient in θ changes with k: the next NUTS transition starts from a fresh one
        hmc = blackjax.mcmc.hmc.init(theta, lambda t: logdensity(t, k, data))
        if n_dims:
            stats = GibbsStats(*nuts_stats(hmc.logdensity, info, state.warmup, max_treedepth), accept=jnp.mean(accept))
        else:
            stats = MetropolisStats(lp=hmc.logdensity, accept=jnp.mean(accept))
        return GibbsState(hmc, k, log_scale, warm), ((theta, k), stats)

    return jax.jit(init), jax.jit(chunk_runner(transition, buffer))
