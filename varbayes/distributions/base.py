"""The distribution base class: parameters, shapes, validation and registration.

A distribution is a small object holding PyTensor parameters. It knows its
log-density (``logp``), how to draw forward samples (``random``), its
support and the transform to unconstrained space. Called with a name inside a
:class:`~varbayes.Model` it registers a variable and returns the
``TensorVariable`` the user holds; ``.dist(...)`` builds the unnamed object.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.basic import Constant, Variable
from pytensor.tensor.basic import _as_tensor_variable

from varbayes.config import quick_eval_mode
from varbayes.distributions.support import INTEGERS, REAL, Support
from varbayes.rng import advance_on_eval, shared_generator

__all__ = ["Distribution", "Discrete", "Continuous", "UNSET", "shape_tuple"]


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


def is_symbolic_shape(shape) -> bool:
    """Whether ``shape=``/``size=`` is (or holds) a PyTensor expression, e.g. ``x.shape`` of a ``pm.Data``."""
    if isinstance(shape, Variable):
        return True
    return isinstance(shape, (tuple, list)) and any(isinstance(s, Variable) for s in shape)


def _current_shape(shape) -> tuple[int, ...]:
    """The value of a symbolic ``shape``/``size`` now (shared data at their current values)."""
    from pytensor.graph.traversal import graph_inputs

    parts = [shape] if isinstance(shape, Variable) else [pt.as_tensor_variable(s) for s in shape]
    free = [v for v in graph_inputs(parts) if not isinstance(v, (Constant, SharedVariable))]
    if free:
        names = sorted({str(v.name or v) for v in free})
        raise TypeError(f"a shape can depend on data (pm.Data) and constants, not on the variables {names}")
    values = pytensor.function([], parts, mode=quick_eval_mode())()
    if isinstance(shape, Variable):
        return tuple(int(n) for n in np.atleast_1d(values[0]))
    return tuple(int(v) for v in values)


def shape_tuple(shape) -> tuple[int, ...] | None:
    """Normalise ``shape=`` (``None``, an int, a sequence of ints, or an expression of data's shapes)."""
    if shape is None:
        return None
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    if is_symbolic_shape(shape):
        return _current_shape(shape)
    return tuple(int(s) for s in shape)


def constant_value(var) -> np.ndarray | None:
    """The numeric value of ``var`` when it is a constant, else ``None``."""
    if isinstance(var, Constant):
        return np.asarray(var.data)
    return None


def folded_value(var) -> np.ndarray | None:
    """The value of ``var`` when its graph is built from constants only, else ``None``.

    A parameter derived from constants (``n * (1 - p) / p``) is not itself a
    ``Constant``; folding it tells the bounds of a support without guessing.
    """
    if var is None:
        return None
    if isinstance(var, Constant):
        return np.asarray(var.data)
    if not isinstance(var, Variable):
        return np.asarray(var)
    from pytensor.graph.fg import FunctionGraph
    from pytensor.graph.traversal import graph_inputs
    from pytensor.tensor.rewriting.basic import topo_unconditional_constant_folding

    if not all(isinstance(v, Constant) for v in graph_inputs([var])):
        return None
    fgraph = FunctionGraph(outputs=[var], clone=True)
    topo_unconditional_constant_folding.rewrite(fgraph)
    out = fgraph.outputs[0]
    return np.asarray(out.data) if isinstance(out, Constant) else None


def static_shape(var) -> tuple[int | None, ...]:
    return tuple(var.type.shape)


class Distribution:
    """Base class of all distributions.

    Subclasses set ``ndim_supp`` (number of event axes), ``discrete``, and
    implement ``__init__`` (convert and check parameters, then call
    ``super().__init__``), ``logp``, ``_random`` and ``support_point``.
    """

    ndim_supp: int = 0
    discrete: bool = False
    default_dtype: str | None = None  # None means floatX for continuous, int64 for discrete

    def __new__(cls, name, *args, **kwargs):
        if not isinstance(name, str):
            raise TypeError(
                f"{cls.__name__} needs a name as its first argument inside a model; "
                f"use {cls.__name__}.dist(...) for an unnamed distribution."
            )
        from varbayes.model.core import modelcontext

        model = modelcontext(None, name)
        observed = kwargs.pop("observed", None)
        total_size = kwargs.pop("total_size", None)
        dims = kwargs.pop("dims", None)
        transform = kwargs.pop("transform", UNSET)
        initval = kwargs.pop("initval", None)
        if dims is not None:
            dims = (dims,) if isinstance(dims, str) else tuple(dims)
            if kwargs.get("shape") is None and kwargs.get("size") is None:
                kwargs["shape"] = model.shape_from_dims(dims, name)
        if observed is not None and kwargs.get("shape") is None and kwargs.get("size") is None:
            kwargs["observed_shape"] = _observed_static_shape(observed)
        try:
            dist = cls.dist(*args, **kwargs)
        except TypeError as err:
            raise TypeError(f"{cls.__name__} '{name}': {err}") from None
        except ValueError as err:
            raise ValueError(f"{cls.__name__} '{name}': {err}") from None
        if observed is None and 0 in dist.shape:
            raise ValueError(f"{cls.__name__} '{name}': {_empty_shape_problem(dist.shape, dims, model)}")
        return model.register_rv(
            dist,
            name,
            observed=observed,
            total_size=total_size,
            dims=dims,
            transform=transform,
            initval=initval,
        )

    @classmethod
    def dist(cls, *args, **kwargs) -> "Distribution":
        """Build the distribution without registering it in a model.

        Examples
        --------
        >>> import varbayes as pm
        >>> d = pm.Normal.dist(0.0, 1.0)
        >>> round(float(d.logp(0.0).eval()), 4)
        -0.9189
        """
        obj = object.__new__(cls)
        try:
            obj.__init__(*args, **kwargs)
        except TypeError as err:
            # name the distribution, not the base-class __init__ that rejected the keyword
            msg = str(err)
            if "unexpected keyword argument" in msg or "positional argument" in msg:
                bad = msg.split("()", 1)[-1].strip()
                raise TypeError(f"{cls.__name__}.dist(): {bad}") from None
            raise
        return obj

    # ------------------------------------------------------------------ set-up
    def __init__(
        self,
        params: dict[str, Any],
        *,
        shape=None,
        size=None,
        dtype: str | None = None,
        observed_shape: tuple[int | None, ...] | None = None,
        event_shape: tuple[int, ...] | None = None,
    ):
        self.params: dict[str, Variable] = params
        if dtype is None:
            dtype = self.default_dtype or ("int64" if self.discrete else pytensor.config.floatX)
        self.dtype = str(np.dtype(dtype))
        if self.discrete and not self.dtype.startswith(("int", "uint", "bool")):
            raise TypeError(f"dtype={dtype!r} is not an integer type, and the distribution is discrete")
        self.event_shape = tuple(event_shape) if event_shape is not None else self._event_shape()
        if 0 in self.event_shape:
            raise ValueError(
                f"the event shape {self.event_shape} implied by the parameters is empty; "
                "the distribution needs at least one category (a non-empty last axis)"
            )
        batch = self._batch_shape_from_params()
        # a shape given as an expression of data (``shape=x.shape``) is followed after pm.set_data
        self._shape_expression = (
            (shape, ()) if is_symbolic_shape(shape) else (size, self.event_shape) if is_symbolic_shape(size) else None
        )
        shape = shape_tuple(shape)
        size = shape_tuple(size)
        if shape is None and size is not None:
            shape = size + self.event_shape
        if shape is not None:
            ndim_event = len(self.event_shape)
            if ndim_event and tuple(shape[len(shape) - ndim_event :]) != self.event_shape:
                raise ValueError(
                    f"shape={shape} does not end with the event shape {self.event_shape} "
                    "implied by the parameters"
                )
            want = shape[: len(shape) - ndim_event] if ndim_event else shape
            try:
                full = np.broadcast_shapes(tuple(1 if b is None else b for b in batch), want)
            except ValueError:
                full = None
            if full != tuple(want):
                raise ValueError(
                    f"parameters of shape {batch} do not broadcast to shape={tuple(shape)}"
                )
            self.shape = tuple(shape)
        else:
            if observed_shape is not None and all(s is not None for s in observed_shape):
                batch = _broadcast_static(batch, tuple(observed_shape)[: len(observed_shape) - len(self.event_shape)])
            if any(b is None for b in batch):
                batch = self._evaluate_batch_shape()
            self.shape = tuple(int(b) for b in batch) + self.event_shape

    def current_shape(self) -> tuple[int, ...] | None:
        """The shape a ``shape=``/``size=`` expression of data gives now, or ``None`` when the shape is fixed."""
        given = getattr(self, "_shape_expression", None)
        if given is None:
            return None
        expression, event = given
        return shape_tuple(expression) + tuple(event)

    def _event_shape(self) -> tuple[int, ...]:
        """Event shape implied by the parameters (``()`` for univariate)."""
        return ()

    def _batch_param_shapes(self) -> list[tuple[int | None, ...]]:
        """Batch shapes of the parameters (event axes removed)."""
        return [static_shape(p) for p in self.params.values() if p is not None]

    def _batch_shape_from_params(self) -> tuple[int | None, ...]:
        shapes = self._batch_param_shapes()
        return _broadcast_static(*shapes) if shapes else ()

    def _evaluate_batch_shape(self) -> tuple[int, ...]:
        # Parameters built from shared data have no static shape: evaluate it.
        from pytensor.graph.traversal import graph_inputs

        shapes = self._batch_param_shapes_symbolic()
        # shared variables (data) keep their current values; placeholders get zeros
        inputs = [v for v in graph_inputs(shapes) if not isinstance(v, (Constant, SharedVariable))]
        givens = {v: np.zeros([1 if s is None else s for s in v.type.shape], dtype=v.dtype) for v in inputs}
        fn = pytensor.function(list(givens), shapes, on_unused_input="ignore", mode=quick_eval_mode())
        values = fn(*givens.values())
        return tuple(np.broadcast_shapes(*[tuple(int(s) for s in v) for v in values]))

    def _batch_param_shapes_symbolic(self):
        return [p.shape for p in self.params.values() if p is not None]

    # --------------------------------------------------------------- interface
    def logp(self, value):
        """Log-density of ``value`` (event axes summed), as a PyTensor graph."""
        raise NotImplementedError

    def _random(self, rng, size: tuple[int, ...]):
        """``(next_rng, draws)``: draws of shape ``size`` (which ends with ``self.shape``)."""
        raise NotImplementedError

    def random(self, size=(), rng=None, random_seed: int | None = None):
        """Forward draws of shape ``size + self.shape`` as a PyTensor graph.

        Each evaluation of the result gives new draws (the generator's
        state advances), unless ``rng`` is given.

        Examples
        --------
        >>> import varbayes as pm
        >>> pm.Normal.dist(0.0, 1.0, shape=3).random(size=(2,), random_seed=1).eval().shape
        (2, 3)
        """
        size = shape_tuple(size) or ()
        own_rng = rng is None
        if own_rng:
            rng = shared_generator(random_seed)
        next_rng, out = self._random(rng, size + self.shape)
        if own_rng:
            advance_on_eval(rng, next_rng)
        return out

    def logcdf(self, value):
        """``log P(X <= value)``, as a PyTensor graph.

        Examples
        --------
        >>> import varbayes as pm
        >>> round(float(pm.Normal.dist(0.0, 1.0).logcdf(0.0).eval()), 4)
        -0.6931
        """
        raise NotImplementedError(f"{type(self).__name__} has no logcdf")

    def logccdf(self, value):
        """``log P(X > value)``, as a PyTensor graph (from :meth:`logcdf` unless a distribution knows better)."""
        return pt.log1mexp(pt.minimum(self.logcdf(value), 0.0))

    def support_point(self):
        """A point in the support (used as the initial value), with ``self.shape``."""
        raise NotImplementedError

    def default_transform(self):
        """The transform to unconstrained space, or ``None`` (unbounded support)."""
        return None

    def support(self) -> Support:
        """The values on which :meth:`logp` is finite, as far as the constant parameters tell.

        Observed data is checked against it (:func:`~varbayes.distributions.support.check_observed`).
        """
        return INTEGERS if self.discrete else REAL

    # ------------------------------------------------------------- utilities
    def _check(self, name: str, condition, message: str) -> None:
        """Raise ``ValueError`` when a constant parameter fails ``condition``.

        The check is kept (``self.checks``) so that a parameter known only at run
        time can be checked against it later (``Model.debug``).
        """
        self.__dict__.setdefault("checks", []).append((name, condition, message))
        if name in self.params and self.params[name] is not None:
            check_constant(name, self.params[name], condition, message)

    def _full(self, x):
        """Broadcast ``x`` to the distribution's shape."""
        return pt.broadcast_to(x, self.shape)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(shape={self.shape})"

    # ------------------------------------------------------ use as a tensor
    # ``pm.Normal.dist(0, 1)`` stands for a random variable, as in PyMC: in a graph
    # (``pt.exp(d)``, ``d + 1``) it is one forward draw, the same draw wherever it
    # appears, and ``d.eval()`` gives a new one each time.
    def as_tensor(self):
        """The forward draw this distribution stands for in a graph (one per object).

        Examples
        --------
        >>> import varbayes as pm
        >>> d = pm.Normal.dist(0.0, 1.0, shape=2)
        >>> (d + 1.0).eval().shape
        (2,)
        """
        tensor = self.__dict__.get("_tensor")
        if tensor is None:
            tensor = self.random()
            tensor.tag.varbayes_dist = self
            self._tensor = tensor
        return tensor

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def eval(self, *args, **kwargs):
        """A forward draw as a NumPy array (``.eval()`` of :meth:`as_tensor`)."""
        return self.as_tensor().eval(*args, **kwargs)

    def __add__(self, other):
        return self.as_tensor() + other

    def __radd__(self, other):
        return other + self.as_tensor()

    def __sub__(self, other):
        return self.as_tensor() - other

    def __rsub__(self, other):
        return other - self.as_tensor()

    def __mul__(self, other):
        return self.as_tensor() * other

    def __rmul__(self, other):
        return other * self.as_tensor()

    def __truediv__(self, other):
        return self.as_tensor() / other

    def __rtruediv__(self, other):
        return other / self.as_tensor()

    def __pow__(self, other):
        return self.as_tensor() ** other

    def __rpow__(self, other):
        return other ** self.as_tensor()

    def __neg__(self):
        return -self.as_tensor()

    def __getitem__(self, index):
        return self.as_tensor()[index]

    # indexing would otherwise make the object iterable without end (a symbolic index never fails)
    __iter__ = None


@_as_tensor_variable.register(Distribution)
def _distribution_as_tensor(x: Distribution, name=None, ndim=None, **kwargs):
    return pt.as_tensor_variable(x.as_tensor(), name=name, ndim=ndim, **kwargs)


class Continuous(Distribution):
    """Base of distributions over real values."""


class Discrete(Distribution):
    """Base of distributions over integers."""

    discrete = True


def draw(op, *params, rng, size):
    """``(next_rng, value)`` from a ``pytensor.tensor.random`` op."""
    next_rng, value = op(*params, size=size, rng=rng, return_next_rng=True)
    return next_rng, value


def _broadcast_static(*shapes) -> tuple[int | None, ...]:
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for axis in range(ndim):
        dims = [s[len(s) - ndim + axis] for s in shapes if len(s) - ndim + axis >= 0]
        known = {d for d in dims if d is not None and d != 1}
        if len(known) > 1:
            raise ValueError(f"parameter shapes {shapes} do not broadcast together")
        if known:
            out.append(known.pop())
        elif any(d is None for d in dims):
            out.append(None)
        else:
            out.append(1)
    return tuple(out)


def _empty_shape_problem(shape: tuple[int, ...], dims, model) -> str:
    """Why a free variable of ``shape`` (with a zero-length axis) cannot be defined."""
    if dims is not None:
        empty = [d for d in dims if d in model.coords and len(model.coords[d]) == 0]
        if empty:
            return (
                f"dims {empty} have no coordinates (length 0), so the variable would have no elements; "
                "a free variable needs at least one"
            )
    axis = shape.index(0)
    return (
        f"shape {shape} has no elements (axis {axis} has length 0); "
        "a free variable needs at least one element (check shape=, size= and the parameters' shapes)"
    )


def check_event_axis(name: str, var, what: str) -> None:
    """``ValueError`` when parameter ``var`` has an empty last axis (no ``what``)."""
    shape = tuple(var.type.shape)
    if var.ndim >= 1 and shape[-1] == 0:
        raise ValueError(
            f"parameter {name} is empty (shape {shape}): it needs at least one {what} on its last axis"
        )


def _observed_static_shape(observed) -> tuple[int | None, ...]:
    if isinstance(observed, SharedVariable):
        return np.shape(observed.get_value())
    if isinstance(observed, Variable):
        return tuple(observed.type.shape)
    return np.shape(np.asarray(observed))


def _holds_variables(value) -> bool:
    """A list such as ``[mu, 1.0]`` mixing graphs and numbers (stacked into one tensor)."""
    if not isinstance(value, (list, tuple)):
        return False
    return any(isinstance(v, (Variable, Distribution)) or _holds_variables(v) for v in value)


def as_float_param(value, name: str) -> Variable | None:
    """A float PyTensor parameter from a number, array or graph."""
    if value is None:
        return None
    if isinstance(value, Distribution):
        value = value.as_tensor()
    if _holds_variables(value):
        value = pt.as_tensor_variable(value)
    if isinstance(value, Variable):
        var = pt.as_tensor_variable(value)
        if not var.dtype.startswith("float"):
            var = pt.cast(var, pytensor.config.floatX)
        return var
    try:
        arr = np.asarray(value, dtype=pytensor.config.floatX)
    except (TypeError, ValueError):
        raise TypeError(f"parameter {name} must be numeric, got {value!r}") from None
    return pt.constant(arr)


def as_int_param(value, name: str) -> Variable | None:
    """An integer PyTensor parameter from a number, array or graph."""
    if value is None:
        return None
    if isinstance(value, Distribution):
        value = value.as_tensor()
    if _holds_variables(value):
        value = pt.as_tensor_variable(value)
    if isinstance(value, Variable):
        var = pt.as_tensor_variable(value)
        return var if var.dtype.startswith(("int", "uint")) else pt.cast(var, "int64")
    arr = np.asarray(value)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise ValueError(f"parameter {name}={value!r} must hold integers")
    elif arr.dtype.kind not in "iub":
        raise TypeError(f"parameter {name} must be integer, got {value!r}")
    return pt.constant(arr.astype("int64"))


def check_constant(name: str, value, condition, message: str) -> None:
    """Raise ``ValueError`` naming ``name`` when a constant ``value`` fails ``condition``.

    ``value`` may be a number, an array or a PyTensor variable; graphs that are
    not constants are left alone (they are only known at run time).
    """
    if value is None:
        return
    if isinstance(value, Variable):
        value = constant_value(value)
        if value is None:
            return
    elif hasattr(value, "get_value"):
        return
    value = np.asarray(value)
    if value.dtype.kind not in "biuf":
        return
    with np.errstate(invalid="ignore"):
        ok = np.all(condition(value))
    if not ok or np.any(np.isnan(value)):
        shown = value if value.size <= 6 else f"array of shape {value.shape}"
        raise ValueError(f"parameter {name}={shown} is invalid: {message}")


def positive(v):
    return v > 0


def check_exclusive(dist_name: str, **kwargs) -> None:
    """Exactly one of several alternative parameterisations must be given."""
    given = [k for k, v in kwargs.items() if v is not None]
    if len(given) > 1:
        raise ValueError(f"{dist_name}: give only one of {', '.join(kwargs)}, got {', '.join(given)}")


def xlogy(x, y):
    """``x * log(y)``, and 0 where ``x`` is 0 even if ``y`` is 0 (a density ``y**x`` of exponent 0 is 1)."""
    return pt.switch(pt.eq(x, 0), 0.0, x * pt.log(y))


def xlog1py(x, y):
    """``x * log1p(y)``, and 0 where ``x`` is 0 even if ``y`` is -1."""
    return pt.switch(pt.eq(x, 0), 0.0, x * pt.log1p(y))


def bounded(logp, *conditions):
    """``logp`` where every condition holds, ``-inf`` elsewhere."""
    # a comparison of plain numbers (``logp(1.0)``) gives a Python bool
    conditions = [pt.as_tensor_variable(np.asarray(c)) if isinstance(c, (bool, np.bool_)) else c for c in conditions]
    cond = conditions[0]
    for c in conditions[1:]:
        cond = pt.and_(cond, c)
    return pt.switch(cond, logp, -np.inf)

