"""Distributions: log-densities against scipy, forward-draw moments, support points, errors.

Each row of ``LOGP_CASES`` builds a distribution, a table of values and the
scipy reference. The log-density of the whole table is one graph, evaluated
both by PyTensor (``FAST_COMPILE``) and through the JAX bridge.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from scipy import special as sp
from scipy import stats as st

import varbayes as pm
from varbayes.compile import jaxify

FAST = "FAST_COMPILE"


def evaluate(outputs):
    return pytensor.function([], outputs, mode=FAST)()


def _logsumexp(a, axis=-1):
    return sp.logsumexp(a, axis=axis)


def _zip_logpmf(x, psi, mu):
    return np.where(x == 0, np.log((1 - psi) + psi * np.exp(-mu)), np.log(psi) + st.poisson.logpmf(x, mu))


def _truncnorm(x, mu, sigma, lower, upper):
    a = -np.inf if lower is None else (lower - mu) / sigma
    b = np.inf if upper is None else (upper - mu) / sigma
    return st.truncnorm.logpdf(x, a, b, loc=mu, scale=sigma)


def _mvnormal_batch(x, mu, cov):
    x, mu = np.broadcast_arrays(x, mu)
    out = np.empty(x.shape[:-1])
    for idx in np.ndindex(out.shape):
        out[idx] = st.multivariate_normal.logpdf(x[idx], mu[idx], cov)
    return out


COV = np.array([[2.0, 0.6, 0.1], [0.6, 1.0, -0.3], [0.1, -0.3, 0.5]])
MU3 = np.array([[0.0, 1.0, -1.0], [0.5, 0.5, 0.5]])
X3 = np.array([[[0.1, 0.2, 0.3]], [[-1.0, 2.0, 0.0]], [[3.0, -1.0, 1.0]]])  # (3, 1, 3) vs batch (2,)
SIMPLEX = np.array([[0.2, 0.3, 0.5], [0.01, 0.01, 0.98], [1 / 3, 1 / 3, 1 / 3]])
COUNTS = np.array([[2, 3, 5], [0, 0, 10], [4, 4, 2]])

# (id, distribution factory, values, scipy reference as a function of the values)
LOGP_CASES = [
    ("Normal", lambda: pm.Normal.dist(mu=[0.0, 1.5], sigma=2.0), [[-1.0, 0.3], [4.0, 1.5]],
     lambda x: st.norm.logpdf(x, [0.0, 1.5], 2.0)),
    ("Normal-tau", lambda: pm.Normal.dist(mu=1.0, tau=[0.25, 4.0]), [[-1.0, 0.3], [4.0, 1.5]],
     lambda x: st.norm.logpdf(x, 1.0, [2.0, 0.5])),
    ("HalfNormal", lambda: pm.HalfNormal.dist(sigma=[0.5, 2.0]), [[0.1, 3.0], [2.0, -1.0]],
     lambda x: st.halfnorm.logpdf(x, scale=[0.5, 2.0])),
    ("HalfNormal-tau", lambda: pm.HalfNormal.dist(tau=4.0), [0.1, 1.0, 2.5],
     lambda x: st.halfnorm.logpdf(x, scale=0.5)),
    ("Cauchy", lambda: pm.Cauchy.dist(alpha=[0.0, -1.0], beta=[1.0, 3.0]), [[-2.0, 0.5], [10.0, -1.0]],
     lambda x: st.cauchy.logpdf(x, [0.0, -1.0], [1.0, 3.0])),
    ("HalfCauchy", lambda: pm.HalfCauchy.dist(beta=[1.0, 2.5]), [[0.0, 0.5], [10.0, -1.0]],
     lambda x: st.halfcauchy.logpdf(x, scale=[1.0, 2.5])),
    ("StudentT", lambda: pm.StudentT.dist(nu=[1.5, 30.0], mu=1.0, sigma=2.0), [[-2.0, 0.5], [10.0, 1.0]],
     lambda x: st.t.logpdf(x, [1.5, 30.0], 1.0, 2.0)),
    ("StudentT-lam", lambda: pm.StudentT.dist(nu=4.0, mu=0.0, lam=[0.25, 4.0]), [[-2.0, 0.5], [10.0, 1.0]],
     lambda x: st.t.logpdf(x, 4.0, 0.0, [2.0, 0.5])),
    ("HalfStudentT", lambda: pm.HalfStudentT.dist(nu=[3.0, 10.0], sigma=1.5), [[0.0, 0.5], [10.0, -1.0]],
     lambda x: np.where(np.asarray(x) >= 0, np.log(2) + st.t.logpdf(x, [3.0, 10.0], 0.0, 1.5), -np.inf)),
    ("Laplace", lambda: pm.Laplace.dist(mu=[0.0, 2.0], b=[1.0, 0.5]), [[-2.0, 0.5], [10.0, 2.0]],
     lambda x: st.laplace.logpdf(x, [0.0, 2.0], [1.0, 0.5])),
    ("Logistic", lambda: pm.Logistic.dist(mu=[0.0, 2.0], s=[1.0, 0.5]), [[-2.0, 0.5], [300.0, -400.0]],
     lambda x: st.logistic.logpdf(x, [0.0, 2.0], [1.0, 0.5])),
    ("Uniform", lambda: pm.Uniform.dist(lower=-1.0, upper=[2.0, 3.0]), [[-2.0, 0.5], [1.0, 2.5]],
     lambda x: st.uniform.logpdf(x, -1.0, [3.0, 4.0])),
    ("TruncatedNormal-both", lambda: pm.TruncatedNormal.dist(mu=[0.0, 1.0], sigma=2.0, lower=-1.0, upper=2.0),
     [[-2.0, 0.5], [1.0, 1.9]], lambda x: _truncnorm(np.asarray(x), np.array([0.0, 1.0]), 2.0, -1.0, 2.0)),
    ("TruncatedNormal-tail", lambda: pm.TruncatedNormal.dist(mu=0.0, sigma=1.0, lower=6.0, upper=7.0),
     [6.1, 6.5, 8.0], lambda x: _truncnorm(np.asarray(x), 0.0, 1.0, 6.0, 7.0)),
    ("TruncatedNormal-lower", lambda: pm.TruncatedNormal.dist(mu=1.0, sigma=[1.0, 3.0], lower=0.0),
     [[-0.5, 0.5], [4.0, 0.1]], lambda x: _truncnorm(np.asarray(x), 1.0, np.array([1.0, 3.0]), 0.0, None)),
    ("TruncatedNormal-upper", lambda: pm.TruncatedNormal.dist(mu=1.0, sigma=2.0, upper=[0.0, 5.0]),
     [[-0.5, 0.5], [4.0, 0.1]], lambda x: _truncnorm(np.asarray(x), 1.0, 2.0, None, np.array([0.0, 5.0]))),
    ("Exponential", lambda: pm.Exponential.dist(lam=[0.5, 3.0]), [[0.1, 2.0], [-1.0, 0.0]],
     lambda x: st.expon.logpdf(x, scale=[2.0, 1 / 3.0])),
    ("Exponential-scale", lambda: pm.Exponential.dist(scale=[0.5, 3.0]), [[0.1, 2.0], [5.0, 0.0]],
     lambda x: st.expon.logpdf(x, scale=[0.5, 3.0])),
    ("Gamma", lambda: pm.Gamma.dist(alpha=[0.5, 3.0], beta=2.0), [[0.1, 2.0], [-1.0, 5.0]],
     lambda x: st.gamma.logpdf(x, [0.5, 3.0], scale=0.5)),
    ("Gamma-mu-sigma", lambda: pm.Gamma.dist(mu=[2.0, 1.0], sigma=1.0), [[0.1, 2.0], [3.0, 5.0]],
     lambda x: st.gamma.logpdf(x, [4.0, 1.0], scale=[0.5, 1.0])),
    ("InverseGamma", lambda: pm.InverseGamma.dist(alpha=[0.5, 3.0], beta=2.0), [[0.1, 2.0], [-1.0, 5.0]],
     lambda x: st.invgamma.logpdf(x, [0.5, 3.0], scale=2.0)),
    ("InverseGamma-mu-sigma", lambda: pm.InverseGamma.dist(mu=2.0, sigma=1.0), [0.1, 2.0, 5.0],
     lambda x: st.invgamma.logpdf(x, 6.0, scale=10.0)),
    ("Beta", lambda: pm.Beta.dist(alpha=[0.5, 3.0], beta=[2.0, 1.0]), [[0.1, 0.2], [0.9, 1.5]],
     lambda x: st.beta.logpdf(x, [0.5, 3.0], [2.0, 1.0])),
    ("Beta-mu-sigma", lambda: pm.Beta.dist(mu=0.25, sigma=0.1), [0.1, 0.5, 0.9],
     lambda x: st.beta.logpdf(x, 0.25 * 17.75, 0.75 * 17.75)),
    ("LogNormal", lambda: pm.LogNormal.dist(mu=[0.0, 1.0], sigma=[0.5, 2.0]), [[0.1, 2.0], [-1.0, 5.0]],
     lambda x: st.lognorm.logpdf(x, [0.5, 2.0], scale=np.exp([0.0, 1.0]))),
    ("LogNormal-tau", lambda: pm.LogNormal.dist(mu=0.5, tau=4.0), [0.1, 2.0, 5.0],
     lambda x: st.lognorm.logpdf(x, 0.5, scale=np.exp(0.5))),
    ("Weibull", lambda: pm.Weibull.dist(alpha=[0.8, 2.0], beta=[1.0, 3.0]), [[0.1, 2.0], [-1.0, 5.0]],
     lambda x: st.weibull_min.logpdf(x, [0.8, 2.0], scale=[1.0, 3.0])),
    ("ChiSquared", lambda: pm.ChiSquared.dist(nu=[1.0, 5.0]), [[0.1, 2.0], [-1.0, 5.0]],
     lambda x: st.chi2.logpdf(x, [1.0, 5.0])),
    ("Bernoulli", lambda: pm.Bernoulli.dist(p=[0.2, 1.0]), [[0, 1], [1, 0], [2, 1]],
     lambda x: st.bernoulli.logpmf(x, [0.2, 1.0])),
    ("Bernoulli-logit", lambda: pm.Bernoulli.dist(logit_p=[-1.0, 3.0]), [[0, 1], [1, 0]],
     lambda x: st.bernoulli.logpmf(x, sp.expit([-1.0, 3.0]))),
    ("Binomial", lambda: pm.Binomial.dist(n=[5, 10], p=[0.3, 0.0]), [[0, 0], [5, 3], [6, -1]],
     lambda x: st.binom.logpmf(x, [5, 10], [0.3, 0.0])),
    ("Binomial-logit", lambda: pm.Binomial.dist(n=8, logit_p=[-1.0, 2.0]), [[0, 8], [5, 3]],
     lambda x: st.binom.logpmf(x, 8, sp.expit([-1.0, 2.0]))),
    ("BetaBinomial", lambda: pm.BetaBinomial.dist(alpha=[0.5, 2.0], beta=3.0, n=[10, 4]), [[0, 4], [7, 5]],
     lambda x: st.betabinom.logpmf(x, [10, 4], [0.5, 2.0], 3.0)),
    ("Poisson", lambda: pm.Poisson.dist(mu=[0.5, 20.0]), [[0, 25], [3, -1]],
     lambda x: st.poisson.logpmf(x, [0.5, 20.0])),
    ("NegativeBinomial", lambda: pm.NegativeBinomial.dist(mu=[2.0, 10.0], alpha=[0.5, 4.0]), [[0, 25], [3, 7]],
     lambda x: st.nbinom.logpmf(x, [0.5, 4.0], np.array([0.5, 4.0]) / np.array([2.5, 14.0]))),
    ("NegativeBinomial-n-p", lambda: pm.NegativeBinomial.dist(n=3.0, p=[0.3, 0.8]), [[0, 25], [3, 7]],
     lambda x: st.nbinom.logpmf(x, 3.0, [0.3, 0.8])),
    ("Geometric", lambda: pm.Geometric.dist(p=[0.3, 1.0]), [[1, 1], [4, 2], [0, 0]],
     lambda x: st.geom.logpmf(x, [0.3, 1.0])),
    ("DiscreteUniform", lambda: pm.DiscreteUniform.dist(lower=-2, upper=[3, 10]), [[-2, 10], [4, 0]],
     lambda x: st.randint.logpmf(x, -2, np.array([3, 10]) + 1)),
    ("ZeroInflatedPoisson", lambda: pm.ZeroInflatedPoisson.dist(psi=[0.3, 0.9], mu=3.0), [[0, 0], [2, 5]],
     lambda x: _zip_logpmf(np.asarray(x), np.array([0.3, 0.9]), 3.0)),
    ("Categorical", lambda: pm.Categorical.dist(p=[[0.2, 0.3, 0.5], [0.1, 0.1, 0.8]]), [[0, 2], [1, 0], [3, -1]],
     lambda x: np.where((np.asarray(x) >= 0) & (np.asarray(x) <= 2),
                        np.log(np.take_along_axis(np.array([[0.2, 0.3, 0.5], [0.1, 0.1, 0.8]])[None],
                                                  np.clip(np.asarray(x), 0, 2)[..., None], -1)[..., 0]), -np.inf)),
    ("MvNormal-cov", lambda: pm.MvNormal.dist(mu=MU3, cov=COV), X3, lambda x: _mvnormal_batch(x, MU3, COV)),
    ("MvNormal-chol", lambda: pm.MvNormal.dist(mu=MU3, chol=np.linalg.cholesky(COV)), X3,
     lambda x: _mvnormal_batch(x, MU3, COV)),
    ("MvNormal-chol-upper", lambda: pm.MvNormal.dist(mu=MU3, chol=np.linalg.cholesky(COV).T, lower=False), X3,
     lambda x: _mvnormal_batch(x, MU3, COV)),
    ("MvNormal-tau", lambda: pm.MvNormal.dist(mu=MU3, tau=np.linalg.inv(COV)), X3,
     lambda x: _mvnormal_batch(x, MU3, COV)),
    ("Dirichlet", lambda: pm.Dirichlet.dist(a=[0.5, 2.0, 3.0]), SIMPLEX,
     lambda x: np.array([st.dirichlet.logpdf(v, [0.5, 2.0, 3.0]) for v in x])),
    ("Dirichlet-batch", lambda: pm.Dirichlet.dist(a=[[0.5, 2.0, 3.0], [1.0, 1.0, 1.0]]), SIMPLEX[:, None],
     lambda x: np.array([[st.dirichlet.logpdf(v[0], a) for a in ([0.5, 2.0, 3.0], [1.0, 1.0, 1.0])] for v in x])),
    ("Multinomial", lambda: pm.Multinomial.dist(n=10, p=[0.2, 0.3, 0.5]), np.vstack([COUNTS, [[1, 1, 1]]]),
     lambda x: st.multinomial.logpmf(x, 10, [0.2, 0.3, 0.5])),
    ("Mixture-list", lambda: pm.Mixture.dist(w=[0.3, 0.7], comp_dists=[pm.Normal.dist(-1.0, 0.5), pm.Gamma.dist(2.0, 1.0)]),
     [-1.0, 0.5, 3.0],
     lambda x: _logsumexp(np.stack([np.log(0.3) + st.norm.logpdf(x, -1, 0.5),
                                    np.log(0.7) + st.gamma.logpdf(x, 2.0)], -1))),
    ("Mixture-stacked-Poisson", lambda: pm.Mixture.dist(w=[0.4, 0.6], comp_dists=pm.Poisson.dist(mu=[1.0, 6.0])),
     [0, 3, 9], lambda x: _logsumexp(np.log([0.4, 0.6]) + st.poisson.logpmf(np.asarray(x)[:, None], [1.0, 6.0]))),
    ("NormalMixture", lambda: pm.NormalMixture.dist(w=[0.2, 0.8], mu=[-0.3, 0.5], sigma=[0.1, 1.0]),
     [-0.3, 0.0, 2.0], lambda x: _logsumexp(np.log([0.2, 0.8]) + st.norm.logpdf(np.asarray(x)[:, None], [-0.3, 0.5], [0.1, 1.0]))),
    ("NormalMixture-batch", lambda: pm.NormalMixture.dist(w=[[0.2, 0.8], [0.5, 0.5]], mu=[-0.3, 0.5], sigma=1.0),
     [[-0.3, 0.0], [2.0, 1.0]],
     lambda x: _logsumexp(np.log([[0.2, 0.8], [0.5, 0.5]]) + st.norm.logpdf(np.asarray(x)[..., None], [-0.3, 0.5], 1.0))),
]


@pytest.mark.parametrize("case", LOGP_CASES, ids=[c[0] for c in LOGP_CASES])
def test_logp_matches_scipy(case):
    _, factory, values, reference = case
    dist = factory()
    values = np.asarray(values)
    value_var = pt.as_tensor_variable(values.astype(dist.dtype))
    logp = dist.logp(value_var)
    expected = reference(values)
    with np.errstate(all="ignore"):
        got = evaluate(logp)
    np.testing.assert_allclose(got, expected, rtol=1e-7, atol=1e-10)
    # the same graph through the JAX bridge
    (got_jax,) = jaxify([], [logp])()
    np.testing.assert_allclose(np.asarray(got_jax), expected, rtol=1e-7, atol=1e-10)


# ------------------------------------------------------------------ moments

N_DRAWS = 20_000

# (id, factory, analytic mean, analytic variance or None when infinite/undefined)
MOMENT_CASES = [
    ("Normal", lambda: pm.Normal.dist(1.0, 2.0), 1.0, 4.0),
    ("HalfNormal", lambda: pm.HalfNormal.dist(2.0), 2.0 * np.sqrt(2 / np.pi), 4.0 * (1 - 2 / np.pi)),
    ("StudentT", lambda: pm.StudentT.dist(nu=6.0, mu=1.0, sigma=2.0), 1.0, 4.0 * 6 / 4),
    ("HalfStudentT", lambda: pm.HalfStudentT.dist(nu=7.0, sigma=1.0), st.halft.mean(7.0) if hasattr(st, "halft") else None, None),
    ("Laplace", lambda: pm.Laplace.dist(1.0, 0.5), 1.0, 2 * 0.25),
    ("Logistic", lambda: pm.Logistic.dist(1.0, 0.5), 1.0, 0.25 * np.pi**2 / 3),
    ("Uniform", lambda: pm.Uniform.dist(-1.0, 3.0), 1.0, 16 / 12),
    ("TruncatedNormal", lambda: pm.TruncatedNormal.dist(0.5, 2.0, lower=-1.0, upper=2.0),
     st.truncnorm.mean(-0.75, 0.75, 0.5, 2.0), st.truncnorm.var(-0.75, 0.75, 0.5, 2.0)),
    ("TruncatedNormal-tail", lambda: pm.TruncatedNormal.dist(0.0, 1.0, lower=4.0),
     st.truncnorm.mean(4.0, np.inf), st.truncnorm.var(4.0, np.inf)),
    ("Exponential", lambda: pm.Exponential.dist(2.0), 0.5, 0.25),
    ("Gamma", lambda: pm.Gamma.dist(mu=2.0, sigma=0.5), 2.0, 0.25),
    ("InverseGamma", lambda: pm.InverseGamma.dist(mu=2.0, sigma=0.5), 2.0, 0.25),
    ("Beta", lambda: pm.Beta.dist(mu=0.3, sigma=0.1), 0.3, 0.01),
    ("LogNormal", lambda: pm.LogNormal.dist(0.0, 0.5), np.exp(0.125), (np.exp(0.25) - 1) * np.exp(0.25)),
    ("Weibull", lambda: pm.Weibull.dist(2.0, 3.0), st.weibull_min.mean(2.0, scale=3.0), st.weibull_min.var(2.0, scale=3.0)),
    ("ChiSquared", lambda: pm.ChiSquared.dist(4.0), 4.0, 8.0),
    ("Bernoulli", lambda: pm.Bernoulli.dist(logit_p=0.5), sp.expit(0.5), sp.expit(0.5) * (1 - sp.expit(0.5))),
    ("Binomial", lambda: pm.Binomial.dist(10, 0.3), 3.0, 2.1),
    ("BetaBinomial", lambda: pm.BetaBinomial.dist(2.0, 3.0, 10), st.betabinom.mean(10, 2, 3), st.betabinom.var(10, 2, 3)),
    ("Poisson", lambda: pm.Poisson.dist(4.0), 4.0, 4.0),
    ("NegativeBinomial", lambda: pm.NegativeBinomial.dist(mu=3.0, alpha=2.0), 3.0, 3.0 + 9.0 / 2.0),
    ("Geometric", lambda: pm.Geometric.dist(0.25), 4.0, 0.75 / 0.0625),
    ("DiscreteUniform", lambda: pm.DiscreteUniform.dist(-2, 5), 1.5, (8**2 - 1) / 12),
    ("ZeroInflatedPoisson", lambda: pm.ZeroInflatedPoisson.dist(0.6, 3.0), 1.8, 0.6 * 3.0 * (1 + 0.4 * 3.0)),
    ("Mixture", lambda: pm.Mixture.dist(w=[0.3, 0.7], comp_dists=[pm.Normal.dist(-1.0, 0.5), pm.Exponential.dist(1.0)]),
     0.3 * -1 + 0.7 * 1, 0.3 * (0.25 + 1) + 0.7 * 2 - 0.4**2),
    ("NormalMixture", lambda: pm.NormalMixture.dist(w=[0.2, 0.8], mu=[-0.3, 0.5], sigma=[0.1, 0.1]),
     0.2 * -0.3 + 0.8 * 0.5, 0.01 + 0.2 * 0.8 * 0.8**2),
]


def _draws(dist, n=N_DRAWS, seed=20240601):
    return np.asarray(evaluate(dist.random(size=n, random_seed=seed)))


@pytest.mark.parametrize("case", MOMENT_CASES, ids=[c[0] for c in MOMENT_CASES])
def test_forward_draws_moments(case):
    """Sample mean within 5 standard errors, sample variance within 5 of its standard errors."""
    _, factory, mean, var = case
    x = _draws(factory()).astype("float64")
    assert x.shape == (N_DRAWS,)
    sd = x.std()
    if mean is not None:
        assert abs(x.mean() - mean) < 5 * sd / np.sqrt(N_DRAWS)
    if var is not None:
        m4 = np.mean((x - x.mean()) ** 4)
        assert abs(x.var() - var) < 5 * np.sqrt((m4 - x.var() ** 2) / N_DRAWS)


def test_forward_draws_cauchy_quartiles():
    x = _draws(pm.Cauchy.dist(1.0, 2.0))
    # quartiles of Cauchy(1, 2) are 1 -/+ 2; 0.05 is about five standard errors
    np.testing.assert_allclose(np.quantile(x, [0.25, 0.5, 0.75]), [-1.0, 1.0, 3.0], atol=0.1)
    h = _draws(pm.HalfCauchy.dist(2.0))
    np.testing.assert_allclose(np.median(h), 2.0, atol=0.1)


def test_forward_draws_multivariate():
    n = 20_000
    mu = np.array([1.0, -1.0, 0.0])
    for dist in (pm.MvNormal.dist(mu, cov=COV), pm.MvNormal.dist(mu, chol=np.linalg.cholesky(COV)),
                 pm.MvNormal.dist(mu, tau=np.linalg.inv(COV))):
        x = _draws(dist, n)
        assert x.shape == (n, 3)
        assert np.all(np.abs(x.mean(0) - mu) < 5 * np.sqrt(np.diag(COV) / n))
        np.testing.assert_allclose(np.cov(x.T), COV, atol=0.06)
    a = np.array([0.5, 2.0, 3.5])
    x = _draws(pm.Dirichlet.dist(a), n)
    np.testing.assert_allclose(x.sum(-1), 1.0)
    np.testing.assert_allclose(x.mean(0), a / a.sum(), atol=0.01)
    p = np.array([0.2, 0.3, 0.5])
    c = _draws(pm.Multinomial.dist(10, p), n)
    assert np.all(c.sum(-1) == 10)
    np.testing.assert_allclose(c.mean(0), 10 * p, atol=0.05)
    # batched parameters broadcast against size
    b = _draws(pm.MvNormal.dist(MU3, cov=COV), 1000)
    assert b.shape == (1000, 2, 3)


def test_forward_draws_lkj():
    n, eta, draws = 4, 2.0, 20_000
    sd_dist = pm.Gamma.dist(alpha=4.0, beta=2.0)
    packed = _draws(pm.LKJCholeskyCov.dist(eta=eta, n=n, sd_dist=sd_dist), draws)
    assert packed.shape == (draws, n * (n + 1) // 2)
    chol = np.zeros((draws, n, n))
    chol[:, *np.tril_indices(n)] = packed
    cov = chol @ np.swapaxes(chol, -1, -2)
    stds = np.sqrt(np.diagonal(cov, axis1=-2, axis2=-1))
    corr = cov / (stds[..., :, None] * stds[..., None, :])
    np.testing.assert_allclose(stds.mean(0), 2.0, atol=0.03)
    off = corr[:, *np.triu_indices(n, 1)]
    # every correlation of LKJ(eta) is 2 Beta(b, b) - 1 with b = eta - 1 + n / 2: mean 0, E r^2 = 1 / (2 b + 1)
    np.testing.assert_allclose(off.mean(0), 0.0, atol=0.02)
    np.testing.assert_allclose((off**2).mean(0), 1 / (2 * eta + n - 1), rtol=0.05)
    corr_draws = _draws(pm.LKJCorr.dist(n=n, eta=eta), draws)
    np.testing.assert_allclose((corr_draws**2).mean(0), 1 / (2 * eta + n - 1), rtol=0.05)


# --------------------------------------------------------------- support points


SUPPORT_FACTORIES = [(c[0], c[1]) for c in LOGP_CASES] + [
    ("LKJCholeskyCov", lambda: pm.LKJCholeskyCov.dist(eta=2.0, n=3, sd_dist=pm.HalfNormal.dist(1.0))),
    ("LKJCorr", lambda: pm.LKJCorr.dist(n=3, eta=2.0)),
    ("Flat", lambda: pm.Flat.dist(shape=2)),
    ("HalfFlat", lambda: pm.HalfFlat.dist(shape=2)),
]


@pytest.mark.parametrize("case", SUPPORT_FACTORIES, ids=[c[0] for c in SUPPORT_FACTORIES])
def test_support_point_in_support(case):
    dist = case[1]()
    point = dist.support_point()
    transform = dist.default_transform()
    outputs = [dist.logp(point), point]
    if transform is not None:
        outputs.append(transform.forward(point))
    with np.errstate(all="ignore"):
        values = evaluate(outputs)
    assert np.all(np.isfinite(values[0])), values
    assert np.shape(values[1]) == dist.shape
    if transform is not None:
        assert np.all(np.isfinite(values[2]))


# ------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "build, name",
    [
        (lambda: pm.Normal.dist(0.0, -1.0), "sigma"),
        (lambda: pm.Normal.dist(0.0, tau=-1.0), "tau"),
        (lambda: pm.Normal.dist(np.nan, 1.0), "mu"),
        (lambda: pm.HalfNormal.dist(sigma=[1.0, 0.0]), "sigma"),
        (lambda: pm.Gamma.dist(alpha=-1.0, beta=1.0), "alpha"),
        (lambda: pm.Gamma.dist(mu=1.0, sigma=-1.0), "sigma"),
        (lambda: pm.Beta.dist(mu=1.5, sigma=0.1), "mu"),
        (lambda: pm.Beta.dist(mu=0.5, sigma=0.6), "sigma"),
        (lambda: pm.Uniform.dist(2.0, 1.0), "upper"),
        (lambda: pm.TruncatedNormal.dist(0.0, 1.0, lower=2.0, upper=1.0), "upper"),
        (lambda: pm.Exponential.dist(scale=0.0), "scale"),
        (lambda: pm.StudentT.dist(nu=0.0), "nu"),
        (lambda: pm.StudentT.dist(nu=1.0, lam=-2.0), "lam"),
        (lambda: pm.Bernoulli.dist(p=1.5), "p"),
        (lambda: pm.Binomial.dist(n=-1, p=0.5), "n"),
        (lambda: pm.Binomial.dist(n=2.5, p=0.5), "n"),
        (lambda: pm.Poisson.dist(mu=-1.0), "mu"),
        (lambda: pm.NegativeBinomial.dist(mu=1.0, alpha=0.0), "alpha"),
        (lambda: pm.Geometric.dist(p=0.0), "p"),
        (lambda: pm.DiscreteUniform.dist(3, 1), "upper"),
        (lambda: pm.ZeroInflatedPoisson.dist(psi=2.0, mu=1.0), "psi"),
        (lambda: pm.MvNormal.dist(np.zeros(2), cov=np.array([[1.0, 2.0], [2.0, 1.0]])), "cov"),
        (lambda: pm.MvNormal.dist(np.zeros(2), chol=-np.eye(2)), "chol"),
        (lambda: pm.Dirichlet.dist(a=[1.0, -1.0]), "a"),
        (lambda: pm.Multinomial.dist(n=3, p=[0.5, 1.5]), "p"),
        (lambda: pm.Mixture.dist(w=[-0.5, 1.5], comp_dists=[pm.Normal.dist(), pm.Normal.dist()]), "w"),
        (lambda: pm.LKJCholeskyCov.dist(eta=-1.0, n=2, sd_dist=pm.HalfNormal.dist()), "eta"),
        (lambda: pm.LKJCorr.dist(n=2, eta=0.0), "eta"),
    ],
)
def test_invalid_constant_parameter_names_it(build, name):
    with pytest.raises(ValueError, match=name):
        build()


def test_invalid_parameter_inside_model_names_variable_and_parameter():
    with pm.Model():
        with pytest.raises(ValueError, match=r"'x'.*sigma"):
            pm.Normal("x", 0, -1)
        with pytest.raises(ValueError, match=r"'k'.*p"):
            pm.Binomial("k", n=3, p=-0.1, observed=[1])


@pytest.mark.parametrize("cls, args", [(pm.Normal, (0.0, 1.0)), (pm.Gamma, (1.0, 1.0)), (pm.Poisson, (1.0,)),
                                       (pm.MvNormal, (np.zeros(2), np.eye(2)))])
def test_unknown_keyword_is_type_error(cls, args):
    with pytest.raises(TypeError, match="sgima"):
        cls.dist(*args, sgima=1.0)
    with pm.Model():
        with pytest.raises(TypeError, match=rf"{cls.__name__} 'x'.*sgima"):
            cls("x", *args, sgima=1.0)


@pytest.mark.parametrize(
    "build",
    [
        lambda: pm.Normal.dist(0.0, sigma=1.0, tau=1.0),
        lambda: pm.StudentT.dist(1.0, sigma=1.0, lam=1.0),
        lambda: pm.Exponential.dist(lam=1.0, scale=1.0),
        lambda: pm.Gamma.dist(alpha=1.0, beta=1.0, mu=1.0, sigma=1.0),
        lambda: pm.Beta.dist(alpha=1.0, mu=0.5, sigma=0.1),
        lambda: pm.Bernoulli.dist(p=0.5, logit_p=0.0),
        lambda: pm.NegativeBinomial.dist(mu=1.0, alpha=1.0, n=1.0, p=0.5),
        lambda: pm.MvNormal.dist(np.zeros(2), cov=np.eye(2), tau=np.eye(2)),
    ],
)
def test_exclusive_parameterisations(build):
    with pytest.raises(ValueError, match="only one|exactly one"):
        build()


def test_missing_parameters_are_type_errors():
    with pytest.raises(TypeError):
        pm.Gamma.dist(mu=1.0)
    with pytest.raises(TypeError):
        pm.Bernoulli.dist()
    with pytest.raises(TypeError):
        pm.NegativeBinomial.dist(n=3.0)


@pytest.mark.parametrize(
    "build",
    [
        lambda: pm.Normal.dist(mu=np.zeros(3), sigma=1.0, shape=4),
        lambda: pm.Normal.dist(mu=np.zeros(3), sigma=np.ones(2)),
        lambda: pm.MvNormal.dist(np.zeros(3), cov=np.eye(3), shape=(2, 4)),
        lambda: pm.Dirichlet.dist(np.ones(3), shape=(2, 4)),
        lambda: pm.Mixture.dist(w=[0.5, 0.5, 0.0], comp_dists=[pm.Normal.dist(), pm.Normal.dist()]),
    ],
)
def test_shape_mismatch(build):
    with pytest.raises(ValueError):
        build()


def test_shape_and_size_broadcast():
    assert pm.Normal.dist(np.zeros(3), 1.0, shape=(2, 3)).shape == (2, 3)
    assert pm.Normal.dist(0.0, 1.0, size=4).shape == (4,)
    assert pm.MvNormal.dist(np.zeros(3), cov=np.eye(3), size=2).shape == (2, 3)
    assert pm.Dirichlet.dist(np.ones((2, 4))).shape == (2, 4)
    assert pm.Multinomial.dist(n=[3, 4], p=[0.5, 0.5]).shape == (2, 2)
    assert pm.NormalMixture.dist(w=[0.5, 0.5], mu=[0.0, 1.0], sigma=1.0, shape=7).shape == (7,)


def test_dtype_is_accepted():
    assert pm.Normal.dist(0.0, 1.0, dtype="float32").dtype == "float32"
    assert pm.Poisson.dist(1.0, dtype="int32").dtype == "int32"
    with pytest.raises(TypeError):
        pm.Poisson.dist(1.0, dtype="float64")


def test_observed_errors():
    with pm.Model():
        with pytest.raises(ValueError, match="NaN"):
            pm.Normal("y", 0.0, 1.0, observed=[0.1, np.nan])
        with pytest.raises(TypeError, match="integer"):
            pm.Poisson("k", 2.0, observed=[1.0, 2.5])
        with pytest.raises(ValueError, match="shape"):
            pm.Normal("z", np.zeros(3), 1.0, observed=np.zeros(4))
        k = pm.Poisson("k_ok", 2.0, observed=[1.0, 2.0])
        assert k.dtype.startswith("int")


def test_outside_model_and_duplicate_names():
    with pytest.raises(TypeError, match="context"):
        pm.Normal("x", 0.0, 1.0)
    with pytest.raises(TypeError, match="name"):
        pm.Normal(0.0, 1.0)
    with pm.Model():
        pm.Normal("x", 0.0, 1.0)
        with pytest.raises(ValueError, match="already exists"):
            pm.HalfNormal("x", 1.0)


def test_lkj_sd_dist_must_be_unnamed_distribution():
    with pm.Model():
        s = pm.HalfNormal("s", 1.0)
        with pytest.raises(TypeError, match="sd_dist"):
            pm.LKJCholeskyCov("c", eta=1.0, n=2, sd_dist=s)
        with pytest.raises(ValueError, match="sd_dist"):
            pm.LKJCholeskyCov("c2", eta=1.0, n=2, sd_dist=pm.HalfNormal.dist(1.0, shape=3))


def test_every_distribution_in_one_model_has_finite_jax_gradients():
    """Parameters that are free variables, transforms and Jacobians, all through the JAX bridge."""
    import jax

    from varbayes.compile import compile_model

    with pm.Model() as model:
        mu = pm.Normal("mu", 0, 1)
        s = pm.HalfNormal("s", 1.0)
        pm.Cauchy("c", mu, s)
        pm.HalfCauchy("hc", s)
        pm.StudentT("t", 3.0, mu, s)
        pm.HalfStudentT("ht", 3.0, s)
        pm.Laplace("l", mu, s)
        pm.Logistic("lg", mu, s)
        pm.Uniform("u", -1, 2)
        pm.TruncatedNormal("tn", mu, s, lower=-1.0, upper=1.0)
        pm.TruncatedNormal("tn2", mu, s, lower=0.0)
        pm.Exponential("e", s)
        pm.Gamma("g", mu=s, sigma=1.0)
        pm.InverseGamma("ig", 3.0, s)
        pm.Beta("b", mu=0.5, sigma=0.2)
        pm.LogNormal("ln", mu, s)
        pm.Weibull("w", 2.0, s)
        pm.ChiSquared("chi", 3.0)
        chol, _, _ = pm.LKJCholeskyCov("L", eta=2.0, n=3, sd_dist=pm.HalfNormal.dist(1.0))
        pm.MvNormal("x", mu=np.zeros(3), chol=chol, observed=np.ones((4, 3)))
        pm.MvNormal("x2", mu=mu, cov=np.eye(2) * 2)
        pm.Dirichlet("d", np.ones(3))
        pm.LKJCorr("r", n=3, eta=1.5)
        pm.Mixture("mx", w=[0.3, 0.7], comp_dists=[pm.Normal.dist(mu, 1.0), pm.Normal.dist(2.0, s)])
        pm.NormalMixture("nm", w=[0.3, 0.7], mu=[mu, 1.0], sigma=[1.0, 2.0], observed=[0.1, 3.0])
        pm.Poisson("p", s, observed=[1, 2])
        pm.Binomial("bi", 5, logit_p=mu, observed=[0, 5])
        pm.NegativeBinomial("nb", mu=s, alpha=2.0, observed=[0, 4])
        pm.ZeroInflatedPoisson("zi", 0.5, s, observed=[0, 3])
        pm.BetaBinomial("bb", s, 2.0, 5, observed=[2])
        pm.Bernoulli("be", logit_p=mu, observed=[0, 1])
        pm.Geometric("ge", 0.3, observed=[1, 3])
        pm.Multinomial("mn", 5, [0.2, 0.8], observed=[1, 4])
        pm.Categorical("ca", p=[0.2, 0.8], observed=[1, 0])
        pm.DiscreteUniform("du", 0, 4, observed=[3])
    compiled = compile_model(model)
    value_and_grad = jax.jit(jax.value_and_grad(compiled.logdensity_fn))
    theta = jnp.asarray(compiled.initial_theta())
    noise = np.random.default_rng(0).normal(scale=0.3, size=theta.shape)
    for point in (theta, theta + noise):
        value, grad = value_and_grad(point)
        assert np.isfinite(value)
        assert np.all(np.isfinite(grad))


def test_mixture_weights_must_sum_to_one():
    with pytest.raises(ValueError, match="sum to 1"):
        pm.NormalMixture.dist(w=[0.5, 0.7], mu=[0.0, 1.0], sigma=[1.0, 1.0])


def test_variable_outside_model_is_named():
    with pytest.raises(TypeError, match="'lonely'"):
        pm.Normal("lonely", 0.0, 1.0)


def test_categorical_with_softmax_probabilities_uses_log_softmax():
    """p = softmax(x): the log-density equals the normalised one, computed via log_softmax."""
    import pytensor.tensor as pt
    from scipy.special import log_softmax as np_log_softmax

    logits = np.array([[1.0, 2.0, -0.5], [0.3, 0.0, 4.0]])
    x = pt.as_tensor_variable(logits)
    value = np.array([2, 0])
    via_softmax = pm.Categorical.dist(p=pt.special.softmax(x, axis=-1)).logp(value).eval()
    expected = np_log_softmax(logits, axis=-1)[np.arange(2), value]
    np.testing.assert_allclose(via_softmax, expected, rtol=1e-12)
    # unnormalised p is still normalised
    p = np.array([0.1, 0.1, 0.3])
    np.testing.assert_allclose(pm.Categorical.dist(p=p).logp(2).eval(), np.log(0.6), rtol=1e-12)
