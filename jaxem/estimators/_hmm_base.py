"""What hmmlearn's three HMM estimators share: settings, starts, fitting, evaluation and sampling.

A subclass names its letters (``params``/``init_params``) and gives its jaxem
model, family and emission shapes; the base turns hmmlearn's concatenated
``X`` with ``lengths`` into jaxem's padded sequences, fits with
:func:`jaxem.fit` (the M-step is hmmlearn's, :class:`PriorMaximize`), fills
the ``monitor_`` and reads results back in hmmlearn's concatenated order.
Warnings hmmlearn logs (an attribute that ``init_params`` will overwrite, too
little data for the free parameters, a decreasing log-likelihood reported to
the monitor) go to the ``jaxem.estimators.hmm`` logger.
"""

from __future__ import annotations

import dataclasses
import inspect
import warnings
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

import jaxem
from jaxem import validation
from jaxem.estimators._common import key_from_random_state
from jaxem.estimators._hmm_monitor import ConvergenceMonitor, logger
from jaxem.estimators._hmm_priors import PriorMaximize, check_prior
from jaxem.evaluation import per_unit
from jaxem.families.support import DegenerateBelow
from jaxem.markov import checked_inputs

try:  # hmmlearn raises scikit-learn's error before a fit; scikit-learn is optional here
    from sklearn.exceptions import NotFittedError
except ImportError:  # pragma: no cover - exercised only without scikit-learn

    class NotFittedError(ValueError, AttributeError):
        """Raised when an estimator is used before it has its parameters."""


__all__ = ["BaseHMM", "NotFittedError"]

DECODERS = ("viterbi", "map")
IMPLEMENTATIONS = ("log", "scaling")


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


def padded(steps, lengths):
    """``(sequences (S, T, ...), lengths (S,), mask (S, T))`` from hmmlearn's concatenated steps."""
    num_samples = steps.shape[0]
    if lengths is None:
        lengths = np.array([num_samples])
    else:
        given = np.asarray(lengths)
        given = given.reshape(1) if given.ndim == 0 else given  # hmmlearn takes one length as a number
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


class BaseHMM:
    """What the three estimators share. A subclass names its ``_letters`` and gives ``_model``,
    ``_family``, ``_emission_shapes``, ``_emission_priors`` and ``_fit_scalars`` (all of
    ``num_features``), and ``_fitted_num_features()``."""

    # letter -> (attribute, jaxem parameter name)
    _letters: ClassVar[dict[str, tuple[str, str]]] = {"s": ("startprob_", "initial"), "t": ("transmat_", "transition")}

    def _keep(self, arguments):
        """Stores the constructor's arguments, unchecked (scikit-learn's convention), and a fresh monitor."""
        for name, value in arguments.items():
            if name not in ("self", "__class__"):
                setattr(self, name, value)
        self.monitor_ = ConvergenceMonitor(self.tol, self.n_iter, self.verbose)

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

    # ------------------------------------------------------------------ data
    def _validated(self, X):
        """X as a (n_samples, n_features) array."""
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
            raise ValueError(f"X must have shape (n_samples, n_features) with both >= 1; got shape {X.shape}.")
        return X

    def _steps(self, X):
        """Validated X as jaxem's steps (n_samples, ...)."""
        return X

    def _check_and_set_n_features(self, X):
        """hmmlearn's rule: ``n_features`` (once set, by hand or by a fit) must be X's width; else set it."""
        width = self._validated(X).shape[1]
        if getattr(self, "n_features", None) is not None and self.n_features != width:
            raise ValueError(
                f"X has {width} features, but this {type(self).__name__} has n_features={self.n_features} "
                "(set by hand or by a previous fit)."
            )
        self.n_features = width

    def _check_width(self, X, num_features):
        if X.shape[1] != num_features:
            raise ValueError(
                f"X has {X.shape[1]} features, but this {type(self).__name__} has {num_features} "
                f"({self._letters[self._emission_letter][0]} has shape {np.shape(self._get(self._emission_letter))})."
            )

    def _sample_output(self, draws):
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
        validation.check_choice(self.implementation, "implementation", IMPLEMENTATIONS)
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
        """The jaxem model and params from the fitted (or set) attributes, checked; sets ``n_features``."""
        missing = [self._letters[letter][0] for letter in self._letters if self._get(letter) is None]
        if missing:
            raise NotFittedError(
                f"This {type(self).__name__} has no {', '.join(missing)}: call fit first, or set the attributes."
            )
        num_features = self._fitted_num_features()
        if num_features < 1:
            attribute = self._letters[self._emission_letter][0]
            raise ValueError(
                f"{attribute} must have n_features >= 1 columns; got shape {np.shape(self._get(self._emission_letter))}."
            )
        model = self._model(num_features)
        params = self._user_values(self._letters, model, num_features)
        self.n_features = num_features
        return model, params

    def _check(self):
        """hmmlearn's ``_check``: ``ValueError`` unless every attribute is set, has its shape and lies in
        its domain (probabilities summing to one, positive covariances and rates)."""
        self._fitted_params()

    def _fixed(self):
        return tuple(sorted(name for letter, (_, name) in self._letters.items() if letter not in self.params))

    def _priors(self, num_features):
        k = int(self.n_components)
        return {
            "startprob_prior": check_prior(self.startprob_prior, "startprob_prior", (k,)),
            "transmat_prior": check_prior(self.transmat_prior, "transmat_prior", (k, k)),
            **self._emission_priors(num_features),
        }

    def _fit_model(self, model, num_features):
        """The model ``fit`` runs: hmmlearn's M-step, and degeneracy judged by counts alone (hmmlearn's
        covariances have no ``min_covar`` floor to sit on)."""
        family = self._family(num_features)
        maximize = PriorMaximize(family, self._priors(num_features), self._fixed())
        return dataclasses.replace(model, maximize=maximize, degenerate=DegenerateBelow(family))

    def _inputs(self, X, lengths):
        model, params = self._fitted_params()
        X = self._validated(X)
        self._check_width(X, self.n_features)
        sequences, lengths, mask = padded(self._steps(X), lengths)
        return model, params, sequences, lengths, mask

    # ------------------------------------------------------------------ starts
    def _needs_init(self):
        """The letters a fit initialises: those in ``init_params`` and those whose attribute is unset."""
        return [letter for letter in self._letters if letter in self.init_params or self._get(letter) is None]

    def _prepare(self, X, lengths):
        """Checks the settings and the data, sets ``n_features``, logs hmmlearn's warnings; returns
        ``(model, X, sequences, lengths)``."""
        self._check_settings()
        X = self._validated(X)
        self._check_and_set_n_features(X)
        model = self._model(int(self.n_features))  # checks the model's settings
        sequences, lengths, _ = padded(self._steps(X), lengths)
        for letter in self.init_params:
            if self._get(letter) is not None:
                logger.warning(
                    "%s is set, but it will be overwritten by the initialisation because init_params contains %r "
                    "(leave %r out of init_params to start from it).",
                    self._letters[letter][0],
                    letter,
                    letter,
                )
        counts = self._fit_scalars(int(self.n_features))
        free = sum(counts[letter] for letter in set(self.params))
        if X.size < free:
            logger.warning(
                "Fitting %d free parameters to only %d data values will give a degenerate solution.", free, X.size
            )
        return model, X, sequences, lengths

    def _starts(self, model, X, sequences, lengths, num_restarts):
        """``num_restarts`` starts (leading axis): the attributes set for the letters that need no init,
        else the subclass's hmmlearn start (``_hmmlearn_start``), else jaxem's init drawn with
        ``random_state``; ``None`` when jaxem's init gives everything."""
        num_features = int(self.n_features)
        needed = self._needs_init()
        values = self._user_values([letter for letter in self._letters if letter not in needed], model, num_features)
        values.update(self._hmmlearn_start(X, needed))
        if len(values) == len(self._letters):
            return {name: np.broadcast_to(value, (num_restarts,) + value.shape) for name, value in values.items()}
        key = key_from_random_state(self.random_state)
        drawn = jaxem.initial_params(model, sequences, key=key, num_restarts=num_restarts, lengths=lengths)
        return {name: jnp.broadcast_to(values[name], x.shape) if name in values else x for name, x in drawn.items()}

    def _hmmlearn_start(self, X, needed):
        """``{jaxem name: value}`` for the needed letters hmmlearn starts otherwise than jaxem."""
        del X, needed
        return {}

    def _init(self, X, lengths=None):
        """hmmlearn's ``_init``: sets ``n_features`` and the attributes a fit would initialise (those in
        ``init_params`` and the unset ones) to the start of a fit's first restart."""
        model, X, sequences, lengths = self._prepare(X, lengths)
        start = self._starts(model, X, sequences, lengths, 1)
        for letter in self._needs_init():
            self._put(letter, np.array(start[self._letters[letter][1]][0], dtype=float))

    # ------------------------------------------------------------------ fitting
    def fit(self, X, lengths=None):
        """Estimates the parameters by EM (hmmlearn's ``fit``); returns ``self``.

        Args:
          X: (n_samples, n_features), the sequences concatenated.
          lengths: (n_sequences,) lengths summing to n_samples (default: one sequence).
        """
        model, X, sequences, lengths = self._prepare(X, lengths)
        fit_model = self._fit_model(model, int(self.n_features))
        starts = self._starts(model, X, sequences, lengths, int(self.n_init))
        start = starts if self.n_init > 1 else jax.tree.map(lambda x: x[0], starts)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", jaxem.ConvergenceWarning)  # hmmlearn does not warn at n_iter
            result = jaxem.fit(
                fit_model,
                sequences,
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
        history = np.asarray(result.history)[:steps_made]
        falls = np.flatnonzero(np.diff(history) < self.tol)  # hmmlearn stops after M-step i + 2 (a fall too)
        if falls.size and falls[0] + 2 < steps_made:  # jaxem went on (it stops on |gain| < tol): replay
            steps_made = int(falls[0]) + 2
            params = jax.tree.map(lambda x: x[int(result.best_restart)], starts)
            for _ in range(steps_made):
                params = jaxem.em_step(fit_model, params, sequences, lengths=lengths)
        monitor = self.monitor_ if isinstance(getattr(self, "monitor_", None), ConvergenceMonitor) else None
        self.monitor_ = monitor or ConvergenceMonitor(self.tol, self.n_iter, self.verbose)
        self.monitor_._reset()
        self.monitor_.tol, self.monitor_.n_iter, self.monitor_.verbose = self.tol, self.n_iter, self.verbose
        self.monitor_.history.extend(float(value) for value in history[:steps_made])
        self.monitor_.iter = steps_made
        for letter, (_, name) in self._letters.items():
            self._put(letter, np.array(params[name], dtype=float))  # a writeable copy, as hmmlearn's
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

    def get_stationary_distribution(self):
        """The distribution ``p`` with ``p A = p`` (``A = transmat_``): the left eigenvector of ``A`` for
        the eigenvalue nearest one, normalised to sum to one."""
        if getattr(self, "transmat_", None) is None:
            raise NotFittedError(f"This {type(self).__name__} has no transmat_: call fit first, or set it.")
        transmat = np.asarray(self.transmat_, dtype=float)
        values, vectors = np.linalg.eig(transmat.T)
        vector = np.real_if_close(vectors[:, np.argmin(np.abs(values - 1.0))])
        return np.real(vector / vector.sum()).astype(float)

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
        return self._sample_output(np.asarray(drawn.observations)[0]), np.asarray(drawn.states)[0].astype(int)
