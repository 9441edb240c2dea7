"""to_datatree: groups, dims and coords from the model, observed data."""

import numpy as np
import pytensor
import pytensor.tensor.random  # noqa: F401
import pytest

import varbayes as pm
from varbayes.output import observed_data_dict, to_datatree


@pytest.fixture
def model():
    with pm.Model(coords={"group": ["a", "b"], "obs": range(5)}) as m:
        mu = pm.Normal("mu", 0.0, 1.0, dims="group")
        sigma = pm.HalfNormal("sigma", 1.0)
        pm.Deterministic("mu_sum", mu.sum())
        pm.Normal("y", mu[0], sigma, observed=np.arange(5.0), dims="obs")
    return m


def test_posterior_with_model_dims_and_coords(model):
    dt = to_datatree(
        {"mu": np.zeros((2, 10, 2)), "sigma": np.ones((2, 10)), "mu_sum": np.zeros((2, 10))},
        model=model,
    )
    assert set(dt.children) == {"posterior", "observed_data"}
    post = dt.posterior
    assert post["mu"].dims == ("chain", "draw", "group")
    assert list(post["group"].values) == ["a", "b"]
    assert post["sigma"].dims == ("chain", "draw")
    assert list(post["chain"].values) == [0, 1]
    assert dt.observed_data["y"].dims == ("obs",)
    np.testing.assert_array_equal(dt.observed_data["y"].values, np.arange(5.0))
    assert post.attrs["inference_library"] == "varbayes"


def test_all_sampled_groups(model):
    dt = to_datatree(
        {"sigma": np.ones((1, 4))},
        model=model,
        sample_stats={"diverging": np.zeros((1, 4), dtype=bool)},
        prior={"sigma": np.ones((1, 3))},
        prior_predictive={"y": np.zeros((1, 3, 5))},
        posterior_predictive={"y": np.zeros((1, 4, 5))},
        constant_data={"x": np.arange(3.0)},
    )
    assert set(dt.children) == {
        "posterior",
        "sample_stats",
        "prior",
        "prior_predictive",
        "posterior_predictive",
        "observed_data",
        "constant_data",
    }
    assert dt.posterior_predictive["y"].dims == ("chain", "draw", "obs")
    assert dt.prior_predictive["y"].sizes["draw"] == 3
    assert dt.constant_data["x"].shape == (3,)


def test_dims_dropped_when_shape_differs(model):
    # predictions on 7 new points cannot carry the 5 'obs' coordinates
    dt = to_datatree({"sigma": np.ones((1, 2))}, model=model, posterior_predictive={"y": np.zeros((1, 2, 7))})
    assert dt.posterior_predictive["y"].shape == (1, 2, 7)
    assert "obs" not in dt.posterior_predictive["y"].dims


def test_explicit_coords_and_dims_override():
    dt = to_datatree(
        {"w": np.zeros((1, 3, 2))}, coords={"k": ["p", "q"]}, dims={"w": "k"}, observed_data=False
    )
    assert dt.posterior["w"].dims == ("chain", "draw", "k")
    assert list(dt.posterior["k"].values) == ["p", "q"]


def test_without_model_and_observed_data_flag(model):
    dt = to_datatree({"x": np.zeros((2, 5))})
    assert set(dt.children) == {"posterior"}
    dt = to_datatree({"sigma": np.ones((1, 2))}, model=model, observed_data=False)
    assert "observed_data" not in dt.children


def test_arrays_without_sample_dims_are_an_error():
    with pytest.raises(ValueError, match="'x'.*chain"):
        to_datatree({"x": np.float64(1.0)})


def test_observed_data_from_shared_and_random_batches():
    data = pytensor.shared(np.array([1.0, 2.0, 3.0]))
    with pm.Model() as m:
        mu = pm.Normal("mu", 0.0, 1.0)
        pm.Normal("y", mu, 1.0, observed=data)
    np.testing.assert_array_equal(observed_data_dict(m)["y"], [1.0, 2.0, 3.0])
    data.set_value(np.array([4.0, 5.0, 6.0]))
    np.testing.assert_array_equal(observed_data_dict(m)["y"], [4.0, 5.0, 6.0])

    # a random batch of the data, as a Minibatch is
    rng = pytensor.shared(np.random.default_rng(0))
    index = pytensor.tensor.random.integers(0, 100, size=10, rng=rng)
    batch = pytensor.shared(np.arange(100.0))[index]
    with pm.Model() as mb:
        mu = pm.Normal("mu", 0.0, 1.0)
        pm.Normal("y", mu, 1.0, observed=batch, total_size=100)
    # a minibatch has no fixed value: it is left out
    assert "y" not in observed_data_dict(mb)
