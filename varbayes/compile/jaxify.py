"""Turn a PyTensor graph into a pure JAX function (the one place that does)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import numpy as np
from pytensor.compile.mode import JAX
from pytensor.graph.basic import Variable
from pytensor.graph.fg import FunctionGraph
from pytensor.link.jax.dispatch import jax_funcify, jax_typify

__all__ = ["jaxify"]


@jax_typify.register(np.ndarray)
def _typify_ndarray(data, dtype=None, **kwargs):
    """A graph's array constant as a JAX array, put on the device rather than built by ``jnp.array``.

    PyTensor's own conversion calls ``jnp.array``, which compiles (or loads
    from the disk cache) a small program for each new shape and type: six
    constants cost the seed's Minibatch model 56 ms of its first fit in a new
    process. ``device_put`` moves the same values without a program.
    """
    if data.ndim == 0:
        return data.item()
    return jax.device_put(np.asarray(data, dtype=dtype))


def jaxify(inputs: Sequence[Variable], outputs: Sequence[Variable]) -> Callable:
    """A pure JAX function of ``inputs`` returning the tuple of ``outputs``.

    The graph is rewritten with PyTensor's JAX rewrites first (the same ones
    ``mode="JAX"`` uses). The result composes with ``jax.jit``, ``jax.grad``
    and ``jax.vmap``.

    Examples
    --------
    >>> import pytensor.tensor as pt, jax.numpy as jnp
    >>> x = pt.dvector("x")
    >>> fn = jaxify([x], [pt.sum(x ** 2)])
    >>> float(fn(jnp.array([1.0, 2.0]))[0])
    5.0
    """
    fgraph = FunctionGraph(list(inputs), list(outputs), clone=True)
    JAX.optimizer.rewrite(fgraph)
    return jax_funcify(fgraph)
