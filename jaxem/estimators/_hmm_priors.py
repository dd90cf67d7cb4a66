"""hmmlearn's M-step for its HMMs: the MAP update under its conjugate priors (and a wrapper that
holds parameters of any jaxem model fixed, :class:`FixedMaximize`).

hmmlearn 0.3.3 puts a Dirichlet prior on ``startprob_``, on every row of
``transmat_`` and (categorical) of ``emissionprob_``; a Normal prior on the
Gaussian means (centre ``means_prior``, weight ``means_weight``), an inverse
gamma (diag, spherical) or inverse Wishart (full, tied) prior on the
covariances (``covars_prior``, ``covars_weight``) and a gamma prior on the
Poisson rates (``lambdas_prior``, ``lambdas_weight``). With ``n_k`` the
expected count of state ``k`` and the others jaxem's expected statistics,
hmmlearn's updates are

.. math::
    \\pi \\propto \\max(a_\\pi - 1 + E[z_1], 0), \\qquad
    A_{j\\cdot} \\propto \\max(a_A - 1 + \\Xi_{j\\cdot}, 0), \\qquad
    \\mu_k = \\frac{w \\mu_0 + \\sum_t r_{tk} x_t}{w + n_k},

    \\Sigma_k = \\frac{C_0 + w (\\mu_k - \\mu_0)(\\mu_k - \\mu_0)^T
        + \\sum_t r_{tk} (x_t - \\mu_k)(x_t - \\mu_k)^T}{\\max(c - D, 0) + n_k}

(full; tied pools the numerators and the counts; diag takes the diagonal
over ``max(max(c - 1, 0) + n_k, 1e-5)`` and spherical the mean of the diag
answer over the features), ``lambda_k = (alpha + N ybar_k) / (beta + N)``
with ``ybar_k`` the state's mean and ``N = sum_k n_k`` (hmmlearn's ``N``),
and ``B_k ∝ max(a_B - 1 + counts_k, 0)``. A full or tied covariance that
is not positive definite gets ``1e-7 I`` added, hmmlearn's fallback. An entry of ``startprob_`` or
``transmat_`` that is zero stays zero. A row whose numerator is all zero
keeps its values (hmmlearn leaves it zero).

The priors are given in hmmlearn's arithmetic: each broadcasts as NumPy
broadcasts it against the statistic it is added to; the weights
``means_weight`` and ``covars_weight`` are a scalar or one value per state.
They become static fields (nested tuples), so equal priors share compiled
programs. The defaults are flat except ``covars_prior=1e-2``, which adds
``1e-2 / n_k`` to every entry of a state's covariance.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from jaxem.static import ByValue

__all__ = ["FixedMaximize", "PriorMaximize", "check_prior", "check_weight"]

_HIGHEST = jax.lax.Precision.HIGHEST
DEFINITE_FLOOR = 1e-7  # hmmlearn's min_covar in its full-covariance density


def check_prior(value, name: str, shape: tuple) -> tuple:
    """``value`` broadcast (NumPy's rule) to ``shape`` as nested tuples; ``ValueError`` naming ``name``
    when it does not broadcast or is not finite."""
    try:
        array = np.broadcast_to(np.asarray(value, dtype=float), shape)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"{name} must be a number or an array that broadcasts to {shape}; got {np.shape(value)!r} ({error})."
        ) from None
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite; got {value!r}.")
    return _frozen(array)


def check_weight(value, name: str, num_states: int, trailing: int) -> tuple:
    """A weight given as a scalar or one value per state, as (K, 1, ...) with ``trailing`` unit axes."""
    array = np.asarray(value, dtype=float)
    if array.ndim == 1 and array.shape[0] == num_states:
        array = array.reshape((num_states,) + (1,) * trailing)
    elif array.ndim != 0:
        raise ValueError(f"{name} must be a number or one value per state, shape ({num_states},); got {array.shape}.")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite; got {value!r}.")
    return _frozen(np.broadcast_to(array, (num_states,) + (1,) * trailing))


def _frozen(array):
    return tuple(_frozen(row) for row in array) if array.ndim else float(array)


def _dirichlet(prior, counts, old, keep_zeros=True):
    """``max(prior - 1 + counts, 0)`` normalised over the last axis (zero where ``old`` is zero, with
    ``keep_zeros``); a row with nothing left keeps ``old``."""
    value = jnp.maximum(prior - 1.0 + counts, 0.0)
    if keep_zeros:
        value = jnp.where(old == 0, 0.0, value)
    total = jnp.sum(value, axis=-1, keepdims=True)
    return jnp.where(total > 0, value / jnp.where(total > 0, total, 1.0), old)


def _definite(covariances):
    """hmmlearn's fallback for a matrix that is not positive definite (a state on too few points):
    ``1e-7 I`` added (hmmlearn adds it when it evaluates the density; here it is kept)."""
    eye = jnp.eye(covariances.shape[-1], dtype=covariances.dtype)
    failed = ~jnp.all(jnp.isfinite(jnp.linalg.cholesky(covariances)), axis=(-2, -1), keepdims=True)
    return jnp.where(failed, covariances + DEFINITE_FLOOR * eye, covariances)


@dataclasses.dataclass(frozen=True, eq=False)
class PriorMaximize(ByValue):
    """hmmlearn's M-step (see the module docstring) for a built-in HMM over ``family``, from jaxem's
    statistics; the parameters named in ``fixed`` keep their previous values (with fixed means the
    covariances are taken about them). ``priors`` maps hmmlearn's argument names to the values from
    :func:`check_prior` and :func:`check_weight`."""

    family: object
    priors: dict
    fixed: tuple = ()

    def __call__(self, statistics, params):
        dtype = statistics["transition"].dtype
        prior = {name: jnp.asarray(value, dtype) for name, value in self.priors.items()}
        new = {
            "initial": _dirichlet(prior["startprob_prior"], statistics["initial"], params["initial"]),
            "transition": _dirichlet(prior["transmat_prior"], statistics["transition"], params["transition"]),
        }
        emission = {"Gaussian": self._gaussian, "Poisson": self._poisson, "categorical": self._categorical}
        new.update(emission[self.family.name](statistics["emission"], params, prior))
        return {name: params[name] if name in self.fixed else value for name, value in new.items()}

    def _gaussian(self, statistics, params, prior):
        covariance_type = self.family.covariance_type
        num_features = params["means"].shape[-1]
        counts = statistics["counts"]
        floored = (counts + 10 * jnp.finfo(counts.dtype).eps)[:, None]  # the family's floor: empty states stay finite
        # The maximum-likelihood means and covariances (about those means), from the family itself.
        ml = dataclasses.replace(self.family, reg_covar=0.0).maximize(statistics, params)
        weight = prior["means_weight"]  # (K, 1)
        if "means" in self.fixed:
            means = params["means"]
        else:
            means = (weight * prior["means_prior"] + floored * ml["means"]) / (weight + floored)
        offset = ml["means"] - means  # sum_t r (x - mu)(x - mu)^T = n (Sigma_ml + offset offset^T)
        spread = means - prior["means_prior"]
        covars_weight = prior["covars_weight"][:, 0]  # (K,)
        if covariance_type == "diag":
            residual = floored * (ml["covariances"] + offset**2)
        elif covariance_type == "spherical":  # the family's variance is the mean over the features
            residual = floored * (ml["covariances"][:, None] + jnp.mean(offset**2, axis=-1, keepdims=True))
        if covariance_type in ("diag", "spherical"):
            numerator = prior["covars_prior"] + weight * spread**2 + residual
            covariances = numerator / jnp.maximum(jnp.maximum(covars_weight - 1.0, 0.0) + counts, 1e-5)[:, None]
            if covariance_type == "spherical":
                covariances = jnp.mean(covariances, axis=-1)
            return {"means": means, "covariances": covariances}
        outer = lambda v: v[:, :, None] * v[:, None, :]
        numerator = weight[:, :, None] * outer(spread)
        extra = jnp.maximum(covars_weight - num_features, 0.0)
        if covariance_type == "full":
            numerator = numerator + floored[:, :, None] * (ml["covariances"] + outer(offset))
            covariances = (prior["covars_prior"] + numerator) / (extra + floored[:, 0])[:, None, None]
        else:  # tied: the family pools sum_k n_k Sigma_ml,k / sum_k n_k
            scatter = jnp.sum(counts) * ml["covariances"] + jnp.einsum(
                "k,kij->ij", counts, outer(offset), precision=_HIGHEST
            )
            covariances = (prior["covars_prior"] + jnp.sum(numerator, axis=0) + scatter) / (extra[0] + jnp.sum(counts))
        return {"means": means, "covariances": _definite(0.5 * (covariances + jnp.swapaxes(covariances, -1, -2)))}

    def _poisson(self, statistics, params, prior):
        counts = statistics[:, :1]
        total = jnp.sum(counts)
        state_means = statistics[:, 1:] / (counts + 10 * jnp.finfo(counts.dtype).eps)
        rates = (prior["lambdas_prior"] + total * state_means) / (prior["lambdas_weight"] + total)
        rates = jnp.maximum(rates, jnp.finfo(rates.dtype).tiny)
        return {"rates": rates.reshape(params["rates"].shape)}

    def _categorical(self, statistics, params, prior):
        counts = statistics.reshape(params["probs"].shape)
        return {"probs": _dirichlet(prior["emissionprob_prior"], counts, params["probs"], keep_zeros=False)}


@dataclasses.dataclass(frozen=True, eq=False)
class FixedMaximize(ByValue):
    """``maximize`` that returns the previous value of every parameter named in ``fixed``, for any
    jaxem model. With fixed ``means`` and free ``covariances`` (Gaussian) the first moments are
    zeroed before the family's maximiser, so the covariances are taken about the fixed means:
    ``sum_i r_ik (x_i - mu_k)(x_i - mu_k)^T / n_k``. (The estimators hold letters fixed through
    :class:`PriorMaximize`, which does the same for hmmlearn's M-step.)"""

    maximize: object
    fixed: tuple

    def __call__(self, statistics, params):
        if "means" in self.fixed and "covariances" in params and "covariances" not in self.fixed:
            emission = dict(statistics["emission"], sums=jnp.zeros_like(statistics["emission"]["sums"]))
            statistics = dict(statistics, emission=emission)
        new = self.maximize(statistics, params)
        return {name: params[name] if name in self.fixed else value for name, value in new.items()}
