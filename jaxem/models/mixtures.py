"""Built-in mixture models: Gaussian, Poisson, Bernoulli and categorical.

Each factory returns an ordinary :class:`jaxem.Model`: a complete-data log
joint for ONE observation and ONE component,

    log p(x, z = k) = log pi_k + log f(x | theta_k),

plus closed-form updates registered per parameter (``model.m_step``, a dict
run in order, so the covariance update sees the new means). They go through
exactly the engine a user-written model does, and can be copied or changed:
``dataclasses.replace(model, m_step=None)`` fits the same mixture by
gradient M-steps alone.

Initialisation schemes live in :mod:`jaxem.models.initialisation`. The
discrete families (Poisson, Bernoulli, categorical) mix the scheme's
responsibilities with the uniform ones, ``(1 - a) r + a / K`` with
``a = DISCRETE_INIT_SMOOTHING = 0.1``, so every starting probability lies
strictly inside (0, 1) and every rate is positive: a hard assignment gives
exact zeros, which EM can never move away from.

What data each family accepts, and when a component is degenerate, is in
:mod:`jaxem.models.support`. Every mixture needs at least K observations of
positive weight to be fitted (scikit-learn's rule).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxem import constraints
from jaxem.model import Model
from jaxem.models import gaussian, support
from jaxem.models.initialisation import check_init, initial_responsibilities
from jaxem.mstep import apply_closed_form

__all__ = [
    "DISCRETE_INIT_SMOOTHING",
    "bernoulli_mixture",
    "categorical_mixture",
    "check_count",
    "float_dtype",
    "gaussian_mixture",
    "poisson_mixture",
    "smooth_responsibilities",
]

DISCRETE_INIT_SMOOTHING = 0.1

_HIGHEST = jax.lax.Precision.HIGHEST


def smooth_responsibilities(responsibilities, amount: float):
    """``(1 - amount) r + amount / K``: every entry strictly positive for ``amount > 0``."""
    if amount == 0:
        return responsibilities
    return (1.0 - amount) * responsibilities + amount / responsibilities.shape[-1]


def _make_init(init, num_components, features, m_step, smoothing):
    """``init(key, data)``: responsibilities from the scheme (smoothed), then the registered updates."""
    init = check_init(init)
    if callable(init):
        return init

    def start(key, data):
        points = features(data)
        responsibilities = initial_responsibilities(key, points, num_components, init)
        responsibilities = smooth_responsibilities(responsibilities, smoothing)
        return apply_closed_form(m_step, {}, data, responsibilities, jnp.ones(points.shape[0], points.dtype))

    return start


def _mixture(log_joint, num_components, init, features, updates, constraint_of, validate_data, min_count, smoothing):
    """A mixture Model: ``weights`` on the simplex plus the family's registered updates."""
    m_step = {"weights": _weights_entry, **updates}
    return Model(
        log_joint,
        num_states=num_components,
        init=_make_init(init, num_components, features, m_step, smoothing),
        constraints={"weights": constraints.simplex, **constraint_of},
        m_step=m_step,
        **support.built_in_checks(validate_data, num_components, min_count),
    )


def check_count(value, name: str) -> int:
    """A size argument (components, states, categories): an int >= 1, else ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an int >= 1; got {value!r}.")
    return value


def float_dtype():
    return jnp.result_type(float)


# ---------------------------------------------------------------------- Gaussian
def gaussian_mixture(
    num_components: int, *, covariance_type: str = "full", reg_covar: float = 1e-6, init="kmeans"
) -> Model:
    """A Gaussian mixture with closed-form updates, as a :class:`jaxem.Model`.

    .. math::
        \\log p(x, z = k) = \\log \\pi_k + \\log N(x \\mid \\mu_k, \\Sigma_k)

    M-step (registered, in this order), with ``n_k = sum_i w_i r_ik``:
    ``pi_k = n_k / sum_i w_i``, ``mu_k = sum_i w_i r_ik x_i / n_k``,
    ``Sigma_k = sum_i w_i r_ik (x_i - mu_k)(x_i - mu_k)^T / n_k + reg_covar I``
    (restricted or pooled per ``covariance_type``; see
    :func:`jaxem.models.gaussian.covariances_update`).

    Args:
      num_components: K.
      covariance_type: ``"full"`` (K, D, D), ``"diag"`` (K, D),
        ``"spherical"`` (K,) or ``"tied"`` (D, D), as in scikit-learn.
      reg_covar: non-negative number added to the covariance diagonal in the
        M-step (scikit-learn's meaning). With 0 a component that collapses
        onto repeated points makes its restart fail (flagged, not fatal).
      init: ``"kmeans"`` (default: k-means to convergence from greedy k-means++
        seeds, as scikit-learn), ``"kmeans++"``, ``"random_points"``, ``"random_responsibilities"``
        or a callable ``(key, data) -> params``.

    Data: float array (N, D). Parameters: ``weights`` (K,), ``means`` (K, D),
    ``covariances``.

    Example:
      >>> model = jaxem.models.gaussian_mixture(2)
      >>> result = jaxem.fit(model, jaxem.datasets.load_faithful(), key=jax.random.key(0), num_restarts=32)
      >>> result.params["means"]
    """
    num_components = check_count(num_components, "num_components")
    covariance_type = gaussian.check_covariance_type(covariance_type)
    if not float(reg_covar) >= 0:
        raise ValueError(f"reg_covar must be a non-negative float; got {reg_covar!r}.")
    reg_covar = float(reg_covar)

    def log_joint(params, x, z):
        log_density = gaussian.gaussian_log_density(params, x, covariance_type)
        return jnp.log(params["weights"][z]) + log_density[z]

    def update_means(data, responsibilities, weights, params):
        return gaussian.means_update(_as_float(data), responsibilities, weights)

    def update_covariances(data, responsibilities, weights, params):
        return gaussian.covariances_update(
            _as_float(data), responsibilities, weights, params["means"], covariance_type, reg_covar
        )

    def features(data):
        if data.ndim != 2:
            raise ValueError(f"data for a Gaussian mixture must have shape (N, D); got shape {data.shape}.")
        return _as_float(data)

    covariance_constraint = (
        constraints.positive_definite if covariance_type in ("full", "tied") else constraints.positive
    )
    return _mixture(
        log_joint,
        num_components,
        init,
        features,
        {"means": update_means, "covariances": update_covariances},
        {"means": constraints.real, "covariances": covariance_constraint},
        support.gaussian_data("Gaussian mixture", 2, 2),
        lambda params: support.gaussian_min_count(covariance_type, params["means"].shape[-1]),
        0.0,
    )


def _as_float(data):
    data = jnp.asarray(data)
    return data if jnp.issubdtype(data.dtype, jnp.floating) else data.astype(float_dtype())


def _weighted_average(values, responsibilities, weights):
    """``sum_i w_i r_ik v_i / n_k`` for ``values`` (N, F) -> (K, F)."""
    weighted = responsibilities * weights[:, None]
    totals = jnp.sum(weighted, axis=0) + 10 * jnp.finfo(weighted.dtype).eps
    return jnp.matmul(weighted.T, values.astype(weighted.dtype), precision=_HIGHEST) / totals[:, None]


def _flat(data):
    """Observations as rows (N, F): scalars become one feature."""
    return _as_float(data).reshape(data.shape[0], -1)


# ---------------------------------------------------------------------- Poisson
def poisson_mixture(num_components: int, *, init="kmeans++") -> Model:
    """A mixture of Poissons (independent across features) with closed-form updates.

    .. math::
        \\log p(x, z = k) = \\log \\pi_k + \\sum_d [x_d \\log \\lambda_{kd} - \\lambda_{kd} - \\log x_d!]

    M-step: ``pi_k = n_k / sum_i w_i``, ``lambda_k = sum_i w_i r_ik x_i / n_k``.

    Data: non-negative counts (N,) (then ``rates`` is (K,)) or (N, D)
    (``rates`` (K, D)). Parameters: ``weights`` (K,), ``rates``.

    Example:
      >>> result = jaxem.fit(jaxem.models.poisson_mixture(3), counts, key=jax.random.key(0))
    """
    num_components = check_count(num_components, "num_components")

    def log_joint(params, x, z):
        return jnp.log(params["weights"][z]) + jnp.sum(jax.scipy.stats.poisson.logpmf(x, params["rates"][z]))

    def update_rates(data, responsibilities, weights, params):
        rates = _weighted_average(_flat(data), responsibilities, weights)
        # Floored at the smallest normal number so a rate is never exactly 0 (all-zero data).
        rates = jnp.maximum(rates, jnp.finfo(rates.dtype).tiny)
        return rates.reshape((num_components,) + data.shape[1:])

    return _mixture(
        log_joint,
        num_components,
        init,
        _flat,
        {"rates": update_rates},
        {"rates": constraints.positive},
        support.count_data("Poisson mixture"),
        lambda params: 1,
        DISCRETE_INIT_SMOOTHING,
    )


def _weights_entry(data, responsibilities, weights, params):
    return gaussian.mixture_weights_update(responsibilities, weights)


# ---------------------------------------------------------------------- Bernoulli
def bernoulli_mixture(num_components: int, *, init="kmeans++") -> Model:
    """A mixture of independent Bernoulli vectors with closed-form updates.

    .. math::
        \\log p(x, z = k) = \\log \\pi_k + \\sum_d [x_d \\log p_{kd} + (1 - x_d) \\log (1 - p_{kd})]

    M-step: ``pi_k = n_k / sum_i w_i``, ``p_k = sum_i w_i r_ik x_i / n_k``.

    Data: binary (N, D) (bool or 0/1). Parameters: ``weights`` (K,),
    ``probs`` (K, D).

    Example:
      >>> result = jaxem.fit(jaxem.models.bernoulli_mixture(4), binary, key=jax.random.key(0))
    """
    num_components = check_count(num_components, "num_components")

    def log_joint(params, x, z):
        x = x.astype(params["probs"].dtype)
        probs = params["probs"][z]
        log_f = jax.scipy.special.xlogy(x, probs) + jax.scipy.special.xlog1py(1.0 - x, -probs)
        return jnp.log(params["weights"][z]) + jnp.sum(log_f)

    def update_probs(data, responsibilities, weights, params):
        # Clipped: the ratio of two rounded sums can exceed 1 by an ulp, and log1p(-p) is then NaN.
        return jnp.clip(_weighted_average(_flat(data), responsibilities, weights), 0.0, 1.0)

    return _mixture(
        log_joint,
        num_components,
        init,
        _flat,
        {"probs": update_probs},
        {"probs": constraints.unit_interval},
        support.binary_data("Bernoulli mixture"),
        lambda params: 1,
        DISCRETE_INIT_SMOOTHING,
    )


# ---------------------------------------------------------------------- categorical
def categorical_mixture(num_components: int, num_categories: int, *, init="kmeans++") -> Model:
    """A mixture of independent categorical features with closed-form updates.

    .. math::
        \\log p(x, z = k) = \\log \\pi_k + \\sum_d \\log p_{k, d, x_d}

    M-step: ``pi_k = n_k / sum_i w_i``,
    ``p_{k,d,c} = sum_i w_i r_ik 1[x_id = c] / n_k``.

    Data: integers in ``[0, num_categories)``, shape (N, D). Parameters:
    ``weights`` (K,), ``probs`` (K, D, C).

    Example:
      >>> result = jaxem.fit(jaxem.models.categorical_mixture(3, 4), codes, key=jax.random.key(0))
    """
    num_components = check_count(num_components, "num_components")
    check_count(num_categories, "num_categories")

    def log_joint(params, x, z):
        probs = params["probs"][z]  # (D, C)
        picked = jnp.take_along_axis(probs, x.astype(jnp.int32)[:, None], axis=1)[:, 0]
        return jnp.log(params["weights"][z]) + jnp.sum(jnp.log(picked))

    def one_hot(data):
        if data.ndim != 2:
            raise ValueError(f"data for a categorical mixture must have shape (N, D); got shape {data.shape}.")
        return jax.nn.one_hot(data.astype(jnp.int32), num_categories, dtype=float_dtype())  # (N, D, C)

    def update_probs(data, responsibilities, weights, params):
        codes = one_hot(data)
        flat = _weighted_average(codes.reshape(codes.shape[0], -1), responsibilities, weights)
        return flat.reshape((num_components,) + codes.shape[1:])

    def features(data):
        return one_hot(data).reshape(data.shape[0], -1)

    return _mixture(
        log_joint,
        num_components,
        init,
        features,
        {"probs": update_probs},
        {"probs": constraints.simplex},
        support.categorical_data("categorical mixture", num_categories),
        lambda params: 1,
        DISCRETE_INIT_SMOOTHING,
    )
