"""hmmlearn's ``GaussianHMM``, ``PoissonHMM`` and ``CategoricalHMM`` over jaxem's engine.

The estimators take hmmlearn 0.3.3's arguments and give its attributes and
methods; the work is done by the built-in :mod:`jaxem.models` HMMs through
:func:`jaxem.fit` and the evaluation functions. What the translation does:

* Data. hmmlearn concatenates the sequences, ``X`` (n_samples, n_features)
  with ``lengths`` summing to n_samples; jaxem pads them to (S, T, ...) with
  ``lengths`` (padding never reaches a result). Results per step come back
  in hmmlearn's concatenated order.
* Letters. ``params`` names what EM updates: a parameter whose letter is
  missing is held fixed by :class:`FixedMaximize`, a by-value wrapper of the
  model's closed-form ``maximize`` (so equal settings give equal models and
  share compiled programs). ``init_params`` names what is initialised: for a
  missing letter the attribute set before ``fit`` (``model.startprob_ =
  ...``) replaces jaxem's start, drawn by the model's ``init``.
* Stopping. hmmlearn stops when the total log-likelihood gains less than
  ``tol``; jaxem's ``tol`` is per unit weight, here per sequence, so the fit
  runs with ``tol / num_sequences``. hmmlearn records the log-likelihood
  before each M-step, so it sees the small gain of step t only after
  making step t + 1: the estimator makes that step too
  (:func:`jaxem.em_step`), so ``monitor_.iter``, ``monitor_.history`` (the
  log-likelihood at every parameter set but the last) and the parameters
  are hmmlearn's.
* Restarts. hmmlearn fits once; ``n_init`` (default 1) runs that many
  restarts as one vmapped :func:`jaxem.fit` and keeps the best.

Not matched: the conjugate priors (``startprob_prior``, ``transmat_prior``,
``means_prior``/``means_weight``, ``covars_prior``/``covars_weight``,
``lambdas_prior``/``lambdas_weight``, ``emissionprob_prior``) are not offered;
their defaults are flat except hmmlearn's Gaussian ``covars_prior=1e-2``,
which adds ``1e-2 / n_k`` to a state's covariance (to every entry for
``"full"`` and ``"tied"``). Here ``min_covar`` is
jaxem's ``reg_covar``, added to every covariance's diagonal at each M-step
(hmmlearn 0.3.3 adds ``min_covar`` only to its starting covariance). The
starts are jaxem's (k-means means and per-cluster covariances; k-means++
rates; Dirichlet emission rows), not hmmlearn's random ones. A state with no
expected transitions out keeps its transition row (hmmlearn zeroes it). ``implementation`` is
always log-space. ``bic``/``aic`` count only the parameters in ``params``
(hmmlearn 0.3.3 counts every parameter). ``covars_`` is (K, D, D) for
``"spherical"`` (hmmlearn 0.3.3 returns (K * D, D, D) after a fit). With
fixed means and free covariances the covariances are taken about the fixed
means (hmmlearn 0.3.3 drops the state counts there and its covariances blow
up). A custom ``monitor_`` cannot change the compiled stopping rule.
"""

from __future__ import annotations

import collections
import dataclasses
import inspect
import warnings
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

import jaxem
from jaxem import models, validation
from jaxem.estimators._common import key_from_random_state
from jaxem.evaluation import per_unit
from jaxem.families import check_covariance_type, covariances_shape
from jaxem.markov import checked_inputs
from jaxem.static import ByValue

__all__ = ["CategoricalHMM", "ConvergenceMonitor", "FixedMaximize", "GaussianHMM", "PoissonHMM"]

DECODERS = ("viterbi", "map")


class ConvergenceMonitor:
    """hmmlearn's ``monitor_`` after a fit: ``history`` (the log-likelihood before each M-step),
    ``iter`` (M-steps made), ``tol``, ``n_iter``, ``verbose`` and hmmlearn's ``converged`` rule."""

    def __init__(self, tol, n_iter, verbose):
        self.tol = tol
        self.n_iter = n_iter
        self.verbose = verbose
        self.history = collections.deque()
        self.iter = 0

    @property
    def converged(self) -> bool:
        """hmmlearn's rule: ``n_iter`` reached, or the last gain below ``tol``."""
        gain = len(self.history) >= 2 and self.history[-1] - self.history[-2] < self.tol
        return self.iter == self.n_iter or bool(gain)

    def __repr__(self):
        return (
            f"ConvergenceMonitor(tol={self.tol}, n_iter={self.n_iter}, iter={self.iter}, history={list(self.history)})"
        )


@dataclasses.dataclass(frozen=True, eq=False)
class FixedMaximize(ByValue):
    """``maximize`` that returns the previous value of every parameter named in ``fixed``.

    With fixed ``means`` and free ``covariances`` (Gaussian) the first moments
    are zeroed before the family's maximiser, so the means stay and the
    covariances are taken about them: ``sum_i r_ik (x_i - mu_k)(x_i - mu_k)^T / n_k``,
    the maximiser of Q given the fixed means.
    """

    maximize: object
    fixed: tuple

    def __call__(self, statistics, params):
        if "means" in self.fixed and "covariances" in params and "covariances" not in self.fixed:
            emission = dict(statistics["emission"], sums=jnp.zeros_like(statistics["emission"]["sums"]))
            statistics = dict(statistics, emission=emission)
        new = self.maximize(statistics, params)
        return {name: params[name] if name in self.fixed else value for name, value in new.items()}


def _program(model, params, units, paths):
    """``sum_s log p(x_s, z_s)`` along given paths (-1 on padding): the Viterbi log-probability."""

    def one(unit, path):
        initial, transition, emission = model.log_potentials(params, unit)
        real = path >= 0
        state = jnp.where(real, path, 0)
        emitted = jnp.take_along_axis(emission, state[:, None], axis=1)[:, 0]
        moves = transition[state[:-1], state[1:]]
        return initial[state[0]] + jnp.sum(jnp.where(real[1:], moves, 0.0)) + jnp.sum(jnp.where(real, emitted, 0.0))

    return jnp.sum(jax.vmap(one)(units, paths))


_path_log_joint = jax.jit(_program, static_argnums=0)


def _padded(steps, lengths):
    """``(sequences (S, T, ...), lengths (S,), mask (S, T))`` from hmmlearn's concatenated steps."""
    num_samples = steps.shape[0]
    if lengths is None:
        lengths = np.array([num_samples])
    else:
        given = np.asarray(lengths)
        if given.ndim != 1 or given.size == 0 or not np.issubdtype(given.dtype, np.integer):
            raise ValueError(f"lengths must be a non-empty 1-D array of integers (one per sequence); got {lengths!r}.")
        if np.any(given < 1):
            raise ValueError(f"lengths must all be >= 1; got minimum {given.min()}.")
        if given.sum() != num_samples:
            raise ValueError(
                f"lengths must sum to the number of samples in X ({num_samples}); got lengths summing to {given.sum()}."
            )
        lengths = given.astype(np.int64)
    mask = np.arange(lengths.max()) < lengths[:, None]
    sequences = np.zeros(mask.shape + steps.shape[1:], steps.dtype)
    sequences[mask] = steps
    return sequences, lengths, mask


def _keep(estimator, arguments):
    """Stores the constructor's arguments as attributes, unchecked (scikit-learn's convention)."""
    for name, value in arguments.items():
        if name != "self":
            setattr(estimator, name, value)


class _HMM:
    """What the three estimators share. A subclass names its letters and gives ``_model(num_features)``,
    ``_emission_shapes(num_features)`` and ``_fitted_num_features()``."""

    # letter -> (attribute, jaxem parameter name)
    _letters: ClassVar[dict[str, tuple[str, str]]] = {"s": ("startprob_", "initial"), "t": ("transmat_", "transition")}

    # ------------------------------------------------------------------ scikit-learn's parameter protocol
    @classmethod
    def _param_names(cls):
        return [name for name in inspect.signature(cls.__init__).parameters if name != "self"]

    def get_params(self, deep=True):
        """The constructor's arguments (scikit-learn's protocol, so ``sklearn.clone`` works)."""
        del deep
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params):
        names = self._param_names()
        for name, value in params.items():
            if name not in names:
                raise ValueError(f"{type(self).__name__} has no parameter {name!r}; its parameters are {names}.")
            setattr(self, name, value)
        return self

    def __repr__(self):
        arguments = ", ".join(f"{name}={value!r}" for name, value in self.get_params().items())
        return f"{type(self).__name__}({arguments})"

    # ------------------------------------------------------------------ what a subclass gives
    def _steps(self, X):
        """X (n_samples, n_features) as jaxem's steps (n_samples, ...)."""
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
            raise ValueError(f"X must have shape (n_samples, n_features) with both >= 1; got shape {X.shape}.")
        return X

    def _num_features(self, X):
        return X.shape[1]

    def _observations(self, draws):
        return np.asarray(draws)

    def _get(self, letter):
        return getattr(self, self._letters[letter][0], None)

    def _put(self, letter, value):
        setattr(self, self._letters[letter][0], value)

    # ------------------------------------------------------------------ settings and parameters
    def _check_letters(self, value, name):
        if not isinstance(value, str) or set(value) - set(self._letters):
            raise ValueError(
                f"{name} must be a string of the letters {''.join(self._letters)!r} "
                f"({', '.join(f'{k}: {a}' for k, (a, _) in self._letters.items())}); got {value!r}."
            )
        return value

    def _check_settings(self):
        validation.check_positive_int(self.n_components, "n_components")
        validation.check_choice(self.algorithm, "algorithm", DECODERS)
        validation.check_positive_int(self.n_iter, "n_iter", minimum=0)
        validation.check_non_negative_float(self.tol, "tol")
        validation.check_positive_int(self.n_init, "n_init")
        self._check_letters(self.params, "params")
        self._check_letters(self.init_params, "init_params")

    def _shapes(self, num_features):
        k = int(self.n_components)
        return {"initial": (k,), "transition": (k, k), **self._emission_shapes(num_features)}

    def _checked(self, letter, value, model, num_features):
        attribute, name = self._letters[letter]
        value = np.asarray(value, dtype=float)
        expected = self._shapes(num_features)[name]
        if value.shape != expected:
            raise ValueError(f"{attribute} must have shape {expected}; got shape {value.shape}.")
        problem = model.constraints[name].domain_error(value)
        if problem is not None:
            raise ValueError(f"{attribute} is outside its domain: {problem}")
        return value.astype(jnp.result_type(float))  # float32 unless jax_enable_x64, as the data

    def _user_values(self, letters, model, num_features):
        """``{jaxem name: value}`` of the attributes set for ``letters`` (checked)."""
        values = {}
        for letter in letters:
            value = self._get(letter)
            if value is not None:
                values[self._letters[letter][1]] = self._checked(letter, value, model, num_features)
        return values

    def _fitted_params(self):
        """The jaxem model and params from the fitted (or set) attributes."""
        missing = [self._letters[letter][0] for letter in self._letters if self._get(letter) is None]
        if missing:
            raise ValueError(
                f"This {type(self).__name__} has no {', '.join(missing)}: call fit first, or set the attributes."
            )
        num_features = self._fitted_num_features()
        model = self._model(num_features)
        return model, self._user_values(self._letters, model, num_features)

    def _fixed(self):
        return tuple(sorted(name for letter, (_, name) in self._letters.items() if letter not in self.params))

    def _inputs(self, X, lengths):
        model, params = self._fitted_params()
        sequences, lengths, mask = _padded(self._steps(X), lengths)
        return model, params, sequences, lengths, mask

    def _start(self, model, sequences, lengths, num_features):
        """``(init_params, key, num_restarts)`` for :func:`jaxem.fit`: jaxem's init, with the attributes
        set for the letters missing from ``init_params`` in place of its values (in every restart)."""
        letters = [letter for letter in self._letters if letter not in self.init_params]
        user = self._user_values(letters, model, num_features)
        if len(user) == len(self._letters):
            return user, None, None
        key = key_from_random_state(self.random_state)
        if not user:
            return None, key, int(self.n_init)
        drawn = jaxem.initial_params(model, sequences, key=key, num_restarts=int(self.n_init), lengths=lengths)
        start = {name: jnp.broadcast_to(user[name], x.shape) if name in user else x for name, x in drawn.items()}
        return (jax.tree.map(lambda x: x[0], start) if self.n_init == 1 else start), None, None

    # ------------------------------------------------------------------ fitting
    def fit(self, X, lengths=None):
        """Estimates the parameters by EM (hmmlearn's ``fit``); returns ``self``.

        Args:
          X: (n_samples, n_features), the sequences concatenated.
          lengths: (n_sequences,) lengths summing to n_samples (default: one sequence).
        """
        self._check_settings()
        steps = self._steps(X)
        num_features = self._num_features(steps)
        sequences, lengths, _ = _padded(steps, lengths)
        model = self._model(num_features)
        fixed = self._fixed()
        fit_model = model if not fixed else dataclasses.replace(model, maximize=FixedMaximize(model.maximize, fixed))
        start, key, restarts = self._start(model, sequences, lengths, num_features)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", jaxem.ConvergenceWarning)  # hmmlearn does not warn at n_iter
            result = jaxem.fit(
                fit_model,
                sequences,
                key=key,
                num_restarts=restarts,
                max_iter=int(self.n_iter),
                tol=float(self.tol) / len(lengths),
                init_params=start,
                lengths=lengths,
                progress=True if self.verbose else None,
            )
        params, steps_made = result.params, int(result.num_iterations)
        if bool(result.converged) and steps_made < self.n_iter:  # hmmlearn's M-step after the last gain
            params = jaxem.em_step(fit_model, params, sequences, lengths=lengths)
            steps_made += 1
        self.monitor_ = ConvergenceMonitor(self.tol, self.n_iter, self.verbose)
        self.monitor_.history.extend(float(value) for value in np.asarray(result.history)[:steps_made])
        self.monitor_.iter = steps_made
        for letter, (_, name) in self._letters.items():
            self._put(letter, np.asarray(params[name], dtype=float))
        self.n_features = num_features
        return self

    # ------------------------------------------------------------------ evaluation
    def score_samples(self, X, lengths=None):
        """``(log p(X), posteriors (n_samples, n_components))``."""
        model, params, sequences, lengths, mask = self._inputs(X, lengths)
        log_p, posterior = per_unit(model, params, sequences, lengths=lengths)
        return float(np.sum(np.asarray(log_p))), np.asarray(posterior.states)[mask]

    def score(self, X, lengths=None):
        """The total log-likelihood ``sum_s log p(x_s)``."""
        model, params, sequences, lengths, _ = self._inputs(X, lengths)
        return float(np.sum(np.asarray(per_unit(model, params, sequences, lengths=lengths)[0])))

    def predict_proba(self, X, lengths=None):
        """Posterior state probabilities of every sample, (n_samples, n_components)."""
        return self.score_samples(X, lengths)[1]

    def decode(self, X, lengths=None, algorithm=None):
        """``(log_prob, states (n_samples,))``: with ``"viterbi"`` the most probable paths and
        ``sum_s max_z log p(x_s, z)``; with ``"map"`` each step's most probable state and, as in
        hmmlearn, the sum over steps of its posterior probability."""
        algorithm = validation.check_choice(self.algorithm if algorithm is None else algorithm, "algorithm", DECODERS)
        model, params, sequences, lengths, mask = self._inputs(X, lengths)
        if algorithm == "map":
            states = np.asarray(per_unit(model, params, sequences, lengths=lengths)[1].states)[mask]
            return float(np.max(states, axis=1).sum()), np.argmax(states, axis=1)
        paths = jaxem.viterbi(model, params, sequences, lengths=lengths)
        checked, units = checked_inputs(model, params, sequences, lengths)
        return float(_path_log_joint(model, checked, units, paths)), np.asarray(paths)[mask].astype(int)

    def predict(self, X, lengths=None):
        """The decoded states (``algorithm``'s decoder), (n_samples,)."""
        return self.decode(X, lengths)[1]

    def _criteria(self, X, lengths):
        model, params, sequences, lengths, _ = self._inputs(X, lengths)
        return jaxem.criteria(model, params, sequences, lengths=lengths, fixed=self._fixed())

    def bic(self, X, lengths=None):
        """``-2 log L + p log n`` (lower is better); ``p`` counts the parameters in ``params``."""
        return self._criteria(X, lengths).bic

    def aic(self, X, lengths=None):
        """``-2 log L + 2 p`` (lower is better); ``p`` counts the parameters in ``params``."""
        return self._criteria(X, lengths).aic

    def sample(self, n_samples=1, random_state=None, currstate=None):
        """``(X (n_samples, n_features), states (n_samples,))``: one sequence from the model, starting
        in ``currstate`` when given; ``random_state`` defaults to the estimator's."""
        model, params = self._fitted_params()
        validation.check_positive_int(n_samples, "n_samples")
        if currstate is not None:
            validation.check_positive_int(currstate, "currstate", minimum=0)
            if currstate >= self.n_components:
                raise ValueError(f"currstate must be < n_components={self.n_components}; got {currstate}.")
            params = dict(params, initial=np.eye(self.n_components)[currstate])
        key = key_from_random_state(self.random_state if random_state is None else random_state)
        drawn = jaxem.sample(model, params, key, 1, num_steps=int(n_samples))
        return self._observations(np.asarray(drawn.observations)[0]), np.asarray(drawn.states)[0].astype(int)


class GaussianHMM(_HMM):
    """hmmlearn's ``GaussianHMM`` over :func:`jaxem.models.gaussian_hmm`.

    Letters: ``s`` startprob_, ``t`` transmat_, ``m`` means_ (K, D), ``c``
    covars_ (set in hmmlearn's per-type shape: (K,) spherical, (K, D) diag,
    (K, D, D) full, (D, D) tied; read as full (K, D, D) matrices, as hmmlearn).
    ``min_covar`` is added to the covariance diagonal at every M-step.

    Example:
      >>> model = GaussianHMM(3, covariance_type="full", n_iter=100, random_state=0).fit(X, lengths)
      >>> log_prob, states = model.decode(X, lengths)
    """

    _letters: ClassVar[dict[str, tuple[str, str]]] = {
        **_HMM._letters,
        "m": ("means_", "means"),
        "c": ("covars_", "covariances"),
    }

    def __init__(
        self,
        n_components=1,
        covariance_type="diag",
        min_covar=1e-3,
        *,
        algorithm="viterbi",
        random_state=None,
        n_iter=10,
        tol=1e-2,
        verbose=False,
        params="stmc",
        init_params="stmc",
        n_init=1,
    ):
        _keep(self, locals())

    @property
    def covars_(self):
        """Every state's covariance as a full (K, D, D) matrix."""
        covars = self._covars_
        k = int(self.n_components)
        if self.covariance_type == "full":
            return covars
        if self.covariance_type == "tied":
            return np.tile(covars, (k, 1, 1))
        num_features = self.means_.shape[1]
        diagonal = covars if self.covariance_type == "diag" else np.repeat(covars[:, None], num_features, axis=1)
        return diagonal[:, :, None] * np.eye(num_features)

    @covars_.setter
    def covars_(self, covars):
        self._covars_ = np.array(covars, dtype=float)

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

    def _emission_shapes(self, num_features):
        k = int(self.n_components)
        return {"means": (k, num_features), "covariances": covariances_shape(self.covariance_type, k, num_features)}

    def _fitted_num_features(self):
        return np.shape(self.means_)[-1]


class PoissonHMM(_HMM):
    """hmmlearn's ``PoissonHMM`` over :func:`jaxem.models.poisson_hmm`: counts (n_samples, n_features).

    Letters: ``s`` startprob_, ``t`` transmat_, ``l`` lambdas_ (K, n_features).

    Example:
      >>> model = PoissonHMM(2, n_iter=50, random_state=0).fit(counts, lengths)
    """

    _letters: ClassVar[dict[str, tuple[str, str]]] = {**_HMM._letters, "l": ("lambdas_", "rates")}

    def __init__(
        self,
        n_components=1,
        *,
        algorithm="viterbi",
        random_state=None,
        n_iter=10,
        tol=1e-2,
        verbose=False,
        params="stl",
        init_params="stl",
        n_init=1,
    ):
        _keep(self, locals())

    def _model(self, num_features):
        return models.poisson_hmm(int(self.n_components))

    def _emission_shapes(self, num_features):
        return {"rates": (int(self.n_components), num_features)}

    def _fitted_num_features(self):
        return np.shape(self.lambdas_)[-1]

    def _observations(self, draws):
        return np.asarray(draws).astype(int)


class CategoricalHMM(_HMM):
    """hmmlearn's ``CategoricalHMM`` over :func:`jaxem.models.categorical_hmm`: symbols ``X`` (n_samples, 1).

    Letters: ``s`` startprob_, ``t`` transmat_, ``e`` emissionprob_ (K, n_features).
    ``n_features`` is the number of symbols (default: the largest in ``X`` plus one,
    set by ``fit`` as in hmmlearn).

    Example:
      >>> model = CategoricalHMM(2, n_iter=50, random_state=0).fit(symbols[:, None], lengths)
    """

    _letters: ClassVar[dict[str, tuple[str, str]]] = {**_HMM._letters, "e": ("emissionprob_", "probs")}

    def __init__(
        self,
        n_components=1,
        *,
        n_features=None,
        algorithm="viterbi",
        random_state=None,
        n_iter=10,
        tol=1e-2,
        verbose=False,
        params="ste",
        init_params="ste",
        n_init=1,
    ):
        _keep(self, locals())

    def _steps(self, X):
        X = super()._steps(X)
        if X.shape[1] != 1:
            raise ValueError(f"X must have shape (n_samples, 1), one symbol per sample; got shape {X.shape}.")
        return X[:, 0]

    def _num_features(self, X):
        largest = int(np.max(X)) + 1
        if self.n_features is None:
            return max(largest, 1)
        validation.check_positive_int(self.n_features, "n_features")
        if largest > self.n_features:
            raise ValueError(
                f"X holds symbol {largest - 1}, but n_features={self.n_features} allows symbols up to "
                f"{self.n_features - 1}."
            )
        return int(self.n_features)

    def _model(self, num_features):
        return models.categorical_hmm(int(self.n_components), int(num_features))

    def _emission_shapes(self, num_features):
        return {"probs": (int(self.n_components), num_features)}

    def _fitted_num_features(self):
        return np.shape(self.emissionprob_)[-1]

    def _observations(self, draws):
        return np.asarray(draws).astype(int)[:, None]
