"""Zero-inflated and hurdle distributions: a count (or positive) distribution with extra zeros.

A zero-inflated variable is 0 with probability ``1 - psi`` and otherwise
drawn from the base distribution (which can be 0 too). A hurdle variable is
0 with probability ``1 - psi`` and otherwise drawn from the base
distribution restricted to positive values.
"""

from __future__ import annotations

import pytensor.tensor as pt

from varbayes.distributions.base import Continuous, Discrete, Distribution, as_float_param, bounded, draw
from varbayes.distributions.discrete import Binomial, NegativeBinomial, Poisson, _counts_up_to
from varbayes.distributions.positive import Gamma, LogNormal
from varbayes.distributions.support import NON_NEGATIVE, NON_NEGATIVE_INTEGERS, Support
from varbayes.distributions.truncation import rejection_draws

__all__ = [
    "ZeroInflatedBinomial",
    "ZeroInflatedNegativeBinomial",
    "HurdlePoisson",
    "HurdleNegativeBinomial",
    "HurdleGamma",
    "HurdleLogNormal",
]


def _unit(v):
    return (v >= 0) & (v <= 1)


class _WithZeros(Distribution):
    """A probability ``psi`` of drawing from ``base``, held with the base's parameters."""

    def __init__(self, psi, base: Distribution, **kwargs):
        self.base = base
        psi = as_float_param(psi, "psi")
        super().__init__({"psi": psi, **base.params}, **kwargs)
        self._check("psi", _unit, "psi must lie in [0, 1]")

    def _batch_param_shapes(self):
        return [tuple(self.params["psi"].type.shape), self.base.shape]

    def _batch_param_shapes_symbolic(self):
        return [self.params["psi"].shape, pt.as_tensor_variable(list(self.base.shape), dtype="int64")]

    def support_point(self):
        return pt.cast(pt.broadcast_to(self.base.support_point(), self.shape), self.dtype)


class _ZeroInflated(_WithZeros, Discrete):
    def logp(self, value):
        psi = self.params["psi"]
        logp = pt.log(psi) + self.base.logp(value)
        at_zero = pt.logaddexp(pt.log1p(-psi), pt.log(psi) + self.base.logp(pt.zeros_like(value)))
        return bounded(pt.switch(pt.eq(value, 0), at_zero, logp), value >= 0)

    def logcdf(self, value):
        psi = self.params["psi"]
        cdf = 1 - psi + psi * pt.exp(self.base.logcdf(pt.maximum(value, 0)))
        return bounded(pt.log(cdf), value >= 0)

    def _random(self, rng, size):
        rng, keep = draw(pt.random.bernoulli, self.params["psi"], rng=rng, size=size)
        rng, counts = self.base._random(rng, size)
        return rng, pt.cast(keep * counts, self.dtype)

    def support(self) -> Support:
        return self.base.support()


class _Hurdle(_WithZeros):
    def _log_positive_mass(self, value):
        """``log P(X > 0)`` under the base distribution (1 for a continuous one)."""
        if not self.discrete:
            return 0.0
        return pt.log1mexp(pt.minimum(self.base.logp(pt.zeros_like(value)), 0.0))

    def logp(self, value):
        psi = self.params["psi"]
        # the base's log-density at 0 may be infinite (log-normal): its gradient would leak through the switch
        positive_value = pt.switch(pt.eq(value, 0), pt.ones_like(value), value)
        positive = pt.log(psi) + self.base.logp(positive_value) - self._log_positive_mass(value)
        return bounded(pt.switch(pt.eq(value, 0), pt.log1p(-psi), positive), value >= 0)

    def logcdf(self, value):
        psi = self.params["psi"]
        safe = pt.maximum(value, 0)
        zero_mass = pt.exp(self.base.logp(pt.zeros_like(safe))) if self.discrete else 0.0
        positive = (pt.exp(self.base.logcdf(safe)) - zero_mass) / (1 - zero_mass)
        return bounded(pt.log(1 - psi + psi * positive), value >= 0)

    def _random(self, rng, size):
        rng, keep = draw(pt.random.bernoulli, self.params["psi"], rng=rng, size=size)
        if self.discrete:
            rng, positive = rejection_draws(self.base, rng, size, lambda x: x > 0, 10_000, "the positive values")
        else:
            rng, positive = self.base._random(rng, size)
        return rng, pt.switch(pt.eq(keep, 1), positive, pt.zeros_like(positive))

    def support(self) -> Support:
        return NON_NEGATIVE_INTEGERS if self.discrete else NON_NEGATIVE


class ZeroInflatedBinomial(_ZeroInflated):
    """Binomial in ``n`` trials with probability ``p`` with probability ``psi``, else a structural zero.

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model():
    ...     y = pm.ZeroInflatedBinomial("y", psi=0.8, n=10, p=0.4, observed=[0, 0, 4, 6])
    """

    def __init__(self, psi, n, p, **kwargs):
        super().__init__(psi, Binomial.dist(n, p), **kwargs)

    def support(self) -> Support:
        return _counts_up_to(self.params["n"])


class ZeroInflatedNegativeBinomial(_ZeroInflated):
    """Negative binomial (mean ``mu``, dispersion ``alpha``; or ``n``, ``p``) with probability ``psi``, else zero.

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model():
    ...     y = pm.ZeroInflatedNegativeBinomial("y", psi=0.7, mu=3.0, alpha=2.0, observed=[0, 0, 5])
    """

    def __init__(self, psi, mu=None, alpha=None, *, p=None, n=None, **kwargs):
        super().__init__(psi, NegativeBinomial.dist(mu, alpha, p=p, n=n), **kwargs)


class HurdlePoisson(_Hurdle, Discrete):
    """Zero with probability ``1 - psi``, else a Poisson(``mu``) draw conditioned on being positive.

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model():
    ...     y = pm.HurdlePoisson("y", psi=0.6, mu=2.5, observed=[0, 1, 4, 0])
    """

    def __init__(self, psi, mu, **kwargs):
        super().__init__(psi, Poisson.dist(mu), **kwargs)


class HurdleNegativeBinomial(_Hurdle, Discrete):
    """Zero with probability ``1 - psi``, else a positive negative-binomial (``mu``, ``alpha``; or ``n``, ``p``) draw.

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model():
    ...     y = pm.HurdleNegativeBinomial("y", psi=0.6, mu=3.0, alpha=1.5, observed=[0, 2, 7])
    """

    def __init__(self, psi, mu=None, alpha=None, *, p=None, n=None, **kwargs):
        super().__init__(psi, NegativeBinomial.dist(mu, alpha, p=p, n=n), **kwargs)


class HurdleGamma(_Hurdle, Continuous):
    """Zero with probability ``1 - psi``, else a Gamma draw (``alpha``, ``beta``; or ``mu``, ``sigma``).

    Meant for observed data with exact zeros (rainfall, spending).

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model():
    ...     y = pm.HurdleGamma("y", psi=0.7, alpha=2.0, beta=1.0, observed=[0.0, 1.3, 2.2])
    """

    def __init__(self, psi, alpha=None, beta=None, *, mu=None, sigma=None, **kwargs):
        super().__init__(psi, Gamma.dist(alpha, beta, mu=mu, sigma=sigma), **kwargs)


class HurdleLogNormal(_Hurdle, Continuous):
    """Zero with probability ``1 - psi``, else a log-normal draw (``mu``, ``sigma`` or ``tau``).

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model():
    ...     y = pm.HurdleLogNormal("y", psi=0.7, mu=0.0, sigma=1.0, observed=[0.0, 0.4, 3.1])
    """

    def __init__(self, psi, mu=0.0, sigma=None, *, tau=None, **kwargs):
        super().__init__(psi, LogNormal.dist(mu, sigma, tau=tau), **kwargs)


