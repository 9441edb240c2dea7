"""Build ArviZ ``DataTree`` s from arrays of draws, with a model's coords and dims."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.basic import Constant
from pytensor.graph.traversal import graph_inputs
from pytensor.tensor.random.type import RandomType

if TYPE_CHECKING:
    from xarray import DataTree


def is_datatree(value) -> bool:
    """Whether ``value`` is an xarray ``DataTree``, without importing xarray (a quarter second) to ask."""
    xarray = sys.modules.get("xarray")
    return xarray is not None and isinstance(value, xarray.DataTree)

__all__ = ["to_datatree", "observed_data_dict", "constant_data_dict"]

_SAMPLE_DIMS = ("chain", "draw")


def observed_data_dict(model) -> dict[str, np.ndarray]:
    """The current values of a model's observed variables, by name.

    Observed variables whose data is drawn at random on every evaluation
    (a ``Minibatch``) have no fixed value and are left out.
    """
    out = {}
    for name, rv in model.observed_rv_info.items():
        value = _data_value(rv.data)
        if value is not None:
            out[name] = value
    return out


def constant_data_dict(model) -> dict[str, np.ndarray]:
    """The current values of a model's ``Data`` containers that are not observed data themselves.

    Examples
    --------
    >>> import numpy as np
    >>> import varbayes as pm
    >>> with pm.Model() as model:
    ...     x = pm.Data("x", np.arange(3.0))
    ...     y = pm.Data("y", np.ones(3))
    ...     b = pm.Normal("b", 0.0, 1.0)
    ...     _ = pm.Normal("obs", b * x, 1.0, observed=y)
    >>> sorted(constant_data_dict(model))
    ['x']
    """
    observed = {id(rv.data) for rv in model.observed_rv_info.values()}
    out = {}
    for name in sorted(getattr(model, "_data_names", ())):
        var = model[name]
        if id(var) not in observed and isinstance(var, SharedVariable):
            out[name] = np.asarray(var.get_value())
    return out


def _data_value(var):
    if isinstance(var, SharedVariable):
        return np.asarray(var.get_value())
    if isinstance(var, Constant):
        return np.asarray(var.data)
    inputs = list(graph_inputs([var]))
    if any(isinstance(v.type, RandomType) for v in inputs):
        return None
    if any(not isinstance(v, (SharedVariable, Constant)) for v in inputs):
        return None
    return np.asarray(var.eval())


def _group_dims(
    values: Mapping[str, np.ndarray],
    dims: Mapping[str, tuple],
    coords: Mapping[str, tuple],
    n_sample_dims: int,
) -> dict[str, list]:
    """Keep the dims of each variable whose shape agrees with the coords' lengths.

    A variable can legitimately have another shape than the one its dims name
    (predictions on new data, a minibatch), and labelling it with the wrong
    coordinates would fail; it then gets ArviZ's default dimension names.
    """
    out = {}
    for name, value in values.items():
        var_dims = dims.get(name)
        if var_dims is None:
            continue
        event_shape = np.shape(value)[n_sample_dims:]
        if len(var_dims) != len(event_shape):
            continue
        if all(d not in coords or len(coords[d]) == n for d, n in zip(var_dims, event_shape)):
            out[name] = list(var_dims)
    return out


def _as_group(values, sample_dims) -> dict[str, np.ndarray]:
    group = {}
    for name, value in values.items():
        arr = np.asarray(value)
        if arr.ndim < len(sample_dims):
            raise ValueError(
                f"'{name}': expected an array with leading dims {tuple(sample_dims)}, "
                f"got shape {arr.shape}"
            )
        group[name] = arr
    return group


def to_datatree(
    posterior: Mapping[str, np.ndarray] | None = None,
    *,
    model=None,
    sample_stats: Mapping[str, np.ndarray] | None = None,
    observed_data: Mapping[str, np.ndarray] | bool | None = None,
    prior: Mapping[str, np.ndarray] | None = None,
    prior_predictive: Mapping[str, np.ndarray] | None = None,
    posterior_predictive: Mapping[str, np.ndarray] | None = None,
    log_likelihood: Mapping[str, np.ndarray] | None = None,
    predictions: Mapping[str, np.ndarray] | None = None,
    constant_data: Mapping[str, np.ndarray] | None = None,
    predictions_constant_data: Mapping[str, np.ndarray] | None = None,
    coords: Mapping[str, tuple] | None = None,
    dims: Mapping[str, tuple] | None = None,
    attrs: Mapping[str, object] | None = None,
    inference_library=None,
) -> DataTree:
    """Collect draws into an ArviZ ``DataTree``.

    Every array of a sampled group (``posterior``, ``sample_stats``,
    ``prior``, ``prior_predictive``, ``posterior_predictive``) has shape
    ``(chain, draw, *event_shape)``; data groups have no sample dims.

    Parameters
    ----------
    posterior : dict of str to array, optional
        Draws of the free variables (constrained) and deterministics.
    model : Model, optional
        Supplies coordinates (``model.coords``) and the dims of each variable
        (``model.named_vars_to_dims``) and, unless ``observed_data`` is
        given, the observed data.
    sample_stats, prior, prior_predictive, posterior_predictive, log_likelihood, predictions : dict, optional
        Further sampled groups (``log_likelihood``: pointwise log-likelihood
        of each observed variable, as ArviZ's ``loo`` expects;
        ``predictions``: out-of-sample draws).
    observed_data : dict or bool, optional
        Observed values. ``None`` takes them from ``model`` when there is a
        model; ``False`` leaves the group out.
    constant_data : dict, optional
        Other fixed inputs; with a ``model`` and ``None`` here, its ``Data``
        containers that are not observed data.
    predictions_constant_data : dict, optional
        The data the ``predictions`` were made with.
    coords, dims : dict, optional
        Extra coordinates and dims, overriding the model's.
    attrs : dict, optional
        Attributes added to every group.
    inference_library : module, optional
        Recorded (name and version) in the groups' attributes; varbayes by default.

    Returns
    -------
    xarray.DataTree
        One child node per non-empty group.

    Examples
    --------
    >>> import numpy as np
    >>> from varbayes.output import to_datatree
    >>> dt = to_datatree({"mu": np.zeros((2, 100))})
    >>> dict(dt.posterior["mu"].sizes)
    {'chain': 2, 'draw': 100}
    """
    # arviz-base and xarray are imported on the first result (a fifth of a second)
    from arviz_base import dict_to_dataset
    from xarray import DataTree

    if inference_library is None:
        import varbayes as inference_library
    all_coords: dict[str, tuple] = {}
    all_dims: dict[str, tuple] = {}
    if model is not None:
        all_coords.update({k: tuple(v) for k, v in model.coords.items()})
        all_dims.update(model.named_vars_to_dims)
        if observed_data is None:
            observed_data = observed_data_dict(model)
        if constant_data is None:
            constant_data = constant_data_dict(model)
    all_coords.update({k: tuple(v) for k, v in (coords or {}).items()})
    all_dims.update({k: tuple([v] if isinstance(v, str) else v) for k, v in (dims or {}).items()})
    if observed_data is False:
        observed_data = None

    sampled = {
        "posterior": posterior,
        "posterior_predictive": posterior_predictive,
        "log_likelihood": log_likelihood,
        "predictions": predictions,
        "sample_stats": sample_stats,
        "prior": prior,
        "prior_predictive": prior_predictive,
    }
    fixed = {"observed_data": observed_data, "constant_data": constant_data,
             "predictions_constant_data": predictions_constant_data}
    datasets = {}
    for group, values in {**sampled, **fixed}.items():
        if not values:
            continue
        sample_dims = list(_SAMPLE_DIMS) if group in sampled else []
        values = _as_group(values, sample_dims)
        group_dims = _group_dims(values, all_dims, all_coords, len(sample_dims))
        used = {d for ds in group_dims.values() for d in ds}
        datasets[group] = dict_to_dataset(
            values,
            attrs=dict(attrs or {}),
            inference_library=inference_library,
            coords={k: np.asarray(v) for k, v in all_coords.items() if k in used},
            dims=group_dims,
            sample_dims=sample_dims,
            check_conventions=False,
        )
    return DataTree.from_dict(datasets)
