"""One varbayes fit of :mod:`benchmarks.time_to_answer`: ``pm.fit(n=None)`` on one model, method and seed.

Run: ``python -m benchmarks.time_to_answer_varbayes --model NAME --method advi --seed 1``
(``python -m benchmarks.time_to_answer`` runs it once per model, method and
seed, each time in a fresh process). Prints one JSON line: the whole-call
time of ``pm.fit`` (compilation included, model building excluded),
``approx.convergence`` (reason, iterations, seconds), the import time of
varbayes and the accuracy of ``approx.sample(4000)`` against the reference.
The driver chooses the compilation cache through ``VARBAYES_CACHE_DIR`` (an
empty folder for a cold run, one a previous run filled for a warm run).
"""

from __future__ import annotations

import sys
import time

from benchmarks import accuracy_data
from benchmarks import time_to_answer as tta

_t0 = time.perf_counter()
import varbayes as pm

IMPORT_SECONDS = time.perf_counter() - _t0

from benchmarks import accuracy_models as am

LIBRARY = "varbayes"


def work(args) -> dict:
    model = am.MODELS[args.model]()
    start = time.perf_counter()
    with model:
        approx = pm.fit(n=None, method=args.method, random_seed=args.seed, progressbar=False)
    fit_seconds = time.perf_counter() - start
    conv = approx.convergence
    names = accuracy_data.COMPARED[args.model]
    draws = am.flat_draws(approx.sample(tta.DRAWS, random_seed=args.seed).posterior, names)
    verdict = tta.judge(args.model, args.method, draws)
    cache_dir = getattr(pm.config, "compilation_cache_dir", lambda: None)()
    return {
        "import_seconds": IMPORT_SECONDS,
        "compilation_cache": None if cache_dir is None else str(cache_dir),
        "fit_seconds": fit_seconds,
        "convergence_seconds": conv.seconds,
        "reason": conv.reason,
        "iterations": conv.iterations,
        "search_iterations": conv.search_iterations,
        "step_sizes": list(conv.step_sizes),
        "rhat": conv.rhat,
        "mcse": conv.mcse,
        **verdict,
    }


if __name__ == "__main__":
    args = tta.worker_parser(__doc__.splitlines()[0], peer=False).parse_args()
    sys.exit(tta.worker_main(LIBRARY, lambda: pm.__version__, work, args))
