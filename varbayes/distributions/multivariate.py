"""Multivariate distributions: normal, Dirichlet, multinomial and LKJ priors on covariances."""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
from pytensor.tensor.special import betaln

from varbayes.distributions import transforms
from varbayes.distributions.base import (
    Continuous,
    Discrete,
    Distribution,
    as_float_param,
    as_int_param,
    bounded,
    check_constant,
    check_event_axis,
    constant_value,
    draw,
    folded_value,
    positive,
    xlogy,
)
from varbayes.distributions.support import RowSum, RowTest, Support
from varbayes.distributions.transforms import corr_cholesky_from_partials

__all__ = ["MvNormal", "Dirichlet", "Multinomial", "LKJCholeskyCov", "LKJCorr", "expand_packed_triangular"]

_LOG_2PI = float(np.log(2 * np.pi))


def _last_dim(*params, ndims=(1,)) -> int:
    """The event size from the first parameter whose trailing axis has a static length."""
    for p, nd in zip(params, ndims):
        if p is not None and p.ndim >= nd and p.type.shape[-1] is not None:
            return int(p.type.shape[-1])
    raise ValueError("the event size (length of the last axis) must be known when the distribution is built")


def _check_matrix(name: str, var, *, kind: str) -> None:
    value = constant_value(var)
    if value is None:
        return
    if value.ndim < 2 or value.shape[-1] != value.shape[-2]:
        raise ValueError(f"parameter {name} must be a square matrix (or a stack of them), got shape {value.shape}")
    if kind == "chol":
        diag = np.diagonal(value, axis1=-2, axis2=-1)
        if not np.all(np.isfinite(value)) or np.any(diag <= 0):
            raise ValueError(f"parameter {name} is invalid: a Cholesky factor needs a positive diagonal")
        return
    if not np.allclose(value, np.swapaxes(value, -1, -2)):
        raise ValueError(f"parameter {name} is invalid: it must be symmetric")
    try:
        np.linalg.cholesky(value)
    except np.linalg.LinAlgError:
        raise ValueError(f"parameter {name} is invalid: it must be positive definite") from None


def cholesky_factor(dist_name: str, given: dict, lower: bool = True):
    """The lower Cholesky factor of a covariance given as exactly one of ``given``'s entries.

    ``given`` maps ``cov`` (or its alias, such as ``scale``), ``tau`` (the
    precision) and ``chol`` (a Cholesky factor, lower unless ``lower=False``)
    to a value or ``None``.
    """
    named = [k for k, v in given.items() if v is not None]
    if len(named) != 1:
        raise ValueError(f"{dist_name} needs exactly one of {', '.join(given)}; got {named or 'none'}")
    (key,) = named
    value = as_float_param(given[key], key)
    if key == "chol":
        _check_matrix(key, value, kind="chol")
        chol_cov = value if lower else pt.swapaxes(value, -1, -2)
    elif key == "tau":
        _check_matrix(key, value, kind="cov")
        chol_cov = pt.linalg.cholesky(pt.linalg.inv(value), lower=True)
    else:
        _check_matrix(key, value, kind="cov")
        chol_cov = pt.linalg.cholesky(value, lower=True)
    if chol_cov.ndim < 2:
        raise ValueError(f"{dist_name}: {key} must be a matrix, got {chol_cov.ndim} dimension(s)")
    check_event_axis(key, chol_cov, "dimension")
    return chol_cov


class MvNormal(Continuous):
    """Multivariate normal with mean ``mu`` and covariance ``cov`` (or precision ``tau``, or Cholesky factor ``chol``).

    Parameters
    ----------
    mu : array_like
        Mean, with the event axis last (a scalar broadcasts).
    cov, tau, chol : array_like
        Exactly one of: covariance matrix, precision matrix, or the Cholesky
        factor of the covariance (lower triangular unless ``lower=False``).

    Examples
    --------
    >>> import numpy as np, varbayes as pm
    >>> with pm.Model():
    ...     x = pm.MvNormal("x", mu=np.zeros(2), cov=np.array([[1.0, 0.5], [0.5, 2.0]]))
    """

    ndim_supp = 1

    def __init__(self, mu=0.0, cov=None, *, tau=None, chol=None, lower: bool = True, **kwargs):
        chol_cov = cholesky_factor("MvNormal", {"cov": cov, "tau": tau, "chol": chol}, lower)
        mu = as_float_param(mu, "mu")
        if mu.ndim:
            check_event_axis("mu", mu, "dimension")
        self._n = _last_dim(chol_cov, mu, ndims=(2, 1))
        super().__init__({"mu": mu, "chol": chol_cov}, **kwargs)
        self._check("mu", np.isfinite, "mu must be finite")

    def _event_shape(self):
        return (self._n,)

    def _batch_param_shapes(self):
        mu, chol = self.params["mu"], self.params["chol"]
        return [tuple(mu.type.shape[:-1]), tuple(chol.type.shape[:-2])]

    def _batch_param_shapes_symbolic(self):
        mu, chol = self.params["mu"], self.params["chol"]
        return [mu.shape[:-1] if mu.ndim else mu.shape, chol.shape[:-2]]

    def logp(self, value):
        mu, chol = self.params["mu"], self.params["chol"]
        delta = pt.as_tensor_variable(value) - mu
        z = pt.linalg.solve_triangular(chol, delta, lower=True, b_ndim=1)
        log_det = pt.sum(pt.log(pt.diagonal(chol, axis1=-2, axis2=-1)), axis=-1)
        return -0.5 * pt.sum(z**2, axis=-1) - log_det - 0.5 * self._n * _LOG_2PI

    def _random(self, rng, size):
        mu, chol = self.params["mu"], self.params["chol"]
        rng, z = draw(pt.random.normal, 0.0, 1.0, rng=rng, size=size)
        return rng, mu + pt.matmul(chol, z[..., None])[..., 0]

    def support_point(self):
        return self._full(self.params["mu"])


class Dirichlet(Continuous):
    """Dirichlet distribution over the simplex, concentration ``a`` on the last axis.

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model():
    ...     w = pm.Dirichlet("w", a=[1.0, 1.0, 1.0])
    """

    ndim_supp = 1

    def __init__(self, a, **kwargs):
        a = as_float_param(a, "a")
        if a.ndim < 1:
            raise ValueError("Dirichlet: a must have at least one axis (the categories)")
        check_event_axis("a", a, "category")
        self._n = _last_dim(a)
        super().__init__({"a": a}, **kwargs)
        self._check("a", positive, "a must be positive")

    def _event_shape(self):
        return (self._n,)

    def _batch_param_shapes(self):
        return [tuple(self.params["a"].type.shape[:-1])]

    def _batch_param_shapes_symbolic(self):
        return [self.params["a"].shape[:-1]]

    def logp(self, value):
        a = self.params["a"]
        value = pt.as_tensor_variable(value)
        logp = (
            pt.sum(xlogy(a - 1, value), axis=-1)
            + pt.gammaln(pt.sum(a, axis=-1))
            - pt.sum(pt.gammaln(a), axis=-1)
        )
        return bounded(logp, pt.all(value >= 0, axis=-1), pt.all(value <= 1, axis=-1))

    def _random(self, rng, size):
        return draw(pt.random.dirichlet, self.params["a"], rng=rng, size=size[:-1])

    def support_point(self):
        a = self.params["a"]
        return self._full(a / pt.sum(a, axis=-1, keepdims=True))

    def default_transform(self):
        return transforms.simplex

    def support(self) -> Support:
        # (a - 1) log(x) is finite at x = 0 only where a is 1
        a = folded_value(self.params["a"])
        return Support(
            "the probability simplex (entries in {left}0, 1] summing to 1)",
            lower=0.0,
            upper=1.0,
            lower_open=True if a is None else a != 1,
            rows=RowSum(1.0, "sum to 1"),
            event_size=self._n,
        )


class _CountsOverCategories:
    """Shapes of ``n`` counts spread over the categories of the last axis of the parameter ``_categories``.

    The event is the ``_k`` categories; the batch comes from ``n`` and from
    the other axes of the category parameter.
    """

    _categories: str

    def _event_shape(self):
        return (self._k,)

    def _batch_param_shapes(self):
        return [tuple(self.params["n"].type.shape), tuple(self.params[self._categories].type.shape[:-1])]

    def _batch_param_shapes_symbolic(self):
        return [self.params["n"].shape, self.params[self._categories].shape[:-1]]


class Multinomial(_CountsOverCategories, Discrete):
    """Multinomial distribution: counts of ``n`` draws over categories with probabilities ``p`` (last axis).

    ``p`` is rescaled to sum to one.

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model():
    ...     c = pm.Multinomial("c", n=10, p=[0.2, 0.3, 0.5], observed=[1, 4, 5])
    """

    ndim_supp = 1
    _categories = "p"

    def __init__(self, n, p, **kwargs):
        n, p = as_int_param(n, "n"), as_float_param(p, "p")
        if p.ndim < 1:
            raise ValueError("Multinomial: p must have at least one axis (the categories)")
        check_event_axis("p", p, "category")
        check_constant("n", n, lambda v: v >= 0, "n must be a non-negative integer")
        check_constant("p", p, lambda v: (v >= 0) & (v <= 1), "probabilities must lie in [0, 1]")
        self._k = _last_dim(p)
        super().__init__({"n": n, "p": p / pt.sum(p, axis=-1, keepdims=True)}, **kwargs)

    def logp(self, value):
        n, p = self.params["n"], self.params["p"]
        value = pt.as_tensor_variable(value)
        terms = pt.switch(pt.eq(value, 0), 0.0, value * pt.log(p))
        logp = pt.gammaln(n + 1) + pt.sum(terms - pt.gammaln(value + 1), axis=-1)
        return bounded(logp, pt.all(value >= 0, axis=-1), pt.eq(pt.sum(value, axis=-1), n))

    def _random(self, rng, size):
        return draw(pt.random.multinomial, self.params["n"], self.params["p"], rng=rng, size=size[:-1])

    def support_point(self):
        n, p = self.params["n"], self.params["p"]
        n_b = pt.broadcast_to(n, self.shape[:-1])[..., None]
        p_b = pt.broadcast_to(p, self.shape)
        base = pt.floor(n_b * p_b)
        # the rounding remainder goes to the most likely category so the counts sum to n
        remainder = n_b[..., 0] - pt.sum(base, axis=-1)
        top = pt.eq(pt.arange(self._k), pt.argmax(p_b, axis=-1)[..., None])
        return pt.cast(base + top * remainder[..., None], self.dtype)

    def support(self) -> Support:
        n = folded_value(self.params["n"])
        rows = None if n is None else RowSum(n, "sum to n={total}", exact=True)
        text = "non-negative integer counts" + ("" if n is None else " summing to n")
        return Support(text, lower=0, integer=True, rows=rows, event_size=self._k)


# ----------------------------------------------------------------------------- LKJ


def expand_packed_triangular(n: int, packed, lower: bool = True):
    """The ``n x n`` triangular matrix whose entries ``packed`` lists in ``np.tril_indices(n)`` order.

    Examples
    --------
    >>> import numpy as np
    >>> from varbayes.distributions.multivariate import expand_packed_triangular
    >>> expand_packed_triangular(2, np.array([1.0, 2.0, 3.0])).eval().tolist()
    [[1.0, 0.0], [2.0, 3.0]]
    """
    packed = pt.as_tensor_variable(packed)
    rows, cols = np.tril_indices(n)
    out = pt.zeros((*packed.shape[:-1], n, n), dtype=packed.dtype)
    out = pt.set_subtensor(out[..., rows, cols], packed)
    return out if lower else pt.swapaxes(out, -1, -2)


def lkj_log_normaliser(eta, n: int):
    """``log`` of the integral of ``det(C)**(eta - 1)`` over ``n x n`` correlation matrices.

    From the onion construction of Lewandowski, Kurowicka and Joe (2009).
    """
    k = np.arange(1, n, dtype="float64")
    m = n - k
    b = eta + (m - 1) / 2
    return pt.sum((2 * eta - 2 + m) * m * np.log(2.0) + m * betaln(b, b))


def _packed_length(packed) -> int:
    """Length of the last axis of a packed variable (observed data has no static shape)."""
    length = packed.type.shape[-1]
    return int(length if length is not None else np.shape(packed.get_value(borrow=True))[-1])


def _partial_corr_draws(eta, n: int, rng, batch: tuple[int, ...]):
    """Partial correlations of an LKJ(eta) matrix: column ``j`` is 2 Beta(b_j, b_j) - 1."""
    _, cols = np.tril_indices(n, -1)
    b = eta + (n - 2 - cols.astype("float64")) / 2
    rng, beta = draw(pt.random.beta, b, b, rng=rng, size=(*batch, len(cols)))
    return rng, 2 * beta - 1


def _check_n_eta(n, eta):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"parameter n={n!r} is invalid: n must be a positive Python integer")
    eta = as_float_param(eta, "eta")
    check_constant("eta", eta, positive, "eta must be positive")
    if eta.ndim:
        raise ValueError("LKJ: eta must be a scalar")
    return int(n), eta


class LKJCholeskyCov(Continuous):
    """LKJ prior on the Cholesky factor of a covariance matrix, with standard deviations from ``sd_dist``.

    The covariance is ``diag(sigma) C diag(sigma)`` with correlation
    ``C ~ LKJ(eta)`` and each ``sigma_i ~ sd_dist``. The free variable is the
    packed lower-triangular Cholesky factor (``n(n+1)/2`` entries, in
    ``np.tril_indices(n)`` order).

    Parameters
    ----------
    name : str
    eta : float
        Shape of the LKJ prior (1 is uniform over correlation matrices).
    n : int
        Dimension.
    sd_dist : Distribution
        An unnamed positive distribution from ``.dist()``, of shape ``()`` or ``(n,)``.
    compute_corr : bool
        Return ``(chol, corr, stds)`` (and record ``{name}_corr`` and
        ``{name}_stds`` as deterministics when ``store_in_trace``); else the packed vector.

    Examples
    --------
    >>> import numpy as np, varbayes as pm
    >>> with pm.Model():
    ...     chol, corr, stds = pm.LKJCholeskyCov("chol", eta=2.0, n=3, sd_dist=pm.Exponential.dist(1.0))
    ...     x = pm.MvNormal("x", mu=np.zeros(3), chol=chol)
    """

    ndim_supp = 1

    def __new__(cls, name, *args, compute_corr: bool = True, store_in_trace: bool = True, **kwargs):
        packed = super().__new__(cls, name, *args, **kwargs)
        if not compute_corr:
            return packed
        n = _packed_length(packed)
        n = int(round((np.sqrt(8 * n + 1) - 1) / 2))
        from varbayes.model.variables import Deterministic

        chol = expand_packed_triangular(n, packed)
        cov = pt.matmul(chol, chol.T)
        stds = pt.sqrt(pt.diagonal(cov))
        corr = cov / pt.outer(stds, stds)
        if store_in_trace:
            corr = Deterministic(f"{name}_corr", corr)
            stds = Deterministic(f"{name}_stds", stds)
        return chol, corr, stds

    def __init__(self, eta, n, sd_dist, **kwargs):
        n, eta = _check_n_eta(n, eta)
        if not isinstance(sd_dist, Distribution):
            raise TypeError(
                "LKJCholeskyCov: sd_dist must be an unnamed distribution such as pm.Exponential.dist(1.0), "
                f"got {type(sd_dist).__name__}"
            )
        if sd_dist.ndim_supp != 0 or sd_dist.shape not in ((), (1,), (n,)):
            raise ValueError(f"LKJCholeskyCov: sd_dist must be univariate with shape () or ({n},), got {sd_dist.shape}")
        self.n, self.sd_dist = n, sd_dist
        super().__init__({"eta": eta}, **kwargs)
        if self.shape != (n * (n + 1) // 2,):
            raise ValueError(f"LKJCholeskyCov has shape ({n * (n + 1) // 2},) for n={n}; batches are not supported")

    def _event_shape(self):
        return (self.n * (self.n + 1) // 2,)

    def _batch_param_shapes(self):
        return [()]

    def _batch_param_shapes_symbolic(self):
        return [pt.as_tensor_variable(np.zeros(0, dtype="int64"))]

    def logp(self, value):
        # Change of variables, row by row: row i of the factor is sigma_i times a unit
        # vector u_i, and dL_i = sigma_i**(i-1) / u_ii d(sigma_i) d(u_i1..u_i,i-1).
        # The LKJ density of the correlation factor in its strict-lower entries is
        # prod_i u_ii**(n - i + 2 eta - 2) (1-based i) over the normaliser.
        n, eta = self.n, self.params["eta"]
        chol = expand_packed_triangular(n, pt.as_tensor_variable(value))
        diag = pt.diagonal(chol, axis1=-2, axis2=-1)
        sigma = pt.sqrt(pt.sum(chol**2, axis=-1))
        log_u = pt.log(diag) - pt.log(sigma)
        i = np.arange(1, n + 1, dtype="float64")
        corr_part = pt.sum(((n - i + 2 * eta - 2) * log_u)[..., 1:], axis=-1) - lkj_log_normaliser(eta, n)
        jacobian = pt.sum(log_u[..., 1:], axis=-1) - pt.sum((i - 1) * pt.log(sigma), axis=-1)
        sd_part = pt.sum(self.sd_dist.logp(sigma), axis=-1)
        return bounded(corr_part + jacobian + sd_part, pt.all(diag > 0, axis=-1))

    def _random(self, rng, size):
        n = self.n
        batch = tuple(size[:-1])
        rng, sigma = self.sd_dist._random(rng, (*batch, n))
        rng, z = _partial_corr_draws(self.params["eta"], n, rng, batch)
        chol = sigma[..., :, None] * corr_cholesky_from_partials(z, n)
        rows, cols = np.tril_indices(n)
        return rng, chol[..., rows, cols]

    def support_point(self):
        sigma = pt.broadcast_to(self.sd_dist.support_point(), (self.n,))
        rows, cols = np.tril_indices(self.n)
        return pt.diag(sigma)[rows, cols]

    def default_transform(self):
        return transforms.CholeskyCovPackedTransform(self.n)

    def support(self) -> Support:
        rows, cols = np.tril_indices(self.n)
        diagonal = rows == cols
        return Support(
            "packed lower-triangular Cholesky factors with a positive diagonal",
            rows=RowTest(
                lambda v: np.all(v[..., diagonal] > 0, axis=-1), "a Cholesky factor with a positive diagonal"
            ),
            event_size=self.n * (self.n + 1) // 2,
        )


class LKJCorr(Continuous):
    """LKJ distribution over ``n x n`` correlation matrices, density proportional to ``det(C)**(eta - 1)``.

    The value is the ``n(n-1)/2`` entries above the diagonal in
    ``np.triu_indices(n, 1)`` order; ``return_matrix=True`` returns the full
    matrix built from them.

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model():
    ...     corr = pm.LKJCorr("corr", n=3, eta=2.0, return_matrix=True)
    """

    ndim_supp = 1

    def __new__(cls, name, *args, return_matrix: bool = False, **kwargs):
        packed = super().__new__(cls, name, *args, **kwargs)
        if not return_matrix:
            return packed
        m = _packed_length(packed)
        n = int(round((1 + np.sqrt(1 + 8 * m)) / 2))
        return transforms.LKJCorrTransform(n)._matrix(packed)

    def __init__(self, n, eta=1.0, **kwargs):
        n, eta = _check_n_eta(n, eta)
        if n < 2:
            raise ValueError("LKJCorr: n must be at least 2")
        self.n = n
        super().__init__({"eta": eta}, **kwargs)

    def _event_shape(self):
        return (self.n * (self.n - 1) // 2,)

    def _batch_param_shapes(self):
        return [()]

    def _batch_param_shapes_symbolic(self):
        return [pt.as_tensor_variable(np.zeros(0, dtype="int64"))]

    def logp(self, value):
        value = pt.as_tensor_variable(value)
        corr = transforms.LKJCorrTransform(self.n)._matrix(value)
        chol = pt.linalg.cholesky(corr, lower=True)
        log_det = 2 * pt.sum(pt.log(pt.diagonal(chol, axis1=-2, axis2=-1)), axis=-1)
        eta = self.params["eta"]
        logp = (eta - 1) * log_det - lkj_log_normaliser(eta, self.n)
        # a matrix that is not positive definite has a NaN Cholesky factor
        return bounded(logp, ~pt.isnan(log_det), pt.all(pt.abs(value) <= 1, axis=-1))

    def _random(self, rng, size):
        rng, z = _partial_corr_draws(self.params["eta"], self.n, rng, tuple(size[:-1]))
        chol = corr_cholesky_from_partials(z, self.n)
        corr = pt.matmul(chol, pt.swapaxes(chol, -1, -2))
        rows, cols = np.triu_indices(self.n, 1)
        return rng, corr[..., rows, cols]

    def support_point(self):
        return pt.zeros(self.shape)

    def default_transform(self):
        return transforms.LKJCorrTransform(self.n)

    def support(self) -> Support:
        n = self.n

        def positive_definite(value):
            rows, cols = np.triu_indices(n, 1)
            corr = np.broadcast_to(np.eye(n), (*value.shape[:-1], n, n)).copy()
            corr[..., rows, cols] = value
            corr[..., cols, rows] = value
            return np.linalg.eigvalsh(corr)[..., 0] > 0

        return Support(
            "upper-triangle entries in (-1, 1) of a positive-definite correlation matrix",
            lower=-1.0,
            upper=1.0,
            lower_open=True,
            upper_open=True,
            rows=RowTest(positive_definite, "the upper triangle of a positive-definite correlation matrix"),
            event_size=n * (n - 1) // 2,
        )
