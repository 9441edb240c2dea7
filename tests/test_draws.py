"""Draws per step of a fit that chooses its own schedule: chosen from the log-density's cost, never from timings."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import varbayes as pm
from varbayes.variational.core import elbo_step, families, init_state
from varbayes.variational.core.draws import MOST_DRAWS, draw_flops, draws_per_step
from varbayes.variational.core.schedule import adaptive_adam


def cheap(x, data):
    return -0.5 * jnp.sum((x - data) ** 2)


def costly(x, data):
    # a regression's log-likelihood on 20,000 rows: tens of thousands of operations a draw
    return -0.5 * jnp.sum((data @ x) ** 2)


def test_draw_flops_grows_with_the_data():
    small = draw_flops(costly, jnp.zeros(4), jnp.ones((100, 4)))
    large = draw_flops(costly, jnp.zeros(4), jnp.ones((10_000, 4)))
    assert 0 < small < large
    assert 50 < large / small < 200  # linear in the rows


def test_draws_are_the_largest_power_of_two_within_the_budget():
    theta, data = jnp.zeros(3), jnp.ones(3)
    flops = draw_flops(cheap, theta, data)
    assert draws_per_step(cheap, theta, data, budget=4 * flops) == 4
    assert draws_per_step(cheap, theta, data, budget=4 * flops - 1) == 2
    assert draws_per_step(cheap, theta, data, budget=0.5 * flops) == 1
    assert draws_per_step(cheap, theta, data, budget=1e12) == MOST_DRAWS
    assert draws_per_step(costly, jnp.zeros(4), jnp.ones((20_000, 4))) == 1


def test_auto_draws_are_chosen_when_the_step_is_traced():
    family = families.mean_field()
    params = family.init(jnp.zeros(3), None)
    state = init_state(params, adaptive_adam(0.1))
    key = jax.random.key(3)

    def run(fn, n_mc, data):
        step = jax.jit(elbo_step(family, fn, adaptive_adam(0.1), n_mc))
        new, loss = step(state, key, data)
        return np.asarray(new.params["mu"]), float(loss)

    data = jnp.ones(3)
    np.testing.assert_array_equal(run(cheap, None, data)[0], run(cheap, MOST_DRAWS, data)[0])
    assert not np.array_equal(run(cheap, None, data)[0], run(cheap, 1, data)[0])
    rows = jnp.ones((20_000, 3))
    np.testing.assert_array_equal(run(costly, None, rows)[0], run(costly, 1, rows)[0])


def test_fit_none_averages_a_cheap_models_gradient_over_more_draws(conjugate_normal):
    model, *_ = conjugate_normal

    def hist(**kwargs):
        with model:
            return pm.fit(progressbar=False, random_seed=2, **kwargs).hist

    chosen = hist(n=None, max_n=2000)
    np.testing.assert_array_equal(chosen, hist(n=None, max_n=2000, obj_n_mc=MOST_DRAWS))
    one = hist(n=None, max_n=2000, obj_n_mc=1)  # a user's count is honoured
    assert not np.array_equal(chosen[:100], one[:100])
    # the loss of 16 draws is about 4 times less noisy than that of one
    assert np.std(np.diff(chosen[-200:])) < 0.5 * np.std(np.diff(one[-200:]))
    # with an int n the seed's settings are unchanged: one draw
    np.testing.assert_array_equal(hist(n=300), hist(n=300, obj_n_mc=1))


@pytest.mark.parametrize("obj_n_mc", [0, -2])
def test_fit_none_rejects_a_bad_draw_count(conjugate_normal, obj_n_mc):
    model, *_ = conjugate_normal
    with model, pytest.raises(ValueError, match="obj_n_mc must be at least 1"):
        pm.fit(n=None, obj_n_mc=obj_n_mc, progressbar=False)


@pytest.mark.filterwarnings("ignore:fit\\(n=None\\) stopped at max_n")
def test_the_report_says_how_many_draws_a_step_took(conjugate_normal):
    model, *_ = conjugate_normal
    with model:
        chosen = pm.fit(n=None, random_seed=2, progressbar=False, max_n=2000).convergence
        pinned = pm.fit(n=None, random_seed=2, progressbar=False, max_n=2000, obj_n_mc=3).convergence
        full_rank = pm.fit(n=None, method="fullrank_advi", random_seed=2, progressbar=False, max_n=2000).convergence
    assert chosen.draws == MOST_DRAWS and full_rank.draws == MOST_DRAWS and pinned.draws == 3
    assert f"draws per step    {MOST_DRAWS}" in repr(chosen)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20_000, 3))
    with pm.Model():
        beta = pm.Normal("beta", 0.0, 1.0, shape=3)
        pm.Normal("y", pm.math.dot(X, beta), 1.0, observed=X @ np.ones(3) + rng.normal(size=20_000))
        costly_report = pm.fit(n=None, random_seed=2, progressbar=False, max_n=500).convergence
    assert costly_report.draws == 1


@pytest.mark.filterwarnings("ignore:fit\\(n=None\\) stopped at max_n")
def test_the_report_counts_a_minibatch_fits_draws_on_its_batches():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(5_000, 2))
    y = X @ np.array([1.0, -1.0]) + rng.normal(size=5_000)
    Xb, yb = pm.Minibatch(X, y, batch_size=16)
    with pm.Model():
        beta = pm.Normal("beta", 0.0, 1.0, shape=2)
        pm.Normal("y", pm.math.dot(Xb, beta), 1.0, observed=yb, total_size=5_000)
        report = pm.fit(n=None, random_seed=2, progressbar=False, max_n=500).convergence
    # a batch of 16 rows is cheap (the 5,000 rows of the source are not read per draw)
    assert report.draws > 1
