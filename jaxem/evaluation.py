"""A model at given parameters: one EM step, the log-likelihood, the posterior.

Each function checks its inputs on the host when they are concrete (the
data, the params' shapes, dtypes and domains) and then runs a program
jitted at module level. Called with traced inputs (inside a user's ``jit``,
``vmap`` or ``grad``) the host checks are skipped and the same pure
computation is traced into the caller's program.
"""

from __future__ import annotations

import jax

from jaxem import algorithm as _algorithm
from jaxem import chunks, validation
from jaxem.driver import prepare
from jaxem.estep import expectations, posteriors
from jaxem.mstep import DEFAULT_NUM_GRADIENT_STEPS

__all__ = ["em_step", "log_likelihood", "posterior"]


def _traced(*trees) -> bool:
    return any(isinstance(x, jax.core.Tracer) for tree in trees for x in jax.tree.leaves(tree))


def _inputs(model, params, data, weights, lengths):
    check = not _traced(params, data, weights, lengths)
    units, weights, example = prepare(model, data, weights, lengths, check=check)
    if check:
        params = validation.checked_params(model, params, units, example)
    return params, units, weights


def _chunk_size(model, units, chunk_size):
    if chunk_size is None:
        return chunks.chunk_size_for(model, units)
    return validation.check_positive_int(chunk_size, "chunk_size")


def _em_step_program(model, config, params, units, weights):
    algorithm = _algorithm.build(model, config)
    return algorithm.step(algorithm.init(params, units, weights), units, weights)[0].params


_em_step_jit = jax.jit(_em_step_program, static_argnums=(0, 1))


def em_step(
    model,
    params,
    data,
    weights=None,
    *,
    lengths=None,
    optimizer=None,
    num_gradient_steps: int = DEFAULT_NUM_GRADIENT_STEPS,
    chunk_size: int | None = None,
):
    """One EM iteration from ``params``: the E-step, then the M-step. Pure.

    For repeated steps keep the E-step with the params: :func:`jaxem.em`.

    Example:
      >>> params = jaxem.em_step(model, params, data)
      >>> jax.jit(lambda p: jaxem.em_step(model, p, data))(params)  # traceable too
    """
    params, units, weights = _inputs(model, params, data, weights, lengths)
    size = _chunk_size(model, units, chunk_size)
    config = _algorithm.settings(optimizer, num_gradient_steps, size)
    return _em_step_jit(model, config, params, units, weights)


def _log_likelihood_program(model, chunk_size, params, units, weights):
    return expectations(model, params, units, weights, chunk_size).log_likelihood


def _posterior_program(model, params, units):
    return model.posterior_output(posteriors(model, params, units)[1])


_log_likelihood_jit = jax.jit(_log_likelihood_program, static_argnums=(0, 1))
_posterior_jit = jax.jit(_posterior_program, static_argnums=0)


def log_likelihood(model, params, data, weights=None, *, lengths=None, chunk_size: int | None = None):
    """``sum_i w_i log p(x_i; params)`` (without ``log_prior``), summed over chunks of the data."""
    params, units, weights = _inputs(model, params, data, weights, lengths)
    return _log_likelihood_jit(model, _chunk_size(model, units, chunk_size), params, units, weights)


def posterior(model, params, data, *, lengths=None):
    """Posterior over the latents: for a mixture, responsibilities (N, *num_states)."""
    params, units, _ = _inputs(model, params, data, None, lengths)
    return _posterior_jit(model, params, units)
