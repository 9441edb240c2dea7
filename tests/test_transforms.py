"""Transforms: log-Jacobians against ``slogdet(jax.jacobian(backward))``, and round trips.

Also the LKJ log-densities, checked against an independent change of variables
computed with a numerical Jacobian, and the LKJ normaliser against Monte Carlo.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytensor.tensor as pt
import pytest
from scipy import special as sp
from scipy import stats as st

import varbayes as pm
from varbayes.compile import jaxify
from varbayes.distributions import transforms as tr
from varbayes.distributions.multivariate import LKJCholeskyCov, LKJCorr


def _strict_lower(n):
    rows, cols = np.tril_indices(n, -1)
    return lambda x: x[..., rows, cols]


# (id, transform, unconstrained event shape, free coordinates of the constrained value)
EVENT_CASES = [
    ("simplex", tr.simplex, (3,), lambda x: x[..., :-1]),
    ("ordered", tr.ordered, (4,), lambda x: x),
    ("cholesky_corr-3", tr.CholeskyCorrTransform(3), (3,), _strict_lower(3)),
    ("cholesky_corr-4", tr.CholeskyCorrTransform(4), (6,), _strict_lower(4)),
    ("cholesky_cov_packed-3", tr.CholeskyCovPackedTransform(3), (6,), lambda x: x),
    ("lkj_corr-3", tr.LKJCorrTransform(3), (3,), lambda x: x),
    ("lkj_corr-4", tr.LKJCorrTransform(4), (6,), lambda x: x),
]

# (id, transform built for a batch of shape (2,), elementwise)
ELEMENTWISE_CASES = [
    ("log", lambda: tr.log),
    ("logodds", lambda: tr.logodds),
    ("interval", lambda: tr.Interval(np.array([-1.0, 0.5]), 3.0)),
    ("interval-lower", lambda: tr.Interval(np.array([-1.0, 0.5]), None)),
    ("interval-upper", lambda: tr.Interval(None, np.array([-1.0, 0.5]))),
]


def _functions(transform, y_shape):
    """Jitted JAX ``(backward, log_jac_det, forward o backward)`` for ``y`` of ``y_shape``."""
    y = pt.tensor("y", shape=y_shape, dtype="float64")
    x = transform.backward(y)
    fn = jaxify([y], [x, transform.log_jac_det(y), transform.forward(x)])
    backward = jax.jit(lambda v: fn(v)[0])
    rest = jax.jit(lambda v: fn(v)[1:])
    return backward, (lambda v: rest(v)[0]), (lambda v: rest(v)[1])


@pytest.mark.parametrize("batch", [(), (3, 2)])
@pytest.mark.parametrize("case", EVENT_CASES, ids=[c[0] for c in EVENT_CASES])
def test_event_transform_jacobian_and_round_trip(case, batch):
    _, transform, event, free = case
    _, log_jac_det, round_trip = _functions(transform, (*batch, *event))
    # the Jacobian is taken one event at a time, through an unbatched graph
    backward, _, _ = _functions(transform, event)
    rng = np.random.default_rng(len(batch) * 10 + event[0])
    jacobian = jax.jit(jax.vmap(jax.jacobian(lambda v: free(backward(v)))))
    for _ in range(3):
        y = jnp.asarray(rng.normal(size=(*batch, *event)))
        flat_y = y.reshape(-1, *event)
        jac = jacobian(flat_y)
        expected = jnp.linalg.slogdet(jac)[1].reshape(batch)
        np.testing.assert_allclose(log_jac_det(y), expected, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(round_trip(y), y, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("case", ELEMENTWISE_CASES, ids=[c[0] for c in ELEMENTWISE_CASES])
def test_elementwise_transform_jacobian_and_round_trip(case):
    transform = case[1]()
    for batch in [(2,), (3, 2)]:
        backward, log_jac_det, round_trip = _functions(transform, batch)
        rng = np.random.default_rng(len(batch))
        y = jnp.asarray(rng.normal(scale=2.0, size=batch))
        jac = jax.jacobian(lambda v: backward(v.reshape(batch)).reshape(-1))(y.reshape(-1))
        ld = log_jac_det(y)
        assert ld.shape == batch
        np.testing.assert_allclose(jnp.sum(ld), jnp.linalg.slogdet(jac)[1], rtol=1e-8)
        np.testing.assert_allclose(round_trip(y), y, rtol=1e-7, atol=1e-9)


def test_backward_lands_in_the_support():
    y = jnp.asarray(np.random.default_rng(0).normal(scale=3.0, size=(5, 6)))
    backward, _, _ = _functions(tr.CholeskyCorrTransform(4), (5, 6))
    chol = np.asarray(backward(y))
    np.testing.assert_allclose(np.sum(chol**2, axis=-1), 1.0)
    backward, _, _ = _functions(tr.LKJCorrTransform(4), (5, 6))
    corr = np.zeros((5, 4, 4))
    corr[:, *np.triu_indices(4, 1)] = backward(y)
    corr = corr + np.swapaxes(corr, -1, -2) + np.eye(4)
    assert np.all(np.linalg.eigvalsh(corr) > 0)


# --------------------------------------------------------------------- LKJ


def _log_normaliser(eta, n):
    """Independent of the library: the LKJ (2009) normaliser, term by term."""
    total = 0.0
    for k in range(1, n):
        b = eta + (n - k - 1) / 2
        total += (2 * eta - 2 + n - k) * (n - k) * np.log(2) + (n - k) * sp.betaln(b, b)
    return total


@pytest.mark.parametrize("n, eta", [(3, 1.0), (3, 2.5), (4, 0.7)])
def test_lkj_normaliser_by_monte_carlo(n, eta):
    """Integral of det(C)**(eta - 1) over correlation matrices, by uniform sampling of the off-diagonal cube."""
    rng = np.random.default_rng(1)
    m = n * (n - 1) // 2
    draws = 200_000
    corr = np.zeros((draws, n, n))
    corr[:, *np.triu_indices(n, 1)] = rng.uniform(-1, 1, size=(draws, m))
    corr = corr + np.swapaxes(corr, -1, -2) + np.eye(n)
    # a positive determinant does not make a matrix positive definite once n >= 4
    inside = np.linalg.eigvalsh(corr)[:, 0] > 0
    logdet = np.linalg.slogdet(corr)[1]
    f = np.where(inside, np.exp((eta - 1) * np.where(inside, logdet, 0.0)), 0.0) * 2.0**m
    estimate, se = f.mean(), f.std() / np.sqrt(draws)
    assert abs(np.log(estimate) - _log_normaliser(eta, n)) < 5 * se / estimate
    if eta == 1.0 and n == 3:
        np.testing.assert_allclose(_log_normaliser(1.0, 3), np.log(np.pi**2 / 2))


def _packed_to_sigma_corr(n):
    rows, cols = np.tril_indices(n)
    triu = np.triu_indices(n, 1)

    def f(packed):
        chol = jnp.zeros((n, n)).at[rows, cols].set(packed)
        cov = chol @ chol.T
        sigma = jnp.sqrt(jnp.diag(cov))
        corr = cov / jnp.outer(sigma, sigma)
        return jnp.concatenate([sigma, corr[triu]])

    return f


@pytest.mark.parametrize("n, eta", [(2, 1.0), (3, 2.0), (4, 0.8)])
def test_lkj_cholesky_cov_logp_by_change_of_variables(n, eta):
    """logp(packed L) = LKJ(C) + sum logp_sd(sigma) + log|d(sigma, C) / dL|, the Jacobian numerical."""
    sd_dist = pm.Gamma.dist(alpha=3.0, beta=2.0)
    dist = LKJCholeskyCov.dist(eta=eta, n=n, sd_dist=sd_dist)
    m = n * (n + 1) // 2
    value = pt.tensor("v", shape=(m,), dtype="float64")
    raw_logp = jaxify([value], [dist.logp(value)])
    logp_fn = jax.jit(raw_logp)
    f = _packed_to_sigma_corr(n)
    jacobian = jax.jit(jax.jacobian(f))
    rng = np.random.default_rng(n)
    transform = tr.CholeskyCovPackedTransform(n)
    for _ in range(4):
        packed = rng.normal(size=m)
        packed[transform.diag_idx] = np.exp(packed[transform.diag_idx])
        out = np.asarray(f(jnp.asarray(packed)))
        sigma, r = out[:n], out[n:]
        corr = np.eye(n)
        corr[np.triu_indices(n, 1)] = r
        corr = corr + corr.T - np.eye(n)
        log_jac = np.linalg.slogdet(np.asarray(jacobian(jnp.asarray(packed))))[1]
        expected = (
            (eta - 1) * np.linalg.slogdet(corr)[1]
            - _log_normaliser(eta, n)
            + st.gamma.logpdf(sigma, 3.0, scale=0.5).sum()
            + log_jac
        )
        np.testing.assert_allclose(float(logp_fn(jnp.asarray(packed))[0]), expected, rtol=1e-8)
    # a non-positive diagonal is outside the support
    bad = np.ones(m)
    bad[0] = -1.0
    assert float(logp_fn(jnp.asarray(bad))[0]) == -np.inf


def test_lkj_corr_logp():
    n, eta = 3, 2.0
    dist = LKJCorr.dist(n=n, eta=eta)
    r = np.array([[0.3, -0.2, 0.1], [0.0, 0.0, 0.0], [0.9, 0.9, -0.9]])
    got = pt.as_tensor_variable(r)
    with np.errstate(all="ignore"):
        values = dist.logp(got).eval(mode="FAST_COMPILE")
    for row, v in zip(r, values):
        corr = np.eye(n)
        corr[np.triu_indices(n, 1)] = row
        corr = corr + corr.T - np.eye(n)
        logdet = np.linalg.slogdet(corr)[1]
        inside = np.linalg.eigvalsh(corr)[0] > 0
        expected = (eta - 1) * logdet - _log_normaliser(eta, n) if inside else -np.inf
        np.testing.assert_allclose(v, expected, rtol=1e-8)


def test_lkj_cholesky_cov_in_a_model():
    with pm.Model() as model:
        chol, corr, stds = pm.LKJCholeskyCov("chol", eta=2.0, n=3, sd_dist=pm.Exponential.dist(1.0))
        pm.MvNormal("x", mu=np.zeros(3), chol=chol, observed=np.random.default_rng(0).normal(size=(5, 3)))
    assert [v.name for v in model.value_vars] == ["chol_cholesky-cov-packed__"]
    assert {"chol_corr", "chol_stds"} <= set(model.named_vars)
    point = model.initial_point()
    np.testing.assert_allclose(point["chol_cholesky-cov-packed__"], 0.0)
    y = np.array([0.1, 0.3, -0.2, -0.4, 0.5, 0.2])
    logp = model.compile_logp(mode="FAST_COMPILE")({"chol_cholesky-cov-packed__": y})
    assert np.isfinite(logp)
    values = pt.as_tensor_variable(y)
    chol_value = tr.CholeskyCovPackedTransform(3).backward(values)
    corr_value, stds_value = [pm.model.core.clone_replace(v, {model["chol"]: chol_value}).eval() for v in (corr, stds)]
    np.testing.assert_allclose(np.diag(corr_value), 1.0)
    assert np.all(stds_value > 0)
    with pm.Model():
        packed = pm.LKJCholeskyCov("p", eta=1.0, n=2, sd_dist=pm.HalfNormal.dist(1.0), compute_corr=False)
        assert packed.type.shape == (3,)
