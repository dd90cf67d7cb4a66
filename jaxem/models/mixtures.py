"""Built-in mixture models: Gaussian, Poisson, Bernoulli and categorical.

Each factory returns an ordinary :class:`jaxem.Model` built from one family
of :mod:`jaxem.families`: a complete-data log joint for ONE observation and
ONE component,

    log p(x, z = k) = log pi_k + log f(x | theta_k),

plus the closed-form M-step as additive statistics (``sum_i w_i r_ik`` for
the weights and the family's own) and their maximiser. They go through
exactly the engine a user-written model does, and can be copied or changed:
``dataclasses.replace(model, statistics=None, maximize=None)`` fits the same
mixture by gradient M-steps alone.

Models from equal arguments are equal (their parts are compared by value),
so they share compiled programs, and they pickle.

Initialisation schemes live in :mod:`jaxem.models.initialisation`. The
discrete families (Poisson, Bernoulli, categorical) mix the scheme's
responsibilities with the uniform ones, ``(1 - a) r + a / K`` with
``a = DISCRETE_INIT_SMOOTHING = 0.1``, so every starting probability lies
strictly inside (0, 1) and every rate is positive.

What data each family accepts, and when a component is degenerate, is in
:mod:`jaxem.families.support`. Every mixture needs at least K observations
of positive weight to be fitted (scikit-learn's rule).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from jaxem import constraints, families
from jaxem.families import support
from jaxem.model import Model
from jaxem.models.initialisation import check_init, initial_responsibilities, smooth_responsibilities
from jaxem.static import ByValue

__all__ = [
    "MixtureBatchLogJoint",
    "MixtureInit",
    "MixtureLogJoint",
    "MixtureMaximize",
    "MixtureSampler",
    "MixtureStatistics",
    "bernoulli_mixture",
    "categorical_mixture",
    "check_count",
    "gaussian_mixture",
    "mixture",
    "poisson_mixture",
]

_HIGHEST = jax.lax.Precision.HIGHEST


def check_count(value, name: str) -> int:
    """A size argument (components, states, categories): an int >= 1, else ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an int >= 1; got {value!r}.")
    return value


@dataclasses.dataclass(frozen=True, eq=False)
class MixtureLogJoint(ByValue):
    """``log pi_z + log f(x | theta_z)`` for one observation and one component."""

    family: object

    def __call__(self, params, x, z):
        return jnp.log(params["weights"][z]) + self.family.log_density(params, x)[z]


@dataclasses.dataclass(frozen=True, eq=False)
class MixtureBatchLogJoint(ByValue):
    """The table ``log pi_k + log f(x_i | theta_k)`` for a chunk of observations: (n, K)."""

    family: object

    def __call__(self, params, data):
        return jnp.log(params["weights"]) + self.family.log_density_batch(params, data)


@dataclasses.dataclass(frozen=True, eq=False)
class MixtureStatistics(ByValue):
    """``{"weights": sum_i w_i r_i, "emission": the family's statistics}`` over a chunk."""

    family: object

    def __call__(self, data, responsibilities, weights, params):
        counts = jnp.matmul(weights.astype(responsibilities.dtype), responsibilities, precision=_HIGHEST)
        return {"weights": counts, "emission": self.family.statistics(data, responsibilities, weights, params)}


@dataclasses.dataclass(frozen=True, eq=False)
class MixtureMaximize(ByValue):
    """``pi_k = n_k / sum_k n_k`` and the family's maximiser."""

    family: object

    def __call__(self, statistics, params):
        counts = statistics["weights"]
        return {"weights": counts / jnp.sum(counts), **self.family.maximize(statistics["emission"], params)}


@dataclasses.dataclass(frozen=True, eq=False)
class MixtureSampler(ByValue):
    """``sample(key, params) -> (x, z)``: ``z ~ Categorical(pi)``, then ``x ~ f(. | theta_z)``."""

    family: object

    def __call__(self, key, params):
        key_z, key_x = jax.random.split(key)
        z = jax.random.categorical(key_z, jnp.log(params["weights"])).astype(jnp.int32)
        return self.family.sample(key_x, params, z), z


@dataclasses.dataclass(frozen=True, eq=False)
class MixtureInit(ByValue):
    """``init(key, data)`` for one restart: a scheme's responsibilities (smoothed), then the family's start."""

    family: object
    num_components: int
    scheme: str

    def __call__(self, key, data):
        points = self.family.seed_features(data)
        responsibilities = initial_responsibilities(key, points, self.num_components, self.scheme)
        responsibilities = smooth_responsibilities(responsibilities, self.family.init_smoothing)
        weights = jnp.ones(points.shape[0], points.dtype)
        counts = jnp.sum(responsibilities, axis=0)
        return {"weights": counts / jnp.sum(counts), **self.family.start(data, responsibilities, weights)}


def mixture(family, num_components: int, *, init, label: str) -> Model:
    """A mixture :class:`jaxem.Model` of ``num_components`` components of ``family``."""
    init = check_init(init)
    return Model(
        MixtureLogJoint(family),
        num_states=num_components,
        init=init if callable(init) else MixtureInit(family, num_components, init),
        constraints={"weights": constraints.simplex, **family.constraints()},
        statistics=MixtureStatistics(family),
        maximize=MixtureMaximize(family),
        batch_log_joint=MixtureBatchLogJoint(family),
        sample=MixtureSampler(family),
        **support.built_in_checks(family, label, num_components, sequences=False),
    )


def _check_reg_covar(reg_covar) -> float:
    if not float(reg_covar) >= 0:
        raise ValueError(f"reg_covar must be a non-negative float; got {reg_covar!r}.")
    return float(reg_covar)


def gaussian_mixture(
    num_components: int, *, covariance_type: str = "full", reg_covar: float = 1e-6, init="kmeans"
) -> Model:
    """A Gaussian mixture with a closed-form M-step, as a :class:`jaxem.Model`.

    .. math::
        \\log p(x, z = k) = \\log \\pi_k + \\log N(x \\mid \\mu_k, \\Sigma_k)

    M-step, with ``n_k = sum_i w_i r_ik``: ``pi_k = n_k / sum_i w_i``,
    ``mu_k = sum_i w_i r_ik x_i / n_k``,
    ``Sigma_k = sum_i w_i r_ik (x_i - mu_k)(x_i - mu_k)^T / n_k + reg_covar I``
    (restricted or pooled per ``covariance_type``), from the additive
    statistics of :class:`jaxem.families.Gaussian`.

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
    family = families.Gaussian(families.check_covariance_type(covariance_type), _check_reg_covar(reg_covar))
    return mixture(family, num_components, init=init, label="Gaussian mixture")


def poisson_mixture(num_components: int, *, init="kmeans++") -> Model:
    """A mixture of Poissons (independent across features) with a closed-form M-step.

    .. math::
        \\log p(x, z = k) = \\log \\pi_k + \\sum_d [x_d \\log \\lambda_{kd} - \\lambda_{kd} - \\log x_d!]

    M-step: ``pi_k = n_k / sum_i w_i``, ``lambda_k = sum_i w_i r_ik x_i / n_k``.

    Data: non-negative counts (N,) (then ``rates`` is (K,)) or (N, D)
    (``rates`` (K, D)). Parameters: ``weights`` (K,), ``rates``.

    Example:
      >>> result = jaxem.fit(jaxem.models.poisson_mixture(3), counts, key=jax.random.key(0))
    """
    num_components = check_count(num_components, "num_components")
    return mixture(families.Poisson(), num_components, init=init, label="Poisson mixture")


def bernoulli_mixture(num_components: int, *, init="kmeans++") -> Model:
    """A mixture of independent Bernoulli vectors with a closed-form M-step.

    .. math::
        \\log p(x, z = k) = \\log \\pi_k + \\sum_d [x_d \\log p_{kd} + (1 - x_d) \\log (1 - p_{kd})]

    M-step: ``pi_k = n_k / sum_i w_i``, ``p_k = sum_i w_i r_ik x_i / n_k``.

    Data: binary (N, D) (bool or 0/1). Parameters: ``weights`` (K,),
    ``probs`` (K, D).

    Example:
      >>> result = jaxem.fit(jaxem.models.bernoulli_mixture(4), binary, key=jax.random.key(0))
    """
    num_components = check_count(num_components, "num_components")
    return mixture(families.Bernoulli(), num_components, init=init, label="Bernoulli mixture")


def categorical_mixture(num_components: int, num_categories: int, *, init="kmeans++") -> Model:
    """A mixture of independent categorical features with a closed-form M-step.

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
    family = families.Categorical(check_count(num_categories, "num_categories"))
    return mixture(family, num_components, init=init, label="categorical mixture")
