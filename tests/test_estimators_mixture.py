"""The scikit-learn mixture estimators: scikit-learn's own estimator checks, agreement with
``sklearn.mixture.GaussianMixture`` from identical starts, discrete mixtures against SciPy and
hand-written EM, sampling moments, warm starts, no recompilation on refit, and argument errors."""

import inspect
import warnings

import jax

jax.config.update("jax_enable_x64", True)  # the 1e-8 agreements below need float64 (process-global)

import numpy as np
import pytest
import scipy.special
import scipy.stats
from sklearn.exceptions import ConvergenceWarning as SklearnConvergenceWarning
from sklearn.exceptions import NotFittedError
from sklearn.mixture import GaussianMixture as SklearnGaussianMixture
from sklearn.utils.estimator_checks import parametrize_with_checks

import jaxem
from jaxem.estimators._common import key_from_random_state
from jaxem.estimators.mixture import (
    BernoulliMixture,
    CategoricalMixture,
    ConvergenceWarning,
    GaussianMixture,
    PoissonMixture,
)

COVARIANCE_TYPES = ("full", "diag", "spherical", "tied")
_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"


# ---------------------------------------------------------------------------- scikit-learn's checks
# BernoulliMixture is checked with binarize=0.5: with the default binarize=None it refuses the
# non-binary integers the checks feed it (by design; see test_bernoulli_refuses_non_binary_input).
# No check is skipped or expected to fail (check_array_api_input skips itself unless SCIPY_ARRAY_API is set).
@parametrize_with_checks([GaussianMixture(), PoissonMixture(), BernoulliMixture(binarize=0.5), CategoricalMixture()])
def test_sklearn_compatible(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jaxem.FitWarning)  # tiny data sets: degenerate components are expected
        check(estimator)


# ---------------------------------------------------------------------------- data and starts
def _gaussian_data(num_samples=300, seed=3):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0, 0.0], [4.0, 1.0, -2.0], [-3.0, 5.0, 1.0]])
    mixing = np.linalg.cholesky(np.array([[1.0, 0.5, 0.2], [0.5, 2.0, -0.3], [0.2, -0.3, 0.7]]))
    labels = rng.integers(0, 3, num_samples)
    return centres[labels] + rng.normal(size=(num_samples, 3)) @ mixing.T


def _gaussian_start(X, covariance_type, num_components=3, seed=1):
    """Starting weights, means and precisions (scikit-learn's shapes), the same for both libraries."""
    rng = np.random.default_rng(seed)
    means = X[rng.choice(len(X), num_components, replace=False)]
    weights = rng.dirichlet(np.full(num_components, 5.0))
    pooled = np.cov(X.T, bias=True)
    scales = rng.uniform(0.5, 1.5, num_components)
    covariances = {
        "full": np.stack([pooled * s for s in scales]),
        "diag": np.diag(pooled)[None] * scales[:, None],
        "spherical": np.mean(np.diag(pooled)) * scales,
        "tied": pooled,
    }[covariance_type]
    precisions = np.linalg.inv(covariances) if covariance_type in ("full", "tied") else 1.0 / covariances
    return {"weights_init": weights, "means_init": means, "precisions_init": precisions}


def _counts(num_samples=400, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, num_samples)
    return rng.poisson(np.array([[1.0, 6.0, 2.0], [8.0, 1.5, 4.0]])[labels])


def _binary(num_samples=400, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, num_samples)
    probs = np.array([[0.9, 0.8, 0.1, 0.2], [0.1, 0.3, 0.7, 0.9]])
    return (rng.uniform(size=(num_samples, 4)) < probs[labels]).astype(np.int64)


def _symbols(num_samples=400, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, num_samples)
    probs = np.array([[[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], [[0.1, 0.3, 0.6], [0.6, 0.3, 0.1]]])  # (K, D, C)
    cumulative = np.cumsum(probs[labels], axis=-1)
    return np.sum(rng.uniform(size=(num_samples, 2, 1)) > cumulative, axis=-1)


# ---------------------------------------------------------------------------- Gaussian against scikit-learn
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_gaussian_matches_sklearn(covariance_type):
    """Fitted parameters from identical starts, and every method at the same parameters.

    Both start from the same weights, means and precisions and run exactly max_iter EM iterations
    (tol=0: neither stops early; tests/test_estimators_sklearn_behaviour.py compares stopping at
    tol > 0). The iterates are the same closed-form updates in float64, so they agree to rounding:
    1e-10 leaves ~1000x headroom over the 1e-13 observed."""
    X = _gaussian_data()
    start = _gaussian_start(X, covariance_type)
    arguments = dict(n_components=3, covariance_type=covariance_type, tol=0.0, max_iter=100, **start)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SklearnConvergenceWarning)  # both warn that tol=0 was not met (ours is one)
        reference = SklearnGaussianMixture(**arguments).fit(X)
        ours = GaussianMixture(**arguments).fit(X)
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        assert getattr(ours, name).shape == getattr(reference, name).shape, name
        np.testing.assert_allclose(getattr(ours, name), getattr(reference, name), rtol=0, atol=1e-10, err_msg=name)
    assert ours.n_iter_ == reference.n_iter_ == 100
    # Every iterate: the bound after iteration t is the log-likelihood before that iteration's M-step
    # in both (the estimator counts iterations as scikit-learn does).
    assert len(ours.lower_bounds_) == len(reference.lower_bounds_) == 100
    np.testing.assert_allclose(ours.lower_bounds_, reference.lower_bounds_, rtol=0, atol=1e-10)
    assert ours.lower_bound_ == pytest.approx(reference.lower_bound_, abs=1e-10)

    # The methods at exactly scikit-learn's parameters (they read the fitted attributes): float64
    # rounding summed over 300 samples, ~1e-12 on bic/aic (~1e3 in size), so 1e-8 leaves 1e4 headroom.
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        setattr(ours, name, getattr(reference, name))
    X_new = _gaussian_data(num_samples=120, seed=5)
    for data in (X, X_new):
        np.testing.assert_array_equal(ours.predict(data), reference.predict(data))
        np.testing.assert_allclose(ours.predict_proba(data), reference.predict_proba(data), rtol=0, atol=1e-8)
        np.testing.assert_allclose(ours.score_samples(data), reference.score_samples(data), rtol=0, atol=1e-8)
        assert ours.score(data) == pytest.approx(reference.score(data), abs=1e-8)
        assert ours.bic(data) == pytest.approx(reference.bic(data), abs=1e-8)
        assert ours.aic(data) == pytest.approx(reference.aic(data), abs=1e-8)
    # ICL = BIC + 2 * classification entropy, the entropy computed here from scikit-learn's posteriors
    entropy = -np.sum(np.log(np.max(reference.predict_proba(X), axis=1)))
    assert ours.icl(X) == pytest.approx(reference.bic(X) + 2 * entropy, abs=1e-8)


def test_gaussian_default_fit_reaches_sklearns_optimum():
    """Each from its own k-means starts (different random streams): on three well-separated clusters
    both reach the same optimum; tol=1e-8 per sample bounds the parameters' distance from it to about
    sqrt(1e-8) = 1e-4 (the log-likelihood is quadratic at the optimum), so 1e-3 on the parameters."""
    X = _gaussian_data()
    reference = SklearnGaussianMixture(3, tol=1e-8, n_init=2, random_state=0).fit(X)
    ours = GaussianMixture(3, tol=1e-8, n_init=2, random_state=0).fit(X)
    order = np.argsort(ours.means_[:, 0])
    reference_order = np.argsort(reference.means_[:, 0])
    np.testing.assert_allclose(ours.means_[order], reference.means_[reference_order], atol=1e-3)
    np.testing.assert_allclose(ours.weights_[order], reference.weights_[reference_order], atol=1e-3)
    assert ours.lower_bound_ == pytest.approx(reference.lower_bound_, abs=1e-6)
    assert ours.converged_
    np.testing.assert_array_equal(ours.fit_predict(X), ours.predict(X))


def test_partial_starts_replace_only_the_given_entries():
    """rates_init alone: the fit starts from jaxem's own start (from the key random_state seeds) with
    those rates put in place, as scikit-learn replaces the given entries of its own start."""
    X = _counts()
    rates = np.array([[2.0, 3.0, 3.0], [5.0, 2.0, 2.0]])
    ours = PoissonMixture(2, rates_init=rates, max_iter=0, random_state=7).fit(X)
    plain = jaxem.fit(jaxem.models.poisson_mixture(2), X, key=key_from_random_state(7), num_restarts=1, max_iter=0)
    np.testing.assert_array_equal(ours.rates_, rates)
    np.testing.assert_array_equal(ours.weights_, np.asarray(plain.params["weights"]))
    assert not np.allclose(ours.rates_, np.asarray(plain.params["rates"]))


def test_init_params_map_to_jaxem_schemes():
    """Each scikit-learn init_params name builds the model with jaxem's scheme of that meaning, and
    the fit equals jaxem.fit of that model from the key random_state gives, with max_iter - 1
    iterations, then one jaxem.em_step (scikit-learn's count; exactly: the same programs)."""
    X = _counts()
    schemes = {"kmeans": "kmeans", "k-means++": "kmeans++", "random": "random_responsibilities"}
    schemes["random_from_data"] = "random_points"
    data = np.asarray(X, float)
    for name, scheme in schemes.items():  # the model each name builds (no fit: each would compile)
        assert PoissonMixture(2, init_params=name)._model(data, False) == jaxem.models.poisson_mixture(2, init=scheme)
    ours = PoissonMixture(2, n_init=2, random_state=4).fit(X)
    model = jaxem.models.poisson_mixture(2)
    direct = jaxem.fit(model, X, key=key_from_random_state(4), num_restarts=2, max_iter=99, tol=1e-3)
    last = jaxem.em_step(model, direct.params, X)
    np.testing.assert_array_equal(ours.rates_, np.asarray(last["rates"]))
    np.testing.assert_array_equal(ours.weights_, np.asarray(last["weights"]))
    assert ours.n_iter_ == int(direct.num_iterations) + 1 and ours.lower_bound_ == float(direct.log_likelihood) / len(X)


# ---------------------------------------------------------------------------- discrete mixtures
def _component(estimator_class):
    return "rates" if estimator_class is PoissonMixture else "probs"


def _log_pmf_table(estimator_class, weights, component, X):
    """log pi_k + log p(x_i | k) (n, K), written out in NumPy/SciPy for each family."""
    if estimator_class is PoissonMixture:
        table = scipy.stats.poisson.logpmf(X[:, None, :], component[None]).sum(-1)
    elif estimator_class is BernoulliMixture:
        table = scipy.stats.bernoulli.logpmf(X[:, None, :], component[None]).sum(-1)
    else:
        features = np.arange(X.shape[1])
        table = np.stack([np.log(p[features, X]).sum(-1) for p in component], axis=1)
    return np.log(weights) + table


def _one_em_step(estimator_class, X, weights, component):
    """One EM iteration by hand: responsibilities at the start, then pi = mean r and the family's
    weighted mean (rates, probabilities, or category frequencies)."""
    table = _log_pmf_table(estimator_class, weights, component, X)
    responsibilities = np.exp(table - scipy.special.logsumexp(table, axis=1, keepdims=True))
    counts = responsibilities.sum(0)
    if estimator_class is CategoricalMixture:
        one_hot = np.eye(component.shape[-1])[X]  # (n, D, C)
        new = np.einsum("nk,ndc->kdc", responsibilities, one_hot) / counts[:, None, None]
    else:
        new = responsibilities.T @ X / counts[:, None]
    return counts / counts.sum(), new


DISCRETE = [
    (PoissonMixture, _counts, np.array([[2.0, 3.0, 3.0], [5.0, 2.0, 2.0]])),
    (BernoulliMixture, _binary, np.array([[0.6, 0.6, 0.4, 0.4], [0.4, 0.4, 0.6, 0.6]])),
    (CategoricalMixture, _symbols, np.array([[[0.5, 0.3, 0.2], [0.3, 0.3, 0.4]], [[0.3, 0.3, 0.4], [0.4, 0.3, 0.3]]])),
]


@pytest.mark.parametrize("estimator_class, make_data, component", DISCRETE)
def test_discrete_methods_against_scipy(estimator_class, make_data, component):
    """score_samples, predict_proba, predict, bic and aic at the fitted parameters against the
    log-pmf mixture written in SciPy, and one EM iteration against the update written by hand.
    All float64 algebra on 400 samples: 1e-10 (1e-8 on the criteria, ~1e3 in size)."""
    X = make_data()
    weights, name = np.array([0.4, 0.6]), _component(estimator_class)
    one_iteration = estimator_class(2, weights_init=weights, max_iter=1, tol=0.0, **{f"{name}_init": component})
    with pytest.warns(ConvergenceWarning, match="max_iter=1"):  # one iteration cannot meet a tol
        after_one = one_iteration.fit(X)
    expected_weights, expected_component = _one_em_step(estimator_class, X, weights, component)
    np.testing.assert_allclose(after_one.weights_, expected_weights, rtol=0, atol=1e-10)
    np.testing.assert_allclose(getattr(after_one, f"{name}_"), expected_component, rtol=0, atol=1e-10)

    fitted = estimator_class(2, n_init=2, random_state=0).fit(X)
    table = _log_pmf_table(estimator_class, fitted.weights_, getattr(fitted, f"{name}_"), X)
    log_p = scipy.special.logsumexp(table, axis=1)
    np.testing.assert_allclose(fitted.score_samples(X), log_p, rtol=0, atol=1e-10)
    np.testing.assert_allclose(fitted.predict_proba(X), np.exp(table - log_p[:, None]), rtol=0, atol=1e-10)
    np.testing.assert_array_equal(fitted.predict(X), np.argmax(table, axis=1))
    assert fitted.score(X) == pytest.approx(np.mean(log_p), abs=1e-10)
    num_samples, num_features = X.shape
    per_feature = 1 if estimator_class is not CategoricalMixture else fitted.n_categories_ - 1
    num_parameters = (2 - 1) + 2 * num_features * per_feature
    assert fitted.bic(X) == pytest.approx(-2 * log_p.sum() + num_parameters * np.log(num_samples), abs=1e-8)
    assert fitted.aic(X) == pytest.approx(-2 * log_p.sum() + 2 * num_parameters, abs=1e-8)
    # lower_bound_ is the bound before the last M-step (scikit-learn's), which EM cannot lower
    assert fitted.lower_bound_ == fitted.lower_bounds_[-1] <= fitted.score(X) + 1e-12


def test_categorical_infers_the_number_of_categories():
    X = _symbols()
    inferred = CategoricalMixture(2, n_init=2, random_state=0).fit(X)
    assert inferred.n_categories_ == X.max() + 1 == 3
    assert inferred.probs_.shape == (2, 2, 3)
    wider = CategoricalMixture(2, n_categories=5, n_init=2, random_state=0).fit(X)
    assert wider.n_categories_ == 5 and wider.probs_.shape == (2, 2, 5)


def test_bernoulli_binarize_thresholds_the_input():
    """binarize=t counts entries > t as 1: the same fit and scores as the thresholded data."""
    rng = np.random.default_rng(1)
    raw = rng.normal(size=(400, 4)) + 2.0 * _binary()
    thresholded = BernoulliMixture(2, binarize=1.0, n_init=2, random_state=0).fit(raw)
    plain = BernoulliMixture(2, n_init=2, random_state=0).fit((raw > 1.0).astype(int))
    np.testing.assert_array_equal(thresholded.probs_, plain.probs_)
    np.testing.assert_array_equal(thresholded.score_samples(raw), plain.score_samples((raw > 1.0).astype(int)))


# ---------------------------------------------------------------------------- sampling
def test_gaussian_sample_moments():
    """20000 draws: component frequencies within 5 binomial sds (sqrt(p(1-p)/n) <= 0.0036) of
    weights_, per-component means within 5 sds of the mean (sqrt(var / n_k)), variances within
    5 sds of the variance (var * sqrt(2 / n_k)) of the model's."""
    X = _gaussian_data()
    for covariance_type in ("full", "spherical"):
        start = _gaussian_start(X, covariance_type)  # the starts (and so the program) of test_gaussian_matches_sklearn
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # tol=0 is never met
            model = GaussianMixture(3, covariance_type=covariance_type, tol=0.0, random_state=0, **start).fit(X)
        samples, labels = model.sample(20000)
        assert samples.shape == (20000, 3) and labels.shape == (20000,) and labels.dtype == np.int64
        assert np.all(np.diff(labels) >= 0)  # grouped by component, as scikit-learn returns them
        counts = np.bincount(labels, minlength=3)
        frequencies = counts / labels.size
        assert np.all(np.abs(frequencies - model.weights_) < 5 * np.sqrt(model.weights_ * (1 - model.weights_) / 2e4))
        covariances = model.covariances_
        for k in range(3):
            variances = np.diag(covariances[k]) if covariance_type == "full" else np.full(3, covariances[k])
            drawn = samples[labels == k]
            sample_variances = np.var(drawn, axis=0)
            assert np.all(np.abs(drawn.mean(0) - model.means_[k]) < 5 * np.sqrt(variances / counts[k]))
            assert np.all(np.abs(sample_variances - variances) < 5 * variances * np.sqrt(2 / counts[k]))
            if covariance_type == "full":  # the off-diagonal: sample covariance within 5 sds too
                sample_covariance = np.cov(drawn.T, bias=True)
                sd = np.sqrt((covariances[k] ** 2 + np.outer(variances, variances)) / counts[k])
                assert np.all(np.abs(sample_covariance - covariances[k]) < 5 * sd)
    repeat_x, repeat_y = model.sample(20000)
    np.testing.assert_array_equal(repeat_x, samples)  # an int random_state gives the same draw, as scikit-learn
    np.testing.assert_array_equal(repeat_y, labels)


@pytest.mark.parametrize("estimator_class, make_data, component", DISCRETE)
def test_discrete_sample_moments(estimator_class, make_data, component):
    """20000 draws: component frequencies within 5 binomial sds of weights_, and each component's
    mean (Poisson: rates, Bernoulli: probabilities; categorical: category frequencies) within 5 sds
    of the model's (sd = sqrt(variance / n_k))."""
    del component
    model = estimator_class(2, n_init=2, random_state=0).fit(make_data())
    samples, labels = model.sample(20000)
    assert samples.shape == (20000, model.n_features_in_) and samples.dtype == np.int64
    assert set(np.unique(labels)) <= {0, 1} and np.all(np.diff(labels) >= 0)
    frequencies = np.bincount(labels, minlength=2) / labels.size
    assert np.all(np.abs(frequencies - model.weights_) < 5 * np.sqrt(model.weights_ * (1 - model.weights_) / 2e4))
    for k in range(2):
        drawn = samples[labels == k]
        if estimator_class is CategoricalMixture:
            mean = np.eye(model.n_categories_)[drawn].mean(0)  # (D, C) frequencies
            expected, variance = model.probs_[k], model.probs_[k] * (1 - model.probs_[k])
        elif estimator_class is PoissonMixture:
            mean, expected, variance = drawn.mean(0), model.rates_[k], model.rates_[k]
        else:
            mean, expected, variance = drawn.mean(0), model.probs_[k], model.probs_[k] * (1 - model.probs_[k])
        assert np.all(np.abs(mean - expected) < 5 * np.sqrt(variance / len(drawn)) + 1e-12)


# ---------------------------------------------------------------------------- compilation, warm start, dtypes
def _compiles_during(run):
    compiles = []
    listener = lambda event, duration, **kwargs: compiles.append(event) if event == _COMPILE_EVENT else None
    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        run()
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    return len(compiles)


def test_refit_does_not_recompile():
    """A second estimator of the same configuration, on new data of the same shape, compiles nothing
    (fit, predict, score_samples, bic); a new data shape does compile (so the check can fail; the
    cheapest new program is an evaluation)."""
    X = _gaussian_data()
    first = GaussianMixture(3, n_init=2, random_state=0).fit(X)
    first.predict(X), first.score_samples(X), first.bic(X)
    X_new = _gaussian_data(seed=11)

    def refit():
        second = GaussianMixture(3, n_init=2, random_state=1).fit(X_new)
        second.predict(X_new), second.score_samples(X_new), second.bic(X_new)
        first.fit(X_new)
        assert not np.allclose(second.means_, GaussianMixture(3, n_init=2, random_state=0).fit(X).means_)

    assert _compiles_during(refit) == 0
    assert _compiles_during(lambda: first.score_samples(X[:-1])) > 0


def test_warm_start_continues_from_the_previous_fit():
    """One iteration, then one more with warm_start, equal two from the same start (the second fit
    starts at the first's parameters exactly; the Gaussian's attributes go back to jaxem parameters
    by the same code in every method): float64 rounding, 1e-10."""
    X = _counts()
    settings = {"n_components": 2, "tol": 0.0, "random_state": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # tol=0 is never met
        straight = PoissonMixture(max_iter=2, **settings).fit(X)
        warm = PoissonMixture(max_iter=1, warm_start=True, **settings).fit(X)
        before = warm.weights_.copy()
        warm.set_params(n_init=3)  # ignored when continuing, as in scikit-learn
        warm.fit(X)
    assert warm.n_iter_ == 1 and not np.array_equal(before, warm.weights_)
    np.testing.assert_allclose(warm.weights_, straight.weights_, rtol=0, atol=1e-10)
    np.testing.assert_allclose(warm.lower_bound_, straight.lower_bound_, rtol=0, atol=1e-10)
    with pytest.raises(ValueError, match="features"):
        warm.fit(X[:, :2])


def test_float32_input_is_computed_in_the_default_float():
    """float32 X is fitted in the engine's float (float64 here) and the attributes come back in
    float32, as scikit-learn keeps X's dtype: exactly the float64 fit of the same values, rounded."""
    X = _gaussian_data()
    start = _gaussian_start(X, "full")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # tol=0 is never met
        narrow = GaussianMixture(3, tol=0.0, **start).fit(X.astype(np.float32))
        wide = GaussianMixture(3, tol=0.0, **start).fit(X.astype(np.float32).astype(np.float64))
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        assert getattr(narrow, name).dtype == np.float32 and getattr(wide, name).dtype == np.float64, name
        np.testing.assert_array_equal(getattr(narrow, name), getattr(wide, name).astype(np.float32), err_msg=name)
    assert narrow.score_samples(X.astype(np.float32)).dtype == np.float32
    assert isinstance(narrow.predict_proba(X), np.ndarray) and narrow.predict_proba(X).dtype == np.float64


def test_convergence_warning_is_sklearns():
    with pytest.warns(SklearnConvergenceWarning, match="max_iter=1"):
        PoissonMixture(2, max_iter=1, tol=1e-12, random_state=0).fit(_counts())
    assert issubclass(ConvergenceWarning, jaxem.ConvergenceWarning)


@pytest.mark.skipif(
    "progress" not in inspect.signature(jaxem.fit).parameters, reason="jaxem.fit has no progress argument yet"
)
def test_verbose_prints_progress(capfd):
    PoissonMixture(2, n_init=2, verbose=1, random_state=0).fit(_counts())
    assert "iteration" in capfd.readouterr().err
    PoissonMixture(2, n_init=2, verbose=0, random_state=0).fit(_counts())
    assert capfd.readouterr().err == ""


# ---------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "arguments, match",
    [
        ({"n_components": 0}, "n_components must be an int >= 1; got 0"),
        ({"n_components": 2.5}, "n_components must be an int"),
        ({"tol": -1.0}, "tol must be a non-negative finite float; got -1.0"),
        ({"max_iter": -1}, "max_iter must be an int >= 0"),
        ({"n_init": 0}, "n_init must be an int >= 1"),
        ({"init_params": "bogus"}, "init_params must be one of .*got 'bogus'"),
        ({"covariance_type": "bogus"}, "covariance_type must be one of .*got 'bogus'"),
        ({"reg_covar": -1e-3}, "reg_covar must be a non-negative"),
        ({"warm_start": "yes"}, "warm_start must be True or False"),
        ({"verbose": -1}, "verbose must be an int >= 0"),
        ({"verbose_interval": 0}, "verbose_interval must be an int >= 1"),
        ({"random_state": "seed"}, "random_state must be"),
        ({"weights_init": [0.5, 0.5]}, r"'weights' should have the shape of \(3,\), but got \(2,\): weights_init"),
        ({"weights_init": [0.5, 0.4, 0.2]}, "weights_init must sum to 1"),
        ({"means_init": np.zeros((3, 2))}, r"'means' should have the shape of \(3, 3\), but got \(3, 2\): means_init"),
        ({"precisions_init": -np.ones(3), "covariance_type": "spherical"}, "precisions_init must be positive"),
        ({"precisions_init": -np.stack([np.eye(3)] * 3)}, "precisions_init must hold symmetric positive-definite"),
        ({"n_components": 400}, "n_components = 400, n_samples = 300: X must have at least one sample per"),
    ],
)
def test_bad_arguments_raise_at_fit(arguments, match):
    estimator = GaussianMixture(**{"n_components": 3, **arguments})  # the constructor only stores
    with pytest.raises(ValueError, match=match):
        estimator.fit(_gaussian_data())


@pytest.mark.parametrize("estimator_class", [GaussianMixture, PoissonMixture, BernoulliMixture, CategoricalMixture])
def test_not_fitted(estimator_class):
    estimator = estimator_class()
    X = np.ones((4, 2), int)
    for method in ("predict", "predict_proba", "score_samples", "score", "bic", "aic", "icl"):
        with pytest.raises(NotFittedError):
            getattr(estimator, method)(X)
    with pytest.raises(NotFittedError):
        estimator.sample(3)


def test_discrete_input_errors():
    counts = _counts()
    with pytest.raises(
        ValueError, match="X must hold non-negative integer counts for PoissonMixture; got 1 non-integer"
    ):
        PoissonMixture(2).fit(np.where(np.arange(counts.size).reshape(counts.shape) == 5, 0.5, counts))
    with pytest.raises(ValueError, match="Negative values in data passed to PoissonMixture: X must hold"):
        PoissonMixture(2).fit(counts - 3)
    with pytest.raises(ValueError, match="rates_init must be positive"):
        PoissonMixture(2, rates_init=np.zeros((2, 3))).fit(counts)
    with pytest.raises(ValueError, match="binarize must be None or a finite float"):
        BernoulliMixture(binarize="half").fit(_binary())
    symbols = _symbols()
    with pytest.raises(ValueError, match=r"X must hold symbols in \[0, 2\) \(n_categories\); got symbol 2"):
        CategoricalMixture(2, n_categories=2).fit(symbols)
    fitted = CategoricalMixture(2, n_init=2, random_state=0).fit(symbols)
    with pytest.raises(ValueError, match=r"X must hold symbols in \[0, n_categories_=3\).*got symbol 3"):
        fitted.predict(np.array([[0, 3]]))
    warm = CategoricalMixture(2, n_init=2, random_state=0, warm_start=True).fit(symbols)
    with pytest.raises(ValueError, match=r"\[0, 3\) \(n_categories_ of the previous fit, which warm_start continues\)"):
        warm.fit(np.where(symbols == 2, 3, symbols))
    with pytest.raises(ValueError, match="probs_init must hold probability vectors"):
        CategoricalMixture(2, probs_init=np.full((2, 2, 3), 0.5)).fit(symbols)
    with pytest.raises(ValueError, match="n_samples must be an int >= 1; got 0"):
        PoissonMixture(2, n_init=2, random_state=0).fit(counts).sample(0)


def test_bernoulli_refuses_non_binary_input():
    with pytest.raises(ValueError, match=r"X must hold binary values .*set binarize=threshold.*got 1 other value"):
        BernoulliMixture(2).fit(np.where(np.arange(1600).reshape(400, 4) == 7, 2, _binary()))
    with pytest.raises(ValueError, match="Negative values in data passed to BernoulliMixture"):
        BernoulliMixture(2).fit(-_binary())
