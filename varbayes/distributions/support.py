"""Supports: the values on which a distribution's log-density is finite.

Each distribution describes its support with ``support()``, from what its
constant parameters tell: a bound that depends on free variables or on data
is left out rather than guessed. :func:`check_observed` checks observed data
against it when a variable is defined, when ``set_data`` replaces the data
and when a Minibatch loads new rows, so that data outside the support is a
``ValueError`` naming the variable, the first offending index and value,
instead of a ``-inf`` or NaN log-density deep inside a fit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = [
    "INTEGERS",
    "NON_NEGATIVE",
    "NON_NEGATIVE_INTEGERS",
    "POSITIVE",
    "REAL",
    "AnyOf",
    "RowSum",
    "RowTest",
    "Support",
    "check_observed",
    "interval",
]


@dataclass(frozen=True, eq=False)
class RowSum:
    """Each event row (last axis) sums to ``total``; exactly for counts, within a tolerance for fractions."""

    total: object  # a number, or an array over the batch shape
    requirement: str  # "sum to 1", "sum to n={total}"
    exact: bool = False

    def holds(self, value: np.ndarray) -> np.ndarray:
        sums = np.sum(value, axis=-1)
        total = _bound(self.total, sums.shape, None)
        if total is None:
            return np.ones(sums.shape, dtype=bool)
        if self.exact:
            return sums == total
        eps = np.finfo(value.dtype).eps if value.dtype.kind == "f" else np.finfo("float64").eps
        # rounding of stored fractions (e.g. six decimals in a CSV file) is not an error
        tolerance = max(1e-6, 64 * value.shape[-1] * eps)
        return np.abs(sums - total) <= tolerance

    def problem(self, value: np.ndarray, index: tuple[int, ...]) -> str:
        total = _bound(self.total, value.shape[:-1], None)
        shown = self.requirement.format(total=_fmt(total[index]) if total is not None else "")
        return f"sums to {_fmt(np.sum(value[index]))}; rows must {shown}"


@dataclass(frozen=True, eq=False)
class RowTest:
    """Each event row (last axis) passes ``test`` (a function of the array, returning the batch mask)."""

    test: Callable[[np.ndarray], np.ndarray]
    requirement: str

    def holds(self, value: np.ndarray) -> np.ndarray:
        return np.asarray(self.test(value), dtype=bool)

    def problem(self, value: np.ndarray, index: tuple[int, ...]) -> str:
        return f"is not {self.requirement}"


@dataclass(frozen=True, eq=False)
class Support:
    """An interval of reals or integers, with optional conditions on event rows.

    ``lower`` and ``upper`` are numbers or arrays that broadcast against the
    values (``None``: unbounded on that side); so are ``lower_open`` and
    ``upper_open`` (whether the bound itself is excluded). ``description``
    may contain ``{lower}``, ``{upper}``, ``{left}`` and ``{right}`` (a
    bracket or a parenthesis), filled in for the offending index.

    Examples
    --------
    >>> import numpy as np
    >>> s = Support("non-negative integers", lower=0, integer=True)
    >>> s.contains(np.array([0, -1, 3])).tolist()
    [True, False, True]
    """

    description: str
    lower: object = None
    upper: object = None
    lower_open: object = False
    upper_open: object = False
    integer: bool = False
    rows: RowSum | RowTest | None = None
    event_size: int | None = None  # the length of the last axis the row condition applies to

    def contains(self, value: np.ndarray) -> np.ndarray:
        """Which entries of ``value`` lie in the support (row conditions aside)."""
        inside = np.ones(value.shape, dtype=bool)
        with np.errstate(invalid="ignore"):
            lower = _bound(self.lower, value.shape, np.min)
            if lower is not None:
                is_open = _bound(self.lower_open, value.shape, np.all)
                inside &= np.where(is_open, value > lower, value >= lower)
            upper = _bound(self.upper, value.shape, np.max)
            if upper is not None:
                is_open = _bound(self.upper_open, value.shape, np.all)
                inside &= np.where(is_open, value < upper, value <= upper)
        return inside

    def describe(self, shape: tuple[int, ...], index: tuple[int, ...]) -> str:
        """The description, with the bounds that apply at ``index`` of values of ``shape``."""
        fill = {}
        for key, bound, loosest in (("lower", self.lower, np.min), ("upper", self.upper, np.max)):
            b = _bound(bound, shape, loosest)
            if b is not None:
                fill[key] = _fmt(b[index] if np.ndim(b) else b)
        for key, is_open, brackets in (("left", self.lower_open, "[("), ("right", self.upper_open, "])")):
            flag = _bound(is_open, shape, np.all)
            fill[key] = brackets[int(bool(flag[index] if np.ndim(flag) else flag))]
        try:
            return self.description.format(**fill)
        except (KeyError, IndexError):
            return self.description


class AnyOf(Support):
    """The union of the supports of a mixture's components.

    ``n_stacked``: the number of components when they are the last axis of
    one distribution (whose support is then tested on values repeated along
    a new last axis), else ``None``.
    """

    def __init__(self, components: list[Support], n_stacked: int | None = None):
        text = _union(c.description for c in components)
        super().__init__(text, integer=all(c.integer for c in components))
        object.__setattr__(self, "components", tuple(components))
        object.__setattr__(self, "n_stacked", n_stacked)

    def _parts(self, value_shape):
        """``(support, shape, index_suffix)`` per component."""
        if self.n_stacked is None:
            return [(c, value_shape, ()) for c in self.components]
        shape = (*value_shape, self.n_stacked)
        return [(self.components[0], shape, (j,)) for j in range(self.n_stacked)]

    def contains(self, value: np.ndarray) -> np.ndarray:
        if self.n_stacked is not None:
            repeated = np.broadcast_to(value[..., None], (*value.shape, self.n_stacked))
            return np.any(self.components[0].contains(repeated), axis=-1)
        masks = [np.broadcast_to(c.contains(value), value.shape) for c in self.components]
        return np.logical_or.reduce(masks)

    def describe(self, shape, index) -> str:
        return _union(c.describe(s, index + suffix) for c, s, suffix in self._parts(shape))


def _union(descriptions) -> str:
    texts = list(dict.fromkeys(descriptions))
    return texts[0] if len(texts) == 1 else "the union of the components' supports: " + "; ".join(texts)


REAL = Support("real numbers")
NON_NEGATIVE = Support("non-negative real numbers [0, inf)", lower=0.0)
POSITIVE = Support("positive real numbers (0, inf)", lower=0.0, lower_open=True)
INTEGERS = Support("integers", integer=True)
NON_NEGATIVE_INTEGERS = Support("non-negative integers", lower=0, integer=True)


def interval(
    lower, upper, *, integer: bool = False, lower_open: bool = False, upper_open: bool = False
) -> Support:
    """The interval between ``lower`` and ``upper`` (each a constant value or ``None``: not known).

    A bound that is ``None`` is not checked and is named in the description
    by its parameter name, ``lower`` or ``upper``.
    """
    lo = "{lower}" if lower is not None else "lower"
    up = "{upper}" if upper is not None else "upper"
    if integer:
        text = f"integers from {lo} to {up}"
    else:
        text = f"the interval {'(' if lower_open else '['}{lo}, {up}{')' if upper_open else ']'}"
    return Support(
        text, lower=lower, upper=upper, lower_open=lower_open, upper_open=upper_open, integer=integer
    )


def check_observed(dist, name: str, value: np.ndarray, support: Support | None = None) -> None:
    """Raise when observed ``value`` has a NaN, a non-integer (``dist`` discrete) or a value outside the support.

    Raises
    ------
    ValueError
        NaN or infinite values, or values outside the support: the message
        names the variable, the first offending index and value, and the support.
    TypeError
        Non-integer values for a discrete distribution.
    """
    label = f"{type(dist).__name__} '{name}'"
    value = np.asarray(value)
    if value.dtype.kind not in "biuf":
        raise TypeError(f"{label}: observed must be numeric, got dtype {value.dtype}")
    if value.dtype.kind == "f":
        bad = ~np.isfinite(value)
        if bad.any():
            index = _first(bad)
            raise ValueError(
                f"{label}: observed data contains {int(bad.sum())} NaN or infinite value(s), the first "
                f"{_fmt(value[index])} at index {index}; missing values are not imputed: drop those entries"
            )
        if dist.discrete:
            fractional = value != np.round(value)
            if fractional.any():
                index = _first(fractional)
                raise TypeError(
                    f"{label}: observed value {_fmt(value[index])} at index {index} is not an integer; "
                    f"observed data for discrete {type(dist).__name__} must be integers"
                )
    if value.size == 0:
        return
    support = dist.support() if support is None else support
    outside = ~support.contains(value)
    if outside.any():
        index = _first(outside)
        raise ValueError(
            f"{label}: observed value {_fmt(value[index])} at index {index} is outside the support "
            f"({support.describe(value.shape, index)})"
        )
    rows = support.rows
    if rows is not None and value.ndim >= 1 and value.shape[-1] == support.event_size:
        failing = ~rows.holds(value)
        if failing.any():
            index = _first(failing)
            row = _fmt_row(value[index])
            raise ValueError(
                f"{label}: observed row {row} at index {index} {rows.problem(value, index)}; "
                f"the support is {support.describe(value.shape, index + (0,))}"
            )


# ----------------------------------------------------------------- helpers
def _bound(bound, shape: tuple[int, ...], loosest):
    """``bound`` broadcast to ``shape``; where it does not broadcast (a Minibatch's source, data
    replaced with another length), its loosest value, so no valid data is rejected."""
    if bound is None:
        return None
    b = np.asarray(bound)
    try:
        return np.broadcast_to(b, shape)
    except ValueError:
        return None if loosest is None else np.broadcast_to(loosest(b), shape)


def _first(mask: np.ndarray) -> tuple[int, ...]:
    flat = int(np.argmax(mask.reshape(-1)))
    return tuple(int(i) for i in np.unravel_index(flat, mask.shape))


def _fmt(x) -> str:
    x = np.asarray(x)
    if x.dtype.kind == "b":
        return str(bool(x))
    if x.dtype.kind in "iu":
        return str(int(x))
    text = f"{float(x):.10g}"
    # 1.0, not 1: the value is a float
    return text if any(c in text for c in ".ena") else text + ".0"


def _fmt_row(row: np.ndarray) -> str:
    items = [_fmt(v) for v in row[:6]]
    if row.size > 6:
        items.append("...")
    return "[" + ", ".join(items) + "]"
