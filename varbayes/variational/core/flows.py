"""Normalizing flows as variational families, and their ELBO step.

A flow family is the law of ``x = T(z)``, ``z ~ N(0, I)``, with ``T`` the
chain of flowjax bijections a formula describes
(:mod:`~varbayes.variational.core.flow_layers`). The chain is an equinox
module; :func:`equinox.partition` splits it into its trainable arrays, the
family's parameters (a flat dict named by each array's place in the chain,
which is what the optimizer updates and ``shared_params`` shows), and a
static rest that the family's functions close over.

A draw and its density come from one forward pass,
``log q(x) = log N(z) - log|det dT/dz|`` (``sample_and_log_q``), so training
never needs ``T``'s inverse; ``log_q`` at any point uses the inverse
(closed-form for every layer but ``planar``, which is inverted by bisection).
There is no analytic entropy, mean or covariance: ``mean`` and ``std`` are
Monte Carlo estimates from fixed base draws (a deterministic function of the
parameters).
"""

from __future__ import annotations

import math
from typing import Callable

import jax
import jax.numpy as jnp

from varbayes.variational.core.families import Family
from varbayes.variational.core.step import _apply, _batched

__all__ = [
    "DEFAULT_FLOW",
    "flow_elbo_step",
    "flow_negative_elbo",
    "normalizing_flow",
    "q_statistics",
    "statistic_units",
]

#: The flow of ``NFVI`` and ``fit(method='nfvi')``.
DEFAULT_FLOW = "spline*2-scale-loc"

_MOMENT_DRAWS = 4096  # base draws behind a flow's mean and std
_STATISTIC_DRAWS = 128  # fixed base draws behind the statistics of a fit that stops by itself
_STATISTIC_KEY = 20261129  # their seed: any fixed one, apart from the moments' draws


def _name(index: int, kind: str, path) -> str:
    """``'03.coupling.conditioner.layers[1].weight'``: position in the chain, layer name, place inside it."""
    inside = jax.tree_util.keystr(path).lstrip(".")
    return f"{index:02d}.{kind}" + (f".{inside}" if inside else "")


def _kinds(layers, dim: int) -> list[str]:
    """The formula's name of each bijection of the chain (network layers are followed by a permutation)."""
    kinds = []
    for name, count in layers:
        for _ in range(count):
            kinds.append(name)
            if name in ("coupling", "spline", "maf") and dim > 1:
                kinds.append("permute")
    return kinds


def normalizing_flow(
    formula: str = DEFAULT_FLOW,
    dim: int = 1,
    *,
    nn_width: int | None = None,
    nn_depth: int = 1,
    knots: int = 8,
    interval: float = 5.0,
) -> Family:
    """A normalizing-flow family on ``dim`` coordinates.

    Parameters
    ----------
    formula : str
        Layers applied in order to ``z ~ N(0, I)`` (see
        :func:`~varbayes.variational.core.flow_layers.parse_formula`). The
        last ``loc`` starts at the ``start`` point given to ``init``; a
        formula without ``loc`` gets one appended, so that every flow starts
        centred where the other families do.
    dim : int
        Number of coordinates.
    nn_width : int, optional
        Hidden width of the networks of ``coupling``, ``spline`` and ``maf``
        layers (default ``max(16, 4 * dim)``).
    nn_depth : int
        Their number of hidden layers.
    knots : int
        Inner knots of each ``spline`` layer.
    interval : float
        Each ``spline`` maps ``[-interval, interval]`` (the identity outside).

    Returns
    -------
    Family
        With ``sample_and_log_q``; ``entropy``, ``scale``, ``affine`` and
        ``whitening`` are ``None``.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> fam = normalizing_flow("planar*2-loc", dim=2)
    >>> params = fam.init(jnp.array([1.0, -1.0]), jax.random.key(0))
    >>> x, log_q = fam.sample_and_log_q(params, jax.random.key(1), 5)
    >>> x.shape, bool(jnp.allclose(log_q, jax.vmap(lambda xi: fam.log_q(params, xi))(x)))
    ((5, 2), True)
    """
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise ValueError(f"dim must be a positive int, got {dim!r}")
    # equinox, paramax and flowjax are imported with the first flow: `import varbayes` stays light
    import equinox as eqx
    import paramax

    from varbayes.variational.core.flow_layers import (
        FlowLayer,
        build_bijection,
        canonical_formula,
        parse_formula,
        trainable_filter,
    )

    layers = parse_formula(formula)
    if not any(name == "loc" for name, _ in layers):
        layers = (*layers, FlowLayer("loc", 1))
    width = max(16, 4 * dim) if nn_width is None else int(nn_width)
    options = dict(nn_width=width, nn_depth=int(nn_depth), knots=int(knots), interval=float(interval))

    def build(key):
        return build_bijection(layers, dim, key, **options)

    template = build(jax.random.key(0))
    # the position in the chain of the location that starts at the start point
    last_loc = max(i for i, bij in enumerate(template.bijections) if type(bij).__name__ == "Loc")
    tree, static = trainable_filter(template)
    paths, treedef = jax.tree_util.tree_flatten_with_path(tree)
    kinds = _kinds(layers, dim)
    names = [_name(path[1].idx, kinds[path[1].idx], path[2:]) for path, _ in paths]

    def init(start, key):
        chain = build(jax.random.key(0) if key is None else key)
        start = jnp.asarray(start, dtype=jnp.result_type(float))
        chain = eqx.tree_at(lambda c: c.bijections[last_loc].loc, chain, start)
        leaves = jax.tree_util.tree_leaves(trainable_filter(chain)[0])
        return dict(zip(names, leaves))

    def bijection(params):
        tree = jax.tree_util.tree_unflatten(treedef, [params[name] for name in names])
        return paramax.unwrap(eqx.combine(tree, static))

    def forward(params, z):
        return jax.vmap(bijection(params).transform_and_log_det)(z)

    def base_log_density(z):
        return -0.5 * jnp.sum(z**2, axis=-1) - 0.5 * dim * math.log(2 * math.pi)

    def sample_and_log_q(params, key, n):
        z = jax.random.normal(key, (n, dim))
        x, log_det = forward(params, z)
        return x, base_log_density(z) - log_det

    def sample(params, key, n):
        return forward(params, jax.random.normal(key, (n, dim)))[0]

    def log_q(params, x):
        z, log_det = bijection(params).inverse_and_log_det(x)
        return base_log_density(z) + log_det

    def moments(params):
        # antithetic pairs (z, -z): exact for a flow that is affine, less noisy otherwise
        z = jax.random.normal(jax.random.key(0), (_MOMENT_DRAWS // 2, dim))
        draws = forward(params, jnp.concatenate([z, -z]))[0]
        return jnp.mean(draws, axis=0), jnp.std(draws, axis=0)

    name = f"flow[{canonical_formula(layers)}; dim={dim}, " + ", ".join(f"{k}={v}" for k, v in options.items()) + "]"
    return Family(
        name, init, sample, log_q, None, lambda p: moments(p)[0], lambda p: moments(p)[1],
        sample_and_log_q=sample_and_log_q,
    )


def flow_negative_elbo(family: Family, logdensity_fn: Callable, n_mc: int = 1) -> Callable:
    """``loss(params, key, data)``: the ``-ELBO`` of a family with ``sample_and_log_q``, by reparameterisation.

    ``E_q[log q(x) - log p(x)]`` over ``n_mc`` draws, each draw's ``log q``
    from the same forward pass that made it.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> fam = normalizing_flow("scale-loc", dim=1)
    >>> loss = flow_negative_elbo(fam, lambda x, data: -0.5 * jnp.sum(x ** 2), n_mc=64)
    >>> params = fam.init(jnp.zeros(1), None)
    >>> round(float(loss(params, jax.random.key(0), ())), 6)  # q is the target: -log of its normaliser
    -0.918939
    """

    def loss(params, key, data):
        x, log_q = family.sample_and_log_q(params, key, n_mc)
        logp = jax.vmap(lambda xi: logdensity_fn(xi, data))(x)
        return jnp.mean(log_q - logp)

    return loss


def flow_elbo_step(
    family: Family,
    logdensity_fn: Callable,
    optimizer,
    n_mc: int = 1,
    batch_fn: Callable | None = None,
) -> Callable:
    """Reparameterisation-gradient step on the ``-ELBO`` of a flow (a family with ``sample_and_log_q``).

    Like :func:`~varbayes.variational.core.step.elbo_step`, with the entropy
    estimated from the draws' own ``log q`` (one forward pass of the flow).

    Examples
    --------
    >>> import jax, jax.numpy as jnp, optax
    >>> from varbayes.variational.core import init_state
    >>> fam = normalizing_flow("scale-loc", dim=1)
    >>> opt = optax.adam(0.05)
    >>> step = jax.jit(flow_elbo_step(fam, lambda x, data: -0.5 * jnp.sum((x - 3.0) ** 2), opt, n_mc=8))
    >>> state = init_state(fam.init(jnp.zeros(1), None), opt)
    >>> for i in range(300):
    ...     state, loss = step(state, jax.random.key(i), ())
    >>> abs(float(fam.mean(state.params)[0]) - 3.0) < 0.2
    True
    """
    loss_fn = flow_negative_elbo(family, logdensity_fn, n_mc)

    def step(state, key, data):
        loss, grads = jax.value_and_grad(loss_fn)(state.params, key, data)
        return _apply(optimizer, state, grads), loss

    if batch_fn is None:
        return step
    # with minibatches, a step that draws its batches as every other step does
    return _batched(step, batch_fn)


def q_statistics(family: Family, dim: int, num_draws: int = _STATISTIC_DRAWS) -> Callable:
    """``statistics(params) -> (3 D,)``: summaries of q read through a fixed set of base draws.

    The same ``num_draws`` base draws ``z`` are pushed through the flow at
    every call, so the result is a deterministic, smooth function of q alone:
    per coordinate the mean, the log standard deviation and the skewness of
    ``T(z)``, laid out as ``[mean (D), log sd (D), skewness (D)]``. A
    network's weights can move without changing q (a ReLU unit's input scale
    against its output weight, a shift of a spline's unnormalised bin
    widths); these statistics do not, which is what a stop rule needs to
    watch. The skewness follows how mass splits between modes (0.05 of the
    mass moved between the seed mixture's modes changes it by about 0.2).
    Quantiles would too, but one that falls between two modes jumps across
    the gap when a little mass moves. The fixed draws make the statistics a
    biased estimate of q's own moments (by about ``1 / sqrt(num_draws)``
    sd), which does not matter: the rule compares them with themselves over
    time.

    Parameters
    ----------
    family : Family
        A flow (any family whose ``sample`` is a deterministic map of its key's normal draws).
    dim : int
        Number of coordinates.
    num_draws : int
        Fixed base draws (128: the statistics then cost about as much as one
        step's forward pass of 32 draws with its gradient, see
        :func:`flow_elbo_step`).

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> fam = normalizing_flow("scale-loc", dim=2)
    >>> stats = jax.jit(q_statistics(fam, 2))
    >>> s = stats(fam.init(jnp.array([1.0, -1.0]), None))
    >>> s.shape, s[:2].round(1).tolist()              # 2 means, 2 log sds, 2 skewnesses
    ((6,), [1.0, -1.0])
    """
    if isinstance(num_draws, bool) or not isinstance(num_draws, int) or num_draws < 3:
        raise ValueError(f"num_draws must be an int of at least 3, got {num_draws!r}")

    def statistics(params):
        x = family.sample(params, jax.random.key(_STATISTIC_KEY), num_draws)
        mean = jnp.mean(x, axis=0)
        sd = jnp.std(x, axis=0)
        skewness = jnp.mean(((x - mean) / sd) ** 3, axis=0)
        return jnp.concatenate([mean, jnp.log(sd), skewness])

    return statistics


def statistic_units(statistics: jax.Array, dim: int) -> jax.Array:
    """The unit each of :func:`q_statistics`' values is judged in: q's sd for a mean, 1 for the others.

    A change of a mean by 0.1 then means 0.1 posterior sd, of a log sd by
    0.1 a 10 % wider q: the units in which the stop rule judges a Gaussian
    family's parameters; a skewness is already free of units.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> stats = jnp.concatenate([jnp.zeros(2), jnp.log(jnp.array([2.0, 0.5])), jnp.zeros(2)])
    >>> statistic_units(stats, 2).tolist()
    [2.0, 0.5, 1.0, 1.0, 1.0, 1.0]
    """
    sd = jnp.exp(statistics[..., dim : 2 * dim])
    return jnp.concatenate([sd, jnp.ones_like(sd), jnp.ones_like(sd)], axis=-1)
