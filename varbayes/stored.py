"""Fit loops kept on disk as compiled programs, so that a new process neither traces nor lowers them.

JAX's persistent compilation cache (:func:`varbayes.config.set_compilation_cache`)
keeps XLA's executables, but finds one only after the program has been traced
to a jaxpr and lowered to StableHLO: for a fit's loop that takes about as long
as loading the executable, and each small program around the loop (the
family's first parameters, the optimizer's init, the maps to whitened
coordinates) costs a new process as much again, for a few kilobytes of code.
A :class:`StoredProgram` keeps the compiled program itself
(:mod:`jax.experimental.serialize_executable`) in the cache folder, under a key
made of everything that decides it:

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
* the arguments' pytree structure, shapes, dtypes and placements;
* varbayes' source (a hash of its modules), the versions of JAX, jaxlib and
  the libraries whose code runs in the loops (optax, blackjax, flowjax,
  equinox, PyTensor, NumPy), the devices, JAX's flags and XLA's environment
  and options.

An executable is machine code for the devices (and the CPU) that compiled it,
as the entries of JAX's own cache are: the folder belongs to one machine. The
store writes only executables it compiled itself: one that JAX read from its
own cache cannot be serialized again. When JAX's cache holds a program the
store lacks (after an edit of varbayes, which changes every key and few
computations), that executable serves the process, and the next process
that needs the program compiles and stores it. A program that calls back
into Python, or that JAX cannot serialize, is compiled as usual (JAX's cache
then holds it), never failed. The files are pickles and carry the trust of
the cache folder. varbayes' code is known by its files: a function of
varbayes replaced while a process runs (a patch for an experiment) is not
seen, so run such experiments with the cache off
(``VARBAYES_COMPILATION_CACHE=0``) or in a folder of their own
(``VARBAYES_CACHE_DIR``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import uuid
import zlib
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

__all__ = ["StoredProgram", "committed", "fingerprint_function", "fingerprint_logdensity", "store_dir", "stats"]

log = logging.getLogger("varbayes")

#: Bumped when the stored files' layout or the key's recipe changes.
FORMAT = "varbayes-stored-program-2"
#: Bytes of stored programs kept at most (compressed: ~80 kB for a fit's loop, a few kB for the
#: programs around it); the least recently used go first. A program whose file has gone costs
#: the next process a whole compilation (JAX's cache cannot stand in), so the bound is generous.
MAX_BYTES = 1024**3

_stats = {"hits": 0, "writes": 0, "deferred": 0, "failures": 0}


def stats() -> dict:
    """Counts of programs read from the store (``hits``), written (``writes``), not storable (``failures``),
    and served by JAX's cache, to be stored when a process needs them again (``deferred``).

    Examples
    --------
    >>> sorted(stats())
    ['deferred', 'failures', 'hits', 'writes']
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
    """``jitted`` (a ``jax.jit`` of a pure function), kept on disk compiled per abstract signature of its arguments.

    Parameters
    ----------
    jitted : jax.jit-wrapped function
        The program; its undecorated function (``__wrapped__``) is what is compiled
        and stored, without ``jitted``'s other options (donation, static arguments).
    settings : tuple or None
        What decides the program besides ``fingerprint`` and the arguments'
        shapes (see the module's notes); ``None``: compile as usual, store nothing.
    fingerprint : callable, optional
        ``fingerprint(*args) -> str``, called once per new signature; by default
        the program reads nothing but its arguments and varbayes' code.
    compiler_options : dict, optional
        XLA options ``jitted`` was compiled with; the stored program gets them too.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> double = StoredProgram(jax.jit(lambda x: 2 * x), ("double",))
    >>> double(jnp.arange(3.0)).tolist()
    [0.0, 2.0, 4.0]
    """

    def __init__(self, jitted, settings: tuple | None, fingerprint: Callable[..., str] | None = None,
                 compiler_options=None):
        self.jitted, self.settings = jitted, settings
        self.fingerprint = _reads_only_its_arguments if fingerprint is None else fingerprint
        self.compiler_options = compiler_options
        #: the compiled program per signature; None: use ``jitted``
        self._programs: dict = {}
        #: the same per (tree, avals, placements) as objects: the signature's text costs more
        #: than a chunk's other Python work, and a fit calls its loop dozens of times
        self._seen: dict = {}

    def __call__(self, *args):
        folder = store_dir()
        if folder is None or self.settings is None:
            return self.jitted(*args)
        import jax

        leaves, in_tree = jax.tree_util.tree_flatten(args)
        # jax.typeof, not jnp.asarray: converting a Python number compiles a small program
        avals = tuple(jax.typeof(leaf) for leaf in leaves)
        # an executable is compiled for the devices its arguments are on
        placements = tuple(getattr(leaf, "sharding", None) for leaf in leaves)
        seen = (in_tree, avals, placements)
        if seen in self._seen:
            program = self._seen[seen]
        else:
            signature = _signature(in_tree, avals, placements)
            if signature not in self._programs:
                self._programs[signature] = self._program(folder, args, signature)
            program = self._seen[seen] = self._programs[signature]
        if program is None:
            return self.jitted(*args)
        # committed to their device, as the outputs fed back next time are, and as the
        # program was compiled with them
        return program(*committed(args))

    def _program(self, folder: Path, args, signature):
        if not _kernels_ready():
            return None
        try:
            fingerprint = self.fingerprint(*args)
        except Exception as error:  # noqa: BLE001 - the plain call then raises what the loop's tracing raises
            log.debug(f"not stored: no fingerprint ({type(error).__name__}: {error})")
            _stats["failures"] += 1
            return None
        parts = [FORMAT, _environment(), repr(self.settings), repr(self.compiler_options), fingerprint, repr(signature)]
        digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()
        path = folder / digest
        compiled = _read(path)
        if compiled is not None:
            _stats["hits"] += 1
            return compiled
        pending = path.with_suffix(".pending")
        try:
            compiled, found = self._compile_as(args, "varbayes_stored")
            if found and _marked_by_another_process(pending):
                # a second process needs it: compiled afresh, under a name no cache holds, to be stored
                compiled, found = self._compile_as(args, f"varbayes_stored_{uuid.uuid4().hex[:12]}")
        except Exception as error:  # noqa: BLE001 - the plain call then raises what tracing raises
            log.debug(f"not stored ({type(error).__name__}: {error})")
            _stats["failures"] += 1
            return None
        if found:
            _stats["deferred"] += 1
            if not pending.exists():
                _write(folder, pending, str(os.getpid()).encode())
            return compiled
        serialized = _serialize(compiled)
        if serialized is None:
            _stats["failures"] += 1
        else:
            _write(folder, path, zlib.compress(serialized))
            pending.unlink(missing_ok=True)
            _stats["writes"] += 1
        return compiled

    def _compile_as(self, args, name: str):
        """``(compiled, found)``: ``jitted``'s function compiled for ``args`` as ``name``; ``found``: from JAX's cache.

        An executable JAX reads from its persistent cache cannot be serialized
        again (XLA's CPU executables lose their kernels' code on the way: the
        copy fails when run). JAX's cache holds a program when a process
        compiled the same computation before: this very program, whose stored
        file has gone since (the store keeps :data:`MAX_BYTES`), or the same
        program under an earlier varbayes source (the store's key changes with
        every edit of varbayes; the computation mostly does not). That
        executable serves the process at once, and the program is stored when
        a process needs it again, compiled afresh: an edit of varbayes then
        costs the next process no compilation, and the one after a
        compilation per program.
        """
        import jax

        run = self.jitted.__wrapped__

        def program(*args):
            return run(*args)

        program.__name__ = program.__qualname__ = name
        hits = _cache_hits()
        compiled = jax.jit(program, compiler_options=self.compiler_options).lower(*committed(args)).compile()
        return compiled, _cache_hits() != hits


def _marked_by_another_process(pending: Path) -> bool:
    """Whether ``pending`` (the mark of a deferred program) was written by another process."""
    try:
        return pending.read_text() != str(os.getpid())
    except (OSError, ValueError):
        return False


def _reads_only_its_arguments(*args) -> str:
    return ""


#: executables JAX has read from its persistent cache since :func:`_cache_hits` was first called
_jax_cache_hits = 0
_counting = False


def _count_cache_hit(event: str, **kwargs) -> None:
    global _jax_cache_hits
    if event == "/jax/compilation_cache/cache_hits":
        _jax_cache_hits += 1


def _cache_hits() -> int:
    """Executables JAX has read from its persistent cache so far (counted from the first call on)."""
    global _counting
    if not _counting:
        import jax

        jax.monitoring.register_event_listener(_count_cache_hit)
        _counting = True
    return _jax_cache_hits


@lru_cache(maxsize=1)
def _kernels_ready() -> bool:
    """Set up the kernels a loaded executable may call; ``False`` when that cannot be done (then nothing is stored).

    jaxlib points XLA at LAPACK (Cholesky factors, triangular solves on the
    CPU) the first time it lowers such an operation; an executable read from
    disk was never lowered in this process, and would call through null
    pointers. JAX's own cache is safe only because it lowers first.
    """
    try:
        from jaxlib import lapack

        lapack._lapack.initialize()
    except (ImportError, AttributeError) as error:
        log.debug(f"stored programs off: LAPACK kernels cannot be set up ({error})")
        return False
    try:  # GPU builds: the solvers that run partly on the host
        from jaxlib import gpu_solver

        gpu_solver.initialize_hybrid_kernels()
    except (ImportError, AttributeError):
        pass
    return True


def _serialize(compiled) -> bytes | None:
    """``compiled`` as bytes to store, or ``None`` when it cannot be kept (it calls back into Python, say)."""
    from jax.experimental import serialize_executable

    unloaded = getattr(getattr(compiled, "_executable", None), "_unloaded_executable", None)
    # a callback's address is only valid in this process
    process_bound = ("host_callbacks", "keepalive", "ordered_effects", "unordered_effects")
    if unloaded is None or any(getattr(unloaded, name, True) for name in process_bound):
        return None
    try:
        # the devices it runs on: a loaded executable runs on those it is given
        devices = [device.id for device in unloaded.device_list]
        return pickle.dumps((*serialize_executable.serialize(compiled), devices))
    except Exception as error:  # noqa: BLE001 - a program JAX cannot serialize is compiled as usual
        log.debug(f"not stored ({type(error).__name__}: {error})")
        return None


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


def _signature(tree, avals, placements=None) -> tuple:
    """Arguments' abstract signature as text: pytree structure, then dtype, shape and weak type of each leaf.

    With ``placements`` (each leaf's sharding, ``None`` for a host value), each leaf's placement too.
    """
    leaves = tuple((str(aval.dtype), tuple(aval.shape), bool(aval.weak_type)) for aval in avals)
    return (str(tree), leaves) if placements is None else (str(tree), leaves, tuple(map(repr, placements)))


def _environment() -> str:
    """What decides every program besides its own description: code versions, devices, JAX's flags (read each time)."""
    import jax
    import jaxlib

    devices = [(d.platform, d.device_kind) for d in jax.devices()]
    flags = sorted((name, repr(value)) for name, value in jax.config.values.items())
    return repr(
        (_source_hash(), _versions(), jax.__version__, jaxlib.__version__, devices, jax.process_count(), flags,
         os.environ.get("XLA_FLAGS", ""), _machine())
    )


@lru_cache(maxsize=1)
def _machine() -> tuple:
    """What the executables are compiled for besides the devices' kind, as JAX's own cache keys it."""
    import jax

    client = jax.devices()[0].client
    try:  # the devices' topology (on the CPU, the host's)
        from jax._src.lib import xla_client

        topology = xla_client.get_topology_for_devices(jax.devices()).fingerprint()
    except Exception:  # noqa: BLE001 - a backend without one is known by its platform's version
        topology = None
    return client.platform_version, topology


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
    """The compiled program stored at ``path``, or ``None`` (absent, or unreadable: then removed)."""
    import jax
    from jax.experimental import serialize_executable

    try:
        blob = path.read_bytes()
    except OSError:
        return None
    try:
        serialized, in_tree, out_tree, device_ids = pickle.loads(zlib.decompress(blob))
        by_id = {device.id: device for device in jax.devices()}
        devices = [by_id[i] for i in device_ids]
        compiled = serialize_executable.deserialize_and_load(
            serialized, in_tree, out_tree, execution_devices=devices
        )
    except Exception as error:  # noqa: BLE001 - a truncated or foreign file is a miss, and goes
        log.debug(f"stored program {path.name} unreadable ({type(error).__name__}); compiled again")
        path.unlink(missing_ok=True)
        return None
    os.utime(path)  # recently used
    return compiled


def _write(folder: Path, path: Path, content: bytes) -> None:
    """Write atomically (a rename), keep the most recently used within :data:`MAX_BYTES`; never fail a fit.

    Each file counts at least a disk block, so that the empty marks of
    deferred programs are bounded too.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.partial")
        partial.write_bytes(content)
        os.replace(partial, path)
        files = sorted(((p.stat(), p) for p in folder.iterdir()), key=lambda item: -item[0].st_mtime)
        kept = 0
        for stat, file in files:
            kept += max(stat.st_size, 4096)
            if kept > MAX_BYTES and file != path:
                file.unlink(missing_ok=True)
    except OSError as error:
        log.debug(f"could not store a program in {folder}: {error}")
