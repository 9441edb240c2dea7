"""Flow formulas and the flowjax bijections they stand for.

A formula is PyMC3's: layer names joined by ``-`` and applied in that order
to a standard normal draw, each name optionally repeated with ``*k``
(``'planar*4-scale-loc'``). The names are PyMC3's ``loc``, ``scale``, ``hh``
(a Householder reflection), ``planar`` and ``radial``, and three modern
layers: ``coupling`` (alias ``realnvp``, an affine coupling layer),
``spline`` (alias ``nsf``, a rational-quadratic spline coupling layer) and
``maf`` (a masked autoregressive layer, used in its parallel direction for
sampling, as an inverse autoregressive flow).

Every layer is a flowjax bijection except ``radial``, which flowjax does not
have. Layers start at (or near) the identity, so a new flow is the standard
normal it transforms; only the last ``loc`` starts elsewhere (at the model's
initial point, see :mod:`varbayes.variational.core.flows`).
"""

from __future__ import annotations

import re
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import paramax
from flowjax.bijections import (
    AbstractBijection,
    Affine,
    Chain,
    Coupling,
    Householder,
    Loc,
    MaskedAutoregressive,
    NumericalInverse,
    Permute,
    Planar,
    RationalQuadraticSpline,
    Scale,
    Vmap,
)

__all__ = ["FLOW_LAYERS", "FlowLayer", "Radial", "build_bijection", "canonical_formula", "parse_formula"]

#: Layer names of a flow formula, with what each one is.
FLOW_LAYERS = {
    "loc": "shift x + b",
    "scale": "elementwise scale x * s, s > 0",
    "hh": "Householder reflection",
    "planar": "planar layer x + u tanh(w.x + b)",
    "radial": "radial layer x + beta (x - x0) / (alpha + |x - x0|)",
    "coupling": "affine coupling layer (RealNVP)",
    "spline": "rational-quadratic spline coupling layer (neural spline flow)",
    "maf": "masked autoregressive affine layer (sampled in parallel, as an IAF)",
}
_ALIASES = {"realnvp": "coupling", "nsf": "spline"}
_TOKEN = re.compile(r"^([A-Za-z_]+)(?:\*(\d+))?$")


class FlowLayer(NamedTuple):
    """One term of a formula: a layer name and how many times it repeats."""

    name: str
    count: int


def _valid_names() -> str:
    aliases = ", ".join(f"{alias} (= {name})" for alias, name in _ALIASES.items())
    return f"{', '.join(FLOW_LAYERS)}; aliases {aliases}"


def parse_formula(formula: str) -> tuple[FlowLayer, ...]:
    """Read a flow formula such as ``'spline*2-scale-loc'``.

    Parameters
    ----------
    formula : str
        Layer names joined by ``-``, applied left to right to the base
        draw; ``name*k`` repeats a layer ``k`` times.

    Returns
    -------
    tuple of FlowLayer
        The layers, aliases resolved (``realnvp`` -> ``coupling``,
        ``nsf`` -> ``spline``).

    Raises
    ------
    ValueError
        For an empty formula or term, an unknown layer name (the error names
        the term and lists the valid names) or a repeat count below 1.

    Examples
    --------
    >>> parse_formula("planar*3-loc")
    (FlowLayer(name='planar', count=3), FlowLayer(name='loc', count=1))
    >>> parse_formula("nsf*2")
    (FlowLayer(name='spline', count=2),)
    """
    if not isinstance(formula, str):
        raise TypeError(f"a flow formula is a string such as 'spline*2-scale-loc', got {formula!r}")
    if not formula.strip():
        raise ValueError(f"the flow formula is empty; write layer names joined by '-', from: {_valid_names()}")
    layers = []
    for raw in formula.split("-"):
        token = raw.strip()
        match = _TOKEN.match(token)
        if match is None:
            raise ValueError(
                f"flow formula {formula!r}: cannot read the term {token!r}; each term is a layer name, "
                f"optionally followed by '*k' (a repeat count), and terms are joined by '-'. "
                f"Layer names: {_valid_names()}"
            )
        name, count = match.group(1).lower(), match.group(2)
        name = _ALIASES.get(name, name)
        if name not in FLOW_LAYERS:
            raise ValueError(f"flow formula {formula!r}: unknown layer {match.group(1)!r}; valid layers: {_valid_names()}")
        count = 1 if count is None else int(count)
        if count < 1:
            raise ValueError(f"flow formula {formula!r}: the term {token!r} repeats its layer {count} times; use k >= 1")
        layers.append(FlowLayer(name, count))
    return tuple(layers)


def canonical_formula(layers: tuple[FlowLayer, ...]) -> str:
    """The formula of ``layers``, written the one way :func:`parse_formula` reads back.

    Examples
    --------
    >>> canonical_formula(parse_formula(" realnvp*2 - LOC "))
    'coupling*2-loc'
    """
    return "-".join(name if count == 1 else f"{name}*{count}" for name, count in layers)


# ------------------------------------------------------------------ layers
class Radial(AbstractBijection):
    r"""Radial layer (Rezende & Mohamed 2015): :math:`y = x + \beta h(r) (x - x_0)`.

    ``h(r) = 1 / (alpha + r)``, ``r = |x - x0|``, with ``alpha = softplus(a) > 0`` and
    ``beta = -alpha + softplus(b) > -alpha``, which keeps the map invertible.
    The inverse is closed-form: ``|y - x0|`` is ``r (1 + beta / (alpha + r))``,
    a quadratic in ``r``. It starts near the identity (``beta`` about 0).
    """

    shape: tuple[int, ...]
    cond_shape = None
    center: jax.Array
    raw_alpha: jax.Array
    raw_beta: jax.Array

    def __init__(self, key, dim: int):
        self.shape = (dim,)
        self.center = 0.01 * jax.random.normal(key, (dim,))
        self.raw_alpha = jnp.zeros(())
        # softplus(raw_beta) = alpha: beta starts at 0
        self.raw_beta = jnp.zeros(())

    def _alpha_beta(self):
        alpha = jax.nn.softplus(self.raw_alpha)
        return alpha, -alpha + jax.nn.softplus(self.raw_beta)

    def _log_det(self, r, alpha, beta):
        h = 1.0 / (alpha + r)
        dim = self.shape[0]
        # d/dr [r (1 + beta h)] = 1 + beta h - beta r h^2, and 1 + beta h along the other dim - 1 axes
        return (dim - 1) * jnp.log1p(beta * h) + jnp.log1p(beta * h - beta * r * h**2)

    def transform_and_log_det(self, x, condition=None):
        alpha, beta = self._alpha_beta()
        diff = x - self.center
        r = jnp.linalg.norm(diff)
        return x + beta / (alpha + r) * diff, self._log_det(r, alpha, beta)

    def inverse_and_log_det(self, y, condition=None):
        alpha, beta = self._alpha_beta()
        diff = y - self.center
        r_y = jnp.linalg.norm(diff)
        # r^2 + (alpha + beta - r_y) r - alpha r_y = 0, its non-negative root
        c = alpha + beta - r_y
        r = 0.5 * (-c + jnp.sqrt(c * c + 4.0 * alpha * r_y))
        ratio = jnp.where(r_y > 0, r / jnp.where(r_y > 0, r_y, 1.0), 1.0 / (1.0 + beta / alpha))
        return self.center + ratio * diff, -self._log_det(r, alpha, beta)


def _planar_inverse(bijection: Planar, y, condition=None):
    """``x`` with ``planar(x) = y``: ``a = w.x + b`` solves ``a + (w.u) tanh(a) = w.y + b``.

    The left side increases in ``a`` (flowjax keeps ``w.u > -1``) and the root
    lies within ``|w.u|`` of ``w.y + b``, so bisection finds it to rounding.
    """
    planar = bijection.get_planar(condition)
    w, b = planar.weight, planar.bias
    u = planar.get_act_scale()
    target, slope = w @ y + b, w @ u
    width = jnp.abs(slope) + 1e-12

    def halve(_, bounds):
        lo, hi = bounds
        mid = 0.5 * (lo + hi)
        above = mid + slope * jnp.tanh(mid) > target
        return jnp.where(above, lo, mid), jnp.where(above, mid, hi)

    lo, hi = jax.lax.fori_loop(0, 80, halve, (target - width, target + width))
    return y - u * jnp.tanh(0.5 * (lo + hi))


def _zero_last_layer(mlp):
    """The conditioner with its output layer at zero: the layer it drives starts at its initial (identity) form.

    Only the floating arrays are zeroed, so wrappers such as the autoregressive
    masks of ``maf`` (a ``paramax.Parameterize`` around the weight) stay in place.
    """
    zeroed = jax.tree_util.tree_map(lambda a: jnp.zeros_like(a) if eqx.is_inexact_array(a) else a, mlp.layers[-1])
    return eqx.tree_at(lambda m: m.layers[-1], mlp, zeroed)


def _permutation(dim: int, index: int) -> AbstractBijection | None:
    """A fixed mixing of coordinates after the ``index``-th network layer (none in one dimension).

    Deterministic, so that a formula and a dimension always build the same
    program: the reversed order, then a seeded shuffle of it for ``dim > 2``.
    """
    if dim == 1:
        return None
    order = np.arange(dim)[::-1]
    if dim > 2 and index % 2 == 1:
        order = np.random.default_rng(index).permutation(dim)
    return Permute(jnp.asarray(order))


def _network_layer(name: str, key, dim: int, nn_width: int, nn_depth: int, knots: int, interval: float):
    transformer = Affine() if name in ("coupling", "maf") else RationalQuadraticSpline(knots=knots, interval=interval)
    if dim == 1:
        # Nothing to condition on: the network would reduce to a constant, and its weights
        # to directions that change nothing (which fit(n=None) would watch drift forever).
        # The transformer's own parameters are trained instead.
        return Vmap(transformer, axis_size=1)
    if name == "maf":
        layer = MaskedAutoregressive(key, transformer=transformer, dim=dim, nn_width=nn_width, nn_depth=nn_depth)
        return eqx.tree_at(lambda m: m.masked_autoregressive_mlp, layer,
                           _zero_last_layer(layer.masked_autoregressive_mlp))
    layer = Coupling(
        key, transformer=transformer, untransformed_dim=dim // 2, dim=dim, nn_width=nn_width, nn_depth=nn_depth
    )
    return eqx.tree_at(lambda c: c.conditioner, layer, _zero_last_layer(layer.conditioner))


def build_bijection(
    layers: tuple[FlowLayer, ...],
    dim: int,
    key,
    *,
    nn_width: int,
    nn_depth: int = 1,
    knots: int = 8,
    interval: float = 5.0,
) -> AbstractBijection:
    """The chain of flowjax bijections that ``layers`` describe, for points of ``dim`` coordinates.

    Parameters
    ----------
    layers : tuple of FlowLayer
        From :func:`parse_formula`, applied in order.
    dim : int
        Dimension of the space.
    key : jax.random key
        Initial values of the layers' parameters.
    nn_width, nn_depth : int
        Hidden width and depth of the networks of ``coupling``, ``spline`` and ``maf``.
    knots : int
        Inner knots of each ``spline``.
    interval : float
        A ``spline`` maps ``[-interval, interval]`` and is the identity outside.

    Returns
    -------
    flowjax.bijections.Chain

    Examples
    --------
    >>> import jax, paramax
    >>> bij = paramax.unwrap(build_bijection(parse_formula("planar*2-loc"), 3, jax.random.key(0), nn_width=8))
    >>> y, log_det = bij.transform_and_log_det(jax.numpy.zeros(3))
    >>> y.shape
    (3,)
    """
    chain, networks = [], 0
    for name, count in layers:
        for _ in range(count):
            key, sub = jax.random.split(key)
            if name == "loc":
                chain.append(Loc(jnp.zeros(dim)))
            elif name == "scale":
                chain.append(Scale(jnp.ones(dim)))
            elif name == "hh":
                chain.append(Householder(jax.random.normal(sub, (dim,))))
            elif name == "planar":
                chain.append(NumericalInverse(Planar(sub, dim=dim), _planar_inverse, use_implicit_differentation=True))
            elif name == "radial":
                chain.append(Radial(sub, dim))
            else:
                chain.append(_network_layer(name, sub, dim, nn_width, nn_depth, knots, interval))
                mixing = _permutation(dim, networks)
                networks += 1
                if mixing is not None:
                    chain.append(mixing)
    return Chain(chain)


def trainable_filter(tree):
    """``(params, static)`` of an equinox module: floating arrays, outside ``NonTrainable``, are trained."""
    return eqx.partition(tree, eqx.is_inexact_array, is_leaf=lambda leaf: isinstance(leaf, paramax.NonTrainable))
