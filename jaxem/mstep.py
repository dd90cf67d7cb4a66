"""The M-step: closed-form maximisation from additive statistics, generalized EM elsewhere.

Given the E-step at ``theta_t`` (:class:`jaxem.estep.Expectations`):

1. A model with a closed form gives ``maximize(statistics, params)``: from
   the statistics summed over the data at ``theta_t`` (and ``theta_t``
   itself, e.g. for the reference point of centred moments) it returns the
   new values of the parameters it sets, as a dict.
2. The remaining parameters are moved by an optax optimizer on
   ``Q(theta | theta_t) + log_prior(theta)`` in unconstrained space (each leaf
   through its constraint), with the closed-form parameters held at their
   new values (expectation-conditional maximization). Q is a sum over chunks
   of the data (:func:`jaxem.estep.expected_log_joint`).
3. Guarantee: the iterate with the highest objective among the optimizer's
   iterates is taken; if none beats the starting parameters, the final
   iterate is pulled back toward them by halving; if that fails too the old
   parameters are kept. Q never decreases, hence neither does the marginal
   log-likelihood.

The default optimizer is L-BFGS (``optax.lbfgs`` with a backtracking Armijo
line search of at most 15 halvings) run for ``num_gradient_steps=10`` steps
per M-step, on Q divided by the total sample weight (so step sizes do
not depend on N).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxem import constraints as _constraints
from jaxem.estep import expected_log_joint

__all__ = ["DEFAULT_NUM_GRADIENT_STEPS", "GradientSettings", "closed_form", "default_optimizer", "m_step"]

DEFAULT_NUM_GRADIENT_STEPS = 10
_MAX_BACKTRACKS = 10


@functools.cache
def default_optimizer():
    """The default gradient M-step optimizer (built once, so fits share a cache entry)."""
    return optax.lbfgs(linesearch=optax.scale_by_backtracking_linesearch(max_backtracking_steps=15, store_grad=True))


class GradientSettings(NamedTuple):
    """Static settings of the gradient M-step (hashable, part of the jit key)."""

    optimizer: optax.GradientTransformation
    num_steps: int


def closed_form(model, statistics, params) -> dict:
    """``model.maximize(statistics, params)``, checked to set known parameters ({} without a closed form)."""
    if model.maximize is None:
        return {}
    update = model.maximize(statistics, params)
    if not isinstance(update, dict):
        raise TypeError(f"maximize must return a dict of new parameter values; got {type(update).__name__}.")
    unknown = sorted(set(update) - set(params), key=str)
    if unknown:
        raise ValueError(
            f"maximize returns values for {unknown}, which are not keys of the params ({sorted(params, key=str)})."
        )
    return {name: jnp.asarray(value, params[name].dtype) for name, value in update.items()}


def _split(params, names):
    if not names:
        return params, None
    free = {k: v for k, v in params.items() if k not in names}
    fixed = {k: v for k, v in params.items() if k in names}
    return free, fixed


def _merge(free, fixed):
    return free if fixed is None else {**fixed, **free}


def _gradient_ascent(objective, free, constraint_tree, settings: GradientSettings):
    """Maximises ``objective(free)`` from ``free`` without ever returning a worse point."""
    to_free = lambda u: jax.tree.map(lambda c, x: c.forward(x), constraint_tree, u)
    u0 = jax.tree.map(lambda c, x: c.inverse(x), constraint_tree, free)
    loss = lambda u: -objective(to_free(u))
    optimizer = optax.with_extra_args_support(settings.optimizer)
    start_value = -objective(free)

    def step(carry, _):
        u, state, best_u, best_value = carry
        value, grad = jax.value_and_grad(loss)(u)
        better = jnp.isfinite(value) & (value < best_value)
        best_u = jax.tree.map(lambda a, b: jnp.where(better, a, b), u, best_u)
        best_value = jnp.where(better, value, best_value)
        grad = jax.tree.map(lambda g: jnp.where(jnp.isfinite(g), g, 0.0), grad)
        updates, state = optimizer.update(grad, state, u, value=value, grad=grad, value_fn=loss)
        return (optax.apply_updates(u, updates), state, best_u, best_value), None

    init = (u0, optimizer.init(u0), u0, start_value)
    (u_last, _, best_u, best_value), _ = jax.lax.scan(step, init, None, length=settings.num_steps)
    last_value = loss(u_last)
    take_last = jnp.isfinite(last_value) & (last_value < best_value)
    best_u = jax.tree.map(lambda a, b: jnp.where(take_last, a, b), u_last, best_u)
    best_value = jnp.where(take_last, last_value, best_value)
    improved = best_value < start_value

    # No iterate improved: pull the last one back toward the start by halving.
    def halve_cond(carry):
        scale, found, _ = carry
        return (~found) & (scale > 2.0**-_MAX_BACKTRACKS)

    def halve_body(carry):
        scale, _, _ = carry
        scale = scale * 0.5
        u = jax.tree.map(lambda a, b: (b + scale * (a - b)).astype(b.dtype), u_last, u0)
        value = loss(u)
        return scale, jnp.isfinite(value) & (value < start_value), u

    _, found, u_back = jax.lax.while_loop(
        halve_cond, halve_body, (jnp.asarray(1.0, start_value.dtype), improved, best_u)
    )
    candidate = jax.tree.map(lambda a, b: jnp.where(improved, a, b), best_u, u_back)
    accept = improved | found
    new_free = to_free(candidate)
    return jax.tree.map(lambda new, old: jnp.where(accept, new, old).astype(old.dtype), new_free, free)


def m_step(model, params, statistics, units, weights, settings: GradientSettings, chunk_size: int, axis_name=None):
    """One M-step from the E-step at ``params``; returns params with unchanged dtypes."""
    update = closed_form(model, statistics, params)
    new = {**params, **update} if update else params
    if update and set(update) >= set(params):
        return new
    names = tuple(update)
    free, fixed = _split(new, names)
    constraint_tree, _ = _split(_constraints.expand(model.constraints, new), names)
    total = jnp.sum(weights)
    if axis_name is not None:
        total = jax.lax.psum(total, axis_name)
    total = jnp.maximum(total, jnp.finfo(weights.dtype).tiny)
    q = expected_log_joint(model, params, units, weights, chunk_size, axis_name)

    def objective(free_params):
        full = _merge(free_params, fixed)
        value = q(full)
        if model.log_prior is not None:
            value = value + model.log_prior(full)
        return value / total

    new_free = _gradient_ascent(objective, free, constraint_tree, settings)
    return _merge(new_free, fixed)
