"""``sample``: NUTS (blackjax) with Stan's windowed warmup, chains vectorised.

With discrete free variables of infinite support, each step is NUTS within
Gibbs (:mod:`varbayes.sampling.gibbs`).

All chains run in one compiled program (``jax.vmap`` over chains). The
program advances every chain by ``n_steps`` steps and records each step into
a buffer; Python only runs between such chunks to update the progress bar,
and sizes the chunks from their measured duration. The random key of a step
is derived from the chain's key and the step's index, so the draws do not
depend on how the run was cut into chunks.
"""

from __future__ import annotations

import os
import time
import warnings
import weakref
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from varbayes.compile import compile_model
from varbayes.compile.marginal import THETA, compile_joint, infinite_support
from varbayes.config import default_seed
from varbayes.logs import log
from varbayes.model import modelcontext
from varbayes.output import to_datatree
from varbayes.parallel import spread_chains
from varbayes.sampling import adaptation
from varbayes.sampling.chunks import chunk_runner
from varbayes.sampling.diagnostics import check_convergence, report_divergences
from varbayes.sampling.progress import ChunkProgress
from varbayes.sampling.stats import NUTSStats, nuts_stats
from varbayes.stored import StoredProgram, fingerprint_function

__all__ = ["sample", "NUTSStats"]

_INITS = ("auto", "adapt_diag", "jitter+adapt_diag", "advi", "advi+adapt_diag", "pathfinder")
_MAX_BUFFER = 1024
_TARGET_CHUNK_SECONDS = 0.25
_DISCRETE = "__discrete__"  # the name the Gibbs sampler records the flat discrete values under


class ChainState(NamedTuple):
    position: "blackjax.mcmc.hmc.HMCState"
    warmup: adaptation.WarmupState


# compiled programs by id of the CompiledModel, dropped when it is garbage collected
_RUNNERS: dict[int, dict] = {}


def _runners(owner, key: tuple, build):
    """The compiled ``(init, run)`` that ``build()`` makes for ``owner`` (a compiled model) and ``key`` (cached)."""
    if id(owner) not in _RUNNERS:
        _RUNNERS[id(owner)] = {}
        weakref.finalize(owner, _RUNNERS.pop, id(owner), None)
    cache = _RUNNERS[id(owner)]
    if key not in cache:
        cache[key] = build()
    return cache[key]


def _build_runners(compiled, buffer: int, max_treedepth: int, target_accept: float):
    import blackjax  # imported on the first sample(): importing it takes most of a second

    logdensity = compiled.logdensity.fn
    constrained = compiled.constrained.fn
    kernel = blackjax.nuts.build_kernel()
    warmup_init, warmup_update = adaptation.warmup(target_accept)
    n_dims = compiled.ravel.size

    def init(positions, step_size, inverse_mass_matrix, data):
        def one_chain(theta, imm):
            state = blackjax.mcmc.hmc.init(theta, lambda t: logdensity(t, data))
            return ChainState(state, warmup_init(n_dims, step_size, imm))

        return jax.vmap(one_chain)(positions, inverse_mass_matrix)

    def transition(state: ChainState, key, step, schedule, data):
        data, constrained_data = data
        warm = state.warmup
        position, info = kernel(
            jax.random.fold_in(key, step),
            state.position,
            lambda theta: logdensity(theta, data),
            warm.step_size,
            warm.inverse_mass_matrix,
            max_num_doublings=max_treedepth,
        )
        stats = nuts_stats(position.logdensity, info, warm, max_treedepth)
        warm = warmup_update(warm, schedule[step], position.position, info.acceptance_rate)
        record = (tuple(constrained(position.position, constrained_data)), stats)
        return ChainState(position, warm), record

    run = chunk_runner(transition, buffer)
    # the sampling loop is kept on disk across processes (varbayes.stored), found by its settings and
    # what it computes: the log-density and the constrained values it records
    digest = fingerprint_function(
        lambda theta, data: (logdensity(theta, data[0]), constrained(theta, data[1])), n_dims, jnp.result_type(float)
    )
    stored = StoredProgram(
        jax.jit(run), ("nuts", buffer, max_treedepth, target_accept),
        lambda state, keys, schedule, start, n_steps, data: digest(data),
    )
    return jax.jit(init), stored


def _buffer_length(total_steps: int) -> int:
    return int(min(_MAX_BUFFER, 1 << max(0, int(np.ceil(np.log2(max(total_steps, 1)))))))


def _initvals_theta(model, compiled, initvals, chains: int) -> np.ndarray:
    """Starting θ per chain, ``(chains, D)``: the initial point with ``initvals`` put in."""
    from varbayes.sampling.map import _start_theta

    if initvals is None or isinstance(initvals, dict):
        return np.tile(_start_theta(model, compiled, initvals, "initvals"), (chains, 1))
    initvals = list(initvals)
    if len(initvals) != chains or not all(isinstance(v, dict) for v in initvals):
        raise ValueError(f"initvals must be a dict or a list of {chains} dicts (one per chain), got {initvals!r}")
    return np.stack([_start_theta(model, compiled, v, "initvals") for v in initvals])


def _initial_positions(compiled, init: str, chains: int, rng: np.random.Generator, check, model, base=None):
    """Starting θ per chain and the initial inverse mass matrix; ``base`` (chains, D): the points jittered."""
    if base is None:
        base = np.tile(np.asarray(compiled.initial_theta(), dtype=np.float64), (chains, 1))
    n_dims = base.shape[1]
    imm = np.ones((chains, n_dims))
    if init.startswith("advi"):
        base_chains, imm = _advi_start(model, chains, rng)
        return base_chains, imm
    if init == "pathfinder":
        return _pathfinder_start(model, chains, rng)
    positions = base.copy()
    if init == "adapt_diag":
        return positions, imm
    # jitter+adapt_diag: uniform jitter in (-1, 1), retried where the density is not finite
    bad = np.ones(chains, dtype=bool)
    for _ in range(20):
        positions[bad] = base[bad] + rng.uniform(-1.0, 1.0, size=(int(bad.sum()), n_dims))
        bad = ~check(positions)
        if not bad.any():
            break
    if bad.any():
        positions[bad] = base[bad]
    return positions, imm


def _pathfinder_start(model, chains: int, rng: np.random.Generator):
    """Chains start at distinct Pathfinder draws; the initial mass matrix is their variance."""
    from varbayes.variational.api.pathfinder import Pathfinder

    with warnings.catch_warnings():
        # a large Pareto k-hat says the draws are not the posterior; as starting points they still serve
        warnings.simplefilter("ignore", UserWarning)
        approx = Pathfinder(model=model, random_seed=int(rng.integers(2**31 - 1))).fit(progressbar=False)
    draws = np.asarray(approx.histogram.get_value(), dtype=np.float64)
    distinct = np.unique(draws, axis=0)
    starts = distinct[rng.choice(len(distinct), size=chains, replace=len(distinct) < chains)]
    variance = draws.var(axis=0)
    variance = np.where(np.isfinite(variance) & (variance > 0), variance, 1.0)
    return starts, np.tile(variance, (chains, 1))


def _advi_start(model, chains: int, rng: np.random.Generator):
    try:
        from varbayes.variational import fit
    except ImportError:
        raise NotImplementedError(
            "init='advi' needs varbayes.variational.fit, which is not available"
        ) from None
    approx = fit(
        n=10_000,
        method="advi",
        model=model,
        random_seed=int(rng.integers(2**31 - 1)),
        progressbar=False,
    )
    mean = np.asarray(approx.mean.eval(), dtype=np.float64)
    std = np.asarray(approx.std.eval(), dtype=np.float64)
    starts = mean + std * rng.standard_normal((chains, mean.size))
    return starts, np.tile(std**2, (chains, 1))


def _step_size_guess(n_dims: int) -> float:
    # a scale-free first guess; dual averaging takes it from there
    return np.float64(0.25 / n_dims**0.25)


def sample(
    draws: int = 1000,
    tune: int = 1000,
    chains: int | None = None,
    cores: int | None = None,
    random_seed: int | None = None,
    progressbar: bool = True,
    target_accept: float = 0.8,
    init: str = "auto",
    model=None,
    return_inferencedata: bool = True,
    max_treedepth: int = 10,
    discard_tuned_samples: bool = True,
    compute_convergence_checks: bool = True,
    var_names: Sequence[str] | None = None,
    initvals: dict | Sequence[dict] | None = None,
    idata_kwargs: dict | None = None,
    nuts_sampler: str = "pymc",
    devices=None,
):
    """Draw from the posterior with the No-U-Turn Sampler.

    Chains run vectorised in one compiled program; each adapts its own step
    size and diagonal mass matrix during ``tune`` warmup steps (Stan's
    windowed schedule), which are then discarded.

    Parameters
    ----------
    draws : int
        Draws kept per chain.
    tune : int
        Warmup steps per chain.
    chains : int, optional
        Number of chains; as in PyMC, ``max(2, cores)`` with ``cores`` the
        number of CPUs up to 4 by default.
    cores : int, optional
        Only used for the default number of chains: all chains run in one
        compiled program.
    random_seed : int, optional
        Seed; the same seed gives the same draws.
    progressbar : bool
        Show a progress bar with draws/s and divergences.
    target_accept : float
        Target mean acceptance probability of the step-size adaptation, in (0, 1).
    init : {'auto', 'adapt_diag', 'jitter+adapt_diag', 'advi', 'pathfinder'}
        How chains start: ``'auto'`` is ``'jitter+adapt_diag'`` (the initial
        point jittered by U(-1, 1) in unconstrained space); ``'advi'`` starts
        from a mean-field ADVI fit, which also gives the initial mass matrix;
        ``'pathfinder'`` starts each chain at a different draw of a
        :class:`~varbayes.Pathfinder` fit, with the draws' variance as the
        initial mass matrix.
    model : Model, optional
        The model; the one of the ``with`` block by default.
    return_inferencedata : bool
        Return a ``DataTree`` (default) or a dict of posterior arrays.
    max_treedepth : int
        Maximum number of trajectory doublings.
    discard_tuned_samples : bool
        Only ``True`` is supported: warmup draws are not kept.
    compute_convergence_checks : bool
        Warn about R-hat > 1.01 and low effective sample sizes.
    var_names : sequence of str, optional
        Free variables and deterministics to keep; all by default.
    initvals : dict or list of dict, optional
        Starting values by variable name (constrained) or value-variable
        name (unconstrained), for every chain or one dict per chain
        (discrete variables updated by Metropolis start at theirs);
        ``jitter+adapt_diag`` jitters around them. Variables left out start
        at the model's initial point.
    idata_kwargs : dict, optional
        ``{"log_likelihood": True}`` adds the pointwise ``log_likelihood``
        group (see :func:`compute_log_likelihood`); ``coords`` and ``dims``
        add to the model's.
    nuts_sampler : {'pymc', 'blackjax'}
        Both name this sampler (NUTS from blackjax, chains in one compiled
        program); accepted for code written for PyMC.
    devices : int, sequence of jax devices, or None
        Spread the chains over devices, each running its own (see
        :func:`varbayes.parallel.spread_chains`); ``None``: the default of
        :func:`varbayes.config.set_devices`, one device unless set.

    Returns
    -------
    xarray.DataTree or dict
        Groups ``posterior`` (constrained free variables and deterministics,
        dims ``(chain, draw, ...)``), ``sample_stats`` and ``observed_data``.
        ``sample_stats`` holds, per draw and with PyMC's names: ``lp``,
        ``diverging``, ``energy``, ``step_size``, ``step_size_bar`` (the
        averaged step size of the adaptation: the one sampling uses once
        tuning ends), ``tree_depth`` (trajectory
        doublings), ``n_steps`` (leapfrog steps), ``acceptance_rate`` (mean
        Metropolis acceptance over the trajectory) and
        ``reached_max_treedepth`` (``tree_depth >= max_treedepth``: the
        trajectory was cut before it turned). With discrete variables of
        infinite support (see Notes), ``accept`` is the Metropolis
        acceptance probability of their update, averaged over them (PyMC's
        name under its compound step); a model without continuous variables
        has only ``lp`` and ``accept``. Messages ("Initializing NUTS using
        ...") are ``INFO`` records of the ``varbayes`` logger.

    Raises
    ------
    ValueError
        When the model has no free variables, for invalid arguments, when
        ``init`` is a variational start on a model with discrete variables
        of infinite support, or when the log-density is not finite where the
        chains start (name the discrete values in ``initvals``).

    Notes
    -----
    Discrete free variables with a finite support (Bernoulli, Categorical,
    DiscreteUniform, Binomial with a constant ``n``, ...) are summed out of
    the log-density NUTS moves on, then drawn for each draw from their
    conditional posterior given the other variables. Those with an infinite
    support (Poisson, NegativeBinomial, Geometric, Binomial whose ``n`` is a
    free variable, ...) are sampled by Metropolis within Gibbs: each step is
    a NUTS transition of the continuous variables given the discrete values,
    then a Metropolis update of each such discrete variable given the rest,
    with an integer random-walk proposal whose scale is tuned during warmup
    (:mod:`varbayes.sampling.gibbs`). Both kinds are kept in ``posterior``
    like the other variables.

    Examples
    --------
    >>> import varbayes as pm
    >>> from varbayes.sampling import sample
    >>> with pm.Model():
    ...     x = pm.Normal("x", 0.0, 1.0)
    ...     trace = sample(200, tune=200, chains=2, progressbar=False, random_seed=1)
    >>> trace.posterior["x"].shape
    (2, 200)
    """
    model = modelcontext(model)
    if cores is not None and chains is None:
        chains = max(2, int(cores))
    chains = _default_chains() if chains is None else chains
    _check_arguments(draws, tune, chains, target_accept, init, max_treedepth, discard_tuned_samples)
    if nuts_sampler not in ("pymc", "blackjax"):
        raise ValueError(
            f"nuts_sampler={nuts_sampler!r} is not available: varbayes samples with NUTS from blackjax in one "
            "compiled program; nuts_sampler may be 'pymc' or 'blackjax' (the same sampler)"
        )
    idata_kwargs = dict(idata_kwargs or {})
    unknown = set(idata_kwargs) - {"log_likelihood", "coords", "dims"}
    if unknown:
        raise ValueError(f"idata_kwargs {sorted(unknown)} are not supported; supported: log_likelihood, coords, dims")
    init = "jitter+adapt_diag" if init == "auto" else init
    seed = default_seed(random_seed)
    rng = np.random.default_rng(seed)
    total = tune + draws
    buffer = _buffer_length(total)
    settings = (chains, buffer, max_treedepth, float(target_accept))
    free_names = list(model.free_rv_info)

    _say(f"Initializing NUTS using {init}...")
    discrete = infinite_support(model)
    if discrete:
        setup = _gibbs_setup(model, discrete, init, rng, initvals, settings)
    else:
        setup = _nuts_setup(model, init, rng, initvals, settings)
    keep = _kept_names(setup.names, var_names)
    keys = jax.random.split(jax.random.key(seed), chains)
    schedule = jnp.asarray(adaptation.schedule(tune, draws, total))
    _say(f"Sampling {chains} chains vectorised in one compiled program")
    for message in setup.messages:
        _say(message)

    state, run_fn, run_data, recorded = setup.state, setup.run, setup.data, setup.recorded
    run_fn, state, keys, run_data = spread_chains(run_fn, state, keys, run_data, devices)
    stats_fields = setup.stats_fields
    # computed after sampling from the records (setup.complete), or recorded as they are
    kept: dict[str, list] = {name: [] for name in (keep if setup.complete is None else recorded)}
    stats: dict[str, list] = {name: [] for name in stats_fields}
    done = divergent = 0
    interrupted = False
    started = time.perf_counter()
    with ChunkProgress(total, chains, tune, enabled=progressbar) as progress:
        n_steps = min(buffer, 10)
        first_chunk = True
        try:
            while done < total:
                t0 = time.perf_counter()
                state, (values, chunk_stats) = run_fn(state, keys, schedule, done, n_steps, run_data)
                values, chunk_stats = jax.device_get((values, chunk_stats))
                elapsed = time.perf_counter() - t0
                lo = max(tune - done, 0)  # first kept row of this chunk
                if lo < n_steps:
                    for name, value in zip(recorded, values):
                        if name in kept:
                            kept[name].append(value[:, lo:n_steps])
                    for field, value in zip(stats_fields, chunk_stats):
                        stats[field].append(value[:, lo:n_steps])
                    if "diverging" in stats:
                        divergent += int(np.sum(stats["diverging"][-1]))
                done += n_steps
                progress.update(done, divergent)
                # the first chunk's time includes compilation: do not size from it
                first = first_chunk
                first_chunk = False
                n_steps = _next_chunk(n_steps, None if first else elapsed, buffer, total - done)
        except KeyboardInterrupt:
            interrupted = True
    seconds = time.perf_counter() - started

    n_kept = sum(v.shape[1] for v in stats["lp"])
    if n_kept == 0:
        raise KeyboardInterrupt("sampling was interrupted before any draw was kept")
    posterior = {name: np.concatenate(parts, axis=1) for name, parts in kept.items()}
    if setup.complete is not None:
        # summed-out discrete values of each draw from p(k | θ, data), on a key of their own
        completed = setup.complete(posterior, jax.random.fold_in(jax.random.key(seed), chains))
        posterior = {name: value for name, value in completed.items() if name in keep}
    sample_stats = {name: np.concatenate(parts, axis=1) for name, parts in stats.items()}
    if interrupted:
        warnings.warn(
            f"Sampling was interrupted: keeping {n_kept} draws per chain out of {draws}",
            UserWarning,
            stacklevel=2,
        )
    _say(
        f"Sampling {chains} chains for {tune:_} tune and {n_kept:_} draw iterations "
        f"({tune * chains:_} + {n_kept * chains:_} draws total) took {seconds:.0f} seconds."
    )
    if "diverging" in sample_stats:
        report_divergences(sample_stats["diverging"], target_accept)
    if not return_inferencedata:
        return posterior
    trace = to_datatree(
        posterior,
        model=model,
        sample_stats=sample_stats,
        attrs={"sampling_time": seconds, "tuning_steps": tune},
        coords=idata_kwargs.get("coords"),
        dims=idata_kwargs.get("dims"),
    )
    if compute_convergence_checks:
        check_convergence(trace, [n for n in free_names if n in keep])
    if idata_kwargs.get("log_likelihood"):
        from varbayes.sampling.log_likelihood import compute_log_likelihood

        trace = compute_log_likelihood(trace, model=model)
    return trace


class _Setup(NamedTuple):
    """How a run goes: the chains' first state, their compiled step, and what is made of the records."""

    names: list[str]  # every named value: free variables, then deterministics
    recorded: list[str]  # what each step records, in order
    state: object
    run: object
    data: tuple
    stats_fields: tuple[str, ...]
    complete: object  # fn(recorded draws, key) -> every named value; None: the records are the values
    messages: list[str]


def _nuts_setup(model, init: str, rng, initvals, settings) -> _Setup:
    """NUTS on θ; finite discrete variables summed out and drawn after sampling."""
    chains, buffer, max_treedepth, target_accept = settings
    compiled = compile_model(model)
    enumerated = compiled.enumerated
    init_fn, run_fn = _runners(
        compiled, ("nuts", *settings), lambda: _build_runners(compiled, buffer, max_treedepth, target_accept)
    )
    data = compiled.logdensity.data()
    step_size = _step_size_guess(compiled.ravel.size)

    def finite_start(positions):
        state = init_fn(jnp.asarray(positions), step_size, jnp.ones_like(positions), data)
        lp = np.asarray(state.position.logdensity)
        grad = np.asarray(state.position.logdensity_grad)
        return np.isfinite(lp) & np.all(np.isfinite(grad), axis=-1)

    base = _initvals_theta(model, compiled, initvals, chains)
    positions, imm = _initial_positions(compiled, init, chains, rng, finite_start, model, base)
    state = init_fn(jnp.asarray(positions), step_size, jnp.asarray(imm), data)
    run_data = (data, compiled.constrained.data())
    messages = [f"NUTS: [{', '.join(v.name for v in compiled.ravel.vars)}]"]
    if enumerated is None:
        names = _output_names(model, compiled)
        return _Setup(names, names, state, run_fn, run_data, NUTSStats._fields, None, messages)
    # the chains record θ; each draw's discrete values are drawn after
    messages.append(f"Summed out, then drawn given each draw: [{', '.join(enumerated.names)}]")
    recorded = list(compiled.constrained.output_names)
    return _Setup(list(enumerated.output_names), recorded, state, run_fn, run_data, NUTSStats._fields, enumerated.complete, messages)


def _gibbs_setup(model, discrete: list[str], init: str, rng, initvals, settings) -> _Setup:
    """NUTS on θ within Gibbs with a Metropolis step on the infinite-support discrete variables."""
    from varbayes.sampling import gibbs

    chains, buffer, max_treedepth, target_accept = settings
    if init not in ("jitter+adapt_diag", "adapt_diag"):
        raise ValueError(
            f"init={init!r} starts from a variational fit, which cannot handle the discrete free variables "
            f"{discrete} (infinite support); use init='jitter+adapt_diag' or 'adapt_diag'"
        )
    joint = model._compiled_cache.get("joint")
    if joint is None:
        joint = model._compiled_cache["joint"] = compile_joint(model, discrete)
    n_dims = joint.ravel.size
    init_fn, run_fn = _runners(
        joint,
        ("gibbs", *settings),
        lambda: gibbs.build_runners(joint.logdensity, n_dims, joint.blocks, buffer, max_treedepth, target_accept),
    )
    data = joint.data()
    step_size = _step_size_guess(max(n_dims, 1))
    base = _initvals_theta(model, joint, initvals, chains)
    per_chain = initvals if isinstance(initvals, (list, tuple)) else [initvals] * chains
    start_k = jnp.asarray(np.stack([joint.initial_discrete(v) for v in per_chain]))

    def finite_start(positions):
        state = init_fn(jnp.asarray(positions), start_k, step_size, jnp.ones_like(positions), data)
        lp = np.asarray(state.hmc.logdensity)
        grad = np.asarray(state.hmc.logdensity_grad)
        return np.isfinite(lp) & np.all(np.isfinite(grad), axis=-1)

    positions, imm = _initial_positions(joint, init, chains, rng, finite_start, model, base)
    finite = finite_start(positions)
    if not finite.all():
        starts = {b.name: np.asarray(start_k)[int(np.argmin(finite)), b.offset : b.offset + b.size].reshape(b.shape).tolist() for b in joint.blocks}
        raise ValueError(
            f"the log-density is not finite where chain {int(np.argmin(finite))} starts, with the discrete "
            f"variables at {starts}: pass initvals with values of {discrete} under which the observed data "
            "are possible (e.g. a count at least as large as the largest observed count it bounds)"
        )
    state = init_fn(jnp.asarray(positions), start_k, step_size, jnp.asarray(imm), data)
    stats_fields = gibbs.GibbsStats._fields if n_dims else gibbs.MetropolisStats._fields
    messages = [
        f"NUTS: [{', '.join(v.name for v in joint.ravel.vars)}]" if n_dims else "No continuous variable: Metropolis alone",
        f"Metropolis: [{', '.join(discrete)}]",
    ]
    if joint.summed_out:
        messages.append(f"Summed out, then drawn given each draw: [{', '.join(joint.summed_out)}]")

    def complete(values, key):
        return joint.complete(values[THETA], values[_DISCRETE], key)

    return _Setup(list(joint.output_names), [THETA, _DISCRETE], state, run_fn, data, stats_fields, complete, messages)


def _next_chunk(n_steps: int, elapsed: float | None, buffer: int, remaining: int) -> int:
    """Size the next chunk so that it takes about ``_TARGET_CHUNK_SECONDS``."""
    if elapsed is None:
        want = 8 * n_steps
    else:
        rate = n_steps / max(elapsed, 1e-6)
        # grow at most 8-fold per chunk, to learn the speed before long chunks
        want = int(np.clip(rate * _TARGET_CHUNK_SECONDS, 1, min(buffer, 8 * n_steps)))
    return int(max(1, min(want, remaining)))


def _default_chains() -> int:
    return max(2, min(4, os.cpu_count() or 1))


def _output_names(model, compiled) -> list[str]:
    """Names of the outputs of ``compiled.constrained``: free variables, then deterministics."""
    names = list(model.free_rv_info) + [str(d.name) for d in model.deterministics]
    n_outputs = len(compiled.constrained.output_names)
    if len(names) != n_outputs:
        raise RuntimeError(f"expected {len(names)} constrained outputs, the compiled model has {n_outputs}")
    return names


def _kept_names(names: Sequence[str], var_names: Sequence[str] | None) -> list[str]:
    if var_names is None:
        return list(names)
    unknown = [n for n in var_names if n not in names]
    if unknown:
        raise ValueError(f"var_names {unknown} are not free variables or deterministics: {list(names)}")
    return [n for n in names if n in var_names]


def _check_arguments(draws, tune, chains, target_accept, init, max_treedepth, discard_tuned_samples):
    for name, value, low in (("draws", draws, 1), ("tune", tune, 0), ("chains", chains, 1), ("max_treedepth", max_treedepth, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if not 0.0 < float(target_accept) < 1.0:
        raise ValueError(f"target_accept must lie in (0, 1), got {target_accept!r}")
    if init not in _INITS:
        raise ValueError(f"init={init!r} is unknown; valid: {list(_INITS)}")
    if not discard_tuned_samples:
        raise ValueError("discard_tuned_samples=False is not supported: warmup draws are not kept")


def _say(message: str) -> None:
    log.info(message)
