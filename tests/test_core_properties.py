"""Invariants of the engine, checked on generated data with hypothesis.

Shapes are fixed (N = 40, 2 components, R = 3 restarts) so every example reuses
one compiled program; only the values vary.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_core_fit import CLOSED, CONSTRAINTS, log_joint

import jaxem

N = 40
CLOSED_MODEL = jaxem.Model(log_joint, num_states=2, constraints=CONSTRAINTS, m_step=CLOSED)
GRADIENT_MODEL = jaxem.Model(log_joint, num_states=2, constraints=CONSTRAINTS)
MODELS = {"closed_form": CLOSED_MODEL, "gradient": GRADIENT_MODEL}
PROPERTY_SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def problems(draw):
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    separation = draw(st.floats(0.0, 6.0))
    data = np.concatenate([rng.normal(0.0, 1.0, N // 2), rng.normal(separation, draw(st.floats(0.3, 2.0)), N // 2)])
    start = {
        "weights": jnp.asarray(rng.dirichlet([2.0, 2.0])),
        "means": jnp.asarray(rng.choice(data, 2, replace=False)),
        "scales": jnp.asarray(rng.uniform(0.3, 3.0, 2)),
    }
    return data, start, rng


@pytest.mark.parametrize("kind", sorted(MODELS))
@PROPERTY_SETTINGS
@given(problem=problems())
def test_log_likelihood_never_decreases(kind, problem):
    data, start, _ = problem
    result = jaxem.fit(MODELS[kind], data, init_params=start, tol=0.0, max_iter=15)
    history = np.asarray(result.history)
    assert np.all(np.isfinite(history))
    # Non-decreasing up to float64 rounding of a sum of N log-densities.
    assert np.all(np.diff(history) >= -1e-10 * np.abs(history[1:]).max())


@pytest.mark.parametrize("kind", sorted(MODELS))
@PROPERTY_SETTINGS
@given(problem=problems())
def test_vmapped_restarts_equal_single_fits(kind, problem):
    data, start, rng = problem
    starts = [start] + [
        {"weights": jnp.asarray(rng.dirichlet([2.0, 2.0])), "means": jnp.asarray(rng.choice(data, 2, replace=False)), "scales": start["scales"]}
        for _ in range(2)
    ]
    batch = jax.tree.map(lambda *xs: jnp.stack(xs), *starts)
    together = jaxem.fit(MODELS[kind], data, init_params=batch, tol=1e-8, max_iter=30)
    for r, one in enumerate(starts):
        alone = jaxem.fit(MODELS[kind], data, init_params=one, tol=1e-8, max_iter=30)
        assert int(alone.num_iterations) == int(together.restarts.num_iterations[r])
        # Same arithmetic batched or not; 1e-9 allows XLA to reorder reductions under vmap.
        np.testing.assert_allclose(alone.objective, together.restarts.objective[r], rtol=1e-9)
        for name in one:
            np.testing.assert_allclose(alone.params[name], together.restarts.params[name][r], rtol=1e-7, atol=1e-9)


@PROPERTY_SETTINGS
@given(problem=problems())
def test_integer_weights_equal_repeated_rows(problem):
    data, start, rng = problem
    # A permutation of a fixed multiset: the repeated data always has 80 rows, one compile.
    counts = rng.permutation(np.repeat([0, 1, 2, 3, 4], N // 5))
    repeated = np.repeat(data, counts)
    for model in MODELS.values():
        weighted = jaxem.fit(model, data, weights=counts.astype(float), init_params=start, tol=0.0, max_iter=10)
        expanded = jaxem.fit(model, repeated, init_params=start, tol=0.0, max_iter=10)
        # The same sums in another order: float64 rounding only for closed form. The gradient
        # M-step runs L-BFGS on the same Q up to rounding; its iterates may differ at ~1e-10.
        np.testing.assert_allclose(weighted.history, expanded.history, rtol=1e-8)
        for name in start:
            np.testing.assert_allclose(weighted.params[name], expanded.params[name], rtol=1e-6, atol=1e-8)


def test_jit_equals_no_jit():
    rng = np.random.default_rng(3)
    data = np.concatenate([rng.normal(-1, 1, N // 2), rng.normal(2, 0.5, N // 2)])
    start = {"weights": jnp.array([0.4, 0.6]), "means": jnp.array([-0.5, 0.5]), "scales": jnp.array([1.0, 1.0])}
    # Op-by-op execution is slow, so the gradient model runs 1 iteration of 2 L-BFGS steps.
    for model, max_iter, steps in [(CLOSED_MODEL, 3, 10), (GRADIENT_MODEL, 1, 2)]:
        compiled = jaxem.fit(model, data, init_params=start, tol=0.0, max_iter=max_iter, num_gradient_steps=steps)
        with jax.disable_jit():
            eager = jaxem.fit(model, data, init_params=start, tol=0.0, max_iter=max_iter, num_gradient_steps=steps)
        # Eager op-by-op versus one fused program: rounding differences only.
        np.testing.assert_allclose(eager.history, compiled.history, rtol=1e-10)
        for name in start:
            np.testing.assert_allclose(eager.params[name], compiled.params[name], rtol=1e-8)
