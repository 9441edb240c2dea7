"""Pathfinder on posteriordb's posteriors: accuracy, Pareto k̂, gradient evaluations and whole-call time.

Usage (from the repository root)::

    python -m benchmarks.pathfinder                      # every posterior, 3 seeds, table on stdout
    python -m benchmarks.pathfinder --only pdb_kidiq --seeds 1 --json out.json --markdown out.md

Three methods on each posterior of :mod:`benchmarks.accuracy_models` (``pdb_*``):

``pathfinder``
    ``pm.fit(method="pathfinder")`` with its defaults (4 paths, 1000 draws
    per path pooled, 1000 kept after Pareto-smoothed importance resampling;
    on a CPU the paths run one after another in the compiled program; when
    the pooled draws' k̂ is 0.7 or more, rounds of adaptive importance
    sampling refine the proposal first, until k̂ is below 0.7 with an ESS of
    1000 or more, ``importance="adaptive"``).
``pathfinder_psis``
    The same with ``importance="psis"``: the paths' pooled draws resampled
    as they are (multi-path Pathfinder as in the paper, and varbayes' before
    the refinement).
``pathfinder_vmap``
    The same with ``vectorize=True``: the paths under ``jax.vmap``, as on an
    accelerator (and as the ``blackjax`` row runs them).
``fullrank_advi``
    ``pm.fit(n=None, method="fullrank_advi")``: varbayes' converging full-rank fit.
``blackjax``
    ``blackjax.vi.pathfinder.approximate`` called directly on the same
    log-density (varbayes' compiled model), one per path under ``jax.vmap``
    in one jitted program, with the settings of ``pathfinder`` (4 paths from
    the same jittered starts, ``maxiter=1000``, ``maxcor=5``, 25 ELBO draws,
    ``ftol=1e-10``, ``gtol=1e-8``), then ``blackjax.vi.pathfinder.sample``
    (1000 per path) and the same PSIS resampling, weighting each draw by its
    own path's normal (the multi-path Pathfinder of the paper). pymc-extras'
    Pathfinder is not the peer: it does not install beside PyMC 6.4 (pip
    resolves ``pymc-extras`` to 0.15.1 with PyMC 6.3.2).

``--diagnose`` (with ``--only``) asks why the paths' mixture misses a posterior,
in one process: the error and k̂ of its resampled draws (``importance="psis"``)
with the defaults and with 4x the paths, 10x the draws per path, 8x the ELBO
draws and 4x the L-BFGS history, then with the adaptive refinement; each path's
kept normal against NUTS's unconstrained draws (mean offset and sd ratio
per coordinate); and importance resampling from one normal with NUTS's
mean and covariance, the best a Gaussian proposal can be.

``--only large_logistic`` runs a logistic regression on 200,000 rows, where
one gradient costs milliseconds (the reference is its Laplace approximation,
which at that size is the posterior).

Every (method, posterior, seed) runs in a fresh process with JAX's and
varbayes' compilation caches off, so the time is the whole call a user
waits for on a first fit, compilation included (model building and imports
excluded; varbayes, blackjax and arviz-stats are imported before the clock
starts); its CPU time (the process's, all threads) is reported beside it, as
the measure that other work on the machine does not inflate. Reported: the largest ``|mean - reference mean| / reference sd`` over
every element of the compared variables (posteriordb's reference: Stan NUTS),
the range of sd ratios, Pareto k̂ (Pathfinder: of the importance ratios of
the pool it resampled; ADVI: ``approx.diagnose()``), k̂ of
``approx.diagnose()`` (fresh draws from the final proposal, after the clock
stops), and gradient evaluations of ``log p``:
for Pathfinder, those each path's L-BFGS needs (the start and every
line-search trial, summed over paths; blackjax's are counted in a separate,
untimed run of each path, and include the value and gradient it recomputes
at each accepted point); for ADVI, one per iteration (step-size search
included). Evaluations of ``log p`` without a gradient are counted apart:
Pathfinder's ELBO estimates (25 draws at each iterate; blackjax at each of
the ``maxiter + 1`` points of its fixed-length path), its pooled draws and
the refinement's draws (``approx.log_density_evals``); ADVI's fit makes none
(its k̂ is computed after the clock stops).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MODELS = ["pdb_eight_schools_noncentered", "pdb_kidiq", "pdb_mesquite", "pdb_arK", "pdb_gp_pois_regr"]
METHODS = ["pathfinder", "pathfinder_psis", "pathfinder_vmap", "fullrank_advi", "blackjax"]
NUM_PATHS, DRAWS_PER_PATH, NUM_DRAWS, JITTER = 4, 1000, 1000, 2.0
SETTINGS = {"maxiter": 1000, "maxcor": 5, "num_samples": 25, "ftol": 1e-10, "gtol": 1e-8}


# ------------------------------------------------------------------ workers
# ------------------------------------------------------------------ a large-data model
LARGE = "large_logistic"
LARGE_ROWS, LARGE_FEATURES, LARGE_PRIOR_SD = 200_000, 10, 2.5


def _large_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(20261128)
    X = rng.normal(size=(LARGE_ROWS, LARGE_FEATURES))
    beta = rng.normal(0.0, 0.5, size=LARGE_FEATURES)
    y = rng.random(LARGE_ROWS) < 1.0 / (1.0 + np.exp(-(0.3 + X @ beta)))
    return X, y.astype("int64")


def large_logistic():
    """Logistic regression on 200,000 rows x 10 features: each gradient costs milliseconds."""
    import pytensor.tensor as pt

    import varbayes as pm

    X, y = _large_data()
    with pm.Model() as model:
        intercept = pm.Normal("intercept", 0.0, LARGE_PRIOR_SD)
        beta = pm.Normal("beta", 0.0, LARGE_PRIOR_SD, shape=LARGE_FEATURES)
        pm.Bernoulli("y", logit_p=intercept + pt.dot(X, beta), observed=y)
    return model


def _large_reference() -> tuple[np.ndarray, np.ndarray]:
    """Mean and sd of the Laplace approximation (Newton's method): with 200,000 rows the posterior is normal."""
    X, y = _large_data()
    design = np.column_stack([np.ones(len(y)), X])
    coef = np.zeros(design.shape[1])
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-design @ coef))
        grad = design.T @ (y - p) - coef / LARGE_PRIOR_SD**2
        hessian = (design * (p * (1 - p))[:, None]).T @ design + np.eye(len(coef)) / LARGE_PRIOR_SD**2
        step = np.linalg.solve(hessian, grad)
        coef += step
        if np.max(np.abs(step)) < 1e-12:
            break
    return coef, np.sqrt(np.diag(np.linalg.inv(hessian)))


def _build(model_name: str):
    from benchmarks import accuracy_models as am

    return large_logistic() if model_name == LARGE else am.MODELS[model_name]()


def _accuracy(model_name: str, draws: dict) -> dict:
    from benchmarks import accuracy_models as am

    if model_name == LARGE:
        mean, sd = _large_reference()
        values = np.column_stack(
            [draws["intercept"].reshape(-1), draws["beta"].reshape(len(draws["beta"]), -1)]
        )
        ratio = values.std(axis=0, ddof=1) / sd
        return {
            "mean_err": float(np.max(np.abs(values.mean(axis=0) - mean) / sd)),
            "worst_var": "intercept/beta",
            "sd_ratio_min": float(ratio.min()),
            "sd_ratio_max": float(ratio.max()),
        }
    result = am.compare(model_name, draws)
    return {
        "mean_err": max(r["mean_err"] for r in result.values()),
        "worst_var": max(result, key=lambda v: result[v]["mean_err"]),
        "sd_ratio_min": min(r["sd_ratio_min"] for r in result.values()),
        "sd_ratio_max": max(r["sd_ratio_max"] for r in result.values()),
    }


def _constrained(compiled, theta: np.ndarray) -> dict:
    """Named constrained draws of unconstrained rows ``theta`` (draws, D)."""
    import jax

    data = compiled.constrained.data()
    values = jax.jit(jax.vmap(lambda t: compiled.constrained.fn(t, data)))(theta)
    return dict(zip(compiled.constrained.output_names, (np.asarray(v) for v in values)))


def _pathfinder(
    model_name: str, seed: int, vectorize: bool | None = None, importance: str | None = "adaptive"
) -> dict:
    import varbayes as pm

    model = _build(model_name)
    start, cpu_start = time.perf_counter(), time.process_time()
    approx = pm.fit(
        None,
        method="pathfinder",
        model=model,
        random_seed=seed,
        progressbar=False,
        inf_kwargs={"vectorize": vectorize, "importance": importance},
    )
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    draws = _constrained(approx.compiled, approx.histogram.get_value())
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "grad_evals": approx.grad_evals,
        # the ELBO estimate at every iterate, the draws pooled from every path, the refinement's
        "density_evals": approx.log_density_evals,
        "khat": approx.khat,
        "diagnose_khat": approx.diagnose(random_seed=seed).khat,
        "rounds": approx.rounds,
        "iterations": approx.paths.iterations.tolist(),
        **_accuracy(model_name, draws),
    }


def _fullrank_advi(model_name: str, seed: int) -> dict:
    import varbayes as pm
    from benchmarks import accuracy_models as am

    model = _build(model_name)
    start, cpu_start = time.perf_counter(), time.process_time()
    approx = pm.fit(None, method="fullrank_advi", model=model, random_seed=seed, progressbar=False)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    conv = approx.convergence
    draws = am.flat_draws(approx.sample(4000, random_seed=seed).posterior)
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "grad_evals": conv.iterations + conv.search_iterations,
        "density_evals": 0,
        "khat": approx.diagnose(random_seed=seed).khat,
        "diagnose_khat": approx.diagnose(random_seed=seed).khat,
        "iterations": conv.iterations,
        **_accuracy(model_name, draws),
    }


def _counting(logdensity_fn, calls: list):
    """``logdensity_fn`` whose every gradient evaluation appends to ``calls`` (from inside the program)."""
    import jax

    @jax.custom_vjp
    def counted(x):
        return logdensity_fn(x)

    def forward(x):
        return jax.vjp(logdensity_fn, x)

    def backward(pullback, cotangent):
        jax.debug.callback(lambda: calls.append(1))
        return pullback(cotangent)

    counted.defvjp(forward, backward)
    return counted


def _blackjax(model_name: str, seed: int) -> dict:
    import blackjax
    import jax
    import jax.numpy as jnp
    from arviz_stats.base import array_stats

    from varbayes.compile import compile_model

    model = _build(model_name)
    rng = np.random.default_rng(seed)
    start, cpu_start = time.perf_counter(), time.process_time()
    compiled = compile_model(model)
    data = compiled.logdensity.data()
    theta0 = compiled.initial_theta()
    starts = theta0 + rng.uniform(-JITTER, JITTER, size=(NUM_PATHS, theta0.size))

    def run(key, starts, data):
        def logdensity(x):
            return compiled.logdensity.fn(x, data)

        def one(key, x0):
            path_key, draw_key = jax.random.split(key)
            state, _ = blackjax.vi.pathfinder.approximate(path_key, logdensity, x0, **SETTINGS)
            draws, log_q = blackjax.vi.pathfinder.sample(draw_key, state, DRAWS_PER_PATH)
            return state.elbo, draws, log_q, jax.vmap(logdensity)(draws)

        return jax.vmap(one)(jax.random.split(key, NUM_PATHS), starts)

    elbo, draws, log_q, log_p = jax.device_get(jax.jit(run)(jax.random.key(seed), jnp.asarray(starts), data))
    log_ratios = np.where(np.isfinite(elbo)[:, None], log_p - log_q, -np.inf).reshape(-1)
    log_ratios = np.where(np.isnan(log_ratios), -np.inf, log_ratios)
    log_weights, khat = array_stats.psislw(-log_ratios, r_eff=1.0, axis=-1)
    weights = np.exp(log_weights - np.max(log_weights))
    weights /= weights.sum()
    kept = draws.reshape(-1, theta0.size)[rng.choice(weights.size, size=NUM_DRAWS, p=weights)]
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start

    # untimed: each path alone, its gradient evaluations counted as they happen
    calls: list = []
    counted = _counting(lambda x: compiled.logdensity.fn(x, data), calls)
    one_path = jax.jit(lambda key, x0: blackjax.vi.pathfinder.approximate(key, counted, x0, **SETTINGS)[1])
    iterations = []
    for key, x0 in zip(jax.random.split(jax.random.key(seed), NUM_PATHS), starts):
        info = one_path(jax.random.split(key)[0], jnp.asarray(x0))
        # the points of the path that L-BFGS reached (it repeats the last one after stopping)
        moved = np.any(np.diff(np.asarray(info.path.position), axis=0) != 0, axis=1)
        iterations.append(int(moved.sum()))
    jax.effects_barrier()
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "grad_evals": len(calls),
        # blackjax estimates the ELBO at every point of its fixed-length path, repeats included
        "density_evals": NUM_PATHS * ((SETTINGS["maxiter"] + 1) * SETTINGS["num_samples"] + DRAWS_PER_PATH),
        "khat": float(khat),
        "iterations": iterations,
        **_accuracy(model_name, _constrained(compiled, kept)),
    }


WORKERS = {
    "pathfinder": _pathfinder,
    "pathfinder_psis": lambda model, seed: _pathfinder(model, seed, importance="psis"),
    "pathfinder_vmap": lambda model, seed: _pathfinder(model, seed, vectorize=True),
    "fullrank_advi": _fullrank_advi,
    "blackjax": _blackjax,
}


def worker(method: str, model: str, seed: int) -> None:
    # imported before the clock starts, for every method alike
    import arviz_stats  # noqa: F401
    import blackjax  # noqa: F401

    import varbayes  # noqa: F401

    record = {"method": method, "model": model, "seed": seed, **WORKERS[method](model, seed)}
    print("RESULT " + json.dumps(record))


# ------------------------------------------------------------------ why a posterior is missed
DIAGNOSE_SETTINGS = {
    # the paths' mixture resampled as it is (importance="psis"), unless a row says otherwise
    "defaults": {},
    "16 paths": {"num_paths": 16},
    "10,000 draws per path": {"num_draws_per_path": 10_000},
    "200 ELBO draws": {"num_elbo_draws": 200},
    "maxcor 20": {"maxcor": 20},
    "adaptive refinement": {"importance": "adaptive"},
}


def diagnose(model_name: str, seeds: int) -> None:
    """Print the numbers behind a miss (see the module docstring); one process, caches on."""
    import warnings

    import jax
    from blackjax.optimizers.lbfgs import lbfgs_inverse_hessian_formula_1

    import varbayes as pm
    from varbayes.variational.api.diagnostics import smoothed_log_weights
    from varbayes.variational.core import pathfinder as core

    warnings.simplefilter("ignore")
    model = _build(model_name)
    for label, settings in DIAGNOSE_SETTINGS.items():
        for seed in range(1, seeds + 1):
            settings = {"importance": "psis", **settings}
            approx = pm.Pathfinder(model=model, random_seed=seed, **settings).fit(progressbar=False)
            accuracy = _accuracy(model_name, _constrained(approx.compiled, approx.histogram.get_value()))
            print(
                f"{model_name} {label:>22} seed {seed}: error {accuracy['mean_err']:.2f} sd "
                f"({accuracy['worst_var']}), k-hat {approx.khat:.2f}, ESS {approx.ess:.0f}, "
                f"{approx.grad_evals} gradients",
                flush=True,
            )
    # NUTS's draws in the unconstrained space: what each path's normal should look like
    with model:
        trace = pm.sample(2000, chains=4, random_seed=0, progressbar=False, target_accept=0.95)
    compiled = approx.compiled
    unconstrained = _unconstrained_draws(compiled, trace)
    mean, sd = unconstrained.mean(axis=0), unconstrained.std(axis=0)
    approx = pm.Pathfinder(model=model, random_seed=1).fit(progressbar=False)
    for p in range(len(approx.paths.elbo)):
        normal = jax.tree.map(lambda a, p=p: a[p], approx.normals)
        cov = np.asarray(lbfgs_inverse_hessian_formula_1(normal.alpha, normal.beta, normal.gamma))
        offset = (np.asarray(core.mean(normal)) - mean) / sd
        ratio = np.sqrt(np.diag(cov)) / sd
        print(
            f"{model_name} path {p} (kept iteration {int(approx.paths.best_iteration[p])} of "
            f"{int(approx.paths.iterations[p])}): mean offset up to {np.abs(offset).max():.2f} sd, "
            f"sd ratio {ratio.min():.2f}-{ratio.max():.2f}"
        )
    logdensity = jax.jit(jax.vmap(lambda x: compiled.logdensity.fn(x, compiled.logdensity.data())))
    rng = np.random.default_rng(0)
    cov = np.cov(unconstrained.T)
    for scale in (1.0, 1.2):
        draws = rng.multivariate_normal(mean, cov * scale**2, size=4000)
        log_q = jax.scipy.stats.multivariate_normal.logpdf(draws, mean, cov * scale**2)
        log_weights, khat = smoothed_log_weights(np.asarray(logdensity(draws) - log_q))
        weights = np.exp(log_weights - log_weights.max())
        weights /= weights.sum()
        kept = draws[rng.choice(len(weights), size=NUM_DRAWS, p=weights)]
        accuracy = _accuracy(model_name, _constrained(compiled, kept))
        print(
            f"{model_name} NUTS's mean and covariance x {scale}: k-hat {khat:.2f}, "
            f"ESS {1 / np.sum(weights**2):.0f} of 4000, error {accuracy['mean_err']:.2f} sd ({accuracy['worst_var']})"
        )


def _unconstrained_draws(compiled, trace) -> np.ndarray:
    """NUTS's draws as flat unconstrained vectors (the posteriordb models' transforms are all ``log``)."""
    columns = []
    for var in compiled.ravel.vars:
        values = trace.posterior[var.name].values.reshape(-1, var.size)
        if var.transform is not None:
            if var.transform.name != "log":
                raise NotImplementedError(f"--diagnose inverts log transforms only, not {var.transform!r}")
            values = np.log(values)
        columns.append(values)
    return np.concatenate(columns, axis=1)


# ------------------------------------------------------------------ parent
def run(method: str, model: str, seed: int, timeout: float) -> dict:
    # a fresh process with every compilation cache off: the whole call compiles from scratch
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "VARBAYES_COMPILATION_CACHE": "0"}
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    command = [sys.executable, "-m", "benchmarks.pathfinder", "--worker", method, model, str(seed)]
    done = subprocess.run(
        command, check=False, env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{method} {model} seed {seed} failed:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT ") :])


def summarise(records: list[dict]) -> list[dict]:
    """One row per (model, method): medians over seeds, and the worst mean error."""
    rows = []
    for model in dict.fromkeys(r["model"] for r in records):
        for method in dict.fromkeys(r["method"] for r in records):
            runs = [r for r in records if r["model"] == model and r["method"] == method]
            failed = [r for r in runs if "failed" in r]
            runs = [r for r in runs if "failed" not in r]
            if failed and not runs:
                rows.append(
                    {"model": model, "method": method, "seeds": len(failed), "failed": failed[0]["failed"]}
                )
            if not runs:
                continue
            rows.append(
                {
                    "model": model,
                    "method": method,
                    "seeds": len(runs),
                    "mean_err_median": float(np.median([r["mean_err"] for r in runs])),
                    "mean_err_worst": max(r["mean_err"] for r in runs),
                    "worst_var": max(runs, key=lambda r: r["mean_err"])["worst_var"],
                    "sd_ratio_min": min(r["sd_ratio_min"] for r in runs),
                    "sd_ratio_max": max(r["sd_ratio_max"] for r in runs),
                    "khat_median": float(np.median([r["khat"] for r in runs])),
                    "diagnose_khat_median": (
                        float(np.median([r["diagnose_khat"] for r in runs]))
                        if all("diagnose_khat" in r for r in runs)
                        else None
                    ),
                    "rounds": [r.get("rounds", 0) for r in runs],
                    "grad_evals_median": float(np.median([r["grad_evals"] for r in runs])),
                    "density_evals_median": float(np.median([r["density_evals"] for r in runs])),
                    "seconds_median": float(np.median([r["seconds"] for r in runs])),
                    "cpu_seconds_median": float(np.median([r["cpu_seconds"] for r in runs])),
                }
            )
    return rows


def markdown(rows: list[dict]) -> str:
    lines = [
        (
            "| posterior | method | max mean error / sd (median, worst) | sd ratio range | k̂ (median) "
            "| diagnose() k̂ | refinement rounds | gradient evaluations | log p evaluations | whole call (s) "
            "| its CPU time (s) |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "failed" in r:
            lines.append(
                f"| {r['model'].removeprefix('pdb_')} | {r['method']} | failed: {r['failed']} |||||||||"
            )
            continue
        lines.append(
            f"| {r['model'].removeprefix('pdb_')} | {r['method']} | {r['mean_err_median']:.2f}, "
            f"{r['mean_err_worst']:.2f} ({r['worst_var']}) | {r['sd_ratio_min']:.2f}-{r['sd_ratio_max']:.2f} "
            f"| {r['khat_median']:.2f} "
            f"| {'' if r['diagnose_khat_median'] is None else format(r['diagnose_khat_median'], '.2f')} "
            f"| {', '.join(map(str, r['rounds'])) if r['method'].startswith('pathfinder') else ''} "
            f"| {r['grad_evals_median']:,.0f} | {r['density_evals_median']:,.0f} "
            f"| {r['seconds_median']:.1f} "
            f"| {r['cpu_seconds_median']:.1f} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", nargs=3, metavar=("METHOD", "MODEL", "SEED"))
    parser.add_argument(
        "--only",
        default=",".join(MODELS),
        help=f"comma-separated pdb_* models, or {LARGE} (not run by default)",
    )
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--seeds", type=int, default=3, help="seeds 1..N per (model, method)")
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--json")
    parser.add_argument("--markdown")
    parser.add_argument("--diagnose", action="store_true", help="why Pathfinder misses the --only posteriors")
    args = parser.parse_args(argv)
    if args.diagnose:
        for model in args.only.split(","):
            diagnose(model, args.seeds)
        return 0
    if args.worker:
        method, model, seed = args.worker
        worker(method, model, int(seed))
        return 0
    records = []
    for model in args.only.split(","):
        for seed in range(1, args.seeds + 1):
            # methods interleaved, so a change of the machine's load falls on all of them
            for method in args.methods.split(","):
                try:
                    record = run(method, model, seed, args.timeout)
                except (RuntimeError, subprocess.TimeoutExpired) as error:
                    # a method that fails (blackjax runs out of memory on large data) is a result too
                    lines = [line for line in str(error).splitlines() if line.strip()]
                    record = {"method": method, "model": model, "seed": seed, "failed": lines[-1][-200:]}
                records.append(record)
                print(json.dumps(record), flush=True)
    header = (
        f"{os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d')}; every call in a fresh process, compilation caches off"
    )
    rows = summarise(records)
    table = markdown(rows)
    print(header)
    print(table)
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": header, "runs": records, "rows": rows}, indent=1))
    if args.markdown:
        Path(args.markdown).write_text(header + "\n\n" + table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
