"""Pareto-smoothed importance sampling and an adaptive refinement of its proposal, in JAX.

:func:`psis` is Pareto-smoothed importance sampling (Vehtari, Simpson,
Gelman, Yao & Gabry 2024, "Pareto smoothed importance sampling", JMLR): the
largest importance ratios are replaced by the expected order statistics of a
generalised Pareto distribution fitted to them (Zhang & Stephens' empirical
Bayes estimate with the weakly informative prior on its shape), whose shape
k̂ says how heavy the ratios' tail is. It follows arviz-stats' ``psislw``
step for step, so the two agree to rounding, but runs inside a compiled
program, on a pool whose filled length is only known when it runs.

:func:`adaptive` refines a proposal that is too narrow for importance
sampling (k̂ at or above 0.7), with log-density evaluations only. It is
adaptive multiple importance sampling (Cornuet, Marin, Mira & Robert 2012,
"Adaptive multiple importance sampling", Scand. J. Stat.), in the spirit of
population Monte Carlo and of the moment matching of Paananen, Piironen,
Bürkner & Vehtari (2021, "Implicitly adaptive importance sampling", Stat.
Comput.). Each round

1. weights every draw so far against the mixture of every proposal so far,
   each weighted by its draws in the pool (the *deterministic mixture*
   weights: draws of early, poor proposals stay valid and the pool's
   effective sample size accumulates), and
   Pareto-smooths the weights;
2. stops when k̂ is below ``khat_threshold`` and the effective sample size
   is at least ``min_ess``;
3. otherwise fits a multivariate Student-t (``df`` degrees of freedom) to the
   weighted draws: their weighted mean, and their weighted covariance shrunk
   towards the previous proposal's by ``D`` pseudo-draws (a few draws with
   all the weight would otherwise give a degenerate covariance). Where the
   effective sample size is below ``adapt_ess``, the weights are tempered,
   ``(p / q) ** gamma`` with the largest ``gamma`` that reaches it (Koblents
   & Míguez 2015 clip the weights for the same reason): the moments are
   then those of a distribution between the proposal and the posterior, and
   a too-narrow proposal widens over a few rounds instead of collapsing onto
   its few heaviest draws;
4. draws a new block from the t and evaluates ``log p`` on it.

The t's tails are heavier than a normal's, so a proposal that has caught up
with the posterior's scale gives bounded ratios on a light-tailed posterior.
The whole loop is one ``jax.lax.while_loop`` over fixed-size arrays
(``max_rounds + 1`` blocks of ``num_draws`` draws), so it compiles once.

Nothing here imports PyTensor: functions take a JAX ``logdensity_fn(x, data)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

__all__ = [
    "DEFAULT_DF",
    "KHAT_THRESHOLD",
    "MIN_ESS_FRACTION",
    "AdaptiveResult",
    "StudentT",
    "adaptive",
    "effective_sample_size",
    "psis",
    "t_log_density",
    "t_sample",
]

#: The refinement stops when the pool's k̂ is below this and its ESS at least
#: ``MIN_ESS_FRACTION`` of one round's draws.
KHAT_THRESHOLD = 0.7
MIN_ESS_FRACTION = 0.25

#: Degrees of freedom of the refinement's Student-t proposals: tails heavy enough that a
#: proposal of about the posterior's scale has bounded ratios, light enough to waste few draws.
DEFAULT_DF = 5

# Zhang & Stephens' prior on the GPD's scale, and the weight of the prior on k (centred at 0.5)
_PRIOR_BS, _PRIOR_K = 3.0, 10.0


# ------------------------------------------------------------------ PSIS
def _tail_length(num):
    """arviz-stats' tail length (``r_eff = 1``): ``3 sqrt(S)`` above 225 draws, ``S / 5`` below."""
    num = jnp.asarray(num, jnp.float64 if jax.config.jax_enable_x64 else jnp.float32)
    return jnp.where(num > 225, jnp.floor(3.0 * jnp.sqrt(num)), jnp.floor(num / 5.0)).astype(jnp.int32)


def _gpd_fit(x: jax.Array, mask: jax.Array, n: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Zhang & Stephens' estimate of a generalised Pareto's ``(k, sigma)`` from the ``n`` sorted values under ``mask``.

    ``x`` is sorted ascending; its first ``len(x) - n`` entries are padding (``mask`` false).
    """
    size = x.shape[0]
    dtype = x.dtype
    nf = n.astype(dtype)
    start = size - n
    quartile = x[start + (jnp.floor(nf / 4.0 + 0.5)).astype(jnp.int32) - 1]
    grid_max = 30 + math.isqrt(size)
    grid_n = 30 + jnp.floor(jnp.sqrt(nf)).astype(jnp.int32)
    j = jnp.arange(1, grid_max + 1, dtype=dtype)
    on_grid = j <= grid_n
    b = 1.0 - jnp.sqrt(grid_n.astype(dtype) / (j - 0.5))
    b = b / (_PRIOR_BS * quartile) + 1.0 / x[-1]
    logs = jnp.where(mask[None, :], jnp.log1p(-b[:, None] * jnp.where(mask, x, 0.0)[None, :]), 0.0)
    k_grid = jnp.sum(logs, axis=1) / nf
    profile = nf * (jnp.log(-b / k_grid) - k_grid - 1.0)
    profile = jnp.where(on_grid, profile, -jnp.inf)
    w = jnp.exp(profile - jax.scipy.special.logsumexp(profile))
    # arviz drops the grid points of negligible weight before normalising
    w = jnp.where(w >= 10 * jnp.finfo(dtype).eps, w, 0.0)
    w = w / jnp.sum(w)
    b_post = jnp.sum(jnp.where(on_grid, b * w, 0.0))
    k = jnp.sum(jnp.where(mask, jnp.log1p(-b_post * x), 0.0)) / nf
    sigma = -k / b_post
    k = (nf * k + _PRIOR_K * 0.5) / (nf + _PRIOR_K)
    # a first quartile equal to the minimum: far from a generalised Pareto (arviz: nan)
    bad = quartile <= x[start]
    k = jnp.where(bad, jnp.nan, jnp.where(jnp.isnan(k), jnp.inf, k))
    return k, jnp.where(bad, jnp.nan, sigma)


def psis(log_ratios: jax.Array, num: jax.Array | int | None = None) -> tuple[jax.Array, jax.Array]:
    """Pareto-smoothed log weights (normalised) of log importance ratios, and k̂.

    Parameters
    ----------
    log_ratios : Array (T,)
        ``log p - log q`` of each draw; ``-inf`` for a draw with no weight.
    num : int or Array, optional
        How many draws the pool holds (the tail length depends on it), when
        ``log_ratios`` is padded beyond them with ``-inf``; ``T`` by default.

    Returns
    -------
    (log_weights (T,), khat ())
        ``khat`` is ``-inf`` when every finite ratio is the same (``q`` is
        ``p`` up to normalisation: equal weights, no tail to fit), ``nan``
        when the tail is too short or flat to fit; the weights are then the
        raw ratios', normalised.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> log_weights, khat = psis(jax.random.normal(jax.random.key(0), (1000,)))
    >>> bool(khat < 0.7), bool(jnp.isclose(jax.scipy.special.logsumexp(log_weights), 0.0))
    (True, True)
    """
    size = log_ratios.shape[0]
    num = jnp.asarray(size if num is None else num)
    finite = jnp.isfinite(log_ratios)
    top = jnp.max(jnp.where(finite, log_ratios, -jnp.inf))
    low = jnp.min(jnp.where(finite, log_ratios, jnp.inf))
    constant = (top - low) <= 1e-12 * jnp.maximum(1.0, jnp.abs(top))
    shifted = jnp.where(jnp.isnan(log_ratios), -jnp.inf, log_ratios) - top

    order = jnp.argsort(shifted)
    ordered = shifted[order]
    tail = _tail_length(num)
    # the longest tail a pool of this size can have (computed in Python: it sets a shape)
    window = max(math.floor(3.0 * math.sqrt(size)) if size > 225 else size // 5, 1)
    tail_x = ordered[size - window :]
    mask = jnp.arange(window) >= window - tail
    cutoff = ordered[size - tail - 1]
    max_tail = tail_x[-1]
    excess = jnp.where(mask, jnp.exp(tail_x) - jnp.exp(cutoff), 0.0)
    khat, sigma = _gpd_fit(excess, mask, tail)
    position = (jnp.arange(window) - (window - tail)).astype(shifted.dtype)
    p = (position + 0.5) / tail.astype(shifted.dtype)
    safe_k = jnp.where(jnp.abs(khat) > 0, khat, 1.0)
    quantile = jnp.where(
        jnp.abs(khat) > 0,
        sigma * jnp.expm1(-safe_k * jnp.log1p(-p)) / safe_k,
        -sigma * jnp.log1p(-p),
    )
    smoothed = jnp.minimum(jnp.log(jnp.exp(cutoff) + quantile), max_tail)
    fitted = jnp.isfinite(khat) & (tail >= 5) & (max_tail - tail_x[jnp.argmax(mask)] > 0)
    new_tail = jnp.where(mask & fitted, smoothed, tail_x)
    ordered = ordered.at[size - window :].set(new_tail)
    log_weights = jnp.empty_like(ordered).at[order].set(ordered)
    log_weights = jnp.where(constant, jnp.where(finite, 0.0, -jnp.inf), log_weights)
    log_weights = log_weights - jax.scipy.special.logsumexp(log_weights)
    khat = jnp.where(constant, -jnp.inf, jnp.where(fitted | ~jnp.isfinite(khat), khat, jnp.nan))
    return log_weights, khat


def effective_sample_size(log_weights: jax.Array) -> jax.Array:
    """``1 / sum(w ** 2)`` of normalised weights given as logs.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> float(effective_sample_size(jnp.log(jnp.full(4, 0.25))))
    4.0
    """
    log_weights = log_weights - jax.scipy.special.logsumexp(log_weights)
    return jnp.exp(-jax.scipy.special.logsumexp(2.0 * log_weights))


# ------------------------------------------------------------------ the Student-t proposal
class StudentT(NamedTuple):
    """Location and scale of a multivariate Student-t: ``mean + chol @ z / sqrt(g)``, ``z ~ N(0, I)``, ``g ~ chi2(df) / df``.

    Its covariance is ``chol @ chol.T * df / (df - 2)``. The degrees of
    freedom are a Python integer that :func:`t_sample` and
    :func:`t_log_density` take: the chi-square is drawn as a sum of ``df``
    squared normals (XLA compiles a gamma sampler's rejection loop slowly,
    seconds on a CPU).
    """

    mean: jax.Array
    chol: jax.Array


def t_sample(t: StudentT, rng_key, num_draws: int, df: int = DEFAULT_DF) -> jax.Array:
    """``num_draws`` draws (num_draws, D) of a :class:`StudentT` with ``df`` degrees of freedom.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> t = StudentT(jnp.zeros(2), jnp.eye(2))
    >>> t_sample(t, jax.random.key(0), 3).shape
    (3, 2)
    """
    df = _check_df(df)
    normal_key, chi2_key = jax.random.split(rng_key)
    z = jax.random.normal(normal_key, (num_draws, t.mean.shape[0]), dtype=t.mean.dtype)
    g = jnp.sum(jax.random.normal(chi2_key, (num_draws, df), dtype=t.mean.dtype) ** 2, axis=1) / df
    return t.mean + (z @ t.chol.T) / jnp.sqrt(g)[:, None]


def _check_df(df) -> int:
    if isinstance(df, bool) or not isinstance(df, int):
        raise TypeError(f"df must be a Python integer (the degrees of freedom of the t), got {df!r}")
    if df < 3:
        raise ValueError(f"df must be at least 3 (the t needs a covariance), got {df}")
    return df


def t_log_density(t: StudentT, x: jax.Array, df: int = DEFAULT_DF) -> jax.Array:
    """Log-density at ``x`` (..., D) of a :class:`StudentT` with ``df`` degrees of freedom.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> t = StudentT(jnp.zeros(1), jnp.eye(1))
    >>> bool(jnp.isclose(t_log_density(t, jnp.zeros(1), 3), jax.scipy.stats.t.logpdf(0.0, 3)))
    True
    """
    dim = t.mean.shape[0]
    y = jax.scipy.linalg.solve_triangular(t.chol, (x - t.mean).reshape(-1, dim).T, lower=True).T
    squared = jnp.sum(y**2, axis=-1).reshape(x.shape[:-1])
    log_det = jnp.sum(jnp.log(jnp.diag(t.chol)))
    return (
        jax.scipy.special.gammaln((df + dim) / 2.0)
        - jax.scipy.special.gammaln(df / 2.0)
        - 0.5 * dim * jnp.log(df * math.pi)
        - log_det
        - 0.5 * (df + dim) * jnp.log1p(squared / df)
    )


# ------------------------------------------------------------------ the refinement
class AdaptiveResult(NamedTuple):
    """What :func:`adaptive` returns.

    Attributes
    ----------
    draws : Array ((max_rounds + 1) * num_draws, D)
        Every block of draws, block 0 the initial proposal's; blocks after the
        ``rounds``-th are unfilled.
    log_density : Array ((max_rounds + 1) * num_draws,)
        ``log p`` of each draw.
    log_q : Array ((max_rounds + 1) * num_draws,)
        Log-density of each draw under the mixture of the proposals of
        blocks ``0..selected``, each weighted by its draws with weight (the
        deterministic mixture); ``+inf`` (no
        weight) beyond block ``selected`` and where the initial proposal gave none.
    components : StudentT
        The t proposals of blocks ``1..max_rounds`` (leading axis ``max_rounds``).
    khat : Array (max_rounds + 1,)
        k̂ of the pool of blocks ``0..r`` for each ``r`` evaluated, ``nan`` after.
    ess : Array (max_rounds + 1,)
        Effective sample size of the same pools' smoothed weights (``nan`` after).
    rounds : Array ()
        Blocks drawn after the initial one.
    selected : Array ()
        The pool returned in ``log_q``: the last if it passed the test, else,
        among pools with k̂ below the threshold, the one with the largest
        effective sample size, and when there is none the one with the smallest k̂.
    """

    draws: jax.Array
    log_density: jax.Array
    log_q: jax.Array
    components: StudentT
    khat: jax.Array
    ess: jax.Array
    rounds: jax.Array
    selected: jax.Array


class _Carry(NamedTuple):
    round: jax.Array  # blocks drawn after the initial one
    draws: jax.Array  # (R + 1, N, D)
    log_density: jax.Array  # (R + 1, N)
    log_q: jax.Array  # (R + 1, R + 1, N): block b's draws under proposal c
    components: StudentT
    covariance: jax.Array  # of the last proposal
    khat: jax.Array
    ess: jax.Array
    done: jax.Array
    key: jax.Array


def _pool(carry: _Carry, upto, num_blocks: int, num_draws: int):
    """Log ratios of the pool of blocks ``0..upto`` against the mixture of their proposals.

    Each proposal is weighted by the draws it gave the pool: ``num_draws``
    for a t, those with weight for the initial one (a draw it gave none, log
    q ``+inf``, is not one of its draws).
    """
    upto = jnp.asarray(upto)
    dtype = carry.draws.dtype
    blocks = jnp.arange(num_blocks)
    in_pool = blocks <= upto
    initial = jnp.sum(~jnp.isposinf(carry.log_q[0, 0, :])).astype(dtype)
    counts = jnp.where(blocks == 0, initial, jnp.asarray(num_draws, dtype))
    # log 0 + inf (no initial draw with weight) is nan; those rows are +inf below
    per_proposal = jnp.where(in_pool[None, :, None], carry.log_q + jnp.log(counts)[None, :, None], -jnp.inf)
    mixture = jax.scipy.special.logsumexp(per_proposal, axis=1) - jnp.log(jnp.sum(jnp.where(in_pool, counts, 0.0)))
    # a draw the initial proposal gave no weight (log q = +inf there) keeps none
    mixture = jnp.where(jnp.isposinf(carry.log_q[:, 0, :]), jnp.inf, mixture)
    mixture = jnp.where(in_pool[:, None], mixture, jnp.inf)
    log_ratios = carry.log_density - mixture
    log_ratios = jnp.where(jnp.isnan(log_ratios), -jnp.inf, log_ratios)
    return log_ratios.reshape(-1), mixture.reshape(-1), (upto + 1) * num_draws


def _tempered(log_ratios, target):
    """Normalised log weights ``gamma * log_ratios``, ``gamma`` in (0, 1] the largest whose ESS reaches ``target``."""

    finite = jnp.isfinite(log_ratios)

    def scaled(gamma):
        # a draw with no weight keeps none (0 * -inf would be nan)
        return jnp.where(finite, gamma * jnp.where(finite, log_ratios, 0.0), -jnp.inf)

    def ess_at(gamma):
        return effective_sample_size(scaled(gamma))

    def bisect(_, bounds):
        low, high = bounds
        middle = 0.5 * (low + high)
        good = ess_at(middle) >= target
        return jnp.where(good, middle, low), jnp.where(good, high, middle)

    dtype = log_ratios.dtype
    low, _ = jax.lax.fori_loop(0, 40, bisect, (jnp.zeros((), dtype), jnp.ones((), dtype)))
    gamma = jnp.where(ess_at(1.0) >= target, 1.0, low)
    # gamma 0 (no gamma reaches the target) gives the pool's draws equal weights
    weights = scaled(gamma)
    return weights - jax.scipy.special.logsumexp(weights)


def adaptive(
    logdensity_fn: Callable,
    initial_log_q: Callable,
    *,
    num_draws: int,
    max_rounds: int = 16,
    df: int = DEFAULT_DF,
    khat_threshold: float = KHAT_THRESHOLD,
    min_ess: float | None = None,
    adapt_ess: float | None = None,
    batch_size: int = 64,
) -> Callable:
    """``run(rng_key, draws (N, D), log_density (N,), log_q (N,), data=(), proposal=()) -> AdaptiveResult``.

    Refines the proposal that ``draws`` came from (see the module docstring).
    ``initial_log_q(x, proposal)`` is that proposal's log-density at one
    point (``proposal``: its parameters, a pytree passed to ``run``), which
    the mixture weights need at the new draws; ``log_q`` is its value at
    ``draws`` (``+inf`` for a draw that carries no weight). No round runs when
    the initial draws already pass the test.

    Parameters
    ----------
    logdensity_fn : callable
        ``logdensity_fn(x, data)``, the positive log-density of a flat vector.
    initial_log_q : callable
        ``initial_log_q(x, proposal)``, the log-density of the initial proposal.
    num_draws : int
        Draws per block (``N``, the initial block's size too).
    max_rounds : int
        Most blocks drawn after the initial one.
    df : int
        Degrees of freedom of the t proposals (at least 3).
    khat_threshold : float
        The pool passes when its k̂ is below this...
    min_ess : float, optional
        ...and its effective sample size at least this (``N / 4`` by default).
    adapt_ess : float, optional
        Effective sample size below which the weights that fit a proposal
        are tempered (``N / 10`` by default).
    batch_size : int
        Draws whose ``log p`` is evaluated together (vectorised); the batches
        run in turn, so a model on large data does not hold ``N`` x rows at once.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> logdensity = lambda x, data: -0.5 * jnp.sum((x / 3.0) ** 2)      # sd 3
    >>> narrow = lambda x, scale: jax.scipy.stats.norm.logpdf(x, 0.0, scale).sum()
    >>> x0 = jax.random.normal(jax.random.key(0), (2000, 2))                 # sd 1: far too narrow
    >>> run = jax.jit(adaptive(logdensity, narrow, num_draws=2000, max_rounds=8))
    >>> log_q = jax.vmap(narrow, (0, None))(x0, 1.0)
    >>> out = run(jax.random.key(1), x0, jax.vmap(logdensity, (0, None))(x0, ()), log_q, (), 1.0)
    >>> int(out.rounds), bool(out.ess[0] < 500), bool(out.ess[out.selected] > 2000)  # of 2000, then 6000 draws
    (2, True, True)
    """
    if max_rounds < 0:
        raise ValueError(f"max_rounds must be at least 0, got {max_rounds}")
    df = _check_df(df)
    min_ess = MIN_ESS_FRACTION * num_draws if min_ess is None else float(min_ess)
    adapt_ess = num_draws / 10.0 if adapt_ess is None else float(adapt_ess)
    num_blocks = max_rounds + 1

    def run(rng_key, draws, log_density, log_q, data=(), proposal=()) -> AdaptiveResult:
        def evaluate(carry: _Carry, upto):
            log_ratios, _, num = _pool(carry, upto, num_blocks, num_draws)
            log_weights, khat = psis(log_ratios, num)
            ess = effective_sample_size(log_weights)
            passed = (khat < khat_threshold) & (ess >= min_ess)
            return log_ratios, log_weights, khat, ess, passed

        def body(carry: _Carry) -> _Carry:
            # the pool of blocks 0..r is judged first, so PSIS is compiled once, and a new
            # block is drawn only when it fails
            r = carry.round
            log_ratios, log_weights, khat, ess, passed = evaluate(carry, r)
            carry = carry._replace(khat=carry.khat.at[r].set(khat), ess=carry.ess.at[r].set(ess))
            if max_rounds == 0:  # no block to draw: the initial pool is judged, and that is all
                return carry._replace(done=jnp.asarray(True))
            stop = passed | (r >= max_rounds)
            return jax.lax.cond(
                stop,
                lambda c: c._replace(done=jnp.asarray(True)),
                lambda c: grow(c, log_ratios, log_weights, ess),
                carry,
            )

        def grow(carry: _Carry, log_ratios, log_weights, ess) -> _Carry:
            r = carry.round
            # too few effective draws to fit a proposal: temper the raw ratios up to adapt_ess
            log_weights = jnp.where(ess >= adapt_ess, log_weights, _tempered(log_ratios, adapt_ess))
            weights = jnp.exp(log_weights)
            ess_fit = effective_sample_size(log_weights)
            x = carry.draws.reshape(-1, carry.draws.shape[-1])
            x = jnp.where(weights[:, None] > 0, x, 0.0)  # unfilled blocks hold zeros; keep nan out
            mean = weights @ x
            centred = x - mean
            covariance = (centred * weights[:, None]).T @ centred
            dim = mean.shape[0]
            covariance = (ess_fit * covariance + dim * carry.covariance) / (ess_fit + dim)
            covariance = 0.5 * (covariance + covariance.T)
            jitter = 1e-10 * jnp.mean(jnp.diag(covariance)) * jnp.eye(dim, dtype=x.dtype)
            t = StudentT(mean, jnp.linalg.cholesky((covariance + jitter) * (df - 2.0) / df))

            key, draw_key = jax.random.split(carry.key)
            new = t_sample(t, draw_key, num_draws, df)
            new_log_density = jax.lax.map(lambda z: logdensity_fn(z, data), new, batch_size=batch_size)
            block = r + 1
            draws = carry.draws.at[block].set(new)
            log_density = carry.log_density.at[block].set(new_log_density)
            # the new draws under every earlier proposal, and every draw under the new one
            under_initial = jax.vmap(lambda z: initial_log_q(z, proposal))(new)
            under_ts = jax.vmap(lambda c: t_log_density(c, new, df))(carry.components)  # (R, N)
            row = jnp.concatenate([under_initial[None], under_ts], axis=0)
            log_q = carry.log_q.at[block].set(row)
            column = t_log_density(t, draws, df)  # (R + 1, N)
            log_q = log_q.at[:, block].set(column)
            components = jax.tree.map(lambda all_, one: all_.at[r].set(one), carry.components, t)
            carry = carry._replace(
                round=block,
                draws=draws,
                log_density=log_density,
                log_q=log_q,
                components=components,
                covariance=covariance,
                key=key,
            )
            return carry

        n, dim = draws.shape
        if n != num_draws:
            raise ValueError(f"adaptive was built for blocks of {num_draws} draws, got {n}")
        dtype = draws.dtype
        all_draws = jnp.zeros((num_blocks, n, dim), dtype).at[0].set(draws)
        all_log_density = jnp.full((num_blocks, n), -jnp.inf, dtype).at[0].set(log_density)
        all_log_q = jnp.full((num_blocks, num_blocks, n), -jnp.inf, dtype).at[0, 0].set(log_q)
        usable = jnp.isfinite(log_q)
        count = jnp.maximum(jnp.sum(usable), 2)
        start = jnp.where(usable[:, None], draws, 0.0)
        first_mean = jnp.sum(start, axis=0) / count
        centred = jnp.where(usable[:, None], draws - first_mean, 0.0)
        first_cov = centred.T @ centred / (count - 1)
        components = StudentT(
            jnp.zeros((max_rounds, dim), dtype),
            jnp.broadcast_to(jnp.eye(dim, dtype=dtype), (max_rounds, dim, dim)),
        )
        carry = _Carry(
            round=jnp.asarray(0),
            draws=all_draws,
            log_density=all_log_density,
            log_q=all_log_q,
            components=components,
            covariance=first_cov,
            khat=jnp.full((num_blocks,), jnp.nan, dtype),
            ess=jnp.full((num_blocks,), jnp.nan, dtype),
            done=jnp.asarray(False),
            key=rng_key,
        )
        carry = jax.lax.while_loop(lambda c: ~c.done, body, carry)

        evaluated = jnp.arange(num_blocks) <= carry.round
        last_passed = (carry.khat[carry.round] < khat_threshold) & (carry.ess[carry.round] >= min_ess)
        reliable = evaluated & (carry.khat < khat_threshold)
        by_ess = jnp.argmax(jnp.where(reliable, carry.ess, -jnp.inf))
        by_khat = jnp.argmin(jnp.where(evaluated & ~jnp.isnan(carry.khat), carry.khat, jnp.inf))
        selected = jnp.where(last_passed, carry.round, jnp.where(jnp.any(reliable), by_ess, by_khat))
        _, mixture, _ = _pool(carry, selected, num_blocks, num_draws)
        return AdaptiveResult(
            carry.draws.reshape(-1, dim),
            carry.log_density.reshape(-1),
            mixture,
            carry.components,
            carry.khat,
            carry.ess,
            carry.round,
            selected,
        )

    return run
