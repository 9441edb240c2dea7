"""The seed's cells as a user runs them: each in a fresh process, cold and warm caches, beside PyMC.

Usage (from the repository root)::

    python -m benchmarks.cells --peers /tmp/peers/bin/python --markdown out.md --json out.json
    python -m benchmarks.cells --only advi,iris_tracker --warm 3
    python -m benchmarks.cells --plot docs/img/cells.png --from-json out.json   # redraw the figure

A worker process imports the library (timed: ``import``), builds the cell's
data outside the timed region, then runs the cell's code as the quickstart
writes it (timed: ``cell``; model definition, inference and, for the iris
cell, the Tracker's ``.eval()`` calls included). ``cold`` runs start with an
empty on-disk cache (varbayes: ``VARBAYES_CACHE_DIR``; PyMC: PyTensor's
``compiledir``, where its Numba and C code is cached); ``warm`` runs reuse the
cache the cold run filled, as a user's second session would. Processes run one
after the other, never at the same time. The figure plots warm whole-cell
times (import + cell) per library.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Code run before the timer starts (data only), per cell.
SETUP = {
    "mixture": """
        w = np.array([0.2, 0.8]); mu = np.array([-0.3, 0.5]); sd = np.array([0.1, 0.1])
    """,
    "iris": """
        from benchmarks.data import iris_split
        X_train, X_test, y_train, y_test = iris_split()
    """,
    "minibatch": """
        from benchmarks.data import minibatch_data
        data = minibatch_data()
    """,
}

#: The seed's cells (``pm`` is the library, ``pt`` pytensor.tensor); ``{total_size}`` differs by library.
CELLS = {
    "advi": ("mixture", """
        with pm.Model() as model:
            x = pm.NormalMixture("x", w=w, mu=mu, sigma=sd)
            x2 = pm.Deterministic("x2", x ** 2)
            sin_x = pm.Deterministic("sin_x", pm.math.sin(x))
            approx = pm.fit(10000, method="advi", random_seed=SEED)
    """),
    "fullrank": ("mixture", """
        with pm.Model() as model:
            x = pm.NormalMixture("x", w=w, mu=mu, sigma=sd)
            x2 = pm.Deterministic("x2", x ** 2)
            sin_x = pm.Deterministic("sin_x", pm.math.sin(x))
            approx = pm.fit(10000, method="fullrank_advi", random_seed=SEED)
    """),
    "svgd": ("mixture", """
        with pm.Model() as model:
            x = pm.NormalMixture("x", w=w, mu=mu, sigma=sd)
            x2 = pm.Deterministic("x2", x ** 2)
            sin_x = pm.Deterministic("sin_x", pm.math.sin(x))
            approx = pm.fit(300, method="svgd", inf_kwargs=dict(n_particles=1000),
                            obj_optimizer=pm.sgd(learning_rate=0.01), random_seed=SEED)
    """),
    "iris_tracker": ("iris", """
        Xt = pytensor.shared(X_train)
        yt = pytensor.shared(y_train)
        with pm.Model() as iris_model:
            β = pm.Normal("β", 0, sigma=1e2, shape=(4, 3))
            a = pm.Flat("a", shape=(3,))
            p = pt.special.softmax(Xt.dot(β) + a, axis=-1)
            observed = pm.Categorical("obs", p=p, observed=yt)
        with iris_model:
            inference = pm.SVGD(n_particles=500, jitter=1, random_seed=SEED)
            approx = inference.approx
            test_probs = approx.sample_node(p, more_replacements={Xt: X_test}, size=100)
            train_probs = approx.sample_node(p)
        test_ok = pt.eq(test_probs.argmax(-1), y_test)
        train_ok = pt.eq(train_probs.argmax(-1), y_train)
        test_accuracy = test_ok.mean(-1)
        train_accuracy = train_ok.mean(-1)
        eval_tracker = pm.callbacks.Tracker(
            test_accuracy=timed("first_eval", test_accuracy.eval), train_accuracy=train_accuracy.eval
        )
        mark("setup")
        inference.fit(100, callbacks=[eval_tracker])
        mark("first_fit")
        inference.fit(400, obj_optimizer=pm.adamax(learning_rate=0.1), callbacks=[eval_tracker])
        mark("second_fit")
    """),
    "minibatch": ("minibatch", """
        X = pm.Minibatch(data, batch_size=500)
        with pm.Model() as model:
            mu = pm.Flat("mu", shape=(100,))
            sd = pm.HalfNormal("sd", shape=(100,))
            likelihood = pm.Normal("likelihood", mu, sd, observed=X, total_size={total_size})
        with model:
            advifit = pm.fit(random_seed=SEED)
    """),
    "nuts": ("mixture", """
        with pm.Model() as model:
            x = pm.NormalMixture("x", w=w, mu=mu, sigma=sd)
            x2 = pm.Deterministic("x2", x ** 2)
            sin_x = pm.Deterministic("sin_x", pm.math.sin(x))
            trace = pm.sample(50000, random_seed=SEED)
    """),
}

LIBRARIES = {
    # name: (import line, total_size expression (PyMC 6 refuses data.shape), cache environment variable)
    "varbayes": ("import varbayes as pm", "data.shape"),
    # PyMC 6 keeps the callbacks in pymc.variational (PyMC3 also exposed them as pm.callbacks)
    "PyMC": ("import pymc as pm; pm.callbacks = pm.variational.callbacks", "len(data)"),
}

WORKER = """
import time
_t0 = time.perf_counter()
{import_line}
import pytensor
import pytensor.tensor as pt
_t1 = time.perf_counter()
import json, sys
import numpy as np
sys.path.insert(0, {root!r})
SEED = 20090425
_marks = {{}}
_first = {{}}

def mark(name):
    _marks[name] = time.perf_counter()

def timed(name, fn):
    def call(*args, **kwargs):
        start = time.perf_counter()
        out = fn(*args, **kwargs)
        _first.setdefault(name, time.perf_counter() - start)
        return out
    return call

{setup}
_t2 = time.perf_counter()
{cell}
_t3 = time.perf_counter()
_out = {{"import_s": _t1 - _t0, "cell_s": _t3 - _t2}}
_previous = _t2
for _name, _t in _marks.items():
    _out[_name] = _t - _previous
    _previous = _t
_out.update(_first)
print("RESULT " + json.dumps(_out))
"""


def worker_source(library: str, cell: str) -> str:
    import_line, total_size = LIBRARIES[library]
    setup_name, code = CELLS[cell]
    return WORKER.format(
        import_line=import_line,
        root=str(ROOT),
        setup=textwrap.dedent(SETUP[setup_name]).strip(),
        cell=textwrap.dedent(code).strip().replace("{total_size}", total_size),
    )


def run_worker(python: str, library: str, cell: str, cache: Path, timeout: float) -> dict:
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    if library == "varbayes":
        env["VARBAYES_CACHE_DIR"] = str(cache)
        env.pop("JAX_COMPILATION_CACHE_DIR", None)
        env.pop("VARBAYES_COMPILATION_CACHE", None)
    else:
        env["PYTENSOR_FLAGS"] = f"compiledir={cache}"
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as file:
        file.write(worker_source(library, cell))
    try:
        done = subprocess.run([python, file.name], env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    finally:
        os.unlink(file.name)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{library} {cell} failed:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT ") :])


def measure(args) -> list[dict]:
    pythons = {"varbayes": sys.executable}
    if args.peers:
        pythons["PyMC"] = args.peers
    records = []
    for cell in args.only:
        for library, python in pythons.items():
            with tempfile.TemporaryDirectory(prefix=f"cells-{library}-") as cache:
                runs = [("cold", run_worker(python, library, cell, Path(cache), args.timeout))]
                warm = args.warm if library == "varbayes" or cell not in args.slow_peer_cells else 1
                runs += [("warm", run_worker(python, library, cell, Path(cache), args.timeout)) for _ in range(warm)]
            for cache_state, result in runs:
                record = {"cell": cell, "library": library, "cache": cache_state, **result}
                records.append(record)
                print(json.dumps(record), flush=True)
    return records


def _median(records, key) -> float | None:
    values = [r[key] for r in records if key in r]
    return statistics.median(values) if values else None


def summary(records: list[dict]) -> list[dict]:
    """Per cell and library: cold and warm (median) cell times, import, and the iris cell's parts."""
    rows = []
    for cell in dict.fromkeys(r["cell"] for r in records):
        for library in dict.fromkeys(r["library"] for r in records):
            mine = [r for r in records if r["cell"] == cell and r["library"] == library]
            if not mine:
                continue
            cold = [r for r in mine if r["cache"] == "cold"]
            warm = [r for r in mine if r["cache"] == "warm"]
            row = {"cell": cell, "library": library, "cold": _median(cold, "cell_s"), "warm": _median(warm, "cell_s"),
                   "import": _median(warm or cold, "import_s"), "warm_runs": len(warm)}
            for part in ("first_eval", "first_fit", "second_fit"):
                if any(part in r for r in warm):
                    row[part] = _median(warm, part)
            rows.append(row)
    return rows


def markdown(rows: list[dict]) -> str:
    lines = [
        "| cell | library | import (s) | cell, cold cache (s) | cell, warm cache (s) | import + cell, warm (s) "
        "| cell: PyMC / varbayes (warm) | import + cell: PyMC / varbayes (warm) | parts (warm) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    by_key = {(r["cell"], r["library"]): r for r in rows}
    for row in rows:
        ratio = whole_ratio = ""
        if row["library"] == "varbayes" and (row["cell"], "PyMC") in by_key:
            peer = by_key[(row["cell"], "PyMC")]
            ratio = f"{peer['warm'] / row['warm']:.1f}×"
            whole_ratio = f"{(peer['warm'] + peer['import']) / (row['warm'] + row['import']):.1f}×"
        parts = ", ".join(f"{k} {row[k]:.2f} s" for k in ("first_eval", "first_fit", "second_fit") if k in row)
        lines.append(
            f"| {row['cell']} | {row['library']} | {row['import']:.2f} | {row['cold']:.2f} | {row['warm']:.2f} "
            f"| {row['import'] + row['warm']:.2f} | {ratio} | {whole_ratio} | {parts} |"
        )
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    cells = list(dict.fromkeys(r["cell"] for r in rows))
    libraries = list(dict.fromkeys(r["library"] for r in rows))
    by_key = {(r["cell"], r["library"]): r for r in rows}
    fig, ax = plt.subplots(figsize=(8, 3.8))
    width = 0.8 / len(libraries)
    for k, library in enumerate(libraries):
        x = np.arange(len(cells)) + (k - (len(libraries) - 1) / 2) * width
        imports = [by_key[(c, library)]["import"] if (c, library) in by_key else 0 for c in cells]
        cell_times = [by_key[(c, library)]["warm"] if (c, library) in by_key else 0 for c in cells]
        ax.bar(x, imports, width, color=f"C{k}", alpha=0.45)
        ax.bar(x, cell_times, width, bottom=imports, color=f"C{k}", label=library)
    ax.set_yscale("log")
    ax.set_xticks(np.arange(len(cells)), cells)
    ax.set_ylabel("seconds (import pale, cell solid)")
    ax.set_title("The quickstart's cells in a fresh process, warm caches")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peers", help="a Python interpreter with PyMC installed")
    parser.add_argument("--only", default=",".join(CELLS), help="comma-separated cells")
    parser.add_argument("--warm", type=int, default=3, help="warm runs per cell (median reported)")
    parser.add_argument("--slow-peer-cells", default="svgd,iris_tracker",
                        help="cells whose PyMC warm run is made once (they take a minute)")
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--json")
    parser.add_argument("--markdown")
    parser.add_argument("--plot")
    parser.add_argument("--from-json", help="report from an earlier run's JSON instead of measuring")
    args = parser.parse_args(argv)
    args.only = [c for c in args.only.split(",") if c]
    unknown = set(args.only) - set(CELLS)
    if unknown:
        parser.error(f"unknown cells {sorted(unknown)}; known: {sorted(CELLS)}")
    args.slow_peer_cells = set(args.slow_peer_cells.split(","))
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.from_json:
        records = json.loads(Path(args.from_json).read_text())["records"]
    else:
        records = measure(args)
    rows = summary(records)
    header = (
        f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, "
        f"{_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')}, Python {platform.python_version()}"
    )
    table = markdown(rows)
    print(header)
    print(table)
    if args.json and not args.from_json:
        Path(args.json).write_text(json.dumps({"machine": header, "records": records, "rows": rows}, indent=1))
    if args.markdown:
        Path(args.markdown).write_text(header + "\n\n" + table + "\n")
    if args.plot:
        plot(rows, Path(args.plot))
    return 0


if __name__ == "__main__":
    sys.exit(main())
