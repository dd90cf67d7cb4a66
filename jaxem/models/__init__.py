"""Built-in models: ordinary :class:`jaxem.Model` and :class:`jaxem.MarkovModel` instances over
the families of :mod:`jaxem.families`."""

from jaxem.models import initialisation, specification
from jaxem.models.hmm import categorical_hmm, gaussian_hmm, poisson_hmm
from jaxem.models.initialisation import INIT_SCHEMES
from jaxem.models.mixtures import (
    bernoulli_mixture,
    categorical_mixture,
    gaussian_mixture,
    poisson_mixture,
)

__all__ = [
    "INIT_SCHEMES",
    "bernoulli_mixture",
    "categorical_hmm",
    "categorical_mixture",
    "gaussian_hmm",
    "gaussian_mixture",
    "initialisation",
    "poisson_hmm",
    "poisson_mixture",
    "specification",
]
