"""Convergence warnings after sampling: R-hat, effective sample size, divergences."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

__all__ = ["check_convergence", "report_divergences"]

RHAT_MAX = 1.01
ESS_PER_CHAIN_MIN = 100


def check_convergence(trace, var_names: Sequence[str], stacklevel: int = 3) -> dict[str, dict[str, float]]:
    """Warn, naming the variables, when R-hat > 1.01 or bulk ESS per chain < 100.

    Returns the worst R-hat and smallest bulk ESS of each variable.

    Examples
    --------
    >>> import numpy as np
    >>> from varbayes.output import to_datatree
    >>> trace = to_datatree({"x": np.random.default_rng(0).normal(size=(2, 500))})
    >>> sorted(check_convergence(trace, ["x"])["x"])
    ['ess_bulk', 'rhat']
    """
    import arviz_stats

    var_names = [n for n in var_names if n in trace.posterior.data_vars]
    if not var_names:
        return {}
    n_chains = trace.posterior.sizes["chain"]
    ess = arviz_stats.ess(trace, var_names=var_names, method="bulk")
    rhat = arviz_stats.rhat(trace, var_names=var_names) if n_chains > 1 else None
    summary = {}
    for name in var_names:
        worst_rhat = float(np.nanmax(rhat[name].values)) if rhat is not None else float("nan")
        least_ess = float(np.nanmin(ess[name].values))
        summary[name] = {"rhat": worst_rhat, "ess_bulk": least_ess}
    high_rhat = [n for n, s in summary.items() if s["rhat"] > RHAT_MAX]
    low_ess = [n for n, s in summary.items() if s["ess_bulk"] < ESS_PER_CHAIN_MIN * n_chains]
    if high_rhat:
        shown = ", ".join(f"{n} ({summary[n]['rhat']:.3f})" for n in high_rhat)
        warnings.warn(
            f"The rhat statistic is larger than {RHAT_MAX} for some parameters: {shown}. "
            "The chains have not mixed; run longer or reparameterize.",
            UserWarning,
            stacklevel=stacklevel,
        )
    if low_ess:
        shown = ", ".join(f"{n} ({summary[n]['ess_bulk']:.0f})" for n in low_ess)
        warnings.warn(
            f"The bulk effective sample size per chain is smaller than {ESS_PER_CHAIN_MIN} "
            f"for some parameters: {shown}. More draws are needed for reliable estimates.",
            UserWarning,
            stacklevel=stacklevel,
        )
    return summary


def report_divergences(diverging: np.ndarray, target_accept: float, stacklevel: int = 3) -> int:
    """Warn with the number of divergent transitions after warmup; return it."""
    count = int(np.sum(diverging))
    if count:
        per_chain = ", ".join(str(int(c)) for c in np.sum(diverging, axis=1))
        warnings.warn(
            f"There were {count} divergences after tuning (per chain: {per_chain}). "
            f"Increase `target_accept` (now {target_accept}) or reparameterize.",
            UserWarning,
            stacklevel=stacklevel,
        )
    return count
