"""Skewed continuous distributions: the skew-normal and the Wald (inverse Gaussian)."""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

from varbayes.distributions import transforms
from varbayes.distributions.base import (
    Continuous,
    as_float_param,
    bounded,
    check_constant,
    draw,
    folded_value,
    positive,
)
from varbayes.distributions.continuous import normal_logpdf, sigma_from
from varbayes.distributions.support import POSITIVE, Support
from varbayes.math import log_invprobit

__all__ = ["SkewNormal", "Wald"]

_LOG_2 = float(np.log(2.0))
_LOG_2PI = float(np.log(2 * np.pi))


class SkewNormal(Continuous):
    """Skew-normal distribution: location ``mu``, scale ``sigma`` (or precision ``tau``), skewness ``alpha``.

    The density is ``2 / sigma * phi(z) * Phi(alpha * z)`` with
    ``z = (x - mu) / sigma``; ``alpha = 0`` is the normal, a positive
    ``alpha`` skews to the right.

    Examples
    --------
    >>> import varbayes as pm
    >>> round(float(pm.SkewNormal.dist(mu=0.0, sigma=1.0, alpha=3.0).logp(0.5).eval()), 4)
    -0.4199
    """

    def __init__(self, mu=0.0, sigma=None, alpha=1.0, *, tau=None, **kwargs):
        params = {
            "mu": as_float_param(mu, "mu"),
            "sigma": sigma_from("SkewNormal", sigma, tau),
            "alpha": as_float_param(alpha, "alpha"),
        }
        super().__init__(params, **kwargs)
        self._check("mu", np.isfinite, "mu must be finite")
        self._check("sigma", positive, "sigma must be positive")
        self._check("alpha", np.isfinite, "alpha must be finite")

    def logp(self, value):
        mu, sigma, alpha = self.params["mu"], self.params["sigma"], self.params["alpha"]
        return _LOG_2 + normal_logpdf(value, mu, sigma) + log_invprobit(alpha * (value - mu) / sigma)

    def _random(self, rng, size):
        # X = delta |U| + sqrt(1 - delta**2) V for independent standard normals U, V
        mu, sigma, alpha = self.params["mu"], self.params["sigma"], self.params["alpha"]
        delta = alpha / pt.sqrt(1 + alpha**2)
        rng, u = draw(pt.random.normal, 0.0, 1.0, rng=rng, size=size)
        rng, v = draw(pt.random.normal, 0.0, 1.0, rng=rng, size=size)
        return rng, mu + sigma * (delta * pt.abs(u) + pt.sqrt(1 - delta**2) * v)

    def support_point(self):
        mu, sigma, alpha = self.params["mu"], self.params["sigma"], self.params["alpha"]
        # the mean, mu + sigma delta sqrt(2 / pi)
        return self._full(mu + sigma * np.sqrt(2 / np.pi) * alpha / pt.sqrt(1 + alpha**2))


class Wald(Continuous):
    """Wald (inverse Gaussian) distribution with mean ``mu`` and shape ``lam`` (or ``phi = lam / mu``), shifted by ``alpha``.

    Any two of ``mu``, ``lam`` and ``phi`` may be given (``mu`` alone means
    ``lam = 1``). The density of ``y = x - alpha > 0`` is
    ``sqrt(lam / (2 pi y**3)) exp(-lam (y - mu)**2 / (2 mu**2 y))``.

    Examples
    --------
    >>> import varbayes as pm
    >>> round(float(pm.Wald.dist(mu=1.0, lam=2.0).logp(1.0).eval()), 4)
    -0.5724
    """

    def __init__(self, mu=None, lam=None, phi=None, alpha=0.0, **kwargs):
        given = [k for k, v in {"mu": mu, "lam": lam, "phi": phi}.items() if v is not None]
        if len(given) == 3:
            raise ValueError("Wald: give two of mu, lam, phi (they determine each other), got all three")
        if not given:
            raise TypeError("Wald needs mu (and lam or phi), or lam and phi")
        converted = {}
        for key, value in (("mu", mu), ("lam", lam), ("phi", phi)):
            if value is not None:
                converted[key] = as_float_param(value, key)
                check_constant(key, converted[key], positive, f"{key} must be positive")
        if "mu" not in converted and len(converted) < 2:
            raise TypeError("Wald needs mu (and lam or phi), or lam and phi")
        if "phi" in converted and "mu" in converted:
            mu, lam = converted["mu"], converted["phi"] * converted["mu"]
        elif "phi" in converted:
            lam = converted["lam"]
            mu = lam / converted["phi"]
        else:
            mu = converted["mu"]
            lam = converted.get("lam", as_float_param(1.0, "lam"))
        super().__init__({"mu": mu, "lam": lam, "alpha": as_float_param(alpha, "alpha")}, **kwargs)
        self._check("alpha", np.isfinite, "alpha must be finite")

    def logp(self, value):
        mu, lam, alpha = self.params["mu"], self.params["lam"], self.params["alpha"]
        y = value - alpha
        safe = pt.switch(y > 0, y, 1.0)
        logp = 0.5 * (pt.log(lam) - _LOG_2PI - 3 * pt.log(safe)) - lam * (safe - mu) ** 2 / (2 * mu**2 * safe)
        return bounded(logp, y > 0)

    def logcdf(self, value):
        # Phi(sqrt(lam/y) (y/mu - 1)) + exp(2 lam / mu) Phi(-sqrt(lam/y) (y/mu + 1))
        mu, lam, alpha = self.params["mu"], self.params["lam"], self.params["alpha"]
        y = value - alpha
        safe = pt.switch(y > 0, y, 1.0)
        root = pt.sqrt(lam / safe)
        first = log_invprobit(root * (safe / mu - 1))
        second = 2 * lam / mu + log_invprobit(-root * (safe / mu + 1))
        return bounded(pt.logaddexp(first, second), y > 0)

    def _random(self, rng, size):
        p = self.params
        rng, y = draw(pt.random.wald, p["mu"], p["lam"], rng=rng, size=size)
        return rng, y + p["alpha"]

    def support_point(self):
        return self._full(self.params["mu"] + self.params["alpha"])

    def default_transform(self):
        alpha = folded_value(self.params["alpha"])
        if alpha is not None and np.all(alpha == 0):
            return transforms.log
        return transforms.Interval(self.params["alpha"], None)

    def support(self) -> Support:
        alpha = folded_value(self.params["alpha"])
        if alpha is not None and np.all(alpha == 0):
            return POSITIVE
        shown = "{lower}" if alpha is not None else "alpha"
        return Support(f"the interval ({shown}, inf)", lower=alpha, lower_open=True)
