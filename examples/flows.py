"""Figures of the guide's "When a Gaussian is not enough": a flow, ADVI and NUTS side by side.

Run: ``python examples/flows.py`` (about a minute on two cores). Writes
``docs/img/flows_mixture.png`` (the seed's mixture) and
``docs/img/flows_funnel.png`` (the centred eight schools) and prints the
numbers the guide quotes.
"""

from __future__ import annotations

import pathlib
import sys
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).parents[1]))
import varbayes as pm  # noqa: E402
from benchmarks.flows_reference import centered_eight_schools  # noqa: E402

IMG = pathlib.Path(__file__).parents[1] / "docs" / "img"


def mixture() -> None:
    with pm.Model() as model:
        pm.NormalMixture("x", w=[0.2, 0.8], mu=[-0.3, 0.5], sigma=[0.1, 0.1])
        flow = pm.fit(20000, method="nfvi", random_seed=1, progressbar=False)
        advi = pm.fit(20000, method="advi", random_seed=1, progressbar=False)
    draws = {
        "ADVI (mean-field)": advi.sample(20000, random_seed=2).posterior["x"].values.ravel(),
        "NFVI (spline*2-scale-loc)": flow.sample(20000, random_seed=2).posterior["x"].values.ravel(),
    }
    fig, ax = plt.subplots(figsize=(6.5, 3.5))
    bins = np.linspace(-0.8, 1.0, 120)
    # the exact density: NUTS chains in this 1-d mixture rarely cross between the modes,
    # so a short NUTS run gives a weight per chain rather than 0.2
    grid = np.linspace(-0.8, 1.0, 600)
    exact = sum(w * np.exp(-0.5 * ((grid - m) / 0.1) ** 2) / (0.1 * np.sqrt(2 * np.pi)) for w, m in ((0.2, -0.3), (0.8, 0.5)))
    ax.plot(grid, exact, color="0.3", lw=1.2, ls="--", label="exact (mass below 0: 0.20)")
    for (name, x), color in zip(draws.items(), ["tab:orange", "tab:blue"]):
        ax.hist(x, bins=bins, density=True, histtype="step", lw=1.6, color=color, label=name)
        low, high = x[x < 0.1], x[x >= 0.1]
        print(f"mixture {name:28s} mass below 0 {np.mean(x < 0):.3f}  sd of modes "
              f"{low.std() if low.size > 1 else float('nan'):.3f} {high.std():.3f}")
    ax.set_xlabel("x")
    ax.set_ylabel("density")
    ax.set_title("NormalMixture(w=[.2, .8], mu=[-.3, .5], sigma=.1)")
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    fig.savefig(IMG / "flows_mixture.png", dpi=120)


def funnel() -> None:
    model = centered_eight_schools()
    with model, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        flow = pm.fit(15000, method="nfvi", random_seed=1, progressbar=False)
        advi = pm.fit(20000, method="advi", random_seed=0, progressbar=False)
        trace = pm.sample(2000, tune=2000, chains=4, target_accept=0.95, random_seed=8, progressbar=False)
        khat = {"ADVI (mean-field)": advi.diagnose(random_seed=0).khat, "NFVI": flow.diagnose(random_seed=0).khat}
    samples = {
        "NUTS (4 x 2000, target_accept 0.95)": (
            np.asarray(trace.posterior["tau"]).ravel(), np.asarray(trace.posterior["theta"])[..., 0].ravel()
        ),
    }
    for name, approx in (("ADVI (mean-field)", advi), ("NFVI", flow)):
        post = approx.sample(8000, random_seed=1).posterior
        samples[name] = (post["tau"].values.ravel(), post["theta"].values[..., 0].ravel())
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.4), sharex=True, sharey=True)
    for ax, (name, (tau, theta)) in zip(axes, samples.items()):
        ax.scatter(theta[:4000], np.log(tau[:4000]), s=2, alpha=0.3)
        title = name if name not in khat else f"{name}, k-hat {khat[name]:.2f}"
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("theta[0]")
        print(f"funnel {name:36s} tau mean {tau.mean():.2f} sd {tau.std():.2f}"
              + (f"  k-hat {khat[name]:.2f}" if name in khat else ""))
    axes[0].set_ylabel("log tau")
    fig.tight_layout()
    fig.savefig(IMG / "flows_funnel.png", dpi=120)


if __name__ == "__main__":
    IMG.mkdir(parents=True, exist_ok=True)
    mixture()
    funnel()
