"""``Deterministic`` and ``Potential``: named expressions and extra log-density terms."""

from __future__ import annotations

from pytensor.graph.basic import Variable

from varbayes.model.core import Model, modelcontext

__all__ = ["Deterministic", "Potential"]


def Deterministic(name: str, var, model: Model | None = None, dims=None) -> Variable:
    """Record ``var`` under ``name`` so traces and approximation samples include it.

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model() as m:
    ...     x = pm.Normal("x", 0.0, 1.0)
    ...     x2 = pm.Deterministic("x2", x ** 2)
    >>> [v.name for v in m.deterministics]
    ['x2']
    """
    return modelcontext(model, name).add_deterministic(name, var, dims=dims)


def Potential(name: str, var, model: Model | None = None, dims=None) -> Variable:
    """Add ``var`` (summed) to the model's log-density.

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model() as m:
    ...     x = pm.Normal("x", 0.0, 1.0)
    ...     pm.Potential("soft_positive", -((x < 0) * x ** 2))  # doctest: +ELLIPSIS
    soft_positive
    """
    return modelcontext(model, name).add_potential(name, var, dims=dims)
