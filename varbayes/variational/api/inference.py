"""The base of every inference object: a fit's setup, its compiled loop and the two ways it runs (``n`` iterations, or until converged).

The methods themselves (``KLqp``, ``ADVI``, ``FullRankADVI``, ``SVGD``, ``ASVGD``) are in
:mod:`varbayes.variational.api.methods`; ``pm.fit`` in :mod:`varbayes.variational.api.fitting`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from functools import lru_cache

import jax
import numpy as np

from varbayes.config import default_seed
from varbayes.model.core import modelcontext
from varbayes.rng import jax_key
from varbayes.variational.api.approximations import Approximation, narrowed
from varbayes.variational.api.checkpoint import (
    DEFAULT_CHECKPOINT_EVERY,
    Checkpointer,
    check_writable,
    parse_interval,
    read,
    restore_fit,
)
from varbayes.variational.api.converge import DEFAULT_MAX_N, run_until_converged
from varbayes.variational.api.loop import run_fit
from varbayes.variational.api.optimizers import adagrad_window, as_optimizer, program_key
from varbayes.stored import StoredProgram, committed, fingerprint_logdensity
from varbayes.variational.core import build_chunk, init_state
from varbayes.variational.core.step import VIState, jitted_init, program_per_object
from varbayes.variational.core.driver import loop_compiler_options
from varbayes.variational.core.convergence import StopRule
from varbayes.variational.core.precondition import identity, whiten_batch_fn, whiten_logdensity
from varbayes.variational.core.schedule import adaptive_adam, learning_rate

__all__ = ["Inference", "chunk_buffer"]

_BUFFER = 10_000  # steps a chunk can hold; one compilation serves every chunk length
_STATE_BUFFER_FLOATS = 4_000_000  # memory for recorded states when callbacks need every step
_SEGMENT_SUM_FLOATS = 4_000_000  # memory for the segment sums of a fit with n=None
_SEGMENT_BUFFER_MAX = 100_000  # steps a chunk of a fit with n=None can hold


def chunk_buffer(record_states: bool, state_size: int, segment: int, summand_size: int) -> int:
    """Iterations a compiled chunk holds: within the memory budgets of what it records.

    Recorded states (callbacks that need every step) take ``state_size``
    floats a step; the segment sums of a fit with ``n=None`` take
    ``summand_size`` floats a segment: a small model runs long chunks between
    checks, a large one stays within the budget.
    """
    if record_states:
        return int(max(1, min(1000, _STATE_BUFFER_FLOATS // max(state_size, 1))))
    if segment:
        return int(min(_SEGMENT_BUFFER_MAX, max(1000, segment * _SEGMENT_SUM_FLOATS // max(summand_size, 1))))
    return _BUFFER


class Inference:
    """Fits an approximation by running a compiled optimisation loop.

    Subclasses define ``_step(optimizer, n_mc)``: the pure step function.
    """

    default_n_mc = 1
    #: First learning rate of the schedule of ``fit(n=None)`` where there is no step-size search.
    default_step_size = 0.1

    def __init__(self, approx: Approximation, random_seed: int | None = None):
        self.approx = approx
        self._key = jax_key(default_seed(random_seed))  # jax.random.key would compile a program
        self.state = None
        self._callbacks = None
        self._optimizer = None
        self._n_mc = None
        self._step_config = None
        self._whiten = False
        self._checkpoint = None  # (path, seconds between writes) of the current fit
        self._span = (0, None)  # len(hist) when the current fit or refine began, and its n
        self._placement = None  # the data's placement on a mesh of devices, or None for one device
        approx._inference = self  # what approx.save() needs to make the fit resumable

    @property
    def hist(self) -> np.ndarray:
        """Loss of every iteration of every fit of this approximation."""
        return self.approx.hist

    def _step(self, optimizer, n_mc: int | None):
        raise NotImplementedError

    def _auto_n_mc(self) -> int | None:
        """Draws per step of ``fit(n=None)`` with the schedule chosen for the user (``None``: the step chooses)."""
        return self.default_n_mc

    def _target(self):
        """``(logdensity_fn, batch_fn)`` the step optimises: the model's, or their whitened form."""
        logdensity_fn, batch_fn = self.approx.logdensity_fn, self.approx.batch_fn
        if self._placement is not None and batch_fn is not None:
            # each device draws its batch rows from its own shard
            batch_fn = self._placement.batch_fn(batch_fn)
        if self._whiten:
            return whiten_logdensity(logdensity_fn), whiten_batch_fn(batch_fn)
        return logdensity_fn, batch_fn

    def _settings(self) -> tuple:
        """What, besides the optimizer, decides the step's computation."""
        return (type(self).__name__, self.approx.family.name)

    def _chunk_for(self, record_states: bool, segment: int = 0):
        # Cached on the log-density so that a new Inference on the same model
        # with the same settings reuses the compiled loop.
        # The buffer of recorded states is sized to the state, so the size is part of the key.
        state_size = sum(np.size(leaf) for leaf in jax.tree_util.tree_leaves(self.state)) if record_states else 0
        param_size = sum(np.size(leaf) for leaf in jax.tree_util.tree_leaves(self.state.params)) if segment else 0
        placement = None if self._placement is None else self._placement.key  # the step's minibatch draws
        key = (self._settings(), self._step_config, record_states, state_size, segment, param_size, placement)
        cache = self.approx.logdensity_cache
        if key not in cache:
            step = self._step(self._optimizer, self._n_mc)
            buffer = chunk_buffer(record_states, state_size, segment, param_size)
            canonical = self.approx.family.canonical
            chunk = build_chunk(step, buffer, record_states, segment, canonical)
            cache[key] = (self._stored(chunk, key, loop_compiler_options(step)), buffer)
        return cache[key]

    def _stored(self, chunk, key: tuple, compiler_options):
        """``chunk`` kept on disk across processes (:mod:`varbayes.stored`), under ``key`` when it is stable."""
        import pytensor

        (optimizer, _), _, replacements, _ = self._step_config
        # an optimizer without a kind (program_key), replaced graph nodes and a mesh are known by identity only
        by_identity = isinstance(optimizer, tuple) and optimizer[:1] == ("object",)
        stable = not by_identity and replacements is None and self._placement is None
        # one fingerprint per log-density the loops read (a fit(n=None) runs three loops on it)
        target = ("fingerprint", self._whiten)
        cache = self.approx.logdensity_cache
        if target not in cache:
            graph = self.approx.logdensity_graph_key
            if graph is not None:
                # the model's graph says what the loop reads (the whitening is varbayes' code),
                # without translating it to JAX: a loop found on disk never needs the translation
                cache[target] = lambda *args, digest=f"graph {graph} whitened={self._whiten}": digest
            else:
                logdensity_fn, batch_fn = self._target()
                cache[target] = fingerprint_logdensity(logdensity_fn, batch_fn, self.approx.ndim, pytensor.config.floatX)
        return StoredProgram(chunk, key if stable else None, cache[target], compiler_options)

    def _prepare(self, obj_optimizer, obj_n_mc, total_grad_norm_constraint, more_replacements, auto=False):
        if more_replacements:
            self.approx.use_replacements(more_replacements)
        if obj_optimizer is not None:
            chosen = obj_optimizer
        else:
            # n=None: Adam with the learning rate in its state, set by the schedule
            chosen = adaptive_adam(self.default_step_size) if auto else adagrad_window()
        optimizer = as_optimizer(chosen, total_grad_norm_constraint)
        n_mc = (self._auto_n_mc() if auto else self.default_n_mc) if obj_n_mc is None else int(obj_n_mc)
        if n_mc is not None and n_mc < 1:
            raise ValueError(f"obj_n_mc must be at least 1, got {obj_n_mc}")
        # Optimizers of one kind share a compiled loop: their hyperparameters are in their state.
        program = (
            ("auto" if auto else "default", total_grad_norm_constraint)
            if obj_optimizer is None
            else (program_key(obj_optimizer), total_grad_norm_constraint)
        )
        # n=None with our schedule runs in whitened coordinates (families that can be whitened)
        self._whiten = auto and self.approx.family.whitening is not None
        self._step_config = (program, n_mc, self.approx.replacements_key(), self._whiten)
        self._optimizer, self._n_mc = optimizer, n_mc
        #: the optimizer's init, for the windows of fit(n=None)
        self._init_optimizer = jitted_init(optimizer)
        if auto and total_grad_norm_constraint is None:
            # adaptive_adam gives one object per step size: its init, compiled once, serves every
            # fit (eager, each operation would compile a small program in a new process), and is
            # kept on disk as the loop is. The parameters are committed, as the loop's are when a
            # new window initialises it again.
            self._init_optimizer = _adaptive_init(optimizer, self.default_step_size)
            params = committed(self.approx.jax_params)
            self.state = VIState(params, self._init_optimizer(params))
        else:
            self.state = init_state(self.approx.jax_params, optimizer)

    def fit(
        self,
        n: int | None = 10000,
        score=None,
        callbacks=None,
        progressbar: bool = True,
        obj_optimizer=None,
        obj_n_mc: int | None = None,
        total_grad_norm_constraint: float | None = None,
        more_replacements: dict | None = None,
        max_n: int | None = None,
        max_time: float | None = None,
        checkpoint=None,
        checkpoint_every: float | None = None,
        resume=None,
        devices=None,
        **kwargs,
    ):
        """Run ``n`` iterations from the current parameters, or until converged; return the approximation.

        A new optimizer (or the default one) starts with a fresh optimizer
        state; :meth:`refine` keeps the current one.

        Parameters
        ----------
        n : int or None
            Number of iterations. ``None`` runs until the parameters are
            stationary and their iterate average is known to tolerance,
            capped by ``max_n`` and ``max_time``; without ``obj_optimizer``
            the step size is then chosen and lowered by the fit itself
            (see :mod:`varbayes.variational.core.convergence`), and
            ``approx.convergence`` reports how it ended.
        obj_n_mc : int, optional
            Draws of q each step's gradient averages over (ASVGD: particles).
            Default: the inference's (one for ADVI); with ``n=None`` and no
            ``obj_optimizer``, ADVI takes as many as cost little beside the
            rest of an iteration, up to 16, from XLA's estimate of the
            log-density's work (:mod:`varbayes.variational.core.draws`).
        max_n : int, optional
            With ``n=None``: the most iterations to run (default 1,000,000).
        max_time : float, optional
            With ``n=None``: the most seconds to run.
        checkpoint : str or path-like, optional
            A file the fit writes its state to (parameters, ``hist``,
            optimizer state, random key; see :meth:`Approximation.save`)
            every ``checkpoint_every`` seconds between chunks, when it ends
            (however it ends) and on SIGTERM. Written atomically.
        checkpoint_every : float, optional
            Seconds between checkpoints (default 60).
        resume : str, path-like or bool, optional
            Continue the fit checkpointed in this file: ``n`` counts from
            where that fit began, so the resumed ``hist`` and parameters are
            bitwise those of the uninterrupted fit. ``True`` resumes from
            ``checkpoint`` when that file exists (and starts afresh when it
            does not), so a script rerun after a kill picks up where it
            stopped. The model, data, method and optimizer must be those of
            the checkpointed fit.
        devices : int, sequence of jax devices, or None
            Devices to split the data's rows over (a data-parallel fit; see
            :mod:`varbayes.parallel`): an int ``k`` takes the first ``k`` of
            ``jax.devices()``. ``None``: :func:`varbayes.config.set_devices`'s
            default, one device unless set. A later :meth:`refine` keeps them.

        Examples
        --------
        >>> import varbayes as pm
        >>> with pm.Model():
        ...     x = pm.Normal("x", 1.0, 2.0)
        ...     advi = pm.ADVI(random_seed=1)
        >>> approx = advi.fit(2000, progressbar=False)
        >>> len(approx.hist)
        2000
        >>> approx = advi.fit(n=None, progressbar=False)
        >>> approx.convergence.reason
        'converged'

        A checkpointed fit, killed and rerun, continues where it stopped:

        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "fit.npz")
        >>> with pm.Model():
        ...     x = pm.Normal("x", 1.0, 2.0)
        ...     approx = pm.ADVI(random_seed=1).fit(3000, checkpoint=path, resume=True, progressbar=False)
        >>> len(approx.hist)
        3000
        """
        unknown = set(kwargs) - {"fn_kwargs"}
        if unknown:
            raise TypeError(f"fit() got unexpected keyword arguments {sorted(unknown)}")
        limits = _check_limits(n, max_n, max_time)
        checkpoint, every, resume = _check_checkpoint(checkpoint, checkpoint_every, resume)
        self._prepare(
            obj_optimizer, obj_n_mc, total_grad_norm_constraint, more_replacements, auto=n is None and obj_optimizer is None
        )
        # after the replacements: the split positions are those of the data the fit reads
        self._placement = self._place(devices)
        self._callbacks = callbacks
        start, total = len(self.approx.hist), n
        if resume is not None:
            start = restore_fit(self, read(resume))
            done = len(self.approx.hist) - start
            if n is not None:
                if done > n:
                    raise ValueError(
                        f"the checkpointed fit has run {done} iterations already, more than n={n}: "
                        f"pass n >= {done} to continue it"
                    )
                n -= done
        self._checkpoint = None if checkpoint is None else (checkpoint, every)
        self._span = (start, total)
        return self._run(n, callbacks, progressbar, limits, search=resume is None)

    def refine(self, n: int | None, progressbar: bool = True, callbacks=None, max_n: int | None = None,
               max_time: float | None = None):
        """Continue fitting for ``n`` iterations (or until converged) with the same optimizer, its state and callbacks.

        ``callbacks`` defaults to those of the last :meth:`fit`, as in PyMC3,
        so a ``Tracker`` keeps recording. ``n=None`` continues until
        converged, from the current step size (no new search).
        """
        if self.state is None:
            raise RuntimeError("refine() continues a fit: call fit() first")
        limits = _check_limits(n, max_n, max_time)
        if callbacks is None:
            callbacks = self._callbacks
        # a refine goes on writing the fit's checkpoint; resuming from it continues the refine
        self._span = (len(self.approx.hist), n)
        return self._run(n, callbacks, progressbar, limits, search=False)

    def _checkpointer(self):
        if self._checkpoint is None:
            return None
        path, every = self._checkpoint
        return Checkpointer(path, every, self, self._span)

    def _place(self, devices):
        """The placement of the data on ``devices`` (``None``: the plain one-device program)."""
        from varbayes.parallel import placement_for

        return placement_for(self.approx.model, self.approx.logdensity_data_vars, devices)

    def _data(self) -> tuple:
        """The log-density's data, on the fit's devices."""
        if self._placement is None:
            return self.approx.logdensity_data()
        return self._placement.put_data([v.get_value(borrow=True) for v in self.approx.logdensity_data_vars])

    def _run(self, n, callbacks, progressbar, limits=(None, None), search=False):
        if self._placement is None:
            return self._run_with(self._key, n, callbacks, progressbar, limits, search)
        try:
            return self._run_with(self._placement.replicate(self._key), n, callbacks, progressbar, limits, search)
        finally:
            # the parameters come back to the default device, so that what follows the fit
            # (draws, a later fit on one device) is not spread over the mesh
            params = jax.tree_util.tree_map(jax.numpy.asarray, jax.device_get(self.approx.jax_params))
            self.approx.set_params(params)

    def _run_with(self, key, n, callbacks, progressbar, limits, search):
        self.state = self.state._replace(params=self.approx.jax_params)
        data = self._data()
        if self._placement is not None:
            self.state = self._placement.replicate(self.state)
        else:
            # committed to their device, as the loop's outputs are: the programs that see both
            # (to the model's coordinates, the optimizer's init) are then lowered once, and
            # the loop's calls do not commit the key and the data again each time
            self.state, key, data = committed((self.state, key, data))
        streams = self.approx.streaming_minibatches()
        refresh = None
        if streams:

            def refresh():
                for minibatch in streams:
                    minibatch.refresh_window()
                return self._data()

        if n is not None:
            if self._whiten:
                # refine(n) after fit(n=None): the compiled step reads whitened data; the
                # identity map keeps the model's coordinates
                data, refresh = _unwhitened(self.approx.family, self.state.params, data, refresh)
            self.state, _, _ = run_fit(
                self.approx, self.state, self._chunk_for, key, data, n, callbacks, progressbar, refresh,
                checkpoint=self._checkpointer(),
            )
            return self.approx
        return self._run_until_converged(key, data, refresh, callbacks, progressbar, limits, search)

    def _run_until_converged(self, key, data, refresh, callbacks, progressbar, limits, search):
        """``fit(n=None)`` on data and state already placed on the fit's devices."""
        max_n, max_time = limits
        schedule = learning_rate(self.state.opt_state) is not None and self._step_config[0][0] == "auto"
        if schedule and search and len(self.approx.hist) == 0 and self.approx.family.affine is not None:
            # a first fit starts narrow (sd 0.1, as NumPyro's guides do): a unit-sd q
            # can put the first draws where the log-density overflows
            start = self.approx._narrow_start
            if start is None or self._placement is not None:
                start = _narrowing(self.approx.family)(self.state.params)
            self.state = self.state._replace(params=committed(start))
        self.state, report = run_until_converged(
            self.approx, self.state, self._chunk_for, key, data, self._init_optimizer,
            max_n=max_n, max_time=max_time, callbacks=callbacks, progressbar=progressbar, refresh=refresh,
            schedule=schedule, search=search and self.searches_step_size, whiten=self._whiten,
            rule=self.stop_rule, checkpoint=self._checkpointer(),
        )
        draws = self._draws_report()
        self.approx.convergence = report if draws is None else replace(report, _draws=draws)
        return self.approx

    def _draws_report(self) -> Callable[[], int] | None:
        """What ``approx.convergence.draws`` computes on first use (``None``: not reported)."""
        return None

    #: Whether ``fit(n=None)`` starts with the step-size search (it compares losses,
    #: which for SVGD's particles are not an objective).
    searches_step_size = True
    #: Thresholds of the stop rule of ``fit(n=None)``.
    stop_rule = StopRule()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {self.approx!r}>"


def _unwhitened(family, params, data, refresh):
    """``(data, refresh)`` for a whitened step, with the identity map (the model's coordinates)."""
    whitening = identity(family, params)
    if refresh is None:
        return (whitening, data), None
    return (whitening, data), lambda: (whitening, refresh())


@lru_cache(maxsize=16)
def _adaptive_init(optimizer, step_size: float) -> StoredProgram:
    """``optimizer.init`` of ``optimizer = adaptive_adam(step_size)``, kept on disk compiled, as the loop is."""
    return StoredProgram(jax.jit(optimizer.init), ("adaptive_adam init", float(step_size)))


@program_per_object
def _narrowing(family):
    """:func:`~varbayes.variational.api.approximations.narrowed` for ``family`` as one jitted program."""
    return jax.jit(lambda params: narrowed(family, params))


def _check_checkpoint(checkpoint, every, resume):
    """Validate the checkpoint arguments; return ``(path or None, seconds, path to resume from or None)``."""
    every = DEFAULT_CHECKPOINT_EVERY if every is None else parse_interval(every)
    if checkpoint is not None:
        checkpoint = check_writable(checkpoint)
    if resume is True:
        if checkpoint is None:
            raise ValueError("resume=True resumes from the checkpoint file: pass checkpoint=path as well")
        resume = checkpoint if checkpoint.exists() else None
    elif resume is False:
        resume = None
    elif resume is not None and not isinstance(resume, (str, os.PathLike)):
        raise TypeError(f"resume must be a file path or a bool, got {resume!r}")
    return checkpoint, every, resume


def _check_limits(n, max_n, max_time) -> tuple[int, float | None]:
    """Validate ``n``, ``max_n`` and ``max_time``; return the caps of a fit with ``n=None``."""
    if n is not None and (isinstance(n, bool) or not isinstance(n, (int, np.integer))):
        raise TypeError(f"n must be an int (a number of iterations) or None (run until converged), got {n!r}")
    if n is not None:
        if max_n is not None or max_time is not None:
            raise ValueError("max_n and max_time cap fits that run until converged: pass n=None to use them")
        return None, None
    if max_n is None:
        max_n = DEFAULT_MAX_N
    if isinstance(max_n, bool) or not isinstance(max_n, (int, np.integer)):
        raise TypeError(f"max_n must be an int, got {max_n!r}")
    if max_n < 1:
        raise ValueError(f"max_n must be at least 1, got {max_n}")
    if max_time is not None:
        if isinstance(max_time, bool) or not isinstance(max_time, (int, float, np.integer, np.floating)):
            raise TypeError(f"max_time must be a number of seconds, got {max_time!r}")
        if not max_time >= 0:
            raise ValueError(f"max_time must be a non-negative number of seconds, got {max_time}")
    return int(max_n), None if max_time is None else float(max_time)


def _model_and_seed(model, random_seed):
    model = modelcontext(model)
    seed = default_seed(random_seed)
    return model, seed
