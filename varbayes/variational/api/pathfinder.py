"""``Pathfinder`` and its approximation: multi-path Pathfinder with Pareto-smoothed importance resampling.

The computation is :mod:`varbayes.variational.core.pathfinder`: one compiled
program runs every path (L-BFGS, the ELBO of the normal at each iterate, the
best normal kept) and draws from each path's normal; with
``importance="adaptive"`` (the default) a second compiled program refines
the mixture of the paths' normals by adaptive importance sampling
(:mod:`varbayes.variational.core.importance`) when it is too narrow for
importance sampling (only then: a fit that does not need it does not
compile it). Here the final pool of draws is weighted by ``p / q``
(``q`` the proposal it came from), the weights Pareto-smoothed (PSIS, from
arviz-stats, as ``diagnose`` does) and ``num_draws`` draws resampled with
replacement.

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
from varbayes.stored import StoredProgram, fingerprint_function
from varbayes.config import default_seed
from varbayes.model.core import Model, modelcontext
from varbayes.variational.api.approximations import Approximation, Empirical
from varbayes.variational.api.diagnostics import KHAT_THRESHOLD, Diagnosis, smoothed_log_weights
from varbayes.variational.api.progress import log
from varbayes.variational.core import families, importance, proposals
from varbayes.variational.core import pathfinder as core
from varbayes.variational.core.families import Family

__all__ = ["DEFAULT_MAXITER", "IMPORTANCE", "Pathfinder", "PathfinderApproximation"]

#: L-BFGS iterations per path of ``Pathfinder().fit(n=None)`` at most (Stan's default).
DEFAULT_MAXITER = 1000
#: What ``Pathfinder(importance=...)`` accepts: how the pooled draws become the result.
IMPORTANCE = ("adaptive", "psis", None)
_REFINE_STREAM = 1_000_003  # folded into the seed's key for the refinement's draws
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
        Pareto k̂ of the importance ratios of the final pool of draws against
        the proposal they came from (below 0.7: the resampled draws can be
        trusted).
    ess : float or None
        Effective sample size of the smoothed importance weights of that pool.
    importance : str or None
        How the draws were made: ``'adaptive'``, ``'psis'`` or ``None`` (see :class:`Pathfinder`).
    rounds : int
        Rounds of the adaptive refinement that ran (0 when the paths' mixture
        passed at once, or without the refinement).
    round_khat, round_ess : numpy.ndarray or None
        k̂ and effective sample size of the pool after each round (index 0:
        the paths' pooled draws alone); ``None`` without the refinement.
    components : StudentT or None
        The refinement's Student-t proposals, those of the rounds that the
        final pool includes (leading axis: rounds).

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
        self.importance = None
        self.rounds = 0
        self.round_khat = None
        self.round_ess = None
        self.components = None
        self._log_density_evals = 0

    @property
    def grad_evals(self) -> int:
        """Evaluations of ``log p`` with its gradient, summed over paths (0 before a fit)."""
        return 0 if self.paths is None else int(np.sum(self.paths.grad_evals))

    @property
    def log_density_evals(self) -> int:
        """Evaluations of ``log p`` without a gradient (0 before a fit).

        The ELBO estimates along the paths (``num_elbo_draws`` at each
        iterate), the pooled draws, and the adaptive refinement's draws.
        """
        return self._log_density_evals

    def diagnose(self, draws: int = 2000, random_seed: int | None = None) -> Diagnosis:
        """Pareto k̂ of ``p(θ)/q(θ)``, θ drawn afresh from the final proposal.

        ``q`` is what the resampled draws were drawn from: the mixture of the
        paths' normals, or, after an adaptive refinement, the equal mixture of
        it and the refinement's Student-t proposals that the final pool
        includes. k̂ below 0.7 means importance resampling corrects it (see
        :func:`diagnostics.diagnose`).

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

        if self.components is None or self.rounds_kept == 0:
            return diagnose(_Proposal(proposals.PATHS_MIXTURE, self.compiled, self._proposal_params()), draws, random_seed)
        params = {**self._proposal_params(), "components": jax.tree.map(jnp.asarray, self.components)}
        return diagnose(_Proposal(proposals.REFINED_MIXTURE, self.compiled, params), draws, random_seed)

    @property
    def rounds_kept(self) -> int:
        """Refinement rounds whose draws the final pool includes (0: the paths' mixture alone)."""
        return 0 if self.components is None else int(self.components.mean.shape[0])

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
        return {"histogram": jnp.tile(jnp.asarray(start, dtype=jnp.result_type(float)), (size, 1))}

    particles = families.particles(size, 0.0)
    return particles._replace(init=init)


class _Proposal(NamedTuple):
    """What :func:`diagnostics.diagnose` reads of an approximation, for the mixture of normals."""

    family: Family
    compiled: object
    jax_params: dict




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

    The paths' normals can be much narrower than the posterior (on
    hierarchical models and Gaussian processes, sd ratios of 0.1-0.3), and
    then no amount of resampling from them recovers it (k̂ above 0.7). With
    ``importance="adaptive"`` a second compiled program refines the proposal
    in that case by adaptive importance sampling: rounds of draws from a Student-t
    fitted to the weighted draws so far, every draw weighted against the
    mixture of all the proposals, until k̂ is below 0.7 with at least a
    quarter of a round's draws as effective sample size
    (:func:`varbayes.variational.core.importance.adaptive`). It evaluates
    ``log p`` only, no gradients, and costs nothing, not even its
    compilation, when the k̂ of the paths' pooled draws is below 0.7.

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
    importance : {'adaptive', 'psis', None}
        How the pooled draws become the result. ``'adaptive'`` (default):
        Pareto-smoothed importance resampling, after refining the proposal
        when the k̂ of the paths' pooled draws is 0.7 or more (above). ``'psis'``: Pareto-smoothed
        importance resampling of the paths' pooled draws, as in the paper.
        ``None``: ``num_draws`` of the pooled draws taken uniformly, with no
        weights (the mixture of the paths' normals itself; k̂ is still
        computed and reported).
    importance_rounds : int
        Most rounds of the adaptive refinement (default 16), each of
        ``num_paths * num_draws_per_path`` draws.
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
        importance: str | None = "adaptive",
        importance_rounds: int = 16,
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
        if importance not in IMPORTANCE or isinstance(importance, bool):
            raise ValueError(
                f"importance must be 'adaptive' (refine the paths' mixture when k-hat >= 0.7, then "
                f"resample), 'psis' (resample the paths' draws) or None (no weights), got {importance!r}"
            )
        self.importance = importance
        self.importance_rounds = _positive_int("importance_rounds", importance_rounds)
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

    def _refine_program(self):
        """The compiled refinement (a program of its own: compiled only by fits that need it)."""
        settings = (self.num_paths * self.num_draws_per_path, self.importance_rounds)
        cache = self.approx.logdensity_cache
        key = ("pathfinder_refine", settings)
        if key not in cache:
            program = jax.jit(core.refine(self.approx.logdensity_fn, *settings))
            cache[key] = StoredProgram(program, key, lambda key, result, data: self._fingerprint()(data))
        return cache[key]

    def _fingerprint(self):
        """A hash of the log-density the programs read, per shapes of its data (:mod:`varbayes.stored`)."""
        cache = self.approx.logdensity_cache
        if "fingerprint" not in cache:
            import pytensor

            cache["fingerprint"] = fingerprint_function(self.approx.logdensity_fn, self.approx.ndim, pytensor.config.floatX)
        return cache["fingerprint"]

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
            # kept on disk across processes (varbayes.stored), found by its settings and the log-density
            cache[key] = StoredProgram(jax.jit(run), key, lambda key, starts, data, maxiter: self._fingerprint()(data))
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
            For ``n < 1``, or ``devices`` other than ``None`` or 1 (it runs
            on one device).
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
        devices = kwargs.pop("devices", None)
        one = devices is None or (
            isinstance(devices, (int, np.integer)) and not isinstance(devices, (bool, np.bool_)) and devices == 1
        ) or (isinstance(devices, (list, tuple)) and len(devices) == 1)
        if not one:
            # its paths and resampling are one program on the default device; the rows of the
            # data are not split (pm.fit's devices= applies to the stochastic-gradient methods)
            raise ValueError(
                f"Pathfinder runs on one device: devices={devices!r} is not supported (pass None, 1 or one device)"
            )
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
        refinement = None
        if self.importance == "adaptive" and _needs_refinement(result):
            key = jax.random.fold_in(jax.random.key(self.seed), _REFINE_STREAM)
            refinement = jax.device_get(self._refine_program()(key, result, approx.logdensity_data()))
        pool = _final_pool(result, refinement)
        draws, khat, ess = _resample(*pool, self.num_draws, rng, weighted=self.importance is not None)
        approx.set_params({"histogram": jnp.asarray(draws)})
        approx.paths = result.info
        approx.normals = result.normals
        approx.khat, approx.ess = khat, ess
        approx.importance = self.importance
        pooled = result.draws.shape[0]
        elbo_evals = int(np.sum(result.info.iterations)) * self.num_elbo_draws
        approx.rounds, approx.round_khat, approx.round_ess, approx.components = 0, None, None, None
        if refinement is not None:
            approx.rounds = int(refinement.rounds)
            approx.round_khat = np.asarray(refinement.khat[: approx.rounds + 1])
            approx.round_ess = np.asarray(refinement.ess[: approx.rounds + 1])
            kept_rounds = int(refinement.selected)
            approx.components = jax.tree.map(lambda a: np.asarray(a[:kept_rounds]), refinement.components)
        approx._log_density_evals = elbo_evals + pooled * (1 + approx.rounds)
        best = int(np.argmax(np.where(kept, result.info.elbo, -np.inf)))
        trace = np.asarray(core.elbo_history(jax.tree.map(lambda a: a[best], result.info)))
        approx.hist = np.where(np.isfinite(trace), -trace, np.nan)
        if progressbar:
            log.info(_summary(result.info, khat, approx))
        if khat >= KHAT_THRESHOLD:
            refined = (
                f" after {approx.rounds} rounds of adaptive importance sampling"
                if self.importance == "adaptive"
                else ""
            )
            warnings.warn(
                f"Pathfinder: Pareto k-hat = {khat:.2f} >= {KHAT_THRESHOLD}{refined}. The proposal "
                "misses part of the posterior (another mode, heavier tails or a skewed "
                "shape), so the resampled draws can be off (importance-sampling ESS "
                f"{ess:.0f} of {pool[0].shape[0]} pooled draws). "
                "Try more paths (num_paths), importance='adaptive' with more importance_rounds, "
                "FullRankADVI, or NUTS started from these draws (pm.sample(init='pathfinder')).",
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


def _needs_refinement(result: core.MultiPathResult) -> bool:
    """Whether the paths' pooled draws fail k̂ (only then is the refinement compiled and run)."""
    log_ratios = np.asarray(result.log_density - result.log_q, dtype=np.float64)
    _, khat = smoothed_log_weights(np.where(np.isnan(log_ratios), -np.inf, log_ratios))
    # nan: the ratios' tail could not be fitted, no sign that resampling will do
    return not khat < importance.KHAT_THRESHOLD


def _final_pool(result: core.MultiPathResult, refinement) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(draws, log p, log q)`` of the pool to resample: the paths' draws, or the refinement's selected pool."""
    if refinement is None:
        return np.asarray(result.draws), np.asarray(result.log_density), np.asarray(result.log_q)
    size = (int(refinement.selected) + 1) * result.draws.shape[0]
    return (
        np.asarray(refinement.draws[:size]),
        np.asarray(refinement.log_density[:size]),
        np.asarray(refinement.log_q[:size]),
    )


def _resample(draws, log_density, log_q, num_draws: int, rng: np.random.Generator, weighted: bool = True):
    """``(draws, khat, ess)``: Pareto-smoothed importance resampling of a pool of draws.

    Unweighted, the draws of paths that kept a normal are taken uniformly;
    k̂ and the ESS are those of the weights all the same.
    """
    log_ratios = np.asarray(log_density - log_q, dtype=np.float64)
    # a draw where log p is not finite, or from a path that kept no normal, carries no weight
    log_ratios = np.where(np.isnan(log_ratios), -np.inf, log_ratios)
    log_weights, khat = smoothed_log_weights(log_ratios)
    weights = np.exp(log_weights - np.max(log_weights))
    weights /= weights.sum()
    ess = float(1.0 / np.sum(weights**2))
    if not weighted:
        weights = np.isfinite(log_q).astype(np.float64)
        weights /= weights.sum()
    index = rng.choice(weights.size, size=num_draws, replace=True, p=weights)
    return np.asarray(draws)[index], khat, ess


def _summary(info: core.PathInfo, khat: float, approx: PathfinderApproximation) -> str:
    iterations = np.asarray(info.iterations)
    stops = sorted({core.STATUS[int(s)] for s in info.status})
    refined = ""
    if approx.round_khat is not None and approx.rounds > 0:
        refined = (
            f"; adaptive importance sampling: {approx.rounds} rounds, k-hat "
            f"{approx.round_khat[0]:.2f} -> {khat:.2f}"
        )
    return (
        f"Pathfinder: {len(iterations)} paths, {iterations.min()}-{iterations.max()} L-BFGS iterations "
        f"({'; '.join(stops)}), {int(np.sum(info.grad_evals)):,} gradient evaluations, "
        f"{approx.log_density_evals:,} log-density evaluations{refined}; Pareto k-hat = {khat:.2f}"
    )
