"""What checkpoints cost: the seed's Minibatch fit with and without ``checkpoint=``.

Run with ``python -m benchmarks.checkpoint_cost``. Each configuration is
timed warm (its program compiled by an earlier call), alternating between
configurations so that the machine's noise falls on all of them alike;
medians are reported, with the cost of one write.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import varbayes as pm
from benchmarks import harness as h
from benchmarks.workloads import minibatch_model

CONFIGS = {
    "no checkpoint": {},
    "default (every 60 s, and at the end)": {"checkpoint_every": None},
    "every 1 s": {"checkpoint_every": 1.0},
    "every chunk (~0.25 s)": {"checkpoint_every": 0.0},
}


def timed_fit(n: int, folder: Path, settings: dict) -> float:
    model = minibatch_model()
    kwargs = {}
    if settings:
        kwargs = {"checkpoint": folder / "fit.npz"}
        if settings["checkpoint_every"] is not None:
            kwargs["checkpoint_every"] = settings["checkpoint_every"]
    with model:
        start = time.perf_counter()
        pm.fit(n, random_seed=h.SEED, progressbar=False, **kwargs)
        return time.perf_counter() - start


def main(repeats: int = 5) -> None:
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        for n in (h.MINIBATCH_N, 10 * h.MINIBATCH_N):
            timed_fit(n, folder, {})  # compile
            times = {name: [] for name in CONFIGS}
            for _ in range(repeats):
                for name, settings in CONFIGS.items():
                    times[name].append(timed_fit(n, folder, settings))
            base = statistics.median(times["no checkpoint"])
            print(f"\nMinibatch ADVI, {n:,} iterations (median of {repeats}, warm)")
            for name, values in times.items():
                median = statistics.median(values)
                print(f"  {name:<40} {median:7.3f} s   {100 * (median / base - 1):+6.1f} %")
        with minibatch_model():
            approx = pm.fit(10 * h.MINIBATCH_N, random_seed=h.SEED, progressbar=False)
        writes = []
        for _ in range(20):
            start = time.perf_counter()
            approx.save(folder / "q.npz")
            writes.append(time.perf_counter() - start)
        print(f"\none write ({len(approx.hist):,} losses, parameters, optimizer state, data hash): "
              f"{1e3 * statistics.median(writes):.1f} ms")


if __name__ == "__main__":
    main()
