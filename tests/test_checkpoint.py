"""Saving approximations, checkpoints that resume bitwise, and faults that lose nothing."""

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import varbayes as pm
from varbayes.variational.api.checkpoint import read

Y = np.linspace(-1.0, 2.0, 7)


def regression(y=Y):
    with pm.Model() as model:
        x = pm.Normal("x", 0.0, 1.0, shape=3)
        s = pm.HalfNormal("s", 1.0)
        pm.Normal("y", x.sum() * s, 1.0, observed=y)
    return model


def params_of(approx):
    return {name: shared.get_value() for name, shared in approx.shared_params.items()}


def assert_same_fit(a, b):
    np.testing.assert_array_equal(a.hist, b.hist)  # bitwise, not approximately
    for name, value in params_of(a).items():
        np.testing.assert_array_equal(value, params_of(b)[name])


def fit(n, **kwargs):
    kwargs.setdefault("obj_optimizer", pm.adam(0.01))
    with regression():
        return pm.fit(n, random_seed=3, progressbar=False, **kwargs)


# --------------------------------------------------------------- save and load
@pytest.mark.parametrize(
    "make",
    [
        lambda: pm.ADVI(random_seed=1),
        lambda: pm.FullRankADVI(random_seed=1),
        lambda: pm.KLqp(pm.LowRank(rank=2, random_seed=1)),
        lambda: pm.SVGD(n_particles=20, random_seed=1),
    ],
    ids=["MeanField", "FullRank", "LowRank", "Empirical"],
)
def test_save_and_load_every_approximation(tmp_path, make):
    with regression() as model:
        inference = make()
        approx = inference.fit(300, progressbar=False)
    path = approx.save(tmp_path / "q.npz")
    loaded = pm.load_approximation(path, model)
    assert type(loaded) is type(approx)
    assert_same_fit(loaded, approx)
    draws = loaded.sample(50, random_seed=0).posterior
    np.testing.assert_array_equal(draws["x"].values, approx.sample(50, random_seed=0).posterior["x"].values)


def test_saved_file_describes_itself(tmp_path):
    approx = fit(200)
    path = approx.save(tmp_path / "q.npz")
    with np.load(path, allow_pickle=False) as archive:
        header = json.loads(archive["header.json"].tobytes())
        assert "params/mu" in archive.files and "hist" in archive.files and "key" in archive.files
    assert header["format"] == "varbayes.approximation" and header["version"] == 1
    assert header["approximation"] == {"class": "MeanField", "family": "mean_field"}
    assert [v[0] for v in header["model"]] == ["x", "s"]
    assert header["fit"]["inference"] == "ADVI" and header["fit"]["optimizer"] == "adam"


def test_load_refuses_another_model(tmp_path):
    path = fit(100).save(tmp_path / "q.npz")
    with pm.Model():
        pm.Normal("x", 0.0, 1.0, shape=2)
        with pytest.raises(ValueError, match=r"free variables \[x \(3,\), s \(\)\].*this model has \[x \(2,\)\]"):
            pm.load_approximation(path)


def test_load_accepts_new_data_for_predictions(tmp_path):
    path = fit(100).save(tmp_path / "q.npz")
    with regression(y=Y + 1.0):
        loaded = pm.load_approximation(path)
    assert loaded.hist.shape == (100,)


def test_newer_format_version_is_refused(tmp_path):
    path = fit(50).save(tmp_path / "q.npz")
    with np.load(path) as archive:
        arrays = dict(archive)
    header = json.loads(arrays["header.json"].tobytes())
    header["version"] = 99
    arrays["header.json"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    with open(path, "wb") as file:
        np.savez(file, **arrays)
    with regression(), pytest.raises(ValueError, match="format version 99.*upgrade varbayes"):
        pm.load_approximation(path)


# ----------------------------------------------------------- resume, bitwise
def test_resumed_fit_is_bitwise_the_uninterrupted_one(tmp_path):
    path = tmp_path / "fit.npz"
    whole = fit(3000)
    first = fit(1234, checkpoint=path)
    assert len(first.hist) == 1234
    resumed = fit(3000, checkpoint=path, resume=True)
    assert_same_fit(resumed, whole)
    # a finished fit resumed again runs nothing more
    again = fit(3000, checkpoint=path, resume=True)
    assert_same_fit(again, whole)


def test_resume_true_without_a_file_starts_afresh(tmp_path):
    resumed = fit(500, checkpoint=tmp_path / "new.npz", resume=True)
    assert_same_fit(resumed, fit(500))
    assert (tmp_path / "new.npz").exists()


def test_refine_is_checkpointed_and_resumed(tmp_path):
    path = tmp_path / "fit.npz"
    with regression():
        advi = pm.ADVI(random_seed=5)
        advi.fit(400, obj_optimizer=pm.rmsprop(0.01), progressbar=False)
        whole = advi.refine(600, progressbar=False)
    with regression():
        advi = pm.ADVI(random_seed=5)
        advi.fit(400, obj_optimizer=pm.rmsprop(0.01), progressbar=False, checkpoint=path)
        advi.refine(250, progressbar=False)
    with regression():
        # resuming a refine: n counts from where the refine began
        resumed = pm.ADVI(random_seed=5).fit(600, obj_optimizer=pm.rmsprop(0.01), resume=path, progressbar=False)
    assert_same_fit(resumed, whole)


def test_approx_save_then_resume_continues_like_refine(tmp_path):
    with regression():
        advi = pm.ADVI(random_seed=2)
        advi.fit(700, progressbar=False)
        whole = advi.refine(300, progressbar=False)
    with regression():
        advi = pm.ADVI(random_seed=2)
        path = advi.fit(700, progressbar=False).save(tmp_path / "q.npz")
    with regression():
        resumed = pm.ADVI(random_seed=2).fit(300, resume=path, progressbar=False)
    assert_same_fit(resumed, whole)


def test_resume_of_a_fit_that_runs_until_converged(tmp_path):
    path = tmp_path / "fit.npz"
    # the first check that could stop the fit comes at 420 iterations
    with regression(), pytest.warns(UserWarning, match="stopped at max_n=400"):
        first = pm.fit(None, random_seed=3, progressbar=False, checkpoint=path, max_n=400)
    assert first.convergence.reason == "max_n"
    saved = read(path)
    np.testing.assert_array_equal(saved.hist, first.hist)
    with regression():
        resumed = pm.fit(None, random_seed=3, progressbar=False, checkpoint=path, resume=True)
    # continues from the checkpoint's state and history, with its step size
    np.testing.assert_array_equal(resumed.hist[:400], first.hist)
    assert resumed.convergence.reason == "converged"
    assert resumed.convergence.step_sizes[0] == first.convergence.step_sizes[-1]


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(obj_optimizer=pm.adam(0.02)), "learning_rate=0.01; this fit's optimizer has learning_rate=0.02"),
        (dict(obj_optimizer=pm.adamax(0.01)), "optimizer adam; this fit has adamax"),
        (dict(obj_optimizer=None), "optimizer adam; this fit has adagrad_window"),
        (dict(method="fullrank_advi"), "class=MeanField; this fit's has class=FullRank"),
        (dict(n=100), "run 500 iterations already, more than n=100"),
    ],
)
def test_resume_refuses_another_fit(tmp_path, change, message):
    path = tmp_path / "fit.npz"
    fit(500, checkpoint=path)
    kwargs = dict(n=1000, obj_optimizer=pm.adam(0.01))
    kwargs.update(change)
    before = path.read_bytes()
    with pytest.raises(ValueError, match=message):
        fit(kwargs.pop("n"), resume=path, **kwargs)
    assert path.read_bytes() == before


def test_resume_refuses_other_data(tmp_path):
    path = tmp_path / "fit.npz"
    fit(200, checkpoint=path)
    with regression(y=Y * 2.0), pytest.raises(ValueError, match="on other data"):
        pm.fit(400, random_seed=3, obj_optimizer=pm.adam(0.01), resume=path, progressbar=False)


def test_argument_errors(tmp_path):
    with pytest.raises(ValueError, match="pass checkpoint=path"):
        fit(10, resume=True)
    with pytest.raises(FileNotFoundError, match="no saved approximation"):
        fit(10, resume=tmp_path / "absent.npz")
    with pytest.raises(TypeError, match="resume must be a file path or a bool"):
        fit(10, resume=3)
    with pytest.raises(ValueError, match="checkpoint_every must be a non-negative"):
        fit(10, checkpoint=tmp_path / "f.npz", checkpoint_every=-1)
    with pytest.raises(TypeError, match="checkpoint_every must be a number of seconds"):
        fit(10, checkpoint=tmp_path / "f.npz", checkpoint_every="often")
    with pytest.raises(IsADirectoryError, match="give a file name"):
        fit(10, checkpoint=tmp_path)


# -------------------------------------------------------------------- faults
def test_missing_folder_is_named_before_the_fit(tmp_path):
    with regression():
        advi = pm.ADVI(random_seed=0)
        with pytest.raises(FileNotFoundError, match="folder .*absent.* does not exist"):
            advi.fit(100, checkpoint=tmp_path / "absent" / "f.npz", progressbar=False)
    assert len(advi.hist) == 0


def _read_only_folder(tmp_path):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        (folder / "probe").touch()
    except PermissionError:
        return folder
    # the superuser writes anywhere chmod allows nothing: sysfs takes no new files from anyone
    (folder / "probe").unlink()
    return "/sys"


def test_read_only_folder_is_named_before_the_fit(tmp_path):
    folder = _read_only_folder(tmp_path)
    with regression():
        advi = pm.ADVI(random_seed=0)
        with pytest.raises(PermissionError, match="is not writable"):
            advi.fit(100, checkpoint=os.path.join(folder, "f.npz"), progressbar=False)
        with pytest.raises(PermissionError, match="is not writable"):
            advi.approx.save(os.path.join(folder, "q.npz"))
    assert len(advi.hist) == 0


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage"])
def test_damaged_checkpoint_is_refused_and_kept(tmp_path, damage):
    path = tmp_path / "fit.npz"
    fit(300, checkpoint=path)
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "flip":
        middle = len(data) // 3
        data[middle : middle + 8] = bytes(b ^ 0xFF for b in data[middle : middle + 8])
    else:
        data = bytearray(b"not an archive at all")
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="not a readable varbayes approximation file"):
        fit(1000, checkpoint=path, resume=True)
    with regression(), pytest.raises(ValueError, match="truncated or corrupted"):
        pm.load_approximation(path)
    assert path.read_bytes() == bytes(data)  # nothing overwritten


def test_callback_error_stops_the_fit_and_keeps_everything(tmp_path):
    path = tmp_path / "fit.npz"

    def broken(approx, losses, i):
        if i == 700:
            raise RuntimeError("the tracker's disk is full")

    broken.every = 100
    with regression():
        advi = pm.ADVI(random_seed=3)
        with pytest.raises(RuntimeError, match="disk is full") as error:
            advi.fit(2000, obj_optimizer=pm.adam(0.01), callbacks=[broken], checkpoint=path, progressbar=False)
    assert any("at iteration 700" in note for note in error.value.__notes__)
    approx = advi.approx
    assert len(approx.hist) == 700 and np.isfinite(approx.hist).all()
    saved = read(path)
    np.testing.assert_array_equal(saved.hist, approx.hist)
    for name, value in params_of(approx).items():
        np.testing.assert_array_equal(saved.params[name], value)
    # the checkpoint resumes the fit exactly
    assert_same_fit(fit(2000, resume=path), fit(2000))


def test_per_iteration_callback_error_rolls_back_to_the_chunk(tmp_path):
    def broken(approx, losses, i):
        if i == 37:
            raise ValueError("bad value")

    with regression():
        advi = pm.ADVI(random_seed=3)
        with pytest.raises(ValueError, match="bad value") as error:
            advi.fit(100, callbacks=[broken], progressbar=False)
    assert any("at iteration 37" in note for note in error.value.__notes__)
    # the approximation holds the last committed chunk, consistent with hist
    reference = fit(len(advi.hist), obj_optimizer=None)
    assert_same_fit(advi.approx, reference)


def test_keyboard_interrupt_writes_the_last_finished_chunk(tmp_path):
    path = tmp_path / "fit.npz"

    def interrupt(approx, losses, i):
        if i == 1500:
            raise KeyboardInterrupt

    interrupt.every = 500
    with regression():
        approx = pm.fit(4000, random_seed=3, obj_optimizer=pm.adam(0.01), callbacks=[interrupt],
                        checkpoint=path, progressbar=False)
    assert len(approx.hist) == 1500
    assert_same_fit(fit(4000, resume=path), fit(4000))


def test_fits_of_two_models_in_two_threads_equal_sequential_fits():
    def model_a():
        with pm.Model() as model:
            pm.Normal("y", pm.Normal("m", 0.0, 5.0), 1.0, observed=Y)
        return model

    def run(make, method, out, key):
        with make():
            out[key] = pm.fit(3000, method=method, random_seed=7, progressbar=False)

    sequential, threaded = {}, {}
    run(model_a, "advi", sequential, "a")
    run(regression, "fullrank_advi", sequential, "b")
    threads = [
        threading.Thread(target=run, args=(model_a, "advi", threaded, "a")),
        threading.Thread(target=run, args=(regression, "fullrank_advi", threaded, "b")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert_same_fit(threaded["a"], sequential["a"])
    assert_same_fit(threaded["b"], sequential["b"])


_KILLED_FIT = textwrap.dedent(
    """
    import signal
    import sys
    import numpy as np
    import varbayes as pm

    # a job started in the background by a non-interactive shell ignores SIGINT; a user's
    # script in a terminal gets Python's KeyboardInterrupt, which is what is tested here
    signal.signal(signal.SIGINT, signal.default_int_handler)
    path, n = sys.argv[1], int(sys.argv[2])
    with pm.Model():
        x = pm.Normal("x", 0.0, 1.0, shape=3)
        s = pm.HalfNormal("s", 1.0)
        pm.Normal("y", x.sum() * s, 1.0, observed=np.linspace(-1.0, 2.0, 4000))
        approx = pm.fit(n, random_seed=3, obj_optimizer=pm.adam(0.01), progressbar=False,
                        checkpoint=path, checkpoint_every=0, resume=True)
    np.save(path + ".hist.npy", approx.hist)
    """
)
_KILLED_N = 800_000


@pytest.fixture(scope="module")
def uninterrupted():
    with regression(y=np.linspace(-1.0, 2.0, 4000)):
        return pm.fit(_KILLED_N, random_seed=3, obj_optimizer=pm.adam(0.01), progressbar=False)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
def test_killed_process_resumes_bitwise(tmp_path, sig, uninterrupted):
    n = _KILLED_N
    path = str(tmp_path / "fit.npz")
    script = tmp_path / "fit.py"
    script.write_text(_KILLED_FIT)
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    process = subprocess.Popen([sys.executable, str(script), path, str(n)], env=env)
    try:
        # kill at a random point of the fit (in a chunk or between two), chosen by its progress
        # as the checkpoints report it, so that the fit is mid-way on a fast machine or a slow one
        target = np.random.default_rng().uniform(0.1, 0.6) * n
        deadline = time.monotonic() + 120
        done = 0
        while done < target and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.02)
            if os.path.exists(path):
                done = len(read(path).hist)
        assert done >= target, "the fit wrote no checkpoint"
        process.send_signal(sig)
        # Ctrl-C ends the fit, which keeps its last finished chunk, and the script goes on
        assert process.wait(timeout=60) == (0 if sig == signal.SIGINT else -sig)
    finally:
        process.kill()
    done = len(read(path).hist)
    assert 0 < done < n
    if sig == signal.SIGINT:
        np.testing.assert_array_equal(np.load(path + ".hist.npy"), read(path).hist)
    # rerunning the same script picks up where the killed one stopped
    subprocess.run([sys.executable, str(script), path, str(n)], env=env, check=True, timeout=300)
    resumed = np.load(path + ".hist.npy")
    np.testing.assert_array_equal(resumed, uninterrupted.hist)
    saved = read(path)
    for name, value in params_of(uninterrupted).items():
        np.testing.assert_array_equal(saved.params[name], value)


def test_a_flow_is_saved_loaded_and_resumed_bitwise(tmp_path):
    def mixture():
        with pm.Model() as model:
            pm.NormalMixture("x", w=[0.2, 0.8], mu=[-0.3, 0.5], sigma=[0.1, 0.1])
        return model

    with mixture() as model:
        approx = pm.fit(300, method="nfvi=planar*2-loc", random_seed=1, progressbar=False)
        loaded = pm.load_approximation(approx.save(tmp_path / "flow.npz"), model)
    assert type(loaded).__name__ == "NormalizingFlow" and loaded.flow == approx.flow
    assert_same_fit(loaded, approx)
    np.testing.assert_array_equal(loaded.sample(20, random_seed=0).posterior["x"], approx.sample(20, random_seed=0).posterior["x"])

    def interrupt(approx, losses, i):
        if i == 250:
            raise KeyboardInterrupt

    interrupt.every = 50
    path = tmp_path / "fit.npz"
    with mixture():
        whole = pm.fit(600, method="nfvi", random_seed=2, progressbar=False)
    with mixture():
        pm.fit(600, method="nfvi", random_seed=2, progressbar=False, checkpoint=path, callbacks=[interrupt])
    with mixture():
        resumed = pm.fit(600, method="nfvi", random_seed=2, progressbar=False, checkpoint=path, resume=True)
    assert_same_fit(resumed, whole)
