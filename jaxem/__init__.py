"""jaxem: Expectation-Maximization from a user-written log joint, on JAX."""

from jaxem import constraints
from jaxem import datasets, models
from jaxem.fit import FitError, FitResult, Restarts, em_step, fit, log_likelihood, posterior
from jaxem.model import Model

__all__ = [
    "FitError",
    "FitResult",
    "Model",
    "Restarts",
    "constraints",
    "datasets",
    "em_step",
    "fit",
    "log_likelihood",
    "models",
    "posterior",
]
__version__ = "0.1.0"
