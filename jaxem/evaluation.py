"""A model at given parameters: one EM step, the log-likelihood (total and per unit), the posterior, labels.

Each function checks its inputs on the host when they are concrete (the
data, the params' shapes, dtypes and domains) and then runs a program
jitted at module level. Called with traced inputs (inside a user's ``jit``,
``vmap`` or ``grad``) the host checks are skipped and the same pure
computation is traced into the caller's program.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxem import algorithm as _algorithm
from jaxem import chunks, validation
from jaxem.decoding import viterbi
from jaxem.driver import prepare
from jaxem.estep import expectations, posteriors
from jaxem.markov import MarkovModel
from jaxem.mstep import DEFAULT_NUM_GRADIENT_STEPS

__all__ = ["em_step", "log_likelihood", "log_likelihoods", "posterior", "predict"]


def _traced(*trees) -> bool:
    return any(isinstance(x, jax.core.Tracer) for tree in trees for x in jax.tree.leaves(tree))


def checked_arguments(model, params, data, weights, lengths):
    """``(params, units, weights)`` host-checked when concrete (skipped for traced inputs)."""
    check = not _traced(params, data, weights, lengths)
    units, weights, example = prepare(model, data, weights, lengths, check=check)
    if check:
        params = validation.checked_params(model, params, units, example)
    return params, units, weights


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
    params, units, weights = checked_arguments(model, params, data, weights, lengths)
    size = chunks.resolve_chunk_size(model, units, chunk_size)
    config = _algorithm.settings(optimizer, num_gradient_steps, size)
    return _em_step_jit(model, config, params, units, weights)


def _log_likelihood_program(model, chunk_size, params, units, weights):
    return expectations(model, params, units, weights, chunk_size).log_likelihood


def _per_unit_program(model, chunk_size, params, units):
    def chunk(u):
        log_p, marginals = posteriors(model, params, u)
        return log_p, model.posterior_output(marginals)

    return chunks.apply(chunk, units, chunk_size)


_log_likelihood_jit = jax.jit(_log_likelihood_program, static_argnums=(0, 1))
_per_unit_jit = jax.jit(_per_unit_program, static_argnums=(0, 1))


def log_likelihood(model, params, data, weights=None, *, lengths=None, chunk_size: int | None = None):
    """``sum_i w_i log p(x_i; params)`` (without ``log_prior``), summed over chunks of the data."""
    params, units, weights = checked_arguments(model, params, data, weights, lengths)
    return _log_likelihood_jit(model, chunks.resolve_chunk_size(model, units, chunk_size), params, units, weights)


def posterior(model, params, data, *, lengths=None, chunk_size: int | None = None):
    """Posterior over the latents: for a mixture, responsibilities (N, *num_states)."""
    return per_unit(model, params, data, lengths=lengths, chunk_size=chunk_size)[1]


def per_unit(model, params, data, *, lengths=None, chunk_size: int | None = None):
    """``(log p(x_i), posterior)`` for every unit (observation, or sequence of a ``MarkovModel``),
    computed over chunks of the data (:func:`jaxem.chunks.apply`)."""
    params, units, _ = checked_arguments(model, params, data, None, lengths)
    return _per_unit_jit(model, chunks.resolve_chunk_size(model, units, chunk_size), params, units)


def log_likelihoods(model, params, data, *, lengths=None, chunk_size: int | None = None):
    """``log p(x_i; params)`` for every observation, shape (N,); for a ``MarkovModel``, every
    sequence's ``log p(x_{1:L})``, shape (S,) (scikit-learn's ``score_samples``, hmmlearn's
    per-sequence ``score``). Without weights and ``log_prior``.

    Example:
      >>> jaxem.log_likelihoods(model, result.params, data)   # (N,)
    """
    return per_unit(model, params, data, lengths=lengths, chunk_size=chunk_size)[0]


def hard_labels(model, posterior):
    """The most probable latent value of each observation from its responsibilities
    (N, *num_states): (N,) int32, or (N, L) for L latents enumerated jointly."""
    shape = model.state_shape
    flat = jnp.argmax(posterior.reshape(posterior.shape[0], -1), axis=1).astype(jnp.int32)
    if len(shape) == 1 and not isinstance(model.num_states, (tuple, list)):
        return flat
    return jnp.stack(jnp.unravel_index(flat, shape), axis=1).astype(jnp.int32)


def predict(model, params, data, *, lengths=None, chunk_size: int | None = None):
    """Hard labels: for a ``Model`` the most probable latent value of each observation, (N,)
    int32 ((N, L) for L latents enumerated jointly); for a ``MarkovModel`` the Viterbi path of
    each sequence, (S, T) int32 with ``-1`` on padding (:func:`jaxem.viterbi`).

    Example:
      >>> labels = jaxem.predict(jaxem.models.gaussian_mixture(2), result.params, faithful)
    """
    if isinstance(model, MarkovModel):
        return viterbi(model, params, data, lengths=lengths, chunk_size=chunk_size)
    return hard_labels(model, posterior(model, params, data, lengths=lengths, chunk_size=chunk_size))
