"""Approximations on disk: ``approx.save``, ``load_approximation``, and fit checkpoints.

One file format serves both: a NumPy ``.npz`` archive (no pickles) holding
the family's parameters, the loss history and, when the approximation was
fitted, the optimizer's state, the random key and where the fit stands,
plus a JSON header that describes all of it (format name and version, the
approximation's class, the model's free variables, a fingerprint of the
data). A fit with ``checkpoint=path`` writes the file between compiled
chunks, atomically (a temporary file in the same folder, then a rename), so a
killed process leaves either the previous checkpoint or the new one, never a
torn file. ``fit(..., resume=path)`` restores everything and continues: every
step's random numbers come from ``fold_in(key, iteration)``, so the resumed
``hist`` and parameters are bitwise those of an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["save_approximation", "load_approximation", "read", "Saved", "Checkpointer", "DEFAULT_CHECKPOINT_EVERY"]

FORMAT = "varbayes.approximation"
VERSION = 1
#: Seconds between checkpoints of a fit with ``checkpoint=`` (and at its end).
DEFAULT_CHECKPOINT_EVERY = 60.0
_HEADER = "header.json"


@dataclass(frozen=True)
class Saved:
    """The contents of a saved approximation file."""

    path: Path
    header: dict
    params: dict[str, np.ndarray]
    hist: np.ndarray
    opt_leaves: list[np.ndarray] | None
    key: np.ndarray | None


# ----------------------------------------------------------------- describing
def model_signature(approx) -> list:
    """The model's free variables as the parameters see them: names, unconstrained shapes, transforms."""
    return [
        [v.name, v.value_name, list(v.shape), None if v.transform is None else type(v.transform).__name__]
        for v in approx.ravel.vars
    ]


def data_fingerprint(data) -> str:
    """A hash of the values the log-density reads (shapes, dtypes and contents)."""
    digest = hashlib.sha256()
    for leaf in jax.tree_util.tree_leaves(jax.device_get(data)):
        array = np.ascontiguousarray(np.asarray(leaf))
        digest.update(f"{array.shape}{array.dtype.str}".encode())
        flat = array.reshape(-1)
        if flat.size > 1 << 22:
            # large (out-of-core) sources: evenly spaced values stand for the whole
            flat = flat[:: flat.size // (1 << 22)]
        digest.update(np.ascontiguousarray(flat).tobytes())
    return digest.hexdigest()


def _family_header(approx) -> dict:
    params = jax.device_get(approx.jax_params)
    header = {"class": type(approx).__name__, "family": approx.family.name}
    if "W" in params:
        header["rank"] = int(np.shape(params["W"])[1])
    if "histogram" in params:
        header["n_particles"] = int(np.shape(params["histogram"])[0])
    if hasattr(approx, "flow_options"):
        header["flow"] = approx.flow
        header["flow_options"] = dict(approx.flow_options)
    return header


def _optimizer_label(program) -> str:
    """What kind of optimizer a fit used, in words comparable across processes."""
    kind, clip = program
    if kind == "auto":
        words = "the schedule of fit(n=None)"
    elif kind == "default":
        words = "adagrad_window (the default)"
    elif isinstance(kind, tuple) and kind and kind[0] == "name":
        words = str(kind[1])
    elif isinstance(kind, tuple) and kind and kind[0] != "object":
        words = " ".join(str(part) for part in kind)
    else:
        words = "an optax transformation"
    return words if clip is None else f"{words}, total_grad_norm_constraint={clip}"


def _hyperparameters(opt_state) -> dict[str, np.ndarray]:
    """The optimizer's hyperparameters held in its state (``inject_hyperparams``), by path."""
    found = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(opt_state)[0]:
        text = jax.tree_util.keystr(path)
        if "hyperparams" in text:
            found[text] = np.asarray(leaf)
    return found


# ------------------------------------------------------------------- writing
def _payload(approx, inference=None, run: tuple[int, int | None] | None = None, state=None, data=None) -> dict:
    params = {name: np.asarray(value) for name, value in jax.device_get(approx.jax_params).items()}
    header = {
        "format": FORMAT,
        "version": VERSION,
        "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "approximation": _family_header(approx),
        "model": model_signature(approx),
        "params": {name: [list(v.shape), v.dtype.str] for name, v in params.items()},
        "fit": None,
    }
    from varbayes import __version__

    header["varbayes"] = __version__
    arrays = {f"params/{name}": value for name, value in params.items()}
    arrays["hist"] = np.asarray(approx.hist, dtype=np.float64)
    if inference is not None and inference.state is not None:
        state = inference.state if state is None else state
        leaves = jax.tree_util.tree_leaves(jax.device_get(state.opt_state))
        start, n = run if run is not None else (len(approx.hist), 0)
        header["fit"] = {
            "inference": type(inference).__name__,
            "settings": repr(inference._settings()),
            "optimizer": _optimizer_label(inference._step_config[0]),
            "n_mc": inference._n_mc,
            "run_start": int(start),
            "run_n": None if n is None else int(n),
            "optimizer_state": [[list(np.shape(a)), np.asarray(a).dtype.str] for a in leaves],
            "data": data_fingerprint(approx.logdensity_data()) if data is None else data,
        }
        for i, leaf in enumerate(leaves):
            arrays[f"opt/{i}"] = np.asarray(leaf)
        arrays["key"] = np.asarray(jax.random.key_data(inference._key))
    arrays[_HEADER] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    return arrays


def check_writable(path) -> Path:
    """``path`` as a ``Path`` once its folder is known to exist and take new files."""
    path = Path(os.fspath(path))
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(f"cannot write {str(path)!r}: the folder {str(folder)!r} does not exist")
    if path.is_dir():
        raise IsADirectoryError(f"cannot write {str(path)!r}: it is a folder; give a file name")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=f".{path.name}.", suffix=".probe"):
            pass
    except OSError as exc:
        raise PermissionError(f"cannot write {str(path)!r}: the folder {str(folder)!r} is not writable ({exc.strerror})") from exc
    return path


def _write(path: Path, arrays: dict) -> None:
    """Write atomically: a temporary file beside ``path``, flushed to disk, then renamed onto it."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(file, **arrays)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def save_approximation(approx, path, inference=None, run=None, state=None, data=None) -> Path:
    """Write ``approx`` (and, with ``inference``, its fit's state) to ``path``; return the path.

    ``data``, when given, is the data's fingerprint (a fit computes it once).
    """
    path = check_writable(path)
    _write(path, _payload(approx, inference, run, state, data))
    return path


# ------------------------------------------------------------------- reading
def read(path) -> Saved:
    """Read a saved approximation; a clear error for anything but an intact file of this format."""
    path = Path(os.fspath(path))
    if not path.exists():
        raise FileNotFoundError(f"no saved approximation at {str(path)!r}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
        header = json.loads(arrays.pop(_HEADER).tobytes().decode())
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError, UnicodeDecodeError) as exc:
        raise ValueError(
            f"{str(path)!r} is not a readable varbayes approximation file (truncated or corrupted?): {exc}"
        ) from exc
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ValueError(f"{str(path)!r} is not a varbayes approximation file")
    if header.get("version", 0) > VERSION:
        raise ValueError(
            f"{str(path)!r} has format version {header['version']}; this varbayes reads up to version {VERSION}: "
            "upgrade varbayes to read it"
        )
    params = {name[len("params/") :]: value for name, value in arrays.items() if name.startswith("params/")}
    fit = header.get("fit")
    opt = None
    if fit is not None:
        opt = [arrays[f"opt/{i}"] for i in range(len(fit["optimizer_state"]))]
    expected = {name: (tuple(shape), dtype) for name, (shape, dtype) in header["params"].items()}
    found = {name: (value.shape, value.dtype.str) for name, value in params.items()}
    if found != expected or "hist" not in arrays:
        raise ValueError(f"{str(path)!r} is incomplete: its arrays do not match its header (corrupted?)")
    return Saved(path, header, params, arrays["hist"], opt, arrays.get("key"))


def check_model(saved: Saved, approx) -> None:
    """Refuse a file written for a model with other free variables."""
    theirs, ours = saved.header["model"], model_signature(approx)
    if theirs == ours:
        return
    describe = lambda sig: ", ".join(f"{name} {tuple(shape)}" for name, _, shape, _ in sig) or "none"  # noqa: E731
    raise ValueError(
        f"{str(saved.path)!r} was written for a model with free variables [{describe(theirs)}] "
        f"(unconstrained shapes); this model has [{describe(ours)}]"
    )


def load_approximation(path, model=None):
    """Load an approximation written by :meth:`Approximation.save` (or a fit's checkpoint).

    Parameters
    ----------
    path : str or path-like
        The file.
    model : Model, optional
        The model it approximates (the ``with`` block's by default). It must
        have the same free variables, with the same shapes and transforms,
        as the model the file was written for; its data may differ (for
        predictions on new data).

    Returns
    -------
    Approximation
        Of the saved class, with the saved parameters and ``hist``.

    Examples
    --------
    >>> import os, tempfile
    >>> import varbayes as pm
    >>> with pm.Model() as model:
    ...     x = pm.Normal("x", 1.0, 2.0)
    ...     approx = pm.fit(500, progressbar=False, random_seed=1)
    >>> path = os.path.join(tempfile.mkdtemp(), "x.npz")
    >>> _ = approx.save(path)
    >>> again = pm.load_approximation(path, model)
    >>> bool((again.hist == approx.hist).all())
    True
    """
    from varbayes.model.core import modelcontext
    from varbayes.variational.api import approximations

    saved = read(path)
    model = modelcontext(model)
    kind = saved.header["approximation"]
    classes = {
        "MeanField": lambda: approximations.MeanField(model),
        "FullRank": lambda: approximations.FullRank(model),
        "LowRank": lambda: approximations.LowRank(model, rank=kind["rank"]),
        "Empirical": lambda: approximations.Empirical(model=model, size=kind["n_particles"]),
        # Pathfinder's resampled draws come back as particles; the paths' normals are not saved
        "PathfinderApproximation": lambda: approximations.Empirical(model=model, size=kind["n_particles"]),
        "NormalizingFlow": lambda: _flow(kind, model),
    }
    if kind.get("class") not in classes:
        raise ValueError(f"{str(saved.path)!r} holds an approximation of unknown class {kind.get('class')!r}")
    approx = classes[kind["class"]]()
    check_model(saved, approx)
    approx.set_params({name: jnp.asarray(value) for name, value in saved.params.items()})
    approx.hist = np.array(saved.hist)
    return approx


def _flow(kind: dict, model):
    from varbayes.variational.api.flows import NormalizingFlow

    return NormalizingFlow(kind["flow"], model, **kind["flow_options"])


def restore_fit(inference, saved: Saved) -> int:
    """Put a checkpoint's parameters, history, optimizer state and key into ``inference``.

    ``inference`` is prepared for the resumed fit (its optimizer chosen);
    every difference that would make the continuation another fit than the
    one checkpointed is an error naming it. Returns the length ``hist`` had
    when the checkpointed fit (or refine) began.
    """
    approx, fit, where = inference.approx, saved.header.get("fit"), repr(str(saved.path))
    check_model(saved, approx)
    if fit is None:
        raise ValueError(f"{where} holds an approximation without the state of a fit; it cannot be resumed")
    theirs, ours = saved.header["approximation"], _family_header(approx)
    if theirs != ours:
        describe = lambda kind: ", ".join(f"{k}={v}" for k, v in kind.items() if k != "family")  # noqa: E731
        raise ValueError(f"{where} holds an approximation with {describe(theirs)}; this fit's has {describe(ours)}")
    mine = {
        "inference": type(inference).__name__,
        "settings": repr(inference._settings()),
        "optimizer": _optimizer_label(inference._step_config[0]),
        "n_mc": inference._n_mc,
    }
    for name, value in mine.items():
        if fit[name] != value:
            raise ValueError(f"{where} was written by a fit with {name} {fit[name]}; this fit has {value}")
    leaves, treedef = jax.tree_util.tree_flatten(inference.state.opt_state)
    structure = [[list(np.shape(a)), np.asarray(a).dtype.str] for a in leaves]
    if structure != fit["optimizer_state"]:
        raise ValueError(f"{where} was written by a fit with another optimizer (its state has another structure)")
    restored = jax.tree_util.tree_unflatten(treedef, [jnp.asarray(a) for a in saved.opt_leaves])
    ours, theirs = _hyperparameters(inference.state.opt_state), _hyperparameters(restored)
    # the schedule of fit(n=None) sets its own learning rate; a user's optimizer must be the same
    scheduled = inference._step_config[0][0] == "auto"
    for path, value in ours.items():
        if not scheduled and not np.array_equal(value, theirs[path]):
            name = re.findall(r"\['([^']+)'\]", path)[-1]
            raise ValueError(
                f"{where} was written by a fit whose optimizer has {name}={theirs[path]}; this fit's optimizer "
                f"has {name}={value}: resume with the same optimizer settings"
            )
    if fit["data"] != data_fingerprint(approx.logdensity_data()):
        raise ValueError(f"{where} was written by a fit on other data (observed or Data values differ)")
    params = {name: jnp.asarray(value) for name, value in saved.params.items()}
    approx.set_params(params)
    approx.hist = np.array(saved.hist)
    inference.state = inference.state._replace(params=params, opt_state=restored)
    inference._key = jax.random.wrap_key_data(jnp.asarray(saved.key))
    return int(fit["run_start"])


# --------------------------------------------------------------- checkpoints
class Checkpointer:
    """Writes a fit's checkpoint every ``every`` seconds between chunks, and on request.

    While a fit with a checkpoint runs in the main thread, SIGTERM (what a
    cluster's scheduler sends before it kills a job) is held until the running
    chunk ends: the checkpoint is written, then the signal takes its course.
    """

    def __init__(self, path: Path, every: float, inference, run: tuple[int, int | None]):
        self.path, self.every, self.inference, self.run = path, float(every), inference, run
        # the data do not change during a fit (streaming windows aside: those are its source's rows)
        self.data = data_fingerprint(inference.approx.logdensity_data())
        self.last = time.monotonic()
        self.terminate = False
        self.writes = 0
        self.seconds = 0.0

    def due(self) -> bool:
        return self.terminate or time.monotonic() - self.last >= self.every

    def after_chunk(self, state) -> str | None:
        """Write when due; return the stop message when a held SIGTERM asks the fit to end, else ``None``."""
        if not self.due():
            return None
        self.write(state)
        return f"SIGTERM: checkpoint written to {str(self.path)!r}" if self.terminate else None

    def write(self, state) -> None:
        tic = time.perf_counter()
        save_approximation(self.inference.approx, self.path, self.inference, self.run, state, self.data)
        self.last = time.monotonic()
        self.writes += 1
        self.seconds += time.perf_counter() - tic

    def __enter__(self):
        self._previous = None
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.getsignal(signal.SIGTERM)

            def hold(signum, frame):
                self.terminate = True

            signal.signal(signal.SIGTERM, hold)
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
        if self.terminate:
            signal.raise_signal(signal.SIGTERM)
        return False


def parse_interval(every: Any) -> float:
    """Validate ``checkpoint_every`` (seconds)."""
    if isinstance(every, bool) or not isinstance(every, (int, float, np.integer, np.floating)):
        raise TypeError(f"checkpoint_every must be a number of seconds, got {every!r}")
    if not every >= 0:
        raise ValueError(f"checkpoint_every must be a non-negative number of seconds, got {every}")
    return float(every)
