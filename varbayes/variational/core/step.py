"""One optimisation step for each inference method, as a pure function.

A step maps ``(state, key, data)`` to ``(state, loss)``; the driver runs many
of them inside one compiled loop. A step on minibatches is a
:class:`BatchedStep`: the driver first puts the iteration's batches in the
data, drawn from the fit's key and the iteration's number (the batches
follow epochs, which span chunks).
"""

from __future__ import annotations

from functools import lru_cache, wraps
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from varbayes.variational.core.draws import draws_per_step
from varbayes.variational.core.families import Family
from varbayes.variational.core.objectives import negative_elbo, stein_direction

__all__ = ["VIState", "BatchedStep", "init_state", "elbo_step", "svgd_step", "asvgd_step"]


class VIState(NamedTuple):
    """Variational parameters and the optimizer's state."""

    params: Any
    opt_state: Any


def init_state(params, optimizer: optax.GradientTransformation) -> VIState:
    return VIState(params, optimizer.init(params))


def placed_like(tree, like):
    """``tree`` (host values) on the device of ``like``'s arrays: committed where they are, replicated like them.

    ``like``'s first array decides; without one, or when it is split over
    devices, the values are put uncommitted on the default device.
    """
    ref = next((leaf for leaf in jax.tree_util.tree_leaves(like) if isinstance(leaf, jax.Array)), None)
    if ref is None or not ref.committed or not ref.sharding.is_fully_replicated:
        return jax.device_put(tree)
    return jax.device_put(tree, ref.sharding)


def program_per_object(build: Callable) -> Callable:
    """``build(obj)`` (a jitted program), cached per ``obj``; an unhashable ``obj`` gets one for its call only.

    For the small programs a fit runs once around its loop (first
    parameters, an optimizer's init): eager, each of their operations would
    compile a program of its own in a new process.

    Examples
    --------
    >>> scale = program_per_object(lambda factors: jax.jit(lambda x: factors[0] * x))
    >>> scale((2.0,)) is scale((2.0,)), scale([2.0]) is scale([2.0]), float(scale([2.0])(3.0))  # a list: unhashable
    (True, False, 6.0)
    """
    cached = lru_cache(maxsize=64)(build)

    @wraps(build)
    def program(obj):
        try:
            return cached(obj)
        except TypeError:  # unhashable: compiled for this call only
            return build(obj)

    return program


@program_per_object
def jitted_init(optimizer: optax.GradientTransformation) -> Callable:
    """``optimizer.init``, jitted; cached per optimizer object, so that later fits with it compile nothing.

    Only for optimizers that live long (one object per setting): each new
    object costs a compilation, where the eager init's small programs are
    shared by all.
    """
    return jax.jit(optimizer.init)


class BatchedStep(NamedTuple):
    """A step on minibatches.

    ``draw(key, data, iteration)`` returns the data with the batches of
    ``iteration`` added; the driver calls it with the fit's key, then
    ``update(state, key, data)`` (the step proper) with the iteration's key.
    Calling the step itself draws the batches of ``iteration`` from ``key``.
    """

    update: Callable
    draw: Callable

    def __call__(self, state, key, data, iteration=0):
        return self.update(state, key, self.draw(key, data, iteration))


def _batched(update: Callable, batch_fn: Callable | None):
    """``update`` as a :class:`BatchedStep` drawing with ``batch_fn`` (``update`` itself if there is none)."""
    return update if batch_fn is None else BatchedStep(update, batch_fn)


def _apply(optimizer, state: VIState, grads) -> VIState:
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    return VIState(optax.apply_updates(state.params, updates), opt_state)


def elbo_step(
    family: Family,
    logdensity_fn: Callable,
    optimizer: optax.GradientTransformation,
    n_mc: int | None = 1,
    stick_the_landing: bool = False,
    batch_fn: Callable | None = None,
) -> Callable:
    """Reparameterisation-gradient step on ``-ELBO`` (ADVI, full-rank ADVI).

    ``n_mc`` draws of q per step; ``None`` chooses them from the cost of the
    log-density when the step is traced (:func:`~varbayes.variational.core.draws.draws_per_step`).
    ``batch_fn(key, data, iteration)``, when given, draws the minibatches
    (the step is then a :class:`BatchedStep`).
    """

    def step(state: VIState, key, data):
        draws = n_mc if n_mc is not None else draws_per_step(logdensity_fn, family.mean(state.params), data)
        loss_fn = negative_elbo(family, logdensity_fn, draws, stick_the_landing)
        loss, grads = jax.value_and_grad(loss_fn)(state.params, key, data)
        return _apply(optimizer, state, grads), loss

    return _batched(step, batch_fn)


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
        phi, mean_logp = phi_fn(state.params["histogram"], data)
        return _apply(optimizer, state, {"histogram": -phi}), -mean_logp

    return _batched(step, batch_fn)


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
        x, pullback = jax.vjp(lambda p: family.sample(p, key, n_particles), state.params)
        phi, mean_logp = phi_fn(x, data)
        (grads,) = pullback(-phi)
        entropy = family.entropy(state.params) if family.entropy is not None else 0.0
        return _apply(optimizer, state, grads), -mean_logp - entropy

    return _batched(step, batch_fn)


def tree_all_finite(tree) -> jax.Array:
    leaves = jax.tree_util.tree_leaves(tree)
    return jnp.all(jnp.array([jnp.all(jnp.isfinite(leaf)) for leaf in leaves]))
