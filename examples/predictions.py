"""Prediction on new data: fit, ``pm.set_data`` to three times the rows with new coords, predictive intervals.

Run: ``python examples/predictions.py [--output DIR]``. Fits a regression on
30 points with ``fit(n=None)``, replaces its inputs by 90 new points (with
new coordinate labels), draws predictions from the approximation and from
NUTS, and saves the 94 % intervals as ``DIR/predictions.png``.
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import varbayes as pm  # noqa: E402


def main(output: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(-2.0, 2.0, size=30)
    y = 1.0 + 2.0 * x + 0.5 * np.sin(3 * x) + rng.normal(0.0, 0.5, size=30)
    x_new = np.linspace(-3.0, 3.0, 90)

    with pm.Model(coords={"obs": [f"train {i}" for i in range(30)]}) as model:
        xd = pm.Data("x", x, dims="obs")
        a = pm.Normal("a", 0.0, 5.0)
        b = pm.Normal("b", 0.0, 5.0)
        sigma = pm.HalfNormal("sigma", 1.0)
        pm.Normal("y", a + b * xd, sigma, observed=y, dims="obs")

        approx = pm.fit(n=None, method="fullrank_advi", random_seed=1, progressbar=False)
        trace = pm.sample(1000, random_seed=1, progressbar=False)

        pm.set_data({"x": x_new}, coords={"obs": [f"new {i}" for i in range(90)]})
        from_vi = pm.sample_posterior_predictive(approx, draws=2000, predictions=True, random_seed=2)
        from_nuts = pm.sample_posterior_predictive(trace, predictions=True, random_seed=2)

    fig, ax = plt.subplots(figsize=(7, 4))
    for label, pred, color in (("full-rank ADVI", from_vi, "C0"), ("NUTS", from_nuts, "C1")):
        draws = np.asarray(pred.predictions["y"]).reshape(-1, x_new.size)
        low, mid, high = np.quantile(draws, [0.03, 0.5, 0.97], axis=0)
        ax.fill_between(x_new, low, high, color=color, alpha=0.25, label=f"{label}: 94 % interval")
        ax.plot(x_new, mid, color=color, lw=1.5)
    ax.scatter(x, y, color="k", s=12, zorder=3, label="training data")
    ax.set_xlabel("x (90 new points)")
    ax.set_ylabel("y")
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title("Predictions after pm.set_data with new coords")
    fig.tight_layout()
    output.mkdir(parents=True, exist_ok=True)
    fig.savefig(output / "predictions.png", dpi=110)
    print(f"predictions: {from_vi.predictions['y'].sizes}; saved {output / 'predictions.png'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path("output"))
    main(parser.parse_args().output)
