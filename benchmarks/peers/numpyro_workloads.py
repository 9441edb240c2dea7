"""The seed's workloads on NumPyro, one JSON line each.

Run with an interpreter that has NumPyro installed, from the repository root:
``/path/to/python benchmarks/peers/numpyro_workloads.py [--repeats 3] [--only ...]``.

ADVI is ``SVI`` with an ``AutoNormal`` guide (``AutoMultivariateNormal`` for
full rank), ``Trace_ELBO`` and Adam(0.01), run by ``svi.run``; SVGD is
``numpyro.contrib.einstein.SVGD`` with an RBF kernel; Minibatch is a
subsampling ``plate``; NUTS is ``MCMC(NUTS, num_chains=2,
chain_method='vectorized')``. Float64 throughout, as varbayes and PyMC.

``svi.run`` compiles and runs in one call without a hook between the two, so
time to first iteration is the wall time of the same call with one iteration
(NUTS: 10 warmup + 10 draws) on a fresh object, and the loop's rate comes
from the difference of a full and a short call (see
:func:`benchmarks.harness.separate_calls`).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
from numpyro.distributions import constraints
from numpyro.infer import MCMC, NUTS, SVI, Trace_ELBO
from numpyro.infer.autoguide import AutoMultivariateNormal, AutoNormal

from benchmarks import harness as h
from benchmarks.data import iris_split, minibatch_data

numpyro.enable_x64()

LIBRARY = "NumPyro"

# Fewer iterations where the seed's would take minutes: with the progress bar
# svi.run steps from Python (~300 it/s); subsampling draws a permutation of the
# 40,000 rows every step; einstein's SVGD runs a few iterations per second.
BAR_N = 2_000
MINIBATCH_N = 2_000
SVGD_N = 30
IRIS_N = 40


def mixture_model():
    w, mu, sigma = (jnp.array(h.MIXTURE[k]) for k in ("w", "mu", "sigma"))
    numpyro.sample("x", dist.MixtureSameFamily(dist.Categorical(probs=w), dist.Normal(mu, sigma)))


def iris_model(X, y):
    beta = numpyro.sample("beta", dist.Normal(0.0, 100.0).expand([4, 3]).to_event(2))
    # pm.Flat in the seed; SteinVI.init draws from the prior, which a flat prior cannot do
    a = numpyro.sample("a", dist.Normal(0.0, 1e4).expand([3]).to_event(1))
    numpyro.sample("obs", dist.Categorical(logits=X @ beta + a), obs=y)


def minibatch_model(data):
    mu = numpyro.sample("mu", dist.ImproperUniform(constraints.real, (), (h.MINIBATCH_COLS,)))
    sd = numpyro.sample("sd", dist.HalfNormal(1.0).expand([h.MINIBATCH_COLS]).to_event(1))
    with numpyro.plate("rows", data.shape[0], subsample_size=h.MINIBATCH_BATCH):
        batch = numpyro.subsample(data, event_dim=1)
        numpyro.sample("likelihood", dist.Normal(mu, sd).to_event(1), obs=batch)


SEPARATE = "separate calls (cold 1-iteration call; rate from warm calls)"


def _svi(wid, args, n, guide_cls, model, model_args=(), progress_bar=True, note=""):
    def make_call(steps):
        svi = SVI(model, guide_cls(model), numpyro.optim.Adam(0.01), Trace_ELBO())

        def call():
            result = svi.run(jax.random.key(h.SEED), steps, *model_args, progress_bar=progress_bar)
            return jax.block_until_ready(result)

        return call

    reps = h.separate_calls(make_call, n, 1, args, clear=jax.clear_caches)
    for r in reps:
        r["check"] = h.loss_window(r.pop("result").losses)
    note = h.join(note, h.rate_note(reps, n))
    return h.summarise(LIBRARY, wid, reps, n, "it", SEPARATE, note=note, version=numpyro.__version__)


def _fewer(n, n_seed):
    return "" if n >= n_seed else f"NumPyro ran {n:,} of the seed's {n_seed:,} iterations"


def advi(guide_cls, progress_bar, wid):
    def run(args):
        n = h.scaled(BAR_N if progress_bar else h.ADVI_N, args.scale)
        return _svi(
            wid, args, n, guide_cls, mixture_model, progress_bar=progress_bar, note=_fewer(n, h.ADVI_N)
        )

    return run


def minibatch(progress_bar, wid):
    def run(args):
        n = h.scaled(MINIBATCH_N, args.scale)
        data = jnp.asarray(minibatch_data())
        return _svi(
            wid,
            args,
            n,
            AutoNormal,
            minibatch_model,
            (data,),
            progress_bar=progress_bar,
            note=_fewer(n, h.MINIBATCH_N),
        )

    return run


def _stein(wid, args, n, model, model_args, optimizer, particles, note="", guide_kwargs=None):
    try:
        from numpyro.contrib.einstein import SVGD, RBFKernel
    except ImportError as exc:
        raise NotImplementedError(f"numpyro.contrib.einstein is not available ({exc})") from None

    def make_call(steps):
        stein = SVGD(
            model, optimizer(), RBFKernel(), num_stein_particles=particles, guide_kwargs=guide_kwargs or {}
        )

        def call():
            return jax.block_until_ready(
                stein.run(jax.random.key(h.SEED), steps, *model_args, progress_bar=True)
            )

        return call

    reps = h.separate_calls(make_call, n, 1, args, clear=jax.clear_caches)
    for r in reps:
        r["check"] = h.loss_window(r.pop("result").losses)
    return h.summarise(
        LIBRARY,
        wid,
        reps,
        n,
        "it",
        SEPARATE,
        note=h.join("numpyro.contrib.einstein.SVGD, RBF kernel", note, h.rate_note(reps, n)),
        version=numpyro.__version__,
    )


def svgd(args):
    n = h.scaled(SVGD_N, args.scale)
    return _stein(
        "svgd",
        args,
        n,
        mixture_model,
        (),
        lambda: numpyro.optim.SGD(h.SVGD_LR),
        h.SVGD_PARTICLES,
        note=_fewer(n, h.SVGD_N),
    )


def iris(args):
    import optax
    from numpyro.optim import optax_to_numpyro

    n = h.scaled(IRIS_N, args.scale)
    X_train, _, y_train, _ = iris_split()
    return _stein(
        "iris_svgd",
        args,
        n,
        iris_model,
        (jnp.asarray(X_train), jnp.asarray(y_train)),
        lambda: optax_to_numpyro(optax.adamax(h.IRIS_LR)),
        h.IRIS_PARTICLES,
        note=h.join(
            "intercepts ~ Normal(0, 1e4) instead of Flat (einstein initialises from the prior)",
            _fewer(n, h.IRIS_N),
        ),
    )


def nuts(progress_bar, wid):
    def run(args):
        draws = h.scaled(h.NUTS_DRAWS, args.scale)
        n = h.NUTS_CHAINS * (draws + h.NUTS_TUNE)

        short = h.NUTS_CHAINS * 20

        def make_call(size):
            warmup, samples = (
                (10, 10) if size == short else (h.NUTS_TUNE, size // h.NUTS_CHAINS - h.NUTS_TUNE)
            )
            mcmc = MCMC(
                NUTS(mixture_model),
                num_warmup=warmup,
                num_samples=samples,
                num_chains=h.NUTS_CHAINS,
                chain_method="vectorized",
                progress_bar=progress_bar,
            )

            def call():
                mcmc.run(jax.random.key(h.SEED))
                return jax.block_until_ready(mcmc.get_samples()["x"])

            return call

        reps = h.separate_calls(make_call, n, short, args, clear=jax.clear_caches)
        for r in reps:
            r["check"] = float((r.pop("result") < 0).mean())
        return h.summarise(
            LIBRARY,
            wid,
            reps,
            n,
            "draws",
            "separate calls (cold 10 warmup + 10 draws call; rate from warm calls)",
            check_name="P(x<0), exact 0.2",
            note=h.rate_note(reps, n),
            version=numpyro.__version__,
        )

    return run


WORKLOADS = {
    "advi_bar": advi(AutoNormal, True, "advi_bar"),
    "advi_nobar": advi(AutoNormal, False, "advi_nobar"),
    "fullrank_bar": advi(AutoMultivariateNormal, True, "fullrank_bar"),
    "fullrank_nobar": advi(AutoMultivariateNormal, False, "fullrank_nobar"),
    "svgd": svgd,
    "iris_svgd": iris,
    "minibatch_bar": minibatch(True, "minibatch_bar"),
    "minibatch_nobar": minibatch(False, "minibatch_nobar"),
    "nuts_bar": nuts(True, "nuts_bar"),
    "nuts_nobar": nuts(False, "nuts_nobar"),
}


if __name__ == "__main__":
    h.run_all(LIBRARY, numpyro.__version__, WORKLOADS, h.parse_args())
