"""The Bernoulli family (independent binary features), written once for the mixture and the HMM.

``log p(x | k) = sum_d [x_d log p_kd + (1 - x_d) log(1 - p_kd)]
= <x, log p_k - log(1 - p_k)> + sum_d log(1 - p_kd)``: one product per
chunk for the E-step, and ``s_k = sum_i w_i r_ik (1, x_i)`` for the
statistics; ``p_k = s_k[x] / s_k[1]``, clipped to [0, 1] (a ratio of two
rounded sums can exceed 1 by an ulp). In the E-step's product the
probabilities are read clipped to ``[tiny, 1 - eps]`` so an exact 0 or 1
gives a large finite log-probability instead of ``0 * -inf``.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from jaxem import constraints
from jaxem.families import support
from jaxem.static import ByValue

__all__ = ["Bernoulli"]

_HIGHEST = jax.lax.Precision.HIGHEST


@dataclasses.dataclass(frozen=True, eq=False)
class Bernoulli(support.VmappedBatch, ByValue):
    """Binary vectors with independent features."""

    name = "Bernoulli"
    init_smoothing = support.DISCRETE_INIT_SMOOTHING

    def constraints(self):
        return {"probs": constraints.unit_interval}

    def validate(self, family: str, sequences: bool):
        del sequences
        return support.binary_data(family)

    def min_count(self, params):
        del params
        return 1

    def log_density(self, params, x):
        """``log p(x | k)`` for ONE binary vector ``x`` (D,), every ``k``: (K,)."""
        probs = params["probs"]
        finfo = jnp.finfo(probs.dtype)
        probs = jnp.clip(probs, finfo.tiny, 1.0 - finfo.eps)
        log_p, log_q = jnp.log(probs), jnp.log1p(-probs)
        x = jnp.asarray(x, probs.dtype).reshape(-1)
        return jnp.matmul(log_p - log_q, x, precision=_HIGHEST) + jnp.sum(log_q, axis=-1)

    def statistics(self, rows, responsibilities, weights, params):
        """``sum_i w_i r_ik (1, x_i)``: (K, 1 + D), additive over chunks."""
        del params
        return support.first_moments(rows, responsibilities, weights)

    def maximize(self, statistics, params):
        counts = statistics[:, :1] + 10 * jnp.finfo(statistics.dtype).eps
        return {"probs": jnp.clip(statistics[:, 1:] / counts, 0.0, 1.0).reshape(params["probs"].shape)}

    def start(self, rows, responsibilities, weights):
        shape = (responsibilities.shape[-1],) + tuple(rows.shape[1:])
        probe = {"probs": jnp.full(shape, 0.5, responsibilities.dtype)}
        return support.start_from(self, rows, responsibilities, weights, probe)

    def seed_features(self, rows):
        return jnp.asarray(rows, jnp.result_type(float)).reshape(rows.shape[0], -1)

    def sample(self, key, params, z):
        return jax.random.bernoulli(key, params["probs"][z]).astype(params["probs"].dtype)
