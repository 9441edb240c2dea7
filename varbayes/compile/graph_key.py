"""A key for what a PyTensor graph computes, read off the graph before any rewrite.

The fit loops kept on disk (:mod:`varbayes.stored`) are found by a
fingerprint of the log-density they read. Taken from the jaxpr, it needs the
graph rewritten and translated to JAX first (PyTensor's rewrites are most of
the ~50 ms a warm fit spends on its log-density); taken from the graph, it
needs neither, and a fit whose loop is found never translates the graph.

The key is complete where PyTensor's own notion of "the same computation"
is: an operation is described by its class and the ``__props__`` that define
its equality (what the graph's merge rewrite relies on to fold identical
nodes); a scalar operation without ``__props__`` by its class and output
type rule, as its ``__eq__`` does; every constant by its type and bytes. An
operation or value of any other kind gives no key (``None``), and the caller
keys by the jaxpr as before.
"""

from __future__ import annotations

import hashlib
import types
from collections.abc import Sequence

import numpy as np
from pytensor.graph.basic import Constant, Variable
from pytensor.graph.traversal import io_toposort
from pytensor.compile.builders import OpFromGraph
from pytensor.scalar.basic import FixedLogicalComparison, LogicalComparison, ScalarOp

__all__ = ["graph_key"]


class _Unknown(Exception):
    """A value the key cannot describe completely."""


def graph_key(inputs: Sequence[Variable], outputs: Sequence[Variable]) -> str | None:
    """A hash of the computation from ``inputs`` to ``outputs``, or ``None`` when one of its parts is not describable.

    Variables are known by their place (inputs by position, results by the
    node and output that make them), never by name or identity, so the same
    model built in another process has the same key.

    Examples
    --------
    >>> import pytensor.tensor as pt
    >>> def key(scale):
    ...     x = pt.dvector("x")
    ...     return graph_key([x], [pt.sum(pt.exp(x) * scale)])
    >>> key(2.0) == key(2.0), key(2.0) == key(3.0)
    (True, False)
    """
    try:
        return _graph_key(inputs, outputs)
    except _Unknown:
        return None


def _graph_key(inputs, outputs) -> str:
    digest = hashlib.sha256()
    names: dict = {}
    for position, var in enumerate(inputs):
        names[var] = f"i{position}"
        digest.update(repr(("input", position, _describe(var.type))).encode())
    for index, node in enumerate(io_toposort(list(inputs), list(outputs))):
        arguments = []
        for var in node.inputs:
            if var not in names:
                if not isinstance(var, Constant):
                    raise _Unknown(f"a root that is not an input: {var}")
                names[var] = f"c{len(names)}"
                digest.update(repr(("constant", names[var], _describe(var.type))).encode())
                digest.update(_array_bytes(var.data))
            arguments.append(names[var])
        for position, var in enumerate(node.outputs):
            names[var] = f"n{index}.{position}"
        described = (_describe(node.op), arguments, [_describe(var.type) for var in node.outputs])
        digest.update(repr(("node", index, described)).encode())
    for var in outputs:
        if var not in names:
            raise _Unknown(f"an output outside the graph: {var}")
        digest.update(repr(("output", names[var])).encode())
    return digest.hexdigest()


def _array_bytes(value) -> bytes:
    array = np.asarray(value)
    if array.dtype == object:
        raise _Unknown("an object array")
    return f"{array.dtype}{array.shape}".encode() + np.ascontiguousarray(array).tobytes()


def _describe(value):
    """A text-valued description of ``value`` that two processes give alike only for equal values."""
    if value is None or isinstance(value, (bool, int, float, complex, str, bytes, np.dtype, np.generic)):
        return f"{type(value).__name__}:{value!r}"
    if isinstance(value, (tuple, list)):
        return (type(value).__name__, *(_describe(item) for item in value))
    if isinstance(value, slice):
        return ("slice", _describe(value.start), _describe(value.stop), _describe(value.step))
    if isinstance(value, np.ndarray):
        return ("ndarray", hashlib.sha256(_array_bytes(value)).hexdigest())
    if isinstance(value, type):
        return f"class:{_qualified(value)}"
    if isinstance(value, (types.FunctionType, types.BuiltinFunctionType)):
        return f"function:{_qualified(value)}"
    if _is_mapping(value):
        return ("mapping", *sorted((_describe(k), _describe(v)) for k, v in value.items()))
    cls = type(value)
    props = _props(cls)
    if props is not None:
        return (_qualified(cls), *(_describe(getattr(value, name)) for name in props))
    if isinstance(value, ScalarOp) and cls.__eq__ in _SCALAR_EQUALITY:
        # ScalarOp's own equality: the class and its output type rule (and a comparison's "bool")
        return (_qualified(cls), _describe(getattr(value, "output_types_preference", None)),
                _describe(getattr(value, "bool", False)))
    if isinstance(value, OpFromGraph):
        # an inner graph (softmax, say): its key, and the class's own props; the gradient
        # overrides its equality also compares do not enter the JAX translation
        inner = value.fgraph
        own = tuple(cls.__dict__.get("__props__", ()))
        return (_qualified(cls), *(_describe(getattr(value, name)) for name in own), _describe(value.is_inline),
                _describe(dict(value.destroy_map)), _graph_key(inner.inputs, inner.outputs))
    raise _Unknown(f"no complete description of {cls.__module__}.{cls.__qualname__}")


#: Hand-written ``__eq__`` methods that compare exactly the class's ``__props__`` (a faster form of the
#: generated one)
_PROPS_EQUALITY = {"pytensor.tensor.elemwise.Elemwise", "pytensor.tensor.type.TensorType"}


#: Scalar operations' equalities: the class and the output type rule, and a comparison's ``bool``
_SCALAR_EQUALITY = (ScalarOp.__eq__, LogicalComparison.__eq__, FixedLogicalComparison.__eq__)


def _props(cls) -> tuple | None:
    """The ``__props__`` that define equality for ``cls``, or ``None`` when its equality is another.

    The class whose ``__eq__`` instances use decides: PyTensor generates one
    from ``__props__`` (or a known equivalent is written by hand); any other
    ``__eq__`` (identity, for ``object``'s) may compare more than the props.
    """
    for klass in cls.__mro__:
        if "__eq__" not in klass.__dict__:
            continue
        props = klass.__dict__.get("__props__")
        generated = "MetaType" in getattr(klass.__dict__["__eq__"], "__qualname__", "")
        if props is not None and (generated or f"{klass.__module__}.{klass.__qualname__}" in _PROPS_EQUALITY):
            return tuple(props)
        return None
    return None


def _is_mapping(value) -> bool:
    return hasattr(value, "items") and hasattr(value, "keys") and callable(value.items)


def _qualified(obj) -> str:
    name = f"{obj.__module__}.{obj.__qualname__}"
    if "<locals>" in name or "<lambda>" in name:
        raise _Unknown(f"a local function or class: {name}")
    return name
