"""Fitting in whitened coordinates: ``theta = shift + factor @ z``.

Adam moves every coordinate by about its learning rate per step, whatever
the posterior's scale and correlation. On a regression whose coefficients
correlate at 0.999, or whose scales differ by orders of magnitude, no single
step size is both stable and fast. A fit that stops by itself therefore
re-expresses the problem, at each change of step size, in the coordinates in
which its current approximation is a standard normal (the family's
``whitening``): there the posterior is close to isotropic, and a step size
means the same in every direction. This is what the adaptation of a mass
matrix does for NUTS.

The map travels with the data (``data = (Whitening, data)``), so changing it
does not recompile the loop; ``log_det`` keeps the loss equal to the
``-ELBO`` in the model's coordinates.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from varbayes.variational.core.families import Family
from varbayes.variational.core.step import placed_like

__all__ = ["Whitening", "identity", "whitening_of", "whiten_logdensity", "whiten_batch_fn", "to_model", "to_whitened"]


class Whitening(NamedTuple):
    """``theta = shift + factor @ z`` (``factor`` a vector for a diagonal map) and ``log|det factor|``."""

    shift: jax.Array
    factor: jax.Array
    log_det: jax.Array


def identity(family: Family, params) -> Whitening:
    """The map that changes nothing, in the form (diagonal or triangular) ``family`` whitens with.

    Its arrays are placed like those of ``params``.

    Examples
    --------
    >>> from varbayes.variational.core.families import full_rank
    >>> fam = full_rank()
    >>> identity(fam, fam.init(jnp.zeros(2), None)).factor.shape
    (2, 2)
    """
    # the factor's shape only, and the constants made on the host: eager, each of these
    # operations would compile a small program in a new process
    factor = jax.eval_shape(lambda p: family.whitening(p)[1], params)
    dim = factor.shape[0]
    dtype = jnp.result_type(float)
    unit = np.ones(dim, dtype) if len(factor.shape) == 1 else np.eye(dim, dtype=dtype)
    return placed_like(Whitening(np.zeros(dim, dtype), unit, np.zeros((), dtype)), params)


def _diagonal(factor) -> jax.Array:
    return factor if factor.ndim == 1 else jnp.diag(factor)


def whitening_of(family: Family, params) -> Whitening:
    """The map under which ``family`` with ``params`` becomes a standard normal.

    Examples
    --------
    >>> from varbayes.variational.core.families import full_rank
    >>> fam = full_rank()
    >>> params = {"mu": jnp.array([1.0, 2.0]), "L_tril": jnp.array([2.0, 0.5, 1.0])}
    >>> w = whitening_of(fam, params)
    >>> z = to_whitened(fam, params, w)
    >>> [round(float(v), 6) for v in z["L_tril"]]
    [1.0, 0.0, 1.0]
    """
    shift, factor = family.whitening(params)
    return Whitening(shift, factor, jnp.sum(jnp.log(jnp.abs(_diagonal(factor)))))


def _push(whitening: Whitening, z):
    factor = whitening.factor
    return whitening.shift + (factor * z if factor.ndim == 1 else factor @ z)


def whiten_logdensity(logdensity_fn: Callable) -> Callable:
    """``logdensity(z, (whitening, data))``: the log-density of ``z``, Jacobian included."""

    def whitened(z, data):
        whitening, inner = data
        return logdensity_fn(_push(whitening, z), inner) + whitening.log_det

    return whitened


def whiten_batch_fn(batch_fn: Callable | None) -> Callable | None:
    """A minibatch drawer for the whitened data ``(whitening, data)``."""
    if batch_fn is None:
        return None
    return lambda key, data, iteration: (data[0], batch_fn(key, data[1], iteration))


def to_model(family: Family, params, whitening: Whitening):
    """Parameters of q in the model's coordinates from those in the whitened ones.

    Examples
    --------
    >>> from varbayes.variational.core.families import mean_field
    >>> fam = mean_field()
    >>> w = Whitening(jnp.array([1.0]), jnp.array([2.0]), jnp.log(2.0))
    >>> params = to_model(fam, {"mu": jnp.array([0.5]), "rho": jnp.array([0.0])}, w)
    >>> float(params["mu"][0]), round(float(fam.std(params)[0]), 4)   # 1 + 2 * 0.5, 2 * log(2)
    (2.0, 1.3863)
    """
    return family.affine(params, whitening.shift, whitening.factor)


def to_whitened(family: Family, params, whitening: Whitening):
    """Parameters of q in the whitened coordinates from those in the model's."""
    factor = whitening.factor
    if factor.ndim == 1:
        inverse = 1.0 / factor
        return family.affine(params, -inverse * whitening.shift, inverse)
    inverse = jax.scipy.linalg.solve_triangular(factor, jnp.eye(factor.shape[0]), lower=True)
    return family.affine(params, -inverse @ whitening.shift, inverse)
