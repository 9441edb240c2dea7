"""One optimisation step for each inference method, as a pure function.

A step maps ``(state, key, data)`` to ``(state, loss)``; the driver runs many
of them inside one compiled loop.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from varbayes.variational.core.families import Family
from varbayes.variational.core.objectives import negative_elbo, stein_direction

__all__ = ["VIState", "init_state", "elbo_step", "svgd_step", "asvgd_step"]


class VIState(NamedTuple):
    """Variational parameters and the optimizer's state."""

    params: Any
    opt_state: Any


def init_state(params, optimizer: optax.GradientTransformation) -> VIState:
    return VIState(params, optimizer.init(params))


def _batched(key, data, batch_fn):
    """Split off a key for this step's minibatch and draw it (no-op without minibatches)."""
    if batch_fn is None:
        return key, data
    key, batch_key = jax.random.split(key)
    return key, batch_fn(batch_key, data)


def _apply(optimizer, state: VIState, grads) -> VIState:
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    return VIState(optax.apply_updates(state.params, updates), opt_state)


def elbo_step(
    family: Family,
    logdensity_fn: Callable,
    optimizer: optax.GradientTransformation,
    n_mc: int = 1,
    stick_the_landing: bool = False,
    batch_fn: Callable | None = None,
) -> Callable:
    """Reparameterisation-gradient step on ``-ELBO`` (ADVI, full-rank ADVI).

    ``batch_fn(key, data)``, when given, draws this step's minibatch.
    """
    loss_fn = negative_elbo(family, logdensity_fn, n_mc, stick_the_landing)

    def step(state: VIState, key, data):
        key, data = _batched(key, data, batch_fn)
        loss, grads = jax.value_and_grad(loss_fn)(state.params, key, data)
        return _apply(optimizer, state, grads), loss

    return step


def svgd_step(
    logdensity_fn: Callable,
    optimizer: optax.GradientTransformation,
    temperature: float = 1.0,
    batch_fn: Callable | None = None,
):
    """Stein variational gradient descent on the particles ``params['histogram']``.

    The optimizer receives ``-phi`` as the gradient, so plain ``sgd`` moves the
    particles along ``phi``. The reported loss is the particles' mean
    negative log-density (SVGD has no ELBO).
    """
    phi_fn = stein_direction(logdensity_fn, temperature)

    def step(state: VIState, key, data):
        _, data = _batched(key, data, batch_fn)
        phi, mean_logp = phi_fn(state.params["histogram"], data)
        return _apply(optimizer, state, {"histogram": -phi}), -mean_logp

    return step


def asvgd_step(
    family: Family,
    logdensity_fn: Callable,
    optimizer: optax.GradientTransformation,
    n_particles: int = 100,
    temperature: float = 1.0,
    batch_fn: Callable | None = None,
):
    """Amortised SVGD: move a parametric family's draws along the Stein direction.

    Draws ``x = sample(params, eps)`` and pulls ``-phi(x)`` back through the
    sampler (a vector-Jacobian product) to get the parameters' gradient.
    The reported loss is the ``-ELBO`` estimate of those draws.
    """
    phi_fn = stein_direction(logdensity_fn, temperature)

    def step(state: VIState, key, data):
        key, data = _batched(key, data, batch_fn)
        x, pullback = jax.vjp(lambda p: family.sample(p, key, n_particles), state.params)
        phi, mean_logp = phi_fn(x, data)
        (grads,) = pullback(-phi)
        entropy = family.entropy(state.params) if family.entropy is not None else 0.0
        return _apply(optimizer, state, grads), -mean_logp - entropy

    return step


def tree_all_finite(tree) -> jax.Array:
    leaves = jax.tree_util.tree_leaves(tree)
    return jnp.all(jnp.array([jnp.all(jnp.isfinite(leaf)) for leaf in leaves]))
