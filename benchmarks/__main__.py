"""Run the quickstart's workloads on varbayes (and, with ``--peers``, on PyMC and NumPyro) and print a table.

Usage (from the repository root)::

    python -m benchmarks                                  # varbayes only
    python -m benchmarks --peers /tmp/peers/bin/python    # side by side with PyMC and NumPyro
    python -m benchmarks --only advi_bar,nuts_bar --repeats 3 --markdown out.md --json out.json

Each library runs in its own process, one after the other (never at the same
time), so they share the machine the same way. See :mod:`benchmarks.harness`
for how times are measured.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.harness import WORKLOAD_IDS, WORKLOADS

ROOT = Path(__file__).resolve().parents[1]
LABELS = dict(WORKLOADS)
PEER_SCRIPTS = {
    "PyMC": "benchmarks/peers/pymc_workloads.py",
    "NumPyro": "benchmarks/peers/numpyro_workloads.py",
}
# DESIGN.md section 3: minimum ratio varbayes / peer of the rate after the first iteration.
TARGETS = {
    "advi_bar": {"PyMC": 100, "NumPyro": 5},
    "svgd": {"PyMC": 100},
    "iris_svgd": {"PyMC": 100},
    "minibatch_bar": {"PyMC": 3.5, "NumPyro": 20},
    "nuts_bar": {"NumPyro": 1},
    "nuts_nobar": {"NumPyro": 1},
}
TTFI_TARGET = 2.0  # seconds from fit(...) to the first iteration


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--peers", metavar="PYTHON", help="interpreter with pymc and numpyro installed")
    parser.add_argument("--repeats", type=int, default=3, help="repetitions per workload; the best is kept")
    parser.add_argument("--only", default="", help=f"comma-separated subset of {','.join(WORKLOAD_IDS)}")
    parser.add_argument(
        "--scale", type=float, default=1.0, help="multiply iteration counts (0.1: smoke test)"
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=40.0,
        help="seconds per workload and library before repetitions stop early",
    )
    parser.add_argument("--json", metavar="PATH", help="write the raw records here")
    parser.add_argument("--markdown", metavar="PATH", help="write the tables as Markdown here")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds allowed per library")
    return parser.parse_args(argv)


def run_script(library: str, cmd: list[str], timeout: float) -> list[dict]:
    """Run one library's workload script; its progress output goes to our stderr."""
    print(f"\n##### {library}: {shlex.join(cmd)}", file=sys.stderr, flush=True)
    records = []
    try:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    except OSError as exc:
        return [
            {"library": library, "workload": w, "status": "error", "note": str(exc)} for w in WORKLOAD_IDS
        ]
    deadline = time.monotonic() + timeout
    for line in proc.stdout:
        line = line.strip()
        if not line.startswith("{"):
            continue
        record = json.loads(line)
        records.append(record)
        print(f"##### {library} {record['workload']}: {_short(record)}", file=sys.stderr, flush=True)
        if time.monotonic() > deadline:
            proc.kill()
            break
    code = proc.wait()
    if code and not records:
        records = [
            {"library": library, "workload": w, "status": "error", "note": f"script exited with {code}"}
            for w in WORKLOAD_IDS
        ]
    return records


def _short(r: dict) -> str:
    if r.get("status") != "ok":
        return f"{r.get('status')}: {r.get('note', '')}"
    return f"{r['rate']:,.0f} {r['unit']}/s after the first, first in {r['ttfi']:.2f} s, {r['call_rate']:,.0f}/s whole call"


def _fmt_rate(x) -> str:
    if x is None or not isinstance(x, (int, float)) or not math.isfinite(x):
        return "—"
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def _fmt_ratio(x) -> str:
    if x is None or not math.isfinite(x):
        return "—"
    return f"{x:,.0f}×" if x >= 100 else f"{x:.1f}×" if x >= 1 else f"{x:.2f}×"


def _fmt_check(r: dict) -> str:
    value = r.get("check")
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return "—"
    if "P(x<0)" in r.get("check_name", ""):
        return f"P(x<0)={value:.3f}"
    return f"{value:,.4g}"


def _ratio(a: dict | None, b: dict | None, key: str) -> float | None:
    if not a or not b or a.get("status") != "ok" or b.get("status") != "ok":
        return None
    x, y = a.get(key), b.get(key)
    if not (isinstance(x, (int, float)) and isinstance(y, (int, float))) or not (x > 0 and y > 0):
        return None
    if not (math.isfinite(x) and math.isfinite(y)):
        return None
    return x / y


def tables(
    by: dict, libraries: list[str], workloads: list[str], repeats: int = 3
) -> tuple[list[list[str]], list[list[str]], list[str]]:
    """The detail rows, the ratio rows and the list of missed targets."""
    detail = [
        [
            "workload",
            "library",
            "n",
            "1st it (s), best / first",
            "rate after 1st (/s)",
            "whole call (/s)",
            "final avg loss / check",
            "notes",
        ]
    ]
    peers = [lib for lib in libraries if lib != "varbayes"]
    head = ["workload", "varbayes /s"] + [f"{p} /s" for p in peers]
    head += (
        [f"varbayes/{p}" for p in peers]
        + [f"whole call varbayes/{p}" for p in peers]
        + ["target (DESIGN §3)"]
    )
    ratios = [head]
    missed = []
    for w in workloads:
        for lib in libraries:
            r = by.get((lib, w))
            if r is None:
                continue
            if r.get("status") != "ok":
                detail.append([w, lib, "", "", r.get("status", ""), "", "", r.get("note", "")])
                continue
            ttfi = f"{r['ttfi']:.2f} / {r['ttfi_first']:.2f}"
            notes = [r.get("note", "")]
            if r.get("repeats", repeats) < repeats:
                notes.append(f"best of {r['repeats']} (time budget)")
            if r.get("ttfi_method") != "in-call":
                notes.append(f"first iteration: {r.get('ttfi_method')}")
            if r.get("total_estimated"):
                notes.append("whole call = 1st it + n / rate")
            detail.append(
                [
                    w,
                    f"{lib} {r.get('version', '')}".strip(),
                    f"{r['n']:,} {r['unit']}",
                    ttfi,
                    _fmt_rate(r["rate"]),
                    _fmt_rate(r["call_rate"]),
                    _fmt_check(r),
                    "; ".join(x for x in notes if x),
                ]
            )
            if lib == "varbayes" and r["ttfi"] > TTFI_TARGET:
                missed.append(
                    f"{w}: varbayes first iteration after {r['ttfi']:.2f} s (target < {TTFI_TARGET:.0f} s)"
                )
        vb = by.get(("varbayes", w))
        row = [w, _fmt_rate(vb["rate"]) if vb and vb.get("status") == "ok" else (vb or {}).get("status", "—")]
        for p in peers:
            pr = by.get((p, w))
            row.append(
                _fmt_rate(pr["rate"]) if pr and pr.get("status") == "ok" else (pr or {}).get("status", "—")
            )
        row += [_fmt_ratio(_ratio(vb, by.get((p, w)), "rate")) for p in peers]
        row += [_fmt_ratio(_ratio(vb, by.get((p, w)), "call_rate")) for p in peers]
        targets = []
        for p, need in TARGETS.get(w, {}).items():
            if p not in peers:
                continue
            got = _ratio(vb, by.get((p, w)), "rate")
            ok = got is not None and got >= need
            targets.append(f"≥{need}× {p}: {'met' if ok else 'MISSED' if got is not None else 'n/a'}")
            if not ok:
                missed.append(f"{w}: varbayes/{p} = {_fmt_ratio(got)} (target ≥{need}×)")
        row.append("; ".join(targets) or "—")
        ratios.append(row)
    return detail, ratios, missed


def render_text(rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for k, r in enumerate(rows):
        lines.append("  ".join(str(c).ljust(widths[i]) for i, c in enumerate(r)).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render_markdown(rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    out += ["| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |" for r in rows[1:]]
    return "\n".join(out)


def machine() -> dict:
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu": model,
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "python": platform.python_version(),
    }


EXPLAIN = """\
n: iterations (NUTS: draws of all chains, warmup included) of the timed call.
1st it: seconds from the fit/sample call to the end of its first iteration (first draw), on a
  freshly built model after clearing JAX's in-memory caches; best of the repetitions / first one.
rate after 1st = n / (wall time of the call - time to first iteration); whole call = n / wall time.
Ratios are varbayes / peer of those rates, all measured in this one invocation (best of each).
Workloads repeat --repeats times (default 3) unless that would exceed --budget seconds (default 40)."""


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    common = ["--repeats", str(args.repeats), "--scale", str(args.scale), "--budget", str(args.budget)]
    if args.only:
        common += ["--only", args.only]
    workloads = [w for w in WORKLOAD_IDS if not args.only or w in args.only.split(",")]
    runs = [("varbayes", [sys.executable, "-m", "benchmarks.workloads", *common])]
    if args.peers:
        runs += [(lib, [args.peers, script, *common]) for lib, script in PEER_SCRIPTS.items()]
    records, seconds = [], {}
    for lib, cmd in runs:
        t0 = time.perf_counter()
        records += run_script(lib, cmd, args.timeout)
        seconds[lib] = time.perf_counter() - t0
    by = {(r["library"], r["workload"]): r for r in records}
    libraries = [lib for lib, _ in runs]
    detail, ratios, missed = tables(by, libraries, workloads, args.repeats)
    info = machine()
    versions = {
        lib: next((r.get("version") for r in records if r["library"] == lib and r.get("version")), "?")
        for lib in libraries
    }
    elapsed = time.perf_counter() - started
    header = (
        f"{info['cpus']} CPUs, {info['cpu']}, {info['date']}, Python {info['python']}\n"
        + ", ".join(f"{lib} {v}" for lib, v in versions.items())
        + f"\ncommand: python -m benchmarks {shlex.join(sys.argv[1:] if argv is None else argv)}\n"
        + "wall time: "
        + ", ".join(f"{lib} {s:.0f} s" for lib, s in seconds.items())
        + f", total {elapsed:.0f} s"
    )
    print(header)
    print()
    print(EXPLAIN)
    print()
    print(render_text(detail))
    print()
    print(render_text(ratios))
    if missed:
        print("\nBelow the DESIGN.md targets:\n" + "\n".join(f"  {m}" for m in missed))
    if args.markdown:
        text = "\n\n".join(
            [
                "```\n" + header + "\n```",
                render_markdown(ratios),
                render_markdown(detail),
                ("Below the DESIGN.md targets:\n\n" + "\n".join(f"- {m}" for m in missed)) if missed else "",
            ]
        )
        Path(args.markdown).write_text(text + "\n")
    if args.json:
        Path(args.json).write_text(
            json.dumps({"machine": info, "seconds": seconds, "records": records}, indent=1)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
