"""Normalizing flows in the seed's API: the ``NormalizingFlow`` approximation and ``NFVI``.

``pm.fit(method='nfvi')``, ``pm.fit(method='nfvi=planar*8')`` and
``pm.NFVI(flow='spline*2-scale-loc')`` fit a flow (formulas as in PyMC3, see
:mod:`varbayes.variational.core.flow_layers`) by the same compiled loop as
ADVI: progress bar, callbacks, ``refine`` and ``fit(n=None)`` work as there.

A flow has no closed-form draws in PyTensor, so its symbolic face
(``approx.mean``, ``approx.std``, the draws of ``sample_node``) is a small
PyTensor ``Op`` that calls the family's jitted JAX functions on the current
values of ``shared_params``; the random seed of each draw comes from a
PyTensor generator, so every ``.eval()`` is a fresh draw as for the other
approximations.
"""

from __future__ import annotations

import time
from contextlib import nullcontext

import jax
import numpy as np
import optax
import pytensor.tensor as pt
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op

from varbayes.compile import compile_model
from varbayes.model.core import Model, modelcontext
from varbayes.variational.api.approximations import Approximation, Empirical
from varbayes.variational.api.converge import MAX_RECOVERIES, MIN_STEP_FRACTION, SEGMENT, advance
from varbayes.variational.api.inference import Inference, _model_and_seed, chunk_buffer
from varbayes.variational.api.loop import _average, _Run, _validate
from varbayes.variational.api.optimizers import Optimizer
from varbayes.variational.api.progress import FitProgress, log
from varbayes.variational.api.report import Convergence, announce, diagnose_at
from varbayes.variational.core.convergence import IterateMonitor, StopRule, batch_mcse, loss_trend
from varbayes.variational.core.driver import build_chunk, loop_compiler_options
from varbayes.variational.core.flows import (
    DEFAULT_FLOW,
    flow_elbo_step,
    normalizing_flow,
    q_statistics,
    statistic_units,
)
from varbayes.variational.core.schedule import learning_rate, with_learning_rate
from varbayes.variational.core.step import VIState

__all__ = ["NFVI", "NormalizingFlow", "flow_adam", "run_until_stable"]

#: Draws per step of the ``-ELBO`` estimate of an NFVI fit (``obj_n_mc`` changes it).
DEFAULT_FLOW_N_MC = 32


# ------------------------------------------------------------ symbolic face
class _JaxCall(Op):
    """A PyTensor node that evaluates a jitted JAX function of the flow's parameters.

    Inputs are ``(seed, n, *params)`` for draws (an ``(n, D)`` matrix) or
    ``(*params)`` for a statistic (a ``(D,)`` vector). No gradient: these
    nodes are for evaluating expressions under q, not for training.
    """

    __props__ = ("fn", "names", "dim", "draws")

    def __init__(self, fn, names: tuple, dim: int, draws: bool):
        self.fn, self.names, self.dim, self.draws = fn, names, dim, draws

    def make_node(self, *inputs):
        inputs = [pt.as_tensor_variable(i) for i in inputs]
        shape = (None, self.dim) if self.draws else (self.dim,)
        return Apply(self, inputs, [pt.tensor(dtype="float64", shape=shape)])

    def perform(self, node, inputs, outputs):
        if self.draws:
            seed, n, *values = inputs
            out = self.fn(dict(zip(self.names, values)), jax.random.key(int(seed)), int(n))
        else:
            out = self.fn(dict(zip(self.names, inputs)))
        # a copy: JAX hands out read-only buffers, and PyTensor may write in place
        outputs[0][0] = np.array(out, dtype="float64")


class NormalizingFlow(Approximation):
    """A normalizing flow fitted to the model's flat unconstrained space.

    q is the law of ``x = T(z)``, ``z ~ N(0, I)``, with ``T`` the layers of
    ``flow`` applied in order. ``shared_params`` holds every trainable array
    of the flow, named by its place in it (e.g. ``'00.coupling.conditioner.layers[1].weight'``).

    Parameters
    ----------
    flow : str
        A flow formula (PyMC3's grammar): layer names ``loc``, ``scale``,
        ``hh``, ``planar``, ``radial``, ``coupling`` (``realnvp``),
        ``spline`` (``nsf``) and ``maf``, each optionally repeated
        (``planar*8``), joined by ``-``. The last ``loc`` starts at the
        model's initial point (one is appended if the formula has none);
        the other layers start at the identity, so a new flow is a unit
        normal around the initial point.
    model : Model, optional
    start : dict, optional
        Starting point of the location.
    random_seed : int, optional
        Seed of the networks' initial weights.
    nn_width, nn_depth, knots, interval
        Sizes of the network layers; see
        :func:`~varbayes.variational.core.flows.normalizing_flow`.

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model():
    ...     x = pm.Normal("x", 0.0, 1.0, shape=2)
    ...     approx = pm.NormalizingFlow("scale-loc", random_seed=0)
    >>> sorted(approx.shared_params)
    ['00.scale.scale.args[0]', '01.loc.loc']
    >>> approx.mean.eval().round(12)
    array([0., 0.])
    >>> approx.std.eval().round(1)         # Monte Carlo (4096 fixed base draws)
    array([1., 1.])
    """

    def __init__(
        self,
        flow: str = DEFAULT_FLOW,
        model: Model | None = None,
        *,
        start=None,
        random_seed: int | None = None,
        nn_width: int | None = None,
        nn_depth: int = 1,
        knots: int = 8,
        interval: float = 5.0,
    ):
        model = modelcontext(model)
        # compiling first also refuses discrete free variables with the library's own message
        dim = compile_model(model).ravel.size
        family = normalizing_flow(flow, dim, nn_width=nn_width, nn_depth=nn_depth, knots=knots, interval=interval)
        super().__init__(model, start=start, random_seed=random_seed, family=family)
        self.flow = family.name[len("flow[") : family.name.index(";")]
        # what a saved flow needs to be rebuilt (see varbayes.variational.api.checkpoint)
        self.flow_options = {"nn_width": nn_width, "nn_depth": nn_depth, "knots": knots, "interval": interval}
        names = tuple(self.shared_params)
        jitted = jax.jit(family.sample, static_argnums=2)
        self._draws_op = _JaxCall(jitted, names, dim, True)
        self._mean_op = _JaxCall(jax.jit(family.mean), names, dim, False)
        self._std_op = _JaxCall(jax.jit(family.std), names, dim, False)

    @property
    def mean(self):
        """Mean of q in the flat unconstrained space (a Monte Carlo estimate from fixed base draws)."""
        return self._mean_op(*self.params)

    @property
    def std(self):
        """Standard deviation of q in the flat unconstrained space (Monte Carlo, fixed base draws)."""
        return self._std_op(*self.params)

    def symbolic_draws(self, rng, size):
        next_rng, seed = pt.random.integers(0, 2**62, rng=rng, return_next_rng=True)
        draws = self._draws_op(seed, 1 if size is None else size, *self.params)
        return next_rng, draws[0] if size is None else draws


# ------------------------------------------------------------------ training
def _annealed_adam(learning_rate, horizon, final_fraction):
    def rate(count):
        progress = jax.numpy.minimum(count / horizon, 1.0)
        return -learning_rate * (final_fraction + (1.0 - final_fraction) * 0.5 * (1.0 + jax.numpy.cos(np.pi * progress)))

    return optax.chain(optax.scale_by_adam(), optax.scale_by_schedule(rate))


def flow_adam(learning_rate: float = 0.01, horizon: int = 10_000, final_fraction: float = 0.01) -> Optimizer:
    """Adam whose step size falls (cosine) from ``learning_rate`` to ``final_fraction`` of it over ``horizon`` steps.

    The default of a fixed-length NFVI fit, with ``horizon = n``. A flow's
    last digits (how its mass splits between modes) are a weak signal under
    the noise of the ``-ELBO`` gradient; the falling step size lets them
    settle. Later steps (``refine``) keep the last step size. The
    hyperparameters live in the optimizer's state, so fits of any length
    share one compiled loop.

    Examples
    --------
    >>> import varbayes as pm
    >>> opt = pm.flow_adam(0.01, horizon=5000)
    """
    return Optimizer(
        *optax.inject_hyperparams(_annealed_adam)(
            learning_rate=learning_rate, horizon=float(horizon), final_fraction=final_fraction
        )[:2],
        ("flow_adam",),
    )


class NFVI(Inference):
    """Normalizing-flow variational inference: ``-ELBO`` by reparameterisation through a flow.

    Parameters
    ----------
    flow : str
        The flow formula (default ``'spline*2-scale-loc'``: two
        rational-quadratic spline coupling layers, then an elementwise scale
        and a location; see :class:`NormalizingFlow`).
    model : Model, optional
    random_seed : int, optional
    start : dict, optional
    approx : NormalizingFlow, optional
        An approximation to fit instead of a new one.
    **flow_kwargs
        ``nn_width``, ``nn_depth``, ``knots``, ``interval`` of :class:`NormalizingFlow`.

    Notes
    -----
    Reverse KL, the objective, is content with one mode of a multimodal
    posterior. The defaults keep modes two ways: the flow starts wide (a
    unit normal in every unconstrained coordinate, against ADVI's 0.69 and
    the 0.1 of ``fit(n=None)``'s other families), so its first draws reach
    every mode within a few units of the initial point; and a fit of fixed
    length steps with :func:`flow_adam`, whose falling step size lets the
    split of mass between modes settle rather than drift with the gradient
    noise. Each step averages ``obj_n_mc=32`` draws.

    ``fit(n=None)`` stops when q itself has settled, not its weights (which
    keep wandering along directions that leave q unchanged): the compiled
    loop follows summaries of q through fixed base draws
    (:func:`~varbayes.variational.core.flows.q_statistics`: per coordinate
    the mean, log sd and skewness), and the fit stops once they are
    stationary (rank-normalised split R-hat over the window), their window
    average is known to 0.05 posterior sd (batch means), and the final
    iterate lies within 0.1 sd of that average. Adam starts at 0.01; the
    step size is divided by 4 whenever the summaries are stationary but
    wobble by more than that, or stop improving the loss without becoming
    stationary. The returned flow is the final iterate (see
    :func:`run_until_stable`).

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model():
    ...     x = pm.NormalMixture("x", w=[0.2, 0.8], mu=[-0.3, 0.5], sigma=[0.1, 0.1])
    ...     approx = pm.fit(2000, method="nfvi", progressbar=False, random_seed=1)
    >>> approx.flow
    'spline*2-scale-loc'
    >>> approx.sample(100).posterior["x"].shape
    (1, 100)
    """

    default_n_mc = DEFAULT_FLOW_N_MC
    #: First Adam step size of ``fit(n=None)`` (flow_adam's): no search, whose short
    #: trials would favour the large steps that make a flow drop a mode.
    default_step_size = 0.01
    searches_step_size = False
    # Thresholds on q's statistics, as for a Gaussian family's parameters (units: q's sd for
    # a location, relative for a log sd). At a small step size the iterates move smoothly
    # (R-hat of a trend): they count as stationary once they move by less than the drift
    # floor over a window, which is never judged before the step size has had time to act
    # (see RELAXATION).
    stop_rule = StopRule(rhat_small_drift=np.inf)

    def __init__(
        self,
        flow: str = DEFAULT_FLOW,
        model: Model | None = None,
        random_seed: int | None = None,
        start=None,
        approx: NormalizingFlow | None = None,
        **flow_kwargs,
    ):
        model, seed = _model_and_seed(model, random_seed)
        if approx is None:
            approx = NormalizingFlow(flow, model, start=start, random_seed=seed, **flow_kwargs)
        if isinstance(approx, Empirical) or approx.family.sample_and_log_q is None:
            raise TypeError(f"NFVI fits a NormalizingFlow approximation, got {type(approx).__name__}")
        super().__init__(approx, random_seed=seed + 1)
        self._planned_n = None

    def fit(self, n: int | None = 10000, *args, **kwargs):
        self._planned_n = n
        return super().fit(n, *args, **kwargs)

    fit.__doc__ = Inference.fit.__doc__

    def _prepare(self, obj_optimizer, obj_n_mc, total_grad_norm_constraint, more_replacements, auto=False):
        if obj_optimizer is None and not auto:
            obj_optimizer = flow_adam(horizon=max(int(self._planned_n or 1), 1))
        super()._prepare(obj_optimizer, obj_n_mc, total_grad_norm_constraint, more_replacements, auto)

    def _step(self, optimizer, n_mc):
        logdensity_fn, batch_fn = self._target()
        return flow_elbo_step(self.approx.family, logdensity_fn, optimizer, n_mc, batch_fn=batch_fn)

    def _chunk_for(self, record_states: bool, segment: int = 0):
        if not segment:
            return super()._chunk_for(record_states, segment)
        # fit(n=None): the chunk sums q's statistics over segments, not the weights
        placement = None if self._placement is None else self._placement.key  # the step's minibatch draws
        key = (self._settings(), self._step_config, record_states, "q statistics", segment, placement)
        cache = self.approx.logdensity_cache
        if key not in cache:
            statistics = q_statistics(self.approx.family, self.approx.ndim)
            state_size = sum(np.size(leaf) for leaf in jax.tree_util.tree_leaves(self.state)) if record_states else 0
            buffer = chunk_buffer(record_states, state_size, segment, 3 * self.approx.ndim)  # 3 statistics a coordinate
            step = self._step(self._optimizer, self._n_mc)
            # q's statistics push 128 draws through the flow, about twice a step's own work: read
            # once per segment, they cost a tenth of it (iterates a few steps apart barely differ)
            chunk = build_chunk(step, buffer, record_states, segment, statistics, canonical_every=segment)
            cache[key] = (self._stored(chunk, key, loop_compiler_options(step)), buffer)
        return cache[key]

    def _statistics(self):
        """q's statistics of a parameter dict, jitted (cached with the compiled loops)."""
        key = ("q statistics", self.approx.family.name)
        cache = self.approx.logdensity_cache
        if key not in cache:
            cache[key] = jax.jit(q_statistics(self.approx.family, self.approx.ndim))
        return cache[key]

    def _run_until_converged(self, key, data, refresh, callbacks, progressbar, limits, search):
        # the data, state and key are placed on the fit's devices by Inference._run
        max_n, max_time = limits
        schedule = learning_rate(self.state.opt_state) is not None and self._step_config[0][0] == "auto"
        self.state, report = run_until_stable(
            self.approx, self.state, self._chunk_for, key, data, self._statistics(),
            max_n=max_n, max_time=max_time, callbacks=callbacks, progressbar=progressbar, refresh=refresh,
            schedule=schedule, rule=self.stop_rule, checkpoint=self._checkpointer(),
        )
        self.approx.convergence = report
        return self.approx


# ------------------------------------------------------------ fit(n=None)
#: A flow's statistics may differ from their window average by at most this (sd units) at the stop.
FINAL_TOLERANCE = 0.1
STEP_DECREASE = 0.25  # factor on the step size when the statistics wobble too much or stall
STALL_ITERATIONS = 4000  # iterations at one step size before a fit that does not settle counts as stalled
RELAXATION = 10.0  # step size x iterations a new step size runs before its window is judged


def run_until_stable(
    approx,
    state: VIState,
    chunk_for,
    key,
    data,
    statistics,
    max_n: int,
    max_time: float | None = None,
    callbacks=None,
    progressbar: bool = True,
    refresh=None,
    schedule: bool = True,
    rule: StopRule | None = None,
    checkpoint=None,
) -> tuple[VIState, Convergence]:
    """Fit a flow until q's statistics settle (or ``max_n`` / ``max_time``); return the state and the report.

    ``chunk_for`` builds chunks whose segment sums are of ``statistics(params)``
    (see :meth:`NFVI._chunk_for`). Between chunks the statistics' batch means
    are judged as :mod:`varbayes.variational.core.convergence` judges a
    Gaussian family's parameters, in the units of
    :func:`~varbayes.variational.core.flows.statistic_units`. The fit stops
    when the window is stationary, its average known to ``rule.mcse``, and
    both the spread of the window's batch means and the final iterate's
    distance from their average are below :data:`FINAL_TOLERANCE`. With
    ``schedule`` (an optimizer whose learning rate is in its state), the
    step size is lowered by :data:`STEP_DECREASE` when the window is
    stationary but wobbles by more than that (the step is too large for the
    final iterate to be close to the centre), or when it is not stationary
    and the loss has stopped improving over it.

    The flow returned is the final iterate, not an average of iterates: the
    average of a network's weights is not the weights of an average q (q is
    far from linear in them, and they drift along directions that leave q
    unchanged, so two iterates with the same q can average to a different
    one). Lowering the step size until the iterates of q stay within the
    tolerance of their average is what makes the final one as good.
    """
    rule = StopRule() if rule is None else rule
    max_n, callbacks, everys = _validate(max_n, callbacks)
    started = time.perf_counter()
    run = _Run(approx, chunk_for, key, max_n, callbacks, everys, segment=SEGMENT)
    run.state = state
    dim = approx.ndim
    size = int(np.shape(statistics(state.params))[0])
    step_sizes = [] if learning_rate(state.opt_state) is None else [learning_rate(state.opt_state)]
    reason, message, check, recoveries, events = None, None, None, 0, []
    run.monitor, stage_start = IterateMonitor(size, SEGMENT), 0
    inner = data

    def new_window(step_size, why: str):
        nonlocal stage_start, check
        events.append((run.offset + run.done, why, float(step_size)))
        log.debug(f"iteration {run.offset + run.done:,}: {why}, step size {step_size:.3g}")
        run.monitor, stage_start, check = IterateMonitor(size, SEGMENT), run.done, None
        step_sizes.append(step_size)
        # Adam's moments are kept: the new window continues the same trajectory, more slowly
        return VIState(state.params, with_learning_rate(state.opt_state, step_size))

    def recover():
        nonlocal recoveries, state
        if not schedule or recoveries >= MAX_RECOVERIES:
            return None
        # the approximation holds the last finite parameters: go on from there, more slowly
        recoveries += 1
        state = VIState(approx.jax_params, run.state.opt_state)
        return new_window(step_sizes[-1] * 0.1, "non-finite loss")

    def chunk_data():
        nonlocal inner
        if refresh is not None:
            inner = refresh()
        return inner

    with FitProgress(None, progressbar) as bar, checkpoint if checkpoint is not None else nullcontext():
        caps = (max_n, max_time, started)
        while reason is None:
            state, outcome, message = advance(run, state, chunk_data, rule, caps, checkpoint, recover)
            if outcome == "recovered":
                continue
            if outcome is not None:
                reason = outcome
                break
            check = _judge(run.monitor, rule, dim)
            # a step size of s needs about RELAXATION / s iterations for the iterates to reach
            # their new equilibrium (mass moving between modes is the slowest part); a window
            # judged sooner could see a slow drift as stationary
            settling = bool(step_sizes) and run.monitor.iterations < RELAXATION / step_sizes[-1]
            if check is not None and not settling:
                spread = _spread(run.monitor, check, np.asarray(statistics(state.params)), dim)
                if check.converged and spread < FINAL_TOLERANCE:
                    reason = "converged"
                    break
                lowest = not step_sizes or step_sizes[-1] <= MIN_STEP_FRACTION * step_sizes[0]
                if schedule and not lowest:
                    if check.stationary and spread >= FINAL_TOLERANCE:
                        state = new_window(step_sizes[-1] * STEP_DECREASE, "wobbling")
                    elif (
                        not check.stationary
                        and run.monitor.iterations >= STALL_ITERATIONS
                        and _stalled(run, stage_start, check)
                    ):
                        state = new_window(step_sizes[-1] * STEP_DECREASE, "stalled")
            rate = run.done / max(time.perf_counter() - started, 1e-9)
            bar.update(run.done, _average(run.scores[: run.done]), rate)

    window, elbo, elbo_se = None, None, None
    if check is not None and check.stationary and reason != "interrupted":
        first = run.offset + stage_start + check.start
        window = (first, first + check.length)
        losses = approx.hist[window[0] : window[1]]
        elbo, elbo_se = -float(np.mean(losses)), float(batch_mcse(losses[:, None])[0])
    approx.set_params(state.params)
    if checkpoint is not None and not checkpoint.terminate:
        checkpoint.write(state)
    report = Convergence(
        reason=reason,
        iterations=run.done,
        search_iterations=0,
        step_sizes=tuple(float(s) for s in step_sizes),
        rhat=None if check is None else check.rhat,
        mcse=None if check is None else check.mcse,
        window=window,
        elbo=elbo,
        elbo_se=elbo_se,
        seconds=time.perf_counter() - started,
        events=tuple(events),
        _diagnose=diagnose_at(approx, state.params),
    )
    drifting = () if check is None or check.stationary else _drifting(approx, check.rhats, dim)
    announce(report, run, message, max_n, max_time, drifting)
    return state, report


def _judge(monitor: IterateMonitor, rule: StopRule, dim: int):
    """The stop rule's reading of the window of q's statistics (``None`` while too short)."""
    if len(monitor.atoms) < rule.min_atoms:
        return None
    atoms, _ = monitor.window()
    return monitor.check(np.asarray(statistic_units(atoms.mean(axis=0), dim)), rule)


def _spread(monitor: IterateMonitor, check, final: np.ndarray, dim: int) -> float:
    """How far the returned q may be from the window's centre, in sd units.

    The larger of the batch means' spread over the window and the final
    iterate's distance from their average: the first sees a wobble that one
    lucky final iterate would hide, the second one that long batches average away.
    """
    atoms, _ = monitor.window()
    units = np.asarray(statistic_units(check.average, dim))
    spread = np.std(atoms / units, axis=0, ddof=1)
    distance = np.abs(final - check.average) / units
    return float(np.max(np.maximum(spread, distance)))


def _stalled(run: _Run, stage_start: int, check) -> bool:
    """Not stationary while the loss no longer improves over the window: the statistics only wander."""
    first = stage_start + check.start
    stride = max(1, -(-check.length // 8192))
    change, se = loss_trend(run.scores[first : first + check.length : stride])
    return change > -2.0 * se


def _drifting(approx, rhats, dim: int, most: int = 3) -> tuple[str, ...]:
    """The model's variables whose statistics drift the most (largest R-hat first)."""
    names = []
    for index in np.argsort(rhats)[::-1]:
        coordinate = index % dim
        layout = next(v for v in approx.ravel.vars if v.offset <= coordinate < v.offset + v.size)
        if layout.name not in names:
            names.append(layout.name)
        if len(names) == most:
            break
    return tuple(names)


def split_method(method: str) -> tuple[str, dict]:
    """``'nfvi=planar*4'`` -> ``('nfvi', {'flow': 'planar*4'})``; other names unchanged.

    Examples
    --------
    >>> split_method("nfvi=scale-loc")
    ('nfvi', {'flow': 'scale-loc'})
    >>> split_method("advi")
    ('advi', {})
    """
    name, sep, formula = method.partition("=")
    if sep and name.strip().lower() == "nfvi":
        return "nfvi", {"flow": formula}
    return method, {}

