"""Throughput of data-parallel fits on 1, 2 and 4 simulated CPU devices, and the sharded path's overhead.

Run with ``python -m benchmarks.parallel [--rounds 3] [--rows 200000] [--features 20]``.

The workload is a logistic regression (``pm.Bernoulli(logit_p=X @ beta)``,
mean-field ADVI, Adam) on ``rows x features`` data, full batch and with
``pm.Minibatch(X, y, batch_size=10_000)``. JAX fixes its device count at start-up, so
the fits run in a child process with 4 simulated devices
(``XLA_FLAGS=--xla_force_host_platform_device_count=4``), and within it the
fits on 1, 2 and 4 of those devices alternate round by round, so that the
load of a shared machine falls on all of them alike. The rows are split over
the devices; the rates are iterations per second of warm fits (the progress
bar off): the fastest round of ``fit(n)`` less the fastest ``fit(1)``, so a
fit's fixed costs (placing the data) are left out.

Simulated CPU devices share the machine's cores: on a 2-core machine two
devices at most run at once, and every step ends with an all-reduce between
threads, so these rates say what the sharded program costs, not what
separate GPUs or hosts would gain.

The overhead rows compare, in a 1-device process and alternating, the plain
program (``devices=1``) with the sharded one on a mesh of that one device
(``devices=[jax.devices()[0]]``); and, in separate processes, the plain
program reading the data as an input (lifted) with the data compiled in as a
constant, on a smaller data set.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time


def _fits(rows: int, features: int, batch_size: int, lift: bool):
    """A fresh ADVI on the logistic regression, and its optimizer."""
    import numpy as np

    import varbayes as pm
    from varbayes.compile import model as compile_model_module

    threshold = compile_model_module.LIFT_MIN_ELEMENTS
    if not lift:
        compile_model_module.LIFT_MIN_ELEMENTS = 1 << 62  # every constant compiled in
    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, features))
    y = (rng.random(rows) < 1.0 / (1.0 + np.exp(-X @ rng.normal(size=features) * 0.3))).astype("int64")
    Xb, yb = pm.Minibatch(X, y, batch_size=batch_size) if batch_size else (X, y)
    with pm.Model():
        beta = pm.Normal("beta", 0.0, 1.0, shape=features)
        pm.Bernoulli("y", logit_p=pm.math.dot(Xb, beta), observed=yb, total_size=rows if batch_size else None)
        inference = pm.ADVI(random_seed=1)  # compiles the log-density
    compile_model_module.LIFT_MIN_ELEMENTS = threshold
    return inference, pm.adam(learning_rate=0.01)


def child(rows: int, features: int, batch_size: int, configs: list, steps: int, rounds: int) -> dict:
    """Iterations per second of each configuration, alternating, in this process.

    A configuration is a ``devices`` argument, ``"mesh1"`` (a mesh of the
    first device) or ``"compiled in"`` (one device, the data compiled into
    the program as constants).
    """
    import jax

    def devices_of(config):
        return [jax.devices()[0]] if config == "mesh1" else 1 if config == "compiled in" else config

    fits = {}
    for config in configs:
        inference, optimizer = _fits(rows, features, batch_size, lift=config != "compiled in")
        inference.fit(steps // 10, devices=devices_of(config), obj_optimizer=optimizer, progressbar=False)  # compile
        fits[config] = (inference, optimizer)

    def seconds(config, n):
        inference, optimizer = fits[config]
        tic = time.perf_counter()
        inference.fit(n, devices=devices_of(config), obj_optimizer=optimizer, progressbar=False)
        return time.perf_counter() - tic

    # the fastest of the rounds of fit(n), less the fastest fit(1): the iterations' time without the
    # fit's fixed costs (placing the data); minima, since a shared machine only ever adds time
    long = {str(config): [] for config in configs}
    short = {str(config): [] for config in configs}
    for _ in range(rounds):
        for config in configs:
            short[str(config)].append(seconds(config, 1))
            long[str(config)].append(seconds(config, steps))
    rates = {config: (steps - 1) / (min(long[config]) - min(short[config])) for config in long}
    return {"rates": rates}


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
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        import logging

        logging.getLogger("varbayes").setLevel(logging.WARNING)
        print(json.dumps(child(**json.loads(args.child))))
        return
    base = {"rows": args.rows, "features": args.features, "rounds": args.rounds}
    workloads = (("full batch", 0, 200), (f"Minibatch(batch_size={args.batch_size:,})", args.batch_size, 2000))
    print(f"logistic regression, {args.rows:,} x {args.features}, ADVI (Adam); it/s, fastest of {args.rounds} rounds")
    print(f"{'configuration':<40} {'1 device':>10} {'2 devices':>10} {'4 devices':>10}")
    for label, batch_size, steps in workloads:
        rates = _run_child(4, configs=[1, 2, 4], batch_size=batch_size, steps=steps, **base)["rates"]
        print(f"{label:<40} " + " ".join(f"{rates[str(k)]:>10,.0f}" for k in (1, 2, 4)))
    print()
    print("one device: the plain program vs the sharded one on a 1-device mesh, and vs the data compiled in")
    for label, batch_size, steps in workloads:
        configs = [1, "mesh1"] + ([] if batch_size else ["compiled in"])
        out = _run_child(1, configs=configs, batch_size=batch_size, steps=steps, **base)
        rates = out["rates"]
        plain, mesh = rates["1"], rates["mesh1"]
        line = (f"{label:<40} plain {plain:>7,.0f} it/s   sharded {mesh:>7,.0f} it/s "
                f"(per-iteration overhead {100 * (plain / mesh - 1):+.1f} %)")
        if "compiled in" in rates:
            line += f"\n{'':<40} data compiled in as constants {rates['compiled in']:>7,.0f} it/s"
        print(line)


if __name__ == "__main__":
    main()
