"""Write ``benchmarks/accuracy_references.json``: long NUTS runs on the simulated accuracy models.

Run: ``python -m benchmarks.make_accuracy_references [--only name,...] [--check-posteriordb]``.

Each model of :mod:`benchmarks.accuracy_models` that posteriordb does not
cover is sampled with 4 chains x 2000 draws after 2000 tuning steps at
``target_accept=0.95``; the file records the mean, sd and Monte Carlo
standard error of every compared variable, the worst R-hat, the smallest bulk
ESS, the divergences, the settings and the date. A minibatch model takes the
reference of its full-data version (NUTS needs exact gradients).

``--check-posteriordb`` instead samples the ``pdb_*`` models (4 x 1000) and
checks them against posteriordb's reference with the criterion of
``shared/posteriordb/README.md``: means within ``max(5 x combined MCSE, 0.05 sd)``
and sds within 10 %. A failure there is a translation error in the model.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
import warnings
import zlib

import arviz_stats
import numpy as np

import varbayes as pm
from benchmarks import accuracy_models as am

SETTINGS = {"draws": 2000, "tune": 2000, "chains": 4, "target_accept": 0.95, "max_treedepth": 10}
CHECK_SETTINGS = {"draws": 1000, "tune": 1000, "chains": 4}
RHAT_MAX = 1.01
COLLINEAR_CORR_MIN = 0.999


def reference_models() -> list[str]:
    """Models whose reference comes from this script (one per entry of ``REFERENCE_OF``)."""
    return [n for n in am.MODELS if n not in am.POSTERIORDB and n not in am.REFERENCE_OF]


def seed_of(name: str) -> int:
    """A seed fixed per model, independent of the order in which models run."""
    return zlib.crc32(name.encode())


def run_nuts(name: str, draws: int, tune: int, chains: int, **kwargs):
    """Sample model ``name``; return the trace and the seconds taken (compilation included)."""
    model = am.MODELS[name]()
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trace = pm.sample(
            draws, tune=tune, chains=chains, random_seed=seed_of(name), progressbar=False, model=model,
            **kwargs,
        )
    for w in caught:
        print(f"  {name}: {w.message}", file=sys.stderr)
    return trace, time.perf_counter() - start


def summarise(trace, var_names) -> dict[str, dict[str, np.ndarray]]:
    """Mean, sd, MCSE of mean and sd, R-hat and bulk ESS of each variable, elementwise."""
    # constant elements (a correlation matrix's diagonal) make 0/0 there: NaN is the right answer
    with np.errstate(invalid="ignore", divide="ignore"):
        mcse_mean = arviz_stats.mcse(trace, var_names=var_names, method="mean")
        mcse_sd = arviz_stats.mcse(trace, var_names=var_names, method="sd")
        ess = arviz_stats.ess(trace, var_names=var_names, method="bulk")
        rhat = arviz_stats.rhat(trace, var_names=var_names)
    draws = am.flat_draws(trace.posterior, var_names)
    return {
        var: {
            "mean": draws[var].mean(axis=0),
            "sd": draws[var].std(axis=0, ddof=1),
            "mcse_mean": mcse_mean[var].values,
            "mcse_sd": mcse_sd[var].values,
            "rhat": rhat[var].values,
            "ess_bulk": ess[var].values,
        }
        for var in var_names
    }


def _worst(summary, stat, fn) -> float:
    # nan-aware: a constant element (correlation diagonal) has an undefined R-hat and ESS
    return float(fn([fn(np.asarray(s[stat], dtype="float64")) for s in summary.values()]))


def make_reference(name: str) -> dict:
    """Sample ``name`` with :data:`SETTINGS` and return its entry of the references file."""
    trace, seconds = run_nuts(name, **SETTINGS)
    summary = summarise(trace, list(am.COMPARED[name]))
    entry = {
        "random_seed": seed_of(name),
        "seconds": round(seconds, 1),
        "rhat_max": _worst(summary, "rhat", np.nanmax),
        "ess_bulk_min": _worst(summary, "ess_bulk", np.nanmin),
        "divergences": int(trace.sample_stats["diverging"].values.sum()),
        "variables": {
            var: {stat: np.asarray(s[stat]).tolist() for stat in ("mean", "sd", "mcse_mean")}
            for var, s in summary.items()
        },
    }
    if name == "collinear_regression":
        draws = am.flat_draws(trace.posterior, ["intercept", "slope"])
        corr = float(np.corrcoef(draws["intercept"], draws["slope"])[0, 1])
        entry["corr_intercept_slope"] = corr
        assert abs(corr) > COLLINEAR_CORR_MIN, f"collinear_regression: |corr| = {abs(corr):.6f} is too small"
        # flat priors: given sigma the coefficients are normal around least squares, so
        # their posterior mean is the least-squares fit whatever sigma's posterior is
        y = trace.observed_data["y"].values
        design = np.column_stack([np.ones_like(am.COLLINEAR_YEARS), am.COLLINEAR_YEARS])
        ols = np.linalg.lstsq(design, y, rcond=None)[0]
        for var, exact in zip(("intercept", "slope"), ols):
            s = summary[var]
            assert abs(s["mean"] - exact) < 5 * s["mcse_mean"], (var, s["mean"], exact)
        entry["least_squares"] = ols.tolist()
    if name == "dirichlet_categorical":
        # conjugate: the posterior is Dirichlet(1 + counts), a check of the whole pipeline
        counts = np.bincount(trace.observed_data["y"].values.astype(int), minlength=4)
        a = 1.0 + counts
        exact_mean = a / a.sum()
        exact_sd = np.sqrt(exact_mean * (1 - exact_mean) / (a.sum() + 1))
        s = summary["p"]
        assert np.all(np.abs(s["mean"] - exact_mean) < 5 * s["mcse_mean"]), (s["mean"], exact_mean)
        assert np.all(np.abs(s["sd"] / exact_sd - 1) < 0.05), (s["sd"], exact_sd)
        entry["exact_mean"], entry["exact_sd"] = exact_mean.tolist(), exact_sd.tolist()
    assert entry["rhat_max"] < RHAT_MAX, f"{name}: R-hat {entry['rhat_max']:.4f} >= {RHAT_MAX}"
    return entry


def write_references(names: list[str]) -> None:
    """Sample ``names`` and merge their entries into the references file."""
    models = {}
    if am.REFERENCES_FILE.exists():
        models = json.loads(am.REFERENCES_FILE.read_text())["models"]
    started = time.perf_counter()
    for name in names:
        print(f"{name} ...", file=sys.stderr, flush=True)
        entry = make_reference(name)
        print(
            f"  {entry['seconds']:.0f} s, R-hat max {entry['rhat_max']:.4f}, "
            f"ESS min {entry['ess_bulk_min']:.0f}, divergences {entry['divergences']}",
            file=sys.stderr,
            flush=True,
        )
        models[name] = entry
    data = {
        "description": (
            "Reference posterior summaries of benchmarks/accuracy_models.py, made by "
            "benchmarks/make_accuracy_references.py: per compared variable, elementwise mean, sd "
            "and Monte Carlo standard error of the mean."
        ),
        "settings": {"sampler": "varbayes NUTS (pm.sample)", **SETTINGS},
        "created": datetime.date.today().isoformat(),
        "varbayes_version": pm.__version__,
        "models": {n: models[n] for n in reference_models() if n in models},
    }
    am.REFERENCES_FILE.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {am.REFERENCES_FILE} in {time.perf_counter() - started:.0f} s", file=sys.stderr)


def check_posteriordb(names: list[str]) -> bool:
    """Sample each ``pdb_*`` model and compare with posteriordb; print the worst deviations."""
    ok = True
    for name in names:
        posterior, _ = am.POSTERIORDB[name]
        method_arguments = am._posteriordb_file(posterior)["reference_inference"]["method_arguments"]
        control = method_arguments.get("control", {})
        # at least the reference's own acceptance target and tree depth
        kwargs = {
            "target_accept": max(0.95, control.get("adapt_delta", 0.8)),
            "max_treedepth": max(10, control.get("max_treedepth", 10)),
        }
        trace, seconds = run_nuts(name, **CHECK_SETTINGS, **kwargs)
        ours = summarise(trace, list(am.COMPARED[name]))
        ref = am.posteriordb_summary(name)
        rows = []  # (label, |dmean| / tolerance, |dmean| / ref sd, sd / ref sd)
        for var in am.COMPARED[name]:
            o, r = ours[var], ref[var]
            tol = np.maximum(5 * np.sqrt(o["mcse_mean"] ** 2 + r["mcse_mean"] ** 2), 0.05 * r["sd"])
            dmean = np.atleast_1d(np.abs(o["mean"] - r["mean"]))
            ref_sd = np.atleast_1d(r["sd"])
            cols = (dmean / np.atleast_1d(tol), dmean / ref_sd, np.atleast_1d(o["sd"]) / ref_sd)
            rows += zip(am.posteriordb_names(name, var), *cols)
        failures = [row for row in rows if row[1] > 1 or abs(row[3] - 1) > 0.1]
        worst_mean = max(rows, key=lambda row: row[1])
        worst_sd = max(rows, key=lambda row: abs(row[3] - 1))
        rhat = _worst(ours, "rhat", np.nanmax)
        print(
            f"{name}: {'PASS' if not failures else 'FAIL'}; worst mean {worst_mean[0]} "
            f"(|dmean| = {worst_mean[1]:.2f} x tolerance = {worst_mean[2]:.3f} sd), worst sd {worst_sd[0]} "
            f"(ratio {worst_sd[3]:.3f}); R-hat max {rhat:.4f}; {seconds:.0f} s",
            flush=True,
        )
        for label, to_tol, to_sd, ratio in failures:
            print(f"  {label}: |dmean| = {to_tol:.2f} x tolerance = {to_sd:.3f} sd, sd ratio {ratio:.3f}")
        ok &= not failures
    return ok


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated model names (default: all)")
    parser.add_argument("--check-posteriordb", action="store_true", help="check the pdb_* models instead")
    args = parser.parse_args(argv)
    pool = list(am.POSTERIORDB) if args.check_posteriordb else reference_models()
    names = pool if not args.only else args.only.split(",")
    unknown = [n for n in names if n not in pool]
    if unknown:
        parser.error(f"unknown models {unknown}; choose from {pool}")
    if args.check_posteriordb:
        return 0 if check_posteriordb(names) else 1
    write_references(names)
    return 0


if __name__ == "__main__":
    sys.exit(main())
