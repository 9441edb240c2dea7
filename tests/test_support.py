"""Observed data is checked against each distribution's support; empty parameters and shapes are refused.

Every case states what the error names (the variable, the first offending
index and value, the support), and that the values accepted at the boundary
are where the log-density is finite while the refused ones are where it is not.
"""

import re

import numpy as np
import pandas as pd
import pytensor
import pytensor.tensor as pt
import pytest

import varbayes as pm
from varbayes.distributions import Distribution
from varbayes.distributions.support import Support, check_observed

# (distribution, parameters, observed values outside the support, the expected message, values at the boundary)
CASES = [
    ("Poisson", {"mu": 2.0}, [1, -1], r"observed value -1 at index \(1,\) is outside the support \(non-negative integers\)", [0, 7]),
    ("Binomial", {"n": 5, "p": 0.3}, [5, 6], r"value 6 at index \(1,\) .*\(integers from 0 to n=5\)", [0, 5]),
    ("Binomial", {"n": 5, "p": 0.3}, [-1], r"value -1 at index \(0,\) .*\(integers from 0 to n=5\)", [0]),
    ("Binomial", {"n": [3, 5], "p": 0.3}, [3, 6], r"value 6 at index \(1,\) .*\(integers from 0 to n=5\)", [3, 5]),
    ("Binomial", {"n": 4, "logit_p": 0.0}, [9], r"value 9 at index \(0,\) .*n=4", [4]),
    ("BetaBinomial", {"alpha": 2.0, "beta": 3.0, "n": 4}, [2, 5], r"value 5 at index \(1,\) .*\(integers from 0 to n=4\)", [0, 4]),
    ("Categorical", {"p": [0.2, 0.3, 0.5]}, [0, 3], r"value 3 at index \(1,\) .*\(integers from 0 to 2, one per category of p\)", [0, 2]),
    ("Categorical", {"p": [0.2, 0.3, 0.5]}, [-1], r"value -1 at index \(0,\) .*integers from 0 to 2", [1]),
    ("Categorical", {"logit_p": [0.0, 1.0]}, [2], r"value 2 at index \(0,\) .*integers from 0 to 1, one per category of logit_p", [0, 1]),
    ("Bernoulli", {"p": 0.4}, [0, 1, 2], r"value 2 at index \(2,\) .*\(0 or 1\)", [0, 1]),
    ("Bernoulli", {"logit_p": 0.4}, [-1], r"value -1 at index \(0,\) .*\(0 or 1\)", [1, 0]),
    ("NegativeBinomial", {"mu": 3.0, "alpha": 2.0}, [-2], r"value -2 at index \(0,\) .*non-negative integers", [0, 9]),
    ("NegativeBinomial", {"n": 3.0, "p": 0.4}, [4, -1], r"value -1 at index \(1,\) .*non-negative integers", [0]),
    ("Geometric", {"p": 0.5}, [1, 0], r"value 0 at index \(1,\) .*\(positive integers 1, 2, 3, ...\)", [1, 4]),
    ("DiscreteUniform", {"lower": 1, "upper": 6}, [0], r"value 0 at index \(0,\) .*\(integers from 1 to 6\)", [1, 6]),
    ("DiscreteUniform", {"lower": 1, "upper": 6}, [7], r"value 7 .*\(integers from 1 to 6\)", [3]),
    ("ZeroInflatedPoisson", {"psi": 0.7, "mu": 3.0}, [-3], r"value -3 .*non-negative integers", [0, 2]),
    ("Beta", {"alpha": 2.0, "beta": 2.0}, [0.5, 1.0], r"value 1.0 at index \(1,\) .*\(the interval \(0, 1\)\)", [1e-9, 0.5, 1 - 1e-9]),
    ("Beta", {"alpha": 2.0, "beta": 2.0}, [0.0], r"value 0.0 at index \(0,\) .*\(the interval \(0, 1\)\)", [0.25]),
    # a density that is finite at an end of the interval: alpha = 1 at 0, beta = 1 at 1
    ("Beta", {"alpha": 1.0, "beta": 1.0}, [1.0, -0.1], r"value -0.1 at index \(1,\) .*\(the interval \[0, 1\]\)", [0.0, 1.0]),
    ("Beta", {"alpha": 1.0, "beta": 2.0}, [0.0, 1.0], r"value 1.0 at index \(1,\) .*\(the interval \[0, 1\)\)", [0.0, 0.5]),
    ("Beta", {"alpha": [1.0, 3.0], "beta": 1.0}, [0.0, 0.0], r"value 0.0 at index \(1,\) .*\(the interval \(0, 1\]\)", [0.0, 1.0]),
    ("Beta", {"mu": 0.3, "sigma": 0.1}, [1.5], r"value 1.5 .*the interval \(0, 1\)", [0.3]),
    ("Gamma", {"alpha": 2.0, "beta": 1.0}, [1.0, 0.0], r"value 0.0 at index \(1,\) .*\(positive real numbers \(0, inf\)\)", [1e-300, 3.0]),
    ("Gamma", {"mu": 2.0, "sigma": 1.0}, [-1.0], r"value -1.0 .*positive real numbers", [2.0]),
    ("Exponential", {"lam": 2.0}, [-0.1], r"value -0.1 .*\(non-negative real numbers \[0, inf\)\)", [0.0, 4.0]),
    ("HalfNormal", {"sigma": 1.0}, [-0.5], r"value -0.5 .*non-negative real numbers \[0, inf\)", [0.0, 2.0]),
    ("HalfCauchy", {"beta": 1.0}, [-1e-3], r"value -0.001 .*non-negative real numbers", [0.0, 100.0]),
    ("HalfStudentT", {"nu": 3.0, "sigma": 1.0}, [-2.0], r"value -2.0 .*non-negative real numbers", [0.0]),
    ("HalfFlat", {}, [0.0], r"value 0.0 .*positive real numbers \(0, inf\)", [1e-6, 5.0]),
    ("InverseGamma", {"alpha": 3.0, "beta": 2.0}, [0.0], r"value 0.0 .*positive real numbers", [0.5]),
    ("LogNormal", {"mu": 0.0, "sigma": 1.0}, [0.0], r"value 0.0 .*positive real numbers", [1e-5, 3.0]),
    ("Weibull", {"alpha": 1.5, "beta": 2.0}, [0.0], r"value 0.0 .*\(the interval \(0, inf\)\)", [1e-6, 3.0]),
    ("Weibull", {"alpha": 1.0, "beta": 2.0}, [-1e-3], r"value -0.001 .*\(the interval \[0, inf\)\)", [0.0, 3.0]),
    ("ChiSquared", {"nu": 3.0}, [-1.0], r"value -1.0 .*positive real numbers", [0.5]),
    ("Uniform", {"lower": -1.0, "upper": 2.0}, [0.0, 2.5], r"value 2.5 at index \(1,\) .*\(the interval \[-1.0, 2.0\]\)", [-1.0, 2.0]),
    ("Uniform", {"lower": -1.0, "upper": 2.0}, [-1.5], r"value -1.5 .*\[-1.0, 2.0\]", [0.0]),
    ("Uniform", {"lower": [0.0, 1.0], "upper": [1.0, 3.0]}, [0.5, 0.5], r"value 0.5 at index \(1,\) .*\[1.0, 3.0\]", [0.0, 3.0]),
    ("TruncatedNormal", {"mu": 0.0, "sigma": 1.0, "lower": 0.0}, [-0.1], r"value -0.1 .*\(the interval \[0.0, inf\)\)", [0.0, 5.0]),
    ("TruncatedNormal", {"mu": 0.0, "sigma": 1.0, "upper": 1.0}, [1.5], r"value 1.5 .*\(the interval \(-inf, 1.0\]\)", [1.0, -5.0]),
    ("TruncatedNormal", {"mu": 0.0, "sigma": 1.0, "lower": -1.0, "upper": 1.0}, [1.5], r"\[-1.0, 1.0\]", [-1.0, 1.0]),
    ("Dirichlet", {"a": np.ones(3)}, [[0.2, 0.3, 0.5], [0.2, 0.3, 0.4]], r"observed row \[0.2, 0.3, 0.4\] at index \(1,\) sums to 0.9; rows must sum to 1", [[0.2, 0.3, 0.5], [1e-9, 0.5, 0.5 - 1e-9]]),
    ("Dirichlet", {"a": np.ones(3)}, [[-0.5, 0.5, 1.0]], r"value -0.5 at index \(0, 0\) .*probability simplex \(entries in \[0, 1\]", [[0.0, 0.2, 0.8]]),
    ("Dirichlet", {"a": [1.0, 2.0]}, [[0.5, 0.5], [1.0, 0.0]], r"value 0.0 at index \(1, 1\) .*entries in \(0, 1\]", [[0.0, 1.0]]),
    ("Dirichlet", {"a": np.ones(2)}, [[1.2, -0.2]], r"value 1.2 at index \(0, 0\)", [[0.4, 0.6]]),
    ("Multinomial", {"n": 10, "p": [0.2, 0.8]}, [[3, 7], [3, 6]], r"observed row \[3, 6\] at index \(1,\) sums to 9; rows must sum to n=10", [[0, 10], [10, 0]]),
    ("Multinomial", {"n": [4, 6], "p": [0.5, 0.5]}, [[2, 2], [3, 4]], r"row \[3, 4\] at index \(1,\) sums to 7; rows must sum to n=6", [[4, 0], [3, 3]]),
    ("Multinomial", {"n": 2, "p": [0.5, 0.5]}, [[3, -1]], r"value -1 at index \(0, 1\) .*non-negative integer counts", [[1, 1]]),
    ("LKJCorr", {"n": 3, "eta": 2.0}, [0.99, 0.99, -0.99], r"row \[0.99, 0.99, -0.99\] at index \(\) is not the upper triangle of a positive-definite", [0.1, 0.2, 0.3]),
    ("LKJCorr", {"n": 2, "eta": 2.0}, [1.0], r"value 1.0 at index \(0,\) .*\(-1, 1\)", [0.999]),
    ("Wald", {"mu": 1.0, "lam": 2.0}, [0.0], r"value 0.0 .*positive real numbers \(0, inf\)", [1e-3, 5.0]),
    ("Wald", {"mu": 1.0, "lam": 2.0, "alpha": 1.0}, [1.0], r"value 1.0 .*\(the interval \(1.0, inf\)\)", [1.001]),
    ("VonMises", {"mu": 0.0, "kappa": 1.0}, [4.0], r"value 4.0 .*angles in the interval \[-pi, pi\]", [-np.pi, np.pi]),
    ("DirichletMultinomial", {"n": 5, "a": [1.0, 2.0]}, [[1, 3]], r"row \[1, 3\] at index \(0,\) sums to 4; rows must sum to n=5", [[0, 5], [5, 0]]),
    ("OrderedLogistic", {"eta": 0.0, "cutpoints": [-1.0, 1.0]}, [3], r"value 3 .*integers from 0 to 2, one more than the cutpoints", [0, 2]),
    ("OrderedProbit", {"eta": 0.0, "cutpoints": [-1.0, 1.0]}, [-1], r"value -1 .*integers from 0 to 2", [0, 2]),
    ("Censored", {"dist": pm.Normal.dist(0.0, 1.0), "lower": -1.0, "upper": 1.0}, [1.5], r"value 1.5 .*\(the interval \[-1.0, 1.0\]\)", [-1.0, 1.0]),
    ("Censored", {"dist": pm.Poisson.dist(2.0), "upper": 3}, [4], r"value 4 .*\(integers from 0 to 3.0\)", [0, 3]),
    ("Truncated", {"dist": pm.Normal.dist(0.0, 1.0), "lower": 0.0}, [-0.1], r"value -0.1 .*\(the interval \[0.0, inf\)\)", [0.0, 3.0]),
    ("Truncated", {"dist": pm.Gamma.dist(2.0, 1.0), "upper": 2.0}, [2.5], r"value 2.5 .*\(the interval \(0.0, 2.0\]\)", [1e-6, 2.0]),
    ("Truncated", {"dist": pm.Poisson.dist(2.0), "lower": 1}, [0], r"value 0 .*\(integers from 1.0 to inf\)", [1, 10]),
    ("ZeroInflatedBinomial", {"psi": 0.5, "n": 4, "p": 0.3}, [5], r"value 5 .*integers from 0 to n=4", [0, 4]),
    ("ZeroInflatedNegativeBinomial", {"psi": 0.5, "mu": 2.0, "alpha": 1.0}, [-1], r"value -1 .*non-negative integers", [0, 9]),
    ("HurdlePoisson", {"psi": 0.5, "mu": 2.0}, [-1], r"value -1 .*non-negative integers", [0, 3]),
    ("HurdleNegativeBinomial", {"psi": 0.5, "mu": 2.0, "alpha": 1.0}, [-2], r"value -2 .*non-negative integers", [0, 3]),
    ("HurdleGamma", {"psi": 0.5, "alpha": 2.0, "beta": 1.0}, [-0.5], r"value -0.5 .*non-negative real numbers", [0.0, 2.0]),
    ("HurdleLogNormal", {"psi": 0.5, "mu": 0.0, "sigma": 1.0}, [-1.0], r"value -1.0 .*non-negative real numbers", [0.0, 1.0]),
    ("ZeroSumNormal", {"sigma": 1.0, "shape": (2,)}, [[0.5, -0.5], [0.5, 0.4]], r"observed row \[0.5, 0.4\] at index \(1,\) is not zero-summing along the last 1 axis", [[0.5, -0.5], [0.0, 0.0]]),
    ("LKJCholeskyCov", {"eta": 2.0, "n": 2, "sd_dist": pm.Exponential.dist(1.0), "compute_corr": False}, [1.0, 0.5, -1.0], r"row \[1.0, 0.5, -1.0\] at index \(\) is not a Cholesky factor with a positive diagonal", [1.0, 0.5, 1.0]),
]


def _ids(case):
    return f"{case[0]}-{'-'.join(case[1])}"


def _define(dist_name, params, observed, name="y"):
    cls = getattr(pm, dist_name)
    with pm.Model() as model:
        cls(name, **params, observed=observed)
    return model


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_observed_outside_the_support_is_named(case):
    dist_name, params, bad, message, _ = case
    with pytest.raises(ValueError, match=f"^{dist_name} 'y': " + ".*" + message):
        _define(dist_name, params, np.asarray(bad))


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_boundary_values_are_accepted(case):
    dist_name, params, _, _, good = case
    model = _define(dist_name, params, np.asarray(good))
    assert "y" in model.observed_rv_info


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_the_support_is_where_logp_is_finite(case):
    """The check refuses exactly where the log-density is not finite (for these parameters)."""
    dist_name, params, bad, _, good = case
    params = {k: v for k, v in params.items() if k != "compute_corr"}
    dist = getattr(pm, dist_name).dist(**params)
    good_logp = np.asarray(dist.logp(np.asarray(good, dtype=dist.dtype)).eval())
    assert np.all(np.isfinite(good_logp)), good_logp
    bad = np.asarray(bad)
    # the logp of a refused value is -inf or NaN, unless only a row condition the logp does not test fails
    # (a Dirichlet row summing to 0.9 has a finite density formula)
    bad_logp = np.asarray(dist.logp(bad.astype(dist.dtype)).eval())
    if not (dist_name == "Dirichlet" and np.all(bad > 0)):
        assert not np.all(np.isfinite(bad_logp)), bad_logp


def test_every_distribution_states_its_support():
    """A new distribution class must be listed: checked against a bounded support, or on the real line."""
    real_line = {"Normal", "Flat", "Cauchy", "StudentT", "Laplace", "Logistic", "MvNormal", "NormalMixture"}
    real_line |= {"SkewNormal", "MvStudentT", "GaussianRandomWalk", "AR"}
    checked = {case[0] for case in CASES} | {"Mixture"}
    found = {
        name
        for name in pm.distributions.__all__
        if isinstance(getattr(pm.distributions, name), type) and issubclass(getattr(pm.distributions, name), Distribution)
    } - {"Distribution", "Continuous", "Discrete"}
    assert found == real_line | checked, found ^ (real_line | checked)
    for name in real_line - {"NormalMixture", "MvNormal", "MvStudentT", "GaussianRandomWalk", "AR"}:
        support = getattr(pm, name).dist(**({"nu": 3.0} if name == "StudentT" else {})).support()
        assert support.lower is None and support.upper is None


@pytest.mark.parametrize("dist_name", ["Normal", "Cauchy", "StudentT", "Laplace", "Logistic", "Flat"])
def test_real_line_distributions_take_any_finite_value(dist_name):
    params = {"nu": 3.0} if dist_name == "StudentT" else {}
    _define(dist_name, params, np.array([-1e300, 0.0, 1e300]))
    with pytest.raises(ValueError, match=rf"^{dist_name} 'y': observed data contains 1 NaN or infinite value\(s\), the first -inf at index \(1,\)"):
        _define(dist_name, params, np.array([0.0, -np.inf]))


def test_mixtures_take_the_union_of_their_components_supports():
    comps = [pm.Gamma.dist(2.0, 1.0), pm.Beta.dist(2.0, 2.0)]
    _define("Mixture", {"w": [0.5, 0.5], "comp_dists": comps}, np.array([0.5, 3.0]))
    with pytest.raises(ValueError, match=r"^Mixture 'y': observed value -1.0 at index \(1,\) is outside the support \(the union of the components' supports: positive real numbers \(0, inf\); the interval \(0, 1\)\)"):
        _define("Mixture", {"w": [0.5, 0.5], "comp_dists": comps}, np.array([0.5, -1.0]))
    stacked = pm.Binomial.dist(n=[3, 5], p=0.5)
    _define("Mixture", {"w": [0.5, 0.5], "comp_dists": stacked}, np.array([0, 3, 5]))
    with pytest.raises(ValueError, match=r"value 6 at index \(2,\) .*integers from 0 to n=3; integers from 0 to n=5"):
        _define("Mixture", {"w": [0.5, 0.5], "comp_dists": stacked}, np.array([0, 3, 6]))
    with pytest.raises(ValueError, match=r"^Mixture 'y': observed value -1 .*non-negative integers"):
        _define("Mixture", {"w": [0.5, 0.5], "comp_dists": pm.Poisson.dist(mu=[1.0, 6.0])}, np.array([-1, 7]))


def test_index_is_a_tuple_into_nd_data():
    bad = np.zeros((3, 4), dtype="int64")
    bad[2, 1] = -5
    with pytest.raises(ValueError, match=r"observed value -5 at index \(2, 1\) is outside"):
        _define("Poisson", {"mu": 1.0}, bad)


def test_non_integers_for_discrete_distributions_are_named():
    with pytest.raises(TypeError, match=r"^Binomial 'y': observed value 2.5 at index \(1,\) is not an integer"):
        _define("Binomial", {"n": 5, "p": 0.5}, np.array([1.0, 2.5]))
    # integer-valued floats are fine (and cast)
    model = _define("Binomial", {"n": 5, "p": 0.5}, np.array([1.0, 5.0]))
    assert model["y"].dtype.startswith("int")


# ---------------------------------------------------------------- parameters
def test_parameters_from_free_variables_check_only_what_is_known():
    with pm.Model():
        n = pm.DiscreteUniform("n", 1, 20)
        p = pm.Beta("p", 1.0, 1.0)
        hi = pm.HalfNormal("hi", 1.0)
        # n unknown: only k >= 0 is checked
        pm.Binomial("k", n=n, p=p, observed=[100])
        with pytest.raises(ValueError, match=r"'k2': observed value -1 .*non-negative integers"):
            pm.Binomial("k2", n=n, p=p, observed=[-1])
        # upper unknown, lower known
        pm.Uniform("u", 0.0, hi, observed=[50.0])
        with pytest.raises(ValueError, match=r"'u2': observed value -1.0 .*the interval \[0.0, upper\]"):
            pm.Uniform("u2", 0.0, hi, observed=[-1.0])
        # K known from the static last axis of a p built from free variables
        w = pm.Dirichlet("w", a=np.ones(3))
        pm.Categorical("c", p=w, observed=[0, 2])
        with pytest.raises(ValueError, match=r"'c2': observed value 3 .*integers from 0 to 2"):
            pm.Categorical("c2", p=w, observed=[3])


def test_parameters_folded_from_constants_are_checked():
    with pm.Model():
        with pytest.raises(ValueError, match=r"value 6 .*n=5"):
            pm.Binomial("k", n=pt.constant(2) + 3, p=0.5, observed=[6])
        with pytest.raises(ValueError, match=r"value 3.0 .*\[0.0, 2.0\]"):
            pm.Uniform("u", 0.0, pt.constant(1.0) * 2, observed=[3.0])


def test_categorical_with_categories_known_only_at_run_time():
    probs = pytensor.shared(np.array([0.5, 0.5]))  # no static length
    with pm.Model():
        pm.Categorical("c", p=probs, observed=[5])
        with pytest.raises(ValueError, match=r"non-negative integers"):
            pm.Categorical("c2", p=probs, observed=[-1])


def test_iris_style_categorical_from_a_softmax_of_shared_data():
    """The seed's multilabel regression: K = 3 from the static shape of the softmax."""
    rng = np.random.default_rng(1)
    Xt = pytensor.shared(rng.normal(size=(20, 4)))
    labels = rng.integers(0, 3, size=20)
    with pm.Model():
        beta = pm.Normal("beta", 0, sigma=1e2, shape=(4, 3))
        a = pm.Flat("a", shape=(3,))
        p = pt.special.softmax(Xt.dot(beta) + a, axis=-1)
        pm.Categorical("obs", p=p, observed=pytensor.shared(labels))
        labels[4] = 3
        with pytest.raises(ValueError, match=r"^Categorical 'obs2': observed value 3 at index \(4,\)"):
            pm.Categorical("obs2", p=p, observed=pytensor.shared(labels))


# ------------------------------------------------------------ NaN and masks
def test_nan_is_named_with_its_index():
    with pytest.raises(ValueError, match=r"^Poisson 'y': observed data contains 2 NaN or infinite value\(s\), the first nan at index \(0, 1\)"):
        _define("Poisson", {"mu": 1.0}, np.array([[1.0, np.nan], [np.nan, 2.0]]))
    with pytest.raises(ValueError, match=r"'y': .*NaN or infinite.*index \(2,\)"):
        _define("Normal", {}, pd.Series([0.0, 1.0, np.nan]))
    with pytest.raises(ValueError, match=r"'y': .*the first inf at index \(0,\)"):
        _define("Normal", {}, pytensor.shared(np.array([np.inf, 0.0])))


def test_masked_values_are_refused_and_unmasked_arrays_accepted():
    masked = np.ma.masked_array([1, 2, 3], mask=[False, True, False])
    with pytest.raises(ValueError, match=r"^Poisson 'y': observed data has 1 masked value\(s\), the first at index \(1,\)"):
        _define("Poisson", {"mu": 1.0}, masked)
    model = _define("Poisson", {"mu": 1.0}, np.ma.masked_array([1, 2, 3], mask=False))
    np.testing.assert_array_equal(model["y"].get_value(), [1, 2, 3])


def test_empty_observed_data_is_still_accepted():
    """No values, nothing outside the support: the term adds zero to the log-density."""
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 1.0)
        pm.Poisson("y", pt.exp(mu), observed=np.array([], dtype="int64"))
    assert model.point_logps()["y"] == 0.0


# ------------------------------------------------------------------ set_data
def test_set_data_checks_the_observed_variable_that_reads_the_container():
    with pm.Model() as model:
        counts = pm.Data("counts", np.array([1, 2, 3]))
        rate = pm.HalfNormal("rate", 1.0)
        pm.Poisson("y", rate, observed=counts)
    pm.set_data({"counts": np.array([0, 5])}, model=model)  # another length, 0 at the boundary
    with pytest.raises(ValueError, match=r"^set_data: the new values of 'counts' are refused \(the old ones are kept\): Poisson 'y': observed value -1 at index \(1,\) is outside the support \(non-negative integers\)"):
        pm.set_data({"counts": np.array([4, -1])}, model=model)
    np.testing.assert_array_equal(counts.get_value(), [0, 5])


def test_set_data_of_a_float_container_read_by_a_discrete_variable():
    with pm.Model() as model:
        counts = pm.Data("counts", np.array([1.0, 2.0]))
        pm.Binomial("y", n=3, p=0.5, observed=counts)
    with pytest.raises(TypeError, match=r"set_data: .*Binomial 'y': observed value 2.5 at index \(1,\) is not an integer"):
        pm.set_data({"counts": [1.0, 2.5]}, model=model)
    with pytest.raises(ValueError, match=r"Binomial 'y': observed value 4.0 at index \(0,\) .*n=3"):
        pm.set_data({"counts": [4.0, 2.0]}, model=model)
    with pytest.raises(ValueError, match=r"Binomial 'y': observed data contains 1 NaN"):
        pm.set_data({"counts": [np.nan, 2.0]}, model=model)
    np.testing.assert_array_equal(counts.get_value(), [1.0, 2.0])
    pm.set_data({"counts": [3.0, 0.0]}, model=model)
    np.testing.assert_array_equal(counts.get_value(), [3.0, 0.0])


def test_set_data_through_an_expression_and_several_containers_at_once():
    with pm.Model() as model:
        table = pm.Data("table", np.array([[0.2, 5.0], [0.7, 6.0]]))
        other = pm.Data("other", np.array([1, 2]))
        pm.Beta("share", 2.0, 2.0, observed=table[:, 0])
        pm.Poisson("n", 3.0, observed=other)
    with pytest.raises(ValueError, match=r"'table'.*Beta 'share': observed value 1.5 at index \(1,\)"):
        pm.set_data({"other": np.array([7, 8, 9]), "table": np.array([[0.2, 1.0], [1.5, 2.0]])}, model=model)
    # both containers keep their old values
    np.testing.assert_array_equal(other.get_value(), [1, 2])
    np.testing.assert_array_equal(table.get_value()[:, 0], [0.2, 0.7])


def test_set_data_of_a_predictor_is_not_an_observed_check():
    with pm.Model() as model:
        x = pm.Data("x", np.array([0.0, 1.0]))
        b = pm.Normal("b", 0.0, 1.0)
        pm.Poisson("y", pt.exp(b * x), observed=np.array([1, 2]))
    pm.set_data({"x": np.array([-5.0, -7.0, 3.0])}, model=model)
    np.testing.assert_array_equal(x.get_value(), [-5.0, -7.0, 3.0])


def test_set_data_with_a_new_length_uses_the_loosest_bound():
    """Parameters of the old length do not broadcast to the new data: no valid value may be refused."""
    with pm.Model() as model:
        k = pm.Data("k", np.array([1, 2]))
        pm.Binomial("y", n=np.array([3, 5]), p=0.5, observed=k)
    pm.set_data({"k": np.array([5, 0, 1])}, model=model)
    with pytest.raises(ValueError, match=r"value 6 at index \(0,\) .*n=5"):
        pm.set_data({"k": np.array([6, 0, 1])}, model=model)


# ----------------------------------------------------------------- Minibatch
def test_minibatch_source_is_checked_at_definition():
    data = np.array([1, 2, 3, -4, 5, 6])
    batch = pm.Minibatch(data, batch_size=2)
    with pm.Model():
        with pytest.raises(ValueError, match=r"^Poisson 'y': observed value -4 at index \(3,\) is outside the support"):
            pm.Poisson("y", 2.0, observed=batch, total_size=6)


def test_minibatch_set_value_is_checked_and_keeps_the_old_data():
    data = np.full((50, 2), 0.5)
    batch = pm.Minibatch(data, batch_size=10)
    with pm.Model():
        pm.Beta("y", 2.0, 2.0, observed=batch, total_size=data.shape)
    new = data.copy()
    new[7, 1] = 1.0
    with pytest.raises(ValueError, match=r"^Minibatch: the new data is refused \(the current data is kept\): Beta 'y': observed value 1.0 at index \(7, 1\) is outside the support \(the interval \(0, 1\)\)"):
        batch.set_value(new)
    np.testing.assert_array_equal(batch.shared.get_value(), data)
    batch.set_value(np.full((60, 2), 0.25))
    assert batch.shared.get_value().shape == (60, 2)


def test_minibatch_update_shared_is_checked():
    batch = pm.Minibatch(np.array([1, 2, 3, 4]), batch_size=2, update_shared_f=lambda: np.array([1, -2, 3, 4]))
    with pm.Model():
        pm.Poisson("y", 2.0, observed=batch, total_size=4)
    with pytest.raises(ValueError, match=r"Poisson 'y': observed value -2 at index \(1,\)"):
        batch.update_shared()
    np.testing.assert_array_equal(batch.shared.get_value(), [1, 2, 3, 4])


def test_joint_minibatches_check_the_observed_one():
    X = np.random.default_rng(0).normal(size=(40, 2))
    y = np.random.default_rng(1).integers(0, 2, size=40)
    y[11] = 2
    xb, yb = pm.Minibatch(X, y, batch_size=8)
    with pm.Model():
        w = pm.Normal("w", 0.0, 1.0, shape=2)
        with pytest.raises(ValueError, match=r"^Bernoulli 'y': observed value 2 at index \(11,\) is outside the support \(0 or 1\)"):
            pm.Bernoulli("y", logit_p=xb @ w, observed=yb, total_size=40)


def test_a_streaming_window_with_invalid_rows_is_refused(tmp_path):
    path = tmp_path / "counts.npy"
    source = np.lib.format.open_memmap(path, mode="w+", dtype="int64", shape=(2000,))
    source[:] = np.random.default_rng(0).poisson(3.0, size=2000)
    source[1500] = -4  # outside the first window: found when a window covers it
    source.flush()
    batch = pm.Minibatch(np.load(path, mmap_mode="r"), batch_size=50, in_memory_size=1000, random_seed=3)
    assert batch.streaming
    with pm.Model():
        rate = pm.HalfNormal("rate", 5.0)
        pm.Poisson("y", rate, observed=batch, total_size=2000)
    message = None
    for _ in range(50):
        before = batch.shared.get_value().copy()
        try:
            batch.refresh_window()
        except ValueError as err:
            message = str(err)
            # the rows in memory stay as they were: the fit never reads a refused window
            np.testing.assert_array_equal(batch.shared.get_value(), before)
            break
    assert message is not None
    match = re.search(r"from row (\d+) of the source .*Poisson 'y': observed value -4 at index \((\d+),\)", message)
    assert match, message
    assert (int(match.group(1)) + int(match.group(2))) % 2000 == 1500


# -------------------------------------------------- empty parameters and shapes
@pytest.mark.parametrize(
    ("define", "message"),
    [
        (lambda: pm.Dirichlet("p", a=np.array([])), r"^Dirichlet 'p': parameter a is empty \(shape \(0,\)\): it needs at least one category"),
        (lambda: pm.Dirichlet("p", a=np.ones((2, 0))), r"^Dirichlet 'p': parameter a is empty \(shape \(2, 0\)\)"),
        (lambda: pm.Categorical("c", p=np.array([])), r"^Categorical 'c': parameter p is empty"),
        (lambda: pm.Categorical("c", logit_p=np.zeros((3, 0))), r"^Categorical 'c': parameter logit_p is empty \(shape \(3, 0\)\)"),
        (lambda: pm.Multinomial("m", n=3, p=np.array([])), r"^Multinomial 'm': parameter p is empty"),
        (lambda: pm.MvNormal("m", np.zeros(0), cov=np.zeros((0, 0))), r"^MvNormal 'm': parameter cov is empty"),
        (lambda: pm.NormalMixture("m", w=np.array([]), mu=np.array([]), sigma=1.0), r"^NormalMixture 'm': parameter w is empty .*component weight"),
        (lambda: pm.Normal("x", 0.0, 1.0, shape=0), r"^Normal 'x': shape \(0,\) has no elements \(axis 0 has length 0\); a free variable needs at least one"),
        (lambda: pm.Normal("x", 0.0, 1.0, shape=(3, 0)), r"^Normal 'x': shape \(3, 0\) has no elements \(axis 1 has length 0\)"),
        (lambda: pm.HalfNormal("x", 1.0, size=(0,)), r"^HalfNormal 'x': shape \(0,\) has no elements"),
        (lambda: pm.Normal("x", np.array([]), 1.0), r"^Normal 'x': shape \(0,\) has no elements"),
        (lambda: pm.Poisson("x", 2.0, shape=(2, 0)), r"^Poisson 'x': shape \(2, 0\) has no elements"),
    ],
)
def test_empty_parameters_and_shapes(define, message):
    with pm.Model():
        with pytest.raises(ValueError, match=message):
            define()


def test_zero_length_dims_coordinate():
    with pm.Model(coords={"group": [], "obs": ["a", "b"]}):
        with pytest.raises(ValueError, match=r"^Normal 'x': dims \['group'\] have no coordinates \(length 0\)"):
            pm.Normal("x", 0.0, 1.0, dims="group")
        with pytest.raises(ValueError, match=r"^Normal 'x': dims \['group'\] have no coordinates"):
            pm.Normal("x", 0.0, 1.0, dims=("obs", "group"))
        pm.Normal("ok", 0.0, 1.0, dims="obs")


def test_support_helpers():
    s = Support("integers from {lower} to {upper}", lower=0, upper=np.array([3, 5]), integer=True)
    np.testing.assert_array_equal(s.contains(np.array([3, 6])), [True, False])
    assert s.describe((2,), (1,)) == "integers from 0 to 5"
    # bounds that do not broadcast against the values: the loosest one
    np.testing.assert_array_equal(s.contains(np.array([5, 6, 0])), [True, False, True])
    with pytest.raises(ValueError, match=r"^Poisson 'k': observed value -1 at index \(0,\)"):
        check_observed(pm.Poisson.dist(1.0), "k", np.array([-1]))


# ----------------------------------------------- models that were valid still are
def test_seed_models_still_build(mixture_model, conjugate_normal):
    assert mixture_model.free_RVs
    data = np.random.default_rng(0).random((200, 5)) * 3 + 1
    with pm.Model():
        mu = pm.Flat("mu", shape=(5,))
        sd = pm.HalfNormal("sd", shape=(5,))
        pm.Normal("lik", mu, sd, observed=data)
    X = pm.Minibatch(data, batch_size=50)
    with pm.Model():
        mu = pm.Flat("mu", shape=(5,))
        sd = pm.HalfNormal("sd", shape=(5,))
        pm.Normal("likelihood", mu, sd, observed=X, total_size=data.shape)


def test_a_model_with_boundary_data_still_fits():
    counts = np.array([0, 0, 1, 3, 0, 2])
    with pm.Model() as model:
        rate = pm.Gamma("rate", 2.0, 1.0)
        pm.Poisson("y", rate, observed=counts)
        pm.Binomial("k", n=4, p=pm.Beta("p", 1.0, 1.0), observed=[0, 4, 2])
    approx = pm.fit(300, model=model, random_seed=1, progressbar=False)
    assert np.all(np.isfinite(approx.hist))
    assert np.all(np.isfinite(approx.mean.eval()))
