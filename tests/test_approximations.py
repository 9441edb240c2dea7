"""Using an approximation: sample, sample_node, Empirical, summary, diagnose, plots."""

import warnings

import jax.numpy as jnp
import matplotlib
import numpy as np
import optax
import pandas as pd
import pytensor
import pytensor.tensor as pt
import pytest

import varbayes as pm
from varbayes.output import to_datatree
from varbayes.variational.api.diagnostics import Diagnosis

matplotlib.use("Agg")


def _softplus_inverse(s):
    return jnp.log(jnp.expm1(jnp.asarray(s, dtype=jnp.float64)))


@pytest.fixture(scope="module")
def small_model():
    """A vector with dims, a positive scalar and a deterministic; q set by hand."""
    with pm.Model(coords={"k": ["a", "b", "c"]}) as model:
        x = pm.Normal("x", 0.0, 1.0, dims="k")
        s = pm.HalfNormal("s", 1.0)
        pm.Deterministic("d", x.sum() * s)
    approx = pm.MeanField(model=model, random_seed=0)
    # theta = (x_a, x_b, x_c, log s)
    approx.set_params({"mu": jnp.array([1.0, -2.0, 0.5, 0.3]), "rho": _softplus_inverse([0.5, 1.0, 2.0, 0.2])})
    return model, approx


@pytest.fixture(scope="module")
def fitted_mixture():
    w = pm.floatX([0.2, 0.8])
    mu = pm.floatX([-0.3, 0.5])
    sd = pm.floatX([0.1, 0.1])
    with pm.Model() as model:
        x = pm.NormalMixture("x", w=w, mu=mu, sigma=sd)
        pm.Deterministic("x2", x**2)
        svgd = pm.fit(100, method="svgd", inf_kwargs=dict(n_particles=300),
                      obj_optimizer=pm.sgd(learning_rate=0.01), random_seed=42, progressbar=False)
    return model, x, svgd


@pytest.fixture(scope="module")
def conjugate():
    rng = np.random.default_rng(0)
    y = rng.normal(1.5, 1.0, size=20)
    post_var = 1.0 / (1.0 / 100.0 + len(y))
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 10.0)
        pm.Normal("y", mu, 1.0, observed=y)
        # cosine-decayed Adam: the final iterate sits at the optimum, not in the optimiser's noise
        optimizer = optax.adam(optax.cosine_decay_schedule(0.05, 10000, alpha=0.01))
        approx = pm.fit(10000, progressbar=False, random_seed=1, obj_optimizer=optimizer)
    return model, approx, post_var * y.sum(), float(np.sqrt(post_var))


# ------------------------------------------------------------------- sample
def test_sample_posterior_has_constrained_values_deterministics_and_dims(small_model):
    model, approx = small_model
    dt = approx.sample(20000, random_seed=1)
    post = dt.posterior
    assert set(post.data_vars) == {"x", "s", "d"}
    assert dict(post["x"].sizes) == {"chain": 1, "draw": 20000, "k": 3}
    assert list(post["k"].values) == ["a", "b", "c"]
    x, s, d = (post[n].values[0] for n in ("x", "s", "d"))
    # x ~ N(mu, sd) exactly; s = exp(N(0.3, 0.2)) is log-normal; 5 standard errors
    assert np.all(np.abs(x.mean(0) - [1.0, -2.0, 0.5]) < 5 * np.array([0.5, 1.0, 2.0]) / np.sqrt(20000))
    np.testing.assert_allclose(x.std(0), [0.5, 1.0, 2.0], rtol=0.03)
    assert np.all(s > 0)
    np.testing.assert_allclose(np.log(s).mean(), 0.3, atol=5 * 0.2 / np.sqrt(20000))
    np.testing.assert_allclose(d, x.sum(1) * s, rtol=1e-12)


def test_sample_include_transformed_is_the_same_draw(small_model):
    _, approx = small_model
    post = approx.sample(50, random_seed=3, include_transformed=True).posterior
    assert "s_log__" in post
    np.testing.assert_allclose(np.exp(post["s_log__"].values), post["s"].values, rtol=1e-12)
    plain = approx.sample(50, random_seed=3).posterior
    np.testing.assert_array_equal(plain["x"].values, post["x"].values)


def test_sample_seeds_are_reproducible(small_model):
    _, approx = small_model
    a = approx.sample(10, random_seed=5).posterior["x"].values
    b = approx.sample(10, random_seed=5).posterior["x"].values
    c = approx.sample(10, random_seed=6).posterior["x"].values
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_sample_is_one_cached_program(small_model):
    _, approx = small_model
    approx.sample(37, random_seed=0)
    programs = [v for k, v in approx.compiled.constrained.cache.items() if k[0] == "approximation_draws"]
    sizes = [p._cache_size() for p in programs]
    approx.sample(37, random_seed=1)
    approx.sample(37, random_seed=2)
    programs_after = [v for k, v in approx.compiled.constrained.cache.items() if k[0] == "approximation_draws"]
    assert len(programs_after) == len(programs)
    assert [p._cache_size() for p in programs_after] == sizes  # no retracing for the same draws


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "10"])
def test_sample_bad_draws(small_model, bad):
    _, approx = small_model
    with pytest.raises(ValueError, match="draws"):
        approx.sample(bad)


# -------------------------------------------------------------- sample_node
def test_sample_node_fresh_draws_and_sizes(small_model):
    model, approx = small_model
    x = model["x"]
    node = approx.sample_node(x)
    a, b = node.eval(), node.eval()
    assert a.shape == (3,) and not np.allclose(a, b)
    assert approx.sample_node(x, size=7).eval().shape == (7, 3)
    i = pt.iscalar("i")
    sized = approx.sample_node(x, size=i)
    assert sized.eval({i: 4}).shape == (4, 3)
    assert sized.eval({i: 9}).shape == (9, 3)
    assert approx.sample_node([x, model["s"]], size=5)[1].eval().shape == (5,)


def test_sample_node_deterministic_is_the_expression_at_the_mean(small_model):
    model, approx = small_model
    expr = model["x"].sum() * model["s"] ** 2
    mean = approx.mean.eval()
    expected = mean[:3].sum() * np.exp(mean[3]) ** 2
    value = approx.sample_node(expr, deterministic=True)
    np.testing.assert_allclose(value.eval(), expected, rtol=1e-12)
    np.testing.assert_allclose(value.eval(), expected, rtol=1e-12)
    np.testing.assert_allclose(approx.sample_node(expr, size=3, deterministic=True).eval(), [expected] * 3)


def test_sample_node_statistics_compose(small_model):
    model, approx = small_model
    draws = approx.sample_node(model["x"], size=20000)
    mean, var = draws.mean(0), draws.var(0)
    assert np.all(np.abs(mean.eval() - [1.0, -2.0, 0.5]) < 5 * np.array([0.5, 1.0, 2.0]) / np.sqrt(20000))
    np.testing.assert_allclose(var.eval(), [0.25, 1.0, 4.0], rtol=0.05)
    share_positive = pt.eq(draws > 0, 1).mean(0).eval()
    # P(x > 0) for N(1, .5), N(-2, 1), N(.5, 2)
    np.testing.assert_allclose(share_positive, [0.97725, 0.02275, 0.59871], atol=0.015)


@pytest.fixture(scope="module")
def regression():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 2))
    y = (X @ np.array([1.0, -2.0]) + 0.5 + rng.normal(scale=0.3, size=60) > 0).astype("int64")
    Xt = pytensor.shared(X, name="Xt")
    with pm.Model() as model:
        beta = pm.Normal("beta", 0.0, 3.0, shape=2)
        a = pm.Normal("a", 0.0, 3.0)
        logit = Xt.dot(beta) + a
        pm.Bernoulli("obs", logit_p=logit, observed=y)
        advi = pm.ADVI(random_seed=2)
    return model, advi, Xt, logit


def test_more_replacements_swaps_a_shared_input(regression):
    model, advi, Xt, logit = regression
    approx = advi.approx
    X_test = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]])
    out = approx.sample_node(logit, deterministic=True, more_replacements={Xt: X_test}).eval()
    mean = approx.mean.eval()  # (a, beta) or (beta, a): use the layout
    point = approx.ravel.unravel(mean)
    np.testing.assert_allclose(out, X_test @ point["beta"] + point["a"], rtol=1e-12)
    assert approx.sample_node(logit, size=4, more_replacements={Xt: X_test}).eval().shape == (4, 3)


def test_sample_node_in_a_tracker_during_fit(regression):
    model, advi, Xt, logit = regression
    y_test = (Xt.get_value() @ np.array([1.0, -2.0]) + 0.5 > 0).astype("int64")
    pm.set_seed(0)  # sample_node's draws come from the global seed
    probs = advi.approx.sample_node(pt.sigmoid(logit), size=50).mean(0)
    accuracy = pt.eq(probs > 0.5, y_test).mean()
    tracker = pm.callbacks.Tracker(accuracy=accuracy.eval, every=100)
    # a converged fit: the default optimizer needs far more than 2000 steps here
    advi.fit(2000, callbacks=[tracker], progressbar=False, obj_optimizer=pm.adam(learning_rate=0.05))
    values = np.asarray(tracker["accuracy"])
    assert len(values) == 20
    assert values[-1] > 0.85
    assert np.all((values >= 0) & (values <= 1))


def test_sample_node_errors(small_model):
    model, approx = small_model
    with pm.Model():
        other = pm.Normal("other", 0.0, 1.0)
    with pytest.raises(ValueError, match="another model"):
        approx.sample_node(other * 2)
    stray = pytensor.shared(np.ones(3), name="stray")
    with pytest.raises(ValueError, match="stray"):
        approx.sample_node(model["x"] * 2, more_replacements={stray: np.zeros(3)})
    with pytest.raises(ValueError, match="non-negative"):
        approx.sample_node(model["x"], size=-1)
    with pytest.raises(TypeError, match="size"):
        approx.sample_node(model["x"], size=2.5)
    with pytest.raises(TypeError, match="size"):
        approx.sample_node(model["x"], size=pt.dscalar("f"))


def test_sample_node_matches_sample_on_the_mixture(fitted_mixture):
    model, x, svgd = fitted_mixture
    reference = svgd.sample(40000, random_seed=3).posterior["x"].values.ravel() ** 2
    node = svgd.sample_node(x**2, size=1000)
    values = np.concatenate([node.eval() for _ in range(4)])  # 4000 fresh draws
    sd = reference.std()
    # mean and variance of x**2 agree within 4.5 Monte Carlo standard errors
    assert abs(values.mean() - reference.mean()) < 4.5 * sd * np.sqrt(1 / 4000 + 1 / 40000)
    var_se = np.sqrt(np.mean((reference - reference.mean()) ** 4) - sd**4) * np.sqrt(1 / 4000 + 1 / 40000)
    assert abs(values.var() - reference.var()) < 4.5 * var_se


# ---------------------------------------------------------------- Empirical
@pytest.fixture(scope="module")
def nuts_trace():
    with pm.Model() as model:
        x = pm.Normal("x", 1.0, 0.5, shape=2)
        s = pm.HalfNormal("s", 1.0)
        pm.Deterministic("d", x[0] * s)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # a short run: low ESS is expected
            trace = pm.sample(150, tune=150, chains=2, progressbar=False, random_seed=3)
    return model, trace


def test_empirical_from_nuts_trace(nuts_trace):
    model, trace = nuts_trace
    approx = pm.Empirical(trace, model=model)
    post = trace.posterior
    hist = approx.shared_params["histogram"].get_value()
    assert hist.shape == (2 * 150, 3)
    flat = np.concatenate([post["x"].values.reshape(-1, 2), np.log(post["s"].values.reshape(-1, 1))], axis=1)
    order = [v.name for v in approx.ravel.vars]
    expected = flat if order == ["x", "s"] else flat[:, [2, 0, 1]]
    np.testing.assert_allclose(hist, expected, rtol=1e-12)
    np.testing.assert_allclose(approx.mean.eval(), expected.mean(0), rtol=1e-12)
    np.testing.assert_allclose(approx.std.eval(), expected.std(0), rtol=1e-12)
    draws = approx.sample(500, random_seed=1).posterior
    assert set(draws.data_vars) == {"x", "s", "d"}
    # every draw is one of the trace's (up to the exp(log(s)) round trip)
    gaps = np.abs(draws["s"].values.reshape(-1, 1) - post["s"].values.reshape(1, -1)).min(1)
    assert np.all(gaps < 1e-12)
    np.testing.assert_allclose(draws["d"].values, draws["x"].values[..., 0] * draws["s"].values)
    node = approx.sample_node(model["s"], size=20).eval()
    assert np.all(np.abs(node.reshape(-1, 1) - post["s"].values.reshape(1, -1)).min(1) < 1e-12)


def test_empirical_trace_lacking_a_free_variable(nuts_trace):
    model, trace = nuts_trace
    partial = to_datatree({"x": trace.posterior["x"].values})
    with pytest.raises(KeyError, match="'s'"):
        pm.Empirical(partial, model=model)


def test_empirical_from_svgd_particles(fitted_mixture):
    model, x, svgd = fitted_mixture
    assert isinstance(svgd, pm.Empirical)
    particles = svgd.shared_params["histogram"].get_value()
    assert particles.shape == (300, 1)
    again = pm.Empirical(to_datatree({"x": particles.reshape(1, -1)}), model=model)
    np.testing.assert_allclose(again.shared_params["histogram"].get_value(), particles, rtol=1e-12)
    np.testing.assert_allclose(again.mean.eval(), particles.mean(0))
    assert again.sample_node(x, size=3).eval().shape == (3,)


# ---------------------------------------------------------------- summaries
def test_summary_per_element_with_coords(small_model):
    _, approx = small_model
    table = approx.summary(draws=4000, random_seed=0)
    assert isinstance(table, pd.DataFrame)
    assert list(table.index) == ["x[a]", "x[b]", "x[c]", "s", "d"]
    assert list(table.columns[:2]) == ["mean", "sd"] and table.columns[2].startswith("hdi")
    np.testing.assert_allclose(table.loc[["x[a]", "x[b]", "x[c]"], "sd"], [0.5, 1.0, 2.0], rtol=0.06)
    eti = approx.summary(draws=500, random_seed=0, ci_kind="eti", ci_prob=0.9)
    assert list(eti.columns[2:]) == ["eti90_lb", "eti90_ub"]
    with pytest.raises(ValueError, match="ci_kind"):
        approx.summary(ci_kind="box")


def test_summary_recovers_the_conjugate_posterior(conjugate):
    _, approx, post_mean, post_sd = conjugate
    table = approx.summary(draws=4000, random_seed=1)
    # Monte Carlo error of 4000 draws is post_sd / 63; the fit adds optimiser noise
    assert abs(table.loc["mu", "mean"] - post_mean) < 0.1 * post_sd + 0.01
    assert abs(table.loc["mu", "sd"] - post_sd) < 0.1 * post_sd


# --------------------------------------------------------------- diagnostics
def test_diagnose_passes_a_gaussian_posterior(conjugate):
    _, approx, _, _ = conjugate
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = approx.diagnose(draws=2000, random_seed=0)
    assert isinstance(result, Diagnosis)
    assert result.reliable and result.khat < 0.5
    assert result.verdict.startswith("reliable") and str(result) == result.verdict
    assert result.ess > 1500 and result.draws == 2000
    assert approx.diagnose(draws=2000, random_seed=0).khat == result.khat


def test_diagnose_flags_heavy_tails():
    # A Gaussian q cannot follow a Cauchy's tails: the importance ratios are heavy-tailed.
    with pm.Model():
        pm.Cauchy("x", 0.0, 1.0)
        approx = pm.fit(5000, progressbar=False, random_seed=1)
    with pytest.warns(UserWarning, match="unreliable"):
        result = approx.diagnose(random_seed=0)
    assert not result.reliable and result.khat > 0.7
    assert "FullRankADVI" in result.verdict


def test_diagnose_flags_a_too_narrow_mean_field():
    with pm.Model():
        pm.Normal("x", 0.0, 1.0, shape=4)
        approx = pm.MeanField()
    approx.set_params({"mu": jnp.zeros(4), "rho": _softplus_inverse(jnp.full(4, 0.4))})
    with pytest.warns(UserWarning):
        assert approx.diagnose(random_seed=0).khat > 0.7


def test_diagnose_errors(fitted_mixture, conjugate):
    _, _, svgd = fitted_mixture
    with pytest.raises(TypeError, match="no density"):
        svgd.diagnose()
    _, approx, _, _ = conjugate
    with pytest.raises(ValueError, match="at least 10"):
        approx.diagnose(draws=5)
    with pytest.raises(TypeError, match="integer"):
        approx.diagnose(draws=100.0)


def test_sample_posterior_predictive_from_an_approximation(conjugate):
    model, approx, post_mean, post_sd = conjugate
    with model:
        ppc = pm.sample_posterior_predictive(approx, random_seed=1)
        few = pm.sample_posterior_predictive(approx, draws=40, random_seed=1)
    y = ppc.posterior_predictive["y"]
    assert y.shape == (1, 500, 20) and few.posterior_predictive["y"].shape == (1, 40, 20)
    # y_rep ~ N(mu, 1), mu ~ q: mean post_mean, variance 1 + post_sd**2
    assert abs(float(y.mean()) - post_mean) < 0.1
    assert abs(float(y.std()) - np.sqrt(1 + post_sd**2)) < 0.05


# --------------------------------------------------------------------- plots
def test_plot_hist_smooths_and_returns_axes(conjugate):
    import matplotlib.pyplot as plt

    _, approx, _, _ = conjugate
    ax = approx.plot_hist(smooth=100)
    assert isinstance(ax, matplotlib.axes.Axes)
    raw, smoothed = ax.get_lines()
    assert len(raw.get_ydata()) == 10000 and len(smoothed.get_ydata()) == 10000 - 99
    np.testing.assert_allclose(smoothed.get_ydata()[0], approx.hist[:100].mean())
    assert np.std(smoothed.get_ydata()[-1000:]) < np.std(approx.hist[-1000:])
    _, own = plt.subplots()
    assert approx.plot_hist(ax=own, smooth=1) is own and len(own.get_lines()) == 1
    assert len(approx.plot_hist().get_lines()) == 2  # default window
    plt.close("all")


def test_plot_hist_errors(small_model, conjugate):
    _, unfitted = small_model
    with pytest.raises(ValueError, match="fit it first"):
        unfitted.plot_hist()
    _, approx, _, _ = conjugate
    with pytest.raises(ValueError, match="positive"):
        approx.plot_hist(smooth=0)
    with pytest.raises(TypeError, match="positive"):
        approx.plot_hist(smooth=2.5)


def test_trace_and_posterior_plots_accept_approximation_samples(small_model):
    import matplotlib.pyplot as plt

    _, approx = small_model
    samples = approx.sample(300, random_seed=0)
    assert pm.plot_trace(samples, var_names=["x", "s"]) is not None
    assert pm.plot_posterior(samples, var_names=["s"], color="LightSeaGreen") is not None
    assert pm.plot_posterior(approx, var_names=["d"]) is not None
    plt.close("all")


def test_pytensor_evaluates_with_python_kernels_unless_told_otherwise():
    import os
    import subprocess
    import sys

    script = (
        "import time, pytensor, pytensor.tensor as pt, varbayes as pm\n"
        "print(pytensor.config.linker)\n"
        "with pm.Model():\n"
        "    x = pm.Normal('x', 0.0, 1.0, shape=3)\n"
        "    approx = pm.MeanField(random_seed=0)\n"
        "node = pt.exp(approx.sample_node(x, size=100)).mean(0)\n"
        "start = time.perf_counter(); node.eval(); print(time.perf_counter() - start)\n"
    )
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    for name in ("PYTENSOR_FLAGS", "VARBAYES_PYTENSOR_LINKER"):
        env.pop(name, None)
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    linker, seconds = out.stdout.split()
    assert linker == "py"
    assert float(seconds) < 0.5  # nothing to compile on a first .eval()
    for setting in ({"VARBAYES_PYTENSOR_LINKER": "auto"}, {"PYTENSOR_FLAGS": "linker=cvm"}):
        out = subprocess.run([sys.executable, "-c", script], env={**env, **setting}, capture_output=True, text=True,
                             check=True)
        assert out.stdout.split()[0] == setting.get("PYTENSOR_FLAGS", "linker=auto").split("=")[1]


def test_import_freezes_the_stack_out_of_garbage_collection_unless_told_not_to():
    import os
    import subprocess
    import sys

    script = "import gc, varbayes; print(gc.get_freeze_count())"
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    env.pop("VARBAYES_GC_FREEZE", None)
    frozen = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert int(frozen.stdout) > 50_000  # JAX, PyTensor, SciPy... are in the permanent generation
    left = subprocess.run([sys.executable, "-c", script], env={**env, "VARBAYES_GC_FREEZE": "0"},
                          capture_output=True, text=True, check=True)
    assert int(left.stdout) < 1_000  # (the interpreter may freeze a few hundred of its own)
