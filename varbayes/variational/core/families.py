"""Variational families as pure functions over a parameter pytree.

Each family is a :class:`Family` of pure functions (optax style): ``init``
makes parameters around a starting point, ``sample`` draws ``n`` points of
the flat unconstrained space, ``log_q`` is the log-density of one point,
``entropy`` is the analytic entropy (``None`` when there is none),
``mean``/``std`` summarise the family, and ``scale`` gives, for every
parameter, the unit in which a change of it matters (the convergence
monitor judges drift and Monte Carlo error in these units).
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "FIXED_BY_NAME", "Family", "mean_field", "full_rank", "low_rank", "particles", "tril_pack", "tril_unpack",
]

#: Families whose functions are fixed by their name: a program of one of them is fixed by the
#: name and its arguments' shapes (the others close over settings: a rank, a jitter, a flow's layers).
FIXED_BY_NAME = frozenset({"mean_field", "full_rank"})

_HALF_LOG_2PI_E = 0.5 * (1.0 + math.log(2 * math.pi))


class Family(NamedTuple):
    """A variational family: pure functions of its parameters."""

    name: str
    init: Callable  # (start (D,), key) -> params
    sample: Callable  # (params, key, n) -> (n, D)
    log_q: Callable | None  # (params, x (D,)) -> scalar
    entropy: Callable | None  # params -> scalar
    mean: Callable  # params -> (D,)
    std: Callable  # params -> (D,)
    scale: Callable | None = None  # params -> pytree like params
    # (params, shift, factor) -> params of q pushed through x -> shift + factor x
    # (factor a vector for a diagonal map, a lower-triangular matrix otherwise)
    affine: Callable | None = None
    whitening: Callable | None = None  # params -> (shift, factor) of the map taking N(0, I) to q
    # params -> the same q in a canonical form, where the parametrisation has symmetries
    canonical: Callable | None = None
    # (params, key, n) -> ((n, D) draws, (n,) log q of each), from one pass; flows have no
    # cheaper way to a draw's density, and some of their layers no closed-form inverse
    sample_and_log_q: Callable | None = None


def _inverse_softplus(y):
    return y + jnp.log(-jnp.expm1(-y))


def _location_units(params, std):
    """Scales of a Gaussian family's parameters.

    A location or a factor of the covariance is judged against the standard
    deviation of its coordinate (a change of 0.1 means 0.1 posterior sd);
    a log-scale parameter (``rho``) is already relative, so its unit is 1.
    """
    s = std(params)
    out = {}
    for name, value in params.items():
        if name == "rho":
            out[name] = jnp.ones_like(value)
        elif name == "L_tril":
            rows, _ = np.tril_indices(s.shape[0])
            out[name] = s[rows]
        elif jnp.ndim(value) == 2:  # W (D, k): rows follow the coordinates
            out[name] = jnp.broadcast_to(s[:, None], value.shape)
        else:
            out[name] = s
    return out


# --------------------------------------------------------------- mean-field
def mean_field() -> Family:
    """Independent normals: ``x = mu + softplus(rho) * eps``.

    Parameters are ``{'mu', 'rho'}``; ``rho = 0`` at start, so the initial
    standard deviation is ``log 2`` (as in PyMC).

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> fam = mean_field()
    >>> params = fam.init(jnp.zeros(3), jax.random.key(0))
    >>> fam.sample(params, jax.random.key(1), 5).shape
    (5, 3)
    """

    def init(start, key):
        del key
        return {"mu": jnp.asarray(start, dtype=jnp.result_type(float)), "rho": jnp.zeros_like(start, dtype=jnp.result_type(float))}

    def std(params):
        return jax.nn.softplus(params["rho"])

    def sample(params, key, n):
        eps = jax.random.normal(key, (n, params["mu"].shape[0]), dtype=params["mu"].dtype)
        return params["mu"] + std(params) * eps

    def log_q(params, x):
        s = std(params)
        z = (x - params["mu"]) / s
        return jnp.sum(-0.5 * z**2 - jnp.log(s)) - 0.5 * x.shape[-1] * math.log(2 * math.pi)

    def entropy(params):
        return jnp.sum(jnp.log(std(params))) + params["mu"].shape[0] * _HALF_LOG_2PI_E

    def affine(params, shift, factor):
        # a diagonal map keeps q mean-field
        return {"mu": shift + factor * params["mu"], "rho": _inverse_softplus(jnp.abs(factor) * std(params))}

    return Family(
        "mean_field", init, sample, log_q, entropy, lambda p: p["mu"], std, lambda p: _location_units(p, std),
        affine, lambda p: (p["mu"], std(p)),
    )


# ---------------------------------------------------------------- full-rank
def tril_pack(matrix):
    """Lower triangle (row-major, as ``numpy.tril_indices``) as a vector."""
    # numpy's indices are constants of the program; jnp's would be computed (and,
    # called eagerly, compiled) each time
    rows, cols = np.tril_indices(matrix.shape[-1])
    return matrix[..., rows, cols]


def tril_unpack(packed, dim: int):
    """Inverse of :func:`tril_pack`."""
    rows, cols = np.tril_indices(dim)
    out = jnp.zeros((*packed.shape[:-1], dim, dim), dtype=packed.dtype)
    return out.at[..., rows, cols].set(packed)


def full_rank() -> Family:
    """Correlated normal ``x = mu + L eps`` with ``L`` lower-triangular.

    Parameters are ``{'mu', 'L_tril'}``, ``L_tril`` the packed lower triangle
    (identity at start).
    """

    def init(start, key):
        del key
        dim = start.shape[0]
        # the identity's packed triangle from numpy: eager jnp ops would each compile a small
        # program in a new process (~70 ms of a first full-rank fit)
        identity = np.eye(dim)[np.tril_indices(dim)]
        return {"mu": jnp.asarray(start, dtype=jnp.result_type(float)),
                "L_tril": jnp.asarray(identity, dtype=jnp.result_type(float))}

    def chol(params):
        return tril_unpack(params["L_tril"], params["mu"].shape[0])

    def sample(params, key, n):
        eps = jax.random.normal(key, (n, params["mu"].shape[0]), dtype=params["mu"].dtype)
        return params["mu"] + eps @ chol(params).T

    def log_q(params, x):
        L = chol(params)
        z = jax.scipy.linalg.solve_triangular(L, x - params["mu"], lower=True)
        return (
            -0.5 * jnp.sum(z**2)
            - jnp.sum(jnp.log(jnp.abs(jnp.diag(L))))
            - 0.5 * x.shape[-1] * math.log(2 * math.pi)
        )

    def entropy(params):
        L = chol(params)
        return jnp.sum(jnp.log(jnp.abs(jnp.diag(L)))) + params["mu"].shape[0] * _HALF_LOG_2PI_E

    def std(params):
        return jnp.sqrt(jnp.sum(chol(params) ** 2, axis=-1))

    def affine(params, shift, factor):
        matrix = jnp.diag(factor) if factor.ndim == 1 else factor
        return {"mu": shift + matrix @ params["mu"], "L_tril": tril_pack(matrix @ chol(params))}

    def canonical(params):
        # L and L diag(±1) give the same q: the iterates may hop between them, and an
        # average over both would be a different (narrower) q. Positive diagonal is the
        # canonical form.
        L = chol(params)
        signs = jnp.where(jnp.diag(L) < 0, -1.0, 1.0)
        return {"mu": params["mu"], "L_tril": tril_pack(L * signs[None, :])}

    return Family(
        "full_rank", init, sample, log_q, entropy, lambda p: p["mu"], std, lambda p: _location_units(p, std),
        affine, lambda p: (p["mu"], chol(p)), canonical,
    )


# ----------------------------------------------------------------- low-rank
def low_rank(rank: int = 2) -> Family:
    """Diagonal plus rank-``k`` normal: ``cov = diag(softplus(rho)^2) + W W^T``.

    Parameters are ``{'mu', 'rho', 'W'}``; ``W`` starts small and random so
    that its gradient is not zero.
    """

    def init(start, key):
        dim = start.shape[0]
        return {
            "mu": jnp.asarray(start, dtype=jnp.result_type(float)),
            "rho": jnp.zeros(dim),
            "W": 0.01 * jax.random.normal(key, (dim, rank)),
        }

    def cov(params):
        d = jax.nn.softplus(params["rho"])
        return jnp.diag(d**2) + params["W"] @ params["W"].T

    def sample(params, key, n):
        dim = params["mu"].shape[0]
        k1, k2 = jax.random.split(key)
        eps = jax.random.normal(k1, (n, dim))
        eta = jax.random.normal(k2, (n, rank))
        return params["mu"] + jax.nn.softplus(params["rho"]) * eps + eta @ params["W"].T

    def log_q(params, x):
        return jax.scipy.stats.multivariate_normal.logpdf(x, params["mu"], cov(params))

    def entropy(params):
        _, logdet = jnp.linalg.slogdet(cov(params))
        return 0.5 * logdet + params["mu"].shape[0] * _HALF_LOG_2PI_E

    def std(params):
        return jnp.sqrt(jnp.diag(cov(params)))

    def affine(params, shift, factor):
        # a diagonal map keeps the diagonal-plus-low-rank form
        return {
            "mu": shift + factor * params["mu"],
            "rho": _inverse_softplus(jnp.abs(factor) * jax.nn.softplus(params["rho"])),
            "W": factor[:, None] * params["W"],
        }

    return Family(
        "low_rank", init, sample, log_q, entropy, lambda p: p["mu"], std, lambda p: _location_units(p, std),
        affine, lambda p: (p["mu"], std(p)),
    )


# ---------------------------------------------------------------- particles
def particles(n_particles: int, jitter: float = 1.0) -> Family:
    """An empirical distribution over ``N`` particles, ``{'histogram': (N, D)}``.

    ``init`` spreads the particles around the start with normal noise of
    scale ``jitter``; ``sample`` draws particles uniformly with replacement.
    """

    def init(start, key):
        noise = jax.random.normal(key, (n_particles, start.shape[0]))
        return {"histogram": jnp.asarray(start, dtype=jnp.result_type(float)) + jitter * noise}

    def sample(params, key, n):
        hist = params["histogram"]
        idx = jax.random.randint(key, (n,), 0, hist.shape[0])
        return hist[idx]

    def spread(params):
        return jnp.std(params["histogram"], axis=0)

    return Family(
        "particles",
        init,
        sample,
        None,
        None,
        lambda p: jnp.mean(p["histogram"], axis=0),
        spread,
        # particles are judged against their spread in each coordinate
        lambda p: {"histogram": jnp.broadcast_to(spread(p), p["histogram"].shape)},
    )
