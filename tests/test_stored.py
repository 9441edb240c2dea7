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

FIT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import varbayes as pm
    from varbayes import stored

    center, method = float(sys.argv[1]), sys.argv[2]
    data = np.random.default_rng(0).normal(1.0, 2.0, size=(2000, 3))
    X = pm.Minibatch(data, batch_size=100)
    with pm.Model():
        mu = pm.Normal("mu", center, 10.0, shape=3)
        sd = pm.HalfNormal("sd", 5.0, shape=3)
        pm.Normal("obs", mu, sd, observed=X, total_size=data.shape)
        approx = pm.fit(500, method=method, random_seed=3, progressbar=False)
    print(json.dumps({"stats": stored.stats(), "hist": approx.hist.tobytes().hex(),
                      "mean": np.asarray(approx.mean.eval()).tolist()}))
    """
)


def _fit_in_a_new_process(folder, center=0.0, method="advi") -> dict:
    env = {**os.environ, "VARBAYES_CACHE_DIR": str(folder), "JAX_PLATFORMS": "cpu"}
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    env.pop("VARBAYES_COMPILATION_CACHE", None)
    done = subprocess.run([sys.executable, "-c", FIT, str(center), method], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_a_new_process_reads_the_loop_from_disk_and_fits_the_same(tmp_path):
    first = _fit_in_a_new_process(tmp_path)
    assert first["stats"] == {"hits": 0, "exports": 1, "failures": 0}
    assert len(list((tmp_path / "programs").iterdir())) == 1
    second = _fit_in_a_new_process(tmp_path)
    assert second["stats"] == {"hits": 1, "exports": 0, "failures": 0}
    # the stored program is the same computation: bitwise the same fit
    assert second["hist"] == first["hist"] and second["mean"] == first["mean"]
    # another constant in the model is another program, and another family too
    other = _fit_in_a_new_process(tmp_path, center=1.0)
    assert other["stats"] == {"hits": 0, "exports": 1, "failures": 0}
    assert other["hist"] != first["hist"]
    assert _fit_in_a_new_process(tmp_path, method="fullrank_advi")["stats"]["exports"] == 1
    assert len(list((tmp_path / "programs").iterdir())) == 3


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
    second = _fit(_normal_model())
    after = stored.stats()
    assert after["exports"] - before["exports"] == 1 and after["hits"] - before["hits"] == 1
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


def test_an_unreadable_stored_program_is_exported_again(store):
    first = _fit(_normal_model())
    (path,) = list(store.iterdir())
    path.write_bytes(b"not a program")
    before = stored.stats()
    second = _fit(_normal_model())
    assert stored.stats()["exports"] == before["exports"] + 1
    np.testing.assert_array_equal(first.hist, second.hist)
    assert path.read_bytes() != b"not a program"


def test_the_store_keeps_the_most_recently_used_programs(store, monkeypatch):
    monkeypatch.setattr(stored, "MAX_PROGRAMS", 1)
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
    assert middle["exports"] == before["exports"] + 1
    assert after["hits"] == middle["hits"] + 1 and after["exports"] == middle["exports"]
    np.testing.assert_array_equal(first, second)


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
def test_a_fit_that_stops_by_itself_lowers_few_programs_in_a_new_process(tmp_path):
    # A warm fit(n=None) in a new process traces and lowers only a handful of small programs
    # (the family's first and narrowed parameters, the optimizer's init, the maps between whitened
    # and model coordinates with the parameters' units) besides the stored loop: eager JAX
    # operations would each add one, and a function jitted before a change of JAX's tracing
    # context (an import of jax.extend, say) would be lowered twice.
    env = {**os.environ, "VARBAYES_CACHE_DIR": str(tmp_path), "JAX_PLATFORMS": "cpu"}
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    env.pop("VARBAYES_COMPILATION_CACHE", None)
    runs = []
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", LOWERINGS], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-3000:]
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    cold, warm = runs
    assert warm["iterations"] == cold["iterations"] and warm["mean"] == cold["mean"]
    assert warm["lowered"] <= 6, warm["lowered"]
