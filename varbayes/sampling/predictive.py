"""Prior and posterior predictive sampling by forward simulation.

Every variable's forward-sampling graph (its distribution's ``_random``) is
written for one draw, over the placeholders of the free variables it depends
on. ``vectorize_graph`` turns it into a graph over a batch of draws of those
placeholders — ancestral draws for the prior, posterior draws for the
posterior predictive — and one PyTensor function evaluates all of it, so
there is no Python loop over draws.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.replace import vectorize_graph
from pytensor.graph.traversal import ancestors, graph_inputs
from pytensor.tensor.random.type import RandomType

from varbayes.config import default_seed
from varbayes.model import modelcontext
from varbayes.model.core import observed_value
from varbayes.output import to_datatree
from varbayes.output.datatree import is_datatree

if TYPE_CHECKING:
    from xarray import DataTree

__all__ = ["sample_prior_predictive", "sample_posterior_predictive"]


def _rngs(seed: int, names: Sequence[str]) -> dict:
    children = np.random.SeedSequence(seed).spawn(len(names))
    return {name: pytensor.shared(np.random.default_rng(child)) for name, child in zip(names, children)}


def _depends_on(graph, placeholders) -> bool:
    wanted = set(placeholders)
    return any(v in wanted for v in ancestors([graph]))


def _batched_draw(dist, rng, batch: dict, n: int, shape=None):
    """``n`` draws of ``dist`` (each of ``shape``), whose parameters may depend on the keys of ``batch``."""
    shape = dist.shape if shape is None else shape
    _, single = dist._random(rng, shape)
    if _depends_on(single, batch):
        return vectorize_graph(single, replace=batch)
    _, draws = dist._random(rng, (n, *shape))
    return draws


def _observed_shape(model, rv):
    """The shape of an observed variable's draws with the data as they are now.

    An observed variable whose data is a ``pm.Data`` container follows the
    container's current shape; one whose parameters read containers (``mu =
    a + b * x``) follows their broadcast shape, so that after ``pm.set_data``
    with new lengths the draws have the new lengths. Otherwise the shape is
    the one fixed when the variable was defined (a Minibatch's batch, plain
    arrays).
    """
    dist = rv.dist
    given = dist.current_shape()
    if given is not None:
        return given
    containers = {id(model.root[name]) for name in model.root._data_names}

    def _is_data(var) -> bool:
        return isinstance(var, SharedVariable) and id(var) in containers

    inputs = list(graph_inputs([rv.data]))
    if any(isinstance(v.type, RandomType) for v in inputs):
        return dist.shape
    if any(_is_data(v) for v in inputs):
        value = observed_value(rv.data)
        if value is not None:
            return tuple(np.shape(value))
    params = [p for p in dist.params.values() if p is not None]
    if not dist.event_shape and any(_is_data(v) for v in graph_inputs(params)):
        # the parameters' broadcast shape with the containers' current values (a number,
        # so the draws' graph does not depend on the placeholders through its size)
        shape = dist._evaluate_batch_shape()
        if len(shape) == len(dist.shape):
            return tuple(int(n) for n in shape)
    return dist.shape


def _evaluate(outputs: dict, inputs: dict | None = None) -> dict[str, np.ndarray]:
    inputs = inputs or {}
    names = list(outputs)
    fn = pytensor.function(list(inputs), [outputs[n] for n in names], on_unused_input="ignore")
    values = fn(*inputs.values())
    return {n: np.asarray(v) for n, v in zip(names, values)}


def _check_var_names(var_names, known: Sequence[str], what: str) -> None:
    unknown = [n for n in var_names if n not in known]
    if unknown:
        raise ValueError(f"var_names {unknown} are not {what} of the model; known: {list(known)}")


def sample_prior_predictive(
    draws: int = 500,
    model=None,
    random_seed: int | None = None,
    var_names: Sequence[str] | None = None,
    return_inferencedata: bool = True,
):
    """Draw from the prior and the prior predictive distribution.

    Free variables are drawn in the order they were declared (each given the
    draws of those it depends on), then observed variables and
    deterministics are computed from them.

    Parameters
    ----------
    draws : int
        Number of draws.
    model : Model, optional
        The model; the one of the ``with`` block by default.
    random_seed : int, optional
        Seed; the same seed gives the same draws.
    var_names : sequence of str, optional
        Variables to return (free, observed or deterministic); all by default.
    return_inferencedata : bool
        Return a ``DataTree`` (default) or a dict of arrays of shape ``(draws, ...)``.

    Returns
    -------
    xarray.DataTree or dict
        Groups ``prior`` (free variables and deterministics),
        ``prior_predictive`` (observed variables) and ``observed_data``, with
        dims ``(chain=1, draw, ...)``.

    Examples
    --------
    >>> import varbayes as pm
    >>> from varbayes.sampling import sample_prior_predictive
    >>> with pm.Model():
    ...     mu = pm.Normal("mu", 0.0, 1.0)
    ...     y = pm.Normal("y", mu, 1.0, observed=[0.1, 0.3, -0.2])
    ...     prior = sample_prior_predictive(100, random_seed=1)
    >>> prior.prior_predictive["y"].shape
    (1, 100, 3)
    """
    model = modelcontext(model)
    if isinstance(draws, bool) or not isinstance(draws, (int, np.integer)) or draws < 1:
        raise ValueError(f"draws must be a positive integer, got {draws!r}")
    free = model.free_rv_info
    observed = model.observed_rv_info
    deterministics = {str(d.name): d for d in model.deterministics}
    known = [*free, *observed, *deterministics]
    if var_names is not None:
        _check_var_names(var_names, known, "variables")
    rngs = _rngs(default_seed(random_seed), [*free, *observed])

    batch: dict = {}
    outputs: dict = {}
    for name, rv in free.items():
        draws_graph = _batched_draw(rv.dist, rngs[name], batch, draws)
        batch[rv.var] = draws_graph
        outputs[name] = draws_graph
    for name, rv in observed.items():
        outputs[name] = _batched_draw(rv.dist, rngs[name], batch, draws)
    for name, det in deterministics.items():
        outputs[name] = _vectorize_expression(det, batch, draws)
    if var_names is not None:
        outputs = {n: g for n, g in outputs.items() if n in var_names}
    values = _evaluate(outputs)
    if not return_inferencedata:
        return values
    prior = {n: v[None] for n, v in values.items() if n not in observed}
    predictive = {n: v[None] for n, v in values.items() if n in observed}
    return to_datatree(model=model, prior=prior, prior_predictive=predictive)


def _vectorize_expression(graph, batch: dict, n: int):
    """``graph`` over placeholders, evaluated at each of ``n`` batched draws."""
    if _depends_on(graph, batch):
        return vectorize_graph(graph, replace=batch)
    # constant in the draws: repeat it
    return pt.broadcast_to(graph, (n, *graph.shape))


def _posterior_draws(trace_or_approx, draws: int | None) -> DataTree | Mapping:
    if is_datatree(trace_or_approx):
        return trace_or_approx
    if isinstance(trace_or_approx, Mapping):
        return trace_or_approx
    if hasattr(trace_or_approx, "sample") and callable(trace_or_approx.sample):
        return trace_or_approx.sample(500 if draws is None else draws)
    raise TypeError(
        "sample_posterior_predictive needs a DataTree with a posterior group, a dict of "
        "posterior arrays, or an approximation with a .sample(draws) method; got "
        f"{type(trace_or_approx).__name__}"
    )


def _posterior_group(trace) -> dict[str, np.ndarray]:
    if is_datatree(trace):
        if "posterior" not in trace.children:
            raise ValueError(f"the DataTree has no 'posterior' group (groups: {list(trace.children)})")
        post = trace["posterior"]
        return {str(n): np.asarray(post[n].values) for n in post.data_vars}
    return {str(n): np.asarray(v) for n, v in trace.items()}


def sample_posterior_predictive(
    trace_or_approx,
    model=None,
    random_seed: int | None = None,
    var_names: Sequence[str] | None = None,
    draws: int | None = None,
    extend_inferencedata: bool = False,
    return_inferencedata: bool = True,
    predictions: bool = False,
):
    """Draw observed variables given each posterior draw.

    Parameters
    ----------
    trace_or_approx : DataTree, dict or approximation
        Posterior draws: a ``DataTree`` with a ``posterior`` group (from
        :func:`sample` or ``approx.sample``), a dict of arrays of shape
        ``(chain, draw, ...)``, or an object with a ``.sample(draws)``
        method returning such a ``DataTree`` (a variational approximation).
    model : Model, optional
        The model; the one of the ``with`` block by default.
    random_seed : int, optional
        Seed; the same seed gives the same draws.
    var_names : sequence of str, optional
        Observed variables and deterministics to draw; the observed
        variables by default. Deterministics are recomputed from the
        posterior draws (useful after ``pm.set_data``).
    draws : int, optional
        Number of draws asked from an approximation (500 by default).
    extend_inferencedata : bool
        Add the ``posterior_predictive`` group to the given ``DataTree`` and
        return it.
    return_inferencedata : bool
        Return a ``DataTree`` (default) or a dict of arrays.
    predictions : bool
        Out-of-sample predictions (after ``pm.set_data``): the draws go to a
        ``predictions`` group, with the model's current coords, and the
        ``Data`` values they were made with to ``predictions_constant_data``
        (no ``observed_data``), as ArviZ lays out predictions.

    Returns
    -------
    xarray.DataTree or dict
        Groups ``posterior_predictive`` (dims ``(chain, draw, ...)``, as in
        the posterior) and ``observed_data``; or, with ``predictions``,
        ``predictions`` and ``predictions_constant_data``.

    Notes
    -----
    Observed variables follow the data as they are at the call: an observed
    ``pm.Data`` container, or containers in its parameters, set to new
    lengths with ``pm.set_data(..., coords=...)`` give draws of the new
    lengths, labelled with the new coords. One program is compiled per call.

    Examples
    --------
    >>> import varbayes as pm
    >>> from varbayes.sampling import sample, sample_posterior_predictive
    >>> with pm.Model():
    ...     mu = pm.Normal("mu", 0.0, 1.0)
    ...     y = pm.Normal("y", mu, 1.0, observed=[0.1, 0.3, -0.2])
    ...     trace = sample(100, tune=100, chains=2, progressbar=False, random_seed=1)
    ...     ppc = sample_posterior_predictive(trace, random_seed=2)
    >>> ppc.posterior_predictive["y"].shape
    (2, 100, 3)
    """
    model = modelcontext(model)
    trace = _posterior_draws(trace_or_approx, draws)
    posterior = _posterior_group(trace)
    free = model.free_rv_info
    observed = model.observed_rv_info
    deterministics = {str(d.name): d for d in model.deterministics}
    missing = [n for n in free if n not in posterior]
    if missing:
        raise ValueError(f"the posterior draws lack the free variables {missing}")
    if var_names is None:
        var_names = list(observed)
    _check_var_names(var_names, [*observed, *deterministics, *free], "observed, deterministic or free variables")

    sample_shape = next(iter(posterior[n] for n in free)).shape[:2]
    n = int(np.prod(sample_shape))
    inputs, batch = {}, {}
    for name, rv in free.items():
        value = posterior[name]
        if value.shape[:2] != sample_shape or value.shape[2:] != tuple(rv.dist.shape):
            raise ValueError(
                f"posterior draws of '{name}' have shape {value.shape}; expected "
                f"{(*sample_shape, *rv.dist.shape)}"
            )
        flat = pt.tensor(name=f"{name}_draws", shape=(n, *rv.dist.shape), dtype=rv.var.dtype)
        inputs[flat] = value.reshape(n, *rv.dist.shape).astype(rv.var.dtype)
        batch[rv.var] = flat
    rngs = _rngs(default_seed(random_seed), list(observed))
    outputs = {}
    for name in var_names:
        if name in observed:
            rv = observed[name]
            outputs[name] = _batched_draw(rv.dist, rngs[name], batch, n, _observed_shape(model, rv))
        elif name in deterministics:
            outputs[name] = _vectorize_expression(deterministics[name], batch, n)
    values = _evaluate(outputs, inputs)
    values = {k: v.reshape(*sample_shape, *v.shape[1:]) for k, v in values.items()}
    for name in var_names:
        if name in free:
            values[name] = posterior[name]
    values = {k: values[k] for k in var_names}
    if not return_inferencedata:
        return values
    if predictions:
        data = {name: np.asarray(model[name].get_value()) for name in sorted(model._data_names)}
        result = to_datatree(model=model, predictions=values, predictions_constant_data=data,
                             observed_data=False, constant_data={})
    else:
        result = to_datatree(model=model, posterior_predictive=values)
    if extend_inferencedata and is_datatree(trace):
        for group in result.children:
            trace[group] = result[group]
        return trace
    return result
