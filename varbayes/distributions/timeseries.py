"""Time series: the Gaussian random walk and the autoregressive process, time on the last axis."""

from __future__ import annotations

import warnings

import numpy as np
import pytensor
import pytensor.tensor as pt

from varbayes.distributions.base import Continuous, Distribution, as_float_param, draw, positive, shape_tuple
from varbayes.distributions.continuous import Normal, normal_logpdf, sigma_from

__all__ = ["GaussianRandomWalk", "AR"]


def _init_dist(owner: str, init_dist) -> Distribution:
    if init_dist is None:
        warnings.warn(
            f"{owner}: init_dist not given, so the initial values are Normal.dist(0, 100); "
            "pass init_dist= to choose them",
            UserWarning,
            stacklevel=5,
        )
        return Normal.dist(0.0, 100.0)
    if not isinstance(init_dist, Distribution):
        raise TypeError(
            f"{owner}: init_dist must be an unnamed distribution such as pm.Normal.dist(0, 1), "
            f"got {type(init_dist).__name__}"
        )
    if init_dist.ndim_supp != 0:
        raise ValueError(f"{owner}: init_dist must be univariate, got {type(init_dist).__name__}")
    return init_dist


def _time_length(owner: str, initial: int, steps, kwargs) -> int:
    """The number of steps: ``steps``, or the last axis of the shape (or the observed data) less ``initial`` values."""
    if steps is not None:
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
            raise ValueError(f"parameter steps={steps!r} is invalid: steps must be a positive integer")
        return int(steps)
    shape = shape_tuple(kwargs.get("shape"))
    observed = kwargs.get("observed_shape")
    length = shape[-1] if shape else (observed[-1] if observed and observed[-1] is not None else None)
    if length is None:
        raise ValueError(f"{owner} needs steps= or a shape (or dims) whose last axis is time")
    if length - initial < 1:
        raise ValueError(
            f"{owner}: a time axis of length {length} leaves no steps after the {initial} initial value(s)"
        )
    return length - initial


class GaussianRandomWalk(Continuous):
    """Random walk with normal innovations of mean ``mu`` (drift) and scale ``sigma``; time is the last axis.

    ``x[..., 0] ~ init_dist`` and ``x[..., t] - x[..., t-1] ~ Normal(mu, sigma)``
    for ``t = 1..steps``, so the time axis has ``steps + 1`` values. Give
    ``steps`` or a shape (or dims) whose last axis is time.

    Parameters
    ----------
    mu, sigma : array_like
        Drift and scale of the innovations (batch parameters).
    init_dist : Distribution, optional
        Unnamed univariate distribution of the first value (``Normal.dist(0, 100)`` with a warning by default).
    steps : int, optional
        Number of innovations.

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model():
    ...     x = pm.GaussianRandomWalk("x", sigma=0.5, init_dist=pm.Normal.dist(0.0, 1.0), steps=10)
    >>> x.type.shape
    (11,)
    """

    ndim_supp = 1

    def __init__(self, mu=0.0, sigma=None, *, init_dist=None, steps=None, tau=None, **kwargs):
        mu, sigma = as_float_param(mu, "mu"), sigma_from("GaussianRandomWalk", sigma, tau)
        self.init_dist = _init_dist("GaussianRandomWalk", init_dist)
        self.steps = _time_length("GaussianRandomWalk", 1, steps, kwargs)
        super().__init__({"mu": mu, "sigma": sigma}, **kwargs)
        self._check("mu", np.isfinite, "mu must be finite")
        self._check("sigma", positive, "sigma must be positive")

    def _event_shape(self):
        return (self.steps + 1,)

    def _batch_param_shapes(self):
        return [*super()._batch_param_shapes(), self.init_dist.shape]

    def _batch_param_shapes_symbolic(self):
        return [*super()._batch_param_shapes_symbolic(), pt.as_tensor_variable(list(self.init_dist.shape), dtype="int64")]

    def logp(self, value):
        value = pt.as_tensor_variable(value)
        mu, sigma = self.params["mu"][..., None], self.params["sigma"][..., None]
        innovations = normal_logpdf(pt.diff(value, axis=-1), mu, sigma)
        return self.init_dist.logp(value[..., 0]) + pt.sum(innovations, axis=-1)

    def _random(self, rng, size):
        batch = tuple(size[:-1])
        mu, sigma = self.params["mu"][..., None], self.params["sigma"][..., None]
        rng, start = self.init_dist._random(rng, batch)
        rng, steps = draw(pt.random.normal, mu, sigma, rng=rng, size=(*batch, self.steps))
        walk = pt.concatenate([pt.zeros((*batch, 1)), pt.cumsum(steps, axis=-1)], axis=-1)
        return rng, start[..., None] + walk

    def support_point(self):
        start = pt.broadcast_to(self.init_dist.support_point(), self.shape[:-1])
        drift = self.params["mu"][..., None] * np.arange(self.steps + 1)
        return self._full(start[..., None] + drift)


class AR(Continuous):
    """Autoregressive process of order ``p``: ``x[t] = c + rho_1 x[t-1] + ... + rho_p x[t-p] + e[t]``.

    ``e[t] ~ Normal(0, sigma)``; the first ``p`` values are drawn from
    ``init_dist``. The order is the length of ``rho``'s last axis (less one
    with ``constant=True``, where ``rho[..., 0]`` is the constant ``c``;
    otherwise ``c = 0``). Time is the last axis, of length ``steps + p``.

    Parameters
    ----------
    rho : array_like
        Coefficients, on the last axis (a scalar is order 1).
    sigma : float or array_like
        Innovation scale (or give its precision ``tau``).
    init_dist : Distribution, optional
        Unnamed univariate distribution of the first ``p`` values (``Normal.dist(0, 100)`` with a warning by default).
    steps : int, optional
        Number of values after the initial ones.
    constant : bool
        Whether ``rho[..., 0]`` is the constant term.
    ar_order : int, optional
        The order, when ``rho``'s length is not known when the model is built.

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model():
    ...     rho = pm.Normal("rho", 0.0, 0.3, shape=2)
    ...     x = pm.AR("x", rho=rho, sigma=1.0, init_dist=pm.Normal.dist(0.0, 1.0), steps=20)
    >>> x.type.shape
    (22,)
    """

    ndim_supp = 1

    def __init__(
        self, rho, sigma=None, *, init_dist=None, steps=None, constant: bool = False, ar_order=None, tau=None, **kwargs
    ):
        rho, sigma = as_float_param(rho, "rho"), sigma_from("AR", sigma, tau)
        if rho.ndim == 0:
            rho = rho[None]
        length = rho.type.shape[-1] if ar_order is None else int(ar_order) + int(constant)
        if length is None:
            raise ValueError("AR: the length of rho's last axis is not known when the model is built; give ar_order=")
        if rho.type.shape[-1] not in (None, length):
            raise ValueError(f"AR: rho has {rho.type.shape[-1]} coefficients on its last axis, ar_order={ar_order} and constant={constant} need {length}")
        self.constant, self.order = bool(constant), length - int(constant)
        if self.order < 1:
            raise ValueError("AR: rho needs at least one coefficient besides the constant")
        self.init_dist = _init_dist("AR", init_dist)
        if self.init_dist.shape and self.init_dist.shape[-1] not in (1, self.order):
            raise ValueError(
                f"AR: init_dist of shape {self.init_dist.shape} must have {self.order} value(s) on its last axis, "
                "one per initial value (or be a scalar)"
            )
        self.steps = _time_length("AR", self.order, steps, kwargs)
        super().__init__({"rho": rho, "sigma": sigma}, **kwargs)
        self._check("sigma", positive, "sigma must be positive")

    def _event_shape(self):
        return (self.steps + self.order,)

    def _batch_param_shapes(self):
        rho, sigma = self.params["rho"], self.params["sigma"]
        # the last axis of init_dist's shape, if any, runs over the p initial values
        return [tuple(rho.type.shape[:-1]), tuple(sigma.type.shape), self.init_dist.shape[:-1]]

    def _batch_param_shapes_symbolic(self):
        rho, sigma = self.params["rho"], self.params["sigma"]
        init = self._batch_param_shapes()[2]
        return [rho.shape[:-1], sigma.shape, pt.as_tensor_variable(list(init), dtype="int64")]

    def _coefficients(self):
        rho = self.params["rho"]
        if self.constant:
            return rho[..., 0], rho[..., 1:]
        return pt.zeros_like(rho[..., 0]), rho

    def logp(self, value):
        value = pt.as_tensor_variable(value)
        p, length = self.order, self.steps + self.order
        constant, rho = self._coefficients()
        mean = constant[..., None]
        for lag in range(1, p + 1):
            mean = mean + rho[..., lag - 1, None] * value[..., p - lag : length - lag]
        innovations = normal_logpdf(value[..., p:], mean, self.params["sigma"][..., None])
        return pt.sum(self.init_dist.logp(value[..., :p]), axis=-1) + pt.sum(innovations, axis=-1)

    def _random(self, rng, size):
        batch, p = tuple(size[:-1]), self.order
        constant, rho = self._coefficients()
        rng, start = self.init_dist._random(rng, (*batch, p))
        rng, noise = draw(pt.random.normal, 0.0, self.params["sigma"][..., None], rng=rng, size=(*batch, self.steps))
        # the state holds the last p values, oldest first; rho_i multiplies the value i steps back
        reversed_rho = pt.broadcast_to(rho[..., ::-1], (*batch, p))
        constant = pt.broadcast_to(constant, batch)

        def step(e, state):
            new = constant + pt.sum(reversed_rho * state, axis=-1) + e
            return pt.concatenate([state[..., 1:], new[..., None]], axis=-1)

        states = pytensor.scan(
            step, sequences=[pt.moveaxis(noise, -1, 0)], outputs_info=[start], return_updates=False
        )
        path = pt.moveaxis(states[..., -1], 0, -1)
        return rng, pt.concatenate([start, path], axis=-1)

    def support_point(self):
        batch, p = self.shape[:-1], self.order
        start = pt.broadcast_to(self.init_dist.support_point(), (*batch, p))
        return self._full(pt.concatenate([start, pt.zeros((*batch, self.steps))], axis=-1))
