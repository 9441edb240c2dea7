"""The PyTensor functions a model needs, under the names PyMC users know.

Examples
--------
>>> import varbayes as pm
>>> import pytensor.tensor as pt
>>> x = pt.dscalar("x")
>>> float(pm.math.sigmoid(x).eval({x: 0.0}))
0.5
"""

from pytensor.tensor import (  # noqa: F401
    abs,
    ceil,
    clip,
    concatenate,
    cos,
    cosh,
    cumsum,
    dot,
    eq,
    erf,
    erfc,
    exp,
    expm1,
    floor,
    ge,
    gt,
    le,
    log,
    log1p,
    log1mexp,
    lt,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    neq,
    ones,
    ones_like,
    outer,
    prod,
    sgn,
    sin,
    sinh,
    sqr,
    sqrt,
    square,
    stack,
    sum,
    switch,
    tan,
    tanh,
    where,
    zeros,
    zeros_like,
)
from pytensor.tensor import logsumexp  # noqa: F401
from pytensor.tensor import sigmoid  # noqa: F401
from pytensor.tensor import sigmoid as invlogit  # noqa: F401
from pytensor.tensor import softplus  # noqa: F401
from pytensor.tensor import gammaln  # noqa: F401
from pytensor.tensor.special import betaln, log_softmax, logit, softmax  # noqa: F401
