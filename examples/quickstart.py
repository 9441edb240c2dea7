"""The Variational API quickstart, end to end, with varbayes.

Every cell of the PyMC3 "Variational API quickstart" notebook in order, with
``import varbayes as pm`` for ``import pymc3 as pm`` and ``pytensor`` for
``theano``. Figures are saved as PNG files in the output folder and the key
numbers are printed.

Run ``python examples/quickstart.py`` (or ``./dev example``); ``--quick``
cuts the NUTS draws (50,000 -> 2,000 per chain) and the minibatch data
(40,000 -> 4,000 rows) for a fast check.
"""

from __future__ import annotations

import argparse
import pathlib
import time

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytensor  # noqa: E402
import pytensor.tensor as pt  # noqa: E402
from scipy.stats import gaussian_kde  # noqa: E402

import varbayes as pm  # noqa: E402


def kdeplot(values, label=None, ax=None, **kwargs):
    """A kernel density line (the notebook used seaborn's kdeplot)."""
    ax = ax or plt.gca()
    values = np.asarray(values).ravel()
    grid = np.linspace(values.min() - 0.2, values.max() + 0.2, 400)
    ax.plot(grid, gaussian_kde(values)(grid), label=label, **kwargs)
    if label:
        ax.legend()
    return ax


def tsplot(tracks, color, ax=None, alpha=0.3):
    """Mean and 5-95% band over draws of tracked values (seaborn's old tsplot)."""
    ax = ax or plt.gca()
    tracks = np.asarray(tracks)
    tracks = tracks.reshape(tracks.shape[0], -1)
    x = np.arange(tracks.shape[0])
    (line,) = ax.plot(x, tracks.mean(axis=1), color=color)
    lo, hi = np.percentile(tracks, [5, 95], axis=1)
    ax.fill_between(x, lo, hi, color=color, alpha=alpha)
    return line


class Figures:
    def __init__(self, outdir: pathlib.Path):
        self.outdir = outdir
        outdir.mkdir(parents=True, exist_ok=True)
        self.saved: list[str] = []

    def save(self, name: str, fig=None) -> None:
        fig = fig or plt.gcf()
        path = self.outdir / f"{len(self.saved) + 1:02d}_{name}.png"
        fig.savefig(path, dpi=80, bbox_inches="tight")
        plt.close("all")
        self.saved.append(path.name)
        print(f"  [figure] {path}")


def section(title: str) -> None:
    print(f"\n## {title}")


def main(quick: bool = False, outdir: str = "output") -> dict:
    figs = Figures(pathlib.Path(outdir))
    results: dict = {}
    started = time.perf_counter()

    np.random.seed(42)
    pm.set_tt_rng(42)

    # ------------------------------------------------------------ Basic setup
    section("Basic setup: the mixture model, NUTS first")
    w = pm.floatX([0.2, 0.8])
    mu = pm.floatX([-0.3, 0.5])
    sd = pm.floatX([0.1, 0.1])

    with pm.Model() as model:
        x = pm.NormalMixture("x", w=w, mu=mu, sigma=sd, dtype=pytensor.config.floatX)
        x2 = x**2
        sin_x = pm.math.sin(x)

    with model:
        pm.Deterministic("x2", x2)
        pm.Deterministic("sin_x", sin_x)

    with model:
        trace = pm.sample(2000 if quick else 50000, chains=2, random_seed=42)

    pm.traceplot(trace)
    figs.save("nuts_traceplot")
    nuts_x = trace.posterior["x"].values.ravel()
    results["nuts_below_zero"] = float(np.mean(nuts_x < 0))
    switches = int(np.sum(np.diff(np.sign(trace.posterior["x"].values), axis=1) != 0))
    print(
        f"NUTS: share of draws below 0 = {results['nuts_below_zero']:.3f} (true mass 0.2), "
        f"{switches} switches between the modes"
    )

    # The VI API: the same model without Deterministics
    with pm.Model() as model:
        x = pm.NormalMixture("x", w=w, mu=mu, sigma=sd, dtype=pytensor.config.floatX)
        x2 = x**2
        sin_x = pm.math.sin(x)

    section("ADVI")
    with model:
        mean_field = pm.fit(method="advi")
    pm.plot_posterior(mean_field.sample(1000), color="LightSeaGreen")
    figs.save("advi_posterior")
    advi_draws = mean_field.sample(4000).posterior["x"].values.ravel()
    results["advi_below_zero"] = float(np.mean(advi_draws < 0))
    print(f"ADVI: one Gaussian mode, mean {advi_draws.mean():.3f}, sd {advi_draws.std():.3f}")

    # ------------------------------------------------------- Checking convergence
    section("Checking convergence")
    help_text = pm.callbacks.CheckParametersConvergence.__doc__
    print(help_text.strip().splitlines()[0])
    from varbayes.variational.callbacks import CheckParametersConvergence

    with model:
        mean_field = pm.fit(method="advi", callbacks=[CheckParametersConvergence()])
    plt.plot(mean_field.hist)
    figs.save("advi_hist_relative")

    with model:
        mean_field = pm.fit(method="advi", callbacks=[CheckParametersConvergence(diff="absolute")])
    results["absolute_convergence_iterations"] = len(mean_field.hist)
    print(f"absolute-difference convergence after {len(mean_field.hist)} iterations")
    plt.plot(mean_field.hist)
    figs.save("advi_hist_absolute")

    # ----------------------------------------------------------- Tracking parameters
    section("Tracking parameters with the object API")
    with model:
        advi = pm.ADVI()
    print(advi.approx)
    print(advi.approx.shared_params)
    print(advi.approx.mean.eval(), advi.approx.std.eval())

    tracker = pm.callbacks.Tracker(
        mean=advi.approx.mean.eval,  # callable that returns mean
        std=advi.approx.std.eval,  # callable that returns std
    )
    approx = advi.fit(20000, callbacks=[tracker])

    def plot_tracks(name):
        fig = plt.figure(figsize=(16, 9))
        mu_ax = fig.add_subplot(221)
        std_ax = fig.add_subplot(222)
        hist_ax = fig.add_subplot(212)
        mu_ax.plot(tracker["mean"])
        mu_ax.set_title("Mean track")
        std_ax.plot(tracker["std"])
        std_ax.set_title("Std track")
        hist_ax.plot(advi.hist)
        hist_ax.set_title("Negative ELBO track")
        figs.save(name, fig)

    plot_tracks("tracker")
    advi.refine(100000)
    plot_tracks("tracker_after_refine")

    section("Comparison with NUTS, then SVGD")
    ax = kdeplot(nuts_x, label="NUTS")
    kdeplot(approx.sample(10000).posterior["x"].values, label="ADVI", ax=ax)
    figs.save("nuts_vs_advi")

    with model:
        svgd_approx = pm.fit(
            300,
            method="svgd",
            inf_kwargs=dict(n_particles=1000),
            obj_optimizer=pm.sgd(learning_rate=0.01),
        )
    ax = kdeplot(nuts_x, label="NUTS")
    kdeplot(approx.sample(10000).posterior["x"].values, label="ADVI", ax=ax)
    svgd_x = svgd_approx.sample(2000).posterior["x"].values.ravel()
    kdeplot(svgd_x, label="SVGD", ax=ax)
    figs.save("nuts_advi_svgd")
    results["svgd_below_zero"] = float(np.mean(svgd_x < 0))
    print(f"SVGD: share of draws below 0 = {results['svgd_below_zero']:.3f}: bimodal")

    # ---------------------------------------------------------------- sample_node
    section("sample_node")
    a = x**2
    b = pm.math.sin(x)
    a_sample = svgd_approx.sample_node(a)
    print("three evaluations of one node:", a_sample.eval(), a_sample.eval(), a_sample.eval())
    kdeplot(np.array([a_sample.eval() for _ in range(2000)]))
    plt.title("$x^2$ distribution")
    figs.save("x2_from_evals")

    a_samples = svgd_approx.sample_node(a, size=1000)
    kdeplot(a_samples.eval())
    plt.title("$x^2$ distribution")
    figs.save("x2_sized")
    print("variance", a_samples.var(0).eval(), "mean", a_samples.mean(0).eval())
    results["x2_mean"] = float(a_samples.mean(0).eval())

    i = pt.iscalar("i")
    i.tag.test_value = 1
    a_samples_i = svgd_approx.sample_node(a, size=i)
    print("symbolic size:", a_samples_i.eval({i: 100}).shape, a_samples_i.eval({i: 10000}).shape)
    print("sin(x) at the mean of q:", svgd_approx.sample_node(b, deterministic=True).eval())

    # --------------------------------------------------- Trace to Approximation
    section("Converting a trace to an approximation")
    trace_approx = pm.Empirical(trace, model=model)
    print(trace_approx)
    pm.plot_posterior(trace_approx.sample(10000))
    figs.save("empirical_posterior")

    # ------------------------------------------------- Multilabel logistic regression
    section("Multilabel logistic regression on iris")
    from sklearn.datasets import load_iris
    from sklearn.model_selection import train_test_split

    X, y = load_iris(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=42)

    Xt = pytensor.shared(X_train)
    yt = pytensor.shared(y_train)

    with pm.Model() as iris_model:
        # Coefficients for features
        β = pm.Normal("β", 0, sigma=1e2, shape=(4, 3))
        # Transform to unit interval
        a = pm.Flat("a", shape=(3,))
        p = pt.special.softmax(Xt.dot(β) + a, axis=-1)

        observed = pm.Categorical("obs", p=p, observed=yt)  # noqa: F841

    with iris_model:
        # We'll use SVGD
        inference = pm.SVGD(n_particles=500, jitter=1)

        # Local reference to approximation
        approx = inference.approx

        # Here we need more_replacements to change train_set to test_set
        test_probs = approx.sample_node(p, more_replacements={Xt: X_test}, size=100)

        # For train set no more replacements needed
        train_probs = approx.sample_node(p)

    test_ok = pt.eq(test_probs.argmax(-1), y_test)
    train_ok = pt.eq(train_probs.argmax(-1), y_train)
    test_accuracy = test_ok.mean(-1)
    train_accuracy = train_ok.mean(-1)

    eval_tracker = pm.callbacks.Tracker(
        test_accuracy=test_accuracy.eval,
        train_accuracy=train_accuracy.eval,
    )
    inference.fit(100, callbacks=[eval_tracker])

    def plot_accuracy(name):
        test_line = tsplot(eval_tracker["test_accuracy"], color="red")
        train_line = tsplot(np.asarray(eval_tracker["train_accuracy"])[:, None], color="blue")
        plt.legend([test_line, train_line], ["test_accuracy", "train_accuracy"])
        plt.title("Training Progress")
        figs.save(name)

    plot_accuracy("iris_training_sgd")
    inference.fit(400, obj_optimizer=pm.adamax(learning_rate=0.1), callbacks=[eval_tracker])
    plot_accuracy("iris_training_adamax")
    results["iris_test_accuracy"] = float(np.mean(eval_tracker["test_accuracy"][-1]))
    print(f"iris test accuracy after the adamax fit: {results['iris_test_accuracy']:.3f}")

    # ------------------------------------------------------------------ Minibatches
    section("Minibatches")
    print("Minibatch is a TensorVariable:", issubclass(pm.Minibatch, pt.TensorVariable))
    rows = 4000 if quick else 40000
    # Raw values
    data = np.random.rand(rows, 100)
    # Scaled values
    data *= np.random.randint(1, 10, size=(100,))
    # Shifted values
    data += np.random.rand(100) * 10

    with pm.Model() as model:
        mu = pm.Flat("mu", shape=(100,))
        sd = pm.HalfNormal("sd", shape=(100,))
        lik = pm.Normal("lik", mu, sd, observed=data)  # noqa: F841

    def stop_after_10(approx, loss_history, i):
        if (i > 0) and (i % 10) == 0:
            raise StopIteration("I was slow, sorry")

    with model:
        advifit = pm.fit(callbacks=[stop_after_10])
    results["full_batch_iterations"] = len(advifit.hist)

    X = pm.Minibatch(data, batch_size=500)

    with pm.Model() as model:
        mu = pm.Flat("mu", shape=(100,))
        sd = pm.HalfNormal("sd", shape=(100,))
        likelihood = pm.Normal("likelihood", mu, sd, observed=X, total_size=data.shape)  # noqa: F841

    with model:
        advifit = pm.fit()
    plt.plot(advifit.hist)
    figs.save("minibatch_hist")
    first, last = advifit.hist[:1000].mean(), advifit.hist[-1000:].mean()
    results["minibatch_loss_decreased"] = bool(last < first)
    print(f"minibatch ADVI: average loss {first:,.5g} over the first 1000 iterations, {last:,.5g} over the last")
    print(pm.Minibatch.__doc__.strip().splitlines()[0])

    results["figures"] = figs.saved
    results["seconds"] = time.perf_counter() - started
    section("Summary")
    for key, value in results.items():
        if key != "figures":
            print(f"{key}: {value}")
    print(f"{len(figs.saved)} figures in {outdir}/")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller NUTS run and minibatch data")
    parser.add_argument("--outdir", default="output", help="folder for the figures")
    args = parser.parse_args()
    main(quick=args.quick, outdir=args.outdir)
