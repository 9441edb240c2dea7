"""The inference methods: ``KLqp`` and its ``ADVI`` / ``FullRankADVI``, ``SVGD`` and ``ASVGD``.

Each one says which step its loop runs (``_step``, a pure step of
:mod:`varbayes.variational.core.step`) and what ``fit(n=None)`` needs to
know of it; the fitting itself is :class:`~varbayes.variational.api.inference.Inference`'s.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import numpy as np

from varbayes.model.core import Model
from varbayes.variational.api.approximations import Approximation, Empirical, FullRank, MeanField
from varbayes.variational.api.inference import Inference, _model_and_seed
from varbayes.variational.core import asvgd_step, elbo_step, svgd_step
from varbayes.variational.core.convergence import StopRule
from varbayes.variational.core.draws import draws_per_step
from varbayes.variational.core.precondition import identity

__all__ = ["KLqp", "ADVI", "FullRankADVI", "SVGD", "ASVGD"]


class KLqp(Inference):
    """Minimise KL(q || p) for any parametric approximation (``-ELBO`` by reparameterisation).

    Parameters
    ----------
    approx : Approximation
        ``MeanField``, ``FullRank`` or ``LowRank``.
    stick_the_landing : bool
        Use the sticking-the-landing gradient estimator for the entropy.

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model():
    ...     x = pm.Normal("x", 1.0, 2.0)
    ...     inference = pm.KLqp(pm.FullRank(random_seed=0), stick_the_landing=True)
    >>> approx = inference.fit(500, progressbar=False)
    >>> len(approx.hist)
    500
    """

    def __init__(self, approx: Approximation, random_seed: int | None = None, stick_the_landing: bool = False):
        if isinstance(approx, Empirical):
            raise TypeError("KLqp needs a parametric approximation; use SVGD for particles")
        super().__init__(approx, random_seed=random_seed)
        self.stick_the_landing = stick_the_landing

    def _settings(self):
        return (*super()._settings(), self.stick_the_landing)

    @property
    def stop_rule(self) -> StopRule:
        """Thresholds of the stop rule of ``fit(n=None)``: the averaged means' MCSE to 0.1 sd for a mean field.

        The MCSE target is a fifth of what the family's answer can promise: a
        full-rank (or low-rank) normal can match a near-Gaussian posterior's
        means to a small fraction of a posterior sd, so its fit averages to
        0.05 sd; a mean-field normal's means are off by up to half a posterior
        sd wherever the posterior is correlated, so averaging it to 0.05 sd
        only lengthens the fit (a Minibatch regression: 139-144k iterations
        for 0.05, 24-35k for 0.1, both with errors of 0.02-0.04 sd).

        A window counts as stationary when its quarters agree to about that
        precision (``drift_floor`` twice the MCSE target), even while its
        R-hat is up to 2: Adam's iterates stay correlated over ~1 / step size
        iterations, far longer than the batch means R-hat is computed on, so
        on windows of a few hundred iterations R-hat sits at 1.3-2 while the
        quarters' means differ by a tenth of a posterior sd. A drift of more
        than ~0.3 sd (mean field) or ~0.2 sd (full rank) across the window,
        or a steady trend (R-hat near 3), does not pass.
        """
        mcse = 0.1 if self.approx.family.name == "mean_field" else 0.05
        return StopRule(mcse=mcse, drift_floor=2 * mcse, rhat_small_drift=2.0)

    def _auto_n_mc(self) -> None:
        # as many draws as cost little beside the rest of an iteration, chosen when the step
        # is traced from the log-density's cost (core.draws): on a cheap model the gradient's
        # noise, and the iterations averaging must wait it out, fall several times
        return None

    def _draws_report(self) -> Callable[[], int]:
        # the count the step chose when it was traced, computed again from the same log-density,
        # data shapes and rule on the host: a loop found on disk was not traced in this process
        n_mc = self._n_mc
        if n_mc is not None:
            return lambda: n_mc
        logdensity_fn, batch_fn = self._target()
        family, params, whiten = self.approx.family, self.approx.jax_params, self._whiten

        def draws() -> int:
            data = self.approx.logdensity_data()
            if whiten:
                data = (identity(family, params), data)
            if batch_fn is not None:
                data = jax.eval_shape(lambda d: batch_fn(jax.random.key(0), d, 0), data)
            return draws_per_step(logdensity_fn, family.mean(params), data)

        return draws

    def _step(self, optimizer, n_mc):
        logdensity_fn, batch_fn = self._target()
        # fit(n=None) uses the sticking-the-landing gradient for families with correlations:
        # its noise vanishes where q matches a near-Gaussian posterior, so the iterates settle
        # sooner. A mean-field q never matches a correlated posterior, and there it adds noise.
        stl = self.stick_the_landing or (self._whiten and self.approx.family.name != "mean_field")
        return elbo_step(self.approx.family, logdensity_fn, optimizer, n_mc, stl, batch_fn=batch_fn)


class ADVI(KLqp):
    """Automatic differentiation variational inference with a mean-field normal.

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model():
    ...     x = pm.Normal("x", 0.0, 1.0)
    ...     advi = pm.ADVI()
    >>> sorted(advi.approx.shared_params)
    ['mu', 'rho']
    """

    def __init__(self, model: Model | None = None, random_seed: int | None = None, start=None, **kwargs):
        model, seed = _model_and_seed(model, random_seed)
        super().__init__(MeanField(model, start=start, random_seed=seed), random_seed=seed + 1, **kwargs)


class FullRankADVI(KLqp):
    """ADVI with a full-rank (correlated) normal approximation.

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model():
    ...     x = pm.MvNormal("x", mu=[0.0, 0.0], cov=[[1.0, 0.5], [0.5, 1.0]])
    ...     inference = pm.FullRankADVI(random_seed=0)
    >>> sorted(inference.approx.shared_params)
    ['L_tril', 'mu']
    """

    def __init__(self, model: Model | None = None, random_seed: int | None = None, start=None, **kwargs):
        model, seed = _model_and_seed(model, random_seed)
        super().__init__(FullRank(model, start=start, random_seed=seed), random_seed=seed + 1, **kwargs)


class SVGD(Inference):
    """Stein variational gradient descent over ``n_particles`` particles.

    Parameters
    ----------
    n_particles : int
        Number of particles.
    jitter : float
        Scale of the normal noise that spreads the initial particles.
    temperature : float
        Divides the log-density gradient (1 is plain SVGD).

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model():
    ...     x = pm.Normal("x", 0.0, 1.0)
    ...     svgd = pm.SVGD(n_particles=50, jitter=1)
    >>> svgd.approx.shared_params["histogram"].get_value().shape
    (50, 1)
    """

    def __init__(
        self,
        n_particles: int = 100,
        jitter: float = 1,
        model: Model | None = None,
        start=None,
        random_seed: int | None = None,
        temperature: float = 1,
    ):
        if isinstance(n_particles, bool) or not isinstance(n_particles, (int, np.integer)) or n_particles < 1:
            raise ValueError(f"n_particles must be a positive int, got {n_particles!r}")
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        model, seed = _model_and_seed(model, random_seed)
        approx = Empirical(model=model, size=int(n_particles), jitter=jitter, start=start, random_seed=seed)
        super().__init__(approx, random_seed=seed + 1)
        self.temperature = float(temperature)

    searches_step_size = False
    default_step_size = 0.05
    # SVGD without minibatches is deterministic: its particles approach their fixed point
    # smoothly (an R-hat of a trend) or oscillate by the step size under Adam, so they
    # count as stationary once they move by less than 2 % of their spread
    stop_rule = StopRule(rhat_small_drift=np.inf)

    def _settings(self):
        return (*super()._settings(), self.temperature)

    def _step(self, optimizer, n_mc):
        logdensity_fn, batch_fn = self._target()
        return svgd_step(logdensity_fn, optimizer, self.temperature, batch_fn=batch_fn)


class ASVGD(Inference):
    """Amortised SVGD: a parametric approximation trained along the Stein direction.

    Each step draws ``obj_n_mc`` points from q (default 100) and moves them
    along the Stein direction through the sampler's parameters.

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model():
    ...     x = pm.Normal("x", 0.0, 1.0)
    ...     approx = pm.fit(200, method="asvgd", progressbar=False, random_seed=0)
    >>> type(approx).__name__
    'FullRank'
    """

    default_n_mc = 100

    def __init__(
        self,
        approx: Approximation | None = None,
        model: Model | None = None,
        random_seed: int | None = None,
        temperature: float = 1,
        start=None,
    ):
        model, seed = _model_and_seed(model, random_seed)
        if approx is None:
            approx = FullRank(model, start=start, random_seed=seed)
        if isinstance(approx, Empirical):
            raise TypeError("ASVGD needs a parametric approximation; use SVGD for particles")
        super().__init__(approx, random_seed=seed + 1)
        self.temperature = float(temperature)

    def _settings(self):
        return (*super()._settings(), self.temperature, repr(self.approx.family.name))

    def _step(self, optimizer, n_mc):
        logdensity_fn, batch_fn = self._target()
        return asvgd_step(self.approx.family, logdensity_fn, optimizer, n_mc, self.temperature, batch_fn=batch_fn)
