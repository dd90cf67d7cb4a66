"""Estimators with scikit-learn's and hmmlearn's interfaces over jaxem's engine.

``GaussianMixture``, ``PoissonMixture``, ``BernoulliMixture`` and
``CategoricalMixture`` follow ``sklearn.mixture.GaussianMixture`` and are
built on scikit-learn's base classes, so they need scikit-learn
(``pip install "jaxem[sklearn]"``); they are imported on first use, so
``import jaxem.estimators`` works without it. ``GaussianHMM``,
``PoissonHMM`` and ``CategoricalHMM`` follow hmmlearn and need nothing more.

Each is a thin layer: it builds a built-in jaxem model from its settings
(equal settings give equal models, so refits reuse the compiled program),
calls :func:`jaxem.fit` with ``n_init`` restarts vmapped, and reads the
answers back with :func:`jaxem.criteria`, :func:`jaxem.log_likelihoods`,
:func:`jaxem.posterior`, :func:`jaxem.predict` and :func:`jaxem.sample`.
"""

from jaxem.estimators.hmm import CategoricalHMM, ConvergenceMonitor, GaussianHMM, PoissonHMM

_MIXTURES = (
    "BernoulliMixture",
    "CategoricalMixture",
    "ConvergenceWarning",
    "GaussianMixture",
    "MixtureEstimator",
    "MixtureFitError",
    "PoissonMixture",
)

__all__ = [
    "BernoulliMixture",
    "CategoricalHMM",
    "CategoricalMixture",
    "ConvergenceMonitor",
    "ConvergenceWarning",
    "GaussianHMM",
    "GaussianMixture",
    "MixtureEstimator",
    "MixtureFitError",
    "PoissonHMM",
    "PoissonMixture",
]


def __getattr__(name):
    if name in _MIXTURES:
        try:
            from jaxem.estimators import mixture
        except ImportError as error:
            raise ImportError(
                f"jaxem.estimators.{name} is built on scikit-learn, which is not installed: "
                'pip install "jaxem[sklearn]"'
            ) from error
        return getattr(mixture, name)
    raise AttributeError(f"module 'jaxem.estimators' has no attribute {name!r}")
