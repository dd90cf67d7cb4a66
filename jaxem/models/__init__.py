"""Built-in models: ordinary :class:`jaxem.Model` instances with registered closed-form updates."""

from jaxem.models import gaussian
from jaxem.models.mixtures import (
    INIT_SCHEMES,
    bernoulli_mixture,
    categorical_mixture,
    gaussian_mixture,
    poisson_mixture,
)

__all__ = [
    "INIT_SCHEMES",
    "bernoulli_mixture",
    "categorical_mixture",
    "gaussian",
    "gaussian_mixture",
    "poisson_mixture",
]
