"""Continuous distributions on the positive half-line and the unit interval."""

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
    xlog1py,
    xlogy,
)
from varbayes.distributions.continuous import sigma_from
from varbayes.distributions.support import NON_NEGATIVE, POSITIVE, Support
from varbayes.math import log_invprobit, probit

__all__ = ["Exponential", "Gamma", "InverseGamma", "Beta", "LogNormal", "Weibull", "ChiSquared"]

_LOG_2PI = float(np.log(2 * np.pi))


def _positive_params(dist_name: str, **values):
    """Convert and check alternative parameters, which are checked before being transformed."""
    out = []
    for name, value in values.items():
        var = as_float_param(value, name)
        check_constant(name, var, positive, f"{name} must be positive")
        out.append(var)
    return out


def _not_one(param):
    """Where a shape parameter differs from 1 (or may: it is not a constant)."""
    value = folded_value(param)
    return True if value is None else value != 1


def _gamma(shape, scale, **kwargs):
    return pt.random.gamma(shape, scale=scale, **kwargs)


def _needs(dist_name: str, first: tuple[str, object], second: tuple[str, object]) -> None:
    if first[1] is None or second[1] is None:
        raise TypeError(f"{dist_name} needs {first[0]} and {second[0]} together")


class Exponential(Continuous):
    """Exponential distribution with rate ``lam`` (or ``scale = 1 / lam``).

    Examples
    --------
    >>> import varbayes as pm
    >>> round(float(pm.Exponential.dist(lam=2.0).logp(1.0).eval()), 4)
    -1.3069
    """

    def __init__(self, lam=None, *, scale=None, **kwargs):
        check_exclusive("Exponential", lam=lam, scale=scale)
        if scale is not None:
            (scale,) = _positive_params("Exponential", scale=scale)
            lam = 1.0 / scale
        else:
            lam = as_float_param(1.0 if lam is None else lam, "lam")
        super().__init__({"lam": lam}, **kwargs)
        self._check("lam", positive, "lam must be positive")

    def logp(self, value):
        lam = self.params["lam"]
        return bounded(pt.log(lam) - lam * value, value >= 0)

    def logcdf(self, value):
        return bounded(pt.log1mexp(-self.params["lam"] * pt.maximum(value, 0.0)), value >= 0)

    def icdf(self, q):
        return -pt.log1p(-q) / self.params["lam"]

    def _random(self, rng, size):
        return draw(pt.random.exponential, 1.0 / self.params["lam"], rng=rng, size=size)

    def support_point(self):
        return self._full(1.0 / self.params["lam"])

    def default_transform(self):
        return transforms.log

    def support(self) -> Support:
        return NON_NEGATIVE


class Gamma(Continuous):
    """Gamma distribution with shape ``alpha`` and rate ``beta`` (or mean ``mu`` and standard deviation ``sigma``).

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model():
    ...     a = pm.Gamma("a", alpha=2.0, beta=1.0)
    ...     b = pm.Gamma("b", mu=2.0, sigma=1.0)
    """

    def __init__(self, alpha=None, beta=None, *, mu=None, sigma=None, **kwargs):
        if mu is not None or sigma is not None:
            check_exclusive("Gamma", alpha=alpha, mu=mu)
            check_exclusive("Gamma", beta=beta, sigma=sigma)
            _needs("Gamma", ("mu", mu), ("sigma", sigma))
            mu, sigma = _positive_params("Gamma", mu=mu, sigma=sigma)
            alpha, beta = mu**2 / sigma**2, mu / sigma**2
        else:
            _needs("Gamma", ("alpha", alpha), ("beta", beta))
            alpha, beta = as_float_param(alpha, "alpha"), as_float_param(beta, "beta")
        super().__init__({"alpha": alpha, "beta": beta}, **kwargs)
        self._check("alpha", positive, "alpha must be positive")
        self._check("beta", positive, "beta must be positive")

    def logp(self, value):
        alpha, beta = self.params["alpha"], self.params["beta"]
        logp = alpha * pt.log(beta) - pt.gammaln(alpha) + (alpha - 1) * pt.log(value) - beta * value
        return bounded(logp, value > 0)

    def logcdf(self, value):
        alpha, beta = self.params["alpha"], self.params["beta"]
        return bounded(pt.log(pt.gammainc(alpha, beta * pt.maximum(value, 0.0))), value >= 0)

    def _random(self, rng, size):
        return draw(_gamma, self.params["alpha"], 1.0 / self.params["beta"], rng=rng, size=size)

    def support_point(self):
        return self._full(self.params["alpha"] / self.params["beta"])

    def default_transform(self):
        return transforms.log

    def support(self) -> Support:
        return POSITIVE


class InverseGamma(Continuous):
    """Inverse-gamma distribution with shape ``alpha`` and scale ``beta`` (or mean ``mu`` and ``sigma``).

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model():
    ...     v = pm.InverseGamma("v", alpha=3.0, beta=2.0)
    """

    def __init__(self, alpha=None, beta=None, *, mu=None, sigma=None, **kwargs):
        if mu is not None or sigma is not None:
            check_exclusive("InverseGamma", alpha=alpha, mu=mu)
            check_exclusive("InverseGamma", beta=beta, sigma=sigma)
            _needs("InverseGamma", ("mu", mu), ("sigma", sigma))
            mu, sigma = _positive_params("InverseGamma", mu=mu, sigma=sigma)
            # moment matching: mean beta/(alpha-1), variance mean^2/(alpha-2)
            alpha = mu**2 / sigma**2 + 2
            beta = mu * (alpha - 1)
        else:
            _needs("InverseGamma", ("alpha", alpha), ("beta", beta))
            alpha, beta = as_float_param(alpha, "alpha"), as_float_param(beta, "beta")
        super().__init__({"alpha": alpha, "beta": beta}, **kwargs)
        self._check("alpha", positive, "alpha must be positive")
        self._check("beta", positive, "beta must be positive")

    def logp(self, value):
        alpha, beta = self.params["alpha"], self.params["beta"]
        logp = alpha * pt.log(beta) - pt.gammaln(alpha) - (alpha + 1) * pt.log(value) - beta / value
        return bounded(logp, value > 0)

    def logcdf(self, value):
        alpha, beta = self.params["alpha"], self.params["beta"]
        safe = pt.switch(value > 0, value, 1.0)
        return bounded(pt.log(pt.gammaincc(alpha, beta / safe)), value > 0)

    def _random(self, rng, size):
        return draw(pt.random.invgamma, self.params["alpha"], self.params["beta"], rng=rng, size=size)

    def support_point(self):
        alpha, beta = self.params["alpha"], self.params["beta"]
        # the mean where it exists, else the mode
        return self._full(pt.switch(alpha > 1, beta / (alpha - 1), beta / (alpha + 1)))

    def default_transform(self):
        return transforms.log

    def support(self) -> Support:
        return POSITIVE


class Beta(Continuous):
    """Beta distribution on ``(0, 1)`` with ``alpha`` and ``beta`` (or mean ``mu`` and standard deviation ``sigma``).

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model():
    ...     p = pm.Beta("p", alpha=2.0, beta=2.0)
    ...     q = pm.Beta("q", mu=0.3, sigma=0.1)
    """

    def __init__(self, alpha=None, beta=None, *, mu=None, sigma=None, **kwargs):
        if mu is not None or sigma is not None:
            check_exclusive("Beta", alpha=alpha, mu=mu)
            check_exclusive("Beta", beta=beta, sigma=sigma)
            _needs("Beta", ("mu", mu), ("sigma", sigma))
            mu, sigma = as_float_param(mu, "mu"), as_float_param(sigma, "sigma")
            check_constant("mu", mu, lambda m: (m > 0) & (m < 1), "mu must lie in (0, 1)")
            check_constant("sigma", sigma, positive, "sigma must be positive")
            m, s = constant_value(mu), constant_value(sigma)
            if m is not None and s is not None and np.any(s**2 >= m * (1 - m)):
                raise ValueError(f"parameter sigma={s} is invalid: sigma**2 must be below mu * (1 - mu)")
            kappa = mu * (1 - mu) / sigma**2 - 1
            alpha, beta = mu * kappa, (1 - mu) * kappa
        else:
            alpha = as_float_param(1.0 if alpha is None else alpha, "alpha")
            beta = as_float_param(1.0 if beta is None else beta, "beta")
        super().__init__({"alpha": alpha, "beta": beta}, **kwargs)
        self._check("alpha", positive, "alpha must be positive")
        self._check("beta", positive, "beta must be positive")

    def logp(self, value):
        alpha, beta = self.params["alpha"], self.params["beta"]
        # finite at 0 (at 1) where alpha (beta) is 1, as the density is
        logp = xlogy(alpha - 1, value) + xlog1py(beta - 1, -value) - pt.special.betaln(alpha, beta)
        return bounded(logp, value >= 0, value <= 1)

    def logcdf(self, value):
        alpha, beta = self.params["alpha"], self.params["beta"]
        return bounded(pt.log(pt.betainc(alpha, beta, pt.clip(value, 0.0, 1.0))), value >= 0)

    def _random(self, rng, size):
        return draw(pt.random.beta, self.params["alpha"], self.params["beta"], rng=rng, size=size)

    def support_point(self):
        alpha, beta = self.params["alpha"], self.params["beta"]
        return self._full(alpha / (alpha + beta))

    def default_transform(self):
        return transforms.logodds

    def support(self) -> Support:
        # the density is finite at 0 only where alpha is 1 (at 1, where beta is 1); elsewhere
        # it is 0 or infinite there, and so is the observation's log-density
        return Support(
            "the interval {left}0, 1{right}",
            lower=0.0,
            upper=1.0,
            lower_open=_not_one(self.params["alpha"]),
            upper_open=_not_one(self.params["beta"]),
        )


class LogNormal(Continuous):
    """Log-normal distribution: ``log(x)`` is normal with mean ``mu`` and scale ``sigma`` (or precision ``tau``).

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model():
    ...     x = pm.LogNormal("x", mu=0.0, sigma=0.5)
    """

    def __init__(self, mu=0.0, sigma=None, *, tau=None, **kwargs):
        super().__init__({"mu": as_float_param(mu, "mu"), "sigma": sigma_from("LogNormal", sigma, tau)}, **kwargs)
        self._check("mu", np.isfinite, "mu must be finite")
        self._check("sigma", positive, "sigma must be positive")

    def logp(self, value):
        mu, sigma = self.params["mu"], self.params["sigma"]
        log_x = pt.log(value)
        logp = -0.5 * ((log_x - mu) / sigma) ** 2 - pt.log(sigma) - 0.5 * _LOG_2PI - log_x
        return bounded(logp, value > 0)

    def logcdf(self, value):
        mu, sigma = self.params["mu"], self.params["sigma"]
        safe = pt.switch(value > 0, value, 1.0)
        return bounded(log_invprobit((pt.log(safe) - mu) / sigma), value > 0)

    def icdf(self, q):
        return pt.exp(self.params["mu"] + self.params["sigma"] * probit(q))

    def _random(self, rng, size):
        return draw(pt.random.lognormal, self.params["mu"], self.params["sigma"], rng=rng, size=size)

    def support_point(self):
        mu, sigma = self.params["mu"], self.params["sigma"]
        return self._full(pt.exp(mu + sigma**2 / 2))

    def default_transform(self):
        return transforms.log

    def support(self) -> Support:
        return POSITIVE


class Weibull(Continuous):
    """Weibull distribution with shape ``alpha`` and scale ``beta``.

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model():
    ...     t = pm.Weibull("t", alpha=1.5, beta=2.0)
    """

    def __init__(self, alpha, beta, **kwargs):
        super().__init__({"alpha": as_float_param(alpha, "alpha"), "beta": as_float_param(beta, "beta")}, **kwargs)
        self._check("alpha", positive, "alpha must be positive")
        self._check("beta", positive, "beta must be positive")

    def logp(self, value):
        alpha, beta = self.params["alpha"], self.params["beta"]
        z = value / beta
        logp = pt.log(alpha) - pt.log(beta) + xlogy(alpha - 1, z) - z**alpha
        return bounded(logp, value >= 0)

    def logcdf(self, value):
        alpha, beta = self.params["alpha"], self.params["beta"]
        return bounded(pt.log1mexp(-((pt.maximum(value, 0.0) / beta) ** alpha)), value >= 0)

    def icdf(self, q):
        return self.params["beta"] * (-pt.log1p(-q)) ** (1.0 / self.params["alpha"])

    def _random(self, rng, size):
        # beta * E**(1/alpha) with E standard exponential; pt.random.weibull has no JAX implementation
        rng, e = draw(pt.random.exponential, 1.0, rng=rng, size=size)
        return rng, self.params["beta"] * e ** (1.0 / self.params["alpha"])

    def support_point(self):
        alpha, beta = self.params["alpha"], self.params["beta"]
        return self._full(beta * pt.exp(pt.gammaln(1 + 1 / alpha)))

    def default_transform(self):
        return transforms.log

    def support(self) -> Support:
        # (alpha - 1) log(x) is finite at x = 0 only where alpha is 1 (the exponential)
        return Support("the interval {left}0, inf)", lower=0.0, lower_open=_not_one(self.params["alpha"]))


class ChiSquared(Continuous):
    """Chi-squared distribution with ``nu`` degrees of freedom.

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model():
    ...     q = pm.ChiSquared("q", nu=3.0)
    """

    def __init__(self, nu, **kwargs):
        super().__init__({"nu": as_float_param(nu, "nu")}, **kwargs)
        self._check("nu", positive, "nu must be positive")

    def logp(self, value):
        k = self.params["nu"] / 2
        logp = (k - 1) * pt.log(value) - value / 2 - k * np.log(2.0) - pt.gammaln(k)
        return bounded(logp, value > 0)

    def logcdf(self, value):
        return bounded(pt.log(pt.gammainc(self.params["nu"] / 2, pt.maximum(value, 0.0) / 2)), value >= 0)

    def _random(self, rng, size):
        return draw(_gamma, self.params["nu"] / 2, 2.0, rng=rng, size=size)

    def support_point(self):
        return self._full(self.params["nu"])

    def default_transform(self):
        return transforms.log

    def support(self) -> Support:
        return POSITIVE
