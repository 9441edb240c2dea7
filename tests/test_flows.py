"""Normalizing flows: formulas, layers, the NFVI fit and its targets."""

from __future__ import annotations

import json
import pathlib
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import varbayes as pm
from varbayes.variational.core.flow_layers import parse_formula
from varbayes.variational.core.flows import normalizing_flow

REFERENCE = json.loads((pathlib.Path(__file__).parents[1] / "benchmarks" / "flows_reference.json").read_text())


# ------------------------------------------------------------------ formulas
@pytest.mark.parametrize(
    "formula, expected",
    [
        ("loc", (("loc", 1),)),
        ("scale-loc", (("scale", 1), ("loc", 1))),
        ("planar*10-hh*2-radial", (("planar", 10), ("hh", 2), ("radial", 1))),
        (" realnvp*2 - nsf - MAF ", (("coupling", 2), ("spline", 1), ("maf", 1))),
    ],
)
def test_parse_formula(formula, expected):
    assert tuple(tuple(layer) for layer in parse_formula(formula)) == expected


@pytest.mark.parametrize(
    "formula, match",
    [
        ("planar-glow", "unknown layer 'glow'"),
        ("loc--scale", "cannot read the term ''"),
        ("planar*0", "use k >= 1"),
        ("planar*x", "cannot read the term 'planar\\*x'"),
        ("", "empty"),
    ],
)
def test_bad_formula_names_the_token(formula, match):
    with pytest.raises(ValueError, match=match) as info:
        parse_formula(formula)
    if "unknown" in match:
        assert "planar" in str(info.value) and "spline" in str(info.value)  # the valid names are listed


# ------------------------------------------------------------------ layers
@pytest.mark.parametrize("formula", ["loc", "scale-loc", "hh-loc", "planar*2", "radial*2", "coupling", "spline", "maf"])
@pytest.mark.parametrize("dim", [1, 3])
def test_log_q_forward_and_inverse_agree(formula, dim):
    """A draw's ``log N(z) - log|det dT/dz|`` (forward) equals ``log q`` at it through ``T``'s inverse."""
    fam = normalizing_flow(formula, dim, nn_width=8)
    params = fam.init(jnp.linspace(-1.0, 1.0, dim), jax.random.key(1))
    # move every parameter off its initial value, so no layer is the identity
    leaves, treedef = jax.tree_util.tree_flatten(params)
    keys = jax.random.split(jax.random.key(2), len(leaves))
    params = jax.tree_util.tree_unflatten(
        treedef, [leaf + 0.3 * jax.random.normal(k, leaf.shape) for leaf, k in zip(leaves, keys)]
    )
    x, log_q = jax.jit(fam.sample_and_log_q, static_argnums=2)(params, jax.random.key(3), 16)
    np.testing.assert_allclose(jax.jit(fam.sample, static_argnums=2)(params, jax.random.key(3), 16), x)
    inverse = jax.jit(jax.vmap(fam.log_q, in_axes=(None, 0)))
    np.testing.assert_allclose(inverse(params, x), log_q, rtol=1e-7, atol=1e-7)


@pytest.mark.parametrize("formula", ["spline-radial-planar-scale-loc", "coupling-maf-hh-loc"])
def test_density_integrates_to_one(formula):
    fam = normalizing_flow(formula, 1, nn_width=8)
    params = fam.init(jnp.array([0.5]), jax.random.key(0))
    leaves, treedef = jax.tree_util.tree_flatten(params)
    params = jax.tree_util.tree_unflatten(treedef, [leaf + 0.2 for leaf in leaves])
    log_q = jax.jit(jax.vmap(fam.log_q, in_axes=(None, 0)))
    grid = jnp.linspace(-15.0, 15.0, 60001)[:, None]
    density = jnp.exp(log_q(params, grid))
    assert abs(float(jnp.trapezoid(density, grid[:, 0])) - 1.0) < 1e-4


# ------------------------------------------------------------------ the API
def _mixture():
    with pm.Model() as model:
        x = pm.NormalMixture("x", w=[0.2, 0.8], mu=[-0.3, 0.5], sigma=[0.1, 0.1])
    return model, x


def test_nfvi_api_parts():
    model, x = _mixture()
    seen = []
    with model:
        inference = pm.NFVI(flow="planar*2-scale-loc", random_seed=0)
        tracker = pm.callbacks.Tracker(mean=inference.approx.mean.eval)
        approx = inference.fit(300, callbacks=[tracker, lambda a, h, i: seen.append(i)], progressbar=True)
    assert approx.flow == "planar*2-scale-loc"
    assert len(approx.hist) == 300 and len(seen) == 300 and len(tracker["mean"]) == 300
    names = sorted(approx.shared_params)
    assert any("planar" in name for name in names) and any(name.endswith("loc.loc") for name in names)
    assert not any("permute" in name for name in names)  # no trainable arrays there
    before = {k: v.get_value().copy() for k, v in approx.shared_params.items()}
    inference.refine(200, progressbar=False)
    assert len(approx.hist) == 500
    assert any(not np.allclose(before[k], v.get_value()) for k, v in approx.shared_params.items())
    # sample_node: fresh draws, sizes, the mean
    node = approx.sample_node(x**2)
    assert node.eval() != node.eval()
    assert approx.sample_node(x, size=7).eval().shape == (7,)
    assert approx.sample_node(x, deterministic=True).eval() == pytest.approx(float(approx.mean.eval()[0]))
    assert approx.sample(50).posterior["x"].shape == (1, 50)
    assert approx.std.eval().shape == (1,)


def test_fit_method_strings_and_stop():
    model, _ = _mixture()

    def stop(approx, hist, i):
        if i == 50:
            raise StopIteration

    with model:
        approx = pm.fit(1000, method="nfvi=hh-scale-loc", random_seed=0, progressbar=False, callbacks=[stop])
        assert approx.flow == "hh-scale-loc" and len(approx.hist) == 50
        assert pm.fit(20, method="nfvi", random_seed=0, progressbar=False).flow == "spline*2-scale-loc"


def test_errors():
    model, _ = _mixture()
    with model, pytest.raises(ValueError, match="unknown layer 'glow'"):
        pm.fit(10, method="nfvi=planar-glow", progressbar=False)
    with pm.Model():
        pm.Normal("mu", 0.0, 1.0)
        pm.Poisson("k", 3.0)
        with pytest.raises(TypeError, match="discrete"):
            pm.NFVI()


def test_minibatch():
    rng = np.random.default_rng(0)
    data = rng.normal(1.5, 1.0, size=2000)
    with pm.Model():
        batch = pm.Minibatch(data, batch_size=100)
        mu = pm.Normal("mu", 0.0, 10.0)
        pm.Normal("y", mu, 1.0, observed=batch, total_size=data.size)
        approx = pm.fit(3000, method="nfvi=scale-loc", random_seed=0, progressbar=False)
    draws = approx.sample(4000, random_seed=1).posterior["mu"].values
    assert abs(draws.mean() - data.mean()) < 0.05
    # the minibatch gradient noise leaves a flow wider than the posterior (sd 0.022) after 3000 steps
    assert draws.std() < 0.15


# ------------------------------------------------------------------ fit(n=None)
def test_q_statistics_are_a_function_of_q_not_of_the_weights():
    from varbayes.variational.core.flows import q_statistics, statistic_units

    fam = normalizing_flow("planar-scale-loc", 2)
    params = fam.init(jnp.array([1.0, -2.0]), jax.random.key(0))
    stats = jax.jit(q_statistics(fam, 2, num_draws=4000))
    # a planar layer's u -> -u, w -> -w, b -> -b leaves its map, hence q, unchanged
    flipped = {
        k: (-v if ".planar." in k else v) for k, v in jax.tree.map(lambda a: a + 0.3, params).items()
    }
    moved = jax.tree.map(lambda a: a + 0.3, params)
    np.testing.assert_allclose(stats(flipped), stats(moved), rtol=1e-12, atol=1e-12)
    draws = fam.sample(moved, jax.random.key(1), 200_000)
    s = stats(moved)
    np.testing.assert_allclose(s[:2], draws.mean(0), atol=0.1)  # the mean, from 4000 fixed draws
    np.testing.assert_allclose(np.exp(s[2:4]), draws.std(0), rtol=0.05)
    np.testing.assert_allclose(statistic_units(s, 2), np.r_[np.exp(s[2:4]), 1.0, 1.0, 1.0, 1.0])


def test_mixture_until_converged_keeps_both_modes(caplog):
    """fit(n=None): the seed mixture's 20 % below 0 (the fixed-n default's accuracy), a stop by itself."""
    model, _ = _mixture()
    with model, caplog.at_level("INFO", logger="varbayes"):
        approx = pm.fit(None, method="nfvi", random_seed=3, max_n=200_000, progressbar=True)
    report = approx.convergence
    assert report.reason == "converged" and report.iterations < 200_000 and len(approx.hist) == report.iterations
    assert report.step_sizes[0] == 0.01 and report.step_sizes[-1] < 0.01  # lowered as the iterates wobbled
    assert report.window[1] <= report.iterations and report.khat < 0.7
    assert "Converged at" in caplog.text
    x = approx.sample(20000, random_seed=2).posterior["x"].values.ravel()
    assert abs(np.mean(x < 0) - 0.20) < 0.05
    assert x[x < 0.1].std() == pytest.approx(0.1, rel=0.25)
    assert x[x >= 0.1].std() == pytest.approx(0.1, rel=0.25)


def test_gaussian_until_converged_and_refine_none():
    with pm.Model():
        pm.Normal("x", 1.0, 2.0, shape=2)
        inference = pm.NFVI(flow="spline-scale-loc", random_seed=0)
        approx = inference.fit(n=None, max_n=100_000, progressbar=False)
    report = approx.convergence
    assert report.converged and report.iterations < 100_000
    draws = approx.sample(20000, random_seed=1).posterior["x"].values.reshape(-1, 2)
    np.testing.assert_allclose(draws.mean(0), 1.0, atol=0.1 * 2.0)
    np.testing.assert_allclose(draws.std(0), 2.0, rtol=0.1)
    # refine(None) goes on from the last step size, without a search, and stops again
    n = len(approx.hist)
    inference.refine(None, progressbar=False)
    assert approx.convergence.converged and len(approx.hist) == n + approx.convergence.iterations
    assert approx.convergence.step_sizes[0] == report.step_sizes[-1]


def test_no_stop_while_q_still_moves():
    """From a wide start far from the posterior, q travels for thousands of iterations: no stop there."""
    with pm.Model():
        pm.Normal("x", 30.0, 0.5)
        with pytest.warns(UserWarning, match="max_n=2,000 before converging"):
            approx = pm.fit(
                None, method="nfvi=scale-loc", start={"x": 0.0}, max_n=2000, random_seed=0, progressbar=False
            )
    report = approx.convergence
    assert report.reason == "max_n" and report.window is None and report.rhat > 1.3
    assert float(approx.mean.eval()[0]) < 25.0  # still on its way


def test_until_converged_callbacks_and_a_user_optimizer():
    model, _ = _mixture()

    def stop(approx, hist, i):
        if i == 150:
            raise StopIteration

    with model:
        approx = pm.fit(None, method="nfvi", random_seed=0, progressbar=False, callbacks=[stop])
        assert approx.convergence.reason == "callback" and len(approx.hist) == 150
        # a user's optimizer is kept as it is (its step size is not lowered); the stop rule still applies
        with pytest.warns(UserWarning, match="max_n"):
            approx = pm.fit(
                None, method="nfvi", obj_optimizer=pm.adam(0.01), max_n=1500, random_seed=0, progressbar=False
            )
    assert approx.convergence.reason == "max_n" and approx.convergence.step_sizes == (0.01,)
    assert not approx.convergence.events


# ------------------------------------------------------------------ targets
@pytest.mark.slow
def test_mixture_keeps_both_modes():
    """The seed's mixture: 20 % of the mass below 0 (NUTS and the exact answer: 0.20), modes of sd 0.1."""
    model, _ = _mixture()
    with model:
        flow = pm.fit(20000, method="nfvi", random_seed=1, progressbar=False)
        advi = pm.fit(20000, method="advi", random_seed=1, progressbar=False)
    x = flow.sample(20000, random_seed=2).posterior["x"].values.ravel()
    assert abs(np.mean(x < 0) - 0.20) < 0.05
    assert x[x < 0.1].std() == pytest.approx(0.1, rel=0.25)
    assert x[x >= 0.1].std() == pytest.approx(0.1, rel=0.25)
    # ADVI's one Gaussian cannot make two modes of sd 0.1
    x_advi = advi.sample(20000, random_seed=2).posterior["x"].values.ravel()
    sds = [x_advi[x_advi < 0.1].std(), x_advi[x_advi >= 0.1].std()]
    assert max(abs(sd / 0.1 - 1.0) for sd in sds) > 0.25


@pytest.mark.slow
def test_centred_eight_schools_funnel():
    """k-hat < 0.7 and tau's mean and sd within 20 % of NUTS, where mean-field ADVI's k-hat is above 0.7."""
    from benchmarks.flows_reference import centered_eight_schools

    model = centered_eight_schools()
    with model, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        flow = pm.fit(15000, method="nfvi", random_seed=1, progressbar=False)
        advi = pm.fit(20000, method="advi", random_seed=0, progressbar=False)
        advi_khat = advi.diagnose(random_seed=0).khat
    assert flow.diagnose(random_seed=0).khat < 0.7
    tau = flow.sample(20000, random_seed=1).posterior["tau"].values
    assert tau.mean() == pytest.approx(REFERENCE["tau"]["mean"], rel=0.2)
    assert tau.std() == pytest.approx(REFERENCE["tau"]["sd"], rel=0.2)
    assert advi_khat > 0.7
