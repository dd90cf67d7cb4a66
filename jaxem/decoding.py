"""Decoding and simulation for Markov models: the Viterbi path and sampling.

Both work on one sequence and are vmapped over sequences (and keys), jitted
once at module level with the model as a static argument; the Viterbi paths
are decoded a chunk of sequences at a time (:func:`jaxem.chunks.apply`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxem import chunks, validation
from jaxem.markov import MarkovModel, check_model, checked_inputs, finite_max

__all__ = ["SampledSequences", "sample_sequences", "viterbi"]


def _relative(delta):
    """``delta - max delta`` (finite max; the argmax path does not depend on the shift).

    Keeps the max-plus messages near zero: the raw ``delta_t`` grows like
    ``-t`` nats, which float32 resolves ever more coarsely along a long
    sequence (``tests/test_hmm.py`` decodes a long float32 sequence against
    hmmlearn's float64 path).
    """
    return delta - finite_max(delta)


def _viterbi_one(model, params, unit):
    """Max-product forward pass with back-pointers, then a reverse scan to read the path."""
    initial, transition, emission = model.log_potentials(params, unit)
    num_states = initial.shape[0]
    stay = jnp.arange(num_states, dtype=jnp.int32)

    def forward(delta, inputs):
        t, emission_t = inputs
        scores = delta[:, None] + transition
        pointers = jnp.argmax(scores, axis=0).astype(jnp.int32)
        new = _relative(jnp.max(scores, axis=0) + emission_t)
        if unit.length is None:
            return new, pointers
        real = t < unit.length
        return jnp.where(real, new, delta), jnp.where(real, pointers, stay)

    num_steps = emission.shape[0]
    delta, pointers = jax.lax.scan(forward, _relative(initial + emission[0]), (jnp.arange(1, num_steps), emission[1:]))
    last = jnp.argmax(delta).astype(jnp.int32)

    def backward(state, pointers_t):
        return pointers_t[state], state

    first, rest = jax.lax.scan(backward, last, pointers, reverse=True)
    path = jnp.concatenate([first[None], rest])
    return path if unit.length is None else jnp.where(jnp.arange(num_steps) < unit.length, path, -1)


def _viterbi_program(model, chunk_size, params, units):
    return chunks.apply(jax.vmap(lambda u: _viterbi_one(model, params, u)), units, chunk_size)


_viterbi_jit = jax.jit(_viterbi_program, static_argnums=(0, 1))


def viterbi(model: MarkovModel, params, data, *, lengths=None, chunk_size: int | None = None):
    """The most likely state path of every sequence (max-plus forward scan, then backtracking).

    .. math::
        \\hat z_{1:L} = \\arg\\max_{z_{1:L}} \\log p(x_{1:L}, z_{1:L}),\\quad
        \\delta_t(k) = \\max_j [\\delta_{t-1}(j) + \\phi^{trans}(j, k)] + \\phi^{emit}_t(k).

    Args:
      model: a :class:`MarkovModel`.
      params: its parameters.
      data: pytree of leaves (S, T, ...) (one sequence: S = 1).
      lengths: optional (S,) sequence lengths.
      chunk_size: sequences decoded at a time (default: from the memory budget, as the E-step's).

    Returns:
      int32 (S, T) paths, ``-1`` on padding steps.

    Example:
      >>> paths = jaxem.viterbi(hmm, result.params, counts[None])
    """
    params, units = checked_inputs(model, params, data, lengths)
    size = chunks.resolve_chunk_size(model, units, chunk_size)
    return _viterbi_jit(model, size, params, units)


class SampledSequences(NamedTuple):
    states: jax.Array  # (S, T) int32
    observations: Any  # pytree of leaves (S, T, ...), or None without sample_emission


def _sample_one(model, params, key, num_steps):
    initial, transition = model.chain_tables(params)
    key_first, key_chain, key_emit = jax.random.split(key, 3)
    first = jax.random.categorical(key_first, initial).astype(jnp.int32)

    def step(state, step_key):
        new = jax.random.categorical(step_key, transition[state]).astype(jnp.int32)
        return new, new

    _, rest = jax.lax.scan(step, first, jax.random.split(key_chain, num_steps - 1))
    path = jnp.concatenate([first[None], rest])
    if model.sample_emission is None:
        return path, None
    observations = jax.vmap(lambda k, z: model.sample_emission(k, params, z))(
        jax.random.split(key_emit, num_steps), path
    )
    return path, observations


def _sample_program(model, num_steps, params, keys):
    states, observations = jax.vmap(lambda k: _sample_one(model, params, k, num_steps))(keys)
    return SampledSequences(states, observations)


_sample_jit = jax.jit(_sample_program, static_argnums=(0, 1))


def sample_sequences(model: MarkovModel, params, key, num_steps: int, num_sequences: int = 1) -> SampledSequences:
    """Draws state paths ``z_1 ~ p(z_1)``, ``z_t ~ p(z_t | z_{t-1})`` and, when the
    model has ``sample_emission``, observations ``x_t ~ p(x_t | z_t)``.

    Args:
      model: a :class:`MarkovModel`.
      params: one set of parameters.
      key: a ``jax.random.key``.
      num_steps: T >= 1.
      num_sequences: S >= 1.

    Returns:
      :class:`SampledSequences` with ``states`` (S, T) and ``observations``
      (leaves (S, T, ...), or None when the model has no ``sample_emission``).

    Example:
      >>> sample = jaxem.sample_sequences(hmm, params, jax.random.key(0), num_steps=100)
    """
    check_model(model)
    num_steps = validation.check_positive_int(num_steps, "num_steps")
    num_sequences = validation.check_positive_int(num_sequences, "num_sequences")
    key = validation.check_key(key)
    validation.check_values(model, params, "params")
    return _sample_jit(model, num_steps, params, jax.random.split(key, num_sequences))
