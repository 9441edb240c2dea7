"""Distributions of angles."""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

from varbayes.distributions import transforms
from varbayes.distributions.base import Continuous, as_float_param, bounded, draw
from varbayes.distributions.support import Support

__all__ = ["VonMises"]

_LOG_2PI = float(np.log(2 * np.pi))
# beyond this the Bessel function overflows: the asymptotic expansion is exact to double precision there
_KAPPA_ASYMPTOTIC = 500.0


def log_i0(kappa):
    """``log I_0(kappa)``, the log of the modified Bessel function of order 0, for ``kappa >= 0``."""
    small = pt.minimum(kappa, _KAPPA_ASYMPTOTIC)
    large = pt.maximum(kappa, _KAPPA_ASYMPTOTIC)
    series = 1 + 1 / (8 * large) + 9 / (128 * large**2) + 225 / (3072 * large**3)
    asymptotic = large - 0.5 * pt.log(2 * np.pi * large) + pt.log(series)
    return pt.switch(kappa < _KAPPA_ASYMPTOTIC, pt.log(pt.i0(small)), asymptotic)


class VonMises(Continuous):
    """Von Mises distribution of an angle in ``[-pi, pi]``: mean direction ``mu`` and concentration ``kappa``.

    The density is ``exp(kappa cos(x - mu)) / (2 pi I_0(kappa))``. A free
    variable goes through the circular transform (any real number, wrapped
    onto the circle), so samplers never meet the edges at ``-pi`` and ``pi``.

    Examples
    --------
    >>> import varbayes as pm
    >>> round(float(pm.VonMises.dist(mu=0.0, kappa=2.0).logp(0.0).eval()), 4)
    -0.6619
    """

    def __init__(self, mu=0.0, kappa=1.0, **kwargs):
        super().__init__({"mu": as_float_param(mu, "mu"), "kappa": as_float_param(kappa, "kappa")}, **kwargs)
        self._check("mu", np.isfinite, "mu must be finite")
        self._check("kappa", lambda k: k >= 0, "kappa must be non-negative")

    def logp(self, value):
        mu, kappa = self.params["mu"], self.params["kappa"]
        logp = kappa * pt.cos(value - mu) - _LOG_2PI - log_i0(kappa)
        return bounded(logp, value >= -np.pi, value <= np.pi)

    def _random(self, rng, size):
        return draw(pt.random.vonmises, self.params["mu"], self.params["kappa"], rng=rng, size=size)

    def support_point(self):
        mu = self.params["mu"]
        return self._full(pt.arctan2(pt.sin(mu), pt.cos(mu)))

    def default_transform(self):
        return transforms.circular

    def support(self) -> Support:
        return Support("angles in the interval [-pi, pi]", lower=-np.pi, upper=np.pi)
