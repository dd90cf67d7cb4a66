"""The base class of the mixture estimators: scikit-learn's mixture interface over one jaxem fit.

:class:`MixtureEstimator` holds everything the mixture estimators share.
``fit`` checks the arguments and ``X``, builds the jaxem model of the
configuration (models compare by value, so a refit with the same
configuration and data shape reuses the compiled programs) and runs one
:func:`jaxem.fit` with the ``n_init`` restarts as its vmapped restart axis.
The evaluation methods read the fitted attributes back into jaxem parameters
and call :func:`jaxem.posterior`, :func:`jaxem.log_likelihoods`,
:func:`jaxem.criteria` and :func:`jaxem.sample`.

Iterations are counted as scikit-learn counts them. scikit-learn's iteration
``t`` runs an E-step at ``theta_{t-1}`` (giving the bound
``L_t = mean log p(x; theta_{t-1})``), then an M-step to ``theta_t``, and
stops when ``|L_t - L_{t-1}| < tol`` (``L_0 = -inf``, or the previous fit's
bound under ``warm_start``); it returns ``theta_t`` and ``lower_bound_ = L_t``.
So with ``max_iter = m`` the estimator runs :func:`jaxem.fit` with
``max_iter = m - 1`` (jaxem stops at the first ``s`` with
``|L(theta_s) - L(theta_{s-1})| < tol``, the same test one iteration
earlier), then one more EM iteration (:func:`jaxem.em_step`) from the best
restart: ``n_iter_ = s + 1``, ``lower_bound_ = L(theta_s)`` and the returned
parameters are ``theta_{s+1}``, exactly scikit-learn's.

A subclass says only how its data are checked, which model its
configuration builds and how the parameters map to attributes (see
:class:`MixtureEstimator`).
"""

from __future__ import annotations

import contextlib
import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.exceptions import ConvergenceWarning as _SklearnConvergenceWarning
from sklearn.utils.validation import check_is_fitted

import jaxem
from jaxem.estimators._common import key_from_random_state
from jaxem.estimators._mixture_checks import (
    check_bool,
    check_choice,
    check_enough_samples,
    check_int,
    check_non_negative,
    check_weights_init,
)

__all__ = ["INIT_SCHEMES", "ConvergenceWarning", "MixtureEstimator", "MixtureFitError", "default_float"]

# scikit-learn's init_params -> jaxem's init scheme (jaxem.models.initialisation).
INIT_SCHEMES = {
    "kmeans": "kmeans",
    "k-means++": "kmeans++",
    "random": "random_responsibilities",
    "random_from_data": "random_points",
}

_NOT_CONVERGED = (
    "Best performing initialization did not converge. Try different init parameters, or increase max_iter, "
    "tol, or check for degenerate data."
)
_SAMPLE_SIZES = (2**10, 2**16)  # draws are rounded up to 1024, a power of two, then a multiple of 65536


class ConvergenceWarning(_SklearnConvergenceWarning, jaxem.ConvergenceWarning):
    """The best restart stopped at ``max_iter`` unconverged: both scikit-learn's and jaxem's
    ``ConvergenceWarning``, so a filter for either applies."""


class MixtureFitError(ValueError, jaxem.FitError):
    """No restart could be fitted (every start invalid, or every restart's log-likelihood became
    non-finite): a ``ValueError``, as scikit-learn raises, and a :class:`jaxem.FitError`.

    Attributes:
      restarts: the failed fit's :class:`jaxem.Restarts` when the failure came from the EM loop,
        else None.
    """

    def __init__(self, message, restarts=None):
        jaxem.FitError.__init__(self, message, restarts)


def default_float():
    """JAX's default float dtype (float32, or float64 with ``jax_enable_x64``): the engine's."""
    return jnp.result_type(float)


@contextlib.contextmanager
def _failures(message: str):
    """Engine failures inside the block raised as :class:`MixtureFitError` beginning with ``message``.

    Only the engine's calls go in the block: the arguments and starting
    values were checked before, so a ``ValueError`` here says that the
    starts jaxem drew, or the fitted values, are invalid.
    """
    try:
        yield
    except MixtureFitError:
        raise
    except jaxem.FitError as error:
        raise MixtureFitError(f"{message} ({error})", error.restarts) from error
    except ValueError as error:
        raise MixtureFitError(f"{message} ({error})") from error


def _engine_fit(model, data, options):
    """:func:`jaxem.fit`, its warnings passed on except its ``ConvergenceWarning`` (the estimator
    says that itself, counting iterations as scikit-learn does)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = jaxem.fit(model, data, **options)
    for warning in caught:
        if not issubclass(warning.category, jaxem.ConvergenceWarning):
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    return result


def _last_iteration(model, params, data):
    """The EM iteration scikit-learn runs after the bound it stops on, checked finite."""
    new = jaxem.em_step(model, params, data)
    bad = [name for name, leaf in new.items() if not np.all(np.isfinite(np.asarray(leaf)))]
    if bad:
        raise jaxem.FitError(f"the last EM iteration of the best restart gave non-finite {', '.join(bad)}")
    return new


def _counted_as_sklearn(model, data, options, max_iter: int, previous: float):
    """``(params, converged, bounds)`` of scikit-learn's EM with ``max_iter`` iterations (see the
    module docstring): :func:`jaxem.fit` with ``options`` (one iteration fewer), then the last
    iteration from its best restart. ``bounds`` are the mean log-likelihoods per sample before each
    M-step; ``previous`` is the bound the first one is compared with (``-inf``, or the previous
    fit's under ``warm_start``). With ``max_iter=0``: the best start, unconverged, its bound."""
    result = _engine_fit(model, data, options)
    history = np.asarray(result.history, np.float64)
    bounds = history[: int(result.num_iterations) + 1] / data.shape[0]
    params, converged = result.params, bool(result.converged)
    if max_iter == 0:
        return params, False, bounds
    if abs(bounds[0] - previous) < options["tol"]:  # met at the first iteration (only under warm_start)
        params, converged, bounds = options["init_params"], True, bounds[:1]
    return _last_iteration(model, params, data), converged, bounds


def _sample_size(num_samples: int) -> int:
    """The draw size for ``num_samples``: at least 1024, the next power of two up to 65536, then the
    next multiple of 65536, so a few programs serve every size. The first ``num_samples`` draws are
    kept: independent draws, as many as asked (:func:`jaxem.sample` splits one key per draw; with JAX's
    default partitionable threefry they are exactly the draws of a call for ``num_samples``)."""
    smallest, block = _SAMPLE_SIZES
    if num_samples <= block:
        return max(smallest, 1 << (num_samples - 1).bit_length())
    return -(-num_samples // block) * block


class MixtureEstimator(DensityMixin, BaseEstimator):
    """What every mixture estimator shares: fitting, evaluation, sampling and criteria.

    A subclass defines ``__init__`` (storing its arguments, scikit-learn's
    rule), ``_parameter_names`` (the jaxem parameters), ``_check_arguments()``
    (its own constructor arguments), ``_check_X(X, reset, fitting)`` (``X``
    checked by scikit-learn's ``validate_data`` and the family's rules, as a
    NumPy array), ``_engine_data(X)`` (that array for the engine),
    ``_attribute_dtype(X)`` (the dtype of the fitted attributes and of the
    methods' float outputs), ``_model(data, continuing)`` (the jaxem model of
    the configuration), ``_given_starts(data)`` (user-given starting entries,
    as jaxem parameters), ``_store(params, dtype)`` / ``_params()`` (jaxem
    parameters to fitted attributes and back) and
    ``_sample_output(observations)``.
    """

    _fit_min_samples = 2  # scikit-learn's mixtures refuse a single sample
    _failure_message = "Fitting the mixture model failed: no restart could be fitted."

    # ------------------------------------------------------------------ fitting
    def _check_common_arguments(self):
        check_int(self.n_components, "n_components", 1)
        check_non_negative(self.tol, "tol")
        check_int(self.max_iter, "max_iter", 0)
        check_int(self.n_init, "n_init", 1)
        check_choice(self.init_params, "init_params", INIT_SCHEMES)
        check_bool(self.warm_start, "warm_start")
        if not isinstance(self.verbose, (bool, np.bool_)):
            check_int(self.verbose, "verbose", 0)
        check_int(self.verbose_interval, "verbose_interval", 1)

    def _engine_data(self, X):
        return jnp.asarray(X, default_float())

    def _starts(self, model, data, key, given):
        """``init_params`` for :func:`jaxem.fit`, or None to let it start from ``model.init``.

        Without user-given starting values: None. With all of them: that one
        start (``n_init`` equal starts would give equal fits). With some:
        jaxem's ``n_init`` starts (the same ones ``jaxem.fit`` would draw from
        ``key``) with the given entries put in place.
        """
        if not given:
            return None
        if set(given) == set(self._parameter_names):
            return {name: jnp.asarray(value, default_float()) for name, value in given.items()}
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
        arguments are then ignored, as in scikit-learn), and the first
        iteration's change is measured from the previous ``lower_bound_``.

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
        X = self._check_X(X, reset=not continuing, fitting=True)
        num_samples = X.shape[0]
        check_enough_samples(num_samples, self.n_components)
        data = self._engine_data(X)
        model = self._model(data, continuing)
        key = key_from_random_state(self.random_state)
        max_iter, tol = int(self.max_iter), float(self.tol)
        given = {} if continuing else self._given_starts(data)
        previous = self.lower_bound_ if continuing else -math.inf
        options = {"key": key, "max_iter": max(max_iter - 1, 0), "tol": tol}
        if self.verbose:
            options["progress"] = True
        with _failures(self._failure_message):
            starts = self._params() if continuing else self._starts(model, data, key, given)
            if starts is None:
                options["num_restarts"] = int(self.n_init)
            else:
                options["init_params"] = starts
            params, converged, bounds = _counted_as_sklearn(model, data, options, max_iter, previous)
            self._store(jax.tree.map(np.asarray, params), self._attribute_dtype(X))
        self._jaxem_model = model
        if max_iter == 0:  # the start itself; scikit-learn then has no bound and gives no warning
            self.converged_, self.n_iter_, self.lower_bound_, self.lower_bounds_ = False, 0, -math.inf, []
            return self
        self.converged_ = converged
        self.n_iter_ = len(bounds)
        self.lower_bound_ = float(bounds[-1])
        self.lower_bounds_ = [float(bound) for bound in bounds]
        if not converged:
            change = np.diff(np.concatenate([[previous], bounds]))[-1]
            said = (
                "the first iteration has no earlier bound" if np.isinf(change) else f"its last change was {change:.3g}"
            )
            warnings.warn(
                f"{_NOT_CONVERGED} (The best restart ran max_iter={max_iter} EM iterations without the mean "
                f"log-likelihood per sample changing by less than tol={tol:g}; {said}.)",
                ConvergenceWarning,
                stacklevel=2,
            )
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
        X = self._check_X(X, reset=False, fitting=False)
        return self._jaxem_model, self._params(), self._engine_data(X), self._attribute_dtype(X)

    def predict(self, X):
        """The most probable component of each sample: (n_samples,) int64."""
        model, params, data, _ = self._evaluation(X)
        return np.asarray(jaxem.predict(model, params, data)).astype(np.int64)

    def predict_proba(self, X):
        """Posterior probability of each component for each sample: (n_samples, n_components)."""
        model, params, data, dtype = self._evaluation(X)
        return np.asarray(jaxem.posterior(model, params, data), dtype)

    def score_samples(self, X):
        """``log p(x_i)`` of each sample under the fitted mixture: (n_samples,)."""
        model, params, data, dtype = self._evaluation(X)
        return np.asarray(jaxem.log_likelihoods(model, params, data), dtype)

    def score(self, X, y=None):
        """Mean log-likelihood per sample of ``X``: a float."""
        del y
        return float(np.mean(self.score_samples(X)))

    def _criteria(self, X):
        model, params, data, _ = self._evaluation(X)
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

    def _n_parameters(self):
        """The number of free parameters ``p`` of the fitted mixture (scikit-learn's private name,
        kept for code that calls it; :func:`jaxem.num_parameters`)."""
        check_is_fitted(self)
        return int(jaxem.num_parameters(self._jaxem_model, self._params()))

    def sample(self, n_samples=1):
        """Draws ``n_samples`` samples and their components from the fitted mixture.

        The key comes from ``random_state`` (an int gives the same draw every
        call, as in scikit-learn). As in scikit-learn the samples come
        grouped by component, in order of component.

        Returns:
          ``(X, y)``: samples (n_samples, n_features) and their components (n_samples,) int64.
        """
        check_is_fitted(self)
        if isinstance(n_samples, (bool, np.bool_)) or not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
            raise ValueError(f"Invalid value for 'n_samples': n_samples must be an int >= 1; got {n_samples!r}.")
        n_samples = int(n_samples)
        key = jax.random.fold_in(key_from_random_state(self.random_state), 1)  # not the fit's stream
        drawn = jaxem.sample(self._jaxem_model, self._params(), key, _sample_size(n_samples))
        labels = np.asarray(drawn.states)[:n_samples].astype(np.int64)
        order = np.argsort(labels, kind="stable")
        return self._sample_output(np.asarray(drawn.observations)[:n_samples][order]), labels[order]

    # ------------------------------------------------------------------ shared pieces for subclasses
    def _weights_start(self):
        """``{"weights": weights_init}`` (checked) when given, else ``{}``: the start of ``_given_starts``."""
        if self.weights_init is None:
            return {}
        return {"weights": check_weights_init(self.weights_init, self.n_components)}
