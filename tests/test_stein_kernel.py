"""The SVGD kernel computations agree with their plain definition.

``reference_*`` below are the straightforward formulas (the N x N kernel
formed once, its row sum and matrix products, ``jnp.median`` over the
distances); the library arranges the same arithmetic for speed and must give
the same numbers to rounding.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import varbayes  # noqa: F401  (float64)
from varbayes.variational.core import objectives
from varbayes.variational.core.objectives import rbf_kernel, stein_direction

RTOL = 1e-12


def reference_bandwidth(x):
    n = x.shape[0]
    sq_norms = jnp.sum(x**2, axis=-1)
    sq = jnp.maximum(sq_norms[:, None] + sq_norms[None, :] - 2.0 * x @ x.T, 0.0)
    if n * n <= 2048:
        values = sq.reshape(-1)
    else:
        rng = np.random.default_rng(0)
        rows = rng.integers(0, n, 2048)
        cols = rng.integers(0, n, 2048)
        values = sq[rows, cols]
    h = jnp.median(values) / jnp.log(n + 1.0)
    return sq, jnp.where(h > 0, h, 1.0)


def reference_rbf(x):
    sq, h = reference_bandwidth(x)
    kernel = jnp.exp(-sq / h)
    repulse = -2.0 / h * (kernel @ x - x * jnp.sum(kernel, axis=1)[:, None])
    return kernel, repulse


def reference_phi(logdensity_fn, temperature=1.0):
    def phi(x, data):
        logp, grad = jax.vmap(jax.value_and_grad(lambda xi: logdensity_fn(xi, data)))(x)
        kernel, repulse = reference_rbf(x)
        return (kernel @ grad / temperature + repulse) / x.shape[0], jnp.mean(logp)

    return phi


def mixture_logdensity(x, data):
    """The quickstart's NormalMixture(w=[.2, .8], mu=[-.3, .5], sigma=[.1, .1]), in every coordinate."""
    w, mu, sigma = jnp.array([0.2, 0.8]), jnp.array([-0.3, 0.5]), 0.1
    z = (x[:, None] - mu) / sigma
    comp = jnp.log(w) - 0.5 * z**2 - jnp.log(sigma) - 0.5 * jnp.log(2 * jnp.pi)
    return jnp.sum(jax.scipy.special.logsumexp(comp, axis=-1)) + data


def particles(n, d, seed=0, scale=0.5):
    return jnp.asarray(np.random.default_rng(seed).normal(0.1, scale, size=(n, d)))


def assert_close(actual, expected, rtol=RTOL):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape
    scale = np.max(np.abs(expected))
    np.testing.assert_array_less(np.max(np.abs(actual - expected)), rtol * scale + 1e-300)


# (particles, variables): one variable (the fused path), odd counts, the all-pairs median
# (N^2 <= 2048) and the sampled one, several variables
ONE_VARIABLE = [(1, 1), (2, 1), (7, 1), (45, 1), (46, 1), (101, 1), (999, 1), (1000, 1)]
SEVERAL = [(3, 2), (45, 3), (77, 2), (200, 5), (501, 15)]
SHAPES = ONE_VARIABLE + SEVERAL


@pytest.mark.parametrize("n,d", SHAPES)
@pytest.mark.parametrize("temperature", [1.0, 0.3])
def test_stein_direction_matches_definition(n, d, temperature):
    x = particles(n, d, seed=n + d)
    phi = jax.jit(stein_direction(mixture_logdensity, temperature))(x, 0.0)
    ref = jax.jit(reference_phi(mixture_logdensity, temperature))(x, 0.0)
    assert_close(phi[0], ref[0])
    assert_close(phi[1], ref[1])


@pytest.mark.parametrize("n,d", SHAPES)
def test_rbf_kernel_matches_definition(n, d):
    x = particles(n, d, seed=2 * n + d)
    kernel, repulse = jax.jit(rbf_kernel)(x)
    ref_kernel, ref_repulse = jax.jit(reference_rbf)(x)
    assert_close(kernel, ref_kernel)
    assert_close(repulse, ref_repulse)


@pytest.mark.parametrize("n,d", SHAPES)
def test_bandwidth_is_the_same_median(n, d):
    x = particles(n, d, seed=3 * n + d)
    h = jax.jit(objectives._median_bandwidth)(x)
    ref = jax.jit(lambda x: reference_bandwidth(x)[1])(x)
    # the same pairs and the same order statistics; XLA may contract the
    # distance arithmetic differently in the two programs (a last-bit difference)
    np.testing.assert_allclose(float(h), float(ref), rtol=RTOL)


def test_bandwidth_edge_cases():
    # coincident particles: zero median, bandwidth falls back to 1
    assert float(objectives._median_bandwidth(jnp.zeros((50, 1)))) == 1.0
    assert float(reference_bandwidth(jnp.zeros((50, 1)))[1]) == 1.0
    # a NaN among the compared pairs makes the median NaN, hence the fallback, as jnp.median
    x = particles(50, 2).at[:, 0].set(jnp.nan)
    assert float(objectives._median_bandwidth(x)) == float(reference_bandwidth(x)[1]) == 1.0
    # -0.0 distances (coincident points) sort as zeros
    v = jnp.array([-0.0, 0.0, 3.0, 1.0, -0.0])
    assert float(objectives._median(v)) == float(jnp.median(v)) == 0.0
    v = jnp.array([4.0, 1.0, 2.0, 8.0])
    assert float(objectives._median(v)) == float(jnp.median(v)) == 3.0


def test_median_float32():
    v = jnp.asarray(np.random.default_rng(0).random(2048), dtype=jnp.float32)
    assert objectives._median(v).dtype == jnp.float32
    assert float(objectives._median(v)) == float(jnp.median(v))


def test_far_apart_particles():
    """Kernel entries underflow to zero between clusters; the direction still matches."""
    x = jnp.concatenate([particles(60, 1, seed=1, scale=0.01), particles(61, 1, seed=2, scale=0.01) + 50.0])
    phi = stein_direction(mixture_logdensity)(x, 0.0)
    ref = reference_phi(mixture_logdensity)(x, 0.0)
    assert_close(phi[0], ref[0])


def test_svgd_step_trajectory_matches_definition():
    """300 plain-SGD steps of the seed's SVGD cell follow the reference trajectory."""
    import optax

    from varbayes.variational.core.step import VIState

    def run(phi_fn):
        opt = optax.sgd(0.01)

        def step(state, _):
            phi, _ = phi_fn(state.params["histogram"], 0.0)
            updates, opt_state = opt.update({"histogram": -phi}, state.opt_state, state.params)
            return VIState(optax.apply_updates(state.params, updates), opt_state), None

        x = particles(1000, 1, seed=5)
        state = VIState({"histogram": x}, opt.init({"histogram": x}))
        return jax.jit(lambda s: jax.lax.scan(step, s, None, length=300)[0])(state).params["histogram"]

    assert_close(run(stein_direction(mixture_logdensity)), run(reference_phi(mixture_logdensity)), rtol=1e-10)


@pytest.mark.skipif(np.finfo(np.longdouble).eps > 1e-18, reason="needs extended-precision long double")
@pytest.mark.parametrize("offset", [10.0, 100.0])
def test_one_variable_kernel_is_accurate_far_from_the_origin(offset):
    """Particles far from 0 relative to their spread: ``|x_i|^2 + |x_j|^2 - 2 x_i x_j`` cancels
    (the definition above loses about ``2^-52 |x|^2 / h`` in each exponent, so there the
    two differ by more than the 1e-12 above); the one-variable path squares the
    difference and matches the exact direction (same bandwidth) to rounding."""

    def logdensity(x, data):
        return jnp.sum(-0.5 * ((x - offset) / 0.1) ** 2)

    x = particles(300, 1, scale=0.1) + offset
    h = np.longdouble(float(objectives._median_bandwidth(x)))
    xl = np.asarray(x[:, 0]).astype(np.longdouble)
    grad = -(xl - np.longdouble(offset)) / np.longdouble(0.01)
    diff = xl[:, None] - xl[None, :]
    exact = (np.exp(-diff * diff / h) * (grad[None, :] + 2 / h * diff)).sum(axis=1) / len(xl)

    def error(phi_fn):
        phi = np.asarray(jax.jit(phi_fn(logdensity))(x, 0.0)[0][:, 0]).astype(np.longdouble)
        return float(np.max(np.abs(phi - exact)) / np.max(np.abs(exact)))

    assert error(stein_direction) < 1e-14  # measured: 3e-16 at both offsets
    assert error(reference_phi) > 1e-13  # measured: 4e-12 and 6e-10
