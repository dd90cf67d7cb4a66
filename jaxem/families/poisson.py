"""The Poisson family (independent across features), written once for the mixture and the HMM.

``log p(x | k) = sum_d [x_d log lambda_kd - lambda_kd - log x_d!]``: with
features ``phi(x) = (1, x)`` the E-step is one product ``x . log lambda_k``
plus a constant per component and one per observation, and the statistics
``s_k = sum_i w_i r_ik (1, x_i)`` another; ``lambda_k = s_k[x] / s_k[1]``,
floored at the smallest normal number so a rate is never exactly 0.

Observations are scalars (then ``rates`` is (K,)) or vectors (``rates`` (K, D)).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from jaxem import constraints
from jaxem.families import support
from jaxem.static import ByValue

__all__ = ["Poisson"]

_HIGHEST = jax.lax.Precision.HIGHEST


def _flat(rows, dtype):
    return jnp.asarray(rows, dtype).reshape(rows.shape[0], -1)


@dataclasses.dataclass(frozen=True, eq=False)
class Poisson(support.VmappedBatch, ByValue):
    """Poisson counts, independent across features."""

    name = "Poisson"
    init_smoothing = support.DISCRETE_INIT_SMOOTHING

    def constraints(self):
        return {"rates": constraints.positive}

    def validate(self, family: str, sequences: bool):
        del sequences
        return support.count_data(family)

    def min_count(self, params):
        del params
        return 1

    def log_density(self, params, x):
        """``log p(x | k)`` for ONE observation (scalar or (D,)), every ``k``: (K,)."""
        rates = params["rates"]
        num_components = rates.shape[0]
        rates = rates.reshape(num_components, -1)
        x = jnp.asarray(x, rates.dtype).reshape(-1)
        return (
            jnp.matmul(jnp.log(rates), x, precision=_HIGHEST)
            - jnp.sum(rates, axis=-1)
            - jnp.sum(jax.scipy.special.gammaln(x + 1.0))
        )

    def statistics(self, rows, responsibilities, weights, params):
        """``sum_i w_i r_ik (1, x_i)``: (K, 1 + D), additive over chunks."""
        del params
        return support.first_moments(rows, responsibilities, weights)

    def maximize(self, statistics, params):
        counts = statistics[:, :1] + 10 * jnp.finfo(statistics.dtype).eps
        rates = jnp.maximum(statistics[:, 1:] / counts, jnp.finfo(statistics.dtype).tiny)
        return {"rates": rates.reshape(params["rates"].shape)}

    def start(self, rows, responsibilities, weights):
        shape = (responsibilities.shape[-1],) + tuple(rows.shape[1:])
        probe = {"rates": jnp.ones(shape, responsibilities.dtype)}
        return support.start_from(self, rows, responsibilities, weights, probe)

    def seed_features(self, rows):
        return _flat(rows, jnp.result_type(float))

    def sample(self, key, params, z):
        return jax.random.poisson(key, params["rates"][z]).astype(params["rates"].dtype)
