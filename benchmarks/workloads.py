"""The seed's workloads on varbayes, one JSON line each (see :mod:`benchmarks.harness`).

Run: ``python -m benchmarks.workloads [--repeats 3] [--only advi_bar,...] [--scale 1]``
(``python -m benchmarks`` runs this and the peers' scripts and prints the table).

Time to first iteration is measured inside the call: the fit and sampling
loops report progress after every compiled chunk, and those reports give the
time of the first chunk and the per-iteration time of the following ones. When
a fit runs in a single chunk (SVGD's 300 or 400 iterations) the time of a
one-iteration fit on a fresh model is used instead.
"""

from __future__ import annotations

import time

import jax
import numpy as np

import varbayes as pm
from benchmarks import harness as h
from benchmarks import nuts as nuts_bench
from benchmarks.data import iris_split, minibatch_data

LIBRARY = "varbayes"


class ProgressProbe:
    """Record ``(time, iterations done)`` at each progress report of fit and sample.

    Wraps the progress classes the loops instantiate (a report is made after
    every compiled chunk whether or not the bar is shown); the computation is
    unchanged. If the loops are reorganised and the classes are not found, the
    probe records nothing and callers fall back to a separate short call.
    """

    def __enter__(self):
        self.updates: list[tuple[float, int]] = []
        self._saved = []
        targets = []
        try:
            from varbayes.variational.api import loop

            targets.append((loop, "FitProgress"))
        except ImportError:
            pass
        try:
            from varbayes.sampling import nuts

            targets.append((nuts, "ChunkProgress"))
        except ImportError:
            pass
        probe = self
        for module, name in targets:
            base = getattr(module, name, None)
            if not isinstance(base, type):
                continue

            class Recording(base):
                def update(self, completed, *args, **kwargs):
                    probe.updates.append((time.perf_counter(), int(completed)))
                    return super().update(completed, *args, **kwargs)

            setattr(module, name, Recording)
            self._saved.append((module, name, base))
        return self

    def __exit__(self, *exc):
        for module, name, base in self._saved:
            setattr(module, name, base)

    def ttfi(self, start: float) -> float | None:
        """Seconds from ``start`` to the end of the first iteration, or None if not measurable."""
        if len(self.updates) < 2:
            return None
        (t1, c1), (tl, cl) = self.updates[0], self.updates[-1]
        if cl <= c1 or c1 < 1:
            return None
        per_step = (tl - t1) / (cl - c1)
        return max((t1 - start) - (c1 - 1) * per_step, 0.0)


def mixture_model():
    with pm.Model() as model:
        pm.NormalMixture(
            "x", w=np.array(h.MIXTURE["w"]), mu=np.array(h.MIXTURE["mu"]), sigma=np.array(h.MIXTURE["sigma"])
        )
    return model


def iris_svgd():
    """The quickstart's multinomial logistic regression and its SVGD inference object."""
    X_train, _, y_train, _ = iris_split()
    with pm.Model() as model:
        beta = pm.Normal("β", 0, sigma=1e2, shape=(4, 3))
        a = pm.Flat("a", shape=(3,))
        p = pm.math.softmax(pm.math.dot(X_train, beta) + a, axis=-1)
        pm.Categorical("obs", p=p, observed=y_train)
        inference = pm.SVGD(n_particles=h.IRIS_PARTICLES, jitter=1, random_seed=h.SEED)
    return model, inference


def minibatch_model():
    data = minibatch_data()
    X = pm.Minibatch(data, batch_size=h.MINIBATCH_BATCH)  # NotImplementedError until Minibatch lands
    with pm.Model() as model:
        mu = pm.Flat("mu", shape=(h.MINIBATCH_COLS,))
        sd = pm.HalfNormal("sd", shape=(h.MINIBATCH_COLS,))
        pm.Normal("likelihood", mu, sd, observed=X, total_size=data.shape)
    return model


def _measure(make, n: int, args, n_short: int = 1):
    """Repeat a fit on fresh models; return ``(reps, ttfi_method, note)``.

    ``make(k)()`` builds a fresh model and returns a zero-argument call
    running ``k`` iterations (draws for NUTS). The time to
    first iteration comes from the call's progress reports; when the whole fit
    ran as one compiled chunk there is no report in between, and the
    repetitions are made with :func:`benchmarks.harness.separate_calls`.
    """
    reps = []
    for _ in h.repeat(args):
        call = make(n)()
        with ProgressProbe() as probe:
            start, total, result = h.timed(call, before=jax.clear_caches)
        ttfi = probe.ttfi(start)
        if ttfi is None:
            reps = h.separate_calls(lambda k: make(k)(), n, n_short, args, clear=jax.clear_caches)
            return reps, "separate calls (cold 1-iteration call; rate from warm calls)", h.rate_note(reps, n)
        reps.append({"total": total, "ttfi": ttfi, "result": result})
    return reps, "in-call", ""


def _vi(wid, args, build, n, fit_kwargs=dict):
    def make(iterations):
        def prepare():
            model = build()

            def call():
                with model:
                    return pm.fit(iterations, random_seed=h.SEED, **fit_kwargs())

            return call

        return prepare

    reps, method, note = _measure(make, n, args)
    for r in reps:
        r["check"] = h.loss_window(r.pop("result").hist)
    return h.summarise(LIBRARY, wid, reps, n, "it", method, note=note, version=pm.__version__)


def advi(progressbar):
    def run(args):
        n = h.scaled(h.ADVI_N, args.scale)
        wid = "advi_bar" if progressbar else "advi_nobar"
        return _vi(wid, args, mixture_model, n, lambda: dict(method="advi", progressbar=progressbar))

    return run


def fullrank(progressbar):
    def run(args):
        n = h.scaled(h.ADVI_N, args.scale)
        wid = "fullrank_bar" if progressbar else "fullrank_nobar"
        return _vi(wid, args, mixture_model, n, lambda: dict(method="fullrank_advi", progressbar=progressbar))

    return run


def svgd(args):
    n = h.scaled(h.SVGD_N, args.scale)
    kwargs = lambda: dict(
        method="svgd",
        inf_kwargs=dict(n_particles=h.SVGD_PARTICLES),
        obj_optimizer=pm.sgd(learning_rate=h.SVGD_LR),
        progressbar=True,
    )
    return _vi("svgd", args, mixture_model, n, kwargs)


def iris(args):
    n = h.scaled(h.IRIS_N, args.scale)

    def make(iterations):
        def prepare():
            model, inference = iris_svgd()

            def call():
                with model:
                    return inference.fit(iterations, obj_optimizer=pm.adamax(learning_rate=h.IRIS_LR))

            return call

        return prepare

    reps, method, note = _measure(make, n, args)
    for r in reps:
        r["check"] = h.loss_window(r.pop("result").hist)
    return h.summarise(LIBRARY, "iris_svgd", reps, n, "it", method, note=note, version=pm.__version__)


def minibatch(progressbar):
    def run(args):
        n = h.scaled(h.MINIBATCH_N, args.scale)
        wid = "minibatch_bar" if progressbar else "minibatch_nobar"
        return _vi(wid, args, minibatch_model, n, lambda: dict(method="advi", progressbar=progressbar))

    return run


def nuts(progressbar):
    def run(args):
        draws = h.scaled(h.NUTS_DRAWS, args.scale)
        n = h.NUTS_CHAINS * (draws + h.NUTS_TUNE)

        short = h.NUTS_CHAINS * 20  # 10 warmup + 10 draws per chain

        def make(total):
            d, tune = (10, 10) if total == short else (total // h.NUTS_CHAINS - h.NUTS_TUNE, h.NUTS_TUNE)

            def prepare():
                model = nuts_bench.mixture_model()
                return lambda: nuts_bench.timed(model, d, progressbar=progressbar, tune=tune)[1]

            return prepare

        reps, method, note = _measure(make, n, args, short)
        for r in reps:
            x = np.asarray(r.pop("result").posterior["x"])
            r["check"] = float((x < 0).mean())
        wid = "nuts_bar" if progressbar else "nuts_nobar"
        return h.summarise(
            LIBRARY,
            wid,
            reps,
            n,
            "draws",
            method,
            check_name="P(x<0), exact 0.2",
            note=note,
            version=pm.__version__,
        )

    return run


WORKLOADS = {
    "advi_bar": advi(True),
    "advi_nobar": advi(False),
    "fullrank_bar": fullrank(True),
    "fullrank_nobar": fullrank(False),
    "svgd": svgd,
    "iris_svgd": iris,
    "minibatch_bar": minibatch(True),
    "minibatch_nobar": minibatch(False),
    "nuts_bar": nuts(True),
    "nuts_nobar": nuts(False),
}


def main(argv=None):
    h.run_all(LIBRARY, pm.__version__, WORKLOADS, h.parse_args(argv))


if __name__ == "__main__":
    main()
