"""jaxem: Expectation-Maximization from a user-written log joint, on JAX."""

from jaxem import constraints
from jaxem.fit import FitError, FitResult, Restarts, em_step, fit, log_likelihood, posterior
from jaxem.model import Model

__all__ = [
    "FitError",
    "FitResult",
    "Model",
    "Restarts",
    "constraints",
    "em_step",
    "fit",
    "log_likelihood",
    "posterior",
]
__version__ = "0.1.0"
