"""The accuracy models on NumPyro, for :mod:`benchmarks.time_to_answer`: grid search and timed fit.

Run with an interpreter that has NumPyro installed, from the repository root::

    /path/to/python benchmarks/peers/numpyro_time_to_answer.py --model NAME --method advi --mode search
    /path/to/python benchmarks/peers/numpyro_time_to_answer.py --model NAME --method advi --mode time \\
        --n 5000 --lr 0.03

The fit is ``SVI(model, guide, numpyro.optim.Adam(lr), Trace_ELBO())`` with
``AutoNormal`` (``advi``) or ``AutoMultivariateNormal`` (``fullrank_advi``)
and their default initialisation, run by ``svi.run(jax.random.key(1), n,
progress_bar=False)``. ``search`` steps the same ``svi.init`` state with
``svi.update`` in compiled chunks of 1000 iterations (what ``svi.run`` scans
over, so the state after ``n`` iterations is that of ``svi.run`` with ``n``)
and judges 4000 draws of ``Predictive(model, guide=guide, params=...)``
(latent sites, constrained, and deterministic sites) at each ``n`` of the grid.
``time`` times one ``svi.run`` in this fresh process (compilation included).
Float64 throughout, as varbayes and PyMC. One JSON line either way.

The models are those of :mod:`benchmarks.accuracy_models`, written with
NumPyro's distributions on the arrays of :mod:`benchmarks.accuracy_data`. The
minibatch model subsamples 500 of the 50,000 rows per step with
``numpyro.plate(..., subsample_size=500)`` (the plate scales the likelihood).
``pm.Flat`` / ``pm.HalfFlat`` are ``ImproperUniform`` sites; the LKJ
Cholesky covariance is ``LKJCholesky(3, 2)`` scaled by ``Exponential(1)``
standard deviations (the site ``chol_stds``), with the packed factor and the
correlation matrix as deterministic sites ``chol`` and ``chol_corr`` (PyMC's
names and packing).
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np

from benchmarks import accuracy_data as data
from benchmarks import time_to_answer as tta

_t0 = time.perf_counter()
import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
from numpyro.distributions import constraints
from numpyro.infer import SVI, Predictive, Trace_ELBO
from numpyro.infer.autoguide import AutoMultivariateNormal, AutoNormal

numpyro.enable_x64()
IMPORT_SECONDS = time.perf_counter() - _t0

LIBRARY = "NumPyro"
CHUNK = 1000
GUIDES = {"advi": AutoNormal, "fullrank_advi": AutoMultivariateNormal}


def _flat(shape=()):
    return dist.ImproperUniform(constraints.real, (), tuple(shape))


# ------------------------------------------------------------------ models
# Each builder returns a model function of no argument (the data are closed over).
def eight_schools_noncentered():
    d = data.eight_schools_data()
    y, sigma = jnp.asarray(d["y"]), jnp.asarray(d["sigma"])

    def model():
        mu = numpyro.sample("mu", dist.Normal(0.0, 5.0))
        tau = numpyro.sample("tau", dist.HalfCauchy(5.0))
        theta_tilde = numpyro.sample("theta_tilde", dist.Normal(0.0, 1.0).expand([8]).to_event(1))
        theta = numpyro.deterministic("theta", mu + tau * theta_tilde)
        numpyro.sample("y", dist.Normal(theta, sigma).to_event(1), obs=y)

    return model


def varying_intercepts():
    d = data.varying_intercepts_data()
    group, x, y = jnp.asarray(d["group"]), jnp.asarray(d["x"]), jnp.asarray(d["y"])

    def model():
        mu_a = numpyro.sample("mu_a", dist.Normal(0.0, 5.0))
        sigma_a = numpyro.sample("sigma_a", dist.HalfNormal(2.0))
        a = numpyro.sample("a", dist.Normal(mu_a, sigma_a).expand([data.VARYING_GROUPS]).to_event(1))
        b = numpyro.sample("b", dist.Normal(0.0, 5.0))
        sigma = numpyro.sample("sigma", dist.HalfNormal(2.0))
        numpyro.sample("y", dist.Normal(a[group] + b * x, sigma).to_event(1), obs=y)

    return model


def logistic_regression():
    d = data.logistic_regression_data()
    X, y = jnp.asarray(d["X"]), jnp.asarray(d["y"])

    def model():
        intercept = numpyro.sample("intercept", dist.Normal(0.0, 2.5))
        beta = numpyro.sample("beta", dist.Normal(0.0, 2.5).expand([X.shape[1]]).to_event(1))
        numpyro.sample("y", dist.Bernoulli(logits=intercept + X @ beta).to_event(1), obs=y)

    return model


def poisson_offset():
    d = data.poisson_offset_data()
    log_exposure, X, counts = (jnp.asarray(d[k]) for k in ("log_exposure", "X", "counts"))

    def model():
        intercept = numpyro.sample("intercept", dist.Normal(0.0, 2.0))
        beta = numpyro.sample("beta", dist.Normal(0.0, 1.0).expand([2]).to_event(1))
        rate = jnp.exp(log_exposure + intercept + X @ beta)
        numpyro.sample("y", dist.Poisson(rate).to_event(1), obs=counts)

    return model


def mvnormal_lkj():
    y = jnp.asarray(data.mvnormal_lkj_data()["data"])
    rows, cols = np.tril_indices(3)  # PyMC's packing of the Cholesky factor: row-major lower triangle

    def model():
        mu = numpyro.sample("mu", dist.Normal(0.0, 5.0).expand([3]).to_event(1))
        stds = numpyro.sample("chol_stds", dist.Exponential(1.0).expand([3]).to_event(1))
        corr_chol = numpyro.sample("chol_corr_cholesky", dist.LKJCholesky(3, concentration=2.0))
        chol = stds[:, None] * corr_chol
        numpyro.deterministic("chol", chol[rows, cols])
        numpyro.deterministic("chol_corr", corr_chol @ corr_chol.T)
        numpyro.sample(
            "y", dist.MultivariateNormal(mu, scale_tril=chol).expand([y.shape[0]]).to_event(1), obs=y
        )

    return model


def gamma_exponential_scales():
    y = jnp.asarray(data.gamma_exponential_scales_data()["data"])

    def model():
        alpha = numpyro.sample("alpha", dist.Exponential(0.2))
        beta = numpyro.sample("beta", dist.Exponential(0.2))
        numpyro.sample("y", dist.Gamma(alpha, beta).expand([y.shape[0]]).to_event(1), obs=y)

    return model


def dirichlet_categorical():
    y = jnp.asarray(data.dirichlet_categorical_data()["data"])

    def model():
        p = numpyro.sample("p", dist.Dirichlet(jnp.ones(4)))
        numpyro.sample("y", dist.Categorical(probs=p).expand([y.shape[0]]).to_event(1), obs=y)

    return model


def minibatch_linear_regression():
    d = data.minibatch_regression_data()
    X, y = jnp.asarray(d["X"]), jnp.asarray(d["y"])

    def model():
        intercept = numpyro.sample("intercept", dist.Normal(0.0, 10.0))
        beta = numpyro.sample("beta", dist.Normal(0.0, 10.0).expand([data.MINIBATCH_FEATURES]).to_event(1))
        sigma = numpyro.sample("sigma", dist.HalfNormal(5.0))
        with numpyro.plate("rows", data.MINIBATCH_ROWS, subsample_size=data.MINIBATCH_BATCH) as idx:
            numpyro.sample("y", dist.Normal(intercept + X[idx] @ beta, sigma), obs=y[idx])

    return model


def collinear_regression():
    d = data.collinear_regression_data()
    years, y = jnp.asarray(d["years"]), jnp.asarray(d["y"])

    def model():
        intercept = numpyro.sample("intercept", _flat())
        slope = numpyro.sample("slope", _flat())
        sigma = numpyro.sample("sigma", dist.HalfNormal(1.0))
        numpyro.sample("y", dist.Normal(intercept + slope * years, sigma).to_event(1), obs=y)

    return model


def pdb_eight_schools_noncentered():
    d = data.pdb_eight_schools_data()
    y, sigma, J = jnp.asarray(d["y"]), jnp.asarray(d["sigma"]), d["J"]

    def model():
        theta_tilde = numpyro.sample("theta_tilde", dist.Normal(0.0, 1.0).expand([J]).to_event(1))
        mu = numpyro.sample("mu", dist.Normal(0.0, 5.0))
        tau = numpyro.sample("tau", dist.HalfCauchy(5.0))
        theta = numpyro.deterministic("theta", mu + tau * theta_tilde)
        numpyro.sample("y", dist.Normal(theta, sigma).to_event(1), obs=y)

    return model


def pdb_kidiq():
    d = data.pdb_kidiq_data()
    mom_hs, mom_iq, kid_score = (jnp.asarray(d[k]) for k in ("mom_hs", "mom_iq", "kid_score"))

    def model():
        beta = numpyro.sample("beta", _flat((3,)))
        sigma = numpyro.sample("sigma", dist.HalfCauchy(2.5))
        mu = beta[0] + beta[1] * mom_hs + beta[2] * mom_iq
        numpyro.sample("kid_score", dist.Normal(mu, sigma).to_event(1), obs=kid_score)

    return model


def pdb_mesquite():
    d = data.pdb_mesquite_data()
    X, log_weight = jnp.asarray(d["X"]), jnp.asarray(d["log_weight"])

    def model():
        beta = numpyro.sample("beta", _flat((6,)))
        sigma = numpyro.sample("sigma", dist.ImproperUniform(constraints.positive, (), ()))
        numpyro.sample("log_weight", dist.Normal(beta[0] + X @ beta[1:], sigma).to_event(1), obs=log_weight)

    return model


def pdb_arK():
    d = data.pdb_arK_data()
    lags, y, K = jnp.asarray(d["lags"]), jnp.asarray(d["y"]), d["K"]

    def model():
        alpha = numpyro.sample("alpha", dist.Normal(0.0, 10.0))
        beta = numpyro.sample("beta", dist.Normal(0.0, 10.0).expand([K]).to_event(1))
        sigma = numpyro.sample("sigma", dist.HalfCauchy(2.5))
        numpyro.sample("y", dist.Normal(alpha + lags @ beta, sigma).to_event(1), obs=y)

    return model


def pdb_gp_pois_regr():
    d = data.pdb_gp_pois_regr_data()
    sq_dist, k, n = jnp.asarray(d["sq_dist"]), jnp.asarray(d["k"]), d["N"]

    def model():
        rho = numpyro.sample("rho", dist.Gamma(25.0, 4.0))
        alpha = numpyro.sample("alpha", dist.HalfNormal(2.0))
        f_tilde = numpyro.sample("f_tilde", dist.Normal(0.0, 1.0).expand([n]).to_event(1))
        cov = alpha**2 * jnp.exp(-sq_dist / (2.0 * rho**2)) + 1e-10 * jnp.eye(n)
        f = numpyro.deterministic("f", jnp.linalg.cholesky(cov) @ f_tilde)
        numpyro.sample("k", dist.Poisson(jnp.exp(f)).to_event(1), obs=k)

    return model


MODELS = {name: fn for name, fn in globals().copy().items() if name in tta.MODEL_NAMES and callable(fn)}


# ------------------------------------------------------------------ fits
def _svi(model, method, lr):
    guide = GUIDES[method](model)
    return guide, SVI(model, guide, numpyro.optim.Adam(lr), Trace_ELBO())


def _sampler(model, guide, names):
    """A compiled ``(params, key) -> draws`` of the compared sites (4000 draws each)."""

    def draws(params, key):
        predictive = Predictive(
            model, guide=guide, params=params, num_samples=tta.DRAWS, return_sites=list(names)
        )
        return predictive(key)

    return jax.jit(draws)


def _numpy(draws, names) -> dict:
    return {name: np.asarray(draws[name]) for name in names}


def search(args) -> dict:
    grid_n, grid_lr = tta.parse_grid(args)
    if any(n % CHUNK for n in grid_n):
        raise ValueError(f"grid iterations must be multiples of {CHUNK}")
    names = data.COMPARED[args.model]

    def fit(lr, ns, checkpoints):
        model = MODELS[args.model]()
        guide, svi = _svi(model, args.method, lr)
        state = svi.init(jax.random.key(args.seed))

        @jax.jit
        def chunk(state):
            return jax.lax.scan(lambda s, _: svi.update(s), state, None, length=CHUNK)

        sample = _sampler(model, guide, names)
        done, wanted = 0, set(ns)
        while done < max(ns):
            state, _ = chunk(state)
            done += CHUNK
            if done in wanted:
                params = svi.get_params(state)
                if not all(bool(jnp.all(jnp.isfinite(v))) for v in jax.tree_util.tree_leaves(params)):
                    raise FloatingPointError(f"non-finite parameters after {done:,} iterations")
                draws = _numpy(sample(params, jax.random.key(args.seed + 1000)), names)
                if checkpoints.check(done, draws):
                    return

    result = tta.GridSearch(args.model, args.method, grid_n, grid_lr, budget=args.budget).run(fit)
    return {"import_seconds": IMPORT_SECONDS, **result}


def timed(args) -> dict:
    model = MODELS[args.model]()
    guide, svi = _svi(model, args.method, args.lr)
    start = time.perf_counter()
    result = svi.run(jax.random.key(args.seed), args.n, progress_bar=False)
    jax.block_until_ready(result)
    fit_seconds = time.perf_counter() - start
    names = data.COMPARED[args.model]
    draws = _numpy(_sampler(model, guide, names)(result.params, jax.random.key(args.seed + 1000)), names)
    final_loss = float(np.mean(np.asarray(result.losses)[-1000:]))
    return {
        "import_seconds": IMPORT_SECONDS,
        "fit_seconds": fit_seconds,
        "n": args.n,
        "lr": args.lr,
        "final_avg_loss": final_loss if math.isfinite(final_loss) else None,
        **tta.judge(args.model, args.method, draws),
    }


if __name__ == "__main__":
    args = tta.worker_parser(__doc__.splitlines()[0], peer=True).parse_args()
    sys.exit(
        tta.worker_main(
            LIBRARY, lambda: numpyro.__version__, search if args.mode == "search" else timed, args
        )
    )
