"""Probability distributions: log-densities, forward sampling and transforms."""

from varbayes.distributions import transforms
from varbayes.distributions.asymmetric import *  # noqa: F403
from varbayes.distributions.asymmetric import __all__ as _asymmetric
from varbayes.distributions.base import Continuous, Discrete, Distribution
from varbayes.distributions.circular import *  # noqa: F403
from varbayes.distributions.circular import __all__ as _circular
from varbayes.distributions.compound import *  # noqa: F403
from varbayes.distributions.compound import __all__ as _compound
from varbayes.distributions.continuous import *  # noqa: F403
from varbayes.distributions.continuous import __all__ as _continuous
from varbayes.distributions.discrete import *  # noqa: F403
from varbayes.distributions.discrete import __all__ as _discrete
from varbayes.distributions.mixture import *  # noqa: F403
from varbayes.distributions.mixture import __all__ as _mixture
from varbayes.distributions.multivariate import *  # noqa: F403
from varbayes.distributions.multivariate import __all__ as _multivariate
from varbayes.distributions.positive import *  # noqa: F403
from varbayes.distributions.ordinal import *  # noqa: F403
from varbayes.distributions.ordinal import __all__ as _ordinal
from varbayes.distributions.positive import __all__ as _positive
from varbayes.distributions.timeseries import *  # noqa: F403
from varbayes.distributions.timeseries import __all__ as _timeseries
from varbayes.distributions.truncation import *  # noqa: F403
from varbayes.distributions.truncation import __all__ as _truncation
from varbayes.distributions.zero_inflated import *  # noqa: F403
from varbayes.distributions.zero_inflated import __all__ as _zero_inflated
from varbayes.distributions.zerosum import *  # noqa: F403
from varbayes.distributions.zerosum import __all__ as _zerosum

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
    *_asymmetric,
    *_circular,
    *_compound,
    *_ordinal,
    *_timeseries,
    *_truncation,
    *_zero_inflated,
    *_zerosum,
]
