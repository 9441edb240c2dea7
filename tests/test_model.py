"""The Model context: registration, coords and dims, observed data, log-density, data, errors."""

import numpy as np
import pandas as pd
import pytensor
import pytensor.tensor as pt
import pytest
import scipy.special as sp
import scipy.stats as st

import varbayes as pm
from varbayes.config import default_seed

MODE = "FAST_COMPILE"


# ------------------------------------------------------------------ context
def test_context_manager_both_forms():
    with pm.Model() as m1:
        x = pm.Normal("x", 0.0, 1.0)
    assert m1.free_RVs == [x]

    m2 = pm.Model()
    with m2:
        y = pm.Normal("y", 0.0, 1.0)
    assert m2.free_RVs == [y]
    assert "x" not in m2 and "y" not in m1
    # re-entering adds to the same model
    with m2:
        pm.Normal("z", 0.0, 1.0)
    assert [v.name for v in m2.free_RVs] == ["y", "z"]


def test_modelcontext_is_innermost_and_restored_after_errors():
    with pm.Model() as m:
        assert pm.modelcontext(None) is m
        with pytest.raises(RuntimeError):
            with pm.Model():
                raise RuntimeError("boom")
        assert pm.modelcontext(None) is m
    with pytest.raises(TypeError, match="outside any model"):
        pm.modelcontext(None, "x")
    with pytest.raises(TypeError, match="pm.Model"):
        pm.modelcontext("not a model")


def test_nested_models_prefix_names_and_register_in_the_parent():
    with pm.Model() as outer:
        a = pm.Normal("a", 0.0, 1.0)
        with pm.Model(name="inner") as inner:
            b = pm.Normal("b", a, 1.0)
            pm.Deterministic("b2", b**2)
            pm.Normal("y", b, 1.0, observed=[0.5])
        c = pm.Normal("c", b, 1.0)
    assert inner.parent is outer and outer.parent is None
    assert list(outer.named_vars) == ["a", "inner::b", "inner::b2", "inner::y", "c"]
    assert list(inner.named_vars) == ["inner::b", "inner::b2", "inner::y"]
    assert [v.name for v in outer.free_RVs] == ["a", "inner::b", "c"]
    assert [v.name for v in inner.free_RVs] == ["inner::b"]
    assert inner["b"] is b and outer["inner::b"] is b
    assert [v.name for v in outer.deterministics] == ["inner::b2"]
    assert [v.name for v in outer.observed_RVs] == ["inner::y"]
    # the parent's log-density covers everything
    point = {"a": 0.1, "inner::b": -0.2, "c": 0.3}
    expected = (st.norm.logpdf(0.1) + st.norm.logpdf(-0.2, 0.1) + st.norm.logpdf(0.3, -0.2)
                + st.norm.logpdf(0.5, -0.2))
    np.testing.assert_allclose(outer.compile_logp(mode=MODE)(point), expected, rtol=1e-12)
    assert c.name == "c"


def test_nested_named_models_and_duplicates_across_levels():
    with pm.Model(name="top") as top:
        with pm.Model(name="sub", coords={"k": [1, 2]}):
            v = pm.Normal("v", 0.0, 1.0, dims="k")
        pm.Normal("v", 0.0, 1.0)
        with pytest.raises(ValueError, match="top::sub::v"):
            with pm.Model(name="sub"):
                pm.Normal("v", 0.0, 1.0)
    assert v.name == "top::sub::v"
    assert top.coords == {"k": (1, 2)}
    assert list(top.named_vars) == ["top::sub::v", "top::v"]
    assert top["v"].name == "top::v"


# ----------------------------------------------------------- coords, dims, shape
def test_coords_and_dims_give_shapes():
    coords = {"city": ["a", "b", "c"], "year": [2020, 2021]}
    with pm.Model(coords=coords) as m:
        x = pm.Normal("x", 0.0, 1.0, dims="city")
        y = pm.Normal("y", 0.0, 1.0, dims=("year", "city"))
        d = pm.Deterministic("d", y * x, dims=("year", "city"))
        m.add_coord("obs", length=4)
        z = pm.Normal("z", 0.0, 1.0, observed=np.zeros(4), dims="obs")
    assert x.type.shape == (3,) and y.type.shape == (2, 3) and z.type.shape[0] in (4, None)
    assert m.named_vars_to_dims == {"x": ("city",), "y": ("year", "city"), "d": ("year", "city"), "z": ("obs",)}
    assert m.coords["city"] == ("a", "b", "c") and m.coords["obs"] == (0, 1, 2, 3)
    assert d.name == "d"
    with pytest.raises(ValueError, match="already defined"):
        m.add_coord("city", ["q"])
    with pytest.raises(ValueError, match="values or a length"):
        m.add_coord("empty")


def test_dims_errors_name_the_variable():
    with pm.Model(coords={"city": ["a", "b", "c"]}):
        with pytest.raises(ValueError, match=r"'w'.*\['nope'\].*no coords"):
            pm.Normal("w", 0.0, 1.0, dims="nope")
        with pytest.raises(ValueError, match=r"'w2'.*dims"):
            pm.Normal("w2", 0.0, 1.0, shape=(3, 2), dims="city")
        with pytest.raises(ValueError, match=r"'w3'.*'city' has 3 coords"):
            pm.Normal("w3", 0.0, 1.0, shape=4, dims="city")
        x = pm.Normal("x", 0.0, 1.0, dims="city")
        with pytest.raises(ValueError, match=r"'det'.*no coords"):
            pm.Deterministic("det", x * 2, dims="nope")
        with pytest.raises(ValueError, match=r"'det2'.*dims"):
            pm.Deterministic("det2", x * 2, dims=("city", "city"))


def test_shape_argument():
    with pm.Model() as m:
        a = pm.Normal("a", 0.0, 1.0, shape=3)
        b = pm.Normal("b", np.zeros(3), 1.0, shape=(2, 3))
        c = pm.HalfNormal("c", 1.0, shape=(2,))
        d = pm.Normal("d", 0.0, 1.0)
    assert (a.type.shape, b.type.shape, c.type.shape, d.type.shape) == ((3,), (2, 3), (2,), ())
    point = m.initial_point()
    assert point["b"].shape == (2, 3) and point["c_log__"].shape == (2,)


# ------------------------------------------------------------------ observed
@pytest.mark.parametrize(
    "make",
    [
        lambda v: v,
        lambda v: list(v),
        lambda v: pd.Series(v),
        lambda v: pytensor.shared(v),
        lambda v: pt.as_tensor(v),
    ],
    ids=["numpy", "list", "series", "shared", "constant"],
)
def test_observed_forms_give_the_same_logp(make):
    values = np.array([0.3, -1.2, 2.0])
    with pm.Model() as m:
        mu = pm.Normal("mu", 0.0, 1.0)
        y = pm.Normal("y", mu, 2.0, observed=make(values))
    assert m.observed_RVs == [y] and m["y"] is y
    expected = st.norm.logpdf(0.4) + st.norm.logpdf(values, 0.4, 2.0).sum()
    np.testing.assert_allclose(m.compile_logp(mode=MODE)({"mu": 0.4}), expected, rtol=1e-12)


def test_observed_dataframe_and_shared_data_changes():
    df = pd.DataFrame({"a": [0.1, 0.2, 0.3], "b": [1.0, 2.0, 3.0]})
    shared = pytensor.shared(np.array([1.0, 2.0]))
    with pm.Model() as m:
        mu = pm.Normal("mu", 0.0, 1.0, shape=2)
        pm.Normal("y", mu, 1.0, observed=df)
        pm.Normal("z", mu[0], 1.0, observed=shared)
    logp = m.compile_logp(mode=MODE)
    mu_v = np.array([0.5, -0.5])
    base = st.norm.logpdf(mu_v).sum() + st.norm.logpdf(df.to_numpy(), mu_v, 1.0).sum()
    np.testing.assert_allclose(logp({"mu": mu_v}), base + st.norm.logpdf([1.0, 2.0], 0.5).sum(), rtol=1e-12)
    shared.set_value(np.array([3.0, 4.0, 5.0]))
    np.testing.assert_allclose(logp({"mu": mu_v}), base + st.norm.logpdf([3.0, 4.0, 5.0], 0.5).sum(), rtol=1e-12)


def test_discrete_observed_is_cast_to_integers():
    with pm.Model() as m:
        k = pm.Poisson("k", 2.0, observed=np.array([1.0, 3.0]))
        j = pm.Poisson("j", 2.0, observed=pd.Series([0, 4]))
    assert k.dtype.startswith("int") and j.dtype.startswith("int")
    np.testing.assert_allclose(m.compile_logp(mode=MODE)({}), st.poisson.logpmf([1, 3, 0, 4], 2.0).sum(), rtol=1e-12)


# ------------------------------------------------- deterministics, potentials
def test_deterministic_and_potential_are_recorded_and_potential_enters_logp():
    with pm.Model() as m:
        x = pm.Normal("x", 0.0, 1.0)
        x2 = pm.Deterministic("x2", x**2)
        same = pm.Deterministic("x_again", x)
        pot = pm.Potential("pen", -(x**2))
    assert m.deterministics == [x2, same] and m.potentials == [pot]
    assert x.name == "x", "recording a placeholder as a deterministic must not rename it"
    assert (x2.name, same.name, pot.name) == ("x2", "x_again", "pen")
    assert set(m.named_vars) == {"x", "x2", "x_again", "pen"}
    assert m.free_RVs == [x] and m.observed_RVs == []
    terms = m.point_logps({"x": 1.5}, round_vals=10)
    assert set(terms) == {"x", "pen"}, "deterministics add nothing to the log-density"
    np.testing.assert_allclose(terms["x"], st.norm.logpdf(1.5), rtol=1e-9)
    np.testing.assert_allclose(terms["pen"], -2.25)
    np.testing.assert_allclose(m.compile_logp(mode=MODE)({"x": 1.5}), st.norm.logpdf(1.5) - 2.25, rtol=1e-12)
    values = m.compile_logp(sum=False, mode=MODE)({"x": 1.5})
    assert len(values) == 2
    x2_of_value = pytensor.graph.replace.clone_replace(x2, replace=m.constrained_replacements())
    np.testing.assert_allclose(float(pytensor.function(m.value_vars, x2_of_value, mode=MODE)(3.0)), 9.0)


def test_deterministic_and_potential_reject_non_tensors():
    with pm.Model():
        with pytest.raises(TypeError, match="'d'"):
            pm.Deterministic("d", "not a tensor")
        with pytest.raises(TypeError, match="'p'"):
            pm.Potential("p", object())


# ------------------------------------------------------------------ inspection
def test_named_vars_getitem_and_lists():
    with pm.Model() as m:
        mu = pm.Normal("mu", 0.0, 1.0)
        sd = pm.HalfNormal("sd", 1.0)
        y = pm.Normal("y", mu, sd, observed=[0.1, 0.2])
        d = pm.Deterministic("d", mu + sd)
    assert list(m.named_vars) == ["mu", "sd", "y", "d"]
    assert m["mu"] is mu and m["sd"] is sd and m["y"] is y and m["d"] is d
    assert "mu" in m and "nope" not in m
    assert m.free_RVs == [mu, sd] and m.observed_RVs == [y] and m.deterministics == [d]
    assert [v.name for v in m.value_vars] == ["mu", "sd_log__"]
    assert m.value_vars[1].type.shape == ()
    with pytest.raises(KeyError, match=r"'nope'.*known.*'d'.*'mu'.*'sd'.*'y'"):
        m["nope"]
    assert "mu ~ Normal" in repr(m) and "y ~ Normal (observed)" in repr(m)


def test_initial_point_uses_support_points_through_transforms():
    with pm.Model() as m:
        pm.Normal("a", 2.0, 1.0, shape=2)
        pm.HalfNormal("s", 3.0)
        pm.Uniform("u", -1.0, 3.0)
        pm.Exponential("e", 2.0)
        pm.Normal("i", 0.0, 1.0, initval=0.7)
        pm.HalfNormal("h", 1.0, initval=2.0)
    point = m.initial_point()
    assert list(point) == ["a", "s_log__", "u_interval__", "e_exp__" if "e_exp__" in point else "e_log__", "i", "h_log__"]
    np.testing.assert_allclose(point["a"], [2.0, 2.0])
    np.testing.assert_allclose(point["s_log__"], np.log(3.0))
    np.testing.assert_allclose(point["u_interval__"], 0.0)  # the midpoint 1.0
    np.testing.assert_allclose(point["i"], 0.7)
    np.testing.assert_allclose(point["h_log__"], np.log(2.0))
    # initial point has a finite log-density
    assert np.isfinite(m.compile_logp(mode=MODE)(point))


def test_initial_point_of_a_bound_that_is_a_free_variable():
    with pm.Model() as m:
        pm.HalfNormal("s", 4.0)
        pm.Uniform("u", 0.0, m["s"])
    point = m.initial_point()
    np.testing.assert_allclose(point["s_log__"], np.log(4.0))
    np.testing.assert_allclose(point["u_interval__"], 0.0)


def test_compile_logp_dlogp_and_point_logps_match_scipy():
    y = np.array([1.1, 0.4, -0.3])
    with pm.Model() as m:
        mu = pm.Normal("mu", 1.0, 2.0)
        sd = pm.HalfNormal("sd", 1.5)
        pm.Normal("y", mu, sd, observed=y)
    mu_v, log_sd = 0.3, np.log(0.8)
    point = {"mu": mu_v, "sd_log__": log_sd}
    expected_terms = {
        "mu": st.norm.logpdf(mu_v, 1.0, 2.0),
        "sd": st.halfnorm.logpdf(0.8, scale=1.5) + log_sd,
        "y": st.norm.logpdf(y, mu_v, 0.8).sum(),
    }
    terms = m.point_logps(point, round_vals=12)
    assert list(terms) == ["mu", "sd", "y"]
    for k, v in expected_terms.items():
        np.testing.assert_allclose(terms[k], v, rtol=1e-9)
    assert m.point_logps(point) == {k: round(v, 2) for k, v in expected_terms.items()}
    total = sum(expected_terms.values())
    np.testing.assert_allclose(m.compile_logp(mode=MODE)(point), total, rtol=1e-12)
    no_jac = m.compile_logp(jacobian=False, mode=MODE)(point)
    np.testing.assert_allclose(no_jac, total - log_sd, rtol=1e-12)
    grads = m.compile_dlogp(mode=MODE)(point)
    eps = 1e-6
    lp = m.compile_logp(mode=MODE)
    fd = (lp({"mu": mu_v + eps, "sd_log__": log_sd}) - lp({"mu": mu_v - eps, "sd_log__": log_sd})) / (2 * eps)
    np.testing.assert_allclose(grads[0], fd, rtol=1e-6)
    # default point is the initial point
    assert set(m.point_logps()) == {"mu", "sd", "y"}


def test_logp_of_model_without_terms_and_eval():
    m = pm.Model()
    assert float(m.logp().eval()) == 0.0
    with pm.Model() as m2:
        pm.Normal("x", 0.0, 1.0)
    np.testing.assert_allclose(float(m2.logp().eval({m2.value_vars[0]: 0.0})), st.norm.logpdf(0.0))


# ----------------------------------------------------------------------- math
def test_math_functions_evaluate_correctly():
    x = pt.dvector("x")
    v = np.array([-1.5, 0.2, 2.0])
    a = np.array([[1.0, 2.0], [3.0, -1.0]])
    cases = {
        "exp": (pm.math.exp(x), np.exp(v)),
        "log": (pm.math.log(pm.math.abs(x)), np.log(np.abs(v))),
        "sigmoid": (pm.math.sigmoid(x), sp.expit(v)),
        "invlogit": (pm.math.invlogit(x), sp.expit(v)),
        "logit": (pm.math.logit(pm.math.sigmoid(x)), v),
        "softmax": (pm.math.softmax(x), sp.softmax(v)),
        "log_softmax": (pm.math.log_softmax(x), sp.log_softmax(v)),
        "logsumexp": (pm.math.logsumexp(x), sp.logsumexp(v)),
        "sum": (pm.math.sum(x), v.sum()),
        "prod": (pm.math.prod(x), v.prod()),
        "mean": (pm.math.mean(x), v.mean()),
        "dot": (pm.math.dot(pt.as_tensor(a), x[:2]), a @ v[:2]),
        "sqrt": (pm.math.sqrt(pm.math.sqr(x)), np.abs(v)),
        "sin": (pm.math.sin(x), np.sin(v)),
        "tanh": (pm.math.tanh(x), np.tanh(v)),
        "log1p": (pm.math.log1p(pm.math.exp(x)), np.log1p(np.exp(v))),
        "softplus": (pm.math.softplus(x), np.log1p(np.exp(v))),
        "switch": (pm.math.switch(x > 0, x, 0.0), np.maximum(v, 0.0)),
        "gammaln": (pm.math.gammaln(pm.math.exp(x)), sp.gammaln(np.exp(v))),
        "erf": (pm.math.erf(x), sp.erf(v)),
        "stack": (pm.math.stack([x, x]), np.stack([v, v])),
        "concatenate": (pm.math.concatenate([x, x]), np.concatenate([v, v])),
        "cumsum": (pm.math.cumsum(x), np.cumsum(v)),
        "clip": (pm.math.clip(x, -1.0, 1.0), np.clip(v, -1.0, 1.0)),
        "maximum": (pm.math.maximum(x, 0.5), np.maximum(v, 0.5)),
        "matmul": (pm.math.matmul(pt.as_tensor(a), pt.as_tensor(a)), a @ a),
    }
    names = list(cases)
    fn = pytensor.function([x], [cases[n][0] for n in names], mode=MODE, on_unused_input="ignore")
    for name, got in zip(names, fn(v)):
        np.testing.assert_allclose(got, cases[name][1], rtol=1e-12, atol=1e-14, err_msg=name)


def test_math_works_on_model_variables():
    with pm.Model() as m:
        x = pm.Normal("x", 0.0, 1.0, shape=3)
        p = pm.Deterministic("p", pm.math.softmax(x))
    p_of_value = pytensor.graph.replace.clone_replace(p, replace=m.constrained_replacements())
    fn = pytensor.function(m.value_vars, p_of_value, mode=MODE)
    np.testing.assert_allclose(fn(np.array([0.0, 1.0, 2.0])), sp.softmax([0.0, 1.0, 2.0]), rtol=1e-12)


# ----------------------------------------------------------------- config
def test_floatX():
    assert pm.floatX([0.2, 0.8]).dtype == pytensor.config.floatX
    assert pm.floatX(np.arange(3)).dtype == pytensor.config.floatX
    assert pm.floatX(1).dtype == pytensor.config.floatX and pm.floatX(1) == 1.0
    assert pm.floatX(pt.ivector("i")).dtype == pytensor.config.floatX


def test_set_seed_and_set_tt_rng_reproducibility():
    assert pm.set_tt_rng is pm.set_seed
    pm.set_seed(42)
    first = [default_seed(None) for _ in range(3)]
    draws_a = pm.Normal.dist(0.0, 1.0, shape=4).random().eval()
    pm.set_tt_rng(42)
    second = [default_seed(None) for _ in range(3)]
    draws_b = pm.Normal.dist(0.0, 1.0, shape=4).random().eval()
    assert first == second
    np.testing.assert_array_equal(draws_a, draws_b)
    pm.set_seed(43)
    assert [default_seed(None) for _ in range(3)] != first
    assert default_seed(7) == 7 and default_seed(np.int64(7)) == 7
    for bad in (1.5, "1", True):
        with pytest.raises(TypeError, match="random_seed"):
            default_seed(bad)
    with pytest.raises(ValueError, match="non-negative"):
        pm.set_seed(-1)
    pm.set_seed(None)


# ------------------------------------------------------------------- Data
def test_data_and_set_data():
    with pm.Model(coords={"obs": range(3)}) as m:
        x = pm.Data("x", np.array([1.0, 2.0, 3.0]), dims="obs")
        k = pm.Data("k", [1, 2])
        g = pm.Data("g", np.zeros((2, 2)), dims=("row", "col"))  # dims without coords take the data's lengths
        mu = pm.Normal("mu", 0.0, 1.0)
        pm.Normal("y", mu * x, 1.0, observed=np.array([0.5, 1.0, 2.0]))
    assert m["x"] is x and x.name == "x" and x.dtype == pytensor.config.floatX and k.dtype.startswith("int")
    assert m.named_vars_to_dims["x"] == ("obs",) and m.coords["row"] == (0, 1) and g.name == "g"
    logp = m.compile_logp(mode=MODE)
    before = logp({"mu": 0.5})
    np.testing.assert_allclose(before, st.norm.logpdf(0.5) + st.norm.logpdf([0.5, 1.0, 2.0], 0.5 * np.arange(1, 4)).sum())
    with m:
        pm.set_data({"x": np.array([2.0, 2.0, 2.0])})
    np.testing.assert_allclose(logp({"mu": 0.5}), st.norm.logpdf(0.5) + st.norm.logpdf([0.5, 1.0, 2.0], 1.0).sum())
    pm.set_data({"k": np.array([4.0, 5.0, 6.0])}, model=m)
    assert k.get_value().dtype == k.dtype and list(k.get_value()) == [4, 5, 6]


def test_data_and_set_data_errors():
    with pm.Model() as m:
        x = pm.Data("x", np.zeros(3))
        pm.Data("k", [1, 2])
        pm.Normal("y", 0.0, 1.0, observed=np.zeros(2))
        pm.Normal("mu", 0.0, 1.0)
        with pytest.raises(ValueError, match="'x' already exists"):
            pm.Data("x", [1.0])
        with pytest.raises(TypeError, match="'s'.*numeric"):
            pm.Data("s", ["a", "b"])
        with pytest.raises(ValueError, match="'w'.*dims"):
            pm.Data("w", np.zeros(3), dims=("a", "b"))
        m.add_coord("three", length=3)
        with pytest.raises(ValueError, match="'w'.*'three' has 3 coords"):
            pm.Data("w", np.zeros(4), dims="three")
        assert "w" not in m
        with pytest.raises(KeyError, match=r"'nope'.*known"):
            pm.set_data({"nope": [1.0]})
        with pytest.raises(ValueError, match="'x'.*dimensions"):
            pm.set_data({"x": np.zeros((2, 2))})
        with pytest.raises(TypeError, match="'y' is not a Data container"):
            pm.set_data({"y": np.ones(2)})
        with pytest.raises(TypeError, match="'mu' is not a Data container"):
            pm.set_data({"mu": 1.0})
        with pytest.raises(TypeError, match="'k'.*integer"):
            pm.set_data({"k": [1.5, 2.0]})
        with pytest.raises(TypeError, match="'x'.*numeric"):
            pm.set_data({"x": ["a"]})
    np.testing.assert_array_equal(x.get_value(), np.zeros(3))
    with pytest.raises(TypeError, match="'z'.*outside any model"):
        pm.Data("z", [1.0])


# ----------------------------------------------------------------- bad input
def test_invalid_constant_parameters_name_variable_and_parameter():
    with pm.Model():
        with pytest.raises(ValueError, match=r"'x'.*sigma"):
            pm.Normal("x", 0.0, -1.0)
        with pytest.raises(ValueError, match=r"'h'.*sigma"):
            pm.HalfNormal("h", sigma=0.0)
        with pytest.raises(ValueError, match=r"'m'.*w=.*weights"):
            pm.NormalMixture("m", w=[-0.5, 1.5], mu=[0.0, 1.0], sigma=[1.0, 1.0])
        with pytest.raises(ValueError, match=r"'m2'.*sigma"):
            pm.NormalMixture("m2", w=[0.5, 0.5], mu=[0.0, 1.0], sigma=[1.0, -1.0])
        with pytest.raises(ValueError, match=r"'u'.*upper|'u'.*lower"):
            pm.Uniform("u", 2.0, 1.0)


def test_unknown_keyword_argument():
    with pm.Model():
        with pytest.raises(TypeError, match=r"'x'.*sgima"):
            pm.Normal("x", 0.0, sgima=1.0)


def test_duplicate_names():
    with pm.Model() as m:
        x = pm.Normal("x", 0.0, 1.0)
        for define in (
            lambda: pm.Normal("x", 0.0, 1.0),
            lambda: pm.Normal("x", 0.0, 1.0, observed=[1.0]),
            lambda: pm.Deterministic("x", x + 1),
            lambda: pm.Potential("x", x),
            lambda: pm.Data("x", [1.0]),
        ):
            with pytest.raises(ValueError, match="'x' already exists"):
                define()
    assert list(m.named_vars) == ["x"] and len(m.free_RVs) == 1


def test_shape_mismatch_between_parameters_and_shape():
    with pm.Model():
        with pytest.raises(ValueError, match=r"'x'.*shape"):
            pm.Normal("x", np.zeros(3), 1.0, shape=(2,))
        with pytest.raises(ValueError, match=r"'y'.*shape"):
            pm.Normal("y", np.zeros(3), np.ones(2))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_in_observed(bad):
    values = np.array([0.1, bad, 0.3])
    for observed in (values, pd.Series(values), pytensor.shared(values)):
        with pm.Model():
            with pytest.raises(ValueError, match=r"'y'.*NaN or infinite"):
                pm.Normal("y", 0.0, 1.0, observed=observed)


def test_non_integer_observed_for_discrete_distribution():
    for observed in (np.array([1.0, 2.5]), pd.Series([0.5]), pytensor.shared(np.array([1.5]))):
        with pm.Model():
            with pytest.raises(TypeError, match=r"'k'.*integers"):
                pm.Poisson("k", 2.0, observed=observed)


def test_non_numeric_observed():
    with pm.Model():
        with pytest.raises(TypeError, match=r"'y'.*numeric"):
            pm.Normal("y", 0.0, 1.0, observed=["a", "b"])
        with pytest.raises(TypeError, match=r"'z'.*numeric"):
            pm.Normal("z", 0.0, 1.0, observed=[1.0, None])


def test_variable_defined_outside_any_model():
    with pytest.raises(TypeError, match="model"):
        pm.Normal("x", 0.0, 1.0)
    x = pt.dscalar("x")
    with pytest.raises(TypeError, match="'d'.*outside any model"):
        pm.Deterministic("d", x)
    with pytest.raises(TypeError, match="'p'.*outside any model"):
        pm.Potential("p", x)


def test_observed_shape_not_matching_the_distribution():
    with pm.Model():
        with pytest.raises(ValueError, match=r"'y'.*\(4,\).*\(3,\)"):
            pm.Normal("y", 0.0, 1.0, shape=3, observed=np.zeros(4))
        with pytest.raises(ValueError, match=r"'z'.*shape"):
            pm.Normal("z", np.zeros(3), 1.0, observed=pytensor.shared(np.zeros((2, 4))))
        with pytest.raises(ValueError, match=r"'w'"):
            pm.MvNormal("w", np.zeros(3), np.eye(3), observed=np.zeros((5, 2)))


def test_dims_without_coords():
    with pm.Model():
        with pytest.raises(ValueError, match=r"'x'.*no coords"):
            pm.Normal("x", 0.0, 1.0, dims="group")
        with pytest.raises(ValueError, match=r"'y'.*no coords"):
            pm.Normal("y", 0.0, 1.0, shape=2, dims="group")


def test_total_size_on_a_free_variable():
    with pm.Model():
        with pytest.raises(ValueError, match=r"'x'.*total_size.*observed"):
            pm.Normal("x", 0.0, 1.0, total_size=100)


def test_model_name_and_variable_name_must_be_strings():
    with pytest.raises(TypeError, match="name"):
        pm.Model(name=3)
    with pm.Model():
        with pytest.raises(TypeError, match="name"):
            pm.Deterministic("", pt.constant(1.0))
