"""scikit-learn estimators for mixtures: Gaussian, Poisson, Bernoulli and categorical, over jaxem's engine.

The public names live here; each concept has its own module:

* :mod:`jaxem.estimators._mixture_base`: :class:`MixtureEstimator`, the
  base class (fitting with scikit-learn's iteration count, evaluation,
  sampling, criteria), :class:`ConvergenceWarning` and
  :class:`MixtureFitError`.
* :mod:`jaxem.estimators._mixture_checks`: the argument, starting-value
  and data checks, with scikit-learn's message phrases.
* :mod:`jaxem.estimators._gaussian_mixture`: :class:`GaussianMixture`.
* :mod:`jaxem.estimators._discrete_mixtures`: :class:`PoissonMixture`,
  :class:`BernoulliMixture` and :class:`CategoricalMixture`.

Each estimator is a thin object with scikit-learn's interface (constructor
arguments stored as given, validated in ``fit``; fitted attributes ending in
``_``) around one built-in :mod:`jaxem.models` mixture, fitted by one
:func:`jaxem.fit` with the ``n_init`` restarts as its vmapped restart axis.
Stopping follows scikit-learn's ``tol``: a restart stops when the mean
log-likelihood per sample changes by less than ``tol`` in one iteration.
"""

from jaxem.estimators._discrete_mixtures import BernoulliMixture, CategoricalMixture, PoissonMixture
from jaxem.estimators._gaussian_mixture import GaussianMixture
from jaxem.estimators._mixture_base import ConvergenceWarning, MixtureEstimator, MixtureFitError

__all__ = [
    "BernoulliMixture",
    "CategoricalMixture",
    "ConvergenceWarning",
    "GaussianMixture",
    "MixtureEstimator",
    "MixtureFitError",
    "PoissonMixture",
]
