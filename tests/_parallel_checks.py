"""Data-parallel fits and NUTS chains on 4 simulated CPU devices; run by tests/test_parallel.py in a fresh process.

The device count is fixed when JAX starts, so this runs as a script with
``XLA_FLAGS=--xla_force_host_platform_device_count=4`` and prints its
measurements as one JSON object; the tests judge them.
"""

import json
import logging
import os
import sys
import tempfile

import jax
import numpy as np

import varbayes as pm
from varbayes.compile import compile_model
from varbayes.parallel import placement_for

ROWS, FEATURES = 4000, 4
rng = np.random.default_rng(0)
X = rng.normal(size=(ROWS, FEATURES))
y = (rng.random(ROWS) < 1.0 / (1.0 + np.exp(-X @ np.linspace(-1.0, 1.0, FEATURES)))).astype("int64")


def full_batch(X, y):
    model = pm.Model()
    with model:
        beta = pm.Normal("beta", 0.0, 2.0, shape=X.shape[1])
        pm.Bernoulli("y", logit_p=pm.math.dot(X, beta), observed=y)
    return model


def minibatch(X, y, batch_size):
    Xb, yb = pm.Minibatch(X, y, batch_size=batch_size)
    model = pm.Model()
    with model:
        beta = pm.Normal("beta", 0.0, 2.0, shape=X.shape[1])
        pm.Bernoulli("y", logit_p=pm.math.dot(Xb, beta), observed=yb, total_size=X.shape[0])
    return model


def fit(model, devices, n=1500, **kwargs):
    with model:
        approx = pm.fit(n, devices=devices, random_seed=3, progressbar=False,
                        obj_optimizer=pm.adam(learning_rate=0.02), **kwargs)
    mu = np.asarray(approx.jax_params["mu"])
    sd = np.log1p(np.exp(np.asarray(approx.jax_params["rho"])))
    raw = b"".join(np.asarray(a).tobytes() for a in (mu, approx.jax_params["rho"], approx.hist))
    return {"mean": mu.tolist(), "sd": sd.tolist(), "hist_tail": approx.hist[-5:].tolist(), "bytes": raw.hex()}


def error_of(call) -> str:
    try:
        call()
    except (ValueError, TypeError) as error:
        return f"{type(error).__name__}: {error}"
    return "no error"


def shards_of_data(model, devices):
    """The shapes of each device's shard of every array the log-density reads."""
    inference = pm.ADVI(model=model, random_seed=0)
    inference.fit(1, devices=devices, progressbar=False)
    return [[list(s.data.shape) for s in array.addressable_shards] for array in inference._data()]


def minibatch_rows_per_device():
    """Each device's rows over one epoch of a Minibatch of the row numbers, as places in the data that is split.

    The batches are read from a copy of the rows shuffled once (the data that is split).
    """
    from varbayes.data.minibatch import ShuffledRows

    rows = np.arange(400.0)
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 1.0)
        pm.Normal("obs", mu, 1.0, observed=pm.Minibatch(rows, batch_size=40), total_size=400)
    logdensity = compile_model(model).logdensity
    placement = placement_for(model, logdensity.data_vars, 4)
    draw = jax.jit(placement.batch_fn(logdensity.batch_fn))
    data = placement.put_data([v.get_value() for v in logdensity.data_vars])
    seen = {d.id: [] for d in placement.mesh.devices.flat}
    for t in range(10):  # one epoch: 10 batches of 40 rows
        batch = draw(jax.random.key(5), data, t)[len(data)]
        for shard in batch.addressable_shards:
            seen[shard.device.id] += np.asarray(shard.data).astype(int).tolist()
    (copy,) = [v for v in logdensity.data_vars if isinstance(v, ShuffledRows)]
    place = np.argsort(copy.order(400))
    seen = {device: place[rows].tolist() for device, rows in seen.items()}
    order = [d.id for d in placement.mesh.devices.flat]
    return [seen[i] for i in order]


def memmap_minibatch(folder, devices):
    """A Minibatch streaming windows of a memmap: posterior mean and sd of a normal mean."""
    path = os.path.join(folder, "rows.npy")
    if not os.path.exists(path):
        rows = np.lib.format.open_memmap(path, mode="w+", dtype="float64", shape=(40_000,))
        rows[:] = np.random.default_rng(2).normal(3.0, 1.0, size=rows.shape)
        rows.flush()
    source = np.load(path, mmap_mode="r")
    with pm.Model():
        mu = pm.Normal("mu", 0.0, 10.0)
        batch = pm.Minibatch(source, batch_size=400, in_memory_size=8000)
        pm.Normal("y", mu, 1.0, observed=batch, total_size=source.shape[0])
        approx = pm.fit(3000, devices=devices, random_seed=1, progressbar=False,
                        obj_optimizer=pm.adam(learning_rate=0.01))
    return {"mean": np.asarray(approx.mean.eval()).tolist(), "sd": np.asarray(approx.std.eval()).tolist(),
            "exact_mean": float(np.mean(source))}


def nuts(devices):
    """Posterior mean, sd and the bytes of 4 chains' draws of a normal model's mean."""
    values = np.random.default_rng(1).normal(1.0, 2.0, size=200)
    with pm.Model():
        mu = pm.Normal("mu", 0.0, 10.0)
        sigma = pm.HalfNormal("sigma", 5.0)
        pm.Normal("y", mu, sigma, observed=values)
        trace = pm.sample(400, tune=300, chains=4, devices=devices, random_seed=2, progressbar=False,
                          compute_convergence_checks=False)
    draws = trace.posterior["mu"].values
    return {"mean": float(draws.mean()), "sd": float(draws.std()), "bytes": draws.tobytes().hex()}


def chains_per_device():
    """How many chains each device holds once spread (a toy run of 8 chains on 4 devices)."""
    from varbayes.parallel import spread_chains

    keys = jax.random.split(jax.random.key(0), 8)
    run = lambda state, keys, schedule, start, n_steps, data: (state + data, state)
    run, state, keys, data = spread_chains(run, jax.numpy.zeros(8), keys, 1.0, 4)
    state, _ = run(state, keys, None, 0, 1, data)
    return [list(s.data.shape) for s in state.addressable_shards]


def main() -> None:
    logging.getLogger("varbayes").setLevel(logging.WARNING)
    out = {"devices": len(jax.devices())}
    out["full_1"] = fit(full_batch(X, y), 1)
    out["full_4"] = fit(full_batch(X, y), 4)
    out["full_4_again"] = fit(full_batch(X, y), 4)
    out["shards_full"] = shards_of_data(full_batch(X, y), 4)
    out["mb_1"] = fit(minibatch(X, y, 200), 1, n=4000)
    out["mb_4"] = fit(minibatch(X, y, 200), 4, n=4000)
    out["mb_4_again"] = fit(minibatch(X, y, 200), 4, n=4000)
    out["shards_mb"] = shards_of_data(minibatch(X, y, 200), 4)
    out["mb_rows"] = minibatch_rows_per_device()
    pm.config.set_devices(4)  # the default of calls without devices=
    out["shards_default"] = shards_of_data(full_batch(X, y), None)
    pm.config.set_devices(None)
    out["shards_after_reset"] = shards_of_data(full_batch(X, y), None)
    # rows that do not divide among the devices: the arrays are copied, the fit is the same
    out["uneven_1"] = fit(full_batch(X[:3998], y[:3998]), 1)
    out["uneven_4"] = fit(full_batch(X[:3998], y[:3998]), 4)
    out["shards_uneven"] = shards_of_data(full_batch(X[:3998], y[:3998]), 4)
    out["mb_uneven_4"] = fit(minibatch(X[:3998], y[:3998], 200), 4, n=4000)
    with full_batch(X, y):
        report = pm.fit(None, devices=4, random_seed=3, progressbar=False).convergence
        out["converged_4"] = report.reason
        out["draws_4"] = report.draws  # computed from the placed fit's log-density and minibatch drawing
        out["draws_1"] = pm.fit(None, random_seed=3, progressbar=False, max_n=500).convergence.draws
    with minibatch(X, y, 200):
        out["mb_draws_4"] = pm.fit(None, devices=4, random_seed=3, progressbar=False, max_n=500).convergence.draws
    with minibatch(X, y, 200):
        # a flow that stops by itself, on minibatches each device draws from its own rows
        flow = pm.NFVI(flow="scale-loc", random_seed=3)
        approx = flow.fit(None, devices=4, progressbar=False, max_n=20_000)
        out["flow_4"] = {"reason": approx.convergence.reason, "placed": flow._placement is not None,
                         "mean": np.asarray(approx.sample(2000).posterior["beta"]).reshape(-1, FEATURES).mean(0).tolist()}
    out["error_too_many"] = error_of(lambda: fit(full_batch(X, y), 8, n=1))
    out["error_small_batch"] = error_of(lambda: fit(minibatch(X, y, 2), 4, n=1))
    out["error_uneven_batch"] = error_of(lambda: fit(minibatch(X, y, 202), 4, n=1))
    with tempfile.TemporaryDirectory() as folder:
        out["memmap_1"] = memmap_minibatch(folder, 1)
        out["memmap_4"] = memmap_minibatch(folder, 4)
    out["nuts_1"] = nuts(1)
    out["nuts_4"] = nuts(4)
    out["nuts_4_again"] = nuts(4)
    out["chains_per_device"] = chains_per_device()
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
