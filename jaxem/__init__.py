"""jaxem: Expectation-Maximization from a user-written log joint, on JAX."""

from jaxem import constraints, datasets, models
from jaxem.decoding import sample_sequences, viterbi
from jaxem.diagnostics import ConvergenceWarning, DegenerateFitWarning, FailedRestartsWarning, FitError, FitWarning
from jaxem.fit import FitResult, Restarts, em_step, fit, log_likelihood, posterior
from jaxem.markov import MarkovModel
from jaxem.model import Model

__all__ = [
    "ConvergenceWarning",
    "DegenerateFitWarning",
    "FailedRestartsWarning",
    "FitError",
    "FitResult",
    "FitWarning",
    "MarkovModel",
    "Model",
    "Restarts",
    "constraints",
    "datasets",
    "em_step",
    "fit",
    "log_likelihood",
    "models",
    "posterior",
    "sample_sequences",
    "viterbi",
]
__version__ = "0.1.0"
