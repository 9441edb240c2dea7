"""Fits that stop by themselves: the loop of ``fit(n=None)`` around the stop rule.

The loop runs compiled chunks as a fixed-``n`` fit does; between them the
:class:`~varbayes.variational.core.convergence.IterateMonitor` reads the
iterates' segment sums and the stop rule decides: go on, lower the step size
(when the schedule is ours), or stop and return the iterate average.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import nullcontext

import jax
import numpy as np
from jax.flatten_util import ravel_pytree

from varbayes.stored import StoredProgram
from varbayes.variational.api.loop import _average, _Run, _validate
from varbayes.variational.api.progress import FitProgress, log
from varbayes.variational.api.report import Convergence, announce, diagnose_at, drifting_variables
from varbayes.variational.core.convergence import IterateMonitor, StopRule, batch_mcse, loss_trend
from varbayes.variational.core.families import FIXED_BY_NAME
from varbayes.variational.core.precondition import identity, to_model, to_whitened, whitening_of
from varbayes.variational.core.schedule import (
    CANDIDATE_STEP_SIZES,
    learning_rate,
    search_score,
    with_learning_rate,
)
from varbayes.variational.core.step import VIState, placed_like, program_per_object

__all__ = ["DEFAULT_MAX_N", "Convergence", "run_until_converged"]

#: Cap on the iterations of a fit with ``n=None``.
DEFAULT_MAX_N = 1_000_000
SEGMENT = 5  # iterations summed together inside the compiled loop
SEARCH_STEPS = 100  # iterations each candidate step size runs
STEP_DECREASE = 0.25  # factor applied to the step size when averaging would take too long
MIN_STEP_FRACTION = 1e-4  # the step size is never lowered below this fraction of its first value
MAX_RECOVERIES = 5  # non-finite losses the schedule recovers from by lowering the step size
MAX_WHITENINGS = 3  # re-whitenings at one step size before the step size is lowered
MIN_CHUNK = 128  # iterations of the shortest chunk between two checks
FIRST_WHITENING = 250  # iterations before the first whitening of a drifting fit (then doubling)
MAX_EARLY_WHITENINGS = 5


def _host_unravel(params) -> tuple[int, Callable]:
    """``(size, unravel)`` of ``params``, where ``unravel`` takes a flat NumPy vector.

    The leaves are cut by static slices (``ravel_pytree``'s order) and
    converted on the host, then put on the device of ``params``
    (:func:`~varbayes.variational.core.step.placed_like`): ``ravel_pytree``'s
    unravel does the same with eager JAX operations, which compile a program
    each in a new process. The values are the same.
    """
    leaves, treedef = jax.tree_util.tree_flatten(params)
    shapes = [tuple(np.shape(leaf)) for leaf in leaves]
    dtypes = [jax.numpy.result_type(leaf) for leaf in leaves]
    offsets = np.cumsum([0, *(math.prod(shape) for shape in shapes)]).tolist()

    def unravel(flat: np.ndarray):
        flat = np.asarray(flat)
        cut = [
            np.asarray(flat[start:stop].reshape(shape), dtype)
            for start, stop, shape, dtype in zip(offsets, offsets[1:], shapes, dtypes)
        ]
        return placed_like(jax.tree_util.tree_unflatten(treedef, cut), params)

    return offsets[-1], unravel


def _search(run: _Run, state: VIState, data, bar) -> tuple[VIState, float, int]:
    """Run the candidate step sizes, largest first, from ``state``; commit the best one's iterations to the fit.

    As in Stan's ADVI, the search ends at the first candidate that does worse
    than the best before it: smaller steps only make less progress in the
    same number of iterations.
    """
    start = run.offset + run.done
    best, tried = None, 0
    for step_size in CANDIDATE_STEP_SIZES:
        trial = VIState(state.params, with_learning_rate(state.opt_state, step_size))
        result = run.chunk(trial, run.key, data, start, SEARCH_STEPS, 0)
        n_done, losses, finite = jax.device_get((result.n_done, result.losses, result.finite))
        losses = losses[:n_done]
        score = search_score(losses) if finite and n_done == SEARCH_STEPS else float("inf")
        tried += 1
        if best is not None and np.isfinite(best[0]) and score >= best[0]:
            break
        if best is None or score < best[0]:
            best = (score, step_size, result, losses)
    score, step_size, result, losses = best
    if not np.isfinite(score):
        raise FloatingPointError(
            "every candidate step size "
            f"({', '.join(map(str, CANDIDATE_STEP_SIZES))}) gave a NaN or inf loss in its first "
            f"{SEARCH_STEPS} iterations: check the model's log-density at its initial point "
            "(model.point_logps()), or give a start point or obj_optimizer"
        )
    done = run.done
    run.scores[done : done + SEARCH_STEPS] = losses
    state = run.commit(result.state, SEARCH_STEPS)
    bar.update(run.done, _average(run.scores[: run.done]), 0.0)
    return state, step_size, (tried - 1) * SEARCH_STEPS


def _chunk_steps(run: _Run, stage_iterations: int, remaining: int, rule: StopRule) -> int:
    """Chunks grow with the window (a check every ~20 % of it); the first one reaches the first check.

    Lengths depend on iteration counts only, never on timings, so a fit is
    reproducible for a given seed.
    """
    first_check = rule.min_atoms * SEGMENT - stage_iterations
    steps = max(MIN_CHUNK, stage_iterations // 5, first_check)
    return int(max(1, min(steps, run.buffer, remaining)))


@program_per_object
def _maps(family):
    """Jitted maps of ``family``'s parameters: ``(to_model_and_units, enter)``.

    ``to_model_and_units(params, whitening)`` gives the parameters in the
    model's coordinates (unchanged for ``whitening=None``) and their units,
    flat (``family.scale``; ``None`` without one): a check needs both of its
    window's average, and in a new process each small program costs ~5 ms.
    ``enter(model_params)`` re-whitens. One program each instead of dozens of
    eagerly dispatched (and separately compiled) operations; cached per
    family, so across fits (built per call for a family that cannot be hashed),
    and kept on disk compiled for the families fixed by their name
    (:mod:`varbayes.stored`), where loading one costs ~3 ms.
    """

    def to_model_and_units(params, whitening):
        units = None if family.scale is None else ravel_pytree(family.scale(params))[0]
        return (params if whitening is None else to_model(family, params, whitening)), units

    def enter(model_params):
        whitening = whitening_of(family, model_params)
        return whitening, to_whitened(family, model_params, whitening)

    # kept on disk compiled, as the fit's loop is: a new process then neither traces nor lowers them
    stored = family.name in FIXED_BY_NAME
    return (
        StoredProgram(jax.jit(to_model_and_units), ("to_model_and_units", family.name) if stored else None),
        StoredProgram(jax.jit(enter), ("enter", family.name) if stored else None),
    )


class _Coordinates:
    """The coordinates the loop runs in: the model's, or whitened ones that change between windows.

    ``state.params`` live in these coordinates; ``approx`` always holds the
    parameters in the model's.
    """

    def __init__(self, family, params, whiten: bool):
        self.family = family
        self.whitening = identity(family, params) if whiten else None
        self._to_model_and_units, self._enter = _maps(family)

    def data(self, data):
        return data if self.whitening is None else (self.whitening, data)

    def to_model(self, params):
        return params if self.whitening is None else self._to_model_and_units(params, self.whitening)[0]

    def units_and_model(self, params, size: int) -> tuple[np.ndarray, object]:
        """``(units, model_params)`` of ``params``: their units, and they in the model's coordinates.

        The units are the family's ``scale`` as a flat host vector (ones
        without one); one program gives both.
        """
        if self.family.scale is None and self.whitening is None:
            return np.ones(size), params
        model_params, units = self._to_model_and_units(params, self.whitening)
        return (np.ones(size) if units is None else np.asarray(units)), model_params

    def enter(self, model_params):
        """Re-whiten at ``model_params`` (q becomes a standard normal); return them in the new coordinates."""
        if self.whitening is None:
            return model_params
        self.whitening, params = self._enter(model_params)
        return params


def advance(run: _Run, state: VIState, data: Callable, rule: StopRule, caps: tuple, checkpoint, recover: Callable):
    """One chunk of a fit that stops by itself: ``(state, outcome, message)``.

    ``outcome`` is ``None`` (go on and judge the chunk), ``"recovered"`` (go on
    without judging: a non-finite loss was recovered from), or why the fit
    ends (``"max_n"``, ``"max_time"``, ``"interrupted"``, ``"callback"``).

    ``caps`` is ``(max_n, max_time, started)``, checked first; ``data()``
    gives the chunk's data (after any streaming refresh). A
    ``KeyboardInterrupt`` keeps the last committed state (reason
    ``"interrupted"``); a non-finite loss asks ``recover()`` for the state to
    go on from (outcome ``"recovered"``), and re-raises (the checkpoint
    written) when it returns ``None``; a callback's stop or a SIGTERM gives ``"callback"`` or
    ``"interrupted"`` with its message.
    """
    max_n, max_time, started = caps
    if run.done >= max_n:
        return state, "max_n", None
    if max_time is not None and time.perf_counter() - started >= max_time:
        return state, "max_time", None
    chunk_data = data()
    run.steps = _chunk_steps(run, run.monitor.iterations, max_n - run.done, rule)
    try:
        state, message = run.chunk_and_callbacks(state, chunk_data)
        if checkpoint is not None and message is None:
            # the approximation holds the current iterate in the model's coordinates
            message = checkpoint.after_chunk(state)
    except KeyboardInterrupt:
        run.approx.set_params(run.to_model(run.state.params))
        return run.state, "interrupted", None
    except FloatingPointError:
        recovered = recover()
        if recovered is None:
            if checkpoint is not None:
                checkpoint.write(run.state)
            raise
        return recovered, "recovered", None
    except BaseException:
        if checkpoint is not None:
            checkpoint.write(run.state)
        raise
    if message is not None:
        stopped = message == "KeyboardInterrupt" or message.startswith("SIGTERM")
        return state, "interrupted" if stopped else "callback", message
    return state, None, None


def run_until_converged(
    approx,
    state: VIState,
    chunk_for: Callable,
    key,
    data,
    init_optimizer: Callable,
    max_n: int = DEFAULT_MAX_N,
    max_time: float | None = None,
    callbacks=None,
    progressbar: bool = True,
    refresh: Callable | None = None,
    schedule: bool = True,
    search: bool = True,
    whiten: bool = False,
    rule: StopRule | None = None,
    observe: Callable | None = None,
    checkpoint=None,
) -> tuple[VIState, Convergence]:
    """Fit until the stop rule fires (or ``max_n`` / ``max_time``); return the state and the report.

    ``init_optimizer(params)`` gives the optimizer's state for a new window.
    ``schedule`` lets the loop set the learning rate (an optimizer from
    :func:`~varbayes.variational.core.schedule.adaptive_adam`); ``search``
    starts with the step-size search; ``whiten`` runs the loop in whitened
    coordinates (``chunk_for`` must then build the whitened step, see
    :mod:`varbayes.variational.core.precondition`), re-whitened at each new
    window. The approximation ends with the iterate average of the final
    window when that window is stationary. ``observe(iteration, average,
    stationary)``, when given, is called after every check with the window's
    iterate average in the model's coordinates (``None`` before the first
    check) and whether the window is stationary, while ``approx`` holds the
    current iterate. ``checkpoint`` (a
    :class:`~varbayes.variational.api.checkpoint.Checkpointer`) is written as
    in :func:`~varbayes.variational.api.loop.run_fit`.
    """
    rule = StopRule() if rule is None else rule
    max_n, callbacks, everys = _validate(max_n, callbacks)
    started = time.perf_counter()
    run = _Run(approx, chunk_for, key, max_n, callbacks, everys, segment=SEGMENT)
    run.state = state
    coords = _Coordinates(approx.family, state.params, whiten and schedule)
    run.to_model = coords.to_model
    size, unravel = _host_unravel(state.params)
    step_sizes = [] if learning_rate(state.opt_state) is None else [learning_rate(state.opt_state)]
    search_iterations = 0
    reason, message, check, recoveries = None, None, None, 0
    inner, events = data, []

    def new_window(model_params, step_size, why: str):
        """Restart at ``model_params`` with ``step_size``, fresh optimizer moments and an empty window."""
        nonlocal stage_start, check
        events.append((run.offset + run.done, why, float(step_size)))
        log.debug(f"iteration {run.offset + run.done:,}: {why}, step size {step_size:.3g}")
        params = coords.enter(model_params)
        # fresh moments: those of a run-away phase would freeze the new steps
        run.monitor, stage_start, check = IterateMonitor(size, SEGMENT), run.done, None
        approx.set_params(model_params)
        step_sizes.append(step_size)
        return VIState(params, with_learning_rate(init_optimizer(params), step_size))

    def recover():
        nonlocal recoveries
        if not schedule or recoveries >= MAX_RECOVERIES:
            return None
        # the approximation holds the last finite parameters: go on from there
        recoveries += 1
        log.info(f"NaN or inf loss: step size lowered to {step_sizes[-1] * 0.1:.3g}")
        return new_window(approx.jax_params, step_sizes[-1] * 0.1, "non-finite loss")

    def chunk_data():
        nonlocal inner
        if refresh is not None:
            inner = refresh()
        return coords.data(inner)

    with FitProgress(None, progressbar) as bar, checkpoint if checkpoint is not None else nullcontext():
        if refresh is not None:
            inner = refresh()
        if search and schedule:
            try:
                state, step_size, search_iterations = _search(run, state, coords.data(inner), bar)
            except KeyboardInterrupt:
                reason = "interrupted"  # the approximation is as it was before the fit
            else:
                step_sizes = [step_size]
                state = VIState(state.params, with_learning_rate(state.opt_state, step_size))
        run.monitor = IterateMonitor(size, SEGMENT)
        stage_start = run.done
        best, whitenings, early_whitenings = _BestWindow(), 0, 0

        caps = (max_n, max_time, started)
        while reason is None:
            state, outcome, message = advance(run, state, chunk_data, rule, caps, checkpoint, recover)
            if outcome == "recovered":
                continue
            if outcome is not None:
                reason = outcome
                break
            # the check, and the window's iterate average in the model's coordinates
            check, average = _check(run.monitor, coords, unravel, size, rule)
            if observe is not None:
                observe(run.offset + run.done, average, check is not None and check.stationary)
            worse = check is not None and best.worse(run, stage_start, check, average)
            if check is not None and check.converged and not (schedule and worse):
                reason = "converged"
                break
            if not schedule or check is None or step_sizes[-1] <= MIN_STEP_FRACTION * step_sizes[0]:
                pass
            elif worse:
                # the fit has left a better region: go back there with smaller steps
                state = new_window(best.params, step_sizes[-1] * STEP_DECREASE, "loss worse than before")
            elif _too_noisy(check, rule):
                # stationary, but too noisy to average in reasonable time: the step is large
                # against the posterior's scale in some direction. Whitening at the average
                # fixes that without slowing the fit (with averaging, a smaller step does not
                # lower the error reached in a given number of iterations); smaller steps
                # only once re-whitening has not helped.
                rewhiten = coords.whitening is not None and whitenings < MAX_WHITENINGS
                step_size = step_sizes[-1] if rewhiten else step_sizes[-1] * STEP_DECREASE
                whitenings += rewhiten
                state = new_window(average, step_size, "re-whitened" if rewhiten else "too noisy")
            elif (
                coords.whitening is not None
                and not check.stationary
                and early_whitenings < MAX_EARLY_WHITENINGS
                and run.monitor.iterations >= FIRST_WHITENING << early_whitenings
            ):
                # still drifting: whiten with what q has learnt of the posterior's scales and
                # correlations so far, in doubling windows (as NUTS adapts its mass matrix)
                early_whitenings += 1
                state = new_window(average, step_sizes[-1], "adapted")
            elif not check.stationary and _unstable(run, stage_start, check):
                state = new_window(
                    coords.to_model(unravel(run.monitor.halves()[0])), step_sizes[-1] * STEP_DECREASE, "unstable"
                )
            rate = run.done / max(time.perf_counter() - started, 1e-9)
            bar.update(run.done, _average(run.scores[: run.done]), rate)

    window, elbo, elbo_se = None, None, None
    if check is not None and check.stationary and reason != "interrupted":
        state = VIState(unravel(check.average), state.opt_state)
        first = run.offset + stage_start + check.start
        window = (first, first + check.length)
        losses = approx.hist[window[0] : window[1]]
        elbo = -float(np.mean(losses))
        elbo_se = float(batch_mcse(losses[:, None])[0])
    model_params = coords.to_model(state.params)
    approx.set_params(model_params)
    if checkpoint is not None and not checkpoint.terminate:
        checkpoint.write(state)
    report = Convergence(
        reason=reason,
        iterations=run.done,
        search_iterations=search_iterations,
        step_sizes=tuple(float(s) for s in step_sizes),
        rhat=None if check is None else check.rhat,
        mcse=None if check is None else check.mcse,
        window=window,
        elbo=elbo,
        elbo_se=elbo_se,
        seconds=time.perf_counter() - started,
        events=tuple(events),
        _diagnose=diagnose_at(approx, model_params),
    )
    drifting = () if check is None or check.stationary else drifting_variables(approx, state.params, check.rhats)
    announce(report, run, message, max_n, max_time, drifting)
    return VIState(model_params, state.opt_state), report


class _BestWindow:
    """The window with the lowest median loss seen so far in the fit, and its iterate average.

    A later window whose loss is clearly worse means the iterates left a
    better region (a step size that was stable for the search's few dozen
    iterations need not stay so): the schedule goes back there.
    """

    def __init__(self):
        self.loss, self.se, self.params = np.inf, 0.0, None

    def worse(self, run: _Run, stage_start: int, check, model_params) -> bool:
        losses = _window_losses(run, stage_start, check)
        # medians: a window in which the loss exploded has a mean (and a standard
        # error) too large to compare with anything
        loss = float(np.median(losses))
        if loss < self.loss:
            self.loss, self.se, self.params = loss, _median_se(losses), model_params
            return False
        # clearly worse: beyond noise, and by more than a nat or 1 % (a run-away, not a wobble;
        # the best of many noisy windows is itself biased low)
        margin = max(1.0, 1e-2 * abs(self.loss))
        if loss - self.loss <= margin:
            return False
        return loss - self.loss > 4.0 * np.hypot(self.se, _median_se(losses)) + margin


def _median_se(losses: np.ndarray, n_batches: int = 16) -> float:
    """Standard error of a window's median loss, from the spread of its batch medians."""
    medians = np.array([np.median(b) for b in np.array_split(losses, n_batches)])
    return float(np.std(medians, ddof=1) / np.sqrt(n_batches))


def _too_noisy(check, rule: StopRule) -> bool:
    """Stationary, but averaging to the tolerance would take much longer than the window so far."""
    return check.stationary and check.needed > rule.lower_step_ratio * check.length


def _window_losses(run: _Run, stage_start: int, check, most: int = 8192) -> np.ndarray:
    """The window's losses, thinned to at most ``most`` evenly spaced ones.

    Their statistics are computed at every check: on a long window the whole
    array would make each check cost as much as the window.
    """
    first = stage_start + check.start
    stride = max(1, -(-check.length // most))
    return run.scores[first : first + check.length : stride]


def _unstable(run: _Run, stage_start: int, check) -> bool:
    """Still drifting while the loss has become clearly worse over the window."""
    losses = _window_losses(run, stage_start, check)
    change, se = loss_trend(losses)
    return change > 4.0 * se + max(1.0, 1e-3 * abs(float(np.median(losses))))


def _check(monitor, coords: _Coordinates, unravel: Callable, size: int, rule: StopRule):
    """``(check, window average in the model's coordinates)``; ``(None, None)`` while there are too few batch means.

    The parameters are judged in the family's units of the window's average.
    """
    if len(monitor.atoms) < rule.min_atoms:
        return None, None
    atoms, _ = monitor.window()
    units, average = coords.units_and_model(unravel(atoms.mean(axis=0)), size)
    return monitor.check(units, rule), average


