"""Estimators with scikit-learn's and hmmlearn's interfaces over jaxem's engine.

``GaussianMixture``, ``PoissonMixture``, ``BernoulliMixture`` and
``CategoricalMixture`` follow ``sklearn.mixture.GaussianMixture``;
``GaussianHMM``, ``PoissonHMM`` and ``CategoricalHMM`` follow hmmlearn. Each
is a thin layer: it builds a built-in jaxem model from its settings (equal
settings give equal models, so refits reuse the compiled program), calls
:func:`jaxem.fit` with ``n_init`` restarts vmapped, and reads the answers
back with :func:`jaxem.criteria`, :func:`jaxem.log_likelihoods`,
:func:`jaxem.posterior`, :func:`jaxem.predict` and :func:`jaxem.sample`.
"""

from jaxem.estimators.hmm import CategoricalHMM, ConvergenceMonitor, GaussianHMM, PoissonHMM

__all__ = ["CategoricalHMM", "ConvergenceMonitor", "GaussianHMM", "PoissonHMM"]
