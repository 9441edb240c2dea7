"""Finite discrete free variables, summed out of the log-density by enumeration.

Gradient-based inference (NUTS, VI) moves θ, the continuous free variables.
A discrete free variable ``k`` with a finite support known from constant
parameters (``Bernoulli``, ``Categorical``, ``DiscreteUniform``, ``Binomial``
with a constant ``n``, ...) is marginalised: the log-density of θ becomes

    log p(θ, data) = logsumexp_k log p(θ, k, data)

evaluated with ``jax.vmap`` over every value (every joint value, when there
are several such variables or elements) of the support. After sampling θ,
each draw gets its ``k`` from the conditional posterior
``p(k | θ, data) ∝ p(θ, k, data)``, which is exact: the pair is a draw of the
joint posterior.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.graph.basic import Variable
from pytensor.graph.traversal import ancestors

from varbayes.compile.model import _layout

__all__ = ["MAX_CONFIGURATIONS", "THETA", "Enumerated", "compile_enumerated", "finite_support"]

#: The most joint values of the discrete free variables that are enumerated.
MAX_CONFIGURATIONS = 10_000

#: The name under which the compiled model's ``constrained`` function returns θ itself.
THETA = "__theta__"

_EXAMPLES = "Bernoulli, Categorical, DiscreteUniform, Binomial with a constant n"


def finite_support(name: str, dist) -> np.ndarray:
    """The values of discrete variable ``name``: an array ``(K, *shape)``, one joint value per row.

    Parameters
    ----------
    name : str
        The variable's name, for messages.
    dist : Distribution
        Its distribution; the bounds come from ``dist.support()``, which
        knows them when they follow from constant parameters.

    Raises
    ------
    TypeError
        When the support is infinite or not known from constants.
    ValueError
        When there are more than :data:`MAX_CONFIGURATIONS` values.

    Examples
    --------
    >>> import varbayes as pm
    >>> finite_support("s", pm.DiscreteUniform.dist(3, 5)).tolist()
    [3, 4, 5]
    >>> finite_support("z", pm.Bernoulli.dist(0.5, shape=2)).tolist()
    [[0, 0], [0, 1], [1, 0], [1, 1]]
    """
    support = dist.support()
    shape = tuple(dist.shape)
    lower, upper = _constant_bound(support.lower), _constant_bound(support.upper)
    if lower is None or upper is None or not (np.all(np.isfinite(lower)) and np.all(np.isfinite(upper))):
        raise TypeError(
            f"free variable '{name}' is discrete ({type(dist).__name__}) with an infinite support "
            f"({support.description.split('{')[0].strip() or 'unbounded'}): NUTS and VI marginalise only "
            f"finite-support discrete latents ({_EXAMPLES}, ...); make '{name}' observed, or bound it"
        )
    lower = np.broadcast_to(np.ceil(lower).astype(np.int64), shape).reshape(-1)
    upper = np.broadcast_to(np.floor(upper).astype(np.int64), shape).reshape(-1)
    if support.lower_open is True:
        lower = lower + 1
    if support.upper_open is True:
        upper = upper - 1
    sizes = np.maximum(upper - lower + 1, 0)
    count = _product(sizes)
    if count == 0:
        raise ValueError(f"free variable '{name}' has an empty support: nothing to sum over")
    if count > MAX_CONFIGURATIONS:
        raise ValueError(
            f"free variable '{name}' takes {count:,} values (shape {shape}): more than the "
            f"{MAX_CONFIGURATIONS:,} that are enumerated when it is marginalised; use a smaller support, "
            "or a continuous variable"
        )
    if not shape:
        return np.arange(lower[0], upper[0] + 1).astype(dist.dtype)
    axes = np.meshgrid(*[np.arange(lo, up + 1) for lo, up in zip(lower, upper)], indexing="ij")
    return np.stack([a.reshape(-1) for a in axes], axis=-1).reshape((count, *shape)).astype(dist.dtype)


def _constant_bound(bound):
    if bound is None or isinstance(bound, Variable):
        return None
    try:
        return np.asarray(bound, dtype=np.float64)
    except (TypeError, ValueError):
        return None


def _product(sizes) -> int:
    count = 1
    for size in sizes:
        count *= int(size)
    return count


def joint_grid(supports: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Every joint value of several variables: one array ``(K, *shape_i)`` per variable.

    Raises ``ValueError`` when there are more than :data:`MAX_CONFIGURATIONS`.
    """
    sizes = [len(s) for s in supports]
    count = _product(sizes)
    if count > MAX_CONFIGURATIONS:
        raise ValueError(
            f"the discrete free variables take {count:,} joint values ({' x '.join(map(str, sizes))}): more "
            f"than the {MAX_CONFIGURATIONS:,} that are enumerated when they are marginalised"
        )
    index = np.indices(sizes).reshape(len(sizes), -1)
    return [s[i] for s, i in zip(supports, index)]


@dataclass(frozen=True)
class Enumerated:
    """The discrete free variables a compiled model sums out, and how to draw them back.

    Attributes
    ----------
    names : tuple of str
        The enumerated variables, in model order.
    grid : tuple of numpy.ndarray
        ``grid[i][c]`` is the value of ``names[i]`` in joint configuration ``c``.
    joint_logdensity : callable
        ``fn(theta, data) -> (C,)``: ``log p(θ, k_c, data)`` for every configuration.
    values : callable
        ``fn(theta, data, *ks) -> tuple``: the model's constrained free
        variables then deterministics (``output_names``) at θ and the discrete values ``ks``.
    output_names : tuple of str
    data_vars : tuple of SharedVariable
        The data both functions read: ``joint_logdensity``'s first, then ``values``'s.
    n_logdensity_data : int
        How many of ``data_vars`` are ``joint_logdensity``'s.
    """

    names: tuple[str, ...]
    grid: tuple[np.ndarray, ...]
    joint_logdensity: object
    values: object
    output_names: tuple[str, ...]
    data_vars: tuple
    n_logdensity_data: int

    def complete(self, values: dict, key, batch_size: int = 1024) -> dict[str, np.ndarray]:
        """Replace ``values[THETA]`` (draws ``(..., D)``) by every named value, discrete ones drawn.

        Each draw of θ gets its discrete values from ``p(k | θ, data)``, with
        its own key split from ``key`` (``key=None``: the most probable
        values instead); the result is ordered as ``output_names`` (free
        variables, then deterministics).
        """
        values = dict(values)
        theta = np.asarray(values.pop(THETA))
        lead, flat = theta.shape[:-1], theta.reshape(-1, theta.shape[-1])
        data = tuple(jnp.asarray(v.get_value(borrow=True)) for v in self.data_vars)
        keys = jax.random.split(jax.random.key(0) if key is None else key, len(flat))
        outputs = self._program(key is None)(jnp.asarray(flat), keys, data, batch_size)
        drawn = {name: np.asarray(v).reshape(lead + np.shape(v)[1:]) for name, v in zip(self.output_names, outputs)}
        values.update(drawn)
        return {name: values[name] for name in self.output_names if name in values}

    def _program(self, most_probable: bool):
        programs = self.__dict__.setdefault("_programs", {})
        program = programs.get(most_probable)
        if program is None:
            grid = tuple(jnp.asarray(g) for g in self.grid)
            joint, values_fn, split = self.joint_logdensity, self.values, self.n_logdensity_data

            def one(args, data):
                theta, key = args
                logits = joint(theta, data[:split])
                c = jnp.argmax(logits) if most_probable else jax.random.categorical(key, logits)
                return tuple(values_fn(theta, data[split:], *(g[c] for g in grid)))

            def run(theta, keys, data, batch_size):
                return jax.lax.map(lambda args: one(args, data), (theta, keys), batch_size=batch_size)

            program = jax.jit(run, static_argnums=3)
            programs[most_probable] = program
        return program


def compile_enumerated(model, discrete: Sequence[str]):
    """Compile ``model`` with the discrete free variables ``discrete`` summed out.

    Returns a :class:`~varbayes.compile.model.CompiledModel` whose
    ``logdensity`` is the marginal log-density of θ (the continuous
    variables), whose ``constrained`` function returns θ itself (named
    :data:`THETA`) and whose ``enumerated`` field draws the discrete
    variables back and computes every named value (:meth:`Enumerated.complete`).

    Raises
    ------
    TypeError
        When a discrete variable's support is infinite or not known from constants.
    ValueError
        When there are too many joint values to enumerate, or when the model
        has no continuous free variable.

    Examples
    --------
    >>> import numpy as np, varbayes as pm
    >>> from varbayes.compile import compile_model
    >>> with pm.Model() as m:
    ...     z = pm.Bernoulli("z", 0.5)
    ...     mu = pm.Normal("mu", 0.0, 1.0)
    ...     y = pm.Normal("y", mu + 3.0 * z, 1.0, observed=[3.1])
    >>> cm = compile_model(m)
    >>> cm.ravel.size, cm.enumerated.names
    (1, ('z',))
    """
    from varbayes.compile.model import CompiledModel, JaxFunction, _jaxify_with_data, _theta_values
    from varbayes.data.minibatch import is_minibatch

    free = model.free_rv_info
    discrete = tuple(discrete)
    grid = tuple(joint_grid([finite_support(name, free[name].dist) for name in discrete]))
    ravel = _layout(model)
    if ravel.size == 0:
        raise ValueError(
            f"every free variable ({list(free)}) is discrete: there is no continuous variable for NUTS or VI "
            "to move; the posterior of finite discrete variables alone is a sum, not a sampling problem"
        )
    theta = pt.vector("theta", dtype=pytensor.config.floatX)
    ks = [pt.tensor(name=f"{name}_enumerated", shape=free[name].dist.shape, dtype=free[name].dist.dtype) for name in discrete]
    values = {**_theta_values(ravel, theta), **dict(zip(discrete, ks))}

    terms = model.logp_terms(jacobian=True, values=values)
    total = pt.cast(pt.add(*terms.values()) if len(terms) > 1 else next(iter(terms.values())), pytensor.config.floatX)
    if any(is_minibatch(v) for v in ancestors([total])):
        raise ValueError(
            f"the model reads a Minibatch and has discrete free variables {list(discrete)}: summing them out "
            "needs the full data set in every evaluation; define the model on the full data"
        )
    raw_logp, logp_data = _jaxify_with_data(theta, [total], ks, "the model's log-density")
    jgrid = tuple(jnp.asarray(g) for g in grid)

    def joint_logdensity(theta_value, data):
        return jax.vmap(lambda *k: raw_logp(theta_value, *data, *k)[0])(*jgrid)

    def logdensity(theta_value, data):
        return jax.scipy.special.logsumexp(joint_logdensity(theta_value, data))

    outputs = [rv.var for rv in free.values()] + model.deterministics
    names = tuple(free) + tuple(model._reg.deterministics)
    outputs = _replace(outputs, model.constrained_replacements(values))
    raw_values, values_data = _jaxify_with_data(theta, outputs, ks, "the model's values")

    def values_fn(theta_value, data, *k):
        return raw_values(theta_value, *data, *k)

    def constrained(theta_value, data):
        return (theta_value,)

    logdensity_function = JaxFunction(logdensity, tuple(logp_data), ("logdensity",))
    constrained_function = JaxFunction(constrained, tuple(values_data), (THETA,))
    enumerated = Enumerated(
        names=discrete,
        grid=grid,
        joint_logdensity=joint_logdensity,
        values=values_fn,
        output_names=names,
        data_vars=tuple(logp_data) + tuple(values_data),
        n_logdensity_data=len(logp_data),
    )
    return CompiledModel(model, ravel, logdensity_function, constrained_function, enumerated)


def _replace(outputs, replacements):
    from pytensor.graph.replace import clone_replace

    return clone_replace(list(outputs), replace=replacements)

