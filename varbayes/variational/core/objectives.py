"""Objectives: the negative ELBO and the Stein variational direction."""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from varbayes.variational.core.families import Family

__all__ = ["negative_elbo", "rbf_kernel", "stein_direction"]


def negative_elbo(
    family: Family, logdensity_fn: Callable, n_mc: int = 1, stick_the_landing: bool = False
) -> Callable:
    """``loss(params, key, data)``: a reparameterised estimate of ``-ELBO``.

    ``ELBO = E_q[log p(x)] + H[q]``, with the entropy analytic when the family
    has one. With ``stick_the_landing`` the entropy is replaced by the
    Monte Carlo ``-log q(x)`` with the parameters of ``log q`` held fixed,
    whose gradient has zero variance at the optimum.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from varbayes.variational.core.families import mean_field
    >>> fam = mean_field()
    >>> loss = negative_elbo(fam, lambda x, data: -0.5 * jnp.sum(x ** 2))
    >>> params = fam.init(jnp.zeros(2), None)
    >>> value, grads = jax.value_and_grad(loss)(params, jax.random.key(0), ())
    >>> sorted(grads)
    ['mu', 'rho']
    """

    def loss(params, key, data):
        # The barrier keeps XLA from fusing the draw (softplus, exp) into every
        # element of the log-density's loops, where it would be recomputed per datum.
        x = jax.lax.optimization_barrier(family.sample(params, key, n_mc))
        logp = jax.vmap(lambda xi: logdensity_fn(xi, data))(x)
        if stick_the_landing or family.entropy is None:
            frozen = jax.lax.stop_gradient(params)
            neg_entropy = jnp.mean(jax.vmap(lambda xi: family.log_q(frozen, xi))(x))
        else:
            neg_entropy = -family.entropy(params)
        return neg_entropy - jnp.mean(logp)

    return loss


_BANDWIDTH_PAIRS = 2048


def _median_bandwidth(x, sq):
    """``median(|x_j - x_i|^2) / log(N + 1)``, the median heuristic.

    For large N the median is taken over a fixed random set of pairs: a sort
    of all N^2 distances would dominate the step (XLA's CPU sort is slow),
    while a couple of thousand pairs give the same heuristic scale.
    """
    n = x.shape[0]
    if n * n <= _BANDWIDTH_PAIRS:
        values = sq.reshape(-1)
    else:
        rng = np.random.default_rng(0)
        rows = rng.integers(0, n, _BANDWIDTH_PAIRS)
        cols = rng.integers(0, n, _BANDWIDTH_PAIRS)
        values = sq[rows, cols]
    h = jnp.median(values) / jnp.log(n + 1.0)
    return jnp.where(h > 0, h, 1.0)


def rbf_kernel(x):
    """RBF kernel matrix with the median-heuristic bandwidth, and its repulsive term.

    Returns ``K (N, N)`` with ``K[j, i] = exp(-|x_j - x_i|^2 / h)`` and
    ``repulse (N, D)`` with ``repulse[i] = sum_j d K[j, i] / d x_j``, where
    ``h = median(|x_j - x_i|^2) / log(N + 1)``. Both come from matrix
    products, never an ``(N, N, D)`` tensor.
    """
    sq_norms = jnp.sum(x**2, axis=-1)
    sq = jnp.maximum(sq_norms[:, None] + sq_norms[None, :] - 2.0 * x @ x.T, 0.0)
    h = _median_bandwidth(x, sq)
    kernel = jnp.exp(-sq / h)
    # sum_j -2/h (x_j - x_i) K[j, i]  =  -2/h (K x - x * rowsum(K)); K is symmetric
    repulse = -2.0 / h * (kernel @ x - x * jnp.sum(kernel, axis=1)[:, None])
    return kernel, repulse


def stein_direction(logdensity_fn: Callable, temperature: float = 1.0) -> Callable:
    """``phi(x, data)``: the Stein variational direction at particles ``x (N, D)``.

    ``phi(x_i) = mean_j [K(x_j, x_i) grad log p(x_j) / temperature + grad_{x_j} K(x_j, x_i)]``:
    moving particles along ``phi`` decreases KL(q || p) fastest in the RKHS.
    Also returns the mean log-density of the particles.
    """

    def phi(x, data):
        logp, grad = jax.vmap(jax.value_and_grad(lambda xi: logdensity_fn(xi, data)))(x)
        kernel, repulse = rbf_kernel(x)
        drive = kernel @ grad / temperature
        return (drive + repulse) / x.shape[0], jnp.mean(logp)

    return phi
