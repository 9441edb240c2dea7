"""The coal-mining change point with PyMC's compound step: the peer reference of ``tests/test_marginal.py``.

Run with an interpreter that has PyMC installed::

    /path/to/python benchmarks/peers/pymc_switchpoint.py

PyMC samples the ``DiscreteUniform`` switch point with Metropolis and the two
rates with NUTS (its default compound step; 4 chains x 20,000 draws after
2,000 tuning steps, seed 1). Prints the posterior over the switch year, the
exact posterior (the rates integrated out in closed form: with Exponential(1)
priors each segment contributes ``Gamma(S + 1) / (n + 1) ** (S + 1)``, with
``S`` the segment's count of disasters and ``n`` its number of years) and the
total variation distance between the two.
"""

import time

import numpy as np
import pymc as pm
from scipy.special import gammaln

# Yearly counts of UK coal-mining disasters, 1851-1962 (Jarrett 1979, as tabulated by
# Carlin, Gelfand and Smith 1992): 112 years, 191 disasters.
DISASTERS = np.array([
    4, 5, 4, 1, 0, 4, 3, 4, 0, 6, 3, 3, 4, 0, 2, 6, 3, 3, 5, 4, 5, 3, 1, 4, 4, 1, 5, 5,
    3, 4, 2, 5, 2, 2, 3, 4, 2, 1, 3, 2, 2, 1, 1, 1, 1, 3, 0, 0, 1, 0, 1, 1, 0, 0, 3, 1,
    0, 3, 2, 2, 0, 1, 1, 1, 0, 1, 0, 1, 0, 0, 0, 2, 1, 0, 0, 0, 1, 1, 0, 2, 3, 3, 1, 1,
    2, 1, 1, 1, 1, 2, 4, 2, 0, 0, 0, 1, 4, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 1,
])
YEARS = np.arange(1851, 1963)


def exact_posterior() -> np.ndarray:
    """P(switchpoint = year | data) for every year 1851..1962."""
    logp = []
    for s in YEARS:
        early, late = DISASTERS[YEARS < s], DISASTERS[YEARS >= s]
        logp.append(
            gammaln(early.sum() + 1) - (early.sum() + 1) * np.log(early.size + 1)
            + gammaln(late.sum() + 1) - (late.sum() + 1) * np.log(late.size + 1)
        )
    logp = np.asarray(logp)
    p = np.exp(logp - logp.max())
    return p / p.sum()


def main():
    with pm.Model():
        switchpoint = pm.DiscreteUniform("switchpoint", lower=1851, upper=1962)
        early_rate = pm.Exponential("early_rate", 1.0)
        late_rate = pm.Exponential("late_rate", 1.0)
        rate = pm.math.switch(YEARS < switchpoint, early_rate, late_rate)
        pm.Poisson("disasters", rate, observed=DISASTERS)
        start = time.perf_counter()
        trace = pm.sample(20_000, tune=2_000, chains=4, cores=2, random_seed=1, progressbar=False)
        seconds = time.perf_counter() - start
    s = trace.posterior["switchpoint"].values.ravel()
    pymc = np.bincount(s - 1851, minlength=YEARS.size) / s.size
    exact = exact_posterior()
    tv = 0.5 * np.abs(pymc - exact).sum()
    print(f"PyMC {pm.__version__}: {seconds:.1f} s")
    print("year  exact   pymc")
    for year, e, p in zip(YEARS, exact, pymc):
        if max(e, p) > 1e-3:
            print(f"{year}  {e:.4f}  {p:.4f}")
    print(f"total variation, PyMC compound step vs exact: {tv:.4f}")


if __name__ == "__main__":
    main()
