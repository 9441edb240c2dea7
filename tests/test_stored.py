"""Fit loops kept on disk across processes (varbayes.stored)."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import varbayes as pm
from varbayes import stored
from varbayes.stored import StoredProgram

FIT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import varbayes as pm
    from varbayes import stored

    center, method, n = float(sys.argv[1]), sys.argv[2], None if sys.argv[3] == "None" else int(sys.argv[3])
    data = np.random.default_rng(0).normal(1.0, 2.0, size=(2000, 3))
    X = pm.Minibatch(data, batch_size=100)
    with pm.Model():
        mu = pm.Normal("mu", center, 10.0, shape=3)
        sd = pm.HalfNormal("sd", 5.0, shape=3)
        pm.Normal("obs", mu, sd, observed=X, total_size=data.shape)
        approx = pm.fit(n, method=method, random_seed=3, progressbar=False)
    print(json.dumps({"stats": stored.stats(), "hist": approx.hist.tobytes().hex(),
                      "mean": np.asarray(approx.mean.eval()).tolist()}))
    """
)


def _in_a_new_process(code: str, folder, *args: str, **environ: str) -> dict:
    """Run ``code`` in a new process with its cache in ``folder``; the JSON of its last line."""
    env = {**os.environ, "VARBAYES_CACHE_DIR": str(folder), "JAX_PLATFORMS": "cpu", **environ}
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    env.pop("VARBAYES_COMPILATION_CACHE", None)
    done = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _fit_in_a_new_process(folder, center=0.0, method="advi", n=500) -> dict:
    return _in_a_new_process(FIT, folder, str(center), method, str(n))


@pytest.mark.slow
def test_a_new_process_reads_the_loop_from_disk_and_fits_the_same(tmp_path):
    # two programs per family: its first parameters and the loop
    first = _fit_in_a_new_process(tmp_path)
    assert first["stats"] == {"hits": 0, "writes": 2, "deferred": 0, "failures": 0}
    assert len(list((tmp_path / "programs").iterdir())) == 2
    second = _fit_in_a_new_process(tmp_path)
    assert second["stats"] == {"hits": 2, "writes": 0, "deferred": 0, "failures": 0}
    # the stored program is the same computation: bitwise the same fit
    assert second["hist"] == first["hist"] and second["mean"] == first["mean"]
    # another constant in the model is another loop (the family's first parameters are the same)
    other = _fit_in_a_new_process(tmp_path, center=1.0)
    assert other["stats"] == {"hits": 1, "writes": 1, "deferred": 0, "failures": 0}
    assert other["hist"] != first["hist"]
    # a full-rank fit that stops by itself: its loop (in whitened coordinates) and its maps
    # between coordinates call LAPACK (triangular solves, Cholesky factors), which a loaded
    # executable finds only once jaxlib has set its kernels up; five programs: the family's first
    # parameters, the optimizer's init, the loop, the two maps
    full = _fit_in_a_new_process(tmp_path, method="fullrank_advi", n=None)
    assert full["stats"] == {"hits": 0, "writes": 5, "deferred": 0, "failures": 0}
    again = _fit_in_a_new_process(tmp_path, method="fullrank_advi", n=None)
    assert again["stats"] == {"hits": 5, "writes": 0, "deferred": 0, "failures": 0}
    assert again["hist"] == full["hist"] and again["mean"] == full["mean"]
    assert len(list((tmp_path / "programs").iterdir())) == 8


@pytest.fixture
def store(tmp_path):
    """The compilation cache (and so the store) in a folder of the test's own."""
    before = pm.config.compilation_cache_dir()
    pm.config.set_compilation_cache(tmp_path)
    yield tmp_path / "programs"
    pm.config.set_compilation_cache(before if before is not None else None)


def _normal_model(center=0.0):
    with pm.Model() as model:
        pm.Normal("x", center, 1.0, shape=2)
    return model


def _fit(model, **kwargs):
    with model:
        return pm.ADVI(random_seed=1).fit(50, progressbar=False, **kwargs)


def test_a_fit_in_the_same_process_on_a_new_model_reads_the_stored_loop(store):
    before = stored.stats()
    first = _fit(_normal_model())
    middle = stored.stats()
    second = _fit(_normal_model())
    after = stored.stats()
    # the first fit compiles and writes its loop (the family's first parameters may be in memory
    # from an earlier fit in this process); the second reads the loop, the family's program is in memory
    assert middle["writes"] - before["writes"] >= 1
    assert after["hits"] - middle["hits"] == 1 and after["writes"] == middle["writes"]
    np.testing.assert_array_equal(first.hist, second.hist)


def test_a_loop_found_by_the_graph_key_never_translates_the_log_density(store, monkeypatch):
    import varbayes.compile.model as compile_model

    first = _fit(_normal_model())
    assert first.logdensity_graph_key is not None
    assert compile_model.compile_model(_normal_model()).logdensity.graph_key == first.logdensity_graph_key
    assert compile_model.compile_model(_normal_model(1.0)).logdensity.graph_key != first.logdensity_graph_key
    translated = []
    jaxify = compile_model.jaxify
    monkeypatch.setattr(compile_model, "jaxify", lambda *args: translated.append(args) or jaxify(*args))
    before = stored.stats()
    second = _fit(_normal_model())
    assert stored.stats()["hits"] - before["hits"] == 1 and not translated
    np.testing.assert_array_equal(first.hist, second.hist)
    # what needs the log-density itself translates it then
    assert np.isfinite(second.logdensity_fn(np.zeros(2), second.logdensity_data())) and len(translated) == 1


def test_nothing_is_stored_when_the_compilation_cache_is_off(store):
    pm.config.set_compilation_cache(None)
    before = stored.stats()
    _fit(_normal_model())
    assert stored.stats() == before
    assert stored.store_dir() is None


def test_an_optimizer_known_by_identity_only_is_not_stored(store):
    import optax

    before = stored.stats()
    _fit(_normal_model(), obj_optimizer=optax.sgd(0.01))
    assert stored.stats() == before
    assert not store.exists() or not list(store.iterdir())


def _double(x):
    return 2.0 * x + 1.0


def test_an_unreadable_stored_program_is_removed_and_the_program_compiled_as_usual(store):
    import jax

    x = np.arange(3.0)
    expected = StoredProgram(jax.jit(_double), ("unreadable",))(x)
    (path,) = list(store.iterdir())
    path.write_bytes(b"not a program")
    before = stored.stats()
    again = StoredProgram(jax.jit(_double), ("unreadable",))(x)
    np.testing.assert_array_equal(again, expected)
    # JAX's cache serves this process (see the next test for when it is stored again)
    assert not path.exists() and stored.stats()["hits"] == before["hits"]
    assert stored.stats()["deferred"] == before["deferred"] + 1


def test_a_program_jax_finds_in_its_own_cache_is_stored_when_another_process_needs_it(store):
    # The store's file of a program has gone (or varbayes' source changed, and with it the
    # store's key) while JAX's cache holds the executable: that one serves the process, but an
    # executable read from JAX's cache cannot be serialized again (its copy fails when run), so
    # the program is compiled afresh and stored when another process needs it.
    import jax

    x = np.arange(4.0)
    expected = StoredProgram(jax.jit(_double), ("gone",))(x)
    (path,) = list(store.iterdir())
    path.unlink()
    hits = stored._cache_hits()
    before = stored.stats()
    for _ in range(2):  # this process, twice: served by JAX's cache each time, nothing written
        np.testing.assert_array_equal(StoredProgram(jax.jit(_double), ("gone",))(x), expected)
    assert stored._cache_hits() == hits + 2  # JAX did find it
    after = stored.stats()
    assert after["deferred"] == before["deferred"] + 2 and after["writes"] == before["writes"]
    pending = path.with_suffix(".pending")
    assert not path.exists() and pending.exists()
    pending.write_text("1")  # as if another process had needed it
    np.testing.assert_array_equal(StoredProgram(jax.jit(_double), ("gone",))(x), expected)
    assert stored.stats()["writes"] == before["writes"] + 1 and path.exists() and not pending.exists()
    # what was stored is a whole program: it loads and runs
    np.testing.assert_array_equal(StoredProgram(jax.jit(_double), ("gone",))(x), expected)
    assert stored.stats()["hits"] == before["hits"] + 1


def test_a_program_that_calls_back_into_python_is_run_but_not_stored(store):
    import jax

    seen = []

    def noisy(x):
        jax.debug.callback(lambda v: seen.append(np.asarray(v)), x)
        return 2.0 * x

    before = stored.stats()
    out = StoredProgram(jax.jit(noisy), ("callback",))(np.ones(2))
    jax.effects_barrier()
    np.testing.assert_array_equal(out, 2.0 * np.ones(2))
    assert len(seen) == 1 and stored.stats()["failures"] == before["failures"] + 1
    assert not store.exists() or not list(store.iterdir())


def test_a_program_is_stored_per_placement_of_its_arguments(store):
    import jax

    x = np.arange(3.0)
    program = StoredProgram(jax.jit(_double), ("placement",))
    program(x)
    program(jax.device_put(x, jax.devices()[0]))
    # a host array and an array on the first device: two signatures
    assert len(list(store.iterdir())) == 2
    # JAX's cache moved to the test's folder with the store, though the process compiled before
    assert any(path.name.endswith("-cache") for path in store.parent.iterdir())


def test_the_store_keeps_the_most_recently_used_programs(store, monkeypatch):
    monkeypatch.setattr(stored, "MAX_BYTES", 1)
    _fit(_normal_model(0.0))
    _fit(_normal_model(3.0))
    assert len(list(store.iterdir())) == 1


def test_nuts_on_a_new_model_reads_the_stored_sampling_loop(store):
    def draws():
        with _normal_model():
            trace = pm.sample(50, tune=50, chains=2, random_seed=4, progressbar=False, compute_convergence_checks=False)
        return np.asarray(trace.posterior["x"])

    before = stored.stats()
    first = draws()
    middle = stored.stats()
    second = draws()
    after = stored.stats()
    assert middle["writes"] == before["writes"] + 1
    assert after["hits"] == middle["hits"] + 1 and after["writes"] == middle["writes"]
    np.testing.assert_array_equal(first, second)


PLACED = textwrap.dedent(
    """
    import json
    import jax
    import numpy as np
    import varbayes as pm
    from varbayes import stored

    program = stored.StoredProgram(jax.jit(lambda x: 2.0 * x + 1.0), ("placed",))
    out = program(jax.device_put(np.arange(3.0), jax.devices()[2]))
    print(json.dumps({"stats": stored.stats(), "devices": sorted(d.id for d in out.devices()),
                      "out": np.asarray(out).tolist()}))
    """
)


@pytest.mark.slow
def test_a_program_for_one_of_several_devices_runs_there_when_read_in_a_new_process(tmp_path):
    first, second = (
        _in_a_new_process(PLACED, tmp_path, XLA_FLAGS="--xla_force_host_platform_device_count=4")
        for _ in range(2)
    )
    assert first["stats"]["writes"] == 1
    assert second["stats"] == {"hits": 1, "writes": 0, "deferred": 0, "failures": 0}
    assert first["devices"] == second["devices"] == [2] and second["out"] == first["out"] == [1.0, 3.0, 5.0]


LOWERINGS = textwrap.dedent(
    """
    import json
    import jax
    import numpy as np
    import varbayes as pm

    lowered = []
    jax.monitoring.register_event_duration_secs_listener(
        lambda event, seconds, **kwargs: lowered.append(event) if event.endswith("jaxpr_to_mlir_module_duration") else None
    )
    y = np.random.default_rng(0).normal(1.0, 2.0, size=50)
    with pm.Model():
        mu = pm.Normal("mu", 0.0, 10.0)
        sd = pm.HalfNormal("sd", 5.0)
        pm.Normal("y", mu, sd, observed=y)
        approx = pm.fit(n=None, random_seed=1, progressbar=False)
    print(json.dumps({"lowered": len(lowered), "iterations": approx.convergence.iterations,
                      "mean": np.asarray(approx.mean.eval()).tolist()}))
    """
)


@pytest.mark.slow
def test_a_fit_that_stops_by_itself_lowers_no_program_in_a_new_process(tmp_path):
    # A warm fit(n=None) in a new process neither traces nor lowers a program: the loop and the
    # small programs around it (the family's first and narrowed parameters, the optimizer's init,
    # the maps between whitened and model coordinates with the parameters' units) are read
    # compiled from the store. Eager JAX operations would each add one, and a function jitted
    # before a change of JAX's tracing context (an import of jax.extend, say) would be lowered twice.
    cold, warm = (_in_a_new_process(LOWERINGS, tmp_path) for _ in range(2))
    assert warm["iterations"] == cold["iterations"] and warm["mean"] == cold["mean"]
    assert cold["lowered"] >= 4  # the listener does see the programs a cold fit lowers
    assert warm["lowered"] == 0, warm["lowered"]
