"""Stan's windowed warmup, one chain at a time, as pure JAX functions.

Each chain adapts its own step size (dual averaging) and diagonal inverse
mass matrix (Welford variance over doubling windows), as in Stan and PyMC,
until the last metric update. In the terminal window that follows, the
chains share one step size, moved by a low-gain Robbins-Monro recursion on
their mean acceptance, and the final step size is the average of its
iterates over the window's second half (see :func:`warmup`). The warmup is
driven step by step from a schedule array, so the same compiled step runs
warmup and sampling: stage 2 means "no adaptation".

The update is meant to run under ``jax.vmap(..., axis_name=CHAIN_AXIS)``
over the chains (as :func:`varbayes.sampling.chunks.chunk_runner` does);
chains spread over devices (:func:`varbayes.parallel.spread_chains`) are
averaged across the mesh too, so the step size does not depend on how the
chains are placed.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # blackjax is imported on the first sample(): importing it takes most of a second
    from blackjax.adaptation.mass_matrix import MassMatrixAdaptationState
    from blackjax.adaptation.step_size import DualAveragingAdaptationState

__all__ = ["CHAIN_AXIS", "WarmupState", "averaged_step_size", "warmup", "schedule"]

FAST, SLOW, FIXED, TERMINAL = 0, 1, 2, 3
CHAIN_AXIS = "chain"
# gain of the terminal window's recursion on log step size: at the slopes of acceptance in log step
# size seen on posteriordb's models (0.3-1.5 per unit) it forgets its start in 15-70 steps and its
# iterates scatter by a few percent of the step size, so the average sits where the mean acceptance
# is the target (dual averaging's iterates scatter by far more; acceptance is concave in log step
# size, so the step at their average accepts more than the target, +0.03 at 0.8 on arK)
TERMINAL_GAIN = 0.05


class WarmupState(NamedTuple):
    """Adaptation state of one chain.

    ``step_size`` and ``inverse_mass_matrix`` are what the kernel uses at the
    next step.
    """

    step_size_state: DualAveragingAdaptationState
    mass_matrix_state: MassMatrixAdaptationState
    step_size: jax.Array
    inverse_mass_matrix: jax.Array
    # the terminal window's steps so far, its shared log step size, the sum and count of the iterates averaged
    terminal_steps: jax.Array
    terminal_log_step: jax.Array
    terminal_sum: jax.Array
    terminal_count: jax.Array


def _mean_over_chains(x: jax.Array) -> jax.Array:
    """Mean of ``x`` over every chain: the vectorised ones and, on a mesh, those of the other devices."""
    from varbayes.parallel import CHAIN_AXIS as MESH_AXIS

    try:
        jax.lax.axis_size(MESH_AXIS)
    except NameError:  # one device: the chains are all in this vmap
        return jax.lax.pmean(x, CHAIN_AXIS)
    return jax.lax.pmean(x, (CHAIN_AXIS, MESH_AXIS))


def averaged_step_size(state: WarmupState) -> jax.Array:
    """The step size the warmup would end with now: the one sampling uses once tuning ends.

    Dual averaging's average before the terminal window; in it, the shared
    step size and then the average of its iterates (PyMC's ``step_size_bar``).
    """
    terminal = jnp.where(
        state.terminal_count > 0, state.terminal_sum / jnp.maximum(state.terminal_count, 1.0), state.terminal_log_step
    )
    return jnp.exp(jnp.where(state.terminal_steps > 0, terminal, state.step_size_state.log_step_size_avg))


def terminal_window(tune: int) -> int:
    """Length of the terminal window for ``tune`` warmup steps (Stan's is 50; ours a fifth of the warmup).

    A fifth leaves the metric most of the warmup (for ``tune=1000``: slow
    windows of 25, 50, 100 and 550 steps) and gives the recursion 100 steps
    to forget its start and 100 to average.
    """
    return max(50, tune // 5)


def schedule(tune: int, draws: int, padded_length: int) -> np.ndarray:
    """Per-step ``(stage, window_end, warmup_end, averaged)`` rows, ``padded_length`` of them.

    Stan's windows, with the steps after the last metric update in stage
    ``TERMINAL`` (``averaged`` marks the second half of them); steps after
    ``tune`` (draws and padding) have stage ``FIXED``. Below 20 warmup steps
    there are no windows and dual averaging alone sets the step size.

    Examples
    --------
    >>> rows = schedule(1000, 10, 1024)
    >>> [int((rows[:, 0] == stage).sum()) for stage in (FAST, SLOW, FIXED, TERMINAL)]
    [75, 725, 24, 200]
    >>> int(rows[:, 3].sum()), int(rows[999, 2])
    (100, 1)
    """
    rows = np.zeros((padded_length, 4), dtype=np.int32)
    rows[:, 0] = FIXED
    if tune > 0:
        from blackjax.adaptation.staged_adaptation import build_schedule

        stan = np.asarray(build_schedule(tune, final_buffer_size=terminal_window(tune)), dtype=np.int32)
        rows[:tune, :2] = stan.reshape(tune, 2)
        rows[tune - 1, 2] = 1
        window_ends = np.flatnonzero(rows[:tune, 1])
        if window_ends.size:
            first = int(window_ends[-1]) + 1
            rows[first:tune, 0] = TERMINAL
            rows[first + (tune - first) // 2 : tune, 3] = 1
    return rows


def warmup(target_accept: float):
    """``(init, update)`` of the windowed adaptation for one chain.

    ``init(n_dims, step_size, inverse_mass_matrix)`` builds the state;
    ``update(state, row, position, acceptance_rate)`` moves it one step, where
    ``row`` is one row of :func:`schedule`; it must run under
    ``jax.vmap(..., axis_name=CHAIN_AXIS)`` over the chains.

    Until the last metric update each chain runs Stan's dual averaging. In
    the terminal window the chains share one log step size ``x``, started
    at the mean of their dual-averaging averages and moved by
    ``x += TERMINAL_GAIN * (mean acceptance of the chains - target_accept)``;
    the final step size is ``exp`` of the mean of ``x`` over the window's
    second half. This removes two biases of per-chain dual averaging to the
    end: its iterates scatter, so the step at their average accepts more
    than the target (acceptance is concave in log step size); and each
    chain's step fits the few regions that chain saw in a short window,
    which, for posteriors whose acceptance changes from region to region,
    spreads the chains' steps and lowers their mean acceptance after warmup. At
    ``target_accept=0.8`` on posteriordb's arK (12 seeds) the mean
    acceptance after warmup goes from 0.832 to 0.802 and on gp_pois_regr
    from 0.789 to 0.791 (6 seeds before, 12 after).
    """
    from blackjax.adaptation.mass_matrix import mass_matrix_adaptation
    from blackjax.adaptation.step_size import dual_averaging_adaptation

    da_init, da_update, da_final = dual_averaging_adaptation(target_accept)
    mm_init, mm_update, mm_final = mass_matrix_adaptation(is_diagonal_matrix=True)

    def init(n_dims: int, step_size, inverse_mass_matrix) -> WarmupState:
        # strong float types (float64, or float32 with JAX's 64-bit mode off): the state keeps one type through the loop
        step_size = jax.lax.convert_element_type(step_size, jnp.result_type(float))
        inverse_mass_matrix = jax.lax.convert_element_type(inverse_mass_matrix, jnp.result_type(float))
        state = WarmupState(
            da_init(step_size),
            mm_init(n_dims, inverse_mass_matrix),
            step_size,
            inverse_mass_matrix,
            jnp.zeros((), jnp.int32),
            jnp.zeros(()),
            jnp.zeros(()),
            jnp.zeros(()),
        )
        return jax.tree.map(lambda x: jax.lax.convert_element_type(x, jnp.result_type(x)), state)

    def update(state: WarmupState, row, position, acceptance_rate) -> WarmupState:
        stage, window_end, warmup_end = row[0], row[1], row[2]
        # a divergent transition may report a NaN acceptance rate
        acceptance_rate = jnp.where(jnp.isfinite(acceptance_rate), acceptance_rate, 0.0)

        def fast(s):
            ss = da_update(s.step_size_state, acceptance_rate)
            return s._replace(step_size_state=ss, step_size=jnp.exp(ss.log_step_size))

        def slow(s):
            s = fast(s)
            return s._replace(mass_matrix_state=mm_update(s.mass_matrix_state, position))

        def fixed(s):
            return s

        def terminal(s):
            # the stage is the same for every chain, so the chains meet here only in the terminal
            # window, once a step: the dual-averaging averages (the start) and the acceptances
            pair = jnp.stack([s.step_size_state.log_step_size_avg, acceptance_rate])
            start, mean_acceptance = _mean_over_chains(pair)
            x = jnp.where(s.terminal_steps == 0, start, s.terminal_log_step)
            x = x + TERMINAL_GAIN * (mean_acceptance - target_accept)
            averaged = row[3] > 0
            return s._replace(
                terminal_steps=s.terminal_steps + 1,
                terminal_log_step=x,
                terminal_sum=s.terminal_sum + jnp.where(averaged, x, 0.0),
                terminal_count=s.terminal_count + jnp.where(averaged, 1.0, 0.0),
                step_size=jnp.exp(x),
            )

        state = jax.lax.switch(stage, (fast, slow, fixed, terminal), state)

        def end_window(s):
            # new metric; the step size adaptation goes on (as PyMC's): restarting it at every
            # window leaves the last, short window's average biased small
            mm = mm_final(s.mass_matrix_state)
            return s._replace(mass_matrix_state=mm, inverse_mass_matrix=mm.inverse_mass_matrix)

        state = jax.lax.cond(window_end > 0, end_window, fixed, state)

        def end_warmup(s):
            # without a terminal window (under 20 warmup steps): dual averaging's average, as Stan's
            return s._replace(step_size=averaged_step_size(s))

        return jax.lax.cond(warmup_end > 0, end_warmup, fixed, state)

    return init, update
