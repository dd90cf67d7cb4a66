"""Starting points for the built-in models, all in JAX so they vmap over restarts.

Each scheme makes starting responsibilities
``r`` (N, K) from the restart's key and then applies the family's own
closed-form M-step to them:

* ``"kmeans++"`` (default of the discrete families): K seeds drawn from the data by k-means++
  (the first uniformly, each next one with probability proportional to the
  squared distance to the nearest seed so far); every observation is
  assigned to its nearest seed (``r`` one-hot).
* ``"random_points"``: K distinct observations drawn uniformly as seeds,
  then the same nearest-seed assignment.
* ``"random_responsibilities"``: every row of ``r`` uniform on (0, 1),
  normalised to sum to one.
* ``"kmeans"``: greedy k-means++ seeds (``2 + floor(log K)`` candidates per
  seed, the best kept) refined by Lloyd's k-means run to convergence
  (:func:`kmeans`, scikit-learn's ``KMeans`` defaults: ``max_iter=300``,
  ``tol=1e-4``); ``r`` is the one-hot final labels. This is how
  scikit-learn's ``GaussianMixture`` starts each restart, and the default of
  the Gaussian mixture and the Gaussian HMM (``benchmarks/init_schemes.py``
  compares the schemes).

Distances for seeding are Euclidean on the observation vector (one-hot codes
for categorical data).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

__all__ = [
    "INIT_SCHEMES",
    "KMeansResult",
    "check_init",
    "initial_responsibilities",
    "kmeans",
    "kmeans_plusplus",
    "lloyd",
    "smooth_responsibilities",
]

INIT_SCHEMES = ("kmeans++", "random_points", "random_responsibilities", "kmeans")

_HIGHEST = jax.lax.Precision.HIGHEST


def _squared_distances(points, centre):
    return jnp.sum((points - centre) ** 2, axis=-1)


def _draw_proportional(key, distances, num_draws: int):
    """``num_draws`` indices (int32) drawn with probability ``d_i / sum_l d_l``, uniform if every ``d_i`` is 0.

    One draw (the plain scheme) samples ``jax.random.categorical`` on ``log d``.
    Several draws use the inverse CDF, as scikit-learn does: ``num_draws``
    uniforms located in ``cumsum(d)``, instead of ``num_draws x N`` Gumbel
    variates, which cost more than the seeding's distances on CPU.
    """
    total = jnp.sum(distances)
    if num_draws == 1:
        logits = jnp.where(total > 0, jnp.log(distances), 0.0)
        return jax.random.categorical(key, logits, shape=(1,)).astype(jnp.int32)
    cumulative = jnp.cumsum(jnp.where(total > 0, distances, 1.0))
    targets = jax.random.uniform(key, (num_draws,), cumulative.dtype) * cumulative[-1]
    indices = jnp.searchsorted(cumulative, targets, side="right")  # first i with cumsum_i > target
    return jnp.minimum(indices, distances.shape[0] - 1).astype(jnp.int32)  # a rounded-up target


def kmeans_plusplus(key, points, num_components: int, num_local_trials: int = 1):
    """k-means++ seeding: ``num_components`` rows of ``points`` (N, F) for ONE restart.

    The first seed is uniform; seed ``j`` is drawn with probability
    ``d_i^2 / sum_l d_l^2`` where ``d_i`` is the distance from point ``i`` to
    its nearest earlier seed (Arthur & Vassilversitskii 2007). If every point
    already coincides with a seed, the draw is uniform. With
    ``num_local_trials = L > 1`` ("greedy" k-means++, scikit-learn's
    ``KMeans`` default with ``L = 2 + floor(log K)``), each step draws ``L``
    candidates that way and keeps the one that most lowers the potential
    ``sum_i d_i^2``; ``L = 1`` is the plain algorithm. (The ``L > 1``
    candidates are drawn by inverse CDF in the points' dtype, the ``L = 1``
    draw by ``jax.random.categorical``.)

    Args:
      key: a ``jax.random.key``.
      points: (N, F) float array.
      num_components: K (static).
      num_local_trials: candidates per step, an int >= 1 (static).

    Returns:
      Indices (num_components,) into ``points``.

    Example:
      >>> points = jax.random.normal(jax.random.key(0), (100, 2))
      >>> seeds = kmeans_plusplus(jax.random.key(1), points, 3, num_local_trials=3)
    """
    if isinstance(num_local_trials, bool) or not isinstance(num_local_trials, int) or num_local_trials < 1:
        raise ValueError(f"num_local_trials must be an int >= 1; got {num_local_trials!r}.")
    first_key, key = jax.random.split(key)
    num_points = points.shape[0]
    first = jax.random.randint(first_key, (), 0, num_points, dtype=jnp.int32)
    indices = jnp.zeros((num_components,), jnp.int32).at[0].set(first)
    distances = _squared_distances(points, points[first])

    def add_seed(j, carry):
        indices, distances = carry
        candidates = _draw_proportional(jax.random.fold_in(key, j), distances, num_local_trials)
        updated = jax.vmap(lambda index: jnp.minimum(distances, _squared_distances(points, points[index])))(
            candidates
        )  # (L, N)
        best = jnp.argmin(jnp.sum(updated, axis=1))
        return indices.at[j].set(candidates[best]), updated[best]

    indices, _ = jax.lax.fori_loop(1, num_components, add_seed, (indices, distances))
    return indices


class KMeansResult(NamedTuple):
    """The outcome of Lloyd's k-means for ONE restart.

    Attributes:
      centres: (K, F) final cluster centres, in the units of ``points``.
      labels: (N,) int32 index of each point's nearest final centre.
      num_iterations: Lloyd iterations run (scikit-learn's ``n_iter_``).
    """

    centres: jax.Array
    labels: jax.Array
    num_iterations: jax.Array


def _check_points(points, name: str = "points"):
    points = jnp.asarray(points)
    if points.ndim != 2:
        raise ValueError(f"{name} must have shape (N, F); got shape {points.shape}.")
    if points.shape[0] < 1:
        raise ValueError(f"{name} must hold at least one row; got shape {points.shape}.")
    if not jnp.issubdtype(points.dtype, jnp.floating):
        points = points.astype(jnp.result_type(float))
    return points


def _nearest(points, squared_norms, centres):
    """Index (N,) of the nearest of ``centres`` (K, F) for each of the centred ``points`` (N, F).

    ``|x - c|^2 = |x|^2 - 2 x.c + |c|^2`` as one (N, F) x (F, K) matmul, so no
    (N, K, F) array is formed; rounding can make it slightly negative, so it
    is clipped at 0. ``squared_norms`` is ``|x|^2`` (N,), computed once.
    """
    cross = jnp.matmul(points, centres.T, precision=_HIGHEST)  # (N, K)
    distances = jnp.maximum(squared_norms[:, None] - 2 * cross + jnp.sum(centres**2, axis=1)[None, :], 0)
    return jnp.argmin(distances, axis=1).astype(jnp.int32)


def _cluster_means(points, labels, centres):
    """Mean of the points assigned to each centre; an empty cluster keeps its centre."""
    one_hot = jax.nn.one_hot(labels, centres.shape[0], dtype=points.dtype)  # (N, K)
    counts = jnp.sum(one_hot, axis=0)
    sums = jnp.matmul(one_hot.T, points, precision=_HIGHEST)  # (K, F)
    return jnp.where(counts[:, None] > 0, sums / jnp.maximum(counts, 1)[:, None], centres)


def lloyd(points, centres, max_iter=300, tol=1e-4) -> KMeansResult:
    """Lloyd's k-means from given starting ``centres`` (K, F), for ONE restart.

    Each iteration assigns every point to its nearest centre and moves each
    centre to the mean of its points:

    .. math::
        z_i = \\arg\\min_k |x_i - c_k|^2, \\qquad
        c_k \\leftarrow \\frac{\\sum_i [z_i = k] x_i}{\\sum_i [z_i = k]}

    which never increases the inertia ``sum_i min_k |x_i - c_k|^2``. The
    iterations run in a ``jax.lax.while_loop`` with scikit-learn's
    ``KMeans(algorithm="lloyd")`` rules: stop after ``max_iter`` iterations,
    when the labels equal the previous iteration's, or when the total squared
    centre shift ``sum_k |c_k^new - c_k^old|^2`` is at most
    ``tol * mean_f var(x_{., f})``; the returned labels are the nearest final
    centres. Under ``jax.vmap`` over restarts each restart's state freezes
    when it stops, so the results equal unbatched calls.

    One difference from scikit-learn: a cluster that loses all its points
    keeps its previous centre (scikit-learn moves it to a far point).

    The points are centred on their mean before any distance is formed, so
    float32 stays accurate for data far from the origin; distances are
    ``|x|^2 - 2 x.c + |c|^2`` with ``precision="highest"`` matmuls (no
    (N, K, F) intermediate) and the centre update is the matmul of the
    one-hot labels (N, K) with the points.

    Args:
      points: (N, F) float array.
      centres: (K, F) starting centres.
      max_iter: maximum number of iterations (may be traced).
      tol: relative tolerance on the centre shift (may be traced).

    Returns:
      A :class:`KMeansResult` ``(centres, labels, num_iterations)``.

    Example:
      >>> points = jax.random.normal(jax.random.key(0), (100, 2))
      >>> centres, labels, num_iterations = lloyd(points, points[:3])
    """
    points = _check_points(points)
    centres = jnp.asarray(centres, points.dtype)
    if centres.ndim != 2 or centres.shape[1] != points.shape[1] or centres.shape[0] < 1:
        raise ValueError(
            f"centres must have shape (K, {points.shape[1]}) with K >= 1 to match points {points.shape}; "
            f"got shape {centres.shape}."
        )
    offset = jnp.mean(points, axis=0)
    points = points - offset
    centres = centres - offset
    squared_norms = jnp.sum(points**2, axis=1)
    threshold = tol * jnp.mean(squared_norms) / points.shape[1]  # tol * mean_f var(x_f)

    def cond(state):
        iteration, _, _, done = state
        return (iteration < max_iter) & ~done

    def body(state):
        iteration, centres, old_labels, _ = state
        labels = _nearest(points, squared_norms, centres)
        new_centres = _cluster_means(points, labels, centres)
        shift = jnp.sum((new_centres - centres) ** 2)
        done = jnp.all(labels == old_labels) | (shift <= threshold)
        return iteration + 1, new_centres, labels, done

    no_labels = jnp.full((points.shape[0],), -1, jnp.int32)  # the first iteration never counts as unchanged
    start = (jnp.zeros((), jnp.int32), centres, no_labels, jnp.zeros((), bool))
    num_iterations, centres, _, _ = jax.lax.while_loop(cond, body, start)
    labels = _nearest(points, squared_norms, centres)
    return KMeansResult(centres + offset, labels, num_iterations)


def kmeans(key, points, num_components: int, max_iter=300, tol=1e-4, num_local_trials=None) -> KMeansResult:
    """k-means for ONE restart: greedy k-means++ seeds refined by Lloyd's iterations.

    Minimises the inertia ``sum_i min_k |x_i - c_k|^2`` locally, starting
    from ``points[kmeans_plusplus(key, points, num_components,
    num_local_trials)]`` and running :func:`lloyd`, with scikit-learn's
    ``KMeans`` defaults: greedy seeding with ``2 + floor(log K)`` candidates
    per seed, ``max_iter=300``, and stop when the labels no longer change or
    the total squared centre shift is at most ``tol * mean(var(points,
    axis=0))``, ``tol=1e-4``. An empty cluster keeps its previous centre.
    Pure and vmappable over keys.

    Args:
      key: a ``jax.random.key``.
      points: (N, F) float array.
      num_components: K (static).
      max_iter: maximum number of Lloyd iterations.
      tol: relative tolerance on the centre shift.
      num_local_trials: candidates per k-means++ seed (static); ``None``
        means ``2 + floor(log K)``, 1 the plain k-means++ of the
        ``"kmeans++"`` scheme.

    Returns:
      A :class:`KMeansResult` ``(centres, labels, num_iterations)``.

    Example:
      >>> points = jax.random.normal(jax.random.key(0), (1000, 2))
      >>> keys = jax.random.split(jax.random.key(1), 8)
      >>> results = jax.vmap(lambda key: kmeans(key, points, 3))(keys)
    """
    points = _check_points(points)
    if isinstance(num_components, bool) or not isinstance(num_components, int) or num_components < 1:
        raise ValueError(f"num_components must be an int >= 1; got {num_components!r}.")
    if num_local_trials is None:
        num_local_trials = 2 + int(math.log(num_components))
    seeds = kmeans_plusplus(key, points, num_components, num_local_trials)
    return lloyd(points, points[seeds], max_iter, tol)


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
    if scheme == "kmeans":
        labels = kmeans(key, points, num_components).labels
        return jax.nn.one_hot(labels, num_components, dtype=points.dtype)
    if scheme == "kmeans++":
        seeds = kmeans_plusplus(key, points, num_components)
    elif scheme == "random_points":
        seeds = jax.random.choice(key, num_points, (num_components,), replace=num_points < num_components)
    else:
        raise ValueError(f"init must be one of {INIT_SCHEMES} or a callable (key, data) -> params; got {scheme!r}.")
    centres = points[seeds]  # (K, F)
    distances = jax.vmap(lambda centre: _squared_distances(points, centre), out_axes=1)(centres)  # (N, K)
    return jax.nn.one_hot(jnp.argmin(distances, axis=1), num_components, dtype=points.dtype)


def smooth_responsibilities(responsibilities, amount: float):
    """``(1 - amount) r + amount / K``: every entry strictly positive for ``amount > 0``."""
    if amount == 0:
        return responsibilities
    return (1.0 - amount) * responsibilities + amount / responsibilities.shape[-1]


def check_init(init):
    if callable(init):
        return init
    if init not in INIT_SCHEMES:
        raise ValueError(f"init must be one of {INIT_SCHEMES} or a callable (key, data) -> params; got {init!r}.")
    return init
