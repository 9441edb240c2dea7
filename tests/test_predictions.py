"""Prediction on new data: set_data to new lengths and coords, predictive draws that follow."""

import numpy as np
import pytest

import varbayes as pm


def data(n=30, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    return x, 1.0 + 2.0 * x + rng.normal(0.0, 0.5, size=n)


def regression(observed_container: bool):
    x, y = data()
    with pm.Model(coords={"obs": [f"train{i}" for i in range(30)]}) as model:
        xd = pm.Data("x", x, dims="obs")
        observed = pm.Data("y_obs", y, dims="obs") if observed_container else y
        a = pm.Normal("a", 0.0, 5.0)
        b = pm.Normal("b", 0.0, 5.0)
        s = pm.HalfNormal("s", 1.0)
        pm.Normal("y", a + b * xd, s, observed=observed, dims="obs")
    return model


@pytest.fixture(scope="module")
def trace():
    with regression(False):
        return pm.sample(300, tune=300, chains=2, random_seed=1, progressbar=False, compute_convergence_checks=False)


@pytest.mark.parametrize("observed_container", [False, True])
def test_predictions_on_three_times_the_rows_with_new_coords(trace, observed_container):
    x_new = np.linspace(-3.0, 3.0, 90)
    labels = [f"new{i}" for i in range(90)]
    with regression(observed_container) as model:
        new = {"x": x_new, **({"y_obs": np.zeros(90)} if observed_container else {})}
        pm.set_data(new, coords={"obs": labels})
        pred = pm.sample_posterior_predictive(trace, predictions=True, random_seed=2)
    assert set(pred.children) == {"predictions", "predictions_constant_data"}
    draws = pred.predictions["y"]
    assert draws.shape == (2, 300, 90) and draws.dims == ("chain", "draw", "obs")
    assert list(draws.coords["obs"].values) == labels
    np.testing.assert_array_equal(pred.predictions_constant_data["x"], x_new)
    # the predictive mean follows the fitted line at the new x, within Monte Carlo error
    post = trace.posterior
    line = float(post["a"].mean()) + float(post["b"].mean()) * x_new
    mean = np.asarray(draws).mean(axis=(0, 1))
    assert np.max(np.abs(mean - line)) < 0.15
    assert model.coords["obs"] == tuple(labels)


def test_predictions_from_an_approximation():
    x_new = np.linspace(-3.0, 3.0, 90)
    with regression(False):
        approx = pm.fit(None, method="fullrank_advi", random_seed=1, progressbar=False)
        pm.set_data({"x": x_new}, coords={"obs": np.arange(90)})
        pred = pm.sample_posterior_predictive(approx, draws=400, predictions=True, random_seed=3)
    assert pred.predictions["y"].shape == (1, 400, 90)


def test_posterior_predictive_keeps_the_training_shape(trace):
    with regression(False):
        ppc = pm.sample_posterior_predictive(trace, random_seed=2)
    assert ppc.posterior_predictive["y"].shape == (2, 300, 30)
    assert "observed_data" in ppc.children


def test_set_data_coords_errors_and_length_only_dims():
    x, y = data()
    with regression(False):
        with pytest.raises(ValueError, match=r"'x' has length 90 along 'obs', whose coords have 30 values: pass coords"):
            pm.set_data({"x": np.zeros(90)})
        with pytest.raises(KeyError, match="'rows' is not a dimension of the model"):
            pm.set_data({"x": np.zeros(30)}, coords={"rows": np.arange(30)})
        with pytest.raises(ValueError, match="coords have 5 values"):
            pm.set_data({"x": np.zeros(90)}, coords={"obs": np.arange(5)})
    with pm.Model() as model:
        xd = pm.Data("x", x, dims="row")  # a dimension created from the data's length
        pm.Normal("y", pm.Normal("b", 0.0, 1.0) * xd, 1.0, observed=y, dims="row")
        pm.set_data({"x": np.zeros(12)})
    assert model.coords["row"] == tuple(range(12))


@pytest.mark.parametrize("how", ["shape", "size"])
def test_shape_given_as_an_expression_of_data_is_followed(how):
    x, y = data()
    with pm.Model() as model:
        xd = pm.Data("x", x)
        b = pm.Normal("b", 0.0, 5.0)
        kwargs = {"shape": xd.shape} if how == "shape" else {"size": xd.shape[0]}
        pm.Normal("y", b * xd, 1.0, observed=y, **kwargs)
        approx = pm.fit(500, progressbar=False, random_seed=0)
        pm.set_data({"x": np.linspace(0.0, 1.0, 7)})
        pred = pm.sample_posterior_predictive(approx, draws=50, predictions=True, random_seed=1)
    assert pred.predictions["y"].shape == (1, 50, 7)
    with pm.Model():
        b = pm.Normal("b", 0.0, 1.0)
        with pytest.raises(TypeError, match=r"a shape can depend on data \(pm.Data\) and constants, not on the variables"):
            pm.Normal("z", 0.0, 1.0, shape=(b * 3).astype("int64"))
