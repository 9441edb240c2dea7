"""Knowing when a stochastic optimisation is done, and what to return when it is.

A fit with a constant step size does not converge to a point: once the
transient is over, its iterates fluctuate around the optimum. Following
Dhaka et al. (2020, "Robust, accurate stochastic optimization for variational
inference") the iterates are then treated like the draws of a Markov chain:

* **stationarity** is detected with a split R-hat over the most recent half
  of the iterates of the current step size, computed on batch means, so that
  a noisy loss with drifting parameters never passes;
* the answer is the **iterate average** over that window (Polyak-Ruppert),
  and the fit stops once the average's Monte Carlo standard error (batch
  means) is small;
* when the iterates are stationary but so noisy that averaging them to the
  tolerance would take much longer than reaching stationarity did, the
  step size is lowered and a new window starts from the average (the
  adaptive schedule of Welandawe et al. 2024, "A framework for improving the
  reliability of black-box variational inference");
* when the iterates still drift and the loss has become worse over the
  window (:func:`loss_trend`), the step is too large to be stable (the
  iterates run away along a weakly identified direction): the step size is
  lowered too, from the average of the window's better, first half.

All quantities are judged in the units of the family's ``scale``: a location
against the posterior sd of its coordinate, a log-scale parameter as a
relative change. The compiled loop hands over sums of the iterates over
short segments (:func:`varbayes.variational.core.driver.build_chunk`); this
module works on those sums on the host, between chunks.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import numpy as np

__all__ = ["StopRule", "WindowCheck", "IterateMonitor", "split_rhat", "rank_normalize", "batch_mcse", "loss_trend"]


class StopRule(NamedTuple):
    """Thresholds of the stop rule (units: the family's ``scale``).

    Attributes
    ----------
    rhat : float
        The window is stationary when every parameter's split R-hat is below this...
    rhat_small_drift : float
        ... or below this one while the drift between the window's quarters
        is under ``drift_floor``: a minibatch fit can wobble for a long time
        at an R-hat near 1.2 by amounts that do not matter. A steady trend,
        however slow (a step size far too small), has a rank-normalised
        R-hat near 3 (its quarters hold disjoint ranges of values) and never
        passes below 2.
    drift_floor : float
        Drift that does not matter (posterior sd units).
    mcse : float
        The fit stops when every averaged parameter's Monte Carlo standard
        error is below this.
    min_atoms : int
        Batch means a window needs before it is judged (the window is the
        most recent half of them).
    lower_step_ratio : float
        With a step size the schedule controls: lower it when averaging to
        the ``mcse`` tolerance would need more than this many times the
        window's length.
    stop : bool
        ``False`` runs the same schedule without ever stopping (to study
        when a fit could have stopped).
    """

    rhat: float = 1.1
    rhat_small_drift: float = 1.3
    drift_floor: float = 0.05
    mcse: float = 0.05
    min_atoms: int = 64
    lower_step_ratio: float = 4.0
    stop: bool = True


def split_rhat(chains: np.ndarray, floor: float = 0.0) -> np.ndarray:
    """Split R-hat per parameter of ``chains`` ``(n_chains, n, P)``.

    ``floor**2`` is added to the within-chain variance, so that chains that
    move by much less than ``floor`` count as agreeing.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> float(split_rhat(rng.normal(size=(4, 50, 1)))[0]) < 1.1
    True
    >>> float(split_rhat(np.linspace(0, 1, 200).reshape(4, 50, 1))[0]) > 2
    True
    """
    n = chains.shape[1]
    within = np.mean(np.var(chains, axis=1, ddof=1), axis=0) + floor**2
    between = n * np.var(np.mean(chains, axis=1), axis=0, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rhat = np.sqrt(((n - 1) / n * within + between / n) / within)
    return np.where(within > 0, rhat, 1.0)


def rank_normalize(chains: np.ndarray) -> np.ndarray:
    """Normal scores of the ranks of ``chains`` ``(n_chains, n, P)``, pooled over chains, per parameter.

    The value of rank ``r`` of ``N`` is ``Phi^-1((r - 3/8) / (N + 1/4))``
    (Blom's offsets, as Vehtari et al. 2021): with no ties, the scores of a
    parameter are those of ``1..N`` put in the order of its values.

    Examples
    --------
    >>> z = rank_normalize(np.array([[[1.0], [100.0]], [[2.0], [3.0]]]))
    >>> [round(float(v), 2) for v in z[:, :, 0].ravel()]
    [-1.05, 1.05, -0.3, 0.3]
    """
    n_chains, n, size = chains.shape
    flat = chains.reshape(n_chains * n, size)
    # ranks from 1 (ties, which continuous iterates do not have, are broken by position)
    order = np.argsort(flat, axis=0, kind="stable")
    scores = np.empty(flat.shape)
    np.put_along_axis(scores, order, _normal_scores(flat.shape[0])[:, None], 0)
    return scores.reshape(n_chains, n, size)


@lru_cache(maxsize=32)
def _normal_scores(count: int) -> np.ndarray:
    """Normal scores of the ranks ``1..count`` (read-only; a window has one of a few dozen sizes).

    The standard library's inverse normal CDF (Wichura's AS241, accurate to
    about 1e-16): ``scipy.special.ndtri`` agrees to a few units in the last
    place, and importing ``scipy.special`` would cost a fit in a new process
    30-60 ms.
    """
    from statistics import NormalDist

    inv_cdf = NormalDist().inv_cdf
    quantiles = (np.arange(1.0, count + 1) - 0.375) / (count + 0.25)
    scores = np.array([inv_cdf(q) for q in quantiles.tolist()])
    scores.flags.writeable = False
    return scores


def loss_trend(losses: np.ndarray) -> tuple[float, float]:
    """``(change, standard error)`` of the mean loss from the first to the second half of ``losses``.

    A change that is not below ``-2`` standard errors means the loss has
    stopped improving.

    Examples
    --------
    >>> change, se = loss_trend(np.linspace(10.0, 0.0, 400))
    >>> change < -2 * se
    True
    """
    half = losses.shape[0] // 2
    first, second = losses[:half], losses[half : 2 * half]
    change = float(np.mean(second) - np.mean(first))
    se = float(np.hypot(batch_mcse(first[:, None])[0], batch_mcse(second[:, None])[0]))
    return change, se


def batch_mcse(values: np.ndarray, n_batches: int = 16) -> np.ndarray:
    """Monte Carlo standard error of the mean of ``values`` ``(n, P)`` by batch means.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> float(batch_mcse(rng.normal(size=(6400, 1)))[0])  # about 1/80
    0.0121...
    """
    n_batches = min(n_batches, values.shape[0])
    size = values.shape[0] // n_batches
    # equal batches of the most recent values (the oldest few are left out)
    means = values[values.shape[0] - size * n_batches :].reshape(n_batches, size, -1).mean(axis=1)
    return np.std(means, axis=0, ddof=1) / np.sqrt(n_batches)


class WindowCheck(NamedTuple):
    """The stop rule's reading of the current window of iterates.

    ``average`` is the flat iterate average over the window, ``start`` and
    ``length`` the window's first iteration (counted from the start of the
    current step size) and its number of iterations; ``rhat`` and ``mcse``
    the largest over the parameters, in scale units; ``needed`` the window
    length averaging would need to bring the MCSE to the tolerance.
    """

    average: np.ndarray
    start: int
    length: int
    rhat: float
    mcse: float
    needed: float
    stationary: bool
    converged: bool
    rhats: np.ndarray | None = None


class IterateMonitor:
    """Batch means of the iterates of one step size, kept in bounded memory.

    Segment sums arrive from the compiled loop (``segment`` iterations each);
    they are gathered into at most ``2 * max_atoms`` batch means whose
    length doubles whenever there would be more.

    Examples
    --------
    >>> monitor = IterateMonitor(size=1, segment=10)
    >>> rng = np.random.default_rng(1)
    >>> draws = rng.normal(size=(2000, 1))
    >>> sums = draws.reshape(200, 10, 1).sum(axis=1)
    >>> monitor.add(sums, n_steps=2000)
    >>> check = monitor.check(np.ones(1), StopRule())
    >>> check.stationary, check.length
    (True, 1000)
    """

    def __init__(self, size: int, segment: int, max_atoms: int = 128):
        self.segment = int(segment)
        self.max_atoms = int(max_atoms)
        self.atom_size = self.segment
        self._atoms = np.empty((2 * self.max_atoms, size))
        self._n_atoms = 0
        self.iterations = 0  # iterations accounted for, including the pending ones
        self._pending = np.zeros(size)  # the segment the next chunk continues
        self._segments = np.zeros((0, size))  # completed segments not yet filling an atom

    @property
    def atoms(self) -> np.ndarray:
        """The batch means, oldest first, each over :attr:`atom_size` iterations."""
        return self._atoms[: self._n_atoms]

    @property
    def phase(self) -> int:
        """Iterations already in the segment the next chunk continues."""
        return self.iterations % self.segment

    def add(self, segment_sums: np.ndarray, n_steps: int) -> None:
        """Take the segment sums of a chunk of ``n_steps`` iterations that started at :attr:`phase`."""
        total = self.phase + n_steps
        n_rows = -(-total // self.segment)
        rows = np.array(segment_sums[:n_rows], dtype=float)
        rows[0] += self._pending
        complete = total // self.segment  # rows whose segment ended in this chunk
        self._pending = rows[complete] if complete < n_rows else np.zeros_like(self._pending)
        self.iterations += n_steps
        if complete:
            self._take_segments(rows[:complete])

    def _take_segments(self, sums: np.ndarray) -> None:
        segments = np.concatenate([self._segments, sums])
        while True:
            per_atom = self.atom_size // self.segment
            n_new = min(segments.shape[0] // per_atom, 2 * self.max_atoms - self._n_atoms)
            if n_new == 0:
                break
            used = n_new * per_atom
            new = segments[:used].reshape(n_new, per_atom, -1).sum(axis=1) / self.atom_size
            self._atoms[self._n_atoms : self._n_atoms + n_new] = new
            self._n_atoms += n_new
            segments = segments[used:]
            if self._n_atoms == 2 * self.max_atoms:
                # twice as long batch means, half as many: memory stays bounded
                self._atoms[: self.max_atoms] = self._atoms.reshape(self.max_atoms, 2, -1).mean(axis=1)
                self._n_atoms = self.max_atoms
                self.atom_size *= 2
        self._segments = segments

    def halves(self) -> tuple[np.ndarray, np.ndarray]:
        """Iterate averages over the first and the second half of the window."""
        atoms, _ = self.window()
        half = atoms.shape[0] // 2
        return atoms[:half].mean(axis=0), atoms[half:].mean(axis=0)

    def window(self) -> tuple[np.ndarray, int]:
        """The most recent half of the batch means (a multiple of 4 of them) and its first iteration."""
        n = (self._n_atoms // 2) // 4 * 4
        first = (self._n_atoms - n) * self.atom_size
        return self._atoms[self._n_atoms - n : self._n_atoms], first

    def check(self, scale: np.ndarray, rule: StopRule) -> WindowCheck | None:
        """Judge the window; ``None`` while there are too few batch means.

        ``scale`` (flat, like the parameters) gives the units of each parameter.
        """
        if self._n_atoms < rule.min_atoms:
            return None
        atoms, first = self.window()
        average = atoms.mean(axis=0)
        scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
        z = atoms / scale
        chains = z.reshape(4, z.shape[0] // 4, z.shape[1])
        # rank-normalised (Vehtari et al. 2021): a rare excursion of heavy-tailed
        # gradients is one outlying batch mean, not a drift. The tiny floor only keeps
        # exactly deterministic dynamics (SVGD without minibatches) from dividing zero by zero.
        rhats = split_rhat(rank_normalize(chains), 1e-6)
        small_drift = split_rhat(chains, rule.drift_floor) < rule.rhat
        stationary = bool(np.all((rhats < rule.rhat) | ((rhats < rule.rhat_small_drift) & small_drift)))
        rhat = float(np.max(rhats))
        mcse = float(np.max(batch_mcse(z)))
        length = atoms.shape[0] * self.atom_size
        needed = length * (mcse / rule.mcse) ** 2
        converged = rule.stop and stationary and mcse < rule.mcse
        return WindowCheck(average, first, length, rhat, mcse, needed, stationary, converged, rhats)
