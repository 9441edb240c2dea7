"""Draws from an approximation mapped to the model's named constrained values.

Drawing θ from the family and mapping every draw to the constrained free
variables and deterministics is one jitted, vectorised JAX program. It is
cached on the compiled model (per family sampler), and the number of draws is
a static argument, so repeated calls with the same ``draws`` neither retrace
nor recompile.
"""

from __future__ import annotations

from collections.abc import Callable

import jax

__all__ = ["sample_constrained"]


def _program(compiled, sample_fn: Callable, with_theta: bool) -> Callable:
    cache = compiled.constrained.cache
    key = ("approximation_draws", sample_fn, with_theta)
    program = cache.get(key)
    if program is None:
        constrained_fn = compiled.constrained.fn

        def draw(params, rng_key, data, draws):
            theta = sample_fn(params, rng_key, draws)
            values = jax.vmap(lambda t: constrained_fn(t, data))(theta)
            return (tuple(values), theta) if with_theta else (tuple(values), None)

        program = jax.jit(draw, static_argnums=3)
        cache[key] = program
    return program


def sample_constrained(compiled, sample_fn: Callable, params, key, draws: int, with_theta: bool = False):
    """Draw ``draws`` points of θ and map them to named constrained values.

    Parameters
    ----------
    compiled : CompiledModel
        The model's JAX face (``compiled.constrained`` maps θ to the values).
    sample_fn : callable
        The family's ``sample(params, key, n) -> (n, D)``.
    params : pytree
        The family's parameters.
    key : jax.random key
        Randomness of the draws.
    draws : int
        Number of draws.
    with_theta : bool
        Also return the unconstrained draws ``(draws, D)``.

    Returns
    -------
    tuple
        ``(values, theta)``: ``values`` maps each name of
        ``compiled.constrained.output_names`` to an array ``(draws, ...)``
        (for a model with finite discrete variables summed out, each free
        variable and deterministic, the discrete ones drawn given θ);
        ``theta`` is ``None`` unless ``with_theta``.

    Examples
    --------
    >>> import jax, varbayes as pm
    >>> from varbayes.compile import compile_model
    >>> with pm.Model() as m:
    ...     s = pm.HalfNormal("s", 1.0)
    >>> cm = compile_model(m)
    >>> fam = pm.MeanField(model=m).family
    >>> params = fam.init(jax.numpy.zeros(1), jax.random.key(0))
    >>> values, _ = sample_constrained(cm, fam.sample, params, jax.random.key(1), 10)
    >>> values["s"].shape
    (10,)
    """
    program = _program(compiled, sample_fn, with_theta)
    values, theta = program(params, key, compiled.constrained.data(), int(draws))
    values = dict(zip(compiled.constrained.output_names, values))
    if compiled.enumerated is not None:
        # finite discrete variables were summed out: each draw gets them from p(k | θ, data)
        values = compiled.enumerated.complete(values, jax.random.fold_in(key, 1))
    return values, theta
