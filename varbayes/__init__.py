"""varbayes: Bayesian modelling with variational inference first, compiled to JAX.

Examples
--------
>>> import varbayes as pm
>>> with pm.Model() as model:
...     x = pm.Normal("x", 0.0, 1.0)
"""

import jax as _jax

_jax.config.update("jax_enable_x64", True)

from varbayes import math  # noqa: E402
from varbayes.config import floatX, set_seed, set_tt_rng  # noqa: E402
from varbayes.data import Data, Minibatch, set_data  # noqa: E402
from varbayes.distributions import *  # noqa: E402,F403
from varbayes.distributions import transforms  # noqa: E402
from varbayes.model import Deterministic, Model, Potential, modelcontext  # noqa: E402

__version__ = "0.1.0"
from varbayes.variational import *  # noqa: E402,F403
from varbayes.variational import callbacks  # noqa: E402
from varbayes.sampling import find_MAP, sample, sample_posterior_predictive, sample_prior_predictive  # noqa: E402
from varbayes.plots import plot_posterior, plot_trace, traceplot  # noqa: E402
from varbayes.output import to_datatree  # noqa: E402
