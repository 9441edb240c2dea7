"""Ordered categorical outcomes from a latent variable and increasing cutpoints."""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

from varbayes.distributions.base import as_float_param, check_constant, positive
from varbayes.distributions.discrete import Categorical
from varbayes.distributions.support import NON_NEGATIVE_INTEGERS, Support
from varbayes.math import log_invprobit, logdiffexp

__all__ = ["OrderedLogistic", "OrderedProbit"]


def _increasing(c):
    return np.all(np.diff(c, axis=-1) > 0, axis=-1) if np.ndim(c) else True


def _cutpoints(name: str, cutpoints):
    cutpoints = as_float_param(cutpoints, "cutpoints")
    if cutpoints.ndim < 1:
        raise ValueError(f"{name}: cutpoints must have at least one axis (K - 1 cutpoints for K categories)")
    check_constant("cutpoints", cutpoints, _increasing, "cutpoints must be strictly increasing along the last axis")
    return cutpoints


def _category_log_probs(log_cdf):
    """Log-probabilities of the K categories from ``log P(Y <= k)`` for ``k = 0..K-2`` (last axis)."""
    below = pt.concatenate([pt.full_like(log_cdf[..., :1], -np.inf), log_cdf], axis=-1)
    upto = pt.concatenate([log_cdf, pt.zeros_like(log_cdf[..., :1])], axis=-1)
    return logdiffexp(upto, below)


class _Ordered(Categorical):
    """A categorical whose probabilities come from a latent variable crossing cutpoints; stores them as log-probabilities."""

    def __new__(cls, name, *args, compute_p: bool = True, **kwargs):
        value = super().__new__(cls, name, *args, **kwargs)
        if compute_p:
            from varbayes.model.core import modelcontext
            from varbayes.model.variables import Deterministic

            model = modelcontext(None)
            dist = model.free_rv_info.get(model._full_name(name)) or model.observed_rv_info.get(model._full_name(name))
            Deterministic(f"{name}_probs", pt.exp(dist.dist.params["logit_p"]))
        return value

    def __init__(self, log_probs, **kwargs):
        # log-probabilities that sum to one are their own normalised logits
        super().__init__(logit_p=log_probs, **kwargs)

    def support(self) -> Support:
        k = self.params["logit_p"].type.shape[-1]
        if k is None:
            return NON_NEGATIVE_INTEGERS
        return Support(f"integers from 0 to {k - 1}, one more than the cutpoints", lower=0, upper=k - 1, integer=True)


class OrderedLogistic(_Ordered):
    """Ordinal outcome in ``0..K-1``: ``P(Y <= k) = sigmoid(cutpoints[k] - eta)``.

    The category probabilities are recorded as the deterministic
    ``{name}_probs`` unless the variable is created with ``compute_p=False``.

    Parameters
    ----------
    eta : array_like
        The latent predictor (batch shape).
    cutpoints : array_like
        ``K - 1`` increasing cutpoints on the last axis.

    Examples
    --------
    >>> import numpy as np, varbayes as pm
    >>> with pm.Model():
    ...     eta = pm.Normal("eta", 0.0, 1.0)
    ...     y = pm.OrderedLogistic("y", eta=eta, cutpoints=np.array([-1.0, 0.5, 2.0]), observed=[0, 3, 1])
    """

    def __init__(self, eta, cutpoints, **kwargs):
        eta, cutpoints = as_float_param(eta, "eta"), _cutpoints("OrderedLogistic", cutpoints)
        log_cdf = -pt.softplus(eta[..., None] - cutpoints)
        super().__init__(_category_log_probs(log_cdf), **kwargs)


class OrderedProbit(_Ordered):
    """Ordinal outcome in ``0..K-1``: ``P(Y <= k) = Phi((cutpoints[k] - eta) / sigma)``.

    The category probabilities are recorded as the deterministic
    ``{name}_probs`` unless the variable is created with ``compute_p=False``.

    Parameters
    ----------
    eta : array_like
        The latent predictor (batch shape).
    cutpoints : array_like
        ``K - 1`` increasing cutpoints on the last axis.
    sigma : float or array_like
        Scale of the latent normal.

    Examples
    --------
    >>> import numpy as np, varbayes as pm
    >>> with pm.Model():
    ...     y = pm.OrderedProbit("y", eta=0.3, cutpoints=np.array([-0.5, 0.5]), observed=[0, 2, 1, 1])
    """

    def __init__(self, eta, cutpoints, sigma=1.0, **kwargs):
        eta, cutpoints = as_float_param(eta, "eta"), _cutpoints("OrderedProbit", cutpoints)
        sigma = as_float_param(sigma, "sigma")
        check_constant("sigma", sigma, positive, "sigma must be positive")
        log_cdf = log_invprobit((cutpoints - eta[..., None]) / sigma[..., None])
        super().__init__(_category_log_probs(log_cdf), **kwargs)
