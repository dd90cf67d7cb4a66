"""Passes over the data in chunks: every sum the engine needs, one chunk of units at a time.

The E-step's outputs (the log-likelihood, the closed-form statistics, the
expected counts) and the gradient M-step's objective Q are sums over units
(observations, or sequences for a Markov model). :func:`accumulate` computes
such a sum with a ``lax.scan`` over chunks of ``chunk_size`` units, so no
array with a full unit axis is ever held beyond the data itself: per-unit
posteriors live only for one chunk.

* Chunk ``c`` reads units ``[s, s + n)`` with ``s = min(c n, N - n)`` (a
  ``dynamic_slice``; no padded copy of the data). When ``N`` is not a multiple
  of ``n`` the last chunk overlaps the one before; its units below ``c n``
  get weight zero there, so every unit is counted exactly once.
* The partial sums are added with Kahan's compensated summation: the rounding
  error of each addition is carried and fed back, so the total over many
  chunks is as accurate as one addition (this matters in float32, where a
  fit sums a Gaussian's second moments over hundreds of chunks).
* :func:`apply` maps a per-unit function over the same chunks and puts the
  per-unit outputs back in order (each unit's from its first chunk), so the
  per-unit outputs (log-likelihoods, posteriors) need no more working memory
  than a sum does.
* With ``axis_name`` set (data split over devices, see
  :mod:`jaxem.devices`), the per-device totals are summed over that axis, so
  every device sees the sum over all the data.

The chunk size follows a memory budget (:func:`chunk_size_for`) and can be set.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from jaxem import validation

__all__ = [
    "DEFAULT_MEMORY_BUDGET",
    "accumulate",
    "apply",
    "chunk_size_for",
    "num_units",
    "resolve_chunk_size",
    "rows_per_chunk",
]

# Bytes the per-chunk working arrays (all restarts together) may take by default.
DEFAULT_MEMORY_BUDGET = 32 * 2**20


def num_units(units) -> int:
    """N: the length of the leading (unit) axis."""
    return int(jax.tree.leaves(units)[0].shape[0])


def chunk_size_for(model, units, num_restarts: int = 1, memory_budget: int = DEFAULT_MEMORY_BUDGET) -> int:
    """The largest chunk whose working arrays fit ``memory_budget`` bytes (at least 8 units, at most N).

    Per unit and restart the E-step holds the log-potentials and their
    gradient (``P`` numbers each); per unit, the data and features derived
    from it (taken as ``U (U + 3) / 2`` numbers for ``U`` numbers of data: a
    Gaussian's first and second moments). With ``b`` bytes per number::

        bytes per unit = b (4 R P + U (U + 3) / 2)
    """
    example = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape[1:], x.dtype), units)
    size_p = model.potential_count(example)
    size_u = sum(math.prod(x.shape) for x in jax.tree.leaves(example))
    return rows_per_chunk(4 * num_restarts * size_p + size_u * (size_u + 3) // 2, num_units(units), memory_budget)


def resolve_chunk_size(model, units, chunk_size: int | None) -> int:
    """A user's ``chunk_size`` checked on the host, or :func:`chunk_size_for` one restart when None."""
    if chunk_size is None:
        return chunk_size_for(model, units)
    return validation.check_positive_int(chunk_size, "chunk_size")


def rows_per_chunk(numbers_per_row: int, total: int, memory_budget: int = DEFAULT_MEMORY_BUDGET) -> int:
    """The largest chunk (at least 8 rows, at most ``total``) whose ``numbers_per_row`` floats per row
    fit ``memory_budget`` bytes."""
    itemsize = max(np.dtype(jnp.result_type(float)).itemsize, 4)
    return int(min(total, max(8, memory_budget // max(itemsize * numbers_per_row, 1))))


def _slice(units, start, size):
    return jax.tree.map(lambda x: jax.lax.dynamic_slice_in_dim(x, start, size, axis=0), units)


def _kahan_add(total, compensation, value):
    """``(total + value, new compensation)``, feeding back the rounding error of earlier additions."""
    corrected = jax.tree.map(jnp.subtract, value, compensation)
    new_total = jax.tree.map(jnp.add, total, corrected)
    error = jax.tree.map(lambda new, old, c: (new - old) - c, new_total, total, corrected)
    return new_total, error


def accumulate(chunk_sum, units, weights, chunk_size: int, axis_name=None):
    """``sum_c chunk_sum(units_c, weights_c)`` over chunks of ``chunk_size`` units.

    Args:
      chunk_sum: ``(units_chunk, weights_chunk) -> pytree`` of arrays, a sum
        over the units of the chunk (weights are zero on units counted in
        another chunk).
      units: pytree of arrays with a leading unit axis N.
      weights: (N,) non-negative weights.
      chunk_size: units per chunk (static); clipped to N.
      axis_name: if set, the totals are also summed over this mapped axis.

    Returns:
      The pytree of totals.
    """
    total_units = weights.shape[0]
    size = max(1, min(int(chunk_size), total_units))
    num_chunks = -(-total_units // size)
    if num_chunks == 1:
        total = chunk_sum(units, weights)
    else:
        positions = jnp.arange(size)

        def chunk(c):
            start = jnp.minimum(c * size, total_units - size)
            counted = start + positions >= c * size
            chunk_weights = jnp.where(counted, jax.lax.dynamic_slice_in_dim(weights, start, size), 0.0)
            return chunk_sum(_slice(units, start, size), chunk_weights.astype(weights.dtype))

        first = chunk(0)

        def body(carry, c):
            return _kahan_add(*carry, chunk(c)), None

        zeros = jax.tree.map(jnp.zeros_like, first)
        (total, _), _ = jax.lax.scan(body, (first, zeros), jnp.arange(1, num_chunks))
    if axis_name is not None:
        total = jax.lax.psum(total, axis_name)
    return total


def apply(per_unit, units, chunk_size: int):
    """``per_unit(units)`` computed one chunk of ``chunk_size`` units at a time (a ``lax.map``).

    Args:
      per_unit: ``units_chunk -> pytree`` of arrays with the chunk's unit axis leading.
      units: pytree of arrays with a leading unit axis N.
      chunk_size: units per chunk (static); clipped to N.

    Returns:
      The pytree ``per_unit(units)`` would give, each leaf with leading axis N.
    """
    total_units = num_units(units)
    size = max(1, min(int(chunk_size), total_units))
    num_chunks = -(-total_units // size)
    if num_chunks == 1:
        return per_unit(units)
    starts = jnp.minimum(jnp.arange(num_chunks) * size, total_units - size)
    stacked = jax.lax.map(lambda start: per_unit(_slice(units, start, size)), starts)
    # Unit i was computed in chunk c = min(i // size, last) at row i - starts[c].
    index = jnp.arange(total_units)
    chunk = jnp.minimum(index // size, num_chunks - 1)
    row = index - starts[chunk]
    return jax.tree.map(lambda out: out[chunk, row], stacked)
