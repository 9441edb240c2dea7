"""A first model: its log-density and gradient at the initial point.

Replaced by the full Variational API quickstart as the VI engine lands.
"""

import jax
import numpy as np

import varbayes as pm
from varbayes.compile import compile_model


def main() -> None:
    rng = np.random.default_rng(42)
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 10.0)
        sigma = pm.HalfNormal("sigma", 2.0)
        pm.Normal("y", mu, sigma, observed=rng.normal(1.0, 0.5, size=50))
    compiled = compile_model(model)
    theta = compiled.initial_theta()
    print("initial point:", model.initial_point())
    print("logp:", float(compiled.logdensity_fn(theta)))
    print("gradient:", np.asarray(jax.grad(compiled.logdensity_fn)(theta)))


if __name__ == "__main__":
    main()
