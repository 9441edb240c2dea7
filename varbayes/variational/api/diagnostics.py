"""Using a fitted approximation: summaries, a Pareto-k̂ check of q against p, loss plots.

``diagnose`` follows Yao, Vehtari, Simpson & Gelman (2018), "Yes, but did it
work?": draw θ ~ q in the unconstrained space, form the log importance ratios
``log p(θ) - log q(θ)`` and fit a generalised Pareto distribution to their
largest values (PSIS, from arviz-stats). The shape estimate k̂ says how heavy
the ratios' tail is; above 0.7, importance-sampling estimates, and the
approximation's own, are not to be trusted. Like any check built on draws
from q, it is blind to posterior mass q never reaches: ADVI locked on one
mode of a well-separated mixture gets a small k̂.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import jax
import numpy as np

from varbayes.config import default_seed

__all__ = ["Diagnosis", "KHAT_THRESHOLD", "diagnose", "smoothed_log_weights", "summary", "plot_hist"]

#: k̂ at or above which an approximation is flagged as unreliable.
KHAT_THRESHOLD = 0.7


class Diagnosis(NamedTuple):
    """Result of :func:`diagnose`.

    Attributes
    ----------
    khat : float
        Pareto k̂ of the importance ratios ``p(θ)/q(θ)``, θ ~ q.
    reliable : bool
        ``khat < 0.7``.
    verdict : str
        What the value means, in plain words.
    ess : float
        Effective sample size of the Pareto-smoothed importance weights
        (near ``draws`` when q matches p; small when a few draws carry the weight).
    draws : int
        Number of draws the estimate used.
    """

    khat: float
    reliable: bool
    verdict: str
    ess: float
    draws: int

    def __str__(self) -> str:
        return self.verdict


def _check_draws(draws) -> int:
    if isinstance(draws, bool) or not isinstance(draws, (int, np.integer)):
        raise TypeError(f"draws must be an integer, got {draws!r}")
    if draws < 10:
        raise ValueError(f"draws must be at least 10 to fit a Pareto tail, got {draws}")
    return int(draws)


def _log_ratio_program(approx):
    family = approx.family
    compiled = approx.compiled
    cache = compiled.logdensity.cache
    key = ("diagnose_log_ratios", family.sample, family.log_q)
    program = cache.get(key)
    if program is None:
        logdensity_fn = compiled.logdensity.fn

        def log_ratios(params, rng_key, data, draws):
            theta = family.sample(params, rng_key, draws)
            log_p = jax.vmap(lambda t: logdensity_fn(t, data))(theta)
            log_q = jax.vmap(lambda t: family.log_q(params, t))(theta)
            return log_p - log_q

        program = jax.jit(log_ratios, static_argnums=3)
        cache[key] = program
    return program


def _verdict(khat: float, ess: float, draws: int) -> str:
    if khat < KHAT_THRESHOLD:
        return (
            f"reliable: Pareto k-hat = {khat:.2f} < {KHAT_THRESHOLD}. Where the approximation "
            f"draws, the posterior has no heavier tail than it, so importance weights p/q are "
            f"well behaved (importance-sampling ESS {ess:.0f} of {draws} draws). k-hat cannot see "
            f"posterior mass that q never reaches, such as a distant second mode."
        )
    return (
        f"unreliable: Pareto k-hat = {khat:.2f} >= {KHAT_THRESHOLD}. The posterior puts mass "
        f"where the approximation has almost none (another mode, heavier tails or a different "
        f"shape), so means, sds, intervals and tail probabilities from it can be badly off "
        f"(importance-sampling ESS {ess:.0f} of {draws} draws). Try FullRankADVI or SVGD, a "
        f"longer fit, or NUTS (pm.sample)."
    )


def smoothed_log_weights(log_ratios: np.ndarray) -> tuple[np.ndarray, float]:
    """Pareto-smoothed log weights of log importance ratios ``log p - log q`` (1-D), and k̂.

    Ratios that are all equal to rounding, as when q is p up to normalisation
    (a normal fitted to a normal posterior), have no tail to fit: PSIS would
    fail on them or return NaN. Their weights are equal and k̂ is ``-inf``.

    Examples
    --------
    >>> import numpy as np
    >>> _, khat = smoothed_log_weights(np.full(100, 2.0))
    >>> khat
    -inf
    >>> _, khat = smoothed_log_weights(np.random.default_rng(0).normal(size=1000))
    >>> bool(khat < 0.7)
    True
    """
    finite = log_ratios[np.isfinite(log_ratios)]
    if finite.size and np.ptp(finite) <= 1e-12 * max(1.0, float(np.max(np.abs(finite)))):
        return np.where(np.isfinite(log_ratios), -np.log(finite.size), -np.inf), float("-inf")
    from arviz_stats.base import array_stats

    # psislw takes the negative log ratios (the convention of arviz-stats' loo).
    log_weights, khat = array_stats.psislw(-log_ratios, r_eff=1.0, axis=-1)
    return np.asarray(log_weights), float(khat)


def diagnose(approx, draws: int = 2000, random_seed: int | None = None, params=None, warn: bool = True) -> Diagnosis:
    """Check how well ``q`` matches the posterior with Pareto-smoothed importance sampling.

    Draws θ ~ q in the flat unconstrained space, computes the log importance
    ratios ``log p(θ) - log q(θ)`` (the model's compiled log-density and the
    family's ``log_q``, vectorised in one JAX call) and their Pareto k̂.

    Parameters
    ----------
    approx : Approximation
        A parametric approximation (``MeanField``, ``FullRank``, ``LowRank``).
    draws : int
        Number of draws from q (at least 10; a few thousand give a stable k̂).
    random_seed : int, optional
        Seed of the draws.
    params : dict, optional
        Parameters of q to diagnose instead of the approximation's current ones.
    warn : bool
        Warn when k̂ is at or above 0.7.

    Returns
    -------
    Diagnosis
        ``khat``, ``reliable`` (``khat < 0.7``), a plain-language ``verdict``,
        the importance-sampling ``ess`` and ``draws``.

    Raises
    ------
    TypeError
        For an ``Empirical`` approximation (particles have no density q(θ)),
        or a non-integer ``draws``.
    ValueError
        For ``draws < 10``, or a model whose log-density reads a Minibatch
        (a noisy estimate of log p cannot give importance weights).

    Warns
    -----
    UserWarning
        When ``khat >= 0.7``, with the verdict.

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model():
    ...     mu = pm.Normal("mu", 0.0, 10.0)
    ...     y = pm.Normal("y", mu, 1.0, observed=[0.3, 1.2, 0.8])
    ...     approx = pm.fit(5000, progressbar=False, random_seed=1)
    >>> approx.diagnose(random_seed=2).reliable
    True
    """
    if approx.family.log_q is None:
        raise TypeError(
            f"diagnose needs the density q(theta) of the approximation; {type(approx).__name__} "
            "is a set of particles or draws with no density. Use it on MeanField, FullRank or LowRank."
        )
    draws = _check_draws(draws)
    if approx.compiled.logdensity.batch_fn is not None:
        raise ValueError(
            "diagnose needs the model's full log-density, but this model reads a Minibatch "
            "(its log-density is a noisy estimate); build the model on the full data to diagnose"
        )
    key = jax.random.key(default_seed(random_seed))
    program = _log_ratio_program(approx)
    params = approx.jax_params if params is None else params
    log_ratios = np.asarray(program(params, key, approx.compiled.logdensity.data(), draws))
    # A draw where log p overflows carries no usable weight rather than breaking the fit.
    log_ratios = np.where(np.isnan(log_ratios), -np.inf, log_ratios)
    log_weights, khat = smoothed_log_weights(log_ratios)
    weights = np.exp(np.asarray(log_weights) - np.max(log_weights))
    weights /= weights.sum()
    ess = float(1.0 / np.sum(weights**2))
    verdict = _verdict(khat, ess, draws)
    reliable = bool(khat < KHAT_THRESHOLD)
    if warn and not reliable:
        warnings.warn(verdict, UserWarning, stacklevel=3)
    return Diagnosis(khat, reliable, verdict, ess, draws)


def summary(approx, draws: int = 2000, random_seed: int | None = None, ci_prob: float | None = None,
            ci_kind: str = "hdi", round_to="none"):
    """Per-element mean, sd and credible interval of the constrained variables under q.

    Summarises ``approx.sample(draws)`` with :func:`arviz_stats.summary`
    (``kind='stats'``): one row per element of every free variable and
    deterministic, named like ``x[0]`` or by the model's coords.

    Parameters
    ----------
    approx : Approximation
        Any approximation, including ``Empirical``.
    draws : int
        Number of draws from q.
    random_seed : int, optional
        Seed of the draws.
    ci_prob : float, optional
        Probability of the interval; arviz' default (0.89) when ``None``.
    ci_kind : {'hdi', 'eti'}
        Highest-density or equal-tailed interval.
    round_to : int or 'none'
        Rounding, as in :func:`arviz_stats.summary`; unrounded floats by default.

    Returns
    -------
    pandas.DataFrame
        Columns ``mean``, ``sd`` and the interval's bounds (e.g. ``hdi89_lb``, ``hdi89_ub``).

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model():
    ...     x = pm.Normal("x", 1.0, 2.0, shape=2)
    ...     approx = pm.fit(3000, progressbar=False, random_seed=1)
    >>> list(approx.summary(random_seed=0).index)
    ['x[0]', 'x[1]']
    """
    if ci_kind not in ("hdi", "eti"):
        raise ValueError(f"ci_kind must be 'hdi' or 'eti', got {ci_kind!r}")
    if ci_prob is not None and not 0.0 < float(ci_prob) < 1.0:
        raise ValueError(f"ci_prob must be in (0, 1), got {ci_prob!r}")
    import arviz_stats

    samples = approx.sample(draws, random_seed=random_seed)
    return arviz_stats.summary(samples, kind="stats", ci_prob=ci_prob, ci_kind=ci_kind, round_to=round_to)


def _rolling_mean(values: np.ndarray, window: int) -> np.ndarray:
    cumulative = np.cumsum(np.insert(values, 0, 0.0))
    return (cumulative[window:] - cumulative[:-window]) / window


def plot_hist(approx, ax=None, smooth: int | None = None, **kwargs):
    """Plot the loss (``-ELBO`` estimate) of every iteration, with a rolling mean.

    After ``fit(n=None)`` the plot also shades the stationary window whose
    iterate average the fit returned, marks where it stopped and where the
    schedule started new windows (``approx.convergence.events``).

    Parameters
    ----------
    approx : Approximation
        A fitted approximation (its ``hist`` is not empty).
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure's axes by default.
    smooth : int, optional
        Window (iterations) of the rolling mean drawn over the raw loss;
        ``len(hist) // 50`` (at least 1) by default; ``1`` draws the raw loss only.
    **kwargs
        Passed to ``ax.plot`` for the smoothed line.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import varbayes as pm
    >>> with pm.Model():
    ...     x = pm.Normal("x", 0.0, 1.0)
    ...     approx = pm.fit(1000, progressbar=False, random_seed=1)
    >>> ax = approx.plot_hist(smooth=50)
    """
    hist = np.asarray(approx.hist, dtype=float)
    if hist.size == 0:
        raise ValueError("the approximation has no loss history: fit it first")
    n = hist.size
    if smooth is None:
        smooth = max(1, n // 50)
    if isinstance(smooth, bool) or not isinstance(smooth, (int, np.integer)):
        raise TypeError(f"smooth must be a positive integer window, got {smooth!r}")
    if smooth < 1:
        raise ValueError(f"smooth must be a positive integer window, got {smooth}")
    smooth = int(min(smooth, n))
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots()
    iterations = np.arange(1, n + 1)
    finite = np.isfinite(hist)
    if smooth == 1:
        ax.plot(iterations, hist, **{"lw": 1.0, "label": "loss", **kwargs})
    else:
        ax.plot(iterations, hist, color="0.75", lw=0.5, label="loss")
        smoothed = _rolling_mean(np.where(finite, hist, np.nan), smooth)
        ax.plot(iterations[smooth - 1 :], smoothed, **{"lw": 1.5, "label": f"rolling mean ({smooth})", **kwargs})
        # the first iterations' loss is often orders of magnitude larger: frame the smoothed
        # curve after its first tenth
        settled = smoothed[len(smoothed) // 10 :]
        lo, hi = np.nanmin(settled), np.nanmax(settled)
        if np.isfinite(lo) and np.isfinite(hi) and hi > lo:
            pad = 0.05 * (hi - lo)
            ax.set_ylim(lo - pad, hi + pad)
    _mark_convergence(ax, approx.convergence)
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss (-ELBO)")
    ax.legend()
    return ax


def _mark_convergence(ax, report) -> None:
    """Shade the window a ``fit(n=None)`` averaged over; mark its stop and its step-size changes."""
    if report is None:
        return
    if report.window is not None:
        start, stop = report.window
        ax.axvspan(start + 1, stop, color="tab:green", alpha=0.15, label="stationary window (averaged)")
    label = {"converged": "converged", "max_n": "max_n reached", "max_time": "max_time reached"}.get(
        report.reason, report.reason
    )
    end = report.window[1] if report.window is not None else None
    if end is not None:
        ax.axvline(end, color="tab:green", lw=1.0, ls="--", label=label)
    for k, (iteration, _, _) in enumerate(report.events):
        ax.axvline(iteration, color="tab:orange", lw=0.6, ls=":", label="new window" if k == 0 else None)
