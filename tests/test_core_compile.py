"""A second fit with the same Model and new data of the same shapes does not recompile."""

import importlib

import jax
import jax.numpy as jnp
import numpy as np
from test_core_fit import CLOSED, CONSTRAINTS, init, log_joint

import jaxem

_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"


def test_second_fit_does_not_recompile():
    fit_module = importlib.import_module("jaxem.fit")
    model = jaxem.Model(log_joint, num_states=2, init=init, constraints=CONSTRAINTS, m_step=CLOSED)
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
    model = jaxem.Model(log_joint, num_states=2, init=init, constraints=CONSTRAINTS, m_step=CLOSED)
    compiles = []
    listener = lambda event, duration, **kwargs: compiles.append(event) if event == _COMPILE_EVENT else None
    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        jaxem.fit(model, jnp.linspace(-1, 1, 33), key=jax.random.key(0), num_restarts=4, max_iter=5)
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    assert _COMPILE_EVENT in compiles
