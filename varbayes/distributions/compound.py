"""Compound multivariate distributions: the multivariate Student t and the Dirichlet-multinomial."""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

from varbayes.distributions.base import (
    Continuous,
    Discrete,
    as_float_param,
    as_int_param,
    bounded,
    check_constant,
    check_event_axis,
    draw,
    folded_value,
    positive,
)
from varbayes.distributions.multivariate import _CountsOverCategories, _last_dim, cholesky_factor
from varbayes.distributions.positive import _gamma
from varbayes.distributions.support import RowSum, Support

__all__ = ["MvStudentT", "DirichletMultinomial"]

_LOG_PI = float(np.log(np.pi))


class MvStudentT(Continuous):
    """Multivariate Student t: ``nu`` degrees of freedom, location ``mu``, scale matrix ``scale`` (or ``tau``, ``chol``).

    The scale matrix ``Sigma`` is given as exactly one of ``scale`` (also
    accepted as ``cov``), its inverse ``tau``, or its Cholesky factor
    ``chol``. The covariance is ``nu / (nu - 2) Sigma`` for ``nu > 2``.

    Examples
    --------
    >>> import numpy as np, varbayes as pm
    >>> with pm.Model():
    ...     x = pm.MvStudentT("x", nu=4.0, mu=np.zeros(2), scale=np.array([[1.0, 0.3], [0.3, 1.0]]))
    """

    ndim_supp = 1

    def __init__(self, nu, mu=0.0, scale=None, *, tau=None, chol=None, cov=None, lower: bool = True, **kwargs):
        if scale is not None and cov is not None:
            raise ValueError("MvStudentT: give only one of scale, cov (cov is another name for scale)")
        scale = cov if scale is None else scale
        chol_scale = cholesky_factor("MvStudentT", {"scale": scale, "tau": tau, "chol": chol}, lower)
        nu, mu = as_float_param(nu, "nu"), as_float_param(mu, "mu")
        if mu.ndim:
            check_event_axis("mu", mu, "dimension")
        self._n = _last_dim(chol_scale, mu, ndims=(2, 1))
        super().__init__({"nu": nu, "mu": mu, "chol": chol_scale}, **kwargs)
        self._check("nu", positive, "nu must be positive")
        self._check("mu", np.isfinite, "mu must be finite")

    def _event_shape(self):
        return (self._n,)

    def _batch_param_shapes(self):
        nu, mu, chol = self.params["nu"], self.params["mu"], self.params["chol"]
        return [tuple(nu.type.shape), tuple(mu.type.shape[:-1]), tuple(chol.type.shape[:-2])]

    def _batch_param_shapes_symbolic(self):
        nu, mu, chol = self.params["nu"], self.params["mu"], self.params["chol"]
        return [nu.shape, mu.shape[:-1] if mu.ndim else mu.shape, chol.shape[:-2]]

    def logp(self, value):
        nu, mu, chol = self.params["nu"], self.params["mu"], self.params["chol"]
        n = self._n
        z = pt.linalg.solve_triangular(chol, pt.as_tensor_variable(value) - mu, lower=True, b_ndim=1)
        log_det = pt.sum(pt.log(pt.diagonal(chol, axis1=-2, axis2=-1)), axis=-1)
        return (
            pt.gammaln((nu + n) / 2)
            - pt.gammaln(nu / 2)
            - n / 2 * (pt.log(nu) + _LOG_PI)
            - log_det
            - (nu + n) / 2 * pt.log1p(pt.sum(z**2, axis=-1) / nu)
        )

    def _random(self, rng, size):
        # a normal draw divided by sqrt(W / nu), W ~ chi-squared(nu)
        nu, mu, chol = self.params["nu"], self.params["mu"], self.params["chol"]
        rng, z = draw(pt.random.normal, 0.0, 1.0, rng=rng, size=size)
        rng, w = draw(_gamma, nu / 2, 2.0, rng=rng, size=size[:-1])
        return rng, mu + pt.matmul(chol, z[..., None])[..., 0] / pt.sqrt(w / nu)[..., None]

    def support_point(self):
        return self._full(self.params["mu"])


class DirichletMultinomial(_CountsOverCategories, Discrete):
    """Dirichlet-multinomial: counts of ``n`` draws over categories whose probabilities are Dirichlet(``a``).

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model():
    ...     c = pm.DirichletMultinomial("c", n=10, a=[1.0, 2.0, 3.0], observed=[[1, 4, 5], [0, 2, 8]])
    """

    ndim_supp = 1
    _categories = "a"

    def __init__(self, n, a, **kwargs):
        n, a = as_int_param(n, "n"), as_float_param(a, "a")
        if a.ndim < 1:
            raise ValueError("DirichletMultinomial: a must have at least one axis (the categories)")
        check_event_axis("a", a, "category")
        check_constant("n", n, lambda v: v >= 0, "n must be a non-negative integer")
        self._k = _last_dim(a)
        super().__init__({"n": n, "a": a}, **kwargs)
        self._check("a", positive, "a must be positive")

    def logp(self, value):
        n, a = self.params["n"], self.params["a"]
        value = pt.as_tensor_variable(value)
        total = pt.sum(a, axis=-1)
        logp = (
            pt.gammaln(total)
            + pt.gammaln(n + 1)
            - pt.gammaln(n + total)
            + pt.sum(pt.gammaln(value + a) - pt.gammaln(a) - pt.gammaln(value + 1), axis=-1)
        )
        return bounded(logp, pt.all(value >= 0, axis=-1), pt.eq(pt.sum(value, axis=-1), n))

    def _random(self, rng, size):
        n, a = self.params["n"], self.params["a"]
        rng, p = draw(pt.random.dirichlet, a, rng=rng, size=size[:-1])
        return draw(pt.random.multinomial, n, p, rng=rng, size=size[:-1])

    def support_point(self):
        n, a = self.params["n"], self.params["a"]
        p = pt.broadcast_to(a / pt.sum(a, axis=-1, keepdims=True), self.shape)
        n_b = pt.broadcast_to(n, self.shape[:-1])[..., None]
        base = pt.floor(n_b * p)
        # the rounding remainder goes to the most likely category so the counts sum to n
        remainder = n_b[..., 0] - pt.sum(base, axis=-1)
        top = pt.eq(pt.arange(self._k), pt.argmax(p, axis=-1)[..., None])
        return pt.cast(base + top * remainder[..., None], self.dtype)

    def support(self) -> Support:
        n = folded_value(self.params["n"])
        rows = None if n is None else RowSum(n, "sum to n={total}", exact=True)
        text = "non-negative integer counts" + ("" if n is None else " summing to n")
        return Support(text, lower=0, integer=True, rows=rows, event_size=self._k)
