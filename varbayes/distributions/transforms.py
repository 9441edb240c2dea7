"""Bijections from unconstrained space to each distribution's support.

Each transform maps an unconstrained value ``y`` to the constrained value
``x = backward(y)`` and gives ``log_jac_det(y) = log|det d backward / dy|``,
summed over the transform's own event dimensions (``ndim_supp``), so that the
density of ``y`` is ``logp(backward(y)) + log_jac_det(y)``.
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
from pytensor.tensor.special import log_softmax, softmax

__all__ = [
    "Transform",
    "LogTransform",
    "LogOddsTransform",
    "IntervalTransform",
    "SimplexTransform",
    "OrderedTransform",
    "CholeskyCorrTransform",
    "CholeskyCovPackedTransform",
    "LKJCorrTransform",
    "CircularTransform",
    "ZeroSumTransform",
    "circular",
    "log",
    "logodds",
    "simplex",
    "ordered",
    "Interval",
]


class Transform:
    """Base class: a bijection with its log-Jacobian.

    ``ndim_supp`` is the number of trailing axes one bijection acts on
    (0 for elementwise transforms).
    """

    name: str = "transform"
    ndim_supp: int = 0

    def forward(self, x):
        """Constrained value to unconstrained."""
        raise NotImplementedError

    def backward(self, y):
        """Unconstrained value to constrained."""
        raise NotImplementedError

    def log_jac_det(self, y):
        """``log|det d backward(y) / dy|`` reduced over the event axes."""
        raise NotImplementedError

    def unconstrained_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """Shape of ``y`` for a constrained value of ``shape``."""
        return tuple(shape)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class LogTransform(Transform):
    """``x = exp(y)``, for positive supports."""

    name = "log"

    def forward(self, x):
        return pt.log(x)

    def backward(self, y):
        return pt.exp(y)

    def log_jac_det(self, y):
        return y


class LogOddsTransform(Transform):
    """``x = sigmoid(y)``, for the unit interval."""

    name = "logodds"

    def forward(self, x):
        return pt.log(x) - pt.log1p(-x)

    def backward(self, y):
        return pt.sigmoid(y)

    def log_jac_det(self, y):
        return -pt.softplus(-y) - pt.softplus(y)


class IntervalTransform(Transform):
    """Map onto ``(lower, upper)``; either bound may be ``None`` (half-line).

    Examples
    --------
    >>> from varbayes.distributions.transforms import IntervalTransform
    >>> t = IntervalTransform(0.0, 2.0)
    >>> float(t.backward(0.0).eval())
    1.0
    """

    name = "interval"

    def __init__(self, lower=None, upper=None):
        if lower is None and upper is None:
            raise ValueError("IntervalTransform needs at least one of lower and upper")
        self.lower = None if lower is None else pt.as_tensor_variable(lower)
        self.upper = None if upper is None else pt.as_tensor_variable(upper)

    def forward(self, x):
        lo, up = self.lower, self.upper
        if lo is not None and up is not None:
            return pt.log(x - lo) - pt.log(up - x)
        if lo is not None:
            return pt.log(x - lo)
        return pt.log(up - x)

    def backward(self, y):
        lo, up = self.lower, self.upper
        if lo is not None and up is not None:
            return lo + (up - lo) * pt.sigmoid(y)
        if lo is not None:
            return lo + pt.exp(y)
        return up - pt.exp(y)

    def log_jac_det(self, y):
        lo, up = self.lower, self.upper
        if lo is not None and up is not None:
            return pt.log(up - lo) - pt.softplus(-y) - pt.softplus(y)
        return y + pt.zeros_like(lo if lo is not None else up)


class SimplexTransform(Transform):
    """Additive log-ratio: ``x = softmax([y, 0])``, K-1 free values for K."""

    name = "simplex"
    ndim_supp = 1

    def forward(self, x):
        return pt.log(x[..., :-1]) - pt.log(x[..., -1:])

    def _padded(self, y):
        return pt.concatenate([y, pt.zeros_like(y[..., :1])], axis=-1)

    def backward(self, y):
        return softmax(self._padded(y), axis=-1)

    def log_jac_det(self, y):
        # The Jacobian of the additive log-ratio map has determinant prod_k x_k.
        return pt.sum(log_softmax(self._padded(y), axis=-1), axis=-1)

    def unconstrained_shape(self, shape):
        return (*shape[:-1], shape[-1] - 1)


class OrderedTransform(Transform):
    """``x_0 = y_0``, ``x_i = x_{i-1} + exp(y_i)``: increasing vectors."""

    name = "ordered"
    ndim_supp = 1

    def forward(self, x):
        return pt.concatenate([x[..., :1], pt.log(pt.diff(x, axis=-1))], axis=-1)

    def backward(self, y):
        return pt.cumsum(pt.concatenate([y[..., :1], pt.exp(y[..., 1:])], axis=-1), axis=-1)

    def log_jac_det(self, y):
        return pt.sum(y[..., 1:], axis=-1)


def _tril_indices(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.tril_indices(n, -1)


def corr_cholesky_from_partials(z, n: int):
    """Cholesky factor of a correlation matrix from partial correlations ``z`` in (-1, 1).

    ``z`` holds the strictly lower triangle in ``np.tril_indices(n, -1)`` order;
    row ``i`` of the factor is built by stick breaking so it has unit norm.
    """
    rows, cols = _tril_indices(n)
    position = {(int(r), int(c)): k for k, (r, c) in enumerate(zip(rows, cols))}
    ones = pt.ones_like(z[..., 0]) if n > 1 else pt.ones(z.shape[:-1], dtype=z.dtype)
    out_rows = []
    for i in range(n):
        row = []
        remaining = ones
        for j in range(n):
            if j < i:
                value = z[..., position[(i, j)]] * pt.sqrt(remaining)
                remaining = remaining - value**2
                row.append(value)
            elif j == i:
                row.append(pt.sqrt(remaining))
            else:
                row.append(pt.zeros_like(remaining))
        out_rows.append(pt.stack(row, axis=-1))
    return pt.stack(out_rows, axis=-2)


class CholeskyCorrTransform(Transform):
    """Unconstrained ``n(n-1)/2`` vector to the Cholesky factor of a correlation matrix.

    Each unconstrained value goes through ``tanh`` to a canonical partial
    correlation ``z`` in (-1, 1); rows of the factor are then built by stick
    breaking so every row has unit norm (the construction used by Stan).
    The constrained value is the full ``n x n`` lower-triangular factor.
    """

    name = "cholesky_corr"
    ndim_supp = 2

    def __init__(self, n: int):
        self.n = int(n)

    def unconstrained_shape(self, shape):
        return (*shape[:-2], self.n * (self.n - 1) // 2)

    def _z_matrix(self, y):
        rows, cols = _tril_indices(self.n)
        z = pt.zeros((*y.shape[:-1], self.n, self.n), dtype=y.dtype)
        return pt.set_subtensor(z[..., rows, cols], pt.tanh(y))

    def backward(self, y):
        return corr_cholesky_from_partials(pt.tanh(y), self.n)

    def forward(self, x):
        n = self.n
        values = []
        for i in range(1, n):
            remaining = pt.ones_like(x[..., 0, 0])
            for j in range(i):
                z = x[..., i, j] / pt.sqrt(remaining)
                remaining = remaining - x[..., i, j] ** 2
                values.append(pt.arctanh(z))
        # order must match np.tril_indices(n, -1): row-major over the strict lower triangle
        return pt.stack(values, axis=-1)

    def log_jac_det(self, y):
        n = self.n
        z = self._z_matrix(y)
        total = pt.zeros_like(y[..., 0])
        for i in range(1, n):
            remaining = pt.ones_like(y[..., 0])
            for j in range(i):
                zij = z[..., i, j]
                # d tanh = 1 - z^2; stick-breaking scales by sqrt(remaining)
                total = total + pt.log1p(-(zij**2)) + 0.5 * pt.log(remaining)
                remaining = remaining * (1 - zij**2)
        return total


class CholeskyCovPackedTransform(Transform):
    """Log on the diagonal of a packed lower-triangular Cholesky factor, identity elsewhere.

    The packed vector holds the ``n(n+1)/2`` entries of the factor in
    ``np.tril_indices(n)`` (row-major) order, so the diagonal sits at
    positions ``0, 2, 5, 9, ...``.

    Examples
    --------
    >>> from varbayes.distributions.transforms import CholeskyCovPackedTransform
    >>> CholeskyCovPackedTransform(3).diag_idx.tolist()
    [0, 2, 5]
    """

    name = "cholesky-cov-packed"
    ndim_supp = 1

    def __init__(self, n: int):
        self.n = int(n)
        self.diag_idx = np.cumsum(np.arange(1, self.n + 1)) - 1

    def forward(self, x):
        x = pt.as_tensor_variable(x)
        return pt.set_subtensor(x[..., self.diag_idx], pt.log(x[..., self.diag_idx]))

    def backward(self, y):
        y = pt.as_tensor_variable(y)
        return pt.set_subtensor(y[..., self.diag_idx], pt.exp(y[..., self.diag_idx]))

    def log_jac_det(self, y):
        return pt.sum(pt.as_tensor_variable(y)[..., self.diag_idx], axis=-1)


class LKJCorrTransform(Transform):
    """Unconstrained ``n(n-1)/2`` vector to the upper-triangular entries of a correlation matrix.

    Goes through :class:`CholeskyCorrTransform` to a Cholesky factor ``L`` and
    returns the entries of ``L L^T`` above the diagonal (``np.triu_indices(n, 1)``
    order). The map from ``L``'s strict lower triangle to the correlations is
    block triangular with diagonal ``L_jj`` repeated ``n - 1 - j`` times.
    """

    name = "lkj-corr"
    ndim_supp = 1

    def __init__(self, n: int):
        self.n = int(n)
        self._chol = CholeskyCorrTransform(n)
        self._triu = np.triu_indices(self.n, 1)

    def _matrix(self, x):
        n = self.n
        eye = pt.eye(n, dtype=x.dtype)
        upper = pt.set_subtensor(pt.zeros((*x.shape[:-1], n, n), dtype=x.dtype)[..., self._triu[0], self._triu[1]], x)
        return eye + upper + pt.swapaxes(upper, -1, -2)

    def forward(self, x):
        x = pt.as_tensor_variable(x)
        return self._chol.forward(pt.linalg.cholesky(self._matrix(x), lower=True))

    def backward(self, y):
        y = pt.as_tensor_variable(y)
        L = self._chol.backward(y)
        corr = pt.matmul(L, pt.swapaxes(L, -1, -2))
        return corr[..., self._triu[0], self._triu[1]]

    def log_jac_det(self, y):
        y = pt.as_tensor_variable(y)
        L = self._chol.backward(y)
        diag = pt.diagonal(L, axis1=-2, axis2=-1)
        counts = np.arange(self.n - 1, -1, -1).astype("float64")
        return self._chol.log_jac_det(y) + pt.sum(counts * pt.log(diag), axis=-1)

    def unconstrained_shape(self, shape):
        return tuple(shape)


class CircularTransform(Transform):
    """Angles: ``x = atan2(sin y, cos y)``, ``y`` anywhere on the real line (``x`` in ``[-pi, pi]``).

    Every ``y + 2 pi k`` maps to the same angle, so the unconstrained
    density is the circular one repeated; the map is locally the identity
    and its log-Jacobian is 0.

    Examples
    --------
    >>> import numpy as np
    >>> from varbayes.distributions.transforms import circular
    >>> round(float(circular.backward(2 * np.pi + 0.5).eval()), 6)
    0.5
    """

    name = "circular"

    def forward(self, x):
        return pt.as_tensor_variable(x)

    def backward(self, y):
        return pt.arctan2(pt.sin(y), pt.cos(y))

    def log_jac_det(self, y):
        return pt.zeros_like(y)


class ZeroSumTransform(Transform):
    """Values summing to zero along the last ``n_zerosum_axes`` axes, from one fewer entry on each.

    On each axis of length ``n`` the map is the restriction of a Householder
    reflection that sends the last unit vector to the unit vector along
    ``(1, ..., 1)``: its other columns are an orthonormal basis of the
    zero-sum vectors, so lengths (and the density in those coordinates) are
    preserved and the log-Jacobian is 0.

    Examples
    --------
    >>> from varbayes.distributions.transforms import ZeroSumTransform
    >>> x = ZeroSumTransform(1).backward([1.0, 2.0]).eval()
    >>> x.shape, bool(abs(x.sum()) < 1e-12)
    ((3,), True)
    """

    name = "zerosum"

    def __init__(self, n_zerosum_axes: int = 1):
        self.n_zerosum_axes = int(n_zerosum_axes)
        self.ndim_supp = self.n_zerosum_axes

    def _axes(self, ndim: int):
        return [ndim - k for k in range(1, self.n_zerosum_axes + 1)]

    def backward(self, y):
        y = pt.as_tensor_variable(y)
        for axis in self._axes(y.ndim):
            y = _extend_zero_sum(y, axis)
        return y

    def forward(self, x):
        x = pt.as_tensor_variable(x)
        for axis in self._axes(x.ndim):
            x = _reduce_zero_sum(x, axis)
        return x

    def log_jac_det(self, y):
        y = pt.as_tensor_variable(y)
        return pt.zeros(y.shape[: y.ndim - self.n_zerosum_axes], dtype=y.dtype)

    def unconstrained_shape(self, shape):
        shape = list(shape)
        for axis in self._axes(len(shape)):
            shape[axis] -= 1
        return tuple(shape)


def _extend_zero_sum(y, axis: int):
    """``H [y, 0]`` along ``axis`` (length ``n - 1`` to ``n``), ``H`` the reflection of :class:`ZeroSumTransform`."""
    n = y.shape[axis] + 1
    root = pt.sqrt(pt.cast(n, y.dtype))
    total = pt.sum(y, axis=axis, keepdims=True)
    last = -total / root
    return pt.concatenate([y - total / (n + root), last], axis=axis)


def _reduce_zero_sum(x, axis: int):
    """The inverse of :func:`_extend_zero_sum` on zero-sum ``x``: the first ``n - 1`` entries of ``H x``."""
    n = x.shape[axis]
    root = pt.sqrt(pt.cast(n, x.dtype))
    index_last = [slice(None)] * x.ndim
    index_last[axis] = slice(-1, None)
    index_rest = [slice(None)] * x.ndim
    index_rest[axis] = slice(None, -1)
    return x[tuple(index_rest)] - x[tuple(index_last)] / (root + 1)


log = LogTransform()
logodds = LogOddsTransform()
simplex = SimplexTransform()
ordered = OrderedTransform()
circular = CircularTransform()
Interval = IntervalTransform
