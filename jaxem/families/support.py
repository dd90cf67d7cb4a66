"""What data each built-in family accepts, and when a fitted component is degenerate.

The data checks run on the host before anything is traced (a model's
``validate_data``); each raises ``ValueError`` or ``TypeError`` naming the
family, what was given and what was expected, and returns the data, converted
where the rule says so:

* Gaussian: real numbers in rows (N, D) (for a Markov model, steps (S, T, D)
  or scalar steps (S, T)). Integer or boolean data are converted to the
  default float dtype (float32; float64 with ``jax_enable_x64``), as
  scikit-learn converts them to float.
* Poisson: non-negative integer counts (any numeric dtype holding integral
  values).
* Bernoulli: binary values, bool or numbers equal to 0 or 1.
* categorical: integral symbols in ``[0, num_categories)``.

Degeneracy (a model's ``degenerate(params, counts)``, traced): with ``counts``
the expected number of observations per component, a restart is flagged
when some component holds fewer than its parameters need: ``D + 1`` for a
full covariance (a sample covariance of fewer points is singular), 2 for a
diagonal or spherical variance, 1 for the tied covariance and for the
discrete families (an empty component). With ``reg_covar > 0`` such a
component does not make the likelihood infinite, it makes it large: its
covariance has collapsed onto ``reg_covar`` around a few points.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from jaxem import chunks
from jaxem.static import ByValue

__all__ = [
    "DISCRETE_INIT_SMOOTHING",
    "DegenerateBelow",
    "VmappedBatch",
    "binary_data",
    "built_in_checks",
    "categorical_data",
    "count_data",
    "first_moments",
    "gaussian_data",
    "gaussian_min_count",
    "start_from",
]

# Uniform mass mixed into the starting responsibilities of the discrete families,
# ``(1 - a) r + a / K``: a hard assignment would give exact zeros, which EM cannot leave.
DISCRETE_INIT_SMOOTHING = 0.1

# A start's statistics (one restart at a time) are summed over chunks of at most this many
# E-step budgets (jaxem.chunks.DEFAULT_MEMORY_BUDGET): fewer, larger chunks than a fit's.
START_BUDGET_CHUNKS = 8


def _leaf(data, family: str):
    if not isinstance(data, (jax.Array, np.ndarray)):
        raise TypeError(f"data for a {family} must be one array; got {type(data).__name__}.")
    return np.asarray(data)


@dataclasses.dataclass(frozen=True, eq=False)
class _GaussianData(ByValue):
    family: str
    min_ndim: int
    max_ndim: int

    def __call__(self, data):
        host = _leaf(data, self.family)
        if not self.min_ndim <= host.ndim <= self.max_ndim:
            expected = "(N, D)" if self.max_ndim == 2 else "(S, T, D) or (S, T)"
            raise ValueError(f"data for a {self.family} must have shape {expected}; got shape {host.shape}.")
        if np.issubdtype(host.dtype, np.floating):
            return data
        return jnp.asarray(host, jnp.result_type(float))


def gaussian_data(family: str, min_ndim: int, max_ndim: int):
    """A ``validate_data`` for Gaussian observations with ``min_ndim..max_ndim`` axes in all."""
    return _GaussianData(family, min_ndim, max_ndim)


@dataclasses.dataclass(frozen=True, eq=False)
class _CountData(ByValue):
    family: str

    def __call__(self, data):
        host = _leaf(data, self.family)
        bad = (host < 0) | (host != np.round(host)) if np.issubdtype(host.dtype, np.floating) else host < 0
        if np.any(bad):
            raise ValueError(
                f"data for a {self.family} must be non-negative integer counts; got {int(np.sum(bad))} value(s) "
                f"that are not, e.g. {host[bad].reshape(-1)[0]!r}."
            )
        return data


def count_data(family: str):
    """A ``validate_data`` for non-negative integer counts."""
    return _CountData(family)


@dataclasses.dataclass(frozen=True, eq=False)
class _BinaryData(ByValue):
    family: str

    def __call__(self, data):
        host = _leaf(data, self.family)
        bad = (host != 0) & (host != 1)
        if np.any(bad):
            raise ValueError(
                f"data for a {self.family} must be binary (bool, or 0 and 1); got {int(np.sum(bad))} other "
                f"value(s), e.g. {host[bad].reshape(-1)[0]!r}."
            )
        return data


def binary_data(family: str):
    """A ``validate_data`` for binary data (bool, or numbers equal to 0 or 1)."""
    return _BinaryData(family)


@dataclasses.dataclass(frozen=True, eq=False)
class _CategoricalData(ByValue):
    family: str
    num_categories: int

    def __call__(self, data):
        host = _leaf(data, self.family)
        if host.dtype == bool:
            host = host.astype(np.int32)
        integral = host == np.round(host) if np.issubdtype(host.dtype, np.floating) else np.ones(host.shape, bool)
        bad = ~integral | (host < 0) | (host >= self.num_categories)
        if np.any(bad):
            raise ValueError(
                f"data for a {self.family} must be integer symbols in [0, num_categories={self.num_categories}); "
                f"got {int(np.sum(bad))} value(s) that are not, e.g. {host[bad].reshape(-1)[0]!r}."
            )
        return data


def categorical_data(family: str, num_categories: int):
    """A ``validate_data`` for integral symbols in ``[0, num_categories)``."""
    return _CategoricalData(family, num_categories)


def gaussian_min_count(covariance_type: str, num_features: int) -> int:
    """Observations a Gaussian component needs for a non-singular covariance of its type."""
    return {"full": num_features + 1, "diag": 2, "spherical": 2, "tied": 1}[covariance_type]


@dataclasses.dataclass(frozen=True, eq=False)
class DegenerateBelow(ByValue):
    """``degenerate(params, counts)``: some component holds fewer than ``family.min_count(params)``
    observations, or the family says a component has collapsed (``family.collapsed(params)``, for
    the Gaussian a variance on its ``reg_covar`` floor)."""

    family: object

    def __call__(self, params, counts):
        few = jnp.any(counts < self.family.min_count(params))
        collapsed = getattr(self.family, "collapsed", None)
        return few if collapsed is None else few | collapsed(params)


def built_in_checks(family, label: str, num_components: int, sequences: bool):
    """The ``validate_data``, ``degenerate`` and ``min_observations`` fields every built-in model sets:
    its family's data check, a component below the family's ``min_count`` observations, and one
    observation (or real step) per component."""
    return {
        "validate_data": family.validate(label, sequences),
        "degenerate": DegenerateBelow(family),
        "min_observations": num_components,
    }


def start_from(family, rows, responsibilities, weights, params):
    """``family.maximize`` of ``family.statistics`` over all ``rows`` about ``params``, the statistics
    summed over chunks (so a start, like a fit, holds one chunk's features at a time)."""
    # Per row: the responsibilities and at most (K + U)^2 numbers of features (U numbers of data; a
    # Gaussian's second moments and anchor blocks are fewer). A start runs one restart at a time,
    # so it may take the budget of several E-step chunks: START_BUDGET_CHUNKS of them.
    size = chunks.rows_per_chunk(
        (responsibilities.shape[-1] + rows[0].size) ** 2,
        rows.shape[0],
        START_BUDGET_CHUNKS * chunks.DEFAULT_MEMORY_BUDGET,
    )
    statistics = chunks.accumulate(
        lambda part, w: family.statistics(part[0], part[1], w, params), (rows, responsibilities), weights, size
    )
    return family.maximize(statistics, params)


class VmappedBatch:
    """Mixin for families whose per-observation density is already a product of features and
    per-component parameters: the chunk's table is its vmap (one matrix product)."""

    def log_density_batch(self, params, rows):
        """``log_density`` for a chunk of rows: (n, K)."""
        return jax.vmap(lambda x: self.log_density(params, x))(rows)


def first_moments(rows, responsibilities, weights):
    """``sum_i w_i r_ik (1, x_i)`` over a chunk, with rows flattened to (n, D): (K, 1 + D)."""
    dtype = responsibilities.dtype
    x = jnp.asarray(rows, dtype).reshape(rows.shape[0], -1)
    phi = jnp.concatenate([jnp.ones((x.shape[0], 1), dtype), x], axis=1)
    weighted = responsibilities * weights[:, None].astype(dtype)
    return jnp.matmul(weighted.T, phi, precision=jax.lax.Precision.HIGHEST)
