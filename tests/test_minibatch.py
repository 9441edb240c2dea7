"""Minibatch: the seed's docstring examples, total_size scaling, fitting and errors."""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.graph.replace import clone_replace

import varbayes as pm
from varbayes.compile import compile_model


@pytest.fixture
def data():
    return np.random.default_rng(0).random((100, 100))


# ------------------------------------------------------ the seed's docstring
def test_is_a_tensor_variable():
    assert issubclass(pm.Minibatch, pt.TensorVariable)


def test_rows_and_fresh_batches(data):
    x = pm.Minibatch(data, batch_size=10)
    first, second = x.eval(), x.eval()
    assert first.shape == (10, 100)
    assert not np.array_equal(first, second)
    # every batch row is a row of the data
    assert all(any(np.array_equal(r, d) for d in data) for r in first)


def test_seeded_pairs_and_dtype(data):
    x = pm.Minibatch(data, batch_size=[(10, 42), (10, 42)], dtype="int32")
    assert str(x.dtype) == "int32"
    x = pm.Minibatch(data, batch_size=[10, 10])
    assert x.eval().shape == (10, 10)


def test_float_data_is_cast_to_floatx(data):
    assert pm.Minibatch(data.astype("float32"), batch_size=5).dtype == pytensor.config.floatX


def test_in_a_model_with_total_size(data):
    x = pm.Minibatch(data, batch_size=[10, 10])
    with pm.Model() as model:
        mu = pm.Flat("mu")
        sd = pm.HalfNormal("sd")
        pm.Normal("lik", mu, sd, observed=x, total_size=(100, 100))
    assert "lik" in model.named_vars


def test_set_value_and_shared(data):
    x = pm.Minibatch(data, batch_size=10)
    new = np.random.default_rng(1).laplace(size=(100, 100))
    x.set_value(new)
    np.testing.assert_allclose(x.shared.get_value(), new)
    assert any(np.allclose(x.eval()[0], row) for row in new)
    x.shared.set_value(pm.floatX(np.zeros((100, 100))))
    assert np.all(x.eval() == 0)


def test_update_shared_f():
    datagen = partial(np.random.default_rng(2).laplace, size=(100, 100))
    x = pm.Minibatch(datagen(), batch_size=10, update_shared_f=datagen)
    before = x.shared.get_value().copy()
    x.update_shared()
    assert not np.allclose(before, x.shared.get_value())


def test_replacements(data):
    x = pm.Minibatch(data, batch_size=10)
    node = x**2
    testdata = pm.floatX(np.random.default_rng(3).laplace(size=(1000, 10)))
    rnode = clone_replace(node, {x: testdata})
    assert (testdata**2 == rnode.eval()).all()
    rnode = clone_replace(node, {x.minibatch: x.shared})
    np.testing.assert_allclose(rnode.eval(), data**2)


@pytest.mark.parametrize(
    "spec, shape",
    [
        ([2, Ellipsis, 10], (2, 20, 30, 40, 10)),
        ([2, None, 20], (2, 20, 20, 40, 50)),
        ([2, None, 20, Ellipsis, 10], (2, 20, 20, 40, 10)),
    ],
)
def test_advanced_indexing(spec, shape):
    moredata = np.random.default_rng(4).random((10, 20, 30, 40, 5)).repeat(10, axis=-1)
    x = pm.Minibatch(moredata, spec)
    assert x.eval().shape == shape


def test_in_memory_size(data):
    x = pm.Minibatch(data, batch_size=5, in_memory_size=50)
    assert x.shared.get_value().shape == (50, 100)


def test_several_arrays_share_rows():
    X = np.arange(100.0)[:, None] * np.ones((1, 3))
    y = np.arange(100)
    Xb, yb = pm.Minibatch(X, y, batch_size=7)
    a, b = pytensor.function([], [Xb, yb])()
    np.testing.assert_array_equal(a[:, 0], b)


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("bad", [0, -1, 101])
def test_bad_batch_size(data, bad):
    with pytest.raises(ValueError, match="batch size"):
        pm.Minibatch(data, batch_size=bad)


def test_batch_spec_longer_than_data(data):
    with pytest.raises(ValueError, match="more axes"):
        pm.Minibatch(data, batch_size=[2, 2, 2])


def test_nan_in_source(data):
    data = data.copy()
    data[3, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        pm.Minibatch(data, batch_size=10)


def test_set_value_with_other_ndim(data):
    x = pm.Minibatch(data, batch_size=10)
    with pytest.raises(ValueError, match="dimensions"):
        x.set_value(np.zeros(100))


def test_total_size_disagreeing_with_data(data):
    x = pm.Minibatch(data, batch_size=10)
    with pm.Model():
        with pytest.raises(ValueError, match="total_size"):
            pm.Normal("lik", 0.0, 1.0, observed=x, total_size=(100, 100, 100))


def test_minibatch_without_total_size_warns(data):
    x = pm.Minibatch(data, batch_size=10)
    with pm.Model():
        with pytest.warns(UserWarning, match="total_size"):
            pm.Normal("lik", 0.0, 1.0, observed=x)


# ------------------------------------------------------------------ epochs
def _labelled_model(n, size, columns=1, **kwargs):
    """A model observing a Minibatch of rows ``[i, i, ...]``: a batch's first column names its rows."""
    data = np.repeat(np.arange(n, dtype="float64")[:, None], columns, axis=1)
    X = pm.Minibatch(data, batch_size=size, **kwargs)
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 10.0)
        pm.Normal("obs", mu, 1.0, observed=X, total_size=data.shape)
    return model, X


def _drawn_rows(model, iterations):
    ld = compile_model(model).logdensity
    data = ld.data()
    draw = jax.jit(lambda t: ld.batch_fn(jax.random.key(3), data, t)[-1][:, 0])
    return np.concatenate([np.asarray(draw(t)) for t in iterations]).astype(int)


@pytest.mark.parametrize("n, size", [(100, 10), (100, 7), (37, 37), (1000, 300), (5, 1)])
def test_every_row_once_per_epoch(n, size):
    """The batches of consecutive iterations, laid end to end, are permutations of the rows."""
    model, _ = _labelled_model(n, size)
    epochs = 4
    stream = _drawn_rows(model, range(-(-epochs * n // size)))
    orders = [stream[e * n : (e + 1) * n] for e in range(epochs)]
    for order in orders:
        np.testing.assert_array_equal(np.sort(order), np.arange(n))
    if n > 5:
        # a fresh order each epoch
        assert len({tuple(order) for order in orders}) == epochs


def test_batch_rows_are_uniform_over_keys():
    """Over the fit's key, each place of a batch of single rows holds each row equally often (chi-square)."""
    from scipy import stats

    n, size, keys = 21, 8, 4000  # no common divisor: single rows
    model, _ = _labelled_model(n, size)
    ld = compile_model(model).logdensity
    data = ld.data()
    # iteration 2 straddles the end of the first epoch: its last 5 rows come from the second
    draw = jax.jit(jax.vmap(lambda k: ld.batch_fn(k, data, 2)[-1][:, 0]))
    rows = np.asarray(draw(jax.random.split(jax.random.key(4), keys))).astype(int)
    counts = np.stack([np.bincount(rows[:, place], minlength=n) for place in range(size)])
    assert stats.chisquare(counts.ravel()).pvalue > 1e-3
    # and the two rows of a pair are as often in one order as in the other
    assert abs(np.mean(rows[:, 0] < rows[:, 1]) - 0.5) < 4 * 0.5 / np.sqrt(keys)


def test_rows_read_in_runs_are_in_a_batch_equally_often_over_keys():
    """In runs of a shuffled copy a place holds the rows of its offset in a run, but each row is as often in a batch."""
    from scipy import stats

    n, size, keys = 40, 8, 4000  # runs of 2 rows
    model, _ = _labelled_model(n, size)
    ld = compile_model(model).logdensity
    assert ld.batch_fn.streams[0].blocks
    data = ld.data()
    draw = jax.jit(jax.vmap(lambda k: ld.batch_fn(k, data, 7)[-1][:, 0]))  # a step of the second epoch
    rows = np.asarray(draw(jax.random.split(jax.random.key(4), keys))).astype(int)
    assert stats.chisquare(np.bincount(rows.ravel(), minlength=n)).pvalue > 1e-3


def test_permutation_is_a_bijection_for_awkward_sizes():
    from varbayes.data.epochs import permuted, round_keys

    for n in [1, 2, 3, 17, 99, 1000, 4097]:
        for epoch in range(3):
            keys = round_keys(jax.random.key(5), epoch)
            perm = np.asarray(permuted(keys, jnp.arange(n, dtype=jnp.uint32), n))
            np.testing.assert_array_equal(np.sort(perm), np.arange(n))


def test_joint_minibatches_draw_the_same_rows():
    X = np.arange(300.0)[:, None] * np.ones((1, 3))
    y = np.arange(300.0)
    Xb, yb = pm.Minibatch(X, y, batch_size=40)
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 10.0)
        pm.Normal("x", mu, 1.0, observed=Xb, total_size=X.shape)
        pm.Normal("y", mu, 1.0, observed=yb, total_size=300)
    ld = compile_model(model).logdensity
    data = ld.data()
    for t in [0, 7, 8, 30]:  # epochs end inside iterations 7 and 30
        drawn = [np.asarray(b) for b in ld.batch_fn(jax.random.key(6), data, t)[-2:]]
        xb, ybatch = sorted(drawn, key=np.ndim, reverse=True)
        np.testing.assert_array_equal(xb[:, 0], ybatch)
        np.testing.assert_array_equal(xb[:, 0], xb[:, 2])


def test_an_index_read_outside_its_batch_follows_the_same_stream():
    X = np.arange(60.0)[:, None] * np.ones((1, 2))
    y = pytensor.shared(np.arange(60.0) * 10)
    Xb = pm.Minibatch(X, batch_size=9)
    rows = Xb._indices[0][1]
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 10.0)
        pm.Normal("x", mu, 1.0, observed=Xb, total_size=X.shape)
        pm.Potential("y", pt.sum(y[rows]) * mu)
    ld = compile_model(model).logdensity
    batch, index = ld.batch_fn(jax.random.key(7), ld.data(), 3)[-2:]
    np.testing.assert_array_equal(np.asarray(batch)[:, 0], np.asarray(index))


def test_batches_on_two_axes():
    data = np.arange(30.0)[:, None] * 100 + np.arange(20.0)[None, :]
    X = pm.Minibatch(data, batch_size=[6, 4])
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 10.0)
        pm.Normal("obs", mu, 1.0, observed=X, total_size=data.shape)
    ld = compile_model(model).logdensity
    stream_rows, stream_cols = [], []
    for t in range(10):  # two epochs of rows, two of columns
        batch = np.asarray(ld.batch_fn(jax.random.key(8), ld.data(), t)[-1])
        assert batch.shape == (6, 4)
        stream_rows.extend(batch[:, 0] // 100)
        stream_cols.extend(batch[0] % 100)
        # outer indexing: one set of rows and one set of columns
        np.testing.assert_array_equal(batch, (batch[:, :1] // 100) * 100 + batch[:1] % 100)
    for e in range(2):
        np.testing.assert_array_equal(np.sort(stream_rows[e * 30 : (e + 1) * 30]), np.arange(30))
        np.testing.assert_array_equal(np.sort(stream_cols[e * 20 : (e + 1) * 20]), np.arange(20))


def test_fit_is_independent_of_how_iterations_are_split():
    """fit(n) in one call and in a fit and refines, or cut by a callback, are bitwise equal."""
    rng = np.random.default_rng(9)
    data = rng.normal([1.0, -1.0], 1.0, size=(103, 2))

    def fitted(pieces, callbacks=None):
        X = pm.Minibatch(data, batch_size=10)
        with pm.Model():
            mu = pm.Normal("mu", 0.0, 10.0, shape=2)
            pm.Normal("obs", mu, 1.0, observed=X, total_size=data.shape)
            advi = pm.ADVI(random_seed=3)
        advi.fit(pieces[0], progressbar=False, callbacks=callbacks)
        for n in pieces[1:]:
            advi.refine(n, progressbar=False)
        return advi.hist, np.asarray(advi.approx.mean.eval())

    whole = fitted([250])
    def every_13(approx, hist, i):
        pass

    every_13.every = 13
    for split in (fitted([97, 5, 148]), fitted([250], callbacks=[every_13])):
        np.testing.assert_array_equal(split[0], whole[0])
        np.testing.assert_array_equal(split[1], whole[1])


# ------------------------------------------------------------- statistics
def test_minibatch_logdensity_is_unbiased():
    """Mean of many minibatch log-densities at fixed θ = the full-data log-density."""
    rng = np.random.default_rng(5)
    data = rng.normal(2.0, 1.5, size=(2000, 3))
    X = pm.Minibatch(data, batch_size=50)
    with pm.Model() as mb_model:
        mu = pm.Normal("mu", 0.0, 10.0, shape=3)
        sd = pm.HalfNormal("sd", 5.0, shape=3)
        pm.Normal("obs", mu, sd, observed=X, total_size=data.shape)
    with pm.Model() as full_model:
        mu = pm.Normal("mu", 0.0, 10.0, shape=3)
        sd = pm.HalfNormal("sd", 5.0, shape=3)
        pm.Normal("obs", mu, sd, observed=data)
    theta = np.array([1.8, 2.1, 2.0, 0.3, 0.4, 0.5])
    full = float(compile_model(full_model).logdensity_fn(theta))
    ld = compile_model(mb_model).logdensity
    data_values = ld.data()
    fn = jax.jit(jax.vmap(lambda k: ld.fn(theta, ld.batch_fn(k, data_values, 0))))
    values = np.asarray(fn(jax.random.split(jax.random.key(0), 4000)))
    # 4000 independent batch estimates: the mean is within 4 standard errors
    se = values.std() / np.sqrt(len(values))
    assert abs(values.mean() - full) < 4 * se
    assert values.std() > 0
    # over the iterations of one fit: an epoch's batches count every row once, so their mean is exact
    epoch = jax.jit(jax.vmap(lambda t: ld.fn(theta, ld.batch_fn(jax.random.key(1), data_values, t))))
    np.testing.assert_allclose(float(np.mean(epoch(jnp.arange(40)))), full, rtol=1e-12)


@pytest.mark.slow
def test_advi_with_minibatch_recovers_column_moments():
    rng = np.random.default_rng(42)
    data = rng.random((40000, 100))
    data *= rng.integers(1, 10, size=(100,))
    data += rng.random(100) * 10
    X = pm.Minibatch(data, batch_size=500)
    with pm.Model():
        mu = pm.Flat("mu", shape=(100,))
        sd = pm.HalfNormal("sd", shape=(100,))
        pm.Normal("likelihood", mu, sd, observed=X, total_size=data.shape)
        # a decaying step size, so the last iterate is not dominated by minibatch noise
        schedule = optax.cosine_decay_schedule(0.1, 10000, alpha=0.01)
        approx = pm.fit(10000, obj_optimizer=optax.adam(schedule), random_seed=1, progressbar=False)
    post = approx.sample(1000, random_seed=0).posterior
    mu_hat = post["mu"].values.mean(axis=(0, 1))
    sd_hat = post["sd"].values.mean(axis=(0, 1))
    np.testing.assert_allclose(mu_hat, data.mean(0), atol=0.05 * data.std(0).max())
    np.testing.assert_allclose(sd_hat, data.std(0), rtol=0.05)
    assert approx.hist[-500:].mean() < approx.hist[:500].mean()


def test_fit_with_more_replacements():
    """The seed's hint: fit(more_replacements={full_data: minibatch})."""
    rng = np.random.default_rng(6)
    data = rng.normal(3.0, 1.0, size=(1000,))
    full = pytensor.shared(data)
    mb = pm.Minibatch(data, batch_size=100)
    with pm.Model():
        mu = pm.Normal("mu", 0.0, 10.0)
        pm.Normal("obs", mu, 1.0, observed=full, total_size=1000)
        approx = pm.fit(3000, more_replacements={full: mb}, obj_optimizer=pm.adam(learning_rate=0.05),
                        random_seed=0, progressbar=False)
    assert approx.batch_fn is not None
    assert abs(float(approx.mean.eval()[0]) - data.mean()) < 0.1


# ---------------------------------------------------------- out-of-core data
@pytest.fixture
def memmap_data(tmp_path):
    rng = np.random.default_rng(7)
    path = tmp_path / "big.npy"
    mm = np.lib.format.open_memmap(path, mode="w+", dtype="float64", shape=(20000, 3))
    mm[:] = rng.normal([1.0, -2.0, 3.0], [0.5, 1.0, 2.0], size=(20000, 3))
    mm.flush()
    return np.load(path, mmap_mode="r")


def test_memmap_source_streams_a_window(memmap_data):
    x = pm.Minibatch(memmap_data, batch_size=50, in_memory_size=1000, random_seed=3)
    assert x.streaming
    assert x.shared.get_value().shape == (1000, 3)
    before = x.shared.get_value().copy()
    x.refresh_window()
    after = x.shared.get_value()
    assert after.shape == (1000, 3) and not np.allclose(before, after)
    # the window is a circular block of the source
    start = int(np.flatnonzero(np.all(np.isclose(memmap_data, after[0]), axis=1))[0])
    rows = (start + np.arange(1000)) % memmap_data.shape[0]
    np.testing.assert_allclose(after, memmap_data[rows])


def test_memmap_window_batches_are_unbiased(memmap_data):
    """Batches from random windows weight every row of the source equally."""
    x = pm.Minibatch(memmap_data, batch_size=50, in_memory_size=500, random_seed=4)
    means = []
    for _ in range(400):
        x.refresh_window()
        means.append(x.shared.get_value().mean(axis=0))
    means = np.asarray(means)
    se = means.std(axis=0) / np.sqrt(len(means))
    assert np.all(np.abs(means.mean(axis=0) - memmap_data.mean(axis=0)) < 4 * se + 1e-12)


def test_advi_streams_from_a_memmap(memmap_data):
    X = pm.Minibatch(memmap_data, batch_size=200, in_memory_size=2000, random_seed=5)
    with pm.Model():
        mu = pm.Normal("mu", 0.0, 10.0, shape=3)
        sd = pm.HalfNormal("sd", 5.0, shape=3)
        pm.Normal("obs", mu, sd, observed=X, total_size=memmap_data.shape)
        schedule = optax.cosine_decay_schedule(0.05, 6000, alpha=0.02)
        approx = pm.fit(6000, obj_optimizer=optax.adam(schedule), random_seed=2, progressbar=False)
    assert approx.streaming_minibatches() == [X]
    mean = approx.mean.eval()
    np.testing.assert_allclose(mean[:3], memmap_data.mean(axis=0), atol=0.1)
    np.testing.assert_allclose(np.exp(mean[3:]), memmap_data.std(axis=0), rtol=0.1)


def test_minibatch_keeps_its_own_copy_of_the_source():
    # one copy at most is made (the conversion's or the shared variable's), never an alias of the caller's array
    for source in (np.arange(600.0).reshape(200, 3), np.arange(600, dtype="float32").reshape(200, 3)):
        batch = pm.Minibatch(source, batch_size=10)
        held = batch.shared.get_value(borrow=True)
        assert held.dtype == np.dtype(pytensor.config.floatX)
        assert not np.shares_memory(held, source)
        source[0, 0] = -1.0
        assert held[0, 0] == 0.0
    replacement = np.ones((200, 3))
    batch.set_value(replacement)
    assert not np.shares_memory(batch.shared.get_value(borrow=True), replacement)


def test_batches_are_runs_of_a_shuffled_copy():
    """A leading-axis batch reads runs of consecutive rows of a copy of the source shuffled once."""
    from varbayes.data.epochs import block_rows
    from varbayes.data.minibatch import ShuffledRows

    n, size = 400, 80
    block = block_rows(n, size)
    assert block == 20
    model, X = _labelled_model(n, size)
    ld = compile_model(model).logdensity
    (copy,) = [v for v in ld.data_vars if isinstance(v, ShuffledRows)]
    place = np.argsort(copy.order(n))  # where each source row sits in the copy
    stream = _drawn_rows(model, range(2 * n // size))
    runs = place[stream].reshape(-1, block)
    np.testing.assert_array_equal(runs - runs[:, :1], np.broadcast_to(np.arange(block), runs.shape))
    assert np.all(runs[:, 0] % block == 0)
    # the source keeps its order; the copy's runs are random groups of its rows
    np.testing.assert_array_equal(X.shared.get_value()[:, 0], np.arange(n))
    assert np.mean(np.abs(np.diff(stream.reshape(-1, block), axis=1)) == 1) < 0.1
    for epoch in range(2):
        np.testing.assert_array_equal(np.sort(stream[epoch * n : (epoch + 1) * n]), np.arange(n))


def test_shuffled_copy_follows_set_value():
    model, X = _labelled_model(400, 80)
    ld = compile_model(model).logdensity
    X.set_value(np.full((400, 1), 7.0))
    drawn = _drawn_rows(model, range(5))
    assert np.all(drawn == 7)
    X.shared.set_value(np.arange(400.0)[::-1, None] + 1000)
    np.testing.assert_array_equal(np.sort(_drawn_rows(model, range(5))), np.arange(1000, 1400))
    assert ld is compile_model(model).logdensity


def test_a_source_too_large_to_copy_is_read_row_by_row(monkeypatch):
    import varbayes.compile.model as compiled

    monkeypatch.setattr(compiled, "MAX_SHUFFLED_COPY_BYTES", 100)
    model, _ = _labelled_model(400, 80)
    ld = compile_model(model).logdensity
    assert not any(s.blocks for s in ld.batch_fn.streams)
    stream = _drawn_rows(model, range(10))
    np.testing.assert_array_equal(np.sort(stream[:400]), np.arange(400))
