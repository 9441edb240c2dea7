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
from contextlib import nullcontext
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
    chunk_for: Callable[[bool, int], tuple[Callable, int]],
    key,
    data,
    n: int,
    callbacks=None,
    progressbar: bool = True,
    refresh: Callable | None = None,
    checkpoint=None,
):
    """Run ``n`` iterations; return ``(state, scores, stop_message)``.

    ``chunk_for(record_states, segment)`` gives the compiled chunk and its buffer size
    (``segment`` > 0: the chunk also returns segment sums of the iterates).
    ``refresh()``, when given, is called before each chunk and returns the
    data for it (out-of-core minibatch sources move their window then).
    The approximation's parameters and ``hist`` are updated as it goes, so a
    stop of any kind (callback, ``KeyboardInterrupt``, non-finite loss)
    leaves the last good state in place. ``checkpoint`` (a
    :class:`~varbayes.variational.api.checkpoint.Checkpointer`), when given,
    writes the last finished chunk's state when due, when the fit ends
    (however it ends) and on SIGTERM, which then stops the fit.
    """
    n, callbacks, everys = _validate(n, callbacks)
    run = _Run(approx, chunk_for, key, n, callbacks, everys)
    run.state = state
    message = None
    started = time.perf_counter()
    with FitProgress(n, progressbar) as bar, checkpoint if checkpoint is not None else nullcontext():
        while run.done < n:
            # everything between two chunks is inside the try: Ctrl-C may land anywhere
            try:
                if refresh is not None:
                    data = refresh()
                state, message = run.chunk_and_callbacks(state, data)
                if checkpoint is not None and message is None:
                    message = checkpoint.after_chunk(state)
                if message is None:
                    rate = run.done / max(time.perf_counter() - started, 1e-9)
                    bar.update(run.done, _average(run.scores[: run.done]), rate)
            except KeyboardInterrupt:
                # keep the approximation as of the last finished chunk
                state = run.state
                approx.set_params(state.params)
                message = "KeyboardInterrupt"
            except BaseException:
                if checkpoint is not None:
                    checkpoint.write(run.state)
                raise
            if message is not None:
                break
        if checkpoint is not None and not checkpoint.terminate:
            checkpoint.write(state)
    scores = run.scores[: run.done]
    average = _average(scores)
    if message is None:
        log.info(f"Finished [100%]: Average Loss = {average:,.5g}")
    else:
        if message != "StopIteration":
            log.info(message)
        last = max(run.done - 1, 0)
        percent = int(100 * last / n) if n else 100
        log.info(f"Interrupted at {last:,} [{percent}%]: Average Loss = {average:,.5g}")
    return state, scores, message


class _Run:
    """One fit's bookkeeping between compiled chunks.

    ``done`` counts the iterations committed to ``approx.hist`` in this fit;
    ``steps`` is the length of the next chunk.
    """

    def __init__(self, approx, chunk_for, key, n, callbacks, everys, segment: int = 0):
        self.approx, self.key = approx, key
        self.callbacks, self.everys = callbacks, everys
        self.per_iteration = any(e == 1 for e in everys)
        self.chunk, self.buffer = chunk_for(self.per_iteration, segment)
        self.offset = len(approx.hist)
        self.scores = np.empty(n)
        self.steps = min(n, self.buffer, 16 if self.per_iteration else 1000)
        # an IterateMonitor, fed the chunks' segment sums (fits that stop by themselves)
        self.monitor = None
        # the state's parameters in the model's coordinates (a fit may run in whitened ones)
        self.to_model = lambda params: params
        # the state of the last iterations committed to the approximation
        self.state = None

    @property
    def done(self) -> int:
        return len(self.approx.hist) - self.offset

    def commit(self, state, count: int):
        """Make ``state`` the approximation's and append ``count`` losses to its history."""
        first = self.done
        self.approx.set_params(self.to_model(state.params))
        self.approx.hist = np.concatenate([self.approx.hist, self.scores[first : first + count]])
        self.state = state
        return state

    def _run_callbacks(self, iteration: int, n_scores: int) -> None:
        for callback, every in zip(self.callbacks, self.everys):
            if iteration % every == 0:
                try:
                    callback(self.approx, self.scores[:n_scores], iteration)
                except StopIteration:
                    raise
                except Exception as error:
                    error.add_note(
                        f"raised by the callback {callback!r} at iteration {iteration}; the approximation "
                        f"keeps the parameters of iteration {len(self.approx.hist)}"
                    )
                    raise

    def chunk_and_callbacks(self, state, data):
        """Run one chunk, record its losses, run the callbacks due in it.

        Returns ``(state, stop_message_or_None)``.
        """
        done, offset = self.done, self.offset
        if not self.per_iteration and self.callbacks:
            # end the chunk at the next iteration a callback asks for
            self.steps = min(min(e - (offset + done) % e for e in self.everys), self.buffer)
        steps = min(self.steps, len(self.scores) - done)
        tic = time.perf_counter()
        phase = self.monitor.phase if self.monitor is not None else 0
        result = self.chunk(state, self.key, data, offset + done, steps, phase)
        # one transfer for the chunk's small outputs: a fit that stops by itself returns to
        # Python dozens of times, and each array read on its own waits and copies separately
        n_done, losses, finite, sums = jax.device_get((result.n_done, result.losses, result.finite, result.segment_sums))
        n_done, finite = int(n_done), bool(finite)
        losses = losses[:n_done]  # slicing on the host: no compile per length
        elapsed = time.perf_counter() - tic
        n_good = n_done if finite else n_done - 1
        self.scores[done : done + n_good] = losses[:n_good]
        if not finite:
            self.commit(result.state, n_good)
            raise FloatingPointError(
                f"NaN or inf loss at iteration {offset + done + n_done}: the approximation keeps the "
                "parameters of the last finite iteration. Try a smaller learning rate, "
                "total_grad_norm_constraint, or a better-scaled model."
            )
        if self.monitor is not None:
            self.monitor.add(sums, n_done)
        if self.per_iteration:
            return self._replay(state, result, n_done)
        state = self.commit(result.state, n_done)
        try:
            self._run_callbacks(offset + done + n_done, done + n_done)
        except StopIteration as stop:
            return state, str(stop) or "StopIteration"
        if not self.callbacks:
            per_step = elapsed / max(n_done, 1)
            self.steps = int(min(self.buffer, max(1, _TARGET_SECONDS / max(per_step, 1e-9))))
        return state, None

    def _replay(self, state, result, n_done: int):
        """Run per-iteration callbacks on the states the chunk recorded after each step."""
        done = self.done
        states = jax.device_get(result.states)
        for j in range(n_done):
            step_state = jax.tree_util.tree_map(lambda a: a[j], states)
            self.approx.set_params(self.to_model(step_state.params))
            try:
                self._run_callbacks(self.offset + done + j + 1, done + j + 1)
            except StopIteration as stop:
                state = self.commit(jax.tree_util.tree_map(jax.numpy.asarray, step_state), j + 1)
                return state, str(stop) or "StopIteration"
            except BaseException:
                self.approx.set_params(self.to_model(state.params))
                raise
        self.steps = min(2 * self.steps, self.buffer)
        return self.commit(result.state, n_done), None
