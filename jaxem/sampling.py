"""Drawing data from a fitted model: observations with their latent values.

For a :class:`jaxem.Model` the draw comes from the model's ``sample(key,
params) -> (x, z)`` (one draw from the joint; the built-in mixtures draw
``z ~ pi``, then ``x`` from the component's family), vmapped over keys and
jitted once. For a :class:`jaxem.MarkovModel` it is
:func:`jaxem.sample_sequences`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax

from jaxem import validation
from jaxem.decoding import sample_sequences
from jaxem.markov import MarkovModel

__all__ = ["Samples", "sample"]


class Samples(NamedTuple):
    observations: Any  # pytree of leaves (n, ...); for a MarkovModel (S, T, ...)
    states: Any  # (n,) int32 latent values (a tuple for several latents); for a MarkovModel (S, T)


def _program(model, params, keys):
    observations, states = jax.vmap(lambda k: model.sample(k, params))(keys)
    return Samples(observations, states)


_sample_jit = jax.jit(_program, static_argnums=0)


def sample(model, params, key, num_samples: int, *, num_steps: int | None = None) -> Samples:
    """``num_samples`` draws of ``(x, z)`` from ``model`` at ``params``.

    Args:
      model: a :class:`jaxem.Model` with ``sample``, or a :class:`jaxem.MarkovModel`
        (then ``num_samples`` sequences of ``num_steps`` steps).
      params: one set of parameters.
      key: a ``jax.random.key``.
      num_samples: n >= 1 (sequences for a ``MarkovModel``).
      num_steps: steps per sequence, for a ``MarkovModel`` only.

    Returns:
      :class:`Samples`: ``observations`` (leaves (n, ...)) and ``states`` (n,).

    Example:
      >>> draws = jaxem.sample(jaxem.models.gaussian_mixture(2), result.params, jax.random.key(1), 500)
    """
    if isinstance(model, MarkovModel):
        if num_steps is None:
            raise ValueError("num_steps is required to sample from a MarkovModel (steps per sequence); got None.")
        drawn = sample_sequences(model, params, key, num_steps, num_samples)
        return Samples(drawn.observations, drawn.states)
    if num_steps is not None:
        raise ValueError(f"num_steps is only for a MarkovModel; got num_steps={num_steps!r} for a Model.")
    if not hasattr(model, "log_potentials"):
        raise TypeError(f"model must be a jaxem.Model or jaxem.MarkovModel; got {type(model).__name__}.")
    if getattr(model, "sample", None) is None:
        raise ValueError(
            "this model has no sampler: give Model(..., sample=...) a function (key, params) -> (x, z), "
            "one draw of an observation and its latent value."
        )
    num_samples = validation.check_positive_int(num_samples, "num_samples")
    key = validation.check_key(key)
    validation.check_values(model, params, "params")
    return _sample_jit(model, params, jax.random.split(key, num_samples))
