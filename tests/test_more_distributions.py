"""The distributions PyMC users reach for beyond the seed's, and the helpers around them.

Log-densities against scipy (or, where scipy has none, against a NumPy
reference written from the definition) over tables of parameters, evaluated
by PyTensor and through the JAX bridge; log-CDFs against scipy; forward-draw
moments within Monte Carlo error (fixed seeds, 5 standard errors); every
continuous one as a free variable of a fit and of NUTS, discrete ones as
observed; errors that name the parameter; ``pm.draw``, ``pm.logp``,
``pm.logcdf``, ``.dist()`` in graphs, ``Model.debug``, ``basic_RVs`` and the
``pm.math`` helpers.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from scipy import linalg as sla
from scipy import special as sp
from scipy import stats as st

import varbayes as pm
from varbayes.compile import jaxify
from varbayes.distributions.transforms import IntervalTransform, ZeroSumTransform, circular

FAST = "FAST_COMPILE"
N_DRAWS = 20_000
SEED = 20261201


def evaluate(outputs):
    return pytensor.function([], outputs, mode=FAST)()


def N01():
    return pm.Normal.dist(0.0, 1.0)


# ------------------------------------------------------------- references
def _zi(x, psi, logpmf):
    x = np.asarray(x)
    return np.where(x == 0, np.log(1 - psi + psi * np.exp(logpmf(0))), np.log(psi) + logpmf(x))


def _hurdle(x, psi, logpmf, discrete=True):
    x = np.asarray(x)
    positive = np.log(psi) + logpmf(np.where(x == 0, 1, x))
    if discrete:
        positive = positive - np.log1p(-np.exp(logpmf(0)))
    return np.where(x == 0, np.log1p(-psi), positive)


def _ordered(x, probs):
    x = np.asarray(x)
    probs = np.broadcast_to(probs, (*np.broadcast_shapes(x.shape, probs.shape[:-1]), probs.shape[-1]))
    return np.log(np.take_along_axis(probs, np.broadcast_to(x, probs.shape[:-1])[..., None], axis=-1)[..., 0])


def _ordered_logistic_probs(eta, cutpoints):
    cdf = sp.expit(np.asarray(cutpoints) - np.asarray(eta)[..., None])
    cdf = np.concatenate([np.zeros_like(cdf[..., :1]), cdf, np.ones_like(cdf[..., :1])], axis=-1)
    return np.diff(cdf, axis=-1)


def _ordered_probit_probs(eta, cutpoints, sigma):
    cdf = st.norm.cdf((np.asarray(cutpoints) - np.asarray(eta)[..., None]) / sigma)
    cdf = np.concatenate([np.zeros_like(cdf[..., :1]), cdf, np.ones_like(cdf[..., :1])], axis=-1)
    return np.diff(cdf, axis=-1)


def _grw(x, mu, sigma, init_logpdf):
    x = np.asarray(x)
    return init_logpdf(x[..., 0]) + st.norm.logpdf(np.diff(x, axis=-1), mu, sigma).sum(-1)


def _ar(x, rho, sigma, init_logpdf, constant=0.0):
    x = np.asarray(x)
    p = len(rho)
    out = init_logpdf(x[..., :p]).sum(-1)
    for t in range(p, x.shape[-1]):
        mean = constant + sum(rho[i] * x[..., t - 1 - i] for i in range(p))
        out = out + st.norm.logpdf(x[..., t], mean, sigma)
    return out


def _zero_sum_basis(n):
    """An orthonormal basis (columns) of the vectors of length n that sum to zero."""
    return sla.null_space(np.ones((1, n)))


def _zerosum_1(x, sigma):
    z = np.asarray(x) @ _zero_sum_basis(np.shape(x)[-1])
    return st.norm.logpdf(z, 0.0, sigma).sum(-1)


def _zerosum_2(x, sigma):
    x = np.asarray(x)
    a, b = x.shape[-2:]
    z = np.swapaxes(_zero_sum_basis(a), 0, 1) @ x @ _zero_sum_basis(b)
    return st.norm.logpdf(z, 0.0, sigma).sum((-2, -1))


def _censored(x, lower, upper, logpdf, logcdf, logsf):
    x = np.asarray(x, dtype=float)
    out = logpdf(x)
    if lower is not None:
        out = np.where(x == lower, logcdf(lower), np.where(x < lower, -np.inf, out))
    if upper is not None:
        out = np.where(x == upper, logsf(upper), np.where(x > upper, -np.inf, out))
    return out


def _truncated(x, lower, upper, logpdf, cdf):
    x = np.asarray(x, dtype=float)
    mass = cdf(np.inf if upper is None else upper) - cdf(-np.inf if lower is None else lower)
    inside = np.ones(x.shape, dtype=bool)
    if lower is not None:
        inside &= x >= lower
    if upper is not None:
        inside &= x <= upper
    with np.errstate(divide="ignore"):
        return np.where(inside, logpdf(x) - np.log(mass), -np.inf)


def _mvt_batch(x, nu, mu, scale):
    x = np.asarray(x)
    out = np.empty(x.shape[:-1])
    for idx in np.ndindex(out.shape):
        out[idx] = st.multivariate_t.logpdf(x[idx], np.broadcast_to(mu, x.shape)[idx], scale, df=nu)
    return out


def _zero_sum(rng, shape, axes=1):
    x = rng.normal(size=shape)
    for axis in range(-axes, 0):
        x = x - x.mean(axis=axis, keepdims=True)
    return x


_RNG = np.random.default_rng(7)
SCALE = np.array([[2.0, 0.6, 0.1], [0.6, 1.0, -0.3], [0.1, -0.3, 0.5]])
X3 = np.array([[0.1, 0.2, 0.3], [-1.0, 2.0, 0.0], [3.0, -1.0, 1.0]])
ZS1 = _zero_sum(_RNG, (3, 4))
ZS2 = _zero_sum(_RNG, (2, 3, 4), axes=2)
WALK = np.cumsum(_RNG.normal(size=(3, 6)), axis=-1)
COUNTS = np.array([[2, 3, 5], [0, 0, 10], [4, 4, 2]])
INT = np.arange(0, 9)

# (id, distribution factory, values, reference as a function of the values)
LOGP_CASES = [
    ("SkewNormal", lambda: pm.SkewNormal.dist(mu=0.3, sigma=1.5, alpha=-2.0), [-3.0, -0.2, 0.3, 2.5],
     lambda x: st.skewnorm.logpdf(x, -2.0, 0.3, 1.5)),
    ("SkewNormal-batch", lambda: pm.SkewNormal.dist(mu=[0.0, 1.0], tau=0.25, alpha=[0.0, 5.0]), [[-1.0, 0.5], [4.0, 1.5]],
     lambda x: st.skewnorm.logpdf(x, [0.0, 5.0], [0.0, 1.0], 2.0)),
    ("SkewNormal-far-tail", lambda: pm.SkewNormal.dist(alpha=8.0), [-6.0, -1.0, 0.0],
     lambda x: st.skewnorm.logpdf(x, 8.0)),
    ("Wald", lambda: pm.Wald.dist(mu=1.3, lam=2.0), [0.05, 0.7, 1.3, 5.0],
     lambda x: st.invgauss.logpdf(x, 1.3 / 2.0, scale=2.0)),
    ("Wald-shift", lambda: pm.Wald.dist(mu=[0.5, 2.0], lam=3.0, alpha=0.5), [[0.6, 3.0], [2.0, 0.4]],
     lambda x: st.invgauss.logpdf(x, np.array([0.5, 2.0]) / 3.0, loc=0.5, scale=3.0)),
    ("Wald-phi", lambda: pm.Wald.dist(mu=2.0, phi=1.5), [0.5, 2.0, 6.0],
     lambda x: st.invgauss.logpdf(x, 2.0 / 3.0, scale=3.0)),
    ("Wald-lam-phi", lambda: pm.Wald.dist(lam=3.0, phi=1.5), [0.5, 2.0, 6.0],
     lambda x: st.invgauss.logpdf(x, 2.0 / 3.0, scale=3.0)),
    ("VonMises", lambda: pm.VonMises.dist(mu=0.3, kappa=[0.0, 0.5, 4.0]), [[-3.0, 0.0, 3.1], [0.3, 2.0, -1.0]],
     lambda x: st.vonmises.logpdf(x, [1e-300, 0.5, 4.0], loc=0.3)),
    ("VonMises-concentrated", lambda: pm.VonMises.dist(mu=-0.5, kappa=[400.0, 2000.0]), [[-0.5, -0.45], [-0.52, -0.5]],
     lambda x: st.vonmises.logpdf(x, [400.0, 2000.0], loc=-0.5)),
    ("MvStudentT-scale", lambda: pm.MvStudentT.dist(nu=4.0, mu=[0.0, 1.0, -1.0], scale=SCALE), X3,
     lambda x: _mvt_batch(x, 4.0, [0.0, 1.0, -1.0], SCALE)),
    ("MvStudentT-chol", lambda: pm.MvStudentT.dist(nu=1.5, mu=0.5, chol=np.linalg.cholesky(SCALE)), X3,
     lambda x: _mvt_batch(x, 1.5, 0.5, SCALE)),
    ("MvStudentT-tau", lambda: pm.MvStudentT.dist(nu=30.0, mu=0.0, tau=np.linalg.inv(SCALE)), X3,
     lambda x: _mvt_batch(x, 30.0, 0.0, SCALE)),
    ("MvStudentT-cov-alias", lambda: pm.MvStudentT.dist(nu=3.0, cov=SCALE), X3, lambda x: _mvt_batch(x, 3.0, 0.0, SCALE)),
    ("DirichletMultinomial", lambda: pm.DirichletMultinomial.dist(n=10, a=[0.5, 2.0, 3.0]), COUNTS,
     lambda x: st.dirichlet_multinomial.logpmf(x, [0.5, 2.0, 3.0], 10)),
    ("DirichletMultinomial-batch", lambda: pm.DirichletMultinomial.dist(n=[10, 10, 10], a=[[1.0, 1.0, 1.0], [5.0, 0.1, 2.0], [2.0, 2.0, 9.0]]),
     COUNTS, lambda x: np.array([st.dirichlet_multinomial.logpmf(r, a, 10) for r, a in zip(x, [[1.0, 1.0, 1.0], [5.0, 0.1, 2.0], [2.0, 2.0, 9.0]])])),
    ("DirichletMultinomial-wrong-total", lambda: pm.DirichletMultinomial.dist(n=9, a=[1.0, 1.0, 1.0]), COUNTS[:1],
     lambda x: np.array([-np.inf])),
    ("ZeroInflatedPoisson", lambda: pm.ZeroInflatedPoisson.dist(psi=0.7, mu=3.0), INT,
     lambda x: _zi(x, 0.7, lambda k: st.poisson.logpmf(k, 3.0))),
    ("ZeroInflatedBinomial", lambda: pm.ZeroInflatedBinomial.dist(psi=0.6, n=8, p=0.35), INT,
     lambda x: _zi(x, 0.6, lambda k: st.binom.logpmf(k, 8, 0.35))),
    ("ZeroInflatedNegativeBinomial", lambda: pm.ZeroInflatedNegativeBinomial.dist(psi=0.4, mu=3.0, alpha=1.5), INT,
     lambda x: _zi(x, 0.4, lambda k: st.nbinom.logpmf(k, 1.5, 1.5 / 4.5))),
    ("ZeroInflatedNegativeBinomial-np", lambda: pm.ZeroInflatedNegativeBinomial.dist(psi=0.4, n=2.0, p=0.3), INT,
     lambda x: _zi(x, 0.4, lambda k: st.nbinom.logpmf(k, 2.0, 0.3))),
    ("HurdlePoisson", lambda: pm.HurdlePoisson.dist(psi=0.6, mu=2.5), INT,
     lambda x: _hurdle(x, 0.6, lambda k: st.poisson.logpmf(k, 2.5))),
    ("HurdleNegativeBinomial", lambda: pm.HurdleNegativeBinomial.dist(psi=0.3, mu=4.0, alpha=0.8), INT,
     lambda x: _hurdle(x, 0.3, lambda k: st.nbinom.logpmf(k, 0.8, 0.8 / 4.8))),
    ("HurdleGamma", lambda: pm.HurdleGamma.dist(psi=0.7, alpha=2.0, beta=1.5), [0.0, 0.3, 2.0, 7.0],
     lambda x: _hurdle(x, 0.7, lambda v: st.gamma.logpdf(v, 2.0, scale=1 / 1.5), discrete=False)),
    ("HurdleGamma-mu-sigma", lambda: pm.HurdleGamma.dist(psi=0.5, mu=2.0, sigma=1.0), [0.0, 0.3, 2.0],
     lambda x: _hurdle(x, 0.5, lambda v: st.gamma.logpdf(v, 4.0, scale=0.5), discrete=False)),
    ("HurdleLogNormal", lambda: pm.HurdleLogNormal.dist(psi=0.8, mu=0.5, sigma=0.7), [0.0, 0.3, 2.0, 7.0],
     lambda x: _hurdle(x, 0.8, lambda v: st.lognorm.logpdf(v, 0.7, scale=np.exp(0.5)), discrete=False)),
    ("OrderedLogistic", lambda: pm.OrderedLogistic.dist(eta=[0.3, -1.0, 4.0], cutpoints=[-1.0, 0.5, 2.0]),
     [[0, 1, 3], [2, 3, 0]], lambda x: _ordered(x, _ordered_logistic_probs([0.3, -1.0, 4.0], [-1.0, 0.5, 2.0]))),
    ("OrderedProbit", lambda: pm.OrderedProbit.dist(eta=[0.3, -1.0], cutpoints=[-0.5, 0.8], sigma=1.5),
     [[0, 1], [2, 2], [1, 0]], lambda x: _ordered(x, _ordered_probit_probs([0.3, -1.0], [-0.5, 0.8], 1.5))),
    ("GaussianRandomWalk", lambda: pm.GaussianRandomWalk.dist(mu=0.2, sigma=0.8, init_dist=pm.Normal.dist(1.0, 2.0), steps=5),
     WALK, lambda x: _grw(x, 0.2, 0.8, lambda v: st.norm.logpdf(v, 1.0, 2.0))),
    ("GaussianRandomWalk-batch", lambda: pm.GaussianRandomWalk.dist(mu=[0.0, 1.0, -1.0], sigma=[1.0, 0.5, 2.0], init_dist=pm.Cauchy.dist(0.0, 1.0), shape=(3, 6)),
     WALK, lambda x: _grw(x, np.array([[0.0], [1.0], [-1.0]]), np.array([[1.0], [0.5], [2.0]]), lambda v: st.cauchy.logpdf(v))),
    ("AR1", lambda: pm.AR.dist(rho=0.7, sigma=0.5, init_dist=pm.Normal.dist(0.0, 1.0), steps=5), WALK,
     lambda x: _ar(x, [0.7], 0.5, lambda v: st.norm.logpdf(v))),
    ("AR2", lambda: pm.AR.dist(rho=[0.5, -0.3], sigma=1.2, init_dist=pm.Normal.dist(0.5, 2.0), steps=4), WALK,
     lambda x: _ar(x, [0.5, -0.3], 1.2, lambda v: st.norm.logpdf(v, 0.5, 2.0))),
    ("AR2-constant", lambda: pm.AR.dist(rho=[1.5, 0.5, -0.3], sigma=1.2, constant=True, init_dist=pm.Normal.dist(0.0, 1.0), shape=(3, 6)),
     WALK, lambda x: _ar(x, [0.5, -0.3], 1.2, lambda v: st.norm.logpdf(v), constant=1.5)),
    ("ZeroSumNormal", lambda: pm.ZeroSumNormal.dist(sigma=1.7, shape=(3, 4)), ZS1, lambda x: _zerosum_1(x, 1.7)),
    ("ZeroSumNormal-2axes", lambda: pm.ZeroSumNormal.dist(sigma=0.6, n_zerosum_axes=2, shape=(2, 3, 4)), ZS2,
     lambda x: _zerosum_2(x, 0.6)),
    ("ZeroSumNormal-not-zero-sum", lambda: pm.ZeroSumNormal.dist(sigma=1.0, shape=(3,)), [[1.0, 0.0, 0.0]],
     lambda x: np.array([-np.inf])),
    ("Truncated-Normal", lambda: pm.Truncated.dist(pm.Normal.dist(0.5, 2.0), lower=-1.0, upper=2.0), [-1.5, -1.0, 0.0, 2.0, 2.5],
     lambda x: st.truncnorm.logpdf(x, -0.75, 0.75, 0.5, 2.0)),
    ("Truncated-Normal-upper-tail", lambda: pm.Truncated.dist(N01(), lower=6.0, upper=7.0), [6.0, 6.5],
     lambda x: st.truncnorm.logpdf(x, 6.0, 7.0)),
    ("Truncated-Normal-lower-only", lambda: pm.Truncated.dist(N01(), lower=1.0), [0.5, 1.0, 3.0],
     lambda x: st.truncnorm.logpdf(x, 1.0, np.inf)),
    ("Truncated-Gamma-upper", lambda: pm.Truncated.dist(pm.Gamma.dist(2.0, 1.0), upper=3.0), [0.5, 2.9, 3.5],
     lambda x: _truncated(x, None, 3.0, lambda v: st.gamma.logpdf(v, 2.0), lambda v: st.gamma.cdf(v, 2.0))),
    ("Truncated-StudentT", lambda: pm.Truncated.dist(pm.StudentT.dist(3.0, 0.0, 1.0), lower=-2.0, upper=0.5), [-2.0, 0.0, 0.5],
     lambda x: _truncated(x, -2.0, 0.5, lambda v: st.t.logpdf(v, 3.0), lambda v: st.t.cdf(v, 3.0))),
    ("Truncated-Poisson", lambda: pm.Truncated.dist(pm.Poisson.dist(3.0), lower=2, upper=6), INT,
     lambda x: np.where((x >= 2) & (x <= 6), st.poisson.logpmf(x, 3.0) - np.log(st.poisson.cdf(6, 3.0) - st.poisson.cdf(1, 3.0)), -np.inf)),
    ("Truncated-Binomial-lower", lambda: pm.Truncated.dist(pm.Binomial.dist(8, 0.3), lower=1), INT,
     lambda x: np.where(x >= 1, st.binom.logpmf(x, 8, 0.3) - np.log(st.binom.sf(0, 8, 0.3)), -np.inf)),
    ("Censored-Normal", lambda: pm.Censored.dist(pm.Normal.dist(0.3, 1.5), lower=-1.0, upper=2.0), [-2.0, -1.0, 0.0, 2.0, 3.0],
     lambda x: _censored(x, -1.0, 2.0, lambda v: st.norm.logpdf(v, 0.3, 1.5), lambda v: st.norm.logcdf(v, 0.3, 1.5),
                         lambda v: st.norm.logsf(v, 0.3, 1.5))),
    ("Censored-Normal-upper", lambda: pm.Censored.dist(N01(), upper=1.0), [-5.0, 1.0],
     lambda x: _censored(x, None, 1.0, st.norm.logpdf, st.norm.logcdf, st.norm.logsf)),
    ("Censored-Poisson", lambda: pm.Censored.dist(pm.Poisson.dist(3.0), lower=1, upper=5), INT,
     lambda x: _censored(x, 1, 5, lambda k: st.poisson.logpmf(k, 3.0), lambda k: st.poisson.logcdf(k, 3.0),
                         lambda k: st.poisson.logsf(k - 1, 3.0))),
]


@pytest.mark.parametrize("case", LOGP_CASES, ids=[c[0] for c in LOGP_CASES])
def test_logp_matches_reference(case):
    _, factory, values, reference = case
    dist = factory()
    values = np.asarray(values)
    logp = pm.logp(dist, pt.as_tensor_variable(values.astype(dist.dtype)))
    with np.errstate(all="ignore"):
        expected = reference(values)
        got = evaluate(logp)
    np.testing.assert_allclose(got, expected, rtol=1e-7, atol=1e-10)
    (got_jax,) = jaxify([], [logp])()
    np.testing.assert_allclose(np.asarray(got_jax), expected, rtol=1e-7, atol=1e-10)


def test_discrete_logps_are_normalised():
    """The probabilities of the count distributions sum to one over their support."""
    k = np.arange(0, 200)
    for dist in (
        pm.ZeroInflatedBinomial.dist(0.6, 8, 0.35),
        pm.ZeroInflatedNegativeBinomial.dist(0.4, 3.0, 1.5),
        pm.HurdlePoisson.dist(0.6, 2.5),
        pm.HurdleNegativeBinomial.dist(0.3, 4.0, 2.0),
        pm.Truncated.dist(pm.Poisson.dist(3.0), lower=2, upper=6),
        pm.Censored.dist(pm.Poisson.dist(3.0), lower=1, upper=5),
    ):
        total = np.exp(evaluate(pm.logp(dist, k))).sum()
        assert total == pytest.approx(1.0, abs=1e-10), type(dist).__name__
    probs = np.exp(evaluate(pm.logp(pm.DirichletMultinomial.dist(4, [0.5, 1.0, 2.0]), np.array(
        [[i, j, 4 - i - j] for i in range(5) for j in range(5 - i)]))))
    assert probs.sum() == pytest.approx(1.0, abs=1e-12)


# ------------------------------------------------------------------- logcdf
# (id, distribution factory, values, scipy logcdf)
LOGCDF_CASES = [
    ("Normal", lambda: pm.Normal.dist(1.0, 2.0), [-40.0, -3.0, 1.0, 5.0], lambda x: st.norm.logcdf(x, 1.0, 2.0)),
    ("HalfNormal", lambda: pm.HalfNormal.dist(2.0), [-1.0, 0.5, 3.0], lambda x: st.halfnorm.logcdf(x, scale=2.0)),
    ("Cauchy", lambda: pm.Cauchy.dist(1.0, 2.0), [-5.0, 1.0, 5.0], lambda x: st.cauchy.logcdf(x, 1.0, 2.0)),
    ("HalfCauchy", lambda: pm.HalfCauchy.dist(2.0), [-1.0, 0.5, 30.0], lambda x: st.halfcauchy.logcdf(x, scale=2.0)),
    ("StudentT", lambda: pm.StudentT.dist(3.0, 1.0, 2.0), [-5.0, 1.0, 5.0], lambda x: st.t.logcdf(x, 3.0, 1.0, 2.0)),
    ("HalfStudentT", lambda: pm.HalfStudentT.dist(3.0, 2.0), [-1.0, 0.5, 5.0],
     lambda x: np.log(np.clip(2 * st.t.cdf(x, 3.0, scale=2.0) - 1, 0, None))),
    ("Laplace", lambda: pm.Laplace.dist(1.0, 0.5), [-2.0, 1.0, 3.0], lambda x: st.laplace.logcdf(x, 1.0, 0.5)),
    ("Logistic", lambda: pm.Logistic.dist(1.0, 0.5), [-30.0, 1.0, 3.0], lambda x: st.logistic.logcdf(x, 1.0, 0.5)),
    ("Uniform", lambda: pm.Uniform.dist(-1.0, 3.0), [-2.0, 0.0, 3.0, 4.0], lambda x: st.uniform.logcdf(x, -1.0, 4.0)),
    ("Exponential", lambda: pm.Exponential.dist(2.0), [-1.0, 1e-3, 2.0], lambda x: st.expon.logcdf(x, scale=0.5)),
    ("Gamma", lambda: pm.Gamma.dist(2.5, 1.5), [-1.0, 0.5, 4.0], lambda x: st.gamma.logcdf(x, 2.5, scale=1 / 1.5)),
    ("InverseGamma", lambda: pm.InverseGamma.dist(3.0, 2.0), [-1.0, 0.5, 4.0], lambda x: st.invgamma.logcdf(x, 3.0, scale=2.0)),
    ("Beta", lambda: pm.Beta.dist(2.0, 3.0), [-0.1, 0.2, 0.9, 1.0], lambda x: st.beta.logcdf(x, 2.0, 3.0)),
    ("LogNormal", lambda: pm.LogNormal.dist(0.5, 0.7), [-1.0, 0.5, 4.0], lambda x: st.lognorm.logcdf(x, 0.7, scale=np.exp(0.5))),
    ("Weibull", lambda: pm.Weibull.dist(1.5, 2.0), [-1.0, 0.5, 4.0], lambda x: st.weibull_min.logcdf(x, 1.5, scale=2.0)),
    ("ChiSquared", lambda: pm.ChiSquared.dist(3.0), [-1.0, 0.5, 4.0], lambda x: st.chi2.logcdf(x, 3.0)),
    ("Wald", lambda: pm.Wald.dist(mu=1.3, lam=2.0, alpha=0.5), [0.0, 0.7, 1.8, 9.0],
     lambda x: st.invgauss.logcdf(x, 1.3 / 2.0, loc=0.5, scale=2.0)),
    ("Bernoulli", lambda: pm.Bernoulli.dist(0.3), [-1, 0, 1, 2], lambda x: st.bernoulli.logcdf(x, 0.3)),
    ("Binomial", lambda: pm.Binomial.dist(8, 0.35), [-1, 0, 3, 8, 9], lambda x: st.binom.logcdf(x, 8, 0.35)),
    ("Poisson", lambda: pm.Poisson.dist(3.0), [-1, 0, 3, 10], lambda x: st.poisson.logcdf(x, 3.0)),
    ("NegativeBinomial", lambda: pm.NegativeBinomial.dist(mu=3.0, alpha=1.5), [-1, 0, 3, 10],
     lambda x: st.nbinom.logcdf(x, 1.5, 1.5 / 4.5)),
    ("Geometric", lambda: pm.Geometric.dist(0.3), [0, 1, 4], lambda x: st.geom.logcdf(x, 0.3)),
    ("DiscreteUniform", lambda: pm.DiscreteUniform.dist(-2, 5), [-3, -2, 0, 5, 6], lambda x: st.randint.logcdf(x, -2, 6)),
    ("ZeroInflatedPoisson", lambda: pm.ZeroInflatedPoisson.dist(0.7, 3.0), [-1, 0, 2, 8],
     lambda x: np.log(np.where(np.asarray(x) < 0, 0, 0.3 + 0.7 * st.poisson.cdf(x, 3.0)))),
    ("HurdlePoisson", lambda: pm.HurdlePoisson.dist(0.6, 2.5), [-1, 0, 2, 8],
     lambda x: np.log(np.where(np.asarray(x) < 0, 0, 0.4 + 0.6 * (st.poisson.cdf(x, 2.5) - np.exp(-2.5)) / (1 - np.exp(-2.5))))),
    ("Truncated-Normal", lambda: pm.Truncated.dist(pm.Normal.dist(0.5, 2.0), lower=-1.0, upper=2.0), [-1.5, -1.0, 0.0, 2.0, 2.5],
     lambda x: st.truncnorm.logcdf(x, -0.75, 0.75, 0.5, 2.0)),
    ("Censored-Normal", lambda: pm.Censored.dist(N01(), lower=-1.0, upper=1.0), [-2.0, -1.0, 0.0, 1.0],
     lambda x: np.where(np.asarray(x) < -1, -np.inf, np.where(np.asarray(x) >= 1, 0.0, st.norm.logcdf(x)))),
]


@pytest.mark.parametrize("case", LOGCDF_CASES, ids=[c[0] for c in LOGCDF_CASES])
def test_logcdf_matches_scipy(case):
    _, factory, values, reference = case
    dist = factory()
    values = np.asarray(values)
    logcdf = pm.logcdf(dist, pt.as_tensor_variable(values.astype(dist.dtype)))
    with np.errstate(all="ignore"):
        expected = reference(values)
        got = evaluate(logcdf)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-10)
    (got_jax,) = jaxify([], [logcdf])()
    np.testing.assert_allclose(np.asarray(got_jax), expected, rtol=1e-6, atol=1e-10)


def test_logcdf_without_a_closed_form_names_the_distribution():
    with pytest.raises(NotImplementedError, match="VonMises has no logcdf"):
        pm.logcdf(pm.VonMises.dist(0.0, 1.0), 0.5)
    with pytest.raises(NotImplementedError, match="VonMises has no logcdf"):
        pm.Truncated.dist(pm.VonMises.dist(0.0, 1.0), lower=0.0).logp(0.5)


# ------------------------------------------------------------------ moments
def _pmf_moments(dist, support):
    p = np.exp(evaluate(pm.logp(dist, support)))
    mean = np.sum(p * support)
    return mean, np.sum(p * (support - mean) ** 2)


def _truncnorm_moments(mu, sigma, lower, upper):
    a, b = (lower - mu) / sigma, (upper - mu) / sigma
    return st.truncnorm.mean(a, b, mu, sigma), st.truncnorm.var(a, b, mu, sigma)


def _censored_normal_moments(mu, sigma, lower, upper):
    x = np.linspace(lower, upper, 200_001)
    density = st.norm.pdf(x, mu, sigma)
    p_low, p_up = st.norm.cdf(lower, mu, sigma), st.norm.sf(upper, mu, sigma)
    first = np.trapezoid(x * density, x) + lower * p_low + upper * p_up
    second = np.trapezoid(x**2 * density, x) + lower**2 * p_low + upper**2 * p_up
    return first, second - first**2


def _skewnorm(alpha, mu, sigma):
    return st.skewnorm.mean(alpha, mu, sigma), st.skewnorm.var(alpha, mu, sigma)


# (id, factory, analytic mean, analytic variance)
MOMENT_CASES = [
    ("SkewNormal", lambda: pm.SkewNormal.dist(0.5, 2.0, alpha=4.0), *_skewnorm(4.0, 0.5, 2.0)),
    ("SkewNormal-left", lambda: pm.SkewNormal.dist(0.0, 1.0, alpha=-1.5), *_skewnorm(-1.5, 0.0, 1.0)),
    ("Wald", lambda: pm.Wald.dist(mu=1.3, lam=4.0, alpha=0.5), 1.8, 1.3**3 / 4.0),
    ("ZeroInflatedBinomial", lambda: pm.ZeroInflatedBinomial.dist(0.6, 8, 0.35),
     *_pmf_moments(pm.ZeroInflatedBinomial.dist(0.6, 8, 0.35), np.arange(9))),
    ("ZeroInflatedNegativeBinomial", lambda: pm.ZeroInflatedNegativeBinomial.dist(0.4, 3.0, 4.0),
     *_pmf_moments(pm.ZeroInflatedNegativeBinomial.dist(0.4, 3.0, 4.0), np.arange(300))),
    ("HurdlePoisson", lambda: pm.HurdlePoisson.dist(0.6, 1.5),
     *_pmf_moments(pm.HurdlePoisson.dist(0.6, 1.5), np.arange(100))),
    ("HurdleNegativeBinomial", lambda: pm.HurdleNegativeBinomial.dist(0.3, 2.0, 4.0),
     *_pmf_moments(pm.HurdleNegativeBinomial.dist(0.3, 2.0, 4.0), np.arange(300))),
    ("HurdleGamma", lambda: pm.HurdleGamma.dist(0.7, 2.0, 1.5), 0.7 * 2.0 / 1.5,
     0.7 * (2.0 / 1.5**2 + (2.0 / 1.5) ** 2) - (0.7 * 2.0 / 1.5) ** 2),
    ("HurdleLogNormal", lambda: pm.HurdleLogNormal.dist(0.8, 0.0, 0.5), 0.8 * np.exp(0.125),
     0.8 * np.exp(0.5) - (0.8 * np.exp(0.125)) ** 2),
    ("Truncated-Normal-icdf", lambda: pm.Truncated.dist(pm.Normal.dist(0.5, 2.0), lower=-1.0, upper=2.0),
     *_truncnorm_moments(0.5, 2.0, -1.0, 2.0)),
    ("Truncated-Exponential-icdf", lambda: pm.Truncated.dist(pm.Exponential.dist(1.0), lower=0.5),
     1.5, 1.0),
    ("Truncated-Gamma-rejection", lambda: pm.Truncated.dist(pm.Gamma.dist(2.0, 1.0), lower=1.0, upper=3.0),
     *(lambda m0, m1, m2: (m1 / m0, m2 / m0 - (m1 / m0) ** 2))(
         *(st.gamma.expect(lambda x, k=k: x**k, args=(2.0,), lb=1.0, ub=3.0) for k in range(3)))),
    ("Truncated-Poisson-rejection", lambda: pm.Truncated.dist(pm.Poisson.dist(3.0), lower=2, upper=6),
     *_pmf_moments(pm.Truncated.dist(pm.Poisson.dist(3.0), lower=2, upper=6), np.arange(9))),
    ("Censored-Normal", lambda: pm.Censored.dist(pm.Normal.dist(0.3, 1.5), lower=-1.0, upper=2.0),
     *_censored_normal_moments(0.3, 1.5, -1.0, 2.0)),
    ("Censored-Poisson", lambda: pm.Censored.dist(pm.Poisson.dist(3.0), lower=1, upper=5),
     *_pmf_moments(pm.Censored.dist(pm.Poisson.dist(3.0), lower=1, upper=5), np.arange(9))),
]


def _draw(dist, n=N_DRAWS, seed=SEED):
    return np.asarray(pm.draw(dist, draws=n, random_seed=seed)).astype("float64")


def _within_mc_error(x, mean, var, axis=0):
    """Sample mean within 5 standard errors, sample variance within 5 of its standard errors."""
    n = x.shape[axis]
    assert np.all(np.abs(x.mean(axis) - mean) < 5 * x.std(axis) / np.sqrt(n))
    if var is not None:
        m4 = np.mean((x - x.mean(axis)) ** 4, axis)
        assert np.all(np.abs(x.var(axis) - var) < 5 * np.sqrt((m4 - x.var(axis) ** 2) / n))


@pytest.mark.parametrize("case", MOMENT_CASES, ids=[c[0] for c in MOMENT_CASES])
def test_forward_draws_moments(case):
    _, factory, mean, var = case
    x = _draw(factory())
    assert x.shape == (N_DRAWS,)
    _within_mc_error(x, mean, var)


def test_forward_draws_stay_in_the_support():
    for dist in (
        pm.Truncated.dist(pm.Normal.dist(0.0, 1.0), lower=5.0, upper=5.5),
        pm.Truncated.dist(pm.Poisson.dist(3.0), lower=2, upper=6),
        pm.Censored.dist(pm.Normal.dist(0.0, 1.0), lower=-0.5, upper=0.5),
        pm.HurdlePoisson.dist(0.5, 0.3),
    ):
        x = _draw(dist, n=2000)
        assert np.all(dist.support().contains(x)), type(dist).__name__
    x = _draw(pm.HurdlePoisson.dist(0.5, 0.3), n=2000)
    assert 0.45 < np.mean(x == 0) < 0.55  # no Poisson zero leaks through the hurdle


def test_von_mises_draws():
    """Circular mean direction and mean resultant length I1(kappa) / I0(kappa)."""
    x = _draw(pm.VonMises.dist(mu=2.8, kappa=3.0))
    assert np.all(np.abs(x) <= np.pi)
    direction = np.arctan2(np.sin(x).mean(), np.cos(x).mean())
    assert abs(direction - 2.8) < 0.02
    resultant = np.cos(x - 2.8)
    _within_mc_error(resultant, sp.i1(3.0) / sp.i0(3.0), None)


def test_mv_student_t_draws():
    nu, mu = 8.0, np.array([1.0, -1.0, 0.0])
    x = _draw(pm.MvStudentT.dist(nu=nu, mu=mu, scale=SCALE))
    assert x.shape == (N_DRAWS, 3)
    _within_mc_error(x, mu, np.diag(SCALE) * nu / (nu - 2))
    np.testing.assert_allclose(np.cov(x.T), SCALE * nu / (nu - 2), atol=0.08)


def test_dirichlet_multinomial_draws():
    n, a = 10, np.array([0.5, 2.0, 3.0])
    x = _draw(pm.DirichletMultinomial.dist(n=n, a=a))
    assert np.all(x.sum(-1) == n)
    p, total = a / a.sum(), a.sum()
    _within_mc_error(x, n * p, n * p * (1 - p) * (n + total) / (1 + total))


def test_ordered_draws_match_the_category_probabilities():
    probs = _ordered_logistic_probs(np.array([0.3]), [-1.0, 0.5, 2.0])[0]
    x = _draw(pm.OrderedLogistic.dist(eta=0.3, cutpoints=[-1.0, 0.5, 2.0]))
    freq = np.bincount(x.astype(int), minlength=4) / N_DRAWS
    assert np.all(np.abs(freq - probs) < 5 * np.sqrt(probs * (1 - probs) / N_DRAWS))
    probs = _ordered_probit_probs(np.array([-0.4]), [-0.5, 0.8], 1.5)[0]
    x = _draw(pm.OrderedProbit.dist(eta=-0.4, cutpoints=[-0.5, 0.8], sigma=1.5))
    freq = np.bincount(x.astype(int), minlength=3) / N_DRAWS
    assert np.all(np.abs(freq - probs) < 5 * np.sqrt(probs * (1 - probs) / N_DRAWS))


def test_gaussian_random_walk_draws():
    """Mean init_mean + mu t, variance init_var + sigma**2 t at each time."""
    x = _draw(pm.GaussianRandomWalk.dist(mu=0.3, sigma=0.5, init_dist=pm.Normal.dist(1.0, 2.0), steps=6))
    assert x.shape == (N_DRAWS, 7)
    t = np.arange(7)
    _within_mc_error(x, 1.0 + 0.3 * t, 4.0 + 0.25 * t)


def test_ar_draws():
    """A stationary AR(1) started from its stationary law keeps it; the lag-1 correlation is rho."""
    rho, sigma = 0.6, 0.5
    sd = sigma / np.sqrt(1 - rho**2)
    x = _draw(pm.AR.dist(rho=rho, sigma=sigma, init_dist=pm.Normal.dist(0.0, sd), steps=5), n=10_000)
    assert x.shape == (10_000, 6)
    _within_mc_error(x, 0.0, sd**2)
    corr = np.corrcoef(x[:, 4], x[:, 5])[0, 1]
    assert abs(corr - rho) < 5 * (1 - rho**2) / np.sqrt(10_000)
    # order 2 with a constant: the stationary mean c / (1 - rho_1 - rho_2)
    x = _draw(pm.AR.dist(rho=[1.0, 0.5, 0.2], constant=True, sigma=0.3, init_dist=pm.Normal.dist(10 / 3, 0.1), steps=12), n=4000)
    assert abs(x[:, -1].mean() - 1.0 / 0.3) < 0.05


def test_zero_sum_normal_draws():
    """Zero sums on every zero-sum axis; marginal variance sigma**2 (n - 1) / n (times (m - 1) / m on two axes)."""
    x = _draw(pm.ZeroSumNormal.dist(sigma=2.0, shape=(5,)))
    np.testing.assert_allclose(x.sum(-1), 0.0, atol=1e-12)
    _within_mc_error(x, 0.0, 4.0 * 4 / 5)
    x = _draw(pm.ZeroSumNormal.dist(sigma=2.0, n_zerosum_axes=2, shape=(3, 4)), n=10_000)
    np.testing.assert_allclose(x.sum(-1), 0.0, atol=1e-12)
    np.testing.assert_allclose(x.sum(-2), 0.0, atol=1e-12)
    _within_mc_error(x, 0.0, 4.0 * (2 / 3) * (3 / 4))


# ----------------------------------------------------------- free variables
def _free_continuous_model():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with pm.Model() as model:
            mu = pm.Normal("mu", 0.0, 1.0)
            s = pm.HalfNormal("s", 1.0)
            pm.SkewNormal("skew", mu, 1.0, alpha=3.0)
            pm.Wald("wald", mu=1.0, lam=s + 1.0)
            pm.Wald("wald_shift", mu=1.0, lam=2.0, alpha=-1.0)
            pm.VonMises("angle", mu=3.0, kappa=4.0)
            pm.MvStudentT("mvt", nu=5.0, mu=[mu, 1.0], scale=np.array([[1.0, 0.3], [0.3, 0.5]]))
            pm.ZeroSumNormal("effects", sigma=s + 0.5, shape=(2, 3), n_zerosum_axes=2)
            pm.GaussianRandomWalk("walk", mu=0.1, sigma=s + 0.1, init_dist=pm.Normal.dist(0.0, 1.0), steps=4)
            pm.AR("ar", rho=[0.5, -0.2], sigma=1.0, init_dist=pm.Normal.dist(0.0, 1.0), steps=3)
            pm.Truncated("trunc", pm.Normal.dist(mu, 1.0), lower=-1.0, upper=1.5)
            pm.Truncated("trunc_gamma", pm.Gamma.dist(2.0, 1.0), upper=3.0)
    return model


def _observed_discrete_model():
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 1.0)
        rate = pm.HalfNormal("rate", 2.0)
        psi = pm.Beta("psi", 2.0, 2.0)
        pm.OrderedLogistic("ol", eta=mu, cutpoints=np.array([-1.0, 0.0, 1.0]), observed=[0, 3, 2, 2])
        pm.OrderedProbit("op", eta=mu, cutpoints=np.array([-0.5, 0.5]), observed=[0, 1, 2])
        pm.DirichletMultinomial("dm", n=6, a=pm.math.stack([rate, 1.0, 2.0]), observed=[[1, 2, 3], [0, 0, 6]])
        pm.ZeroInflatedBinomial("zib", psi, 6, pm.math.sigmoid(mu), observed=[0, 0, 3, 5])
        pm.ZeroInflatedNegativeBinomial("zinb", psi, rate, 2.0, observed=[0, 4, 1])
        pm.HurdlePoisson("hp", psi, rate, observed=[0, 3, 1, 0])
        pm.HurdleNegativeBinomial("hnb", psi, rate, 3.0, observed=[0, 2, 6])
        pm.HurdleGamma("hg", psi, 2.0, rate, observed=[0.0, 1.2, 0.4])
        pm.HurdleLogNormal("hln", psi, mu, 1.0, observed=[0.0, 1.2, 0.4])
        pm.Censored("cens", pm.Normal.dist(mu, 1.0), lower=-1.0, upper=1.0, observed=[-1.0, 0.3, 1.0, 1.0])
        pm.Censored("cens_pois", pm.Poisson.dist(rate), upper=4, observed=[1, 4, 4])
        pm.Truncated("trunc_pois", pm.Poisson.dist(rate), lower=1, observed=[1, 2, 5])
    return model


def test_free_and_observed_variables_have_finite_jax_gradients():
    import jax

    from varbayes.compile import compile_model

    for model in (_free_continuous_model(), _observed_discrete_model()):
        compiled = compile_model(model)
        value_and_grad = jax.jit(jax.value_and_grad(compiled.logdensity_fn))
        theta = np.asarray(compiled.initial_theta())
        noise = np.random.default_rng(0).normal(scale=0.5, size=theta.shape)
        for point in (theta, theta + noise):
            value, grad = value_and_grad(point)
            assert np.isfinite(value)
            assert np.all(np.isfinite(grad))


def test_new_continuous_distributions_as_free_variables_in_advi():
    """Independent priors: mean-field ADVI puts each mean near the prior mean."""
    model = _free_continuous_model()
    approx = pm.fit(3000, model=model, random_seed=1, progressbar=False)
    assert np.all(np.isfinite(approx.hist))
    draws = approx.sample(2000, random_seed=2).posterior
    effects = draws["effects"].values
    np.testing.assert_allclose(effects.sum(-1), 0.0, atol=1e-10)
    np.testing.assert_allclose(effects.sum(-2), 0.0, atol=1e-10)
    assert np.all(draws["trunc"].values >= -1.0) and np.all(draws["trunc"].values <= 1.5)
    assert np.all(np.abs(draws["angle"].values) <= np.pi)
    assert np.all(draws["wald_shift"].values > -1.0)
    assert abs(float(draws["skew"].mean()) - st.skewnorm.mean(3.0)) < 0.3
    assert abs(float(draws["wald"].mean()) - 1.0) < 0.3


def _independent_continuous_model():
    with pm.Model() as model:
        pm.SkewNormal("skew", 0.0, 1.0, alpha=3.0)
        pm.Wald("wald_shift", mu=1.0, lam=2.0, alpha=-1.0)
        pm.MvStudentT("mvt", nu=5.0, mu=[0.0, 1.0], scale=np.array([[1.0, 0.3], [0.3, 0.5]]))
        pm.ZeroSumNormal("effects", sigma=1.0, shape=(2, 3), n_zerosum_axes=2)
        pm.GaussianRandomWalk("walk", mu=0.1, sigma=1.0, init_dist=pm.Normal.dist(0.0, 1.0), steps=4)
        pm.AR("ar", rho=[0.5, -0.2], sigma=1.0, init_dist=pm.Normal.dist(0.0, 1.0), steps=3)
        pm.Truncated("trunc", pm.Normal.dist(0.0, 1.0), lower=-1.0, upper=1.5)
    return model


def test_new_continuous_distributions_under_nuts():
    """NUTS recovers prior means (independent variables) within Monte Carlo error, without divergences."""
    model = _independent_continuous_model()
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        trace = pm.sample(draws=600, tune=400, chains=2, model=model, random_seed=3, progressbar=False)
    assert int(trace.sample_stats["diverging"].sum()) == 0
    post = trace.posterior
    cases = {
        "skew": st.skewnorm.mean(3.0),
        "wald_shift": 0.0,
        "walk": 0.1 * np.arange(5),
        "ar": np.zeros(5),
        "trunc": st.truncnorm.mean(-1.0, 1.5),
        "mvt": np.array([0.0, 1.0]),
    }
    for name, expected in cases.items():
        x = post[name].values.reshape(-1, *post[name].shape[2:])
        # a generous effective sample size of a tenth of the draws
        err = 5 * x.std(0) / np.sqrt(x.shape[0] / 10)
        assert np.all(np.abs(x.mean(0) - expected) < err), name


def test_von_mises_under_nuts():
    """Alone: next to other variables, the circular transform's unbounded direction (every turn of the
    circle is the same angle) lets the adapted mass matrix drift and NUTS diverges."""
    with pm.Model() as model:
        pm.VonMises("angle", mu=3.0, kappa=4.0)
    trace = pm.sample(draws=500, tune=300, chains=2, model=model, random_seed=3, progressbar=False)
    assert int(trace.sample_stats["diverging"].sum()) == 0
    angle = trace.posterior["angle"].values.ravel()
    assert np.all(np.abs(angle) <= np.pi)
    assert abs(np.arctan2(np.sin(angle).mean(), np.cos(angle).mean()) - 3.0) < 0.1


def test_discrete_distributions_as_observed_in_a_fit():
    model = _observed_discrete_model()
    approx = pm.fit(500, model=model, random_seed=1, progressbar=False)
    assert np.all(np.isfinite(approx.hist))
    assert "ol_probs" in [str(d.name) for d in model.deterministics]


def test_ordered_probabilities_are_recorded():
    with pm.Model() as model:
        eta = pm.Normal("eta", 0.0, 1.0)
        pm.OrderedLogistic("y", eta=eta, cutpoints=np.array([-1.0, 1.0]), observed=[0, 1, 2])
        pm.OrderedProbit("z", eta=eta, cutpoints=np.array([-1.0, 1.0]), observed=[0, 1], compute_p=False)
    value = model["y_probs"].eval({eta: 0.0})
    np.testing.assert_allclose(value, _ordered_logistic_probs(np.array(0.0), [-1.0, 1.0]))
    assert "z_probs" not in model


def test_observed_time_series_take_their_length_from_the_data():
    data = np.cumsum(np.random.default_rng(1).normal(size=(2, 12)), axis=-1)
    with pm.Model() as model:
        sigma = pm.HalfNormal("sigma", 1.0)
        pm.GaussianRandomWalk("walk", sigma=sigma, init_dist=pm.Normal.dist(0.0, 5.0), observed=data)
        pm.AR("ar", rho=[0.9], sigma=sigma, init_dist=pm.Normal.dist(0.0, 5.0), observed=data)
    assert model.observed_rv_info["walk"].dist.steps == 11
    assert model.observed_rv_info["ar"].dist.steps == 11
    assert np.isfinite(model.compile_logp()(model.initial_point()))


def test_grw_without_init_dist_warns_like_pymc():
    with pytest.warns(UserWarning, match="init_dist not given.*Normal.dist\\(0, 100\\)"):
        dist = pm.GaussianRandomWalk.dist(sigma=1.0, steps=3)
    assert dist.shape == (4,)


# --------------------------------------------------------------- transforms
def test_zero_sum_transform_is_an_isometry_onto_the_zero_sum_vectors():
    rng = np.random.default_rng(3)
    for axes, shape in ((1, (4, 5)), (2, (3, 4))):
        transform = ZeroSumTransform(axes)
        y = rng.normal(size=transform.unconstrained_shape(shape))
        x = evaluate(transform.backward(pt.as_tensor_variable(y)))
        assert x.shape == shape
        for axis in range(-axes, 0):
            np.testing.assert_allclose(x.sum(axis), 0.0, atol=1e-12)
        np.testing.assert_allclose(evaluate(transform.forward(pt.as_tensor_variable(x))), y, atol=1e-12)
        # orthonormal columns: lengths are kept, so the log-Jacobian on the subspace is 0
        np.testing.assert_allclose(np.linalg.norm(x), np.linalg.norm(y), rtol=1e-12)
    assert float(np.sum(evaluate(ZeroSumTransform(1).log_jac_det(pt.as_tensor_variable(np.ones(3)))))) == 0.0


def test_circular_transform_wraps_angles():
    y = np.array([-7.0, 0.5, 4.0, 10.0])
    x = evaluate(circular.backward(pt.as_tensor_variable(y)))
    assert np.all(np.abs(x) <= np.pi)
    np.testing.assert_allclose(np.cos(x), np.cos(y), atol=1e-12)
    np.testing.assert_allclose(np.sin(x), np.sin(y), atol=1e-12)


def test_truncated_transform_keeps_the_base_bounds():
    t = pm.Truncated.dist(pm.Gamma.dist(2.0, 1.0), upper=3.0).default_transform()
    assert isinstance(t, IntervalTransform)
    assert float(t.lower.eval()) == 0.0 and float(t.upper.eval()) == 3.0
    t = pm.Truncated.dist(pm.Beta.dist(2.0, 2.0), lower=0.2).default_transform()
    assert float(t.lower.eval()) == 0.2 and float(t.upper.eval()) == 1.0
    assert pm.Truncated.dist(pm.Poisson.dist(2.0), lower=1).default_transform() is None
    assert pm.Censored.dist(N01(), lower=0.0).default_transform() is None


# -------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: pm.SkewNormal.dist(0.0, -1.0, 1.0), r"sigma=-1.0 is invalid: sigma must be positive"),
        (lambda: pm.Wald.dist(mu=-1.0, lam=1.0), r"mu=-1.0 is invalid: mu must be positive"),
        (lambda: pm.Wald.dist(mu=1.0, lam=1.0, phi=1.0), r"Wald: give two of mu, lam, phi"),
        (lambda: pm.Wald.dist(lam=1.0), r"Wald needs mu"),
        (lambda: pm.VonMises.dist(0.0, -2.0), r"kappa=-2.0 is invalid: kappa must be non-negative"),
        (lambda: pm.MvStudentT.dist(nu=0.0, scale=np.eye(2)), r"nu=0.0 is invalid: nu must be positive"),
        (lambda: pm.MvStudentT.dist(nu=3.0), r"MvStudentT needs exactly one of scale, tau, chol"),
        (lambda: pm.MvStudentT.dist(nu=3.0, scale=np.array([[1.0, 2.0], [2.0, 1.0]])), r"scale is invalid: it must be positive definite"),
        (lambda: pm.DirichletMultinomial.dist(n=5, a=[1.0, -1.0]), r"a=\[ 1. -1.\] is invalid: a must be positive"),
        (lambda: pm.DirichletMultinomial.dist(n=-1, a=[1.0, 1.0]), r"n=-1 is invalid"),
        (lambda: pm.ZeroInflatedBinomial.dist(1.5, 5, 0.5), r"psi=1.5 is invalid: psi must lie in \[0, 1\]"),
        (lambda: pm.ZeroInflatedNegativeBinomial.dist(0.5, mu=2.0, alpha=-1.0), r"alpha=-1.0 is invalid"),
        (lambda: pm.HurdlePoisson.dist(-0.1, 2.0), r"psi=-0.1 is invalid"),
        (lambda: pm.HurdleGamma.dist(0.5, alpha=2.0, beta=0.0), r"beta=0.0 is invalid: beta must be positive"),
        (lambda: pm.HurdleLogNormal.dist(0.5, 0.0, -1.0), r"sigma=-1.0 is invalid"),
        (lambda: pm.OrderedLogistic.dist(0.0, [1.0, 0.0]), r"cutpoints=\[1. 0.\] is invalid: cutpoints must be strictly increasing"),
        (lambda: pm.OrderedProbit.dist(0.0, [-1.0, 1.0], sigma=-1.0), r"sigma=-1.0 is invalid"),
        (lambda: pm.GaussianRandomWalk.dist(sigma=-1.0, init_dist=N01(), steps=3), r"sigma=-1.0 is invalid"),
        (lambda: pm.GaussianRandomWalk.dist(sigma=1.0, init_dist=N01()), r"GaussianRandomWalk needs steps= or a shape"),
        (lambda: pm.GaussianRandomWalk.dist(sigma=1.0, init_dist=N01(), steps=0), r"steps=0 is invalid"),
        (lambda: pm.GaussianRandomWalk.dist(sigma=1.0, init_dist=N01(), shape=(1,)), r"length 1 leaves no steps"),
        (lambda: pm.GaussianRandomWalk.dist(init_dist=pm.MvNormal.dist(np.zeros(2), np.eye(2)), steps=2), r"init_dist must be univariate"),
        (lambda: pm.AR.dist(rho=[0.5, 0.2], sigma=-1.0, init_dist=N01(), steps=3), r"sigma=-1.0 is invalid"),
        (lambda: pm.AR.dist(rho=[0.5, 0.2], ar_order=3, init_dist=N01(), steps=3), r"AR: rho has 2 coefficients"),
        (lambda: pm.AR.dist(rho=[1.0], constant=True, init_dist=N01(), steps=3), r"at least one coefficient besides the constant"),
        (lambda: pm.AR.dist(rho=[0.5, 0.2], init_dist=pm.Normal.dist(0.0, 1.0, shape=3), steps=3), r"init_dist of shape \(3,\) must have 2"),
        (lambda: pm.ZeroSumNormal.dist(sigma=1.0), r"ZeroSumNormal needs shape=, dims= or support_shape="),
        (lambda: pm.ZeroSumNormal.dist(sigma=-1.0, shape=3), r"sigma=-1.0 is invalid"),
        (lambda: pm.ZeroSumNormal.dist(shape=(3,), n_zerosum_axes=0), r"n_zerosum_axes=0 is invalid"),
        (lambda: pm.ZeroSumNormal.dist(shape=(1,)), r"axes of length 2 or more"),
        (lambda: pm.Truncated.dist(N01()), r"Truncated: give lower, upper or both"),
        (lambda: pm.Truncated.dist(N01(), lower=2.0, upper=1.0), r"upper=2.0|upper=1.0 is invalid: upper must be greater than lower"),
        (lambda: pm.Censored.dist(pm.MvNormal.dist(np.zeros(2), np.eye(2)), lower=0.0), r"Censored: dist must be univariate"),
        (lambda: pm.Censored.dist(3.0, lower=0.0), r"Censored: dist must be an unnamed distribution"),
    ],
)
def test_invalid_parameters_are_named(build, message):
    with pytest.raises((ValueError, TypeError), match=message):
        build()


def test_invalid_parameter_in_a_model_names_the_variable():
    with pm.Model():
        with pytest.raises(ValueError, match=r"^ZeroInflatedBinomial 'y': parameter psi=2.0 is invalid"):
            pm.ZeroInflatedBinomial("y", 2.0, 5, 0.5, observed=[0, 1])
        with pytest.raises(ValueError, match=r"^Wald 'w': parameter lam=-3.0 is invalid"):
            pm.Wald("w", mu=1.0, lam=-3.0)
        with pytest.raises(TypeError, match=r"^Truncated 't': Truncated: dist must be an unnamed distribution"):
            pm.Truncated("t", pm.Normal("named", 0.0, 1.0), lower=0.0)


def test_observed_outside_the_support_of_new_distributions_is_named():
    with pm.Model():
        with pytest.raises(ValueError, match=r"HurdlePoisson 'y': observed value -1 at index \(2,\)"):
            pm.HurdlePoisson("y", 0.5, 2.0, observed=[0, 1, -1])
        with pytest.raises(TypeError, match=r"observed value 0.5 at index \(0, 0\) is not an integer"):
            pm.DirichletMultinomial("c", n=2, a=[1.0, 1.0], observed=[[0.5, 1.5]])


# ------------------------------------------------------- draw, logp, logcdf
def test_draw_a_distribution():
    x = pm.draw(pm.Normal.dist(1.0, 2.0, shape=3), draws=4000, random_seed=1)
    assert x.shape == (4000, 3)
    np.testing.assert_array_equal(x, pm.draw(pm.Normal.dist(1.0, 2.0, shape=3), draws=4000, random_seed=1))
    assert not np.array_equal(x, pm.draw(pm.Normal.dist(1.0, 2.0, shape=3), draws=4000, random_seed=2))
    single = pm.draw(pm.Poisson.dist(3.0), random_seed=1)
    assert single.shape == () and single.dtype == np.int64


def test_draw_model_variables_draws_their_ancestors_first():
    with pm.Model() as model:
        mu = pm.Normal("mu", 10.0, 0.5)
        x = pm.Normal("x", mu, 1.0, shape=2)
        y = pm.Normal("y", x.sum(), 1.0, observed=[0.0])
        det = pm.Deterministic("det", x - mu)
    n = 10_000
    mu_draws, x_draws, det_draws, y_draws = pm.draw([mu, x, det, y], draws=n, random_seed=3)
    assert x_draws.shape == (n, 2) and y_draws.shape == (n, 1)
    # the same draws of mu in all of them
    np.testing.assert_allclose(det_draws, x_draws - mu_draws[:, None])
    _within_mc_error(x_draws, 10.0, 1.25)
    _within_mc_error(det_draws, 0.0, 1.0)
    _within_mc_error(y_draws[:, 0], 20.0, 4 * 0.25 + 2 + 1)
    assert model.observed_RVs[0] is y


def test_draw_an_expression_of_dist_tensors():
    d = pm.Normal.dist(0.0, 1.0)
    x = pm.draw(pt.exp(d) + d - d, draws=5000, random_seed=1)
    _within_mc_error(np.log(x), 0.0, 1.0)
    hierarchical = pm.Normal.dist(mu=pm.Normal.dist(5.0, 3.0), sigma=4.0)
    _within_mc_error(pm.draw(hierarchical, draws=5000, random_seed=2), 5.0, 25.0)


def test_draw_errors():
    with pytest.raises(ValueError, match="draws must be a positive integer, got 0"):
        pm.draw(pm.Normal.dist(), draws=0)
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        pm.draw(pm.Normal.dist(), size=3)
    with pytest.raises(TypeError, match="cannot draw 'x'"):
        pm.draw("x")


def test_dist_is_usable_as_a_tensor():
    d = pm.Normal.dist(0.0, 1.0, shape=3)
    assert isinstance(pt.as_tensor_variable(d), pt.TensorVariable)
    assert pt.as_tensor_variable(d) is d.as_tensor()
    np.testing.assert_allclose((d - d).eval(), 0.0)  # the same draw wherever it appears
    assert not np.array_equal(d.eval(), d.eval())  # each evaluation draws anew
    assert (2.0 * d + 1.0).eval().shape == (3,)
    assert d[0].eval().shape == ()
    with pytest.raises(TypeError, match="not iterable"):
        list(d)


def test_logp_and_logcdf_return_graphs():
    d = pm.Gamma.dist(2.0, 1.5)
    logp = pm.logp(d, np.array([0.5, 1.0]))
    assert isinstance(logp, pt.TensorVariable)
    np.testing.assert_allclose(logp.eval(), st.gamma.logpdf([0.5, 1.0], 2.0, scale=1 / 1.5))
    value = pt.dscalar("value")
    logcdf = pm.logcdf(d, value)
    assert float(logcdf.eval({value: 1.0})) == pytest.approx(st.gamma.logcdf(1.0, 2.0, scale=1 / 1.5))
    # the tensor of a .dist() carries its distribution
    assert float(pm.logp(d.as_tensor(), 1.0).eval()) == pytest.approx(st.gamma.logpdf(1.0, 2.0, scale=1 / 1.5))


def test_logp_of_model_variables():
    with pm.Model():
        mu = pm.Normal("mu", 0.0, 1.0)
        x = pm.Normal("x", mu, 2.0)
        y = pm.Poisson("y", pm.math.exp(mu), observed=[1, 3])
        got = pm.logp(x, 1.0)
        np.testing.assert_allclose(got.eval({mu: 0.5}), st.norm.logpdf(1.0, 0.5, 2.0))
        np.testing.assert_allclose(pm.logp(y, [1, 3]).eval({mu: 0.0}), st.poisson.logpmf([1, 3], 1.0))
        np.testing.assert_allclose(pm.logcdf(x, 0.5).eval({mu: 0.5}), np.log(0.5))
        with pytest.raises(TypeError, match="pm.logp needs a distribution.*an expression of variables has no distribution"):
            pm.logp(mu + 1.0, 0.0)


# ------------------------------------------------------- debug, basic_RVs
def test_debug_names_the_variables_whose_logp_is_not_finite(capsys):
    with pm.Model() as model:
        s = pm.Normal("s", -1.0, 1.0)
        pm.Normal("ok", 0.0, 1.0)
        pm.Normal("y", 0.0, s, observed=[0.5, 0.1])
        pm.Potential("pot", pm.math.log(s))
    model.debug()
    out = capsys.readouterr().out
    assert "2 of 4 log-density terms are not finite" in out
    assert re.search(r"y \(Normal, observed\): logp is nan at index \(0,\), value 0.5; parameters: mu=0, sigma=-1; "
                     r"sigma=-1 is invalid: sigma must be positive", out)
    assert "pot (potential): nan" in out
    assert "ok" not in out
    model.debug(verbose=True)
    assert "  ok: -0.918939" in capsys.readouterr().out


def test_debug_explains_values_outside_the_support(capsys):
    with pm.Model() as model:
        a = pm.Normal("a", 0.0, 1.0)
        pm.Uniform("u", lower=a + 1.0, upper=2.0 + a, transform=None, initval=0.0)
    model.debug()
    out = capsys.readouterr().out
    assert "u (Uniform, free): logp is -inf, value 0" in out
    assert "lower=1, upper=2" in out
    with pm.Model() as fine:
        pm.Normal("x", 0.0, 1.0)
    fine.debug()
    assert "all 1 log-density terms are finite" in capsys.readouterr().out


def test_basic_rvs():
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 1.0)
        y = pm.Normal("y", mu, 1.0, observed=[0.1])
        pm.Deterministic("d", mu + 1)
        z = pm.Normal("z", 0.0, 1.0)
    assert model.basic_RVs == [mu, z, y]


# -------------------------------------------------------------------- math
def test_math_helpers():
    a, b = np.array([0.5, -3.0, 40.0]), np.array([-1.0, -3.5, -np.inf])
    np.testing.assert_allclose(pm.math.logdiffexp(a, b).eval(), np.log(np.exp(a) - np.exp(b)), rtol=1e-12)
    np.testing.assert_allclose(pm.math.logaddexp(a, b).eval(), np.logaddexp(a, b))
    x = np.array([-800.0, -3.0, 0.0, 30.0, 800.0])
    np.testing.assert_allclose(pm.math.log1pexp(x).eval(), np.logaddexp(0.0, x))
    np.testing.assert_allclose(pm.math.invprobit(x).eval(), st.norm.cdf(x))
    np.testing.assert_allclose(pm.math.log_invprobit(np.array([-60.0, -6.0, 0.0, 4.0])).eval(),
                               st.norm.logcdf([-60.0, -6.0, 0.0, 4.0]), rtol=1e-12)
    np.testing.assert_allclose(pm.math.probit(np.array([0.025, 0.5, 0.9])).eval(), st.norm.ppf([0.025, 0.5, 0.9]))
    m = np.array([[2.0, 0.5], [0.5, 1.0]])
    assert float(pm.math.det(m).eval()) == pytest.approx(np.linalg.det(m))
    np.testing.assert_allclose(pm.math.matrix_inverse(m).eval(), np.linalg.inv(m))
