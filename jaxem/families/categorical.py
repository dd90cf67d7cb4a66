"""The categorical family (independent categorical features), written once for the mixture and the HMM.

With one-hot codes ``phi(x) = (1, 1[x_d = c])`` the E-step is
``log p(x | k) = <phi(x), log p_k>``, one product per chunk, and the
statistics ``s_k = sum_i w_i r_ik phi(x_i)`` another;
``p_{k,d,c} = s_k[d, c] / sum_c s_k[d, c]``. In the E-step's product the
probabilities are read floored at ``tiny`` so an exact 0 gives a large
finite log-probability instead of ``0 * -inf``.

Observations are one symbol (then ``probs`` is (K, C), as hmmlearn's
``emissionprob_``) or D symbols (``probs`` (K, D, C)).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from jaxem import constraints
from jaxem.families import support
from jaxem.static import ByValue

__all__ = ["Categorical"]

_HIGHEST = jax.lax.Precision.HIGHEST


@dataclasses.dataclass(frozen=True, eq=False)
class Categorical(support.VmappedBatch, ByValue):
    """Integer symbols in ``[0, num_categories)``, independent across features."""

    num_categories: int

    name = "categorical"
    init_smoothing = support.DISCRETE_INIT_SMOOTHING

    def constraints(self):
        return {"probs": constraints.simplex}

    def validate(self, family: str, sequences: bool):
        del sequences
        return support.categorical_data(family, self.num_categories)

    def min_count(self, params):
        del params
        return 1

    def one_hot(self, x, dtype):
        return jax.nn.one_hot(jnp.asarray(x, jnp.int32), self.num_categories, dtype=dtype)

    def log_density(self, params, x):
        """``log p(x | k)`` for ONE observation (a symbol or (D,) symbols), every ``k``: (K,)."""
        probs = params["probs"]
        num_components = probs.shape[0]
        log_probs = jnp.log(jnp.maximum(probs, jnp.finfo(probs.dtype).tiny)).reshape(num_components, -1)
        return jnp.matmul(log_probs, self.one_hot(x, probs.dtype).reshape(-1), precision=_HIGHEST)

    def statistics(self, rows, responsibilities, weights, params):
        """``sum_i w_i r_ik 1[x_id = c]``: (K, D * C), additive over chunks."""
        dtype = responsibilities.dtype
        codes = self.one_hot(rows, dtype).reshape(rows.shape[0], -1)
        weighted = responsibilities * weights[:, None].astype(dtype)
        return jnp.matmul(weighted.T, codes, precision=_HIGHEST)

    def maximize(self, statistics, params):
        counts = statistics.reshape(params["probs"].shape)
        totals = jnp.sum(counts, axis=-1, keepdims=True)
        uniform = jnp.full_like(counts, 1.0 / self.num_categories)
        return {"probs": jnp.where(totals > 0, counts / jnp.where(totals > 0, totals, 1.0), uniform)}

    def start(self, rows, responsibilities, weights):
        shape = (responsibilities.shape[-1],) + tuple(rows.shape[1:]) + (self.num_categories,)
        probe = {"probs": jnp.ones(shape, responsibilities.dtype)}
        return support.start_from(self, rows, responsibilities, weights, probe)

    def seed_features(self, rows):
        return self.one_hot(rows, jnp.result_type(float)).reshape(rows.shape[0], -1)

    def sample(self, key, params, z):
        return jax.random.categorical(key, jnp.log(params["probs"][z])).astype(jnp.int32)
