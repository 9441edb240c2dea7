"""The zero-sum normal: normal values constrained to sum to zero along their last axes."""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

from varbayes.distributions.base import Continuous, as_float_param, bounded, draw, positive, shape_tuple
from varbayes.distributions.support import RowTest, Support
from varbayes.distributions.transforms import ZeroSumTransform

__all__ = ["ZeroSumNormal"]

_HALF_LOG_2PI = float(0.5 * np.log(2 * np.pi))
# a free variable's values sum to zero up to rounding; observed ones up to the decimals they were stored with
_LOGP_TOLERANCE = 1e-9
_DATA_TOLERANCE = 1e-6


class ZeroSumNormal(Continuous):
    """Normal values with scale ``sigma`` that sum to zero along each of their last ``n_zerosum_axes`` axes.

    The usual prior for the effects of a categorical predictor next to an
    intercept: the effects are identified because they sum to zero. On one
    axis of length ``n`` the values are ``sigma`` times an isotropic normal on
    the ``(n - 1)``-dimensional zero-sum subspace; each axis's marginal
    variance is ``sigma**2 (n - 1) / n``. A free variable is stored with one
    value fewer on each zero-sum axis (:class:`~varbayes.distributions.transforms.ZeroSumTransform`).

    Parameters
    ----------
    sigma : float or array_like
        Scale; constant along the zero-sum axes (it may vary over the leading, batch axes).
    n_zerosum_axes : int
        How many trailing axes sum to zero.
    support_shape : sequence of int, optional
        The lengths of the zero-sum axes, when not given by ``shape`` or ``dims``.

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model(coords={"group": ["a", "b", "c"]}):
    ...     effect = pm.ZeroSumNormal("effect", sigma=1.0, dims="group")
    """

    def __init__(self, sigma=1.0, n_zerosum_axes: int = 1, support_shape=None, **kwargs):
        if isinstance(n_zerosum_axes, bool) or not isinstance(n_zerosum_axes, (int, np.integer)) or n_zerosum_axes < 1:
            raise ValueError(f"parameter n_zerosum_axes={n_zerosum_axes!r} is invalid: it must be a positive integer")
        self.n_zerosum_axes = int(n_zerosum_axes)
        sigma = as_float_param(sigma, "sigma")
        shape = shape_tuple(kwargs.get("shape")) or shape_tuple(kwargs.get("observed_shape"))
        if support_shape is not None:
            support_shape = shape_tuple(support_shape)
        elif shape is not None and len(shape) >= self.n_zerosum_axes:
            support_shape = shape[len(shape) - self.n_zerosum_axes :]
        else:
            raise ValueError(
                f"ZeroSumNormal needs shape=, dims= or support_shape= covering its {self.n_zerosum_axes} zero-sum axis(es)"
            )
        if len(support_shape) != self.n_zerosum_axes or any(n is None or n < 2 for n in support_shape):
            raise ValueError(
                f"ZeroSumNormal: the zero-sum axes have lengths {support_shape}; "
                f"n_zerosum_axes={self.n_zerosum_axes} axes of length 2 or more are needed"
            )
        self._support_shape = tuple(int(n) for n in support_shape)
        super().__init__({"sigma": sigma}, **kwargs)
        self._check("sigma", positive, "sigma must be positive")

    def _event_shape(self):
        return self._support_shape

    def _expanded_sigma(self):
        return pt.shape_padright(self.params["sigma"], self.n_zerosum_axes)

    def logp(self, value):
        value = pt.as_tensor_variable(value)
        sigma = self._expanded_sigma()
        axes = tuple(range(-self.n_zerosum_axes, 0))
        degrees_of_freedom = float(np.prod([n - 1 for n in self._support_shape]))
        logp = -0.5 * pt.sum((value / sigma) ** 2, axis=axes) - degrees_of_freedom * (
            _HALF_LOG_2PI + pt.log(self.params["sigma"])
        )
        sums_to_zero = [pt.all(pt.abs(pt.mean(value, axis=axis)) <= _LOGP_TOLERANCE, axis=None) for axis in axes]
        return bounded(logp, *sums_to_zero)

    def _random(self, rng, size):
        rng, x = draw(pt.random.normal, 0.0, self._expanded_sigma(), rng=rng, size=size)
        for axis in range(-self.n_zerosum_axes, 0):
            x = x - pt.mean(x, axis=axis, keepdims=True)
        return rng, x

    def support_point(self):
        return pt.zeros(self.shape)

    def default_transform(self):
        return ZeroSumTransform(self.n_zerosum_axes)

    def support(self) -> Support:
        n_axes = self.n_zerosum_axes

        def sums_to_zero(value):
            scale = max(1.0, float(np.max(np.abs(value), initial=0.0)))
            ok = np.ones(value.shape[:-1], dtype=bool)
            for k in range(1, n_axes + 1):
                zero = np.abs(np.mean(value, axis=-k)) <= _DATA_TOLERANCE * scale
                if k > 1:
                    # one answer per batch entry, repeated over the zero-sum axes after the row axis
                    zero = np.all(zero, axis=tuple(range(-(k - 1), 0)))
                    zero = zero.reshape(zero.shape + (1,) * (k - 1))
                ok &= zero
            return ok

        return Support(
            f"real values summing to zero along the last {n_axes} axis(es)",
            rows=RowTest(sums_to_zero, f"zero-summing along the last {n_axes} axis(es)"),
            event_size=self._support_shape[-1],
        )
