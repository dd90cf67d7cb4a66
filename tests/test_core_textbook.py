"""Textbook EM problems with published answers (../shared/data/README.md)."""

import jax.numpy as jnp
import numpy as np

import jaxem

# Genetic linkage (Rao 1965; Dempster, Laird & Rubin 1977): 197 animals in four cells.
LINKAGE_COUNTS = np.array([125.0, 18.0, 20.0, 34.0])
LINKAGE_MLE = 0.6268214980
LINKAGE_EM_PATH = [0.608247423, 0.624321051]


def linkage_log_joint(params, x, z):
    """Cell x in {0..3}; the first cell splits into a latent (1/2 | theta/4) pair, z in {0, 1}."""
    theta = params["theta"]
    # Impossible (cell, z) pairs are the constant -inf, not log of an expression in theta
    # that happens to be 0 (whose gradient would be 0 * inf = NaN).
    quarter = theta / 4
    table = jnp.stack(
        [
            jnp.stack([jnp.log(0.5), jnp.log(quarter)]),
            jnp.stack([jnp.log((1 - theta) / 4), -jnp.inf]),
            jnp.stack([jnp.log((1 - theta) / 4), -jnp.inf]),
            jnp.stack([-jnp.inf, jnp.log(quarter)]),
        ]
    )
    return table[x, z]


def linkage_statistics(data, responsibilities, weights, params):
    """Expected counts ``x_1b + x_4`` (theta's cells) and ``x_2 + x_3`` (the other); additive over chunks."""
    return {
        "theta": jnp.sum(weights * responsibilities[:, 1]),
        "other": jnp.sum(weights * responsibilities[:, 0] * (data != 0)),
    }


def linkage_maximize(statistics, params):
    """Closed form: theta = (x_1b + x_4) / (x_1b + x_2 + x_3 + x_4)."""
    return {"theta": statistics["theta"] / (statistics["theta"] + statistics["other"])}


CELLS = np.arange(4)


def test_linkage_gradient_m_step_reaches_mle():
    model = jaxem.Model(linkage_log_joint, num_states=2, constraints={"theta": jaxem.constraints.unit_interval})
    result = jaxem.fit(
        model, CELLS, weights=LINKAGE_COUNTS, init_params={"theta": jnp.array(0.5)}, tol=1e-14, max_iter=300
    )
    assert bool(result.converged)
    # EM converges linearly to the MLE; tol=1e-14 per observation leaves |theta - theta*| << 1e-6.
    assert abs(float(result.params["theta"]) - LINKAGE_MLE) < 1e-6


def test_linkage_closed_form_em_path():
    model = jaxem.Model(linkage_log_joint, num_states=2, statistics=linkage_statistics, maximize=linkage_maximize)
    params = {"theta": jnp.array(0.5)}
    for expected in LINKAGE_EM_PATH:
        params = jaxem.em_step(model, params, CELLS, LINKAGE_COUNTS)
        # The published iterates are given to 9 decimals: 1e-8 is rounding of the table.
        assert abs(float(params["theta"]) - expected) < 1e-8


def test_linkage_map_em_with_beta_prior():
    """MAP-EM: the gradient path with log_prior reaches the fixed point of the closed-form MAP update."""
    a, b = 3.0, 2.0

    def log_prior(params):
        return (a - 1) * jnp.log(params["theta"]) + (b - 1) * jnp.log1p(-params["theta"])

    model = jaxem.Model(
        linkage_log_joint, num_states=2, constraints={"theta": jaxem.constraints.unit_interval}, log_prior=log_prior
    )
    result = jaxem.fit(
        model, CELLS, weights=LINKAGE_COUNTS, init_params={"theta": jnp.array(0.5)}, tol=1e-14, max_iter=300
    )
    theta = 0.5
    for _ in range(500):  # closed-form MAP-EM update, iterated in plain NumPy
        split = 125.0 * (theta / 4) / (0.5 + theta / 4)
        theta = (split + 34.0 + a - 1) / (split + 18.0 + 20.0 + 34.0 + a + b - 2)
    assert abs(float(result.params["theta"]) - theta) < 1e-6  # convergence tolerance, as above
    prior_value = float(log_prior(result.params))
    np.testing.assert_allclose(float(result.objective) - float(result.log_likelihood), prior_value, rtol=1e-10)
    assert np.all(np.diff(result.history[: int(result.num_iterations) + 1]) >= -1e-9)


# ABO blood groups (Lange): phenotypes A, B, AB, O; genotypes AA, AO, BB, BO, AB, OO.
ABO_COUNTS = np.array([186.0, 38.0, 13.0, 284.0])
ABO_MLE = np.array([0.2135909, 0.0501453, 0.7362637])
_PHENOTYPE_OF_GENOTYPE = np.array([0, 0, 1, 1, 2, 3])


def abo_log_joint(params, x, z):
    p, q, r = params["freqs"]
    genotype = jnp.stack([p * p, 2 * p * r, q * q, 2 * q * r, 2 * p * q, r * r])
    compatible = jnp.asarray(_PHENOTYPE_OF_GENOTYPE)[z] == x
    return jnp.where(compatible, jnp.log(genotype[z]), -jnp.inf)


def test_abo_gradient_m_step_reaches_mle():
    model = jaxem.Model(abo_log_joint, num_states=6, constraints={"freqs": jaxem.constraints.simplex})
    result = jaxem.fit(
        model, np.arange(4), weights=ABO_COUNTS, init_params={"freqs": jnp.full(3, 1 / 3)}, tol=1e-14, max_iter=300
    )
    # Published to 7 decimals; 1e-5 is the requirement and well above that rounding.
    np.testing.assert_allclose(result.params["freqs"], ABO_MLE, atol=1e-5)
    np.testing.assert_allclose(float(jnp.sum(result.params["freqs"])), 1.0, rtol=1e-12)
