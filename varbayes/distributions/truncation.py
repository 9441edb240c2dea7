"""Truncated and censored versions of any univariate distribution."""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.raise_op import Assert
from pytensor.scan.utils import until

from varbayes.distributions import transforms
from varbayes.distributions.base import Distribution, as_float_param, bounded, draw, folded_value
from varbayes.distributions.continuous import check_order
from varbayes.distributions.support import Support
from varbayes.math import logdiffexp

__all__ = ["Truncated", "Censored"]

_LOG_HALF = float(np.log(0.5))


def _unnamed_univariate(owner: str, dist) -> Distribution:
    if not isinstance(dist, Distribution):
        raise TypeError(
            f"{owner}: dist must be an unnamed distribution such as pm.Normal.dist(0, 1), got {type(dist).__name__}"
        )
    if dist.ndim_supp != 0:
        raise ValueError(f"{owner}: dist must be univariate, got the multivariate {type(dist).__name__}")
    return dist


def rejection_draws(dist: Distribution, rng, size, accept, max_n_steps: int, what: str):
    """``(next_rng, draws)`` of ``dist`` conditioned on ``accept(draws)``, by rejection.

    Every round draws a full batch and keeps, for each entry not yet filled,
    the first candidate accepted; the loop stops when all entries are filled,
    and fails with ``what`` in the message after ``max_n_steps`` rounds.
    """

    def step(value, done, rng):
        rng, candidate = dist._random(rng, size)
        ok = accept(candidate)
        value = pt.switch(ok & ~done, candidate, value)
        done = done | ok
        return (value, done, rng), until(pt.all(done))

    start = (pt.zeros(size, dtype=dist.dtype), pt.zeros(size, dtype="bool"), rng)
    values, done, next_rng = pytensor.scan(step, outputs_info=start, n_steps=max_n_steps, return_updates=False)
    message = f"no draw of {type(dist).__name__} fell in {what} within max_n_steps={max_n_steps} rounds"
    return next_rng, Assert(message)(values[-1], pt.all(done[-1]))


class _Bounded(Distribution):
    """Shared set-up of :class:`Truncated` and :class:`Censored`: a base distribution and two optional bounds."""

    def __init__(self, dist, lower=None, upper=None, **kwargs):
        owner = type(self).__name__
        self.base = _unnamed_univariate(owner, dist)
        self.discrete = dist.discrete
        lower, upper = as_float_param(lower, "lower"), as_float_param(upper, "upper")
        check_order(lower, upper, strict=not dist.discrete)
        kwargs.setdefault("dtype", dist.dtype)
        super().__init__({"lower": lower, "upper": upper}, **kwargs)

    def _batch_param_shapes(self):
        return [*super()._batch_param_shapes(), self.base.shape]

    def _batch_param_shapes_symbolic(self):
        return [*super()._batch_param_shapes_symbolic(), pt.as_tensor_variable(list(self.base.shape), dtype="int64")]

    def _below_lower(self):
        """The point whose CDF is the mass below ``lower``: ``lower`` itself, or ``lower - 1`` for integers."""
        lower = self.params["lower"]
        return lower - 1 if self.discrete else lower

    def _inside(self, value):
        conditions = []
        if self.params["lower"] is not None:
            conditions.append(value >= self.params["lower"])
        if self.params["upper"] is not None:
            conditions.append(value <= self.params["upper"])
        return conditions

    def _clipped_support_point(self):
        lower, upper = self.params["lower"], self.params["upper"]
        point = self.base.support_point()
        if self.discrete:
            point = pt.clip(point, -np.inf if lower is None else lower, np.inf if upper is None else upper)
        elif lower is not None and upper is not None:
            point = pt.switch((point > lower) & (point < upper), point, (lower + upper) / 2)
        elif lower is not None:
            point = pt.switch(point > lower, point, lower + 1)
        elif upper is not None:
            point = pt.switch(point < upper, point, upper - 1)
        return pt.cast(pt.broadcast_to(point, self.shape), self.dtype)

    def _bounded_support(self) -> Support:
        base = self.base.support()
        lo, up = folded_value(self.params["lower"]), folded_value(self.params["upper"])
        # a bound that is not a constant is not checked; where the base's own bound is tighter it applies
        base_lower = lo is None or (base.lower is not None and np.all(np.asarray(base.lower) >= lo))
        base_upper = up is None or (base.upper is not None and np.all(np.asarray(base.upper) <= up))
        lower = base.lower if base_lower else lo
        upper = base.upper if base_upper else up
        lower_open = base.lower_open if base_lower else False
        upper_open = base.upper_open if base_upper else False
        unknown_lower = lower is None and self.params["lower"] is not None
        unknown_upper = upper is None and self.params["upper"] is not None
        if self.discrete:
            lo_text = "lower" if unknown_lower else ("-inf" if lower is None else "{lower}")
            up_text = "upper" if unknown_upper else ("inf" if upper is None else "{upper}")
            text = f"integers from {lo_text} to {up_text}"
        else:
            left = "[lower" if unknown_lower else ("(-inf" if lower is None else "{left}{lower}")
            right = "upper]" if unknown_upper else ("inf)" if upper is None else "{upper}{right}")
            text = f"the interval {left}, {right}"
        return Support(
            text, lower=lower, upper=upper, lower_open=lower_open, upper_open=upper_open, integer=self.discrete
        )

    def support(self) -> Support:
        return self._bounded_support()


class Truncated(_Bounded):
    """The distribution ``dist`` restricted to ``[lower, upper]`` and renormalised.

    Either bound may be ``None`` (no truncation on that side). The base
    distribution needs a ``logcdf``; forward draws use its inverse CDF where
    it has one (``icdf``), else rejection (at most ``max_n_steps`` rounds).

    Parameters
    ----------
    dist : Distribution
        An unnamed univariate distribution, from ``.dist(...)``.
    lower, upper : array_like, optional
        Truncation bounds (included).
    max_n_steps : int
        Rounds of rejection sampling before a draw fails.

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model():
    ...     x = pm.Truncated("x", pm.Gamma.dist(alpha=2.0, beta=1.0), upper=3.0)
    ...     k = pm.Truncated("k", pm.Poisson.dist(mu=4.0), lower=1, observed=[1, 3, 6])
    """

    def __init__(self, dist, lower=None, upper=None, *, max_n_steps: int = 10_000, **kwargs):
        if lower is None and upper is None:
            raise ValueError("Truncated: give lower, upper or both")
        self.max_n_steps = int(max_n_steps)
        super().__init__(dist, lower, upper, **kwargs)

    def _log_mass(self):
        """``log P(lower <= X <= upper)`` under the base distribution."""
        base, upper = self.base, self.params["upper"]
        if self.params["lower"] is None:
            return base.logcdf(upper)
        below = self._below_lower()
        if upper is None:
            return base.logccdf(below)
        # in the upper tail, the difference of survival functions keeps the precision
        upper_tail = base.logcdf(below) > _LOG_HALF
        return pt.switch(
            upper_tail,
            logdiffexp(base.logccdf(below), base.logccdf(upper)),
            logdiffexp(base.logcdf(upper), base.logcdf(below)),
        )

    def logp(self, value):
        return bounded(self.base.logp(value) - self._log_mass(), *self._inside(value))

    def logcdf(self, value):
        lower, upper = self.params["lower"], self.params["upper"]
        below = pt.as_tensor_variable(-np.inf) if lower is None else self.base.logcdf(self._below_lower())
        inside = logdiffexp(self.base.logcdf(value), below) - self._log_mass()
        if lower is not None:
            inside = pt.switch(value < lower, -np.inf, inside)
        if upper is not None:
            inside = pt.switch(value >= upper, 0.0, inside)
        return inside

    def _random(self, rng, size):
        lower, upper = self.params["lower"], self.params["upper"]
        base = self.base
        if hasattr(base, "icdf"):
            lo_q = 0.0 if lower is None else pt.exp(base.logcdf(lower))
            up_q = 1.0 if upper is None else pt.exp(base.logcdf(upper))
            rng, q = draw(pt.random.uniform, lo_q, up_q, rng=rng, size=size)
            x = base.icdf(q)
            # rounding at the ends of the quantile range must not step outside the bounds
            x = pt.clip(x, -np.inf if lower is None else lower, np.inf if upper is None else upper)
            return rng, pt.cast(x, self.dtype)

        def accept(x):
            ok = pt.ones_like(x, dtype="bool")
            for condition in self._inside(x):
                ok = ok & condition
            return ok

        return rejection_draws(base, rng, size, accept, self.max_n_steps, "the truncation bounds")

    def support_point(self):
        return self._clipped_support_point()

    def default_transform(self):
        if self.discrete:
            return None
        lower, upper = self.params["lower"], self.params["upper"]
        base = self.base.default_transform()
        # the base's own bounds still apply on a side that is not truncated
        if isinstance(base, transforms.LogTransform) and lower is None:
            lower = pt.as_tensor_variable(0.0)
        elif isinstance(base, transforms.LogOddsTransform):
            lower = pt.as_tensor_variable(0.0) if lower is None else lower
            upper = pt.as_tensor_variable(1.0) if upper is None else upper
        elif isinstance(base, transforms.IntervalTransform):
            lower = base.lower if lower is None else lower
            upper = base.upper if upper is None else upper
        if lower is None and upper is None:
            return None
        return transforms.Interval(lower, upper)


class Censored(_Bounded):
    """The distribution ``dist`` censored at ``lower`` and ``upper``: values beyond a bound are recorded at it.

    A value equal to ``lower`` has the probability ``P(X <= lower)`` and one
    equal to ``upper`` the probability ``P(X >= upper)``; values between
    have the density of ``dist``. Either bound may be ``None`` (no
    censoring on that side). The base distribution needs a ``logcdf``.

    Parameters
    ----------
    dist : Distribution
        An unnamed univariate distribution, from ``.dist(...)``.
    lower, upper : array_like, optional
        Censoring points.

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model():
    ...     mu = pm.Normal("mu", 0.0, 5.0)
    ...     y = pm.Censored("y", pm.Normal.dist(mu, 1.0), lower=-1.0, upper=2.0, observed=[-1.0, 0.3, 2.0])
    """

    def logp(self, value):
        lower, upper = self.params["lower"], self.params["upper"]
        logp = self.base.logp(value)
        if upper is not None:
            at_upper = self.base.logccdf(upper - 1 if self.discrete else upper)
            logp = pt.switch(pt.eq(value, upper), at_upper, logp)
        if lower is not None:
            logp = pt.switch(pt.eq(value, lower), self.base.logcdf(lower), logp)
        return bounded(logp, *self._inside(value))

    def logcdf(self, value):
        upper = self.params["upper"]
        logcdf = self.base.logcdf(value)
        conditions = [] if self.params["lower"] is None else [value >= self.params["lower"]]
        if upper is not None:
            logcdf = pt.switch(value >= upper, 0.0, logcdf)
        return bounded(logcdf, *conditions)

    def _random(self, rng, size):
        lower, upper = self.params["lower"], self.params["upper"]
        rng, x = self.base._random(rng, size)
        x = pt.clip(x, -np.inf if lower is None else lower, np.inf if upper is None else upper)
        return rng, pt.cast(x, self.dtype)

    def support_point(self):
        return self._clipped_support_point()
