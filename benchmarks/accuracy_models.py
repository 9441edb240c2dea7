"""Models with known posteriors, for tests and benchmarks of the accuracy of variational fits.

Each builder takes no argument and returns a fresh :class:`varbayes.Model`.
Simulated data comes from a fixed ``np.random.default_rng(seed)`` inside the
builder, so every call builds the same model. Sizes are kept small so that one
fit takes seconds.

Two families of models:

- ``pdb_*``: five posteriors of `posteriordb <https://github.com/stan-dev/posteriordb>`_,
  written from the maths in ``shared/posteriordb/README.md``. Their data and
  reference summaries (Stan NUTS, 10 000 draws) are read from
  ``<project root>/../shared/posteriordb/``.
- the others: reference means and standard deviations from long NUTS runs of
  varbayes itself, stored in ``benchmarks/accuracy_references.json`` by
  ``python -m benchmarks.make_accuracy_references``.

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

import json
import re
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path

import numpy as np
import pytensor.tensor as pt

import varbayes as pm

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

ROOT = Path(__file__).resolve().parent.parent
#: posteriordb's data and reference summaries live next to the project, not in it (see its README)
POSTERIORDB_DIR = ROOT.parent / "shared" / "posteriordb"
REFERENCES_FILE = Path(__file__).resolve().parent / "accuracy_references.json"


# ------------------------------------------------------------------ simulated models
def eight_schools_noncentered() -> pm.Model:
    """Rubin's eight schools, non-centred: a funnel-free but heavy-tailed hierarchy."""
    y = np.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])
    sigma = np.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 5.0)
        tau = pm.HalfCauchy("tau", 5.0)
        theta_tilde = pm.Normal("theta_tilde", 0.0, 1.0, shape=8)
        theta = pm.Deterministic("theta", mu + tau * theta_tilde)
        pm.Normal("y", theta, sigma, observed=y)
    return model


def varying_intercepts() -> pm.Model:
    """Linear regression with one intercept per group (8 groups, 200 rows) and a shared slope."""
    rng = np.random.default_rng(101)
    n, n_groups = 200, 8
    # every group gets 25 rows, so no intercept is identified by its prior alone
    group = rng.permutation(np.arange(n) % n_groups)
    x = rng.normal(size=n)
    a_true = 1.0 + 0.7 * rng.normal(size=n_groups)
    y = a_true[group] + 0.5 * x + rng.normal(0.0, 1.0, size=n)
    with pm.Model() as model:
        mu_a = pm.Normal("mu_a", 0.0, 5.0)
        sigma_a = pm.HalfNormal("sigma_a", 2.0)
        a = pm.Normal("a", mu_a, sigma_a, shape=n_groups)
        b = pm.Normal("b", 0.0, 5.0)
        sigma = pm.HalfNormal("sigma", 2.0)
        pm.Normal("y", a[group] + b * x, sigma, observed=y)
    return model


def logistic_regression() -> pm.Model:
    """Bernoulli regression on 4 correlated features (500 rows)."""
    rng = np.random.default_rng(102)
    n, k = 500, 4
    # correlated features give the coefficients a correlated posterior, which mean-field misses
    corr = 0.5 * np.ones((k, k)) + 0.5 * np.eye(k)
    X = rng.normal(size=(n, k)) @ np.linalg.cholesky(corr).T
    beta_true = np.array([1.0, -0.5, 0.25, 0.0])
    y = rng.random(n) < 1.0 / (1.0 + np.exp(-(-0.3 + X @ beta_true)))
    with pm.Model() as model:
        intercept = pm.Normal("intercept", 0.0, 2.5)
        beta = pm.Normal("beta", 0.0, 2.5, shape=k)
        pm.Bernoulli("y", logit_p=intercept + pt.dot(X, beta), observed=y.astype("int64"))
    return model


def poisson_offset() -> pm.Model:
    """Poisson regression of counts on 2 features with a log-exposure offset (200 rows)."""
    rng = np.random.default_rng(103)
    n = 200
    log_exposure = np.log(rng.uniform(0.5, 5.0, size=n))
    X = rng.normal(size=(n, 2))
    counts = rng.poisson(np.exp(log_exposure + 0.5 + X @ np.array([0.3, -0.2])))
    with pm.Model() as model:
        intercept = pm.Normal("intercept", 0.0, 2.0)
        beta = pm.Normal("beta", 0.0, 1.0, shape=2)
        pm.Poisson("y", mu=pt.exp(log_exposure + intercept + pt.dot(X, beta)), observed=counts)
    return model


def mvnormal_lkj() -> pm.Model:
    """Mean and covariance of 3-dimensional normal data (100 rows), LKJ(2) prior on the correlations."""
    rng = np.random.default_rng(104)
    sds = np.array([1.0, 2.0, 0.5])
    corr = np.array([[1.0, 0.6, -0.3], [0.6, 1.0, 0.2], [-0.3, 0.2, 1.0]])
    data = rng.multivariate_normal([1.0, -1.0, 0.5], corr * np.outer(sds, sds), size=100)
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 5.0, shape=3)
        chol, _, _ = pm.LKJCholeskyCov(
            "chol", n=3, eta=2.0, sd_dist=pm.Exponential.dist(1.0), compute_corr=True
        )
        pm.MvNormal("y", mu=mu, chol=chol, observed=data)
    return model


def gamma_exponential_scales() -> pm.Model:
    """Shape and rate of gamma data (100 rows): two positive parameters, strongly correlated and skewed."""
    rng = np.random.default_rng(105)
    data = rng.gamma(3.0, 1.0 / 2.0, size=100)
    with pm.Model() as model:
        alpha = pm.Exponential("alpha", 0.2)
        beta = pm.Exponential("beta", 0.2)
        pm.Gamma("y", alpha=alpha, beta=beta, observed=data)
    return model


def dirichlet_categorical() -> pm.Model:
    """Probabilities of 4 categories from 150 observations: a simplex-constrained variable."""
    rng = np.random.default_rng(106)
    data = rng.choice(4, size=150, p=[0.1, 0.2, 0.3, 0.4])
    with pm.Model() as model:
        p = pm.Dirichlet("p", np.ones(4))
        pm.Categorical("y", p=p, observed=data)
    return model


MINIBATCH_ROWS, MINIBATCH_FEATURES, MINIBATCH_BATCH = 50_000, 4, 500


def _minibatch_regression_data():
    rng = np.random.default_rng(107)
    X = rng.normal(size=(MINIBATCH_ROWS, MINIBATCH_FEATURES))
    y = 1.0 + X @ np.array([0.5, -1.0, 0.25, 2.0]) + rng.normal(0.0, 1.5, size=MINIBATCH_ROWS)
    return X, y


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


COLLINEAR_YEARS = np.arange(1950, 2021, dtype="float64")


def collinear_regression() -> pm.Model:
    """Linear trend over calendar years 1950-2020, not centred: intercept and slope correlate above 0.999.

    The intercept is the value at year 0, two thousand years from the data, so
    any change of slope must be compensated by an opposite change of intercept:
    the posterior is a thin ridge (correlation about -0.99995) that a
    mean-field approximation cannot follow and that is hard for any optimiser.
    """
    rng = np.random.default_rng(108)
    y = 0.015 * (COLLINEAR_YEARS - 1950.0) + rng.normal(0.0, 0.1, size=COLLINEAR_YEARS.size)
    with pm.Model() as model:
        intercept = pm.Flat("intercept")
        slope = pm.Flat("slope")
        sigma = pm.HalfNormal("sigma", 1.0)
        pm.Normal("y", intercept + slope * COLLINEAR_YEARS, sigma, observed=y)
    return model


# ------------------------------------------------------------------ posteriordb models
@cache
def _pdb_data(name: str) -> dict:
    with open(POSTERIORDB_DIR / "data" / f"{name}.json") as f:
        return json.load(f)


def pdb_eight_schools_noncentered() -> pm.Model:
    """posteriordb ``eight_schools-eight_schools_noncentered``."""
    d = _pdb_data("eight_schools")
    with pm.Model() as model:
        theta_tilde = pm.Normal("theta_tilde", 0.0, 1.0, shape=d["J"])
        mu = pm.Normal("mu", 0.0, 5.0)
        tau = pm.HalfCauchy("tau", 5.0)
        theta = pm.Deterministic("theta", mu + tau * theta_tilde)
        sigma = np.asarray(d["sigma"], dtype="float64")
        pm.Normal("y", theta, sigma, observed=np.asarray(d["y"], dtype="float64"))
    return model


def pdb_kidiq() -> pm.Model:
    """posteriordb ``kidiq-kidscore_momhsiq``: flat coefficients, two collinear-ish predictors."""
    d = _pdb_data("kidiq")
    mom_hs = np.asarray(d["mom_hs"], dtype="float64")
    mom_iq = np.asarray(d["mom_iq"], dtype="float64")
    with pm.Model() as model:
        beta = pm.Flat("beta", shape=3)
        sigma = pm.HalfCauchy("sigma", 2.5)
        mu = beta[0] + beta[1] * mom_hs + beta[2] * mom_iq
        pm.Normal("kid_score", mu, sigma, observed=np.asarray(d["kid_score"], dtype="float64"))
    return model


def pdb_mesquite() -> pm.Model:
    """posteriordb ``mesquite-logmesquite_logvash``: flat priors, collinear log-size predictors."""
    d = {k: np.asarray(v, dtype="float64") for k, v in _pdb_data("mesquite").items() if k != "N"}
    X = np.column_stack(
        [
            np.log(d["diam1"] * d["diam2"] * d["canopy_height"]),
            np.log(d["diam1"] * d["diam2"]),
            np.log(d["diam1"] / d["diam2"]),
            np.log(d["total_height"]),
            d["group"],
        ]
    )
    with pm.Model() as model:
        beta = pm.Flat("beta", shape=6)
        sigma = pm.HalfFlat("sigma")
        pm.Normal("log_weight", beta[0] + pt.dot(X, beta[1:]), sigma, observed=np.log(d["weight"]))
    return model


def pdb_arK() -> pm.Model:
    """posteriordb ``arK-arK``: autoregression of order K = 5 on T = 200 points."""
    d = _pdb_data("arK")
    K, T = d["K"], d["T"]
    y = np.asarray(d["y"], dtype="float64")
    # column k-1 holds the lag-k value y[t-k] for t = K..T-1 (0-based)
    lags = np.column_stack([y[K - k : T - k] for k in range(1, K + 1)])
    with pm.Model() as model:
        alpha = pm.Normal("alpha", 0.0, 10.0)
        beta = pm.Normal("beta", 0.0, 10.0, shape=K)
        sigma = pm.HalfCauchy("sigma", 2.5)
        pm.Normal("y", alpha + pt.dot(lags, beta), sigma, observed=y[K:])
    return model


def pdb_gp_pois_regr() -> pm.Model:
    """posteriordb ``gp_pois_regr-gp_pois_regr``: latent Gaussian process, Poisson counts, non-centred."""
    d = _pdb_data("gp_pois_regr")
    x = np.asarray(d["x"], dtype="float64")
    n = d["N"]
    sq_dist = (x[:, None] - x[None, :]) ** 2
    with pm.Model() as model:
        rho = pm.Gamma("rho", alpha=25.0, beta=4.0)
        alpha = pm.HalfNormal("alpha", 2.0)
        f_tilde = pm.Normal("f_tilde", 0.0, 1.0, shape=n)
        # Stan's cov_exp_quad plus its 1e-10 jitter; the kernel is nearly singular without it
        cov = alpha**2 * pt.exp(-sq_dist / (2.0 * rho**2)) + 1e-10 * np.eye(n)
        f = pm.Deterministic("f", pt.dot(pt.linalg.cholesky(cov), f_tilde))
        pm.Poisson("k", mu=pt.exp(f), observed=np.asarray(d["k"], dtype="int64"))
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

_REGRESSION = ("intercept", "beta", "sigma")

#: Quantities each model is judged on: free variables (constrained) and reported deterministics.
COMPARED: dict[str, tuple[str, ...]] = {
    "eight_schools_noncentered": ("mu", "tau", "theta_tilde", "theta"),
    "varying_intercepts": ("mu_a", "sigma_a", "a", "b", "sigma"),
    "logistic_regression": ("intercept", "beta"),
    "poisson_offset": ("intercept", "beta"),
    # the packed Cholesky factor is the free variable; standard deviations and
    # correlations are what a user reads
    "mvnormal_lkj": ("mu", "chol", "chol_stds", "chol_corr"),
    "gamma_exponential_scales": ("alpha", "beta"),
    "dirichlet_categorical": ("p",),
    "minibatch_linear_regression": _REGRESSION,
    "minibatch_linear_regression_full": _REGRESSION,
    "collinear_regression": ("intercept", "slope", "sigma"),
    # posteriordb reports theta and f, not the standard-normal variables behind them
    "pdb_eight_schools_noncentered": ("mu", "tau", "theta"),
    "pdb_kidiq": ("beta", "sigma"),
    "pdb_mesquite": ("beta", "sigma"),
    "pdb_arK": ("alpha", "beta", "sigma"),
    "pdb_gp_pois_regr": ("rho", "alpha", "f"),
}

#: posteriordb posterior of each ``pdb_*`` model, and the posteriordb name of each compared variable.
#: Element ``i`` of a vector variable is ``name[i + 1]`` there (Stan counts from 1).
POSTERIORDB: dict[str, tuple[str, dict[str, str]]] = {
    "pdb_eight_schools_noncentered": (
        "eight_schools-eight_schools_noncentered",
        {"mu": "mu", "tau": "tau", "theta": "theta"},
    ),
    "pdb_kidiq": ("kidiq-kidscore_momhsiq", {"beta": "beta", "sigma": "sigma"}),
    "pdb_mesquite": ("mesquite-logmesquite_logvash", {"beta": "beta", "sigma": "sigma"}),
    "pdb_arK": ("arK-arK", {"alpha": "alpha", "beta": "beta", "sigma": "sigma"}),
    "pdb_gp_pois_regr": ("gp_pois_regr-gp_pois_regr", {"rho": "rho", "alpha": "alpha", "f": "f"}),
}

#: The model whose NUTS reference stands for a model NUTS cannot run as written (minibatches).
REFERENCE_OF: dict[str, str] = {"minibatch_linear_regression": "minibatch_linear_regression_full"}


# ------------------------------------------------------------------ references
@cache
def _posteriordb_file(posterior: str) -> dict:
    with open(POSTERIORDB_DIR / "reference" / f"{posterior}.json") as f:
        return json.load(f)


def posteriordb_names(name: str, var: str) -> list[str]:
    """posteriordb's names of the elements of ``var`` in model ``name``, in flat (C) order.

    ``['sigma']`` for a scalar, ``['beta[1]', 'beta[2]', ...]`` for a vector.
    """
    posterior, names = POSTERIORDB[name]
    base = names[var]
    params = _posteriordb_file(posterior)["params"]
    if base in params:
        return [base]
    indexed = [k for k in params if re.fullmatch(rf"{re.escape(base)}\[\d+\]", k)]
    if not indexed:
        raise KeyError(f"{posterior} has no parameter {base!r}")
    return sorted(indexed, key=lambda k: int(k[len(base) + 1 : -1]))


def posteriordb_summary(name: str) -> dict[str, dict[str, np.ndarray]]:
    """All statistics posteriordb gives for the compared variables of ``pdb_*`` model ``name``.

    Returns
    -------
    dict
        ``{var: {stat: ndarray}}`` with stats ``mean``, ``sd``, ``mcse_mean``,
        ``mcse_sd``, ``ess_mean``, ``rhat``, ``q05``, ``q95`` and
        ``meanfield_sd_ratio``; arrays are scalars for scalar variables, else
        vectors in the variable's element order.
    """
    posterior, names = POSTERIORDB[name]
    params = _posteriordb_file(posterior)["params"]
    out = {}
    for var in names:
        keys = posteriordb_names(name, var)
        scalar = keys == [names[var]]
        stats = {}
        for stat in params[keys[0]]:
            values = np.array([params[k][stat] for k in keys], dtype="float64")
            stats[stat] = values[0] if scalar else values
        out[var] = {s: np.asarray(v) for s, v in stats.items()}
    return out


@cache
def _stored_references() -> dict:
    if not REFERENCES_FILE.exists():
        raise FileNotFoundError(
            f"{REFERENCES_FILE} is missing: run `python -m benchmarks.make_accuracy_references`"
        )
    with open(REFERENCES_FILE) as f:
        return json.load(f)


def reference(name: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Reference posterior ``(mean, sd)`` of each compared variable of model ``name``.

    Arrays have the variable's shape. ``pdb_*`` models read posteriordb's
    summary; the others read ``accuracy_references.json`` (a minibatch model
    reads the reference of its full-data version).
    """
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; known: {sorted(MODELS)}")
    if name in POSTERIORDB:
        summary = posteriordb_summary(name)
        return {var: (summary[var]["mean"], summary[var]["sd"]) for var in COMPARED[name]}
    stored = _stored_references()["models"][REFERENCE_OF.get(name, name)]["variables"]
    return {
        var: tuple(np.asarray(stored[var][stat], dtype="float64") for stat in ("mean", "sd"))
        for var in COMPARED[name]
    }


# ------------------------------------------------------------------ comparison
def flat_draws(posterior, var_names=None) -> dict[str, np.ndarray]:
    """Draws of a ``(chain, draw, ...)`` posterior group with chains and draws merged into the first axis.

    ``posterior`` is a trace's or an approximation sample's ``.posterior``
    (``DataTree`` node or ``Dataset``), or a mapping of arrays with those two
    leading axes.
    """
    if hasattr(posterior, "data_vars"):
        posterior = {name: posterior[name].values for name in posterior.data_vars}
    names = posterior.keys() if var_names is None else var_names
    out = {}
    for name in names:
        values = np.asarray(posterior[name])
        out[name] = values.reshape(-1, *values.shape[2:])
    return out


#: entries whose reference sd is this small relative to their mean are constants
#: (the unit diagonal of a correlation matrix) and are left out of the ratios
_CONSTANT_SD = 1e-9


def compare(name: str, draws: Mapping[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Accuracy of posterior draws against the reference of model ``name``.

    Parameters
    ----------
    name : str
        A key of :data:`MODELS`.
    draws : mapping
        Variable name to draws, draws on the first axis (see :func:`flat_draws`).
        Every variable of ``COMPARED[name]`` must be present.

    Returns
    -------
    dict
        Per compared variable: ``mean_err``, the largest ``|mean - ref_mean| / ref_sd``
        over its elements, and ``sd_ratio_min`` / ``sd_ratio_max``, the extremes of
        ``sd / ref_sd``. Elements that are constant in the reference (a
        correlation matrix's diagonal) are skipped.
    """
    out = {}
    for var, (ref_mean, ref_sd) in reference(name).items():
        values = np.asarray(draws[var], dtype="float64")
        if values.shape[1:] != ref_mean.shape:
            raise ValueError(
                f"{name}: draws of {var} have shape {values.shape[1:]}, the reference {ref_mean.shape}"
            )
        varying = ref_sd > _CONSTANT_SD * np.maximum(1.0, np.abs(ref_mean))
        mean_err = np.abs(values.mean(axis=0) - ref_mean)[varying] / ref_sd[varying]
        ratio = values.std(axis=0, ddof=1)[varying] / ref_sd[varying]
        out[var] = {
            "mean_err": float(mean_err.max()),
            "sd_ratio_min": float(ratio.min()),
            "sd_ratio_max": float(ratio.max()),
        }
    return out
