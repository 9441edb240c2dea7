"""Throughput of data-parallel fits on 1, 2 and 4 simulated CPU devices, and the sharded path's overhead.

Run with ``python -m benchmarks.parallel [--rounds 3] [--rows 200000] [--features 20]``.

The workload is a logistic regression (``pm.Bernoulli(logit_p=X @ beta)``,
mean-field ADVI, Adam) on ``rows x features`` data, full batch and with
``pm.Minibatch(X, y, batch_size=10_000)``. Each configuration runs in its own
process: JAX fixes its device count at start-up
(``XLA_FLAGS=--xla_force_host_platform_device_count=k``). The rows are split
over the ``k`` devices; the rates are iterations per second of warm fits
(the progress bar off), from the time of ``fit(2n)`` less that of
``fit(n)``, so a fit's fixed costs (placing the data) are left out; medians
over rounds.

Simulated CPU devices share the machine's cores: on a 2-core machine two
devices at most run at once, and every step ends with an all-reduce between
threads, so these rates say what the sharded program costs, not what
separate GPUs or hosts would gain.

The overhead rows compare, in a 1-device process, the plain program
(``devices=1``) with the sharded one on a mesh of that one device
(``devices=[jax.devices()[0]]``), and the plain program with the data
compiled in as a constant (no lifting) where it is small enough to try.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def child(rows: int, features: int, batch_size: int, devices, steps: int, rounds: int, lift: bool) -> dict:
    """Iterations per second of warm fits, in this process."""
    import jax
    import numpy as np

    import varbayes as pm
    from varbayes.compile import model as compile_model_module

    if not lift:
        compile_model_module.LIFT_MIN_ELEMENTS = 1 << 62
    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, features))
    y = (rng.random(rows) < 1.0 / (1.0 + np.exp(-X @ rng.normal(size=features) * 0.3))).astype("int64")
    if batch_size:
        Xb, yb = pm.Minibatch(X, y, batch_size=batch_size)
    else:
        Xb, yb = X, y
    with pm.Model():
        beta = pm.Normal("beta", 0.0, 1.0, shape=features)
        pm.Bernoulli("y", logit_p=pm.math.dot(Xb, beta), observed=yb, total_size=rows if batch_size else None)
        inference = pm.ADVI(random_seed=1)
    if devices == "mesh1":
        devices = [jax.devices()[0]]
    optimizer = pm.adam(learning_rate=0.01)
    inference.fit(steps // 10, devices=devices, obj_optimizer=optimizer, progressbar=False)  # compile
    def seconds(n):
        tic = time.perf_counter()
        inference.fit(n, devices=devices, obj_optimizer=optimizer, progressbar=False)
        return time.perf_counter() - tic

    # a fit of 2n less a fit of n: the iterations' time without the fit's fixed costs
    # (placing the data, the first and last chunk's bookkeeping)
    rates, fixed = [], []
    for _ in range(rounds):
        short, long = seconds(steps), seconds(2 * steps)
        per_step = (long - short) / steps
        rates.append(1.0 / per_step)
        fixed.append(short - steps * per_step)
    return {"rate": statistics.median(rates), "rates": rates, "fixed_seconds": statistics.median(fixed)}


def _run_child(devices_flag: int, **kwargs) -> dict:
    env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS=f"--xla_force_host_platform_device_count={devices_flag}")
    command = [sys.executable, "-m", "benchmarks.parallel", "--child", json.dumps(kwargs)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        import logging

        logging.getLogger("varbayes").setLevel(logging.WARNING)
        print(json.dumps(child(**json.loads(args.child))))
        return
    base = dict(rows=args.rows, features=args.features, rounds=args.rounds, lift=True)
    print(f"logistic regression, {args.rows:,} x {args.features}, ADVI (Adam); it/s, median of {args.rounds}")
    print(f"{'configuration':<46} {'1 device':>10} {'2 devices':>10} {'4 devices':>10}")
    for label, batch_size, steps in (("full batch", 0, 200), (f"Minibatch(batch_size={args.batch_size:,})", args.batch_size, 2000)):
        rates = [_run_child(k, devices=k, batch_size=batch_size, steps=steps, **base)["rate"] for k in (1, 2, 4)]
        print(f"{label:<46} " + " ".join(f"{r:>10,.0f}" for r in rates))
    print()
    print("one device: plain program vs the sharded one on a 1-device mesh (it/s)")
    for label, batch_size, steps in (("full batch", 0, 200), (f"Minibatch(batch_size={args.batch_size:,})", args.batch_size, 2000)):
        plain, mesh = [], []
        for _ in range(2):  # alternate, so the machine's noise falls on both
            plain.append(_run_child(1, devices=1, batch_size=batch_size, steps=steps, **base)["rate"])
            mesh.append(_run_child(1, devices="mesh1", batch_size=batch_size, steps=steps, **base)["rate"])
        p, m = statistics.median(plain), statistics.median(mesh)
        print(f"{label:<46} plain {p:>9,.0f}   sharded {m:>9,.0f}   per-iteration overhead {100 * (p / m - 1):+.1f} %")
    rows = min(args.rows, 20_000)
    print()
    print(f"one device, {rows:,} x {args.features} full batch: data as an input (lifted) vs compiled in (it/s)")
    small = dict(base, rows=rows)
    lifted, baked = [], []
    for _ in range(2):
        lifted.append(_run_child(1, devices=1, batch_size=0, steps=2000, **small)["rate"])
        baked.append(_run_child(1, devices=1, batch_size=0, steps=2000, **dict(small, lift=False))["rate"])
    l, b = statistics.median(lifted), statistics.median(baked)
    print(f"{'lifted':<10} {l:>9,.0f}   compiled in {b:>9,.0f}   difference {100 * (b / l - 1):+.1f} %")


if __name__ == "__main__":
    main()
