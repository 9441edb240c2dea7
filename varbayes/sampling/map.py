"""``find_MAP``: the posterior mode by quasi-Newton optimisation of the JAX log-density."""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytensor
import pytensor.tensor as pt

from varbayes.compile import compile_model
from varbayes.logs import log
from varbayes.model import modelcontext
from varbayes.model.scaling import total_size_scale

__all__ = ["find_MAP"]

_GRADIENT_FREE = {"nelder-mead", "powell", "cobyla", "cobyqa"}


def _logp_without_jacobian(model):
    """The model's log-density as a graph over the free variables' placeholders.

    The mode is sought in the constrained space, as in PyMC: no Jacobian
    terms, so that the result is the mode of the density the user wrote.
    """
    terms = [pt.sum(rv.dist.logp(rv.var)) for rv in model.free_rv_info.values()]
    for name, rv in model.observed_rv_info.items():
        term = pt.sum(rv.dist.logp(rv.data))
        if rv.total_size is not None:
            term = term * total_size_scale(rv.total_size, rv.data, name)
        terms.append(term)
    terms.extend(pt.sum(p) for p in model.potentials)
    total = pt.add(*terms) if len(terms) > 1 else terms[0]
    return pt.cast(total, pytensor.config.floatX)


def _start_theta(model, compiled, start: dict | None, argument: str = "start") -> np.ndarray:
    theta = np.asarray(compiled.initial_theta(), dtype=np.float64).copy()
    if not start:
        return theta
    by_name = {v.name: v for v in compiled.ravel.vars}
    by_value_name = {v.value_name: v for v in compiled.ravel.vars}
    for key, value in start.items():
        if key in by_value_name and key not in by_name:
            layout, unconstrained = by_value_name[key], np.asarray(value, dtype=np.float64)
        elif key in by_name:
            layout = by_name[key]
            transform = model.free_rv_info[key].transform
            value = np.asarray(value, dtype=np.float64)
            unconstrained = value if transform is None else np.asarray(
                transform.forward(pt.as_tensor_variable(value)).eval(), dtype=np.float64
            )
        else:
            continue  # PyMC ignores unknown keys of a start point, e.g. deterministics
        if unconstrained.size != layout.size:
            raise ValueError(
                f"{argument}['{key}'] has {unconstrained.size} values; '{layout.name}' needs {layout.size}"
            )
        theta[layout.offset : layout.offset + layout.size] = unconstrained.reshape(-1)
    return theta


def _gradient_tolerance(value: float) -> float:
    # the log-density's scale grows with the data; so does the gradient an optimiser leaves
    return 1e-3 * max(1.0, abs(value)) ** 0.5


def _unfinished(value, grad, start_value) -> bool:
    """Whether the optimiser's answer needs another go: worse than the start, or a large gradient."""
    if not np.isfinite(value) or value > start_value:
        return True
    return bool(grad.size) and float(np.max(np.abs(grad))) > _gradient_tolerance(value)


def _problem(value, grad, start_value, result) -> str | None:
    """What is wrong with the final point, in words, or None."""
    if not np.isfinite(value):
        return "the log-density is not finite at the point found"
    if value > start_value:
        return f"the log-density at the point found ({-value:,.6g}) is lower than at the start ({-start_value:,.6g})"
    if grad.size and float(np.max(np.abs(grad))) > _gradient_tolerance(value):
        return f"the gradient is still large (max |grad| = {float(np.max(np.abs(grad))):.3g})"
    if not result.success and result.get("retried_from") is None:
        return str(result.message)
    return None


def _largest_gradients(ravel, grad, count: int = 3) -> str:
    """The value variables holding the largest gradient components, with their size."""
    sizes = []
    for layout in ravel.vars:
        part = grad[layout.offset : layout.offset + layout.size]
        sizes.append((float(np.max(np.abs(part))) if part.size else 0.0, layout.value_name))
    sizes.sort(reverse=True)
    return ", ".join(f"'{name}' ({size:.3g})" for size, name in sizes[:count])


def find_MAP(
    start: dict | None = None,
    method: str = "L-BFGS-B",
    model=None,
    maxeval: int = 5000,
    include_transformed: bool = True,
    progressbar: bool = True,
    return_raw: bool = False,
    **kwargs,
):
    """Find the maximum a posteriori point of the model.

    Minimises the negative log-density (without Jacobian terms, so the mode
    is that of the constrained variables) over the unconstrained parameters
    with :func:`scipy.optimize.minimize`; value and gradient come from one
    jitted JAX function. The answer is then checked: where its gradient is
    still large or its log-density is below the start's, a trust-region
    Newton method (``trust-ncg`` with exact Hessian-vector products) goes on
    from the better point; a point that still fails the check is returned
    with a warning naming the variables with the largest gradients, never
    silently.

    Parameters
    ----------
    start : dict, optional
        Starting values by variable name (constrained) or value-variable name
        (unconstrained, e.g. ``'sigma_log__'``); the model's initial point by default.
    method : str
        A :func:`scipy.optimize.minimize` method.
    model : Model, optional
        The model; the one of the ``with`` block by default.
    maxeval : int
        Maximum number of iterations.
    include_transformed : bool
        Also return the unconstrained values of transformed variables.
    progressbar : bool
        Print the final log-density and gradient norm.
    return_raw : bool
        Also return scipy's ``OptimizeResult`` of the optimiser whose point is
        returned, with ``start_logp``, ``grad_max`` (largest gradient
        component at the point), ``retried`` (whether the Newton method
        went on from the first answer) and, when its point was kept,
        ``retried_from`` (the first optimiser's result) added.
    **kwargs
        Passed to :func:`scipy.optimize.minimize`.

    Returns
    -------
    dict
        Values of the free variables (constrained) and deterministics, and
        with ``include_transformed`` the unconstrained values; with
        ``return_raw`` a tuple ``(point, result)``.

    Examples
    --------
    >>> import varbayes as pm
    >>> from varbayes.sampling import find_MAP
    >>> with pm.Model():
    ...     mu = pm.Normal("mu", 0.0, 1.0)
    ...     y = pm.Normal("y", mu, 1.0, observed=[1.0, 2.0, 3.0])
    ...     point = find_MAP(progressbar=False)
    >>> round(float(point["mu"]), 4)
    1.5
    """
    model = modelcontext(model)
    compiled = compile_model(model)
    if compiled.enumerated is not None:
        raise NotImplementedError(
            f"find_MAP does not handle the discrete free variables {list(compiled.enumerated.names)}: "
            "pm.sample and pm.fit sum them out and draw them back; find_MAP would need a joint maximum "
            "over discrete and continuous values"
        )
    logp_fn = compiled.function([_logp_without_jacobian(model)])
    data = logp_fn.data()

    @jax.jit
    def value_and_grad(theta):
        value, grad = jax.value_and_grad(lambda t: -logp_fn.fn(t, data)[0])(theta)
        return value, grad

    def fun(theta):
        value, grad = value_and_grad(jnp.asarray(theta))
        value = float(value)
        grad = np.asarray(grad, dtype=np.float64)
        if not np.isfinite(value):
            value = np.inf  # lets line searches back off from invalid regions
        return value, grad

    @jax.jit
    def hessian_vector(theta, vector):
        return jax.jvp(lambda t: value_and_grad(t)[1], (theta,), (vector,))[1]

    def hessp(theta, vector):
        return np.asarray(hessian_vector(jnp.asarray(theta), jnp.asarray(vector)), dtype=np.float64)

    theta0 = _start_theta(model, compiled, start)
    start_value = fun(theta0)[0]
    if not np.isfinite(start_value):
        raise ValueError("the log-density is not finite at the starting point; give a valid `start`")
    gradient_free = method.lower() in _GRADIENT_FREE
    options = {"maxiter": maxeval, **kwargs.pop("options", {})}
    from scipy import optimize  # imported on first use: it takes a tenth of a second
    if gradient_free:
        result = optimize.minimize(lambda t: fun(t)[0], theta0, method=method, options=options, **kwargs)
    else:
        result = optimize.minimize(fun, theta0, jac=True, method=method, options=options, **kwargs)
    theta = np.asarray(result.x, dtype=np.float64)
    value, grad = fun(theta)
    retried = None
    if _unfinished(value, grad, start_value):
        # An optimiser can stop on a small relative change of the objective while the
        # gradient is still large (badly scaled or curved posteriors): go on with a
        # trust-region Newton method, whose exact Hessian-vector products from JAX cope
        # with poor scaling, from the better of the start and the first answer.
        origin = theta if value <= start_value else theta0
        retry = optimize.minimize(
            fun, origin, jac=True, hessp=hessp, method="trust-ncg",
            options={"maxiter": maxeval, "gtol": 1e-8},
        )
        retry_value, retry_grad = fun(np.asarray(retry.x, dtype=np.float64))
        retried = retry
        if retry_value <= min(value, start_value) or not np.isfinite(value):
            # the Newton method's own stop ("failure to predict improvement" near the optimum
            # is common) matters less than the checks of value and gradient made next
            retry["retried_from"] = result
            result, theta, value, grad = retry, np.asarray(retry.x, dtype=np.float64), retry_value, retry_grad
    problem = _problem(value, grad, start_value, result)
    if problem is not None:
        worst = _largest_gradients(compiled.ravel, grad)
        warnings.warn(
            f"find_MAP did not converge: {problem}; largest gradients in {worst}. The point returned is the "
            "best found; try another `start`, `method`, or a reparameterised model.",
            UserWarning,
            stacklevel=2,
        )
    result["start_logp"] = -float(start_value)
    result["grad_max"] = float(np.max(np.abs(grad))) if grad.size else 0.0
    result["retried"] = retried is not None
    if progressbar:
        log.info(f"logp = {-float(value):,.4g}, ||grad|| = {float(np.linalg.norm(grad)):.4g}")

    values = compiled.constrained(jnp.asarray(theta))
    names = list(model.free_rv_info) + [str(d.name) for d in model.deterministics]
    point = {name: np.asarray(v) for name, v in zip(names, values)}
    if include_transformed:
        for layout in compiled.ravel.vars:
            if layout.value_name != layout.name:
                point[layout.value_name] = theta[layout.offset : layout.offset + layout.size].reshape(layout.shape)
    return (point, result) if return_raw else point
