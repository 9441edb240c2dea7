"""benchmarks/accuracy_models.py: every model builds with a finite log-density and has a reference."""

import jax
import numpy as np
import pytest

from benchmarks import accuracy_models as am
from varbayes.compile import compile_model

needs_posteriordb = pytest.mark.skipif(
    not am.POSTERIORDB_DIR.exists(), reason=f"posteriordb references not found at {am.POSTERIORDB_DIR}"
)


def _params(names):
    return [pytest.param(n, marks=needs_posteriordb) if n in am.POSTERIORDB else n for n in names]


@pytest.fixture(scope="module")
def compiled():
    """Models compiled once per module (compilation dominates the cost of these tests)."""
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = compile_model(am.MODELS[name]())
        return cache[name]

    return get


def _constrained_at_start(compiled_model) -> dict[str, np.ndarray]:
    """Free variables (constrained) and deterministics at the initial point."""
    fn = compiled_model.constrained
    values = fn(compiled_model.initial_theta(), key=jax.random.key(0))
    return dict(zip(fn.output_names, (np.asarray(v) for v in values)))


def test_registries_agree():
    assert set(am.COMPARED) == set(am.MODELS)
    assert set(am.POSTERIORDB) <= set(am.MODELS)
    assert all(n.startswith("pdb_") == (n in am.POSTERIORDB) for n in am.MODELS)
    for name, builder in am.MODELS.items():
        assert builder.__name__ == name


@pytest.mark.parametrize("name", _params(am.MODELS))
def test_builds_with_finite_logdensity(name, compiled):
    c = compiled(name)
    theta = c.initial_theta()
    assert np.isfinite(float(c.logdensity_fn(theta)))
    outputs = _constrained_at_start(c)
    missing = set(am.COMPARED[name]) - set(outputs)
    assert not missing, f"compared variables {missing} are neither free variables nor deterministics"


def test_builders_are_deterministic():
    a = compile_model(am.MODELS["logistic_regression"]())
    b = compile_model(am.MODELS["logistic_regression"]())
    theta = a.initial_theta() + 0.1
    assert float(a.logdensity_fn(theta)) == float(b.logdensity_fn(theta))


@pytest.mark.parametrize("name", _params(am.MODELS))
def test_reference_shapes(name, compiled):
    outputs = _constrained_at_start(compiled(name))
    ref = am.reference(name)
    assert list(ref) == list(am.COMPARED[name])
    for var, (mean, sd) in ref.items():
        assert mean.shape == sd.shape == outputs[var].shape, var
        assert np.all(np.isfinite(mean)) and np.all(sd >= 0), var


@needs_posteriordb
def test_posteriordb_names_are_in_stan_order():
    names = am.posteriordb_names("pdb_gp_pois_regr", "f")
    assert names == [f"f[{i}]" for i in range(1, 12)]
    assert am.posteriordb_names("pdb_kidiq", "sigma") == ["sigma"]
    mean, _ = am.reference("pdb_kidiq")["beta"]
    assert mean[0] == am.posteriordb_summary("pdb_kidiq")["beta"]["mean"][0]


def test_compare_on_draws_from_the_reference():
    rng = np.random.default_rng(0)
    n = 20_000
    ref = am.reference("mvnormal_lkj")
    draws = {var: mean + sd * rng.normal(size=(n, *mean.shape)) for var, (mean, sd) in ref.items()}
    result = am.compare("mvnormal_lkj", draws)
    assert set(result) == set(am.COMPARED["mvnormal_lkj"])
    for var, r in result.items():
        # the correlation matrix's unit diagonal is constant and skipped, not divided by zero
        assert np.isfinite(list(r.values())).all(), var
        assert r["mean_err"] < 0.05
        assert 0.95 < r["sd_ratio_min"] <= r["sd_ratio_max"] < 1.05
    shifted = dict(draws, mu=draws["mu"] + ref["mu"][1])
    assert am.compare("mvnormal_lkj", shifted)["mu"]["mean_err"] == pytest.approx(1.0, abs=0.05)


def test_collinear_reference_records_its_correlation():
    stored = am._stored_references()["models"]["collinear_regression"]
    assert abs(stored["corr_intercept_slope"]) > 0.999
