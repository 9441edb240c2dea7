"""``total_size``: rescaling an observed log-density from a batch to the full data."""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

__all__ = ["total_size_scale"]


def total_size_scale(total_size, data, name: str = "observed"):
    """The factor ``prod(total_i / batch_i)`` over the axes ``total_size`` names.

    ``total_size`` is an int (the first axis), or a sequence whose entries are
    ints, ``None`` (axis not scaled) and at most one ``Ellipsis`` (the entries
    after it align with the last axes of the data).

    Examples
    --------
    >>> import numpy as np, pytensor.tensor as pt
    >>> float(total_size_scale(100, pt.as_tensor(np.zeros((10, 3)))).eval())
    10.0
    """
    ndim = data.ndim
    if isinstance(total_size, (int, np.integer)):
        spec = [int(total_size)]
    elif isinstance(total_size, (list, tuple)):
        spec = list(total_size)
    else:
        raise TypeError(f"'{name}': total_size must be an int or a list/tuple, got {total_size!r}")
    if spec.count(Ellipsis) > 1:
        raise ValueError(f"'{name}': total_size may hold only one Ellipsis")
    if Ellipsis in spec:
        i = spec.index(Ellipsis)
        head, tail = spec[:i], spec[i + 1 :]
        if len(head) + len(tail) > ndim:
            raise ValueError(f"'{name}': total_size {total_size} names more axes than the data's {ndim}")
        axes = list(enumerate(head)) + [(ndim - len(tail) + j, t) for j, t in enumerate(tail)]
    else:
        if len(spec) > ndim:
            raise ValueError(f"'{name}': total_size {tuple(total_size)} names more axes than the data's {ndim}")
        axes = list(enumerate(spec))
    scale = pt.constant(1.0, dtype="float64")
    static = data.type.shape
    if hasattr(data, "get_value"):  # shared data: check against its current value
        static = np.shape(data.get_value(borrow=True))
    for axis, total in axes:
        if total is None:
            continue
        if not isinstance(total, (int, np.integer)) or total < 1:
            raise ValueError(f"'{name}': total_size entries must be positive ints or None, got {total!r}")
        if static[axis] is not None and static[axis] > total:
            raise ValueError(
                f"'{name}': total_size {total} on axis {axis} is smaller than the data's {static[axis]}"
            )
        scale = scale * (float(total) / pt.cast(data.shape[axis], "float64"))
    return scale
