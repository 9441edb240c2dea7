"""``Ravel``: the layout of the flat unconstrained vector θ."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["VarLayout", "Ravel"]


@dataclass(frozen=True)
class VarLayout:
    """Where one free variable sits in θ."""

    name: str
    value_name: str
    shape: tuple[int, ...]
    constrained_shape: tuple[int, ...]
    transform: Any
    offset: int

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=int))


@dataclass(frozen=True)
class Ravel:
    """Map between θ and per-variable unconstrained values.

    Examples
    --------
    >>> import varbayes as pm
    >>> from varbayes.compile import compile_model
    >>> with pm.Model() as m:
    ...     a = pm.Normal("a", shape=2)
    ...     s = pm.HalfNormal("s")
    >>> r = compile_model(m).ravel
    >>> r.size, [v.value_name for v in r.vars]
    (3, ['a', 's_log__'])
    """

    vars: tuple[VarLayout, ...]

    @property
    def size(self) -> int:
        return sum(v.size for v in self.vars)

    def ravel(self, point: dict[str, np.ndarray]) -> np.ndarray:
        """θ from a point keyed by value-variable names (or variable names)."""
        parts = []
        for v in self.vars:
            value = point[v.value_name] if v.value_name in point else point[v.name]
            parts.append(np.asarray(value, dtype="float64").reshape(-1))
        return np.concatenate(parts) if parts else np.zeros(0)

    def unravel(self, theta) -> dict[str, np.ndarray]:
        """Unconstrained values by value-variable name; leading axes of ``theta`` are kept."""
        theta = np.asarray(theta)
        lead = theta.shape[:-1]
        return {
            v.value_name: theta[..., v.offset : v.offset + v.size].reshape(lead + tuple(v.shape))
            for v in self.vars
        }

    def slices(self, theta):
        """Per-variable unconstrained values of a symbolic or JAX θ (one draw)."""
        return {v.name: theta[v.offset : v.offset + v.size].reshape(v.shape) for v in self.vars}
