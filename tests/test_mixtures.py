"""Built-in Gaussian mixtures against scikit-learn, published values and the generic engine paths."""

import dataclasses
import warnings

import jax

jax.config.update("jax_enable_x64", True)  # tolerances below 1e-6 need float64 (process-global)

import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

import jaxem
from jaxem import families

COVARIANCE_TYPES = ("full", "diag", "spherical", "tied")


def _generated_data():
    rng = np.random.default_rng(3)
    centres = np.array([[0.0, 0.0, 0.0], [4.0, 1.0, -2.0], [-3.0, 5.0, 1.0]])
    mixing = np.linalg.cholesky(np.array([[1.0, 0.5, 0.2], [0.5, 2.0, -0.3], [0.2, -0.3, 0.7]]))
    labels = rng.integers(0, 3, 400)
    return centres[labels] + rng.normal(size=(400, 3)) @ mixing.T


def _starting_point(x, num_components, covariance_type, seed):
    """Shared starting weights/means/covariances, and scikit-learn's precisions from the same numbers."""
    rng = np.random.default_rng(seed)
    means = x[rng.choice(len(x), num_components, replace=False)]
    weights = rng.dirichlet(np.full(num_components, 5.0))
    pooled = np.cov(x.T, bias=True)
    covariances = {
        "full": np.stack([pooled * s for s in rng.uniform(0.5, 1.5, num_components)]),
        "diag": np.diag(pooled)[None] * rng.uniform(0.5, 1.5, (num_components, 1)),
        "spherical": np.mean(np.diag(pooled)) * rng.uniform(0.5, 1.5, num_components),
        "tied": pooled,
    }[covariance_type]
    if covariance_type in ("full", "tied"):
        precisions = np.linalg.inv(covariances)
    else:
        precisions = 1.0 / covariances
    return {"weights": weights, "means": means, "covariances": covariances}, precisions


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dataset", ["iris", "generated"])
def test_twenty_iterations_equal_scikit_learn(dataset, covariance_type):
    x = load_iris().data if dataset == "iris" else _generated_data()
    num_components = 3
    start, precisions = _starting_point(x, num_components, covariance_type, seed=0)
    reference = GaussianMixture(
        num_components,
        covariance_type=covariance_type,
        max_iter=20,
        tol=0.0,
        reg_covar=1e-6,
        weights_init=start["weights"],
        means_init=start["means"],
        precisions_init=precisions,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # tol=0 never "converges", by design
        reference.fit(x)
    assert reference.n_iter_ == 20

    model = jaxem.models.gaussian_mixture(num_components, covariance_type=covariance_type, reg_covar=1e-6)
    result = jaxem.fit(model, x, init_params=start, max_iter=20, tol=0.0)
    assert int(result.num_iterations) == 20
    # 1e-8 (the bar): both are the same 20 float64 EM maps from the same numbers; they
    # differ only in summation order, so agreement is ~1e-12 and 1e-8 leaves room for rounding.
    np.testing.assert_allclose(result.params["weights"], reference.weights_, rtol=0, atol=1e-8)
    np.testing.assert_allclose(result.params["means"], reference.means_, rtol=0, atol=1e-8)
    np.testing.assert_allclose(result.params["covariances"], reference.covariances_, rtol=0, atol=1e-8)
    # The log-likelihood of the same parameters agrees with scikit-learn's score (mean log p(x)).
    np.testing.assert_allclose(
        jaxem.log_likelihood(model, result.params, x), reference.score(x) * len(x), rtol=1e-10
    )  # 1e-10 relative: one float64 evaluation of the same sum, in a different order.


def test_log_joint_and_posterior_equal_scikit_learn():
    x = _generated_data()
    start, precisions = _starting_point(x, 3, "full", seed=1)
    reference = GaussianMixture(
        3, weights_init=start["weights"], means_init=start["means"], precisions_init=precisions, max_iter=1
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reference.fit(x)
    params = {
        "weights": jnp.asarray(reference.weights_),
        "means": jnp.asarray(reference.means_),
        "covariances": jnp.asarray(reference.covariances_),
    }
    model = jaxem.models.gaussian_mixture(3)
    # 1e-10: algebraically identical float64 evaluations (log-sum-exp of the same table).
    np.testing.assert_allclose(jaxem.posterior(model, params, x), reference.predict_proba(x), atol=1e-10)
    table = jax.vmap(lambda xi: jax.vmap(lambda z: model.log_joint(params, xi, z))(jnp.arange(3)))(x)
    density = jax.vmap(lambda xi: families.Gaussian("full").log_density(params, xi))(x)
    np.testing.assert_allclose(table, jnp.log(params["weights"]) + density, rtol=1e-12)  # the family's density


@pytest.fixture(scope="module")
def faithful():
    return jaxem.datasets.load_faithful()


@pytest.fixture(scope="module")
def faithful_two(faithful):
    model = jaxem.models.gaussian_mixture(2)
    return model, jaxem.fit(model, faithful, key=jax.random.key(0), num_restarts=8, max_iter=1000, tol=1e-12)


def test_faithful_two_components_matches_mclust(faithful, faithful_two):
    assert faithful.shape == (272, 2)
    _, result = faithful_two
    # mclust's published log-likelihood for the VVV (full) 2-component model; 1e-4 is the
    # precision it is published to (6 decimals), and the fit has converged to tol 1e-12 per observation.
    assert abs(float(result.log_likelihood) - (-1130.263960)) < 1e-4
    assert bool(result.converged)


def test_faithful_three_components_at_least_as_good_as_scikit_learn(faithful):
    reference = GaussianMixture(3, covariance_type="full", n_init=100, max_iter=1000, tol=1e-6, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reference.fit(faithful)
    best_reference = reference.score(faithful) * len(faithful)
    model = jaxem.models.gaussian_mixture(3)
    result = jaxem.fit(model, faithful, key=jax.random.key(1), num_restarts=64, max_iter=2000, tol=1e-10)
    # Slack 1e-6 (absolute, on a total of ~ -1100): float rounding of two sums of 272 float64 terms
    # (~1e-12) and of where each stops on the same maximum (jaxem at tol=1e-10 per observation).
    # Nothing larger: distinct local maxima here differ by > 0.1 (scikit-learn tends to stop at
    # about -1119.2, jaxem's best restarts at about -1114.44).
    assert float(result.log_likelihood) >= best_reference - 1e-6, (float(result.log_likelihood), best_reference)


def test_gradient_only_gaussian_mixture_reaches_closed_form(faithful, faithful_two):
    model, closed = faithful_two
    gradient_only = dataclasses.replace(model, statistics=None, maximize=None)
    assert gradient_only.maximize is None and gradient_only.log_joint is model.log_joint
    result = jaxem.fit(gradient_only, faithful, key=jax.random.key(0), num_restarts=4, max_iter=150, tol=1e-9)
    # 1e-3 relative (the bar): the gradient M-step does 10 L-BFGS steps per EM iteration in
    # unconstrained space, so it converges to the same maximum but more slowly.
    relative = abs(float(result.log_likelihood) - float(closed.log_likelihood)) / abs(float(closed.log_likelihood))
    assert relative < 1e-3, (float(result.log_likelihood), float(closed.log_likelihood))
    assert not bool(np.any(result.restarts.failed))


def test_degenerate_data_gives_finite_best_with_failed_restarts_flagged():
    rng = np.random.default_rng(0)
    x = np.concatenate(
        [rng.normal([0.0, 0.0], 1.0, (60, 2)), rng.normal([6.0, 6.0], 1.0, (60, 2)), np.tile([[3.0, -4.0]], (80, 1))]
    )  # 80 copies of one point
    with pytest.raises(ValueError, match="ill-defined empirical covariance"), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        GaussianMixture(3, reg_covar=0.0, n_init=5, random_state=0).fit(x)
    model = jaxem.models.gaussian_mixture(3, reg_covar=0.0, init="random_points")
    result = jaxem.fit(model, x, key=jax.random.key(0), num_restarts=16, max_iter=200)
    failed = np.asarray(result.restarts.failed)
    assert failed.any() and not failed.all()
    assert np.all(np.asarray(result.restarts.failed_iteration)[failed] >= 0)
    assert not failed[int(result.best_restart)]
    assert np.isfinite(float(result.log_likelihood))
    assert all(bool(jnp.all(jnp.isfinite(leaf))) for leaf in jax.tree.leaves(result.params))
    # The reported value is the best params' own log-likelihood (1e-9: same float64 sum re-evaluated).
    np.testing.assert_allclose(jaxem.log_likelihood(model, result.params, x), result.log_likelihood, rtol=1e-9)


@pytest.mark.parametrize("init", jaxem.models.INIT_SCHEMES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_init_schemes_vmap_and_give_valid_parameters(faithful, init, covariance_type):
    model = jaxem.models.gaussian_mixture(3, covariance_type=covariance_type, init=init)
    keys = jax.random.split(jax.random.key(2), 5)
    params = jax.vmap(model.init, in_axes=(0, None))(keys, jnp.asarray(faithful))
    assert params["weights"].shape == (5, 3)
    assert params["means"].shape == (5, 3, 2)
    assert params["covariances"].shape == (5,) + families.covariances_shape(covariance_type, 3, 2)
    np.testing.assert_allclose(jnp.sum(params["weights"], axis=1), 1.0, rtol=1e-12)  # rounding only
    for r in range(5):
        one = jax.tree.map(lambda leaf, r=r: leaf[r], params)
        assert np.isfinite(float(jaxem.log_likelihood(model, one, faithful)))


def test_kmeans_plusplus_seeds_are_distinct_data_points(faithful):
    points = jnp.asarray(faithful)
    seeds = jax.vmap(lambda key: jaxem.models.initialisation.kmeans_plusplus(key, points, 4))(
        jax.random.split(jax.random.key(0), 8)
    )
    for row in np.asarray(seeds):
        assert len(set(row.tolist())) == 4  # D^2 sampling never re-picks a seed (distance 0)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="covariance_type"):
        jaxem.models.gaussian_mixture(2, covariance_type="banded")
    with pytest.raises(ValueError, match="num_components"):
        jaxem.models.gaussian_mixture(0)
    with pytest.raises(ValueError, match="reg_covar"):
        jaxem.models.gaussian_mixture(2, reg_covar=-1.0)
    with pytest.raises(ValueError, match="init"):
        jaxem.models.gaussian_mixture(2, init="k_means")
    with pytest.raises(ValueError, match="num_categories"):
        jaxem.models.categorical_mixture(2, 0)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("num_features", [3, 20])  # either side of the unrolled/matrix-product switch at 16
def test_log_density_equals_scipy(covariance_type, num_features):
    from scipy.stats import multivariate_normal

    rng = np.random.default_rng(num_features)
    num_components = 4
    means = rng.normal(scale=3.0, size=(num_components, num_features))
    factors = rng.normal(size=(num_components, num_features, num_features))
    full = factors @ np.swapaxes(factors, 1, 2) + num_features * np.eye(num_features)
    covariances = {
        "full": full,
        "diag": rng.uniform(0.5, 2.0, (num_components, num_features)),
        "spherical": rng.uniform(0.5, 2.0, num_components),
        "tied": full[0],
    }[covariance_type]
    dense = {
        "full": lambda k: full[k],
        "diag": lambda k: np.diag(covariances[k]),
        "spherical": lambda k: covariances[k] * np.eye(num_features),
        "tied": lambda k: full[0],
    }[covariance_type]
    x = means[rng.integers(0, num_components, 50)] + rng.normal(size=(50, num_features))
    params = {"means": jnp.asarray(means), "covariances": jnp.asarray(covariances)}
    got = jax.vmap(lambda xi: families.Gaussian(covariance_type).log_density(params, xi))(x)
    expected = np.stack([multivariate_normal(means[k], dense(k)).logpdf(x) for k in range(num_components)], axis=1)
    # 1e-10 relative: float64, Cholesky-based here against scipy's eigendecomposition, well-conditioned covariances.
    np.testing.assert_allclose(got, expected, rtol=1e-10)
