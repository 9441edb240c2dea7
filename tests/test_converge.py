"""Fits that stop by themselves: the stop rule's statistics, the whitened coordinates, fit(n=None)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import varbayes as pm
from varbayes.variational.core import build_chunk, elbo_step, families, init_state
from varbayes.variational.core.convergence import IterateMonitor, StopRule, batch_mcse, loss_trend, rank_normalize, split_rhat
from varbayes.variational.core.precondition import (
    to_model,
    to_whitened,
    whiten_logdensity,
    whitening_of,
)
from varbayes.variational.core.schedule import adaptive_adam, learning_rate, search_score, with_learning_rate


def logged(caplog):
    return "\n".join(r.getMessage() for r in caplog.records)


# ------------------------------------------------------------ the statistics
def test_split_rhat_matches_the_textbook_formula():
    rng = np.random.default_rng(0)
    chains = rng.normal(size=(4, 30, 3)) + np.array([0.0, 0.0, 1.0])[None, None, :] * np.arange(4)[:, None, None]
    n = chains.shape[1]
    w = chains.var(axis=1, ddof=1).mean(axis=0)
    b = n * chains.mean(axis=1).var(axis=0, ddof=1)
    expected = np.sqrt(((n - 1) / n * w + b / n) / w)
    np.testing.assert_allclose(split_rhat(chains), expected)
    assert expected[2] > 1.5 > 1.1 > expected[0]


def test_split_rhat_floor_makes_frozen_chains_agree():
    frozen = np.ones((4, 10, 2))
    np.testing.assert_allclose(split_rhat(frozen, floor=0.0), 1.0)
    np.testing.assert_allclose(split_rhat(frozen, floor=0.01), np.sqrt(0.9))
    drifting = np.linspace(0.0, 1.0, 40).reshape(4, 10, 1)
    assert split_rhat(drifting, floor=0.02)[0] > 2


def test_rank_normalize_gives_the_normal_scores_of_the_pooled_ranks():
    from scipy.special import ndtri
    from scipy.stats import rankdata

    rng = np.random.default_rng(4)
    for shape in [(4, 8, 3), (4, 32, 2), (4, 33, 1), (2, 5, 4)]:
        chains = rng.standard_t(3, size=shape)
        flat = chains.reshape(-1, shape[2])
        expected = ndtri((rankdata(flat, axis=0) - 0.375) / (flat.shape[0] + 0.25)).reshape(shape)
        # the standard library's inverse CDF, not scipy's: the same scores to a few units in the last place
        np.testing.assert_allclose(rank_normalize(chains), expected, rtol=1e-14, atol=1e-15)
    # ties (which continuous iterates do not have) are broken by position
    np.testing.assert_array_equal(np.argsort(rank_normalize(np.zeros((1, 5, 1)))[0, :, 0]), np.arange(5))


def test_batch_mcse_of_independent_and_correlated_draws():
    rng = np.random.default_rng(1)
    iid = rng.normal(size=(16_000, 1))
    assert batch_mcse(iid)[0] == pytest.approx(1 / np.sqrt(16_000), rel=0.35)
    # an AR(1) with rho 0.9 has an integrated autocorrelation time of 19: the error is sqrt(19) larger
    ar = np.zeros(64_000)
    for t in range(1, ar.size):
        ar[t] = 0.9 * ar[t - 1] + np.sqrt(1 - 0.81) * rng.normal()
    assert batch_mcse(ar[:, None])[0] == pytest.approx(np.sqrt(19 / 64_000), rel=0.35)


def test_loss_trend_sees_improvement_and_deterioration():
    rng = np.random.default_rng(2)
    flat = rng.normal(size=2000)
    change, se = loss_trend(flat)
    assert abs(change) < 3 * se
    change, se = loss_trend(flat + np.linspace(0, 2, 2000))
    assert change > 4 * se


def test_monitor_batches_segments_across_chunks_of_any_length():
    rng = np.random.default_rng(3)
    draws = rng.normal(size=(3000, 2))
    monitor = IterateMonitor(size=2, segment=5, max_atoms=16)
    done = 0
    for n in [7, 13, 380, 1, 599, 2000]:
        chunk = draws[done : done + n]
        phase = monitor.phase
        rows = -(-(phase + n) // 5)
        sums = np.zeros((rows + 2, 2))
        for i, x in enumerate(chunk):
            sums[(phase + i) // 5] += x
        monitor.add(sums, n)
        done += n
    assert monitor.iterations == 3000
    assert len(monitor.atoms) >= 16
    used = len(monitor.atoms) * monitor.atom_size
    np.testing.assert_allclose(np.mean(monitor.atoms, axis=0), draws[:used].mean(axis=0))


def test_monitor_window_is_the_recent_half():
    monitor = IterateMonitor(size=1, segment=1)
    values = np.arange(200.0)[:, None]
    monitor.add(values, 200)
    atoms, first = monitor.window()
    assert first == 100 and atoms.shape[0] == 100
    check = monitor.check(np.ones(1), StopRule())
    assert not check.stationary  # a trend


def _ar1_iterates(n, tau, sd, size, seed):
    """A stationary AR(1) path with correlation time ``tau`` iterations: Adam's iterates around an optimum."""
    rng = np.random.default_rng(seed)
    phi = np.exp(-1.0 / tau)
    x = np.zeros((n, size))
    for i in range(1, n):
        x[i] = phi * x[i - 1] + sd * np.sqrt(1 - phi**2) * rng.normal(size=size)
    return x


@pytest.mark.parametrize("method, sd, tau", [("advi", 0.1, 30.0), ("fullrank_advi", 0.05, 20.0)])
def test_correlated_stationary_iterates_pass_and_a_drift_does_not(method, sd, tau):
    # iterates correlated over tau iterations (Adam's at step size ~1 / tau), sd posterior sd around
    # the optimum, 10 parameters, a window of 500 iterations: the batch means' R-hat is 1.4-1.6
    with pm.Model() as model:
        pm.Normal("x", 0.0, 1.0)
    rule = (pm.ADVI if method == "advi" else pm.FullRankADVI)(model=model).stop_rule
    stationary, strict = [], []
    for seed in range(20):
        monitor = IterateMonitor(size=10, segment=5)
        monitor.add(_ar1_iterates(1000, tau, sd, 10, seed).reshape(200, 5, 10).sum(axis=1), 1000)
        stationary.append(monitor.check(np.ones(10), rule).stationary)
        strict.append(monitor.check(np.ones(10), StopRule()).stationary)
    assert np.mean(stationary) >= 0.6 and np.mean(strict) <= 0.2
    # the same noise on a drift of 0.6 sd across the window (1.2 sd over the fit): never stationary
    for seed in range(20):
        monitor = IterateMonitor(size=10, segment=5)
        path = _ar1_iterates(1000, tau, sd, 10, seed) + np.linspace(0.0, 1.2, 1000)[:, None]
        monitor.add(path.reshape(200, 5, 10).sum(axis=1), 1000)
        assert not monitor.check(np.ones(10), rule).stationary


def test_chunk_segment_sums_are_sums_of_the_iterates():
    fam = families.mean_field()
    step = elbo_step(fam, lambda x, data: -0.5 * jnp.sum((x - 3.0) ** 2), adaptive_adam(0.1))
    state = init_state(fam.init(jnp.zeros(2), None), adaptive_adam(0.1))
    recorded = build_chunk(step, 64, record_states=True)(state, jax.random.key(0), (), 0, 23)
    summed = build_chunk(step, 64, segment=5)(state, jax.random.key(0), (), 0, 23, 2)
    flat = np.concatenate([np.asarray(recorded.states.params["mu"]), np.asarray(recorded.states.params["rho"])], 1)
    flat = flat[:23]
    rows = [(2 + i) // 5 for i in range(23)]
    expected = np.zeros((np.max(rows) + 1, 4))
    for i, r in enumerate(rows):
        expected[r] += flat[i]
    np.testing.assert_allclose(np.asarray(summed.segment_sums)[: len(expected)], expected, rtol=1e-12)


def test_thinned_segment_sums_count_every_kth_iterate_k_times():
    fam = families.mean_field()
    step = elbo_step(fam, lambda x, data: -0.5 * jnp.sum((x - 3.0) ** 2), adaptive_adam(0.1))
    state = init_state(fam.init(jnp.zeros(2), None), adaptive_adam(0.1))
    recorded = build_chunk(step, 64, record_states=True)(state, jax.random.key(0), (), 0, 23)
    mean = lambda p: p["mu"] * 2.0  # noqa: E731 (a map to another vector, as a flow's statistics are)
    thinned = build_chunk(step, 64, segment=6, canonical=mean, canonical_every=3)(
        state, jax.random.key(0), (), 0, 23, 2
    )
    mu = 2.0 * np.asarray(recorded.states.params["mu"])[:23]
    expected = np.zeros(((2 + 22) // 6 + 1, 2))
    for i in range(23):
        if (2 + i) % 3 == 2:  # the last of each group of 3 counts for the group
            expected[(2 + i) // 6] += 3 * mu[i]
    np.testing.assert_allclose(np.asarray(thinned.segment_sums)[: len(expected)], expected, rtol=1e-12)
    with pytest.raises(ValueError, match="canonical_every=4 must divide segment=6"):
        build_chunk(step, 64, segment=6, canonical=mean, canonical_every=4)(state, jax.random.key(0), (), 0, 5)


# -------------------------------------------------------- coordinates, step size
@pytest.mark.parametrize("family", [families.mean_field(), families.full_rank(), families.low_rank(2)])
def test_whitening_round_trip_and_standard_normal(family):
    params = family.init(jnp.array([1.0, -2.0, 0.5]), jax.random.key(0))
    params = jax.tree_util.tree_map(lambda a: a + 0.3 * jax.random.normal(jax.random.key(1), a.shape), params)
    w = whitening_of(family, params)
    z = to_whitened(family, params, w)
    np.testing.assert_allclose(family.mean(z), 0.0, atol=1e-12)
    np.testing.assert_allclose(family.std(z), 1.0, atol=1e-12)
    back = to_model(family, z, w)
    for name in params:
        np.testing.assert_allclose(back[name], params[name], atol=1e-12)


def test_whitened_log_density_includes_the_jacobian():
    fam = families.full_rank()
    params = {"mu": jnp.array([1.0, 2.0]), "L_tril": jnp.array([2.0, 0.5, 0.3])}
    w = whitening_of(fam, params)
    logp = lambda x, data: -0.5 * jnp.sum(x**2)  # noqa: E731
    z = jnp.array([0.3, -0.7])
    x = w.shift + w.factor @ z
    expected = logp(x, ()) + jnp.log(2.0 * 0.3)
    assert float(whiten_logdensity(logp)(z, (w, ()))) == pytest.approx(float(expected))


def test_learning_rate_is_state_and_search_score():
    opt = adaptive_adam(0.1)
    state = opt.init({"a": jnp.zeros(3)})
    assert learning_rate(state) == pytest.approx(0.1)
    state = with_learning_rate(state, 0.003)
    assert learning_rate(state) == pytest.approx(0.003)
    import optax

    assert learning_rate(pm.adam(0.1).init(jnp.zeros(1))) == pytest.approx(0.1)
    assert learning_rate(optax.adam(0.1).init(jnp.zeros(1))) is None
    with pytest.raises(ValueError, match="no learning rate"):
        with_learning_rate(optax.adam(0.1).init(jnp.zeros(1)), 0.1)
    assert search_score(np.array([9.0, 1.0, 2.0])) == pytest.approx(1.5)
    assert search_score(np.array([1.0, np.nan])) == np.inf


# ------------------------------------------------------------------ fit(n=None)
def test_fit_until_converged_recovers_the_conjugate_posterior(conjugate_normal, caplog):
    model, post_mean, post_sd = conjugate_normal
    with model:
        approx = pm.fit(n=None, random_seed=1, progressbar=False)
    report = approx.convergence
    assert report.converged and report.reason == "converged"
    assert report.iterations == len(approx.hist)
    start, stop = report.window
    assert 0 < start < stop <= len(approx.hist)
    rule = pm.ADVI(model=model).stop_rule
    assert report.rhat < rule.rhat_small_drift and report.mcse < rule.mcse
    assert report.step_sizes and report.search_iterations > 0
    # a mean field averages to an MCSE of 0.1 sd in a window whose quarters agree to ~0.1 sd
    # (10 seeds: errors up to 0.13 sd)
    assert approx.mean.eval()[0] == pytest.approx(post_mean, abs=0.25 * post_sd)
    assert approx.std.eval()[0] == pytest.approx(post_sd, rel=0.1)
    # the returned parameters are the iterate average, not the last iterate
    assert report.elbo == pytest.approx(-np.mean(approx.hist[start:stop]))
    assert report.khat < 0.5
    assert f"Converged at {len(approx.hist):,}: Average Loss = " in logged(caplog)
    text = repr(report)
    assert "converged after" in text and "Pareto k-hat" in text and "R-hat" in text


def test_int_n_is_unchanged(conjugate_normal):
    model, *_ = conjugate_normal
    with model:
        inference = pm.ADVI(random_seed=1)
        approx = inference.fit(1000, progressbar=False)
    assert len(approx.hist) == 1000 and approx.convergence is None
    assert inference._step_config[0][0] == "default"  # adagrad_window, PyMC's default


def test_same_seed_same_fit(mixture_model):
    runs = []
    for _ in range(2):
        with mixture_model:
            approx = pm.fit(n=None, random_seed=5, progressbar=False)
        runs.append((approx.hist.copy(), approx.mean.eval().copy(), approx.convergence.iterations))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    assert runs[0][2] == runs[1][2]


@pytest.mark.parametrize("method", ["fullrank_advi", "lowrank"])
def test_correlated_families_converge_on_a_correlated_gaussian(method):
    cov = np.array([[1.0, 0.9], [0.9, 1.0]])
    with pm.Model():
        pm.MvNormal("x", mu=np.array([1.0, -1.0]), cov=cov)
        if method == "lowrank":
            inference = pm.KLqp(pm.LowRank(rank=1, random_seed=2), random_seed=3)
        else:
            inference = pm.FullRankADVI(random_seed=2)
        approx = inference.fit(n=None, progressbar=False)
    assert approx.convergence.converged
    np.testing.assert_allclose(approx.mean.eval(), [1.0, -1.0], atol=0.1)
    np.testing.assert_allclose(approx.cov.eval(), cov, atol=0.12)


def test_minibatch_fit_stops_on_a_noisy_elbo_and_is_accurate():
    rng = np.random.default_rng(4)
    data = rng.normal(2.0, 1.0, size=20_000)
    post_sd = 1.0 / np.sqrt(data.size)
    batch = pm.Minibatch(data, batch_size=100)
    with pm.Model():
        mu = pm.Normal("mu", 0.0, 10.0)
        pm.Normal("y", mu, 1.0, observed=batch, total_size=data.size)
        approx = pm.fit(n=None, random_seed=1, progressbar=False)
    report = approx.convergence
    assert report.converged and report.khat is None
    # the loss is noisy: its window standard error is far above the posterior sd of mu
    assert report.elbo_se > 10 * post_sd
    assert approx.mean.eval()[0] == pytest.approx(data.mean(), abs=0.25 * post_sd)
    assert approx.std.eval()[0] == pytest.approx(post_sd, rel=0.25)


def test_stop_does_not_fire_while_the_parameters_drift():
    # a user's step size far too small: the loss barely moves, the mean creeps towards 50
    with pytest.warns(UserWarning, match="not stationary"):
        with pm.Model():
            pm.Normal("x", 50.0, 1.0)
            approx = pm.fit(
                n=None, obj_optimizer=pm.adam(1e-4), max_n=20_000, start={"x": 0.0}, random_seed=1, progressbar=False
            )
    assert approx.convergence.reason == "max_n"
    assert len(approx.hist) == 20_000
    assert approx.convergence.window is None
    assert approx.mean.eval()[0] < 10


def test_user_optimizer_is_honoured(conjugate_normal):
    model, post_mean, post_sd = conjugate_normal
    with model:
        inference = pm.ADVI(random_seed=1)
        approx = inference.fit(n=None, obj_optimizer=pm.adam(0.05), progressbar=False)
    report = approx.convergence
    assert report.converged and report.step_sizes == (0.05,) and report.search_iterations == 0 and not report.events
    assert inference._step_config[0][0] != "auto"
    assert approx.mean.eval()[0] == pytest.approx(post_mean, abs=0.15 * post_sd)


def test_refine_none_continues_until_converged(conjugate_normal):
    model, post_mean, post_sd = conjugate_normal
    with model:
        inference = pm.FullRankADVI(random_seed=1)
        approx = inference.fit(n=None, progressbar=False)
        first = len(approx.hist)
        approx = inference.refine(None, progressbar=False)
    assert len(approx.hist) > first
    assert approx.convergence.converged and approx.convergence.search_iterations == 0
    assert approx.mean.eval()[0] == pytest.approx(post_mean, abs=0.1 * post_sd)


def test_fixed_refine_after_fit_until_converged(conjugate_normal):
    model, post_mean, post_sd = conjugate_normal
    with model:
        inference = pm.FullRankADVI(random_seed=1)
        approx = inference.fit(n=None, progressbar=False)
        first = len(approx.hist)
        approx = inference.refine(300, progressbar=False)
    assert len(approx.hist) == first + 300
    assert approx.mean.eval()[0] == pytest.approx(post_mean, abs=0.3 * post_sd)


def test_asvgd_until_converged(conjugate_normal):
    model, post_mean, post_sd = conjugate_normal
    with model:
        approx = pm.fit(n=None, method="asvgd", random_seed=1, progressbar=False)
    assert approx.convergence.converged
    assert approx.mean.eval()[0] == pytest.approx(post_mean, abs=0.25 * post_sd)


def test_svgd_particles_stop_when_stationary(conjugate_normal):
    model, post_mean, post_sd = conjugate_normal
    with model:
        approx = pm.fit(n=None, method="svgd", inf_kwargs={"n_particles": 50}, random_seed=1, progressbar=False)
    assert approx.convergence.converged and approx.convergence.khat is None
    particles = approx.histogram.get_value()[:, 0]
    assert particles.mean() == pytest.approx(post_mean, abs=0.1 * post_sd)
    assert particles.std() == pytest.approx(post_sd, rel=0.2)


def test_caps_stop_the_fit_and_warn(conjugate_normal):
    model, *_ = conjugate_normal
    with model, pytest.warns(UserWarning, match="max_n=300"):
        approx = pm.fit(n=None, max_n=300, random_seed=1, progressbar=False)
    assert approx.convergence.reason == "max_n" and len(approx.hist) == 300
    with model, pytest.warns(UserWarning, match="max_time"):
        approx = pm.fit(n=None, max_time=0, random_seed=1, progressbar=False)
    assert approx.convergence.reason == "max_time"


def test_callback_stop_is_reported(conjugate_normal, caplog):
    def stop_at_250(approx, hist, i):
        # before the first check (at 420 iterations, the search's included), which may stop the fit
        if i >= 250:
            raise StopIteration("enough")

    model, *_ = conjugate_normal
    with model:
        approx = pm.fit(n=None, callbacks=[stop_at_250], random_seed=1, progressbar=False)
    assert approx.convergence.reason == "callback"
    assert "enough" in logged(caplog)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"n": "100"}, TypeError, "n must be an int"),
        ({"n": 10.5}, TypeError, "n must be an int"),
        ({"n": None, "max_n": 0}, ValueError, "max_n must be at least 1"),
        ({"n": None, "max_n": 2.5}, TypeError, "max_n must be an int"),
        ({"n": None, "max_time": -1.0}, ValueError, "max_time must be a non-negative"),
        ({"n": None, "max_time": "1"}, TypeError, "max_time must be a number"),
        ({"n": 100, "max_n": 10}, ValueError, "pass n=None"),
    ],
)
def test_bad_limits_name_the_argument(conjugate_normal, kwargs, error, match):
    model, *_ = conjugate_normal
    with model, pytest.raises(error, match=match):
        pm.fit(progressbar=False, **kwargs)


def test_refine_none_validates_its_limits(conjugate_normal):
    model, *_ = conjugate_normal
    with model:
        inference = pm.ADVI(random_seed=0)
        inference.fit(100, progressbar=False)
        with pytest.raises(ValueError, match="max_n"):
            inference.refine(None, max_n=0)


@pytest.mark.slow
def test_ill_conditioned_regression_with_fullrank():
    """A trend on calendar years without centring: intercept and slope correlate at -0.99995."""
    from benchmarks import accuracy_models as am

    with am.collinear_regression():
        approx = pm.fit(n=None, method="fullrank_advi", random_seed=1, progressbar=False)
    assert approx.convergence.converged
    result = am.compare("collinear_regression", am.flat_draws(approx.sample(4000, random_seed=0).posterior))
    for var, r in result.items():
        assert r["mean_err"] < 0.25, (var, r)
        assert 0.8 <= r["sd_ratio_min"] and r["sd_ratio_max"] <= 1.25, (var, r)


@pytest.mark.slow
def test_mean_field_stops_once_its_average_is_known_to_a_tenth_of_an_sd():
    # a minibatch regression's noisy gradient makes averaging slow: to 0.05 sd it took 139-144k
    # iterations for an answer within 0.04 sd of the full-data posterior; to 0.1 sd, 24-35k
    from benchmarks import accuracy_models as am

    with am.MODELS["minibatch_linear_regression"]():
        inference = pm.ADVI(random_seed=2)
        approx = inference.fit(n=None, progressbar=False)
    report = approx.convergence
    assert inference.stop_rule.mcse == 0.1 and pm.FullRankADVI(model=inference.approx.model).stop_rule.mcse == 0.05
    assert report.converged and 0.05 < report.mcse < 0.1
    assert report.iterations < 60_000
    result = am.compare("minibatch_linear_regression", am.flat_draws(approx.sample(4000, random_seed=0).posterior))
    assert max(r["mean_err"] for r in result.values()) < 0.25, result


ACCURACY_CASES = [
    # (model, method): the criteria of the accuracy benchmark, one seed
    ("pdb_kidiq", "fullrank_advi"),
    ("pdb_mesquite", "fullrank_advi"),
    ("pdb_arK", "fullrank_advi"),
    ("logistic_regression", "fullrank_advi"),
    ("dirichlet_categorical", "fullrank_advi"),
    ("pdb_eight_schools_noncentered", "advi"),
    ("minibatch_linear_regression", "advi"),
    ("mvnormal_lkj", "advi"),
]


@pytest.mark.slow
@pytest.mark.parametrize("name, method", ACCURACY_CASES)
def test_fit_until_converged_meets_the_reference(name, method):
    """No settings but the method: full-rank means within 0.25 sd and sds within [0.8, 1.25]; mean-field 0.5 sd."""
    from benchmarks import accuracy_models as am

    with am.MODELS[name]():
        approx = pm.fit(n=None, method=method, random_seed=1, progressbar=False)
    assert approx.convergence.converged
    result = am.compare(name, am.flat_draws(approx.sample(4000, random_seed=0).posterior))
    for var, r in result.items():
        if method == "fullrank_advi":
            assert r["mean_err"] < 0.25, (var, r)
            assert 0.8 <= r["sd_ratio_min"] and r["sd_ratio_max"] <= 1.25, (var, r)
        else:
            assert r["mean_err"] < 0.5, (var, r)


def test_compilation_cache_is_on_and_can_be_moved_or_turned_off(tmp_path):
    import subprocess
    import sys

    script = (
        "import varbayes as pm\n"
        "print(pm.config.compilation_cache_dir())\n"
        "with pm.Model():\n"
        "    pm.Normal('x', 0.0, 1.0, shape=3)\n"
        "    pm.fit(300, method='fullrank_advi', progressbar=False, random_seed=0)\n"
    )
    env = {**__import__("os").environ, "VARBAYES_CACHE_DIR": str(tmp_path / "cache"), "JAX_PLATFORMS": "cpu"}
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.splitlines()[0] == str(tmp_path / "cache")
    assert any((tmp_path / "cache").iterdir()), "compiled programs were not written to the cache"
    env["VARBAYES_COMPILATION_CACHE"] = "0"
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.splitlines()[0] == "None"


def test_a_fit_that_cannot_settle_names_the_drifting_variable():
    # only a[0] + a[1] is identified and a has a flat prior: the posterior is improper
    # along a[0] - a[1], where a full-rank q keeps widening, so its iterates never settle
    with pm.Model():
        a = pm.Flat("a", shape=2)
        b = pm.Normal("b", 0.0, 1.0)
        pm.Normal("y", a[0] + a[1] + b, 1.0, observed=np.array([0.1, -0.3, 0.4]))
        with pytest.warns(UserWarning, match="drifting most: 'a'"):
            approx = pm.fit(n=None, method="fullrank_advi", max_n=20_000, random_seed=1, progressbar=False)
    assert approx.convergence.reason == "max_n"


def test_keyboard_interrupt_keeps_the_last_finished_chunk(conjugate_normal):
    # before the first check that could stop the fit (420 iterations)
    def interrupt_at_300(approx, hist, i):
        if i >= 300:
            raise KeyboardInterrupt

    model, *_ = conjugate_normal
    interrupt_at_300.every = 100
    with model:
        approx = pm.fit(n=None, callbacks=[interrupt_at_300], random_seed=1, progressbar=False)
    assert approx.convergence.reason == "interrupted"
    assert len(approx.hist) >= 300 and np.all(np.isfinite(approx.mean.eval()))


# -------------------------------------------------------- one chunk of a converging loop
class _FakeRun:
    """What ``advance`` reads of a fit's bookkeeping; its chunk raises or returns as told."""

    def __init__(self, outcome):
        from types import SimpleNamespace

        self.outcome, self.done, self.buffer, self.steps = outcome, 0, 1000, 0
        self.monitor = IterateMonitor(1, 5)
        self.state = SimpleNamespace(params="committed params")
        self.to_model = lambda params: params
        self.approx = SimpleNamespace(set_params=lambda params: setattr(self, "set_to", params))

    def chunk_and_callbacks(self, state, data):
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        self.done += 100
        return "new state", self.outcome


class _FakeCheckpoint:
    written = None

    def after_chunk(self, state):
        return None

    def write(self, state):
        self.written = state


def test_advance_recovers_stops_and_reraises():
    from varbayes.variational.api.converge import advance

    rule, caps = StopRule(), (10_000, None, 0.0)
    state = type("S", (), {"params": 0})()
    # a normal chunk
    assert advance(_FakeRun(None), state, lambda: (), rule, caps, None, lambda: None) == ("new state", None, None)
    # the caps come first: nothing runs
    run = _FakeRun(None)
    assert advance(run, state, lambda: (), rule, (0, None, 0.0), None, lambda: None)[1] == "max_n"
    assert run.done == 0
    assert advance(run, state, lambda: (), rule, (10, 0.0, 0.0), None, lambda: None)[1] == "max_time"
    # a non-finite loss: recovered, or re-raised with the last committed state written
    run = _FakeRun(FloatingPointError("NaN"))
    assert advance(run, state, lambda: (), rule, caps, None, lambda: "smaller steps") == ("smaller steps", "recovered", None)
    checkpoint = _FakeCheckpoint()
    with pytest.raises(FloatingPointError):
        advance(run, state, lambda: (), rule, caps, checkpoint, lambda: None)
    assert checkpoint.written is run.state
    # Ctrl-C keeps the last committed state; a callback's stop and SIGTERM end the fit with their message
    run = _FakeRun(KeyboardInterrupt())
    assert advance(run, state, lambda: (), rule, caps, None, lambda: None) == (run.state, "interrupted", None)
    assert run.set_to == "committed params"
    assert advance(_FakeRun("converged enough"), state, lambda: (), rule, caps, None, lambda: None)[1:] == (
        "callback", "converged enough")
    assert advance(_FakeRun("SIGTERM received"), state, lambda: (), rule, caps, None, lambda: None)[1] == "interrupted"


def test_search_ends_at_the_first_step_size_worse_than_the_best_before_it():
    from types import SimpleNamespace

    from varbayes.variational.api.converge import SEARCH_STEPS, _search
    from varbayes.variational.core.driver import ChunkResult

    # mean loss over each candidate's run: 0.1 diverges, 0.01 is the best before a worse one
    losses = {0.1: np.nan, 0.03: 5.0, 0.01: 3.0, 0.003: 4.0, 0.001: 1.0}
    tried = []

    def chunk(trial, key, data, start, steps, phase):
        step_size = learning_rate(trial.opt_state)
        tried.append(step_size)
        run_losses = np.full(steps, losses[step_size])
        return ChunkResult(trial, run_losses, np.int64(steps), np.bool_(np.isfinite(losses[step_size])), None)

    committed = []
    run = SimpleNamespace(offset=0, done=0, key=None, chunk=chunk, scores=np.zeros(SEARCH_STEPS))
    run.commit = lambda state, count: committed.append(count) or state
    state = init_state(families.mean_field().init(jnp.zeros(1), jax.random.key(0)), adaptive_adam())
    bar = SimpleNamespace(update=lambda *args: None)
    _, step_size, discarded = _search(run, state, None, bar)
    assert [round(s, 6) for s in tried] == [0.1, 0.03, 0.01, 0.003]
    assert step_size == 0.01 and discarded == 3 * SEARCH_STEPS and committed == [SEARCH_STEPS]
    assert np.all(run.scores == 3.0)


def test_canonical_every_is_checked_when_the_chunk_is_built():
    fam = families.mean_field()
    step = elbo_step(fam, lambda x, data: -0.5 * jnp.sum(x**2), adaptive_adam(0.1))
    for bad in (0, -5, 2.5, True):
        with pytest.raises(ValueError, match="canonical_every must be a positive int"):
            build_chunk(step, 64, segment=5, canonical=lambda p: p["mu"], canonical_every=bad)


def test_minibatch_loops_keep_the_tree_reduction_under_float32():
    import os
    import subprocess
    import sys

    script = (
        "import jax, varbayes\n"
        "from varbayes.variational.core.driver import loop_compiler_options\n"
        "from varbayes.variational.core.step import BatchedStep\n"
        "step = BatchedStep(lambda s, k, d: (s, 0.0), lambda k, d, i: d)\n"
        "print(jax.config.jax_enable_x64, sorted(loop_compiler_options(step)))\n"
    )
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    env.pop("PYTENSOR_FLAGS", None)
    double = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert double.stdout.split()[0] == "True" and "'xla_disable_hlo_passes'" in double.stdout
    single = subprocess.run([sys.executable, "-c", script], env={**env, "PYTENSOR_FLAGS": "floatX=float32"},
                            capture_output=True, text=True, check=True)
    assert single.stdout.split()[0] == "False" and "xla_disable_hlo_passes" not in single.stdout
    assert "'xla_cpu_experimental_ynn_fusion_type'" in single.stdout
