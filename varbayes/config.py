"""Global settings: the float type, the default random seed, the devices of a fit, the on-disk cache of compiled programs."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytensor

__all__ = [
    "floatX",
    "set_seed",
    "set_tt_rng",
    "default_seed",
    "next_seed",
    "set_devices",
    "default_devices",
    "compilation_cache_dir",
    "set_compilation_cache",
]

_rng = np.random.default_rng()


def floatX(x):
    """Cast ``x`` to PyTensor's float type (``pytensor.config.floatX``).

    Examples
    --------
    >>> import varbayes as pm
    >>> pm.floatX([0.2, 0.8]).dtype
    dtype('float64')
    """
    if hasattr(x, "astype") and not isinstance(x, np.ndarray) and hasattr(x, "type"):
        return x.astype(pytensor.config.floatX)
    return np.asarray(x, dtype=pytensor.config.floatX)


def set_seed(seed: int | None) -> None:
    """Set the default seed used when an entry point gets no ``random_seed``.

    Examples
    --------
    >>> import varbayes as pm
    >>> pm.set_seed(42)
    """
    global _rng
    _rng = np.random.default_rng(_check_seed(seed))


#: PyMC3's name for :func:`set_seed`.
set_tt_rng = set_seed


def next_seed() -> int:
    """Draw a fresh integer seed from the global generator."""
    return int(_rng.integers(0, 2**31 - 1))


def default_seed(random_seed: int | None) -> int:
    """``random_seed`` itself, or a fresh one from the global generator."""
    if random_seed is None:
        return next_seed()
    return _check_seed(random_seed)


def _check_seed(seed):
    if seed is None:
        return None
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"random_seed must be an integer or None, got {seed!r}")
    if seed < 0:
        raise ValueError(f"random_seed must be a non-negative integer, got {seed}")
    return int(seed)


# ------------------------------------------------------------------- devices
_devices = None


def set_devices(devices=None) -> None:
    """Set the devices a fit or ``pm.sample`` runs on when it gets no ``devices=``.

    Parameters
    ----------
    devices : int, sequence of jax devices, or None
        An int ``k``: the first ``k`` of ``jax.devices()``; a sequence: those
        devices; ``None``: one device (the default). The data's rows are then
        split over the devices (see :mod:`varbayes.parallel`).

    Examples
    --------
    >>> import varbayes as pm
    >>> pm.config.set_devices(1)
    >>> pm.config.default_devices()
    1
    >>> pm.config.set_devices(None)
    """
    global _devices
    if devices is not None:
        from varbayes.parallel import resolve_devices

        resolve_devices(devices)  # fail here, where the setting is written
    _devices = devices


def default_devices():
    """The devices of :func:`set_devices` (``None``: one device)."""
    return _devices


# ------------------------------------------------------------ compilation cache
#: Every program is kept: a fit compiles dozens of small ones whose compile times add up.
_CACHE_MIN_COMPILE_SECONDS = 0.0
#: The cache's size on disk, at most.
_CACHE_MAX_BYTES = 2 * 1024**3


def _default_cache_dir() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("varbayes")) / "jax"


def compilation_cache_dir() -> Path | None:
    """The folder where compiled programs are kept between processes, or ``None`` when off.

    Examples
    --------
    >>> import varbayes as pm
    >>> pm.config.compilation_cache_dir() is None or pm.config.compilation_cache_dir().name == "jax"
    True
    """
    import jax

    value = jax.config.jax_compilation_cache_dir
    return None if not value or not jax.config.jax_enable_compilation_cache else Path(value)


def set_compilation_cache(path: str | os.PathLike | None | bool = True) -> None:
    """Keep compiled programs on disk, so that a new process running the same fits compiles nothing.

    On by default, in the user's cache folder (``~/.cache/varbayes/jax`` on
    Linux); the environment variable ``VARBAYES_CACHE_DIR`` moves it and
    ``VARBAYES_COMPILATION_CACHE=0`` turns it off. This is JAX's persistent
    compilation cache: a program is found by its computation and shapes, not
    by the model's Python objects. The fit loops and the small programs
    around them are kept compiled in its ``programs`` folder
    (:mod:`varbayes.stored`), so that a new process does not trace nor lower
    them either. A new setting holds from the next compilation on, in this
    process too.

    Parameters
    ----------
    path : path, True or None
        A folder; ``True`` for the default folder; ``None`` or ``False`` to turn the cache off.

    Examples
    --------
    >>> import varbayes as pm
    >>> pm.config.set_compilation_cache(None)
    >>> pm.config.compilation_cache_dir() is None
    True
    >>> pm.config.set_compilation_cache(True)
    """
    import jax
    from jax.experimental.compilation_cache import compilation_cache

    # JAX opens its cache once per process, at the first compilation: a reset makes the new
    # setting hold in this process too (the stored programs follow the folder as well)
    compilation_cache.reset_cache()
    if path is None or path is False:
        jax.config.update("jax_enable_compilation_cache", False)
        return
    folder = _default_cache_dir() if path is True else Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ValueError(f"cannot use {str(folder)!r} as the compilation cache: {error}") from None
    jax.config.update("jax_enable_compilation_cache", True)
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", _CACHE_MIN_COMPILE_SECONDS)
    # the least recently used programs go first beyond this size
    jax.config.update("jax_compilation_cache_max_size", _CACHE_MAX_BYTES)


def _compilation_cache_from_environment() -> None:
    """Turn the cache on at import, unless the environment says otherwise; never fail an import."""
    if os.environ.get("VARBAYES_COMPILATION_CACHE", "1").strip().lower() in ("0", "false", "no", "off"):
        return
    if os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return  # the user configured JAX's cache directly
    try:
        set_compilation_cache(os.environ.get("VARBAYES_CACHE_DIR") or True)
    except (ValueError, ImportError):
        pass  # a read-only home or no platformdirs: run without the disk cache


def _pytensor_eval_linker() -> None:
    """Let PyTensor evaluate ``.eval()`` and predictive graphs with its Python kernels.

    varbayes runs every inference loop in JAX; PyTensor itself evaluates only
    small expressions (``sample_node(...).eval()``, Tracker callables, initial
    points, forward draws). Its default linker compiles each new function
    with Numba, which costs about a second on first use in a process, where
    the Python kernels (numpy, after PyTensor's rewrites) start in
    milliseconds and run such expressions within a fraction of a millisecond.
    Applied only when the user chose neither a linker nor a mode
    (``PYTENSOR_FLAGS``); ``VARBAYES_PYTENSOR_LINKER=auto`` keeps PyTensor's default.
    """
    chosen = os.environ.get("VARBAYES_PYTENSOR_LINKER", "py").strip()
    flags = os.environ.get("PYTENSOR_FLAGS", "")
    if chosen == "auto" or "linker" in flags or "mode" in flags:
        return
    if pytensor.config.linker == "auto" and pytensor.config.mode == "Mode":
        pytensor.config.linker = chosen


@lru_cache(maxsize=1)
def quick_eval_mode():
    """The PyTensor mode of the one-off evaluations varbayes makes itself.

    Initial points, static shapes, constant data and transforms of a trace
    are small graphs evaluated once: PyTensor's Python kernels without graph
    rewrites run them at once, where compiling (C or Numba) costs more than
    the evaluation by orders of magnitude.

    Examples
    --------
    >>> import pytensor, pytensor.tensor as pt
    >>> from varbayes.config import quick_eval_mode
    >>> float(pytensor.function([], pt.exp(pt.constant(0.0)), mode=quick_eval_mode())())
    1.0
    """
    from pytensor.compile.mode import Mode

    return Mode(linker="py", optimizer=None)
