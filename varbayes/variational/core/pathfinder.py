"""Pathfinder: normal approximations along an L-BFGS path, the best one kept per path.

Zhang, Carpenter, Gelman & Vehtari (2022), "Pathfinder: parallel quasi-Newton
variational inference". L-BFGS climbs the log-density; at every iterate its
inverse-Hessian estimate (a diagonal plus a rank ``2 * maxcor`` term) and the
gradient define a normal approximation; its ELBO is estimated with a few
draws, and the normal with the highest ELBO is what the path returns. Several
paths from scattered starts run in one program (vectorised with ``jax.vmap``,
or one after another), and their pooled draws, weighted against the mixture
of the paths' normals, are what the caller resamples (Pareto-smoothed
importance resampling).

The L-BFGS step is optax's (``optax.lbfgs`` with its zoom line search); the
inverse-Hessian factors, the recovery of the diagonal and the normal's
sampler are blackjax's (``blackjax.optimizers.lbfgs``). The loop around them
is written here rather than taken from ``blackjax.vi.pathfinder.approximate``
for three reasons:

- blackjax runs a fixed ``maxiter`` iterations in a ``lax.scan``; under
  ``vmap`` its ``cond`` on convergence becomes a ``select``, so every path
  pays for all ``maxiter`` L-BFGS steps. A ``while_loop`` stops when the
  last path has converged.
- blackjax keeps the whole path (``maxiter + 1`` positions and gradients)
  and estimates the ELBO at every point of it afterwards; here the ELBO of
  each iterate is estimated as it is reached and only the best normal is
  kept, so memory does not grow with ``maxiter``.
- blackjax 1.7.1 passes the gradient of ``-log p`` to the sampler, whose mean
  ``x + H g`` then moves *away* from the mode; the normal of the paper is
  centred at the Newton step ``x + H grad log p(x)``.

Nothing here imports PyTensor: functions take a JAX ``logdensity_fn(x, data)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from varbayes.variational.core import importance

__all__ = [
    "STATUS",
    "TRACE_LENGTH",
    "MultiPathResult",
    "PathInfo",
    "PathNormal",
    "approximate",
    "elbo_history",
    "log_q",
    "mean",
    "mixture_log_q",
    "multi_path",
    "refine",
    "sample",
]

#: Iterations whose ELBO :attr:`PathInfo.elbo_trace` keeps (the last ones). A fixed length keeps
#: ``maxiter`` out of the program's shapes, so one compiled program serves every ``maxiter``.
TRACE_LENGTH = 1024

#: Pooled draws whose ``log p`` is evaluated together (vectorised); the batches run in turn.
_LOG_DENSITY_BATCH = 64

#: Why a path stopped, by the code in :attr:`PathInfo.status`.
STATUS = ("gradient below gtol", "relative change of log p below ftol", "maxiter reached", "non-finite log p")


class PathNormal(NamedTuple):
    """The normal approximation at one L-BFGS iterate.

    Its covariance is ``diag(alpha) + beta @ gamma @ beta.T`` (the L-BFGS
    inverse Hessian of ``-log p``) and its mean the Newton step
    ``position + covariance @ grad``.

    Attributes
    ----------
    position : Array (D,)
        The iterate.
    grad : Array (D,)
        Gradient of ``log p`` at the iterate.
    alpha : Array (D,)
        Diagonal of the inverse-Hessian estimate.
    beta : Array (D, 2 * maxcor)
    gamma : Array (2 * maxcor, 2 * maxcor)
        Factors of its low-rank part.
    """

    position: jax.Array
    grad: jax.Array
    alpha: jax.Array
    beta: jax.Array
    gamma: jax.Array


class PathInfo(NamedTuple):
    """How one path went.

    Attributes
    ----------
    elbo : Array ()
        ELBO estimate of the kept normal (``-inf`` when no iterate had a finite one).
    elbo_trace : Array (TRACE_LENGTH,)
        ELBO estimate of the normal at each of the last ``TRACE_LENGTH``
        iterations: iteration ``i`` (from 0) at index ``i % TRACE_LENGTH``,
        ``nan`` where there was none (see :func:`elbo_history`).
    iterations : Array ()
        L-BFGS iterations run.
    best_iteration : Array ()
        Iteration (from 1) of the kept normal; 0 when none was kept.
    grad_evals : Array ()
        Evaluations of ``log p`` with its gradient (the start and every line-search trial).
    status : Array ()
        Why the path stopped: an index into :data:`STATUS`.
    """

    elbo: jax.Array
    elbo_trace: jax.Array
    iterations: jax.Array
    best_iteration: jax.Array
    grad_evals: jax.Array
    status: jax.Array


class MultiPathResult(NamedTuple):
    """What :func:`multi_path` returns: every path's normal and info, and the pooled draws.

    Attributes
    ----------
    normals : PathNormal
        Each path's kept normal (leading axis: paths).
    info : PathInfo
        Each path's info (leading axis: paths).
    draws : Array (paths * draws_per_path, D)
        Draws from each path's normal, pooled (path by path).
    log_density : Array (paths * draws_per_path,)
        ``log p`` of each draw.
    log_q : Array (paths * draws_per_path,)
        Log-density of each draw under the equal mixture of the paths that
        kept a normal (the distribution the pooled draws come from); draws of
        paths that kept none have ``log_q = +inf``, i.e. no weight.
    """

    normals: PathNormal
    info: PathInfo
    draws: jax.Array
    log_density: jax.Array
    log_q: jax.Array


# --------------------------------------------------------------------- the normal
class _Whitening(NamedTuple):
    """A normal's factorisation, computed once for many draws and densities.

    ``x = mean + sqrt_alpha * (Q L Q^T u + (I - Q Q^T) u)`` maps ``u ~ N(0, I)``
    to the normal (``Q R`` is the thin QR of ``beta / sqrt(alpha)``, ``L`` the
    Cholesky factor of ``I + R gamma R^T``), as blackjax's ``bfgs_sample``
    draws.
    """

    mean: jax.Array
    sqrt_alpha: jax.Array
    Q: jax.Array
    L: jax.Array
    log_det: jax.Array


def mean(normal: PathNormal) -> jax.Array:
    """The normal's mean, the Newton step ``position + covariance @ grad``.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> zeros = jnp.zeros((2, 2))
    >>> normal = PathNormal(jnp.zeros(2), jnp.ones(2), 2.0 * jnp.ones(2), zeros, zeros)
    >>> mean(normal).tolist()
    [2.0, 2.0]
    """
    return (
        normal.position
        + normal.alpha * normal.grad
        + normal.beta @ (normal.gamma @ (normal.beta.T @ normal.grad))
    )


def _whitening(normal: PathNormal) -> _Whitening:
    sqrt_alpha = jnp.sqrt(normal.alpha)
    Q, R = jnp.linalg.qr(normal.beta / sqrt_alpha[:, None], mode="reduced")
    L = jnp.linalg.cholesky(jnp.eye(R.shape[0]) + R @ normal.gamma @ R.T)
    log_det = jnp.sum(jnp.log(normal.alpha)) + 2.0 * jnp.sum(jnp.log(jnp.diag(L)))
    return _Whitening(mean(normal), sqrt_alpha, Q, L, log_det)


def _draw(w: _Whitening, rng_key, num_draws: int) -> tuple[jax.Array, jax.Array]:
    dim = w.mean.shape[0]
    u = jax.random.normal(rng_key, (num_draws, dim), dtype=w.mean.dtype)
    inside = u @ w.Q
    x = w.mean + w.sqrt_alpha * (u + (inside @ (w.L - jnp.eye(w.L.shape[0], dtype=w.L.dtype)).T) @ w.Q.T)
    logq = -0.5 * (w.log_det + jnp.sum(u**2, axis=-1) + dim * math.log(2.0 * math.pi))
    return x, logq


def _log_q_whitened(w: _Whitening, x: jax.Array) -> jax.Array:
    y = (x - w.mean) / w.sqrt_alpha
    c = w.Q.T @ y
    # the inverse map u = Q L^-1 Q^T y + (y - Q Q^T y): two orthogonal parts
    inside = jax.scipy.linalg.solve_triangular(w.L, c, lower=True)
    outside = y - w.Q @ c
    squared = jnp.sum(inside**2) + jnp.sum(outside**2)
    return -0.5 * (w.log_det + squared + x.shape[-1] * math.log(2.0 * math.pi))


def _mixture_log_q_whitened(whitenings: _Whitening, kept: jax.Array, x: jax.Array) -> jax.Array:
    per_path = jax.vmap(_log_q_whitened, in_axes=(0, None))(whitenings, x)
    per_path = jnp.where(kept, per_path, -jnp.inf)
    return jax.scipy.special.logsumexp(per_path) - jnp.log(jnp.sum(kept))


def sample(normal: PathNormal, rng_key, num_draws: int) -> tuple[jax.Array, jax.Array]:
    """``(draws (num_draws, D), log_q (num_draws,))`` from one path's normal.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> normal = PathNormal(jnp.zeros(2), jnp.zeros(2), jnp.ones(2), jnp.zeros((2, 2)), jnp.zeros((2, 2)))
    >>> draws, logq = sample(normal, jax.random.key(0), 5)
    >>> draws.shape, logq.shape
    ((5, 2), (5,))
    """
    return _draw(_whitening(normal), rng_key, num_draws)


def log_q(normal: PathNormal, x: jax.Array) -> jax.Array:
    """Log-density of one path's normal at ``x`` (D,).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> normal = PathNormal(jnp.zeros(1), jnp.zeros(1), jnp.ones(1), jnp.zeros((1, 2)), jnp.zeros((2, 2)))
    >>> round(float(log_q(normal, jnp.zeros(1))), 4)
    -0.9189
    """
    return _log_q_whitened(_whitening(normal), x)


def mixture_log_q(normals: PathNormal, kept: jax.Array, x: jax.Array) -> jax.Array:
    """Log-density at ``x`` (D,) of the equal mixture of the normals (leading axis) where ``kept``.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> one = PathNormal(jnp.zeros(1), jnp.zeros(1), jnp.ones(1), jnp.zeros((1, 2)), jnp.zeros((2, 2)))
    >>> two = jax.tree.map(lambda a: jnp.stack([a, a]), one)
    >>> mixed = mixture_log_q(two, jnp.array([True, False]), jnp.zeros(1))
    >>> bool(jnp.isclose(mixed, log_q(one, jnp.zeros(1))))
    True
    """
    return _mixture_log_q_whitened(jax.vmap(_whitening)(normals), kept, x)


# ------------------------------------------------------------------ one path
class _Carry(NamedTuple):
    iteration: jax.Array
    position: jax.Array
    value: jax.Array  # -log p
    grad: jax.Array  # of -log p
    opt_state: optax.OptState
    alpha: jax.Array
    S: jax.Array  # (maxcor, D): the last accepted position updates, oldest first
    Z: jax.Array  # (maxcor, D): the matching updates of the gradient of -log p
    best: tuple[PathNormal, _Whitening]
    best_elbo: jax.Array
    best_iteration: jax.Array
    elbo_trace: jax.Array
    grad_evals: jax.Array
    status: jax.Array  # -1 while running


def _path(
    rng_key,
    logdensity_fn: Callable,
    initial_position: jax.Array,
    data=(),
    *,
    maxiter: int | jax.Array = 1000,
    maxcor: int = 5,
    num_elbo_draws: int = 25,
    ftol: float = 1e-10,
    gtol: float = 1e-8,
    maxls: int = 100,
) -> tuple[PathNormal, _Whitening, PathInfo]:
    """One path (see :func:`approximate`); also returns the kept normal's whitening."""
    # blackjax is imported with the first path: `import varbayes` stays light
    from blackjax.optimizers.lbfgs import lbfgs_inverse_hessian_factors, lbfgs_recover_alpha

    dim = initial_position.shape[0]
    dtype = initial_position.dtype

    def objective(x):
        return -logdensity_fn(x, data)

    linesearch = optax.scale_by_zoom_linesearch(max_linesearch_steps=maxls, initial_guess_strategy="one")
    solver = optax.lbfgs(memory_size=maxcor, linesearch=linesearch)

    def elbo_of(whitening: _Whitening, key):
        draws, logq = _draw(whitening, key, num_elbo_draws)
        logp = jax.vmap(lambda x: logdensity_fn(x, data))(draws)
        elbo = jnp.mean(logp - logq)
        return jnp.where(jnp.isfinite(elbo), elbo, -jnp.inf)

    def body(carry: _Carry) -> _Carry:
        i = carry.iteration
        updates, opt_state = solver.update(
            carry.grad,
            carry.opt_state,
            carry.position,
            value=carry.value,
            grad=carry.grad,
            value_fn=objective,
        )
        position = optax.apply_updates(carry.position, updates)
        # the line search leaves the value and gradient at the accepted point in its state
        value = optax.tree.get(opt_state, "value")
        grad = optax.tree.get(opt_state, "grad")
        trials = optax.tree.get(opt_state, "num_linesearch_steps")
        finite = jnp.isfinite(value) & jnp.all(jnp.isfinite(grad))

        s, z = position - carry.position, grad - carry.grad
        alpha, accepted = lbfgs_recover_alpha(carry.alpha, s, z)
        # an update that fails the curvature condition is left out of the history (as in Stan)
        accepted = accepted[0] & finite
        S = jnp.where(accepted, jnp.roll(carry.S, -1, axis=0).at[-1].set(s), carry.S)
        Z = jnp.where(accepted, jnp.roll(carry.Z, -1, axis=0).at[-1].set(z), carry.Z)
        alpha = jnp.where(finite, alpha, carry.alpha)
        beta, gamma = lbfgs_inverse_hessian_factors(S.T, Z.T, alpha)
        # the normal of the paper is centred at the Newton step: it takes the gradient of log p
        normal = PathNormal(position, -grad, alpha, beta, gamma)
        whitening = _whitening(normal)
        elbo = jnp.where(finite, elbo_of(whitening, jax.random.fold_in(rng_key, i)), -jnp.inf)

        better = elbo > carry.best_elbo
        best = jax.tree.map(lambda new, old: jnp.where(better, new, old), (normal, whitening), carry.best)
        change = jnp.abs(carry.value - value) / jnp.maximum(
            jnp.maximum(jnp.abs(carry.value), jnp.abs(value)), 1.0
        )
        status = jnp.select(
            [~finite, jnp.linalg.norm(grad) <= gtol, change <= ftol, i + 1 >= maxiter],
            [3, 0, 1, 2],
            default=-1,
        )
        # a non-finite step is not taken: the path stops where it was
        keep = lambda new, old: jnp.where(finite, new, old)
        return _Carry(
            i + 1,
            keep(position, carry.position),
            keep(value, carry.value),
            keep(grad, carry.grad),
            opt_state,
            alpha,
            S,
            Z,
            best,
            jnp.maximum(elbo, carry.best_elbo),
            jnp.where(better, i + 1, carry.best_iteration),
            carry.elbo_trace.at[i % TRACE_LENGTH].set(elbo),
            carry.grad_evals + trials,
            status,
        )

    value, grad = jax.value_and_grad(objective)(initial_position)
    start_ok = jnp.isfinite(value) & jnp.all(jnp.isfinite(grad))
    m2, rank = 2 * maxcor, min(dim, 2 * maxcor)
    ones = jnp.ones(dim, dtype)
    empty = PathNormal(initial_position, -grad, ones, jnp.zeros((dim, m2), dtype), jnp.zeros((m2, m2), dtype))
    # a placeholder with the shapes of a whitening (a QR here would only add to the compilation)
    unit = _Whitening(
        initial_position,
        ones,
        jnp.zeros((dim, rank), dtype),
        jnp.eye(rank, dtype=dtype),
        jnp.zeros((), dtype),
    )
    carry = _Carry(
        iteration=jnp.asarray(0),
        position=initial_position,
        value=value,
        grad=grad,
        opt_state=solver.init(initial_position),
        alpha=jnp.ones(dim, dtype),
        S=jnp.zeros((maxcor, dim), dtype),
        Z=jnp.zeros((maxcor, dim), dtype),
        best=(empty, unit),
        best_elbo=jnp.asarray(-jnp.inf, dtype),
        best_iteration=jnp.asarray(0),
        elbo_trace=jnp.full((TRACE_LENGTH,), jnp.nan, dtype),
        grad_evals=jnp.asarray(1),
        status=jnp.where(start_ok, -1, 3),
    )
    carry = jax.lax.while_loop(lambda c: c.status < 0, body, carry)
    info = PathInfo(
        carry.best_elbo,
        carry.elbo_trace,
        carry.iteration,
        carry.best_iteration,
        carry.grad_evals,
        carry.status,
    )
    normal, whitening = carry.best
    return normal, whitening, info


def approximate(
    rng_key,
    logdensity_fn: Callable,
    initial_position: jax.Array,
    data=(),
    **path_kwargs,
) -> tuple[PathNormal, PathInfo]:
    """Run one Pathfinder path: L-BFGS from ``initial_position``, the best normal along it.

    Parameters
    ----------
    rng_key : jax.random key
        Randomness of the ELBO estimates.
    logdensity_fn : callable
        ``logdensity_fn(x, data)``, the positive log-density of a flat vector.
    initial_position : Array (D,)
        Where L-BFGS starts.
    data : pytree
        Passed to ``logdensity_fn``.
    **path_kwargs
        ``maxiter`` (most L-BFGS iterations, 1000; it may be a traced
        integer: it is not part of the program's shapes), ``maxcor`` (L-BFGS
        history size: the normals' covariances have rank ``2 * maxcor``
        beyond a diagonal; 5), ``num_elbo_draws`` (draws per ELBO estimate;
        25), ``ftol`` (stop when ``|Δ log p| / max(|log p|, 1)`` of an
        iteration is at most this; 1e-10), ``gtol`` (stop when the norm of
        the gradient is at most this; 1e-8), ``maxls`` (most line-search
        trials per iteration; 100).

    Returns
    -------
    (PathNormal, PathInfo)
        The normal with the highest ELBO and how the path went.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> logdensity = lambda x, data: -0.5 * jnp.sum((x - 3.0) ** 2)
    >>> normal, info = approximate(jax.random.key(0), logdensity, jnp.zeros(2), maxiter=50)
    >>> bool(info.elbo > -0.01), mean(normal).round(3).tolist()
    (True, [3.0, 3.0])
    """
    normal, _, info = _path(rng_key, logdensity_fn, initial_position, data, **path_kwargs)
    return normal, info


# --------------------------------------------------------------- many paths
def elbo_history(info: PathInfo) -> jax.Array:
    """One path's ELBO estimates in iteration order (the last ``TRACE_LENGTH`` iterations at most).

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> _, info = approximate(jax.random.key(0), lambda x, data: -0.5 * jnp.sum(x**2), jnp.ones(2), maxiter=5)
    >>> elbo_history(info).shape[0] == int(info.iterations)
    True
    """
    iterations = int(info.iterations)
    trace = info.elbo_trace
    if iterations <= TRACE_LENGTH:
        return trace[:iterations]
    return jnp.roll(trace, -(iterations % TRACE_LENGTH))


# --------------------------------------------------------------- many paths
def multi_path(
    logdensity_fn: Callable,
    num_draws_per_path: int = 1000,
    vectorize: bool = True,
    **path_kwargs,
) -> Callable:
    """``run(rng_key, initial_positions (paths, D), data=(), maxiter=1000) -> MultiPathResult``.

    Every path runs :func:`approximate` (``path_kwargs`` are its keyword
    arguments but ``maxiter``, which ``run`` takes, so that one compiled
    program serves every ``maxiter``); each path's kept normal gives
    ``num_draws_per_path`` draws, and every pooled draw gets ``log p`` and
    the log-density of the mixture of the kept normals. The function is
    pure; jit it once and call it with new keys, starts, data or ``maxiter``.

    With ``vectorize`` the paths run under one ``jax.vmap``: they advance
    together until the slowest stops (the others' results and counts stop
    with them), which an accelerator runs in parallel. Without it they run
    one after another (``jax.lax.map``) in the same program: the same
    results, and on a CPU about half the compilation time, as XLA compiles
    the batched loop (its nested line searches, QR and Cholesky
    factorisations) at about twice the cost of the single one.

    :func:`refine` refines the mixture of the paths' normals when it is too
    narrow for importance sampling, in a program of its own.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> logdensity = lambda x, data: -0.5 * jnp.sum((x - data) ** 2)
    >>> run = jax.jit(multi_path(logdensity, num_draws_per_path=100))
    >>> out = run(jax.random.key(0), jnp.zeros((3, 2)) + jnp.arange(3.0)[:, None], jnp.array([1.0, -1.0]), 50)
    >>> out.draws.shape, out.info.elbo.shape
    ((300, 2), (3,))
    >>> bool(jnp.abs(out.log_density - out.log_q - jnp.log(2 * jnp.pi)).max() < 1e-3)  # log p = log q + log Z
    True
    """
    if "maxiter" in path_kwargs:
        raise TypeError("multi_path's run takes maxiter (it is not part of the compiled program's shapes)")

    def one_path(key, x0, data, maxiter):
        path_key, draw_key = jax.random.split(key)
        normal, whitening, info = _path(path_key, logdensity_fn, x0, data, maxiter=maxiter, **path_kwargs)
        draws, _ = _draw(whitening, draw_key, num_draws_per_path)
        return normal, whitening, info, draws

    def run(rng_key, initial_positions, data=(), maxiter=1000) -> MultiPathResult:
        keys = jax.random.split(rng_key, initial_positions.shape[0])
        if vectorize:
            paths = jax.vmap(one_path, in_axes=(0, 0, None, None))(keys, initial_positions, data, maxiter)
        else:
            paths = jax.lax.map(
                lambda pair: one_path(pair[0], pair[1], data, maxiter), (keys, initial_positions)
            )
        normals, whitenings, info, draws = paths
        kept = jnp.isfinite(info.elbo)
        pooled = draws.reshape(-1, draws.shape[-1])
        # in batches: a vmap over thousands of draws of a large-data model would hold
        # draws x rows intermediates at once
        log_density = jax.lax.map(lambda x: logdensity_fn(x, data), pooled, batch_size=_LOG_DENSITY_BATCH)
        log_q_mix = jax.vmap(lambda x: _mixture_log_q_whitened(whitenings, kept, x))(pooled)
        from_kept = jnp.repeat(kept, num_draws_per_path)
        log_q_mix = jnp.where(from_kept, log_q_mix, jnp.inf)
        return MultiPathResult(normals, info, pooled, log_density, log_q_mix)

    return run


def refine(logdensity_fn: Callable, num_draws: int, max_rounds: int = 16, **adaptive_kwargs) -> Callable:
    """``run(rng_key, result: MultiPathResult, data=()) -> importance.AdaptiveResult``.

    Adaptive importance sampling from the mixture of the paths' normals
    (:func:`varbayes.variational.core.importance.adaptive`, its block 0 the
    pooled draws of ``result``, ``num_draws`` of them): at most
    ``max_rounds`` rounds of ``num_draws`` draws from Student-t proposals
    fitted to the weighted draws so far, log-density evaluations only. It is
    a program of its own, so that a fit whose paths' mixture passes k̂ does
    not compile it (about 1.5 s on a CPU).

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> logdensity = lambda x, data: -0.5 * jnp.sum((x - data) ** 2)
    >>> paths = jax.jit(multi_path(logdensity, num_draws_per_path=100))(
    ...     jax.random.key(0), jnp.zeros((2, 2)), jnp.ones(2), 50
    ... )
    >>> out = jax.jit(refine(logdensity, num_draws=200, max_rounds=3))(jax.random.key(1), paths, jnp.ones(2))
    >>> int(out.rounds)  # the paths' normals are the posterior here: nothing to refine
    0
    """
    adapt = importance.adaptive(
        logdensity_fn,
        lambda x, proposal: mixture_log_q(proposal[0], proposal[1], x),
        num_draws=num_draws,
        max_rounds=max_rounds,
        batch_size=_LOG_DENSITY_BATCH,
        **adaptive_kwargs,
    )

    def run(rng_key, result: MultiPathResult, data=()) -> importance.AdaptiveResult:
        kept = jnp.isfinite(result.info.elbo)
        return adapt(rng_key, result.draws, result.log_density, result.log_q, data, (result.normals, kept))

    return run
