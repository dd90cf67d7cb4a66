"""``GaussianMixture``: scikit-learn's ``sklearn.mixture.GaussianMixture`` over jaxem's Gaussian mixture.

The estimator builds :func:`jaxem.models.gaussian_mixture` from its
configuration and keeps scikit-learn's attributes: ``covariances_`` are
jaxem's parameters, and ``precisions_`` and ``precisions_cholesky_`` are
derived from them on the host (the upper-triangular ``U`` with
``precision = U U^T``, or ``1 / sqrt(variance)``). ``precisions_init`` is
checked with scikit-learn's rules (shape per ``covariance_type``; positive,
or symmetric positive-definite) and turned into starting covariances.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import scipy.linalg
from sklearn.base import clone
from sklearn.utils.validation import validate_data

import jaxem
from jaxem.estimators._mixture_base import INIT_SCHEMES, MixtureEstimator, MixtureFitError, default_float
from jaxem.estimators._mixture_checks import check_choice, check_non_negative, given_array

__all__ = ["GaussianMixture"]

_ILL_DEFINED = (  # scikit-learn's words for a covariance that cannot be factorised
    "Fitting the mixture model failed because some components have ill-defined empirical covariance (for instance "
    "caused by singleton or collapsed samples). Try to decrease the number of components, increase reg_covar, or "
    "scale the input data."
)


def _covariances_from_precisions(precisions, covariance_type):
    if covariance_type in ("full", "tied"):
        covariances = np.linalg.inv(precisions)
        return 0.5 * (covariances + np.swapaxes(covariances, -1, -2))
    return 1.0 / precisions


def _precisions_cholesky(covariances, covariance_type):
    """scikit-learn's ``precisions_cholesky_``: upper-triangular ``U`` with ``precision = U U^T``
    (full, tied), or ``1 / sqrt(variance)`` (diag, spherical); ``MixtureFitError`` (scikit-learn's
    message) when a covariance is not positive definite."""
    if covariance_type not in ("full", "tied"):
        if np.any(covariances <= 0):
            raise MixtureFitError(f"{_ILL_DEFINED} (a fitted variance is {covariances.min()!r}.)")
        return 1.0 / np.sqrt(covariances)
    matrices = covariances[None] if covariance_type == "tied" else covariances
    eye = np.eye(matrices.shape[-1], dtype=matrices.dtype)
    try:
        lower = [np.linalg.cholesky(c) for c in matrices]
    except np.linalg.LinAlgError as error:
        raise MixtureFitError(f"{_ILL_DEFINED} (a fitted covariance is not positive definite.)") from error
    factors = np.stack([scipy.linalg.solve_triangular(c, eye, lower=True).T for c in lower])
    return factors[0] if covariance_type == "tied" else factors


def _check_precisions_init(value, covariance_type, num_components, num_features):
    """scikit-learn's checks of ``precisions_init``, with its message phrases (``'full precision'``)."""
    shape = jaxem.families.gaussian.covariances_shape(covariance_type, num_components, num_features)
    name = f"{covariance_type} precision"
    meaning = f"the precisions of covariance_type={covariance_type!r}"
    precisions = given_array(value, "precisions_init", shape, meaning, name)
    if covariance_type in ("full", "tied"):
        matrices = precisions.reshape((-1, num_features, num_features))
        symmetric = np.allclose(matrices, np.swapaxes(matrices, -1, -2))
        smallest = np.linalg.eigvalsh(matrices).min()
        if not symmetric or not smallest > 0:
            raise ValueError(
                f"'{name}' should be symmetric, positive-definite: precisions_init must hold symmetric "
                f"positive-definite matrices for covariance_type={covariance_type!r}; got smallest eigenvalue "
                f"{smallest!r}{'' if symmetric else ' and a non-symmetric matrix'}."
            )
    elif np.any(precisions <= 0):
        raise ValueError(
            f"'{name}' should be positive: precisions_init must be positive for covariance_type="
            f"{covariance_type!r}; got minimum {precisions.min()!r}."
        )
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
      max_iter: EM iterations per restart, counted as scikit-learn counts them (0: the starting values).
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
      weights_, means_, covariances_, precisions_, precisions_cholesky_: scikit-learn's names,
        shapes and dtype (that of ``X`` in ``fit``, float32 or float64; ``precisions_cholesky_``
        upper triangular with ``precisions_ = U U^T``).
      converged_, n_iter_: whether the best restart met ``tol``, and its EM iterations.
      lower_bound_: mean log-likelihood per sample of the best restart before its last M-step
        (scikit-learn's; ``-inf`` with ``max_iter=0``).
      lower_bounds_: that bound at each iteration.
      n_features_in_: number of features seen in ``fit``.

    From identical starts it follows scikit-learn's iterations: the same
    ``n_iter_``, ``converged_``, ``lower_bound_``, ``lower_bounds_`` and
    parameters, to float64 rounding (``tests/test_estimators_sklearn_behaviour.py``).
    Where it differs from scikit-learn:

    * The starts come from a JAX key seeded by ``random_state``, not from
      NumPy's generator, so one ``random_state`` gives other (equally drawn)
      starts than scikit-learn's (``"kmeans"`` then also numbers the
      clusters differently). ``"k-means++"`` and ``"random_from_data"``
      assign every sample to its nearest seed before the first M-step
      (scikit-learn gives the seeds alone responsibility one). With
      ``max_iter=0`` and ``n_init > 1`` the start of highest likelihood is
      kept (scikit-learn keeps the last).
    * A restart whose log-likelihood becomes non-finite is dropped and the
      best of the others kept (scikit-learn raises at the first ill-defined
      covariance of any restart); only when every restart fails is a
      ``ValueError`` raised (:class:`MixtureFitError`, scikit-learn's message
      first). jaxem's warnings (``DegenerateFitWarning``,
      ``FailedRestartsWarning``) are given too. With ``reg_covar=0`` a
      component left with no responsibility gets variance 0 (raising) where
      scikit-learn's rounding leaves it about 1e-16.
    * The computation runs in JAX's default float (float64 only with
      ``jax_enable_x64``); the attributes are then cast to ``X``'s dtype.
    * ``verbose`` prints jaxem's progress to stderr. The message for
      ``weights_init`` outside [0, 1] labels its minimum and maximum the
      right way round (scikit-learn's swaps the labels). scikit-learn's
      private methods (``_initialize``, ``_set_parameters``,
      ``_estimate_*``) and array-API dispatch are not provided; the
      parameter count ``_n_parameters()`` is.

    Example:
      >>> gm = GaussianMixture(n_components=2, n_init=8, random_state=0).fit(jaxem.datasets.load_faithful())
      >>> gm.means_, gm.bic(jaxem.datasets.load_faithful())
    """

    _parameter_names = ("weights", "means", "covariances")
    _failure_message = _ILL_DEFINED

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
        check_choice(self.covariance_type, "covariance_type", jaxem.families.gaussian.COVARIANCE_TYPES)
        check_non_negative(self.reg_covar, "reg_covar")

    def _check_X(self, X, reset, fitting):
        return validate_data(
            self,
            X,
            dtype=[np.float64, np.float32],
            reset=reset,
            ensure_min_samples=self._fit_min_samples if fitting else 1,
        )

    def _attribute_dtype(self, X):
        return X.dtype

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
            given["means"] = given_array(self.means_init, "means_init", shape, "one mean per component", "means")
        if self.precisions_init is not None:
            precisions = _check_precisions_init(
                self.precisions_init, self.covariance_type, self.n_components, num_features
            )
            given["covariances"] = _covariances_from_precisions(precisions, self.covariance_type)
        return given

    def _store(self, params, dtype):
        covariances = np.asarray(params["covariances"], np.float64)
        factor = _precisions_cholesky(covariances, self.covariance_type)
        if self.covariance_type in ("full", "tied"):
            precisions = factor @ np.swapaxes(factor, -1, -2)
        else:
            precisions = factor**2
        self.weights_ = np.asarray(params["weights"], dtype)
        self.means_ = np.asarray(params["means"], dtype)
        self.covariances_ = covariances.astype(dtype)
        self.precisions_cholesky_ = factor.astype(dtype)
        self.precisions_ = precisions.astype(dtype)

    # scikit-learn's private parameter hooks (its own tests and some user code call them).
    def _get_parameters(self):
        return (self.weights_, self.means_, self.covariances_, self.precisions_cholesky_)

    def _set_parameters(self, params):
        self.weights_, self.means_, self.covariances_, self.precisions_cholesky_ = params
        factor = np.asarray(self.precisions_cholesky_)
        full = self.covariance_type in ("full", "tied")
        self.precisions_ = factor @ np.swapaxes(factor, -1, -2) if full else factor**2

    def _initialize(self, X, resp):
        """scikit-learn's start from responsibilities ``resp`` (n_samples, n_components), or from
        the ``*_init`` arguments alone when ``resp`` is None; a given ``*_init`` wins over ``resp``.
        The means and covariances come from the Gaussian family's own start (``reg_covar`` added);
        every fitted attribute is set, ``precisions_`` too."""
        X = np.asarray(X)
        dtype = self._attribute_dtype(X)
        # As in scikit-learn, resp's columns say how many components there are (checked against
        # n_components in fit, not here).
        sized = self if resp is None else clone(self).set_params(n_components=np.shape(resp)[1])
        given = sized._given_starts(X)
        params = {}
        if resp is not None:
            resp = np.asarray(resp, dtype)
            family = jaxem.families.Gaussian(self.covariance_type, float(self.reg_covar))
            params = family.start(jnp.asarray(X), jnp.asarray(resp), jnp.ones(len(X), resp.dtype))
            params["weights"] = (resp.sum(axis=0) + 10 * np.finfo(dtype).eps) / len(X)
        params = {**params, **given}
        missing = [name for name in ("weights", "means", "covariances") if name not in params]
        if missing:
            raise ValueError(
                f"resp is None, so weights_init, means_init and precisions_init must all be given; "
                f"missing the start of {', '.join(missing)}."
            )
        self._store(params, dtype)

    def _params(self):
        dtype = default_float()
        return {
            "weights": jnp.asarray(self.weights_, dtype),
            "means": jnp.asarray(self.means_, dtype),
            "covariances": jnp.asarray(self.covariances_, dtype),
        }

    def _sample_output(self, observations):
        return np.asarray(observations, np.float64)  # scikit-learn draws in float64 whatever the fit's dtype
