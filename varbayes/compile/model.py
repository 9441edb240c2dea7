"""Compile a model to pure JAX: the log-density over θ and expressions of θ."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.basic import Constant, Variable
from pytensor.graph.replace import clone_replace
from pytensor.graph.traversal import graph_inputs
from pytensor.tensor.random.type import RandomType

from varbayes.compile.graph_key import graph_key
from varbayes.compile.jaxify import jaxify
from varbayes.data.minibatch import batch_indices, minibatch_batches
from varbayes.compile.ravel import Ravel, VarLayout

__all__ = ["BatchDraw", "CompiledModel", "Stream", "JaxFunction", "build_function", "compile_logdensity", "compile_model"]


def device_values(data_vars) -> tuple:
    """The current values of shared variables, on the device.

    ``device_put``, not ``jnp.asarray``, which compiles a small program per
    new shape in a new process.

    Examples
    --------
    >>> import numpy as np, pytensor
    >>> device_values([pytensor.shared(np.arange(3.0))])[0].tolist()
    [0.0, 1.0, 2.0]
    """
    return tuple(jax.device_put(v.get_value(borrow=True)) for v in data_vars)


@dataclass(frozen=True)
class JaxFunction:
    """A pure JAX function ``fn(theta, data)`` and the shared variables ``data`` holds.

    ``data`` is a tuple of arrays aligned with ``data_vars``; ``data()`` reads
    their current values, so ``set_value`` on a shared variable is seen by the
    next call without recompiling.
    """

    fn: Callable
    data_vars: tuple[SharedVariable, ...]
    output_names: tuple[str, ...] = ()
    #: ``batch_fn(key, data, iteration) -> data``: appends the iteration's minibatches
    batch_fn: Callable | None = None
    #: compiled programs built on this function (e.g. fit loops), reused across fits
    cache: dict = field(default_factory=dict, compare=False, repr=False)
    #: what ``fn`` (and ``batch_fn``) compute, from the graph before any rewrite
    #: (:func:`~varbayes.compile.graph_key.graph_key`); ``None`` when not describable
    graph_key: str | None = None

    def data(self) -> tuple:
        return device_values(self.data_vars)

    def __call__(self, theta, data=None, key=None, iteration=0):
        data = self.data() if data is None else data
        if self.batch_fn is not None:
            data = self.batch_fn(jax.random.key(0) if key is None else key, data, iteration)
        return self.fn(jnp.asarray(theta), data)


@dataclass(frozen=True)
class CompiledModel:
    """The JAX face of a model.

    Attributes
    ----------
    ravel : Ravel
        Layout of θ.
    logdensity : JaxFunction
        ``logdensity.fn(theta, data)`` is the log-density of the unconstrained
        θ (Jacobians and ``total_size`` scaling included), a scalar.
    constrained : JaxFunction
        θ to a tuple of constrained free variables then deterministics
        (names in ``constrained.output_names``). Built on first use (it may
        be given as a function that builds it): a fit alone never needs it,
        and building it (PyTensor's rewrites, the translation to JAX) is a
        fifth of a small model's first fit.
    enumerated : Enumerated or None
        When the model has finite discrete free variables: they are summed
        out of ``logdensity``, θ holds the continuous variables only,
        ``constrained`` returns θ itself, and ``enumerated.complete`` draws
        the discrete variables back (see :mod:`varbayes.compile.marginal`).
    """

    model: object
    ravel: Ravel
    logdensity: JaxFunction
    _constrained: JaxFunction | Callable[[], JaxFunction]
    enumerated: object = None

    @property
    def constrained(self) -> JaxFunction:
        if not isinstance(self._constrained, JaxFunction):
            object.__setattr__(self, "_constrained", self._constrained())  # built once, kept
        return self._constrained

    def initial_theta(self) -> np.ndarray:
        return self.ravel.ravel(self.model.initial_point())

    def logdensity_fn(self, theta, data=None):
        """Convenience: the log-density at ``theta`` with the current data."""
        return self.logdensity(jnp.asarray(theta), data)

    def function(self, outputs: Sequence[Variable], replacements: dict | None = None) -> JaxFunction:
        """A JAX function of θ for any expressions of the model's variables."""
        return build_function(self.model, self.ravel, outputs, replacements)


def _layout(model) -> Ravel:
    """The layout of θ: the continuous free variables (discrete ones are summed out, not in θ)."""
    layouts, offset = [], 0
    for name, rv in model.free_rv_info.items():
        if rv.dist.discrete:
            continue
        value = model.value_var(name)
        layout = VarLayout(
            name=name,
            value_name=value.name,
            shape=tuple(value.type.shape),
            constrained_shape=tuple(rv.dist.shape),
            transform=rv.transform,
            offset=offset,
        )
        layouts.append(layout)
        offset += layout.size
    return Ravel(tuple(layouts))


def _theta_values(ravel: Ravel, theta) -> dict[str, Variable]:
    return {v.name: theta[v.offset : v.offset + v.size].reshape(v.shape) for v in ravel.vars}


def _jaxify_with_data(theta, outputs, extra_inputs, what: str):
    """Jaxify ``outputs`` over ``(theta, *data, *extra_inputs)``; return ``(fn, data_vars)``.

    Shared variables (not random generators) become data inputs, so their
    current values are passed at call time; any other root is an error.
    """
    inputs, outputs, data_vars = _graph_with_data(theta, outputs, extra_inputs, what)
    return jaxify(inputs, outputs), data_vars


def _graph_with_data(theta, outputs, extra_inputs, what: str):
    """``(inputs, outputs, data_vars)``: ``outputs`` over ``(theta, *data, *extra_inputs)``, untranslated."""
    data_vars, unknown = [], []
    for inp in graph_inputs(list(outputs)):
        if inp is theta or isinstance(inp, Constant) or any(inp is e for e in extra_inputs):
            continue
        if isinstance(inp, SharedVariable) and not isinstance(inp.type, RandomType):
            data_vars.append(inp)
        else:
            unknown.append(inp)
    if unknown:
        names = sorted({str(v.name or v) for v in unknown})
        raise ValueError(f"{what} depends on variables that are not in this model: {names}")
    data_inputs = [v.type() for v in data_vars]
    outputs = clone_replace(list(outputs), replace=dict(zip(data_vars, data_inputs)))
    return [theta, *data_inputs, *extra_inputs], outputs, data_vars


def _translated(inputs, outputs) -> Callable:
    """:func:`jaxify`, made concrete even when first called inside a traced function.

    The translation puts the graph's constants on the device: under a trace
    (the first call of a lazily translated log-density is often in one) they
    would be the trace's values, leaked into every later use.
    """
    with jax.ensure_compile_time_eval():
        return jaxify(inputs, outputs)


def build_function(
    model,
    ravel: Ravel,
    outputs: Sequence[Variable],
    replacements: dict | None = None,
    *,
    names: Sequence[str] | None = None,
) -> JaxFunction:
    """Compile ``outputs`` (graphs over the model's placeholders) to ``fn(theta, data)``."""
    if names is None:
        names = [o.name if getattr(o, "name", None) else f"output_{i}" for i, o in enumerate(outputs)]
    theta = pt.vector("theta", dtype=pytensor.config.floatX)
    values = _theta_values(ravel, theta)
    repl = model.constrained_replacements(values)
    if replacements:
        outputs = clone_replace(list(outputs), replace=dict(replacements))
    outputs = clone_replace(list(outputs), replace=repl)
    raw, data_vars = _jaxify_with_data(theta, outputs, (), "the expression")

    def fn(theta_value, data):
        return raw(theta_value, *data)

    return JaxFunction(fn, tuple(data_vars), tuple(names))


def _total_logp(model, values: dict) -> Variable:
    """The model's log-density with its value variables replaced by ``values``: Jacobians included, summed, in floatX."""
    terms = model.logp_terms(jacobian=True, values=values)
    total = pt.add(*terms.values()) if len(terms) > 1 else next(iter(terms.values()))
    return pt.cast(total, pytensor.config.floatX)


def compile_logdensity(model, ravel: Ravel, replacements: dict | None = None) -> JaxFunction:
    """The model's log-density over θ as ``fn(theta, data) -> scalar``.

    ``replacements`` swaps graph nodes first (e.g. full data for a minibatch).
    """
    theta = pt.vector("theta", dtype=pytensor.config.floatX)
    total = _total_logp(model, _theta_values(ravel, theta))
    if replacements:
        total = clone_replace(total, replace=dict(replacements))
    total = _lift_constants(total)
    # Minibatches become inputs: the compiled step reads each one's batch for the iteration
    # from a stream of epochs over its source (varbayes.data.epochs).
    batch_vars = minibatch_batches([total])
    batch_inputs = [v.type() for v in batch_vars]
    if batch_vars:
        total = clone_replace(total, replace=dict(zip(batch_vars, batch_inputs)))
    # An index read outside a Minibatch's batch (rare) becomes an input drawn from the same streams.
    index_vars = batch_indices([total])
    index_inputs = [pt.vector(f"batch_index_{k}", dtype="int64") for k in range(len(index_vars))]
    if index_vars:
        total = clone_replace(total, replace=dict(zip(index_vars, index_inputs)))
    extra_inputs = [*batch_inputs, *index_inputs]
    inputs, outputs, data_vars = _graph_with_data(theta, [total], extra_inputs, "the model's log-density")
    key = graph_key(inputs, outputs)
    # translated on first use: a fit whose loop is kept on disk finds it by the graph's key
    # and never calls the log-density (PyTensor's rewrites are most of a warm fit's set-up)
    raw = lru_cache(maxsize=1)(lambda: _translated(inputs, outputs))
    # The sources of the batches are data too, read by the drawing only: they go after what the
    # graph reads, and the log-density skips them.
    read = len(data_vars)
    copies = _shuffled_sources(batch_vars, index_vars)
    sources = [copies.get(id(v.tag.batch_of.source), v.tag.batch_of.source) for v in batch_vars]
    sources += [v.tag.batch_index.source for v in index_vars]
    for source in sources:
        if not any(source is v for v in data_vars):
            data_vars.append(source)
    skip = len(data_vars) - read

    def logdensity(theta_value, data):
        return raw()(theta_value, *data[:read], *data[read + skip :])[0]

    batch_fn = _batch_function(batch_vars, index_vars, data_vars, copies) if batch_vars or index_vars else None
    if key is not None:
        # the data's layout the log-density and the batch drawing read
        # (and the settings that choose PyTensor's rewrites)
        config = pytensor.config
        settings = (config.floatX, config.optimizer_excluding, config.optimizer_including, config.optimizer_requiring)
        key = hashlib.sha256(repr((key, read, skip, len(data_vars), batch_fn, settings)).encode()).hexdigest()
    return JaxFunction(logdensity, tuple(data_vars), ("logdensity",), batch_fn, graph_key=key)


class Stream(NamedTuple):
    """One stream of minibatch rows: ``size`` rows a step from axis ``axis`` of ``data[position]``.

    A ``sharded`` stream runs on one shard of the rows on each device of a
    mesh (:mod:`varbayes.parallel`): each device draws ``size`` rows of its
    own shard, from a key of its own. A stream of ``blocks`` reads runs of
    consecutive rows (:func:`varbayes.data.epochs.block_rows`) of a source
    whose rows were shuffled once (:class:`~varbayes.data.minibatch.ShuffledRows`).
    """

    position: int
    axis: int
    size: int
    sharded: bool = False
    blocks: bool = False


@dataclass(frozen=True)
class BatchDraw:
    """``draw(key, data, iteration)``: the data followed by the iteration's batches, then its index vectors.

    Every index variable (one per batched axis of a Minibatch call) is a
    stream of epochs (:func:`varbayes.data.epochs.stream_rows`) keyed by the
    fit's key and the stream's place in the graph, so Minibatches made by one
    call (which share their row index) read the same rows. A batch is gathered
    from its source once, into a buffer the log-density then reads: fused into
    the log-density's loops, the gather would run once per loop.
    """

    streams: tuple[Stream, ...]
    #: ``(position of the source in data, ((axis, stream), ...))`` per batch
    batches: tuple
    #: the streams read as index vectors outside a batch
    loose: tuple[int, ...]

    def __call__(self, key, data, iteration):
        return (*data, *self.draw(key, data, iteration))

    def draw(self, key, data, iteration, shard_axis: str | None = None) -> tuple:
        """The batches and index vectors only; inside ``shard_map`` over ``shard_axis`` for sharded streams."""
        from varbayes.data.epochs import block_rows, stream_rows

        # batches use keys of their own: a step's key is fold_in(key, iteration)
        key = jax.random.fold_in(key, BATCH_STREAMS)
        rows, offsets = [], []
        for k, stream in enumerate(self.streams):
            stream_key, n, offset = jax.random.fold_in(key, k), data[stream.position].shape[stream.axis], 0
            if stream.sharded:
                # this device's rows: a stream over its shard, keyed by the shard
                shard = jax.lax.axis_index(shard_axis)
                stream_key, offset = jax.random.fold_in(stream_key, shard), shard * n
            block = block_rows(n, stream.size) if stream.blocks else 1
            rows.append(stream_rows(stream_key, iteration, n, stream.size, block))
            offsets.append(offset)
        drawn = []
        for position, axes in self.batches:
            batch = data[position]
            for axis, k in axes:  # one axis at a time: outer, not numpy's joint, indexing
                batch = jax.numpy.take(batch, rows[k], axis=axis, mode="clip")
            drawn.append(batch)
        drawn = jax.lax.optimization_barrier(tuple(drawn))
        # an index vector read by the graph counts in the whole data's rows
        return (*drawn, *((rows[k] + offsets[k]).astype("int64") for k in self.loose))


#: Constants of at least this many elements are passed to the log-density as data, not compiled in.
LIFT_MIN_ELEMENTS = 4096


def _lift_constants(total: Variable) -> Variable:
    """``total`` with its large array constants replaced by shared variables holding the same values.

    A numpy array used directly in a model (``pt.dot(X, beta)``) is a
    PyTensor constant, which JAX would compile into the program: as data it
    can be split over devices (:mod:`varbayes.parallel`), and the program
    stays small. Each constant keeps its shared variable (in its tag), so
    every log-density of the model reads the same data.
    """
    lifted = {}
    for var in graph_inputs([total]):
        if not isinstance(var, Constant) or not isinstance(var.type, pt.TensorType):
            continue
        value = var.data
        if value.ndim == 0 or value.size < LIFT_MIN_ELEMENTS or value.dtype.kind not in "biuf":
            continue
        shared = getattr(var.tag, "lifted", None)
        if shared is None:
            # no static lengths (but the broadcastable ones): across processes the data
            # passed at call time holds every process's rows
            shape = tuple(1 if length == 1 else None for length in value.shape)
            shared = pytensor.shared(value, name=var.name or "constant", shape=shape)
            var.tag.lifted = shared
        lifted[var] = shared
    # rebuilt, not strict: the nodes after a lifted constant lose the static lengths it gave them
    return clone_replace(total, replace=lifted, rebuild_strict=False) if lifted else total


#: Sources larger than this are read row by row in place, not in runs of a shuffled copy
MAX_SHUFFLED_COPY_BYTES = 2**30


def _shuffled_sources(batch_vars, index_vars) -> dict:
    """``{id(source): ShuffledRows}`` for the batches read in runs of rows of a shuffled copy.

    Those batched on their leading axis, unless the graph reads that index
    itself (its rows count in the source's order), the source is streamed
    from disk (a new window every chunk), or a copy would take more than
    :data:`MAX_SHUFFLED_COPY_BYTES`.
    """
    from varbayes.data.minibatch import shuffled_rows

    loose = {id(var.tag.batch_index) for var in index_vars}
    by_stream: dict = {}
    for var in batch_vars:
        tag = var.tag.batch_of
        rows = next((idx.tag.batch_index for axis, idx in tag.indices if axis == 0), None)
        if rows is not None:
            by_stream.setdefault(id(rows), (rows, []))[1].append(tag.source)
    copies = {}
    for key, (rows, sources) in by_stream.items():
        minibatches = [getattr(source.tag, "minibatch", None) for source in sources]
        if key in loose or any(mb is not None and mb.streaming for mb in minibatches):
            continue
        if sum(source.get_value(borrow=True).nbytes for source in sources) > MAX_SHUFFLED_COPY_BYTES:
            continue
        copies.update((id(source), shuffled_rows(source, rows.seed)) for source in sources)
    return copies


def _batch_function(batch_vars, index_vars, data_vars, copies: dict) -> BatchDraw:
    """The :class:`BatchDraw` of a graph's Minibatch batches and index variables.

    ``copies`` maps a batch's source to the shuffled copy it is read from (:func:`_shuffled_sources`).
    """
    # One stream per index, known by its tag (graph rewrites clone the variable, not the tag).
    tags: list = []
    streams: list[Stream] = []

    def stream_of(var, position: int, blocks: bool) -> int:
        tag = var.tag.batch_index
        for k, other in enumerate(tags):
            if other is tag:
                return k
        tags.append(tag)
        streams.append(Stream(position, tag.axis, tag.size, blocks=blocks))
        return len(streams) - 1

    batches = []
    for var in batch_vars:
        tag = var.tag.batch_of
        read = copies.get(id(tag.source))
        position = _position(data_vars, tag.source if read is None else read)
        axes = tuple((axis, stream_of(idx, position, read is not None and axis == 0)) for axis, idx in tag.indices)
        batches.append((position, axes))
    loose = tuple(stream_of(var, _position(data_vars, var.tag.batch_index.source), False) for var in index_vars)
    return BatchDraw(tuple(streams), tuple(batches), loose)


#: The ``fold_in`` of the fit's key that roots the minibatch streams: an iteration number no fit reaches.
BATCH_STREAMS = 2**32 - 1


def _position(data_vars, source) -> int:
    return next(i for i, v in enumerate(data_vars) if v is source)


def compile_model(model) -> CompiledModel:
    """Compile ``model`` (cached until a variable is added).

    Raises
    ------
    ValueError
        When the model has no free variables.
    TypeError
        When a discrete free variable has an infinite support: finite ones
        (Bernoulli, Categorical, DiscreteUniform, Binomial with a constant
        ``n``, ...) are summed out (:func:`varbayes.compile.marginal.compile_enumerated`).

    Examples
    --------
    >>> import varbayes as pm, jax
    >>> with pm.Model() as m:
    ...     x = pm.Normal("x", 0.0, 1.0)
    >>> cm = compile_model(m)
    >>> jax.grad(cm.logdensity_fn)(jax.numpy.array([1.0])).tolist()
    [-1.0]
    """
    cached = model._compiled_cache.get("compiled")
    if cached is not None:
        return cached
    free = model.free_rv_info
    if not free:
        raise ValueError("the model has no free variables: there is nothing to infer")
    discrete = [name for name, rv in free.items() if rv.dist.discrete]
    if discrete:
        from varbayes.compile.marginal import compile_enumerated

        compiled = compile_enumerated(model, discrete)
        model._compiled_cache["compiled"] = compiled
        return compiled
    ravel = _layout(model)
    logdensity_fn = compile_logdensity(model, ravel)
    outputs = [rv.var for rv in free.values()] + model.deterministics
    names = list(free) + list(model._reg.deterministics)
    compiled = CompiledModel(model, ravel, logdensity_fn, lambda: build_function(model, ravel, outputs, names=names))
    model._compiled_cache["compiled"] = compiled
    return compiled
