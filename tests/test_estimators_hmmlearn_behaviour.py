"""The behaviours hmmlearn 0.3.3 documents and tests, checked on the estimators as drop-ins.

Each test names one behaviour of hmmlearn's ``GaussianHMM``, ``PoissonHMM`` or
``CategoricalHMM`` (attribute shapes, attributes set before ``fit``,
posteriors, both decoders, sampling, ``lengths`` with a length-one sequence,
the monitor, ``params``/``init_params`` subsets, priors, input errors,
``n_features``) and runs hmmlearn itself on the same data from the same start
as the reference. Where the estimator differs on purpose (the list in
``jaxem/estimators/hmm.py``) the test says so and checks the documented
behaviour instead.

Tolerances. Fits from one start run the same float64 recursions in another
summation order: parameters within 1e-8 relative (rounding amplified over at
most 40 iterations; observed ~1e-12, while the smallest change a compared
last M-step makes is ~1e-5 relative, so a missing or extra step fails),
log-likelihoods within 1e-10 relative. Single evaluations at equal
parameters: 1e-10.

Shapes are shared (each new shape or setting compiles jaxem's fit once): one
Gaussian, one Poisson and one categorical data set, with the same ragged
``lengths`` holding a length-one sequence.
"""

import logging

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np
import pytest
from hmmlearn import base as hmmlearn_base
from hmmlearn import hmm as hmmlearn_hmm

from jaxem import families as jaxem_families
from jaxem.estimators.hmm import CategoricalHMM, ConvergenceMonitor, GaussianHMM, PoissonHMM

RTOL = 1e-8
HISTORY_RTOL = 1e-10
EVAL_RTOL = 1e-10

LENGTHS = np.array([40, 25, 1, 34])  # ragged, with a length-one sequence (no transition in it)
N = int(LENGTHS.sum())
K = 3


def with_attributes(estimator, **attributes):
    for name, value in attributes.items():
        setattr(estimator, name, np.array(value, dtype=float))
    return estimator


def sampled(estimator, n, seed):
    return estimator.sample(n, random_state=seed)[0]


# ---------------------------------------------------------------------- data and starts
GAUSSIAN_TRUTH = {
    "startprob_": [0.5, 0.3, 0.2],
    "transmat_": [[0.8, 0.1, 0.1], [0.15, 0.7, 0.15], [0.1, 0.2, 0.7]],
    "means_": [[0.0, 0.0], [4.0, 1.0], [-3.0, 3.0]],
    "covars_": [[[1.0, 0.2], [0.2, 0.5]], [[0.6, -0.1], [-0.1, 0.8]], np.eye(2)],
}
GAUSSIAN_X = sampled(with_attributes(hmmlearn_hmm.GaussianHMM(K, "full", init_params=""), **GAUSSIAN_TRUTH), N, 0)
GAUSSIAN_COVARS = {  # each type's per-type shape, as hmmlearn takes it
    "spherical": np.ones(K),
    "diag": np.ones((K, 2)),
    "full": np.tile(np.eye(2), (K, 1, 1)),
    "tied": np.eye(2),
}


def gaussian_start(covariance_type):
    return {
        "startprob_": np.full(K, 1.0 / K),
        "transmat_": np.full((K, K), 0.2) + 0.4 * np.eye(K),
        "means_": [[0.5, 0.5], [3.0, 0.0], [-2.0, 2.0]],
        "covars_": GAUSSIAN_COVARS[covariance_type],
    }


def gaussian_pair(covariance_type, start=None, **settings):
    """(hmmlearn, estimator) with the same settings and start, unfitted."""
    start = gaussian_start(covariance_type) if start is None else start
    settings = {"covariance_type": covariance_type, "init_params": "", **settings}
    reference = with_attributes(hmmlearn_hmm.GaussianHMM(K, **settings), **start)
    return reference, with_attributes(GaussianHMM(K, **settings), **start)


POISSON_TRUTH = {"startprob_": [0.5, 0.5], "transmat_": [[0.9, 0.1], [0.2, 0.8]], "lambdas_": [[2, 8, 1], [9, 1, 4]]}
POISSON_X = sampled(with_attributes(hmmlearn_hmm.PoissonHMM(2, init_params=""), **POISSON_TRUTH), N, 1)
POISSON_START = {"startprob_": [0.3, 0.7], "transmat_": [[0.7, 0.3], [0.4, 0.6]], "lambdas_": [[3, 5, 2], [6, 3, 3]]}

CATEGORICAL_TRUTH = {
    "startprob_": [0.5, 0.5],
    "transmat_": [[0.85, 0.15], [0.25, 0.75]],
    "emissionprob_": [[0.6, 0.3, 0.1], [0.1, 0.2, 0.7]],
}
CATEGORICAL_X = sampled(with_attributes(hmmlearn_hmm.CategoricalHMM(2, init_params=""), **CATEGORICAL_TRUTH), N, 2)
CATEGORICAL_START = {  # four symbols, of which the data use three
    "startprob_": [0.4, 0.6],
    "transmat_": [[0.7, 0.3], [0.4, 0.6]],
    "emissionprob_": [[0.3, 0.3, 0.2, 0.2], [0.2, 0.2, 0.3, 0.3]],
}


def assert_same_fit(reference, ours, attributes):
    """The same M-steps, log-likelihood history and parameters as hmmlearn."""
    assert ours.monitor_.iter == reference.monitor_.iter
    assert ours.monitor_.converged == reference.monitor_.converged
    np.testing.assert_allclose(list(ours.monitor_.history), list(reference.monitor_.history), rtol=HISTORY_RTOL)
    for name in ("startprob_", "transmat_", *attributes):
        np.testing.assert_allclose(getattr(ours, name), getattr(reference, name), rtol=RTOL, atol=1e-12, err_msg=name)


# ---------------------------------------------------------------------- Gaussian: fit, shapes, evaluations
@pytest.fixture(scope="module")
def gaussian_full():
    reference, ours = gaussian_pair("full", n_iter=40)
    return reference.fit(GAUSSIAN_X, LENGTHS), ours.fit(GAUSSIAN_X, LENGTHS)


def test_fit_from_set_attributes_with_a_length_one_sequence(gaussian_full):
    """init_params="" starts from the attributes set before fit; lengths split X into sequences,
    one of length one (it has no transition); the default priors (covars_prior=1e-2) apply."""
    reference, ours = gaussian_full
    assert 2 < reference.monitor_.iter < 40  # stopped by tol
    assert_same_fit(reference, ours, ("means_", "covars_"))
    assert ours.n_features == reference.n_features == 2


def test_fitted_attributes_shapes_and_writeable(gaussian_full):
    """Shapes as hmmlearn's, and the fitted arrays are writeable NumPy copies (hmmlearn's PR 44)."""
    reference, ours = gaussian_full
    for name in ("startprob_", "transmat_", "means_", "covars_", "_covars_"):
        assert np.shape(getattr(ours, name)) == np.shape(getattr(reference, name)), name
        assert isinstance(getattr(ours, name), np.ndarray) and getattr(ours, name).flags.writeable, name


def test_posteriors_decoders_and_criteria_match(gaussian_full):
    """score_samples' posteriors sum to one; predict_proba is them; decode with either algorithm
    and predict (with the estimator's algorithm) agree with hmmlearn; bic/aic equal hmmlearn's
    when every parameter is in params."""
    reference, ours = gaussian_full
    log_prob, posteriors = ours.score_samples(GAUSSIAN_X, LENGTHS)
    reference_log_prob, reference_posteriors = reference.score_samples(GAUSSIAN_X, LENGTHS)
    assert posteriors.shape == (N, K)
    np.testing.assert_allclose(posteriors.sum(axis=1), 1.0, atol=1e-12)  # normalised per step: rounding
    np.testing.assert_allclose(posteriors, reference_posteriors, atol=EVAL_RTOL)
    np.testing.assert_allclose(log_prob, reference_log_prob, rtol=EVAL_RTOL)
    np.testing.assert_allclose(ours.score(GAUSSIAN_X, LENGTHS), reference_log_prob, rtol=EVAL_RTOL)
    np.testing.assert_array_equal(ours.predict_proba(GAUSSIAN_X, LENGTHS), posteriors)
    for algorithm in ("viterbi", "map"):
        value, states = ours.decode(GAUSSIAN_X, LENGTHS, algorithm=algorithm)
        reference_value, reference_states = reference.decode(GAUSSIAN_X, LENGTHS, algorithm=algorithm)
        np.testing.assert_allclose(value, reference_value, rtol=EVAL_RTOL)
        np.testing.assert_array_equal(states, reference_states)
        chosen = with_attributes(GaussianHMM(K, "full", algorithm=algorithm), **fitted(ours, ("means_", "covars_")))
        np.testing.assert_array_equal(chosen.predict(GAUSSIAN_X, LENGTHS), reference_states)
    np.testing.assert_allclose(ours.bic(GAUSSIAN_X, LENGTHS), reference.bic(GAUSSIAN_X, LENGTHS), rtol=EVAL_RTOL)
    np.testing.assert_allclose(ours.aic(GAUSSIAN_X, LENGTHS), reference.aic(GAUSSIAN_X, LENGTHS), rtol=EVAL_RTOL)


def fitted(estimator, emission):
    return {name: getattr(estimator, name) for name in ("startprob_", "transmat_", *emission)}


def test_sample_with_currstate_and_random_state(gaussian_full):
    """sample(n, random_state, currstate): shapes (n, n_features) and (n,); equal seeds (an int, a
    RandomState, or the estimator's own random_state) repeat the draws; currstate is the first
    state, so a chain continues from its last state. (The draws are not hmmlearn's numbers: the
    seed feeds a JAX key.)"""
    _, ours = gaussian_full
    X, states = ours.sample(200, random_state=4)
    assert X.shape == (200, 2) and states.shape == (200,) and states.dtype.kind == "i"
    assert set(np.unique(states)) <= set(range(K))
    np.testing.assert_array_equal(ours.sample(200, random_state=4)[0], X)
    first = ours.sample(200, random_state=np.random.RandomState(9))
    second = ours.sample(200, random_state=np.random.RandomState(9))
    np.testing.assert_array_equal(first[0], second[0])
    own = with_attributes(GaussianHMM(K, "full", random_state=11), **fitted(ours, ("means_", "covars_")))
    np.testing.assert_array_equal(own.sample(200)[1], own.sample(200)[1])
    for currstate in range(K):
        _, continued = ours.sample(200, random_state=currstate, currstate=currstate)
        assert continued[0] == currstate
    _, continued = ours.sample(200, random_state=5, currstate=states[-1])  # a NumPy integer, as hmmlearn's
    assert continued[0] == states[-1]


@pytest.mark.parametrize("covariance_type", ["spherical", "diag", "full", "tied"])
def test_covars_set_per_type_read_as_matrices(covariance_type):
    """covars_ is assigned in the per-type shape and read as (K, D, D) matrices, as hmmlearn's
    (hmmlearn needs n_features to read them before a fit); a wrong per-type shape is refused on
    assignment by both."""
    reference, ours = gaussian_pair(covariance_type)
    reference.n_features = 2
    np.testing.assert_array_equal(ours.covars_, reference.covars_)
    wrong = {"spherical": np.ones(K + 1), "diag": np.ones(K), "full": np.ones((K, 2)), "tied": np.ones((K, 2, 2))}
    for model in (reference, ours):
        with pytest.raises(ValueError):
            model.covars_ = wrong[covariance_type]


def test_spherical_covars_of_any_shape_holding_one_variance_per_state():
    """hmmlearn flattens spherical covars_ holding one variance per state (its issue 385)."""
    reference, ours = gaussian_pair("spherical")
    nested = np.array([[[[4.0]]], [[[3.0]]], [[[2.0]]]])
    reference.covars_, ours.covars_ = nested, nested
    reference.n_features = 2
    np.testing.assert_array_equal(ours.covars_, reference.covars_)


def test_bad_covariance_type_is_refused():
    for make in (hmmlearn_hmm.GaussianHMM, GaussianHMM):
        with pytest.raises(ValueError, match="covariance_type must be one of"):
            make(K, covariance_type="round").covars_ = np.ones(K)


@pytest.mark.filterwarnings("ignore::jaxem.DegenerateFitWarning")  # a state on too few rows, said in words
def test_fit_with_a_constant_feature_stays_finite():
    """A feature constant over the data (hmmlearn's issue 2 and its test): the full covariances are
    near singular but for the prior. hmmlearn's fit at its default n_iter ends finite; the estimator's
    does at 40 iterations too, where a covariance that cannot be factored gets hmmlearn's 1e-7 I
    (hmmlearn itself fails there: it adds 1e-7 I when it evaluates, and then cannot factor it)."""
    X = GAUSSIAN_X.copy()
    X[:, 1] = 7.0
    reference = hmmlearn_hmm.GaussianHMM(K, "full", random_state=0).fit(X, LENGTHS)
    assert np.isfinite(reference.score(X, LENGTHS))
    ours = GaussianHMM(K, "full", n_iter=40, random_state=0).fit(X, LENGTHS)  # the fixture's compiled fit
    assert np.isfinite(ours.score(X, LENGTHS))
    assert np.all(np.linalg.eigvalsh(ours.covars_) > 0)


# ---------------------------------------------------------------------- parameter subsets and priors
def test_left_right_chain_with_fixed_startprob_and_priors():
    """params without 's' keeps startprob_; zeros in startprob_ and transmat_ stay zero (a left-right
    chain); MAP updates under transmat_prior, means_prior/means_weight and covars_prior/covars_weight."""
    start = dict(gaussian_start("full"), startprob_=[1.0, 0.0, 0.0])
    start["transmat_"] = [[0.6, 0.4, 0.0], [0.0, 0.6, 0.4], [0.0, 0.0, 1.0]]
    priors = {
        "transmat_prior": 1.5,
        "means_prior": np.array(GAUSSIAN_TRUTH["means_"]),
        "means_weight": 2.0,
        "covars_prior": 0.3 * np.eye(2),
        "covars_weight": 4.0,
    }
    reference, ours = gaussian_pair("full", start, params="tmc", n_iter=10, tol=0.0, **priors)
    reference.fit(GAUSSIAN_X, LENGTHS)
    ours.fit(GAUSSIAN_X, LENGTHS)
    assert reference.monitor_.iter == 10  # the gains stayed positive, so both ran every iteration
    assert_same_fit(reference, ours, ("means_", "covars_"))
    np.testing.assert_array_equal(ours.startprob_, [1.0, 0.0, 0.0])
    assert np.all(ours.transmat_[np.array(start["transmat_"]) == 0] == 0)


def test_diag_priors_fit_matches_hmmlearn():
    """Every prior of GaussianHMM at once, in a fit (the other covariance types' arithmetic is
    compared step by step below)."""
    priors = {
        "startprob_prior": np.array([2.0, 1.5, 3.0]),
        "transmat_prior": 1.0 + np.eye(K),
        "means_prior": np.array(GAUSSIAN_TRUTH["means_"]),
        "means_weight": 3.0,
        "covars_prior": np.array([[0.2, 0.1], [0.3, 0.3], [0.1, 0.5]]),
        "covars_weight": 3.0,
    }
    reference, ours = gaussian_pair("diag", n_iter=8, tol=0.0, **priors)
    reference.fit(GAUSSIAN_X, LENGTHS)
    ours.fit(GAUSSIAN_X, LENGTHS)
    assert_same_fit(reference, ours, ("means_", "_covars_"))


M_STEP_PRIORS = {
    "spherical": np.array([[0.2], [0.3], [0.4]]),  # (K, 1): NumPy broadcasting, as hmmlearn's arithmetic
    "diag": np.array([[0.2, 0.1], [0.3, 0.3], [0.1, 0.5]]),
    "full": np.array([[0.5, 0.1], [0.1, 0.4]]),  # (D, D), broadcast over the states
    "tied": np.array([[0.5, 0.1], [0.1, 0.4]]),
}


@pytest.mark.parametrize("covariance_type", ["spherical", "diag", "full", "tied"])
def test_m_step_matches_hmmlearn(covariance_type):
    """One M-step under every prior from the same expected statistics: the estimator's (jaxem's
    statistics of the Gaussian family, then PriorMaximize) against hmmlearn's _do_mstep. State 0
    owns three equal rows alone (no scatter: its covariance is the prior's terms), and a zero in
    transmat_ stays zero under a prior above one."""
    rng = np.random.RandomState(0)
    X = rng.randn(30, 2) * [1.0, 2.0] + [1.0, -1.0]
    X[:3] = [4.0, 4.0]
    responsibilities = rng.dirichlet(np.ones(K), size=30)
    responsibilities[:3] = [1.0, 0.0, 0.0]
    responsibilities[3:, 0] = 0.0
    responsibilities /= responsibilities.sum(axis=1, keepdims=True)
    start_counts = np.array([1.5, 0.5, 2.0])
    transition_counts = rng.uniform(1.0, 5.0, size=(K, K))
    old = gaussian_start(covariance_type)
    old["transmat_"] = np.array([[0.5, 0.5, 0.0], [0.2, 0.6, 0.2], [0.3, 0.3, 0.4]])
    priors = {
        "startprob_prior": np.array([2.0, 1.5, 0.5]),
        "transmat_prior": 1.0 + np.eye(K),
        "means_prior": np.array(GAUSSIAN_TRUTH["means_"]),
        "means_weight": 2.0,
        "covars_prior": M_STEP_PRIORS[covariance_type],
        "covars_weight": 4.0,
    }
    reference = with_attributes(hmmlearn_hmm.GaussianHMM(K, covariance_type, **priors), **old)
    reference.n_features = 2
    reference._do_mstep(
        {
            "start": start_counts,
            "trans": transition_counts,
            "post": responsibilities.sum(axis=0),
            "obs": responsibilities.T @ X,
            "obs**2": responsibilities.T @ X**2,
            "obs*obs.T": np.einsum("ij,ik,il->jkl", responsibilities, X, X),
        }
    )
    ours = with_attributes(GaussianHMM(K, covariance_type, **priors), **old)
    model = ours._fit_model(ours._model(2), 2)
    params = ours._fitted_params()[1]
    family = jaxem_families.Gaussian(covariance_type, 0.0)
    statistics = {
        "initial": start_counts,
        "transition": transition_counts,
        "emission": jax.jit(family.statistics)(X, responsibilities, np.ones(30), params),
    }
    new = jax.tree.map(np.asarray, jax.jit(model.maximize)(statistics, params))  # compiled: faster than eager
    # One M-step of float64 algebra in two arrangements: 1e-10 relative.
    np.testing.assert_allclose(new["initial"], reference.startprob_, rtol=1e-10)
    np.testing.assert_allclose(new["transition"], reference.transmat_, rtol=1e-10, atol=1e-15)
    assert new["transition"][0, 2] == 0.0
    np.testing.assert_allclose(new["means"], reference.means_, rtol=1e-10)
    expected = reference._covars_[:, 0] if covariance_type == "spherical" else reference._covars_
    np.testing.assert_allclose(new["covariances"], expected, rtol=1e-10)


def test_singular_full_covariance_gets_hmmlearns_fallback():
    """With covars_prior=0 a state on three equal rows has a zero covariance: hmmlearn keeps it and
    adds 1e-7 I where it evaluates the density; the estimator's M-step adds it at once."""
    X = np.array([[4.0, 4.0]] * 3 + [[0.0, 1.0], [1.0, 0.5], [-1.0, 2.0], [0.5, -1.0]])
    responsibilities = np.zeros((7, 2))
    responsibilities[:3, 0] = 1.0
    responsibilities[3:, 1] = 1.0
    ours = GaussianHMM(2, "full", covars_prior=0.0)
    with_attributes(ours, startprob_=[0.5, 0.5], transmat_=[[0.5, 0.5]] * 2, means_=[[4.0, 4.0], [0.0, 0.0]])
    ours.covars_ = np.tile(np.eye(2), (2, 1, 1))
    params = ours._fitted_params()[1]
    statistics = {
        "initial": np.array([1.0, 0.0]),
        "transition": np.ones((2, 2)),
        "emission": jax.jit(jaxem_families.Gaussian("full", 0.0).statistics)(X, responsibilities, np.ones(7), params),
    }
    new = jax.jit(ours._fit_model(ours._model(2), 2).maximize)(statistics, params)
    np.testing.assert_allclose(np.asarray(new["covariances"])[0], 1e-7 * np.eye(2), atol=1e-20)  # exact zero scatter
    rows = X[3:] - X[3:].mean(axis=0)
    np.testing.assert_allclose(np.asarray(new["covariances"])[1], rows.T @ rows / 4, rtol=1e-12)  # positive definite


def test_poisson_single_iteration_refits_match_and_increase():
    """hmmlearn's pattern of repeated fits with n_iter=1 and init_params="": each continues from
    the last parameters, equal to hmmlearn's, and the log-likelihood never falls (flat priors: EM)."""
    reference = with_attributes(hmmlearn_hmm.PoissonHMM(2, n_iter=1, init_params=""), **POISSON_START)
    ours = with_attributes(PoissonHMM(2, n_iter=1, init_params=""), **POISSON_START)
    scores = []
    for _ in range(6):
        reference.fit(POISSON_X, LENGTHS)
        ours.fit(POISSON_X, LENGTHS)
        assert_same_fit(reference, ours, ("lambdas_",))
        assert ours.monitor_.iter == 1 and ours.monitor_.converged  # n_iter reached
        scores.append(ours.score(POISSON_X, LENGTHS))
        np.testing.assert_allclose(scores[-1], reference.score(POISSON_X, LENGTHS), rtol=EVAL_RTOL)
    assert np.all(np.diff(scores) > 0)


def test_poisson_priors_with_fixed_startprob():
    priors = {"transmat_prior": np.array([[3.0, 1.0], [1.0, 3.0]]), "lambdas_prior": np.array([[1.0, 2, 1], [2, 1, 2]])}
    settings = {"params": "tl", "init_params": "", "n_iter": 8, "tol": 0.0, "lambdas_weight": 0.5, **priors}
    reference = with_attributes(hmmlearn_hmm.PoissonHMM(2, **settings), **POISSON_START).fit(POISSON_X, LENGTHS)
    ours = with_attributes(PoissonHMM(2, **settings), **POISSON_START).fit(POISSON_X, LENGTHS)
    assert reference.monitor_.iter < 8  # stopped by a fall of the log-likelihood (MAP steps), as ours
    assert_same_fit(reference, ours, ("lambdas_",))
    np.testing.assert_array_equal(ours.startprob_, POISSON_START["startprob_"])


def test_categorical_fit_respects_n_features_and_history_increases():
    """n_features=4 with three symbols in the data: kept (the unused symbol's probability goes to
    zero in both), and monitor_.history never falls."""
    settings = {"n_features": 4, "init_params": "", "n_iter": 40, "tol": 5e-2}
    reference = with_attributes(hmmlearn_hmm.CategoricalHMM(2, **settings), **CATEGORICAL_START)
    ours = with_attributes(CategoricalHMM(2, **settings), **CATEGORICAL_START)
    reference.fit(CATEGORICAL_X, LENGTHS)
    ours.fit(CATEGORICAL_X, LENGTHS)
    assert 2 < reference.monitor_.iter < 40
    assert_same_fit(reference, ours, ("emissionprob_",))
    assert ours.n_features == 4 and ours.emissionprob_.shape == (2, 4)
    np.testing.assert_array_equal(ours.emissionprob_[:, 3], 0.0)
    assert np.all(np.diff(list(ours.monitor_.history)) > 0)


def test_categorical_priors_with_fixed_transmat():
    settings = {"n_features": 4, "params": "se", "init_params": "", "n_iter": 8, "tol": 0.0}
    priors = {"startprob_prior": np.array([3.0, 1.0]), "emissionprob_prior": np.array([[2.0, 1, 1, 1], [1, 1, 2, 3]])}
    reference = with_attributes(hmmlearn_hmm.CategoricalHMM(2, **settings, **priors), **CATEGORICAL_START)
    ours = with_attributes(CategoricalHMM(2, **settings, **priors), **CATEGORICAL_START)
    reference.fit(CATEGORICAL_X, LENGTHS)
    ours.fit(CATEGORICAL_X, LENGTHS)
    assert reference.monitor_.iter == 8
    assert_same_fit(reference, ours, ("emissionprob_",))
    np.testing.assert_array_equal(ours.transmat_, CATEGORICAL_START["transmat_"])


def test_bic_counts_only_the_parameters_in_params():
    """A difference: hmmlearn counts every parameter; the estimator leaves out the fixed ones."""
    reference = with_attributes(hmmlearn_hmm.PoissonHMM(2, params="tl", init_params=""), **POISSON_START)
    ours = with_attributes(PoissonHMM(2, params="tl", init_params=""), **POISSON_START)
    reference.n_features = 3
    fixed = reference._get_n_fit_scalars_per_param()["s"]
    expected = reference.bic(POISSON_X, LENGTHS) - fixed * np.log(N)
    np.testing.assert_allclose(ours.bic(POISSON_X, LENGTHS), expected, rtol=EVAL_RTOL)


# ---------------------------------------------------------------------- starts, n_features, logs
def test_init_sets_n_features_and_logs_like_hmmlearn(caplog):
    """_init (hmmlearn's hook, which fit calls) infers n_features from the symbols and fills the
    attributes; an attribute that init_params will overwrite is logged, and so is data too small
    for the free parameters."""
    for make in (hmmlearn_hmm.CategoricalHMM, CategoricalHMM):
        model = make(2, random_state=0)
        model._init(CATEGORICAL_X, LENGTHS)
        assert model.n_features == 3
        assert model.emissionprob_.shape == (2, 3) and model.transmat_.shape == (2, 2)
        np.testing.assert_allclose(model.emissionprob_.sum(axis=1), 1.0, rtol=1e-12)
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            model._init(CATEGORICAL_X, LENGTHS)  # every attribute is set now, and init_params is "ste"
        assert sum("will be overwritten" in record.getMessage() for record in caplog.records) == 3
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            make(2, init_params="")._init(CATEGORICAL_X[:4], [4])  # 2 + 2 + 4 free parameters, 4 values
        assert any("degenerate solution" in record.getMessage() for record in caplog.records)


def test_n_features_inferred_from_the_attributes():
    """Before a fit n_features comes from means_ / lambdas_ / emissionprob_ (hmmlearn's _check)."""
    gaussian = with_attributes(GaussianHMM(K, "full"), **GAUSSIAN_TRUTH)
    gaussian._check()
    poisson = with_attributes(PoissonHMM(2), **POISSON_START)
    poisson._check()
    categorical = with_attributes(CategoricalHMM(2), **CATEGORICAL_START)
    categorical._check()
    assert (gaussian.n_features, poisson.n_features, categorical.n_features) == (2, 3, 4)


def rejects(call):
    try:
        call()
    except ValueError:
        return True
    return False


def unfitted_pairs():
    """(hmmlearn, estimator) pairs with parameters set, for checks that raise before any compiling."""
    return {
        "gaussian": [with_attributes(c(K, "full"), **GAUSSIAN_TRUTH) for c in (hmmlearn_hmm.GaussianHMM, GaussianHMM)],
        "poisson": [with_attributes(c(2), **POISSON_START) for c in (hmmlearn_hmm.PoissonHMM, PoissonHMM)],
        "categorical": [
            with_attributes(c(2, n_features=4), **CATEGORICAL_START)
            for c in (hmmlearn_hmm.CategoricalHMM, CategoricalHMM)
        ],
    }


BAD_CALLS = {
    "lengths not summing to len(X)": ("gaussian", lambda m: m.score(GAUSSIAN_X, [50, 40])),
    "X with the wrong number of features": ("gaussian", lambda m: m.score(np.hstack([GAUSSIAN_X, GAUSSIAN_X]))),
    "unknown decoder": ("gaussian", lambda m: m.decode(GAUSSIAN_X, algorithm="best")),
    "startprob_ not summing to one": ("gaussian", lambda m: (setattr(m, "startprob_", np.full(K, 0.5)), m._check())),
    "transmat_ of the wrong shape": ("gaussian", lambda m: (setattr(m, "transmat_", np.eye(2)), m._check())),
    "lambdas_ of the wrong shape": ("poisson", lambda m: (setattr(m, "lambdas_", np.ones((1, 3))), m._check())),
    "empty lambdas_": ("poisson", lambda m: (setattr(m, "lambdas_", []), m._check())),
    "emissionprob_ of the wrong shape": ("categorical", lambda m: (setattr(m, "emissionprob_", np.eye(2)), m._check())),
    "non-integer symbols": ("categorical", lambda m: m.fit(CATEGORICAL_X.astype(float))),
    "negative symbols": ("categorical", lambda m: m.fit(CATEGORICAL_X - 1)),
    "a symbol beyond n_features": ("categorical", lambda m: m.fit(CATEGORICAL_X + 2)),
    "n_features set by hand, other X": ("gaussian", lambda m: (setattr(m, "n_features", 3), m.fit(GAUSSIAN_X))),
}


@pytest.mark.parametrize("case", list(BAD_CALLS))
def test_malformed_input_is_refused_by_both(case):
    family, call = BAD_CALLS[case]
    reference, ours = unfitted_pairs()[family]
    assert rejects(lambda: call(reference)), "hmmlearn accepts it: not a shared behaviour"
    with pytest.raises(ValueError):
        call(ours)


def test_categorical_symbol_check_like_hmmlearn():
    """_check_and_set_n_features takes integer symbols of any width (uint8 too) in any shape, refuses
    floats and negative symbols, and raises n_features to the largest symbol plus one when unset."""
    for make in (hmmlearn_hmm.CategoricalHMM, CategoricalHMM):
        model = with_attributes(make(2), **CATEGORICAL_START)
        model._check_and_set_n_features(np.array([[0, 2, 1, 3]]).T)
        model._check_and_set_n_features(np.array([[0, 1, 3]], np.uint8).T)
        assert model.n_features == 4
        model._check_and_set_n_features(np.array([[0, 1, 3]], np.uint8))  # a row: only the symbols are checked
        for bad in (np.array([[0.0, 2.0]]).T, np.array([[0, -1]]).T):
            with pytest.raises(ValueError):
                model._check_and_set_n_features(bad)
    with pytest.raises(ValueError, match=r"X must have shape \(n_samples, 1\)"):
        CategoricalHMM(2).fit(np.array([[0, 1, 3]]))  # fit checks the shape


def test_negative_counts_refused_by_poisson():
    """A difference: hmmlearn's PoissonHMM scores any numbers; the estimator takes counts only."""
    reference, ours = unfitted_pairs()["poisson"]
    negative = POISSON_X - 3
    reference.score(negative)  # no error in hmmlearn
    with pytest.raises(ValueError, match="X must hold non-negative integer counts"):
        ours.score(negative)
    with pytest.raises(ValueError, match="X must hold non-negative integer counts"):
        ours.fit(POISSON_X + 0.5)


def test_implementation_accepted_and_log_space_either_way(gaussian_full):
    _, ours = gaussian_full
    scaling = with_attributes(GaussianHMM(K, "full", implementation="scaling"), **fitted(ours, ("means_", "covars_")))
    assert scaling.score(GAUSSIAN_X, LENGTHS) == ours.score(GAUSSIAN_X, LENGTHS)  # the same program
    with pytest.raises(ValueError, match="implementation must be one of"):
        GaussianHMM(K, implementation="fast").fit(GAUSSIAN_X)


# ---------------------------------------------------------------------- monitor, stationary distribution
def test_convergence_monitor_matches_hmmlearn(capsys, caplog):
    """report / converged / history / iter and the verbose table as hmmlearn's monitor, fed the same
    values; a fall larger than sqrt(eps) is logged by both."""
    values = [-50.0, -20.0, -19.0, -18.995, -18.999, -18.9989]
    monitors = [cls(tol=1e-2, n_iter=5, verbose=True) for cls in (hmmlearn_base.ConvergenceMonitor, ConvergenceMonitor)]
    assert not monitors[1].converged and monitors[1].iter == 0 and not monitors[1].history
    lines = []
    for monitor in monitors:
        caplog.clear()
        states = []
        with caplog.at_level(logging.WARNING):
            for value in values:
                monitor.report(value)
                states.append(monitor.converged)
        lines.append(capsys.readouterr().err.splitlines())
        assert sum("converging" in record.getMessage() for record in caplog.records) == 1  # -18.995 -> -18.999
        monitor._reset()
        assert monitor.iter == 0 and not monitor.history
        monitor.states = states
    assert monitors[0].states == monitors[1].states == [False, False, False, True, True, True]
    assert lines[0] == lines[1] and len(lines[1]) == len(values)


def test_stationary_distribution_matches_hmmlearn():
    transmat = np.array([[0.5, 0.3, 0.2], [0.1, 0.8, 0.1], [0.25, 0.25, 0.5]])
    reference = hmmlearn_hmm.GaussianHMM(K)
    ours = GaussianHMM(K)
    reference.transmat_ = ours.transmat_ = transmat
    stationary = ours.get_stationary_distribution()
    np.testing.assert_allclose(stationary, reference.get_stationary_distribution(), rtol=1e-12)  # one eigensolve
    np.testing.assert_allclose(stationary @ transmat, stationary, rtol=1e-12)
