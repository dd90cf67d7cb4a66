"""Starting points for the built-in models, all in JAX so they vmap over restarts.

Each scheme makes starting responsibilities
``r`` (N, K) from the restart's key and then applies the family's own
closed-form M-step to them:

* ``"kmeans++"`` (default): K seeds drawn from the data by k-means++
  (the first uniformly, each next one with probability proportional to the
  squared distance to the nearest seed so far); every observation is
  assigned to its nearest seed (``r`` one-hot).
* ``"random_points"``: K distinct observations drawn uniformly as seeds,
  then the same nearest-seed assignment.
* ``"random_responsibilities"``: every row of ``r`` uniform on (0, 1),
  normalised to sum to one.

Distances for seeding are Euclidean on the observation vector (one-hot codes
for categorical data).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["INIT_SCHEMES", "check_init", "initial_responsibilities", "kmeans_plusplus"]

INIT_SCHEMES = ("kmeans++", "random_points", "random_responsibilities")


def _squared_distances(points, centre):
    return jnp.sum((points - centre) ** 2, axis=-1)


def kmeans_plusplus(key, points, num_components: int):
    """k-means++ seeding: ``num_components`` rows of ``points`` (N, F) for ONE restart.

    The first seed is uniform; seed ``j`` is drawn with probability
    ``d_i^2 / sum_l d_l^2`` where ``d_i`` is the distance from point ``i`` to
    its nearest earlier seed (Arthur & Vassilversitskii 2007). If every point
    already coincides with a seed, the draw is uniform.

    Returns:
      Indices (num_components,) into ``points``.
    """
    first_key, key = jax.random.split(key)
    num_points = points.shape[0]
    first = jax.random.randint(first_key, (), 0, num_points, dtype=jnp.int32)
    indices = jnp.zeros((num_components,), jnp.int32).at[0].set(first)
    distances = _squared_distances(points, points[first])

    def add_seed(j, carry):
        indices, distances = carry
        total = jnp.sum(distances)
        logits = jnp.where(total > 0, jnp.log(distances), 0.0)
        index = jax.random.categorical(jax.random.fold_in(key, j), logits).astype(jnp.int32)
        indices = indices.at[j].set(index)
        return indices, jnp.minimum(distances, _squared_distances(points, points[index]))

    indices, _ = jax.lax.fori_loop(1, num_components, add_seed, (indices, distances))
    return indices


def initial_responsibilities(key, points, num_components: int, scheme: str = "kmeans++"):
    """Starting responsibilities (N, K) for ONE restart under an init scheme.

    Args:
      key: a ``jax.random.key``.
      points: (N, F) float features used for seeding distances.
      num_components: K.
      scheme: one of :data:`INIT_SCHEMES` (see the module docstring).
    """
    num_points = points.shape[0]
    if scheme == "random_responsibilities":
        raw = jax.random.uniform(key, (num_points, num_components), points.dtype)
        return raw / jnp.sum(raw, axis=1, keepdims=True)
    if scheme == "kmeans++":
        seeds = kmeans_plusplus(key, points, num_components)
    elif scheme == "random_points":
        seeds = jax.random.choice(key, num_points, (num_components,), replace=num_points < num_components)
    else:
        raise ValueError(f"init must be one of {INIT_SCHEMES} or a callable (key, data) -> params; got {scheme!r}.")
    centres = points[seeds]  # (K, F)
    distances = jax.vmap(lambda centre: _squared_distances(points, centre), out_axes=1)(centres)  # (N, K)
    return jax.nn.one_hot(jnp.argmin(distances, axis=1), num_components, dtype=points.dtype)


def check_init(init):
    if callable(init):
        return init
    if init not in INIT_SCHEMES:
        raise ValueError(f"init must be one of {INIT_SCHEMES} or a callable (key, data) -> params; got {init!r}.")
    return init
