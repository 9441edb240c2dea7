"""The proposals Pathfinder draws from, as families: the paths' mixture of normals, and that mixture refined.

Pure JAX. ``PATHS_MIXTURE`` is the equal-weight mixture of the kept paths'
normals (parameters ``{"normals", "kept"}`` from
:mod:`varbayes.variational.core.pathfinder`); ``REFINED_MIXTURE`` adds the
Student-t proposals of the adaptive importance-sampling refinement
(``"components"``, :mod:`varbayes.variational.core.importance`) as equal
components beside it, which is how the refined pool was drawn. Each is one
module-level object, so that a diagnosis compiled for one approximation of a
model serves the next.

Examples
--------
>>> PATHS_MIXTURE.name, REFINED_MIXTURE.name
('pathfinder_mixture', 'pathfinder_refined')
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from varbayes.variational.core import importance
from varbayes.variational.core import pathfinder as core
from varbayes.variational.core.families import Family

__all__ = ["PATHS_MIXTURE", "REFINED_MIXTURE"]


def _mixture_sample(params, key, n):
    normals, kept = params["normals"], params["kept"]
    n_paths = kept.shape[0]
    path_key, draw_key = jax.random.split(key)
    which = jax.random.choice(path_key, n_paths, (n,), p=kept / jnp.sum(kept))
    draws, _ = jax.vmap(lambda normal, k: core.sample(normal, k, n))(
        normals, jax.random.split(draw_key, n_paths)
    )
    return draws[which, jnp.arange(n)]


def _mixture_log_q(params, x):
    return core.mixture_log_q(params["normals"], params["kept"], x)


def _mixture_mean(params):
    means = jax.vmap(core.mean)(params["normals"])
    weights = params["kept"] / jnp.sum(params["kept"])
    return weights @ means


PATHS_MIXTURE = Family("pathfinder_mixture", None, _mixture_sample, _mixture_log_q, None, _mixture_mean, None)


def _refined_sample(params, key, n):
    # the pool gave each proposal (the paths' mixture, then each t) the same number of draws
    ts = params["components"]
    rounds = ts.mean.shape[0]
    which_key, mixture_key, t_key = jax.random.split(key, 3)
    which = jax.random.randint(which_key, (n,), 0, rounds + 1)
    from_mixture = _mixture_sample(params, mixture_key, n)
    from_ts = jax.vmap(lambda t, k: importance.t_sample(t, k, n))(ts, jax.random.split(t_key, rounds))
    every = jnp.concatenate([from_mixture[None], from_ts], axis=0)
    return every[which, jnp.arange(n)]


def _refined_log_q(params, x):
    per_t = jax.vmap(lambda t: importance.t_log_density(t, x))(params["components"])
    every = jnp.concatenate([_mixture_log_q(params, x)[None], per_t])
    return jax.scipy.special.logsumexp(every) - jnp.log(every.shape[0])


def _refined_mean(params):
    means = jnp.concatenate([_mixture_mean(params)[None], params["components"].mean])
    return jnp.mean(means, axis=0)


REFINED_MIXTURE = Family("pathfinder_refined", None, _refined_sample, _refined_log_q, None, _refined_mean, None)
