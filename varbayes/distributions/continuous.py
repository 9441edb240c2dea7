"""Continuous univariate distributions."""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

from varbayes.distributions import transforms
from varbayes.distributions.base import (
    Continuous,
    as_float_param,
    bounded,
    check_exclusive,
    draw,
)

__all__ = ["Normal", "HalfNormal", "Flat", "HalfFlat"]

_LOG_2PI = float(np.log(2 * np.pi))


def sigma_from(dist_name: str, sigma, tau, default=1.0):
    """``sigma`` from either ``sigma`` or the precision ``tau``."""
    check_exclusive(dist_name, sigma=sigma, tau=tau)
    if tau is not None:
        return 1.0 / pt.sqrt(as_float_param(tau, "tau"))
    return as_float_param(default if sigma is None else sigma, "sigma")


class Normal(Continuous):
    """Normal distribution with mean ``mu`` and standard deviation ``sigma`` (or precision ``tau``).

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model():
    ...     x = pm.Normal("x", mu=0.0, sigma=2.0, shape=3)
    """

    def __init__(self, mu=0.0, sigma=None, *, tau=None, **kwargs):
        if tau is not None:
            self._check_raw("tau", tau)
        super().__init__(
            {"mu": as_float_param(mu, "mu"), "sigma": sigma_from("Normal", sigma, tau)}, **kwargs
        )
        self._check("sigma", lambda s: s > 0, "sigma must be positive")

    def _check_raw(self, name, value):
        if not hasattr(value, "owner") and np.any(np.asarray(value) <= 0):
            raise ValueError(f"parameter {name}={value!r} is invalid: {name} must be positive")

    def logp(self, value):
        mu, sigma = self.params["mu"], self.params["sigma"]
        z = (value - mu) / sigma
        return -0.5 * z**2 - pt.log(sigma) - 0.5 * _LOG_2PI

    def _random(self, rng, size):
        return draw(pt.random.normal, self.params["mu"], self.params["sigma"], rng=rng, size=size)

    def support_point(self):
        return self._full(self.params["mu"])


class HalfNormal(Continuous):
    """Half-normal distribution on ``[0, inf)`` with scale ``sigma`` (or precision ``tau``)."""

    def __init__(self, sigma=None, *, tau=None, **kwargs):
        super().__init__({"sigma": sigma_from("HalfNormal", sigma, tau)}, **kwargs)
        self._check("sigma", lambda s: s > 0, "sigma must be positive")

    def logp(self, value):
        sigma = self.params["sigma"]
        logp = 0.5 * np.log(2 / np.pi) - pt.log(sigma) - 0.5 * (value / sigma) ** 2
        return bounded(logp, value >= 0)

    def _random(self, rng, size):
        return draw(pt.random.halfnormal, 0.0, self.params["sigma"], rng=rng, size=size)

    def support_point(self):
        return self._full(self.params["sigma"])

    def default_transform(self):
        return transforms.log


class Flat(Continuous):
    """Improper uniform density over the real line (log-density 0)."""

    def __init__(self, **kwargs):
        super().__init__({}, **kwargs)

    def logp(self, value):
        return pt.zeros_like(value, dtype=value.dtype if value.dtype.startswith("float") else "float64")

    def _random(self, rng, size):
        raise ValueError("Flat is improper: it cannot be sampled")

    def support_point(self):
        return pt.zeros(self.shape)


class HalfFlat(Continuous):
    """Improper uniform density over the positive reals."""

    def __init__(self, **kwargs):
        super().__init__({}, **kwargs)

    def logp(self, value):
        return bounded(pt.zeros_like(value), value > 0)

    def _random(self, rng, size):
        raise ValueError("HalfFlat is improper: it cannot be sampled")

    def support_point(self):
        return pt.ones(self.shape)

    def default_transform(self):
        return transforms.log
