"""``Data``: a named shared container inside a model, replaceable with ``set_data``."""

from __future__ import annotations

import numpy as np
import pytensor
from pytensor.compile.sharedvalue import SharedVariable

from varbayes.model.core import Model, modelcontext

__all__ = ["Data", "set_data"]


def Data(name: str, value, *, dims=None, model: Model | None = None) -> SharedVariable:
    """A shared variable registered in the model under ``name``.

    Its value enters compiled functions as an argument, so ``set_value`` (or
    :func:`set_data`) changes what a fitted approximation is evaluated on
    without rebuilding anything.

    Examples
    --------
    >>> import numpy as np, varbayes as pm
    >>> with pm.Model() as m:
    ...     x = pm.Data("x", np.arange(3.0))
    >>> pm.set_data({"x": np.ones(5)}, model=m)
    >>> m["x"].get_value().shape
    (5,)
    """
    model = modelcontext(model)
    arr = np.asarray(value)
    if arr.dtype.kind == "f":
        arr = arr.astype(pytensor.config.floatX)
    var = pytensor.shared(arr, name=model._full_name(name))
    model._add_name(var.name, var, dims)
    return var


def set_data(new_data: dict, model: Model | None = None) -> None:
    """Replace the values of ``Data`` containers by name.

    Examples
    --------
    >>> import numpy as np, varbayes as pm
    >>> with pm.Model() as m:
    ...     x = pm.Data("x", np.zeros(2))
    ...     pm.set_data({"x": np.ones(2)})
    """
    model = modelcontext(model)
    for name, value in new_data.items():
        var = model[name]
        if not isinstance(var, SharedVariable):
            raise TypeError(f"'{name}' is not a Data container")
        value = np.asarray(value)
        old = var.get_value()
        if value.ndim != old.ndim:
            raise ValueError(f"'{name}': new data has {value.ndim} dimensions, the container has {old.ndim}")
        var.set_value(value.astype(old.dtype))
