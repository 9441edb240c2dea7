"""Data, reference posteriors and the accuracy comparison of the accuracy models (numpy only).

:mod:`benchmarks.accuracy_models` builds the varbayes models from these
arrays; the peer scripts (``benchmarks/peers/*_time_to_answer.py``) build the
same models in PyMC and NumPyro from the same arrays, in an interpreter that
does not have varbayes. Nothing here imports more than numpy and the standard
library.

Every ``*_data()`` function returns a dict of arrays, the same on every call
(simulated data comes from a fixed ``np.random.default_rng(seed)``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path

import numpy as np

__all__ = [
    "COMPARED",
    "POSTERIORDB",
    "POSTERIORDB_DIR",
    "REFERENCES_FILE",
    "REFERENCE_OF",
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


# ------------------------------------------------------------------ simulated data
def eight_schools_data() -> dict:
    """Rubin's eight schools: effects ``y`` and their standard errors ``sigma``."""
    return {
        "y": np.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0]),
        "sigma": np.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0]),
    }


VARYING_GROUPS = 8


def varying_intercepts_data() -> dict:
    """200 rows in 8 groups of 25: ``group`` (int), ``x``, ``y``."""
    rng = np.random.default_rng(101)
    n, n_groups = 200, VARYING_GROUPS
    # every group gets 25 rows, so no intercept is identified by its prior alone
    group = rng.permutation(np.arange(n) % n_groups)
    x = rng.normal(size=n)
    a_true = 1.0 + 0.7 * rng.normal(size=n_groups)
    y = a_true[group] + 0.5 * x + rng.normal(0.0, 1.0, size=n)
    return {"group": group, "x": x, "y": y}


def logistic_regression_data() -> dict:
    """500 rows of 4 correlated features ``X`` and 0/1 outcomes ``y`` (int64)."""
    rng = np.random.default_rng(102)
    n, k = 500, 4
    # correlated features give the coefficients a correlated posterior, which mean-field misses
    corr = 0.5 * np.ones((k, k)) + 0.5 * np.eye(k)
    X = rng.normal(size=(n, k)) @ np.linalg.cholesky(corr).T
    beta_true = np.array([1.0, -0.5, 0.25, 0.0])
    y = rng.random(n) < 1.0 / (1.0 + np.exp(-(-0.3 + X @ beta_true)))
    return {"X": X, "y": y.astype("int64")}


def poisson_offset_data() -> dict:
    """200 counts with 2 features ``X`` and a ``log_exposure`` offset."""
    rng = np.random.default_rng(103)
    n = 200
    log_exposure = np.log(rng.uniform(0.5, 5.0, size=n))
    X = rng.normal(size=(n, 2))
    counts = rng.poisson(np.exp(log_exposure + 0.5 + X @ np.array([0.3, -0.2])))
    return {"log_exposure": log_exposure, "X": X, "counts": counts}


def mvnormal_lkj_data() -> dict:
    """100 rows of 3-dimensional correlated normal ``data``."""
    rng = np.random.default_rng(104)
    sds = np.array([1.0, 2.0, 0.5])
    corr = np.array([[1.0, 0.6, -0.3], [0.6, 1.0, 0.2], [-0.3, 0.2, 1.0]])
    data = rng.multivariate_normal([1.0, -1.0, 0.5], corr * np.outer(sds, sds), size=100)
    return {"data": data}


def gamma_exponential_scales_data() -> dict:
    """100 gamma(3, rate 2) draws ``data``."""
    rng = np.random.default_rng(105)
    return {"data": rng.gamma(3.0, 1.0 / 2.0, size=100)}


def dirichlet_categorical_data() -> dict:
    """150 categories in 0..3 ``data``."""
    rng = np.random.default_rng(106)
    return {"data": rng.choice(4, size=150, p=[0.1, 0.2, 0.3, 0.4])}


MINIBATCH_ROWS, MINIBATCH_FEATURES, MINIBATCH_BATCH = 50_000, 4, 500


def minibatch_regression_data() -> dict:
    """50,000 rows of 4 features ``X`` and outcomes ``y`` (the minibatch regression)."""
    rng = np.random.default_rng(107)
    X = rng.normal(size=(MINIBATCH_ROWS, MINIBATCH_FEATURES))
    y = 1.0 + X @ np.array([0.5, -1.0, 0.25, 2.0]) + rng.normal(0.0, 1.5, size=MINIBATCH_ROWS)
    return {"X": X, "y": y}


COLLINEAR_YEARS = np.arange(1950, 2021, dtype="float64")


def collinear_regression_data() -> dict:
    """A linear trend over the calendar years 1950-2020: ``years`` (not centred) and ``y``."""
    rng = np.random.default_rng(108)
    y = 0.015 * (COLLINEAR_YEARS - 1950.0) + rng.normal(0.0, 0.1, size=COLLINEAR_YEARS.size)
    return {"years": COLLINEAR_YEARS.copy(), "y": y}


# ------------------------------------------------------------------ posteriordb data
@cache
def _pdb_data(name: str) -> dict:
    with open(POSTERIORDB_DIR / "data" / f"{name}.json") as f:
        return json.load(f)


def pdb_eight_schools_data() -> dict:
    """posteriordb's ``eight_schools`` data: ``J``, ``y``, ``sigma``."""
    d = _pdb_data("eight_schools")
    return {
        "J": int(d["J"]),
        "y": np.asarray(d["y"], dtype="float64"),
        "sigma": np.asarray(d["sigma"], dtype="float64"),
    }


def pdb_kidiq_data() -> dict:
    """posteriordb's ``kidiq`` data: ``mom_hs``, ``mom_iq``, ``kid_score``."""
    d = _pdb_data("kidiq")
    return {k: np.asarray(d[k], dtype="float64") for k in ("mom_hs", "mom_iq", "kid_score")}


def pdb_mesquite_data() -> dict:
    """posteriordb's ``mesquite`` data: the 5 predictors ``X`` of ``logmesquite_logvash``, ``log_weight``."""
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
    return {"X": X, "log_weight": np.log(d["weight"])}


def pdb_arK_data() -> dict:
    """posteriordb's ``arK`` data as ``K``, the lag matrix ``lags`` and the outcomes ``y`` (t >= K)."""
    d = _pdb_data("arK")
    K, T = d["K"], d["T"]
    y = np.asarray(d["y"], dtype="float64")
    # column k-1 holds the lag-k value y[t-k] for t = K..T-1 (0-based)
    lags = np.column_stack([y[K - k : T - k] for k in range(1, K + 1)])
    return {"K": int(K), "lags": lags, "y": y[K:]}


def pdb_gp_pois_regr_data() -> dict:
    """posteriordb's ``gp_pois_regr`` data: ``N``, squared distances ``sq_dist`` and counts ``k`` (int64)."""
    d = _pdb_data("gp_pois_regr")
    x = np.asarray(d["x"], dtype="float64")
    return {
        "N": int(d["N"]),
        "sq_dist": (x[:, None] - x[None, :]) ** 2,
        "k": np.asarray(d["k"], dtype="int64"),
    }


# ------------------------------------------------------------------ registries
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
    if name not in COMPARED:
        raise KeyError(f"unknown model {name!r}; known: {sorted(COMPARED)}")
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


def compare(name: str, draws: Mapping[str, np.ndarray], var_names=None) -> dict[str, dict[str, float]]:
    """Accuracy of posterior draws against the reference of model ``name``.

    Parameters
    ----------
    name : str
        A key of :data:`COMPARED`.
    draws : mapping
        Variable name to draws, draws on the first axis (see :func:`flat_draws`).
        Every variable of ``COMPARED[name]`` must be present.
    var_names : sequence of str, optional
        Compare only these variables (a subset of ``COMPARED[name]``), for a
        library that cannot express the others.

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
        if var_names is not None and var not in var_names:
            continue
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
