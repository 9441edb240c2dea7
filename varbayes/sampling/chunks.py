"""Chains advanced a chunk of steps at a time, every step recorded into a buffer (pure JAX).

The samplers of ``pm.sample`` (NUTS alone, NUTS within Gibbs) differ only in
their one-step ``transition``; this module turns such a step into the
compiled program that runs ``n_steps`` of them for every chain at once.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from varbayes.sampling.adaptation import CHAIN_AXIS

__all__ = ["chunk_runner"]


def chunk_runner(transition: Callable, buffer: int) -> Callable:
    """``run(state, keys, schedule, start, n_steps, data)`` for ``transition``, chains vectorised.

    Parameters
    ----------
    transition : callable
        ``transition(state, key, step, schedule, data) -> (state, record)``
        for one chain; ``step`` is the step's index since the start of the
        run, so a step's randomness does not depend on how the run is cut
        into chunks.
    buffer : int
        Rows of the record buffer; ``n_steps`` must not exceed it.

    Returns
    -------
    callable
        Advances every chain (leading axis of ``state`` and ``keys``) by
        ``n_steps`` steps from step ``start``; returns the new state and
        the records, each ``(chains, buffer, ...)`` with the first
        ``n_steps`` rows written.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> def walk(x, key, step, schedule, data):
    ...     x = x + data
    ...     return x, x
    >>> run = jax.jit(chunk_runner(walk, buffer=4), static_argnums=())
    >>> state, rows = run(jnp.zeros(2), jax.random.split(jax.random.key(0), 2), None, 0, 3, 1.0)
    >>> rows[0].tolist()
    [1.0, 2.0, 3.0, 0.0]
    """

    def run(state, keys, schedule, start, n_steps, data):
        def one_chain(state, key):
            shapes = jax.eval_shape(lambda s: transition(s, key, start, schedule, data)[1], state)
            out = jax.tree.map(lambda s: jnp.zeros((buffer, *s.shape), s.dtype), shapes)

            def body(i, carry):
                state, out = carry
                state, record = transition(state, key, start + i, schedule, data)
                out = jax.tree.map(lambda b, r: b.at[i].set(r), out, record)
                return state, out

            return jax.lax.fori_loop(0, n_steps, body, (state, out))

        # named: the warmup's terminal window averages over the chains
        return jax.vmap(one_chain, axis_name=CHAIN_AXIS)(state, keys)

    return run
