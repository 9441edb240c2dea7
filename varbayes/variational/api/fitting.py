"""``pm.fit``: an approximation by the name of its method, or from an inference object."""

from __future__ import annotations

from varbayes.model.core import Model
from varbayes.variational.api.approximations import Approximation
from varbayes.variational.api.flows import NFVI, split_method
from varbayes.variational.api.inference import Inference
from varbayes.variational.api.methods import ADVI, ASVGD, SVGD, FullRankADVI
from varbayes.variational.api.pathfinder import Pathfinder

__all__ = ["fit"]

_METHODS = {
    "advi": ADVI,
    "fullrank_advi": FullRankADVI,
    "svgd": SVGD,
    "asvgd": ASVGD,
    "pathfinder": Pathfinder,
    "nfvi": NFVI,
}


def fit(
    n: int | None = 10000,
    method="advi",
    model: Model | None = None,
    random_seed: int | None = None,
    start=None,
    inf_kwargs: dict | None = None,
    **kwargs,
) -> Approximation:
    """Fit an approximation to the model's posterior.

    Parameters
    ----------
    n : int or None
        Number of iterations, or ``None`` to run until converged (see
        :meth:`Inference.fit`; ``max_n`` and ``max_time`` cap it). For
        ``'pathfinder'``: the most L-BFGS iterations of each path, which
        stops earlier when converged (``None``: 1000).
    method : str or Inference
        ``'advi'``, ``'fullrank_advi'``, ``'svgd'``, ``'asvgd'``,
        ``'pathfinder'`` (see :class:`Pathfinder`; it takes only
        ``progressbar`` of the keyword arguments below), or an
        :class:`Inference` or :class:`Pathfinder` object.
    model : Model, optional
        Defaults to the model of the ``with`` block.
    random_seed : int, optional
        Seed of the initialisation and of the draws in the loop.
    start : dict, optional
        Starting point (variable or value-variable names).
    inf_kwargs : dict, optional
        Keyword arguments of the inference class (e.g. ``n_particles``).
    **kwargs
        Passed to :meth:`Inference.fit`: ``callbacks``, ``obj_optimizer``,
        ``obj_n_mc``, ``total_grad_norm_constraint``, ``progressbar``,
        ``more_replacements``, ``max_n``, ``max_time``, ``checkpoint``,
        ``checkpoint_every``, ``resume``, ``devices`` (split the data's rows
        over several devices).

    Examples
    --------
    >>> import varbayes as pm
    >>> with pm.Model():
    ...     x = pm.NormalMixture("x", w=[0.2, 0.8], mu=[-0.3, 0.5], sigma=[0.1, 0.1])
    ...     approx = pm.fit(1000, method="advi", progressbar=False, random_seed=3)
    >>> approx.hist.shape
    (1000,)
    """
    inf_kwargs = dict(inf_kwargs or {})
    if isinstance(method, (Inference, Pathfinder)):
        inference = method
    elif isinstance(method, str):
        # 'nfvi=<formula>' is NFVI with that flow, as in PyMC3
        method, flow = split_method(method)
        inf_kwargs.update(flow)
        if method not in _METHODS:
            raise KeyError(f"method {method!r} is not known; valid methods: {sorted(_METHODS)}")
        if start is not None:
            inf_kwargs.setdefault("start", start)
        inference = _METHODS[method](model=model, random_seed=random_seed, **inf_kwargs)
    else:
        raise TypeError(
            f"method must be a name ({sorted(_METHODS)}), an Inference or a Pathfinder object, got {method!r}"
        )
    return inference.fit(n, **kwargs)
