"""What a fit with ``n=None`` leaves on the approximation: :class:`Convergence`, and the messages it prints."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import jax
import numpy as np

from varbayes.variational.api.loop import _average
from varbayes.variational.api.progress import log

__all__ = ["Convergence", "announce", "diagnose_at", "drifting_variables"]


@dataclass(frozen=True)
class Convergence:
    """How a fit with ``n=None`` ended, on ``approx.convergence``.

    Attributes
    ----------
    reason : str
        ``'converged'``, ``'max_n'``, ``'max_time'``, ``'interrupted'`` or ``'callback'``.
    iterations : int
        Iterations this fit added to ``approx.hist``.
    search_iterations : int
        Further iterations spent on the step sizes the search did not keep.
    step_sizes : tuple of float
        The learning rates used, in order (empty for an optimizer without one).
    rhat : float or None
        Largest split R-hat of the parameters over the final window (below
        ``StopRule.rhat`` means stationary).
    mcse : float or None
        Largest Monte Carlo standard error of the averaged parameters, in
        posterior-sd units for locations and relative units for scales.
    window : tuple of int or None
        ``(start, stop)`` indices of ``approx.hist`` over which the returned
        parameters are the iterate average.
    elbo, elbo_se : float or None
        ELBO estimate over the window (mean of ``-hist``) and its standard error.
    seconds : float
        Wall time of the fit, compilation included.
    events : tuple
        ``(iteration, what, new step size)`` of each new window the schedule
        started: ``'adapted'``, ``'re-whitened'``, ``'too noisy'``, ``'unstable'``,
        ``'loss worse than before'``, ``'non-finite loss'``.
    khat : float or None
        Pareto k̂ of the returned approximation (:meth:`Approximation.diagnose`),
        computed on first use; ``None`` where it cannot be (particles, Minibatch).
    draws : int or None
        Draws of q each step's gradient averaged over (ADVI: ``obj_n_mc``, or
        the count chosen from the log-density's cost, see
        :mod:`varbayes.variational.core.draws`), computed on first use;
        ``None`` for the other methods.

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model():
    ...     x = pm.Normal("x", 1.0, 2.0)
    ...     approx = pm.fit(n=None, progressbar=False, random_seed=1)
    >>> approx.convergence.reason
    'converged'
    """

    reason: str
    iterations: int
    search_iterations: int
    step_sizes: tuple
    rhat: float | None
    mcse: float | None
    window: tuple | None
    elbo: float | None
    elbo_se: float | None
    seconds: float
    events: tuple = ()
    _diagnose: Callable | None = field(default=None, repr=False, compare=False)
    _draws: Callable | None = field(default=None, repr=False, compare=False)

    @property
    def converged(self) -> bool:
        return self.reason == "converged"

    @property
    def step_size(self) -> float | None:
        """The final learning rate."""
        return self.step_sizes[-1] if self.step_sizes else None

    @cached_property
    def khat(self) -> float | None:
        if self._diagnose is None:
            return None
        return float(self._diagnose().khat)

    @cached_property
    def draws(self) -> int | None:
        return None if self._draws is None else int(self._draws())

    def __repr__(self) -> str:
        def fmt(value, spec):
            return "n/a" if value is None else format(value, spec)

        distinct = [s for k, s in enumerate(self.step_sizes) if k == 0 or s != self.step_sizes[k - 1]]
        lines = [
            f"Convergence: {self.reason} after {self.iterations:,} iterations ({self.seconds:.2f} s)",
            f"  step sizes        {' -> '.join(f'{s:.3g}' for s in distinct) or 'n/a'}"
            + (f" (search: {self.search_iterations:,} more iterations)" if self.search_iterations else "")
            + (f", {len(self.events)} new windows" if self.events else ""),
            f"  stationarity      R-hat {fmt(self.rhat, '.3f')}",
            f"  averaged over     {'n/a' if self.window is None else f'iterations {self.window[0]:,} to {self.window[1]:,}'}",
            f"  MCSE (sd units)   {fmt(self.mcse, '.3f')}",
            f"  ELBO              {fmt(self.elbo, ',.6g')} ± {fmt(self.elbo_se, '.2g')}",
            f"  Pareto k-hat      {fmt(self.khat, '.2f')}",
        ]
        if self._draws is not None:
            lines.insert(2, f"  draws per step    {self.draws}")
        return "\n".join(lines)


def _coordinate_of_parameters(params, dim: int) -> np.ndarray:
    """For each element of the flattened parameters, the coordinate of theta it belongs to."""
    parts = []
    for name in sorted(params):  # the order of ravel_pytree on a dict
        leaf = np.asarray(params[name])
        if name == "L_tril":
            parts.append(np.tril_indices(dim)[0])
        elif leaf.ndim == 2 and leaf.shape[0] == dim:  # W (D, k)
            parts.append(np.repeat(np.arange(dim), leaf.shape[1]))
        elif leaf.ndim == 2:  # particles (N, D)
            parts.append(np.tile(np.arange(dim), leaf.shape[0]))
        else:
            parts.append(np.arange(leaf.size) % dim)
    return np.concatenate(parts)


def drifting_variables(approx, params, rhats, most: int = 3) -> tuple[str, ...]:
    """The model's variables whose parameters drift the most (largest R-hat first)."""
    if rhats is None:
        return ()
    coordinate = _coordinate_of_parameters(jax.device_get(params), approx.ndim)
    names = []
    for index in np.argsort(rhats)[::-1]:
        layout = next(v for v in approx.ravel.vars if v.offset <= coordinate[index] < v.offset + v.size)
        if layout.name not in names:
            names.append(layout.name)
        if len(names) == most:
            break
    return tuple(names)


def diagnose_at(approx, params):
    """A deferred :func:`diagnose` of ``approx`` at ``params`` (``None`` where k-hat cannot be computed)."""
    if approx.family.log_q is None or approx.batch_fn is not None:
        return None
    from varbayes.variational.api.diagnostics import diagnose

    return lambda: diagnose(approx, params=params, random_seed=0, warn=False)


def announce(report: Convergence, run, message, max_n, max_time, drifting=()) -> None:
    """Print how the fit ended (PyMC3's messages, with ``Converged at N`` for a stop); warn at a cap."""
    total = run.offset + run.done
    # the averaged window's mean loss is the -ELBO the report already holds
    average = -report.elbo if report.elbo is not None else _average(run.scores[: run.done])
    if report.reason == "converged":
        log.info(f"Converged at {total:,}: Average Loss = {average:,.5g}")
        return
    if report.reason == "callback" and message not in (None, "StopIteration"):
        log.info(message)
    log.info(f"Interrupted at {total:,}: Average Loss = {average:,.5g}")
    if report.reason in ("max_n", "max_time"):
        cap = f"max_n={max_n:,}" if report.reason == "max_n" else f"max_time={max_time} s"
        state = "stationary but not yet averaged to tolerance" if report.window else "not stationary"
        rhat = "n/a" if report.rhat is None else f"{report.rhat:.2f}"
        where = (
            f"; drifting most: {', '.join(repr(name) for name in drifting)} (a posterior that is improper or "
            "barely identified in them never settles)"
            if drifting
            else ""
        )
        warnings.warn(
            f"fit(n=None) stopped at {cap} before converging: the parameters were {state} "
            f"(R-hat {rhat}){where}. Raise {cap.split('=')[0]}, or see approx.convergence and "
            "approx.plot_hist().",
            UserWarning,
            stacklevel=4,
        )
