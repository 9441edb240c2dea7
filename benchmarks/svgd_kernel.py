"""Where an SVGD step's time goes: the seed's SVGD cell, piece by piece.

Run with ``python -m benchmarks.svgd_kernel [--rounds 7] [--particles 1000]``.

The seed's cell is ``pm.fit(300, method="svgd", inf_kwargs=dict(n_particles=1000),
obj_optimizer=pm.sgd(learning_rate=0.01))`` on the 1-d NormalMixture. Every
row below runs 300 steps of that problem as one compiled ``lax.scan`` (as
``fit`` does), with the model's compiled log-density and plain SGD, so rows
differ only in how the Stein direction is computed:

* ``definition``: the plain formulas (the ``N x N`` kernel formed once, its
  row sum and two matrix products, ``jnp.median`` of the distances), which the
  library's kernel must match to rounding (``tests/test_stein_kernel.py``);
* ``library``: :func:`varbayes.variational.core.objectives.stein_direction`;
* ``floor``: the library's arithmetic written out by hand, with a bandwidth
  that costs O(N) (a multiple of the variance) instead of the median: what
  the step costs with nothing but the pairwise pass;
* ``exp only``: just ``N^2`` exponentials and a row sum, a lower bound for any
  method that evaluates every kernel entry;
* the other pieces in isolation: the median-heuristic bandwidth, the
  log-density and its gradient at all particles, the loop and the optimizer.

Configurations alternate round by round so that the machine's noise falls on
all of them alike; medians over the rounds are reported.
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import varbayes as pm
from benchmarks import harness as h
from varbayes.variational.core import objectives
from varbayes.variational.core.step import VIState

STEPS = h.SVGD_N


def definition_phi(logdensity_fn):
    """The Stein direction by its plain formulas (the reference of ``tests/test_stein_kernel.py``)."""

    def phi(x, data):
        logp, grad = jax.vmap(jax.value_and_grad(lambda xi: logdensity_fn(xi, data)))(x)
        n = x.shape[0]
        sq_norms = jnp.sum(x**2, axis=-1)
        sq = jnp.maximum(sq_norms[:, None] + sq_norms[None, :] - 2.0 * x @ x.T, 0.0)
        rng = np.random.default_rng(0)
        rows, cols = rng.integers(0, n, 2048), rng.integers(0, n, 2048)
        bandwidth = jnp.median(sq[rows, cols]) / jnp.log(n + 1.0)
        bandwidth = jnp.where(bandwidth > 0, bandwidth, 1.0)
        kernel = jnp.exp(-sq / bandwidth)
        repulse = -2.0 / bandwidth * (kernel @ x - x * jnp.sum(kernel, axis=1)[:, None])
        return (kernel @ grad + repulse) / n, jnp.mean(logp)

    return phi


def cheap_bandwidth(scale):
    """A bandwidth that follows the particles' spread at O(N) cost: ``scale * var(x)``."""
    return lambda x: scale * jnp.var(x)


def floor_phi(logdensity_fn, bandwidth_fn):
    """The library's one-variable pass written directly, with an O(N) bandwidth instead of the median."""

    def phi(x, data):
        logp, grad = jax.vmap(jax.value_and_grad(lambda xi: logdensity_fn(xi, data)))(x)
        bandwidth = bandwidth_fn(x)
        diff = x[:, None, 0] - x[None, :, 0]
        weight = grad[None, :, 0] + 2.0 / bandwidth * diff
        total = jnp.sum(jnp.exp(diff * diff * (-1.0 / bandwidth)) * weight, axis=1)
        return total[:, None] / x.shape[0], jnp.mean(logp)

    return phi


def exp_only(bandwidth_fn):
    def phi(x, data):
        bandwidth = bandwidth_fn(x)
        diff = x[:, None, 0] - x[None, :, 0]
        return 1e-9 * jnp.sum(jnp.exp(diff * diff * (-1.0 / bandwidth)), axis=1)[:, None], 0.0

    return phi


def bandwidth_only(x, data):
    return jnp.zeros_like(x) + 1e-9 * objectives._median_bandwidth(x), 0.0


def logdensity_only(logdensity_fn):
    def phi(x, data):
        logp, grad = jax.vmap(jax.value_and_grad(lambda xi: logdensity_fn(xi, data)))(x)
        return 1e-9 * grad, jnp.mean(logp)

    return phi


def loop_only(x, data):
    return jnp.zeros_like(x), 0.0


def scan_of(phi_fn, x0, data):
    """300 SGD steps along ``phi`` as one compiled scan; returns a zero-argument call."""
    opt = optax.sgd(h.SVGD_LR)

    def step(state, _):
        phi, mean_logp = phi_fn(state.params["histogram"], data)
        updates, opt_state = opt.update({"histogram": -phi}, state.opt_state, state.params)
        return VIState(optax.apply_updates(state.params, updates), opt_state), -mean_logp

    state = VIState({"histogram": x0}, opt.init({"histogram": x0}))
    run = jax.jit(lambda s: jax.lax.scan(step, s, None, length=STEPS))
    return lambda: run(state)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--particles", type=int, default=h.SVGD_PARTICLES)
    args = parser.parse_args(argv)

    with pm.Model():
        pm.NormalMixture("x", w=[0.2, 0.8], mu=[-0.3, 0.5], sigma=[0.1, 0.1])
        svgd = pm.SVGD(n_particles=args.particles, jitter=1, random_seed=h.SEED)
    approx = svgd.approx
    logdensity_fn, data = approx.logdensity_fn, approx.logdensity_data()
    x0 = jnp.asarray(approx.shared_params["histogram"].get_value())
    # scaled to equal the median heuristic at the start, so that the kernel values are alike
    bandwidth_fn = cheap_bandwidth(float(objectives._median_bandwidth(x0) / jnp.var(x0)))

    configs = {
        "definition": definition_phi(logdensity_fn),
        "library": objectives.stein_direction(logdensity_fn),
        "floor (library's pass, O(N) bandwidth)": floor_phi(logdensity_fn, bandwidth_fn),
        "exp only (N^2 exp + row sum)": exp_only(bandwidth_fn),
        "median-heuristic bandwidth": bandwidth_only,
        "log-density + gradient": logdensity_only(logdensity_fn),
        "loop + SGD": loop_only,
    }
    runs = {name: scan_of(phi, x0, data) for name, phi in configs.items()}
    finals = {
        name: np.asarray(jax.block_until_ready(run())[0].params["histogram"]) for name, run in runs.items()
    }
    ref = finals["definition"]
    drift = np.max(np.abs(finals["library"] - ref)) / np.max(np.abs(ref))

    times = {name: [] for name in runs}
    for _ in range(args.rounds):
        for name, run in runs.items():
            start = time.perf_counter()
            jax.block_until_ready(run())
            times[name].append((time.perf_counter() - start) / STEPS)

    print(f"SVGD step, {args.particles} particles, {STEPS} steps per call, median of {args.rounds} rounds")
    print(f"library vs definition after {STEPS} steps: max relative difference {drift:.1e}")
    print("| piece | us / step | it/s |\n|---|---|---|")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"| {name} | {med * 1e6:,.1f} | {1 / med:,.0f} |")


if __name__ == "__main__":
    main()
