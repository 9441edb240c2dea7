"""Mixture distributions."""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

from varbayes.distributions.base import Distribution, as_float_param, check_constant, check_event_axis, draw
from varbayes.distributions.continuous import Normal, sigma_from
from varbayes.distributions.support import AnyOf, Support
from varbayes.distributions.transforms import LogOddsTransform, LogTransform

__all__ = ["Mixture", "NormalMixture"]


def _unit(v):
    return (v >= 0) & (v <= 1)


class Mixture(Distribution):
    """Mixture with weights ``w`` (last axis) of univariate components.

    Parameters
    ----------
    w : array_like
        Mixture weights, components on the last axis (rescaled to sum to one).
    comp_dists : Distribution or list of Distribution
        Either a list of unnamed distributions from ``.dist()``, one per
        component, or a single distribution whose last axis indexes the
        components.

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model():
    ...     comps = [pm.Normal.dist(-1.0, 0.5), pm.Gamma.dist(2.0, 1.0)]
    ...     x = pm.Mixture("x", w=[0.3, 0.7], comp_dists=comps)
    ...     y = pm.Mixture("y", w=[0.5, 0.5], comp_dists=pm.Poisson.dist(mu=[1.0, 6.0]), observed=[0, 7])
    """

    def __init__(self, w, comp_dists, **kwargs):
        w = as_float_param(w, "w")
        check_constant("w", w, _unit, "weights must lie in [0, 1]")
        if w.ndim < 1:
            raise ValueError("Mixture: w must have a component axis (its last axis)")
        check_event_axis("w", w, "component weight")
        # unnormalised constant weights would silently scale the density
        check_constant("w", w, lambda v: np.isclose(np.sum(v, axis=-1), 1.0), "weights must sum to 1")
        if isinstance(comp_dists, Distribution):
            comps, self._stacked = [comp_dists], True
            if not comp_dists.shape:
                raise ValueError("Mixture: a single component distribution needs the components on its last axis")
            n_comp = comp_dists.shape[-1]
        else:
            comps, self._stacked = list(comp_dists), False
            if not comps or not all(isinstance(c, Distribution) for c in comps):
                raise TypeError("Mixture: comp_dists must be a distribution or a list of unnamed distributions (.dist())")
            n_comp = len(comps)
        if any(c.ndim_supp != 0 for c in comps):
            raise ValueError("Mixture: only univariate components are supported")
        if w.type.shape[-1] not in (None, 1, n_comp):
            raise ValueError(f"Mixture: w has {w.type.shape[-1]} weights for {n_comp} components")
        kinds = {c.discrete for c in comps}
        if len(kinds) > 1:
            raise ValueError("Mixture: components must be all discrete or all continuous")
        self.discrete = kinds.pop()
        self.comp_dists, self.n_comp = comps, n_comp
        super().__init__({"w": w / pt.sum(w, axis=-1, keepdims=True)}, **kwargs)

    def _batch_param_shapes(self):
        shapes = [tuple(self.params["w"].type.shape[:-1])]
        if self._stacked:
            shapes.append(self.comp_dists[0].shape[:-1])
        else:
            shapes.extend(c.shape for c in self.comp_dists)
        return shapes

    def _batch_param_shapes_symbolic(self):
        static = self._batch_param_shapes()[1:]
        return [self.params["w"].shape[:-1], *[pt.as_tensor_variable(list(s), dtype="int64") for s in static]]

    def _component_logps(self, value):
        value = pt.as_tensor_variable(value)
        if self._stacked:
            return self.comp_dists[0].logp(value[..., None])
        return pt.stack([pt.broadcast_to(c.logp(value), pt.broadcast_shape(value, c.logp(value))) for c in self.comp_dists], axis=-1)

    def logp(self, value):
        return pt.logsumexp(pt.log(self.params["w"]) + self._component_logps(value), axis=-1)

    def _random(self, rng, size):
        rng, which = draw(pt.random.categorical, self.params["w"], rng=rng, size=size)
        if self._stacked:
            rng, values = self.comp_dists[0]._random(rng, (*size, self.n_comp))
        else:
            draws = []
            for comp in self.comp_dists:
                rng, x = comp._random(rng, size)
                draws.append(x)
            values = pt.stack(draws, axis=-1)
        return rng, pt.take_along_axis(values, which[..., None], axis=-1)[..., 0]

    def support_point(self):
        # the support point of the heaviest component: a point every component's support agrees on is not known
        w = pt.broadcast_to(self.params["w"], (*self.shape, self.n_comp))
        if self._stacked:
            points = pt.broadcast_to(self.comp_dists[0].support_point(), (*self.shape, self.n_comp))
        else:
            points = pt.stack([pt.broadcast_to(c.support_point(), self.shape) for c in self.comp_dists], axis=-1)
        picked = pt.take_along_axis(points, pt.argmax(w, axis=-1)[..., None], axis=-1)[..., 0]
        return pt.cast(picked, self.dtype)

    def default_transform(self):
        found = [c.default_transform() for c in self.comp_dists]
        first = found[0]
        if all(t is first for t in found):
            return first
        for kind in (LogTransform, LogOddsTransform):
            if all(isinstance(t, kind) for t in found):
                return first
        # components with different supports: the mixture is left unconstrained (its logp is -inf outside)
        return None

    def support(self) -> Support:
        # a value is possible when some component allows it (weights are not looked at: a zero
        # weight given as a constant is rare, and a weight from free variables is unknown)
        return AnyOf([c.support() for c in self.comp_dists], n_stacked=self.n_comp if self._stacked else None)


class NormalMixture(Mixture):
    """Mixture of normals: weights ``w``, means ``mu``, scales ``sigma`` (or ``tau``) on the last axis.

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model():
    ...     x = pm.NormalMixture("x", w=[0.2, 0.8], mu=[-0.3, 0.5], sigma=[0.1, 0.1])
    """

    def __init__(self, w, mu, sigma=None, *, tau=None, **kwargs):
        sigma = sigma_from("NormalMixture", sigma, tau)
        check_constant("sigma", sigma, lambda s: s > 0, "sigma must be positive")
        mu = as_float_param(mu, "mu")
        w_var = as_float_param(w, "w")
        # components on the last axis: make sure there is one even for scalar mu and sigma
        n_comp = max(int(w_var.type.shape[-1] or 1) if w_var.ndim else 1, 1)
        comps = Normal.dist(mu, sigma) if mu.ndim or sigma.ndim else Normal.dist(mu, sigma, shape=(n_comp,))
        super().__init__(w_var, comps, **kwargs)

    def support_point(self):
        # The mixture mean: every component lives on the real line, so it is in the support
        # (and it is the starting point PyMC3 users know, e.g. 0.34 for the quickstart's model).
        w = pt.broadcast_to(self.params["w"], (*self.shape, self.n_comp))
        mu = pt.broadcast_to(self.comp_dists[0].support_point(), (*self.shape, self.n_comp))
        return pt.cast(pt.sum(w * mu, axis=-1) / pt.sum(w, axis=-1), self.dtype)
