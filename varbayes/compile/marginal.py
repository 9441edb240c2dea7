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

from varbayes.compile.model import _layout, _total_logp, device_values

__all__ = [
    "MAX_CONFIGURATIONS",
    "THETA",
    "Enumerated",
    "compile_enumerated",
    "finite_support",
    "has_finite_support",
    "integer_bounds",
]

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
    if not has_finite_support(dist):
        raise TypeError(
            f"free variable '{name}' is discrete ({type(dist).__name__}) with an infinite support "
            f"({support.description.split('{')[0].strip() or 'unbounded'}): VI (pm.fit) and find_MAP sum out "
            f"only finite-support discrete latents ({_EXAMPLES}, ...); use pm.sample, which updates '{name}' "
            f"with a Metropolis step within NUTS, or make '{name}' observed, or bound it"
        )
    lower, upper = integer_bounds(dist)
    lower, upper = lower.astype(np.int64), upper.astype(np.int64)
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


def integer_bounds(dist) -> tuple[np.ndarray, np.ndarray]:
    """The smallest and largest value of each element of a discrete variable, flat ``(size,)`` float arrays.

    A bound not known from constants is ``-inf`` / ``inf``; open bounds are
    moved to the nearest included integer.

    Examples
    --------
    >>> import varbayes as pm
    >>> integer_bounds(pm.Poisson.dist(2.0, shape=2))
    (array([0., 0.]), array([inf, inf]))
    """
    support = dist.support()
    shape = tuple(dist.shape)
    bounds = []
    for bound, is_open, missing, rounding, step in (
        (support.lower, support.lower_open, -np.inf, np.ceil, 1.0),
        (support.upper, support.upper_open, np.inf, np.floor, -1.0),
    ):
        value = _constant_bound(bound)
        value = np.full(shape, missing) if value is None else np.broadcast_to(rounding(value), shape)
        if is_open is True:
            value = value + step
        bounds.append(np.asarray(value, dtype=np.float64).reshape(-1))
    return bounds[0], bounds[1]


def has_finite_support(dist) -> bool:
    """Whether discrete ``dist`` takes finitely many values that constants tell (it can be summed out).

    Examples
    --------
    >>> import varbayes as pm
    >>> has_finite_support(pm.Binomial.dist(5, 0.3)), has_finite_support(pm.Poisson.dist(2.0))
    (True, False)
    """
    lower, upper = integer_bounds(dist)
    return bool(np.all(np.isfinite(lower)) and np.all(np.isfinite(upper)))


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
        data = device_values(self.data_vars)
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

    total = _total_logp(model, values)
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



@dataclass(frozen=True)
class DiscreteBlock:
    """Where one kept discrete variable sits in the flat integer vector ``k``.

    ``lower`` and ``upper`` (flat, float) are its support's bounds where
    constants tell them, ``-inf`` / ``inf`` where they do not.
    """

    name: str
    shape: tuple[int, ...]
    dtype: str
    offset: int
    lower: np.ndarray
    upper: np.ndarray

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=int))


@dataclass(frozen=True, eq=False)
class JointModel:
    """The log-density of θ and of discrete variables kept as values ``k``, the finite others summed out.

    Made by :func:`compile_joint` for samplers that move θ and ``k`` in turn.

    Attributes
    ----------
    model : Model
    ravel : Ravel
        Layout of θ (the continuous free variables).
    blocks : tuple of DiscreteBlock
        Layout of ``k``, the flat ``int64`` vector of the kept discrete variables.
    logdensity : callable
        ``fn(theta, k, data) -> scalar``: ``log p(θ, k, data)``, Jacobians
        included, summed over every value of the finite discrete variables
        (``summed_out``).
    data_vars : tuple of SharedVariable
        What ``data`` holds for ``logdensity`` (``data()`` reads it).
    summed_out : tuple of str
        The finite discrete variables summed out; :meth:`complete` draws them.
    output_names : tuple of str
        Free variables then deterministics, as :meth:`complete` returns them.
    """

    model: object
    ravel: object
    blocks: tuple[DiscreteBlock, ...]
    logdensity: object
    data_vars: tuple
    summed_out: tuple[str, ...]
    output_names: tuple[str, ...]
    _grid: tuple[np.ndarray, ...]
    _joint: object  # fn(theta, k, data) -> (C,): log p(θ, k, k_c, data) for each configuration c
    _values: object  # fn(theta, k, values_data, *k_summed_out) -> outputs
    _values_data_vars: tuple

    @property
    def size(self) -> int:
        """Length of ``k``."""
        return sum(b.size for b in self.blocks)

    def data(self) -> tuple:
        return device_values(self.data_vars)

    def initial_theta(self) -> np.ndarray:
        return self.ravel.ravel(self.model.initial_point())

    def initial_discrete(self, values: dict | None = None) -> np.ndarray:
        """``k`` at the model's initial point, with the values by name in ``values`` put in."""
        point = self.model.initial_point()
        parts = []
        for block in self.blocks:
            value = point[block.name] if not values or block.name not in values else values[block.name]
            value = np.asarray(value)
            if value.size != block.size or (value.dtype.kind == "f" and not np.all(value == np.round(value))):
                raise ValueError(
                    f"initvals['{block.name}'] must be {block.size} integer value(s) of shape {block.shape}, "
                    f"got {value.tolist()!r}"
                )
            parts.append(value.astype(np.int64).reshape(-1))
        return np.concatenate(parts)

    def complete(self, theta, k, key, batch_size: int = 1024) -> dict[str, np.ndarray]:
        """Every named value of draws ``theta`` ``(..., D)`` and ``k`` ``(..., K)``.

        The summed-out variables of each draw come from
        ``p(k_summed | θ, k, data)``, each draw on its own key split from
        ``key``. The result is ordered as ``output_names``.
        """
        theta, k = np.asarray(theta), np.asarray(k)
        lead = theta.shape[:-1]
        count = int(np.prod(lead, dtype=int))  # not -1: θ may be empty
        theta_flat, k_flat = theta.reshape(count, theta.shape[-1]), k.reshape(count, k.shape[-1])
        data = self.data() + device_values(self._values_data_vars)
        keys = jax.random.split(key, len(theta_flat))
        outputs = self._program()(jnp.asarray(theta_flat), jnp.asarray(k_flat), keys, data, batch_size)
        return {name: np.asarray(v).reshape(lead + np.shape(v)[1:]) for name, v in zip(self.output_names, outputs)}

    def _program(self):
        program = self.__dict__.get("_program_cache")
        if program is None:
            grid = tuple(jnp.asarray(g) for g in self._grid)
            joint, values_fn, split = self._joint, self._values, len(self.data_vars)

            def one(args, data):
                theta, k, key = args
                if not grid:
                    return tuple(values_fn(theta, k, data[split:]))
                c = jax.random.categorical(key, joint(theta, k, data[:split]))
                return tuple(values_fn(theta, k, data[split:], *(g[c] for g in grid)))

            def run(theta, k, keys, data, batch_size):
                return jax.lax.map(lambda args: one(args, data), (theta, k, keys), batch_size=batch_size)

            program = jax.jit(run, static_argnums=4)
            object.__setattr__(self, "_program_cache", program)
        return program


def infinite_support(model) -> list[str]:
    """Names of the discrete free variables of ``model`` that cannot be summed out (infinite support).

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model() as m:
    ...     n = pm.Poisson("n", 20.0)
    ...     z = pm.Bernoulli("z", 0.5)
    >>> infinite_support(m)
    ['n']
    """
    return [name for name, rv in model.free_rv_info.items() if rv.dist.discrete and not has_finite_support(rv.dist)]


def compile_joint(model, kept: Sequence[str]) -> JointModel:
    """Compile ``model`` over θ and the values of the discrete variables ``kept``; other discrete ones are summed out.

    Raises
    ------
    ValueError
        When ``kept`` names a variable that is not a discrete free variable,
        when the summed-out variables take too many joint values, or when the
        model reads a Minibatch.

    Examples
    --------
    >>> import numpy as np, varbayes as pm
    >>> with pm.Model() as m:
    ...     p = pm.Beta("p", 2.0, 2.0)
    ...     n = pm.Poisson("n", 10.0)
    ...     y = pm.Binomial("y", n, p, observed=[4, 6])
    >>> joint = compile_joint(m, ["n"])
    >>> joint.ravel.size, [b.name for b in joint.blocks]
    (1, ['n'])
    >>> bool(np.isfinite(joint.logdensity(np.zeros(1), np.array([7]), joint.data())))
    True
    """
    from varbayes.compile.model import _jaxify_with_data, _theta_values
    from varbayes.data.minibatch import is_minibatch

    free = model.free_rv_info
    kept = tuple(kept)
    for name in kept:
        if name not in free or not free[name].dist.discrete:
            raise ValueError(f"'{name}' is not a discrete free variable of the model")
    summed_out = tuple(name for name, rv in free.items() if rv.dist.discrete and name not in kept)
    grid = tuple(joint_grid([finite_support(name, free[name].dist) for name in summed_out])) if summed_out else ()
    ravel = _layout(model)

    blocks, offset = [], 0
    for name in kept:
        dist = free[name].dist
        lower, upper = integer_bounds(dist)
        blocks.append(DiscreteBlock(name, tuple(dist.shape), str(dist.dtype), offset, lower, upper))
        offset += blocks[-1].size
    theta = pt.vector("theta", dtype=pytensor.config.floatX)
    k = pt.vector("discrete", dtype="int64")
    summed = [pt.tensor(name=f"{name}_enumerated", shape=free[name].dist.shape, dtype=free[name].dist.dtype) for name in summed_out]
    values = {
        **_theta_values(ravel, theta),
        **{b.name: pt.cast(k[b.offset : b.offset + b.size].reshape(b.shape), b.dtype) for b in blocks},
        **dict(zip(summed_out, summed)),
    }

    total = _total_logp(model, values)
    if any(is_minibatch(v) for v in ancestors([total])):
        raise ValueError(
            f"the model reads a Minibatch and has discrete free variables {list(kept + summed_out)}: a Metropolis "
            "step needs the full data set in every evaluation; define the model on the full data"
        )
    raw_logp, logp_data = _jaxify_with_data(theta, [total], [k, *summed], "the model's log-density")
    jgrid = tuple(jnp.asarray(g) for g in grid)

    def joint(theta_value, k_value, data):
        return jax.vmap(lambda *c: raw_logp(theta_value, *data, k_value, *c)[0])(*jgrid)

    if grid:

        def logdensity(theta_value, k_value, data):
            return jax.scipy.special.logsumexp(joint(theta_value, k_value, data))

    else:

        def logdensity(theta_value, k_value, data):
            return raw_logp(theta_value, *data, k_value)[0]

    outputs = [rv.var for rv in free.values()] + model.deterministics
    names = tuple(free) + tuple(model._reg.deterministics)
    outputs = _replace(outputs, model.constrained_replacements(values))
    raw_values, values_data = _jaxify_with_data(theta, outputs, [k, *summed], "the model's values")

    def values_fn(theta_value, k_value, data, *c):
        return raw_values(theta_value, *data, k_value, *c)

    return JointModel(
        model=model,
        ravel=ravel,
        blocks=tuple(blocks),
        logdensity=logdensity,
        data_vars=tuple(logp_data),
        summed_out=summed_out,
        output_names=names,
        _grid=grid,
        _joint=joint,
        _values=values_fn,
        _values_data_vars=tuple(values_data),
    )
