"""The Gaussian family, written once for the mixture and the HMM: four covariance types.

Parameter names and shapes follow scikit-learn's ``GaussianMixture``:

=============  ===============  ============================================
type           ``covariances``  meaning
=============  ===============  ============================================
``full``       ``(K, D, D)``    one covariance matrix per component
``diag``       ``(K, D)``       one diagonal per component
``spherical``  ``(K,)``         one variance per component (``s_k I``)
``tied``       ``(D, D)``       one covariance matrix shared by all
=============  ===============  ============================================

As an exponential family, both halves of EM are matrix products of
per-observation features and per-component parameters, over a chunk of rows:

* Each row ``x_i`` is written relative to an anchor, ``x_i = c_g + y_i``: the
  chunk's ``G`` anchors are rows of the chunk picked far apart
  (farthest-point order) and each row takes its nearest one. ``G = min(K, 4)``
  in float32; in float64 one anchor (the chunk's first row) is enough. The features
  are ``phi_i = (q(y_i), e_g (x) (1, y_i))``: the second-order terms ``q(y)``
  (``y_a y_b`` for ``a <= b`` for full and tied, ``y_a^2`` for diag,
  ``|y|^2`` for spherical) and the row's anchor indicator times ``(1, y)``.
  They depend on the data only, so one feature matrix serves every restart.
* E-step: ``log N(x_i | mu_k, Sigma_k) = <eta_k, phi_i>`` with, for each
  anchor ``g`` and ``v = mu_k - c_g``: ``Lambda_k v`` on ``y``,
  ``-D/2 log 2 pi + 1/2 log|Lambda_k| - v^T Lambda_k v / 2`` on the
  indicator, and ``-Lambda_k / 2`` (diagonal) or ``-Lambda_k`` (off it) on
  ``q(y)``, with ``Lambda_k = Sigma_k^{-1}``. One (n, F) x (F, R K) product
  for every restart at once.
* Statistics: ``sum_i w_i r_ik phi_i``, one (R K, n) x (n, F) product, then
  moved (exactly) from the anchors to the reference ``m_k``, the E-step's
  own means: counts ``n_k``, ``sum_i w_i r_ik (x_i - m_k)`` and the
  second-order sums of ``x_i - m_k``. At fixed params they add over chunks.
  ``maximize``: ``mu_k = m_k + s_k / n_k``, ``Sigma_k = S_k / n_k - (s_k /
  n_k)(s_k / n_k)^T + reg_covar I`` (restricted or pooled per type).

Why anchors: the moments are sums of squares. About one point far from some
clusters (the origin, or the data mean when clusters lie far apart) they are
large, and in float32 their rounding swamps the covariance that is their
difference. About a nearby anchor every product is small, and moving the
sums to ``m_k`` is exact arithmetic on them: a term is large only when the
anchor is far from component ``k``, where that component's responsibilities
(and so its sums) are negligible. The chunked sums are compensated
(:mod:`jaxem.chunks`). Every product runs at ``precision="highest"``.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

from jaxem import constraints, validation
from jaxem.families import support
from jaxem.static import ByValue

__all__ = ["COVARIANCE_TYPES", "Gaussian", "check_covariance_type", "covariances_shape"]

COVARIANCE_TYPES = ("full", "diag", "spherical", "tied")
MAX_ANCHORS = 4
_HIGHEST = jax.lax.Precision.HIGHEST


def check_covariance_type(covariance_type: str) -> str:
    """Returns ``covariance_type`` or raises ``ValueError`` naming the choices."""
    return validation.check_choice(covariance_type, "covariance_type", COVARIANCE_TYPES)


def covariances_shape(covariance_type: str, num_components: int, num_features: int) -> tuple[int, ...]:
    """The shape of ``covariances`` for a covariance type (as in scikit-learn)."""
    return {
        "full": (num_components, num_features, num_features),
        "diag": (num_components, num_features),
        "spherical": (num_components,),
        "tied": (num_features, num_features),
    }[check_covariance_type(covariance_type)]


def _inverse_cholesky(covariance):
    """``L^{-1}`` for ``covariance = L L^T`` (batched over leading axes)."""
    lower = jnp.linalg.cholesky(covariance)
    eye = jnp.broadcast_to(jnp.eye(covariance.shape[-1], dtype=covariance.dtype), covariance.shape)
    return jax.scipy.linalg.solve_triangular(lower, eye, lower=True)


def _upper(num_features):
    return np.triu_indices(num_features)


def _symmetric(upper_entries, num_features):
    """(..., D(D+1)/2) upper-triangle entries -> (..., D, D) symmetric matrices."""
    rows, cols = _upper(num_features)
    shape = upper_entries.shape[:-1] + (num_features, num_features)
    upper = jnp.zeros(shape, upper_entries.dtype).at[..., rows, cols].set(upper_entries)
    return upper + jnp.swapaxes(upper, -1, -2) - upper * jnp.eye(num_features, dtype=upper.dtype)


def anchors(rows, num_anchors: int):
    """``num_anchors`` rows of ``rows`` (n, D) far apart (farthest-point order from row 0), and each
    row's nearest one: ``(anchors (G, D), index (n,) int32)``. Data only: shared by every restart."""
    rows = jax.lax.stop_gradient(rows)
    chosen = [rows[0]]
    nearest = jnp.sum((rows - rows[0]) ** 2, axis=-1)
    for _ in range(num_anchors - 1):
        pick = rows[jnp.argmax(nearest)]
        chosen.append(pick)
        nearest = jnp.minimum(nearest, jnp.sum((rows - pick) ** 2, axis=-1))
    centres = jnp.stack(chosen)
    distances = jnp.sum((rows[:, None, :] - centres[None]) ** 2, axis=-1)  # (n, G)
    return centres, jnp.argmin(distances, axis=-1).astype(jnp.int32)


COLLAPSE_FACTOR = 2.0  # a variance at most this many times reg_covar marks a collapsed component


@dataclasses.dataclass(frozen=True, eq=False)
class Gaussian(ByValue):
    """Gaussian emissions with one of :data:`COVARIANCE_TYPES` and ``reg_covar`` on the diagonal."""

    covariance_type: str = "full"
    reg_covar: float = 1e-6

    name = "Gaussian"
    init_smoothing = 0.0

    def constraints(self):
        pd = self.covariance_type in ("full", "tied")
        return {"means": constraints.real, "covariances": constraints.positive_definite if pd else constraints.positive}

    def validate(self, family: str, sequences: bool):
        return support.gaussian_data(family, 2, 3 if sequences else 2)

    def min_count(self, params):
        return support.gaussian_min_count(self.covariance_type, params["means"].shape[-1])

    def collapsed(self, params):
        """Whether some component's variance, in some direction, sits on the ``reg_covar`` floor
        (at most ``COLLAPSE_FACTOR * reg_covar``): the component has settled on repeated values
        (or on a lower-dimensional set) and its likelihood is held up by ``reg_covar`` alone, the
        spurious maximum the unbounded Gaussian likelihood has there. Never with ``reg_covar=0``
        (such a fit fails instead)."""
        covariances = params["covariances"]
        if self.covariance_type in ("full", "tied"):
            smallest = jnp.min(jnp.linalg.eigvalsh(covariances))
        else:
            smallest = jnp.min(covariances)
        return (self.reg_covar > 0) & (smallest <= COLLAPSE_FACTOR * self.reg_covar)

    # ------------------------------------------------------------------ features
    def _second_order(self, y):
        """``q(y)`` for rows (n, D) -> (n, F2)."""
        if self.covariance_type in ("full", "tied"):
            rows, cols = _upper(y.shape[-1])
            return y[:, rows] * y[:, cols]
        if self.covariance_type == "diag":
            return y * y
        return jnp.sum(y * y, axis=-1, keepdims=True)

    def features(self, rows, num_anchors: int):
        """``(phi (n, F), anchors (G, D))`` for a chunk of rows (n, D)."""
        centres, index = anchors(rows, num_anchors)
        y = rows - centres[index]
        one_hot = jax.nn.one_hot(index, num_anchors, dtype=rows.dtype)  # (n, G)
        first = jnp.concatenate([jnp.ones_like(y[:, :1]), y], axis=-1)  # (n, 1 + D)
        blocks = (one_hot[:, :, None] * first[:, None, :]).reshape(rows.shape[0], -1)  # (n, G (1 + D))
        return jnp.concatenate([self._second_order(y), blocks], axis=-1), centres

    def _precisions(self, params):
        """``(Lambda (K, D, D) or diag (K, D), 1/2 log|Lambda| (K,))``."""
        means, covariances = params["means"], params["covariances"]
        num_components = means.shape[0]
        if self.covariance_type in ("full", "tied"):
            inverse = _inverse_cholesky(covariances)
            precision = jnp.einsum("...di,...dj->...ij", inverse, inverse, precision=_HIGHEST)
            half_log_det = jnp.sum(jnp.log(jnp.diagonal(inverse, axis1=-2, axis2=-1)), axis=-1)
            shape = (num_components,) + precision.shape[-2:]
            return jnp.broadcast_to(precision, shape), jnp.broadcast_to(half_log_det, (num_components,))
        variances = covariances if self.covariance_type == "diag" else covariances[:, None]
        inverse_variances = jnp.broadcast_to(1.0 / variances, means.shape)
        half_log_det = -0.5 * jnp.sum(jnp.broadcast_to(jnp.log(variances), means.shape), axis=-1)
        return inverse_variances, half_log_det

    def natural(self, params, centres):
        """``eta`` (F, K) such that ``log N(x_i | mu_k, Sigma_k) = <phi_i, eta_k>`` (see the module docstring)."""
        means = params["means"]
        num_components, num_features = means.shape
        precision, half_log_det = self._precisions(params)
        v = means[:, None, :] - centres[None]  # (K, G, D)
        if self.covariance_type in ("full", "tied"):
            linear = jnp.einsum("kij,kgj->kgi", precision, v, precision=_HIGHEST)
            rows, cols = _upper(num_features)
            second = -jnp.where(rows == cols, 0.5, 1.0) * precision[:, rows, cols]
        else:
            linear = precision[:, None, :] * v
            second = -0.5 * (precision if self.covariance_type == "diag" else precision[:, :1])
        offset = -0.5 * num_features * math.log(2.0 * math.pi) + half_log_det[:, None]
        offset = offset - 0.5 * jnp.sum(linear * v, axis=-1)  # (K, G)
        blocks = jnp.concatenate([offset[..., None], linear], axis=-1).reshape(num_components, -1)
        return jnp.concatenate([second, blocks], axis=-1).T

    def _num_anchors(self, params):
        """``min(K, 4)`` anchors in float32 (or narrower); one in float64, whose rounding (1e-16
        relative) leaves the moments about one point accurate to ~1e-8 even 1e4 spreads away."""
        if jnp.finfo(params["means"].dtype).bits >= 64:
            return 1
        return min(params["means"].shape[0], MAX_ANCHORS)

    @staticmethod
    def _rows(rows, params):
        return jnp.asarray(rows, params["means"].dtype).reshape(rows.shape[0], -1)

    # ------------------------------------------------------------------ the two halves of EM
    def log_density_batch(self, params, rows, num_anchors: int | None = None):
        """``log N(x_i | mu_k, Sigma_k)`` for a chunk of rows (n, D): (n, K). A covariance that is not
        positive definite gives NaN (the fit flags that restart). ``num_anchors`` overrides ``G``."""
        rows = self._rows(rows, params)
        phi, centres = self.features(rows, num_anchors or self._num_anchors(params))
        return jnp.matmul(phi, self.natural(params, centres), precision=_HIGHEST)

    def log_density(self, params, x):
        """``log N(x | mu_k, Sigma_k)`` for ONE observation ``x`` (D,), every ``k``: (K,), as the
        centred quadratic form ``-D/2 log 2 pi + 1/2 log|Lambda_k| - (x - mu_k)^T Lambda_k (x - mu_k) / 2``
        (equal to :meth:`log_density_batch`, which the engine uses for chunks)."""
        means = params["means"]
        num_features = means.shape[-1]
        v = jnp.asarray(x, means.dtype).reshape(-1) - means  # (K, D)
        precision, half_log_det = self._precisions(params)
        if self.covariance_type in ("full", "tied"):
            squared = jnp.einsum("kd,kde,ke->k", v, precision, v, precision=_HIGHEST)
        else:
            squared = jnp.sum(precision * v * v, axis=-1)
        return -0.5 * num_features * math.log(2.0 * math.pi) + half_log_det - 0.5 * squared

    def statistics(self, rows, responsibilities, weights, params, num_anchors: int | None = None):
        """Counts, sums and second-order sums of ``x_i - m_k`` (``m_k`` the params' means) over a chunk,
        weighted by ``w_i r_ik``: additive over chunks at fixed params. ``num_anchors`` overrides ``G``
        (the result does not depend on it beyond rounding)."""
        rows = self._rows(rows, params)
        num_components, num_features = params["means"].shape
        num_anchors = num_anchors or self._num_anchors(params)
        phi, centres = self.features(rows, num_anchors)
        weighted = responsibilities * weights[:, None].astype(responsibilities.dtype)
        sums = jnp.matmul(weighted.T, phi, precision=_HIGHEST)  # (K, F)
        size_q = sums.shape[-1] - num_anchors * (1 + num_features)
        squares = sums[:, :size_q]
        blocks = sums[:, size_q:].reshape(num_components, num_anchors, 1 + num_features)
        counts, first = blocks[..., 0], blocks[..., 1:]  # (K, G), (K, G, D): about the anchors
        d = centres[None] - jax.lax.stop_gradient(params["means"])[:, None, :]  # (K, G, D): anchor - m_k
        # sum_i r (y + d) (y + d)^T = sum_i r y y^T + sum_g [s_g d_g^T + d_g s_g^T + n_g d_g d_g^T]
        cross = first + 0.5 * counts[..., None] * d  # so that s d^T + d s^T + n d d^T = cross d^T + d cross^T
        if self.covariance_type in ("full", "tied"):
            rows_, cols_ = _upper(num_features)
            moved = jnp.sum(cross[..., rows_] * d[..., cols_] + d[..., rows_] * cross[..., cols_], axis=1)
        elif self.covariance_type == "diag":
            moved = jnp.sum(2.0 * cross * d, axis=1)
        else:
            moved = jnp.sum(2.0 * cross * d, axis=(1, 2))[:, None]
        return {
            "counts": jnp.sum(counts, axis=1),
            "sums": jnp.sum(first + counts[..., None] * d, axis=1),
            "squares": squares + moved,
        }

    def maximize(self, statistics, params):
        """Means and covariances from the summed statistics (see the module docstring)."""
        num_features = params["means"].shape[-1]
        totals = statistics["counts"]
        counts = totals + 10 * jnp.finfo(totals.dtype).eps  # scikit-learn's floor: an empty component stays finite
        shifts = statistics["sums"] / counts[:, None]  # (K, D): mu_k - m_k
        second = statistics["squares"] / counts[:, None]
        means = params["means"] + shifts
        if self.covariance_type in ("full", "tied"):
            scatter = _symmetric(second, num_features) - shifts[:, :, None] * shifts[:, None, :]
            if self.covariance_type == "tied":
                scatter = jnp.einsum("k,kij->ij", totals, scatter, precision=_HIGHEST) / jnp.sum(totals)
            covariances = scatter + self.reg_covar * jnp.eye(num_features, dtype=scatter.dtype)
        elif self.covariance_type == "diag":
            covariances = jnp.maximum(second - shifts**2, 0.0) + self.reg_covar
        else:
            spread = second[:, 0] - jnp.sum(shifts**2, axis=-1)
            covariances = jnp.maximum(spread, 0.0) / num_features + self.reg_covar
        return {"means": means, "covariances": covariances}

    def start(self, rows, responsibilities, weights):
        """Means and covariances from starting responsibilities: the weighted means first (one
        product; first moments need no reference point), then the statistics about them."""
        dtype = responsibilities.dtype
        rows = jnp.asarray(rows, dtype).reshape(rows.shape[0], -1)
        weighted = responsibilities * weights[:, None]
        counts = jnp.sum(weighted, axis=0) + 10 * jnp.finfo(dtype).eps
        means = jnp.matmul(weighted.T, rows, precision=_HIGHEST) / counts[:, None]
        return support.start_from(self, rows, responsibilities, weights, {"means": means})

    def seed_features(self, rows):
        return jnp.asarray(rows, jnp.result_type(rows.dtype, float)).reshape(rows.shape[0], -1)

    def sample(self, key, params, z):
        means, covariances = params["means"], params["covariances"]
        noise = jax.random.normal(key, means.shape[-1:], means.dtype)
        if self.covariance_type == "full":
            scale = jnp.linalg.cholesky(covariances[z]) @ noise
        elif self.covariance_type == "tied":
            scale = jnp.linalg.cholesky(covariances) @ noise
        else:
            scale = jnp.sqrt(covariances[z]) * noise
        return means[z] + scale
