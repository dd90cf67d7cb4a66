"""``PoissonMixture``, ``BernoulliMixture`` and ``CategoricalMixture``: discrete mixtures with
scikit-learn's mixture interface.

Each is a :class:`~jaxem.estimators._mixture_base.MixtureEstimator` over one
built-in :mod:`jaxem.models` mixture whose components are independent
across features: Poisson counts (``rates_``), Bernoulli bits (``probs_``)
or categorical symbols (``probs_`` over ``n_categories_`` categories). They
share the base's fitting, evaluation and sampling; here are their data
checks, starting values and attributes. Their attributes are in JAX's
default float (their input is integer-coded, so there is no input float
dtype to follow).
"""

from __future__ import annotations

import math
import numbers

import jax.numpy as jnp
import numpy as np
from sklearn.utils.validation import validate_data

import jaxem
from jaxem.estimators._mixture_base import INIT_SCHEMES, MixtureEstimator, default_float
from jaxem.estimators._mixture_checks import check_int, check_integral, given_array, negative_values_error

__all__ = ["BernoulliMixture", "CategoricalMixture", "PoissonMixture"]


class _DiscreteMixture(MixtureEstimator):
    """The discrete estimators' shared parts: input tags, argument checks, the components' array."""

    _parameter = ""  # the family's parameter in jaxem, and (with "_") its attribute: "rates" or "probs"
    _factory = None  # the jaxem.models factory of the mixture

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        tags.input_tags.categorical = True  # integer-coded input: scikit-learn's checks then feed integers
        return tags

    def _check_arguments(self):
        pass

    def _given_starts(self, data):
        given = self._weights_start()
        value = getattr(self, f"{self._parameter}_init")
        if value is not None:
            given[self._parameter] = self._check_component_start(value, data)
        return given

    def _attribute_dtype(self, X):
        del X
        return np.dtype(default_float())

    def _store(self, params, dtype):
        self.weights_ = np.asarray(params["weights"], dtype)
        setattr(self, f"{self._parameter}_", np.asarray(params[self._parameter], dtype))

    def _params(self):
        dtype = default_float()
        component = getattr(self, f"{self._parameter}_")
        return {"weights": jnp.asarray(self.weights_, dtype), self._parameter: jnp.asarray(component, dtype)}

    def _sample_output(self, observations):
        return observations.astype(np.int64)

    def _model(self, data, continuing):
        del data, continuing
        return self._factory(self.n_components, init=INIT_SCHEMES[self.init_params])


_DISCRETE_ARGUMENTS = """
      n_components: number of components K.
      tol: stop when the mean log-likelihood per sample changes by less than this in an iteration.
      max_iter: EM iterations per restart, counted as scikit-learn counts them (0: the starting values).
      n_init: restarts, run at once (vmapped) in one :func:`jaxem.fit`; the best is kept.
      init_params: ``"k-means++"`` (default), ``"kmeans"``, ``"random"`` or ``"random_from_data"``,
        as for :class:`GaussianMixture` (seeding distances on the samples as vectors); the
        starting responsibilities are mixed with uniform ones (weight 0.1) so no starting
        probability is exactly 0 or 1.
      weights_init: starting weights (K,), replacing every restart's."""

_COMMON_TAIL = """
      random_state: None, an int, or a NumPy ``RandomState``/``Generator``.
      warm_start: a second ``fit`` continues from the previous parameters (one restart).
      verbose: > 0 prints jaxem's progress lines to stderr.
      verbose_interval: accepted and checked for compatibility (jaxem throttles by wall time)."""


def _shared_arguments(estimator_class):
    """Writes the arguments every discrete estimator shares into its docstring."""
    doc = estimator_class.__doc__.replace("{discrete}", _DISCRETE_ARGUMENTS)
    estimator_class.__doc__ = doc.replace("{tail}", _COMMON_TAIL)
    return estimator_class


@_shared_arguments
class PoissonMixture(_DiscreteMixture):
    """A mixture of independent Poisson counts, with scikit-learn's mixture interface.

    .. math::
        p(x) = \\sum_k \\pi_k \\prod_d \\frac{\\lambda_{kd}^{x_d} e^{-\\lambda_{kd}}}{x_d!}

    Args:{discrete}
      rates_init: starting rates (K, n_features), positive, replacing every restart's.{tail}

    Data: ``X`` (n_samples, n_features) of non-negative integer counts, in any
    numeric dtype; other values raise ``ValueError`` (negative ones with
    scikit-learn's "Negative values in data" wording).

    Attributes:
      weights_ (K,), rates_ (K, n_features), converged_, n_iter_, lower_bound_, lower_bounds_,
      n_features_in_: as for :class:`GaussianMixture`.
    """

    _parameter = "rates"
    _factory = staticmethod(jaxem.models.poisson_mixture)
    _parameter_names = ("weights", "rates")

    def __init__(
        self,
        n_components=1,
        *,
        tol=1e-3,
        max_iter=100,
        n_init=1,
        init_params="k-means++",
        weights_init=None,
        rates_init=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
    ):
        self.n_components = n_components
        self.tol = tol
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.rates_init = rates_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval

    def _check_X(self, X, reset, fitting):
        X = validate_data(
            self, X, dtype="numeric", reset=reset, ensure_min_samples=self._fit_min_samples if fitting else 1
        )
        check_integral(X, type(self).__name__, "non-negative integer counts")
        return X

    def _check_component_start(self, value, data):
        shape = (self.n_components, data.shape[1])
        rates = given_array(value, "rates_init", shape, "one rate per component and feature", "rates")
        if np.any(rates <= 0):
            raise ValueError(f"rates_init must be positive; got minimum {rates.min()!r}.")
        return rates


@_shared_arguments
class BernoulliMixture(_DiscreteMixture):
    """A mixture of independent Bernoulli features, with scikit-learn's mixture interface.

    .. math::
        p(x) = \\sum_k \\pi_k \\prod_d p_{kd}^{x_d} (1 - p_{kd})^{1 - x_d}

    Args:{discrete}
      probs_init: starting probabilities (K, n_features) in [0, 1], replacing every restart's.
      binarize: None (default): ``X`` must be binary (bool, or numbers equal to 0 or 1), anything
        else raises ``ValueError``; a float: every entry greater than it counts as 1, the others
        as 0 (scikit-learn's ``BernoulliNB(binarize=...)``), applied in ``fit`` and every
        method.{tail}

    Attributes:
      weights_ (K,), probs_ (K, n_features), converged_, n_iter_, lower_bound_, lower_bounds_,
      n_features_in_: as for :class:`GaussianMixture`.
    """

    _parameter = "probs"
    _factory = staticmethod(jaxem.models.bernoulli_mixture)
    _parameter_names = ("weights", "probs")

    def __init__(
        self,
        n_components=1,
        *,
        tol=1e-3,
        max_iter=100,
        n_init=1,
        init_params="k-means++",
        weights_init=None,
        probs_init=None,
        binarize=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
    ):
        self.n_components = n_components
        self.tol = tol
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.probs_init = probs_init
        self.binarize = binarize
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        if self.binarize is not None:  # any real input is thresholded
            tags.input_tags.positive_only = False
            tags.input_tags.categorical = False
        return tags

    def _check_arguments(self):
        if self.binarize is not None:
            real = isinstance(self.binarize, numbers.Real) and not isinstance(self.binarize, (bool, np.bool_))
            if not real or not math.isfinite(self.binarize):
                raise ValueError(f"binarize must be None or a finite float threshold; got {self.binarize!r}.")

    def _check_X(self, X, reset, fitting):
        X = validate_data(
            self, X, dtype="numeric", reset=reset, ensure_min_samples=self._fit_min_samples if fitting else 1
        )
        if self.binarize is not None:
            return (X > self.binarize).astype(np.int64)
        owner = type(self).__name__
        expected = "binary values (bool, or 0 and 1; or set binarize=threshold)"
        negative_values_error(X, owner, expected)
        other = (X != 0) & (X != 1)
        if np.any(other):
            raise ValueError(
                f"X must hold {expected} for {owner}; got {int(other.sum())} other value(s), e.g. {X[other][0].item()!r}."
            )
        return X

    def _check_component_start(self, value, data):
        shape = (self.n_components, data.shape[1])
        probs = given_array(value, "probs_init", shape, "one probability per component and feature", "probs")
        if np.any(probs < 0) or np.any(probs > 1):
            raise ValueError(f"probs_init must lie in [0, 1]; got range [{probs.min()!r}, {probs.max()!r}].")
        return probs


@_shared_arguments
class CategoricalMixture(_DiscreteMixture):
    """A mixture of independent categorical features, with scikit-learn's mixture interface.

    .. math::
        p(x) = \\sum_k \\pi_k \\prod_d p_{k, d, x_d}

    Args:{discrete}
      probs_init: starting probabilities (K, n_features, C), each row on the simplex, replacing
        every restart's.
      n_categories: C, the number of categories of every feature (symbols ``0 .. C - 1``); None
        (default): inferred in ``fit`` as the largest symbol in ``X`` plus one (or ``probs_init``'s
        last axis if larger; with ``warm_start`` the previous fit's), like scikit-learn's
        ``CategoricalNB``, but one C shared by all features.{tail}

    Data: ``X`` (n_samples, n_features) of non-negative integer symbols, in
    any numeric dtype; other values, and in ``predict`` and the other methods
    symbols ``>= n_categories_``, raise ``ValueError``.

    Attributes:
      weights_ (K,), probs_ (K, n_features, n_categories_), n_categories_, converged_, n_iter_,
      lower_bound_, lower_bounds_, n_features_in_: as for :class:`GaussianMixture`.
    """

    _parameter = "probs"
    _parameter_names = ("weights", "probs")

    def __init__(
        self,
        n_components=1,
        *,
        tol=1e-3,
        max_iter=100,
        n_init=1,
        init_params="k-means++",
        weights_init=None,
        probs_init=None,
        n_categories=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
    ):
        self.n_components = n_components
        self.tol = tol
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.probs_init = probs_init
        self.n_categories = n_categories
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval

    def _check_arguments(self):
        if self.n_categories is not None:
            check_int(self.n_categories, "n_categories", 1)

    def _check_X(self, X, reset, fitting):
        X = validate_data(
            self, X, dtype="numeric", reset=reset, ensure_min_samples=self._fit_min_samples if fitting else 1
        )
        owner = type(self).__name__
        check_integral(X, owner, "non-negative integer symbols (categories 0, 1, ...)")
        if not fitting and X.size and X.max() >= self.n_categories_:
            raise ValueError(
                f"X must hold symbols in [0, n_categories_={self.n_categories_}), the categories seen in fit; "
                f"got symbol {X.max().item()!r}."
            )
        return X

    def _engine_data(self, X):
        return jnp.asarray(X, jnp.int32)

    def _num_categories(self, data, continuing) -> int:
        largest = int(np.max(np.asarray(data))) + 1
        if self.n_categories is not None:
            count = int(self.n_categories)
            source = "n_categories"
        elif continuing:
            count = self.n_categories_
            source = "n_categories_ of the previous fit, which warm_start continues"
        else:
            shape = np.shape(self.probs_init)  # () when None; a wrong shape is refused with probs_init's checks
            count = max(largest, shape[-1]) if len(shape) == 3 else largest
            source = None
        if largest > count:
            raise ValueError(f"X must hold symbols in [0, {count}) ({source}); got symbol {largest - 1}.")
        return count

    def _model(self, data, continuing):
        count = self._num_categories(data, continuing)
        return jaxem.models.categorical_mixture(self.n_components, count, init=INIT_SCHEMES[self.init_params])

    def _check_component_start(self, value, data):
        count = self._num_categories(data, False)
        shape = (self.n_components, data.shape[1], count)
        meaning = "one distribution over categories per component and feature"
        probs = given_array(value, "probs_init", shape, meaning, "probs")
        if np.any(probs < 0) or np.any(np.abs(probs.sum(-1) - 1) > 1e-8):
            raise ValueError(
                f"probs_init must hold probability vectors along its last axis (non-negative, summing to 1); got "
                f"minimum {probs.min()!r} and sums in [{probs.sum(-1).min()!r}, {probs.sum(-1).max()!r}]."
            )
        return probs

    def _store(self, params, dtype):
        super()._store(params, dtype)
        self.n_categories_ = int(params["probs"].shape[-1])
