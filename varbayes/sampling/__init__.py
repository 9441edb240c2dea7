"""MCMC (NUTS), prior and posterior predictive sampling, and MAP estimates."""

from varbayes.sampling.log_likelihood import compute_log_likelihood
from varbayes.sampling.map import find_MAP
from varbayes.sampling.nuts import sample
from varbayes.sampling.predictive import sample_posterior_predictive, sample_prior_predictive

__all__ = ["sample", "sample_prior_predictive", "sample_posterior_predictive", "find_MAP", "compute_log_likelihood"]
