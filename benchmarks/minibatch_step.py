"""Where a Minibatch step's time goes: the seed's Minibatch cell beside hand-fused loops.

Run with ``python -m benchmarks.minibatch_step [--rounds 7] [--steps 2000]``.

The seed's cell is ADVI (mean-field, the default ``adagrad_window``) on a
Normal likelihood with ``total_size`` over 40000 x 100 data read through
``pm.Minibatch(data, batch_size=500)``. The ``varbayes`` rows time warm
``fit(10000)`` calls of that model (per iteration, progress bar off and on).
The ``floor`` rows run the same arithmetic written by hand as one compiled
loop (draw from q, the batch's log-density and its gradient, Adagrad over a
window of 10), and differ only in how a step gets its 500 rows:

* ``uniform rows``: 500 uniform random rows (with replacement), gathered
  where the log-density reads them;
* ``epoch rows``: the rows of the epoch's pseudo-random permutation at the
  step's positions, gathered once into a buffer (what varbayes reads from a
  source it cannot copy);
* ``epoch runs of a copy shuffled once``: the same for blocks of 125
  consecutive rows of a copy of the data shuffled before the loop (what
  varbayes reads: :func:`~varbayes.data.epochs.block_rows`);
* ``slices of a copy shuffled once``: contiguous slices of a shuffled copy
  made before the loop; no reshuffle, so a lower bound rather than a way
  to draw batches;
* ``slices of a copy reshuffled each epoch``: the copy is rebuilt in the loop
  at each epoch's first step (a sorted permutation, then a gather of all
  40000 rows).

Each floor is compiled with XLA's defaults, without YNNPACK's fused
reductions (``xla_cpu_experimental_ynn_fusion_type=""``), and with the
options varbayes compiles a minibatch fit with
(:data:`~varbayes.variational.core.driver.MINIBATCH_COMPILER_OPTIONS`: no
YNNPACK reductions and no tree-reduction rewrite). Configurations alternate round by round so
that the machine's noise falls on all of them alike; medians over the rounds
are reported.
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

import varbayes as pm
from benchmarks import harness as h
from benchmarks.data import minibatch_data
from benchmarks.workloads import minibatch_model
from varbayes.data.epochs import block_rows, stream_rows
from varbayes.variational.core.driver import MINIBATCH_COMPILER_OPTIONS

ROWS, COLS, BATCH = h.MINIBATCH_ROWS, h.MINIBATCH_COLS, h.MINIBATCH_BATCH
NO_YNN = {"xla_cpu_experimental_ynn_fusion_type": ""}
OPTIONS = {
    "XLA defaults": None,
    "no YNNPACK reductions": NO_YNN,
    "varbayes' options": MINIBATCH_COMPILER_OPTIONS,
}


def negative_elbo(params, eps, x):
    """One-draw ``-ELBO`` of the seed's model (Flat mu, HalfNormal sd on the log scale) on a batch."""
    mu_q, rho_q = params
    scale_q = jax.nn.softplus(rho_q)
    # as varbayes does: the draw is computed once, not inside the per-datum loops
    theta = jax.lax.optimization_barrier(mu_q + scale_q * eps)
    mu, log_sd = theta[:COLS], theta[COLS:]
    sd = jnp.exp(log_sd)
    z = (x - mu) / sd
    likelihood = jnp.sum(-0.5 * z * z - log_sd - 0.5 * np.log(2 * np.pi)) * (ROWS / BATCH)
    prior = jnp.sum(0.5 * np.log(2 / np.pi) - 0.5 * sd * sd + log_sd)
    return -(likelihood + prior + jnp.sum(jnp.log(scale_q)))


def floor_loop(batch_of, init_of, steps: int, compiler_options=None):
    """``steps`` hand-fused ADVI steps; ``batch_of(carry, key, data, t) -> (carry, x)`` gives each batch."""

    def run(params, key, data):
        def body(t, carry):
            params, window, extra, _ = carry
            extra, x = batch_of(extra, key, data, t)
            eps = jax.random.normal(jax.random.fold_in(key, t), (2 * COLS,))
            loss, grads = jax.value_and_grad(negative_elbo)(params, eps, x)
            window = tuple(w.at[t % 10].set(g * g) for w, g in zip(window, grads))
            params = tuple(
                p - 0.001 * g / jnp.sqrt(jnp.sum(w, axis=0) + 0.1) for p, g, w in zip(params, grads, window)
            )
            return params, window, extra, loss

        window = tuple(jnp.zeros((10, 2 * COLS)) for _ in params)
        return jax.lax.fori_loop(0, steps, body, (params, window, init_of(key, data), 0.0))[3]

    return jax.jit(run, compiler_options=compiler_options)


def uniform_rows():
    def batch_of(extra, key, data, t):
        rows = jax.random.randint(jax.random.fold_in(jax.random.fold_in(key, 1), t), (BATCH,), 0, ROWS)
        return extra, data[rows]

    return batch_of, lambda key, data: ()


def epoch_rows():
    def batch_of(extra, key, data, t):
        rows = stream_rows(key, t, ROWS, BATCH)
        return extra, jax.lax.optimization_barrier(jnp.take(data, rows, axis=0))

    return batch_of, lambda key, data: ()


def epoch_runs():
    block = block_rows(ROWS, BATCH)

    def batch_of(copy, key, data, t):
        rows = stream_rows(key, t, ROWS, BATCH, block)
        return copy, jax.lax.optimization_barrier(jnp.take(copy, rows, axis=0))

    return batch_of, lambda key, data: data[jax.random.permutation(key, ROWS)]


def slices_of_a_copy_shuffled_once():
    def batch_of(copy, key, data, t):
        return copy, jax.lax.dynamic_slice_in_dim(copy, (t % (ROWS // BATCH)) * BATCH, BATCH)

    return batch_of, lambda key, data: data[jax.random.permutation(key, ROWS)]


def slices_of_a_copy_reshuffled_each_epoch():
    per_epoch = ROWS // BATCH

    def shuffled(key, data, epoch):
        return data[jax.random.permutation(jax.random.fold_in(key, epoch), ROWS)]

    def batch_of(copy, key, data, t):
        epoch, place = t // per_epoch, t % per_epoch
        copy = jax.lax.cond(place == 0, lambda c: shuffled(key, data, epoch), lambda c: c, copy)
        return copy, jax.lax.dynamic_slice_in_dim(copy, place * BATCH, BATCH)

    return batch_of, lambda key, data: shuffled(key, data, 0)


FLOORS = {
    "uniform rows": uniform_rows,
    "epoch rows": epoch_rows,
    "epoch runs of a copy shuffled once": epoch_runs,
    "slices of a copy shuffled once": slices_of_a_copy_shuffled_once,
    "slices of a copy reshuffled each epoch": slices_of_a_copy_reshuffled_each_epoch,
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=2000, help="steps per timed call of a floor loop")
    args = parser.parse_args(argv)

    model = minibatch_model()
    with model:
        advi = pm.ADVI(random_seed=h.SEED)
    advi.fit(1000, progressbar=False)  # compiles the fit's loop

    def fit(bar):
        return lambda: advi.fit(h.MINIBATCH_N, progressbar=bar)

    data = jnp.asarray(minibatch_data())
    params = (jnp.zeros(2 * COLS), jnp.zeros(2 * COLS))
    key = jax.random.key(h.SEED)
    runs = {f"varbayes fit, bar {'on' if bar else 'off'}": (fit(bar), h.MINIBATCH_N) for bar in (False, True)}
    for name, make in FLOORS.items():
        for label, options in OPTIONS.items():
            loop = floor_loop(*make(), args.steps, options)
            call = lambda loop=loop: jax.block_until_ready(loop(params, key, data))
            call()  # compile
            runs[f"floor: {name} ({label})"] = (call, args.steps)

    times = {name: [] for name in runs}
    for _ in range(args.rounds):
        for name, (run, steps) in runs.items():
            start = time.perf_counter()
            run()
            times[name].append((time.perf_counter() - start) / steps)

    print(f"Minibatch step, {ROWS} x {COLS}, batch {BATCH}, median of {args.rounds} rounds")
    print("| configuration | us / step | it/s |\n|---|---|---|")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"| {name} | {med * 1e6:,.1f} | {1 / med:,.0f} |")


if __name__ == "__main__":
    main()
