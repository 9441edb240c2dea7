"""The ``Model`` context: a registry of named variables and their log-density.

Free variables are placeholder ``TensorVariable`` s (one per random
variable, in constrained space) that the user holds and builds graphs over.
The model keeps, for each, its distribution and transform; for each observed
variable its data and ``total_size``; and the deterministics and potentials.
Everything numeric happens later, in :mod:`varbayes.compile`.
"""

from __future__ import annotations

import sys

import threading
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.basic import Constant, Variable
from pytensor.graph.replace import clone_replace
from pytensor.graph.traversal import graph_inputs
from pytensor.scalar.basic import Cast
from pytensor.tensor.elemwise import Elemwise
from pytensor.tensor.type import TensorType

from varbayes.config import quick_eval_mode
from varbayes.distributions.base import UNSET, Distribution
from varbayes.distributions.support import check_observed
from varbayes.model.scaling import total_size_scale

__all__ = ["Model", "modelcontext", "FreeRV", "ObservedRV"]

_context = threading.local()


def _stack() -> list["Model"]:
    if not hasattr(_context, "stack"):
        _context.stack = []
    return _context.stack


def modelcontext(model: "Model | None", name: str | None = None) -> "Model":
    """``model`` itself, or the innermost model of the ``with`` block.

    ``name``, when given, is the variable being defined (named in the error).

    Raises
    ------
    TypeError
        When no model is given and none is active.
    """
    if model is not None:
        if not isinstance(model, Model):
            raise TypeError(f"model= must be a pm.Model, got {type(model).__name__}")
        return model
    stack = _stack()
    if not stack:
        what = f"'{name}' is defined outside any model context" if name else "No model on context stack"
        raise TypeError(
            f"{what}: define variables inside 'with pm.Model():' or pass model=..."
        )
    return stack[-1]


@dataclass
class FreeRV:
    """What the model knows of one free variable."""

    name: str
    var: Variable
    dist: Distribution
    transform: Any
    initval: Any = None


@dataclass
class ObservedRV:
    """What the model knows of one observed variable."""

    name: str
    var: Variable
    dist: Distribution
    data: Variable
    total_size: Any = None


@dataclass
class _Registry:
    free: dict[str, FreeRV] = field(default_factory=dict)
    observed: dict[str, ObservedRV] = field(default_factory=dict)
    deterministics: dict[str, Variable] = field(default_factory=dict)
    potentials: dict[str, Variable] = field(default_factory=dict)


class Model:
    """A Bayesian model: a context in which variables are declared.

    Parameters
    ----------
    name : str
        Optional prefix for the names of the variables (``name::x``).
    coords : dict, optional
        Coordinate values for named dimensions, used by ``dims=``.

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model() as model:
    ...     mu = pm.Normal("mu", 0.0, 1.0)
    ...     y = pm.Normal("y", mu, 1.0, observed=[0.1, -0.3])
    >>> [v.name for v in model.free_RVs]
    ['mu']
    """

    def __init__(self, name: str = "", coords: dict | None = None, model: "Model | None" = None):
        if not isinstance(name, str):
            raise TypeError(f"Model name must be a string, got {name!r}")
        # A model created inside another's context (or given ``model=``) is a
        # submodel: its variables are also variables of every enclosing model,
        # under the prefixed name ``outer::inner::x``; coords are shared.
        stack = _stack()
        self.parent: Model | None = model if model is not None else (stack[-1] if stack else None)
        self.name = name
        parent_prefix = self.parent._prefix if self.parent is not None else ""
        self._prefix = f"{parent_prefix}{name}::" if name else parent_prefix
        self.named_vars: dict[str, Variable] = {}
        self.named_vars_to_dims: dict[str, tuple[str, ...]] = {}
        self._reg = _Registry()
        self._data_names: set[str] = set()
        if self.parent is None:
            self.coords: dict[str, tuple] = {}
            self._value_vars: dict[str, Variable] = {}
        else:
            self.coords = self.parent.coords
            self._value_vars = self.parent._value_vars
        self._compiled_cache: dict = {}
        for key, values in (coords or {}).items():
            self.add_coord(key, values)

    def _lineage(self) -> list["Model"]:
        """This model and its enclosing models, innermost first."""
        chain, model = [], self
        while model is not None:
            chain.append(model)
            model = model.parent
        return chain

    @property
    def root(self) -> "Model":
        return self._lineage()[-1]

    # ---------------------------------------------------------------- context
    def __enter__(self) -> "Model":
        _stack().append(self)
        return self

    def __exit__(self, *exc) -> None:
        _stack().pop()

    # ----------------------------------------------------------------- coords
    def add_coord(self, name: str, values=None, length: int | None = None) -> None:
        """Add a named dimension with its coordinate values."""
        if values is None:
            if length is None:
                raise ValueError(f"coord '{name}' needs values or a length")
            values = range(length)
        if name in self.coords:
            raise ValueError(f"coord '{name}' is already defined")
        self.coords[name] = tuple(values)

    def shape_from_dims(self, dims: tuple[str, ...], var_name: str) -> tuple[int, ...]:
        missing = [d for d in dims if d not in self.coords]
        if missing:
            raise ValueError(
                f"'{var_name}': dims {missing} have no coords; known dims: {sorted(self.coords)}"
            )
        return tuple(len(self.coords[d]) for d in dims)

    # ----------------------------------------------------------- registration
    def _full_name(self, name: str) -> str:
        if not isinstance(name, str) or not name:
            raise TypeError(f"a variable name must be a non-empty string, got {name!r}")
        return f"{self._prefix}{name}"

    def _check_new_name(self, name: str) -> None:
        if name in self.root.named_vars:
            raise ValueError(f"Variable name '{name}' already exists in this model")

    def _check_dims(self, name: str, dims, shape) -> tuple[str, ...] | None:
        """``dims`` as a tuple, checked against the coords and ``shape`` (``None`` entries unknown)."""
        if dims is None:
            return None
        dims = (dims,) if isinstance(dims, str) else tuple(dims)
        if not all(isinstance(d, str) for d in dims):
            raise TypeError(f"'{name}': dims must be strings, got {dims}")
        missing = [d for d in dims if d not in self.coords]
        if missing:
            raise ValueError(
                f"'{name}': dims {missing} have no coords; known dims: {sorted(self.coords)}. "
                "Pass coords={...} to pm.Model or call model.add_coord."
            )
        if shape is not None:
            if len(dims) != len(shape):
                raise ValueError(f"'{name}': dims {dims} do not match shape {tuple(shape)}")
            for d, n in zip(dims, shape):
                if n is not None and n != len(self.coords[d]):
                    raise ValueError(
                        f"'{name}': dim '{d}' has {len(self.coords[d])} coords but the variable "
                        f"has length {n} on that axis (shape {tuple(shape)})"
                    )
        return dims

    def _add_name(self, name: str, var: Variable, dims=None) -> None:
        self._check_new_name(name)
        dims = self._check_dims(name, dims, None) if dims is not None else None
        for model in self._lineage():
            model.named_vars[name] = var
            if dims is not None:
                model.named_vars_to_dims[name] = dims
            model._compiled_cache.clear()

    def register_rv(
        self,
        dist: Distribution,
        name: str,
        *,
        observed=None,
        total_size=None,
        dims=None,
        transform=UNSET,
        initval=None,
    ) -> Variable:
        """Add a free (or, with ``observed``, observed) variable; return its tensor."""
        name = self._full_name(name)
        self._check_new_name(name)
        self._check_dims(name, dims, dist.shape)
        if observed is None:
            if total_size is not None:
                raise ValueError(f"'{name}': total_size applies to observed variables only")
            var = pt.tensor(name=name, shape=dist.shape, dtype=dist.dtype)
            var.tag.varbayes_model_id = id(self)
            # pm.draw, pm.logp and pm.logcdf find a variable's distribution here
            var.tag.varbayes_dist = dist
            if transform is UNSET:
                transform = dist.default_transform()
            rv = FreeRV(name, var, dist, transform, initval)
            for model in self._lineage():
                model._reg.free[name] = rv
            self._add_name(name, var, dims)
            return var
        data = self._observed_data(name, dist, observed)
        if total_size is not None:
            # validate now, so a wrong total_size fails where it is written
            total_size_scale(total_size, data, name)
        else:
            from varbayes.data.minibatch import is_minibatch

            if is_minibatch(data):
                warnings.warn(
                    f"'{name}' is observed on a Minibatch without total_size: its "
                    "log-density is not rescaled to the full data set.",
                    UserWarning,
                    stacklevel=3,
                )
        rv = ObservedRV(name, data, dist, data, total_size)
        # pm.draw and pm.logp of the observed variable itself (not of expressions that read the data)
        data.tag.varbayes_observed_dist = dist
        for model in self._lineage():
            model._reg.observed[name] = rv
        self._add_name(name, data, dims)
        from varbayes.data.minibatch import is_minibatch

        if is_minibatch(observed):
            # new rows (set_value, update_shared, a streaming window) are checked before they replace the old
            support = dist.support()
            observed.add_check(lambda value: check_observed(dist, name, value, support))
        return data

    def _observed_data(self, name: str, dist: Distribution, observed) -> Variable:
        if _is_pandas(observed):
            observed = observed.to_numpy()
        if isinstance(observed, np.ma.MaskedArray):
            observed = _unmasked(name, dist, observed)
        support = dist.support()
        if isinstance(observed, Variable):
            data = observed
            current = observed_value(observed)
            if current is not None:
                check_observed(dist, name, current, support)
            value = observed.get_value() if isinstance(observed, SharedVariable) else (
                observed.data if isinstance(observed, Constant) else None
            )
            if dist.discrete and not data.dtype.startswith(("int", "uint", "bool")):
                if value is None or np.any(np.asarray(value) != np.round(np.asarray(value))):
                    raise TypeError(f"'{name}': observed data for a discrete distribution must be integers")
                data = pt.cast(data, dist.dtype)
        else:
            value = np.asarray(observed)
            if value.dtype.kind not in "biuf":
                raise TypeError(f"'{name}': observed must be numeric, got dtype {value.dtype}")
            check_observed(dist, name, value, support)
            value = value.astype(dist.dtype)
            data = pytensor.shared(value, name=name)
        if tuple(s for s in data.type.shape) and all(s is not None for s in data.type.shape):
            shape = tuple(data.type.shape)
        elif isinstance(data, SharedVariable):
            shape = np.shape(data.get_value())
        else:
            shape = None
        if shape is not None:
            try:
                ok = np.broadcast_shapes(dist.shape, shape) == tuple(shape)
            except ValueError:
                ok = False
            if not ok:
                raise ValueError(
                    f"'{name}': observed data of shape {tuple(shape)} does not match the "
                    f"distribution's shape {dist.shape}"
                )
        return data

    def add_deterministic(self, name: str, var: Variable, dims=None) -> Variable:
        name = self._full_name(name)
        var = _named_copy(var, name)
        self._check_new_name(name)
        self._check_dims(name, dims, var.type.shape)
        self._add_name(name, var, dims)
        for model in self._lineage():
            model._reg.deterministics[name] = var
        return var

    def add_potential(self, name: str, var: Variable, dims=None) -> Variable:
        name = self._full_name(name)
        var = _named_copy(var, name)
        self._check_new_name(name)
        self._check_dims(name, dims, var.type.shape)
        self._add_name(name, var, dims)
        for model in self._lineage():
            model._reg.potentials[name] = var
        return var

    # -------------------------------------------------------------- inspection
    @property
    def free_RVs(self) -> list[Variable]:
        """The placeholders of the free variables, in declaration order."""
        return [rv.var for rv in self._reg.free.values()]

    @property
    def observed_RVs(self) -> list[Variable]:
        return [rv.var for rv in self._reg.observed.values()]

    @property
    def basic_RVs(self) -> list[Variable]:
        """The free variables, then the observed ones, in declaration order.

        Examples
        --------
        >>> import varbayes as pm
        >>> with pm.Model() as model:
        ...     mu = pm.Normal("mu", 0.0, 1.0)
        ...     y = pm.Normal("y", mu, 1.0, observed=[0.2])
        >>> [v.name for v in model.basic_RVs]
        ['mu', 'y']
        """
        return self.free_RVs + self.observed_RVs

    @property
    def deterministics(self) -> list[Variable]:
        return list(self._reg.deterministics.values())

    @property
    def potentials(self) -> list[Variable]:
        return list(self._reg.potentials.values())

    @property
    def free_rv_info(self) -> dict[str, FreeRV]:
        return dict(self._reg.free)

    @property
    def observed_rv_info(self) -> dict[str, ObservedRV]:
        return dict(self._reg.observed)

    def __getitem__(self, key: str) -> Variable:
        try:
            return self.named_vars[key]
        except KeyError:
            full = self._full_name(key)
            if full in self.named_vars:
                return self.named_vars[full]
            raise KeyError(f"no variable named '{key}' in the model; known: {sorted(self.named_vars)}") from None

    def __contains__(self, key: str) -> bool:
        return key in self.named_vars

    # ---------------------------------------------------------- value space
    def value_var(self, name: str) -> Variable:
        """The unconstrained value variable of free variable ``name``."""
        if name not in self._value_vars:
            rv = self._reg.free[name]
            if rv.transform is None:
                self._value_vars[name] = pt.tensor(name=name, shape=rv.dist.shape, dtype=rv.dist.dtype)
            else:
                shape = rv.transform.unconstrained_shape(rv.dist.shape)
                self._value_vars[name] = pt.tensor(
                    name=f"{name}_{rv.transform.name}__", shape=shape, dtype=rv.dist.dtype
                )
        return self._value_vars[name]

    @property
    def value_vars(self) -> list[Variable]:
        return [self.value_var(name) for name in self._reg.free]

    def constrained_replacements(self, values: dict[str, Variable] | None = None) -> dict:
        """Map each placeholder to its constrained value (from value variables).

        A transform may depend on earlier variables (``Uniform('u', 0, s)``):
        each backward graph has the earlier placeholders replaced too.
        """
        repl: dict = {}
        for name, rv in self._reg.free.items():
            if values is not None and name not in values:
                continue  # a discrete variable summed out of the log-density keeps its placeholder
            value = self.value_var(name) if values is None else values[name]
            if rv.transform is None:
                repl[rv.var] = value
            else:
                constrained = rv.transform.backward(value)
                repl[rv.var] = clone_replace(constrained, replace=repl) if repl else constrained
        return repl

    def logp_terms(self, jacobian: bool = True, values: dict | None = None) -> dict[str, Variable]:
        """Per-variable log-density terms over value variables (scalars)."""
        repl = self.constrained_replacements(values)
        terms: dict[str, Variable] = {}
        for name, rv in self._reg.free.items():
            term = pt.sum(rv.dist.logp(rv.var))
            if jacobian and rv.transform is not None:
                value = self.value_var(name) if values is None else values[name]
                term = term + pt.sum(rv.transform.log_jac_det(value))
            terms[name] = term
        for name, rv in self._reg.observed.items():
            term = pt.sum(rv.dist.logp(rv.data))
            if rv.total_size is not None:
                term = term * total_size_scale(rv.total_size, rv.data, name)
            terms[name] = term
        for name, pot in self._reg.potentials.items():
            terms[name] = pt.sum(pot)
        if not terms:
            return {}
        names = list(terms)
        replaced = clone_replace([terms[n] for n in names], replace=repl)
        return dict(zip(names, replaced))

    def logp(self, jacobian: bool = True, sum: bool = True):
        """The model's log-density over the unconstrained value variables.

        Examples
        --------
        >>> import varbayes as pm
        >>> with pm.Model() as m:
        ...     x = pm.Normal("x", 0.0, 1.0)
        >>> round(float(m.logp().eval({m.value_vars[0]: 0.0})), 4)
        -0.9189
        """
        terms = self.logp_terms(jacobian=jacobian)
        if not sum:
            return list(terms.values())
        if not terms:
            return pt.constant(0.0, dtype=pytensor.config.floatX)
        return pt.add(*terms.values()) if len(terms) > 1 else next(iter(terms.values()))

    def initial_point(self, random_seed: int | None = None) -> dict[str, np.ndarray]:
        """Initial values of the unconstrained value variables, keyed by their names.

        Computed once per set of variables (every fit starts here, and each
        evaluation compiles small PyTensor functions); a copy is returned.
        """
        cached = self._compiled_cache.get("initial_point")
        if cached is None:
            cached = self._compute_initial_point()
            self._compiled_cache["initial_point"] = cached
        return {name: value.copy() for name, value in cached.items()}

    def _compute_initial_point(self) -> dict[str, np.ndarray]:
        point = {}
        for name, rv in self._reg.free.items():
            if rv.initval is not None:
                x = pt.as_tensor_variable(np.asarray(rv.initval, dtype=rv.dist.dtype))
            else:
                x = rv.dist.support_point()
            x = pt.broadcast_to(pt.cast(x, rv.dist.dtype), rv.dist.shape)
            y = x if rv.transform is None else rv.transform.forward(x)
            # support points may depend on other variables: evaluate at their initial values
            point[self.value_var(name).name] = y
        names = list(point)
        repl = self.constrained_replacements()
        graphs = clone_replace([point[n] for n in names], replace=repl)
        values = _evaluate_in_order(self, names, graphs)
        return dict(zip(names, values))

    def compile_logp(self, jacobian: bool = True, sum: bool = True, mode=None):
        """A function of a point (dict of value-variable names) returning the log-density."""
        out = self.logp(jacobian=jacobian, sum=sum)
        inputs = self.value_vars
        fn = pytensor.function(inputs, out, on_unused_input="ignore", mode=mode)

        def logp_fn(point: dict) -> np.ndarray:
            return fn(*[point[v.name] for v in inputs])

        return logp_fn

    def compile_dlogp(self, jacobian: bool = True, mode=None):
        """A function of a point returning the gradient of the log-density, per value variable."""
        out = self.logp(jacobian=jacobian)
        inputs = self.value_vars
        grads = pytensor.grad(out, inputs)
        fn = pytensor.function(inputs, grads, on_unused_input="ignore", mode=mode)

        def dlogp_fn(point: dict) -> list[np.ndarray]:
            return fn(*[point[v.name] for v in inputs])

        return dlogp_fn

    def point_logps(self, point: dict | None = None, round_vals: int = 2) -> dict[str, float]:
        """Log-density of each variable at ``point`` (default: the initial point)."""
        point = self.initial_point() if point is None else point
        terms = self.logp_terms(jacobian=True)
        inputs = self.value_vars
        fn = pytensor.function(inputs, list(terms.values()), on_unused_input="ignore", mode=quick_eval_mode())
        values = fn(*[point[v.name] for v in inputs])
        return {name: round(float(v), round_vals) for name, v in zip(terms, values)}

    def debug(self, point: dict | None = None, verbose: bool = False) -> None:
        """Print which terms of the log-density are not finite at ``point`` (the initial point), and why.

        For each variable whose log-density is ``-inf`` or NaN it names the
        first offending element, its value, the distribution's parameters
        there and whether the value is outside the support.

        Parameters
        ----------
        point : dict, optional
            Values of the unconstrained value variables, by name (default: :meth:`initial_point`).
        verbose : bool
            Also list the finite terms.

        Examples
        --------
        >>> import varbayes as pm
        >>> with pm.Model() as model:
        ...     s = pm.Normal("s", -1.0, 1.0)
        ...     y = pm.Normal("y", 0.0, s, observed=[0.5])
        >>> model.debug()  # doctest: +ELLIPSIS
        point: the initial point
        1 of 2 log-density terms are not finite:
          y (Normal, observed): logp is nan at index (0,), value 0.5; parameters: mu=0, sigma=-1; sigma=-1 is invalid: sigma must be positive
        """
        from varbayes.model.debug import report

        print(report(self, point, verbose))

    def __repr__(self) -> str:
        lines = [f"<varbayes.Model: {len(self._reg.free)} free, {len(self._reg.observed)} observed>"]
        for name, rv in self._reg.free.items():
            lines.append(f"  {name} ~ {type(rv.dist).__name__}{rv.dist.shape or ''}")
        for name, rv in self._reg.observed.items():
            lines.append(f"  {name} ~ {type(rv.dist).__name__} (observed)")
        return "\n".join(lines)


def _named_copy(var, name: str) -> Variable:
    """``var`` under ``name``, copied so that a variable the user holds keeps its own name."""
    try:
        var = pt.as_tensor_variable(var)
    except (TypeError, ValueError, NotImplementedError) as err:
        raise TypeError(f"'{name}': expected a tensor expression, got {var!r} ({err})") from None
    return var.copy(name=name)


def _evaluate_in_order(model: Model, names: list[str], graphs: list[Variable]) -> list[np.ndarray]:
    """Evaluate initial values that may depend on other variables' initial values."""
    values: dict[Variable, np.ndarray] = {}
    value_vars = model.value_vars
    results = []
    for name, graph in zip(names, graphs):
        fn = pytensor.function(value_vars, graph, on_unused_input="ignore", mode=quick_eval_mode())
        args = [values.get(v, np.zeros(v.type.shape, dtype=v.dtype)) for v in value_vars]
        out = np.asarray(fn(*args))
        vv = next(v for v in value_vars if v.name == name)
        values[vv] = out
        results.append(out)
    return results


def observed_value(data: Variable) -> np.ndarray | None:
    """The numbers behind observed ``data`` now, or ``None`` when they are known only at run time.

    Casts are looked through, so float data observed by a discrete
    distribution is checked before it is cast to integers; a Minibatch gives
    its source (the rows in memory), from which every batch is drawn.
    """
    from varbayes.data.minibatch import batch_indices, is_minibatch

    while data.owner is not None and _is_cast(data.owner.op):
        data = data.owner.inputs[0]
    if is_minibatch(data):
        return np.asarray(data.shared.get_value(borrow=True))
    if isinstance(data, SharedVariable):
        return np.asarray(data.get_value(borrow=True))
    if isinstance(data, Constant):
        return np.asarray(data.data)
    # an expression of data (``y_data[:, 0]``): evaluated unless it draws random numbers or needs a variable
    inputs = list(graph_inputs([data]))
    fixed = all(
        isinstance(v, Constant) or (isinstance(v, SharedVariable) and isinstance(v.type, TensorType)) for v in inputs
    )
    if not fixed or batch_indices([data]):
        return None
    return np.asarray(pytensor.function([], data, mode=quick_eval_mode())())


def _is_cast(op) -> bool:
    return isinstance(op, Elemwise) and isinstance(op.scalar_op, Cast)


def _unmasked(name: str, dist: Distribution, observed: np.ma.MaskedArray) -> np.ndarray:
    """The data of a masked array without masked entries (missing values are not imputed)."""
    mask = np.ma.getmaskarray(observed)
    if mask.any():
        index = tuple(int(i) for i in np.unravel_index(int(np.argmax(mask)), mask.shape))
        raise ValueError(
            f"{type(dist).__name__} '{name}': observed data has {int(mask.sum())} masked value(s), "
            f"the first at index {index}; missing values are not imputed: drop those entries"
        )
    return np.ma.getdata(observed)


def _is_pandas(value) -> bool:
    """A pandas DataFrame or Series, without importing pandas (which takes a tenth of a second)."""
    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(value, (pd.DataFrame, pd.Series))
