"""``sample_node``: any expression of the model's variables, under draws from q.

The placeholders of the free variables are replaced by constrained values
built from a symbolic draw ``θ ~ q`` (a PyTensor graph over the
approximation's shared parameters and a shared generator that advances on
every evaluation). With ``size`` the single-draw graph is vectorised over a
leading axis of draws with ``vectorize_graph``, so nothing loops in Python.
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
from pytensor.graph.basic import Variable
from pytensor.graph.replace import clone_replace, vectorize_graph
from pytensor.graph.traversal import ancestors, graph_inputs

from varbayes.rng import advance_on_eval, shared_generator

__all__ = ["sample_node", "check_size"]


def check_size(size):
    """``None``, a non-negative int, or a symbolic integer scalar."""
    if size is None:
        return None
    if isinstance(size, Variable):
        if size.ndim != 0 or not size.dtype.startswith(("int", "uint")):
            raise TypeError(f"size must be an integer scalar, got a {size.type}")
        return size
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
        raise TypeError(f"size must be an int or a symbolic integer scalar, got {size!r}")
    if size < 0:
        raise ValueError(f"size must be non-negative, got {size}")
    return int(size)


def _check_belongs(approx, node_list) -> None:
    model_id = id(approx.model)
    foreign = sorted(
        {
            str(v.name)
            for v in graph_inputs(node_list)
            if getattr(v.tag, "varbayes_model_id", model_id) != model_id
        }
    )
    if foreign:
        raise ValueError(
            f"the expression uses variables {foreign} of another model; "
            "sample_node works on expressions of this approximation's model"
        )


def _check_replacements(node_list, replacements: dict) -> None:
    present = set(ancestors(node_list))
    missing = [k for k in replacements if k not in present]
    if missing:
        names = [str(getattr(k, "name", k)) for k in missing]
        raise ValueError(f"more_replacements keys {names} are not in the expression's graph")


def constrained_from_theta(approx, theta) -> dict:
    """Placeholder -> constrained value for one symbolic θ vector."""
    values = {v.name: theta[v.offset : v.offset + v.size].reshape(v.shape) for v in approx.ravel.vars}
    return approx.model.constrained_replacements(values)


def _check_continuous(approx, node_list) -> None:
    """Refuse expressions of discrete variables summed out of the log-density (θ does not hold them)."""
    in_theta = {v.name for v in approx.ravel.vars}
    free = approx.model.free_rv_info
    present = set(ancestors(node_list))
    summed = sorted(name for name, rv in free.items() if name not in in_theta and rv.var in present)
    if summed:
        raise NotImplementedError(
            f"the expression reads {summed}, discrete variables summed out of the log-density: sample_node "
            "evaluates expressions of the continuous variables; approx.sample() and pm.sample() draw the "
            "discrete ones given each draw"
        )


def sample_node(approx, node, size=None, deterministic: bool = False, more_replacements: dict | None = None):
    """See :meth:`Approximation.sample_node`."""
    single = not isinstance(node, (list, tuple))
    node_list = [pt.as_tensor_variable(n) for n in ([node] if single else node)]
    size = check_size(size)
    _check_belongs(approx, node_list)
    _check_continuous(approx, node_list)
    if more_replacements:
        _check_replacements(node_list, more_replacements)
        node_list = clone_replace(node_list, replace={k: pt.as_tensor_variable(v) for k, v in more_replacements.items()})
    theta = pt.vector("theta", dtype=approx.shared_params[next(iter(approx.shared_params))].dtype)
    out = clone_replace(node_list, replace=constrained_from_theta(approx, theta))
    if deterministic:
        draws = approx.mean if size is None else pt.alloc(approx.mean, size, approx.ndim)
    else:
        rng = shared_generator()
        next_rng, draws = approx.symbolic_draws(rng, size)
        advance_on_eval(rng, next_rng)
    if size is None:
        out = clone_replace(out, replace={theta: draws})
    else:
        out = vectorize_graph(out, {theta: draws})
    return out[0] if single else out
