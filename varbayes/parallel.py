"""Data-parallel fits: a mesh of devices, the rows of the data split over it, the rest replicated.

A fit on several devices is the same compiled program as on one: the data's
rows are placed in shards (``NamedSharding(mesh, P("rows"))``), the
variational parameters, optimizer state and keys are replicated, and XLA
partitions the program and adds the all-reduce of the gradient. Only the
placement changes, never the arithmetic, with one exception: a Minibatch
draws on each device ``batch_size / n_devices`` rows of that device's shard
(:class:`~varbayes.compile.model.BatchDraw` with sharded streams), so no row
crosses devices. Each device's stream visits every row of its shard once
per epoch; the union of the devices' batches is a stratified draw of
``batch_size`` rows that is still unbiased for the full data with the same
``total_size / batch_size`` factor.

Which arrays are split (the *row data*): the row count ``N`` is the longest
leading axis among the observed variables' values (a Minibatch counting its
source's rows); every array the log-density reads (observed values,
``pm.Data``, large constants, Minibatch sources) whose leading axis has
length ``N`` is split on that axis, when ``N`` divides evenly among the
devices. Otherwise it is replicated (and the ``varbayes`` logger says so):
the fit is then still exact, a Minibatch draws its rows as on one device and
the batch is split for the log-density.

Across processes (after ``jax.distributed.initialize()``): the row data each
process passes is *its own share* of the rows, and the global arrays are
assembled with ``jax.make_array_from_process_local_data``; every other array
must be the same in every process.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = ["AXIS", "CHAIN_AXIS", "Placement", "chain_devices", "device_mesh", "placement_for", "resolve_devices", "spread_chains"]

#: The name of the mesh's one axis, the axis the rows are split over.
AXIS = "rows"

log = logging.getLogger("varbayes")


def resolve_devices(devices: int | Sequence | None = None) -> tuple:
    """The devices a fit runs on.

    Parameters
    ----------
    devices : int, sequence of jax devices, or None
        ``None``: the default of :func:`varbayes.config.set_devices` (one
        device unless set; every device of every process when
        ``jax.process_count() > 1``). An int ``k``: the first ``k`` of
        ``jax.devices()`` (all processes' devices when several run). A
        sequence: those devices.

    Raises
    ------
    ValueError
        When more devices are asked for than exist, or a device repeats.

    Examples
    --------
    >>> import jax
    >>> resolve_devices(1) == (jax.devices()[0],)
    True
    """
    import jax

    available = jax.devices()
    if devices is None:
        from varbayes.config import default_devices

        devices = default_devices()
        if devices is None:
            # one device; across processes every process's devices (each holds its own rows)
            devices = 1 if jax.process_count() == 1 else len(available)
    if isinstance(devices, (bool, np.bool_, str, bytes)):
        raise TypeError(f"devices must be an int, a sequence of jax devices or None, got {devices!r}")
    if isinstance(devices, (int, np.integer)):
        if devices < 1:
            raise ValueError(f"devices must be at least 1, got {devices}")
        if devices > len(available):
            raise ValueError(
                f"devices={devices} asks for more devices than exist: JAX sees {len(available)} "
                f"({available[0].platform}); pass devices <= {len(available)}"
            )
        return tuple(available[: int(devices)])
    try:
        chosen = tuple(devices)
    except TypeError:
        raise TypeError(f"devices must be an int, a sequence of jax devices or None, got {devices!r}") from None
    if not chosen:
        raise ValueError("devices is an empty sequence: pass at least one device")
    for device in chosen:
        if not isinstance(device, jax.Device):
            raise TypeError(f"devices must hold jax devices (from jax.devices()), got {device!r}")
    if len(set(chosen)) != len(chosen):
        raise ValueError(f"devices lists a device more than once: {list(chosen)}")
    return chosen


def device_mesh(devices: int | Sequence | None = None):
    """A one-axis ``jax.sharding.Mesh`` (axis ``"rows"``) over the devices, or ``None`` for the plain path.

    One device given as ``None`` or ``1`` runs the plain (unsharded) program;
    an explicit sequence of devices always gets a mesh.

    Examples
    --------
    >>> device_mesh(1) is None
    True
    >>> import jax
    >>> device_mesh([jax.devices()[0]]).axis_names
    ('rows',)
    """
    import jax
    from jax.sharding import Mesh

    explicit = devices is not None and not isinstance(devices, (int, np.integer))
    chosen = resolve_devices(devices)
    if len(chosen) == 1 and not explicit and jax.process_count() == 1:
        return None
    return Mesh(np.array(chosen), (AXIS,))


@dataclasses.dataclass(frozen=True)
class Placement:
    """Where a log-density's data goes on a mesh: which positions of the data tuple are row data.

    Attributes
    ----------
    mesh : jax.sharding.Mesh
        The devices, on one axis ``"rows"``.
    rows : frozenset of int
        Positions in the data tuple split on their leading axis.
    """

    mesh: Any
    rows: frozenset

    @property
    def key(self) -> tuple:
        """What a compiled program depends on: the devices and the split positions."""
        return (tuple(d.id for d in self.mesh.devices.flat), tuple(sorted(self.rows)))

    @property
    def size(self) -> int:
        return int(self.mesh.size)

    def _sharding(self, split: bool):
        from jax.sharding import NamedSharding, PartitionSpec

        return NamedSharding(self.mesh, PartitionSpec(AXIS) if split else PartitionSpec())

    def _put(self, value, split: bool):
        import jax

        sharding = self._sharding(split)
        if jax.process_count() > 1:
            # the value is this process's share (row data) or the same everywhere (the rest)
            return jax.make_array_from_process_local_data(sharding, np.asarray(value))
        return jax.device_put(value, sharding)

    def put_data(self, values: Sequence) -> tuple:
        """The data tuple on the mesh: row data split by rows, the rest replicated."""
        return tuple(self._put(value, i in self.rows) for i, value in enumerate(values))

    def replicate(self, tree):
        """A pytree (parameters, optimizer state, a key) copied to every device of the mesh."""
        import jax

        def put(leaf):
            if jax.dtypes.issubdtype(getattr(leaf, "dtype", None), jax.dtypes.prng_key):
                impl = jax.random.key_impl(leaf)
                return jax.random.wrap_key_data(self._put(jax.random.key_data(leaf), False), impl=impl)
            return self._put(leaf, False)

        return jax.tree_util.tree_map(put, tree)

    def batch_fn(self, draw) -> Callable:
        """``draw`` (a :class:`~varbayes.compile.model.BatchDraw`) run per device on its shard of the rows.

        Raises
        ------
        ValueError
            When a batch on the split rows is smaller than the number of
            devices or does not divide among them (naming ``batch_size``).
        """
        import jax
        from jax.sharding import PartitionSpec

        k = self.size
        streams = []
        for stream in draw.streams:
            split = stream.position in self.rows and stream.axis == 0
            if split or stream.axis == 0:
                _check_batch_size(stream.size, k)
            if split:
                stream = stream._replace(size=stream.size // k, sharded=True)
            streams.append(stream)
        local = dataclasses.replace(draw, streams=tuple(streams))
        split_out = [position in self.rows for position, _ in draw.batches]
        split_out += [streams[k].sharded for k in draw.loose]
        # a batch drawn whole (its source replicated) is still split for the log-density
        # when its rows are a stream on the leading axis
        constrain = [
            not split and any(axis == 0 for axis, _ in axes) for split, (_, axes) in zip(split_out, draw.batches)
        ]
        out_specs = tuple(PartitionSpec(AXIS) if split else PartitionSpec() for split in split_out)
        mesh = self.mesh

        def batch_fn(key, data, iteration):
            specs = tuple(PartitionSpec(AXIS) if i in self.rows else PartitionSpec() for i in range(len(data)))
            drawn = jax.shard_map(
                lambda key, data, iteration: local.draw(key, data, iteration, AXIS),
                mesh=mesh,
                in_specs=(PartitionSpec(), specs, PartitionSpec()),
                out_specs=out_specs,
                # the replicated streams give every device the same rows (same key): their
                # batches are replicated by construction, which check_vma cannot see through
                # the epoch's permutation loops
                check_vma=False,
            )(key, data, iteration)
            drawn = tuple(
                jax.lax.with_sharding_constraint(b, self._sharding(True)) if c else b
                for b, c in zip(drawn, constrain + [False] * (len(drawn) - len(constrain)))
            )
            return (*data, *drawn)

        return batch_fn


def _check_batch_size(size: int, devices: int) -> None:
    if size < devices:
        raise ValueError(
            f"batch_size {size} is smaller than the number of devices ({devices}): each device draws "
            f"batch_size / devices rows; pass a batch_size that is a multiple of {devices}"
        )
    if size % devices:
        raise ValueError(
            f"batch_size {size} does not divide among {devices} devices: each device draws "
            f"batch_size / devices rows; pass a multiple of {devices} (e.g. {size - size % devices})"
        )


def row_count(model) -> int | None:
    """The number of rows of the observed data: the longest leading axis among the observed values."""
    from varbayes.model.core import observed_value

    lengths = []
    for rv in model.observed_rv_info.values():
        value = observed_value(rv.data)
        if value is not None and np.ndim(value) >= 1:
            lengths.append(np.shape(value)[0])
    return max(lengths) if lengths else None


def placement_for(model, data_vars: Sequence, devices: int | Sequence | None = None) -> Placement | None:
    """The placement of a log-density's data on the devices, or ``None`` for the plain one-device path.

    Parameters
    ----------
    model : Model
        Its observed variables give the row count (see the module's notes).
    data_vars : sequence of shared variables
        The data the log-density reads (``JaxFunction.data_vars``), in order.
    devices : int, sequence of jax devices, or None
        As :func:`resolve_devices`.

    Examples
    --------
    >>> import numpy as np, varbayes as pm
    >>> from varbayes.compile import compile_model
    >>> with pm.Model() as model:
    ...     mu = pm.Normal("mu", 0.0, 1.0)
    ...     y = pm.Normal("y", mu, 1.0, observed=np.zeros(8))
    >>> placement_for(model, compile_model(model).logdensity.data_vars, 1) is None
    True
    """
    import jax

    mesh = device_mesh(devices)
    if mesh is None:
        return None
    n_rows = row_count(model)
    # make_array_from_process_local_data splits a process's share over its own devices
    per_process = mesh.size // jax.process_count()
    rows = set()
    for position, var in enumerate(data_vars):
        shape = np.shape(var.get_value(borrow=True))
        if n_rows is None or not shape or shape[0] != n_rows:
            continue
        if n_rows % per_process:
            if jax.process_count() > 1:
                raise ValueError(
                    f"{var.name}: {n_rows} rows in this process do not divide among its {per_process} "
                    "devices; give each process a multiple of its device count of rows"
                )
            log.info(
                f"{var.name}: {n_rows} rows do not divide among {mesh.size} devices; "
                "it is copied to every device instead of split"
            )
            continue
        rows.add(position)
    return Placement(mesh, frozenset(rows))


# ------------------------------------------------------------------ NUTS chains
#: The name of the mesh axis the chains of ``pm.sample`` are spread over.
CHAIN_AXIS = "chains"


def chain_devices(chains: int, devices: int | Sequence | None = None) -> tuple:
    """The devices ``chains`` chains run on: the most of ``devices`` that the chains divide among.

    Examples
    --------
    >>> import jax
    >>> chain_devices(3, 1) == (jax.devices()[0],)
    True
    """
    chosen = resolve_devices(devices)
    used = max(k for k in range(1, len(chosen) + 1) if chains % k == 0)
    if used < len(chosen):
        log.info(f"{chains} chains do not divide among {len(chosen)} devices: running them on {used}")
    return chosen[:used]


def spread_chains(run: Callable, state, keys, data, devices: int | Sequence | None = None):
    """NUTS chains spread over ``devices``: ``(run, state, keys, data)`` to call as ``run(state, keys, ...)``.

    ``run(state, keys, schedule, start, n_steps, data)`` advances every chain
    (the leading axis of ``state`` and ``keys``, vectorised); on a mesh each
    device runs it on its own chains, the data replicated, so chains never
    wait for each other's trajectories; only the warmup's terminal window
    averages two scalars over all chains at each of its steps (the shared
    step size, :mod:`varbayes.sampling.adaptation`). On one device (``devices`` ``None`` or
    ``1``) everything is returned as it is.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> def run(state, keys, schedule, start, n_steps, data):
    ...     return state + data, state
    >>> run2, state, keys, data = spread_chains(run, jnp.zeros(2), jax.random.split(jax.random.key(0), 2),
    ...                                         jnp.ones(()), jax.devices()[:1])
    >>> run2(state, keys, None, 0, 1, data)[0].tolist()
    [1.0, 1.0]
    """
    import jax
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    explicit = devices is not None and not isinstance(devices, (int, np.integer))
    chosen = chain_devices(int(keys.shape[0]), devices)
    if len(chosen) == 1 and not explicit:
        return run, state, keys, data
    mesh = Mesh(np.array(chosen), (CHAIN_AXIS,))
    spread, whole = NamedSharding(mesh, PartitionSpec(CHAIN_AXIS)), NamedSharding(mesh, PartitionSpec())
    state = jax.device_put(state, spread)
    keys = jax.device_put(keys, spread)
    data = jax.device_put(data, whole)
    # a program kept on disk (varbayes.stored) is one device's: the mesh's is built from the plain one
    return _chain_program(getattr(run, "jitted", run), mesh), state, keys, data


#: run -> {mesh's devices: program}; an entry goes with its run (the program holds it weakly)
_CHAIN_PROGRAMS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _chain_program(run: Callable, mesh) -> Callable:
    """``run`` by shard_map over the mesh's chains (one compilation per run and mesh)."""
    import jax
    from jax.sharding import PartitionSpec

    programs = _CHAIN_PROGRAMS.setdefault(run, {})
    key = tuple(d.id for d in mesh.devices.flat)
    if key in programs:
        return functools.partial(_holding, programs[key], run)
    chains, whole = PartitionSpec(CHAIN_AXIS), PartitionSpec()
    weak_run = weakref.ref(run)
    program = jax.jit(
        jax.shard_map(
            lambda state, keys, schedule, start, n_steps, data: weak_run()(state, keys, schedule, start, n_steps, data),
            mesh=mesh,
            in_specs=(chains, chains, whole, whole, whole, whole),
            out_specs=chains,
            # each device's chains run their own loops; only the warmup's terminal window reduces across devices
            check_vma=False,
        )
    )
    programs[key] = program
    return functools.partial(_holding, program, run)


def _holding(program: Callable, run: Callable, *args):
    """``program(*args)``; what the caller holds keeps ``run`` alive, which the cached program does not."""
    return program(*args)
