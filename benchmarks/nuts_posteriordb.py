"""NUTS on posteriordb's posteriors: acceptance after tuning, draws per second, ESS per second, beside peers.

Usage (from the repository root)::

    python -m benchmarks.nuts_posteriordb --peers /tmp/peers/bin/python --markdown out.md --json out.json
    python -m benchmarks.nuts_posteriordb --only pdb_kidiq --targets 0.8,0.9

Each (library, model, target_accept) runs in a fresh process: 4 chains of
1000 tuning and 1000 kept draws, twice with different seeds. The first call
is the whole call a user waits for (compilation included; PyMC's on-disk
cache is warm from earlier runs); the second, with the program compiled,
gives the sampling rate: draws of all chains, tuning included, per second.
Reported per run: the mean acceptance statistic of the kept draws (after
tuning) and its distance to ``target_accept``, the mean step size and
leapfrog steps per draw, and the smallest bulk ESS over the model's
parameters (every scalar), per second of the warm call. The models are
those of :mod:`benchmarks.accuracy_models` (``pdb_*``), written for PyMC and
NumPyro in ``benchmarks/peers/*_time_to_answer.py``. PyMC runs its chains on
2 cores (``cores=2``), NumPyro and varbayes vectorise them in one program.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MODELS = ["pdb_eight_schools_noncentered", "pdb_kidiq", "pdb_mesquite", "pdb_arK", "pdb_gp_pois_regr"]
CHAINS, TUNE, DRAWS = 4, 1000, 1000


# ------------------------------------------------------------------ workers
def _varbayes(model_name: str, target: float, seed: int):
    import varbayes as pm
    from benchmarks import accuracy_models

    model = getattr(accuracy_models, model_name)()
    start = time.perf_counter()
    trace = pm.sample(DRAWS, tune=TUNE, chains=CHAINS, target_accept=target, random_seed=seed, progressbar=False,
                      model=model)
    seconds = time.perf_counter() - start
    stats = trace.sample_stats
    return seconds, {
        "accept": float(stats["acceptance_rate"].mean()),
        "step_size": float(stats["step_size"].mean()),
        "n_steps": float(stats["n_steps"].mean()),
        "divergences": int(stats["diverging"].sum()),
    }, _scalars({name: np.asarray(trace.posterior[name]) for name in model.free_rv_info})


def _pymc(model_name: str, target: float, seed: int):
    sys.path.insert(0, str(ROOT / "benchmarks" / "peers"))
    import pymc as pm
    import pymc_time_to_answer as peers

    model = getattr(peers, model_name)()
    start = time.perf_counter()
    with model:
        trace = pm.sample(DRAWS, tune=TUNE, chains=CHAINS, cores=2, target_accept=target, random_seed=seed,
                          progressbar=False, compute_convergence_checks=False)
    seconds = time.perf_counter() - start
    stats = trace.sample_stats
    free = [rv.name for rv in model.free_RVs]
    return seconds, {
        "accept": float(stats["acceptance_rate"].mean()),
        "step_size": float(stats["step_size"].mean()),
        "n_steps": float(stats["n_steps"].mean()),
        "divergences": int(stats["diverging"].sum()),
    }, _scalars({name: np.asarray(trace.posterior[name]) for name in free})


def _numpyro(model_name: str, target: float, seed: int):
    sys.path.insert(0, str(ROOT / "benchmarks" / "peers"))
    import jax
    import numpyro
    import numpyro_time_to_answer as peers
    from numpyro.infer import MCMC, NUTS

    numpyro.enable_x64()
    model = getattr(peers, model_name)()
    mcmc = MCMC(NUTS(model, target_accept_prob=target), num_warmup=TUNE, num_samples=DRAWS, num_chains=CHAINS,
                chain_method="vectorized", progress_bar=False)
    start = time.perf_counter()
    mcmc.run(jax.random.key(seed), extra_fields=("accept_prob", "num_steps", "diverging", "adapt_state.step_size"))
    samples = mcmc.get_samples(group_by_chain=True)
    jax.block_until_ready(samples)
    seconds = time.perf_counter() - start
    extra = mcmc.get_extra_fields()
    # the model's free variables: the latent sites of the sampler's state (not deterministic ones)
    sites = list(mcmc.last_state.z)
    return seconds, {
        "accept": float(np.mean(extra["accept_prob"])),
        "step_size": float(np.mean(extra["adapt_state.step_size"])),
        "n_steps": float(np.mean(extra["num_steps"])),
        "divergences": int(np.sum(extra["diverging"])),
    }, _scalars({name: np.asarray(samples[name]) for name in sites if name in samples})


def _scalars(draws: dict) -> dict:
    """``(chain, draw)`` arrays of every scalar of every variable."""
    out = {}
    for name, value in draws.items():
        flat = value.reshape(value.shape[0], value.shape[1], -1)
        for j in range(flat.shape[-1]):
            out[f"{name}[{j}]" if flat.shape[-1] > 1 else name] = flat[..., j].tolist()
    return out


WORKERS = {"varbayes": _varbayes, "PyMC": _pymc, "NumPyro": _numpyro}


def worker(library: str, model: str, target: float) -> None:
    whole, first_stats, _ = WORKERS[library](model, target, seed=1)
    warm, stats, draws = WORKERS[library](model, target, seed=2)
    record = {"library": library, "model": model, "target_accept": target, "whole_s": whole, "warm_s": warm,
              "first": first_stats, **stats, "draws": draws}
    print("RESULT " + json.dumps(record))


# ------------------------------------------------------------------ parent
def run(python: str, library: str, model: str, target: float, timeout: float) -> dict:
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    command = [python, "-m", "benchmarks.nuts_posteriordb", "--worker", library, model, str(target)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{library} {model} failed:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT ") :])


def min_ess(draws: dict) -> float:
    from arviz_stats.base import array_stats

    return float(min(array_stats.ess(np.asarray(v), method="bulk", chain_axis=0, draw_axis=1)
                     for v in draws.values()))


def summarise(record: dict) -> dict:
    total = CHAINS * (TUNE + DRAWS)
    ess = min_ess(record.pop("draws"))
    return {
        **record,
        "draws_per_s": total / record["warm_s"],
        "min_ess": ess,
        "ess_per_s": ess / record["warm_s"],
        "accept_gap": record["accept"] - record["target_accept"],
    }


def markdown(rows: list[dict]) -> str:
    lines = [
        "| model | target | library | accept (kept draws) | gap | step size | leapfrog/draw | divergences "
        "| whole call (s) | draws/s (warm) | min bulk ESS / s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['target_accept']} | {r['library']} | {r['accept']:.3f} | {r['accept_gap']:+.3f} "
            f"| {r['step_size']:.3g} | {r['n_steps']:.1f} | {r['divergences']} | {r['whole_s']:.2f} "
            f"| {r['draws_per_s']:,.0f} | {r['ess_per_s']:,.0f} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", nargs=3, metavar=("LIBRARY", "MODEL", "TARGET"))
    parser.add_argument("--peers", help="a Python interpreter with PyMC and NumPyro installed")
    parser.add_argument("--only", default=",".join(MODELS))
    parser.add_argument("--targets", default="0.8,0.9")
    parser.add_argument("--peer-targets", default="0.9", help="targets the peers run (their runs are slow)")
    parser.add_argument("--timeout", type=float, default=1200)
    parser.add_argument("--json")
    parser.add_argument("--markdown")
    args = parser.parse_args(argv)
    if args.worker:
        library, model, target = args.worker
        worker(library, model, float(target))
        return 0
    rows = []
    for model in args.only.split(","):
        for target in [float(t) for t in args.targets.split(",")]:
            libraries = {"varbayes": sys.executable}
            if args.peers and str(target) in args.peer_targets.split(","):
                libraries.update({"PyMC": args.peers, "NumPyro": args.peers})
            for library, python in libraries.items():
                row = summarise(run(python, library, model, target, args.timeout))
                rows.append(row)
                print(json.dumps({k: v for k, v in row.items() if k != "first"}), flush=True)
    header = f"{os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}"
    table = markdown(rows)
    print(header)
    print(table)
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": header, "rows": rows}, indent=1))
    if args.markdown:
        Path(args.markdown).write_text(header + "\n\n" + table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
