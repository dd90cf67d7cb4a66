"""``jaxem.estimators.GaussianMixture`` as a drop-in for ``sklearn.mixture.GaussianMixture``: the
behaviours scikit-learn's own mixture tests check, each compared with scikit-learn on the same data.

Attributes, shapes and dtypes per covariance type; the iteration count, convergence flag and lower
bounds from identical starts; the methods at the fitted parameters; sampling; warm starts one
iteration at a time; ``max_iter=0``; given precisions; ``random_state`` and ``n_init``; argument
errors (their types and scikit-learn's message phrases); the not-fitted errors; degenerate data and
``reg_covar``; the 1-D one-component BIC against its closed form; the ``init_params`` schemes.

Most tests share one data shape and one fit per covariance type (a module fixture), so the file
compiles few programs. Where a behaviour differs from scikit-learn on purpose, the test says so.
"""

import math
import warnings

import jax

jax.config.update("jax_enable_x64", True)  # the 1e-10 agreements below need float64 (process-global)

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning as SklearnConvergenceWarning
from sklearn.exceptions import NotFittedError
from sklearn.mixture import GaussianMixture as SklearnGaussianMixture

import jaxem
from jaxem.estimators._common import key_from_random_state
from jaxem.estimators.mixture import GaussianMixture, MixtureFitError

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
NOT_CONVERGED = "Best performing initialization did not converge"


# ---------------------------------------------------------------------------- data and starts
def _two_clusters(num_samples=200, seed=0):
    """Two overlapping-but-distinct 2-D clusters of unequal size and shape."""
    rng = np.random.default_rng(seed)
    labels = (rng.uniform(size=num_samples) < 0.35).astype(int)
    centres = np.array([[0.0, 0.0], [4.0, 2.0]])
    factors = np.linalg.cholesky(np.array([[[1.0, 0.4], [0.4, 0.8]], [[0.5, -0.2], [-0.2, 1.5]]]))
    noise = rng.normal(size=(num_samples, 2))
    return centres[labels] + np.einsum("nij,nj->ni", factors[labels], noise), labels


def _start(X, covariance_type):
    """Starting weights, means and precisions away from the optimum (the same for both libraries)."""
    means = X[[np.argmin(X[:, 0]), np.argmax(X[:, 0])]]
    pooled = np.cov(X.T, bias=True)
    covariances = {
        "full": np.stack([pooled, 0.5 * pooled]),
        "tied": pooled,
        "diag": np.stack([np.diag(pooled), 0.5 * np.diag(pooled)]),
        "spherical": np.array([1.0, 0.5]) * np.mean(np.diag(pooled)),
    }[covariance_type]
    matrix = covariance_type in ("full", "tied")
    precisions = np.linalg.inv(covariances) if matrix else 1.0 / covariances
    return {"weights_init": np.array([0.5, 0.5]), "means_init": means, "precisions_init": precisions}


def _shapes(covariance_type, K=2, D=2):
    return {"full": (K, D, D), "tied": (D, D), "diag": (K, D), "spherical": (K,)}[covariance_type]


@pytest.fixture(scope="module", params=COVARIANCE_TYPES)
def fitted(request):
    """(ours, scikit-learn's, X, covariance_type): both fitted with the defaults (tol=1e-3,
    max_iter=100) from the same start."""
    covariance_type = request.param
    X, _ = _two_clusters()
    arguments = dict(n_components=2, covariance_type=covariance_type, **_start(X, covariance_type))
    return GaussianMixture(**arguments).fit(X), SklearnGaussianMixture(**arguments).fit(X), X, covariance_type


# ---------------------------------------------------------------------------- fitting from one start
def test_fit_matches_sklearn_iteration_for_iteration(fitted):
    """From the same start both run the same closed-form iterations in float64 and stop at the same
    one: n_iter_, converged_, every lower bound and every attribute agree. Rounding differs at ~1e-13
    (1e-10 leaves 1000x headroom); the stopping test sees the same change to ~1e-13, so only a change
    within 1e-13 of tol could stop them at different iterations."""
    ours, reference, _, covariance_type = fitted
    assert ours.converged_ and reference.converged_ and ours.n_iter_ == reference.n_iter_ > 2
    assert len(ours.lower_bounds_) == len(reference.lower_bounds_) == ours.n_iter_
    np.testing.assert_allclose(ours.lower_bounds_, reference.lower_bounds_, rtol=0, atol=1e-10)
    assert ours.lower_bound_ == pytest.approx(reference.lower_bound_, abs=1e-10)
    assert np.all(np.diff(ours.lower_bounds_) >= -1e-12)  # EM never lowers the bound (reg_covar keeps it EM)
    shapes = {"weights_": (2,), "means_": (2, 2), "covariances_": _shapes(covariance_type)}
    shapes["precisions_"] = shapes["precisions_cholesky_"] = _shapes(covariance_type)
    for name, shape in shapes.items():
        value = getattr(ours, name)
        assert isinstance(value, np.ndarray) and value.shape == shape and value.dtype == np.float64, name
        np.testing.assert_allclose(value, getattr(reference, name), rtol=0, atol=1e-10, err_msg=name)
    assert ours.n_features_in_ == reference.n_features_in_ == 2


def test_precisions_are_the_inverse_covariances(fitted):
    """precisions_ = covariances_^-1 and precisions_ = U U^T with U = precisions_cholesky_ upper
    triangular (full, tied), or elementwise for diag and spherical: float64 algebra on well-conditioned
    2x2 matrices, 1e-10."""
    ours, _, _, covariance_type = fitted
    if covariance_type in ("full", "tied"):
        precisions = np.reshape(ours.precisions_, (-1, 2, 2))
        covariances = np.reshape(ours.covariances_, (-1, 2, 2))
        factors = np.reshape(ours.precisions_cholesky_, (-1, 2, 2))
        np.testing.assert_allclose(precisions @ covariances, np.broadcast_to(np.eye(2), precisions.shape), atol=1e-10)
        np.testing.assert_array_equal(factors, np.triu(factors))
        np.testing.assert_allclose(factors @ np.swapaxes(factors, -1, -2), precisions, rtol=1e-12, atol=0)
    else:
        np.testing.assert_allclose(ours.precisions_ * ours.covariances_, 1.0, rtol=1e-12)
        np.testing.assert_allclose(ours.precisions_cholesky_**2, ours.precisions_, rtol=1e-12)


def test_methods_match_sklearn_at_the_fitted_parameters(fitted):
    """predict, predict_proba, score_samples, score, bic, aic and the parameter count on the fit data
    and on new data. The parameters agree to 1e-10, so the per-sample log densities to ~1e-9 and
    the sums over 200 samples to ~1e-7: 1e-6 on the criteria, 1e-8 per sample."""
    ours, reference, X, _ = fitted
    assert ours._n_parameters() == reference._n_parameters()
    X_new, _ = _two_clusters(seed=9)  # new data of the same shape: the same compiled programs
    for data in (X, X_new):
        np.testing.assert_array_equal(ours.predict(data), reference.predict(data))
        proba = ours.predict_proba(data)
        np.testing.assert_allclose(proba, reference.predict_proba(data), rtol=0, atol=1e-8)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
        np.testing.assert_array_equal(ours.predict(data), np.argmax(proba, axis=1))
        np.testing.assert_allclose(ours.score_samples(data), reference.score_samples(data), rtol=0, atol=1e-8)
        assert ours.score(data) == pytest.approx(np.mean(ours.score_samples(data)), abs=1e-12)
        assert ours.score(data) == pytest.approx(reference.score(data), abs=1e-8)
        assert ours.bic(data) == pytest.approx(reference.bic(data), abs=1e-6)
        assert ours.aic(data) == pytest.approx(reference.aic(data), abs=1e-6)


def test_sample_shapes_labels_and_moments(fitted):
    """Shapes and dtypes for small and odd sizes (scikit-learn's issue 7701), labels grouped by
    component, and 1000 draws whose per-component means lie within 5 standard errors of means_."""
    ours, reference, _, _ = fitted
    for n in (1, 3, 1000):
        drawn, labels = ours.sample(n)
        expected, expected_labels = reference.sample(n)
        assert drawn.shape == expected.shape == (n, 2) and drawn.dtype == expected.dtype == np.float64
        assert labels.shape == expected_labels.shape == (n,) and labels.dtype == np.int64
        assert np.all(np.diff(labels) >= 0) and set(labels) <= {0, 1}
    for k in range(2):
        rows = drawn[labels == k]
        variances = np.var(rows, axis=0)  # sample variances; the bound is loose enough for their error
        assert np.all(np.abs(rows.mean(axis=0) - ours.means_[k]) < 5 * np.sqrt(variances / len(rows)))


def test_sample_is_the_first_draws_of_jaxem_sample():
    """Draws are rounded up to shared sizes; the kept ones are exactly jaxem.sample's for that size
    (one key per draw), sorted by component (stable), so the rounding changes nothing."""
    X, _ = _two_clusters()
    ours = GaussianMixture(2, random_state=3, max_iter=0, **_start(X, "full")).fit(X)
    drawn, labels = ours.sample(3)
    key = jax.random.fold_in(key_from_random_state(3), 1)
    direct = jaxem.sample(ours._jaxem_model, ours._params(), key, 3)
    order = np.argsort(np.asarray(direct.states), kind="stable")
    np.testing.assert_array_equal(labels, np.asarray(direct.states)[order])
    np.testing.assert_array_equal(drawn, np.asarray(direct.observations)[order])


# ---------------------------------------------------------------------------- iterations, warnings, warm starts
def test_warm_start_one_iteration_at_a_time_matches_sklearn():
    """warm_start with max_iter=1, refitted until converged: after every call the two agree on
    n_iter_, converged_, lower_bound_ and the parameters (1e-10, float64 rounding), the score never
    falls, and both converge at the same call. Each unconverged call warns in scikit-learn's words."""
    X, _ = _two_clusters()
    arguments = dict(n_components=2, warm_start=True, max_iter=1, tol=1e-7, **_start(X, "full"))
    ours, reference = GaussianMixture(**arguments), SklearnGaussianMixture(**arguments)
    with pytest.warns(SklearnConvergenceWarning, match=NOT_CONVERGED):
        ours.fit(X)
    score = -np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SklearnConvergenceWarning)
        reference.fit(X)
        for call in range(200):
            assert ours.n_iter_ == reference.n_iter_ == 1
            assert ours.converged_ == reference.converged_, call
            assert ours.lower_bound_ == pytest.approx(reference.lower_bound_, abs=1e-10)
            np.testing.assert_allclose(ours.means_, reference.means_, rtol=0, atol=1e-10)
            np.testing.assert_allclose(ours.covariances_, reference.covariances_, rtol=0, atol=1e-10)
            assert ours.score(X) >= score - 1e-12
            score = ours.score(X)
            if ours.converged_:
                break
            ours.fit(X)
            reference.fit(X)
    assert ours.converged_ and call > 3


def test_two_iterations_equal_one_and_one_more_warm():
    """max_iter=2 equals max_iter=1 then one warm-started call (scikit-learn's own check), is not
    converged (a ConvergenceWarning, which is also jaxem's), and fit_predict equals fit().predict
    even unconverged. 1e-10: float64 rounding of the same iterations."""
    X, _ = _two_clusters()
    start = _start(X, "full")
    with pytest.warns(jaxem.ConvergenceWarning, match=NOT_CONVERGED):
        straight = GaussianMixture(2, max_iter=2, **start).fit(X)
    reference = SklearnGaussianMixture(2, max_iter=2, **start)
    with pytest.warns(SklearnConvergenceWarning, match=NOT_CONVERGED):
        reference.fit(X)
    warm = GaussianMixture(2, max_iter=1, warm_start=True, **start)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SklearnConvergenceWarning)
        warm.fit(X)
        warm.fit(X)
        predicted = GaussianMixture(2, max_iter=2, **start).fit_predict(X)
    assert not straight.converged_ and straight.n_iter_ == reference.n_iter_ == 2
    np.testing.assert_allclose(straight.lower_bounds_, reference.lower_bounds_, rtol=0, atol=1e-10)
    for name in ("weights_", "means_", "precisions_"):
        np.testing.assert_allclose(getattr(warm, name), getattr(straight, name), rtol=0, atol=1e-10, err_msg=name)
        np.testing.assert_allclose(getattr(straight, name), getattr(reference, name), rtol=0, atol=1e-10)
    np.testing.assert_array_equal(predicted, straight.predict(X))


def test_max_iter_zero_returns_the_start():
    """max_iter=0: the start itself (means_init in place), no iteration, no bound, no warning."""
    X, _ = _two_clusters()
    means = np.array([[1.0, 1.0], [3.0, 1.5]])
    with warnings.catch_warnings():
        warnings.simplefilter("error", SklearnConvergenceWarning)
        ours = GaussianMixture(2, means_init=means, max_iter=0, random_state=0).fit(X)
        reference = SklearnGaussianMixture(2, means_init=means, max_iter=0, random_state=0).fit(X)
    np.testing.assert_array_equal(ours.means_, means)
    assert ours.n_iter_ == reference.n_iter_ == 0 and ours.converged_ is reference.converged_ is False
    assert ours.lower_bound_ == reference.lower_bound_ == -math.inf and ours.lower_bounds_ == []


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_given_precisions_of_the_start_change_nothing(covariance_type):
    """scikit-learn's issue 16944: giving as precisions_init the precisions the start would have
    anyway gives the same fit, in the same number of iterations. The start is jaxem's own for this
    random_state (scikit-learn's test uses its KMeans labels, which a JAX key does not reproduce).
    1e-10: the covariances go through precision and back, float64 rounding."""
    X, _ = _two_clusters()
    plain = GaussianMixture(2, covariance_type=covariance_type, random_state=0)
    model = plain._model(X, False)
    start = jaxem.initial_params(model, X, key=key_from_random_state(0), num_restarts=1)
    covariances = np.asarray(start["covariances"][0])
    precisions = np.linalg.inv(covariances) if covariance_type == "full" else 1.0 / covariances
    given = GaussianMixture(2, covariance_type=covariance_type, random_state=0, precisions_init=precisions).fit(X)
    plain.fit(X)
    assert given.n_iter_ == plain.n_iter_
    np.testing.assert_allclose(given.precisions_cholesky_, plain.precisions_cholesky_, rtol=1e-10, atol=0)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_private_initialize_and_parameter_hooks_equal_sklearns(covariance_type):
    """scikit-learn's private ``_initialize(X, resp)``, ``_get_parameters`` and ``_set_parameters``,
    which its own tests call (issue 26415: precisions_init gives the precisions_cholesky_ the
    covariances would). Compared with scikit-learn's on the same X and random responsibilities,
    with n_components left at 1 as its test does (resp's columns decide). 1e-10: float64 rounding
    through different but exact formulas (anchored moments against raw ones)."""
    rng = np.random.default_rng(3)
    X = rng.random((100, 3))
    resp = rng.random((100, 4))
    resp /= resp.sum(axis=1, keepdims=True)
    ours, reference = (
        GaussianMixture(covariance_type=covariance_type),
        SklearnGaussianMixture(covariance_type=covariance_type),
    )
    ours._initialize(X, resp)
    reference._initialize(X, resp)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_allclose(getattr(ours, name), getattr(reference, name), rtol=1e-10, atol=1e-12, err_msg=name)

    factor = reference.precisions_cholesky_
    matrix = covariance_type in ("full", "tied")
    precisions = factor @ np.swapaxes(factor, -1, -2) if matrix else factor**2
    given = GaussianMixture(covariance_type=covariance_type, precisions_init=precisions)
    given._initialize(X, resp)
    np.testing.assert_allclose(given.precisions_cholesky_, reference.precisions_cholesky_, rtol=1e-8)

    copy = GaussianMixture(covariance_type=covariance_type)
    copy._set_parameters(reference._get_parameters())
    reference._set_parameters(reference._get_parameters())
    np.testing.assert_allclose(copy.precisions_, reference.precisions_, rtol=1e-12)
    assert all(a is b for a, b in zip(copy._get_parameters(), reference._get_parameters()))
    with pytest.raises(ValueError, match="missing the start of weights, means, covariances"):
        GaussianMixture(covariance_type=covariance_type)._initialize(X, None)


def test_random_state_and_restarts():
    """An int random_state reproduces the fit exactly; equal RandomState objects too. n_init=3 keeps
    a restart at least as good as n_init=1's (restart 0 is the same start: the restart keys are a
    split whose first key does not depend on n_init)."""
    X, _ = _two_clusters()
    first = GaussianMixture(2, random_state=5).fit(X)
    again = GaussianMixture(2, random_state=5).fit(X)
    from_generator = GaussianMixture(2, random_state=np.random.RandomState(5)).fit(X)
    from_equal_generator = GaussianMixture(2, random_state=np.random.RandomState(5)).fit(X)
    for name in ("weights_", "means_", "covariances_"):
        np.testing.assert_array_equal(getattr(first, name), getattr(again, name))
        np.testing.assert_array_equal(getattr(from_generator, name), getattr(from_equal_generator, name))
    assert first.n_iter_ == again.n_iter_ and first.lower_bounds_ == again.lower_bounds_
    more = GaussianMixture(2, random_state=5, n_init=3).fit(X)
    assert more.lower_bound_ >= first.lower_bound_


# ---------------------------------------------------------------------------- argument errors
def _messages(arguments, X):
    """The ValueError messages of scikit-learn's and our fit with these arguments."""
    messages = []
    for estimator_class in (SklearnGaussianMixture, GaussianMixture):
        with pytest.raises(ValueError) as caught:
            estimator_class(**{"n_components": 2, **arguments}).fit(X)
        messages.append(str(caught.value))
    return messages


_BAD_PRECISIONS = {
    "full": (np.ones((3, 2, 2)), np.stack([np.diag([-1.0, 1.0]), np.ones((2, 2))])),
    "tied": (np.ones((3, 3)), np.diag([-1.0, 1.0])),
    "diag": (np.ones((3, 2)), np.full((2, 2), -1.0)),
    "spherical": (np.ones(3), np.full(2, -1.0)),
}


@pytest.mark.parametrize(
    "arguments, named",
    [
        ({"weights_init": np.full((2, 1), 0.5)}, "weights_init"),
        ({"weights_init": np.array([0.3, 0.4])}, "weights_init"),
        ({"means_init": np.zeros((3, 2))}, "means_init"),
        ({"n_components": 12, "X": slice(0, 10)}, "X"),
    ]
    + [({"covariance_type": c, "precisions_init": _BAD_PRECISIONS[c][0]}, "precisions_init") for c in COVARIANCE_TYPES]
    + [({"covariance_type": c, "precisions_init": _BAD_PRECISIONS[c][1]}, "precisions_init") for c in COVARIANCE_TYPES],
)
def test_bad_starts_raise_sklearns_message_first(arguments, named):
    """Our ValueError begins with scikit-learn's whole message for the same mistake (shapes, weights
    not normalised, precisions not positive or not positive-definite, fewer samples than components),
    then names our argument. Nothing is compiled: these are host checks."""
    X, _ = _two_clusters()
    arguments = dict(arguments)
    X = X[arguments.pop("X", slice(None))]
    theirs, ours = _messages(arguments, X)
    assert ours.startswith(theirs) and named in ours[len(theirs) :], (theirs, ours)


def test_weights_out_of_range_message_differs_only_in_the_labels():
    """scikit-learn's message labels the minimum "max value" and the maximum "min value"; ours keeps
    its opening phrase and labels them the right way round."""
    X, _ = _two_clusters()
    theirs, ours = _messages({"weights_init": np.array([1.25, -0.25])}, X)
    phrase = "The parameter 'weights' should be in the range [0, 1], but got "
    assert theirs.startswith(phrase + "max value -0.25000, min value 1.25000")
    assert ours.startswith(phrase + "min value -0.25000, max value 1.25000") and "weights_init" in ours


def test_float32_weights_get_float32_tolerance():
    """float32 weights summing to 1 in float32 (3e-8 off in float64) are accepted, as scikit-learn
    accepts them (tolerance 1e-6 for float32, 1e-8 for float64); 3e-8 off in float64 is refused."""
    X, _ = _two_clusters()
    weights = np.array([1 / 3, 2 / 3], np.float32)
    assert abs(1 - weights.astype(np.float64).sum()) > 1e-8
    ours = GaussianMixture(2, weights_init=weights, max_iter=0, random_state=0).fit(X)
    SklearnGaussianMixture(2, weights_init=weights, max_iter=0, random_state=0).fit(X)
    np.testing.assert_allclose(ours.weights_, weights, rtol=1e-7)
    theirs, ours = _messages({"weights_init": np.array([1 / 3 + 3e-8, 2 / 3])}, X)
    assert ours.startswith(theirs) and "normalized" in theirs


def test_not_fitted_and_bad_sample_size():
    """Before fit every method raises NotFittedError with scikit-learn's own message; sample(0)
    after fit raises ValueError with scikit-learn's opening phrase."""
    X, _ = _two_clusters()
    ours, reference = GaussianMixture(2), SklearnGaussianMixture(2)
    for method, argument in [("predict", X), ("predict_proba", X), ("score", X), ("score_samples", X)] + [
        ("bic", X),
        ("aic", X),
        ("sample", 1),
    ]:
        with pytest.raises(NotFittedError) as theirs:
            getattr(reference, method)(argument)
        with pytest.raises(NotFittedError) as caught:
            getattr(ours, method)(argument)
        assert str(caught.value) == str(theirs.value), method
    ours.set_params(max_iter=0, random_state=0, **_start(X, "full")).fit(X)
    with pytest.raises(ValueError, match="^Invalid value for 'n_samples': n_samples must be an int >= 1; got 0"):
        ours.sample(0)


# ---------------------------------------------------------------------------- degenerate data, 1-D, init schemes
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_collapsed_data_without_reg_covar_raise_sklearns_error(covariance_type):
    """Samples repeated on two points, reg_covar=0: every start has a zero covariance. scikit-learn
    raises ValueError; ours raises MixtureFitError (a ValueError and a jaxem.FitError) with
    scikit-learn's message, then jaxem's account."""
    X = np.vstack([np.ones((5, 5)), np.zeros((5, 5))])
    arguments = {"covariance_type": covariance_type, "reg_covar": 0, "random_state": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # scikit-learn's KMeans on duplicated points
        theirs, ours = _messages(arguments, X)
    assert ours.startswith(theirs) and "jaxem" not in theirs
    with pytest.raises(MixtureFitError):
        GaussianMixture(2, **arguments).fit(X)
    assert issubclass(MixtureFitError, ValueError) and issubclass(MixtureFitError, jaxem.FitError)


def test_reg_covar_rescues_collapsed_data():
    """With reg_covar=1e-6 the same data fit: one component on each point, variance exactly reg_covar
    (the scatter is zero), as scikit-learn finds. jaxem also warns that the fit is degenerate (its
    variances sit on the reg_covar floor), which scikit-learn does not. 1e-12: float64 rounding."""
    X = np.vstack([np.ones((5, 5)), np.zeros((5, 5))])
    arguments = {"n_components": 2, "covariance_type": "spherical", "random_state": 0}
    with pytest.warns(jaxem.DegenerateFitWarning):
        ours = GaussianMixture(**arguments).fit(X)
    reference = SklearnGaussianMixture(**arguments).fit(X)
    order, reference_order = np.argsort(ours.means_[:, 0]), np.argsort(reference.means_[:, 0])
    np.testing.assert_allclose(ours.means_[order], reference.means_[reference_order], rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours.weights_, 0.5, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours.covariances_, 1e-6, rtol=1e-6, atol=0)
    np.testing.assert_allclose(reference.covariances_, 1e-6, rtol=1e-6, atol=0)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_one_feature_one_component_bic_closed_form(covariance_type):
    """One Gaussian in 1-D: every covariance type is the same model, with 2 free parameters and the
    MLE mean and variance (plus reg_covar) after one EM iteration from any start (so both converge
    at the third iteration, the first whose bound does not change), and
    BIC = n log(2 pi s2) + n v / s2 + 2 log n with v the biased variance and s2 = v + reg_covar. float64 algebra on
    100 samples, 1e-9; scikit-learn's BIC agrees to the same."""
    X = np.random.default_rng(4).normal(1.5, 2.0, size=(100, 1))
    start = {"weights_init": [1.0], "means_init": [[0.0]], "precisions_init": np.ones(_shapes(covariance_type, 1, 1))}
    arguments = {"n_components": 1, "covariance_type": covariance_type, "max_iter": 3, **start}
    ours = GaussianMixture(**arguments).fit(X)
    reference = SklearnGaussianMixture(**arguments).fit(X)
    variance = np.var(X) + 1e-6
    expected = 100 * np.log(2 * np.pi * variance) + 100 * np.var(X) / variance + 2 * np.log(100)
    assert ours.converged_ is reference.converged_ is True and ours.n_iter_ == reference.n_iter_ == 3
    assert ours._n_parameters() == reference._n_parameters() == 2
    assert ours.bic(X) == pytest.approx(expected, abs=1e-9)
    assert ours.bic(X) == pytest.approx(reference.bic(X), abs=1e-9)
    assert ours.aic(X) == pytest.approx(expected - 2 * np.log(100) + 4, abs=1e-9)


def test_random_responsibilities_give_distinct_means_inside_the_data():
    """With max_iter=0 (the start itself) init_params="random" (uniform random responsibilities,
    whose weighted means all lie near the data's mean) still gives distinct means inside the data's
    range, as scikit-learn's does. (The other schemes start from distinct seeds or k-means labels.)"""
    X, _ = _two_clusters()
    ours = GaussianMixture(2, init_params="random", max_iter=0, random_state=1).fit(X)
    assert not np.allclose(ours.means_[0], ours.means_[1])
    assert np.all((X.min(axis=0) <= ours.means_) & (ours.means_ <= X.max(axis=0)))
