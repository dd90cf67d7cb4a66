"""The E-step: posterior marginals by differentiating the log-partition, summed over chunks.

For one unit of data with log-potentials ``phi(theta)`` (for a mixture, the
table ``log p(x, z; theta)`` over all ``z``), the marginal log-likelihood is
``log p(x) = A(phi) = log sum_z exp <1_z, phi>`` and the posterior marginals
are ``grad A(phi) = E[1_z | x]``. The same identity holds for a Markov chain
with the forward algorithm as ``A``, so one function serves every model.

What EM needs from the posteriors are sums over units, so the E-step is a
pass over chunks of the data (:func:`jaxem.chunks.accumulate`) that returns
:class:`Expectations`: the weighted log-likelihood, the model's closed-form
``statistics`` (which add over chunks) and the expected counts of each latent
value. A chunk's marginals are dropped as soon as its sums are taken.

The expected complete-data log joint (Q) is linear in the potentials::

    Q(theta' | theta) = sum_i w_i <grad A(phi_i(theta)), phi_i(theta')>,

with ``0 * (-inf)`` read as 0: a configuration the posterior rules out
contributes nothing, even when it is impossible (``-inf``) under ``theta'``.
It is a sum over units too: :func:`expected_log_joint` gives it as a function
of ``theta'`` that the gradient M-step maximises.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxem import chunks

__all__ = ["Expectations", "expectations", "expected_log_joint", "posteriors", "weighted_sum"]


class Expectations(NamedTuple):
    """Sums over the data of one E-step at ``params``.

    Attributes:
      log_likelihood: ``sum_i w_i log p(x_i; params)``.
      statistics: the model's ``statistics`` summed over chunks (None when it has none).
      counts: ``sum_i w_i E[1_z | x_i]`` per latent value (shape ``num_states``;
        for a Markov model, expected steps per state).
    """

    log_likelihood: jax.Array
    statistics: Any
    counts: jax.Array


def weighted_sum(weights, values):
    """``sum_i w_i v_i`` with zero-weight terms dropped (so ``0 * -inf = 0``)."""
    return jnp.sum(jnp.where(weights > 0, weights * values, 0.0))


def _varying(params, axis_name):
    """``params`` marked as varying over ``axis_name`` (inside ``shard_map``).

    Replicated params are invariant over the data axis; the gradient of a
    per-device quantity with respect to an invariant value is summed over the
    axis by JAX. The marginals must stay per device, so the params they come
    from are cast to varying first.
    """
    if axis_name is None:
        return params

    def cast(leaf):
        if axis_name in getattr(jax.typeof(leaf), "vma", frozenset()):
            return leaf
        return jax.lax.pcast(leaf, axis_name, to="varying")

    return jax.tree.map(cast, params)


def posteriors(model, params, units, axis_name=None):
    """``(log p(x_i), marginals_i)`` for every unit of ``units`` (leading axis kept); with
    ``axis_name``, for the units of this device."""
    potentials = model.chunk_potentials(_varying(params, axis_name), units)
    return jax.vmap(model.log_partition_and_marginals)(potentials, units)


def _chunk_expectations(model, params, units, weights, axis_name):
    per_unit, marginals = posteriors(model, params, units, axis_name)
    statistics = None
    if model.statistics is not None:
        statistics = model.statistics(model.statistics_data(units), marginals, weights, params)
    return Expectations(weighted_sum(weights, per_unit), statistics, model.weighted_counts(marginals, weights))


def expectations(model, params, units, weights, chunk_size: int, axis_name=None) -> Expectations:
    """One E-step at ``params``: :class:`Expectations` summed over chunks of ``chunk_size`` units."""
    return chunks.accumulate(
        lambda u, w: _chunk_expectations(model, params, u, w, axis_name), units, weights, chunk_size, axis_name
    )


def _masked_dot(marginal, potential):
    return jnp.sum(jnp.where(marginal > 0, marginal * potential, 0.0))


def _chunk_q(model, params, units, marginals, weights):
    """``sum_i w_i <marginals_i, potentials_i(params)>`` over a chunk."""
    potentials = model.chunk_potentials(params, units)
    terms = jax.tree.map(jax.vmap(_masked_dot), marginals, potentials)
    return weighted_sum(weights, sum(jax.tree.leaves(terms)))


def expected_log_joint(model, reference, units, weights, chunk_size: int, axis_name=None):
    """``Q(. | reference)`` as a function of the params, a sum over chunks.

    With one chunk the marginals at ``reference`` are computed once and
    reused by every evaluation; with several, each evaluation recomputes a
    chunk's marginals next to its potentials (so none outlives its chunk).
    """
    if chunk_size >= weights.shape[0]:
        _, marginals = posteriors(model, reference, units, axis_name)
        marginals = jax.lax.stop_gradient(marginals)

        def whole(params):
            total = _chunk_q(model, params, units, marginals, weights)
            return total if axis_name is None else jax.lax.psum(total, axis_name)

        return whole

    def chunked(params):
        def chunk_sum(u, w):
            _, marginals = posteriors(model, reference, u, axis_name)
            return _chunk_q(model, params, u, jax.lax.stop_gradient(marginals), w)

        return chunks.accumulate(chunk_sum, units, weights, chunk_size, axis_name)

    return chunked
