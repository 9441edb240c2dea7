"""Discrete univariate distributions."""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
from pytensor.tensor.special import log_softmax

from varbayes.distributions.base import Discrete, as_float_param, bounded, check_exclusive, draw

__all__ = ["Categorical"]


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
            return pt.log(p / pt.sum(p, axis=-1, keepdims=True))
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


