import os

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import varbayes as pm  # noqa: E402


@pytest.fixture(autouse=True)
def _fixed_global_seed():
    """Draws that take no random_seed (sample_node, Minibatch, ...) are reproducible per test."""
    pm.set_seed(20261125)
    np.random.seed(20261125)
    yield


@pytest.fixture
def mixture_model():
    """The seed's bimodal mixture."""
    w = pm.floatX([0.2, 0.8])
    mu = pm.floatX([-0.3, 0.5])
    sd = pm.floatX([0.1, 0.1])
    with pm.Model() as model:
        x = pm.NormalMixture("x", w=w, mu=mu, sigma=sd)
        pm.Deterministic("x2", x**2)
    return model


@pytest.fixture
def conjugate_normal():
    """mu ~ N(0, 10), y_i ~ N(mu, 1): the posterior is N(post_mean, post_sd)."""
    import numpy as np

    rng = np.random.default_rng(0)
    y = rng.normal(1.5, 1.0, size=20)
    prior_sd = 10.0
    post_var = 1.0 / (1.0 / prior_sd**2 + len(y))
    post_mean = post_var * y.sum()
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, prior_sd)
        pm.Normal("y", mu, 1.0, observed=y)
    return model, post_mean, float(np.sqrt(post_var))
