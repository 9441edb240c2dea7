"""Pointwise log-likelihood, LOO and model comparison, and the InferenceData groups around them."""

import logging

import arviz as az
import numpy as np
import pytest
from scipy import stats

import varbayes as pm

# elpd_loo and its SE from PyMC 6.4.0 on the same data and models (4 chains x 2000 draws):
# `python benchmarks/peers/pymc_loo_reference.py`
PYMC_ELPD = {"linear": (-63.815, 4.454), "intercept_only": (-105.361, 5.561)}


def regression_data():
    rng = np.random.default_rng(1)
    x = rng.normal(size=50)
    y = 1.0 + 2.0 * x + rng.normal(size=50)
    return x, y


def regression(slope: bool) -> pm.Model:
    x, y = regression_data()
    with pm.Model() as model:
        a = pm.Normal("a", 0.0, 5.0)
        mu = a
        if slope:
            b = pm.Normal("b", 0.0, 5.0)
            mu = a + b * x
        s = pm.HalfNormal("s", 2.0)
        pm.Normal("y", mu, s, observed=y)
    return model


@pytest.fixture(scope="module")
def traces():
    out = {}
    for name, slope in (("linear", True), ("intercept_only", False)):
        with regression(slope):
            out[name] = pm.sample(2000, tune=1000, chains=4, random_seed=1, progressbar=False,
                                  idata_kwargs={"log_likelihood": True})
    return out


def test_pointwise_log_likelihood_matches_scipy(traces):
    x, y = regression_data()
    trace = traces["linear"]
    post = trace.posterior
    a, b, s = (np.asarray(post[n])[..., None] for n in ("a", "b", "s"))
    expected = stats.norm.logpdf(y, a + b * x, s)
    np.testing.assert_allclose(np.asarray(trace.log_likelihood["y"]), expected, rtol=1e-10, atol=1e-12)
    assert trace.log_likelihood["y"].dims == ("chain", "draw", "y_dim_0")


def test_loo_and_compare_match_pymc(traces):
    for name, trace in traces.items():
        loo = az.loo(trace)
        reference, se = PYMC_ELPD[name]
        assert abs(loo.elpd - reference) < se, (name, loo.elpd, reference)
        assert abs(loo.se - se) < 0.1 * se
        assert float(np.max(np.asarray(loo.pareto_k))) < 0.7
    ranking = az.compare(traces)
    assert list(ranking.index) == ["linear", "intercept_only"]
    assert abs(ranking.loc["intercept_only", "elpd_diff"]) > 3 * ranking.loc["intercept_only", "dse"]


def test_compute_log_likelihood_after_sampling_and_its_errors():
    with regression(True) as model:
        trace = pm.sample(200, tune=200, chains=2, random_seed=2, progressbar=False, compute_convergence_checks=False)
        assert "log_likelihood" not in trace.children
        only = pm.compute_log_likelihood(trace, extend_inferencedata=False)
        assert list(only.children) == ["log_likelihood"] and "log_likelihood" not in trace.children
        extended = pm.compute_log_likelihood(trace, var_names=["y"])
        assert extended is trace and trace.log_likelihood["y"].shape == (2, 200, 50)
        with pytest.raises(ValueError, match=r"var_names \['a'\] are not observed variables"):
            pm.compute_log_likelihood(trace, var_names=["a"])
    with pm.Model():
        pm.Normal("a", 0.0, 1.0)
        with pytest.raises(ValueError, match="the model has no observed variables"):
            pm.compute_log_likelihood(trace)
    data = np.random.default_rng(0).normal(size=(1000, 2))
    with pm.Model():
        mu = pm.Normal("mu", 0.0, 1.0)
        pm.Normal("y", mu, 1.0, observed=pm.Minibatch(data, batch_size=10), total_size=data.shape)
        approx = pm.fit(50, progressbar=False, random_seed=0)
        with pytest.raises(ValueError, match="'y' needs its full data: it is observed through a Minibatch"):
            pm.compute_log_likelihood(approx.sample(10))


def test_loo_of_an_approximation_with_the_importance_correction(traces):
    with regression(True):
        approx = pm.fit(None, method="fullrank_advi", random_seed=1, progressbar=False)
        draws = approx.sample(4000, random_seed=2, include_log_density=True)
        draws = pm.compute_log_likelihood(draws)
    assert set(draws.sample_stats.data_vars) == {"lp", "log_q"}
    corrected = az.loo_approximate_posterior(draws, log_p=draws.sample_stats["lp"], log_q=draws.sample_stats["log_q"])
    reference, se = PYMC_ELPD["linear"]
    assert abs(corrected.elpd - reference) < se
    with regression(True):
        particles = pm.fit(20, method="svgd", inf_kwargs=dict(n_particles=10), progressbar=False, random_seed=0)
        with pytest.raises(ValueError, match="no density"):
            particles.sample(10, include_log_density=True)


def test_constant_data_and_observed_data_groups():
    x, y = regression_data()
    with pm.Model(coords={"obs": np.arange(50)}):
        xd = pm.Data("x", x, dims="obs")
        yd = pm.Data("y_data", y, dims="obs")
        b = pm.Normal("b", 0.0, 5.0)
        pm.Normal("y", b * xd, 1.0, observed=yd, dims="obs")
        trace = pm.sample(50, tune=50, chains=2, random_seed=1, progressbar=False, compute_convergence_checks=False)
        approx_draws = pm.fit(50, progressbar=False, random_seed=1).sample(20)
    for tree in (trace, approx_draws):
        assert list(tree.constant_data.data_vars) == ["x"]
        np.testing.assert_array_equal(tree.constant_data["x"], x)
        assert tree.constant_data["x"].dims == ("obs",)
        np.testing.assert_array_equal(tree.observed_data["y"], y)


@pytest.mark.filterwarnings("ignore:There were .* divergences")  # no tuning, on purpose
def test_sample_accepts_pymc_arguments():
    with regression(True):
        trace = pm.sample(20, tune=0, chains=2, init="adapt_diag", initvals={"a": 3.0, "s": 0.5}, random_seed=1,
                          progressbar=False, compute_convergence_checks=False, nuts_sampler="pymc")
        assert trace.posterior["a"].shape == (2, 20)
        per_chain = [{"a": -3.0}, {"a": 3.0}]
        trace = pm.sample(1, tune=0, chains=2, init="adapt_diag", initvals=per_chain, random_seed=1,
                          progressbar=False, compute_convergence_checks=False)
        # one NUTS step from a = -3 and a = +3 stays on its side of the posterior mean (~1)
        first = np.asarray(trace.posterior["a"])[:, 0]
        assert first[0] < first[1]
        with pytest.raises(ValueError, match="nuts_sampler='numpyro' is not available"):
            pm.sample(10, nuts_sampler="numpyro")
        with pytest.raises(ValueError, match=r"idata_kwargs \['save_warmup'\] are not supported"):
            pm.sample(10, idata_kwargs={"save_warmup": True})
        with pytest.raises(ValueError, match="initvals must be a dict or a list of 2 dicts"):
            pm.sample(10, chains=2, initvals=[{"a": 1.0}])
        with pytest.raises(ValueError, match=r"initvals\['a'\] has 2 values; 'a' needs 1"):
            pm.sample(10, chains=2, initvals={"a": [1.0, 2.0]})


def test_log_likelihood_quietly(traces, caplog):
    with caplog.at_level(logging.INFO, logger="varbayes"):
        with regression(False):
            pm.compute_log_likelihood(traces["intercept_only"].copy())
    assert not caplog.records
