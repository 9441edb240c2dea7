"""Data-parallel fits and NUTS chains on several devices (varbayes.parallel).

JAX fixes its device count when it starts, so the checks run in fresh
processes with 4 simulated CPU devices (``tests/_parallel_checks.py``) and
the tests here judge what they report.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).parent
ROOT = HERE.parent
FOUR_DEVICES = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")


def _run(args, env=FOUR_DEVICES, timeout=300) -> str:
    done = subprocess.run(
        [sys.executable, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return done.stdout


@pytest.fixture(scope="module")
def checks() -> dict:
    return json.loads(_run([str(HERE / "_parallel_checks.py")]))


def _close_in_sd(a: dict, b: dict, within: float) -> float:
    """The largest difference of two fits' posterior means, in posterior sds; checked against ``within``."""
    gap = np.max(np.abs(np.subtract(a["mean"], b["mean"])) / np.asarray(b["sd"]))
    assert gap < within, (a["mean"], b["mean"])
    return gap


def test_four_devices_are_seen(checks):
    assert checks["devices"] == 4


def test_full_batch_on_four_devices_equals_one_device(checks):
    one, four = checks["full_1"], checks["full_4"]
    # the same arithmetic, summed in another order: equal to rounding
    np.testing.assert_allclose(four["mean"], one["mean"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(four["sd"], one["sd"], rtol=1e-9)
    np.testing.assert_allclose(four["hist_tail"], one["hist_tail"], rtol=1e-9)


def test_each_device_holds_a_quarter_of_the_rows(checks):
    assert checks["shards_full"] == [[[1000, 4]] * 4, [[1000]] * 4]  # X (a lifted constant), y
    assert sorted(checks["shards_mb"]) == sorted([[[1000]] * 4, [[1000, 4]] * 4])  # the Minibatch sources


def test_config_sets_the_default_devices(checks):
    assert checks["shards_default"] == [[[1000, 4]] * 4, [[1000]] * 4]
    assert checks["shards_after_reset"] == [[[4000, 4]], [[4000]]]  # one device again


def test_minibatch_on_four_devices_matches_within_mc_error(checks):
    # the batches differ (each device draws from its shard), the posterior does not
    _close_in_sd(checks["mb_4"], checks["mb_1"], within=2.0)
    _close_in_sd(checks["mb_4"], checks["full_1"], within=2.0)


def test_each_device_draws_every_row_of_its_shard_once_per_epoch(checks):
    for device, rows in enumerate(checks["mb_rows"]):
        assert sorted(rows) == list(range(100 * device, 100 * device + 100))


def test_fits_on_four_devices_are_bitwise_reproducible(checks):
    assert checks["full_4"]["bytes"] == checks["full_4_again"]["bytes"]
    assert checks["mb_4"]["bytes"] == checks["mb_4_again"]["bytes"]


def test_rows_that_do_not_divide_are_copied_and_the_fit_is_unchanged(checks):
    assert checks["shards_uneven"] == [[[3998, 4]] * 4, [[3998]] * 4]
    np.testing.assert_allclose(checks["uneven_4"]["mean"], checks["uneven_1"]["mean"], rtol=1e-9)
    _close_in_sd(checks["mb_uneven_4"], checks["uneven_1"], within=2.0)


def test_out_of_core_minibatch_on_four_devices(checks):
    # windows of a memmap, each window split over the devices: the posterior of the mean
    # (exactly the data's mean here) within the fit's noise, on 1 and on 4 devices
    for fit in (checks["memmap_1"], checks["memmap_4"]):
        assert abs(fit["mean"][0] - fit["exact_mean"]) < 0.02


def test_fit_until_converged_runs_on_four_devices(checks):
    assert checks["converged_4"] == "converged"
    # the draws per step do not depend on how the rows are split
    assert checks["draws_4"] == checks["draws_1"] >= 1 and checks["mb_draws_4"] >= 1


def test_a_flow_until_stable_runs_on_four_devices(checks):
    flow = checks["flow_4"]
    assert flow["placed"] and flow["reason"] in ("converged", "max_n")
    # a scale-loc flow is a mean-field normal: its means match the full-batch mean-field fit's
    # (within the iterate noise of a fit on minibatches of 200 rows: one posterior sd)
    _close_in_sd({"mean": flow["mean"]}, checks["full_1"], within=1.0)


def test_bad_device_and_batch_arguments_are_named(checks):
    assert "devices=8" in checks["error_too_many"] and "JAX sees 4" in checks["error_too_many"]
    assert checks["error_small_batch"].startswith("ValueError: batch_size 2 is smaller than the number of devices")
    assert checks["error_uneven_batch"].startswith("ValueError: batch_size 202 does not divide among 4 devices")


def test_nuts_with_four_chains_on_four_devices_matches_one_device(checks):
    one, four = checks["nuts_1"], checks["nuts_4"]
    assert checks["chains_per_device"] == [[2]] * 4
    # the same chains, each on a device of its own: equal to rounding (vectorised over 4 chains or 1,
    # XLA may sum in another order), so well within the Monte Carlo error of the mean (sd / sqrt(ESS))
    assert abs(four["mean"] - one["mean"]) < 0.01 * one["sd"]
    assert abs(four["sd"] - one["sd"]) < 0.01 * one["sd"]
    assert four["bytes"] == checks["nuts_4_again"]["bytes"]


def test_two_process_example_matches_one_process():
    args = [str(ROOT / "examples" / "distributed_fit.py"), "--rows", "2000", "--n", "600", "--json"]
    two = json.loads(_run([*args, "--processes", "2"]).strip().splitlines()[-1])
    one = json.loads(_run([*args, "--processes", "1"]).strip().splitlines()[-1])
    assert two["processes"] == 2 and two["devices"] == 2
    # full batch: the same fit, its sums split between the processes
    np.testing.assert_allclose(two["mean"], one["mean"], atol=0.05 * min(one["sd"]))
    np.testing.assert_allclose(two["sd"], one["sd"], rtol=0.05)


def test_two_process_minibatch_fit_matches_the_full_fit():
    # each process batches its own rows; the global batch and total_size scale the estimate
    args = [str(ROOT / "examples" / "distributed_fit.py"), "--rows", "2000", "--json"]
    two = json.loads(_run([*args, "--n", "1000", "--batch-size", "200", "--processes", "2"]).strip().splitlines()[-1])
    one = json.loads(_run([*args, "--n", "600", "--processes", "1"]).strip().splitlines()[-1])
    np.testing.assert_array_less(np.abs(np.subtract(two["mean"], one["mean"])), np.asarray(one["sd"]))


def test_more_replacements_are_placed_on_the_replaced_log_density():
    # the placement's split positions are those of the data the fit reads, after the replacements
    code = """
import json, numpy as np, pytensor, varbayes as pm
rng = np.random.default_rng(0)
X, y = rng.normal(size=(400, 4)), (rng.random(400) < 0.5).astype("int64")
with pm.Model():
    Xd, yd, w = pytensor.shared(X, name="Xd"), pytensor.shared(y, name="yd"), pytensor.shared(np.ones(4), name="w")
    beta = pm.Normal("beta", 0.0, 2.0, shape=4)
    pm.Bernoulli("y", logit_p=pm.math.dot(Xd, beta * w), observed=yd, total_size=400)
    Xb, yb = pm.Minibatch(X, y, batch_size=40)
    inference = pm.ADVI(random_seed=1)
    inference.fit(5, devices=4, progressbar=False, more_replacements={Xd: Xb, yd: yb})
split = sorted(v.name for i, v in enumerate(inference.approx.logdensity_data_vars) if i in inference._placement.rows)
print(json.dumps(split))
"""
    assert json.loads(_run(["-c", code]).strip().splitlines()[-1]) == ["Minibatch_shared_shuffled"] * 2  # the batches are read from shuffled copies


@pytest.mark.parametrize("devices", [2.0, "cpu", True])
def test_devices_of_the_wrong_type_are_named(devices):
    from varbayes.parallel import resolve_devices

    with pytest.raises(TypeError, match="devices must be an int, a sequence of jax devices or None"):
        resolve_devices(devices)


def test_a_chain_program_does_not_outlive_its_run():
    # the programs spread over a mesh are cached per run; a run that is gone leaves nothing behind
    import gc
    import weakref

    import jax

    from varbayes.parallel import spread_chains

    def make_run():
        return jax.jit(lambda state, keys, schedule, start, n_steps, data: (state + data, state))

    run = make_run()
    spread, state, keys, data = spread_chains(
        run, jax.numpy.zeros(2), jax.random.split(jax.random.key(0), 2), 1.0, [jax.devices()[0]]
    )
    assert spread(state, keys, None, 0, 1, data)[0].tolist() == [1.0, 1.0]
    gone = weakref.ref(run)
    del run, spread
    gc.collect()
    assert gone() is None
