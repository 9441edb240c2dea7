"""Forward draws, log-densities and log-CDFs of distributions and model variables, as in PyMC.

``pm.draw`` draws any variable: a distribution from ``.dist(...)``, a model
variable (its ancestors drawn first, in the order of the model), or an
expression of them. ``pm.logp`` and ``pm.logcdf`` give the graph of a
distribution's log-density or log-CDF at a value.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.compile.mode import Mode
from pytensor.graph.basic import Variable
from pytensor.graph.replace import vectorize_graph
from pytensor.graph.traversal import ancestors
from pytensor.tensor.random.type import RandomType

from varbayes.config import default_seed
from varbayes.distributions.base import Distribution

__all__ = ["draw", "logp", "logcdf"]

# Python kernels, with the graph rewrites: among them the one that lets a rejection loop
# (Scan) keep only its last state instead of a buffer of max_n_steps batches of draws
_DRAW_MODE = Mode(linker="py", optimizer="fast_run")


def _observed_distribution(var) -> Distribution | None:
    """The distribution of ``var`` when it is the data of an observed variable."""
    return getattr(getattr(var, "tag", None), "varbayes_observed_dist", None)


def _draws_random_numbers(graph) -> bool:
    return any(isinstance(v.type, RandomType) for v in ancestors([graph]))


def _distribution_of(var, what: str) -> Distribution:
    if isinstance(var, Distribution):
        return var
    if isinstance(var, Variable):
        dist = getattr(var.tag, "varbayes_dist", None) or _observed_distribution(var)
        if dist is not None:
            return dist
    raise TypeError(
        f"{what} needs a distribution (pm.Normal.dist(...)) or a variable of a model, got {var!r}; "
        "an expression of variables has no distribution of its own"
    )


def _value(value, dist: Distribution):
    if isinstance(value, Variable):
        return value
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"value must be numeric, got {value!r}")
    if dist.discrete and array.dtype.kind == "f" and np.all(array == np.round(array)):
        array = array.astype(dist.dtype)
    return pt.as_tensor_variable(array)


def logp(rv, value) -> Variable:
    """The log-density (log-probability for discrete ones) of ``rv``'s distribution at ``value``, as a graph.

    Multivariate distributions sum over their event axes, so the result has
    the batch shape.

    Parameters
    ----------
    rv : Distribution or TensorVariable
        A distribution from ``.dist(...)``, or a variable of a model.
    value : array_like or TensorVariable
        Where to evaluate it.

    Examples
    --------
    >>> import varbayes as pm
    >>> round(float(pm.logp(pm.Normal.dist(0.0, 1.0), 0.0).eval()), 4)
    -0.9189
    """
    dist = _distribution_of(rv, "pm.logp")
    return dist.logp(_value(value, dist))


def logcdf(rv, value) -> Variable:
    """``log P(X <= value)`` under ``rv``'s distribution, as a graph.

    Parameters
    ----------
    rv : Distribution or TensorVariable
        A univariate distribution from ``.dist(...)``, or a variable of a model.
    value : array_like or TensorVariable
        Where to evaluate it.

    Raises
    ------
    NotImplementedError
        When the distribution has no CDF in closed form here (its name is in the message).

    Examples
    --------
    >>> import varbayes as pm
    >>> round(float(pm.logcdf(pm.Exponential.dist(1.0), 1.0).eval()), 4)
    -0.4587
    """
    dist = _distribution_of(rv, "pm.logcdf")
    return dist.logcdf(_value(value, dist))


def _is_random(var) -> bool:
    return isinstance(var, Variable) and getattr(var.tag, "varbayes_dist", None) is not None


class _Batcher:
    """``n`` joint forward draws of random variables, each drawn after those its parameters depend on."""

    def __init__(self, n: int, seed: int):
        self.n = n
        self.seeds = np.random.SeedSequence(seed)
        self.batch: dict = {}

    def _rng(self):
        return pytensor.shared(np.random.default_rng(self.seeds.spawn(1)[0]))

    def draw(self, var, dist: Distribution | None = None):
        if var in self.batch:
            return self.batch[var]
        dist = dist or var.tag.varbayes_dist
        rng = self._rng()
        _, single = dist._random(rng, dist.shape)
        depends = [a for a in ancestors([single]) if _is_random(a)]
        if depends:
            replace = {a: self.draw(a) for a in depends}
            value = vectorize_graph(single, replace=replace)
        else:
            _, value = dist._random(rng, (self.n, *dist.shape))
        self.batch[var] = value
        return value

    def expression(self, graph):
        depends = [a for a in ancestors([graph]) if _is_random(a)]
        if not depends:
            return None
        replace = {a: self.draw(a) for a in depends}
        return vectorize_graph(graph, replace=replace)


def draw(vars, draws: int = 1, random_seed: int | None = None, **kwargs):
    """Forward draws of a distribution, a model variable or an expression of them, as NumPy arrays.

    A model variable's parameters are drawn first (from their priors, in the
    order of the model); every variable appearing in several requested
    expressions has the same draws in all of them.

    Parameters
    ----------
    vars : Distribution, TensorVariable or sequence of them
        What to draw.
    draws : int
        Number of draws: a leading axis of that length, left out when ``draws == 1``.
    random_seed : int, optional
        Seed; the same seed gives the same draws.

    Returns
    -------
    numpy.ndarray or list of numpy.ndarray
        One array per requested variable (a list when ``vars`` is a sequence).

    Examples
    --------
    >>> import varbayes as pm
    >>> pm.draw(pm.Normal.dist(0.0, 1.0, shape=3), draws=5, random_seed=1).shape
    (5, 3)
    >>> with pm.Model():
    ...     mu = pm.Normal("mu", 10.0, 0.1)
    ...     x = pm.Normal("x", mu, 1.0)
    >>> pm.draw(x - mu, draws=1000, random_seed=1).std().round(1)
    np.float64(1.0)
    """
    if kwargs:
        raise TypeError(f"pm.draw() got unexpected keyword argument(s): {', '.join(kwargs)}")
    if isinstance(draws, bool) or not isinstance(draws, (int, np.integer)) or draws < 1:
        raise ValueError(f"draws must be a positive integer, got {draws!r}")
    single = not isinstance(vars, Sequence) or isinstance(vars, str)
    targets = [vars] if single else list(vars)
    batcher = _Batcher(int(draws), default_seed(random_seed))
    outputs, loop = [], []
    for target in targets:
        if isinstance(target, Distribution):
            outputs.append(batcher.draw(target.as_tensor(), target))
            continue
        if not isinstance(target, Variable):
            try:
                target = pt.as_tensor_variable(target)
            except (TypeError, ValueError, NotImplementedError):
                raise TypeError(f"pm.draw: cannot draw {target!r}; give a distribution or a tensor") from None
        observed = _observed_distribution(target)
        if observed is not None:
            outputs.append(batcher.draw(target, observed))
            continue
        batched = batcher.expression(target)
        if batched is None:
            if _draws_random_numbers(target):
                # random numbers of no known distribution (pt.random calls): one evaluation per draw
                loop.append(len(outputs))
                batched = target
            else:
                batched = pt.broadcast_to(target, (batcher.n, *target.shape))
        outputs.append(batched)
    fn = pytensor.function([], outputs, mode=_DRAW_MODE)
    values = []
    for index, value in enumerate(fn()):
        if index in loop:
            if draws > 1:
                value = np.stack([value] + [fn()[index] for _ in range(draws - 1)])
        elif draws == 1:
            value = value[0]
        values.append(np.asarray(value))
    return values[0] if single else values
