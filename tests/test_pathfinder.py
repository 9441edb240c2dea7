"""Pathfinder: the core against blackjax's formulas, accuracy on posteriordb, the API rows, every error."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from blackjax.optimizers.lbfgs import (
    bfgs_sample,
    lbfgs_inverse_hessian_factors,
    lbfgs_inverse_hessian_formula_1,
)

import varbayes as pm
from benchmarks import accuracy_models as am
from varbayes.variational.api.diagnostics import Diagnosis, smoothed_log_weights
from varbayes.variational.core import importance
from varbayes.variational.core import pathfinder as core


def _gaussian(dim=4, seed=0):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(dim, dim))
    cov = A @ A.T / dim + 0.2 * np.eye(dim)
    return rng.normal(size=dim) * 3.0, cov


def _random_normal(dim=5, maxcor=3, seed=0) -> core.PathNormal:
    """A normal as L-BFGS leaves it: blackjax's factors of a history of steps on a quadratic."""
    rng = np.random.default_rng(seed)
    _, cov = _gaussian(dim, seed)
    S = rng.normal(size=(dim, maxcor))
    Z = np.linalg.solve(cov, S)  # gradient changes of -log p on a quadratic: H s
    alpha = rng.uniform(0.5, 1.5, size=dim)
    beta, gamma = lbfgs_inverse_hessian_factors(jnp.asarray(S), jnp.asarray(Z), jnp.asarray(alpha))
    return core.PathNormal(
        jnp.asarray(rng.normal(size=dim)), jnp.asarray(rng.normal(size=dim)), jnp.asarray(alpha), beta, gamma
    )


# ---------------------------------------------------------------- the normal
def test_draws_and_log_q_are_blackjax_bfgs_sample():
    normal = _random_normal()
    ours, ours_logq = jax.jit(core.sample, static_argnums=2)(normal, jax.random.key(3), 7)
    # blackjax draws the same u; its mean takes the gradient it is given, here that of log p
    theirs, theirs_logq = bfgs_sample(
        jax.random.key(3), 7, normal.position, normal.grad, normal.alpha, normal.beta, normal.gamma
    )
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(ours_logq, theirs_logq, rtol=1e-10)


def test_log_q_is_the_dense_normal_of_blackjax_inverse_hessian():
    normal = _random_normal()
    cov = lbfgs_inverse_hessian_formula_1(normal.alpha, normal.beta, normal.gamma)
    mean = normal.position + cov @ normal.grad
    np.testing.assert_allclose(core.mean(normal), mean, rtol=1e-10)
    x = jnp.asarray(np.random.default_rng(1).normal(size=(6, mean.shape[0])))
    dense = jax.scipy.stats.multivariate_normal.logpdf(x, mean, cov)
    log_q = jax.jit(jax.vmap(core.log_q, in_axes=(None, 0)))
    np.testing.assert_allclose(log_q(normal, x), dense, rtol=1e-9)
    # the density of the sampler's own draws agrees with log_q at those draws
    draws, logq = jax.jit(core.sample, static_argnums=2)(normal, jax.random.key(2), 6)
    np.testing.assert_allclose(log_q(normal, draws), logq, rtol=1e-9)


def test_mixture_log_q_is_the_average_density_of_the_kept_normals():
    a, b = _random_normal(seed=0), _random_normal(seed=1)
    both = jax.tree.map(lambda *leaves: jnp.stack(leaves), a, b, a)
    x = jnp.linspace(-1.0, 1.0, 5)
    expected = np.log(0.5 * np.exp(core.log_q(a, x)) + 0.5 * np.exp(core.log_q(b, x)))
    np.testing.assert_allclose(
        jax.jit(core.mixture_log_q)(both, jnp.array([True, True, False]), x), expected, rtol=1e-9
    )


# ---------------------------------------------------------------- one path
_MEAN, _COV = _gaussian(4)
_PRECISION = jnp.asarray(np.linalg.inv(_COV))
_GRADIENT_CALLS = []


@jax.custom_vjp
def _gaussian_logdensity(x, mean):
    return -0.5 * (x - mean) @ _PRECISION @ (x - mean)


def _forward(x, mean):
    return _gaussian_logdensity(x, mean), (x, mean)


def _backward(residuals, cotangent):
    x, mean = residuals
    # counts every gradient evaluation the compiled program makes
    jax.debug.callback(lambda: _GRADIENT_CALLS.append(1))
    gradient = -(_PRECISION @ (x - mean))
    return cotangent * gradient, -cotangent * gradient


_gaussian_logdensity.defvjp(_forward, _backward)
_SETTINGS = {"maxcor": 6, "num_elbo_draws": 200}
# one compiled program for every single-path test
_one_path = jax.jit(
    lambda key, x0, data, maxiter: core.approximate(
        key, _gaussian_logdensity, x0, data, maxiter=maxiter, **_SETTINGS
    )
)


def test_a_gaussian_target_is_recovered_and_the_mean_is_the_newton_step():
    log_z = 0.5 * np.linalg.slogdet(2 * np.pi * _COV)[1]
    normal, info = _one_path(jax.random.key(0), jnp.zeros(4), jnp.asarray(_MEAN), 1000)
    assert core.STATUS[int(info.status)].startswith("relative change")
    np.testing.assert_allclose(core.mean(normal), _MEAN, atol=1e-4)
    # the ELBO is at most log Z, and close to it when q is close to p
    assert log_z - 0.1 < float(info.elbo) < log_z + 0.05
    history = np.asarray(core.elbo_history(info))
    assert history.shape == (int(info.iterations),) and np.isfinite(history).all()
    assert history[int(info.best_iteration) - 1] == float(info.elbo) == history.max()


def test_maxiter_stops_a_path_and_gradient_evaluations_are_counted_exactly():
    _GRADIENT_CALLS.clear()
    _, info = _one_path(jax.random.key(0), jnp.ones(4), jnp.asarray(_MEAN), 3)
    jax.effects_barrier()
    assert int(info.iterations) == 3 and core.STATUS[int(info.status)] == "maxiter reached"
    assert int(info.grad_evals) == len(_GRADIENT_CALLS) > 3


@pytest.mark.parametrize("vectorize", [True, False])
def test_paths_vectorised_or_in_turn_run_as_they_run_alone(vectorize):
    paths = jax.jit(
        core.multi_path(_gaussian_logdensity, num_draws_per_path=50, vectorize=vectorize, **_SETTINGS)
    )
    starts = jnp.asarray([[0.0, 0.0, 0.0, 0.0], [2.0, -1.0, 0.5, 3.0]])
    out = paths(jax.random.key(4), starts, jnp.asarray(_MEAN), 1000)
    for p, key in enumerate(jax.random.split(jax.random.key(4), 2)):
        path_key, _ = jax.random.split(key)
        normal, info = _one_path(path_key, starts[p], jnp.asarray(_MEAN), 1000)
        assert int(info.iterations) == int(out.info.iterations[p])
        np.testing.assert_allclose(normal.position, out.normals.position[p], rtol=1e-9)
        np.testing.assert_allclose(info.elbo, out.info.elbo[p], rtol=1e-9)
    assert out.draws.shape == (100, 4) and np.isfinite(out.log_q).all()


def test_an_exact_normal_posterior_has_khat_minus_inf(conjugate_normal):
    model, post_mean, post_sd = conjugate_normal
    with model:
        approx = pm.fit(method="pathfinder", random_seed=0, progressbar=False)
    # q is p up to normalisation: equal importance weights, no tail for PSIS to fit
    assert approx.khat == -np.inf and approx.ess == pytest.approx(4000)
    assert approx.diagnose(random_seed=1).reliable
    draws = approx.histogram.get_value()[:, 0]
    assert abs(draws.mean() - post_mean) < 0.1 * post_sd and abs(draws.std() / post_sd - 1) < 0.1


# ---------------------------------------------------------------- importance sampling
@pytest.mark.parametrize("scale", [0.5, 2.0, 6.0])
def test_jax_psis_is_arviz_psis(scale):
    # log ratios normal with sd 0.5, 2 and 6: k-hat from small to far above 1
    log_ratios = scale * np.random.default_rng(4).normal(size=3000)
    log_ratios[:7] = -np.inf  # draws with no weight
    expected, expected_khat = smoothed_log_weights(log_ratios)
    # padded with draws that are not in the pool: the tail length follows the pool's size
    padded = np.concatenate([log_ratios, np.full(1000, -np.inf)])
    log_weights, khat = jax.jit(importance.psis)(jnp.asarray(padded), 3000)
    assert np.isfinite(expected_khat) and float(khat) == pytest.approx(expected_khat, abs=1e-10)
    finite = np.isfinite(log_ratios)
    shift = lambda w: w[finite] - jax.scipy.special.logsumexp(w[finite])
    np.testing.assert_allclose(shift(np.asarray(log_weights)[:3000]), shift(expected), atol=1e-10)
    assert np.all(np.asarray(log_weights)[3000:] == -np.inf)


def test_psis_of_equal_ratios_has_khat_minus_inf():
    log_weights, khat = jax.jit(importance.psis)(jnp.full(50, 3.0))
    assert float(khat) == -np.inf
    np.testing.assert_allclose(log_weights, np.log(1 / 50))


def test_student_t_density_and_draws():
    mean = jnp.array([1.0, -2.0])
    chol = jnp.array([[1.0, 0.0], [0.6, 0.5]])
    t = importance.StudentT(mean, chol)
    x = jnp.array([[0.0, 0.0], [1.0, -2.0], [3.0, 1.0]])
    from scipy.stats import multivariate_t

    expected = multivariate_t(np.asarray(mean), np.asarray(chol @ chol.T), df=5).logpdf(np.asarray(x))
    np.testing.assert_allclose(importance.t_log_density(t, x, 5), expected, rtol=1e-10)
    draws = np.asarray(jax.jit(importance.t_sample, static_argnums=(2, 3))(t, jax.random.key(0), 200_000, 5))
    np.testing.assert_allclose(draws.mean(axis=0), mean, atol=0.02)
    np.testing.assert_allclose(np.cov(draws.T), chol @ chol.T * 5 / 3, rtol=0.05)
    with pytest.raises(ValueError, match="df must be at least 3"):
        importance.t_sample(t, jax.random.key(0), 3, 2)
    with pytest.raises(TypeError, match="df must be a Python integer"):
        importance.t_sample(t, jax.random.key(0), 3, 4.5)


def _weighted_moments(draws, log_ratios):
    log_weights, khat = smoothed_log_weights(np.asarray(log_ratios))
    w = np.exp(log_weights - log_weights.max())
    w /= w.sum()
    mean = w @ draws
    return mean, np.sqrt(w @ (draws - mean) ** 2), khat


def test_adaptive_refinement_fixes_a_too_narrow_proposal():
    # a correlated Gaussian in 6 dimensions; the proposal is a normal with a third of its sds
    # (no correlation) and off by half an sd: the paths' normals on eight schools look like this
    rng = np.random.default_rng(0)
    dim, num = 6, 2000
    sd = np.array([1.0, 2.0, 0.5, 1.0, 3.0, 1.0])
    corr = 0.7 ** np.abs(np.subtract.outer(np.arange(dim), np.arange(dim)))
    cov = corr * np.outer(sd, sd)
    mu = rng.normal(size=dim)
    precision = jnp.asarray(np.linalg.inv(cov))

    def logdensity(x, data):
        return -0.5 * (x - mu) @ precision @ (x - mu)

    start_mean, start_sd = mu + 0.5 * sd, sd / 3.0

    def narrow(x, proposal):
        return jnp.sum(jax.scipy.stats.norm.logpdf(x, *proposal))

    proposal = (jnp.asarray(start_mean), jnp.asarray(start_sd))
    draws = jnp.asarray(start_mean + start_sd * rng.normal(size=(num, dim)))
    log_p = jax.vmap(logdensity, (0, None))(draws, ())
    log_q = jax.vmap(narrow, (0, None))(draws, proposal)
    run = jax.jit(importance.adaptive(logdensity, narrow, num_draws=num, max_rounds=10))
    out = run(jax.random.key(1), draws, log_p, log_q, (), proposal)

    before_mean, before_sd, before_khat = _weighted_moments(np.asarray(draws), log_p - log_q)
    size = (int(out.selected) + 1) * num
    after_mean, after_sd, after_khat = _weighted_moments(
        np.asarray(out.draws[:size]), out.log_density[:size] - out.log_q[:size]
    )
    # the refinement's own record: the paths' pool first, then the pool it returns
    assert float(out.khat[0]) == pytest.approx(before_khat, abs=1e-10)
    assert float(out.khat[out.selected]) == pytest.approx(after_khat, abs=1e-10)
    assert 1 <= int(out.rounds) <= 10 and int(out.selected) == int(out.rounds)
    assert before_khat > 1.0 and after_khat < 0.7 and float(out.ess[out.selected]) >= num / 4
    before_error = np.abs(before_mean - mu) / sd
    after_error = np.abs(after_mean - mu) / sd
    assert before_error.max() > 0.3 and after_error.max() < 0.1
    assert (before_sd / sd).min() < 0.7 and np.all(np.abs(after_sd / sd - 1) < 0.1)


def test_adaptive_refinement_skips_a_proposal_that_passes():
    logdensity = lambda x, data: -0.5 * jnp.sum(x**2)
    exact = lambda x, proposal: jnp.sum(jax.scipy.stats.norm.logpdf(x)) + 0.3  # log q = log p + const
    draws = jax.random.normal(jax.random.key(0), (500, 3))
    run = jax.jit(importance.adaptive(logdensity, exact, num_draws=500, max_rounds=4))
    log_q = jax.vmap(exact, (0, None))(draws, ())
    out = run(jax.random.key(1), draws, jax.vmap(logdensity, (0, None))(draws, ()), log_q)
    assert int(out.rounds) == 0 and int(out.selected) == 0 and float(out.khat[0]) == -np.inf
    assert np.isinf(np.asarray(out.log_q[500:])).all()


def test_adaptive_with_no_rounds_judges_the_initial_draws_only():
    logdensity = lambda x, data: -0.5 * jnp.sum((x / 3.0) ** 2)
    narrow = lambda x, scale: jax.scipy.stats.norm.logpdf(x, 0.0, scale).sum()
    draws = jax.random.normal(jax.random.key(0), (200, 2))
    run = jax.jit(importance.adaptive(logdensity, narrow, num_draws=200, max_rounds=0))
    log_q = jax.vmap(narrow, (0, None))(draws, 1.0)
    out = run(jax.random.key(1), draws, jax.vmap(logdensity, (0, None))(draws, ()), log_q, (), 1.0)
    assert int(out.rounds) == 0 and int(out.selected) == 0 and out.draws.shape == (200, 2)
    assert np.isfinite(float(out.khat[0])) and out.components.mean.shape == (0, 2)


def test_adaptive_mixture_counts_the_initial_draws_that_carry_weight():
    # draws of paths that kept no normal (log q = +inf) are not draws of the initial proposal:
    # the deterministic mixture weighs each proposal by the draws it gave the pool
    logdensity = lambda x, data: -0.5 * jnp.sum((x / 3.0) ** 2)
    narrow = lambda x, scale: jax.scipy.stats.norm.logpdf(x, 0.0, scale).sum()
    n = 400
    draws = jax.random.normal(jax.random.key(0), (n, 2))
    log_q = jax.vmap(narrow, (0, None))(draws, 1.0).at[: n // 2].set(jnp.inf)
    run = jax.jit(importance.adaptive(logdensity, narrow, num_draws=n, max_rounds=2, min_ess=10.0 * n,
                                      khat_threshold=np.inf))
    out = run(jax.random.key(1), draws, jax.vmap(logdensity, (0, None))(draws, ()), log_q, (), 1.0)
    selected = int(out.selected)
    assert selected >= 1
    x = out.draws[n : (selected + 1) * n]
    per_proposal = [jnp.log(n / 2) + jax.vmap(narrow, (0, None))(x, 1.0)]
    for r in range(selected):
        t = jax.tree.map(lambda a: a[r], out.components)
        per_proposal.append(jnp.log(n) + importance.t_log_density(t, x))
    expected = jax.scipy.special.logsumexp(jnp.stack(per_proposal), axis=0) - jnp.log(n / 2 + selected * n)
    np.testing.assert_allclose(out.log_q[n : (selected + 1) * n], expected, rtol=1e-10)
    assert np.isposinf(np.asarray(out.log_q[: n // 2])).all()


def test_adaptive_settings_are_checked():
    logdensity = lambda x, data: -0.5 * jnp.sum(x**2)
    with pytest.raises(ValueError, match="max_rounds must be at least 0"):
        importance.adaptive(logdensity, logdensity, num_draws=10, max_rounds=-1)
    with pytest.raises(ValueError, match="df must be at least 3"):
        importance.adaptive(logdensity, logdensity, num_draws=10, df=2)


# ---------------------------------------------------------------- accuracy
@pytest.mark.skipif(not am.POSTERIORDB_DIR.exists(), reason="posteriordb references not found")
@pytest.mark.parametrize("name", ["pdb_kidiq", "pdb_mesquite"])
def test_posteriordb_means_within_a_quarter_sd(name):
    # kidiq: flat coefficients on predictors of very different scales; mesquite: collinear predictors
    with am.MODELS[name]():
        approx = pm.fit(method="pathfinder", random_seed=1, progressbar=False)
    assert approx.khat < 0.7
    result = am.compare(name, am.flat_draws(approx.sample(1000, random_seed=2).posterior))
    for var, r in result.items():
        assert r["mean_err"] < 0.25, (var, r)
        assert 0.75 < r["sd_ratio_min"] <= r["sd_ratio_max"] < 1.3, (var, r)
    assert approx.grad_evals < 1000


@pytest.mark.skipif(not am.POSTERIORDB_DIR.exists(), reason="posteriordb references not found")
@pytest.mark.parametrize("name", ["pdb_eight_schools_noncentered", "pdb_gp_pois_regr"])
def test_posteriordb_misses_of_the_paths_are_fixed_by_the_refinement(name):
    # the paths' normals are 3-10 times too narrow here; resampling them alone is 0.5-1 sd off
    model = am.MODELS[name]()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        before = pm.Pathfinder(model=model, random_seed=1, importance="psis").fit(progressbar=False)
    after = pm.Pathfinder(model=model, random_seed=1).fit(progressbar=False)
    error = lambda approx: max(
        r["mean_err"]
        for r in am.compare(name, am.flat_draws(approx.sample(1000, random_seed=2).posterior)).values()
    )
    assert before.khat >= 0.7 and error(before) > 0.4
    assert after.khat < 0.7 and after.rounds >= 1 and error(after) < 0.25
    assert after.grad_evals == before.grad_evals
    assert after.log_density_evals > before.log_density_evals
    # diagnose() draws afresh from the final proposal: the paths' mixture and the refinement's t's
    assert after.rounds_kept >= 1 and after.diagnose(random_seed=3).khat < 0.7


# ---------------------------------------------------------------- the API
@pytest.fixture(scope="module")
def regression():
    rng = np.random.default_rng(1)
    x = rng.normal(size=40)
    y = 1.0 + 2.0 * x + rng.normal(0.0, 0.5, size=40)
    with pm.Model() as model:
        data = pm.Data("x", x)
        a = pm.Normal("a", 0.0, 10.0)
        b = pm.Normal("b", 0.0, 10.0)
        s = pm.HalfNormal("s", 2.0)
        pm.Deterministic("slope_over_s", b / s)
        pm.Normal("y", a + b * data, s, observed=y, shape=data.shape)
        # n=None: the settings of Pathfinder().fit() and of pm.sample(init="pathfinder"), one program for all
        approx = pm.fit(None, method="pathfinder", random_seed=3, progressbar=False)
    # least squares: the posterior is close to it with these vague priors
    X = np.column_stack([np.ones_like(x), x])
    coef = np.linalg.lstsq(X, y, rcond=None)[0]
    return model, approx, coef


def test_fit_by_name(regression):
    _, approx, coef = regression
    assert isinstance(approx, pm.PathfinderApproximation) and isinstance(approx, pm.Empirical)
    assert approx.histogram.get_value().shape == (1000, 3)
    assert approx.paths.elbo.shape == (4,) and np.isfinite(approx.paths.elbo).all()
    assert approx.grad_evals == int(approx.paths.grad_evals.sum()) > 0
    assert approx.khat < 0.5 and approx.ess > 500
    assert len(approx.hist) >= 1 and np.isfinite(approx.hist).all()
    np.testing.assert_allclose(approx.mean.eval()[:2], coef, atol=0.1)


def test_object_api_and_seeds(regression):
    model = regression[0]
    pathfinder = pm.Pathfinder(num_draws=300, model=model, random_seed=5)
    approx = pm.fit(None, method=pathfinder, progressbar=False)
    assert approx is pathfinder.approx and approx.histogram.get_value().shape == (300, 3)
    again = pm.Pathfinder(num_draws=300, model=model, random_seed=5).fit(progressbar=False)
    np.testing.assert_array_equal(again.histogram.get_value(), approx.histogram.get_value())
    other = pm.Pathfinder(num_draws=300, model=model, random_seed=6).fit(progressbar=False)
    assert not np.array_equal(other.histogram.get_value(), approx.histogram.get_value())


def test_n_caps_the_iterations_of_each_path(regression):
    # two iterations are far from the posterior: k-hat of the paths' draws says so, at the caller's line
    with pytest.warns(UserWarning, match="Pareto k-hat") as record:
        approx = pm.fit(
            2,
            method="pathfinder",
            model=regression[0],
            random_seed=3,
            progressbar=False,
            inf_kwargs={"importance": "psis"},
        )
    assert record[0].filename == __file__
    assert approx.khat >= 0.7 and approx.paths.iterations.max() == 2
    assert len(approx.hist) <= 2 and approx.rounds == 0 and approx.round_khat is None


def test_adaptive_refinement_rescues_two_iterations(regression):
    # the same two-iteration paths: the refinement grows a proposal that passes, with no gradients
    model, _, coef = regression
    psis_only = pm.Pathfinder(model=model, random_seed=3, importance="psis")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        before = psis_only.fit(2, progressbar=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no k-hat warning
        after = pm.Pathfinder(model=model, random_seed=3).fit(2, progressbar=False)
    assert after.grad_evals == before.grad_evals
    assert after.rounds >= 1 and after.round_khat[0] >= 0.7 > after.khat
    assert after.round_khat[0] == pytest.approx(before.khat, abs=1e-9)
    assert after.log_density_evals == before.log_density_evals + after.rounds * 4000
    assert np.abs(after.mean.eval()[:2] - coef).max() < 0.1 and after.ess > before.ess


def test_sample_sample_node_and_summary(regression):
    model, approx, _ = regression
    trace = approx.sample(200, random_seed=1)
    assert set(trace.posterior.data_vars) == {"a", "b", "s", "slope_over_s"}
    assert trace.posterior["b"].shape == (1, 200)
    assert (trace.posterior["s"].values > 0).all()
    b, s = model["b"], model["s"]
    node = approx.sample_node(b / s, size=500)
    values = node.eval()
    assert values.shape == (500,)
    assert abs(values.mean() - trace.posterior["slope_over_s"].values.mean()) < 0.5
    assert not np.array_equal(values, node.eval())
    assert list(approx.summary(random_seed=0).index)[:2] == ["a", "b"]


def test_diagnose_reports_khat_of_the_paths_mixture(regression):
    approx = regression[1]
    diagnosis = approx.diagnose(draws=1000, random_seed=0)
    assert isinstance(diagnosis, Diagnosis) and diagnosis.reliable
    assert diagnosis.khat < 0.5 and diagnosis.draws == 1000
    assert approx.diagnose(draws=1000, random_seed=0).khat == diagnosis.khat


def test_posterior_predictive(regression):
    model, approx, _ = regression
    with model:
        ppc = pm.sample_posterior_predictive(approx, draws=50, random_seed=1)
    assert ppc.posterior_predictive["y"].shape == (1, 50, 40)


def test_init_for_nuts(regression):
    model = regression[0]
    with model:
        trace = pm.sample(
            100,
            tune=100,
            chains=2,
            init="pathfinder",
            random_seed=2,
            progressbar=False,
            compute_convergence_checks=False,
        )
    assert trace.posterior["b"].shape == (2, 100)
    assert abs(float(trace.posterior["b"].mean()) - regression[2][1]) < 0.2


def test_save_and_load_keep_the_draws(regression, tmp_path):
    model, approx, _ = regression
    loaded = pm.load_approximation(approx.save(tmp_path / "pathfinder.npz"), model)
    np.testing.assert_array_equal(loaded.histogram.get_value(), approx.histogram.get_value())


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"num_paths": 0}, ValueError, "num_paths must be at least 1, got 0"),
        ({"num_paths": 2.5}, TypeError, "num_paths must be an integer"),
        ({"num_paths": True}, TypeError, "num_paths must be an integer"),
        ({"num_draws": 0}, ValueError, "num_draws"),
        ({"num_draws_per_path": -1}, ValueError, "num_draws_per_path"),
        ({"maxcor": 0}, ValueError, "maxcor"),
        ({"num_elbo_draws": 0}, ValueError, "num_elbo_draws"),
        ({"maxls": 0}, ValueError, "maxls"),
        ({"jitter": -1.0}, ValueError, "jitter must be a finite non-negative number"),
        ({"jitter": float("nan")}, ValueError, "jitter"),
        ({"ftol": "small"}, TypeError, "ftol must be a number"),
        ({"gtol": -1e-8}, ValueError, "gtol"),
        ({"vectorize": "yes"}, TypeError, "vectorize must be True, False or None"),
        ({"importance": "adaptve"}, ValueError, "importance must be 'adaptive'.*got 'adaptve'"),
        ({"importance": True}, ValueError, "importance must be 'adaptive'.*'psis'.*None"),
        ({"importance_rounds": 0}, ValueError, "importance_rounds must be at least 1, got 0"),
        ({"importance_rounds": 2.0}, TypeError, "importance_rounds must be an integer"),
    ],
)
def test_bad_settings(kwargs, error, match):
    with pm.Model():
        pm.Normal("x", 0.0, 1.0)
        with pytest.raises(error, match=match):
            pm.Pathfinder(**kwargs)
        with pytest.raises(error, match=match):
            pm.fit(method="pathfinder", inf_kwargs=kwargs)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"n": 0}, ValueError, "n is the most L-BFGS iterations of each path and must be at least 1, got 0"),
        ({"n": -5}, ValueError, "at least 1"),
        ({"n": 2.5}, TypeError, "n must be an int"),
        ({"callbacks": [pm.callbacks.CheckParametersConvergence()]}, TypeError, "does not take callbacks="),
        ({"obj_optimizer": pm.adam()}, TypeError, "does not take obj_optimizer=: its optimizer is L-BFGS"),
        ({"obj_n_mc": 10}, TypeError, "num_elbo_draws"),
        ({"total_grad_norm_constraint": 1.0}, TypeError, "total_grad_norm_constraint"),
        ({"more_replacements": {}}, TypeError, "more_replacements"),
        ({"n": None, "max_n": 10}, TypeError, "max_n"),
        ({"checkpoint": "x.npz"}, TypeError, "checkpoint"),
        ({"resume": True}, TypeError, "resume"),
        ({"learning_rate": 0.1}, TypeError, "unexpected keyword argument 'learning_rate'"),
        ({"devices": 2}, ValueError, r"Pathfinder runs on one device: devices=2 is not supported \(pass None, 1 or"),
        ({"devices": True}, ValueError, "devices=True is not supported"),
    ],
)
def test_bad_fit_arguments(kwargs, error, match):
    with pm.Model():
        pm.Normal("x", 0.0, 1.0)
        with pytest.raises(error, match=match):
            pm.fit(method="pathfinder", progressbar=False, **kwargs)


def test_one_device_is_accepted():
    with pm.Model():
        pm.Normal("x", 0.0, 1.0)
        approx = pm.fit(method="pathfinder", devices=1, progressbar=False, random_seed=0)
        assert approx.sample(10).posterior["x"].shape == (1, 10)
        import jax

        pm.fit(method="pathfinder", devices=[jax.devices()[0]], progressbar=False, random_seed=0)


def test_minibatch_is_refused_with_the_reason():
    data = np.random.default_rng(0).normal(size=(200,))
    batch = pm.Minibatch(data, batch_size=20)
    with pm.Model():
        mu = pm.Normal("mu", 0.0, 1.0)
        pm.Normal("y", mu, 1.0, observed=batch, total_size=200)
        with pytest.raises(ValueError, match="Minibatch.*exact log-density|exact log-density.*Minibatch"):
            pm.fit(method="pathfinder")
        with pytest.raises(ValueError, match="Minibatch"):
            pm.Pathfinder()


def test_refine_and_early_diagnose_are_refused():
    with pm.Model():
        pm.Normal("x", 0.0, 1.0)
        pathfinder = pm.Pathfinder()
    with pytest.raises(RuntimeError, match="fit the approximation first"):
        pathfinder.approx.diagnose()
    with pytest.raises(TypeError, match="nothing to refine"):
        pathfinder.refine(100)


def test_no_finite_log_density_is_a_clear_error():
    with pm.Model():
        x = pm.Normal("x", 0.0, 1.0)
        pm.Potential("nowhere", pm.math.log(x - x))  # log 0 everywhere
        with pytest.raises(FloatingPointError, match="not finite at any of the 4 starting points"):
            pm.fit(method="pathfinder", progressbar=False)


def test_unknown_init_names_pathfinder():
    with pm.Model():
        pm.Normal("x", 0.0, 1.0)
        with pytest.raises(ValueError, match="'pathfinder'"):
            pm.sample(10, tune=10, init="pathfinderr")


def test_progress_line(regression, caplog):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with caplog.at_level("INFO", logger="varbayes"):
            pm.Pathfinder(model=regression[0], random_seed=5).fit(progressbar=True)
    assert any(
        "Pathfinder: 4 paths" in r.message and "gradient evaluations" in r.message for r in caplog.records
    )
