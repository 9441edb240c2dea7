"""Mixture distributions."""

from __future__ import annotations

import pytensor.tensor as pt

from varbayes.distributions.base import Continuous, as_float_param, draw
from varbayes.distributions.continuous import sigma_from

__all__ = ["NormalMixture"]


class NormalMixture(Continuous):
    """Mixture of normals: weights ``w``, means ``mu``, scales ``sigma`` on the last axis.

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model():
    ...     x = pm.NormalMixture("x", w=[0.2, 0.8], mu=[-0.3, 0.5], sigma=[0.1, 0.1])
    """

    def __init__(self, w, mu, sigma=None, *, tau=None, **kwargs):
        super().__init__(
            {
                "w": as_float_param(w, "w"),
                "mu": as_float_param(mu, "mu"),
                "sigma": sigma_from("NormalMixture", sigma, tau),
            },
            **kwargs,
        )
        self._check("w", lambda v: (v >= 0) & (v <= 1), "weights must lie in [0, 1]")
        self._check("sigma", lambda s: s > 0, "sigma must be positive")

    def _batch_param_shapes(self):
        return [tuple(p.type.shape[:-1]) for p in self.params.values()]

    def _batch_param_shapes_symbolic(self):
        return [p.shape[:-1] for p in self.params.values()]

    def logp(self, value):
        w, mu, sigma = self.params["w"], self.params["mu"], self.params["sigma"]
        v = pt.as_tensor_variable(value)[..., None]
        comp = -0.5 * ((v - mu) / sigma) ** 2 - pt.log(sigma) - 0.5 * pt.log(2 * 3.141592653589793)
        return pt.logsumexp(pt.log(w) + comp, axis=-1)

    def _random(self, rng, size):
        w, mu, sigma = self.params["w"], self.params["mu"], self.params["sigma"]
        rng, k = draw(pt.random.categorical, w / pt.sum(w, axis=-1, keepdims=True), rng=rng, size=size)
        mu_b = pt.broadcast_to(mu, (*size, mu.shape[-1]))
        sigma_b = pt.broadcast_to(sigma, (*size, sigma.shape[-1]))
        loc = pt.take_along_axis(mu_b, k[..., None], axis=-1)[..., 0]
        scale = pt.take_along_axis(sigma_b, k[..., None], axis=-1)[..., 0]
        return draw(pt.random.normal, loc, scale, rng=rng, size=size)

    def support_point(self):
        w, mu = self.params["w"], self.params["mu"]
        return self._full(pt.sum(w * mu, axis=-1) / pt.sum(w, axis=-1))
