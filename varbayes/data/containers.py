"""``Data``: a named shared container inside a model, replaceable with ``set_data``."""

from __future__ import annotations

import numpy as np
import pytensor
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.traversal import ancestors

from varbayes.distributions.support import check_observed
from varbayes.model.core import Model, modelcontext, observed_value

__all__ = ["Data", "set_data"]


def Data(name: str, value, *, dims=None, model: Model | None = None) -> SharedVariable:
    """A shared variable registered in the model under ``name``.

    Its value enters compiled functions as an argument, so ``set_value`` (or
    :func:`set_data`) changes what a fitted approximation is evaluated on
    without rebuilding anything. A dim in ``dims`` that has no coords yet gets
    the data's length on that axis.

    Examples
    --------
    >>> import numpy as np, varbayes as pm
    >>> with pm.Model() as m:
    ...     x = pm.Data("x", np.arange(3.0))
    >>> pm.set_data({"x": np.ones(5)}, model=m)
    >>> m["x"].get_value().shape
    (5,)
    """
    model = modelcontext(model, name)
    full_name = model._full_name(name)
    model._check_new_name(full_name)
    if isinstance(value, SharedVariable):
        value = value.get_value()
    elif hasattr(value, "to_numpy"):  # pandas
        value = value.to_numpy()
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"Data '{full_name}': values must be numeric, got dtype {arr.dtype}")
    if arr.dtype.kind == "f":
        arr = arr.astype(pytensor.config.floatX)
    if dims is not None:
        dims = (dims,) if isinstance(dims, str) else tuple(dims)
        if len(dims) != arr.ndim:
            raise ValueError(f"Data '{full_name}': dims {dims} do not match shape {arr.shape}")
        for d, n in zip(dims, arr.shape):
            if isinstance(d, str) and d not in model.coords:
                model.add_coord(d, length=n)
    model._check_dims(full_name, dims, arr.shape)
    var = pytensor.shared(arr, name=full_name)
    model._add_name(full_name, var, dims)
    for m in model._lineage():
        m._data_names.add(full_name)
    return var


def set_data(new_data: dict, model: Model | None = None, coords: dict | None = None) -> None:
    """Replace the values of ``Data`` containers by name.

    The number of dimensions and the kind of number (integer or float) must
    stay the same; lengths may change. A container with ``dims`` that
    changes length along a dimension needs new coordinate values for it in
    ``coords`` (a dimension created from a length alone is renumbered
    ``0 .. n-1`` by itself); observed variables and predictions on those
    dims then carry the new coordinates.

    New values that an observed variable reads are checked as its observed
    data is when it is defined (NaN, integers for a discrete distribution,
    the distribution's support); when a check fails, every container keeps
    its old values.

    Raises
    ------
    KeyError
        When a name is not a variable of the model.
    TypeError
        When the variable is not a ``Data`` container, or integer data would
        get non-integer values (also when a discrete observed variable reads it).
    ValueError
        When the number of dimensions changes, the values are not numeric,
        or an observed variable that reads the container gets values outside
        its distribution's support.

    Examples
    --------
    >>> import numpy as np, varbayes as pm
    >>> with pm.Model() as m:
    ...     x = pm.Data("x", np.zeros(2))
    ...     pm.set_data({"x": np.ones(2)})
    >>> with pm.Model(coords={"obs": ["a", "b"]}) as m:
    ...     x = pm.Data("x", np.zeros(2), dims="obs")
    ...     pm.set_data({"x": np.ones(3)}, coords={"obs": ["c", "d", "e"]})
    >>> m.coords["obs"]
    ('c', 'd', 'e')
    """
    model = modelcontext(model)
    new_coords = _new_coords(model, new_data, coords)
    updates = []
    for name, value in new_data.items():
        var = model[name]
        if var.name not in model._data_names or not isinstance(var, SharedVariable):
            raise TypeError(f"'{name}' is not a Data container (create it with pm.Data to change it)")
        value = np.asarray(value)
        if value.dtype.kind not in "biuf":
            raise TypeError(f"'{name}': new data must be numeric, got dtype {value.dtype}")
        old = var.get_value(borrow=True)
        if value.ndim != old.ndim:
            raise ValueError(f"'{name}': new data has {value.ndim} dimensions, the container has {old.ndim}")
        non_integer = value.dtype.kind == "f" and (not np.all(np.isfinite(value)) or np.any(value != np.round(value)))
        if old.dtype.kind in "iub" and non_integer:
            raise TypeError(f"'{name}' holds integers ({old.dtype}); the new data has non-integer values")
        updates.append((name, var, value.astype(old.dtype)))
    previous = [(var, var.get_value()) for _, var, _ in updates]
    for _, var, value in updates:
        var.set_value(value)
    try:
        _check_observed_readers(model, {id(var): name for name, var, _ in updates})
    except (ValueError, TypeError):
        for var, value in previous:
            var.set_value(value)
        raise
    model.root.coords.update(new_coords)


def _new_coords(model: Model, new_data: dict, coords: dict | None) -> dict[str, tuple]:
    """The coords after the update, checked against the new data's lengths (nothing is changed here)."""
    all_coords = model.root.coords
    coords = {} if coords is None else dict(coords)
    for name, values in coords.items():
        if name not in all_coords:
            raise KeyError(f"coords: '{name}' is not a dimension of the model; its dims: {sorted(all_coords)}")
        coords[name] = tuple(np.asarray(values).tolist())
    lengths: dict[str, tuple[int, str]] = {}
    for data_name, value in new_data.items():
        dims = model.root.named_vars_to_dims.get(model[data_name].name)
        if not dims:
            continue
        for dim, n in zip(dims, np.shape(value)):
            if dim in lengths and lengths[dim][0] != n:
                raise ValueError(
                    f"'{data_name}' has length {n} along '{dim}', '{lengths[dim][1]}' has {lengths[dim][0]}"
                )
            lengths[dim] = (n, data_name)
    for dim, (n, data_name) in lengths.items():
        current = coords.get(dim, all_coords[dim])
        if len(current) == n:
            continue
        if dim not in coords and current == tuple(range(len(current))):
            coords[dim] = tuple(range(n))  # a dimension known by its length only
            continue
        raise ValueError(
            f"'{data_name}' has length {n} along '{dim}', whose coords have {len(current)} values: "
            f"pass coords={{'{dim}': <{n} values>}} to set_data"
        )
    return coords


def _check_observed_readers(model: Model, changed: dict) -> None:
    """Check the observed data of every observed variable that reads a changed container (keyed by ``id``)."""
    for rv in model.root.observed_rv_info.values():
        read = [changed[id(v)] for v in ancestors([rv.data]) if id(v) in changed]
        if not read:
            continue
        value = observed_value(rv.data)
        if value is None:
            continue
        try:
            check_observed(rv.dist, rv.name, value)
        except (ValueError, TypeError) as err:
            names = ", ".join(f"'{n}'" for n in read)
            message = f"set_data: the new values of {names} are refused (the old ones are kept): {err}"
            raise type(err)(message) from None
