"""Trace and posterior plots: thin wrappers over arviz-plots for ``DataTree`` s.

They accept a few PyMC3-style keywords (``varnames``, ``color``,
``credible_interval``/``hdi_prob``) and draw with matplotlib by default, so
they work under the non-interactive 'Agg' backend.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from varbayes.output.datatree import is_datatree

if TYPE_CHECKING:
    from xarray import DataTree

__all__ = ["plot_trace", "traceplot", "plot_posterior"]


def _as_datatree(data) -> DataTree:
    if is_datatree(data):
        return data
    if isinstance(data, Mapping):
        from varbayes.output import to_datatree

        return to_datatree(dict(data))
    if hasattr(data, "sample") and callable(data.sample):
        return data.sample(1000)
    raise TypeError(
        f"expected a DataTree (from sample or approx.sample), got {type(data).__name__}"
    )


def _var_names(var_names, varnames) -> list[str] | None:
    names = var_names if var_names is not None else varnames
    if names is None:
        return None
    return [names] if isinstance(names, str) else list(names)


def _with_color(visuals: dict | None, color: str | None, keys: Sequence[str]) -> dict | None:
    if color is None:
        return visuals
    visuals = dict(visuals or {})
    for key in keys:
        entry = visuals.get(key, {})
        if entry is False:
            continue
        visuals[key] = {"color": color, **(entry if isinstance(entry, Mapping) else {})}
    return visuals


def plot_trace(
    data,
    var_names: Sequence[str] | str | None = None,
    *,
    varnames: Sequence[str] | str | None = None,
    group: str = "posterior",
    compact: bool = True,
    combined: bool = False,
    color: str | None = None,
    backend: str | None = None,
    visuals: dict | None = None,
    **kwargs,
):
    """Marginal densities and traces of each variable, one row per variable.

    Parameters
    ----------
    data : DataTree
        A trace (``sample``) or approximation samples (``approx.sample``).
    var_names : str or sequence of str, optional
        Variables to plot; all by default. ``varnames`` is the PyMC3 spelling.
    group : str
        The ``DataTree`` group to plot.
    compact, combined : bool
        Overlay multidimensional variables; merge the chains' densities.
    color : str, optional
        One colour for all lines.
    backend : str, optional
        arviz-plots backend, matplotlib by default.
    visuals : dict, optional
        Per-element keyword arguments, see :func:`arviz_plots.plot_trace_dist`.
    **kwargs
        Passed to :func:`arviz_plots.plot_trace_dist`.

    Returns
    -------
    arviz_plots.PlotCollection
        Its ``viz`` holds the figure and axes.

    Examples
    --------
    >>> import numpy as np, matplotlib
    >>> matplotlib.use("Agg")
    >>> from varbayes.output import to_datatree
    >>> from varbayes.plots import plot_trace
    >>> pc = plot_trace(to_datatree({"x": np.random.default_rng(0).normal(size=(2, 200))}))
    """
    dt = _as_datatree(data)
    visuals = _with_color(visuals, color, ("dist", "trace"))
    import arviz_plots  # imported on first plot: it takes most of a second

    return arviz_plots.plot_trace_dist(
        dt,
        var_names=_var_names(var_names, varnames),
        group=group,
        compact=compact,
        combined=combined,
        backend=backend or "matplotlib",
        visuals=visuals,
        **kwargs,
    )


#: PyMC3's name for :func:`plot_trace`.
traceplot = plot_trace


def plot_posterior(
    data,
    var_names: Sequence[str] | str | None = None,
    *,
    varnames: Sequence[str] | str | None = None,
    group: str = "posterior",
    color: str | None = None,
    hdi_prob: float | None = None,
    credible_interval: float | None = None,
    point_estimate: str | None = None,
    kind: str | None = None,
    backend: str | None = None,
    visuals: dict | None = None,
    **kwargs,
):
    """Marginal posterior densities with a credible interval and point estimate.

    Parameters
    ----------
    data : DataTree
        A trace (``sample``) or approximation samples (``approx.sample``).
    var_names : str or sequence of str, optional
        Variables to plot; all by default. ``varnames`` is the PyMC3 spelling.
    group : str
        The ``DataTree`` group to plot.
    color : str, optional
        Colour of the density, e.g. ``'LightSeaGreen'``.
    hdi_prob, credible_interval : float, optional
        Probability mass of the interval (``credible_interval`` is the PyMC3 name).
    point_estimate : {'mean', 'median', 'mode'}, optional
        The point estimate shown.
    kind : {'kde', 'hist', 'ecdf'}, optional
        How densities are drawn.
    backend : str, optional
        arviz-plots backend, matplotlib by default.
    visuals : dict, optional
        Per-element keyword arguments, see :func:`arviz_plots.plot_dist`.
    **kwargs
        Passed to :func:`arviz_plots.plot_dist`.

    Returns
    -------
    arviz_plots.PlotCollection

    Examples
    --------
    >>> import numpy as np, matplotlib
    >>> matplotlib.use("Agg")
    >>> from varbayes.output import to_datatree
    >>> from varbayes.plots import plot_posterior
    >>> pc = plot_posterior(to_datatree({"x": np.random.default_rng(0).normal(size=(1, 500))}), color="LightSeaGreen")
    """
    dt = _as_datatree(data)
    prob = hdi_prob if hdi_prob is not None else credible_interval
    visuals = _with_color(visuals, color, ("dist",))
    import arviz_plots

    return arviz_plots.plot_dist(
        dt,
        var_names=_var_names(var_names, varnames),
        group=group,
        ci_prob=prob,
        point_estimate=point_estimate,
        kind=kind,
        backend=backend or "matplotlib",
        visuals=visuals,
        **kwargs,
    )
