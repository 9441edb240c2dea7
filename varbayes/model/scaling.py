"""``total_size``: rescaling an observed log-density from a batch to the full data."""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

from varbayes.axes import axis_entries

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
    axes = axis_entries(total_size, data.ndim, f"'{name}': total_size")
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
