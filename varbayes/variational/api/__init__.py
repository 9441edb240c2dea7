"""The seed's objects: fit, inference classes, approximations, callbacks, optimizers."""

from varbayes.variational.api import callbacks
from varbayes.variational.api.approximations import Approximation, Empirical, FullRank, LowRank, MeanField
from varbayes.variational.api.checkpoint import load_approximation
from varbayes.variational.api.inference import Inference
from varbayes.variational.api.methods import ADVI, ASVGD, SVGD, FullRankADVI, KLqp
from varbayes.variational.api.fitting import fit
from varbayes.variational.api.flows import NFVI, NormalizingFlow, flow_adam
from varbayes.variational.api.pathfinder import Pathfinder, PathfinderApproximation
from varbayes.variational.api.optimizers import (
    adadelta,
    adagrad,
    adagrad_window,
    adam,
    adamax,
    momentum,
    nesterov_momentum,
    rmsprop,
    sgd,
)

__all__ = [
    "callbacks",
    "Approximation",
    "Empirical",
    "FullRank",
    "LowRank",
    "MeanField",
    "ADVI",
    "ASVGD",
    "SVGD",
    "FullRankADVI",
    "Inference",
    "KLqp",
    "fit",
    "NFVI",
    "NormalizingFlow",
    "flow_adam",
    "load_approximation",
    "Pathfinder",
    "PathfinderApproximation",
    "adadelta",
    "adagrad",
    "adagrad_window",
    "adam",
    "adamax",
    "momentum",
    "nesterov_momentum",
    "rmsprop",
    "sgd",
]
