"""Pointwise log-likelihood of posterior draws: the ``log_likelihood`` group that ``az.loo`` reads."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.graph.replace import clone_replace
from pytensor.graph.traversal import graph_inputs
from pytensor.tensor.random.type import RandomType

from varbayes.compile.model import _jaxify_with_data
from varbayes.model import modelcontext

__all__ = ["compute_log_likelihood"]

_DRAWS_PER_CALL = 4096  # draws evaluated per compiled call, which bounds the memory it needs


def _pointwise_function(model, names: Sequence[str]):
    """``fn(values, *data) -> tuple`` of elementwise log-likelihoods, ``values`` the flat constrained draw."""
    free = list(model.free_rv_info.values())
    values = pt.vector("values", dtype=pytensor.config.floatX)
    replacements, offset = {}, 0
    for rv in free:
        shape = tuple(int(n) for n in rv.dist.shape)
        size = int(np.prod(shape, dtype=int))
        replacements[rv.var] = pt.cast(values[offset : offset + size].reshape(shape), rv.var.dtype)
        offset += size
    outputs = []
    for name in names:
        rv = model.observed_rv_info[name]
        if any(isinstance(v.type, RandomType) for v in graph_inputs([rv.data])):
            raise ValueError(
                f"the log-likelihood of '{name}' needs its full data: it is observed through a Minibatch; "
                "define the model on the full data (e.g. with pm.Data) to compute it"
            )
        outputs.append(pt.cast(rv.dist.logp(rv.data), pytensor.config.floatX))
    outputs = clone_replace(outputs, replace=replacements)
    raw, data_vars = _jaxify_with_data(values, outputs, (), "the log-likelihood")
    return raw, data_vars, free, offset


def compute_log_likelihood(
    idata,
    var_names: Sequence[str] | None = None,
    model=None,
    extend_inferencedata: bool = True,
):
    """Pointwise log-likelihood of every posterior draw, for ``az.loo`` and ``az.compare``.

    Evaluates ``log p(y_i | θ_s)`` for each observed value ``y_i`` of each
    observed variable and each draw ``θ_s`` of the ``posterior`` group, in one
    compiled, vectorised program (no ``total_size`` scaling: the values are
    per observation). Works on NUTS traces and on draws from an
    approximation (``approx.sample()``; for those, ArviZ's
    ``loo_approximate_posterior`` with the ``lp`` and ``log_q`` of the draws'
    ``sample_stats`` corrects for sampling from q instead of the posterior).

    Parameters
    ----------
    idata : xarray.DataTree
        With a ``posterior`` group holding every free variable.
    var_names : sequence of str, optional
        Observed variables to evaluate; all by default.
    model : Model, optional
        The model; the one of the ``with`` block by default.
    extend_inferencedata : bool
        Add the ``log_likelihood`` group to ``idata`` and return it (default),
        or return a new ``DataTree`` holding only that group.

    Returns
    -------
    xarray.DataTree

    Examples
    --------
    >>> import numpy as np
    >>> import varbayes as pm
    >>> with pm.Model() as model:
    ...     mu = pm.Normal("mu", 0.0, 1.0)
    ...     _ = pm.Normal("y", mu, 1.0, observed=np.array([0.1, -0.3, 0.5]))
    ...     trace = pm.sample(100, tune=100, chains=2, progressbar=False, random_seed=1,
    ...                       compute_convergence_checks=False)
    ...     trace = pm.compute_log_likelihood(trace)
    >>> trace.log_likelihood["y"].shape
    (2, 100, 3)
    """
    model = modelcontext(model)
    observed = list(model.observed_rv_info)
    names = observed if var_names is None else list(var_names)
    unknown = [n for n in names if n not in observed]
    if unknown:
        raise ValueError(f"var_names {unknown} are not observed variables of the model; observed: {observed}")
    if not names:
        raise ValueError("the model has no observed variables: there is no likelihood to evaluate")
    posterior = idata.posterior if hasattr(idata, "posterior") else None
    if posterior is None:
        raise ValueError("compute_log_likelihood needs a trace with a posterior group")
    raw, data_vars, free, size = _pointwise_function(model, names)
    columns = []
    for rv in free:
        if rv.name not in posterior:
            raise ValueError(
                f"the posterior has no draws of '{rv.name}', a free variable of the model; "
                f"it has {sorted(posterior.data_vars)}"
            )
        draws = np.asarray(posterior[rv.name])
        columns.append(draws.reshape(draws.shape[0] * draws.shape[1], -1))
    chains, n_draws = np.asarray(posterior[free[0].name]).shape[:2]
    flat = np.concatenate(columns, axis=1) if columns else np.zeros((chains * n_draws, 0))
    if flat.shape[1] != size:
        raise ValueError(f"the posterior's draws have {flat.shape[1]} values per draw; the model needs {size}")
    data = tuple(jnp.asarray(v.get_value()) for v in data_vars)
    evaluate = jax.jit(jax.vmap(lambda value, data: raw(value, *data), in_axes=(0, None)))
    parts = [
        jax.device_get(evaluate(jnp.asarray(flat[i : i + _DRAWS_PER_CALL]), data))
        for i in range(0, flat.shape[0], _DRAWS_PER_CALL)
    ]
    values = {
        name: np.concatenate([part[k] for part in parts]).reshape(chains, n_draws, *np.shape(parts[0][k])[1:])
        for k, name in enumerate(names)
    }
    from varbayes.output import to_datatree

    group = to_datatree(log_likelihood=values, model=model, observed_data=False, constant_data={})
    if not extend_inferencedata:
        return group
    idata["log_likelihood"] = group["log_likelihood"]
    return idata
