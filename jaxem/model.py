"""Models: a user-written complete-data log joint over enumerable discrete latents.

Every model the engine fits exposes the same three pieces, so mixtures, the
built-in families and (later) Markov chains share one E-step, one M-step and
one fit driver:

* ``log_potentials(params, unit)`` - a pytree of log-potentials for ONE unit of
  data (one observation for a mixture). It is linear in the complete-data
  log joint: ``log p(x, z) = <indicators(z), potentials>``.
* ``log_partition(potentials, unit)`` - ``log p(x)``, the log-sum-exp of the
  potentials over all latent configurations.
* the posterior marginals are ``grad(log_partition)``: the expected indicators.

For a mixture the potentials are the table ``log p(x, z)`` over every ``z``,
the partition is one ``logsumexp`` and its gradient is the responsibilities.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxem import validation
from jaxem.static import ByValue

__all__ = ["Model"]


def _normalise_num_states(num_states) -> tuple[int, ...]:
    """Returns num_states as a tuple of ints >= 1, or raises naming the argument."""
    if isinstance(num_states, bool):
        raise TypeError(f"num_states must be an int >= 1 or a tuple of such ints; got {num_states!r}.")
    if isinstance(num_states, int) or (hasattr(num_states, "__index__") and not isinstance(num_states, tuple)):
        sizes = (int(num_states),)
    elif isinstance(num_states, (tuple, list)) and len(num_states) > 0:
        sizes = tuple(num_states)
        for size in sizes:
            if isinstance(size, bool) or not isinstance(size, int):
                raise TypeError(
                    f"num_states must be an int >= 1 or a tuple of such ints; got {num_states!r} "
                    f"(entry {size!r} is not an int)."
                )
    else:
        raise TypeError(f"num_states must be an int >= 1 or a non-empty tuple of such ints; got {num_states!r}.")
    if any(size < 1 for size in sizes):
        raise ValueError(f"num_states must be >= 1 in every entry; got {num_states!r}.")
    return sizes


@dataclasses.dataclass(frozen=True, eq=False)
class Model(ByValue):
    """A latent-variable model given by its complete-data log joint.

    Args:
      log_joint: ``log_joint(params, x, z) -> scalar``: ``log p(x, z; params)``
        for ONE observation ``x`` (one slice of the data pytree along its
        leading axis) and ONE latent value ``z`` (an int32 scalar, or a tuple
        of int32 scalars when ``num_states`` is a tuple). May return ``-inf``
        for impossible pairs.
      num_states: ``K``, or ``(K1, K2, ...)`` for several discrete latents
        enumerated jointly.
      init: ``init(key, data) -> params`` for ONE restart. Optional if every
        fit passes ``init_params``.
      constraints: a pytree prefix of the params holding
        :mod:`jaxem.constraints` objects (default ``real``). When params are a
        dict, top-level keys left out are ``real``.
      statistics: the closed-form M-step's data half:
        ``statistics(data, responsibilities, weights, params) -> pytree`` for
        a CHUNK of observations (``data`` leaves (n, ...),
        ``responsibilities`` (n, *num_states), ``weights`` (n,), zero for
        observations counted in another chunk), at the E-step's ``params``.
        Its results must ADD over disjoint chunks (sums over observations,
        e.g. ``sum_i w_i r_ik x_i``): the engine sums them over chunks and
        devices.
      maximize: the other half: ``maximize(statistics, params) -> dict`` of
        the new values of the parameters it sets, from the summed statistics
        and the E-step's params. Parameters it does not return are set by
        gradient ascent on Q.
      log_prior: ``log_prior(params) -> scalar``; makes the fit MAP-EM.
      batch_log_joint: optional ``batch_log_joint(params, data) -> (n,
        *num_states)``, the table of ``log_joint`` for a CHUNK of n
        observations at once. It must equal ``log_joint`` on every entry; the
        E-step and Q use it instead of evaluating ``log_joint`` per
        observation, so a model can share work across the chunk (the
        built-ins write their log-densities as one matrix product per chunk).
      validate_data: optional host-side check of the data, run before
        anything is traced: ``validate_data(data) -> data`` raises
        ``ValueError``/``TypeError`` naming what is wrong (e.g. symbols
        outside ``[0, C)``) and returns the data, possibly converted (e.g.
        integers to float).
      degenerate: optional ``degenerate(params, counts) -> bool scalar``,
        traced at the end of every restart: whether the fitted restart is
        degenerate, given ``counts``, the expected number of observations per
        latent value (shape ``num_states``; weights rescaled to sum to the
        number of observations of positive weight). Flagged in
        ``FitResult.restarts.degenerate``; a degenerate best restart warns.
      min_observations: fits need at least this many observations with
        positive weight (default 1; the built-in mixtures need one per
        component, as scikit-learn requires).
      sample: optional ``sample(key, params) -> (x, z)``, one draw of an
        observation and its latent value from the joint; needed by
        :func:`jaxem.sample`.

    Example:
      >>> def log_joint(params, x, z):
      ...     return jnp.log(params["weights"][z]) + jax.scipy.stats.norm.logpdf(
      ...         x, params["means"][z], params["scales"][z])
      >>> model = jaxem.Model(log_joint, num_states=2, init=init,
      ...     constraints={"weights": jaxem.constraints.simplex,
      ...                  "scales": jaxem.constraints.positive})
    """

    log_joint: Callable[..., Any]
    num_states: Any
    init: Callable[..., Any] | None = None
    constraints: Any = None
    statistics: Callable[..., Any] | None = None
    maximize: Callable[..., Any] | None = None
    log_prior: Callable[..., Any] | None = None
    batch_log_joint: Callable[..., Any] | None = None
    validate_data: Callable[..., Any] | None = None
    degenerate: Callable[..., Any] | None = None
    min_observations: int = 1
    sample: Callable[..., Any] | None = None

    unit_name = "observation"

    def __post_init__(self):
        if not callable(self.log_joint):
            raise TypeError(f"log_joint must be callable (params, x, z) -> scalar; got {self.log_joint!r}.")
        _normalise_num_states(self.num_states)
        validation.check_model_functions(
            self,
            {
                "init": "(key, data) -> params",
                "statistics": "(data, responsibilities, weights, params) -> statistics",
                "maximize": "(statistics, params) -> dict",
                "log_prior": "(params) -> scalar",
                "batch_log_joint": "(params, data) -> table",
                "validate_data": "(data) -> data",
                "degenerate": "(params, counts) -> bool",
                "sample": "(key, params) -> (x, z)",
            },
        )
        validation.check_positive_int(self.min_observations, "min_observations")

    # ------------------------------------------------------------------ engine protocol
    @property
    def state_shape(self) -> tuple[int, ...]:
        return _normalise_num_states(self.num_states)

    def units(self, data, lengths=None, check: bool = True):
        """The per-unit data the engine vmaps over (for a mixture, the data itself); with ``check``
        (concrete data), checked on the host: finite, and through ``validate_data``."""
        if lengths is not None:
            raise ValueError("lengths is only for MarkovModel sequences; got lengths for a mixture Model.")
        if not check:
            return data
        validation.check_finite(data)
        return data if self.validate_data is None else self.validate_data(data)

    def potential_count(self, example_unit) -> int:
        """Numbers in one unit's log-potentials (for the chunk-size budget)."""
        del example_unit
        return math.prod(self.state_shape)

    def observation_count(self, units, weights) -> int:
        """Observations with positive weight (host-side)."""
        del units
        return int(np.count_nonzero(np.asarray(weights) > 0))

    def weighted_counts(self, marginals, weights):
        """``sum_i w_i p(z | x_i)`` over a chunk: expected observations per latent value."""
        return jnp.tensordot(jnp.where(weights > 0, weights, 0.0), marginals, axes=1)

    def statistics_data(self, units):
        """What ``init`` and ``statistics`` receive as ``data``."""
        return units

    def latent_values(self):
        """Every latent configuration, flattened: a tuple of int32 arrays (or one array)."""
        shape = self.state_shape
        flat = jnp.arange(math.prod(shape), dtype=jnp.int32)
        if isinstance(self.num_states, (tuple, list)):
            return tuple(i.astype(jnp.int32) for i in jnp.unravel_index(flat, shape))
        return flat

    def log_potentials(self, params, unit):
        """The table ``log p(x, z)`` over every ``z``, shape ``num_states``."""
        table = jax.vmap(lambda z: self.log_joint(params, unit, z))(self.latent_values())
        return table.reshape(self.state_shape)

    def chunk_potentials(self, params, units):
        """The log-potentials of every unit of a chunk (leading axis n): ``batch_log_joint`` when
        given, else ``log_potentials`` per unit."""
        if self.batch_log_joint is None:
            return jax.vmap(lambda unit: self.log_potentials(params, unit))(units)
        table = self.batch_log_joint(params, units)
        return table.reshape((jax.tree.leaves(units)[0].shape[0],) + self.state_shape)

    def log_partition(self, potentials, unit):
        del unit
        return jax.nn.logsumexp(potentials)

    def log_partition_and_marginals(self, potentials, unit):
        """``(log p(x), p(z | x))``: the log-sum-exp of the table and its gradient, the softmax,
        from one exponential per entry (autodiff of ``logsumexp`` would take a second)."""
        del unit
        top = jnp.max(potentials)
        top = jax.lax.stop_gradient(jnp.where(jnp.isfinite(top), top, 0.0))
        scaled = jnp.exp(potentials - top)
        total = jnp.sum(scaled)
        # An impossible observation (every entry -inf) has log p(x) = -inf and no posterior mass.
        return top + jnp.log(total), jnp.where(total > 0, scaled / jnp.where(total > 0, total, 1.0), 0.0)

    def example_log_joint(self, params, unit):
        """``log_joint`` at one (unit, latent value): for shape checks before tracing."""
        z = self.latent_values()
        first = tuple(i[0] for i in z) if isinstance(z, tuple) else z[0]
        return self.log_joint(params, unit, first)

    def posterior_output(self, marginals):
        """What :func:`jaxem.posterior` returns: responsibilities (N, *num_states)."""
        return marginals
