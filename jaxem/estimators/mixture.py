"""scikit-learn estimators for mixtures: Gaussian, Poisson, Bernoulli and categorical, over jaxem's engine.

Each estimator is a thin object with scikit-learn's interface (constructor
arguments stored as given, validated in ``fit``; fitted attributes ending in
``_``) around one built-in :mod:`jaxem.models` mixture. One base class,
:class:`MixtureEstimator`, holds everything they share; a subclass says only
how its data are checked, which model its configuration builds, and how the
parameters map to attributes:

* ``fit`` checks the arguments and ``X``, builds the model from the
  configuration (models compare by value, so a refit with the same
  configuration and data shape reuses the compiled program), and runs one
  :func:`jaxem.fit` with the ``n_init`` restarts as its vmapped restart axis.
  Starting values given by the user (``weights_init``, ``means_init``, ...)
  replace those entries of jaxem's own starts; ``warm_start`` continues from
  the previous fit's parameters.
* ``predict``, ``predict_proba``, ``score_samples``, ``score``, ``bic``,
  ``aic``, ``icl`` and ``sample`` evaluate the model at the fitted
  attributes with :func:`jaxem.posterior`, :func:`jaxem.log_likelihoods`,
  :func:`jaxem.criteria` and :func:`jaxem.sample`, and return NumPy arrays.

Stopping follows scikit-learn's ``tol``: a restart stops when the mean
log-likelihood per sample changes by less than ``tol`` in one iteration
(jaxem's ``tol`` has that meaning). Computation is in JAX's default float
(float32, or float64 with ``jax_enable_x64``).
"""

from __future__ import annotations

import math
import numbers
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.exceptions import ConvergenceWarning as _SklearnConvergenceWarning
from sklearn.utils.validation import check_is_fitted, validate_data

import jaxem
from jaxem.estimators._common import key_from_random_state

__all__ = [
    "BernoulliMixture",
    "CategoricalMixture",
    "ConvergenceWarning",
    "GaussianMixture",
    "MixtureEstimator",
    "PoissonMixture",
]

# scikit-learn's init_params -> jaxem's init scheme (jaxem.models.initialisation).
INIT_SCHEMES = {
    "kmeans": "kmeans",
    "k-means++": "kmeans++",
    "random": "random_responsibilities",
    "random_from_data": "random_points",
}


class ConvergenceWarning(_SklearnConvergenceWarning, jaxem.ConvergenceWarning):
    """The best restart stopped at ``max_iter`` unconverged: both scikit-learn's and jaxem's
    ``ConvergenceWarning``, so a filter for either applies."""


# ---------------------------------------------------------------------------- argument checks
def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _check_int(value, name: str, minimum: int) -> int:
    if not _is_int(value) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}; got {value!r}.")
    return int(value)


def _check_non_negative(value, name: str) -> float:
    real = isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
    if not real or not 0 <= value < math.inf:
        raise ValueError(f"{name} must be a non-negative finite float; got {value!r}.")
    return float(value)


def _check_choice(value, name: str, choices) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}; got {value!r}.")
    return value


def _check_bool(value, name: str) -> bool:
    if type(value) not in (bool, np.bool_):
        raise ValueError(f"{name} must be True or False; got {value!r}.")
    return bool(value)


def _given_array(value, name: str, shape, meaning: str):
    """A user-given starting array: finite numbers of exactly ``shape`` (``meaning`` says what it holds)."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be an array of numbers of shape {shape} ({meaning}); got {value!r}.") from error
    if array.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)} ({meaning}); got shape {array.shape}.")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite; got {int(np.sum(~np.isfinite(array)))} NaN or infinite value(s).")
    return array


def _check_weights_init(value, num_components: int):
    """scikit-learn's rule: entries in [0, 1] summing to one (within 1e-8)."""
    weights = _given_array(value, "weights_init", (num_components,), "one weight per component")
    if np.any(weights < 0) or np.any(weights > 1):
        raise ValueError(f"weights_init must lie in [0, 1]; got range [{weights.min()!r}, {weights.max()!r}].")
    if abs(1.0 - weights.sum()) > 1e-8:
        raise ValueError(f"weights_init must sum to 1; got sum {weights.sum()!r}.")
    return weights


def _negative_values_error(X, owner: str, expected: str):
    """scikit-learn's wording for negative input ("Negative values in data passed to ..."), naming X."""
    negative = X < 0
    if np.any(negative):
        raise ValueError(
            f"Negative values in data passed to {owner}: X must hold {expected}; got {int(negative.sum())} "
            f"negative value(s), e.g. {X[negative][0].item()!r}."
        )


def _check_integral(X, owner: str, expected: str):
    """X holds non-negative integers (any numeric dtype), else ValueError naming X."""
    _negative_values_error(X, owner, expected)
    if np.issubdtype(X.dtype, np.floating):
        fractional = X != np.round(X)
        if np.any(fractional):
            raise ValueError(
                f"X must hold {expected} for {owner}; got {int(fractional.sum())} non-integer value(s), "
                f"e.g. {X[fractional][0].item()!r}."
            )


def _default_float():
    return jnp.result_type(float)


# ---------------------------------------------------------------------------- the shared programs
def _fit(model, data, options):
    """:func:`jaxem.fit`, with jaxem's ``ConvergenceWarning`` raised again as :class:`ConvergenceWarning`."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = jaxem.fit(model, data, **options)
    for warning in caught:
        if issubclass(warning.category, jaxem.ConvergenceWarning):
            warnings.warn(str(warning.message), ConvergenceWarning, stacklevel=3)
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    return result


# ---------------------------------------------------------------------------- the base class
class MixtureEstimator(DensityMixin, BaseEstimator):
    """What every mixture estimator shares: fitting, evaluation, sampling and criteria.

    A subclass defines ``__init__`` (storing its arguments, scikit-learn's
    rule), ``_parameter_names`` (the jaxem parameters), ``_check_arguments()``
    (its own constructor arguments), ``_check_X(X, reset, fitting)`` (``X``
    checked by scikit-learn's ``validate_data`` and the family's rules, in the
    engine's dtype), ``_model(data, continuing)`` (the jaxem model of the
    configuration), ``_given_starts(data)`` (user-given starting entries, as
    jaxem parameters), ``_store(params)`` / ``_params()`` (jaxem parameters to
    fitted attributes and back) and ``_sample_output(observations)``.
    """

    _fit_min_samples = 2  # scikit-learn's mixtures refuse a single sample

    # ------------------------------------------------------------------ fitting
    def _check_common_arguments(self):
        _check_int(self.n_components, "n_components", 1)
        _check_non_negative(self.tol, "tol")
        _check_int(self.max_iter, "max_iter", 0)
        _check_int(self.n_init, "n_init", 1)
        _check_choice(self.init_params, "init_params", INIT_SCHEMES)
        _check_bool(self.warm_start, "warm_start")
        if not isinstance(self.verbose, (bool, np.bool_)):
            _check_int(self.verbose, "verbose", 0)
        _check_int(self.verbose_interval, "verbose_interval", 1)

    def _starts(self, model, data, key):
        """``init_params`` for :func:`jaxem.fit`, or None to let it start from ``model.init``.

        Without user-given starting values: None. With all of them: that one
        start (``n_init`` equal starts would give equal fits). With some:
        jaxem's ``n_init`` starts (the same ones ``jaxem.fit`` would draw from
        ``key``) with the given entries put in place.
        """
        given = self._given_starts(data)
        if not given:
            return None
        if set(given) == set(self._parameter_names):
            return {name: jnp.asarray(value, _default_float()) for name, value in given.items()}
        starts = jaxem.initial_params(model, data, key=key, num_restarts=int(self.n_init))
        for name, value in given.items():
            value = jnp.asarray(value, starts[name].dtype)
            starts[name] = jnp.broadcast_to(value, starts[name].shape)
        return starts

    def fit(self, X, y=None):
        """Estimates the parameters by EM from ``n_init`` restarts (one vmapped :func:`jaxem.fit`)
        and keeps the restart of highest log-likelihood.

        With ``warm_start=True`` and a previous fit, one restart continues
        from the previous parameters (``n_init`` and the ``*_init``
        arguments are then ignored, as in scikit-learn).

        Args:
          X: array-like (n_samples, n_features).
          y: ignored.

        Returns:
          self.
        """
        del y
        self._check_common_arguments()
        self._check_arguments()
        continuing = bool(self.warm_start) and hasattr(self, "converged_")
        data = self._check_X(X, reset=not continuing, fitting=True)
        num_samples = data.shape[0]
        if num_samples < self.n_components:
            raise ValueError(
                f"X must have at least n_components={self.n_components} samples (one per component); "
                f"got n_samples={num_samples}."
            )
        model = self._model(data, continuing)
        key = key_from_random_state(self.random_state)
        options = {"key": key, "max_iter": int(self.max_iter), "tol": float(self.tol)}
        if continuing:
            options["init_params"] = self._params()
        else:
            starts = self._starts(model, data, key)
            if starts is None:
                options["num_restarts"] = int(self.n_init)
            else:
                options["init_params"] = starts
        if self.verbose:
            options["progress"] = True
        result = _fit(model, data, options)
        self._jaxem_model = model
        self._store(jax.tree.map(np.asarray, result.params))
        self.converged_ = bool(result.converged)
        self.n_iter_ = int(result.num_iterations)
        self.lower_bound_ = float(result.log_likelihood) / num_samples
        history = np.asarray(result.history, np.float64) / num_samples
        self.lower_bounds_ = [float(v) for v in history[1 : self.n_iter_ + 1]]
        return self

    def fit_predict(self, X, y=None):
        """``fit(X)``, then the labels of ``X`` under the fitted model.

        Returns:
          Component labels (n_samples,).
        """
        return self.fit(X, y).predict(X)

    # ------------------------------------------------------------------ evaluation
    def _evaluation(self, X):
        check_is_fitted(self)
        return self._jaxem_model, self._params(), self._check_X(X, reset=False, fitting=False)

    def predict(self, X):
        """The most probable component of each sample: (n_samples,) int64."""
        model, params, data = self._evaluation(X)
        return np.asarray(jaxem.predict(model, params, data)).astype(np.int64)

    def predict_proba(self, X):
        """Posterior probability of each component for each sample: (n_samples, n_components)."""
        model, params, data = self._evaluation(X)
        return np.asarray(jaxem.posterior(model, params, data))

    def score_samples(self, X):
        """``log p(x_i)`` of each sample under the fitted mixture: (n_samples,)."""
        model, params, data = self._evaluation(X)
        return np.asarray(jaxem.log_likelihoods(model, params, data))

    def score(self, X, y=None):
        """Mean log-likelihood per sample of ``X``: a float."""
        del y
        return float(np.mean(self.score_samples(X)))

    def _criteria(self, X):
        model, params, data = self._evaluation(X)
        return jaxem.criteria(model, params, data)

    def bic(self, X):
        """Bayesian information criterion ``-2 log L + p log n`` on ``X`` (lower is better); ``p``
        free parameters (:func:`jaxem.num_parameters`)."""
        return float(self._criteria(X).bic)

    def aic(self, X):
        """Akaike information criterion ``-2 log L + 2 p`` on ``X`` (lower is better)."""
        return float(self._criteria(X).aic)

    def icl(self, X):
        """Integrated completed likelihood, BIC plus twice the entropy of the MAP classification,
        ``BIC - 2 sum_i log max_k p(k | x_i)`` (lower is better; :func:`jaxem.criteria`)."""
        return float(self._criteria(X).icl)

    def sample(self, n_samples=1):
        """Draws ``n_samples`` samples and their components from the fitted mixture.

        The key comes from ``random_state`` (an int gives the same draw every
        call, as in scikit-learn). As in scikit-learn the samples come
        grouped by component, in order of component.

        Returns:
          ``(X, y)``: samples (n_samples, n_features) and their components (n_samples,) int64.
        """
        check_is_fitted(self)
        n_samples = _check_int(n_samples, "n_samples", 1)
        key = jax.random.fold_in(key_from_random_state(self.random_state), 1)  # not the fit's stream
        drawn = jaxem.sample(self._jaxem_model, self._params(), key, n_samples)
        labels = np.asarray(drawn.states).astype(np.int64)
        order = np.argsort(labels, kind="stable")
        return self._sample_output(np.asarray(drawn.observations)[order]), labels[order]

    # ------------------------------------------------------------------ shared pieces for subclasses
    def _weights_start(self):
        """``{"weights": weights_init}`` (checked) when given, else ``{}``: the start of ``_given_starts``."""
        if self.weights_init is None:
            return {}
        return {"weights": _check_weights_init(self.weights_init, self.n_components)}


# ---------------------------------------------------------------------------- Gaussian
def _covariances_from_precisions(precisions, covariance_type):
    if covariance_type in ("full", "tied"):
        covariances = np.linalg.inv(precisions)
        return 0.5 * (covariances + np.swapaxes(covariances, -1, -2))
    return 1.0 / precisions


def _precisions_cholesky(covariances, covariance_type):
    """scikit-learn's ``precisions_cholesky_``: upper-triangular ``U`` with ``precision = U U^T``
    (full, tied), or ``1 / sqrt(variance)`` (diag, spherical)."""
    if covariance_type not in ("full", "tied"):
        return 1.0 / np.sqrt(covariances)
    matrices = covariances[None] if covariance_type == "tied" else covariances
    eye = np.eye(matrices.shape[-1], dtype=matrices.dtype)
    factors = np.stack([scipy.linalg.solve_triangular(np.linalg.cholesky(c), eye, lower=True).T for c in matrices])
    return factors[0] if covariance_type == "tied" else factors


def _check_precisions_init(value, covariance_type, num_components, num_features):
    shape = jaxem.families.gaussian.covariances_shape(covariance_type, num_components, num_features)
    precisions = _given_array(value, "precisions_init", shape, f"the precisions of covariance_type={covariance_type!r}")
    if covariance_type in ("full", "tied"):
        matrices = precisions.reshape((-1, num_features, num_features))
        symmetric = np.allclose(matrices, np.swapaxes(matrices, -1, -2))
        if not symmetric or not np.all(np.linalg.eigvalsh(matrices) > 0):
            raise ValueError(
                f"precisions_init must hold symmetric positive-definite matrices for covariance_type="
                f"{covariance_type!r}; got smallest eigenvalue {np.linalg.eigvalsh(matrices).min()!r}"
                f"{'' if symmetric else ' and a non-symmetric matrix'}."
            )
    elif np.any(precisions <= 0):
        raise ValueError(f"precisions_init must be positive; got minimum {precisions.min()!r}.")
    return precisions


class GaussianMixture(MixtureEstimator):
    """A Gaussian mixture with scikit-learn's ``sklearn.mixture.GaussianMixture`` interface.

    .. math::
        p(x) = \\sum_k \\pi_k N(x \\mid \\mu_k, \\Sigma_k)

    fitted by EM with the closed-form M-step of
    :func:`jaxem.models.gaussian_mixture` (``reg_covar`` added to the
    covariance diagonal, as in scikit-learn).

    Args:
      n_components: number of components K.
      covariance_type: ``"full"`` (K, D, D), ``"tied"`` (D, D), ``"diag"`` (K, D) or ``"spherical"`` (K,).
      tol: stop when the mean log-likelihood per sample changes by less than this in an iteration.
      reg_covar: non-negative number added to the covariance diagonal.
      max_iter: EM iterations per restart (0: the starting values).
      n_init: restarts, run at once (vmapped) in one :func:`jaxem.fit`; the best is kept.
      init_params: ``"kmeans"`` (k-means labels, as scikit-learn), ``"k-means++"``, ``"random"``
        (random responsibilities) or ``"random_from_data"``; each followed by one M-step.
      weights_init, means_init, precisions_init: starting values (precisions in scikit-learn's
        shapes per ``covariance_type``), each replacing that entry of every restart's start; with
        all three given the fit starts from exactly them (one restart: ``n_init`` equal starts give
        equal fits).
      random_state: None, an int, or a NumPy ``RandomState``/``Generator``; seeds the restarts'
        JAX key (and ``sample``'s).
      warm_start: a second ``fit`` continues from the previous parameters (one restart).
      verbose: > 0 prints jaxem's progress lines to stderr (``jaxem.fit(progress=True)``).
      verbose_interval: accepted and checked for compatibility; jaxem's progress lines are
        throttled by wall time instead of counted in iterations.

    Attributes:
      weights_, means_, covariances_, precisions_, precisions_cholesky_: scikit-learn's names and
        shapes (``precisions_cholesky_`` upper triangular with ``precisions_ = U U^T``).
      converged_, n_iter_: whether the best restart met ``tol``, and its EM iterations.
      lower_bound_: mean log-likelihood per sample of the best restart at the fitted parameters.
      lower_bounds_: its mean log-likelihood after each iteration.
      n_features_in_: number of features seen in ``fit``.

    Where it differs from scikit-learn: the iteration that meets ``tol``
    is the last (scikit-learn runs one more M-step after it, and its
    ``lower_bound_`` is the log-likelihood before that last M-step; here it
    is at the returned parameters); ``"k-means++"`` and ``"random_from_data"``
    assign every sample to its nearest seed before the first M-step (scikit-learn
    gives the seeds alone responsibility one); with ``max_iter=0``
    ``lower_bound_`` is the start's log-likelihood (scikit-learn: ``-inf``);
    a fit in which every restart fails raises :class:`jaxem.FitError`.

    Example:
      >>> gm = GaussianMixture(n_components=2, n_init=8, random_state=0).fit(jaxem.datasets.load_faithful())
      >>> gm.means_, gm.bic(jaxem.datasets.load_faithful())
    """

    _parameter_names = ("weights", "means", "covariances")

    def __init__(
        self,
        n_components=1,
        *,
        covariance_type="full",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        weights_init=None,
        means_init=None,
        precisions_init=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval

    def _check_arguments(self):
        _check_choice(self.covariance_type, "covariance_type", jaxem.families.gaussian.COVARIANCE_TYPES)
        _check_non_negative(self.reg_covar, "reg_covar")

    def _check_X(self, X, reset, fitting):
        X = validate_data(
            self,
            X,
            dtype=[np.float64, np.float32],
            reset=reset,
            ensure_min_samples=self._fit_min_samples if fitting else 1,
        )
        return jnp.asarray(X, _default_float())

    def _model(self, data, continuing):
        del data, continuing
        return jaxem.models.gaussian_mixture(
            self.n_components,
            covariance_type=self.covariance_type,
            reg_covar=float(self.reg_covar),
            init=INIT_SCHEMES[self.init_params],
        )

    def _given_starts(self, data):
        num_features = data.shape[1]
        given = self._weights_start()
        if self.means_init is not None:
            shape = (self.n_components, num_features)
            given["means"] = _given_array(self.means_init, "means_init", shape, "one mean per component")
        if self.precisions_init is not None:
            precisions = _check_precisions_init(
                self.precisions_init, self.covariance_type, self.n_components, num_features
            )
            given["covariances"] = _covariances_from_precisions(precisions, self.covariance_type)
        return given

    def _store(self, params):
        self.weights_ = params["weights"]
        self.means_ = params["means"]
        self.covariances_ = params["covariances"]
        self.precisions_cholesky_ = _precisions_cholesky(self.covariances_, self.covariance_type)
        factor = self.precisions_cholesky_
        if self.covariance_type in ("full", "tied"):
            self.precisions_ = factor @ np.swapaxes(factor, -1, -2)
        else:
            self.precisions_ = factor**2

    def _params(self):
        dtype = _default_float()
        return {
            "weights": jnp.asarray(self.weights_, dtype),
            "means": jnp.asarray(self.means_, dtype),
            "covariances": jnp.asarray(self.covariances_, dtype),
        }

    def _sample_output(self, observations):
        return observations


# ---------------------------------------------------------------------------- discrete families
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

    def _store(self, params):
        self.weights_ = params["weights"]
        setattr(self, f"{self._parameter}_", params[self._parameter])

    def _params(self):
        dtype = _default_float()
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
      max_iter: EM iterations per restart (0: the starting values).
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
        _check_integral(X, type(self).__name__, "non-negative integer counts")
        return jnp.asarray(X, _default_float())

    def _check_component_start(self, value, data):
        rates = _given_array(
            value, "rates_init", (self.n_components, data.shape[1]), "one rate per component and feature"
        )
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
            return jnp.asarray(X > self.binarize, _default_float())
        owner = type(self).__name__
        expected = "binary values (bool, or 0 and 1; or set binarize=threshold)"
        _negative_values_error(X, owner, expected)
        other = (X != 0) & (X != 1)
        if np.any(other):
            raise ValueError(
                f"X must hold {expected} for {owner}; got {int(other.sum())} other value(s), e.g. {X[other][0].item()!r}."
            )
        return jnp.asarray(X, _default_float())

    def _check_component_start(self, value, data):
        probs = _given_array(
            value, "probs_init", (self.n_components, data.shape[1]), "one probability per component and feature"
        )
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
            _check_int(self.n_categories, "n_categories", 1)

    def _check_X(self, X, reset, fitting):
        X = validate_data(
            self, X, dtype="numeric", reset=reset, ensure_min_samples=self._fit_min_samples if fitting else 1
        )
        owner = type(self).__name__
        _check_integral(X, owner, "non-negative integer symbols (categories 0, 1, ...)")
        if not fitting and X.size and X.max() >= self.n_categories_:
            raise ValueError(
                f"X must hold symbols in [0, n_categories_={self.n_categories_}), the categories seen in fit; "
                f"got symbol {X.max().item()!r}."
            )
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
        probs = _given_array(value, "probs_init", shape, "one distribution over categories per component and feature")
        if np.any(probs < 0) or np.any(np.abs(probs.sum(-1) - 1) > 1e-8):
            raise ValueError(
                f"probs_init must hold probability vectors along its last axis (non-negative, summing to 1); got "
                f"minimum {probs.min()!r} and sums in [{probs.sum(-1).min()!r}, {probs.sum(-1).max()!r}]."
            )
        return probs

    def _store(self, params):
        super()._store(params)
        self.n_categories_ = int(params["probs"].shape[-1])
