"""Write ``benchmarks/flows_reference.json``: the NUTS reference of the centred eight schools.

Run: ``python -m benchmarks.flows_reference``.

The centred eight schools is a funnel: ``theta ~ N(mu, tau)`` with ``tau``
near zero pulling all ``theta`` together. ``tests/test_flows.py`` and
``examples/flows.py`` compare normalizing flows and ADVI with NUTS on it
(4 chains x 2000 draws after 2000 tuning steps, ``target_accept=0.95``);
this script records NUTS's posterior mean and sd of ``tau`` (and of ``mu``),
their Monte Carlo standard errors, the divergences and the worst R-hat, so
the tests need not sample.
"""

from __future__ import annotations

import datetime
import json
import pathlib
import time

import arviz_stats
import numpy as np

import varbayes as pm

SETTINGS = {"draws": 2000, "tune": 2000, "chains": 4, "target_accept": 0.95, "random_seed": 8}
PATH = pathlib.Path(__file__).with_name("flows_reference.json")

#: Rubin's eight schools: estimated effects and their standard errors.
Y = np.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])
SIGMA = np.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])


def centered_eight_schools() -> pm.Model:
    """The centred parametrisation, whose posterior is a funnel in ``(log tau, theta)``."""
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 5.0)
        tau = pm.HalfCauchy("tau", 5.0)
        theta = pm.Normal("theta", mu, tau, shape=8)
        pm.Normal("y", theta, SIGMA, observed=Y)
    return model


def main() -> dict:
    model = centered_eight_schools()
    started = time.perf_counter()
    with model:
        trace = pm.sample(progressbar=False, **SETTINGS)
    seconds = time.perf_counter() - started
    posterior = trace.posterior
    out = {"settings": SETTINGS, "seconds": round(seconds, 1), "date": datetime.date.today().isoformat()}
    for name in ("tau", "mu"):
        values = np.asarray(posterior[name])
        out[name] = {"mean": float(values.mean()), "sd": float(values.std())}
    summary = arviz_stats.summary(trace, var_names=["tau", "mu"], kind="all")
    for name in ("tau", "mu"):
        out[name]["mcse_mean"] = float(summary.loc[name, "mcse_mean"])
        out[name]["ess_bulk"] = float(summary.loc[name, "ess_bulk"])
        out[name]["r_hat"] = float(summary.loc[name, "r_hat"])
    stats = trace.sample_stats if hasattr(trace, "sample_stats") else trace["sample_stats"]
    out["divergences"] = int(np.asarray(stats["diverging"]).sum())
    PATH.write_text(json.dumps(out, indent=1) + "\n")
    return out


if __name__ == "__main__":
    print(json.dumps(main(), indent=1))
