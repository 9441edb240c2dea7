"""How good and how timely is the stop of ``fit(n=None)``: accuracy, stop time, cost of the checks.

Run: ``python -m benchmarks.convergence [--only a,b] [--methods advi,fullrank_advi]
[--seeds 1,2,3] [--markdown PATH] [--json PATH]``.

For every model of :mod:`benchmarks.accuracy_models` and each method:

* **accuracy**: ``fit(n=None)`` with nothing but the method and a seed, judged
  against the NUTS or posteriordb reference: full-rank means within 0.25
  posterior sd and sd ratios in [0.8, 1.25]; mean-field means within 0.5 sd
  (its sd ratios are reported, not judged: a mean-field q cannot be wider
  than ``1/sqrt(diag(precision))``).
* **never early, never very late** (first seed): the same schedule is run
  again without stopping, ten times as long, judged after every check with
  the same tolerance. ``t*`` is the first check after which the current
  iterate stays within tolerance (column ``T / t*``), and, in the second
  column, the first stationary check after which the answer a stop would
  return (the window's iterate average) stays within tolerance at every
  stationary check. The ratio of the stop ``T`` to it should lie in [1, 3].
* **cost of the checks** on the seed's mixture: a warm ``fit(n=None)``
  against a warm fixed-``n`` fit of the same number of iterations with the
  same optimizer (Adam) and the same one draw per step, per iteration
  (``fit(n=None)`` alone would average each step over 16 draws of so cheap
  a model, an arithmetic the checks do not add).
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np

import varbayes as pm
from benchmarks import accuracy_models as am
from varbayes.variational.api import converge, inference, loop
from varbayes.variational.core.convergence import StopRule

MODELS = [name for name in am.MODELS if not name.endswith("_full")]
TOLERANCE = {"fullrank_advi": (0.25, (0.8, 1.25)), "advi": (0.5, None)}


def judge(name: str, approx, method: str, draws: int = 4000, seed: int = 0) -> tuple[bool, float, float, float]:
    """``(passes, worst mean error in sd, smallest and largest sd ratio)`` of ``approx``."""
    result = am.compare(name, am.flat_draws(approx.sample(draws, random_seed=seed).posterior))
    err = max(r["mean_err"] for r in result.values())
    low = min(r["sd_ratio_min"] for r in result.values())
    high = max(r["sd_ratio_max"] for r in result.values())
    mean_tol, sd_range = TOLERANCE[method]
    ok = err <= mean_tol and (sd_range is None or (sd_range[0] <= low and high <= sd_range[1]))
    return ok, err, low, high


def fit_auto(name: str, method: str, seed: int) -> dict:
    model = am.MODELS[name]()
    tic = time.perf_counter()
    with model, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        approx = pm.fit(n=None, method=method, random_seed=seed, progressbar=False)
    seconds = time.perf_counter() - tic
    ok, err, low, high = judge(name, approx, method)
    report = approx.convergence
    return {
        "model": name, "method": method, "seed": seed, "reason": report.reason, "iterations": len(approx.hist),
        "seconds": seconds, "pass": ok, "mean_err": err, "sd_low": low, "sd_high": high,
        "khat": report.khat, "step_sizes": list(report.step_sizes),
    }


def stop_ratio(name: str, method: str, seed: int, stop_at: int) -> dict:
    """Rerun the schedule ``10 x stop_at`` iterations without stopping; find ``t*`` two ways.

    ``iterate``: the first check after which the current iterate stays within
    tolerance. ``average``: the first stationary check after which the answer a
    stop would return there (the window's iterate average) stays within
    tolerance at every stationary check.
    """
    model = am.MODELS[name]()
    marks: list[tuple[int, bool, bool | None]] = []
    holder = {}

    def observe(iteration, average, stationary):
        approx = holder["approx"]
        current_ok, *_ = judge(name, approx, method, draws=1000, seed=1)
        average_ok = None
        if stationary:
            current = approx.jax_params
            approx.set_params(average)
            average_ok, *_ = judge(name, approx, method, draws=1000, seed=1)
            approx.set_params(current)
        marks.append((iteration, current_ok, average_ok))

    original = inference.run_until_converged

    def patched(approx, *args, **kwargs):
        holder["approx"] = approx
        # the inference's own rule (a mean field's MCSE target differs from a full rank's), never stopping
        rule = kwargs.get("rule") or StopRule()
        kwargs.update(rule=rule._replace(stop=False), observe=observe, max_n=10 * stop_at)
        return original(approx, *args, **kwargs)

    inference.run_until_converged = patched
    try:
        with model, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pm.fit(n=None, method=method, random_seed=seed, progressbar=False)
    finally:
        inference.run_until_converged = original

    def first_settled(values):
        for i, (iteration, ok) in enumerate(values):
            if ok and all(later for _, later in values[i:]):
                return iteration
        return None

    t_iterate = first_settled([(it, ok) for it, ok, _ in marks])
    t_average = first_settled([(it, ok) for it, _, ok in marks if ok is not None])
    return {
        "t_star": t_iterate,
        "ratio": None if not t_iterate else stop_at / t_iterate,
        "t_star_average": t_average,
        "ratio_average": None if not t_average else stop_at / t_average,
        "checks": len(marks),
    }


def check_overhead(repeats: int = 3) -> dict:
    """Per-iteration cost of ``fit(n=None)`` against a fixed-``n`` Adam fit on the seed's mixture."""

    def mixture():
        with pm.Model() as model:
            pm.NormalMixture("x", w=np.array([0.2, 0.8]), mu=np.array([-0.3, 0.5]), sigma=np.array([0.1, 0.1]))
        return model

    with mixture():
        approx = pm.fit(n=None, random_seed=1, progressbar=False, obj_n_mc=1)  # compiles
    n = len(approx.hist)
    step_size = approx.convergence.step_sizes[-1]
    optimizer = pm.adam(step_size)
    auto, fixed = [], []
    with mixture() as model:
        pm.fit(n, obj_optimizer=optimizer, random_seed=1, progressbar=False)  # compiles
        for _ in range(repeats):
            tic = time.perf_counter()
            pm.fit(n=None, model=model, random_seed=1, progressbar=False, obj_n_mc=1)
            auto.append(time.perf_counter() - tic)
            tic = time.perf_counter()
            pm.fit(n, model=model, obj_optimizer=optimizer, random_seed=1, progressbar=False)
            fixed.append(time.perf_counter() - tic)
    # the floor of checking between chunks: one round trip to the compiled loop per check
    calls = []
    original = loop._Run.chunk_and_callbacks

    def counting(self, state, data):
        calls.append(self.steps)
        return original(self, state, data)

    loop._Run.chunk_and_callbacks = counting
    try:
        with mixture() as model:
            counted = pm.fit(n=None, model=model, random_seed=1, progressbar=False, obj_n_mc=1)
            inference_object = pm.ADVI(random_seed=1)
            inference_object.fit(1, progressbar=False)
    finally:
        loop._Run.chunk_and_callbacks = original
    chunk, _ = inference_object._chunk_for(False)
    state, data = inference_object.state, inference_object.approx.logdensity_data()
    trips = []
    for _ in range(200):
        tic = time.perf_counter()
        result = chunk(state, inference_object._key, data, 0, 1, 0)
        int(result.n_done), np.asarray(result.losses)
        trips.append(time.perf_counter() - tic)
    round_trip = float(np.min(trips))
    # the step sizes the search tried (one round trip each; the kept one's iterations are the fit's)
    checks = len(calls) + counted.convergence.search_iterations // converge.SEARCH_STEPS + 1
    steady = steady_overhead(mixture)
    return {
        **steady,
        "iterations": n,
        "auto_us_per_it": 1e6 * min(auto) / n,
        "fixed_us_per_it": 1e6 * min(fixed) / n,
        "overhead": min(auto) / min(fixed) - 1.0,
        "chunks": checks,
        "round_trip_us": 1e6 * round_trip,
        "floor_overhead": checks * round_trip / min(fixed),
    }


def steady_overhead(mixture, n: int = 1_000_000) -> dict:
    """Per-iteration cost of the schedule and its checks over a long run (the stop turned off)."""
    original = inference.run_until_converged

    def patched(approx, *args, **kwargs):
        kwargs.update(rule=StopRule(stop=False), max_n=n)
        return original(approx, *args, **kwargs)

    auto, fixed = [], []
    optimizer = pm.adam(0.1)
    with mixture() as model, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(2):
            inference.run_until_converged = patched
            try:
                tic = time.perf_counter()
                pm.fit(n=None, model=model, random_seed=1, progressbar=False, obj_n_mc=1)
                auto.append(time.perf_counter() - tic)
            finally:
                inference.run_until_converged = original
            tic = time.perf_counter()
            pm.fit(n, model=model, obj_optimizer=optimizer, random_seed=1, progressbar=False)
            fixed.append(time.perf_counter() - tic)
    return {
        "steady_iterations": n,
        "steady_auto_us_per_it": 1e6 * min(auto) / n,
        "steady_fixed_us_per_it": 1e6 * min(fixed) / n,
        "steady_overhead": min(auto) / min(fixed) - 1.0,
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(MODELS))
    parser.add_argument("--methods", default="fullrank_advi,advi")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--no-ratio", action="store_true", help="skip the never-early study")
    parser.add_argument("--markdown")
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = []
    for name in args.only.split(","):
        for method in args.methods.split(","):
            runs = [fit_auto(name, method, seed) for seed in seeds]
            row = {"model": name, "method": method, "runs": runs}
            if not args.no_ratio:
                row.update(stop_ratio(name, method, seeds[0], runs[0]["iterations"]))
            rows.append(row)
            print(_line(row), flush=True)
    overhead = check_overhead()
    lines = [
        "| model | method | pass (seeds) | worst mean err (sd) | sd ratio range | iterations | seconds | k-hat "
        "| T / t* (iterate) | T / t* (average) |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *(_line(row) for row in rows),
        "",
        f"Checks on the seed's mixture: {overhead['auto_us_per_it']:.2f} us/it with fit(n=None) vs "
        f"{overhead['fixed_us_per_it']:.2f} us/it fixed-n Adam over {overhead['iterations']:,} iterations "
        f"(overhead {100 * overhead['overhead']:+.0f} %); {overhead['chunks']} round trips to the compiled loop "
        f"of at least {overhead['round_trip_us']:.0f} us each are {100 * overhead['floor_overhead']:.0f} % "
        "of the fixed fit by themselves. Over a long run with the stop turned off "
        f"({overhead['steady_iterations']:,} iterations): {overhead['steady_auto_us_per_it']:.3f} vs "
        f"{overhead['steady_fixed_us_per_it']:.3f} us/it ({100 * overhead['steady_overhead']:+.0f} %)",
    ]
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text + "\n")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "overhead": overhead}, f, indent=1, default=float)


def _line(row: dict) -> str:
    runs = row["runs"]
    passed = sum(r["pass"] for r in runs)
    err = max(r["mean_err"] for r in runs)
    low, high = min(r["sd_low"] for r in runs), max(r["sd_high"] for r in runs)
    its = "/".join(f"{r['iterations']:,}" for r in runs)
    secs = "/".join(f"{r['seconds']:.1f}" for r in runs)
    khat = "/".join("n/a" if r["khat"] is None else f"{r['khat']:.2f}" for r in runs)
    reasons = {r["reason"] for r in runs} - {"converged"}
    note = f" ({', '.join(sorted(reasons))})" if reasons else ""
    def ratio_text(key):
        if key not in row:
            return "n/a"
        return "never within" if row[key] is None else f"{row[key]:.2f}"

    return (
        f"| {row['model']} | {row['method']} | {passed}/{len(runs)}{note} | {err:.2f} | {low:.2f}-{high:.2f} | "
        f"{its} | {secs} | {khat} | {ratio_text('ratio')} | {ratio_text('ratio_average')} |"
    )


if __name__ == "__main__":
    main()
