"""How many draws of q one step of a fit that chooses its own schedule averages its gradient over.

The reparameterisation gradient of the ELBO is an average over draws of q.
Its noise is what a fit with a constant step size fluctuates by, and what
averaging its iterates has to wait out: with ``m`` draws the iterates'
variance, and so the iterations a window needs for a given Monte Carlo error,
fall by about ``m``. What a draw costs is the log-density and its gradient
at one point; an iteration also costs the optimizer's update, the family's
transform and, on a CPU, a few microseconds of the loop's own work. Where
the log-density is a few hundred floating-point operations (the eight
schools, a regression on a few dozen rows) more draws are almost free and
the fit stops several times sooner; where it reads thousands of rows, one
draw already costs more than the rest of the iteration and more draws only
slow each iteration down.

The count is chosen from XLA's own estimate of the operations of one draw
(:meth:`jax.stages.Lowered.cost_analysis`), so it depends on the model and
never on timings: a fit stays reproducible for a given seed.
"""

from __future__ import annotations

from collections.abc import Callable

import jax

__all__ = ["DRAW_BUDGET", "MOST_DRAWS", "draws_per_step", "draw_flops"]

#: Floating-point operations of the log-density and its gradient that the draws of one
#: step may add up to: about what the rest of a small model's iteration costs on a CPU.
DRAW_BUDGET = 16384
#: Draws per step at most (beyond ~16 the noise of q's gradient no longer limits the fit).
MOST_DRAWS = 16


def draw_flops(logdensity_fn: Callable, theta, data) -> float | None:
    """XLA's estimate of the floating-point operations of ``logdensity_fn`` and its gradient at one point.

    ``theta`` and ``data`` may be arrays, tracers or :class:`jax.ShapeDtypeStruct`:
    only their shapes and dtypes are read. ``None`` where XLA gives no estimate.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> flops = draw_flops(lambda x, data: -0.5 * jnp.sum((x - data) ** 2), jnp.zeros(100), jnp.ones(100))
    >>> 100 <= flops < 2000
    True
    """
    shapes = jax.tree_util.tree_map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), (theta, data))
    try:
        analysis = jax.jit(jax.value_and_grad(logdensity_fn)).lower(*shapes).cost_analysis()
    except Exception:  # a backend without a cost model (XLA's estimate is a hint, never needed)
        return None
    if isinstance(analysis, (list, tuple)):  # one entry per computation in older JAX
        analysis = analysis[0] if analysis else None
    flops = None if not analysis else analysis.get("flops")
    return None if flops is None or flops < 0 else float(flops)


def draws_per_step(logdensity_fn: Callable, theta, data, budget: float = DRAW_BUDGET, most: int = MOST_DRAWS) -> int:
    """The largest power of two of draws whose log-density work stays within ``budget`` (1 to ``most``).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> cheap = lambda x, data: -0.5 * jnp.sum(x**2)
    >>> draws_per_step(cheap, jnp.zeros(8), ())
    16
    >>> costly = lambda x, data: -0.5 * jnp.sum((data @ x) ** 2)
    >>> draws_per_step(costly, jnp.zeros(8), jnp.ones((5000, 8)))
    1
    """
    flops = draw_flops(logdensity_fn, theta, data)
    draws = 1
    if flops is None:
        return draws
    while 2 * draws <= most and 2 * draws * max(flops, 1.0) <= budget:
        draws *= 2
    return draws
