"""Timing and reporting helpers shared by every workload script.

Standard library only: the peer scripts import this module from another
interpreter (the one that has PyMC and NumPyro installed), which does not have
varbayes.

Each workload script prints one JSON object per workload on its standard
output and nothing else there: :class:`JsonLines` moves file descriptor 1 to
standard error first, so progress bars and log messages of the library under
test still reach the terminal while the JSON stays machine-readable.

Timing definitions (the same for every library)
-----------------------------------------------
``total``
    Wall time of the ``fit(...)`` / ``sample(...)`` call, on a model built
    just before it (so compilation is included, as for a user's first fit).
``ttfi``
    Time to first iteration: from the call until the first iteration (or the
    first draw) is done. Measured inside the call when the library offers a
    hook for it (``ttfi_method`` "in-call"); otherwise see
    :func:`separate_calls`.
``rate``
    ``n / (total - ttfi)``: iterations (draws, all chains, warmup included) per
    second once the first iteration is done.
``call_rate``
    ``n / total``: the whole-call rate a user sees for this ``n``.

The JAX libraries (varbayes, NumPyro) clear JAX's in-memory caches before
each timed call (``jax.clear_caches()``), so every call compiles from scratch
as a user's first fit does; otherwise a second model of the same structure
reuses compiled code and the time to first iteration shrinks. PyMC's
compilation caches live on disk and are left alone.

Every workload is repeated (``--repeats``, default 3) on a fresh model each
time; the report gives the best repetition of each quantity (lowest ``ttfi``
and ``total``, highest rates) and ``ttfi_first``, the first repetition's ttfi
(the first compilation of that model in the process).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import traceback
from collections.abc import Callable

# Workload ids in table order, with a human-readable label. Every script
# (varbayes, PyMC, NumPyro) emits records under these ids.
WORKLOADS: list[tuple[str, str]] = [
    ("advi_bar", "ADVI, mixture, 10k it, progress bar on"),
    ("advi_nobar", "ADVI, mixture, 10k it, progress bar off"),
    ("fullrank_bar", "FullRankADVI, mixture, 10k it, bar on"),
    ("fullrank_nobar", "FullRankADVI, mixture, 10k it, bar off"),
    ("svgd", "SVGD, mixture, 1000 particles, 300 it"),
    ("iris_svgd", "SVGD, iris logistic regression, 500 particles, 400 it"),
    ("minibatch_bar", "ADVI + Minibatch 40000x100, batch 500, 10k it, bar on"),
    ("minibatch_nobar", "ADVI + Minibatch 40000x100, batch 500, 10k it, bar off"),
    ("nuts_bar", "NUTS, mixture, 2 chains x (1000 tune + 50k draws), bar on"),
    ("nuts_nobar", "NUTS, mixture, 2 chains x (1000 tune + 50k draws), bar off"),
]
WORKLOAD_IDS = [w for w, _ in WORKLOADS]

# The seed's sizes. Scripts may run fewer iterations for a slow library and
# say so in the record's ``note``: rates do not depend on n.
MIXTURE = dict(w=[0.2, 0.8], mu=[-0.3, 0.5], sigma=[0.1, 0.1])
ADVI_N = 10_000
SVGD_N, SVGD_PARTICLES, SVGD_LR = 300, 1000, 0.01
IRIS_N, IRIS_PARTICLES, IRIS_LR = 400, 500, 0.1
MINIBATCH_N, MINIBATCH_ROWS, MINIBATCH_COLS, MINIBATCH_BATCH = 10_000, 40_000, 100, 500
NUTS_DRAWS, NUTS_TUNE, NUTS_CHAINS = 50_000, 1_000, 2
SEED = 42


def loss_window(losses, window: int = 1000) -> float:
    """Average of the last ``window`` finite losses (the "Average Loss" of PyMC's bar)."""
    values = [float(v) for v in list(losses)[-window:]]
    values = [v for v in values if math.isfinite(v)]
    return sum(values) / len(values) if values else float("nan")


class JsonLines:
    """Keep the real standard output for JSON; send everything else to stderr."""

    def __init__(self):
        sys.stdout.flush()
        self._out = os.fdopen(os.dup(1), "w", buffering=1)
        os.dup2(2, 1)

    def emit(self, record: dict) -> None:
        self._out.write(json.dumps(record, allow_nan=True) + "\n")
        self._out.flush()


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="repetitions per workload (best is kept)")
    parser.add_argument("--only", default="", help="comma-separated workload ids (default: all)")
    parser.add_argument(
        "--scale", type=float, default=1.0, help="multiply iteration counts (e.g. 0.1 for a smoke test)"
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=40.0,
        help="seconds per workload: no further repetition is started if it would end later",
    )
    args = parser.parse_args(argv)
    args.only = [w for w in args.only.split(",") if w] or list(WORKLOAD_IDS)
    unknown = set(args.only) - set(WORKLOAD_IDS)
    if unknown:
        parser.error(f"unknown workloads {sorted(unknown)}; known: {WORKLOAD_IDS}")
    return args


def repeat(args: argparse.Namespace):
    """Yield repetition indices: at most ``args.repeats``, fewer if the next would exceed ``args.budget``."""
    start = time.perf_counter()
    for i in range(args.repeats):
        spent = time.perf_counter() - start
        if i and spent + spent / i > args.budget:
            return
        yield i


def scaled(n: int, scale: float, minimum: int = 2) -> int:
    return max(minimum, int(round(n * scale)))


class Clock:
    """Records the time of the first call of a hook (PyMC callbacks)."""

    def __init__(self):
        self.first = None

    def __call__(self, *args, **kwargs):
        if self.first is None:
            self.first = time.perf_counter()


def timed(
    fn: Callable[[], object], before: Callable[[], object] | None = None
) -> tuple[float, float, object]:
    """Run ``fn``; return ``(start, seconds, result)``. ``before`` runs first, untimed."""
    if before is not None:
        before()
    start = time.perf_counter()
    result = fn()
    return start, time.perf_counter() - start, result


def separate_calls(make_call, n: int, n_short: int, args, clear=None, min_loop: float = 0.5) -> list[dict]:
    """Repetitions for a library without a hook between compilation and the loop.

    ``make_call(steps)`` builds a fresh model / inference object and returns a
    zero-argument call running ``steps`` iterations. Each repetition makes a
    cold short call (after ``clear()``, e.g. ``jax.clear_caches``) whose wall
    time is ``ttfi``; then, warm, the short call again and the full call. The
    loop's rate is ``(m - n_short) / (full_warm - short_warm)``: whatever
    compilation is left when warm cancels in the difference. When the loop
    takes less than ``min_loop`` seconds (a compiled loop of 10k cheap
    iterations takes milliseconds, less than a compilation varies), the full
    call is repeated with ten times as many iterations ``m`` until it does (at
    most 1000 n); the record's note gives ``m``. Repetitions as :func:`repeat`. ``total`` is then
    ``ttfi + n / rate``, an estimate of a cold full call (``total_estimated``).
    """
    reps = []
    m = n
    for _ in repeat(args):
        _, ttfi, _ = timed(make_call(n_short), before=clear)
        _, short_warm, _ = timed(make_call(n_short))
        _, full_warm, result = timed(make_call(n))
        loop = full_warm - short_warm
        steps = n
        while m > steps or (loop < min_loop and m < 1000 * n):
            if m == steps:
                m *= 10
            _, long_warm, _ = timed(make_call(m))
            loop, steps = long_warm - short_warm, m
        rate = (steps - n_short) / loop if loop > 0 else float("nan")
        reps.append(
            {
                "ttfi": ttfi,
                "rate": rate,
                "total": ttfi + n / rate if loop > 0 else float("nan"),
                "result": result,
                "rate_n": steps,
            }
        )
    return reps


def rate_note(reps: list[dict], n: int) -> str:
    m = max(r.get("rate_n", n) for r in reps)
    return f"rate from warm runs of {m:,} iterations" if m > n else ""


def join(*notes: str) -> str:
    return "; ".join(x for x in notes if x)


def summarise(
    library: str,
    workload: str,
    reps: list[dict],
    n: int,
    unit: str,
    ttfi_method: str,
    note: str = "",
    check_name: str = "final avg loss",
    version: str = "",
) -> dict:
    """Combine repetitions (dicts with ``total``, ``ttfi``, ``check``, maybe ``rate``) into one record."""
    rates = [
        r["rate"] if "rate" in r else n / (r["total"] - r["ttfi"]) if r["total"] > r["ttfi"] else float("nan")
        for r in reps
    ]
    finite = [x for x in rates if math.isfinite(x)]
    return {
        "library": library,
        "version": version,
        "workload": workload,
        "status": "ok",
        "n": n,
        "unit": unit,
        "repeats": len(reps),
        "ttfi": min(r["ttfi"] for r in reps),
        "ttfi_first": reps[0]["ttfi"],
        "ttfi_method": ttfi_method,
        "total_estimated": any("rate" in r for r in reps),
        "total": min(r["total"] for r in reps),
        "rate": max(finite) if finite else float("nan"),
        "call_rate": max(n / r["total"] for r in reps),
        "rates": rates,
        "totals": [r["total"] for r in reps],
        "ttfis": [r["ttfi"] for r in reps],
        "check_name": check_name,
        "check": reps[-1]["check"],
        "note": note,
    }


def unavailable(library: str, workload: str, reason: str, status: str = "n/a", version: str = "") -> dict:
    return {"library": library, "version": version, "workload": workload, "status": status, "note": reason}


def run_all(library: str, version: str, workloads: dict[str, Callable], args: argparse.Namespace) -> None:
    """Run the selected workloads; emit one JSON line each, errors included."""
    out = JsonLines()
    for wid in args.only:
        fn = workloads.get(wid)
        if fn is None:
            out.emit(unavailable(library, wid, "no equivalent", status="—", version=version))
            continue
        print(f"\n=== {library}: {wid} ===", file=sys.stderr, flush=True)
        try:
            record = fn(args)
        except NotImplementedError as exc:
            traceback.print_exc()
            reason = str(exc) or f"NotImplementedError in {traceback.extract_tb(exc.__traceback__)[-1].name}"
            record = unavailable(library, wid, f"not available: {reason}", version=version)
        except Exception as exc:  # report and go on with the next workload
            traceback.print_exc()
            record = unavailable(library, wid, f"error: {type(exc).__name__}: {exc}", status="error")
        record["version"] = record.get("version") or version
        out.emit(record)
