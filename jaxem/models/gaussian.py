"""Gaussian log-densities and the closed-form Gaussian M-step, on flat arrays.

Shared by :func:`jaxem.models.gaussian_mixture` and the Gaussian hidden Markov
model: both need ``log N(x | mu_k, Sigma_k)`` for every component ``k`` and
the weighted maximum-likelihood update of ``(mu_k, Sigma_k)`` given soft
assignments. Parameter names and shapes follow scikit-learn's
``GaussianMixture`` (without the trailing underscore):

=============  ==============  ============================================
type           ``covariances``  meaning
=============  ==============  ============================================
``full``       ``(K, D, D)``    one covariance matrix per component
``diag``       ``(K, D)``       one diagonal per component
``spherical``  ``(K,)``         one variance per component (``s_k I``)
``tied``       ``(D, D)``       one covariance matrix shared by all
=============  ==============  ============================================

Cost. For ``full`` the density is evaluated through the inverse Cholesky
factor ``P_k = L_k^{-1}`` (``Sigma_k = L_k L_k^T``): the Mahalanobis term is
``|P_k (x - mu_k)|^2``. Up to 16 features it is an unrolled triangular
product that XLA fuses into one loop over the observations (no (N, K, D)
array is stored, which made the E-step memory-bound); above that, one
``(N, D) x (D, K D)`` matrix product. The covariance update is a centred
weighted Gram matrix per component. Both are ``O(N K D^2)`` with no
``N x K x D x D`` intermediate; every matrix product runs at
``precision="highest"``.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

__all__ = [
    "COVARIANCE_TYPES",
    "check_covariance_type",
    "covariances_shape",
    "covariances_update",
    "gaussian_log_density",
    "gaussian_update",
    "means_update",
    "mixture_weights_update",
]

COVARIANCE_TYPES = ("full", "diag", "spherical", "tied")
_HIGHEST = jax.lax.Precision.HIGHEST
# Up to this many features the full-covariance Mahalanobis term is an unrolled
# triangular product (see _triangular_squared_norms); above it, a matrix product.
_UNROLL_MAX_FEATURES = 16
# Dtypes whose diagonal scatter is one fused multiply-and-reduce over N (see
# covariances_update).
_FUSED_DIAG_SCATTER_DTYPES = ("float64",)


def check_covariance_type(covariance_type: str) -> str:
    """Returns ``covariance_type`` or raises ``ValueError`` naming the choices."""
    if covariance_type not in COVARIANCE_TYPES:
        raise ValueError(f"covariance_type must be one of {COVARIANCE_TYPES}; got {covariance_type!r}.")
    return covariance_type


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


def _triangular_squared_norms(u, inverse, projected_means):
    """``|P_k u - P_k m_k|^2`` for every ``k``, with ``P_k`` lower triangular.

    Written as ``D (D + 1) / 2`` unrolled multiply-adds on arrays of shape
    (..., K), one feature at a time: XLA fuses them into one loop over the
    observations, so the (..., K, D) projections are never stored. The same
    ``O(N K D^2)`` arithmetic as the matrix product (half of it, since the
    upper triangle is skipped), but without its (N, K, D) memory traffic.
    """
    squared = 0.0
    for e in range(u.shape[-1]):
        row = sum(u[..., d, None] * inverse[:, e, d] for d in range(e + 1))
        squared = squared + (row - projected_means[:, e]) ** 2
    return squared


def gaussian_log_density(params, x, covariance_type: str = "full"):
    """``log N(x | mu_k, Sigma_k)`` for every component ``k``.

    .. math::
        \\log N(x | \\mu_k, \\Sigma_k) = -\\tfrac{D}{2}\\log 2\\pi
            + \\sum_d \\log (L_k^{-1})_{dd} - \\tfrac12 \\lVert L_k^{-1}(x - \\mu_k) \\rVert^2 .

    Args:
      params: a dict with ``means`` (K, D) and ``covariances`` (shape set by
        ``covariance_type``, see the module docstring).
      x: observations, shape (..., D) (one observation or a batch).
      covariance_type: ``"full"``, ``"diag"``, ``"spherical"`` or ``"tied"``.

    Returns:
      Log-densities of shape (..., K). A covariance that is not positive
      definite gives NaN (the fit flags that restart as failed).

    Example:
      >>> params = {"means": jnp.zeros((2, 3)), "covariances": jnp.ones((2, 3))}
      >>> gaussian_log_density(params, jnp.ones((5, 3)), "diag").shape
      (5, 2)
    """
    check_covariance_type(covariance_type)
    means, covariances = params["means"], params["covariances"]
    num_features = means.shape[-1]
    constant = -0.5 * num_features * math.log(2.0 * math.pi)
    x = jnp.asarray(x, means.dtype)
    if covariance_type in ("full", "tied"):
        # Reference point shared by all components, so x @ P and mu @ P are
        # both small and their difference loses no precision.
        centre = jnp.mean(means, axis=0)
        inverse = _inverse_cholesky(covariances)  # (K, D, D) or (D, D)
        log_det = jnp.sum(jnp.log(jnp.diagonal(inverse, axis1=-2, axis2=-1)), axis=-1)  # (K,) or ()
        if covariance_type == "full":
            projected_means = jnp.einsum("kd,ked->ke", means - centre, inverse, precision=_HIGHEST)
            if num_features <= _UNROLL_MAX_FEATURES:
                squared = _triangular_squared_norms(x - centre, inverse, projected_means)
                return constant + log_det - 0.5 * squared
            projected_x = jnp.einsum("...d,ked->...ke", x - centre, inverse, precision=_HIGHEST)
        else:
            projected_x = jnp.einsum("...d,ed->...e", x - centre, inverse, precision=_HIGHEST)[..., None, :]
            projected_means = jnp.einsum("kd,ed->ke", means - centre, inverse, precision=_HIGHEST)
        squared = jnp.sum((projected_x - projected_means) ** 2, axis=-1)
        return constant + log_det - 0.5 * squared
    if covariance_type == "diag":
        variances = covariances  # (K, D)
    else:
        variances = covariances[:, None]  # (K, 1), broadcast over features
    # sum_d (x_d - mu_kd)^2 / s_kd around a shared reference point (so the terms stay
    # small), with no (N, K, D) intermediate: unrolled over features up to
    # _UNROLL_MAX_FEATURES (one fused loop; 1.2-1.3x faster fits than the matrix
    # products in interleaved runs, benchmarks/RESULTS.md), matrix products above.
    precisions = jnp.broadcast_to(1.0 / variances, means.shape)  # (K, D)
    centre = jnp.mean(means, axis=0)
    u, v = x - centre, means - centre
    if num_features <= _UNROLL_MAX_FEATURES:
        squared = sum((u[..., d, None] - v[:, d]) ** 2 * precisions[:, d] for d in range(num_features))
    else:
        squared = (
            jnp.einsum("...d,kd->...k", u**2, precisions, precision=_HIGHEST)
            - 2.0 * jnp.einsum("...d,kd->...k", u, v * precisions, precision=_HIGHEST)
            + jnp.sum(v**2 * precisions, axis=-1)
        )
    log_det = 0.5 * jnp.sum(jnp.broadcast_to(jnp.log(variances), means.shape), axis=-1)
    return constant - log_det - 0.5 * squared


def _component_totals(responsibilities, weights):
    """``n_k = sum_i w_i r_ik`` plus a tiny floor against empty components."""
    weighted = responsibilities * weights[:, None]
    totals = jnp.sum(weighted, axis=0)
    # The same 10 * eps floor scikit-learn uses, so an empty component gives a
    # finite mean instead of 0 / 0.
    return weighted, totals + 10 * jnp.finfo(totals.dtype).eps


def mixture_weights_update(responsibilities, weights):
    """``pi_k = sum_i w_i r_ik / sum_i w_i``: the mixing-weight maximiser of Q."""
    weighted = responsibilities * weights[:, None]
    totals = jnp.sum(weighted, axis=0)
    return totals / jnp.sum(totals)


def means_update(x, responsibilities, weights):
    """``mu_k = sum_i w_i r_ik x_i / n_k`` with ``n_k = sum_i w_i r_ik``; shape (K, D)."""
    weighted, totals = _component_totals(responsibilities, weights)
    return jnp.matmul(weighted.T, x, precision=_HIGHEST) / totals[:, None]


def covariances_update(x, responsibilities, weights, means, covariance_type: str = "full", reg_covar: float = 1e-6):
    """The maximiser of Q over covariances at fixed ``means``, plus ``reg_covar`` on the diagonal.

    .. math::
        \\Sigma_k = \\frac{1}{n_k} \\sum_i w_i r_{ik} (x_i - \\mu_k)(x_i - \\mu_k)^T + \\epsilon I

    centred (two-pass: the means are computed first, then the deviations from
    them are accumulated). ``diag`` keeps the diagonal, ``spherical`` averages
    the diagonal (``epsilon`` included), ``tied`` pools all components
    ``sum_k n_k Sigma_k / sum_k n_k``.

    Args:
      x: (N, D) observations.
      responsibilities: (N, K) posterior probabilities.
      weights: (N,) non-negative sample weights.
      means: (K, D) component means (normally the new ones).
      covariance_type: one of :data:`COVARIANCE_TYPES`.
      reg_covar: ``epsilon`` added to the diagonal (scikit-learn's meaning).

    Returns:
      ``covariances`` of the shape set by ``covariance_type``.
    """
    check_covariance_type(covariance_type)
    weighted, totals = _component_totals(responsibilities, weights)
    num_features = x.shape[-1]
    if covariance_type in ("diag", "spherical"):
        if jnp.dtype(x.dtype).name in _FUSED_DIAG_SCATTER_DTYPES:
            # float64: one fused pass over (N, K, D), never materialised; on XLA:CPU it made a
            # float64 diag mixture fit (N = 1e5, D = 8, K = 10) 1.42-1.48x faster
            # (benchmarks/ab_variants.py diag-scatter --gmm); no clear change in the HMM fit.
            squares = jnp.sum(weighted[:, :, None] * (x[:, None, :] - means[None, :, :]) ** 2, axis=0)
        else:
            # float32: a contraction over N (a dot). The fused reduction above sums over N
            # in a longer chain, which float32 can afford less, and XLA:CPU ran it ~3x
            # slower at N = 1e5 in float32 (benchmarks/RESULTS.md).
            squares = jnp.einsum("nk,knd->kd", weighted, (x[None] - means[:, None]) ** 2, precision=_HIGHEST)
        variances = squares / totals[:, None] + reg_covar
        return variances if covariance_type == "diag" else jnp.mean(variances, axis=-1)
    # sum_i w_i r_ik d_ik d_ik^T = A_k^T A_k with rows a_ik = sqrt(w_i r_ik) d_ik: one
    # (D, N) x (N, D) product per component, O(N K D^2).
    diff = x[None, :, :] - means[:, None, :]  # (K, N, D): O(N K D), no D x D per observation
    scaled = jnp.sqrt(weighted.T)[:, :, None] * diff  # (K, N, D)
    if covariance_type == "full":
        scatter = jnp.einsum("knd,kne->kde", scaled, scaled, precision=_HIGHEST)
        covariances = scatter / totals[:, None, None]
    else:
        scaled = scaled.reshape(-1, num_features)
        scatter = jnp.matmul(scaled.T, scaled, precision=_HIGHEST)
        covariances = scatter / jnp.sum(weighted)
    return covariances + reg_covar * jnp.eye(num_features, dtype=covariances.dtype)


def gaussian_update(x, responsibilities, weights, covariance_type: str = "full", reg_covar: float = 1e-6):
    """The closed-form Gaussian M-step: weights, means and covariances.

    Maximises ``Q = sum_i w_i sum_k r_ik [log pi_k + log N(x_i | mu_k, Sigma_k)]``
    in the order means, then covariances around the new means (the joint
    maximiser, since the covariance optimum at any Sigma is the same mean).

    Args:
      x: (N, D) observations.
      responsibilities: (N, K) posterior probabilities (rows sum to one).
      weights: (N,) non-negative sample weights.
      covariance_type: one of :data:`COVARIANCE_TYPES`.
      reg_covar: added to the covariance diagonal, as in scikit-learn.

    Returns:
      A dict ``{"weights": (K,), "means": (K, D), "covariances": ...}``.

    Example:
      >>> x = jax.random.normal(jax.random.key(0), (100, 2))
      >>> r = jax.nn.softmax(jax.random.normal(jax.random.key(1), (100, 3)))
      >>> gaussian_update(x, r, jnp.ones(100), "full")["covariances"].shape
      (3, 2, 2)
    """
    means = means_update(x, responsibilities, weights)
    return {
        "weights": mixture_weights_update(responsibilities, weights),
        "means": means,
        "covariances": covariances_update(x, responsibilities, weights, means, covariance_type, reg_covar),
    }
