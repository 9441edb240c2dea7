"""Normalizing flows in the seed's API: the ``NormalizingFlow`` approximation and ``NFVI``.

``pm.fit(method='nfvi')``, ``pm.fit(method='nfvi=planar*8')`` and
``pm.NFVI(flow='spline*2-scale-loc')`` fit a flow (formulas as in PyMC3, see
:mod:`varbayes.variational.core.flow_layers`) by the same compiled loop as
ADVI: progress bar, callbacks, ``refine`` and ``fit(n=None)`` work as there.

A flow has no closed-form draws in PyTensor, so its symbolic face
(``approx.mean``, ``approx.std``, the draws of ``sample_node``) is a small
PyTensor ``Op`` that calls the family's jitted JAX functions on the current
values of ``shared_params``; the random seed of each draw comes from a
PyTensor generator, so every ``.eval()`` is a fresh draw as for the other
approximations.
"""

from __future__ import annotations

import jax
import numpy as np
import optax
import pytensor.tensor as pt
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op

from varbayes.compile import compile_model
from varbayes.model.core import Model, modelcontext
from varbayes.variational.api.approximations import Approximation, Empirical
from varbayes.variational.api.inference import Inference, _model_and_seed
from varbayes.variational.api.optimizers import Optimizer
from varbayes.variational.core.convergence import StopRule
from varbayes.variational.core.flows import DEFAULT_FLOW, flow_elbo_step, normalizing_flow

__all__ = ["NormalizingFlow", "NFVI", "flow_adam"]

#: Draws per step of the ``-ELBO`` estimate of an NFVI fit (``obj_n_mc`` changes it).
DEFAULT_FLOW_N_MC = 32


# ------------------------------------------------------------ symbolic face
class _JaxCall(Op):
    """A PyTensor node that evaluates a jitted JAX function of the flow's parameters.

    Inputs are ``(seed, n, *params)`` for draws (an ``(n, D)`` matrix) or
    ``(*params)`` for a statistic (a ``(D,)`` vector). No gradient: these
    nodes are for evaluating expressions under q, not for training.
    """

    __props__ = ("fn", "names", "dim", "draws")

    def __init__(self, fn, names: tuple, dim: int, draws: bool):
        self.fn, self.names, self.dim, self.draws = fn, names, dim, draws

    def make_node(self, *inputs):
        inputs = [pt.as_tensor_variable(i) for i in inputs]
        shape = (None, self.dim) if self.draws else (self.dim,)
        return Apply(self, inputs, [pt.tensor(dtype="float64", shape=shape)])

    def perform(self, node, inputs, outputs):
        if self.draws:
            seed, n, *values = inputs
            out = self.fn(dict(zip(self.names, values)), jax.random.key(int(seed)), int(n))
        else:
            out = self.fn(dict(zip(self.names, inputs)))
        # a copy: JAX hands out read-only buffers, and PyTensor may write in place
        outputs[0][0] = np.array(out, dtype="float64")


class NormalizingFlow(Approximation):
    """A normalizing flow fitted to the model's flat unconstrained space.

    q is the law of ``x = T(z)``, ``z ~ N(0, I)``, with ``T`` the layers of
    ``flow`` applied in order. ``shared_params`` holds every trainable array
    of the flow, named by its place in it (e.g. ``'00.coupling.conditioner.layers[1].weight'``).

    Parameters
    ----------
    flow : str
        A flow formula (PyMC3's grammar): layer names ``loc``, ``scale``,
        ``hh``, ``planar``, ``radial``, ``coupling`` (``realnvp``),
        ``spline`` (``nsf``) and ``maf``, each optionally repeated
        (``planar*8``), joined by ``-``. The last ``loc`` starts at the
        model's initial point (one is appended if the formula has none);
        the other layers start at the identity, so a new flow is a unit
        normal around the initial point.
    model : Model, optional
    start : dict, optional
        Starting point of the location.
    random_seed : int, optional
        Seed of the networks' initial weights.
    nn_width, nn_depth, knots, interval
        Sizes of the network layers; see
        :func:`~varbayes.variational.core.flows.normalizing_flow`.

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model():
    ...     x = pm.Normal("x", 0.0, 1.0, shape=2)
    ...     approx = pm.NormalizingFlow("scale-loc", random_seed=0)
    >>> sorted(approx.shared_params)
    ['00.scale.scale.args[0]', '01.loc.loc']
    >>> approx.mean.eval().round(12)
    array([0., 0.])
    >>> approx.std.eval().round(1)         # Monte Carlo (4096 fixed base draws)
    array([1., 1.])
    """

    def __init__(
        self,
        flow: str = DEFAULT_FLOW,
        model: Model | None = None,
        *,
        start=None,
        random_seed: int | None = None,
        nn_width: int | None = None,
        nn_depth: int = 1,
        knots: int = 8,
        interval: float = 5.0,
    ):
        model = modelcontext(model)
        # compiling first also refuses discrete free variables with the library's own message
        dim = compile_model(model).ravel.size
        family = normalizing_flow(flow, dim, nn_width=nn_width, nn_depth=nn_depth, knots=knots, interval=interval)
        super().__init__(model, start=start, random_seed=random_seed, family=family)
        self.flow = family.name[len("flow[") : family.name.index(";")]
        # what a saved flow needs to be rebuilt (see varbayes.variational.api.checkpoint)
        self.flow_options = {"nn_width": nn_width, "nn_depth": nn_depth, "knots": knots, "interval": interval}
        names = tuple(self.shared_params)
        jitted = jax.jit(family.sample, static_argnums=2)
        self._draws_op = _JaxCall(jitted, names, dim, True)
        self._mean_op = _JaxCall(jax.jit(family.mean), names, dim, False)
        self._std_op = _JaxCall(jax.jit(family.std), names, dim, False)

    @property
    def mean(self):
        """Mean of q in the flat unconstrained space (a Monte Carlo estimate from fixed base draws)."""
        return self._mean_op(*self.params)

    @property
    def std(self):
        """Standard deviation of q in the flat unconstrained space (Monte Carlo, fixed base draws)."""
        return self._std_op(*self.params)

    def symbolic_draws(self, rng, size):
        next_rng, seed = pt.random.integers(0, 2**62, rng=rng, return_next_rng=True)
        draws = self._draws_op(seed, 1 if size is None else size, *self.params)
        return next_rng, draws[0] if size is None else draws


# ------------------------------------------------------------------ training
def _annealed_adam(learning_rate, horizon, final_fraction):
    def rate(count):
        progress = jax.numpy.minimum(count / horizon, 1.0)
        return -learning_rate * (final_fraction + (1.0 - final_fraction) * 0.5 * (1.0 + jax.numpy.cos(np.pi * progress)))

    return optax.chain(optax.scale_by_adam(), optax.scale_by_schedule(rate))


def flow_adam(learning_rate: float = 0.01, horizon: int = 10_000, final_fraction: float = 0.01) -> Optimizer:
    """Adam whose step size falls (cosine) from ``learning_rate`` to ``final_fraction`` of it over ``horizon`` steps.

    The default of a fixed-length NFVI fit, with ``horizon = n``. A flow's
    last digits (how its mass splits between modes) are a weak signal under
    the noise of the ``-ELBO`` gradient; the falling step size lets them
    settle. Later steps (``refine``) keep the last step size. The
    hyperparameters live in the optimizer's state, so fits of any length
    share one compiled loop.

    Examples
    --------
    >>> import varbayes as pm
    >>> opt = pm.flow_adam(0.01, horizon=5000)
    """
    return Optimizer(
        *optax.inject_hyperparams(_annealed_adam)(
            learning_rate=learning_rate, horizon=float(horizon), final_fraction=final_fraction
        )[:2],
        ("flow_adam",),
    )


class NFVI(Inference):
    """Normalizing-flow variational inference: ``-ELBO`` by reparameterisation through a flow.

    Parameters
    ----------
    flow : str
        The flow formula (default ``'spline*2-scale-loc'``: two
        rational-quadratic spline coupling layers, then an elementwise scale
        and a location; see :class:`NormalizingFlow`).
    model : Model, optional
    random_seed : int, optional
    start : dict, optional
    approx : NormalizingFlow, optional
        An approximation to fit instead of a new one.
    **flow_kwargs
        ``nn_width``, ``nn_depth``, ``knots``, ``interval`` of :class:`NormalizingFlow`.

    Notes
    -----
    Reverse KL, the objective, is content with one mode of a multimodal
    posterior. The defaults keep modes two ways: the flow starts wide (a
    unit normal in every unconstrained coordinate, against ADVI's 0.69 and
    the 0.1 of ``fit(n=None)``'s other families), so its first draws reach
    every mode within a few units of the initial point; and a fit of fixed
    length steps with :func:`flow_adam`, whose falling step size lets the
    split of mass between modes settle rather than drift with the gradient
    noise. Each step averages ``obj_n_mc=32`` draws.

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model():
    ...     x = pm.NormalMixture("x", w=[0.2, 0.8], mu=[-0.3, 0.5], sigma=[0.1, 0.1])
    ...     approx = pm.fit(2000, method="nfvi", progressbar=False, random_seed=1)
    >>> approx.flow
    'spline*2-scale-loc'
    >>> approx.sample(100).posterior["x"].shape
    (1, 100)
    """

    default_n_mc = DEFAULT_FLOW_N_MC
    # A network's weights have directions along which q does not change (a ReLU unit's
    # scale against its outgoing weight), where the iterates wander under the gradient
    # noise: they count as stationary once they move by less than the drift floor.
    stop_rule = StopRule(rhat_small_drift=np.inf)

    def __init__(
        self,
        flow: str = DEFAULT_FLOW,
        model: Model | None = None,
        random_seed: int | None = None,
        start=None,
        approx: NormalizingFlow | None = None,
        **flow_kwargs,
    ):
        model, seed = _model_and_seed(model, random_seed)
        if approx is None:
            approx = NormalizingFlow(flow, model, start=start, random_seed=seed, **flow_kwargs)
        if isinstance(approx, Empirical) or approx.family.sample_and_log_q is None:
            raise TypeError(f"NFVI fits a NormalizingFlow approximation, got {type(approx).__name__}")
        super().__init__(approx, random_seed=seed + 1)
        self._planned_n = None

    def fit(self, n: int | None = 10000, *args, **kwargs):
        if n is None:
            raise NotImplementedError(
                "NFVI does not support fit(n=None) yet: its stop rule watches the parameters settle, "
                "and a flow's network weights keep wandering along directions that leave q unchanged "
                "(softmax shifts, ReLU rescalings), so it would never stop. Pass a number of "
                "iterations, e.g. fit(20000): the default optimizer (flow_adam) lowers its step "
                "size over them."
            )
        self._planned_n = n
        return super().fit(n, *args, **kwargs)

    fit.__doc__ = Inference.fit.__doc__

    def _prepare(self, obj_optimizer, obj_n_mc, total_grad_norm_constraint, more_replacements, auto=False):
        if obj_optimizer is None and not auto:
            obj_optimizer = flow_adam(horizon=max(int(self._planned_n or 1), 1))
        super()._prepare(obj_optimizer, obj_n_mc, total_grad_norm_constraint, more_replacements, auto)

    def _step(self, optimizer, n_mc):
        logdensity_fn, batch_fn = self._target()
        return flow_elbo_step(self.approx.family, logdensity_fn, optimizer, n_mc, batch_fn=batch_fn)


def split_method(method: str) -> tuple[str, dict]:
    """``'nfvi=planar*4'`` -> ``('nfvi', {'flow': 'planar*4'})``; other names unchanged.

    Examples
    --------
    >>> split_method("nfvi=scale-loc")
    ('nfvi', {'flow': 'scale-loc'})
    >>> split_method("advi")
    ('advi', {})
    """
    name, sep, formula = method.partition("=")
    if sep and name.strip().lower() == "nfvi":
        return "nfvi", {"flow": formula}
    return method, {}

