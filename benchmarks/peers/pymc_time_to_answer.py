"""The accuracy models on PyMC, for :mod:`benchmarks.time_to_answer`: grid search and timed fit.

Run with an interpreter that has PyMC installed, from the repository root::

    /path/to/python benchmarks/peers/pymc_time_to_answer.py --model NAME --method advi --mode search
    /path/to/python benchmarks/peers/pymc_time_to_answer.py --model NAME --method advi --mode time \\
        --n 5000 --lr 0.03

``search`` runs ``pm.fit(n, method, obj_optimizer=pm.adam(learning_rate=lr),
random_seed=1)`` once per learning rate up to the largest ``n`` left and
judges ``approx.sample(4000)`` from a callback at each ``n`` of the grid (the
draws use their own compiled function and seed, so they leave the fit's
random stream alone: the parameters after ``n`` iterations are those of a
fit of ``n`` iterations). ``time`` times one such fit, without callbacks, in
this fresh process (compilation included; PyMC's compilation caches are on
disk, and the search has just filled them, so this is a warm machine's
figure). One JSON line either way.

The models are those of :mod:`benchmarks.accuracy_models`, written with
PyMC's own distributions on the arrays of :mod:`benchmarks.accuracy_data`.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np

from benchmarks import accuracy_data as data
from benchmarks import time_to_answer as tta

_t0 = time.perf_counter()
import pymc as pm
import pytensor.tensor as pt

IMPORT_SECONDS = time.perf_counter() - _t0

LIBRARY = "PyMC"


# ------------------------------------------------------------------ models
def eight_schools_noncentered():
    d = data.eight_schools_data()
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 5.0)
        tau = pm.HalfCauchy("tau", 5.0)
        theta_tilde = pm.Normal("theta_tilde", 0.0, 1.0, shape=8)
        theta = pm.Deterministic("theta", mu + tau * theta_tilde)
        pm.Normal("y", theta, d["sigma"], observed=d["y"])
    return model


def varying_intercepts():
    d = data.varying_intercepts_data()
    with pm.Model() as model:
        mu_a = pm.Normal("mu_a", 0.0, 5.0)
        sigma_a = pm.HalfNormal("sigma_a", 2.0)
        a = pm.Normal("a", mu_a, sigma_a, shape=data.VARYING_GROUPS)
        b = pm.Normal("b", 0.0, 5.0)
        sigma = pm.HalfNormal("sigma", 2.0)
        pm.Normal("y", a[d["group"]] + b * d["x"], sigma, observed=d["y"])
    return model


def logistic_regression():
    d = data.logistic_regression_data()
    with pm.Model() as model:
        intercept = pm.Normal("intercept", 0.0, 2.5)
        beta = pm.Normal("beta", 0.0, 2.5, shape=d["X"].shape[1])
        pm.Bernoulli("y", logit_p=intercept + pt.dot(d["X"], beta), observed=d["y"])
    return model


def poisson_offset():
    d = data.poisson_offset_data()
    with pm.Model() as model:
        intercept = pm.Normal("intercept", 0.0, 2.0)
        beta = pm.Normal("beta", 0.0, 1.0, shape=2)
        pm.Poisson("y", mu=pt.exp(d["log_exposure"] + intercept + pt.dot(d["X"], beta)), observed=d["counts"])
    return model


def mvnormal_lkj():
    d = data.mvnormal_lkj_data()
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 5.0, shape=3)
        chol, _, _ = pm.LKJCholeskyCov(
            "chol", n=3, eta=2.0, sd_dist=pm.Exponential.dist(1.0), compute_corr=True
        )
        pm.MvNormal("y", mu=mu, chol=chol, observed=d["data"])
    return model


def gamma_exponential_scales():
    d = data.gamma_exponential_scales_data()
    with pm.Model() as model:
        alpha = pm.Exponential("alpha", 0.2)
        beta = pm.Exponential("beta", 0.2)
        pm.Gamma("y", alpha=alpha, beta=beta, observed=d["data"])
    return model


def dirichlet_categorical():
    d = data.dirichlet_categorical_data()
    with pm.Model() as model:
        p = pm.Dirichlet("p", np.ones(4))
        pm.Categorical("y", p=p, observed=d["data"])
    return model


def minibatch_linear_regression():
    d = data.minibatch_regression_data()
    # one Minibatch call for both arrays, so X and y rows are drawn together
    X_mb, y_mb = pm.Minibatch(d["X"], d["y"], batch_size=data.MINIBATCH_BATCH)
    with pm.Model() as model:
        intercept = pm.Normal("intercept", 0.0, 10.0)
        beta = pm.Normal("beta", 0.0, 10.0, shape=data.MINIBATCH_FEATURES)
        sigma = pm.HalfNormal("sigma", 5.0)
        pm.Normal("y", intercept + pt.dot(X_mb, beta), sigma, observed=y_mb, total_size=data.MINIBATCH_ROWS)
    return model


def collinear_regression():
    d = data.collinear_regression_data()
    with pm.Model() as model:
        intercept = pm.Flat("intercept")
        slope = pm.Flat("slope")
        sigma = pm.HalfNormal("sigma", 1.0)
        pm.Normal("y", intercept + slope * d["years"], sigma, observed=d["y"])
    return model


def pdb_eight_schools_noncentered():
    d = data.pdb_eight_schools_data()
    with pm.Model() as model:
        theta_tilde = pm.Normal("theta_tilde", 0.0, 1.0, shape=d["J"])
        mu = pm.Normal("mu", 0.0, 5.0)
        tau = pm.HalfCauchy("tau", 5.0)
        theta = pm.Deterministic("theta", mu + tau * theta_tilde)
        pm.Normal("y", theta, d["sigma"], observed=d["y"])
    return model


def pdb_kidiq():
    d = data.pdb_kidiq_data()
    with pm.Model() as model:
        beta = pm.Flat("beta", shape=3)
        sigma = pm.HalfCauchy("sigma", 2.5)
        mu = beta[0] + beta[1] * d["mom_hs"] + beta[2] * d["mom_iq"]
        pm.Normal("kid_score", mu, sigma, observed=d["kid_score"])
    return model


def pdb_mesquite():
    d = data.pdb_mesquite_data()
    with pm.Model() as model:
        beta = pm.Flat("beta", shape=6)
        sigma = pm.HalfFlat("sigma")
        pm.Normal("log_weight", beta[0] + pt.dot(d["X"], beta[1:]), sigma, observed=d["log_weight"])
    return model


def pdb_arK():
    d = data.pdb_arK_data()
    with pm.Model() as model:
        alpha = pm.Normal("alpha", 0.0, 10.0)
        beta = pm.Normal("beta", 0.0, 10.0, shape=d["K"])
        sigma = pm.HalfCauchy("sigma", 2.5)
        pm.Normal("y", alpha + pt.dot(d["lags"], beta), sigma, observed=d["y"])
    return model


def pdb_gp_pois_regr():
    d = data.pdb_gp_pois_regr_data()
    n = d["N"]
    with pm.Model() as model:
        rho = pm.Gamma("rho", alpha=25.0, beta=4.0)
        alpha = pm.HalfNormal("alpha", 2.0)
        f_tilde = pm.Normal("f_tilde", 0.0, 1.0, shape=n)
        cov = alpha**2 * pt.exp(-d["sq_dist"] / (2.0 * rho**2)) + 1e-10 * np.eye(n)
        f = pm.Deterministic("f", pt.dot(pt.linalg.cholesky(cov), f_tilde))
        pm.Poisson("k", mu=pt.exp(f), observed=d["k"])
    return model


MODELS = {name: fn for name, fn in globals().copy().items() if name in tta.MODEL_NAMES and callable(fn)}


# ------------------------------------------------------------------ fits
def _draws(approx, names, seed) -> dict:
    trace = approx.sample(tta.DRAWS, random_seed=seed, return_inferencedata=False)
    return {name: np.asarray(trace.get_values(name)) for name in names}


def _fit(model, method, n, lr, seed, callbacks=None):
    with model:
        return pm.fit(
            n,
            method=method,
            random_seed=seed,
            progressbar=False,
            obj_optimizer=pm.adam(learning_rate=lr),
            callbacks=callbacks or [],
        )


def search(args) -> dict:
    grid_n, grid_lr = tta.parse_grid(args)
    names = data.COMPARED[args.model]

    def fit(lr, ns, checkpoints):
        model = MODELS[args.model]()
        wanted = set(ns)

        def callback(approx, losses, i):
            if i in wanted and checkpoints.check(i, _draws(approx, names, args.seed)):
                raise StopIteration  # pm.fit's loop ends quietly on StopIteration

        _fit(model, args.method, max(ns), lr, args.seed, [callback])

    result = tta.GridSearch(args.model, args.method, grid_n, grid_lr, budget=args.budget).run(fit)
    return {"import_seconds": IMPORT_SECONDS, **result}


def timed(args) -> dict:
    model = MODELS[args.model]()
    start = time.perf_counter()
    approx = _fit(model, args.method, args.n, args.lr, args.seed)
    fit_seconds = time.perf_counter() - start
    draws = _draws(approx, data.COMPARED[args.model], args.seed)
    return {
        "import_seconds": IMPORT_SECONDS,
        "fit_seconds": fit_seconds,
        "n": args.n,
        "lr": args.lr,
        **tta.judge(args.model, args.method, draws),
    }


if __name__ == "__main__":
    args = tta.worker_parser(__doc__.splitlines()[0], peer=True).parse_args()
    sys.exit(
        tta.worker_main(LIBRARY, lambda: pm.__version__, search if args.mode == "search" else timed, args)
    )
