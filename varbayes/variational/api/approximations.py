"""Approximations: a family's parameters with a symbolic (PyTensor) face.

The parameters live in JAX while a fit runs; between chunks they are copied
into PyTensor shared variables (``shared_params``), which is what makes
``approx.mean.eval()``, trackers and ``sample_node`` see the current values.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytensor
import pytensor.tensor as pt

from varbayes.compile import compile_model
from varbayes.rng import jax_key
from varbayes.config import default_seed, quick_eval_mode
from varbayes.model.core import Model, modelcontext
from varbayes.stored import StoredProgram
from varbayes.variational.api.draws import sample_constrained
from varbayes.variational.core import families
from varbayes.variational.core.step import program_per_object

__all__ = ["Approximation", "MeanField", "FullRank", "LowRank", "Empirical"]


class Approximation:
    """Base class: a variational family fitted to a model's flat unconstrained space.

    Attributes
    ----------
    shared_params : dict
        The parameters as PyTensor shared variables.
    hist : numpy.ndarray
        The loss (``-ELBO`` estimate) of every iteration of every fit.
    """

    family: families.Family

    def __init__(self, model: Model | None = None, *, start=None, random_seed: int | None = None, family=None):
        self.model = modelcontext(model)
        self.compiled = compile_model(self.model)
        self.ravel = self.compiled.ravel
        if family is not None:
            self.family = family
        self._key = jax_key(default_seed(random_seed))
        # device_put and one jitted init, not eager operations that compile a small program each
        params, narrow = _family_init(self.family)(jax.device_put(self._start_theta(start)), self._key)
        self.shared_params = {
            name: pytensor.shared(np.asarray(value), name=name) for name, value in params.items()
        }
        self._params = params
        #: the first parameters narrowed to sd INITIAL_SCALE (a first fit(n=None) starts there),
        #: while the parameters are the first ones
        self._narrow_start = narrow
        self.hist = np.zeros(0)
        #: How the last ``fit(n=None)`` ended (a :class:`~varbayes.variational.api.converge.Convergence`).
        self.convergence = None
        self._logdensity = self.compiled.logdensity
        self._replacements = None
        self._inference = None  # the Inference that fits this approximation, if any

    # ------------------------------------------------------------ log-density
    @property
    def logdensity_fn(self):
        """The JAX ``logdensity(theta, data)`` the fit optimises."""
        return self._logdensity.fn

    @property
    def batch_fn(self):
        """Draws a step's minibatch rows (from the fit's key and the iteration), or ``None`` without a Minibatch."""
        return self._logdensity.batch_fn

    def streaming_minibatches(self) -> list:
        """Minibatches over out-of-core sources (memmaps) that the log-density reads."""
        found = []
        for var in self._logdensity.data_vars:
            # a shuffled copy of a source (varbayes.data.minibatch.ShuffledRows) is never streamed
            minibatch = getattr(getattr(var, "tag", None), "minibatch", None)
            if minibatch is not None and minibatch.streaming:
                found.append(minibatch)
        return found

    @property
    def logdensity_graph_key(self) -> str | None:
        """What the log-density computes, from the model's graph (``None`` when the graph cannot be keyed)."""
        return self._logdensity.graph_key

    @property
    def logdensity_cache(self) -> dict:
        """Compiled programs built on this log-density, shared by every fit of it."""
        return self._logdensity.cache

    def logdensity_data(self) -> tuple:
        """Current values of the data the log-density reads."""
        return self._logdensity.data()

    @property
    def logdensity_data_vars(self) -> tuple:
        """The shared variables the log-density reads, in the order of :meth:`logdensity_data`."""
        return self._logdensity.data_vars

    def use_replacements(self, replacements: dict) -> None:
        """Fit on the log-density with graph nodes replaced (e.g. ``{full_data: minibatch}``)."""
        from varbayes.compile import compile_logdensity

        self._replacements = dict(replacements)
        self._logdensity = compile_logdensity(self.model, self.ravel, self._replacements)

    def replacements_key(self):
        return None if self._replacements is None else tuple(id(k) for k in self._replacements)

    # ------------------------------------------------------------- parameters
    def _start_theta(self, start) -> np.ndarray:
        point = self.model.initial_point()
        if start is not None:
            for name, value in dict(start).items():
                layout = next((v for v in self.ravel.vars if name in (v.name, v.value_name)), None)
                if layout is None:
                    raise KeyError(f"start has {name!r}, which is not a free variable of the model")
                value = np.asarray(value, dtype="float64")
                if name == layout.name and layout.transform is not None:
                    value = np.asarray(layout.transform.forward(pt.as_tensor_variable(value)).eval())
                point[layout.value_name] = value
        return self.ravel.ravel(point)

    @property
    def params(self) -> list:
        """The shared variables of the parameters, in a fixed order."""
        return list(self.shared_params.values())

    @property
    def jax_params(self):
        """The parameters as JAX arrays."""
        return self._params

    def set_params(self, params) -> None:
        """Set the parameters (a dict of arrays) and sync the shared variables."""
        self._params = params
        self._narrow_start = None
        host = jax.device_get(params)
        for name, shared in self.shared_params.items():
            shared.set_value(np.asarray(host[name]), borrow=True)

    @property
    def ndim(self) -> int:
        return self.ravel.size

    # ---------------------------------------------------------------- summaries
    @property
    def mean(self):
        """Symbolic mean of q in the flat unconstrained space."""
        raise NotImplementedError

    @property
    def std(self):
        """Symbolic standard deviation of q in the flat unconstrained space."""
        raise NotImplementedError

    # ------------------------------------------------------------------ files
    def save(self, path):
        """Write the approximation to a file that :func:`~varbayes.load_approximation` reads.

        The file (NumPy ``.npz``, no pickles, a JSON header) holds the
        family, its parameters and ``hist``, and, when an inference object
        fits this approximation, its optimizer state and random key, so
        ``fit(..., resume=path)`` can continue the fit. It is written
        atomically: an existing file is replaced only by a complete new one.

        Parameters
        ----------
        path : str or path-like
            The file to write (its folder must exist).

        Returns
        -------
        pathlib.Path
            The file written.

        Examples
        --------
        >>> import os, tempfile
        >>> import varbayes as pm
        >>> with pm.Model() as model:
        ...     x = pm.Normal("x", 1.0, 2.0)
        ...     approx = pm.fit(200, progressbar=False, random_seed=1)
        >>> path = approx.save(os.path.join(tempfile.mkdtemp(), "x.npz"))
        >>> pm.load_approximation(path, model).hist.shape
        (200,)
        """
        from varbayes.variational.api.checkpoint import save_approximation

        return save_approximation(self, path, self._inference)

    # ------------------------------------------------------------------ draws
    def sample(self, draws: int = 1000, random_seed: int | None = None, include_transformed: bool = False,
               include_log_density: bool = False):
        """Draw from q; return an ArviZ ``DataTree`` with a ``posterior`` group.

        The group has ``chain=1`` and ``draw`` dimensions and holds the
        constrained free variables and every Deterministic (and, with
        ``include_transformed``, the unconstrained values). With
        ``include_log_density`` a ``sample_stats`` group holds, per draw, the
        model's log-density ``lp`` and q's ``log_q`` (both over the
        unconstrained values, Jacobians included): what ArviZ's
        ``loo_approximate_posterior(idata, log_p=..., log_q=...)`` needs to
        correct leave-one-out estimates for drawing from q (after
        :func:`~varbayes.compute_log_likelihood`).

        Examples
        --------
        >>> import varbayes as pm
        >>> with pm.Model():
        ...     x = pm.Normal("x", 0.0, 1.0)
        ...     approx = pm.fit(100, progressbar=False, random_seed=1)
        >>> approx.sample(50).posterior["x"].shape
        (1, 50)
        """
        if isinstance(draws, bool) or not isinstance(draws, (int, np.integer)) or draws < 1:
            raise ValueError(f"draws must be a positive integer, got {draws!r}")
        key = jax_key(default_seed(random_seed))  # jax.random.key would compile a program
        values, theta = sample_constrained(
            self.compiled, self.family.sample, self._params, key, int(draws), include_transformed or include_log_density
        )
        posterior = {name: np.asarray(v)[None] for name, v in values.items()}
        if include_transformed:
            for name, value in self.ravel.unravel(np.asarray(theta)).items():
                if name not in posterior:
                    posterior[name] = value[None]
        sample_stats = self._log_densities(theta) if include_log_density else None
        from varbayes.output import to_datatree

        return to_datatree(posterior=posterior, model=self.model, sample_stats=sample_stats)

    def _log_densities(self, theta) -> dict[str, np.ndarray]:
        """``lp`` and ``log_q`` of the draws ``theta``, shaped ``(1, draws)``."""
        if self.family.log_q is None:
            raise ValueError(f"{type(self).__name__} has no density (its draws are particles): no log_q to report")
        if self.compiled.logdensity.batch_fn is not None:
            raise ValueError(
                "the model reads a Minibatch: its full-data log-density is not defined here, so lp cannot be "
                "reported; define the model on the full data to compare with it"
            )
        cache = self.compiled.logdensity.cache
        key = ("draws_log_densities", self.family.log_q)
        if key not in cache:
            logdensity_fn, log_q = self.compiled.logdensity.fn, self.family.log_q

            def both(params, theta, data):
                return (jax.vmap(lambda t: logdensity_fn(t, data))(theta), jax.vmap(lambda t: log_q(params, t))(theta))

            cache[key] = jax.jit(both)
        lp, log_q = cache[key](self._params, theta, self.compiled.logdensity.data())
        return {"lp": np.asarray(lp)[None], "log_q": np.asarray(log_q)[None]}

    def symbolic_draws(self, rng, size):
        """``(next_rng, θ)``: symbolic draws of shape ``(D,)`` or ``(size, D)``."""
        raise NotImplementedError

    def sample_node(self, node, size=None, deterministic: bool = False, more_replacements: dict | None = None):
        """Evaluate any expression of the model's variables under draws from q.

        Parameters
        ----------
        node : TensorVariable or list of them
            An expression of the model's variables (and data).
        size : int or symbolic integer scalar, optional
            Number of draws, as a new leading axis (vectorised, not looped).
        deterministic : bool
            Evaluate at the mean of q instead of a draw.
        more_replacements : dict, optional
            Further replacements, e.g. ``{X_train: X_test}``.

        Returns
        -------
        TensorVariable
            Each ``.eval()`` gives a fresh draw.

        Examples
        --------
        >>> import varbayes as pm
        >>> with pm.Model():
        ...     x = pm.Normal("x", 0.0, 1.0)
        ...     approx = pm.fit(200, progressbar=False, random_seed=0)
        >>> approx.sample_node(x ** 2, size=100).eval().shape
        (100,)
        """
        from varbayes.variational.api.symbolic import sample_node

        return sample_node(self, node, size, deterministic, more_replacements)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.ndim} dimensions, {len(self.hist)} iterations>"

    # ------------------------------------------------------- using the result
    def summary(self, draws: int = 2000, random_seed: int | None = None, **kwargs):
        """Per-element mean, sd and interval in the constrained space; see :func:`diagnostics.summary`.

        Examples
        --------
        >>> import varbayes as pm
        >>> with pm.Model():
        ...     x = pm.Normal("x", 1.0, 2.0)
        ...     approx = pm.fit(3000, progressbar=False, random_seed=1)
        >>> list(approx.summary(random_seed=0).columns)[:2]
        ['mean', 'sd']
        """
        from varbayes.variational.api.diagnostics import summary

        return summary(self, draws, random_seed, **kwargs)

    def diagnose(self, draws: int = 2000, random_seed: int | None = None):
        """Pareto k̂ of ``p(θ)/q(θ)``, θ ~ q, with a verdict; see :func:`diagnostics.diagnose`.

        Examples
        --------
        >>> import varbayes as pm
        >>> with pm.Model():
        ...     x = pm.Normal("x", 1.0, 2.0)
        ...     approx = pm.fit(3000, progressbar=False, random_seed=1)
        >>> approx.diagnose(random_seed=0).reliable
        True
        """
        from varbayes.variational.api.diagnostics import diagnose

        return diagnose(self, draws, random_seed)

    def plot_hist(self, ax=None, smooth: int | None = None, **kwargs):
        """Plot the loss history with a rolling mean; see :func:`diagnostics.plot_hist`.

        Examples
        --------
        >>> import matplotlib; matplotlib.use("Agg")
        >>> import varbayes as pm
        >>> with pm.Model():
        ...     x = pm.Normal("x", 0.0, 1.0)
        ...     approx = pm.fit(500, progressbar=False, random_seed=1)
        >>> ax = approx.plot_hist(smooth=20)
        """
        from varbayes.variational.api.diagnostics import plot_hist

        return plot_hist(self, ax=ax, smooth=smooth, **kwargs)


#: Standard deviation, in each unconstrained coordinate, of q at the start of a first ``fit(n=None)``.
INITIAL_SCALE = 0.1


def narrowed(family, params):
    """``params`` of a q with the same mean and standard deviations :data:`INITIAL_SCALE` (``family.affine``'s map).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> fam = families.mean_field()
    >>> params = narrowed(fam, fam.init(jnp.array([1.0, 2.0]), None))
    >>> [round(float(v), 6) for v in fam.std(params)], [float(v) for v in fam.mean(params)]
    ([0.1, 0.1], [1.0, 2.0])
    """
    mean = family.mean(params)
    factor = INITIAL_SCALE / family.std(params)
    return family.affine(params, (1.0 - factor) * mean, factor)


@program_per_object
def _family_init(family):
    """``init(theta0, key) -> (params, narrowed)``: the family's first parameters and the same q narrowed.

    The parameters come from ``fold_in(key, 1)``; the narrowed ones (a first
    ``fit(n=None)`` starts there; ``None`` for a family without affine maps)
    cost nothing beside them, where a program of their own would cost a new
    process ~10 ms. One compiled program: eager, the key's folding and the
    family's array operations compile a small program each (five or six,
    ~40 ms of a first fit in a new process). Kept on disk compiled for the
    families fixed by their name (:mod:`varbayes.stored`): tracing and
    lowering it cost a new process ~20 ms, loading it ~3.
    """

    def init(theta, key):
        params = family.init(theta, jax.random.fold_in(key, 1))
        return params, (None if family.affine is None else narrowed(family, params))

    # kept on disk compiled, as the fit's loop is: a new process then neither traces nor lowers it
    settings = ("family init", family.name) if family.name in families.FIXED_BY_NAME else None
    return StoredProgram(jax.jit(init), settings)


def _normal_draws(rng, size, dim: int, dtype: str):
    shape = (dim,) if size is None else (size, dim)
    return pt.random.normal(0.0, 1.0, size=shape, rng=rng, dtype=dtype, return_next_rng=True)


class MeanField(Approximation):
    """Mean-field normal approximation: parameters ``mu`` and ``rho`` (std = softplus(rho)).

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model():
    ...     x = pm.Normal("x", 0.0, 1.0, shape=2)
    ...     approx = pm.MeanField(random_seed=0)
    >>> approx.std.eval()
    array([0.69314718, 0.69314718])
    """

    family = families.mean_field()

    @property
    def mean(self):
        return self.shared_params["mu"]

    @property
    def std(self):
        return pt.softplus(self.shared_params["rho"])

    @property
    def cov(self):
        return pt.diag(self.std**2)

    def symbolic_draws(self, rng, size):
        next_rng, eps = _normal_draws(rng, size, self.ndim, self.mean.dtype)
        return next_rng, self.mean + self.std * eps


class FullRank(Approximation):
    """Full-rank normal approximation: parameters ``mu`` and the packed ``L_tril``.

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model():
    ...     x = pm.Normal("x", 0.0, 1.0, shape=2)
    ...     approx = pm.FullRank(random_seed=0)
    >>> approx.cov.eval()
    array([[1., 0.],
           [0., 1.]])
    """

    family = families.full_rank()

    @property
    def L(self):
        dim = self.ndim
        rows, cols = np.tril_indices(dim)
        zeros = pt.zeros((dim, dim), dtype=self.shared_params["L_tril"].dtype)
        return pt.set_subtensor(zeros[rows, cols], self.shared_params["L_tril"])

    @property
    def mean(self):
        return self.shared_params["mu"]

    @property
    def cov(self):
        return self.L @ self.L.T

    @property
    def std(self):
        return pt.sqrt(pt.sum(self.L**2, axis=1))

    def symbolic_draws(self, rng, size):
        next_rng, eps = _normal_draws(rng, size, self.ndim, self.mean.dtype)
        return next_rng, self.mean + eps @ self.L.T


class LowRank(Approximation):
    """Diagonal plus low-rank normal approximation (``mu``, ``rho``, ``W``).

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model():
    ...     x = pm.Normal("x", 0.0, 1.0, shape=3)
    ...     approx = pm.LowRank(rank=1, random_seed=0)
    ...     _ = pm.KLqp(approx).fit(100, progressbar=False)
    >>> approx.shared_params["W"].get_value().shape
    (3, 1)
    """

    def __init__(self, model=None, *, rank: int = 2, **kwargs):
        super().__init__(model, family=families.low_rank(rank), **kwargs)

    @property
    def mean(self):
        return self.shared_params["mu"]

    @property
    def cov(self):
        W = self.shared_params["W"]
        return pt.diag(pt.softplus(self.shared_params["rho"]) ** 2) + W @ W.T

    @property
    def std(self):
        return pt.sqrt(pt.diagonal(self.cov))

    def symbolic_draws(self, rng, size):
        W = self.shared_params["W"]
        rank = W.get_value().shape[1]
        rng, eps = _normal_draws(rng, size, self.ndim, self.mean.dtype)
        next_rng, eta = _normal_draws(rng, size, rank, self.mean.dtype)
        return next_rng, self.mean + pt.softplus(self.shared_params["rho"]) * eps + eta @ W.T


class Empirical(Approximation):
    """An approximation made of particles (SVGD, or draws of an MCMC trace).

    ``shared_params`` is ``{'histogram': (N, D)}`` in the flat unconstrained space.

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model() as model:
    ...     s = pm.HalfNormal("s", 1.0)
    ...     trace = pm.sample(100, tune=100, chains=2, progressbar=False, random_seed=0)
    >>> approx = pm.Empirical(trace, model=model)
    >>> approx.shared_params["histogram"].get_value().shape
    (200, 1)
    """

    def __init__(self, trace=None, model=None, *, size: int | None = None, jitter: float = 1.0, start=None,
                 random_seed: int | None = None):
        if trace is None and size is None:
            raise ValueError("Empirical needs a trace or a number of particles (size=)")
        n = size if trace is None else 1
        super().__init__(model, start=start, random_seed=random_seed, family=families.particles(int(n), jitter))
        if trace is not None:
            histogram = _histogram_from_trace(trace, self.model, self.ravel)
            self.family = families.particles(histogram.shape[0], jitter)
            self.set_params({"histogram": jnp.asarray(histogram)})

    @property
    def histogram(self):
        return self.shared_params["histogram"]

    @property
    def mean(self):
        return pt.mean(self.histogram, axis=0)

    @property
    def std(self):
        return pt.std(self.histogram, axis=0)

    @property
    def cov(self):
        x = self.histogram - self.mean
        return x.T @ x / self.histogram.shape[0]

    def symbolic_draws(self, rng, size):
        shape = () if size is None else (size,)
        next_rng, idx = pt.random.integers(
            0, self.histogram.shape[0], size=shape, rng=rng, return_next_rng=True
        )
        return next_rng, self.histogram[idx]


def _histogram_from_trace(trace, model, ravel) -> np.ndarray:
    """Flatten all chains and draws of a trace's posterior into unconstrained θ rows."""
    posterior = trace.posterior if hasattr(trace, "posterior") else trace
    columns = []
    for layout in ravel.vars:
        if layout.name not in posterior:
            raise KeyError(
                f"the trace has no variable {layout.name!r}, a free variable of the model; "
                f"it has {sorted(posterior.data_vars) if hasattr(posterior, 'data_vars') else sorted(posterior)}"
            )
        values = np.asarray(posterior[layout.name])
        values = values.reshape(-1, *layout.constrained_shape)
        if layout.transform is not None:
            x = pt.tensor(shape=(None, *layout.constrained_shape), dtype="float64")
            values = pytensor.function([x], layout.transform.forward(x), mode=quick_eval_mode())(values)
        columns.append(np.asarray(values, dtype="float64").reshape(values.shape[0], -1))
    return np.concatenate(columns, axis=1)
