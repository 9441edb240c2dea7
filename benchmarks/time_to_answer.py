"""Time to a trustworthy answer: varbayes' ``fit(n=None)`` against the schedule PyMC and NumPyro need.

Usage (from the repository root)::

    python -m benchmarks.time_to_answer --peers /tmp/peers/bin/python \\
        --markdown out.md --json out.json
    python -m benchmarks.time_to_answer --quick --peers /tmp/peers/bin/python   # smoke test
    python -m benchmarks.time_to_answer --only logistic_regression,pdb_arK --methods fullrank_advi

For every model of :mod:`benchmarks.accuracy_models` (except the full-data
helper of the minibatch model) and both methods (mean-field ``advi`` and
``fullrank_advi``):

* varbayes runs ``pm.fit(n=None, method=...)`` with seeds 1, 2 and 3, each in
  a fresh process, first with an empty compilation cache (cold: a user's
  first fit of the model), then with the cache seed 1 filled (warm: the same
  model in a new process); the answer is judged on ``approx.sample(4000)``.
* PyMC (``pm.fit(n, obj_optimizer=pm.adam(lr))``) and NumPyro (``SVI`` with
  ``AutoNormal`` / ``AutoMultivariateNormal``, ``Trace_ELBO``,
  ``numpyro.optim.Adam(lr)``) need a number of iterations and a learning rate.
  A grid search (seed 1) finds, for each learning rate (largest first), the
  smallest ``n`` of the grid whose result meets the criterion; the setting
  with the smallest ``n`` (the per-iteration cost does not depend on the
  learning rate, so that is also the fastest; ties go to the larger rate) is
  then timed in a fresh process.

The criterion (:func:`judge`), on every compared variable of the model, in
the constrained space, against the reference posterior of
:mod:`benchmarks.accuracy_data`:

* ``fullrank_advi``: means within 0.25 reference sd, sd ratios in [0.8, 1.25];
* ``advi``: means within 0.5 reference sd (sd ratios not required: a
  mean-field approximation cannot get them right on correlated posteriors).

Times are of the whole call (compilation included; building the data and the
model excluded), measured in a fresh process per library, model, method and
setting; the library's import time is recorded separately. PyMC's compiled
code is cached on disk, warm from the search, so its time is compared with
varbayes' warm runs; NumPyro compiles in every process and is compared with
the cold ones. Processes run one after the other, never at the same time.

This module imports only the standard library, numpy and
:mod:`benchmarks.accuracy_data` at the top: the peer scripts
(``benchmarks/peers/*_time_to_answer.py``) import its criterion and grid
search from the interpreter that has PyMC and NumPyro.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import shlex
import statistics
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from benchmarks import accuracy_data as data
from benchmarks.harness import JsonLines

ROOT = Path(__file__).resolve().parents[1]

#: the models compared (accuracy_models.MODELS without the full-data helper of the minibatch model)
MODEL_NAMES: list[str] = [name for name in data.COMPARED if not name.endswith("_full")]
METHODS = ("advi", "fullrank_advi")
SEEDS = (1, 2, 3)
PEER_SEED = 1
DRAWS = 4000

GRID_N = (1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000)
GRID_LR = (0.1, 0.03, 0.01, 0.003)
QUICK_MODELS = ("logistic_regression", "gamma_exponential_scales")
QUICK_GRID_N = (1_000, 5_000, 20_000)
QUICK_GRID_LR = (0.1, 0.01)

#: method -> (largest mean error in reference sd, allowed range of sd / reference sd or None)
TOLERANCE: dict[str, tuple[float, tuple[float, float] | None]] = {
    "advi": (0.5, None),
    "fullrank_advi": (0.25, (0.8, 1.25)),
}

PEER_SCRIPTS = {
    "PyMC": "benchmarks/peers/pymc_time_to_answer.py",
    "NumPyro": "benchmarks/peers/numpyro_time_to_answer.py",
}
VARBAYES_SCRIPT = ["-m", "benchmarks.time_to_answer_varbayes"]


# ------------------------------------------------------------------ criterion
def judge(model: str, method: str, draws: Mapping[str, np.ndarray], var_names=None) -> dict:
    """Compare ``draws`` with the reference of ``model`` and apply the criterion of ``method``.

    Returns the per-variable comparison (``errors``), its extremes
    (``mean_err``, ``sd_ratio_min``, ``sd_ratio_max``), ``pass`` and
    ``score``: the worst error relative to its tolerance (a result passes when
    it is at most 1; sd ratios count on a log scale, so 0.8 and 1.25 both score
    1). Non-finite draws score infinity.
    """
    errors = data.compare(model, draws, var_names=var_names)
    mean_err = max(e["mean_err"] for e in errors.values())
    lo = min(e["sd_ratio_min"] for e in errors.values())
    hi = max(e["sd_ratio_max"] for e in errors.values())
    score = _score(method, mean_err, lo, hi)
    return {
        "pass": bool(score <= 1.0),
        "score": score,
        "mean_err": mean_err,
        "sd_ratio_min": lo,
        "sd_ratio_max": hi,
        "errors": errors,
    }


def _score(method: str, mean_err: float, lo: float, hi: float) -> float:
    """The worst of the errors relative to their tolerances (at most 1: the criterion is met)."""
    tol_mean, sd_range = TOLERANCE[method]
    score = mean_err / tol_mean
    if sd_range is not None:
        for ratio in (lo, hi):
            edge = sd_range[1] if ratio >= 1 else sd_range[0]
            score = max(score, math.log(ratio) / math.log(edge) if ratio > 0 else math.inf)
    return score if math.isfinite(score) else math.inf


# ------------------------------------------------------------------ grid search (peer side)
class Checkpoints:
    """What a peer's fit calls at each checkpoint ``n`` of one learning rate.

    ``check(n, draws)`` judges the draws, records the point and returns True
    when the fit can stop: it passed, or the search's time budget is spent.
    """

    def __init__(self, search: GridSearch, lr: float):
        self.search, self.lr = search, lr

    def check(self, n: int, draws: Mapping[str, np.ndarray]) -> bool:
        point = {
            "lr": self.lr,
            "n": n,
            **judge(self.search.model, self.search.method, draws, self.search.var_names),
        }
        self.search.points.append(point)
        mark = "pass" if point["pass"] else "fail"
        print(
            f"  lr={self.lr:g} n={n:,}: {mark}, mean err {point['mean_err']:.3f} sd, "
            f"sd ratio [{point['sd_ratio_min']:.2f}, {point['sd_ratio_max']:.2f}]",
            file=sys.stderr,
            flush=True,
        )
        return point["pass"] or self.search.over_budget()


class GridSearch:
    """The smallest ``n`` of the grid, over the learning rates, whose fit meets the criterion.

    ``fit(lr, ns, checkpoints)`` runs one fit of ``max(ns)`` iterations from a
    fixed seed and calls ``checkpoints.check(n, draws)`` after each iteration
    count ``n`` of ``ns``, stopping when it returns True (the state after
    ``n`` iterations of a longer fit is that of a fit of ``n`` iterations: the
    optimisers' schedules are constant). Learning rates run largest first;
    once ``n`` passes, later rates only try smaller ``n``. Exceptions (a NaN
    stopping PyMC's loop) end that rate and are recorded.
    """

    def __init__(self, model, method, grid_n, grid_lr, budget=math.inf, var_names=None):
        self.model, self.method = model, method
        self.grid_n, self.grid_lr = sorted(grid_n), list(grid_lr)
        self.budget, self.var_names = budget, var_names
        self.points: list[dict] = []
        self.failures: list[dict] = []
        self.skipped: list[float] = []
        self._start = None

    def over_budget(self) -> bool:
        return time.perf_counter() - self._start > self.budget

    def run(self, fit: Callable) -> dict:
        self._start = time.perf_counter()
        cap = math.inf
        for lr in self.grid_lr:
            ns = [n for n in self.grid_n if n < cap]
            if not ns:
                break
            if self.over_budget():
                self.skipped.append(lr)
                continue
            try:
                fit(lr, ns, Checkpoints(self, lr))
            except Exception as exc:  # a diverged fit: record it and go on with the next rate
                traceback.print_exc()
                message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                self.failures.append({"lr": lr, "error": f"{type(exc).__name__}: {message}".strip()})
            passed = [p["n"] for p in self.points if p["lr"] == lr and p["pass"]]
            if passed:
                cap = min(cap, min(passed))
        return self.result()

    def result(self) -> dict:
        passing = [p for p in self.points if p["pass"]]
        # smallest n; among equal n the first found (larger learning rate)
        best = min(passing, key=lambda p: p["n"]) if passing else None
        closest = min(self.points, key=lambda p: p["score"]) if self.points else None
        return {
            "best": _slim(best),
            "closest": _slim(closest),
            "points": [_slim(p) for p in self.points],
            "failures": self.failures,
            "skipped_lr": self.skipped,
            "search_seconds": time.perf_counter() - self._start,
            "budget_spent": bool(self.skipped) or self.over_budget(),
        }


def _slim(point):
    return None if point is None else dict(point)


# ------------------------------------------------------------------ worker processes
def worker_parser(description: str, peer: bool) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--model", required=True, choices=MODEL_NAMES)
    parser.add_argument("--method", required=True, choices=METHODS)
    if peer:
        parser.add_argument("--mode", choices=("search", "time"), required=True)
        parser.add_argument("--grid-n", default=",".join(map(str, GRID_N)))
        parser.add_argument("--grid-lr", default=",".join(map(str, GRID_LR)))
        parser.add_argument("--budget", type=float, default=math.inf, help="seconds for the grid search")
        parser.add_argument("--n", type=int, help="iterations of the timed fit")
        parser.add_argument("--lr", type=float, help="learning rate of the timed fit")
        parser.add_argument("--seed", type=int, default=PEER_SEED)
    else:
        parser.add_argument("--seed", type=int, required=True)
    return parser


def parse_grid(args) -> tuple[list[int], list[float]]:
    return [int(x) for x in args.grid_n.split(",")], [float(x) for x in args.grid_lr.split(",")]


def worker_main(
    library: str, version: Callable[[], str], work: Callable[[argparse.Namespace], dict], args
) -> int:
    """Run one worker task and print its record as one JSON line (errors included)."""
    out = JsonLines()
    record = {"library": library, "model": args.model, "method": args.method, "seed": args.seed}
    if hasattr(args, "mode"):
        record["mode"] = args.mode
    try:
        record.update(work(args))
        record["status"] = "ok"
    except Exception as exc:
        traceback.print_exc()
        record.update(
            status="error", note=f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        )
    try:
        record["version"] = version()
    except Exception:
        record["version"] = "?"
    out.emit(_jsonable(record))
    return 0


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None if math.isnan(x) else ("inf" if x > 0 else "-inf")
    return x


# ------------------------------------------------------------------ driver
def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.time_to_answer", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--peers", metavar="PYTHON", help="interpreter with pymc and numpyro installed")
    parser.add_argument("--only", default="", help=f"comma-separated subset of {','.join(MODEL_NAMES)}")
    parser.add_argument(
        "--methods", default=",".join(METHODS), help="comma-separated subset of advi,fullrank_advi"
    )
    parser.add_argument("--seeds", default=",".join(map(str, SEEDS)), help="varbayes seeds (default 1,2,3)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke test: {', '.join(QUICK_MODELS)} (unless --only), n in {QUICK_GRID_N}, "
        f"lr in {QUICK_GRID_LR}",
    )
    parser.add_argument("--grid-n", help=f"peers' iteration grid (default {','.join(map(str, GRID_N))})")
    parser.add_argument("--grid-lr", help=f"peers' learning rates (default {','.join(map(str, GRID_LR))})")
    parser.add_argument(
        "--budget",
        type=float,
        default=180.0,
        help="seconds per grid search (library, model, method); no new learning rate starts after it",
    )
    parser.add_argument(
        "--no-warm",
        dest="warm",
        action="store_false",
        help="skip varbayes' warm runs (every seed again, with the compilation cache seed 1 filled)",
    )
    parser.add_argument(
        "--peer-records",
        metavar="PATH",
        help="take the PyMC and NumPyro records of these models and methods from an earlier --json file "
        "instead of running them (their code and data unchanged)",
    )
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds allowed per process")
    parser.add_argument("--json", metavar="PATH", help="write the raw records here (rewritten as they come)")
    parser.add_argument("--markdown", metavar="PATH", help="write the tables as Markdown here")
    parser.add_argument(
        "--from-json", metavar="PATH", help="run nothing: print (and --markdown) the tables of a --json file"
    )
    args = parser.parse_args(argv)
    if args.only:
        args.models = [m for m in args.only.split(",") if m]
    else:
        args.models = list(QUICK_MODELS) if args.quick else list(MODEL_NAMES)
    unknown = set(args.models) - set(MODEL_NAMES)
    if unknown:
        parser.error(f"unknown models {sorted(unknown)}; known: {MODEL_NAMES}")
    args.methods = [m for m in args.methods.split(",") if m]
    if set(args.methods) - set(METHODS):
        parser.error(f"methods are {METHODS}")
    args.seeds = [int(s) for s in args.seeds.split(",") if s]
    args.grid_n = args.grid_n or ",".join(map(str, QUICK_GRID_N if args.quick else GRID_N))
    args.grid_lr = args.grid_lr or ",".join(map(str, QUICK_GRID_LR if args.quick else GRID_LR))
    return args


def run_worker(cmd: list[str], timeout: float, label: str, env: dict | None = None) -> dict:
    """Run one worker process; return its JSON record (or an error record)."""
    print(f"\n##### {label}: {shlex.join(cmd)}", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd, check=False, cwd=ROOT, stdout=subprocess.PIPE, text=True, timeout=timeout, env=env
        )
    except subprocess.TimeoutExpired:
        return {"status": "error", "note": f"timed out after {timeout:.0f} s", "process_seconds": timeout}
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {"status": "error", "note": f"process exited with {proc.returncode} and no record"}
    record = json.loads(lines[-1])
    record["process_seconds"] = time.perf_counter() - t0
    return record


def varbayes_env(cache_dir: Path) -> dict:
    """The environment of a varbayes worker whose compilation cache is ``cache_dir`` (and nothing else)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("JAX_COMPILATION_CACHE_DIR", "VARBAYES_COMPILATION_CACHE")
    }
    env["VARBAYES_CACHE_DIR"] = str(cache_dir)
    return env


def source_version() -> str:
    """The commit of the working tree, ``+ changes`` when varbayes/ differs from it ('?' without git)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "varbayes"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"
    return head + (" + changes" if dirty else "")


def _num(x) -> float:
    if isinstance(x, str):
        return math.inf if x == "inf" else -math.inf if x == "-inf" else math.nan
    return math.nan if x is None else float(x)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.from_json:
        saved = json.loads(Path(args.from_json).read_text())
        grid = saved.get("grid", {})
        args.grid_n, args.grid_lr = grid.get("n", args.grid_n), grid.get("lr", args.grid_lr)
        args.budget = grid.get("budget_s", args.budget)
        records, seconds = saved["records"], saved["seconds"]
        if not args.only:  # every model and method of the file, in its order
            args.models = list(dict.fromkeys(r["model"] for r in records))
            args.methods = [m for m in METHODS if any(r["method"] == m for r in records)]
        report(records, seconds, saved.get("command", ""), saved.get("machine") or machine(), args)
        return 0
    records, seconds = run(args, _command(argv))
    report(records, seconds, _command(argv), machine(), args)
    return 0


def run(args, command: str) -> tuple[list[dict], dict[str, float]]:
    """Run every process of the benchmark, one after the other; return the records and seconds per library."""
    started = time.perf_counter()
    records: list[dict] = []
    seconds: dict[str, float] = {"varbayes": 0.0}
    if args.peers and not args.peer_records:
        seconds.update({lib: 0.0 for lib in PEER_SCRIPTS})

    def save():
        if args.json:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(
                json.dumps(
                    {
                        "machine": machine(),
                        "command": command,
                        "grid": {"n": args.grid_n, "lr": args.grid_lr, "budget_s": args.budget},
                        "seconds": seconds,
                        "records": records,
                    },
                    indent=1,
                )
            )

    reused = _peer_records(args.peer_records) if args.peer_records else {}
    if reused:  # the peers' wall time is that of the run they come from
        earlier = json.loads(Path(args.peer_records).read_text()).get("seconds", {})
        seconds.update({lib: earlier[lib] for lib in PEER_SCRIPTS if lib in earlier})
    cache_root = Path(tempfile.mkdtemp(prefix="time-to-answer-cache-"))
    try:
        for model in args.models:
            for method in args.methods:
                _varbayes_runs(args, model, method, cache_root, records, seconds, save)
                if not args.peers:
                    continue
                if (model, method) in reused:
                    records.extend(reused[model, method])
                    save()
                    continue
                _peer_runs(args, model, method, records, seconds, save)
    finally:
        shutil.rmtree(cache_root, ignore_errors=True)
    seconds["total"] = time.perf_counter() - started
    save()
    return records, seconds


def _varbayes_runs(args, model, method, cache_root, records, seconds, save) -> None:
    """Every seed with an empty compilation cache; then, unless --no-warm, again with seed 1's cache."""
    common = ["--model", model, "--method", method]
    warm_dir = None
    for cache in ("cold", "warm") if args.warm else ("cold",):
        for seed in args.seeds:
            if cache == "cold":
                cache_dir = cache_root / f"{model}-{method}-{seed}"
                warm_dir = warm_dir or cache_dir
            else:
                cache_dir = warm_dir
            t0 = time.perf_counter()
            rec = run_worker(
                [sys.executable, *VARBAYES_SCRIPT, *common, "--seed", str(seed)],
                args.timeout,
                f"varbayes {model} {method} seed {seed} ({cache} cache)",
                env=varbayes_env(cache_dir),
            )
            seconds["varbayes"] += time.perf_counter() - t0
            rec.update(library="varbayes", model=model, method=method, seed=seed, mode="fit", cache=cache)
            rec["source"] = source_version()
            records.append(rec)
            print(f"##### varbayes ({cache}): {_short(rec)}", file=sys.stderr, flush=True)
            save()
            if cache == "cold" and cache_dir != warm_dir:
                shutil.rmtree(cache_dir, ignore_errors=True)
    if warm_dir is not None:
        shutil.rmtree(warm_dir, ignore_errors=True)


def _peer_records(path) -> dict[tuple[str, str], list[dict]]:
    """The PyMC and NumPyro records of an earlier --json file, by (model, method)."""
    saved = json.loads(Path(path).read_text())
    out: dict[tuple[str, str], list[dict]] = {}
    for r in saved["records"]:
        if r.get("library") in PEER_SCRIPTS:
            out.setdefault((r["model"], r["method"]), []).append(dict(r, reused_from=str(path)))
    return out


def _peer_runs(args, model, method, records, seconds, save) -> None:
    """Each peer's grid search, then its best setting timed in a fresh process."""
    common = ["--model", model, "--method", method]
    grid = ["--grid-n", args.grid_n, "--grid-lr", args.grid_lr, "--budget", str(args.budget)]

    def worker(lib, script, mode, extra, label):
        rec = run_worker(
            [args.peers, script, *common, "--mode", mode, *extra], args.timeout, f"{lib} {model} {method} {mode}"
        )
        rec.update(library=lib, model=model, method=method, mode=mode)
        records.append(rec)
        print(f"##### {lib} {label}: {_short(rec)}", file=sys.stderr, flush=True)
        return rec

    for lib, script in PEER_SCRIPTS.items():
        t0 = time.perf_counter()
        rec = worker(lib, script, "search", grid, "search")
        best = rec.get("best") if rec.get("status") == "ok" else None
        if best:
            worker(lib, script, "time", ["--n", str(best["n"]), "--lr", repr(best["lr"])], "timed")
        seconds[lib] = seconds.get(lib, 0.0) + time.perf_counter() - t0
        save()


def report(records: list[dict], seconds: dict, command: str, info: dict, args) -> None:
    """Print the tables; write them to ``args.markdown`` if given."""
    header = _header(records, seconds, command, info, args)
    main_rows, seed_rows, peer_rows, remarks = tables(records, args)
    print(header)
    print()
    print(EXPLAIN)
    print()
    print(render_markdown(main_rows))
    print()
    print(render_markdown(seed_rows))
    if peer_rows[1:]:
        print()
        print(render_markdown(peer_rows))
    if remarks:
        print("\n" + "\n".join(f"- {r}" for r in remarks))
    if args.markdown:
        parts = [
            "```\n" + header + "\n```",
            EXPLAIN,
            render_markdown(main_rows),
            "varbayes, every seed:\n\n" + render_markdown(seed_rows),
        ]
        if peer_rows[1:]:
            parts.append("Peers, grid search and timed run:\n\n" + render_markdown(peer_rows))
        if remarks:
            parts.append("\n".join(f"- {r}" for r in remarks))
        Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
        Path(args.markdown).write_text("\n\n".join(parts) + "\n")


# ------------------------------------------------------------------ report
EXPLAIN = """\
Criterion, on every compared variable (constrained space) against the reference posterior: fullrank_advi,
means within 0.25 reference sd and sd ratios in [0.8, 1.25]; advi, means within 0.5 reference sd.
err: largest |mean - reference mean| / reference sd; [a, b]: smallest and largest sd / reference sd.
varbayes: fit(n=None) with seeds 1, 2, 3: iterations (the step-size search's apart, see the per-seed table),
whole-call seconds with an empty compilation cache (cold) and with the cache seed 1 filled (warm), err.
Peers: smallest n of the grid, over the learning rates, that meets the criterion with seed 1; time of that fit
in a fresh process (PyMC: its on-disk cache warm from the search; NumPyro: compiled in the process). Times are
whole calls (compilation included, model building excluded). Ratios: peer time / median varbayes time, warm
for PyMC, cold for NumPyro."""


def _fmt_s(x) -> str:
    x = _num(x)
    if not math.isfinite(x):
        return "—"
    return f"{x:.2f}" if x < 10 else f"{x:.1f}" if x < 100 else f"{x:,.0f}"


def _fmt_ratio(x) -> str:
    if x is None or not math.isfinite(x):
        return "—"
    return f"{x:,.0f}×" if x >= 100 else f"{x:.1f}×" if x >= 1 else f"{x:.2f}×"


def _fmt_err(rec: dict, method: str) -> str:
    err = _num(rec.get("mean_err"))
    if not math.isfinite(err):
        return "nan"
    text = f"{err:.2f}"
    if method == "fullrank_advi":
        text += f" [{_num(rec.get('sd_ratio_min')):.2f}, {_num(rec.get('sd_ratio_max')):.2f}]"
    return text


def _short(rec: dict) -> str:
    if rec.get("status") != "ok":
        return f"{rec.get('status')}: {rec.get('note', '')}"
    if rec.get("mode") == "search":
        best = rec.get("best")
        if best:
            points = len(rec["points"])
            return f"n={best['n']:,} lr={best['lr']:g} ({points} points, {rec['search_seconds']:.0f} s)"
        closest = rec.get("closest") or {}
        score = _num(closest.get("score"))
        return f"not reached; closest score {score:.2f} ({rec.get('search_seconds', 0):.0f} s)"
    ok = "pass" if rec.get("pass") else "FAIL"
    it = f"{rec['iterations']:,} it, " if "iterations" in rec else f"n={rec.get('n', 0):,}, "
    return f"{ok}, {it}{rec['fit_seconds']:.2f} s, err {_fmt_err(rec, rec['method'])}"


def _find(records, **keys) -> list[dict]:
    return [r for r in records if all(r.get(k) == v for k, v in keys.items())]


def _median_time(vb: list[dict]) -> float | None:
    times = [r["fit_seconds"] for r in vb if r.get("status") == "ok"]
    return statistics.median(times) if times else None


#: the varbayes runs each peer's time is divided by: PyMC's compiled code is cached on disk (warm),
#: NumPyro compiles in every process (cold)
RATIO_AGAINST = {"PyMC": "warm", "NumPyro": "cold"}


def tables(records: list[dict], args) -> tuple[list, list, list, list[str]]:
    """Main rows, varbayes per-seed rows, peer rows and remarks (failed criteria, mismatches)."""
    peers = [lib for lib in PEER_SCRIPTS if _find(records, library=lib)]
    warm = any(r.get("cache") == "warm" for r in records if r.get("library") == "varbayes")
    head = ["model", "method", "varbayes it", "varbayes s" + (" (cold)" if warm else "")]
    head += ["varbayes s (warm)"] if warm else []
    head += ["varbayes err"]
    for lib in peers:
        head += [f"{lib} n", f"{lib} lr", f"{lib} s"]
    head += [f"{lib}/varbayes" + (f" ({RATIO_AGAINST[lib]})" if warm else "") for lib in peers]
    main_rows = [head]
    seed_rows = [["model", "method", "seed", "reason", "iterations (+search)", "fit s"]]
    seed_rows[0] += ["warm fit s"] if warm else []
    seed_rows[0] += ["convergence s", "import s", "err", "pass"]
    peer_rows = [
        ["model", "method", "library", "result", "points tried", "search s"]
        + ["timed n", "lr", "fit s", "import s", "timed err", "pass"]
    ]
    remarks: list[str] = []
    for model in args.models:
        for method in args.methods:
            vb = _find(records, library="varbayes", model=model, method=method)
            cold = [r for r in vb if r.get("cache", "cold") == "cold"]
            hot = {r["seed"]: r for r in vb if r.get("cache") == "warm"}
            if not vb and not any(_find(records, library=p, model=model, method=method) for p in peers):
                continue
            its, secs, warm_secs, errs = [], [], [], []
            for r in cold:
                w = hot.get(r.get("seed"))
                warm_secs.append(_fmt_s(w["fit_seconds"]) if w and w.get("status") == "ok" else "—")
                if r.get("status") != "ok":
                    its.append("error")
                    secs.append("—")
                    errs.append("error")
                    row = [model, method, r.get("seed"), "error", "", ""] + ([""] if warm else [])
                    seed_rows.append(row + ["", "", r.get("note", ""), "—"])
                    remarks.append(
                        f"varbayes {model} {method} seed {r.get('seed')}: {r.get('note', 'error')}"
                    )
                    continue
                its.append(f"{r['iterations']:,}")
                secs.append(_fmt_s(r["fit_seconds"]))
                errs.append(_fmt_err(r, method) + ("" if r["pass"] else " ✗"))
                row = [
                    model,
                    method,
                    r["seed"],
                    r["reason"],
                    f"{r['iterations']:,} (+{r['search_iterations']:,})",
                    _fmt_s(r["fit_seconds"]),
                ]
                row += [warm_secs[-1]] if warm else []
                row += [
                    _fmt_s(r["convergence_seconds"]),
                    _fmt_s(r["import_seconds"]),
                    _fmt_err(r, method),
                    "yes" if r["pass"] else "NO",
                ]
                seed_rows.append(row)
                _seed_remarks(model, method, r, w, remarks)
            row = [model, method, " / ".join(its), " / ".join(secs)]
            row += [" / ".join(warm_secs)] if warm else []
            row += [" / ".join(errs)]
            ratios = []
            for lib in peers:
                search = next(
                    iter(_find(records, library=lib, model=model, method=method, mode="search")), None
                )
                timed = next(iter(_find(records, library=lib, model=model, method=method, mode="time")), None)
                cells, peer_time, peer_row = _peer_cells(lib, model, method, search, timed, remarks)
                row += cells
                peer_rows.append(peer_row)
                against = hot.values() if warm and RATIO_AGAINST[lib] == "warm" else cold
                vb_time = _median_time(list(against))
                ratios.append(_fmt_ratio(peer_time / vb_time) if peer_time is not None and vb_time else "—")
            main_rows.append(row + ratios)
    return main_rows, seed_rows, peer_rows, remarks


def _seed_remarks(model, method, r, w, remarks) -> None:
    """Remarks on one varbayes seed: criterion failed, no convergence, warm run different from cold."""
    what = f"varbayes {model} {method} seed {r['seed']}"
    if not r["pass"]:
        remarks.append(
            f"{what} fails the criterion: err {_fmt_err(r, method)}"
            f" (worst: {_worst(r, method)}; {r['reason']} after {r['iterations']:,} iterations)"
        )
    if r["reason"] != "converged":
        remarks.append(f"{what} ended with reason {r['reason']!r} after {r['iterations']:,} iterations")
    if (
        w is not None
        and w.get("status") == "ok"
        and (w["iterations"], w["pass"]) != (r["iterations"], r["pass"])
    ):
        remarks.append(
            f"{what}: the warm run differs from the cold one ({w['iterations']:,} iterations, "
            f"{'pass' if w['pass'] else 'fail'})"
        )


def _worst(r: dict, method: str) -> str:
    errors = r.get("errors") or {}
    if not errors:
        return "?"

    def score(var):
        e = errors[var]
        return _score(method, _num(e["mean_err"]), _num(e["sd_ratio_min"]), _num(e["sd_ratio_max"]))

    var = max(errors, key=score)
    e = errors[var]
    lo, hi = _num(e["sd_ratio_min"]), _num(e["sd_ratio_max"])
    return f"{var} mean err {_num(e['mean_err']):.2f}, sd ratio [{lo:.2f}, {hi:.2f}]"


def _peer_cells(lib, model, method, search, timed, remarks):
    """Cells ``[n, lr, s]`` of the main table, the peer's time (or None) and its detail row."""
    detail = [model, method, lib]
    if search is None:
        return ["—", "—", "—"], None, detail + ["not run"] + [""] * 8
    if search.get("status") != "ok":
        remarks.append(f"{lib} {model} {method}: search {search.get('status')}: {search.get('note', '')}")
        return ["error", "—", "—"], None, detail + [f"error: {search.get('note', '')}"] + [""] * 8
    by_lr: dict[float, list[str]] = {}
    for p in search.get("points", []):
        by_lr.setdefault(p["lr"], []).append(f"{p['n'] // 1000}k{'✓' if p['pass'] else ''}")
    tried = "; ".join(f"lr {lr:g}: {' '.join(ns)}" for lr, ns in by_lr.items())
    for f in search.get("failures", []):
        tried += f"; lr {f['lr']:g} stopped: {f['error'].strip()}"
    if search.get("skipped_lr"):
        tried += f"; not tried (budget): lr {', '.join(f'{x:g}' for x in search['skipped_lr'])}"
    best = search.get("best")
    if not best:
        closest = search.get("closest")
        if closest:
            at = f"n={closest['n']:,}, lr={closest['lr']:g}"
            text = f"not reached (closest: err {_fmt_err(closest, method)} at {at})"
        else:
            text = "not reached (no result)"
        if search.get("budget_spent"):
            text += ", search budget spent"
        return (
            [text, "—", "—"],
            None,
            detail + [text, tried, _fmt_s(search.get("search_seconds")), "", "", "", "", "", ""],
        )
    cells = [f"{best['n']:,}", f"{best['lr']:g}"]
    if timed is None or timed.get("status") != "ok":
        note = (timed or {}).get("note", "not timed")
        remarks.append(f"{lib} {model} {method}: timed run failed: {note}")
        return (
            cells + ["error"],
            None,
            detail
            + [
                "reached",
                tried,
                _fmt_s(search.get("search_seconds")),
                f"{best['n']:,}",
                f"{best['lr']:g}",
                "error",
                "",
                note,
                "",
            ],
        )
    if not timed["pass"]:
        remarks.append(
            f"{lib} {model} {method}: the timed run (n={best['n']:,}, lr={best['lr']:g}) does not"
            f" reproduce the search's pass: err {_fmt_err(timed, method)}"
        )
    cells.append(_fmt_s(timed["fit_seconds"]) + ("" if timed["pass"] else " ✗"))
    detail += [
        "reached",
        tried,
        _fmt_s(search.get("search_seconds")),
        f"{timed['n']:,}",
        f"{timed['lr']:g}",
        _fmt_s(timed["fit_seconds"]),
        _fmt_s(timed.get("import_seconds")),
        _fmt_err(timed, method),
        "yes" if timed["pass"] else "NO",
    ]
    return cells, timed["fit_seconds"], detail


def render_markdown(rows: list[list]) -> str:
    out = ["| " + " | ".join(str(c) for c in rows[0]) + " |", "|" + "---|" * len(rows[0])]
    out += ["| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |" for r in rows[1:]]
    return "\n".join(out)


def machine() -> dict:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "python": platform.python_version(),
    }


def _command(argv) -> str:
    return "python -m benchmarks.time_to_answer " + shlex.join(sys.argv[1:] if argv is None else argv)


def _header(records, seconds, command, info, args) -> str:
    versions, imports = {}, {}
    for r in records:
        lib = r.get("library")
        if r.get("version"):
            versions.setdefault(lib, r["version"])
        if isinstance(r.get("import_seconds"), (int, float)):
            imports.setdefault(lib, []).append(r["import_seconds"])
    import_text = ", ".join(
        f"{lib} {statistics.median(v):.2f} s (median of {len(v)})" for lib, v in imports.items()
    )
    sources = list(dict.fromkeys(r["source"] for r in records if r.get("source")))
    lines = [
        f"{info['cpus']} CPUs, {info['cpu']}, {info['date']}, Python {info['python']}",
        ", ".join(f"{lib} {v}" for lib, v in versions.items()),
    ]
    if sources:
        changed = " (the source changed during the run)" if len(sources) > 1 else ""
        lines.append(f"varbayes source: {', '.join(sources)}{changed}")
    lines.append(f"command: {command}")
    reused = sorted({r["reused_from"] for r in records if r.get("reused_from")})
    if reused:
        lines.append(f"PyMC and NumPyro records taken from {', '.join(reused)}")
    lines += [
        f"peer grid: n in {{{args.grid_n}}}, lr in {{{args.grid_lr}}}, "
        f"search budget {float(args.budget):.0f} s",
        f"import time: {import_text or 'n/a'}",
        "wall time: "
        + ", ".join(
            f"{lib} {s:.0f} s"
            + (" (earlier run)" if reused and lib in PEER_SCRIPTS else "")
            + (" (this run)" if reused and lib == "total" else "")
            for lib, s in seconds.items()
        ),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
