"""Discrete latents of infinite support: NUTS within Gibbs in pm.sample (varbayes.sampling.gibbs)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import gammaln, logsumexp
from scipy.stats import binom, gamma, poisson

import varbayes as pm
from varbayes.compile.marginal import compile_joint, infinite_support
from varbayes.sampling.gibbs import TARGET_ACCEPT, discrete_sweep, integer_proposal

# Counts of one population seen by five surveys, each detecting an individual with probability 0.4;
# the population size N is latent, with a Poisson prior whose rate has a Gamma prior.
SURVEYS = np.array([7, 9, 6, 8, 10])
DETECTION = 0.4
SHAPE, RATE = 4.0, 0.2  # Gamma prior of the Poisson rate: mean 20


def population_model(surveys=SURVEYS):
    with pm.Model() as model:
        rate = pm.Gamma("rate", SHAPE, RATE)
        size = pm.Poisson("N", rate)
        pm.Binomial("y", size, DETECTION, observed=surveys)
    return model


def exact_population_posterior():
    """P(N | y) on N = max(y)..399 and E[rate | y], by enumeration.

    The rate integrates out in closed form: N is negative binomial a priori,
    and rate | N ~ Gamma(SHAPE + N, RATE + 1).
    """
    n = np.arange(SURVEYS.max(), 400)
    log_prior = (
        gammaln(SHAPE + n) - gammaln(SHAPE) - gammaln(n + 1)
        + SHAPE * np.log(RATE / (RATE + 1)) - n * np.log(RATE + 1)
    )
    log_weights = log_prior + binom.logpmf(SURVEYS[:, None], n[None], DETECTION).sum(axis=0)
    weights = np.exp(log_weights - logsumexp(log_weights))
    assert weights[-1] < 1e-12  # the truncation loses nothing
    return n, weights, float(np.sum(weights * (SHAPE + n) / (RATE + 1)))


def total_variation(draws, support, probabilities):
    frequencies = np.array([np.mean(draws == value) for value in support])
    assert frequencies.sum() > 0.999, "draws outside the enumerated support"
    return 0.5 * float(np.abs(frequencies - probabilities).sum())


def test_joint_logdensity_is_the_model_with_its_jacobian():
    joint = compile_joint(population_model(), ["N"])
    assert joint.ravel.size == 1 and [b.name for b in joint.blocks] == ["N"] and joint.summed_out == ()
    data = joint.data()
    log_rate = np.log(17.0)
    for n in (10, 23, 60):
        expected = (
            gamma.logpdf(17.0, SHAPE, scale=1 / RATE) + log_rate  # prior and log-Jacobian of the log transform
            + poisson.logpmf(n, 17.0)
            + binom.logpmf(SURVEYS, n, DETECTION).sum()
        )
        value = joint.logdensity(jnp.array([log_rate]), jnp.array([n]), data)
        np.testing.assert_allclose(float(value), expected, rtol=1e-12)
    # fewer individuals than one survey counted, or a negative count: impossible
    for n in (9, -1):
        assert float(joint.logdensity(jnp.array([log_rate]), jnp.array([n]), data)) == -np.inf


def test_latent_population_size_matches_the_enumerated_posterior():
    support, probabilities, rate_mean = exact_population_posterior()
    with population_model():
        trace = pm.sample(2000, tune=1000, chains=4, random_seed=1, progressbar=False)
    size = trace.posterior["N"].values
    assert size.shape == (4, 2000) and size.dtype.kind == "i"
    assert size.min() >= SURVEYS.max()
    # 8,000 correlated draws (bulk ESS of N about 1,200): the Monte Carlo TV is about 0.03
    assert total_variation(size, support, probabilities) < 0.1
    # posterior sd of N and of the rate are about 3.4 and 4.5; Monte Carlo errors of the means about 0.1
    assert abs(size.mean() - np.sum(support * probabilities)) < 0.5
    assert abs(trace.posterior["rate"].values.mean() - rate_mean) < 0.5
    stats = trace.sample_stats
    assert {"accept", "acceptance_rate", "step_size", "diverging"} <= set(stats.data_vars)
    # the proposal scale was tuned during warmup: the discrete acceptance is near its target
    assert abs(float(stats["accept"].mean()) - TARGET_ACCEPT) < 0.1
    # NUTS adapted its step size while N moved, and kept it fixed while drawing
    step_size = stats["step_size"].values
    assert np.all(step_size == step_size[:, :1]) and 0.2 < float(step_size.mean()) < 3.0
    assert 0.6 < float(stats["acceptance_rate"].mean()) < 0.95
    assert not stats["diverging"].values.any()


def test_finite_latent_summed_out_and_infinite_latent_updated_together():
    """z ∈ {0, 1} is summed out, N is updated by Metropolis; no continuous variable is left."""
    surveys = np.array([5, 7, 4, 6])
    with pm.Model() as model:
        z = pm.Bernoulli("z", 0.5)
        size = pm.Poisson("N", 8.0 + 12.0 * z)
        pm.Binomial("y", size, DETECTION, observed=surveys)
    assert infinite_support(model) == ["N"]
    n = np.arange(surveys.max(), 300)
    log_joint = np.stack([
        np.log(0.5) + poisson.logpmf(n, 8.0 + 12.0 * z) + binom.logpmf(surveys[:, None], n[None], DETECTION).sum(axis=0)
        for z in (0, 1)
    ])
    joint = np.exp(log_joint - logsumexp(log_joint))
    with model:
        trace = pm.sample(3000, tune=1000, chains=4, random_seed=2, progressbar=False)
    assert set(trace.sample_stats.data_vars) == {"lp", "accept"}
    assert total_variation(trace.posterior["N"].values, n, joint.sum(axis=0)) < 0.1
    # P(z = 1 | y) is about 0.4; 12,000 draws of z given N put its Monte Carlo error near 0.01
    assert abs(trace.posterior["z"].values.mean() - joint[1].sum()) < 0.04


def test_integer_proposal_is_symmetric_and_always_moves():
    keys = jax.random.split(jax.random.key(3), 40_000)
    for size, scale in ((1, 2.5), (3, 0.7)):
        start = jnp.zeros(size, dtype=jnp.int64)
        steps = np.asarray(jax.jit(jax.vmap(lambda k: integer_proposal(k, start, scale)))(keys))
        assert steps.dtype == np.int64
        assert np.all(np.any(steps != 0, axis=1)), "a proposal equal to the current point"
        # q(+d) = q(-d) for each element's step; a bias of a few percent would show at this count
        for d in (1, 2, 3):
            up, down = np.sum(steps == d), np.sum(steps == -d)
            assert abs(up - down) < 4 * np.sqrt(up + down + 1), (size, scale, d, up, down)
    # a small scale moves one element by one
    moved = np.asarray(jax.jit(jax.vmap(lambda k: integer_proposal(k, jnp.zeros(3, dtype=jnp.int64), 0.05)))(keys[:200]))
    assert np.all(np.abs(moved).sum(axis=1) == 1)


def test_sweep_never_leaves_the_support_bounds():
    """A log-density that is finite everywhere: the bounds alone keep k in {0, ..., 3}, uniform on it."""

    class Block:
        offset, size = 0, 1
        lower, upper = np.array([0.0]), np.array([3.0])

    def chain(key):
        def body(carry, key):
            k, lp = carry
            k, lp, accept = discrete_sweep(key, k, lp, lambda values: jnp.float64(0.0), [Block], jnp.array([2.0]))
            return (k, lp), k[0]

        return jax.lax.scan(body, (jnp.array([1]), jnp.float64(0.0)), jax.random.split(key, 20_000))[1]

    draws = np.asarray(jax.jit(chain)(jax.random.key(4)))
    assert draws.min() == 0 and draws.max() == 3
    np.testing.assert_allclose(np.bincount(draws, minlength=4) / draws.size, 0.25, atol=0.03)


def test_fit_on_an_infinite_discrete_latent_names_it_and_points_to_sample():
    with population_model():
        with pytest.raises(TypeError, match=r"'N' is discrete \(Poisson\) with an infinite support.*use pm\.sample"):
            pm.fit(100, progressbar=False)
        with pytest.raises(ValueError, match=r"init='advi'.*\['N'\]"):
            pm.sample(10, tune=10, chains=2, init="advi", progressbar=False)


def test_impossible_start_names_the_discrete_variable_and_initvals_fix_it():
    surveys = np.array([25, 22, 27])  # more than N's initial value, the floor of its prior mean 20
    with population_model(surveys):
        with pytest.raises(ValueError, match=r"not finite.*\{'N': \d+\}.*initvals"):
            pm.sample(10, tune=10, chains=2, progressbar=False, random_seed=1)
        with pytest.raises(ValueError, match=r"initvals\['N'\] must be 1 integer"):
            pm.sample(10, tune=10, chains=2, progressbar=False, initvals={"N": 40.5})
        trace = pm.sample(
            200, tune=200, chains=2, progressbar=False, random_seed=1, initvals={"N": 40}, compute_convergence_checks=False
        )
    assert trace.posterior["N"].values.min() >= 27


def test_discrete_draws_keep_their_dims_deterministics_and_seed():
    with pm.Model(coords={"site": ["a", "b"], "survey": [1, 2, 3]}) as model:
        rate = pm.Gamma("rate", SHAPE, RATE)
        size = pm.Poisson("N", rate, dims="site")
        pm.Deterministic("total", size.sum())
        pm.Binomial("y", size[:, None], DETECTION, observed=np.array([[7, 9, 6], [3, 5, 4]]), dims=("site", "survey"))

    def run():
        with model:
            return pm.sample(100, tune=100, chains=2, random_seed=7, progressbar=False, compute_convergence_checks=False)

    trace = run()
    size = trace.posterior["N"]
    assert size.dims == ("chain", "draw", "site") and list(size["site"].values) == ["a", "b"]
    np.testing.assert_array_equal(trace.posterior["total"].values, size.values.sum(axis=-1))
    assert np.all(size.values >= np.array([9, 5]))
    np.testing.assert_array_equal(run().posterior["N"].values, size.values)
