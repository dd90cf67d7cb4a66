"""jaxem: Expectation-Maximization from a user-written log joint, on JAX."""

from jaxem import accelerate, algorithm, chunks, constraints, datasets, families, models
from jaxem.accelerate import SquaremState, squarem
from jaxem.algorithm import EM, EMInfo, EMState, em
from jaxem.decoding import sample_sequences, viterbi
from jaxem.diagnostics import ConvergenceWarning, DegenerateFitWarning, FailedRestartsWarning, FitError, FitWarning
from jaxem.driver import FitResult, Restarts, fit
from jaxem.evaluation import em_step, log_likelihood, posterior
from jaxem.markov import MarkovModel, Sequences
from jaxem.model import Model

__all__ = [
    "EM",
    "ConvergenceWarning",
    "DegenerateFitWarning",
    "EMInfo",
    "EMState",
    "FailedRestartsWarning",
    "FitError",
    "FitResult",
    "FitWarning",
    "MarkovModel",
    "Model",
    "Restarts",
    "Sequences",
    "SquaremState",
    "accelerate",
    "algorithm",
    "chunks",
    "constraints",
    "datasets",
    "em",
    "em_step",
    "families",
    "fit",
    "log_likelihood",
    "models",
    "posterior",
    "sample_sequences",
    "squarem",
    "viterbi",
]
__version__ = "0.1.0"
