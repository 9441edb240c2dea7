"""Optimizers under PyMC's names and defaults, as optax transformations.

Every constructor returns an :class:`Optimizer`: an optax gradient
transformation (``init``/``update``) whose hyperparameters (learning rate,
momentum, ...) live in its state (``optax.inject_hyperparams``), tagged with
its ``kind``. The compiled fit loop is cached by kind, so a new
``pm.adam(learning_rate=0.01)`` after a ``pm.adam(0.1)`` reuses the program
instead of compiling another. Any other optax transformation is accepted by
``fit`` as well (compiled once per object). Only ``adagrad_window`` (PyMC's
default for ``fit``, which optax lacks) is written here.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

__all__ = [
    "Optimizer",
    "sgd",
    "momentum",
    "nesterov_momentum",
    "adagrad",
    "adagrad_window",
    "rmsprop",
    "adadelta",
    "adam",
    "adamax",
    "as_optimizer",
    "program_key",
]


class Optimizer(NamedTuple):
    """An optax gradient transformation with its hyperparameters in its state, and its kind.

    ``kind`` (the constructor's name and its structural settings) decides the
    compiled program; the hyperparameters' values do not.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> import varbayes as pm
    >>> opt = pm.adam(learning_rate=0.01)
    >>> opt.kind, float(opt.init(jnp.zeros(2)).hyperparams["learning_rate"])
    (('adam',), 0.01)
    """

    init: Callable
    update: Callable
    kind: tuple


def _injected(kind: tuple, factory, static: tuple = (), **hyperparameters) -> Optimizer:
    transformation = optax.inject_hyperparams(factory, static_args=static)(**hyperparameters)
    return Optimizer(transformation.init, transformation.update, kind)


def sgd(learning_rate: float = 1e-3) -> optax.GradientTransformation:
    """Plain stochastic gradient descent.

    Examples
    --------
    >>> import varbayes as pm
    >>> opt = pm.sgd(learning_rate=0.01)
    """
    return _injected(("sgd",), optax.sgd, learning_rate=learning_rate)


def momentum(learning_rate: float = 1e-3, momentum: float = 0.9) -> optax.GradientTransformation:
    """SGD with classical momentum.

    Examples
    --------
    >>> import varbayes as pm
    >>> opt = pm.momentum(learning_rate=0.01, momentum=0.9)
    """
    return _injected(("momentum",), optax.sgd, learning_rate=learning_rate, momentum=momentum)


def nesterov_momentum(learning_rate: float = 1e-3, momentum: float = 0.9) -> optax.GradientTransformation:
    """SGD with Nesterov momentum.

    Examples
    --------
    >>> import varbayes as pm
    >>> opt = pm.nesterov_momentum(learning_rate=0.01)
    """
    return _injected(
        ("nesterov_momentum",), optax.sgd, ("nesterov",), learning_rate=learning_rate, momentum=momentum, nesterov=True
    )


def adagrad(learning_rate: float = 1.0, epsilon: float = 1e-6) -> optax.GradientTransformation:
    """Adagrad: steps scaled by the root of the summed squared gradients.

    Examples
    --------
    >>> import varbayes as pm
    >>> opt = pm.adagrad(learning_rate=0.5)
    """
    return _injected(
        ("adagrad",), optax.adagrad, learning_rate=learning_rate, initial_accumulator_value=0.0, eps=epsilon
    )


class AdagradWindowState(NamedTuple):
    """The last ``n_win`` squared gradients and the step count."""

    squares: optax.Params
    count: jax.Array


def _scale_by_windowed_adagrad(epsilon: float, n_win: int) -> optax.GradientTransformation:
    def init(params):
        squares = jax.tree_util.tree_map(lambda p: jnp.zeros((n_win, *jnp.shape(p)), jnp.result_type(p)), params)
        return AdagradWindowState(squares, jnp.zeros((), jnp.int32))

    def update(updates, state, params=None):
        del params
        slot = state.count % n_win
        squares = jax.tree_util.tree_map(lambda s, g: s.at[slot].set(g**2), state.squares, updates)
        scaled = jax.tree_util.tree_map(
            lambda g, s: g / jnp.sqrt(jnp.sum(s, axis=0) + epsilon), updates, squares
        )
        return scaled, AdagradWindowState(squares, state.count + 1)

    return optax.GradientTransformation(init, update)


def adagrad_window(learning_rate: float = 0.001, epsilon: float = 0.1, n_win: int = 10) -> optax.GradientTransformation:
    """Adagrad over a sliding window of the last ``n_win`` squared gradients (``fit``'s default).

    Examples
    --------
    >>> import varbayes as pm
    >>> opt = pm.adagrad_window(learning_rate=0.01, n_win=20)
    """
    if n_win < 1:
        raise ValueError(f"n_win must be at least 1, got {n_win}")
    return _injected(
        ("adagrad_window", int(n_win)), _adagrad_window, ("n_win",), learning_rate=learning_rate, epsilon=epsilon,
        n_win=int(n_win),
    )


def _adagrad_window(learning_rate, epsilon, n_win):
    return optax.chain(_scale_by_windowed_adagrad(epsilon, n_win), optax.scale(-learning_rate))


def rmsprop(learning_rate: float = 1.0, rho: float = 0.9, epsilon: float = 1e-6) -> optax.GradientTransformation:
    """RMSProp.

    Examples
    --------
    >>> import varbayes as pm
    >>> opt = pm.rmsprop(learning_rate=0.01)
    """
    return _injected(("rmsprop",), optax.rmsprop, learning_rate=learning_rate, decay=rho, eps=epsilon)


def adadelta(learning_rate: float = 1.0, rho: float = 0.95, epsilon: float = 1e-6) -> optax.GradientTransformation:
    """Adadelta.

    Examples
    --------
    >>> import varbayes as pm
    >>> opt = pm.adadelta()
    """
    return _injected(("adadelta",), optax.adadelta, learning_rate=learning_rate, rho=rho, eps=epsilon)


def adam(
    learning_rate: float = 0.001, beta1: float = 0.9, beta2: float = 0.999, epsilon: float = 1e-8
) -> optax.GradientTransformation:
    """Adam.

    Examples
    --------
    >>> import varbayes as pm
    >>> opt = pm.adam(learning_rate=0.01)
    """
    return _injected(("adam",), optax.adam, learning_rate=learning_rate, b1=beta1, b2=beta2, eps=epsilon)


def adamax(
    learning_rate: float = 0.002, beta1: float = 0.9, beta2: float = 0.999, epsilon: float = 1e-8
) -> optax.GradientTransformation:
    """Adamax (Adam with the infinity norm).

    Examples
    --------
    >>> import varbayes as pm
    >>> opt = pm.adamax(learning_rate=0.1)
    """
    return _injected(("adamax",), optax.adamax, learning_rate=learning_rate, b1=beta1, b2=beta2, eps=epsilon)


_BY_NAME = {
    "sgd": sgd,
    "momentum": momentum,
    "nesterov_momentum": nesterov_momentum,
    "adagrad": adagrad,
    "adagrad_window": adagrad_window,
    "rmsprop": rmsprop,
    "adadelta": adadelta,
    "adam": adam,
    "adamax": adamax,
}


def as_optimizer(optimizer, total_grad_norm_constraint: float | None = None) -> optax.GradientTransformation:
    """An optax transformation from a name, a constructor or a transformation.

    ``total_grad_norm_constraint`` clips the global gradient norm first.
    """
    if isinstance(optimizer, str):
        if optimizer not in _BY_NAME:
            raise ValueError(f"unknown optimizer {optimizer!r}; known: {sorted(_BY_NAME)}")
        optimizer = _BY_NAME[optimizer]()
    elif callable(optimizer) and optimizer in _BY_NAME.values():
        optimizer = optimizer()
    if not (hasattr(optimizer, "init") and hasattr(optimizer, "update")):
        raise TypeError(
            f"obj_optimizer must be an optimizer name ({', '.join(sorted(_BY_NAME))}) or an "
            f"optax GradientTransformation, got {optimizer!r}"
        )
    if total_grad_norm_constraint is not None:
        optimizer = optax.chain(optax.clip_by_global_norm(float(total_grad_norm_constraint)), optimizer)
    return optimizer


def program_key(optimizer):
    """What decides the compiled program of a fit with ``optimizer``: its kind, or the object itself.

    Examples
    --------
    >>> import varbayes as pm
    >>> program_key(pm.adam(0.1)) == program_key(pm.adam(learning_rate=0.001))
    True
    >>> program_key(pm.adam(0.1)) == program_key(pm.adamax(0.1))
    False
    """
    if isinstance(optimizer, str):
        return ("name", optimizer)
    kind = getattr(optimizer, "kind", None)
    return kind if isinstance(kind, tuple) else ("object", id(optimizer))
