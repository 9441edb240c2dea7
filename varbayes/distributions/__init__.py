"""Probability distributions: log-densities, forward sampling and transforms."""

from varbayes.distributions import transforms
from varbayes.distributions.base import Continuous, Discrete, Distribution
from varbayes.distributions.continuous import *  # noqa: F403
from varbayes.distributions.continuous import __all__ as _continuous
from varbayes.distributions.discrete import *  # noqa: F403
from varbayes.distributions.discrete import __all__ as _discrete
from varbayes.distributions.mixture import *  # noqa: F403
from varbayes.distributions.mixture import __all__ as _mixture
from varbayes.distributions.multivariate import *  # noqa: F403
from varbayes.distributions.multivariate import __all__ as _multivariate
from varbayes.distributions.positive import *  # noqa: F403
from varbayes.distributions.positive import __all__ as _positive

__all__ = [
    "Distribution",
    "Continuous",
    "Discrete",
    "transforms",
    *_continuous,
    *_positive,
    *_discrete,
    *_multivariate,
    *_mixture,
]
