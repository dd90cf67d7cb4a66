"""The fit driver on a hand-written 1-D Gaussian mixture: M-step kinds, restarts, failures."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxem

CONSTRAINTS = {"weights": jaxem.constraints.simplex, "scales": jaxem.constraints.positive}


def log_joint(params, x, z):
    return jnp.log(params["weights"][z]) + jax.scipy.stats.norm.logpdf(x, params["means"][z], params["scales"][z])


def init(key, data):
    return {
        "weights": jnp.full(2, 0.5),
        "means": jax.random.choice(key, data, (2,), replace=False),
        "scales": jnp.full(2, jnp.std(data)),
    }


def statistics(data, resp, w, params):
    """Weighted moments about the E-step's means: additive over chunks of the data."""
    wr = w[:, None] * resp
    centred = data[:, None] - params["means"]
    return {"counts": wr.sum(0), "sums": (wr * centred).sum(0), "squares": (wr * centred**2).sum(0)}


def maximize(stats, params):
    counts = stats["counts"]
    shift = stats["sums"] / counts
    return {
        "weights": counts / counts.sum(),
        "means": params["means"] + shift,
        "scales": jnp.sqrt(stats["squares"] / counts - shift**2),
    }


def maximize_weights_and_means(stats, params):
    return {key: value for key, value in maximize(stats, params).items() if key != "scales"}


CLOSED = {"statistics": statistics, "maximize": maximize}


def make_data(seed=0, n=(150, 100)):
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(-2.0, 1.0, n[0]), rng.normal(2.5, 0.6, n[1])])


DATA = make_data()
START = {"weights": jnp.array([0.5, 0.5]), "means": jnp.array([-1.0, 1.0]), "scales": jnp.array([1.5, 1.5])}


@pytest.fixture(scope="module")
def closed_fit():
    model = jaxem.Model(log_joint, num_states=2, init=init, constraints=CONSTRAINTS, **CLOSED)
    return jaxem.fit(model, DATA, init_params=START, tol=1e-13, max_iter=1000)


def test_closed_form_and_gradient_reach_same_likelihood(closed_fit):
    gradient = jaxem.Model(log_joint, num_states=2, init=init, constraints=CONSTRAINTS)
    result = jaxem.fit(gradient, DATA, init_params=START, tol=1e-13, max_iter=1000)
    assert bool(closed_fit.converged) and bool(result.converged)
    # Both converge to the same local maximum; 1e-6 relative is the bound and far
    # above the tolerance of either run (1e-13 per observation).
    np.testing.assert_allclose(result.log_likelihood, closed_fit.log_likelihood, rtol=1e-6)
    np.testing.assert_allclose(np.sort(result.params["means"]), np.sort(closed_fit.params["means"]), atol=1e-4)


def test_mixed_closed_form_and_gradient_ecm(closed_fit):
    """Weights and means in closed form, scales by gradient: expectation-conditional maximization."""
    model = jaxem.Model(
        log_joint, num_states=2, constraints=CONSTRAINTS, statistics=statistics, maximize=maximize_weights_and_means
    )
    result = jaxem.fit(model, DATA, init_params=START, tol=1e-13, max_iter=1000)
    np.testing.assert_allclose(result.log_likelihood, closed_fit.log_likelihood, rtol=1e-6)
    assert np.all(
        np.diff(result.history[: int(result.num_iterations) + 1]) >= -1e-9 * abs(float(result.log_likelihood))
    )


def test_closed_form_matches_em_step_loop(closed_fit):
    """fit with tol=0 and max_iter=k equals k calls of em_step."""
    model = jaxem.Model(log_joint, num_states=2, constraints=CONSTRAINTS, **CLOSED)
    params = START
    for _ in range(7):
        params = jaxem.em_step(model, params, DATA)
    result = jaxem.fit(model, DATA, init_params=START, tol=0.0, max_iter=7)
    assert int(result.num_iterations) == 7 and not bool(result.converged)
    for name in params:
        np.testing.assert_allclose(result.params[name], params[name], rtol=1e-12)
    np.testing.assert_allclose(result.log_likelihood, jaxem.log_likelihood(model, params, DATA), rtol=1e-12)
    assert np.all(np.isnan(result.history[8:])) and np.all(np.isfinite(result.history[:8]))


def test_restarts_and_best_selection():
    model = jaxem.Model(log_joint, num_states=2, init=init, constraints=CONSTRAINTS, **CLOSED)
    result = jaxem.fit(model, DATA, key=jax.random.key(0), num_restarts=8, max_iter=200)
    restarts = result.restarts
    assert restarts.log_likelihood.shape == (8,) and restarts.history.shape == (8, 201)
    assert restarts.params["means"].shape == (8, 2)
    best = int(result.best_restart)
    assert float(result.objective) == float(np.max(restarts.objective))
    np.testing.assert_array_equal(result.params["means"], restarts.params["means"][best])
    # different keys give different starting points
    assert len(np.unique(np.asarray(restarts.history[:, 0]))) > 1


def test_failing_restart_is_isolated():
    """A restart whose component collapses on an isolated point fails; the other goes on."""
    data = np.concatenate([make_data(1), [40.0]])
    model = jaxem.Model(log_joint, num_states=2, constraints=CONSTRAINTS, **CLOSED)
    good = {"weights": jnp.array([0.5, 0.5]), "means": jnp.array([-2.0, 2.0]), "scales": jnp.array([1.0, 1.0])}
    bad = {"weights": jnp.array([0.5, 0.5]), "means": jnp.array([0.0, 40.0]), "scales": jnp.array([3.0, 1e-3])}
    batch = jax.tree.map(lambda a, b: jnp.stack([a, b]), good, bad)
    result = jaxem.fit(model, data, init_params=batch, max_iter=50)
    np.testing.assert_array_equal(result.restarts.failed, [False, True])
    assert int(result.restarts.failed_iteration[0]) == -1
    assert int(result.restarts.failed_iteration[1]) >= 1
    assert not np.isfinite(float(result.restarts.failed_value[1]))
    assert int(result.best_restart) == 0 and np.isfinite(float(result.log_likelihood))
    # the failed restart keeps its last finite parameters
    assert all(np.all(np.isfinite(np.asarray(v[1]))) for v in result.restarts.params.values())
    assert np.isfinite(float(result.restarts.objective[1]))


def test_all_restarts_failing_raises_with_explanation():
    model = jaxem.Model(log_joint, num_states=2, constraints=CONSTRAINTS, **CLOSED)
    # Inside every constraint's domain, but so narrow that no data point has a finite density.
    start = {"weights": jnp.array([0.5, 0.5]), "means": jnp.array([0.05, 1.05]), "scales": jnp.array([1e-300, 1e-300])}
    with pytest.raises(jaxem.FitError, match=r"(?s)restart 0: objective became (nan|-inf) at iteration 0.*log_joint"):
        jaxem.fit(model, DATA, init_params=start)


def test_float32_dtypes_are_stable():
    model = jaxem.Model(log_joint, num_states=2, constraints=CONSTRAINTS, **CLOSED)
    start = jax.tree.map(lambda x: x.astype(jnp.float32), START)
    result = jaxem.fit(model, DATA.astype(np.float32), init_params=start, max_iter=20)
    assert all(v.dtype == jnp.float32 for v in result.params.values())
    gradient = jaxem.Model(log_joint, num_states=2, constraints=CONSTRAINTS)
    result = jaxem.fit(gradient, DATA.astype(np.float32), init_params=start, max_iter=5)
    assert all(v.dtype == jnp.float32 for v in result.params.values())
