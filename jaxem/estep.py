"""The E-step: posterior marginals by differentiating the log-partition.

For one unit of data with log-potentials ``phi(theta)`` (for a mixture, the
table ``log p(x, z; theta)`` over all ``z``), the marginal log-likelihood is
``log p(x) = A(phi) = log sum_z exp <1_z, phi>`` and the posterior marginals
are ``grad A(phi) = E[1_z | x]``. The same identity holds for a Markov chain
with the forward algorithm as ``A``, so one function serves every model.

The expected complete-data log joint (Q) is then linear in the potentials::

    Q(theta' | theta) = sum_i w_i <grad A(phi_i(theta)), phi_i(theta')>,

with ``0 * (-inf)`` read as 0: a configuration the posterior rules out
contributes nothing, even when it is impossible (``-inf``) under ``theta'``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["e_step", "expected_log_joint", "weighted_sum"]


def weighted_sum(weights, values):
    """``sum_i w_i v_i`` with zero-weight terms dropped (so ``0 * -inf = 0``)."""
    return jnp.sum(jnp.where(weights > 0, weights * values, 0.0))


def _unit_posterior(model, params, unit):
    potentials = model.log_potentials(params, unit)
    log_z, marginals = jax.value_and_grad(model.log_partition)(potentials, unit)
    return log_z, marginals


def e_step(model, params, units, weights):
    """Posterior marginals for every unit and the weighted log-likelihood.

    Returns:
      ``(marginals, log_likelihood, per_unit)``: marginals with a leading unit
      axis, ``sum_i w_i log p(x_i)``, and the per-unit ``log p(x_i)``.
    """
    per_unit, marginals = jax.vmap(lambda unit: _unit_posterior(model, params, unit))(units)
    return marginals, weighted_sum(weights, per_unit), per_unit


def _masked_dot(marginal, potential):
    return jnp.sum(jnp.where(marginal > 0, marginal * potential, 0.0))


def expected_log_joint(model, params, units, marginals, weights):
    """Q: the weighted expected complete-data log joint under fixed marginals."""

    def per_unit(unit, marginal):
        potentials = model.log_potentials(params, unit)
        terms = jax.tree.map(_masked_dot, marginal, potentials)
        return sum(jax.tree.leaves(terms))

    return weighted_sum(weights, jax.vmap(per_unit)(units, marginals))
