"""varbayes: Bayesian modelling with variational inference first, compiled to JAX.

Examples
--------
>>> import varbayes as pm
>>> with pm.Model() as model:
...     x = pm.Normal("x", 0.0, 1.0)
"""

import os as _os


def _xla_cpu_flags() -> None:
    """Let XLA's CPU compiler vectorise reductions, keeping IEEE NaN/inf semantics.

    Without reassociation a float sum is a sequential chain of adds; allowing
    it roughly halves the time of a minibatch gradient. NaNs, infinities,
    division and transcendental functions keep their exact behaviour (NaN
    detection in the fit loop relies on it). Set ``VARBAYES_XLA_FAST_MATH=0``
    to leave XLA's defaults alone; flags the user set in ``XLA_FLAGS`` win.
    Takes effect only if JAX's CPU backend has not started yet.
    """
    if _os.environ.get("VARBAYES_XLA_FAST_MATH", "1") == "0":
        return
    flags = _os.environ.get("XLA_FLAGS", "")
    if "xla_cpu_enable_fast_math" in flags:
        return
    ours = (
        "--xla_cpu_enable_fast_math=true --xla_cpu_fast_math_honor_nans=true "
        "--xla_cpu_fast_math_honor_infs=true --xla_cpu_fast_math_honor_division=true "
        "--xla_cpu_fast_math_honor_functions=true"
    )
    _os.environ["XLA_FLAGS"] = f"{flags} {ours}".strip()


_xla_cpu_flags()

import jax as _jax  # noqa: E402

_jax.config.update("jax_enable_x64", True)

from varbayes import config  # noqa: E402

config._compilation_cache_from_environment()
config._pytensor_eval_linker()

from varbayes import math  # noqa: E402
from varbayes.config import floatX, set_seed, set_tt_rng  # noqa: E402
from varbayes.data import Data, Minibatch, set_data  # noqa: E402
from varbayes.distributions import *  # noqa: E402,F403
from varbayes.distributions import transforms  # noqa: E402
from varbayes.distributions.functions import draw, logcdf, logp  # noqa: E402
from varbayes.model import Deterministic, Model, Potential, modelcontext  # noqa: E402

__version__ = "0.1.0"
from varbayes.variational import *  # noqa: E402,F403
from varbayes.variational import callbacks  # noqa: E402
from varbayes.sampling import (  # noqa: E402
    compute_log_likelihood,
    find_MAP,
    sample,
    sample_posterior_predictive,
    sample_prior_predictive,
)
from varbayes.plots import plot_posterior, plot_trace, traceplot  # noqa: E402
from varbayes.output import to_datatree  # noqa: E402


def _freeze_imported_objects() -> None:
    """Exclude the objects made by importing the stack from later garbage collections.

    Importing JAX, PyTensor, SciPy and ArviZ leaves about 150,000 tracked
    objects that live as long as the process. Each full collection walks all
    of them, and tracing and compiling a first fit allocate enough to trigger
    one or two (about 0.1 s each here). Frozen, they are skipped; objects made
    later are collected as usual. Everything alive at the import is frozen,
    so reference cycles that were already garbage then are never collected:
    nothing, when varbayes is imported at the start; set
    ``VARBAYES_GC_FREEZE=0`` (which leaves the collector alone) to import it
    late in a long session that made much cyclic garbage.
    """
    if _os.environ.get("VARBAYES_GC_FREEZE", "1") == "0":
        return
    import gc

    gc.freeze()


_freeze_imported_objects()
