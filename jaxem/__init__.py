"""jaxem: Expectation-Maximization from a user-written log joint, on JAX."""

from jaxem import (
    accelerate,
    algorithm,
    chunks,
    constraints,
    datasets,
    families,
    inference,
    models,
    persistence,
    plots,
    selection,
)
from jaxem.accelerate import SquaremState, squarem
from jaxem.algorithm import EM, EMInfo, EMState, em
from jaxem.decoding import sample_sequences, viterbi
from jaxem.diagnostics import ConvergenceWarning, DegenerateFitWarning, FailedRestartsWarning, FitError, FitWarning
from jaxem.driver import FitResult, Restarts, fit, initial_params
from jaxem.evaluation import em_step, log_likelihood, log_likelihoods, posterior, predict
from jaxem.inference import IdentifiabilityWarning, Inference, standard_errors
from jaxem.markov import MarkovModel, Sequences
from jaxem.model import Model
from jaxem.persistence import Saved, load, save
from jaxem.sampling import Samples, sample
from jaxem.selection import Criteria, Selection, criteria, num_parameters, select

__all__ = [
    "EM",
    "ConvergenceWarning",
    "Criteria",
    "DegenerateFitWarning",
    "EMInfo",
    "EMState",
    "FailedRestartsWarning",
    "FitError",
    "FitResult",
    "FitWarning",
    "IdentifiabilityWarning",
    "Inference",
    "MarkovModel",
    "Model",
    "Restarts",
    "Samples",
    "Saved",
    "Selection",
    "Sequences",
    "SquaremState",
    "accelerate",
    "algorithm",
    "chunks",
    "constraints",
    "criteria",
    "datasets",
    "em",
    "em_step",
    "families",
    "fit",
    "inference",
    "initial_params",
    "load",
    "log_likelihood",
    "log_likelihoods",
    "models",
    "num_parameters",
    "persistence",
    "plots",
    "posterior",
    "predict",
    "sample",
    "sample_sequences",
    "save",
    "select",
    "selection",
    "squarem",
    "standard_errors",
    "viterbi",
]
__version__ = "0.1.0"
