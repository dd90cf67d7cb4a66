"""Built-in hidden Markov models: ordinary :class:`jaxem.MarkovModel` instances with closed-form M-steps.

Every model has ``initial`` (K,) and ``transition`` (K, K) (rows sum to one;
the initial distribution is estimated, not assumed stationary) and the
emission parameters of one family of :mod:`jaxem.families`, the same object
the mixtures use. With ``gamma_{s,t}`` the state marginals,
``Xi_s = sum_t xi_{s,t}`` the expected transition counts and ``w_s`` the
sequence weights, the statistics of a chunk of sequences are

.. math::
    \\sum_s w_s \\gamma_{s,1}, \\qquad \\sum_s w_s \\Xi_s,

and the family's statistics over the real steps as rows, with
responsibilities ``gamma_{s,t}`` and weights ``w_s`` (zero on padding); the
maximiser normalises the first two (a row never visited keeps its old value)
and applies the family's.

Initialisation (one restart): responsibilities from a mixture init scheme
(default k-means++) on the steps as rows give the emission parameters by the
family's start; ``initial`` is uniform and ``transition`` is the
add-one-smoothed count of consecutive assignments. As for the mixtures, the
discrete families mix those responsibilities with the uniform ones.

Data checks and degeneracy are those of :mod:`jaxem.families.support`; every
HMM needs at least K real steps to be fitted (hmmlearn's rule).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from jaxem import constraints, families
from jaxem.families import support
from jaxem.markov import MarkovModel
from jaxem.models.initialisation import check_init, initial_responsibilities, smooth_responsibilities
from jaxem.models.mixtures import check_count
from jaxem.static import ByValue

__all__ = [
    "DirichletStart",
    "HMMBatchEmission",
    "HMMEmission",
    "HMMInit",
    "HMMMaximize",
    "HMMStatistics",
    "categorical_hmm",
    "gaussian_hmm",
    "hmm",
    "log_initial",
    "log_transition",
    "poisson_hmm",
]

_HIGHEST = jax.lax.Precision.HIGHEST


def log_initial(params, z):
    return jnp.log(params["initial"][z])


def log_transition(params, z_prev, z):
    return jnp.log(params["transition"][z_prev, z])


@dataclasses.dataclass(frozen=True, eq=False)
class HMMEmission(ByValue):
    """``log f(x_t | theta_z)`` for one step and one state."""

    family: object

    def __call__(self, params, x, z):
        return self.family.log_density(params, x)[z]


@dataclasses.dataclass(frozen=True, eq=False)
class HMMBatchEmission(ByValue):
    """The emission table ``log f(x_t | theta_k)`` over the T steps of one sequence: (T, K)."""

    family: object

    def __call__(self, params, observations):
        return self.family.log_density_batch(params, observations)


@dataclasses.dataclass(frozen=True, eq=False)
class HMMSampler(ByValue):
    """``sample_emission(key, params, z)``: one step's observation from state ``z``."""

    family: object

    def __call__(self, key, params, z):
        return self.family.sample(key, params, z)


@dataclasses.dataclass(frozen=True, eq=False)
class HMMStatistics(ByValue):
    """Expected initial states, transition counts and the family's statistics over a chunk of sequences."""

    family: object

    def __call__(self, data, marginals, weights, params):
        dtype = marginals.emission.dtype
        weights = weights.astype(dtype)
        num_states = marginals.emission.shape[-1]
        rows = data.flat_observations()
        responsibilities = marginals.emission.reshape(-1, num_states)
        return {
            "initial": jnp.matmul(weights, marginals.initial, precision=_HIGHEST),
            "transition": jnp.einsum("s,sjk->jk", weights, marginals.transition, precision=_HIGHEST),
            "emission": self.family.statistics(rows, responsibilities, data.step_weights(weights), params),
        }


@dataclasses.dataclass(frozen=True, eq=False)
class HMMMaximize(ByValue):
    """``pi_k ∝ sum_s w_s gamma_{s,1}(k)``, ``A_jk ∝ sum_s w_s Xi_s(j, k)`` and the family's maximiser."""

    family: object

    def __call__(self, statistics, params):
        initial = statistics["initial"]
        counts = statistics["transition"]
        totals = jnp.sum(counts, axis=1, keepdims=True)
        visited = totals > 0
        transition = jnp.where(visited, counts / jnp.where(visited, totals, 1.0), params["transition"])
        return {
            "initial": initial / jnp.sum(initial),
            "transition": transition,
            **self.family.maximize(statistics["emission"], params),
        }


@dataclasses.dataclass(frozen=True, eq=False)
class HMMInit(ByValue):
    """``init(key, data)`` for one restart from a mixture init scheme on the steps as rows."""

    family: object
    num_states: int
    scheme: str

    def __call__(self, key, data):
        rows = data.flat_observations()
        points = self.family.seed_features(rows)
        step_weights = data.step_weights(jnp.ones(data.mask.shape[0], points.dtype))
        responsibilities = initial_responsibilities(key, points, self.num_states, self.scheme)
        responsibilities = smooth_responsibilities(responsibilities, self.family.init_smoothing)
        emission = self.family.start(rows, responsibilities, step_weights)
        hard = responsibilities.reshape(data.mask.shape + (self.num_states,))
        both = (data.mask[:, 1:] & data.mask[:, :-1]).astype(hard.dtype)
        counts = jnp.einsum("stj,stk,st->jk", hard[:, :-1], hard[:, 1:], both, precision=_HIGHEST) + 1.0
        return {
            "initial": jnp.full((self.num_states,), 1.0 / self.num_states, points.dtype),
            "transition": counts / jnp.sum(counts, axis=1, keepdims=True),
            **emission,
        }


@dataclasses.dataclass(frozen=True, eq=False)
class DirichletStart(ByValue):
    """hmmlearn's random start: every state's emission rows from a flat Dirichlet, a uniform chain."""

    num_states: int
    num_categories: int

    def __call__(self, key, data):
        rows = data.flat_observations()
        dtype = jnp.result_type(float)
        shape = (self.num_states,) + rows.shape[1:] + (self.num_categories,)
        draw = jax.random.dirichlet(key, jnp.ones(self.num_categories, dtype), shape[:-1])
        probs = draw + jnp.finfo(draw.dtype).tiny  # never an exact zero
        uniform = jnp.full((self.num_states,), 1.0 / self.num_states, dtype)
        return {
            "initial": uniform,
            "transition": jnp.broadcast_to(uniform, (self.num_states, self.num_states)),
            "probs": probs / jnp.sum(probs, axis=-1, keepdims=True),
        }


def hmm(family, num_states: int, *, init, label: str) -> MarkovModel:
    """A :class:`jaxem.MarkovModel` with ``num_states`` states emitting from ``family``."""
    if not callable(init) and not isinstance(init, DirichletStart):
        init = HMMInit(family, num_states, check_init(init))
    return MarkovModel(
        log_initial,
        log_transition,
        HMMEmission(family),
        num_states=num_states,
        init=init,
        constraints={"initial": constraints.simplex, "transition": constraints.simplex, **family.constraints()},
        statistics=HMMStatistics(family),
        maximize=HMMMaximize(family),
        batch_log_emission=HMMBatchEmission(family),
        sample_emission=HMMSampler(family),
        **support.built_in_checks(family, label, num_states, sequences=True),
    )


def gaussian_hmm(
    num_states: int, *, covariance_type: str = "full", reg_covar: float = 1e-6, init="kmeans"
) -> MarkovModel:
    """A hidden Markov model with Gaussian emissions ``x_t | z_t = k ~ N(mu_k, Sigma_k)``.

    M-step (besides ``initial`` and ``transition``): with ``r_{ik}`` the state
    marginals of step ``i`` and ``n_k = sum_i w_i r_ik``,
    ``mu_k = sum_i w_i r_ik x_i / n_k`` and
    ``Sigma_k = sum_i w_i r_ik (x_i - mu_k)(x_i - mu_k)^T / n_k + reg_covar I``
    (restricted to the covariance type), from the statistics of
    :class:`jaxem.families.Gaussian`, the family the Gaussian mixture uses.

    Args:
      num_states: K.
      covariance_type: ``"full"``, ``"diag"``, ``"spherical"`` or ``"tied"``
        (shapes as in :func:`jaxem.models.gaussian_mixture`).
      reg_covar: non-negative value added to the covariance diagonal.
      init: a mixture init scheme (default ``"kmeans"``: k-means on the steps
        as rows, as hmmlearn starts its means) or a callable ``(key, data) -> params``.

    Data: floats (S, T, D). Parameters: ``initial`` (K,), ``transition``
    (K, K), ``means`` (K, D), ``covariances``.

    Example:
      >>> hmm = jaxem.models.gaussian_hmm(3, covariance_type="diag")
      >>> result = jaxem.fit(hmm, sequences, lengths=lengths, key=jax.random.key(0))
    """
    num_states = check_count(num_states, "num_states")
    if not float(reg_covar) >= 0:
        raise ValueError(f"reg_covar must be a non-negative float; got {reg_covar!r}.")
    family = families.Gaussian(families.check_covariance_type(covariance_type), float(reg_covar))
    return hmm(family, num_states, init=init, label="Gaussian HMM")


def poisson_hmm(num_states: int, *, init="kmeans++") -> MarkovModel:
    """A hidden Markov model with Poisson emissions (independent across features).

    .. math::
        \\log p(x_t | z_t = k) = \\sum_d [x_{td} \\log \\lambda_{kd} - \\lambda_{kd} - \\log x_{td}!],
        \\qquad \\lambda_k = \\frac{\\sum_i w_i r_{ik} x_i}{\\sum_i w_i r_{ik}}.

    Data: non-negative counts (S, T) (then ``rates`` is (K,)) or (S, T, D)
    (``rates`` (K, D)). Parameters: ``initial``, ``transition``, ``rates``.

    Example:
      >>> result = jaxem.fit(jaxem.models.poisson_hmm(2), counts[None], key=jax.random.key(0))
    """
    num_states = check_count(num_states, "num_states")
    return hmm(families.Poisson(), num_states, init=init, label="Poisson HMM")


def categorical_hmm(num_states: int, num_categories: int, *, init="dirichlet") -> MarkovModel:
    """A hidden Markov model with categorical emissions.

    .. math::
        \\log p(x_t | z_t = k) = \\sum_d \\log p_{k, d, x_{td}}, \\qquad
        p_{k,d,c} = \\frac{\\sum_i w_i r_{ik} 1[x_{id} = c]}{\\sum_i w_i r_{ik}}.

    Data: integers in ``[0, num_categories)`` of shape (S, T) (then
    ``probs`` is (K, C), as hmmlearn's ``emissionprob_``) or (S, T, D)
    (``probs`` (K, D, C), as the categorical mixture).

    Init: ``"dirichlet"`` (default; hmmlearn's random start) draws every
    emission row from a flat Dirichlet and starts ``initial`` and
    ``transition`` uniform. The mixture schemes are accepted too (their
    responsibilities smoothed), but on symbol data k-means++ seeds are a
    handful of distinct symbols, so its restarts start from a few partitions
    only (``tests/test_hmm.py`` compares both with hmmlearn).

    Example:
      >>> result = jaxem.fit(jaxem.models.categorical_hmm(2, 4), symbols, key=jax.random.key(0))
    """
    num_states = check_count(num_states, "num_states")
    num_categories = check_count(num_categories, "num_categories")
    if init == "dirichlet":
        init = DirichletStart(num_states, num_categories)
    return hmm(families.Categorical(num_categories), num_states, init=init, label="categorical HMM")
