"""MarkovModel against brute-force enumeration of all K^T state paths (NumPy), padding, validation."""

import dataclasses
import itertools

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import poisson

import jaxem
from jaxem import markov

K = 3


def log_initial(params, z):
    return jnp.log(params["initial"][z])


def log_transition(params, z_prev, z):
    return jnp.log(params["transition"][z_prev, z])


def log_emission(params, x, z):
    return jax.scipy.stats.poisson.logpmf(x, params["rates"][z])


def make_model(parallel=False):
    return jaxem.MarkovModel(log_initial, log_transition, log_emission, num_states=K, parallel=parallel)


SEQUENTIAL = make_model()
PARALLEL = make_model(parallel=True)


def random_params(seed):
    rng = np.random.default_rng(seed)
    return {
        "initial": jnp.asarray(rng.dirichlet(np.ones(K))),
        "transition": jnp.asarray(rng.dirichlet(np.ones(K), size=K)),
        "rates": jnp.asarray(rng.uniform(0.5, 8.0, size=K)),
    }


def brute_force(params, x):
    """Enumerates all K^L paths of one sequence x (length L): log p(x), gamma, xi, Viterbi path."""
    p = {k: np.asarray(v) for k, v in params.items()}
    length = len(x)
    log_emit = poisson.logpmf(np.asarray(x)[:, None], p["rates"][None, :])  # (L, K)
    paths = np.array(list(itertools.product(range(K), repeat=length)))
    with np.errstate(divide="ignore"):  # log 0 = -inf for structural zeros
        log_initial, log_transition = np.log(p["initial"]), np.log(p["transition"])
    log_joint = log_initial[paths[:, 0]] + log_emit[0, paths[:, 0]]
    for t in range(1, length):
        log_joint += log_transition[paths[:, t - 1], paths[:, t]] + log_emit[t, paths[:, t]]
    log_z = np.logaddexp.reduce(log_joint)
    prob = np.exp(log_joint - log_z)
    gamma = np.zeros((length, K))
    xi = np.zeros((max(length - 1, 0), K, K))
    for path, weight in zip(paths, prob):
        gamma[np.arange(length), path] += weight
        for t in range(1, length):
            xi[t - 1, path[t - 1], path[t]] += weight
    return log_z, gamma, xi, paths[np.argmax(log_joint)]


def ragged_batch(seed, num_steps=6, lengths=(6, 4, 1, 5)):
    rng = np.random.default_rng(seed)
    counts = rng.poisson(3.0, size=(len(lengths), num_steps)).astype(np.float64)
    return counts, np.array(lengths)


@pytest.mark.parametrize("model", [SEQUENTIAL, PARALLEL], ids=["sequential", "parallel"])
@pytest.mark.parametrize("seed", [0, 1])
def test_posteriors_and_viterbi_equal_brute_force_on_a_ragged_batch(model, seed):
    # Tolerance 1e-10: both sides are exact algebra in float64 (sums of at most
    # 3^6 = 729 terms); only rounding separates them.
    params = random_params(seed)
    counts, lengths = ragged_batch(seed)
    per_sequence = jax.vmap(lambda u: model.log_partition(model.log_potentials(params, u), u))(
        model.units(jnp.asarray(counts), lengths)
    )
    total = jaxem.log_likelihood(model, params, counts, lengths=lengths)
    post = jaxem.posterior(model, params, counts, lengths=lengths)
    pairwise = markov.pairwise_marginals(model, params, counts, lengths=lengths)
    paths = jaxem.viterbi(model, params, counts, lengths=lengths)
    expected_total = 0.0
    for s, length in enumerate(lengths):
        log_z, gamma, xi, best = brute_force(params, counts[s, :length])
        expected_total += log_z
        np.testing.assert_allclose(per_sequence[s], log_z, rtol=1e-10)
        np.testing.assert_allclose(post.states[s, :length], gamma, atol=1e-10)
        np.testing.assert_array_equal(post.states[s, length:], 0.0)
        np.testing.assert_allclose(post.transitions[s], xi.sum(axis=0), atol=1e-10)
        np.testing.assert_allclose(pairwise[s, : length - 1], xi, atol=1e-10)
        np.testing.assert_array_equal(pairwise[s, length - 1 :], 0.0)
        np.testing.assert_array_equal(paths[s, :length], best)
        np.testing.assert_array_equal(paths[s, length:], -1)
    np.testing.assert_allclose(total, expected_total, rtol=1e-10)


def test_padding_values_never_influence_anything():
    # Exact equality: padding is replaced before any user function sees it.
    params = random_params(3)
    counts, lengths = ragged_batch(3)
    other = counts.copy()
    for s, length in enumerate(lengths):
        other[s, length:] = 1e6 + s  # absurd counts; would dominate any statistic they entered
    for data in (counts, other):
        assert np.isfinite(jaxem.log_likelihood(SEQUENTIAL, params, data, lengths=lengths))
    for fn in (jaxem.log_likelihood, jaxem.posterior, markov.pairwise_marginals, jaxem.viterbi):
        a = fn(SEQUENTIAL, params, counts, lengths=lengths)
        b = fn(SEQUENTIAL, params, other, lengths=lengths)
        jax.tree.map(np.testing.assert_array_equal, a, b)
    step_a = jaxem.em_step(SEQUENTIAL, params, counts, lengths=lengths, num_gradient_steps=3)
    step_b = jaxem.em_step(SEQUENTIAL, params, other, lengths=lengths, num_gradient_steps=3)
    jax.tree.map(np.testing.assert_array_equal, step_a, step_b)


def test_padded_batch_equals_separate_unpadded_sequences():
    # 1e-12: the same arithmetic up to summation order.
    params = random_params(4)
    counts, lengths = ragged_batch(4)
    total = jaxem.log_likelihood(SEQUENTIAL, params, counts, lengths=lengths)
    separate = sum(
        jaxem.log_likelihood(SEQUENTIAL, params, counts[s : s + 1, :length]) for s, length in enumerate(lengths)
    )
    np.testing.assert_allclose(total, separate, rtol=1e-12)


def test_sequence_weights_equal_repeated_sequences():
    # 1e-12: integer weights multiply the same per-sequence terms.
    params = random_params(5)
    counts, lengths = ragged_batch(5)
    weights = np.array([2.0, 1.0, 3.0, 0.0])
    repeat = np.repeat(np.arange(4), weights.astype(int))
    weighted = jaxem.log_likelihood(SEQUENTIAL, params, counts, weights, lengths=lengths)
    repeated = jaxem.log_likelihood(SEQUENTIAL, params, counts[repeat], lengths=lengths[repeat])
    np.testing.assert_allclose(weighted, repeated, rtol=1e-12)


@pytest.mark.parametrize("closed_form", [False, True], ids=["gradient", "closed-form"])
def test_weighted_em_step_equals_repeated_sequences(closed_form):
    # Sequence weights enter the M-step (closed-form updates, or Q for the
    # gradient M-step) as repetitions would; a weight-0 sequence drops out.
    # 1e-9: the same sums in another order, then (gradient M-step) 3 L-BFGS
    # steps on them.
    model = jaxem.models.poisson_hmm(3) if closed_form else SEQUENTIAL
    params = random_params(7)
    counts, lengths = ragged_batch(7)
    weights = np.array([2.0, 1.0, 3.0, 0.0])
    repeat = np.repeat(np.arange(4), weights.astype(int))
    weighted = jaxem.em_step(model, params, counts, weights, lengths=lengths, num_gradient_steps=3)
    repeated = jaxem.em_step(model, params, counts[repeat], lengths=lengths[repeat], num_gradient_steps=3)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12), weighted, repeated)


def test_zero_transitions_give_finite_posteriors():
    # A left-to-right chain (structural zeros, log 0 = -inf): the log-semiring
    # helpers must give zero, not NaN, gradients for impossible transitions.
    params = random_params(6)
    params["transition"] = jnp.array([[0.6, 0.4, 0.0], [0.0, 0.7, 0.3], [0.0, 0.0, 1.0]])
    params["initial"] = jnp.array([1.0, 0.0, 0.0])
    counts, lengths = ragged_batch(6)
    for model in (SEQUENTIAL, PARALLEL):
        post = jaxem.posterior(model, params, counts, lengths=lengths)
        assert np.all(np.isfinite(post.states)) and np.all(np.isfinite(post.transitions))
        log_z, gamma, _, _ = brute_force(params, counts[0])
        np.testing.assert_allclose(post.states[0], gamma, atol=1e-10)
        np.testing.assert_allclose(jaxem.log_likelihood(model, params, counts[:1]), log_z, rtol=1e-10)


def test_sampled_states_follow_the_chain():
    # 3 standard errors of a frequency from 20000 draws: ~0.01.
    params = random_params(7)
    model = dataclasses.replace(
        SEQUENTIAL, sample_emission=lambda key, p, z: jax.random.poisson(key, p["rates"][z]).astype(float)
    )
    sample = jaxem.sample_sequences(model, params, jax.random.key(0), num_steps=2, num_sequences=20000)
    assert sample.states.shape == (20000, 2) and sample.observations.shape == (20000, 2)
    first = np.bincount(np.asarray(sample.states[:, 0]), minlength=K) / 20000
    np.testing.assert_allclose(first, params["initial"], atol=0.015)
    pair = np.zeros((K, K))
    np.add.at(pair, (np.asarray(sample.states[:, 0]), np.asarray(sample.states[:, 1])), 1.0)
    np.testing.assert_allclose(pair / pair.sum(1, keepdims=True), params["transition"], atol=0.03)
    assert jaxem.sample_sequences(SEQUENTIAL, params, jax.random.key(1), num_steps=4).observations is None


def test_validation_names_the_argument():
    params = random_params(0)
    counts, lengths = ragged_batch(0)
    with pytest.raises(ValueError, match="lengths must lie in"):
        jaxem.log_likelihood(SEQUENTIAL, params, counts, lengths=np.array([7, 1, 1, 1]))
    with pytest.raises(ValueError, match="lengths must have shape"):
        jaxem.log_likelihood(SEQUENTIAL, params, counts, lengths=np.array([1, 1]))
    with pytest.raises(TypeError, match="lengths must be integers"):
        jaxem.log_likelihood(SEQUENTIAL, params, counts, lengths=lengths.astype(float))
    with pytest.raises(ValueError, match=r"num_sequences, T"):
        jaxem.log_likelihood(SEQUENTIAL, params, counts[0])
    with pytest.raises(ValueError, match="log_emission must return a scalar"):
        bad = dataclasses.replace(SEQUENTIAL, log_emission=lambda p, x, z: jnp.zeros(2))
        jaxem.log_likelihood(bad, params, counts)
    with pytest.raises(TypeError, match="num_states"):
        jaxem.MarkovModel(log_initial, log_transition, log_emission, num_states=2.0)
    with pytest.raises(ValueError, match="num_states"):
        jaxem.MarkovModel(log_initial, log_transition, log_emission, num_states=0)
    with pytest.raises(TypeError, match="MarkovModel"):
        jaxem.viterbi(jaxem.Model(lambda p, x, z: 0.0, 2), params, counts)
    with pytest.raises(ValueError, match="weights must have shape"):
        jaxem.log_likelihood(SEQUENTIAL, params, counts, np.ones(24), lengths=lengths)
