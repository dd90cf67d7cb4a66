"""A second fit with the same Model and new data of the same shapes does not recompile."""

import importlib
import pickle

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_core_fit import CLOSED, CONSTRAINTS, init, log_joint

import jaxem

_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"


def test_second_fit_does_not_recompile():
    fit_module = importlib.import_module("jaxem.driver")
    model = jaxem.Model(log_joint, num_states=2, init=init, constraints=CONSTRAINTS, **CLOSED)
    rng = np.random.default_rng(0)
    first = jaxem.fit(model, rng.normal(size=64), key=jax.random.key(0), num_restarts=4, max_iter=20, tol=1e-6)
    jax.block_until_ready(first)
    cache_size = fit_module._fit_jit._cache_size()

    compiles = []
    listener = lambda event, duration, **kwargs: compiles.append(event) if event == _COMPILE_EVENT else None
    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        # new data values, a new key and a new tolerance (traced): no compilation at all
        second = jaxem.fit(
            model, rng.normal(size=64) + 3.0, key=jax.random.key(1), num_restarts=4, max_iter=20, tol=1e-4
        )
        jax.block_until_ready(second)
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    assert compiles == []
    assert fit_module._fit_jit._cache_size() == cache_size
    assert not np.allclose(first.params["means"], second.params["means"])


def test_new_model_or_shape_does_compile():
    """The check above can fail: a new data shape is seen as a compilation."""
    model = jaxem.Model(log_joint, num_states=2, init=init, constraints=CONSTRAINTS, **CLOSED)
    compiles = []
    listener = lambda event, duration, **kwargs: compiles.append(event) if event == _COMPILE_EVENT else None
    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        jaxem.fit(model, jnp.linspace(-1, 1, 33), key=jax.random.key(0), num_restarts=4, max_iter=5)
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    assert _COMPILE_EVENT in compiles


def _compiles_during(run):
    compiles = []
    listener = lambda event, duration, **kwargs: compiles.append(event) if event == _COMPILE_EVENT else None
    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        jax.block_until_ready(run())
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    return compiles


POINTS = np.random.default_rng(1).normal(size=(60, 2))


def test_equal_built_in_models_share_compiled_programs():
    """A freshly built model equal to one already fitted compiles nothing (init and fit programs)."""
    first = jaxem.models.gaussian_mixture(3, covariance_type="diag")
    jaxem.fit(first, POINTS, key=jax.random.key(0), num_restarts=4, max_iter=5)
    again = jaxem.models.gaussian_mixture(3, covariance_type="diag")
    assert again == first and hash(again) == hash(first) and again is not first
    assert _compiles_during(lambda: jaxem.fit(again, POINTS, key=jax.random.key(1), num_restarts=4, max_iter=5)) == []
    assert jaxem.models.gaussian_mixture(3, covariance_type="full") != first  # other arguments: another model


@pytest.mark.parametrize(
    "build",
    [
        lambda: jaxem.models.gaussian_mixture(2, covariance_type="tied", reg_covar=1e-4, init="kmeans++"),
        lambda: jaxem.models.poisson_mixture(2),
        lambda: jaxem.models.bernoulli_mixture(2),
        lambda: jaxem.models.categorical_mixture(2, 3),
        lambda: jaxem.models.gaussian_hmm(2, covariance_type="spherical"),
        lambda: jaxem.models.poisson_hmm(3),
        lambda: jaxem.models.categorical_hmm(2, 4),
    ],
)
def test_built_in_models_pickle_to_equal_models(build):
    model = build()
    restored = pickle.loads(pickle.dumps(model))
    assert restored == model and hash(restored) == hash(model)
    assert restored.constraints["weights" if "weights" in restored.constraints else "initial"] is (
        jaxem.constraints.simplex
    )


def test_repeated_fit_does_not_trace_init_again():
    traces = []

    def counting_init(key, data):
        traces.append(1)  # runs only while JAX traces the function
        return init(key, data)

    model = jaxem.Model(log_joint, num_states=2, init=counting_init, constraints=CONSTRAINTS, **CLOSED)
    data = np.random.default_rng(2).normal(size=64)
    jaxem.fit(model, data, key=jax.random.key(0), num_restarts=4, max_iter=5)
    seen = len(traces)
    jaxem.fit(model, data + 1.0, key=jax.random.key(1), num_restarts=4, max_iter=5)
    assert seen > 0 and len(traces) == seen
