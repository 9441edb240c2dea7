"""NUTS throughput on the seed's mixture model: 2 chains x 50,000 draws.

Prints the compile time (first call on a fresh model, minus its sampling) and
draws per second of the sampling loop (all chains, warmup included).
Run: ``python benchmarks/nuts.py [draws]``. ``python -m benchmarks`` uses
:func:`mixture_model` and :func:`timed` for its NUTS rows.
"""

import sys
import time

import numpy as np

import varbayes as pm
from varbayes.sampling import sample

DRAWS = 50_000
CHAINS, TUNE = 2, 1000


def mixture_model():
    with pm.Model() as model:
        pm.NormalMixture("x", w=np.array([0.2, 0.8]), mu=np.array([-0.3, 0.5]), sigma=np.array([0.1, 0.1]))
    return model


def timed(model, draws, progressbar=False, tune=TUNE):
    start = time.perf_counter()
    trace = sample(draws, tune=tune, chains=CHAINS, random_seed=1, progressbar=progressbar, model=model)
    return time.perf_counter() - start, trace


if __name__ == "__main__":
    DRAWS = int(sys.argv[1]) if len(sys.argv) > 1 else DRAWS
    model = mixture_model()
    first, _ = timed(model, 100)  # compiles
    warm, _ = timed(model, 100)  # same program, cached
    print(f"compile + first call: {first:.2f} s (cached call of the same size: {warm:.2f} s)")
    seconds, trace = timed(model, DRAWS)
    total = CHAINS * (DRAWS + TUNE)
    below = float((trace.posterior["x"] < 0).mean())
    print(f"{CHAINS} chains x {DRAWS} draws (+{TUNE} tune): {seconds:.2f} s")
    print(f"draws/s (all chains, incl. tune): {total / seconds:,.0f}")
    print(f"draws/s (kept draws only):         {CHAINS * DRAWS / seconds:,.0f}")
    print(f"fraction below 0: {below:.3f} (expected 0.2)")
