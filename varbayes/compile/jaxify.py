"""Turn a PyTensor graph into a pure JAX function (the one place that does)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pytensor.compile.mode import JAX
from pytensor.graph.basic import Variable
from pytensor.graph.fg import FunctionGraph
from pytensor.link.jax.dispatch import jax_funcify

__all__ = ["jaxify"]


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
