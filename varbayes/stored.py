"""Fit loops kept on disk as lowered programs, so that a new process does not trace them again.

JAX's persistent compilation cache (:func:`varbayes.config.set_compilation_cache`)
keeps XLA's executables, but finds one only after the program has been traced
to a jaxpr and lowered to StableHLO: for a fit's loop that takes longer than
loading the executable (0.15 of the 0.19 s the seed's Minibatch cell spends on
its loop in a new process). A :class:`StoredProgram` keeps the lowered loop
itself (:mod:`jax.export`) in the cache folder, under a key made of everything
that decides it:

* the caller's ``settings``: what its in-process cache of compiled loops is
  keyed by (the inference, the family, the optimizer's kind, ...), so they are
  complete by construction; ``None`` when they are not stable across processes
  (an optimizer object without a kind, graph nodes replaced by identity), and
  then nothing is kept;
* a ``fingerprint`` of what the loop computes that is not varbayes' code: a
  key of the model's graph before PyTensor rewrites it
  (:mod:`varbayes.compile.graph_key`), or, for a graph that cannot be keyed,
  the jaxpr of the log-density as the loop reads it (the model's arithmetic
  and constants, the minibatch drawing);
* the abstract arguments (pytree structure, shapes, dtypes);
* varbayes' source (a hash of its modules), the versions of JAX, jaxlib and
  the libraries whose code runs in the loops (optax, blackjax, flowjax,
  equinox, PyTensor, NumPy), the devices, JAX's flags and XLA's environment
  and options.

A stored program is called through ``jax.jit(exported.call)``, whose executable
JAX's cache then holds. What the store cannot export or read is compiled as
usual, never failed. The files are pickles (the output's pytree structure
beside the serialized program) and carry the trust of the cache folder.
varbayes' code is known by its files: a function of varbayes replaced while
a process runs (a patch for an experiment) is not seen, so run such
experiments with the cache off (``VARBAYES_COMPILATION_CACHE=0``) or in a
folder of their own (``VARBAYES_CACHE_DIR``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

__all__ = ["StoredProgram", "committed", "fingerprint_function", "fingerprint_logdensity", "store_dir", "stats"]

log = logging.getLogger("varbayes")

#: Bumped when the stored files' layout or the key's recipe changes.
FORMAT = "varbayes-stored-program-1"
#: Programs kept at most; the least recently used go first.
MAX_PROGRAMS = 512

_stats = {"hits": 0, "exports": 0, "failures": 0}


def stats() -> dict:
    """Counts of programs read from the store (``hits``), written (``exports``) and not storable (``failures``).

    Examples
    --------
    >>> sorted(stats())
    ['exports', 'failures', 'hits']
    """
    return dict(_stats)


def store_dir() -> Path | None:
    """The folder of stored programs: ``programs`` in the compilation cache's folder, ``None`` when the cache is off.

    Examples
    --------
    >>> import varbayes as pm
    >>> store_dir() is None or store_dir().parent == pm.config.compilation_cache_dir()
    True
    """
    from varbayes.config import compilation_cache_dir

    cache = compilation_cache_dir()
    # JAX's cache only ever lists its own "*-cache" files there, so a folder of ours is left alone
    return None if cache is None else cache / "programs"


def committed(tree):
    """``tree`` with its uncommitted JAX arrays committed to the device they are on.

    A jitted function is lowered (and its executable looked up) once per
    placement of its arguments: the loop's outputs are committed, so the
    values that meet them in the same programs are committed too.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> committed({"x": jnp.zeros(2)})["x"].committed
    True
    """
    import jax

    leaves, treedef = jax.tree_util.tree_flatten(tree)
    loose = [i for i, leaf in enumerate(leaves) if isinstance(leaf, jax.Array) and not leaf.committed]
    if loose:
        # one batched transfer: a device_put per leaf costs ~0.1 ms of Python each
        placed = jax.device_put([leaves[i] for i in loose], [leaves[i].sharding for i in loose])
        for i, leaf in zip(loose, placed):
            leaves[i] = leaf
    return jax.tree_util.tree_unflatten(treedef, leaves)


class StoredProgram:
    """``jitted`` (a ``jax.jit`` of a pure function), kept on disk per abstract signature of its arguments.

    Parameters
    ----------
    jitted : jax.jit-wrapped function
        The program; its undecorated function (``__wrapped__``) is what is exported.
    settings : tuple or None
        What decides the program besides ``fingerprint`` and the arguments'
        shapes (see the module's notes); ``None``: compile as usual, store nothing.
    fingerprint : callable
        ``fingerprint(*args) -> str``, called once per new signature.
    compiler_options : dict, optional
        XLA options ``jitted`` was compiled with; the stored program gets them too.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> double = StoredProgram(jax.jit(lambda x: 2 * x), ("double",), lambda x: "")
    >>> double(jnp.arange(3.0)).tolist()
    [0.0, 2.0, 4.0]
    """

    def __init__(self, jitted, settings: tuple | None, fingerprint: Callable[..., str], compiler_options=None):
        self.jitted, self.settings, self.fingerprint = jitted, settings, fingerprint
        self.compiler_options = compiler_options
        #: (callable of the leaves, output structure) per signature; None: use ``jitted``
        self._programs: dict = {}
        #: the same per (tree, avals) as objects: the signature's text costs more than a chunk's
        #: other Python work, and a fit calls its loop dozens of times
        self._seen: dict = {}

    def __call__(self, *args):
        folder = store_dir()
        if folder is None or self.settings is None:
            return self.jitted(*args)
        import jax

        leaves, in_tree = jax.tree_util.tree_flatten(args)
        # jax.typeof, not jnp.asarray: converting a Python number compiles a small program
        avals = [jax.typeof(leaf) for leaf in leaves]
        seen = (in_tree, tuple(avals))
        if seen in self._seen:
            program = self._seen[seen]
        else:
            signature = _signature(in_tree, avals)
            if signature not in self._programs:
                self._programs[signature] = self._program(folder, args, avals, in_tree, signature)
            program = self._seen[seen] = self._programs[signature]
        if program is None:
            return self.jitted(*args)
        call, out_tree = program
        # committed to their device, as the outputs fed back next time are: the stored program's
        # lowering names the arguments' placement, so uncommitted ones would compile it twice
        return jax.tree_util.tree_unflatten(out_tree, call(*committed(leaves)))

    def _program(self, folder: Path, args, avals, in_tree, signature):
        import jax

        try:
            fingerprint = self.fingerprint(*args)
        except Exception as error:  # noqa: BLE001 - the plain call then raises what the loop's tracing raises
            log.debug(f"not stored: no fingerprint ({type(error).__name__}: {error})")
            _stats["failures"] += 1
            return None
        parts = [FORMAT, _environment(), repr(self.settings), repr(self.compiler_options), fingerprint, repr(signature)]
        path = folder / hashlib.sha256("\n".join(parts).encode()).hexdigest()
        stored = _read(path)
        if stored is not None:
            exported, out_tree = stored
            _stats["hits"] += 1
        else:
            try:
                exported, out_tree = self._export(avals, in_tree)
                serialized = exported.serialize()
            except Exception as error:  # noqa: BLE001 - a program JAX cannot export is compiled as usual
                log.debug(f"not stored ({type(error).__name__}: {error})")
                _stats["failures"] += 1
                return None
            _write(folder, path, serialized, out_tree)
            _stats["exports"] += 1
        return jax.jit(exported.call, compiler_options=self.compiler_options), out_tree

    def _export(self, avals, in_tree):
        import jax

        run = self.jitted.__wrapped__
        out_tree = []

        def flat(*flat_args):
            out, tree = jax.tree_util.tree_flatten(run(*jax.tree_util.tree_unflatten(in_tree, flat_args)))
            out_tree.append(tree)
            return out

        shapes = [jax.ShapeDtypeStruct(aval.shape, aval.dtype, weak_type=aval.weak_type) for aval in avals]
        exported = jax.export.export(jax.jit(flat))(*shapes)
        return exported, out_tree[0]


def fingerprint_logdensity(logdensity_fn: Callable, batch_fn: Callable | None, ndim: int, dtype) -> Callable[..., str]:
    """``fingerprint(state, key, data, *rest) -> str`` of a fit loop's arguments: the log-density it reads, traced.

    A hash of the jaxpr of ``logdensity_fn(theta, batch_fn(key, data, 0))``
    (or of ``logdensity_fn(theta, data)``) at the shapes of ``data``, its text
    and the values of its constants (those of nested jaxprs too): the model's
    arithmetic and constants and the minibatch drawing. Tracing is cheaper than
    lowering (30 against 80 ms on the seed's Minibatch model in a new process).
    A function printed with its address makes every process's key new: such a
    loop is exported every time, and never found.

    Examples
    --------
    >>> import jax, jax.numpy as jnp, numpy as np
    >>> def fingerprint(center, data):
    ...     logdensity = lambda theta, data: -jnp.sum((theta - center) ** 2) + jnp.sum(data[0])
    ...     return fingerprint_logdensity(logdensity, None, 2, jnp.float64)(None, jax.random.key(0), data)
    >>> fingerprint(np.zeros(2), (jnp.zeros(3),)) == fingerprint(np.zeros(2), (jnp.ones(3),))  # data: arguments
    True
    >>> fingerprint(np.zeros(2), (jnp.zeros(3),)) == fingerprint(np.ones(2), (jnp.zeros(3),))  # constants: the program
    False
    """

    def target(theta, key, data):
        return logdensity_fn(theta, data if batch_fn is None else batch_fn(key, data, 0))

    digest = fingerprint_function(target, ndim, dtype)
    return lambda state, key, data, *rest: digest(key, data)


def fingerprint_function(fn: Callable, ndim: int, dtype) -> Callable[..., str]:
    """``digest(*args) -> str``: a hash of the jaxpr of ``fn(theta, *args)`` for a θ of ``ndim`` numbers, per shapes of ``args``.

    The text of the jaxpr and the values of its constants (those of nested
    jaxprs too): what ``fn`` computes, whatever Python objects it is made of.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> digest = fingerprint_function(lambda theta, x: jnp.sum(theta * x), 2, jnp.float64)
    >>> digest(jnp.ones(2)) == digest(jnp.zeros(2)), digest(jnp.ones(2)) == digest(jnp.ones((3, 2)))
    (True, False)
    """
    memo: dict = {}

    def digest(*args) -> str:
        import jax

        leaves, tree = jax.tree_util.tree_flatten(args)
        signature = _signature(tree, [jax.typeof(leaf) for leaf in leaves])
        if signature not in memo:
            memo[signature] = _jaxpr_digest(jax.make_jaxpr(fn)(jax.ShapeDtypeStruct((ndim,), dtype), *args))
        return memo[signature]

    return digest


def _jaxpr_digest(closed) -> str:
    """A hash of a closed jaxpr: its text (which names constants without their values) and every constant's value."""
    import numpy as np

    # the classes of the jaxpr at hand, not jax.extend.core's names: importing jax.extend
    # (12 ms) registers Pallas's flags in JAX's tracing context, so every function jitted
    # before would be traced and lowered again at its next call
    ClosedJaxpr, Jaxpr = type(closed), type(closed.jaxpr)
    digest = hashlib.sha256(str(closed).encode())

    def constants(jaxpr, consts=()):
        for const in consts:
            try:
                value = np.asarray(const)
            except TypeError:  # a PRNG key, say
                value = np.asarray(repr(const))
            digest.update(f"{value.dtype}{value.shape}".encode())
            digest.update(value.tobytes())
        for eqn in jaxpr.eqns:
            for param in eqn.params.values():
                for item in param if isinstance(param, (tuple, list)) else (param,):
                    if isinstance(item, ClosedJaxpr):
                        constants(item.jaxpr, item.consts)
                    elif isinstance(item, Jaxpr):
                        constants(item)

    constants(closed.jaxpr, closed.consts)
    return digest.hexdigest()


def _signature(tree, avals) -> tuple:
    """Arguments' abstract signature as text: pytree structure, then dtype, shape and weak type of each leaf."""
    return (str(tree), tuple((str(aval.dtype), tuple(aval.shape), bool(aval.weak_type)) for aval in avals))


def _environment() -> str:
    """What decides every program besides its own description: code versions, devices, JAX's flags (read each time)."""
    import jax
    import jaxlib

    devices = [(d.platform, d.device_kind) for d in jax.devices()]
    flags = sorted((name, repr(value)) for name, value in jax.config.values.items())
    return repr(
        (_source_hash(), _versions(), jax.__version__, jaxlib.__version__, devices, jax.process_count(), flags,
         os.environ.get("XLA_FLAGS", ""))
    )


#: Libraries whose code runs inside the loops (optimizers, samplers, flows, the log-density's translation)
_LIBRARIES = ("optax", "blackjax", "flowjax", "equinox", "pytensor", "numpy")


@lru_cache(maxsize=1)
def _versions() -> tuple:
    """The installed versions of :data:`_LIBRARIES`: an upgrade is other code."""
    from importlib.metadata import PackageNotFoundError, version

    def installed(name):
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    return tuple((name, installed(name)) for name in _LIBRARIES)


@lru_cache(maxsize=1)
def _source_hash() -> str:
    """A hash of varbayes' modules: a program stored by other code is never found."""
    source = hashlib.sha256()
    package = Path(__file__).parent
    for module in sorted(package.rglob("*.py")):
        source.update(module.relative_to(package).as_posix().encode())
        source.update(module.read_bytes())
    return source.hexdigest()


def _read(path: Path):
    """``(exported, out_tree)`` from ``path``, or ``None`` (absent, or unreadable: then removed)."""
    import jax

    try:
        blob = path.read_bytes()
    except OSError:
        return None
    try:
        serialized, out_tree = pickle.loads(blob)
        exported = jax.export.deserialize(serialized)
    except Exception as error:  # noqa: BLE001 - a truncated or foreign file is a miss, and goes
        log.debug(f"stored program {path.name} unreadable ({type(error).__name__}); exported again")
        path.unlink(missing_ok=True)
        return None
    os.utime(path)  # recently used
    return exported, out_tree


def _write(folder: Path, path: Path, serialized: bytes, out_tree) -> None:
    """Write atomically (a rename), then keep the :data:`MAX_PROGRAMS` most recently used; never fail a fit."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.partial")
        partial.write_bytes(pickle.dumps((serialized, out_tree)))
        os.replace(partial, path)
        files = sorted(folder.iterdir(), key=lambda p: p.stat().st_mtime)
        for old in files[: max(0, len(files) - MAX_PROGRAMS)]:
            old.unlink(missing_ok=True)
    except OSError as error:
        log.debug(f"could not store a program in {folder}: {error}")
