"""Discrete univariate distributions."""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
from pytensor.tensor.special import log_softmax

from varbayes.distributions.base import (
    Discrete,
    as_float_param,
    as_int_param,
    bounded,
    check_constant,
    check_event_axis,
    check_exclusive,
    constant_value,
    draw,
    folded_value,
    positive,
)
from varbayes.distributions.support import NON_NEGATIVE_INTEGERS, Support, interval

__all__ = [
    "Categorical",
    "Bernoulli",
    "Binomial",
    "BetaBinomial",
    "Poisson",
    "NegativeBinomial",
    "Geometric",
    "DiscreteUniform",
    "ZeroInflatedPoisson",
]


def _unit(v):
    return (v >= 0) & (v <= 1)


def _nonnegative(v):
    return v >= 0


def _counts_up_to(n) -> Support:
    """Successes in ``n`` trials: ``0..n`` when ``n`` is a constant, else the non-negative integers."""
    value = folded_value(n)
    if value is None:
        return NON_NEGATIVE_INTEGERS
    return Support("integers from 0 to n={upper}", lower=0, upper=value, integer=True)


def _log_choose(n, k):
    return pt.gammaln(n + 1) - pt.gammaln(k + 1) - pt.gammaln(n - k + 1)


def _xlogy(x, y):
    """``x * log(y)`` with ``0 * log(0) = 0`` (a certain outcome has probability one)."""
    return pt.switch(pt.eq(x, 0), 0.0, x * pt.log(y))


def _prob_params(dist_name: str, p, logit_p):
    """``{"p": ...}`` or ``{"logit_p": ...}``, checked."""
    check_exclusive(dist_name, p=p, logit_p=logit_p)
    if p is None and logit_p is None:
        raise TypeError(f"{dist_name} needs p or logit_p")
    if p is not None:
        p = as_float_param(p, "p")
        check_constant("p", p, _unit, "p must lie in [0, 1]")
        return {"p": p}
    return {"logit_p": as_float_param(logit_p, "logit_p")}


class _ProbMixin:
    """Log-probabilities of success and failure from ``p`` or ``logit_p``."""

    def _log_p_q(self):
        if "p" in self.params:
            p = self.params["p"]
            return pt.log(p), pt.log1p(-p)
        logit = self.params["logit_p"]
        return -pt.softplus(-logit), -pt.softplus(logit)

    def _p(self):
        return self.params["p"] if "p" in self.params else pt.sigmoid(self.params["logit_p"])



class Categorical(Discrete):
    """Categorical distribution over ``0..K-1`` with probabilities ``p`` (last axis) or ``logit_p``.

    Examples
    --------
    >>> import varbayes as pm
    >>> d = pm.Categorical.dist(p=[0.2, 0.8])
    >>> round(float(d.logp(1).eval()), 4)
    -0.2231
    """

    def __init__(self, p=None, *, logit_p=None, **kwargs):
        check_exclusive("Categorical", p=p, logit_p=logit_p)
        if p is None and logit_p is None:
            raise TypeError("Categorical needs p or logit_p")
        if p is not None:
            p = as_float_param(p, "p")
            params = {"p": p}
        else:
            params = {"logit_p": as_float_param(logit_p, "logit_p")}
        for key, var in params.items():
            if var.ndim < 1:
                raise ValueError(f"Categorical: {key} must have a category axis (its last axis)")
            check_event_axis(key, var, "category")
        super().__init__(params, **kwargs)
        if p is not None:
            self._check("p", lambda v: (v >= 0) & (v <= 1), "probabilities must lie in [0, 1]")

    def _batch_param_shapes(self):
        return [tuple(p.type.shape[:-1]) for p in self.params.values()]

    def _batch_param_shapes_symbolic(self):
        return [p.shape[:-1] for p in self.params.values()]

    def _log_p(self):
        if "p" in self.params:
            p = self.params["p"]
            logits = _softmax_input(p)
            if logits is not None:
                # p = softmax(x) is normalised already: log_softmax(x) is exact, stable and
                # one pass, where normalising and taking the log costs two more per element
                return log_softmax(logits, axis=-1)
            return pt.log(p) - pt.log(pt.sum(p, axis=-1, keepdims=True))
        return log_softmax(self.params["logit_p"], axis=-1)

    def logp(self, value):
        log_p = self._log_p()
        value = pt.as_tensor_variable(value)
        k = log_p.shape[-1]
        safe = pt.clip(value, 0, k - 1)
        log_p = pt.broadcast_to(log_p, (*pt.broadcast_shape(value, log_p[..., 0]), k))
        picked = pt.take_along_axis(log_p, pt.cast(safe, "int64")[..., None], axis=-1)[..., 0]
        return bounded(picked, value >= 0, value <= k - 1)

    def _random(self, rng, size):
        return draw(pt.random.categorical, pt.exp(self._log_p()), rng=rng, size=size)

    def support_point(self):
        return pt.broadcast_to(pt.argmax(self._log_p(), axis=-1), self.shape)

    def support(self) -> Support:
        key, probs = next(iter(self.params.items()))
        k = probs.type.shape[-1]
        if k is None:  # the number of categories is known only at run time
            return NON_NEGATIVE_INTEGERS
        text = f"integers from 0 to {k - 1}, one per category of {key}"
        return Support(text, lower=0, upper=k - 1, integer=True)


class Bernoulli(_ProbMixin, Discrete):
    """Bernoulli distribution over ``{0, 1}`` with success probability ``p`` (or ``logit_p``).

    Examples
    --------
    >>> import varbayes as pm
    >>> round(float(pm.Bernoulli.dist(p=0.25).logp(1).eval()), 4)
    -1.3863
    """

    def __init__(self, p=None, *, logit_p=None, **kwargs):
        super().__init__(_prob_params("Bernoulli", p, logit_p), **kwargs)

    def logp(self, value):
        log_p, log_q = self._log_p_q()
        logp = pt.switch(pt.eq(value, 1), log_p, log_q)
        return bounded(logp, value >= 0, value <= 1)

    def logcdf(self, value):
        _, log_q = self._log_p_q()
        return pt.switch(value < 0, -np.inf, pt.switch(value < 1, log_q, 0.0))

    def _random(self, rng, size):
        return draw(pt.random.bernoulli, self._p(), rng=rng, size=size)

    def support_point(self):
        return self._full(pt.cast(self._p() >= 0.5, self.dtype))

    def support(self) -> Support:
        return Support("0 or 1", lower=0, upper=1, integer=True)


class Binomial(_ProbMixin, Discrete):
    """Binomial distribution: successes in ``n`` trials with probability ``p`` (or ``logit_p``).

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model():
    ...     k = pm.Binomial("k", n=10, p=0.3, observed=[2, 4, 3])
    """

    def __init__(self, n, p=None, *, logit_p=None, **kwargs):
        params = {"n": as_int_param(n, "n"), **_prob_params("Binomial", p, logit_p)}
        super().__init__(params, **kwargs)
        self._check("n", _nonnegative, "n must be a non-negative integer")

    def logp(self, value):
        n = self.params["n"]
        log_p, log_q = self._log_p_q()
        logp = (
            _log_choose(n, value)
            + pt.switch(pt.eq(value, 0), 0.0, value * log_p)
            + pt.switch(pt.eq(n - value, 0), 0.0, (n - value) * log_q)
        )
        return bounded(logp, value >= 0, value <= n)

    def logcdf(self, value):
        n, k = self.params["n"], pt.floor(value)
        inside = pt.clip(k, 0, pt.maximum(n - 1, 0))
        cdf = pt.betainc(pt.maximum(n - inside, 1), inside + 1, 1 - self._p())
        return pt.switch(k < 0, -np.inf, pt.switch(k >= n, 0.0, pt.log(cdf)))

    def _random(self, rng, size):
        return draw(pt.random.binomial, self.params["n"], self._p(), rng=rng, size=size)

    def support_point(self):
        return self._full(pt.cast(pt.round(self.params["n"] * self._p()), self.dtype))

    def support(self) -> Support:
        return _counts_up_to(self.params["n"])


class BetaBinomial(Discrete):
    """Beta-binomial distribution: binomial in ``n`` trials with a Beta(``alpha``, ``beta``) probability.

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model():
    ...     k = pm.BetaBinomial("k", alpha=2.0, beta=3.0, n=10, observed=[2, 7])
    """

    def __init__(self, alpha, beta, n, **kwargs):
        params = {"alpha": as_float_param(alpha, "alpha"), "beta": as_float_param(beta, "beta"), "n": as_int_param(n, "n")}
        super().__init__(params, **kwargs)
        self._check("alpha", positive, "alpha must be positive")
        self._check("beta", positive, "beta must be positive")
        self._check("n", _nonnegative, "n must be a non-negative integer")

    def logp(self, value):
        alpha, beta, n = self.params["alpha"], self.params["beta"], self.params["n"]
        betaln = pt.special.betaln
        logp = _log_choose(n, value) + betaln(value + alpha, n - value + beta) - betaln(alpha, beta)
        return bounded(logp, value >= 0, value <= n)

    def _random(self, rng, size):
        p = self.params
        return draw(pt.random.betabinom, p["n"], p["alpha"], p["beta"], rng=rng, size=size)

    def support_point(self):
        alpha, beta, n = self.params["alpha"], self.params["beta"], self.params["n"]
        return self._full(pt.cast(pt.round(n * alpha / (alpha + beta)), self.dtype))

    def support(self) -> Support:
        return _counts_up_to(self.params["n"])


class Poisson(Discrete):
    """Poisson distribution with mean ``mu``.

    Examples
    --------
    >>> import varbayes as pm
    >>> round(float(pm.Poisson.dist(mu=2.0).logp(0).eval()), 4)
    -2.0
    """

    def __init__(self, mu, **kwargs):
        super().__init__({"mu": as_float_param(mu, "mu")}, **kwargs)
        self._check("mu", _nonnegative, "mu must be non-negative")

    def logp(self, value):
        mu = self.params["mu"]
        logp = _xlogy(value, mu) - mu - pt.gammaln(value + 1)
        return bounded(logp, value >= 0)

    def logcdf(self, value):
        k = pt.floor(value)
        return bounded(pt.log(pt.gammaincc(pt.maximum(k, 0) + 1, self.params["mu"])), k >= 0)

    def _random(self, rng, size):
        return draw(pt.random.poisson, self.params["mu"], rng=rng, size=size)

    def support_point(self):
        return self._full(pt.cast(pt.floor(self.params["mu"]), self.dtype))

    def support(self) -> Support:
        return NON_NEGATIVE_INTEGERS


class NegativeBinomial(Discrete):
    """Negative binomial with mean ``mu`` and dispersion ``alpha`` (or ``n`` successes with probability ``p``).

    The variance is ``mu + mu**2 / alpha``; ``n = alpha`` and ``p = alpha / (mu + alpha)``.

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model():
    ...     y = pm.NegativeBinomial("y", mu=3.0, alpha=2.0, observed=[0, 5, 2])
    """

    def __init__(self, mu=None, alpha=None, *, p=None, n=None, **kwargs):
        check_exclusive("NegativeBinomial", mu=mu, p=p)
        check_exclusive("NegativeBinomial", alpha=alpha, n=n)
        if p is not None or n is not None:
            if p is None or n is None:
                raise TypeError("NegativeBinomial needs n and p together")
            n, p = as_float_param(n, "n"), as_float_param(p, "p")
            check_constant("n", n, positive, "n must be positive")
            check_constant("p", p, lambda v: (v > 0) & (v <= 1), "p must lie in (0, 1]")
            mu, alpha = n * (1 - p) / p, n
        else:
            if mu is None or alpha is None:
                raise TypeError("NegativeBinomial needs mu and alpha (or n and p)")
            mu, alpha = as_float_param(mu, "mu"), as_float_param(alpha, "alpha")
        super().__init__({"mu": mu, "alpha": alpha}, **kwargs)
        self._check("mu", _nonnegative, "mu must be non-negative")
        self._check("alpha", positive, "alpha must be positive")

    def logp(self, value):
        mu, alpha = self.params["mu"], self.params["alpha"]
        logp = (
            pt.gammaln(value + alpha)
            - pt.gammaln(alpha)
            - pt.gammaln(value + 1)
            + alpha * (pt.log(alpha) - pt.log(alpha + mu))
            + _xlogy(value, mu / (alpha + mu))
        )
        return bounded(logp, value >= 0)

    def logcdf(self, value):
        mu, alpha = self.params["mu"], self.params["alpha"]
        k = pt.floor(value)
        return bounded(pt.log(pt.betainc(alpha, pt.maximum(k, 0) + 1, alpha / (mu + alpha))), k >= 0)

    def _random(self, rng, size):
        mu, alpha = self.params["mu"], self.params["alpha"]
        return draw(pt.random.negative_binomial, alpha, alpha / (mu + alpha), rng=rng, size=size)

    def support_point(self):
        return self._full(pt.cast(pt.floor(self.params["mu"]), self.dtype))

    def support(self) -> Support:
        return NON_NEGATIVE_INTEGERS


class Geometric(Discrete):
    """Geometric distribution: the number of trials up to and including the first success (``x >= 1``).

    Examples
    --------
    >>> import varbayes as pm
    >>> round(float(pm.Geometric.dist(p=0.5).logp(1).eval()), 4)
    -0.6931
    """

    def __init__(self, p, **kwargs):
        super().__init__({"p": as_float_param(p, "p")}, **kwargs)
        self._check("p", lambda v: (v > 0) & (v <= 1), "p must lie in (0, 1]")

    def logp(self, value):
        p = self.params["p"]
        logp = pt.switch(pt.eq(value, 1), 0.0, (value - 1) * pt.log1p(-p)) + pt.log(p)
        return bounded(logp, value >= 1)

    def logcdf(self, value):
        k = pt.floor(value)
        return bounded(pt.log1mexp(pt.maximum(k, 1) * pt.log1p(-self.params["p"])), k >= 1)

    def _random(self, rng, size):
        return draw(pt.random.geometric, self.params["p"], rng=rng, size=size)

    def support_point(self):
        return self._full(pt.cast(pt.round(1.0 / self.params["p"]), self.dtype))

    def support(self) -> Support:
        return Support("positive integers 1, 2, 3, ...", lower=1, integer=True)


class DiscreteUniform(Discrete):
    """Uniform distribution over the integers ``lower, ..., upper`` (both included).

    Examples
    --------
    >>> import varbayes as pm
    >>> round(float(pm.DiscreteUniform.dist(0, 3).logp(2).eval()), 4)
    -1.3863
    """

    def __init__(self, lower, upper, **kwargs):
        lower, upper = as_int_param(lower, "lower"), as_int_param(upper, "upper")
        super().__init__({"lower": lower, "upper": upper}, **kwargs)
        lo, up = constant_value(lower), constant_value(upper)
        if lo is not None and up is not None and np.any(up < lo):
            raise ValueError(f"parameter upper={up} is invalid: upper must be at least lower={lo}")

    def logp(self, value):
        lower, upper = self.params["lower"], self.params["upper"]
        logp = -pt.log(pt.cast(upper - lower + 1, "float64")) + pt.zeros_like(value, dtype="float64")
        return bounded(logp, value >= lower, value <= upper)

    def logcdf(self, value):
        lower, upper = self.params["lower"], self.params["upper"]
        count = pt.clip(pt.floor(value) - lower + 1, 0, upper - lower + 1)
        return pt.log(count / (upper - lower + 1))

    def _random(self, rng, size):
        return draw(pt.random.integers, self.params["lower"], self.params["upper"] + 1, rng=rng, size=size)

    def support_point(self):
        lower, upper = self.params["lower"], self.params["upper"]
        return self._full(pt.cast((lower + upper) // 2, self.dtype))

    def support(self) -> Support:
        return interval(folded_value(self.params["lower"]), folded_value(self.params["upper"]), integer=True)


class ZeroInflatedPoisson(Discrete):
    """Poisson with mean ``mu`` with probability ``psi``, else a structural zero.

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model():
    ...     y = pm.ZeroInflatedPoisson("y", psi=0.7, mu=3.0, observed=[0, 0, 4, 2])
    """

    def __init__(self, psi, mu, **kwargs):
        super().__init__({"psi": as_float_param(psi, "psi"), "mu": as_float_param(mu, "mu")}, **kwargs)
        self._check("psi", _unit, "psi must lie in [0, 1]")
        self._check("mu", _nonnegative, "mu must be non-negative")

    def logp(self, value):
        psi, mu = self.params["psi"], self.params["mu"]
        log_poisson = _xlogy(value, mu) - mu - pt.gammaln(value + 1)
        logp = pt.switch(
            pt.eq(value, 0),
            pt.logaddexp(pt.log1p(-psi), pt.log(psi) - mu),
            pt.log(psi) + log_poisson,
        )
        return bounded(logp, value >= 0)

    def logcdf(self, value):
        psi, mu = self.params["psi"], self.params["mu"]
        k = pt.floor(value)
        poisson_cdf = pt.gammaincc(pt.maximum(k, 0) + 1, mu)
        return bounded(pt.log1p(-psi + psi * poisson_cdf), k >= 0)

    def _random(self, rng, size):
        rng, keep = draw(pt.random.bernoulli, self.params["psi"], rng=rng, size=size)
        rng, counts = draw(pt.random.poisson, self.params["mu"], rng=rng, size=size)
        return rng, keep * counts

    def support_point(self):
        psi, mu = self.params["psi"], self.params["mu"]
        return self._full(pt.cast(pt.floor(psi * mu), self.dtype))

    def support(self) -> Support:
        return NON_NEGATIVE_INTEGERS


def _softmax_input(p):
    """``x`` when ``p`` is ``softmax(x)`` over its last axis, else ``None``."""
    from pytensor.tensor.special import Softmax

    owner = p.owner
    if owner is None or not isinstance(owner.op, Softmax):
        return None
    axis = owner.op.axis
    axes = tuple(a % p.ndim for a in (axis if isinstance(axis, tuple) else (axis,)))
    return owner.inputs[0] if axes == (p.ndim - 1,) else None
