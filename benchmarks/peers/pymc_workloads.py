"""The seed's workloads on PyMC (default, JAX-free backends), one JSON line each.

Run with an interpreter that has PyMC installed, from the repository root:
``/path/to/python benchmarks/peers/pymc_workloads.py [--repeats 3] [--only ...]``.

Time to first iteration is measured inside the call: a callback records the
first iteration of ``pm.fit`` and the first draw of ``pm.sample`` (PyMC calls
both hooks for every iteration / draw, warmup included). Slow workloads run
fewer iterations than the seed (the record's ``note`` says so); rates do not
depend on the number of iterations.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np
import pymc as pm

from benchmarks import harness as h
from benchmarks.data import iris_split, minibatch_data

LIBRARY = "PyMC"

# Iterations / draws run by PyMC where the seed's would take minutes.
SVGD_N = 30
IRIS_N = 40
MINIBATCH_N = 3_000
NUTS_DRAWS = 10_000


def mixture_model():
    with pm.Model() as model:
        pm.NormalMixture(
            "x", w=np.array(h.MIXTURE["w"]), mu=np.array(h.MIXTURE["mu"]), sigma=np.array(h.MIXTURE["sigma"])
        )
    return model


def minibatch_model():
    data = minibatch_data()
    X = pm.Minibatch(data, batch_size=h.MINIBATCH_BATCH)
    with pm.Model() as model:
        mu = pm.Flat("mu", shape=(h.MINIBATCH_COLS,))
        sd = pm.HalfNormal("sd", shape=(h.MINIBATCH_COLS,))
        pm.Normal(
            "likelihood", mu, sd, observed=X, total_size=len(data)
        )  # data.shape fails in PyMC 6 (IndexError)
    return model


def _fewer(n_run, n_seed, what="iterations"):
    return "" if n_run >= n_seed else f"PyMC ran {n_run:,} of the seed's {n_seed:,} {what}"


def _fit(wid, args, build, n, note="", **kwargs):
    reps = []
    for _ in h.repeat(args):
        model = build()
        clock = h.Clock()
        with model:
            start, total, approx = h.timed(lambda: pm.fit(n, random_seed=h.SEED, callbacks=[clock], **kwargs))
        reps.append({"total": total, "ttfi": clock.first - start, "check": h.loss_window(approx.hist)})
    return h.summarise(LIBRARY, wid, reps, n, "it", "in-call", note=note, version=pm.__version__)


def advi(method, progressbar, wid):
    def run(args):
        n = h.scaled(h.ADVI_N, args.scale)
        return _fit(wid, args, mixture_model, n, method=method, progressbar=progressbar)

    return run


def svgd(args):
    n = h.scaled(SVGD_N, args.scale)
    return _fit(
        "svgd",
        args,
        mixture_model,
        n,
        note=_fewer(n, h.SVGD_N),
        method="svgd",
        inf_kwargs=dict(n_particles=h.SVGD_PARTICLES),
        obj_optimizer=pm.sgd(learning_rate=h.SVGD_LR),
        progressbar=True,
    )


def iris(args):
    n = h.scaled(IRIS_N, args.scale)
    X_train, _, y_train, _ = iris_split()
    reps = []
    for _ in h.repeat(args):
        with pm.Model():
            beta = pm.Normal("β", 0, sigma=1e2, shape=(4, 3))
            a = pm.Flat("a", shape=(3,))
            p = pm.math.softmax(pm.math.dot(X_train, beta) + a, axis=-1)
            pm.Categorical("obs", p=p, observed=y_train)
            inference = pm.SVGD(n_particles=h.IRIS_PARTICLES, jitter=1, random_seed=h.SEED)
            clock = h.Clock()
            start, total, approx = h.timed(
                lambda: inference.fit(n, obj_optimizer=pm.adamax(learning_rate=h.IRIS_LR), callbacks=[clock])
            )
        reps.append({"total": total, "ttfi": clock.first - start, "check": h.loss_window(approx.hist)})
    return h.summarise(
        LIBRARY, "iris_svgd", reps, n, "it", "in-call", note=_fewer(n, h.IRIS_N), version=pm.__version__
    )


def minibatch(progressbar, wid):
    def run(args):
        n = h.scaled(MINIBATCH_N, args.scale)
        return _fit(
            wid,
            args,
            minibatch_model,
            n,
            note=_fewer(n, h.MINIBATCH_N),
            method="advi",
            progressbar=progressbar,
        )

    return run


def nuts(progressbar, wid):
    def run(args):
        draws = h.scaled(NUTS_DRAWS, args.scale)
        n = h.NUTS_CHAINS * (draws + h.NUTS_TUNE)
        reps = []
        for _ in h.repeat(args):
            model = mixture_model()
            clock = h.Clock()
            with model:
                start, total, trace = h.timed(
                    lambda: pm.sample(
                        draws,
                        tune=h.NUTS_TUNE,
                        chains=h.NUTS_CHAINS,
                        cores=h.NUTS_CHAINS,
                        random_seed=h.SEED,
                        progressbar=progressbar,
                        callback=clock,
                    )
                )
            x = np.asarray(trace.posterior["x"])
            reps.append({"total": total, "ttfi": clock.first - start, "check": float((x < 0).mean())})
        note = _fewer(draws, h.NUTS_DRAWS, "draws per chain")
        note = (note + "; " if note else "") + f"cores={h.NUTS_CHAINS} (one process per chain)"
        return h.summarise(
            LIBRARY,
            wid,
            reps,
            n,
            "draws",
            "in-call",
            note=note,
            check_name="P(x<0), exact 0.2",
            version=pm.__version__,
        )

    return run


WORKLOADS = {
    "advi_bar": advi("advi", True, "advi_bar"),
    "advi_nobar": advi("advi", False, "advi_nobar"),
    "fullrank_bar": advi("fullrank_advi", True, "fullrank_bar"),
    "fullrank_nobar": advi("fullrank_advi", False, "fullrank_nobar"),
    "svgd": svgd,
    "iris_svgd": iris,
    "minibatch_bar": minibatch(True, "minibatch_bar"),
    "minibatch_nobar": minibatch(False, "minibatch_nobar"),
    "nuts_bar": nuts(True, "nuts_bar"),
    "nuts_nobar": nuts(False, "nuts_nobar"),
}


if __name__ == "__main__":
    h.run_all(LIBRARY, pm.__version__, WORKLOADS, h.parse_args())
