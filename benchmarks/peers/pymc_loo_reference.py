"""PSIS-LOO of two small regressions with PyMC: the reference of ``tests/test_log_likelihood.py``.

Run with an interpreter that has PyMC installed::

    /path/to/python benchmarks/peers/pymc_loo_reference.py

Prints, per model, ``elpd_loo`` and its standard error (4 chains x 2000
draws, ``idata_kwargs={"log_likelihood": True}``, ArviZ's ``loo``).
"""

import arviz as az
import numpy as np
import pymc as pm


def data():
    rng = np.random.default_rng(1)
    x = rng.normal(size=50)
    y = 1.0 + 2.0 * x + rng.normal(size=50)
    return x, y


def main():
    x, y = data()
    results = {}
    for name, slope in (("linear", True), ("intercept_only", False)):
        with pm.Model():
            a = pm.Normal("a", 0.0, 5.0)
            mu = a
            if slope:
                b = pm.Normal("b", 0.0, 5.0)
                mu = a + b * x
            s = pm.HalfNormal("s", 2.0)
            pm.Normal("y", mu, s, observed=y)
            trace = pm.sample(2000, tune=1000, chains=4, random_seed=1, progressbar=False,
                              idata_kwargs={"log_likelihood": True})
        loo = az.loo(trace)
        results[name] = (float(loo.elpd), float(loo.se))
        print(f"{name}: elpd_loo {loo.elpd:.3f}, se {loo.se:.3f}, PyMC {pm.__version__}")
    return results


if __name__ == "__main__":
    main()
