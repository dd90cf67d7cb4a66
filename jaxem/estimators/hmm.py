"""hmmlearn's ``GaussianHMM``, ``PoissonHMM`` and ``CategoricalHMM`` over jaxem's engine.

The estimators take hmmlearn 0.3.3's arguments (in its order, priors
included, plus ``n_init``) and give its attributes and methods; the work is
done by the built-in :mod:`jaxem.models` HMMs through :func:`jaxem.fit` and
the evaluation functions (the shared layer is :mod:`jaxem.estimators._hmm_base`,
the M-step :mod:`jaxem.estimators._hmm_priors`, the monitor
:mod:`jaxem.estimators._hmm_monitor`).
What the translation does:

* Data. hmmlearn concatenates the sequences, ``X`` (n_samples, n_features)
  with ``lengths`` summing to n_samples; jaxem pads them to (S, T, ...) with
  ``lengths`` (padding never reaches a result). Results per step come back
  in hmmlearn's concatenated order.
* M-step. hmmlearn's own, the MAP update under its priors
  (:mod:`jaxem.estimators._hmm_priors`): with the default flat priors and
  ``covars_prior=1e-2`` a fit from the same start gives hmmlearn's numbers.
  ``min_covar`` only enters the start (as in hmmlearn).
* Letters. ``params`` names what EM updates (the others keep their values);
  ``init_params`` names what is initialised: for a missing letter the
  attribute set before ``fit`` (``model.startprob_ = ...``) is the start.
* Stopping. hmmlearn stops after the M-step whose preceding gain in total
  log-likelihood is below ``tol`` (a fall too). jaxem's ``tol`` is per unit
  weight, here per sequence, so the fit runs with ``tol / num_sequences``;
  jaxem stops one step earlier, so the estimator makes that step
  (:func:`jaxem.em_step`); and jaxem stops on ``|gain| < tol``, so when the
  log-likelihood falls (MAP steps under priors that are not flat) the
  estimator replays hmmlearn's number of steps from the start. So
  ``monitor_.iter``, ``monitor_.history`` and the parameters are hmmlearn's.
* Restarts. hmmlearn fits once; ``n_init`` (default 1) runs that many
  restarts as one vmapped :func:`jaxem.fit` and keeps the best.

What differs from hmmlearn 0.3.3 (``tests/test_estimators_hmmlearn_behaviour.py``):

* The starts are jaxem's (k-means means, a uniform ``startprob_`` and
  smoothed-count ``transmat_``; k-means++ rates; Dirichlet emission rows)
  with hmmlearn's covariances (``cov(X) + min_covar I`` for every state),
  not hmmlearn's random draws (its k-means seeds, Dirichlet ``startprob_``
  and ``transmat_``, gamma rates, uniform emission rows), and
  ``random_state`` seeds a JAX key: fits from ``init_params`` and draws from
  ``sample`` differ from hmmlearn's numbers (equal seeds still repeat).
* A state never left (or a Dirichlet numerator that is all zero) keeps its
  row; hmmlearn sets it to zeros and logs a warning. An empty state keeps
  finite parameters (hmmlearn's become NaN). A full or tied covariance that
  cannot be factored keeps hmmlearn's ``1e-7 I`` fallback in ``covars_``
  (hmmlearn adds it only where it evaluates the density).
* With fixed means and free covariances the covariances are taken about the
  fixed means (hmmlearn 0.3.3 drops the state counts there and its
  covariances blow up).
* ``bic``/``aic`` count only the parameters in ``params`` (hmmlearn counts
  every parameter).
* ``covars_`` reads (K, D, D) for ``"spherical"``, and ``_covars_`` is (K,)
  after a fit (hmmlearn returns (K * D, D, D) and keeps (K, D)).
* ``implementation`` is accepted and always log-space: ``"scaling"`` never
  fails on underflow as hmmlearn's does.
* ``monitor_`` is filled after the compiled fit: a custom monitor's
  ``converged`` cannot change when it stops, ``fit`` refreshes its ``tol``, ``n_iter`` and
  ``verbose`` from the estimator (hmmlearn keeps those of construction) and
  ``verbose`` prints jaxem's progress lines (``monitor_.report`` prints
  hmmlearn's table when called).
* ``means_weight`` and ``covars_weight`` are a number or one value per
  state (hmmlearn's arithmetic breaks on per-state arrays; ``"tied"`` takes
  a number). ``PoissonHMM`` takes non-negative integer counts only
  (hmmlearn takes any numbers); ``CategoricalHMM`` takes (n_samples, 1)
  only (hmmlearn concatenates wider input with a deprecation warning).
* Errors are ``ValueError`` (``NotFittedError`` before a fit) with jaxem's
  messages, raised before anything is compiled; a ``DegenerateFitWarning``
  from :func:`jaxem.fit` says when a state holds fewer observations than its
  parameters need (hmmlearn is silent).
* hmmlearn's private hooks that its own tests call (``_init``, ``_check``,
  ``_check_and_set_n_features``) are there; the rest of its private API
  (``_do_mstep``, ``_compute_log_likelihood``, ...) is not.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from jaxem import families, models, validation
from jaxem.estimators._hmm_base import BaseHMM, NotFittedError
from jaxem.estimators._hmm_monitor import ConvergenceMonitor
from jaxem.estimators._hmm_priors import FixedMaximize, check_prior, check_weight
from jaxem.families import check_covariance_type, covariances_shape

__all__ = ["CategoricalHMM", "ConvergenceMonitor", "FixedMaximize", "GaussianHMM", "NotFittedError", "PoissonHMM"]


class GaussianHMM(BaseHMM):
    """hmmlearn's ``GaussianHMM`` over :func:`jaxem.models.gaussian_hmm`.

    Letters: ``s`` startprob_, ``t`` transmat_, ``m`` means_ (K, D), ``c``
    covars_ (set in hmmlearn's per-type shape: (K,) spherical, (K, D) diag,
    (K, D, D) full, (D, D) tied; read as full (K, D, D) matrices, as hmmlearn).

    Example:
      >>> model = GaussianHMM(3, covariance_type="full", n_iter=100, random_state=0).fit(X, lengths)
      >>> log_prob, states = model.decode(X, lengths)
    """

    _letters: ClassVar[dict[str, tuple[str, str]]] = {
        **BaseHMM._letters,
        "m": ("means_", "means"),
        "c": ("covars_", "covariances"),
    }
    _emission_letter = "m"

    def __init__(
        self,
        n_components=1,
        covariance_type="diag",
        min_covar=1e-3,
        startprob_prior=1.0,
        transmat_prior=1.0,
        means_prior=0,
        means_weight=0,
        covars_prior=1e-2,
        covars_weight=1,
        algorithm="viterbi",
        random_state=None,
        n_iter=10,
        tol=1e-2,
        verbose=False,
        params="stmc",
        init_params="stmc",
        implementation="log",
        *,
        n_init=1,
    ):
        self._keep(locals())

    def _width(self):
        """D, from ``means_``, else ``n_features``, else the covariances' shape."""
        if getattr(self, "means_", None) is not None:
            return np.shape(self.means_)[-1]
        if getattr(self, "n_features", None) is not None:
            return int(self.n_features)
        if self.covariance_type != "spherical":
            return self._covars_.shape[-1]
        raise ValueError("The spherical covars_ need n_features (or means_) to be read as matrices.")

    @property
    def covars_(self):
        """Every state's covariance as a full (K, D, D) matrix."""
        covars = getattr(self, "_covars_", None)
        if covars is None:
            raise AttributeError(f"This {type(self).__name__} has no covars_: call fit first, or set it.")
        if self.covariance_type == "full":
            return covars
        if self.covariance_type == "tied":
            return np.tile(covars, (int(self.n_components), 1, 1))
        width = self._width()
        diagonal = covars if self.covariance_type == "diag" else np.repeat(covars[:, None], width, axis=1)
        return diagonal[:, :, None] * np.eye(width)

    @covars_.setter
    def covars_(self, covars):
        """Checks the per-type shape (hmmlearn checks on assignment too); the values are checked at use."""
        covariance_type = check_covariance_type(self.covariance_type)
        covars = np.array(covars, dtype=float)
        k = int(self.n_components)
        if covariance_type == "spherical" and covars.size == k:
            covars = covars.reshape(k)  # hmmlearn flattens whatever holds one variance per state
        expected = {"spherical": "(n_components,)", "diag": "(n_components, n_features)"}
        expected.update(full="(n_components, n_features, n_features)", tied="(n_features, n_features)")
        ndim = {"spherical": 1, "diag": 2, "full": 3, "tied": 2}[covariance_type]
        wrong = covars.ndim != ndim or (covariance_type != "tied" and covars.shape[0] != k)
        if wrong or (ndim >= 2 and covariance_type != "diag" and covars.shape[-1] != covars.shape[-2]):
            raise ValueError(
                f"{covariance_type!r} covars_ must have shape {expected[covariance_type]}; got {covars.shape}."
            )
        self._covars_ = covars

    def _get(self, letter):
        return getattr(self, "_covars_", None) if letter == "c" else super()._get(letter)

    def _put(self, letter, value):
        if letter == "c":
            self._covars_ = value
        else:
            super()._put(letter, value)

    def _model(self, num_features):
        check_covariance_type(self.covariance_type)
        min_covar = validation.check_non_negative_float(self.min_covar, "min_covar")
        return models.gaussian_hmm(
            int(self.n_components), covariance_type=self.covariance_type, reg_covar=min_covar, init="kmeans"
        )

    def _family(self, num_features):
        return families.Gaussian(check_covariance_type(self.covariance_type), 0.0)

    def _emission_shapes(self, num_features):
        k = int(self.n_components)
        return {"means": (k, num_features), "covariances": covariances_shape(self.covariance_type, k, num_features)}

    def _emission_priors(self, num_features):
        k, d = int(self.n_components), num_features
        shape = {"spherical": (k, d), "diag": (k, d), "full": (k, d, d), "tied": (d, d)}[self.covariance_type]
        if self.covariance_type == "tied" and np.ndim(self.covars_weight) != 0:
            raise ValueError(f"covars_weight must be a number for 'tied' covariances; got {self.covars_weight!r}.")
        return {
            "means_prior": check_prior(self.means_prior, "means_prior", (k, d)),
            "means_weight": check_weight(self.means_weight, "means_weight", k, 1),
            "covars_prior": check_prior(self.covars_prior, "covars_prior", shape),
            "covars_weight": check_weight(self.covars_weight, "covars_weight", k, 1),
        }

    def _hmmlearn_start(self, X, needed):
        """hmmlearn's starting covariances: the data's, ``cov(X) + min_covar I``, for every state
        (spherical: the mean of its entries; diag: its diagonal)."""
        if "c" not in needed:
            return {}
        k = int(self.n_components)
        covariance = np.atleast_2d(np.cov(X.T, ddof=1 if len(X) > 1 else 0)) + self.min_covar * np.eye(X.shape[1])
        value = {
            "spherical": np.full(k, covariance.mean()),
            "diag": np.tile(np.diag(covariance), (k, 1)),
            "full": np.tile(covariance, (k, 1, 1)),
            "tied": covariance,
        }[self.covariance_type]
        return {"covariances": value.astype(np.result_type(float))}

    def _fit_scalars(self, num_features):
        k, d = int(self.n_components), num_features
        covariances = {"spherical": k, "diag": k * d, "full": k * d * (d + 1) // 2, "tied": d * (d + 1) // 2}
        return {"s": k - 1, "t": k * (k - 1), "m": k * d, "c": covariances[self.covariance_type]}

    def _fitted_num_features(self):
        return np.shape(self.means_)[-1]


class PoissonHMM(BaseHMM):
    """hmmlearn's ``PoissonHMM`` over :func:`jaxem.models.poisson_hmm`: counts (n_samples, n_features).

    Letters: ``s`` startprob_, ``t`` transmat_, ``l`` lambdas_ (K, n_features).

    Example:
      >>> model = PoissonHMM(2, n_iter=50, random_state=0).fit(counts, lengths)
    """

    _letters: ClassVar[dict[str, tuple[str, str]]] = {**BaseHMM._letters, "l": ("lambdas_", "rates")}
    _emission_letter = "l"

    def __init__(
        self,
        n_components=1,
        startprob_prior=1.0,
        transmat_prior=1.0,
        lambdas_prior=0.0,
        lambdas_weight=0.0,
        algorithm="viterbi",
        random_state=None,
        n_iter=10,
        tol=1e-2,
        verbose=False,
        params="stl",
        init_params="stl",
        implementation="log",
        *,
        n_init=1,
    ):
        self._keep(locals())

    def _validated(self, X):
        X = super()._validated(X)
        if X.dtype.kind not in "fiu":
            raise ValueError(f"X must hold non-negative integer counts; got dtype {X.dtype}.")
        bad = ~(np.isfinite(X) & (X >= 0) & (np.floor(X) == X))
        if bad.any():
            raise ValueError(
                f"X must hold non-negative integer counts; got {int(bad.sum())} value(s) that are not, e.g. {X[bad][0]!r}."
            )
        return X

    def _model(self, num_features):
        return models.poisson_hmm(int(self.n_components))

    def _family(self, num_features):
        return families.Poisson()

    def _emission_shapes(self, num_features):
        return {"rates": (int(self.n_components), num_features)}

    def _emission_priors(self, num_features):
        shape = (int(self.n_components), num_features)
        return {
            "lambdas_prior": check_prior(self.lambdas_prior, "lambdas_prior", shape),
            "lambdas_weight": check_prior(self.lambdas_weight, "lambdas_weight", shape),
        }

    def _fit_scalars(self, num_features):
        k = int(self.n_components)
        return {"s": k - 1, "t": k * (k - 1), "l": k * num_features}

    def _fitted_num_features(self):
        width = np.shape(self.lambdas_)[-1] if np.ndim(self.lambdas_) else 0
        if getattr(self, "n_features", None) is not None and width != self.n_features:
            raise ValueError(
                f"lambdas_ must have shape (n_components, n_features)=({self.n_components}, {self.n_features}); "
                f"got {np.shape(self.lambdas_)}."
            )
        return width

    def _sample_output(self, draws):
        return np.asarray(draws).astype(int)


class CategoricalHMM(BaseHMM):
    """hmmlearn's ``CategoricalHMM`` over :func:`jaxem.models.categorical_hmm`: symbols ``X`` (n_samples, 1).

    Letters: ``s`` startprob_, ``t`` transmat_, ``e`` emissionprob_ (K, n_features).
    ``n_features`` is the number of symbols (default: the largest in ``X`` plus one,
    set by ``fit`` as in hmmlearn).

    Example:
      >>> model = CategoricalHMM(2, n_iter=50, random_state=0).fit(symbols[:, None], lengths)
    """

    _letters: ClassVar[dict[str, tuple[str, str]]] = {**BaseHMM._letters, "e": ("emissionprob_", "probs")}
    _emission_letter = "e"

    def __init__(
        self,
        n_components=1,
        startprob_prior=1.0,
        transmat_prior=1.0,
        *,
        emissionprob_prior=1.0,
        n_features=None,
        algorithm="viterbi",
        random_state=None,
        n_iter=10,
        tol=1e-2,
        verbose=False,
        params="ste",
        init_params="ste",
        implementation="log",
        n_init=1,
    ):
        self._keep(locals())

    def _validated(self, X):
        X = super()._validated(X)
        if X.shape[1] != 1:
            raise ValueError(f"X must have shape (n_samples, 1), one symbol per sample; got shape {X.shape}.")
        return self._symbols(X)

    @staticmethod
    def _symbols(X):
        if not np.issubdtype(X.dtype, np.integer):
            raise ValueError(f"X must hold integer symbols; got dtype {X.dtype}.")
        if X.min() < 0:
            raise ValueError(f"X must hold non-negative symbols; got {X.min()}.")
        return X

    def _steps(self, X):
        return X[:, 0]

    def _check_and_set_n_features(self, X):
        """hmmlearn's rule: ``n_features`` (given, or set by a previous fit) must exceed every symbol;
        unset, it becomes the largest symbol plus one. As there, only the symbols are checked here
        (``fit`` and the other methods check the shape)."""
        X = self._symbols(super()._validated(X))
        if self.n_features is None:
            self.n_features = int(X.max()) + 1
        else:
            validation.check_positive_int(self.n_features, "n_features")
            self._check_width(X, self.n_features)

    def _check_width(self, X, num_features):
        if X.max() >= num_features:
            raise ValueError(
                f"X holds symbol {X.max()}, but n_features={num_features} allows symbols up to {num_features - 1}."
            )

    def _model(self, num_features):
        return models.categorical_hmm(int(self.n_components), int(num_features))

    def _family(self, num_features):
        return families.Categorical(int(num_features))

    def _emission_shapes(self, num_features):
        return {"probs": (int(self.n_components), num_features)}

    def _emission_priors(self, num_features):
        shape = (int(self.n_components), num_features)
        return {"emissionprob_prior": check_prior(self.emissionprob_prior, "emissionprob_prior", shape)}

    def _fit_scalars(self, num_features):
        k = int(self.n_components)
        return {"s": k - 1, "t": k * (k - 1), "e": k * (num_features - 1)}

    def _fitted_num_features(self):
        width = np.shape(self.emissionprob_)[-1] if np.ndim(self.emissionprob_) else 0
        if self.n_features is not None and width != self.n_features:
            raise ValueError(
                f"emissionprob_ must have shape (n_components, n_features)=({self.n_components}, {self.n_features}); "
                f"got {np.shape(self.emissionprob_)}."
            )
        return width

    def _sample_output(self, draws):
        return np.asarray(draws).astype(int)[:, None]
