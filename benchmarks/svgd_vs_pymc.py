"""The seed's SVGD cell on varbayes and PyMC, alternating round by round.

Usage (from the repository root)::

    python -m benchmarks.svgd_vs_pymc --peers /tmp/peers/bin/python [--rounds 10] [--definition]

On a machine shared with other work a library's rate moves by 2x from one
minute to the next; running both in the same minutes, many times, and taking
medians gives a ratio that means something. Each library runs in its own
process (PyMC from ``--peers``), kept alive across rounds; in every round each
measures once, one after the other:

* varbayes: ``(3000 - 300) / (t_3000 - t_300)`` from two warm fits (compiled
  loop reused), as the main runner does for a fit that is one compiled chunk;
* PyMC: 30 iterations (the main runner's count), the rate after the first
  one (a callback records it), as in ``benchmarks/peers/pymc_workloads.py``;
* with ``--definition``, also varbayes with the Stein direction computed by
  its plain formulas (``benchmarks.svgd_kernel.definition_phi``): the code
  before the fused kernel, for a before / after ratio in the same run.

This file is also the worker (``--worker``): it imports neither library at
module level, so PyMC's interpreter can run it.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import harness as h  # standard library only

VARBAYES_SHORT, VARBAYES_LONG, PYMC_N = h.SVGD_N, 10 * h.SVGD_N, 30


def _varbayes_worker(definition: bool):
    import logging

    import varbayes as pm

    logging.getLogger("varbayes").setLevel(logging.WARNING)  # no closing message per fit

    if definition:
        from benchmarks.svgd_kernel import definition_phi
        from varbayes.variational.core import step

        step.stein_direction = lambda logdensity_fn, temperature=1.0: definition_phi(logdensity_fn)

    def fit(n):
        with pm.Model() as model:
            pm.NormalMixture("x", w=h.MIXTURE["w"], mu=h.MIXTURE["mu"], sigma=h.MIXTURE["sigma"])
        start = time.perf_counter()
        with model:
            pm.fit(
                n,
                method="svgd",
                inf_kwargs={"n_particles": h.SVGD_PARTICLES},
                obj_optimizer=pm.sgd(learning_rate=h.SVGD_LR),
                progressbar=False,
                random_seed=h.SEED,
            )
        return time.perf_counter() - start

    def measure():
        short, long = fit(VARBAYES_SHORT), fit(VARBAYES_LONG)
        return (VARBAYES_LONG - VARBAYES_SHORT) / (long - short)

    fit(1)
    fit(VARBAYES_SHORT)
    fit(VARBAYES_LONG)
    return measure


def _pymc_worker():
    import numpy as np
    import pymc as pm

    def measure():
        with pm.Model() as model:
            pm.NormalMixture(
                "x",
                w=np.array(h.MIXTURE["w"]),
                mu=np.array(h.MIXTURE["mu"]),
                sigma=np.array(h.MIXTURE["sigma"]),
            )
        clock = h.Clock()
        with model:
            start = time.perf_counter()
            pm.fit(
                PYMC_N,
                method="svgd",
                inf_kwargs={"n_particles": h.SVGD_PARTICLES},
                obj_optimizer=pm.sgd(learning_rate=h.SVGD_LR),
                progressbar=False,
                random_seed=h.SEED,
                callbacks=[clock],
            )
            total = time.perf_counter() - start
        return PYMC_N / (total - (clock.first - start))

    measure()
    return measure


def worker(kind: str):
    """Warm up, say ``ready``, then print one rate per line read on standard input."""
    measure = _pymc_worker() if kind == "pymc" else _varbayes_worker(kind == "definition")
    print("ready", flush=True)
    for _ in sys.stdin:
        print(measure(), flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peers", metavar="PYTHON", help="interpreter with PyMC installed")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--definition", action="store_true", help="also time the plain formulas")
    parser.add_argument("--worker", choices=["varbayes", "definition", "pymc"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.worker)
    if not args.peers:
        parser.error("--peers is required")

    script = str(Path(__file__).resolve())
    kinds = {"varbayes": sys.executable, "pymc": args.peers}
    if args.definition:
        kinds = {"definition": sys.executable, **kinds}
    procs = {
        kind: subprocess.Popen(
            [python, script, "--worker", kind],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for kind, python in kinds.items()
    }
    for kind, proc in procs.items():
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError(f"the {kind} worker did not start")
    rates = {kind: [] for kind in procs}
    for r in range(args.rounds):
        for kind, proc in procs.items():
            proc.stdin.write("go\n")
            proc.stdin.flush()
            rates[kind].append(float(proc.stdout.readline()))
        line = "  ".join(f"{k} {v[-1]:,.1f} it/s" for k, v in rates.items())
        print(f"round {r + 1}: {line}  ratio {rates['varbayes'][-1] / rates['pymc'][-1]:,.0f}x", flush=True)
    for proc in procs.values():
        proc.stdin.close()
        proc.wait()

    pymc = rates["pymc"]
    print(
        f"\nmedians over {args.rounds} rounds (it/s): "
        + ", ".join(f"{k} {statistics.median(v):,.1f}" for k, v in rates.items())
    )
    for kind in [k for k in rates if k != "pymc"]:
        ratios = [v / p for v, p in zip(rates[kind], pymc)]
        print(
            f"{kind} / PyMC: median of round ratios {statistics.median(ratios):,.0f}x (min {min(ratios):,.0f}x)"
        )


if __name__ == "__main__":
    main()
