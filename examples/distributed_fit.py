"""A logistic regression fitted with its rows split between processes (``jax.distributed``).

On one machine, two processes with one CPU device each, talking through
JAX's CPU collectives (gloo)::

    python examples/distributed_fit.py --processes 2

On a cluster, one process per task; ``jax.distributed.initialize()`` reads
the SLURM (or Open MPI, Kubernetes) environment itself::

    srun --nodes=2 --ntasks-per-node=4 --gpus-per-task=1 python examples/distributed_fit.py --worker

Every process builds the same model from *its own rows* (here a slice of a
data set drawn from a fixed seed; in practice each process reads its own
file or a memmap). The fit assembles the global arrays from the processes'
shares, replicates the variational parameters, and each step's gradient is
summed across processes by XLA. Process 0 prints the posterior means.
``--processes 1`` fits all rows in one process, the reference answer.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys

import numpy as np


def full_data(rows: int, features: int, seed: int = 0):
    """The whole data set: ``rows`` draws of a logistic regression with ``features`` coefficients."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, features))
    beta = np.linspace(-1.0, 1.0, features)
    y = (rng.random(rows) < 1.0 / (1.0 + np.exp(-X @ beta))).astype("int64")
    return X, y


def local_rows(rows: int, features: int, process: int, processes: int):
    """This process's share of the rows (contiguous blocks of equal size)."""
    X, y = full_data(rows, features)
    block = rows // processes
    share = slice(process * block, (process + 1) * block)
    return X[share], y[share]


def fit(X, y, total_rows: int, n: int, batch_size: int | None, seed: int):
    """Fit the model on the rows given; return the posterior means and sds of the coefficients."""
    import varbayes as pm

    features = X.shape[1]
    if batch_size is not None:
        # the batch is the global one: each device draws batch_size / devices rows of its shard
        X, y = pm.Minibatch(X, y, batch_size=batch_size)
    with pm.Model():
        beta = pm.Normal("beta", 0.0, 2.0, shape=features)
        pm.Bernoulli("y", logit_p=pm.math.dot(X, beta), observed=y, total_size=total_rows)
        approx = pm.fit(n, obj_optimizer=pm.adam(learning_rate=0.02), random_seed=seed, progressbar=False)
    draws = approx.sample(4000, random_seed=seed).posterior["beta"].values.reshape(-1, features)
    return draws.mean(axis=0), draws.std(axis=0)


def worker(args) -> None:
    import jax

    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    if args.coordinator is not None:
        jax.distributed.initialize(args.coordinator, num_processes=args.num_processes, process_id=args.process_id)
    else:
        jax.distributed.initialize()  # reads SLURM, Open MPI or Kubernetes settings
    X, y = local_rows(args.rows, args.features, jax.process_index(), jax.process_count())
    mean, sd = fit(X, y, args.rows, args.n, args.batch_size, args.seed)
    if jax.process_index() == 0:
        report(mean, sd, jax.process_count(), len(jax.devices()), args.json)
    jax.distributed.shutdown()


def report(mean, sd, processes: int, devices: int, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"mean": mean.tolist(), "sd": sd.tolist(), "processes": processes, "devices": devices}))
        return
    print(f"{processes} process(es), {devices} device(s): posterior of beta")
    for j, (m, s) in enumerate(zip(mean, sd)):
        print(f"  beta[{j}]  mean {m:+.4f}  sd {s:.4f}")


def launch(args) -> int:
    """Start ``args.processes`` workers on this machine, one CPU device each; print process 0's report."""
    if args.processes == 1:
        X, y = full_data(args.rows, args.features)
        mean, sd = fit(X, y, args.rows, args.n, args.batch_size, args.seed)
        report(mean, sd, 1, 1, args.json)
        return 0
    with socket.socket() as s:  # a free port for the coordinator
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS="--xla_force_host_platform_device_count=1")
    command = [sys.executable, __file__, "--worker", "--coordinator", f"localhost:{port}"]
    command += ["--num-processes", str(args.processes), *forwarded(args)]
    workers = [
        subprocess.Popen([*command, "--process-id", str(i)], env=env, stdout=subprocess.PIPE, text=True)
        for i in range(args.processes)
    ]
    outputs = [w.communicate()[0] for w in workers]
    print(outputs[0], end="")
    return max(w.returncode for w in workers)


def forwarded(args) -> list[str]:
    out = ["--rows", str(args.rows), "--features", str(args.features), "--n", str(args.n), "--seed", str(args.seed)]
    if args.batch_size is not None:
        out += ["--batch-size", str(args.batch_size)]
    return out + (["--json"] if args.json else [])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--processes", type=int, default=2, help="processes to start on this machine")
    parser.add_argument("--worker", action="store_true", help="run as one process of a distributed fit")
    parser.add_argument("--coordinator", help="host:port of process 0 (omit on a cluster)")
    parser.add_argument("--num-processes", type=int)
    parser.add_argument("--process-id", type=int)
    parser.add_argument("--rows", type=int, default=20_000, help="rows of the whole data set")
    parser.add_argument("--features", type=int, default=5)
    parser.add_argument("--n", type=int, default=3000, help="iterations of the fit")
    parser.add_argument("--batch-size", type=int, help="fit on minibatches of this many rows (all devices together)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print the answer as JSON")
    args = parser.parse_args(argv)
    if args.worker:
        worker(args)
        return 0
    return launch(args)


if __name__ == "__main__":
    sys.exit(main())
