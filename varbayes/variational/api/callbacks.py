"""Callbacks run between iterations of ``fit``: convergence checks and trackers.

A callback is any callable ``callback(approx, loss_history, i)``, ``i`` the
number of iterations done so far (over all fits of the approximation).
Raising ``StopIteration`` stops the fit cleanly. A callback's ``every``
attribute (default 1) says how often it must run: the compiled loop only
stops to call it at those iterations.
"""

from __future__ import annotations

import inspect
from collections import defaultdict

import numpy as np

__all__ = ["Callback", "CheckParametersConvergence", "Tracker", "callback_every"]


class Callback:
    """Base class of callbacks; ``every`` is how often it runs."""

    every: int = 1

    def __call__(self, approx, loss_history, i):  # pragma: no cover - interface
        raise NotImplementedError


def callback_every(callback) -> int:
    """How often ``callback`` must run (1 for plain functions)."""
    every = getattr(callback, "every", 1)
    if not isinstance(every, (int, np.integer)) or every < 1:
        raise ValueError(f"callback {callback!r} has invalid every={every!r}: it must be a positive int")
    return int(every)


def _takes_arguments(fn) -> bool:
    """Whether a tracked callable wants ``(approx, hist, i)`` rather than nothing."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return False
    required = [
        p
        for p in signature.parameters.values()
        if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    return len(required) > 0


def _relative(current, prev, eps=1e-6):
    return (np.abs(current - prev) + eps) / (np.abs(prev) + eps)


def _absolute(current, prev):
    return np.abs(current - prev)


class CheckParametersConvergence(Callback):
    """Stop when the parameters change less than ``tolerance`` over ``every`` iterations.

    Parameters
    ----------
    every : int
        Check frequency.
    tolerance : float
        Stop when ``norm(diff) < tolerance``.
    diff : {'relative', 'absolute'}
        Relative or absolute difference of the flattened parameters.
    ord : {non-zero int, inf, -inf}
        Norm order, as in :func:`numpy.linalg.norm`.

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model():
    ...     x = pm.Normal("x", 0.0, 1.0)
    ...     approx = pm.fit(n=10000, progressbar=False, callbacks=[
    ...         pm.callbacks.CheckParametersConvergence(every=50, diff="absolute", tolerance=1e-2)])
    """

    def __init__(self, every: int = 100, tolerance: float = 1e-3, diff: str = "relative", ord=np.inf):
        if diff not in ("relative", "absolute"):
            raise ValueError(f"diff must be 'relative' or 'absolute', got {diff!r}")
        if int(every) < 1:
            raise ValueError(f"every must be a positive int, got {every!r}")
        self.every = int(every)
        self.tolerance = float(tolerance)
        self._diff = _relative if diff == "relative" else _absolute
        self.ord = ord
        self._prev = None

    @staticmethod
    def flatten_shared(shared_list) -> np.ndarray:
        return np.concatenate([np.asarray(s.get_value()).ravel() for s in shared_list])

    def __call__(self, approx, _, i):
        current = self.flatten_shared(approx.params)
        prev, self._prev = self._prev, current
        if prev is None:
            return
        norm = np.linalg.norm(self._diff(current, prev), self.ord)
        if norm < self.tolerance:
            raise StopIteration(f"Convergence achieved at {i}")


class Tracker(Callback):
    """Record the value of callables at each call.

    Parameters
    ----------
    every : int
        Record every ``every`` iterations.
    **kwargs : callable
        Named callables taking no argument (or ``(approx, hist, i)``).

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model():
    ...     x = pm.Normal("x", 0.0, 1.0)
    ...     advi = pm.ADVI()
    >>> tracker = pm.callbacks.Tracker(mean=advi.approx.mean.eval, std=advi.approx.std.eval)
    >>> _ = advi.fit(100, callbacks=[tracker], progressbar=False)
    >>> len(tracker["mean"])
    100
    """

    def __init__(self, every: int = 1, **kwargs):
        if int(every) < 1:
            raise ValueError(f"every must be a positive int, got {every!r}")
        for name, fn in kwargs.items():
            if not callable(fn):
                raise TypeError(f"Tracker value {name!r} must be callable, got {fn!r}")
        self.every = int(every)
        self.whatchdict = kwargs
        self._takes_arguments = {name: _takes_arguments(fn) for name, fn in kwargs.items()}
        self.hist: dict[str, list] = defaultdict(list)

    def record(self, approx, hist, i):
        for key, fn in self.whatchdict.items():
            value = fn(approx, hist, i) if self._takes_arguments[key] else fn()
            self.hist[key].append(value)

    __call__ = record

    def clear(self) -> None:
        self.hist = defaultdict(list)

    def __getitem__(self, key: str) -> list:
        if key not in self.whatchdict:
            raise KeyError(f"Tracker has no value {key!r}; tracked: {sorted(self.whatchdict)}")
        return self.hist[key]
