"""Stan's windowed warmup, one chain at a time, as pure JAX functions.

Each chain adapts its own step size (dual averaging) and diagonal inverse
mass matrix (Welford variance over doubling windows), as in Stan and PyMC.
The warmup is driven step by step from a schedule array, so the same compiled
step runs warmup and sampling: stage 2 means "no adaptation".
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

__all__ = ["WarmupState", "warmup", "schedule"]

FAST, SLOW, FIXED = 0, 1, 2


class WarmupState(NamedTuple):
    """Adaptation state of one chain.

    ``step_size`` and ``inverse_mass_matrix`` are what the kernel uses at the
    next step.
    """

    step_size_state: DualAveragingAdaptationState
    mass_matrix_state: MassMatrixAdaptationState
    step_size: jax.Array
    inverse_mass_matrix: jax.Array


def schedule(tune: int, draws: int, padded_length: int) -> np.ndarray:
    """Per-step ``(stage, window_end, warmup_end)`` rows, ``padded_length`` of them.

    Steps after ``tune`` (draws and padding) have stage ``FIXED``.
    """
    rows = np.zeros((padded_length, 3), dtype=np.int32)
    rows[:, 0] = FIXED
    if tune > 0:
        from blackjax.adaptation.staged_adaptation import build_schedule

        stan = np.asarray(build_schedule(tune), dtype=np.int32).reshape(tune, 2)
        rows[:tune, :2] = stan
        rows[tune - 1, 2] = 1
    return rows


def warmup(target_accept: float):
    """``(init, update)`` of the windowed adaptation for one chain.

    ``init(n_dims, step_size, inverse_mass_matrix)`` builds the state;
    ``update(state, row, position, acceptance_rate)`` moves it one step, where
    ``row`` is one row of :func:`schedule`.
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

        state = jax.lax.switch(stage, (fast, slow, fixed), state)

        def end_window(s):
            # new metric; the step size adaptation goes on (as PyMC's): restarting it at every
            # window leaves the last, short window's average biased small
            mm = mm_final(s.mass_matrix_state)
            return s._replace(mass_matrix_state=mm, inverse_mass_matrix=mm.inverse_mass_matrix)

        state = jax.lax.cond(window_end > 0, end_window, fixed, state)

        def end_warmup(s):
            return s._replace(step_size=jnp.exp(s.step_size_state.log_step_size_avg))

        return jax.lax.cond(warmup_end > 0, end_warmup, fixed, state)

    return init, update
