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
from pytensor.tensor import logaddexp  # noqa: F401,E402
from pytensor.tensor import softplus as log1pexp  # noqa: F401,E402
from pytensor.tensor.linalg import det  # noqa: F401,E402
from pytensor.tensor.linalg import inv as matrix_inverse  # noqa: F401,E402

import numpy as _np  # noqa: E402
import pytensor.tensor as _pt  # noqa: E402

_SQRT_2 = float(_np.sqrt(2.0))


def logdiffexp(a, b):
    """``log(exp(a) - exp(b))``, computed without leaving log space (``a >= b``).

    Examples
    --------
    >>> import numpy as np
    >>> import varbayes as pm
    >>> round(float(pm.math.logdiffexp(np.log(3.0), np.log(1.0)).eval()), 6) == round(float(np.log(2.0)), 6)
    True
    """
    a, b = _pt.as_tensor_variable(a), _pt.as_tensor_variable(b)
    # b = -inf (an empty lower tail) gives a exactly rather than a + log1mexp(nan)
    return a + _pt.switch(_pt.isneginf(b), 0.0, _pt.log1mexp(_pt.minimum(b - a, 0.0)))


def invprobit(x):
    """The standard normal CDF, the inverse of the probit link.

    Examples
    --------
    >>> import varbayes as pm
    >>> float(pm.math.invprobit(0.0).eval())
    0.5
    """
    return 0.5 * _pt.erfc(-_pt.as_tensor_variable(x) / _SQRT_2)


def probit(p):
    """The standard normal quantile function (inverse of :func:`invprobit`).

    Examples
    --------
    >>> import varbayes as pm
    >>> round(float(pm.math.probit(0.975).eval()), 4)
    1.96
    """
    return -_SQRT_2 * _pt.erfcinv(2 * _pt.as_tensor_variable(p))


def log_invprobit(x):
    """``log(invprobit(x))``, accurate far into the lower tail (where ``invprobit`` underflows).

    Examples
    --------
    >>> import varbayes as pm
    >>> round(float(pm.math.log_invprobit(-40.0).eval()), 2)
    -804.61
    """
    z = -_pt.as_tensor_variable(x) / _SQRT_2
    # erfc(z) = erfcx(z) exp(-z**2): the scaled form keeps precision once erfc(z) is tiny
    near = _pt.minimum(z, 3.0)
    far = _pt.maximum(z, 3.0)
    return _pt.switch(z < 3.0, _pt.log(0.5 * _pt.erfc(near)), _pt.log(0.5 * _pt.erfcx(far)) - far**2)
