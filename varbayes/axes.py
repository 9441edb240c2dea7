"""Per-axis specifications: an int, or a list with ``None`` and one ``Ellipsis``.

``total_size`` and ``Minibatch(batch_size=...)`` share this form: an int
speaks of the first axis; in a list, ``None`` skips an axis and the entries
after an ``Ellipsis`` align with the last axes.
"""

from __future__ import annotations

import numpy as np

__all__ = ["axis_entries"]


def axis_entries(spec, ndim: int, what: str) -> list[tuple[int, object]]:
    """``[(axis, entry)]`` for every entry of ``spec`` (``None`` entries included).

    Examples
    --------
    >>> axis_entries([2, Ellipsis, 10], 5, "batch_size")
    [(0, 2), (4, 10)]
    """
    if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
        entries = [spec]
    elif isinstance(spec, (list, tuple)):
        entries = list(spec)
    else:
        raise TypeError(f"{what} must be an int or a list/tuple, got {spec!r}")
    if entries.count(Ellipsis) > 1:
        raise ValueError(f"{what} may hold only one Ellipsis")
    if Ellipsis in entries:
        i = entries.index(Ellipsis)
        head, tail = entries[:i], entries[i + 1 :]
    else:
        head, tail = entries, []
    if len(head) + len(tail) > ndim:
        raise ValueError(f"{what} {spec!r} names more axes than the data's {ndim} dimensions")
    return list(enumerate(head)) + [(ndim - len(tail) + j, entry) for j, entry in enumerate(tail)]
