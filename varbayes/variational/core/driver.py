"""The compiled loop: many steps per call, Python only between calls.

:func:`build_chunk` turns a step into a jitted function that runs up to
``buffer_size`` steps in a ``lax.while_loop``. The number of steps is an
argument, so one compilation serves every chunk length. Each step's key is
``fold_in(key, iteration)``, and a :class:`BatchedStep` draws its minibatches
from ``key`` and the iteration's number: results do not depend on how the
iterations are split into chunks. The loop stops early at the first
non-finite loss or parameter and keeps the last finite state.

With ``segment > 0`` the chunk also sums the flattened parameters over
consecutive segments of ``segment`` steps (``phase`` steps of the first
segment were run by an earlier chunk): the convergence monitor reads the
iterates through these sums, never one step at a time.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from jax.flatten_util import ravel_pytree

from varbayes.variational.core.step import BatchedStep, VIState, tree_all_finite

__all__ = ["ChunkResult", "build_chunk", "loop_compiler_options", "MINIBATCH_COMPILER_OPTIONS"]

#: XLA options of the loop of a step on minibatches, on the CPU (see :func:`build_chunk`).
MINIBATCH_COMPILER_OPTIONS = {
    "xla_cpu_experimental_ynn_fusion_type": "",
    "xla_disable_hlo_passes": "tree_reduction_rewriter",
}


class ChunkResult(NamedTuple):
    """What one chunk returns.

    ``losses[:n_done]`` are the losses of the steps run; when ``finite`` is
    false the last of them is the non-finite one and ``state`` is the state
    before it. ``states`` (when recorded) holds the state after each step.
    ``segment_sums[j]`` (when segments are on) is the sum of the flattened
    parameters after each step of segment ``j`` of the chunk.
    """

    state: VIState
    losses: jax.Array
    n_done: jax.Array
    finite: jax.Array
    states: VIState | None
    segment_sums: jax.Array | None = None


def build_chunk(
    step: Callable,
    buffer_size: int,
    record_states: bool = False,
    segment: int = 0,
    canonical: Callable | None = None,
    canonical_every: int = 1,
) -> Callable:
    """``chunk(state, key, data, start, n_steps, phase=0) -> ChunkResult``, jitted.

    ``canonical(params)``, when given, is applied to the parameters before
    they are summed over segments (a family whose parametrisation has
    symmetries is averaged in one canonical form; a flow's loop sums
    statistics of q instead, a vector of another length). With
    ``canonical_every = k`` (a divisor of ``segment``) it is evaluated at
    every ``k``-th step only, and counted ``k`` times: a segment's sum is
    then that of its iterates thinned by ``k``, for a ``canonical`` that
    costs as much as a step.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> def step(state, key, data):
    ...     return VIState(state.params - 0.1 * state.params, state.opt_state), jnp.sum(state.params ** 2)
    >>> chunk = build_chunk(step, buffer_size=16)
    >>> out = chunk(VIState(jnp.ones(2), ()), jax.random.key(0), (), 0, 10)
    >>> int(out.n_done)
    10
    """

    if isinstance(canonical_every, bool) or not isinstance(canonical_every, int) or canonical_every < 1:
        raise ValueError(f"canonical_every must be a positive int, got {canonical_every!r}")
    if segment and segment % canonical_every:
        raise ValueError(f"canonical_every={canonical_every} must divide segment={segment}")

    def run(state: VIState, key, data, start, n_steps, phase=0) -> ChunkResult:
        losses = jnp.full((buffer_size,), jnp.nan)
        states = (
            jax.tree_util.tree_map(lambda a: jnp.zeros((buffer_size, *jnp.shape(a)), jnp.result_type(a)), state)
            if record_states
            else None
        )
        sums = None
        if segment:
            # sized by what is summed: canonical may map the parameters to fewer numbers
            flat, _ = ravel_pytree(state.params if canonical is None else canonical(state.params))
            # the running sum of the current segment, and the finished segments' sums
            sums = (jnp.zeros_like(flat), jnp.zeros((buffer_size // segment + 2, flat.shape[0]), flat.dtype))

        def cond(carry):
            i, _, _, _, _, ok = carry
            return (i < n_steps) & ok

        def body(carry):
            i, current, losses, states, sums, _ = carry
            step_key = jax.random.fold_in(key, start + i)
            if isinstance(step, BatchedStep):
                new, loss = step.update(current, step_key, step.draw(key, data, start + i))
            else:
                new, loss = step(current, step_key, data)
            ok = jnp.isfinite(loss) & tree_all_finite(new.params)
            current = jax.tree_util.tree_map(lambda a, b: jnp.where(ok, a, b), new, current)
            losses = losses.at[i].set(loss)
            if states is not None:
                states = jax.tree_util.tree_map(lambda buf, s: buf.at[i].set(s), states, current)
            if sums is not None:
                # a non-finite step is not counted: the host discards that segment
                if canonical is None:
                    summand = ravel_pytree(current.params)[0]
                elif canonical_every == 1:
                    summand = ravel_pytree(canonical(current.params))[0]
                else:
                    # the segment's last step of each group of k stands for the k of them
                    summand = jax.lax.cond(
                        (phase + i) % canonical_every == canonical_every - 1,
                        lambda p: canonical_every * ravel_pytree(canonical(p))[0],
                        lambda p: jnp.zeros_like(sums[0]),
                        current.params,
                    )
                running = sums[0] + summand
                row, last = (phase + i) // segment, (phase + i) % segment == segment - 1
                # a row is written once, when its segment ends (or when the chunk does)
                written = jax.lax.cond(
                    last | (i + 1 == n_steps), lambda b: b.at[row].set(running), lambda b: b, sums[1]
                )
                sums = (jnp.where(last, jnp.zeros_like(running), running), written)
            return i + 1, current, losses, states, sums, ok

        carry = (jnp.asarray(0), state, losses, states, sums, jnp.asarray(True))
        n_done, state, losses, states, sums, ok = jax.lax.while_loop(cond, body, carry)
        return ChunkResult(state, losses, n_done, ok, states, None if sums is None else sums[1])

    # On the CPU, YNNPACK's fused reductions split a batch's sums over the cores: a little
    # faster on an idle machine, twice as slow when another process holds a core (each
    # reduction waits for it). Without them the loop compiles to one single-threaded
    # function. XLA's tree-reduction rewrite splits each sum over the batch's rows into
    # partial sums, which keeps the per-datum terms out of the reductions' fusions: each
    # is written to memory and read back (three 500 x 100 arrays a step on the seed's
    # Minibatch model). Without it the terms are computed inside the sums, and the step
    # takes 66 us instead of 96; a float64 sum over a batch needs no tree for accuracy (a
    # float32 one keeps it) (docs/internals.md, benchmarks/minibatch_step.py).
    return jax.jit(run, compiler_options=loop_compiler_options(step))


def loop_compiler_options(step: Callable) -> dict | None:
    """XLA options of the loop of ``step``: :data:`MINIBATCH_COMPILER_OPTIONS` for a step on minibatches on the CPU.

    Under float32 (JAX's 64-bit mode off) the tree-reduction rewrite stays on:
    one-pass float32 sums over a large batch lose digits.

    Examples
    --------
    >>> loop_compiler_options(lambda state, key, data: (state, 0.0)) is None
    True
    """
    if not isinstance(step, BatchedStep) or jax.default_backend() != "cpu":
        return None
    options = dict(MINIBATCH_COMPILER_OPTIONS)
    if not jax.config.jax_enable_x64:
        options.pop("xla_disable_hlo_passes")
    return options
