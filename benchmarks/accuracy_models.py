"""Models with known posteriors, for tests and benchmarks of the accuracy of variational fits.

Each builder takes no argument and returns a fresh :class:`varbayes.Model`.
Simulated data comes from a fixed ``np.random.default_rng(seed)`` (in
:mod:`benchmarks.accuracy_data`), so every call builds the same model. Sizes
are kept small so that one fit takes seconds.

Two families of models:

- ``pdb_*``: five posteriors of `posteriordb <https://github.com/stan-dev/posteriordb>`_,
  written from the maths in ``shared/posteriordb/README.md``. Their data and
  reference summaries (Stan NUTS, 10 000 draws) are read from
  ``<project root>/../shared/posteriordb/``.
- the others: reference means and standard deviations from long NUTS runs of
  varbayes itself, stored in ``benchmarks/accuracy_references.json`` by
  ``python -m benchmarks.make_accuracy_references``.

The data, the registries of compared variables, the references and
:func:`compare` live in :mod:`benchmarks.accuracy_data` (numpy only, so that
the PyMC and NumPyro versions of these models in ``benchmarks/peers/`` use the
same arrays) and are re-exported here.

Examples
--------
>>> import varbayes as pm
>>> from benchmarks import accuracy_models as am
>>> model = am.MODELS["logistic_regression"]()
>>> with model:
...     approx = pm.fit(20_000, method="fullrank_advi", progressbar=False)  # doctest: +SKIP
>>> am.compare("logistic_regression", am.flat_draws(approx.sample(4000).posterior))  # doctest: +SKIP
{'intercept': {'mean_err': 0.03, 'sd_ratio_min': 0.97, 'sd_ratio_max': 1.02}, ...}
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytensor.tensor as pt

import varbayes as pm
from benchmarks import accuracy_data as data
from benchmarks.accuracy_data import (  # noqa: F401  (re-exported)
    _CONSTANT_SD,
    _REGRESSION,
    COLLINEAR_YEARS,
    COMPARED,
    MINIBATCH_BATCH,
    MINIBATCH_FEATURES,
    MINIBATCH_ROWS,
    POSTERIORDB,
    POSTERIORDB_DIR,
    REFERENCE_OF,
    REFERENCES_FILE,
    ROOT,
    _pdb_data,
    _posteriordb_file,
    _stored_references,
    compare,
    flat_draws,
    posteriordb_names,
    posteriordb_summary,
    reference,
)

__all__ = [
    "MODELS",
    "COMPARED",
    "POSTERIORDB",
    "POSTERIORDB_DIR",
    "REFERENCES_FILE",
    "compare",
    "flat_draws",
    "posteriordb_names",
    "posteriordb_summary",
    "reference",
]


# ------------------------------------------------------------------ simulated models
def eight_schools_noncentered() -> pm.Model:
    """Rubin's eight schools, non-centred: a funnel-free but heavy-tailed hierarchy."""
    d = data.eight_schools_data()
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 5.0)
        tau = pm.HalfCauchy("tau", 5.0)
        theta_tilde = pm.Normal("theta_tilde", 0.0, 1.0, shape=8)
        theta = pm.Deterministic("theta", mu + tau * theta_tilde)
        pm.Normal("y", theta, d["sigma"], observed=d["y"])
    return model


def varying_intercepts() -> pm.Model:
    """Linear regression with one intercept per group (8 groups, 200 rows) and a shared slope."""
    d = data.varying_intercepts_data()
    group, x = d["group"], d["x"]
    with pm.Model() as model:
        mu_a = pm.Normal("mu_a", 0.0, 5.0)
        sigma_a = pm.HalfNormal("sigma_a", 2.0)
        a = pm.Normal("a", mu_a, sigma_a, shape=data.VARYING_GROUPS)
        b = pm.Normal("b", 0.0, 5.0)
        sigma = pm.HalfNormal("sigma", 2.0)
        pm.Normal("y", a[group] + b * x, sigma, observed=d["y"])
    return model


def logistic_regression() -> pm.Model:
    """Bernoulli regression on 4 correlated features (500 rows)."""
    d = data.logistic_regression_data()
    X = d["X"]
    with pm.Model() as model:
        intercept = pm.Normal("intercept", 0.0, 2.5)
        beta = pm.Normal("beta", 0.0, 2.5, shape=X.shape[1])
        pm.Bernoulli("y", logit_p=intercept + pt.dot(X, beta), observed=d["y"])
    return model


def poisson_offset() -> pm.Model:
    """Poisson regression of counts on 2 features with a log-exposure offset (200 rows)."""
    d = data.poisson_offset_data()
    log_exposure, X = d["log_exposure"], d["X"]
    with pm.Model() as model:
        intercept = pm.Normal("intercept", 0.0, 2.0)
        beta = pm.Normal("beta", 0.0, 1.0, shape=2)
        pm.Poisson("y", mu=pt.exp(log_exposure + intercept + pt.dot(X, beta)), observed=d["counts"])
    return model


def mvnormal_lkj() -> pm.Model:
    """Mean and covariance of 3-dimensional normal data (100 rows), LKJ(2) prior on the correlations."""
    d = data.mvnormal_lkj_data()
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 5.0, shape=3)
        chol, _, _ = pm.LKJCholeskyCov(
            "chol", n=3, eta=2.0, sd_dist=pm.Exponential.dist(1.0), compute_corr=True
        )
        pm.MvNormal("y", mu=mu, chol=chol, observed=d["data"])
    return model


def gamma_exponential_scales() -> pm.Model:
    """Shape and rate of gamma data (100 rows): two positive parameters, strongly correlated and skewed."""
    d = data.gamma_exponential_scales_data()
    with pm.Model() as model:
        alpha = pm.Exponential("alpha", 0.2)
        beta = pm.Exponential("beta", 0.2)
        pm.Gamma("y", alpha=alpha, beta=beta, observed=d["data"])
    return model


def dirichlet_categorical() -> pm.Model:
    """Probabilities of 4 categories from 150 observations: a simplex-constrained variable."""
    d = data.dirichlet_categorical_data()
    with pm.Model() as model:
        p = pm.Dirichlet("p", np.ones(4))
        pm.Categorical("y", p=p, observed=d["data"])
    return model


def _minibatch_regression_data():
    d = data.minibatch_regression_data()
    return d["X"], d["y"]


def _linear_regression(X, y, total_size=None) -> pm.Model:
    with pm.Model() as model:
        intercept = pm.Normal("intercept", 0.0, 10.0)
        beta = pm.Normal("beta", 0.0, 10.0, shape=MINIBATCH_FEATURES)
        sigma = pm.HalfNormal("sigma", 5.0)
        pm.Normal("y", intercept + pt.dot(X, beta), sigma, observed=y, total_size=total_size)
    return model


def minibatch_linear_regression() -> pm.Model:
    """Linear regression on 50,000 rows x 4 features, seen through minibatches of 500 rows."""
    X, y = _minibatch_regression_data()
    # one Minibatch call for both arrays, so X and y rows are drawn together
    X_mb, y_mb = pm.Minibatch(X, y, batch_size=MINIBATCH_BATCH)
    return _linear_regression(X_mb, y_mb, total_size=MINIBATCH_ROWS)


def minibatch_linear_regression_full() -> pm.Model:
    """:func:`minibatch_linear_regression` on all rows at once: the posterior its fits target."""
    return _linear_regression(*_minibatch_regression_data())


def collinear_regression() -> pm.Model:
    """Linear trend over calendar years 1950-2020, not centred: intercept and slope correlate above 0.999.

    The intercept is the value at year 0, two thousand years from the data, so
    any change of slope must be compensated by an opposite change of intercept:
    the posterior is a thin ridge (correlation about -0.99995) that a
    mean-field approximation cannot follow and that is hard for any optimiser.
    """
    d = data.collinear_regression_data()
    with pm.Model() as model:
        intercept = pm.Flat("intercept")
        slope = pm.Flat("slope")
        sigma = pm.HalfNormal("sigma", 1.0)
        pm.Normal("y", intercept + slope * d["years"], sigma, observed=d["y"])
    return model


# ------------------------------------------------------------------ posteriordb models
def pdb_eight_schools_noncentered() -> pm.Model:
    """posteriordb ``eight_schools-eight_schools_noncentered``."""
    d = data.pdb_eight_schools_data()
    with pm.Model() as model:
        theta_tilde = pm.Normal("theta_tilde", 0.0, 1.0, shape=d["J"])
        mu = pm.Normal("mu", 0.0, 5.0)
        tau = pm.HalfCauchy("tau", 5.0)
        theta = pm.Deterministic("theta", mu + tau * theta_tilde)
        pm.Normal("y", theta, d["sigma"], observed=d["y"])
    return model


def pdb_kidiq() -> pm.Model:
    """posteriordb ``kidiq-kidscore_momhsiq``: flat coefficients, two collinear-ish predictors."""
    d = data.pdb_kidiq_data()
    with pm.Model() as model:
        beta = pm.Flat("beta", shape=3)
        sigma = pm.HalfCauchy("sigma", 2.5)
        mu = beta[0] + beta[1] * d["mom_hs"] + beta[2] * d["mom_iq"]
        pm.Normal("kid_score", mu, sigma, observed=d["kid_score"])
    return model


def pdb_mesquite() -> pm.Model:
    """posteriordb ``mesquite-logmesquite_logvash``: flat priors, collinear log-size predictors."""
    d = data.pdb_mesquite_data()
    with pm.Model() as model:
        beta = pm.Flat("beta", shape=6)
        sigma = pm.HalfFlat("sigma")
        pm.Normal("log_weight", beta[0] + pt.dot(d["X"], beta[1:]), sigma, observed=d["log_weight"])
    return model


def pdb_arK() -> pm.Model:
    """posteriordb ``arK-arK``: autoregression of order K = 5 on T = 200 points."""
    d = data.pdb_arK_data()
    with pm.Model() as model:
        alpha = pm.Normal("alpha", 0.0, 10.0)
        beta = pm.Normal("beta", 0.0, 10.0, shape=d["K"])
        sigma = pm.HalfCauchy("sigma", 2.5)
        pm.Normal("y", alpha + pt.dot(d["lags"], beta), sigma, observed=d["y"])
    return model


def pdb_gp_pois_regr() -> pm.Model:
    """posteriordb ``gp_pois_regr-gp_pois_regr``: latent Gaussian process, Poisson counts, non-centred."""
    d = data.pdb_gp_pois_regr_data()
    n = d["N"]
    with pm.Model() as model:
        rho = pm.Gamma("rho", alpha=25.0, beta=4.0)
        alpha = pm.HalfNormal("alpha", 2.0)
        f_tilde = pm.Normal("f_tilde", 0.0, 1.0, shape=n)
        # Stan's cov_exp_quad plus its 1e-10 jitter; the kernel is nearly singular without it
        cov = alpha**2 * pt.exp(-d["sq_dist"] / (2.0 * rho**2)) + 1e-10 * np.eye(n)
        f = pm.Deterministic("f", pt.dot(pt.linalg.cholesky(cov), f_tilde))
        pm.Poisson("k", mu=pt.exp(f), observed=d["k"])
    return model


# ------------------------------------------------------------------ registry
MODELS: dict[str, Callable[[], pm.Model]] = {
    "eight_schools_noncentered": eight_schools_noncentered,
    "varying_intercepts": varying_intercepts,
    "logistic_regression": logistic_regression,
    "poisson_offset": poisson_offset,
    "mvnormal_lkj": mvnormal_lkj,
    "gamma_exponential_scales": gamma_exponential_scales,
    "dirichlet_categorical": dirichlet_categorical,
    "minibatch_linear_regression": minibatch_linear_regression,
    "minibatch_linear_regression_full": minibatch_linear_regression_full,
    "collinear_regression": collinear_regression,
    "pdb_eight_schools_noncentered": pdb_eight_schools_noncentered,
    "pdb_kidiq": pdb_kidiq,
    "pdb_mesquite": pdb_mesquite,
    "pdb_arK": pdb_arK,
    "pdb_gp_pois_regr": pdb_gp_pois_regr,
}
