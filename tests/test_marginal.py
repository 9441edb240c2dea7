"""Finite discrete free variables summed out of the log-density (varbayes.compile.marginal)."""

import jax
import numpy as np
import pytest
from scipy.special import gammaln, logsumexp
from scipy.stats import norm

import varbayes as pm
from varbayes.compile import compile_model
from varbayes.compile.marginal import MAX_CONFIGURATIONS, finite_support

# Yearly counts of UK coal-mining disasters, 1851-1962 (Jarrett 1979, as tabulated by
# Carlin, Gelfand and Smith 1992): 112 years, 191 disasters.
DISASTERS = np.array([
    4, 5, 4, 1, 0, 4, 3, 4, 0, 6, 3, 3, 4, 0, 2, 6, 3, 3, 5, 4, 5, 3, 1, 4, 4, 1, 5, 5,
    3, 4, 2, 5, 2, 2, 3, 4, 2, 1, 3, 2, 2, 1, 1, 1, 1, 3, 0, 0, 1, 0, 1, 1, 0, 0, 3, 1,
    0, 3, 2, 2, 0, 1, 1, 1, 0, 1, 0, 1, 0, 0, 0, 2, 1, 0, 0, 0, 1, 1, 0, 2, 3, 3, 1, 1,
    2, 1, 1, 1, 1, 2, 4, 2, 0, 0, 0, 1, 4, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 1,
])
YEARS = np.arange(1851, 1963)

# PyMC 6.4's compound step (Metropolis for the switch point, NUTS for the rates; 4 chains x
# 20,000 draws, seed 1; benchmarks/peers/pymc_switchpoint.py) is at total variation 0.0075
# from the exact posterior below. NUTS on the marginalised model, 4 chains x 2,000 draws
# (seed 3, the test below), is at 0.012; ADVI's draws (the switch year given each draw of
# the rates) at 0.053.
PYMC_TOTAL_VARIATION = 0.0075


def exact_switchpoint_posterior() -> np.ndarray:
    """P(switchpoint = year | data): with Exponential(1) priors each rate integrates in closed form.

    A segment of ``n`` years with ``S`` disasters contributes
    ``∫ e^-λ λ^S e^-nλ dλ = Γ(S + 1) / (n + 1)^(S + 1)`` (up to the data's factorials).
    """
    logp = []
    for s in YEARS:
        early, late = DISASTERS[YEARS < s], DISASTERS[YEARS >= s]
        logp.append(
            gammaln(early.sum() + 1) - (early.sum() + 1) * np.log(early.size + 1)
            + gammaln(late.sum() + 1) - (late.sum() + 1) * np.log(late.size + 1)
        )
    logp = np.asarray(logp)
    return np.exp(logp - logsumexp(logp))


def change_point_model():
    with pm.Model() as model:
        switchpoint = pm.DiscreteUniform("switchpoint", lower=1851, upper=1962)
        early_rate = pm.Exponential("early_rate", 1.0)
        late_rate = pm.Exponential("late_rate", 1.0)
        rate = pm.math.switch(YEARS < switchpoint, early_rate, late_rate)
        pm.Poisson("disasters", rate, observed=DISASTERS)
    return model


def test_change_point_marginal_logdensity_is_the_sum_over_years():
    model = change_point_model()
    compiled = compile_model(model)
    assert [v.name for v in compiled.ravel.vars] == ["early_rate", "late_rate"]
    assert compiled.enumerated.names == ("switchpoint",)
    log_rates = np.array([np.log(3.0), np.log(0.9)])
    rates = np.exp(log_rates)
    terms = []
    for s in YEARS:
        mu = np.where(YEARS < s, rates[0], rates[1])
        loglik = np.sum(DISASTERS * np.log(mu) - mu - gammaln(DISASTERS + 1))
        terms.append(-np.log(112) + loglik)
    expected = logsumexp(terms) + np.sum(-rates + log_rates)  # Exponential(1) priors and log Jacobians
    np.testing.assert_allclose(float(compiled.logdensity_fn(log_rates)), expected, rtol=1e-10)


def test_change_point_nuts_recovers_the_switch_year():
    model = change_point_model()
    with model:
        trace = pm.sample(2000, tune=1000, chains=4, random_seed=3, progressbar=False)
    s = trace.posterior["switchpoint"].values
    assert s.shape == (4, 2000) and s.dtype.kind == "i"
    sampled = np.bincount(s.ravel() - 1851, minlength=YEARS.size) / s.size
    exact = exact_switchpoint_posterior()
    total_variation = 0.5 * np.abs(sampled - exact).sum()
    assert total_variation < 0.1, total_variation
    assert YEARS[np.argmax(sampled)] == YEARS[np.argmax(exact)] == 1892
    early = trace.posterior["early_rate"].values.mean()
    late = trace.posterior["late_rate"].values.mean()
    assert 2.7 < early < 3.4 and 0.75 < late < 1.1


def bernoulli_mixture(y):
    with pm.Model() as model:
        z = pm.Bernoulli("z", 0.3)
        mu = pm.Normal("mu", 0.0, 1.0)
        pm.Normal("y", mu + 1.5 * z, 1.0, observed=y)
        pm.Deterministic("mean", mu + 1.5 * z)
    return model


def exact_bernoulli_mixture(y):
    """P(z = 1 | y) with mu ~ N(0, 1) integrated out: y ~ N(1.5 z, I + 11ᵀ)."""
    from scipy.stats import multivariate_normal

    cov = np.eye(len(y)) + 1.0
    like = [multivariate_normal(np.full(len(y), 1.5 * z), cov).logpdf(y) for z in (0, 1)]
    logw = np.log([0.7, 0.3]) + np.asarray(like)
    return float(np.exp(logw[1] - logsumexp(logw)))


def test_bernoulli_mixture_marginal_logdensity_matches_the_closed_form():
    y = np.array([1.8, 2.5, 1.2, 2.0])
    compiled = compile_model(bernoulli_mixture(y))
    mu = 0.4
    expected = norm.logpdf(mu) + logsumexp(
        [np.log(0.7) + norm.logpdf(y, mu).sum(), np.log(0.3) + norm.logpdf(y, mu + 1.5).sum()]
    )
    np.testing.assert_allclose(float(compiled.logdensity_fn(np.array([mu]))), expected, rtol=1e-12)
    grad = jax.grad(compiled.logdensity_fn)(jax.numpy.array([mu]))
    step = 1e-6
    numeric = (compiled.logdensity_fn(np.array([mu + step])) - compiled.logdensity_fn(np.array([mu - step]))) / (2 * step)
    np.testing.assert_allclose(float(grad[0]), float(numeric), rtol=1e-6)


def test_bernoulli_mixture_nuts_recovers_the_posterior_of_z():
    y = np.array([1.8, 2.5, 1.2, 2.0])
    expected = exact_bernoulli_mixture(y)
    assert 0.6 < expected < 0.7  # the data move z well away from its prior P(z = 1) = 0.3
    with bernoulli_mixture(y):
        trace = pm.sample(5000, tune=1000, chains=4, random_seed=5, progressbar=False)
    z = trace.posterior["z"].values
    assert set(np.unique(z)) <= {0, 1}
    # 20,000 draws of z given θ: the Rao-Blackwellised frequency's error is far below 0.02
    assert abs(z.mean() - expected) < 0.02, (z.mean(), expected)
    np.testing.assert_allclose(trace.posterior["mean"].values, trace.posterior["mu"].values + 1.5 * z)


def test_advi_on_the_marginalised_change_point_gives_sensible_rates():
    model = change_point_model()
    with model:
        approx = pm.fit(20_000, method="advi", random_seed=2, progressbar=False, obj_optimizer=pm.adam(learning_rate=0.01))
        draws = approx.sample(2000, random_seed=4)
    early = draws.posterior["early_rate"].values.mean()
    late = draws.posterior["late_rate"].values.mean()
    assert 2.6 < early < 3.5 and 0.7 < late < 1.15, (early, late)
    s = draws.posterior["switchpoint"].values
    assert s.shape == (1, 2000)
    assert 1885 <= np.median(s) <= 1897


def test_infinite_support_discrete_latent_is_refused_by_name():
    with pm.Model() as model:
        pm.Normal("mu", 0.0, 1.0)
        pm.Poisson("count", 3.0)
    with pytest.raises(TypeError, match=r"'count'.*infinite support.*finite-support"):
        compile_model(model)
    with model, pytest.raises(TypeError, match=r"'count'.*use pm\.sample"):
        pm.fit(10, progressbar=False)


def test_supports_of_finite_discrete_distributions():
    assert finite_support("b", pm.Binomial.dist(3, 0.5)).tolist() == [0, 1, 2, 3]
    assert finite_support("c", pm.Categorical.dist(p=[0.2, 0.3, 0.5])).tolist() == [0, 1, 2]
    assert finite_support("z", pm.Bernoulli.dist(0.5, shape=2)).tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]
    with pytest.raises(ValueError, match=rf"'big'.*{MAX_CONFIGURATIONS:,}"):
        finite_support("big", pm.DiscreteUniform.dist(0, 100_000))



def test_find_map_names_the_discrete_variables_it_does_not_handle():
    with change_point_model(), pytest.raises(NotImplementedError, match=r"\['switchpoint'\]"):
        pm.find_MAP(progressbar=False)


def test_sample_node_reads_the_continuous_variables_and_names_summed_out_ones():
    with pm.Model():
        z = pm.Bernoulli("z", 0.3)
        mu = pm.Normal("mu", 0.0, 1.0)
        pm.Normal("y", mu + 1.5 * z, 1.0, observed=np.array([1.0, 2.0, 1.5]))
        approx = pm.fit(200, progressbar=False, random_seed=1)
        assert approx.sample_node(mu * 2.0, size=10).eval().shape == (10,)
        with pytest.raises(NotImplementedError, match=r"reads \['z'\], discrete variables summed out"):
            approx.sample_node(mu + z, size=10)
