"""Pure-JAX variational inference: families, objectives, steps and the compiled loop.

Nothing here imports PyTensor: functions take a JAX ``logdensity_fn(x, data)``.
"""

from varbayes.variational.core.driver import ChunkResult, build_chunk
from varbayes.variational.core.families import Family, full_rank, low_rank, mean_field, particles
from varbayes.variational.core.objectives import negative_elbo, rbf_kernel, stein_direction
from varbayes.variational.core.step import VIState, asvgd_step, elbo_step, init_state, svgd_step

__all__ = [
    "ChunkResult",
    "build_chunk",
    "Family",
    "full_rank",
    "low_rank",
    "mean_field",
    "particles",
    "negative_elbo",
    "rbf_kernel",
    "stein_direction",
    "VIState",
    "asvgd_step",
    "elbo_step",
    "init_state",
    "svgd_step",
]
