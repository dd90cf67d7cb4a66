"""EM as a pure algorithm: ``init(params, data) -> state`` and ``step(state, data) -> (state, info)``.

:func:`em` builds, for one model, an :class:`EM` object of two pure
functions in the style of an optax ``GradientTransformation`` or a blackjax
kernel. They work on ONE restart and any concrete or traced data, so they can
be jitted, vmapped over restarts, scanned, or wrapped by another algorithm
that takes and returns an :class:`EM` (acceleration, racing); :func:`jaxem.fit`
is a thin driver over them.

The state carries, besides the params, the E-step at those params
(log-likelihood, objective, closed-form statistics, expected counts), so a
step is: maximise from the carried statistics (plus the gradient M-step on
Q for parameters without a closed form), then one E-step at the new
params. Every quantity is a sum over chunks of the data
(:mod:`jaxem.chunks`), which makes the same step run on data held whole,
in chunks, or split over devices (``axis_name``).

Example:
  >>> algorithm = jaxem.em(model)
  >>> state = algorithm.init(params, data)
  >>> state, info = jax.jit(algorithm.step)(state, data)
  >>> # all restarts at once:
  >>> states = jax.vmap(algorithm.init, in_axes=(0, None))(starts, data)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxem import chunks, validation
from jaxem.estep import Expectations, expectations
from jaxem.mstep import DEFAULT_NUM_GRADIENT_STEPS, GradientSettings, default_optimizer, m_step

__all__ = ["EM", "EMInfo", "EMSettings", "EMState", "em", "settings"]


class EMState(NamedTuple):
    """What one EM restart carries from step to step.

    Attributes:
      params: the current parameters.
      log_likelihood: ``sum_i w_i log p(x_i; params)``.
      objective: ``log_likelihood + log_prior(params)`` (equal without a prior).
      statistics: the model's closed-form statistics at ``params`` (None without).
      counts: expected count of each latent value at ``params`` (see
        :class:`jaxem.estep.Expectations`).
    """

    params: Any
    log_likelihood: jax.Array
    objective: jax.Array
    statistics: Any
    counts: jax.Array


class EMInfo(NamedTuple):
    """Diagnostics of one step.

    Attributes:
      previous_objective: the objective before the step's last EM update (for
        plain EM, before the step); ``objective - previous_objective`` is the
        change a driver's convergence test reads.
      objective: the objective after the step.
      log_likelihood: the log-likelihood after the step.
      num_e_steps: E-steps the step ran: 1 for plain EM; a wrapper that runs
        several (e.g. :func:`jaxem.squarem`) reports their number, so fits can
        be compared by work done rather than by steps.
    """

    previous_objective: jax.Array
    objective: jax.Array
    log_likelihood: jax.Array
    num_e_steps: jax.Array


class EM(NamedTuple):
    """A pure EM algorithm for one restart.

    Attributes:
      init: ``init(params, data, weights=None) -> EMState``: the E-step at ``params``.
      step: ``step(state, data, weights=None) -> (EMState, EMInfo)``: one M-step
        then the E-step at the new params. The objective never decreases.

    ``data`` is what the model fits: an array or pytree with leading axis N
    for a :class:`jaxem.Model`; for a :class:`jaxem.MarkovModel`, the
    :class:`jaxem.markov.Sequences` from ``model.units(data, lengths)``.
    ``weights`` are per unit (N,), default ones.
    """

    init: Callable[..., EMState]
    step: Callable[..., tuple[EMState, EMInfo]]


class EMSettings(NamedTuple):
    """Static settings of :func:`em` (hashable: the jit key of compiled fits)."""

    gradient: GradientSettings
    chunk_size: int | None
    axis_name: Any


def settings(optimizer=None, num_gradient_steps=DEFAULT_NUM_GRADIENT_STEPS, chunk_size=None, axis_name=None):
    """Checked :class:`EMSettings` (raises naming the argument)."""
    optimizer = default_optimizer() if optimizer is None else optimizer
    if not (hasattr(optimizer, "init") and hasattr(optimizer, "update")):
        raise TypeError(f"optimizer must be an optax GradientTransformation; got {optimizer!r}.")
    steps = validation.check_positive_int(num_gradient_steps, "num_gradient_steps")
    if chunk_size is not None:
        chunk_size = validation.check_positive_int(chunk_size, "chunk_size")
    return EMSettings(GradientSettings(optimizer, steps), chunk_size, axis_name)


def _weights(data, weights):
    if weights is not None:
        return weights
    leaf = jax.tree.leaves(data)[0]
    dtype = jnp.result_type(float)
    return jnp.ones((leaf.shape[0],), dtype)


def build(model, config: EMSettings) -> EM:
    """The :class:`EM` of ``model`` under checked settings (see :func:`em`)."""

    def chunk_size(data):
        if config.chunk_size is not None:
            return config.chunk_size
        return chunks.chunk_size_for(model, data)

    def evaluate(params, data, weights) -> EMState:
        found: Expectations = expectations(model, params, data, weights, chunk_size(data), config.axis_name)
        objective = found.log_likelihood
        if model.log_prior is not None:
            objective = objective + model.log_prior(params)
        return EMState(params, found.log_likelihood, objective, found.statistics, found.counts)

    def init(params, data, weights=None) -> EMState:
        return evaluate(params, data, _weights(data, weights))

    def step(state: EMState, data, weights=None):
        weights = _weights(data, weights)
        new_params = m_step(
            model, state.params, state.statistics, data, weights, config.gradient, chunk_size(data), config.axis_name
        )
        new = evaluate(new_params, data, weights)
        return new, EMInfo(state.objective, new.objective, new.log_likelihood, jnp.asarray(1, jnp.int32))

    return EM(init, step)


def em(
    model,
    *,
    chunk_size: int | None = None,
    optimizer=None,
    num_gradient_steps: int = DEFAULT_NUM_GRADIENT_STEPS,
    axis_name=None,
) -> EM:
    """The EM algorithm of ``model`` as a pure :class:`EM` object (one restart).

    Each step maximises ``Q(theta | theta_t) + log_prior(theta)``: in closed
    form from the model's additive ``statistics`` and ``maximize`` where it
    has them, by ``num_gradient_steps`` steps of ``optimizer`` on Q for the
    other parameters (see :mod:`jaxem.mstep`).

    Args:
      model: a :class:`jaxem.Model` or :class:`jaxem.MarkovModel`.
      chunk_size: units per chunk of the E-step (default: from
        :data:`jaxem.chunks.DEFAULT_MEMORY_BUDGET` for one restart).
      optimizer: optax optimizer of the gradient M-step (default L-BFGS).
      num_gradient_steps: optimizer steps per gradient M-step.
      axis_name: a mapped axis (``shard_map``/``pmap``) the data is split
        over: every sum is also summed over it.

    Returns:
      :class:`EM` with ``init`` and ``step``; no host-side checks run inside
      them (the data and params are the caller's responsibility), so they
      trace under ``jit`` and ``vmap``.
    """
    return build(model, settings(optimizer, num_gradient_steps, chunk_size, axis_name))
