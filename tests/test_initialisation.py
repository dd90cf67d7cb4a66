"""k-means for the ``init="kmeans"`` scheme, against scikit-learn's ``KMeans`` from the same seeds."""

import warnings

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning

import jaxem
from jaxem.models.initialisation import INIT_SCHEMES, kmeans, kmeans_plusplus, lloyd

K = 5


def blobs(num_points, num_features, spread, seed):
    """K Gaussian blobs with centres ~ N(0, spread^2 I) and unit within-blob noise."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=spread, size=(K, num_features))
    return centres[rng.integers(0, K, num_points)] + rng.normal(size=(num_points, num_features))


@pytest.fixture(scope="module")
def separated():
    return blobs(3000, 4, 6.0, seed=0)


@pytest.fixture(scope="module")
def overlapping():
    return blobs(2000, 2, 1.5, seed=1)


def seeds_of(key, points):
    """The seeds ``kmeans(key, points, K)`` starts from: greedy k-means++ with scikit-learn's 2 + log K trials."""
    return np.asarray(kmeans_plusplus(key, jnp.asarray(points), K, num_local_trials=2 + int(np.log(K))))


def sklearn_from(points, seeds, **settings):
    """scikit-learn's Lloyd k-means started from ``points[seeds]`` (float64)."""
    settings = {"tol": 1e-4, "max_iter": 300, **settings}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return KMeans(K, init=points[seeds], n_init=1, algorithm="lloyd", **settings).fit(points)


def inertia(points, centres, labels):
    return float(np.sum((points - centres[labels]) ** 2))


def test_kmeans_is_an_init_scheme():
    assert INIT_SCHEMES == ("kmeans++", "random_points", "random_responsibilities", "kmeans")


@pytest.mark.parametrize("seed", range(4))
def test_kmeans_matches_sklearn_from_the_same_seeds(separated, seed):
    key = jax.random.key(seed)
    result = kmeans(key, separated, K)
    seeds = seeds_of(key, separated)
    reference = sklearn_from(separated, seeds)
    # Same start, same rule, float64 on both sides: every assignment step sees
    # the same labels, so labels and the iteration count are equal exactly.
    np.testing.assert_array_equal(result.labels, reference.labels_)
    assert int(result.num_iterations) == reference.n_iter_
    # Centres are means of the same points, summed in a different order (and
    # centred by a different float64 mean): rounding ~1e-15, so 1e-10 absolute
    # on coordinates of order 10 is tight and still safe.
    np.testing.assert_allclose(result.centres, reference.cluster_centers_, rtol=0, atol=1e-10)
    # The inertia (~1e4 here) sums 3000 squared distances that agree to ~1e-14
    # relative; 1e-10 relative leaves room for the summation order only.
    got = inertia(separated, np.asarray(result.centres), np.asarray(result.labels))
    np.testing.assert_allclose(got, reference.inertia_, rtol=1e-10)


@pytest.mark.parametrize(("tol", "max_iter"), [(1e-4, 300), (1e-1, 300), (1e-4, 2)])
def test_stopping_rules_match_sklearn(overlapping, tol, max_iter):
    # Overlapping blobs take many iterations, so the centre-shift rule
    # (tol = 1e-1) and max_iter = 2 both stop before the labels settle.
    key = jax.random.key(3)
    result = kmeans(key, overlapping, K, max_iter=max_iter, tol=tol)
    seeds = seeds_of(key, overlapping)
    reference = sklearn_from(overlapping, seeds, tol=tol, max_iter=max_iter)
    assert int(result.num_iterations) == reference.n_iter_
    np.testing.assert_array_equal(result.labels, reference.labels_)  # exact: same float64 steps
    np.testing.assert_allclose(result.centres, reference.cluster_centers_, rtol=0, atol=1e-10)  # as above
    if (tol, max_iter) == (1e-4, 300):
        assert reference.n_iter_ > 5  # the case really iterates, so the rules are exercised


def test_float32_far_from_the_origin_matches_sklearn(separated):
    # Data offset by 1e4 in float32: |x|^2 ~ 4e8 has an ulp of 32, larger than
    # the blobs' squared spread, so distances formed without centring would mislabel.
    shifted = separated + 1e4
    points = jnp.asarray(shifted, jnp.float32)
    key = jax.random.key(1)
    result = kmeans(key, points, K)
    assert result.centres.dtype == jnp.float32
    seeds = seeds_of(key, points)
    reference = sklearn_from(shifted, seeds)
    np.testing.assert_array_equal(result.labels, reference.labels_)  # well separated: no near ties
    # Inputs rounded to float32 at 1e4 (ulp ~1e-3) and float32 sums: 1e-2
    # absolute is ten ulps of the coordinates.
    np.testing.assert_allclose(result.centres, reference.cluster_centers_, rtol=0, atol=1e-2)


def test_greedy_seeding_finds_the_best_clustering_as_often_as_sklearn():
    # Eight blobs in 10-D (the benchmark's data, smaller): with plain k-means++
    # seeds Lloyd often merges two blobs; scikit-learn's greedy seeding
    # (2 + log K candidates per seed), which kmeans uses by default, rarely does.
    rng = np.random.default_rng(0)
    num_components, num_restarts = 8, 16
    centres = rng.normal(scale=4.0, size=(num_components, 10))
    labels = rng.integers(0, num_components, 4000)
    x = centres[labels] + rng.uniform(0.5, 1.5, size=(num_components, 1))[labels] * rng.normal(size=(4000, 10))
    keys = jax.random.split(jax.random.key(0), num_restarts)

    def inertias(num_local_trials):
        results = jax.jit(jax.vmap(lambda key: kmeans(key, x, num_components, num_local_trials=num_local_trials)))(keys)
        return np.array(
            [inertia(x, np.asarray(results.centres[r]), np.asarray(results.labels[r])) for r in range(num_restarts)]
        )

    greedy, plain = inertias(None), inertias(1)
    reference = np.array(
        [KMeans(num_components, n_init=1, random_state=r).fit(x).inertia_ for r in range(num_restarts)]
    )
    best = min(greedy.min(), plain.min(), reference.min())
    # "At best" within 1e-6 relative: float64 inertias of the same clustering
    # agree to ~1e-12, while a merged pair of blobs costs tens of percent.
    counts = [int(np.sum(v <= best * (1 + 1e-6))) for v in (greedy, plain, reference)]
    # Fixed keys and seeds, so this is deterministic (observed 15, 6, 15 of 16):
    # greedy within one restart of scikit-learn, plain clearly worse.
    assert counts[0] >= counts[2] - 1, counts
    assert counts[1] <= counts[0] - 4, counts


@pytest.mark.parametrize("num_draws", [1, 4])
def test_seed_draws_are_proportional_to_the_squared_distances(num_draws):
    from jaxem.models.initialisation import _draw_proportional

    distances = jnp.array([0.0, 1.0, 3.0, 0.0, 4.0])
    keys = jax.random.split(jax.random.key(0), 20_000 // num_draws)
    draws = np.asarray(jax.vmap(lambda key: _draw_proportional(key, distances, num_draws))(keys)).ravel()
    frequencies = np.bincount(draws, minlength=5) / draws.size
    # 20 000 draws: the binomial standard error is <= 0.0035, so 0.02 is ~6 sigma;
    # points at distance 0 (the seeds so far) are never drawn.
    np.testing.assert_allclose(frequencies, np.array(distances) / 8.0, rtol=0, atol=0.02)
    assert frequencies[0] == 0 and frequencies[3] == 0
    uniform = np.asarray(jax.vmap(lambda key: _draw_proportional(key, jnp.zeros(5), num_draws))(keys)).ravel()
    np.testing.assert_allclose(np.bincount(uniform, minlength=5) / uniform.size, 0.2, rtol=0, atol=0.02)  # as above


def test_an_empty_cluster_keeps_its_centre(separated):
    far = np.full((1, separated.shape[1]), 1e3)
    start = np.concatenate([separated[:4], far])
    result = lloyd(separated, start)
    labels = np.asarray(result.labels)
    assert not np.any(labels == 4)
    np.testing.assert_array_equal(result.centres[4], far[0])  # untouched, exactly
    for k in range(4):  # the others are the means of their points (float64 rounding only)
        np.testing.assert_allclose(result.centres[k], separated[labels == k].mean(axis=0), rtol=0, atol=1e-10)


def test_vmapped_restarts_equal_unbatched_calls(overlapping):
    keys = jax.random.split(jax.random.key(0), 5)
    points = jnp.asarray(overlapping)
    batched = jax.jit(jax.vmap(lambda key: kmeans(key, points, K)))(keys)
    single = jax.jit(lambda key: kmeans(key, points, K))
    iterations = np.asarray(batched.num_iterations)
    assert len(set(iterations.tolist())) > 1  # restarts stop at different iterations, so freezing is exercised
    for r in range(len(keys)):
        one = single(keys[r])
        assert int(one.num_iterations) == iterations[r]
        np.testing.assert_array_equal(one.labels, batched.labels[r])
        # Batched and unbatched matmuls may sum in a different order: float64
        # rounding ~1e-15 on coordinates of order 1.
        np.testing.assert_allclose(one.centres, batched.centres[r], rtol=0, atol=1e-12)


def test_gaussian_mixture_with_kmeans_init_fits(separated):
    separated = separated[:1000]
    model = jaxem.models.gaussian_mixture(K, init="kmeans")
    key = jax.random.key(0)
    # The init's means are the k-means centres (the M-step of one-hot final
    # labels); 1e-8 covers the M-step's eps in its denominators.
    start = model.init(key, jnp.asarray(separated))
    np.testing.assert_allclose(start["means"], kmeans(key, separated, K).centres, rtol=0, atol=1e-8)
    result = jaxem.fit(model, separated, key=key, num_restarts=3, max_iter=50)
    assert np.all(np.isfinite(np.asarray(result.restarts.log_likelihood)))
    assert not np.any(np.asarray(result.restarts.failed))
    assert np.all(np.isfinite(np.asarray(result.params["covariances"])))


def test_gaussian_hmm_accepts_kmeans_init():
    model = jaxem.models.gaussian_hmm(2, covariance_type="diag", init="kmeans")
    rng = np.random.default_rng(2)
    sequences = rng.normal(size=(3, 40, 2)) + 5.0 * (rng.random((3, 40, 1)) < 0.5)
    result = jaxem.fit(model, sequences, key=jax.random.key(0), num_restarts=2, max_iter=5)
    assert np.all(np.isfinite(np.asarray(result.restarts.log_likelihood)))


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="points"):
        kmeans(jax.random.key(0), jnp.zeros(10), 2)
    with pytest.raises(ValueError, match="num_components"):
        kmeans(jax.random.key(0), jnp.zeros((10, 2)), 0)
    with pytest.raises(ValueError, match="centres"):
        lloyd(jnp.zeros((10, 2)), jnp.zeros((3, 4)))
