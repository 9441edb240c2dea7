"""Continuous distributions on the real line, a half-line or an interval."""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

from varbayes.distributions import transforms
from varbayes.distributions.base import (
    Continuous,
    as_float_param,
    bounded,
    check_constant,
    check_exclusive,
    constant_value,
    draw,
    folded_value,
    positive,
)
from varbayes.distributions.support import NON_NEGATIVE, POSITIVE, Support, interval
from varbayes.math import log_invprobit, probit

__all__ = [
    "Normal",
    "HalfNormal",
    "Flat",
    "HalfFlat",
    "Cauchy",
    "HalfCauchy",
    "StudentT",
    "HalfStudentT",
    "Laplace",
    "Logistic",
    "Uniform",
    "TruncatedNormal",
]

_LOG_2PI = float(np.log(2 * np.pi))
_LOG_PI = float(np.log(np.pi))
_LOG_2 = float(np.log(2.0))
_SQRT_2 = float(np.sqrt(2.0))


def sigma_from(dist_name: str, sigma, tau, default=1.0, *, tau_name: str = "tau"):
    """``sigma`` from either ``sigma`` or the precision ``tau`` (named ``tau_name``)."""
    check_exclusive(dist_name, sigma=sigma, **{tau_name: tau})
    if tau is not None:
        tau = as_float_param(tau, tau_name)
        # checked here: once turned into sigma the constant is no longer visible
        check_constant(tau_name, tau, positive, f"{tau_name} must be positive")
        return 1.0 / pt.sqrt(tau)
    return as_float_param(default if sigma is None else sigma, "sigma")


def normal_logpdf(value, mu, sigma):
    z = (value - mu) / sigma
    return -0.5 * z**2 - pt.log(sigma) - 0.5 * _LOG_2PI


def _studentt_logpdf(value, nu, mu, sigma):
    z = (value - mu) / sigma
    return (
        pt.gammaln((nu + 1) / 2)
        - pt.gammaln(nu / 2)
        - 0.5 * pt.log(nu * np.pi)
        - pt.log(sigma)
        - (nu + 1) / 2 * pt.log1p(z**2 / nu)
    )


def _normal_cdf(x):
    return 0.5 * pt.erfc(-x / _SQRT_2)


def _normal_sf(x):
    return 0.5 * pt.erfc(x / _SQRT_2)


class Normal(Continuous):
    """Normal distribution with mean ``mu`` and standard deviation ``sigma`` (or precision ``tau``).

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model():
    ...     x = pm.Normal("x", mu=0.0, sigma=2.0, shape=3)
    """

    def __init__(self, mu=0.0, sigma=None, *, tau=None, **kwargs):
        super().__init__(
            {"mu": as_float_param(mu, "mu"), "sigma": sigma_from("Normal", sigma, tau)}, **kwargs
        )
        self._check("mu", np.isfinite, "mu must be finite")
        self._check("sigma", positive, "sigma must be positive")

    def logp(self, value):
        return normal_logpdf(value, self.params["mu"], self.params["sigma"])

    def logcdf(self, value):
        return log_invprobit((value - self.params["mu"]) / self.params["sigma"])

    def logccdf(self, value):
        return log_invprobit((self.params["mu"] - value) / self.params["sigma"])

    def icdf(self, q):
        return self.params["mu"] + self.params["sigma"] * probit(q)

    def _random(self, rng, size):
        return draw(pt.random.normal, self.params["mu"], self.params["sigma"], rng=rng, size=size)

    def support_point(self):
        return self._full(self.params["mu"])


class HalfNormal(Continuous):
    """Half-normal distribution on ``[0, inf)`` with scale ``sigma`` (or precision ``tau``).

    Examples
    --------
    >>> import varbayes as pm
    >>> round(float(pm.HalfNormal.dist(sigma=1.0).logp(0.0).eval()), 4)
    -0.2258
    """

    def __init__(self, sigma=None, *, tau=None, **kwargs):
        super().__init__({"sigma": sigma_from("HalfNormal", sigma, tau)}, **kwargs)
        self._check("sigma", positive, "sigma must be positive")

    def logp(self, value):
        sigma = self.params["sigma"]
        logp = 0.5 * np.log(2 / np.pi) - pt.log(sigma) - 0.5 * (value / sigma) ** 2
        return bounded(logp, value >= 0)

    def logcdf(self, value):
        z = pt.maximum(value, 0.0) / (self.params["sigma"] * _SQRT_2)
        return bounded(pt.log(pt.erf(z)), value >= 0)

    def icdf(self, q):
        return self.params["sigma"] * probit((1 + q) / 2)

    def _random(self, rng, size):
        return draw(pt.random.halfnormal, 0.0, self.params["sigma"], rng=rng, size=size)

    def support_point(self):
        return self._full(self.params["sigma"])

    def default_transform(self):
        return transforms.log

    def support(self) -> Support:
        return NON_NEGATIVE


class Flat(Continuous):
    """Improper uniform density over the real line (log-density 0).

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model():
    ...     b = pm.Flat("b", shape=2)
    """

    def __init__(self, **kwargs):
        super().__init__({}, **kwargs)

    def logp(self, value):
        value = pt.as_tensor_variable(value)
        return pt.zeros_like(value, dtype=value.dtype if value.dtype.startswith("float") else "float64")

    def _random(self, rng, size):
        raise ValueError("Flat is improper: it cannot be sampled")

    def support_point(self):
        return pt.zeros(self.shape)


class HalfFlat(Continuous):
    """Improper uniform density over the positive reals.

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model():
    ...     s = pm.HalfFlat("s")
    """

    def __init__(self, **kwargs):
        super().__init__({}, **kwargs)

    def logp(self, value):
        value = pt.as_tensor_variable(value)
        return bounded(pt.zeros_like(value, dtype="float64"), value > 0)

    def _random(self, rng, size):
        raise ValueError("HalfFlat is improper: it cannot be sampled")

    def support_point(self):
        return pt.ones(self.shape)

    def default_transform(self):
        return transforms.log

    def support(self) -> Support:
        return POSITIVE


class Cauchy(Continuous):
    """Cauchy distribution with location ``alpha`` and scale ``beta``.

    Examples
    --------
    >>> import varbayes as pm
    >>> round(float(pm.Cauchy.dist(0.0, 1.0).logp(0.0).eval()), 4)
    -1.1447
    """

    def __init__(self, alpha=0.0, beta=1.0, **kwargs):
        super().__init__({"alpha": as_float_param(alpha, "alpha"), "beta": as_float_param(beta, "beta")}, **kwargs)
        self._check("alpha", np.isfinite, "alpha must be finite")
        self._check("beta", positive, "beta must be positive")

    def logp(self, value):
        alpha, beta = self.params["alpha"], self.params["beta"]
        return -_LOG_PI - pt.log(beta) - pt.log1p(((value - alpha) / beta) ** 2)

    def logcdf(self, value):
        z = (value - self.params["alpha"]) / self.params["beta"]
        return pt.log(0.5 + pt.arctan(z) / np.pi)

    def icdf(self, q):
        return self.params["alpha"] + self.params["beta"] * pt.tan(np.pi * (q - 0.5))

    def _random(self, rng, size):
        return draw(pt.random.cauchy, self.params["alpha"], self.params["beta"], rng=rng, size=size)

    def support_point(self):
        return self._full(self.params["alpha"])


class HalfCauchy(Continuous):
    """Half-Cauchy distribution on ``[0, inf)`` with scale ``beta``.

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model():
    ...     tau = pm.HalfCauchy("tau", beta=2.5)
    """

    def __init__(self, beta=1.0, **kwargs):
        super().__init__({"beta": as_float_param(beta, "beta")}, **kwargs)
        self._check("beta", positive, "beta must be positive")

    def logp(self, value):
        beta = self.params["beta"]
        logp = _LOG_2 - _LOG_PI - pt.log(beta) - pt.log1p((value / beta) ** 2)
        return bounded(logp, value >= 0)

    def logcdf(self, value):
        z = pt.maximum(value, 0.0) / self.params["beta"]
        return bounded(pt.log(2 / np.pi * pt.arctan(z)), value >= 0)

    def icdf(self, q):
        return self.params["beta"] * pt.tan(np.pi * q / 2)

    def _random(self, rng, size):
        # |Cauchy| rather than pt.random.halfcauchy, which has no JAX implementation
        rng, x = draw(pt.random.cauchy, 0.0, self.params["beta"], rng=rng, size=size)
        return rng, pt.abs(x)

    def support_point(self):
        return self._full(self.params["beta"])

    def default_transform(self):
        return transforms.log

    def support(self) -> Support:
        return NON_NEGATIVE


class StudentT(Continuous):
    """Student's t with ``nu`` degrees of freedom, location ``mu``, scale ``sigma`` (or precision ``lam``).

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model():
    ...     x = pm.StudentT("x", nu=3.0, mu=0.0, sigma=1.0)
    """

    def __init__(self, nu, mu=0.0, sigma=None, *, lam=None, **kwargs):
        super().__init__(
            {
                "nu": as_float_param(nu, "nu"),
                "mu": as_float_param(mu, "mu"),
                "sigma": sigma_from("StudentT", sigma, lam, tau_name="lam"),
            },
            **kwargs,
        )
        self._check("nu", positive, "nu must be positive")
        self._check("mu", np.isfinite, "mu must be finite")
        self._check("sigma", positive, "sigma must be positive")

    def logp(self, value):
        return _studentt_logpdf(value, self.params["nu"], self.params["mu"], self.params["sigma"])

    def logcdf(self, value):
        nu = self.params["nu"]
        t = (value - self.params["mu"]) / self.params["sigma"]
        tail = 0.5 * pt.betainc(nu / 2, 0.5, nu / (nu + t**2))
        return pt.log(pt.switch(t < 0, tail, 1 - tail))

    def _random(self, rng, size):
        p = self.params
        return draw(pt.random.t, p["nu"], p["mu"], p["sigma"], rng=rng, size=size)

    def support_point(self):
        return self._full(self.params["mu"])


class HalfStudentT(Continuous):
    """Half Student's t on ``[0, inf)`` with ``nu`` degrees of freedom and scale ``sigma`` (or ``lam``).

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model():
    ...     s = pm.HalfStudentT("s", nu=3.0, sigma=2.0)
    """

    def __init__(self, nu=1.0, sigma=None, *, lam=None, **kwargs):
        super().__init__(
            {"nu": as_float_param(nu, "nu"), "sigma": sigma_from("HalfStudentT", sigma, lam, tau_name="lam")},
            **kwargs,
        )
        self._check("nu", positive, "nu must be positive")
        self._check("sigma", positive, "sigma must be positive")

    def logp(self, value):
        logp = _LOG_2 + _studentt_logpdf(value, self.params["nu"], 0.0, self.params["sigma"])
        return bounded(logp, value >= 0)

    def logcdf(self, value):
        nu = self.params["nu"]
        t = pt.maximum(value, 0.0) / self.params["sigma"]
        return bounded(pt.log1p(-pt.betainc(nu / 2, 0.5, nu / (nu + t**2))), value >= 0)

    def _random(self, rng, size):
        rng, x = draw(pt.random.t, self.params["nu"], 0.0, self.params["sigma"], rng=rng, size=size)
        return rng, pt.abs(x)

    def support_point(self):
        return self._full(self.params["sigma"])

    def default_transform(self):
        return transforms.log

    def support(self) -> Support:
        return NON_NEGATIVE


class Laplace(Continuous):
    """Laplace (double exponential) distribution with location ``mu`` and scale ``b``.

    Examples
    --------
    >>> import varbayes as pm
    >>> round(float(pm.Laplace.dist(0.0, 1.0).logp(0.0).eval()), 4)
    -0.6931
    """

    def __init__(self, mu=0.0, b=1.0, **kwargs):
        super().__init__({"mu": as_float_param(mu, "mu"), "b": as_float_param(b, "b")}, **kwargs)
        self._check("mu", np.isfinite, "mu must be finite")
        self._check("b", positive, "b must be positive")

    def logp(self, value):
        mu, b = self.params["mu"], self.params["b"]
        return -_LOG_2 - pt.log(b) - pt.abs(value - mu) / b

    def logcdf(self, value):
        z = (value - self.params["mu"]) / self.params["b"]
        return pt.switch(z < 0, z - _LOG_2, pt.log1p(-0.5 * pt.exp(-pt.abs(z))))

    def icdf(self, q):
        mu, b = self.params["mu"], self.params["b"]
        return mu - b * pt.sgn(q - 0.5) * pt.log1p(-2 * pt.abs(q - 0.5))

    def _random(self, rng, size):
        return draw(pt.random.laplace, self.params["mu"], self.params["b"], rng=rng, size=size)

    def support_point(self):
        return self._full(self.params["mu"])


class Logistic(Continuous):
    """Logistic distribution with location ``mu`` and scale ``s``.

    Examples
    --------
    >>> import varbayes as pm
    >>> round(float(pm.Logistic.dist(0.0, 1.0).logp(0.0).eval()), 4)
    -1.3863
    """

    def __init__(self, mu=0.0, s=1.0, **kwargs):
        super().__init__({"mu": as_float_param(mu, "mu"), "s": as_float_param(s, "s")}, **kwargs)
        self._check("mu", np.isfinite, "mu must be finite")
        self._check("s", positive, "s must be positive")

    def logp(self, value):
        mu, s = self.params["mu"], self.params["s"]
        z = (value - mu) / s
        # symmetric in z: -|z| - 2 log(1 + exp(-|z|)) avoids overflow in the tails
        return -pt.abs(z) - 2 * pt.softplus(-pt.abs(z)) - pt.log(s)

    def logcdf(self, value):
        return -pt.softplus(-(value - self.params["mu"]) / self.params["s"])

    def icdf(self, q):
        return self.params["mu"] + self.params["s"] * (pt.log(q) - pt.log1p(-q))

    def _random(self, rng, size):
        return draw(pt.random.logistic, self.params["mu"], self.params["s"], rng=rng, size=size)

    def support_point(self):
        return self._full(self.params["mu"])


class Uniform(Continuous):
    """Uniform distribution on ``[lower, upper]``.

    Examples
    --------
    >>> import varbayes as pm
    >>> round(float(pm.Uniform.dist(0.0, 4.0).logp(1.0).eval()), 4)
    -1.3863
    """

    def __init__(self, lower=0.0, upper=1.0, **kwargs):
        lower, upper = as_float_param(lower, "lower"), as_float_param(upper, "upper")
        super().__init__({"lower": lower, "upper": upper}, **kwargs)
        self._check("lower", np.isfinite, "lower must be finite")
        self._check("upper", np.isfinite, "upper must be finite")
        check_order(lower, upper)

    def logp(self, value):
        lower, upper = self.params["lower"], self.params["upper"]
        return bounded(-pt.log(upper - lower) + pt.zeros_like(value), value >= lower, value <= upper)

    def logcdf(self, value):
        lower, upper = self.params["lower"], self.params["upper"]
        fraction = pt.clip((value - lower) / (upper - lower), 0.0, 1.0)
        return pt.log(fraction)

    def icdf(self, q):
        lower, upper = self.params["lower"], self.params["upper"]
        return lower + (upper - lower) * q

    def _random(self, rng, size):
        return draw(pt.random.uniform, self.params["lower"], self.params["upper"], rng=rng, size=size)

    def support_point(self):
        return self._full((self.params["lower"] + self.params["upper"]) / 2)

    def default_transform(self):
        return transforms.Interval(self.params["lower"], self.params["upper"])

    def support(self) -> Support:
        return interval(folded_value(self.params["lower"]), folded_value(self.params["upper"]))


def check_order(lower, upper, strict: bool = True) -> None:
    """``ValueError`` when constant bounds have ``upper`` below (or at) ``lower``."""
    lo = None if lower is None else constant_value(lower)
    up = None if upper is None else constant_value(upper)
    if lo is None or up is None:
        return
    with np.errstate(invalid="ignore"):
        ok = np.all(up > lo) if strict else np.all(up >= lo)
    if not ok:
        raise ValueError(f"parameter upper={up} is invalid: upper must be greater than lower={lo}")


class TruncatedNormal(Continuous):
    """Normal distribution with mean ``mu`` and scale ``sigma`` (or ``tau``) truncated to ``[lower, upper]``.

    Either bound may be ``None`` (no truncation on that side).

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model():
    ...     x = pm.TruncatedNormal("x", mu=1.0, sigma=2.0, lower=0.0)
    """

    def __init__(self, mu=0.0, sigma=None, lower=None, upper=None, *, tau=None, **kwargs):
        params = {
            "mu": as_float_param(mu, "mu"),
            "sigma": sigma_from("TruncatedNormal", sigma, tau),
            "lower": as_float_param(lower, "lower"),
            "upper": as_float_param(upper, "upper"),
        }
        super().__init__(params, **kwargs)
        self._check("mu", np.isfinite, "mu must be finite")
        self._check("sigma", positive, "sigma must be positive")
        check_order(params["lower"], params["upper"])

    def _standard_bounds(self):
        p = self.params
        alpha = None if p["lower"] is None else (p["lower"] - p["mu"]) / p["sigma"]
        beta = None if p["upper"] is None else (p["upper"] - p["mu"]) / p["sigma"]
        return alpha, beta

    def _log_normaliser(self):
        alpha, beta = self._standard_bounds()
        if alpha is None and beta is None:
            return pt.constant(0.0)
        if beta is None:
            return pt.log(_normal_sf(alpha))
        if alpha is None:
            return pt.log(_normal_cdf(beta))
        # difference of survival functions keeps precision when both bounds lie in the upper tail
        mass = pt.switch(alpha > 0, _normal_sf(alpha) - _normal_sf(beta), _normal_cdf(beta) - _normal_cdf(alpha))
        return pt.log(mass)

    def logp(self, value):
        p = self.params
        logp = normal_logpdf(value, p["mu"], p["sigma"]) - self._log_normaliser()
        conditions = [pt.as_tensor_variable(np.array(True))]
        if p["lower"] is not None:
            conditions.append(value >= p["lower"])
        if p["upper"] is not None:
            conditions.append(value <= p["upper"])
        return bounded(logp, *conditions)

    def _random(self, rng, size):
        # inverse-CDF sampling, on the reflected side when the whole interval is in the upper tail
        p = self.params
        alpha, beta = self._standard_bounds()
        alpha = pt.as_tensor_variable(-np.inf) if alpha is None else alpha
        beta = pt.as_tensor_variable(np.inf) if beta is None else beta
        upper_tail = alpha > 0
        lo_u = pt.switch(upper_tail, _normal_sf(beta), _normal_cdf(alpha))
        hi_u = pt.switch(upper_tail, _normal_sf(alpha), _normal_cdf(beta))
        rng, u = draw(pt.random.uniform, lo_u, hi_u, rng=rng, size=size)
        z_lower = -_SQRT_2 * pt.erfcinv(2 * u)
        z = pt.switch(upper_tail, -z_lower, z_lower)
        if p["lower"] is not None:
            z = pt.maximum(z, alpha)
        if p["upper"] is not None:
            z = pt.minimum(z, beta)
        return rng, p["mu"] + p["sigma"] * z

    def support_point(self):
        p = self.params
        mu, lo, up = p["mu"], p["lower"], p["upper"]
        if lo is None and up is None:
            point = mu
        elif up is None:
            point = pt.switch(mu > lo, mu, lo + 1)
        elif lo is None:
            point = pt.switch(mu < up, mu, up - 1)
        else:
            point = pt.switch((mu > lo) & (mu < up), mu, (lo + up) / 2)
        return self._full(point)

    def default_transform(self):
        lo, up = self.params["lower"], self.params["upper"]
        if lo is None and up is None:
            return None
        return transforms.Interval(lo, up)

    def support(self) -> Support:
        # an absent bound is no truncation (infinite); a bound that is not constant is not checked
        lo, up = self.params["lower"], self.params["upper"]
        lower = None if lo is None else folded_value(lo)
        upper = None if up is None else folded_value(up)
        lo_text = "(-inf" if lo is None else ("[lower" if lower is None else "[{lower}")
        up_text = "inf)" if up is None else ("upper]" if upper is None else "{upper}]")
        return Support(f"the interval {lo_text}, {up_text}", lower=lower, upper=upper)
