"""``Pathfinder`` and its approximation: multi-path Pathfinder with Pareto-smoothed importance resampling.

The computation is :mod:`varbayes.variational.core.pathfinder`: one compiled
program runs every path (L-BFGS, the ELBO of the normal at each iterate, the
best normal kept) and draws from each path's normal. Here the pooled draws
are weighted by ``p / q`` (``q`` the equal mixture of the paths' normals),
the weights Pareto-smoothed (PSIS, from arviz-stats, as ``diagnose`` does)
and ``num_draws`` draws resampled with replacement.

The result is an :class:`Empirical` approximation of the resampled draws, so
``sample``, ``sample_node``, ``mean``/``std``, ``summary`` and posterior
predictive sampling work as they do for any set of particles; it also keeps
every path's normal, so :meth:`PathfinderApproximation.diagnose` can compute
k̂ of ``p / q`` for the mixture the draws came from.
"""

from __future__ import annotations

import math
import os
import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from varbayes.compile import compile_model
from varbayes.config import default_seed
from varbayes.model.core import Model, modelcontext
from varbayes.variational.api.approximations import Approximation, Empirical
from varbayes.variational.api.diagnostics import KHAT_THRESHOLD, Diagnosis, smoothed_log_weights
from varbayes.variational.api.progress import log
from varbayes.variational.core import families
from varbayes.variational.core import pathfinder as core
from varbayes.variational.core.families import Family

__all__ = ["DEFAULT_MAXITER", "Pathfinder", "PathfinderApproximation"]

#: L-BFGS iterations per path of ``Pathfinder().fit(n=None)`` at most (Stan's default).
DEFAULT_MAXITER = 1000
_INIT_RETRIES = 20  # redraws of a jittered start where log p or its gradient is not finite
# warnings point at the user's line, not at the varbayes function that called fit
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Arguments of Inference.fit that have no meaning for Pathfinder, and why.
_NOT_FOR_PATHFINDER = {
    "callbacks": "it runs as one compiled program, with no iterations in Python to call back between",
    "obj_optimizer": "its optimizer is L-BFGS",
    "obj_n_mc": "set num_elbo_draws in the constructor (inf_kwargs) instead",
    "total_grad_norm_constraint": "L-BFGS takes line-searched steps, not clipped gradient steps",
    "more_replacements": "it needs the model's exact log-density; use pm.set_data to change data",
    "max_n": "n caps the L-BFGS iterations of each path",
    "max_time": "it runs as one compiled program that cannot be stopped midway",
    "checkpoint": "it runs as one compiled program, with nothing to resume",
    "checkpoint_every": "it runs as one compiled program, with nothing to resume",
    "resume": "it runs as one compiled program, with nothing to resume",
    "score": "its objective is fixed",
    "fn_kwargs": "it compiles to JAX, not to a PyTensor function",
}


class PathfinderApproximation(Empirical):
    """Draws resampled from the paths' normal approximations, with those normals kept.

    ``shared_params`` is ``{'histogram': (num_draws, D)}``, the resampled draws
    in the flat unconstrained space, as for any :class:`Empirical`.

    Attributes
    ----------
    hist : numpy.ndarray
        ``-ELBO`` of the normal at each L-BFGS iteration (the last 1024 at
        most) of the path whose kept normal has the highest ELBO.
    paths : PathInfo or None
        Per path (numpy arrays): ``elbo`` of the kept normal, ``elbo_trace``,
        ``iterations``, ``best_iteration``, ``grad_evals`` and ``status``
        (an index into ``varbayes.variational.core.pathfinder.STATUS``).
    normals : PathNormal or None
        Per path: the kept normal's factors.
    khat : float or None
        Pareto k̂ of the importance ratios of the pooled draws (below 0.7:
        the resampled draws can be trusted).
    ess : float or None
        Effective sample size of the smoothed importance weights of the pooled draws.

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model():
    ...     x = pm.Normal("x", 1.0, 2.0, shape=2)
    ...     approx = pm.fit(method="pathfinder", progressbar=False, random_seed=1)
    >>> approx.histogram.get_value().shape
    (1000, 2)
    >>> bool(approx.khat < 0.7)
    True
    """

    def __init__(
        self, model: Model | None = None, *, size: int = 1000, start=None, random_seed: int | None = None
    ):
        # Empirical's initialisation would draw jittered particles (a random draw compiled and
        # run for nothing): until the fit, the histogram holds copies of the start
        Approximation.__init__(self, model, start=start, random_seed=random_seed, family=_placeholder(size))
        self.family = families.particles(size, 0.0)
        self.paths = None
        self.normals = None
        self.khat = None
        self.ess = None

    @property
    def grad_evals(self) -> int:
        """Evaluations of ``log p`` with its gradient, summed over paths (0 before a fit)."""
        return 0 if self.paths is None else int(np.sum(self.paths.grad_evals))

    def diagnose(self, draws: int = 2000, random_seed: int | None = None) -> Diagnosis:
        """Pareto k̂ of ``p(θ)/q(θ)``, θ drawn afresh from the mixture of the paths' normals.

        ``q`` is what the resampled draws were drawn from; k̂ below 0.7 means
        importance resampling corrects it (see :func:`diagnostics.diagnose`).

        Examples
        --------
        >>> import varbayes as pm
        >>> with pm.Model():
        ...     mu = pm.Normal("mu", 0.0, 10.0)
        ...     y = pm.Normal("y", mu, 1.0, observed=[0.3, 1.2, 0.8])
        ...     approx = pm.fit(method="pathfinder", progressbar=False, random_seed=1)
        >>> approx.diagnose(random_seed=2).reliable
        True
        """
        if self.normals is None:
            raise RuntimeError("diagnose() needs the paths' normals: fit the approximation first")
        from varbayes.variational.api.diagnostics import diagnose

        return diagnose(_Proposal(_MIXTURE, self.compiled, self._proposal_params()), draws, random_seed)

    def _proposal_params(self) -> dict:
        return {
            "normals": jax.tree.map(jnp.asarray, self.normals),
            "kept": jnp.asarray(np.isfinite(self.paths.elbo)),
        }

    def __repr__(self) -> str:
        paths = 0 if self.paths is None else len(self.paths.elbo)
        draws = self.histogram.get_value().shape[0]
        return f"<PathfinderApproximation: {self.ndim} dimensions, {paths} paths, {draws} draws>"


def _placeholder(size: int) -> Family:
    def init(start, key):
        del key
        return {"histogram": np.tile(np.asarray(start, dtype=np.float64), (size, 1))}

    particles = families.particles(size, 0.0)
    return particles._replace(init=init)


class _Proposal(NamedTuple):
    """What :func:`diagnostics.diagnose` reads of an approximation, for the mixture of normals."""

    family: Family
    compiled: object
    jax_params: dict


def _mixture_sample(params, key, n):
    normals, kept = params["normals"], params["kept"]
    n_paths = kept.shape[0]
    path_key, draw_key = jax.random.split(key)
    which = jax.random.choice(path_key, n_paths, (n,), p=kept / jnp.sum(kept))
    draws, _ = jax.vmap(lambda normal, k: core.sample(normal, k, n))(
        normals, jax.random.split(draw_key, n_paths)
    )
    return draws[which, jnp.arange(n)]


def _mixture_log_q(params, x):
    return core.mixture_log_q(params["normals"], params["kept"], x)


def _mixture_mean(params):
    means = jax.vmap(core.mean)(params["normals"])
    weights = params["kept"] / jnp.sum(params["kept"])
    return weights @ means


# one family object, so diagnose's compiled program is cached across approximations of a model
_MIXTURE = Family("pathfinder_mixture", None, _mixture_sample, _mixture_log_q, None, _mixture_mean, None)


def _positive_int(name: str, value, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be at least {low}, got {value}")
    return int(value)


def _positive_float(name: str, value, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(
            f"{name} must be a finite {'non-negative' if allow_zero else 'positive'} number, got {value}"
        )
    return value


class Pathfinder:
    """Multi-path Pathfinder (Zhang, Carpenter, Gelman & Vehtari 2022).

    Each path runs L-BFGS on ``log p`` from a jittered start, estimates the
    ELBO of the normal approximation at every iterate (the L-BFGS inverse
    Hessian as covariance) and keeps the best; all paths run in one compiled
    program (vectorised on an accelerator, see ``vectorize``). Draws from every path's normal are pooled,
    weighted by ``p / q`` against the mixture of the normals, Pareto-smoothed,
    and ``num_draws`` of them resampled: the result is a
    :class:`PathfinderApproximation`.

    Pathfinder needs exact log-densities and gradients (its line search
    compares them), so a model with a ``Minibatch`` is refused.

    Parameters
    ----------
    num_paths : int
        Number of paths (default 4).
    num_draws : int
        Draws kept after resampling (default 1000).
    num_draws_per_path : int
        Draws from each path's normal that are pooled and weighted (default 1000).
    maxcor : int
        L-BFGS history size; each normal's covariance is a diagonal plus a
        rank ``2 * maxcor`` term (default 5, as Stan).
    num_elbo_draws : int
        Draws per ELBO estimate along the path (default 25, as Stan).
    jitter : float
        Each path starts at the initial point plus uniform noise in
        ``(-jitter, jitter)`` in the unconstrained space (default 2, as
        Stan's init radius); ``0`` starts every path at the initial point.
    ftol : float
        A path stops when an iteration changes ``log p`` by at most
        ``ftol * max(|log p|, 1)``.
    gtol : float
        A path stops when the gradient's norm is at most ``gtol``.
    maxls : int
        Most line-search trials per L-BFGS iteration.
    vectorize : bool, optional
        Run the paths vectorised (``jax.vmap``, in parallel on an
        accelerator) or one after another, in the same compiled program
        either way. By default vectorised on a GPU or TPU and one after
        another on a CPU, where XLA gains nothing from batching them and
        compiles the batched program at about twice the cost (a second or
        more, most of a small model's whole call).
    model : Model, optional
        The model of the ``with`` block by default.
    start : dict, optional
        Initial point (variable or value-variable names) that the jittered starts surround.
    random_seed : int, optional
        Seed of the starts, the ELBO estimates, the draws and the resampling.

    Raises
    ------
    ValueError
        For a model whose log-density reads a ``Minibatch``, or out-of-range settings.
    TypeError
        For settings of the wrong type.

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model():
    ...     x = pm.Normal("x", 0.0, 1.0)
    ...     pathfinder = pm.Pathfinder(num_paths=2, random_seed=0)
    >>> approx = pathfinder.fit(progressbar=False)
    >>> approx.sample(100).posterior["x"].shape
    (1, 100)
    """

    def __init__(
        self,
        num_paths: int = 4,
        num_draws: int = 1000,
        num_draws_per_path: int = 1000,
        maxcor: int = 5,
        num_elbo_draws: int = 25,
        jitter: float = 2.0,
        ftol: float = 1e-10,
        gtol: float = 1e-8,
        maxls: int = 100,
        vectorize: bool | None = None,
        model: Model | None = None,
        start=None,
        random_seed: int | None = None,
    ):
        self.num_paths = _positive_int("num_paths", num_paths)
        self.num_draws = _positive_int("num_draws", num_draws)
        self.num_draws_per_path = _positive_int("num_draws_per_path", num_draws_per_path)
        self.maxcor = _positive_int("maxcor", maxcor)
        self.num_elbo_draws = _positive_int("num_elbo_draws", num_elbo_draws)
        self.maxls = _positive_int("maxls", maxls)
        self.jitter = _positive_float("jitter", jitter, allow_zero=True)
        self.ftol = _positive_float("ftol", ftol, allow_zero=True)
        self.gtol = _positive_float("gtol", gtol, allow_zero=True)
        if vectorize is not None and not isinstance(vectorize, (bool, np.bool_)):
            raise TypeError(f"vectorize must be True, False or None (by backend), got {vectorize!r}")
        self.vectorize = jax.default_backend() != "cpu" if vectorize is None else bool(vectorize)
        model = modelcontext(model)
        if compile_model(model).logdensity.batch_fn is not None:
            raise ValueError(
                "Pathfinder needs the model's exact log-density and gradient, but this model reads a "
                "Minibatch, whose every evaluation is a different random batch: L-BFGS line searches "
                "and ELBO comparisons on it would be noise, not a slower fit. Build the model on the "
                "full data (pass the arrays instead of pm.Minibatch), or use method='advi' or "
                "'fullrank_advi', which work with Minibatch"
            )
        self.seed = default_seed(random_seed)
        self.approx = PathfinderApproximation(model, size=self.num_draws, start=start, random_seed=self.seed)
        self._theta0 = self.approx._start_theta(start)

    def _program(self):
        """The compiled multi-path program (``maxiter`` is an argument), cached on the model's log-density."""
        settings = (
            self.num_draws_per_path,
            self.maxcor,
            self.num_elbo_draws,
            self.ftol,
            self.gtol,
            self.maxls,
            self.vectorize,
        )
        cache = self.approx.logdensity_cache
        key = ("pathfinder", settings)
        if key not in cache:
            run = core.multi_path(
                self.approx.logdensity_fn,
                self.num_draws_per_path,
                self.vectorize,
                maxcor=self.maxcor,
                num_elbo_draws=self.num_elbo_draws,
                ftol=self.ftol,
                gtol=self.gtol,
                maxls=self.maxls,
            )
            cache[key] = jax.jit(run)
        return cache[key]

    def _run(self, rng: np.random.Generator, data, maxiter: int) -> core.MultiPathResult:
        """Run the paths from jittered starts; redraw the starts where log p is not finite.

        A path whose start has no finite ``log p`` or gradient stops at once
        (status 3, no iteration); those starts are drawn again and the
        program rerun (its other paths keep their starts and keys, so their
        results do not change). Checking the starts inside the program spares
        a second compiled program for the common case where all are finite.
        """
        program = self._program()
        key = jax.random.key(self.seed)
        base = np.asarray(self._theta0, dtype=np.float64)
        starts = base + rng.uniform(-self.jitter, self.jitter, size=(self.num_paths, base.size))
        for _ in range(_INIT_RETRIES if self.jitter > 0 else 1):
            result = jax.device_get(program(key, jnp.asarray(starts), data, maxiter))
            bad = (np.asarray(result.info.status) == core.STATUS.index("non-finite log p")) & (
                np.asarray(result.info.iterations) == 0
            )
            if not bad.any():
                break
            starts[bad] = base + rng.uniform(-self.jitter, self.jitter, size=(int(bad.sum()), base.size))
        if bad.all():
            raise FloatingPointError(
                f"log p or its gradient is not finite at any of the {self.num_paths} starting points of "
                f"Pathfinder (the initial point jittered by up to {self.jitter:g}, "
                f"{_INIT_RETRIES} tries each): check model.point_logps(), pass start=, or lower jitter"
            )
        # a start still not finite leaves its path without a normal; the others carry the fit
        return result

    def fit(self, n: int | None = None, progressbar: bool = True, **kwargs) -> PathfinderApproximation:
        """Run every path and resample; return the :class:`PathfinderApproximation`.

        Parameters
        ----------
        n : int or None
            The most L-BFGS iterations of each path (a path stops earlier
            when converged, see ``ftol`` and ``gtol``); ``None`` is 1000.
        progressbar : bool
            Print a summary line when done (the paths run as one compiled
            program, so there is no progress to show while they run).

        Returns
        -------
        PathfinderApproximation

        Raises
        ------
        TypeError
            For arguments of ``Inference.fit`` that Pathfinder has no use
            for (``callbacks``, ``obj_optimizer``, ...), or a non-integer ``n``.
        ValueError
            For ``n < 1``.
        FloatingPointError
            When log p is not finite at any start, or no path found a
            normal with a finite ELBO.

        Warns
        -----
        UserWarning
            When the Pareto k̂ of the pooled draws is at or above 0.7.

        Examples
        --------
        >>> import varbayes as pm
        >>> with pm.Model():
        ...     x = pm.Normal("x", 0.0, 1.0)
        ...     approx = pm.Pathfinder(random_seed=0).fit(50, progressbar=False)
        >>> int(approx.paths.iterations.max()) <= 50
        True
        """
        for name in kwargs:
            if name in _NOT_FOR_PATHFINDER:
                raise TypeError(f"Pathfinder does not take {name}=: {_NOT_FOR_PATHFINDER[name]}")
            raise TypeError(f"Pathfinder.fit() got an unexpected keyword argument {name!r}")
        if n is None:
            maxiter = DEFAULT_MAXITER
        else:
            if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
                raise TypeError(
                    "n must be an int (the most L-BFGS iterations of each path) or None "
                    f"({DEFAULT_MAXITER}), got {n!r}"
                )
            if n < 1:
                raise ValueError(
                    f"n is the most L-BFGS iterations of each path and must be at least 1, got {n}"
                )
            maxiter = int(n)
        approx = self.approx
        rng = np.random.default_rng(self.seed)
        result = self._run(rng, approx.logdensity_data(), maxiter)
        kept = np.isfinite(result.info.elbo)
        if not kept.any():
            raise FloatingPointError(
                f"Pathfinder found no normal approximation with a finite ELBO on any of its {self.num_paths} "
                "paths: log p is not finite at or around the starting points or along the L-BFGS paths. "
                "Check model.point_logps(), pass start=, or lower jitter"
            )
        draws, khat, ess = _resample(result, self.num_draws, rng)
        approx.set_params({"histogram": jnp.asarray(draws)})
        approx.paths = result.info
        approx.normals = result.normals
        approx.khat, approx.ess = khat, ess
        best = int(np.argmax(np.where(kept, result.info.elbo, -np.inf)))
        trace = np.asarray(core.elbo_history(jax.tree.map(lambda a: a[best], result.info)))
        approx.hist = np.where(np.isfinite(trace), -trace, np.nan)
        if progressbar:
            log.info(_summary(result.info, khat))
        if khat >= KHAT_THRESHOLD:
            warnings.warn(
                f"Pathfinder: Pareto k-hat = {khat:.2f} >= {KHAT_THRESHOLD}. The paths' normal "
                "approximations miss part of the posterior (another mode, heavier tails or a skewed "
                "shape), so the resampled draws can be off (importance-sampling ESS "
                f"{ess:.0f} of {result.draws.shape[0]} pooled draws). "
                "Try more paths (num_paths), FullRankADVI, or NUTS started from these draws "
                "(pm.sample(init='pathfinder')).",
                UserWarning,
                skip_file_prefixes=(_PACKAGE_DIR,),
            )
        return approx

    def refine(self, *args, **kwargs):
        """Not available: Pathfinder runs each path to convergence in one fit."""
        raise TypeError(
            "Pathfinder has nothing to refine: each fit runs its paths to convergence; "
            "call fit() with a larger n"
        )

    def __repr__(self) -> str:
        return f"<Pathfinder: {self.num_paths} paths of {self.approx!r}>"


def _resample(result: core.MultiPathResult, num_draws: int, rng: np.random.Generator):
    """``(draws, khat, ess)``: Pareto-smoothed importance resampling of the pooled draws."""
    log_ratios = np.asarray(result.log_density - result.log_q, dtype=np.float64)
    # a draw where log p is not finite, or from a path that kept no normal, carries no weight
    log_ratios = np.where(np.isnan(log_ratios), -np.inf, log_ratios)
    log_weights, khat = smoothed_log_weights(log_ratios)
    weights = np.exp(log_weights - np.max(log_weights))
    weights /= weights.sum()
    ess = float(1.0 / np.sum(weights**2))
    index = rng.choice(weights.size, size=num_draws, replace=True, p=weights)
    return np.asarray(result.draws)[index], khat, ess


def _summary(info: core.PathInfo, khat: float) -> str:
    iterations = np.asarray(info.iterations)
    stops = sorted({core.STATUS[int(s)] for s in info.status})
    return (
        f"Pathfinder: {len(iterations)} paths, {iterations.min()}-{iterations.max()} L-BFGS iterations "
        f"({'; '.join(stops)}), {int(np.sum(info.grad_evals)):,} gradient evaluations; "
        f"Pareto k-hat = {khat:.2f}"
    )
