"""Per-observation log-likelihoods, hard labels and sampling, against scikit-learn, hmmlearn and moments."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hmmlearn import hmm as hmmlearn_hmm
from scipy import stats
from sklearn.mixture import GaussianMixture
from sklearn.mixture._gaussian_mixture import _compute_precision_cholesky

import jaxem

FAITHFUL = np.asarray(jaxem.datasets.load_faithful())


def test_per_observation_output_equals_scikit_learn():
    model = jaxem.models.gaussian_mixture(3, covariance_type="full")
    params = jaxem.fit(model, FAITHFUL, key=jax.random.key(0), num_restarts=2).params
    reference = GaussianMixture(3)
    reference.weights_, reference.means_, reference.covariances_ = (
        np.asarray(params[k]) for k in ("weights", "means", "covariances")
    )
    reference.precisions_cholesky_ = _compute_precision_cholesky(reference.covariances_, "full")
    # float64 sums of a few terms: 1e-10 relative is rounding
    np.testing.assert_allclose(
        jaxem.log_likelihoods(model, params, FAITHFUL), reference.score_samples(FAITHFUL), rtol=1e-10
    )
    np.testing.assert_array_equal(jaxem.predict(model, params, FAITHFUL), reference.predict(FAITHFUL))
    total = float(jaxem.log_likelihood(model, params, FAITHFUL))
    assert float(jnp.sum(jaxem.log_likelihoods(model, params, FAITHFUL))) == pytest.approx(total, rel=1e-12)


def test_labels_for_several_latents_are_their_values():
    # Two binary latents enumerated jointly: log p(x, z1, z2) puts the mean at 4 z1 - 2 z2.
    def log_joint(params, x, z):
        z1, z2 = z
        return jnp.log(params["p"][z1, z2]) + jax.scipy.stats.norm.logpdf(x, 4.0 * z1 - 2.0 * z2, 0.3)

    model = jaxem.Model(log_joint, num_states=(2, 2))
    params = {"p": jnp.full((2, 2), 0.25)}
    data = jnp.array([0.0, 4.0, -2.0, 2.0])
    np.testing.assert_array_equal(jaxem.predict(model, params, data), [[0, 0], [1, 0], [0, 1], [1, 1]])


def test_markov_per_sequence_log_likelihoods_and_viterbi_labels_equal_hmmlearn():
    rng = np.random.default_rng(0)
    counts = rng.poisson(np.repeat([2.0, 10.0, 2.0, 10.0], 30), (2, 120))
    lengths = np.array([120, 70])
    model = jaxem.models.poisson_hmm(2)
    params = jaxem.fit(model, counts, lengths=lengths, key=jax.random.key(0), num_restarts=2).params
    reference = hmmlearn_hmm.PoissonHMM(2, init_params="")
    reference.startprob_, reference.transmat_ = np.asarray(params["initial"]), np.asarray(params["transition"])
    reference.lambdas_ = np.asarray(params["rates"]).reshape(2, 1)
    per_sequence = jaxem.log_likelihoods(model, params, counts, lengths=lengths)
    for s, length in enumerate(lengths):
        assert float(per_sequence[s]) == pytest.approx(reference.score(counts[s, :length, None]), rel=1e-10)
        labels = np.asarray(jaxem.predict(model, params, counts, lengths=lengths))[s]
        np.testing.assert_array_equal(labels[:length], reference.predict(counts[s, :length, None]))
        assert np.all(labels[length:] == -1)


@pytest.mark.parametrize(
    "model, params",
    [
        (
            jaxem.models.gaussian_mixture(2, covariance_type="full"),
            {
                "weights": jnp.array([0.3, 0.7]),
                "means": jnp.array([[0.0, 0.0], [5.0, 1.0]]),
                "covariances": jnp.array([[[1.0, 0.5], [0.5, 2.0]], [[0.5, 0.0], [0.0, 0.25]]]),
            },
        ),
        (
            jaxem.models.gaussian_mixture(2, covariance_type="tied"),
            {
                "weights": jnp.array([0.3, 0.7]),
                "means": jnp.array([[0.0, 0.0], [5.0, 1.0]]),
                "covariances": jnp.array([[1.0, 0.5], [0.5, 2.0]]),
            },
        ),
        (jaxem.models.poisson_mixture(2), {"weights": jnp.array([0.4, 0.6]), "rates": jnp.array([2.0, 9.0])}),
        (
            jaxem.models.bernoulli_mixture(2),
            {"weights": jnp.array([0.4, 0.6]), "probs": jnp.array([[0.1, 0.9], [0.7, 0.3]])},
        ),
        (
            jaxem.models.categorical_mixture(2, 3),
            {"weights": jnp.array([0.4, 0.6]), "probs": jnp.array([[[0.2, 0.3, 0.5]], [[0.6, 0.3, 0.1]]])},
        ),
    ],
)
def test_mixture_samples_follow_the_model(model, params):
    n = 20000
    draws = jaxem.sample(model, params, jax.random.key(3), n)
    x, z = np.asarray(draws.observations), np.asarray(draws.states)
    assert z.shape == (n,) and x.shape[0] == n
    weights = np.asarray(params["weights"])
    # label frequencies: binomial standard error sqrt(p(1-p)/n) <= 0.0036; 5 of them is a loose, failing-capable bound
    np.testing.assert_allclose(np.bincount(z, minlength=2) / n, weights, atol=0.018)
    for k in range(2):
        rows = x[z == k].reshape(np.sum(z == k), -1)
        if "means" in params:
            expected_mean = np.asarray(params["means"][k])
            cov = np.asarray(params["covariances"] if params["covariances"].ndim == 2 else params["covariances"][k])
            np.testing.assert_allclose(rows.mean(0), expected_mean, atol=5 * np.sqrt(np.max(np.diag(cov)) / len(rows)))
            np.testing.assert_allclose(np.cov(rows.T), cov, atol=0.1)
        elif "rates" in params:
            assert rows.mean() == pytest.approx(
                float(params["rates"][k]), abs=5 * np.sqrt(float(params["rates"][k]) / len(rows))
            )
            assert np.all(rows == np.round(rows)) and np.all(rows >= 0)
        elif params["probs"].ndim == 2:
            np.testing.assert_allclose(rows.mean(0), np.asarray(params["probs"][k]), atol=0.03)
        else:
            frequencies = np.bincount(rows[:, 0].astype(int), minlength=3) / len(rows)
            np.testing.assert_allclose(frequencies, np.asarray(params["probs"][k, 0]), atol=0.03)
    # the drawn data are what the model says: their average log-likelihood is close to minus the entropy
    # estimated from a second, independent draw (both are Monte Carlo means of log p(x))
    again = np.asarray(jaxem.sample(model, params, jax.random.key(4), n).observations)
    first, second = jaxem.log_likelihoods(model, params, x), jaxem.log_likelihoods(model, params, again)
    spread = float(np.std(np.asarray(first))) / np.sqrt(n)
    assert abs(float(jnp.mean(first)) - float(jnp.mean(second))) < 6 * spread


def test_poisson_samples_have_poisson_counts():
    params = {"weights": jnp.array([1.0]), "rates": jnp.array([4.0])}
    x = np.asarray(jaxem.sample(jaxem.models.poisson_mixture(1), params, jax.random.key(0), 5000).observations)
    observed = np.bincount(x.astype(int), minlength=15)[:15]
    expected = stats.poisson.pmf(np.arange(15), 4.0) * 5000
    assert stats.chisquare(observed[:12], expected[:12] * observed[:12].sum() / expected[:12].sum()).pvalue > 1e-3


def test_sampling_arguments():
    model = jaxem.models.poisson_mixture(2)
    params = {"weights": jnp.array([0.5, 0.5]), "rates": jnp.array([1.0, 2.0])}
    with pytest.raises(TypeError, match="num_samples must be an int"):
        jaxem.sample(model, params, jax.random.key(0), 2.5)
    with pytest.raises(ValueError, match="num_steps is only for a MarkovModel"):
        jaxem.sample(model, params, jax.random.key(0), 3, num_steps=4)
    with pytest.raises(ValueError, match="num_steps is required"):
        jaxem.sample(jaxem.models.poisson_hmm(2), params, jax.random.key(0), 3)
    with pytest.raises(ValueError, match="has no sampler"):
        jaxem.sample(jaxem.Model(model.log_joint, num_states=2), params, jax.random.key(0), 3)
    with pytest.raises(ValueError, match="weights"):
        jaxem.sample(model, {"weights": jnp.array([0.5, 0.6]), "rates": jnp.array([1.0, 2.0])}, jax.random.key(0), 3)
    hmm_params = {
        "initial": jnp.array([1.0, 0.0]),
        "transition": jnp.array([[0.9, 0.1], [0.2, 0.8]]),
        "rates": jnp.array([1.0, 20.0]),
    }
    drawn = jaxem.sample(jaxem.models.poisson_hmm(2), hmm_params, jax.random.key(0), 3, num_steps=50)
    assert (
        drawn.states.shape == (3, 50)
        and drawn.observations.shape == (3, 50)
        and np.all(np.asarray(drawn.states[:, 0]) == 0)
    )


def test_a_user_model_with_a_sampler():
    # A two-component exponential mixture written by hand: its sampler draws z, then x ~ Exp(rate_z).
    def log_joint(params, x, z):
        rate = params["rates"][z]
        return jnp.log(params["weights"][z]) + jnp.log(rate) - rate * x

    def sampler(key, params):
        key_z, key_x = jax.random.split(key)
        z = jax.random.categorical(key_z, jnp.log(params["weights"])).astype(jnp.int32)
        return jax.random.exponential(key_x) / params["rates"][z], z

    constraints = {"weights": jaxem.constraints.simplex, "rates": jaxem.constraints.positive}
    model = jaxem.Model(log_joint, num_states=2, constraints=constraints, sample=sampler)
    params = {"weights": jnp.array([0.25, 0.75]), "rates": jnp.array([0.5, 4.0])}
    draws = jaxem.sample(model, params, jax.random.key(0), 20000)
    x, z = np.asarray(draws.observations), np.asarray(draws.states)
    # per-component means 1/rate within 5 standard errors (an exponential's sd equals its mean)
    for k, rate in enumerate([0.5, 4.0]):
        rows = x[z == k]
        assert abs(rows.mean() - 1 / rate) < 5 * (1 / rate) / np.sqrt(len(rows))
    # fitting the model to its own draws recovers the rates (a large sample: 10 % is ~10 standard errors)
    fitted = jaxem.fit(model, x, init_params={"weights": jnp.array([0.5, 0.5]), "rates": jnp.array([1.0, 2.0])})
    np.testing.assert_allclose(np.sort(np.asarray(fitted.params["rates"])), [0.5, 4.0], rtol=0.1)
