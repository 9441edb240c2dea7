"""Compile a model to pure JAX: the log-density over θ and expressions of θ."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import jax.numpy as jnp
import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.basic import Constant, Variable
from pytensor.graph.replace import clone_replace
from pytensor.graph.traversal import graph_inputs
from pytensor.tensor.random.type import RandomType

from varbayes.compile.jaxify import jaxify
from varbayes.data.minibatch import batch_indices
from varbayes.compile.ravel import Ravel, VarLayout

__all__ = ["CompiledModel", "JaxFunction", "build_function", "compile_logdensity", "compile_model"]


@dataclass(frozen=True)
class JaxFunction:
    """A pure JAX function ``fn(theta, data)`` and the shared variables ``data`` holds.

    ``data`` is a tuple of arrays aligned with ``data_vars``; ``data()`` reads
    their current values, so ``set_value`` on a shared variable is seen by the
    next call without recompiling.
    """

    fn: Callable
    data_vars: tuple[SharedVariable, ...]
    output_names: tuple[str, ...] = ()
    #: ``batch_fn(key, data) -> data``: appends freshly drawn minibatch indices
    batch_fn: Callable | None = None
    #: compiled programs built on this function (e.g. fit loops), reused across fits
    cache: dict = field(default_factory=dict, compare=False, repr=False)

    def data(self) -> tuple:
        return tuple(jnp.asarray(v.get_value(borrow=True)) for v in self.data_vars)

    def __call__(self, theta, data=None, key=None):
        data = self.data() if data is None else data
        if self.batch_fn is not None:
            import jax

            data = self.batch_fn(jax.random.key(0) if key is None else key, data)
        return self.fn(jnp.asarray(theta), data)


@dataclass(frozen=True)
class CompiledModel:
    """The JAX face of a model.

    Attributes
    ----------
    ravel : Ravel
        Layout of θ.
    logdensity : JaxFunction
        ``logdensity.fn(theta, data)`` is the log-density of the unconstrained
        θ (Jacobians and ``total_size`` scaling included), a scalar.
    constrained : JaxFunction
        θ to a tuple of constrained free variables then deterministics
        (names in ``constrained.output_names``).
    enumerated : Enumerated or None
        When the model has finite discrete free variables: they are summed
        out of ``logdensity``, θ holds the continuous variables only,
        ``constrained`` returns θ itself, and ``enumerated.complete`` draws
        the discrete variables back (see :mod:`varbayes.compile.marginal`).
    """

    model: object
    ravel: Ravel
    logdensity: JaxFunction
    constrained: JaxFunction
    enumerated: object = None

    def initial_theta(self) -> np.ndarray:
        return self.ravel.ravel(self.model.initial_point())

    def logdensity_fn(self, theta, data=None):
        """Convenience: the log-density at ``theta`` with the current data."""
        return self.logdensity(jnp.asarray(theta), data)

    def function(self, outputs: Sequence[Variable], replacements: dict | None = None) -> JaxFunction:
        """A JAX function of θ for any expressions of the model's variables."""
        return build_function(self.model, self.ravel, outputs, replacements)


def _layout(model) -> Ravel:
    layouts, offset = [], 0
    for name, rv in model.free_rv_info.items():
        value = model.value_var(name)
        layout = VarLayout(
            name=name,
            value_name=value.name,
            shape=tuple(value.type.shape),
            constrained_shape=tuple(rv.dist.shape),
            transform=rv.transform,
            offset=offset,
        )
        layouts.append(layout)
        offset += layout.size
    return Ravel(tuple(layouts))


def _theta_values(ravel: Ravel, theta) -> dict[str, Variable]:
    return {v.name: theta[v.offset : v.offset + v.size].reshape(v.shape) for v in ravel.vars}


def _jaxify_with_data(theta, outputs, extra_inputs, what: str):
    """Jaxify ``outputs`` over ``(theta, *data, *extra_inputs)``; return ``(fn, data_vars)``.

    Shared variables (not random generators) become data inputs, so their
    current values are passed at call time; any other root is an error.
    """
    data_vars, unknown = [], []
    for inp in graph_inputs(list(outputs)):
        if inp is theta or isinstance(inp, Constant) or any(inp is e for e in extra_inputs):
            continue
        if isinstance(inp, SharedVariable) and not isinstance(inp.type, RandomType):
            data_vars.append(inp)
        else:
            unknown.append(inp)
    if unknown:
        names = sorted({str(v.name or v) for v in unknown})
        raise ValueError(f"{what} depends on variables that are not in this model: {names}")
    data_inputs = [v.type() for v in data_vars]
    outputs = clone_replace(list(outputs), replace=dict(zip(data_vars, data_inputs)))
    return jaxify([theta, *data_inputs, *extra_inputs], outputs), data_vars


def build_function(
    model,
    ravel: Ravel,
    outputs: Sequence[Variable],
    replacements: dict | None = None,
    *,
    names: Sequence[str] | None = None,
) -> JaxFunction:
    """Compile ``outputs`` (graphs over the model's placeholders) to ``fn(theta, data)``."""
    if names is None:
        names = [o.name if getattr(o, "name", None) else f"output_{i}" for i, o in enumerate(outputs)]
    theta = pt.vector("theta", dtype=pytensor.config.floatX)
    values = _theta_values(ravel, theta)
    repl = model.constrained_replacements(values)
    if replacements:
        outputs = clone_replace(list(outputs), replace=dict(replacements))
    outputs = clone_replace(list(outputs), replace=repl)
    raw, data_vars = _jaxify_with_data(theta, outputs, (), "the expression")

    def fn(theta_value, data):
        return raw(theta_value, *data)

    return JaxFunction(fn, tuple(data_vars), tuple(names))


def compile_logdensity(model, ravel: Ravel, replacements: dict | None = None) -> JaxFunction:
    """The model's log-density over θ as ``fn(theta, data) -> scalar``.

    ``replacements`` swaps graph nodes first (e.g. full data for a minibatch).
    """
    theta = pt.vector("theta", dtype=pytensor.config.floatX)
    terms = model.logp_terms(jacobian=True, values=_theta_values(ravel, theta))
    total = pt.add(*terms.values()) if len(terms) > 1 else next(iter(terms.values()))
    total = pt.cast(total, pytensor.config.floatX)
    if replacements:
        total = clone_replace(total, replace=dict(replacements))
    # Minibatch indices become inputs, drawn by the compiled step from its own key.
    index_vars = batch_indices([total])
    index_inputs = [pt.vector(f"batch_index_{k}", dtype="int64") for k in range(len(index_vars))]
    if index_vars:
        total = clone_replace(total, replace=dict(zip(index_vars, index_inputs)))
    raw, data_vars = _jaxify_with_data(theta, [total], index_inputs, "the model's log-density")

    def logdensity(theta_value, data):
        return raw(theta_value, *data)[0]

    batch_fn = _batch_function(index_vars, data_vars) if index_vars else None
    return JaxFunction(logdensity, tuple(data_vars), ("logdensity",), batch_fn)


def _batch_function(index_vars, data_vars) -> Callable:
    """``batch_fn(key, data)``: the data followed by one fresh index vector per minibatch axis."""
    import jax

    specs = []
    for var in index_vars:
        tag = var.tag.batch_index
        position = next(i for i, v in enumerate(data_vars) if v is tag.source)
        specs.append((position, tag.axis, tag.size))

    def batch_fn(key, data):
        keys = jax.random.split(key, len(specs))
        indices = tuple(
            jax.random.randint(k, (size,), 0, data[position].shape[axis])
            for k, (position, axis, size) in zip(keys, specs)
        )
        return (*data, *indices)

    return batch_fn


def compile_model(model) -> CompiledModel:
    """Compile ``model`` (cached until a variable is added).

    Raises
    ------
    ValueError
        When the model has no free variables.
    TypeError
        When a discrete free variable has an infinite support: finite ones
        (Bernoulli, Categorical, DiscreteUniform, Binomial with a constant
        ``n``, ...) are summed out (:func:`varbayes.compile.marginal.compile_enumerated`).

    Examples
    --------
    >>> import varbayes as pm, jax
    >>> with pm.Model() as m:
    ...     x = pm.Normal("x", 0.0, 1.0)
    >>> cm = compile_model(m)
    >>> jax.grad(cm.logdensity_fn)(jax.numpy.array([1.0])).tolist()
    [-1.0]
    """
    cached = model._compiled_cache.get("compiled")
    if cached is not None:
        return cached
    free = model.free_rv_info
    if not free:
        raise ValueError("the model has no free variables: there is nothing to infer")
    discrete = [name for name, rv in free.items() if rv.dist.discrete]
    if discrete:
        from varbayes.compile.marginal import compile_enumerated

        compiled = compile_enumerated(model, discrete)
        model._compiled_cache["compiled"] = compiled
        return compiled
    ravel = _layout(model)
    logdensity_fn = compile_logdensity(model, ravel)
    outputs = [rv.var for rv in free.values()] + model.deterministics
    names = list(free) + list(model._reg.deterministics)
    constrained = build_function(model, ravel, outputs, names=names)
    compiled = CompiledModel(model, ravel, logdensity_fn, constrained)
    model._compiled_cache["compiled"] = compiled
    return compiled
