"""Why a model's log-density is not finite: the report behind :meth:`Model.debug`."""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.graph.replace import clone_replace

from varbayes.config import quick_eval_mode

__all__ = ["report"]


def _shown(value: np.ndarray) -> str:
    value = np.asarray(value)
    if value.size == 1:
        return f"{value.reshape(()).item():.6g}"
    if value.size <= 6:
        return np.array2string(value, precision=6, separator=", ")
    return f"array of shape {value.shape}"


def _at(value: np.ndarray, shape: tuple[int, ...], index: tuple[int, ...]) -> str:
    """``value`` at ``index`` of the logp's ``shape``, when it broadcasts there; else the whole value."""
    try:
        return _shown(np.broadcast_to(value, shape)[index])
    except ValueError:
        return _shown(value)


def report(model, point: dict | None = None, verbose: bool = False) -> str:
    """The lines :meth:`Model.debug` prints."""
    given = point is not None
    point = model.initial_point() if point is None else point
    inputs = model.value_vars
    args = [point[v.name] for v in inputs]
    repl = model.constrained_replacements()

    def evaluate(graphs):
        graphs = clone_replace(list(graphs), replace=repl)
        fn = pytensor.function(inputs, graphs, on_unused_input="ignore", mode=quick_eval_mode())
        return [np.asarray(v) for v in fn(*args)]

    terms = model.logp_terms(jacobian=True)
    fn = pytensor.function(inputs, list(terms.values()), on_unused_input="ignore", mode=quick_eval_mode())
    values = dict(zip(terms, (float(v) for v in fn(*args))))
    bad = [name for name, v in values.items() if not np.isfinite(v)]
    lines = [f"point: {'the given point' if given else 'the initial point'}"]
    if not bad:
        lines.append(f"all {len(values)} log-density terms are finite")
    else:
        lines.append(f"{len(bad)} of {len(values)} log-density terms are not finite:")
    free, observed = model.free_rv_info, model.observed_rv_info
    for name in values:
        if name not in bad:
            if verbose:
                lines.append(f"  {name}: {values[name]:.6g}")
            continue
        if name in free or name in observed:
            info = free.get(name) or observed.get(name)
            lines.append("  " + _explain(name, info, name in observed, model, evaluate))
        else:
            lines.append(f"  {name} (potential): {values[name]}")
    return "\n".join(lines)


def _explain(name: str, info, is_observed: bool, model, evaluate) -> str:
    dist = info.dist
    value_graph = info.data if is_observed else info.var
    params = {k: p for k, p in dist.params.items() if p is not None}
    graphs = [value_graph, dist.logp(value_graph), *params.values()]
    jacobian = None
    if not is_observed and info.transform is not None:
        graphs.append(pt.sum(info.transform.log_jac_det(model.value_var(name))))
    evaluated = evaluate(graphs)
    value, logp = evaluated[0], evaluated[1]
    param_values = dict(zip(params, evaluated[2 : 2 + len(params)]))
    if len(evaluated) > 2 + len(params):
        jacobian = float(evaluated[-1])
    kind = "observed" if is_observed else "free"
    head = f"{name} ({type(dist).__name__}, {kind})"
    bad = ~np.isfinite(logp)
    if not bad.any():
        return f"{head}: the log-density is finite but the log-Jacobian of the transform is {jacobian}"
    index = tuple(int(i) for i in np.unravel_index(int(np.argmax(bad.reshape(-1))), bad.shape)) if bad.ndim else ()
    what = "nan" if np.isnan(logp[index]) else f"{logp[index]}"
    element = value[index] if value.ndim >= len(index) and index else value
    parts = [f"{head}: logp is {what}" + (f" at index {index}" if index else "") + f", value {_shown(element)}"]
    if param_values:
        shown = ", ".join(f"{k}={_at(v, logp.shape, index)}" for k, v in param_values.items())
        parts.append(f"parameters: {shown}")
    reasons = [f"parameter {k} is not finite" for k, v in param_values.items() if not np.all(np.isfinite(v))]
    for key, condition, message in getattr(dist, "checks", []):
        if key in param_values and np.all(np.isfinite(param_values[key])):
            with np.errstate(invalid="ignore"):
                ok = np.all(condition(param_values[key]))
            if not ok:
                reasons.append(f"{key}={_at(param_values[key], logp.shape, index)} is invalid: {message}")
    try:
        support = dist.support()
        if not np.all(support.contains(np.asarray(value, dtype=float))):
            reasons.append(f"the value is outside the support ({support.description.split('{')[0].strip()})")
    except (TypeError, ValueError):
        pass
    if reasons:
        parts.append("; ".join(reasons))
    return "; ".join(parts)
