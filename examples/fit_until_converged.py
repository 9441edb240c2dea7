"""A fit that stops by itself: ``pm.fit(n=None)`` on a regression with strongly correlated coefficients.

Run: ``python examples/fit_until_converged.py [--output DIR]``. Prints the
convergence report and saves the loss history, with the stationary window
the answer was averaged over and the stop marked, as ``DIR/fit_until_converged.png``.
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import varbayes as pm  # noqa: E402


def main(output: Path) -> None:
    rng = np.random.default_rng(7)
    years = np.arange(1950.0, 2021.0)
    # a trend over calendar years, not centred: intercept and slope correlate at -0.9999
    temperature = -30.0 + 0.02 * years + rng.normal(0.0, 0.3, size=years.size)

    with pm.Model():
        intercept = pm.Normal("intercept", 0.0, 100.0)
        slope = pm.Normal("slope", 0.0, 1.0)
        sigma = pm.HalfNormal("sigma", 1.0)
        pm.Normal("y", intercept + slope * years, sigma, observed=temperature)
        approx = pm.fit(n=None, method="fullrank_advi", random_seed=1)

    print(approx.convergence)
    summary = approx.summary(random_seed=0)
    print(summary[["mean", "sd"]])

    # the least-squares fit, for comparison (flat-ish priors)
    design = np.column_stack([np.ones_like(years), years])
    beta, *_ = np.linalg.lstsq(design, temperature, rcond=None)
    print(f"least squares: intercept {beta[0]:.3f}, slope {beta[1]:.5f}")

    fig, ax = plt.subplots(figsize=(8, 4))
    approx.plot_hist(ax=ax)
    ax.set_title("fit(n=None): loss, stationary window and stop")
    output.mkdir(parents=True, exist_ok=True)
    fig.savefig(output / "fit_until_converged.png", dpi=110, bbox_inches="tight")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path("output"))
    main(parser.parse_args().output)
