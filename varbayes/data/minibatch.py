"""``Minibatch``: a tensor whose every evaluation is a fresh random batch.

The batch is ``shared[idx_0, idx_1, ...]`` where each ``idx`` is a random
integer vector over one axis; evaluated with PyTensor, each index is a fresh
uniform draw. Each index variable carries a :class:`BatchIndex` tag and the
batch a :class:`BatchOf` tag, so :mod:`varbayes.compile` can replace the
batch by an input that the compiled fit step fills: the full data goes to
the device once, and each iteration reads its rows from epochs that visit
every row once (:mod:`varbayes.data.epochs`), in runs of consecutive rows of
a copy of the source shuffled once (:class:`ShuffledRows`).
"""

from __future__ import annotations

import copy
import mmap
from dataclasses import dataclass

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.compile.ops import view_op
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.basic import Apply, Variable
from pytensor.tensor.variable import TensorVariable

from varbayes.axes import axis_entries
from varbayes.config import default_seed
from varbayes.rng import advance_on_eval, shared_generator

__all__ = [
    "Minibatch",
    "BatchIndex",
    "BatchOf",
    "ShuffledRows",
    "is_minibatch",
    "batch_indices",
    "minibatch_batches",
]


@dataclass(frozen=True)
class BatchIndex:
    """Tag of a random index vector: ``size`` rows drawn uniformly from ``source``'s ``axis``.

    ``seed`` seeds the draws, and the order of :class:`ShuffledRows` copies.
    """

    source: SharedVariable
    axis: int
    size: int
    seed: int = 0


@dataclass(frozen=True)
class BatchOf:
    """Tag of a Minibatch's batch: ``source`` taken along ``indices``, ``((axis, index variable), ...)``.

    Minibatches made by one call share the index variable of their rows.
    """

    source: SharedVariable
    indices: tuple


def is_minibatch(var) -> bool:
    """Whether ``var`` is a Minibatch."""
    return isinstance(var, Minibatch)


def batch_indices(outputs) -> list[Variable]:
    """The minibatch index variables a graph depends on, in a stable order."""
    return _tagged(outputs, "batch_index")


def minibatch_batches(outputs) -> list[Variable]:
    """The Minibatch batches a graph depends on, in a stable order."""
    return _tagged(outputs, "batch_of")


def _tagged(outputs, tag: str) -> list[Variable]:
    from pytensor.graph.traversal import ancestors

    seen, found = set(), []
    for var in ancestors(list(outputs)):
        if getattr(var.tag, tag, None) is not None and id(var) not in seen:
            seen.add(id(var))
            found.append(var)
    return found


def _parse_batch_spec(batch_size, ndim: int, default_seed_value: int):
    """``[(axis, size, seed)]`` from the seed's batch_size forms."""
    axes = axis_entries(batch_size, ndim, "batch_size")
    out = []
    for axis, entry in axes:
        if entry is None:
            continue
        if isinstance(entry, tuple):
            if len(entry) != 2:
                raise ValueError(f"batch_size entries must be ints or (size, random_seed) pairs, got {entry!r}")
            size, seed = entry
        else:
            size, seed = entry, default_seed_value + axis
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
            raise TypeError(f"batch size on axis {axis} must be an int, got {size!r}")
        out.append((axis, int(size), int(seed)))
    return out


def _check_source(value: np.ndarray, name: str) -> None:
    if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
        raise ValueError(f"{name}: the minibatch source contains NaN or infinite values")


class Minibatch(TensorVariable):
    """Multidimensional minibatch that is a pure ``TensorVariable``.

    Parameters
    ----------
    data : ndarray
        The full data (kept in a shared variable, ``.shared``).
    *more_data : ndarray
        Further arrays batched with the same random rows (then a tuple of
        Minibatches is returned).
    batch_size : int or list
        ``int``: rows of the first axis. A list gives one entry per axis: an
        int, a ``(size, random_seed)`` pair, ``None`` (keep the axis whole),
        and at most one ``Ellipsis`` (entries after it align with the last axes).
    dtype : str, optional
        Cast the data (float data defaults to ``floatX``).
    name : str
        Name of the tensor.
    random_seed : int
        Seed of the index draws when the entry gives none.
    update_shared_f : callable, optional
        Returns new data for :meth:`update_shared`.
    in_memory_size : int or list, optional
        Keep only this slice of the data in the shared variable.

    Examples
    --------
    >>> import numpy as np, varbayes as pm
    >>> x = pm.Minibatch(np.random.rand(100, 100), batch_size=10)
    >>> x.eval().shape
    (10, 100)
    >>> x = pm.Minibatch(np.random.rand(100, 100), batch_size=[10, 10])
    >>> x.eval().shape
    (10, 10)
    """

    def __new__(cls, data, *more_data, **kwargs):
        if more_data and all(_is_array(a) for a in more_data):
            return _joint_minibatches((data, *more_data), **kwargs)
        return super().__new__(cls)

    def __init__(
        self,
        data,
        batch_size=128,
        dtype=None,
        broadcastable=None,
        name: str = "Minibatch",
        random_seed: int = 42,
        update_shared_f=None,
        in_memory_size=None,
        *,
        _indices=None,
    ):
        self.streaming = _is_out_of_core(data)
        if self.streaming:
            # Data larger than memory: keep a window of rows in memory and
            # move it to a random place of the source between compiled chunks.
            self.source = data
            rows = int(in_memory_size) if isinstance(in_memory_size, (int, np.integer)) else _DEFAULT_WINDOW
            self.window_rows = min(rows, data.shape[0])
            self._window_rng = np.random.default_rng(default_seed(random_seed))
            in_memory_size = self.window_rows
        value, own = self._as_array(data, dtype, in_memory_size)
        _check_source(value, name)
        self.in_memory_size = in_memory_size
        self.update_shared_f = update_shared_f
        self._checks: list = []
        # one copy of the source at most: the conversion's own, else ours, so that the caller's
        # array is never aliased
        self.shared = pytensor.shared(value if own else _copy(value), name=f"{name}_shared", borrow=True)
        self.shared.tag.minibatch = self
        if _indices is None:
            _indices = _make_indices(self.shared, value.shape, batch_size, random_seed)
        self._indices = _indices
        self.batch_size = batch_size
        batch = self.shared
        for axis, idx in _indices:  # one axis at a time: outer, not numpy's joint, indexing
            batch = pt.take(batch, idx, axis=axis)
        # No static shapes: replacements such as {x: test_data} or
        # {x.minibatch: x.shared} may have any length.
        self.minibatch = _without_static_shape(batch, f"{name}_batch")
        self.minibatch.tag.batch_of = BatchOf(self.shared, tuple(_indices))
        super().__init__(self.minibatch.type, None, None, name=name)
        Apply(view_op, [self.minibatch], [self])

    def _as_array(self, data, dtype, in_memory_size) -> tuple[np.ndarray, bool]:
        """The source as an array of ``dtype`` (floats: ``floatX``), and whether it is a fresh copy."""
        if isinstance(data, SharedVariable):
            data = data.get_value()
        value = np.asarray(data)
        if in_memory_size is not None:
            sizes = in_memory_size if isinstance(in_memory_size, (list, tuple)) else [in_memory_size]
            slices = tuple(s if isinstance(s, slice) or s is Ellipsis else slice(0, int(s)) for s in sizes)
            value = value[slices]
        target = dtype if dtype is not None else (pytensor.config.floatX if value.dtype.kind == "f" else None)
        if target is None:
            return value, False
        converted = value.astype(target, copy=False)
        return converted, converted is not value

    # ------------------------------------------------------------- updating
    def add_check(self, check) -> None:
        """Run ``check(rows)`` on new rows before they replace the current ones.

        An observed variable registers the check of its distribution's
        support here; ``check`` raises to refuse the rows.
        """
        self._checks.append(check)

    def _run_checks(self, value: np.ndarray) -> None:
        for check in self._checks:
            check(value)

    def set_value(self, value) -> None:
        """Replace the source data (same number of dimensions)."""
        value = np.asarray(value)
        old = self.shared.get_value()
        if value.ndim != old.ndim:
            raise ValueError(f"{self.name}: new data has {value.ndim} dimensions, the source has {old.ndim}")
        if in_memory := self.in_memory_size:
            value, _ = self._as_array(value, old.dtype, in_memory)
        _check_source(value, str(self.name))
        try:
            self._run_checks(value)
        except (ValueError, TypeError) as err:
            message = f"{self.name}: the new data is refused (the current data is kept): {err}"
            raise type(err)(message) from None
        for axis, idx in self._indices:
            size = idx.tag.batch_index.size
            if size > value.shape[axis]:
                raise ValueError(
                    f"{self.name}: batch size {size} is larger than axis {axis} of the new data ({value.shape[axis]})"
                )
        self.shared.set_value(value.astype(old.dtype), borrow=True)  # astype made the copy

    def refresh_window(self) -> None:
        """Load a random circular block of ``window_rows`` rows of the source.

        Each row of the source is in the window with the same probability, so
        uniform batches from the window are uniform batches of the source and
        ``total_size`` scaling stays unbiased.
        """
        if not self.streaming:
            return
        n = self.source.shape[0]
        start = int(self._window_rng.integers(n))
        stop = start + self.window_rows
        if stop <= n:
            block = np.asarray(self.source[start:stop])
        else:
            block = np.concatenate([np.asarray(self.source[start:]), np.asarray(self.source[: stop - n])])
        old = self.shared.get_value(borrow=True)
        block = block.astype(old.dtype)
        _check_source(block, str(self.name))
        try:
            self._run_checks(block)
        except (ValueError, TypeError) as err:
            # the rows already in memory stay: the fit never sees the refused window
            raise type(err)(
                f"{self.name}: the window of {self.window_rows} rows from row {start} of the source "
                f"(wrapping around at its end) is refused, the rows in memory are kept; an index below "
                f"counts within the window: {err}"
            ) from None
        self.shared.set_value(block, borrow=True)

    def update_shared(self) -> None:
        """Load new data from ``update_shared_f``."""
        if self.update_shared_f is None:
            raise RuntimeError(f"{self.name}: no update_shared_f was given")
        self.set_value(np.asarray(self.update_shared_f()))

    def clone(self, **kwargs):
        # Graph rewrites clone outputs without their owner; a plain TensorVariable
        # serves, since the batch itself lives in the owner's input.
        cp = TensorVariable(self.type, None, None, name=self.name)
        cp.tag = copy.copy(self.tag)
        return cp


_DEFAULT_WINDOW = 65536


class ShuffledRows:
    """The value of a Minibatch's source with its rows in a fixed pseudo-random order: a copy made on demand.

    A compiled fit reads its batches as runs of consecutive rows of this
    copy (:func:`varbayes.data.epochs.stream_rows` with ``block > 1``);
    shuffled, a run is a random group of rows whatever the order of the
    source (sorted by group or by time, say). The order depends only on
    ``seed`` and the number of rows, so Minibatches that share their rows
    read the same rows of their copies. It stands where a shared variable
    would in the data of a log-density (``get_value(borrow=True)``, ``name``),
    and makes a new copy when the source holds a new array (``set_value``);
    an array changed in place is not seen (as for PyTensor's ``borrow``).

    Examples
    --------
    >>> import numpy as np, pytensor
    >>> source = pytensor.shared(np.arange(6.0)[:, None])
    >>> copy = ShuffledRows(source, seed=1)
    >>> sorted(copy.get_value(borrow=True)[:, 0].tolist())
    [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    """

    def __init__(self, source: SharedVariable, seed: int):
        self.source, self.seed = source, seed
        self.name = f"{source.name}_shuffled"
        self._of, self._copy = None, None

    def order(self, n: int) -> np.ndarray:
        """The source row at each row of the copy."""
        return np.random.default_rng((self.seed, n)).permutation(n)

    def get_value(self, borrow: bool = False):
        """The copy, a JAX array (``borrow=False``: a numpy copy of it)."""
        value = self.source.get_value(borrow=True)
        if value is not self._of:
            self._copy, self._of = _shuffled_on_device(value, self.order(len(value))), value
        return self._copy if borrow else np.array(self._copy)


def _shuffled_on_device(value: np.ndarray, order: np.ndarray):
    """``value[order]`` as a JAX array, made without a second copy on the CPU.

    On the CPU the rows are gathered into a buffer of :func:`_new_array` that
    the JAX array then shares (DLPack; nothing else holds the buffer), which
    saves copying it again.
    """
    import jax

    if jax.default_backend() == "cpu":
        out = _new_array(value.shape, value.dtype)
        np.take(value, order, axis=0, out=out, mode="clip")  # "clip": no buffering ("raise" would copy)
        try:
            return jax.dlpack.from_dlpack(out)
        except (TypeError, ValueError, RuntimeError):  # a dtype or layout DLPack refuses
            return jax.numpy.asarray(out)
    return jax.numpy.asarray(np.take(value, order, axis=0))


def _copy(value: np.ndarray) -> np.ndarray:
    """A C-ordered copy of ``value`` in a buffer of :func:`_new_array`."""
    out = _new_array(value.shape, value.dtype)
    np.copyto(out, value)
    return out


#: Arrays from this many bytes get their memory mapped with its pages already in
POPULATE_MIN_BYTES = 1 << 22


def _new_array(shape: tuple, dtype) -> np.ndarray:
    """An uninitialised C-ordered array whose data starts at a multiple of 64 bytes (a page, when mapped).

    A large one is mapped with its pages already in (Linux's ``MAP_POPULATE``):
    a fresh buffer otherwise takes a page fault per 4 KiB on its first
    writing, which cost 60-70 ms of a new process's 32 MB source copy here
    (12 ms populated), unless the kernel happened to give huge pages.
    """
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    populate = getattr(mmap, "MAP_POPULATE", None)
    if populate is not None and nbytes >= POPULATE_MIN_BYTES:
        try:
            buffer = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | populate)
            return np.frombuffer(buffer, dtype=dtype).reshape(shape)
        except OSError:  # no memory to map: numpy's allocation will say so in its own words
            pass
    raw = np.empty(nbytes + 64, np.uint8)
    start = -raw.ctypes.data % 64
    return raw[start : start + nbytes].view(dtype).reshape(shape)


def shuffled_rows(source: SharedVariable, seed: int) -> ShuffledRows:
    """The :class:`ShuffledRows` of ``source`` (one per source, so that its copy is made once)."""
    copy = getattr(source.tag, "shuffled_rows", None)
    if copy is None or copy.seed != seed:
        copy = source.tag.shuffled_rows = ShuffledRows(source, seed)
    return copy


def _is_out_of_core(data) -> bool:
    """A memmap or another row-indexable array-like that is not an in-memory array."""
    if isinstance(data, np.memmap):
        return True
    return not isinstance(data, (np.ndarray, SharedVariable, list, tuple)) and hasattr(data, "shape") and hasattr(
        data, "__getitem__"
    ) and not hasattr(data, "__array_priority__")


def _is_array(value) -> bool:
    """Arrays are data; a list such as ``[2, Ellipsis, 10]`` is a batch spec."""
    return isinstance(value, SharedVariable) or hasattr(value, "shape")


def _without_static_shape(var, name: str) -> TensorVariable:
    out = TensorVariable(var.type.clone(shape=(None,) * var.ndim), None, None, name=name)
    Apply(view_op, [var], [out])
    return out


def _make_indices(shared, shape, batch_size, random_seed):
    indices = []
    for axis, size, seed in _parse_batch_spec(batch_size, len(shape), default_seed(random_seed)):
        if size < 1:
            raise ValueError(f"batch size on axis {axis} must be positive, got {size}")
        if size > shape[axis]:
            raise ValueError(f"batch size {size} is larger than axis {axis} of the data ({shape[axis]})")
        rng = shared_generator(seed)
        next_rng, idx = pt.random.integers(0, shared.shape[axis], size=(size,), rng=rng, return_next_rng=True)
        advance_on_eval(rng, next_rng)
        idx.tag.batch_index = BatchIndex(shared, axis, size, seed)
        indices.append((axis, idx))
    return indices


def _joint_minibatches(arrays, batch_size=128, random_seed: int = 42, **kwargs):
    """Minibatches of several arrays that share the same random rows."""
    shapes = [np.shape(a.get_value() if isinstance(a, SharedVariable) else a) for a in arrays]
    n = shapes[0][0]
    if any(s[0] != n for s in shapes):
        raise ValueError(f"arrays batched together need the same number of rows, got {[s[0] for s in shapes]}")
    if not isinstance(batch_size, (int, np.integer)):
        raise TypeError("Minibatch of several arrays takes an int batch_size (rows)")
    if any(_is_out_of_core(a) for a in arrays):
        raise ValueError(
            "several out-of-core arrays cannot be batched together (their windows would not align); "
            "stack them into one memmap and split the batch"
        )
    first = Minibatch(arrays[0], batch_size=batch_size, random_seed=random_seed, **kwargs)
    rows = [ix for ix in first._indices if ix[0] == 0]
    out = [first]
    for a in arrays[1:]:
        mb = object.__new__(Minibatch)
        mb.__init__(a, batch_size=batch_size, random_seed=random_seed, _indices=[rows[0]], **kwargs)
        out.append(mb)
    return tuple(out)
