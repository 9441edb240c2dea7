"""The Python side of a fit: chunks, callbacks, progress, and clean stops.

Python runs only between compiled chunks. Chunk lengths are chosen so that
callbacks run exactly at the iterations they ask for:

* no callbacks: chunks of about a quarter second of work;
* callbacks with ``every = k``: chunks end at multiples of ``k``;
* a callback that needs every iteration: the chunk records the state after
  each step and the callbacks are replayed on those states afterwards (with
  the approximation set to each recorded state), so no step is dispatched
  from Python one at a time. A callback that stops the fit rolls the state
  back to its iteration.
"""

from __future__ import annotations

import time
from typing import Callable

import jax
import numpy as np

from varbayes.variational.api.callbacks import callback_every
from varbayes.variational.api.progress import FitProgress, log

__all__ = ["run_fit"]

_TARGET_SECONDS = 0.25
_AVERAGE_WINDOW = 1000


def _average(scores: np.ndarray) -> float:
    window = scores[-_AVERAGE_WINDOW:]
    window = window[np.isfinite(window)]
    return float(np.mean(window)) if window.size else float("nan")


def _validate(n, callbacks):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"n must be an int, got {n!r}")
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    callbacks = list(callbacks or [])
    for cb in callbacks:
        if not callable(cb):
            raise TypeError(f"callbacks must be callables (approx, loss_history, i); got {cb!r}")
    return int(n), callbacks, [callback_every(cb) for cb in callbacks]


def run_fit(
    approx,
    state,
    chunk_for: Callable[[bool], tuple[Callable, int]],
    key,
    data,
    n: int,
    callbacks=None,
    progressbar: bool = True,
    refresh: Callable | None = None,
):
    """Run ``n`` iterations; return ``(state, scores, stop_message)``.

    ``refresh()``, when given, is called before each chunk and returns the
    data for it (out-of-core minibatch sources move their window then).

    ``chunk_for(record_states)`` gives the compiled chunk and its buffer size.
    The approximation's parameters and ``hist`` are updated as it goes, so a
    stop of any kind (callback, ``KeyboardInterrupt``, non-finite loss)
    leaves the last good state in place.
    """
    n, callbacks, everys = _validate(n, callbacks)
    per_iteration = any(e == 1 for e in everys)
    chunk, buffer = chunk_for(per_iteration)
    offset = len(approx.hist)
    scores = np.empty(n)
    done = 0
    steps = min(n, buffer, 16 if per_iteration else 1000)
    message = None

    def commit(new_state, count):
        first = len(approx.hist) - offset
        approx.set_params(new_state.params)
        approx.hist = np.concatenate([approx.hist, scores[first : first + count]])
        return new_state

    started = time.perf_counter()
    with FitProgress(n, progressbar) as bar:
        while done < n:
            if refresh is not None:
                data = refresh()
            try:
                state, steps, message = _chunk_and_callbacks(
                    approx, state, chunk, key, data, offset, done, steps, buffer, scores, commit,
                    callbacks, everys, per_iteration,
                )
            except KeyboardInterrupt:
                # keep the approximation as of the last finished chunk
                approx.set_params(state.params)
                message = "KeyboardInterrupt"
            if message is not None:
                break
            done = len(approx.hist) - offset
            rate = done / max(time.perf_counter() - started, 1e-9)
            bar.update(done, _average(scores[:done]), rate)
    done = len(approx.hist) - offset
    average = _average(scores[:done])
    if message is None:
        log.info(f"Finished [100%]: Average Loss = {average:,.5g}")
    else:
        if message != "StopIteration":
            log.info(message)
        last = max(done - 1, 0)
        percent = int(100 * last / n) if n else 100
        log.info(f"Interrupted at {last:,} [{percent}%]: Average Loss = {average:,.5g}")
    return state, scores[:done], message


def _chunk_and_callbacks(
    approx, state, chunk, key, data, offset, done, steps, buffer, scores, commit, callbacks, everys, per_iteration
):
    """Run one chunk, record its losses, run the callbacks due in it.

    Returns ``(state, next_chunk_length, stop_message_or_None)``.
    """
    if not per_iteration and callbacks:
        steps = min(min(e - (offset + done) % e for e in everys), buffer)
    steps = min(steps, len(scores) - done)
    tic = time.perf_counter()
    result = chunk(state, key, data, offset + done, steps)
    n_done = int(result.n_done)
    losses = np.asarray(result.losses)[:n_done]  # slicing on the host: no compile per length
    elapsed = time.perf_counter() - tic
    finite = bool(result.finite)
    n_good = n_done if finite else n_done - 1
    scores[done : done + n_good] = losses[:n_good]
    if not finite:
        commit(result.state, n_good)
        raise FloatingPointError(
            f"NaN or inf loss at iteration {offset + done + n_done}: the approximation keeps the "
            "parameters of the last finite iteration. Try a smaller learning rate, "
            "total_grad_norm_constraint, or a better-scaled model."
        )
    if per_iteration:
        states = jax.device_get(result.states)
        for j in range(n_done):
            step_state = jax.tree_util.tree_map(lambda a: a[j], states)
            approx.set_params(step_state.params)
            it = offset + done + j + 1
            try:
                for cb, every in zip(callbacks, everys):
                    if it % every == 0:
                        cb(approx, scores[: done + j + 1], it)
            except StopIteration as stop:
                state = commit(jax.tree_util.tree_map(jax.numpy.asarray, step_state), j + 1)
                return state, steps, str(stop) or "StopIteration"
            except BaseException:
                approx.set_params(state.params)
                raise
        return commit(result.state, n_done), min(2 * steps, buffer), None
    state = commit(result.state, n_done)
    it = offset + done + n_done
    try:
        for cb, every in zip(callbacks, everys):
            if it % every == 0:
                cb(approx, scores[: done + n_done], it)
    except StopIteration as stop:
        return state, steps, str(stop) or "StopIteration"
    if not callbacks:
        per_step = elapsed / max(n_done, 1)
        steps = int(min(buffer, max(1, _TARGET_SECONDS / max(per_step, 1e-9))))
    return state, steps, None
