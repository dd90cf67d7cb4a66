"""hmmlearn-style HMM estimators against hmmlearn 0.3.3 itself, from identical starts.

Every comparison runs hmmlearn with ``init_params=""`` and the same starting
attributes as the estimator, both with their default priors (flat, except
hmmlearn's ``covars_prior=1e-2``, which the estimator's M-step applies as
hmmlearn does; ``min_covar`` only enters a start, which is given here). The
sequences are ragged throughout. Non-default priors are compared in
``tests/test_estimators_hmmlearn_behaviour.py``.
"""

import dataclasses
import warnings

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np
import pytest
from hmmlearn import hmm as hmmlearn_hmm

import jaxem
from jaxem.estimators._common import key_from_random_state
from jaxem.estimators.hmm import CategoricalHMM, FixedMaximize, GaussianHMM, PoissonHMM

LENGTHS = np.array([230, 170, 200])
N = int(LENGTHS.sum())
K = 3
TRANSMAT_START = np.full((K, K), 0.2) + 0.4 * np.eye(K)
STARTPROB_START = np.full(K, 1.0 / K)

# Both sides run the same float64 EM recursions in different summation orders:
# the observed differences are ~1e-12 (relative) after up to 36 iterations.
# Parameters: 1e-8 relative leaves room for rounding amplified by the iterations,
# while the smallest change any compared fit's last M-step makes is 1e-5 relative
# (Poisson; 1e-2 for the others), so an extra, missing or wrong step fails.
RTOL = 1e-8
# Log-likelihoods are ~ -1e3: 1e-10 relative is ~1e-7 absolute, against 1e-12
# observed and a smallest gain between compared iterations of 1.7e-5 (Poisson).
HISTORY_RTOL = 1e-10
# At the same parameters the evaluations are single passes: 1e-10 relative, or
# 1e-10 absolute for probabilities.
EVAL_RTOL = 1e-10


def gaussian_data():
    truth = hmmlearn_hmm.GaussianHMM(K, covariance_type="full", init_params="")
    truth.startprob_ = np.array([0.6, 0.3, 0.1])
    truth.transmat_ = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]])
    truth.means_ = np.array([[0.0, 0.0], [3.0, 1.0], [-2.0, 4.0]])
    truth.covars_ = np.array([0.5 * np.eye(2), [[1.0, 0.3], [0.3, 0.8]], np.eye(2)])
    return truth.sample(N, random_state=3)[0]


GAUSSIAN_X = gaussian_data()
MEANS_START = np.array([[0.5, 0.5], [2.0, 2.0], [-1.0, 3.0]])
COVARS_START = {
    "diag": np.ones((K, 2)),
    "full": np.tile(np.eye(2), (K, 1, 1)),
    "spherical": np.ones(K),
    "tied": np.eye(2),
}


def set_start(estimator, **attributes):
    for name, value in attributes.items():
        setattr(estimator, name, np.array(value, dtype=float))
    return estimator


def gaussian_pair(covariance_type, params="stmc", n_iter=20, tol=1e-2):
    """(hmmlearn, estimator) from the same start, both unfitted."""
    start = {
        "startprob_": STARTPROB_START,
        "transmat_": TRANSMAT_START,
        "means_": MEANS_START,
        "covars_": COVARS_START[covariance_type],
    }
    settings = {"covariance_type": covariance_type, "init_params": "", "params": params, "n_iter": n_iter, "tol": tol}
    reference = set_start(hmmlearn_hmm.GaussianHMM(K, **settings), **start)
    ours = set_start(GaussianHMM(K, **settings), **start)
    return reference, ours


def full_covars(reference):
    """hmmlearn's covariances as (K, D, D); its ``covars_`` getter returns (K * D, D, D) for a fitted
    spherical model, whose ``_covars_`` it keeps tiled to (K, D)."""
    if reference.covariance_type == "spherical":
        return reference._covars_[:, :, None] * np.eye(reference.n_features)
    return reference.covars_


def assert_same_fit(reference, ours):
    """Same number of M-steps, the same log-likelihood history and the same parameters."""
    assert ours.monitor_.iter == reference.monitor_.iter
    assert ours.monitor_.converged == reference.monitor_.converged
    np.testing.assert_allclose(list(ours.monitor_.history), list(reference.monitor_.history), rtol=HISTORY_RTOL)
    np.testing.assert_allclose(ours.startprob_, reference.startprob_, rtol=RTOL, atol=1e-12)
    np.testing.assert_allclose(ours.transmat_, reference.transmat_, rtol=RTOL, atol=1e-12)


@pytest.fixture(scope="module")
def gaussian_full():
    reference, ours = gaussian_pair("full")
    return reference.fit(GAUSSIAN_X, LENGTHS), ours.fit(GAUSSIAN_X, LENGTHS)


@pytest.mark.parametrize("covariance_type", ["diag", "spherical", "tied"])
def test_gaussian_fit_matches_hmmlearn(covariance_type):
    reference, ours = gaussian_pair(covariance_type)
    reference.fit(GAUSSIAN_X, LENGTHS)
    ours.fit(GAUSSIAN_X, LENGTHS)
    assert 2 < reference.monitor_.iter < 20  # converged by tol, so the stopping rule is compared
    assert_same_fit(reference, ours)
    np.testing.assert_allclose(ours.means_, reference.means_, rtol=RTOL)
    np.testing.assert_allclose(ours.covars_, full_covars(reference), rtol=RTOL, atol=1e-12)


def test_gaussian_full_fit_matches_hmmlearn(gaussian_full):
    reference, ours = gaussian_full
    assert 2 < reference.monitor_.iter < 20
    assert_same_fit(reference, ours)
    np.testing.assert_allclose(ours.means_, reference.means_, rtol=RTOL)
    np.testing.assert_allclose(ours.covars_, reference.covars_, rtol=RTOL)
    assert ours.n_features == reference.n_features == 2


def hmmlearn_at(ours, reference_class, emission, **settings):
    """An hmmlearn model holding exactly the estimator's parameters (``emission``: its attribute names)."""
    reference = reference_class(ours.n_components, init_params="", **settings)
    for attribute in ("startprob_", "transmat_") + emission:
        setattr(reference, attribute, getattr(ours, attribute))
    reference.n_features = ours.n_features
    return reference


def assert_same_evaluations(reference, ours, X):
    np.testing.assert_allclose(ours.score(X, LENGTHS), reference.score(X, LENGTHS), rtol=EVAL_RTOL)
    log_prob, posteriors = ours.score_samples(X, LENGTHS)
    reference_log_prob, reference_posteriors = reference.score_samples(X, LENGTHS)
    np.testing.assert_allclose(log_prob, reference_log_prob, rtol=EVAL_RTOL)
    np.testing.assert_allclose(posteriors, reference_posteriors, atol=EVAL_RTOL)
    np.testing.assert_allclose(ours.predict_proba(X, LENGTHS), reference_posteriors, atol=EVAL_RTOL)
    viterbi_log_prob, states = ours.decode(X, LENGTHS)
    reference_viterbi, reference_states = reference.decode(X, LENGTHS)
    np.testing.assert_allclose(viterbi_log_prob, reference_viterbi, rtol=EVAL_RTOL)
    np.testing.assert_array_equal(states, reference_states)
    np.testing.assert_array_equal(ours.predict(X, LENGTHS), reference_states)
    map_log_prob, map_states = ours.decode(X, LENGTHS, algorithm="map")
    reference_map, reference_map_states = reference.decode(X, LENGTHS, algorithm="map")
    np.testing.assert_allclose(map_log_prob, reference_map, rtol=EVAL_RTOL)
    np.testing.assert_array_equal(map_states, reference_map_states)
    # bic/aic within 1e-8 relative (the bar); hmmlearn counts every parameter, and here
    # all are in params, so the counts agree.
    np.testing.assert_allclose(ours.bic(X, LENGTHS), reference.bic(X, LENGTHS), rtol=1e-8)
    np.testing.assert_allclose(ours.aic(X, LENGTHS), reference.aic(X, LENGTHS), rtol=1e-8)


def test_gaussian_evaluations_match_hmmlearn(gaussian_full):
    _, ours = gaussian_full
    reference = hmmlearn_at(ours, hmmlearn_hmm.GaussianHMM, ("means_", "covars_"), covariance_type="full")
    assert_same_evaluations(reference, ours, GAUSSIAN_X)


def test_viterbi_log_prob_is_the_best_path_joint(gaussian_full):
    """decode's log-probability is log p(x, z) along the returned path, summed over the sequences,
    computed here in NumPy from the parameters."""
    _, ours = gaussian_full
    log_prob, states = ours.decode(GAUSSIAN_X, LENGTHS)
    from scipy.stats import multivariate_normal

    emission = np.stack([multivariate_normal(ours.means_[k], ours.covars_[k]).logpdf(GAUSSIAN_X) for k in range(K)], 1)
    total, start = 0.0, 0
    for length in LENGTHS:
        path = states[start : start + length]
        total += np.log(ours.startprob_[path[0]]) + np.sum(np.log(ours.transmat_[path[:-1], path[1:]]))
        total += np.sum(emission[np.arange(start, start + length), path])
        start += length
    np.testing.assert_allclose(log_prob, total, rtol=EVAL_RTOL)  # one sum of the same terms


def test_fixed_covariances_match_hmmlearn():
    """params without 'c': the covariances stay at their start while the rest is fitted."""
    reference, ours = gaussian_pair("diag", params="stm", n_iter=6, tol=0.0)
    reference.fit(GAUSSIAN_X, LENGTHS)
    ours.fit(GAUSSIAN_X, LENGTHS)
    assert_same_fit(reference, ours)
    np.testing.assert_allclose(ours.means_, reference.means_, rtol=RTOL)
    np.testing.assert_array_equal(ours._covars_, COVARS_START["diag"])
    # hmmlearn counts every parameter in bic; the estimator leaves out the fixed covariances.
    fixed = reference._get_n_fit_scalars_per_param()["c"]
    np.testing.assert_allclose(
        ours.bic(GAUSSIAN_X, LENGTHS), reference.bic(GAUSSIAN_X, LENGTHS) - fixed * np.log(N), rtol=1e-8
    )


def test_fixed_means_covariances_about_them():
    """params without 'm': one M-step gives (c0 + sum_t g_tk (x_t - mu_k)(x_t - mu_k)^T) / sum_t g_tk
    about the fixed means (c0 = covars_prior = 1e-2 on every entry, hmmlearn's full-covariance rule),
    with the posteriors g from hmmlearn at the start. (hmmlearn 0.3.3 cannot be the reference here:
    without 'm' it does not accumulate the state counts and its covariances blow up.)"""
    reference, ours = gaussian_pair("full", params="c", n_iter=1, tol=0.0)
    posteriors = reference.predict_proba(GAUSSIAN_X, LENGTHS)
    ours.fit(GAUSSIAN_X, LENGTHS)
    for k in range(K):
        centred = GAUSSIAN_X - MEANS_START[k]
        expected = (1e-2 + (posteriors[:, k, None] * centred).T @ centred) / posteriors[:, k].sum()
        np.testing.assert_allclose(ours.covars_[k], expected, rtol=1e-10)  # one M-step: algebra
    np.testing.assert_array_equal(ours.means_, MEANS_START)
    np.testing.assert_array_equal(ours.startprob_, STARTPROB_START)
    np.testing.assert_array_equal(ours.transmat_, TRANSMAT_START)


def test_fixed_models_compare_by_value():
    """Equal settings give equal (and equally hashed) fit models, so they share compiled programs."""
    first = jaxem.models.gaussian_hmm(2, covariance_type="diag", reg_covar=0.0)
    second = jaxem.models.gaussian_hmm(2, covariance_type="diag", reg_covar=0.0)
    wrap = lambda model, fixed: dataclasses.replace(model, maximize=FixedMaximize(model.maximize, fixed))
    assert wrap(first, ("covariances",)) == wrap(second, ("covariances",))
    assert hash(wrap(first, ("covariances",))) == hash(wrap(second, ("covariances",)))
    assert wrap(first, ("covariances",)) != wrap(first, ("means",))


# ---------------------------------------------------------------------- Poisson and categorical
def poisson_data():
    truth = set_start(
        hmmlearn_hmm.PoissonHMM(2, init_params=""),
        startprob_=[0.5, 0.5],
        transmat_=[[0.9, 0.1], [0.2, 0.8]],
        lambdas_=[[2.0, 8.0], [10.0, 1.0]],
    )
    return truth.sample(N, random_state=1)[0]


POISSON_X = poisson_data()
POISSON_START = {"startprob_": [0.3, 0.7], "transmat_": [[0.7, 0.3], [0.4, 0.6]], "lambdas_": [[3.0, 5.0], [6.0, 3.0]]}


def test_poisson_fit_matches_hmmlearn():
    settings = {"init_params": "", "n_iter": 30, "tol": 1e-3}
    reference = set_start(hmmlearn_hmm.PoissonHMM(2, **settings), **POISSON_START).fit(POISSON_X, LENGTHS)
    ours = set_start(PoissonHMM(2, **settings), **POISSON_START).fit(POISSON_X, LENGTHS)
    assert 2 < reference.monitor_.iter < 30
    assert_same_fit(reference, ours)
    np.testing.assert_allclose(ours.lambdas_, reference.lambdas_, rtol=RTOL)
    assert_same_evaluations(hmmlearn_at(ours, hmmlearn_hmm.PoissonHMM, ("lambdas_",)), ours, POISSON_X)


def categorical_data():
    truth = set_start(
        hmmlearn_hmm.CategoricalHMM(2, init_params=""),
        startprob_=[0.5, 0.5],
        transmat_=[[0.9, 0.1], [0.2, 0.8]],
        emissionprob_=[[0.6, 0.3, 0.1], [0.1, 0.2, 0.7]],
    )
    return truth.sample(N, random_state=1)[0]


CATEGORICAL_X = categorical_data()
CATEGORICAL_START = {
    "startprob_": [0.3, 0.7],
    "transmat_": [[0.7, 0.3], [0.4, 0.6]],
    "emissionprob_": [[0.4, 0.4, 0.2], [0.2, 0.3, 0.5]],
}


def test_categorical_fit_matches_hmmlearn(capsys):
    settings = {"init_params": "", "n_iter": 60, "tol": 1e-2}
    reference = set_start(hmmlearn_hmm.CategoricalHMM(2, **settings), **CATEGORICAL_START)
    reference.fit(CATEGORICAL_X, LENGTHS)
    capsys.readouterr()
    ours = set_start(CategoricalHMM(2, verbose=True, **settings), **CATEGORICAL_START).fit(CATEGORICAL_X, LENGTHS)
    assert capsys.readouterr().err  # verbose: jaxem.fit's progress lines on stderr
    assert 2 < reference.monitor_.iter < 60
    assert_same_fit(reference, ours)
    np.testing.assert_allclose(ours.emissionprob_, reference.emissionprob_, rtol=RTOL)
    assert ours.n_features == reference.n_features == 3
    assert_same_evaluations(hmmlearn_at(ours, hmmlearn_hmm.CategoricalHMM, ("emissionprob_",)), ours, CATEGORICAL_X)


# ---------------------------------------------------------------------- starts, sampling, settings
def test_init_params_keeps_the_set_attributes():
    """Letters missing from init_params keep the attributes set before fit (in every restart); the
    others come from jaxem's start: the rates are one of the starts jaxem.fit draws itself from
    the model's init with the same key."""
    sequences = np.zeros((len(LENGTHS), LENGTHS.max(), 2), np.int64)
    for s, rows in enumerate(np.split(POISSON_X, np.cumsum(LENGTHS)[:-1])):
        sequences[s, : len(rows)] = rows
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jaxem.ConvergenceWarning)
        drawn = jaxem.fit(
            jaxem.models.poisson_hmm(2),
            sequences,
            lengths=LENGTHS,
            key=key_from_random_state(7),
            num_restarts=2,
            max_iter=0,
        )
    starts = np.asarray(drawn.restarts.params["rates"])
    partial = PoissonHMM(2, init_params="l", n_iter=0, n_init=2, random_state=7)
    set_start(partial, startprob_=[0.1, 0.9], transmat_=[[0.5, 0.5]] * 2).fit(POISSON_X, LENGTHS)
    np.testing.assert_array_equal(partial.startprob_, [0.1, 0.9])
    np.testing.assert_array_equal(partial.transmat_, [[0.5, 0.5]] * 2)
    # The same init program on the same keys: equal to rounding (1e-12 relative).
    assert any(np.allclose(partial.lambdas_, start, rtol=1e-12, atol=0) for start in starts)
    assert not np.allclose(starts[0], starts[1])  # the two restarts did start apart
    assert partial.monitor_.iter == 0 and not partial.monitor_.history


def test_sample_shapes_and_moments(gaussian_full):
    _, ours = gaussian_full
    X, states = ours.sample(20000, random_state=0)
    assert X.shape == (20000, 2) and states.shape == (20000,) and states.dtype.kind == "i"
    for k in range(K):
        # Given the states the draws are independent: each state's mean within 5 standard errors.
        rows = X[states == k]
        error = np.sqrt(np.diag(ours.covars_[k]) / len(rows))
        assert np.all(np.abs(rows.mean(0) - ours.means_[k]) < 5 * error)
        # Given the visits, the next states are independent draws from the transition row.
        following = states[1:][states[:-1] == k]
        frequencies = np.bincount(following, minlength=K) / len(following)
        spread = np.sqrt(ours.transmat_[k] * (1 - ours.transmat_[k]) / len(following))
        assert np.all(np.abs(frequencies - ours.transmat_[k]) < 5 * spread + 1e-12)
    _, started = ours.sample(20000, random_state=1, currstate=2)  # the same length: no recompilation
    assert started[0] == 2
    np.testing.assert_array_equal(ours.sample(20000, random_state=0)[0], X)  # an int random_state repeats


def test_sample_shapes_discrete():
    poisson = set_start(PoissonHMM(2), **POISSON_START)
    counts, states = poisson.sample(40, random_state=0)
    assert counts.shape == (40, 2) and counts.dtype.kind == "i" and np.all(counts >= 0) and states.shape == (40,)
    categorical = set_start(CategoricalHMM(2), **CATEGORICAL_START)
    symbols, _ = categorical.sample(40, random_state=0)
    assert symbols.shape == (40, 1) and symbols.dtype.kind == "i" and set(np.unique(symbols)) <= {0, 1, 2}


def test_parameters_protocol():
    sklearn_base = pytest.importorskip("sklearn.base")
    model = GaussianHMM(2, covariance_type="full", n_iter=5)
    clone = sklearn_base.clone(model)
    assert clone.get_params() == model.get_params() and clone.covariance_type == "full"
    assert model.set_params(tol=0.5).tol == 0.5
    with pytest.raises(ValueError, match="no parameter 'tolerance'"):
        model.set_params(tolerance=0.5)


@pytest.mark.parametrize(
    "make, X, lengths, match",
    [
        (lambda: GaussianHMM(2), GAUSSIAN_X, [100, 100], "lengths must sum to the number of samples in X"),
        (lambda: GaussianHMM(2), GAUSSIAN_X, [N, 0], "lengths must all be >= 1"),
        (lambda: GaussianHMM(2), GAUSSIAN_X, [[N]], "lengths must be a non-empty 1-D array"),
        (lambda: GaussianHMM(2), GAUSSIAN_X[:, 0], None, r"X must have shape \(n_samples, n_features\)"),
        (lambda: GaussianHMM(2, params="stmx"), GAUSSIAN_X, None, "params must be a string of the letters 'stmc'"),
        (lambda: GaussianHMM(2, init_params=3), GAUSSIAN_X, None, "init_params must be a string"),
        (lambda: GaussianHMM(2, covariance_type="round"), GAUSSIAN_X, None, "covariance_type must be one of"),
        (lambda: GaussianHMM(2, min_covar=-1.0), GAUSSIAN_X, None, "min_covar must be"),
        (lambda: GaussianHMM(2, algorithm="best"), GAUSSIAN_X, None, "algorithm must be one of"),
        (lambda: GaussianHMM(2, n_iter=-1), GAUSSIAN_X, None, "n_iter must be >= 0"),
        (lambda: GaussianHMM(2, tol=-1.0), GAUSSIAN_X, None, "tol must be"),
        (lambda: GaussianHMM(0), GAUSSIAN_X, None, "n_components must be >= 1"),
        (lambda: GaussianHMM(2, n_init=0), GAUSSIAN_X, None, "n_init must be >= 1"),
        (
            lambda: set_start(GaussianHMM(2, init_params="stc"), means_=np.zeros((2, 3))),
            GAUSSIAN_X,
            None,
            r"means_ must have shape \(2, 2\); got shape \(2, 3\)",
        ),
        (
            lambda: set_start(GaussianHMM(2, init_params="tmc"), startprob_=[0.5, 0.6]),
            GAUSSIAN_X,
            None,
            "startprob_ is outside its domain",
        ),
        (lambda: CategoricalHMM(2), GAUSSIAN_X, None, r"X must have shape \(n_samples, 1\)"),
        (lambda: CategoricalHMM(2, n_features=2), CATEGORICAL_X, None, "n_features=2 allows symbols up to 1"),
    ],
)
def test_bad_arguments_are_refused_naming_them(make, X, lengths, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make().fit(X, lengths)


def test_unfitted_and_bad_decoder():
    with pytest.raises(ValueError, match="has no startprob_, transmat_, means_, covars_: call fit first"):
        GaussianHMM(2).score(GAUSSIAN_X)
    model = set_start(PoissonHMM(2), **POISSON_START)
    with pytest.raises(ValueError, match="algorithm must be one of"):
        model.decode(POISSON_X, LENGTHS, algorithm="best")
    with pytest.raises(ValueError, match="currstate must be < n_components=2"):
        model.sample(5, currstate=2)
    with pytest.raises(ValueError, match="lengths must sum to the number of samples in X"):
        model.score(POISSON_X, [1, 2])
