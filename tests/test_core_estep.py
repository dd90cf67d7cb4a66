"""E-step against brute-force NumPy enumeration."""

import jax
import jax.numpy as jnp
import numpy as np
from scipy.special import logsumexp

import jaxem

# Algebra only (no iteration): agreement to float64 rounding; 1e-12 leaves room for
# different summation orders in logsumexp.
TOL = 1e-12


def _one_latent_model():
    def log_joint(params, x, z):
        value = params["a"][z] + params["b"][z] @ x - 0.5 * params["c"][z] * jnp.sum(x**2)
        # state 2 is impossible whenever the first coordinate is negative
        return jnp.where((z == 2) & (x[0] < 0), -jnp.inf, value)

    return jaxem.Model(log_joint, num_states=3)


def _brute_force_one(params, data):
    table = np.empty((len(data), 3))
    for i, x in enumerate(data):
        for z in range(3):
            value = params["a"][z] + params["b"][z] @ x - 0.5 * params["c"][z] * np.sum(x**2)
            table[i, z] = -np.inf if (z == 2 and x[0] < 0) else value
    per_obs = logsumexp(table, axis=1)
    return np.exp(table - per_obs[:, None]), per_obs


def test_single_latent_matches_enumeration():
    rng = np.random.default_rng(0)
    data = rng.normal(size=(25, 2))
    params = {"a": rng.normal(size=3), "b": rng.normal(size=(3, 2)), "c": rng.uniform(0.5, 2.0, size=3)}
    model = _one_latent_model()
    weights = rng.integers(1, 4, size=25).astype(float)
    responsibilities = jaxem.posterior(model, params, data)
    expected_resp, per_obs = _brute_force_one(params, data)
    np.testing.assert_allclose(responsibilities, expected_resp, rtol=TOL, atol=TOL)
    np.testing.assert_allclose(jaxem.log_likelihood(model, params, data), per_obs.sum(), rtol=TOL)
    np.testing.assert_allclose(jaxem.log_likelihood(model, params, data, weights), weights @ per_obs, rtol=TOL)
    # impossible pairs give exact zeros, not NaN and not tiny numbers
    impossible = data[:, 0] < 0
    assert impossible.any()
    assert np.all(np.asarray(responsibilities)[impossible, 2] == 0.0)
    assert np.all(np.isfinite(np.asarray(responsibilities)))


def test_tuple_of_latents_matches_enumeration():
    rng = np.random.default_rng(1)
    data = rng.normal(size=(30,))
    params = {"A": rng.normal(size=(2, 3)), "B": rng.normal(size=2), "C": -rng.uniform(0.1, 1.0, size=3)}

    def log_joint(params, x, z):
        z1, z2 = z
        return params["A"][z1, z2] + params["B"][z1] * x + params["C"][z2] * x**2

    model = jaxem.Model(log_joint, num_states=(2, 3))
    table = np.empty((30, 2, 3))
    for i, x in enumerate(data):
        for z1 in range(2):
            for z2 in range(3):
                table[i, z1, z2] = params["A"][z1, z2] + params["B"][z1] * x + params["C"][z2] * x**2
    per_obs = logsumexp(table.reshape(30, -1), axis=1)
    responsibilities = jaxem.posterior(model, params, data)
    assert responsibilities.shape == (30, 2, 3)
    np.testing.assert_allclose(responsibilities, np.exp(table - per_obs[:, None, None]), rtol=TOL, atol=TOL)
    np.testing.assert_allclose(jaxem.log_likelihood(model, params, data), per_obs.sum(), rtol=TOL)


def test_pytree_data():
    """Data may be a pytree of arrays sharing the leading axis (here a regression mixture)."""
    rng = np.random.default_rng(2)
    features, targets = rng.normal(size=(20, 3)), rng.normal(size=20)
    params = {"coef": rng.normal(size=(2, 3)), "log_w": np.log([0.3, 0.7])}

    def log_joint(params, obs, z):
        x, y = obs
        return params["log_w"][z] + jax.scipy.stats.norm.logpdf(y, params["coef"][z] @ x, 1.0)

    model = jaxem.Model(log_joint, num_states=2)
    table = np.stack(
        [
            params["log_w"][k] - 0.5 * (targets - features @ params["coef"][k]) ** 2 - 0.5 * np.log(2 * np.pi)
            for k in range(2)
        ],
        axis=1,
    )
    np.testing.assert_allclose(
        jaxem.log_likelihood(model, params, (features, targets)), logsumexp(table, axis=1).sum(), rtol=TOL
    )
