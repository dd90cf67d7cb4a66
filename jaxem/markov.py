"""Markov-chain latents: hidden Markov models from three user-written factors.

The complete-data log joint of one sequence of length ``L`` is

.. math::
    \\log p(x_{1:L}, z_{1:L}) = \\phi^{init}(z_1) + \\sum_{t=2}^{L} \\phi^{trans}(z_{t-1}, z_t)
        + \\sum_{t=1}^{L} \\phi^{emit}_t(z_t),

with ``phi_init(k) = log_initial(params, k)``, ``phi_trans(j, k) =
log_transition(params, j, k)`` (one K x K table shared by every step) and
``phi_emit_t(k) = log_emission(params, x_t, k)``. Those three tables are the
log-potentials (:class:`ChainPotentials`) of :class:`MarkovModel`, so the
generic engine (:mod:`jaxem.estep`, :mod:`jaxem.mstep`, :mod:`jaxem.fit`)
fits it exactly as it fits a mixture:

* the log-partition ``A(phi) = log p(x_{1:L})`` is the forward algorithm in
  log space, a ``lax.scan`` over steps (or, with ``parallel=True``, the
  log-semiring product of the per-step tables reduced in a balanced tree,
  O(log T) depth);
* its gradient is the posterior (Eisner 2016): ``dA/dphi_init = gamma_1``,
  ``dA/dphi_emit_t = gamma_t`` and, because the transition table is shared,
  ``dA/dphi_trans = sum_t xi_t``, the expected transition counts;
* Q is ``sum_s w_s <grad A(phi_s(theta_t)), phi_s(theta)>``.

Ragged batches: data leaves have shape ``(S, T, ...)`` and ``lengths`` (S,)
gives each sequence's length. Steps ``t >= length`` are padding: before any
user function sees them they are replaced by the sequence's first step, their
emission potentials are zero and the log-likelihood reads the forward message
at the last real step, so their values never influence a result.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxem import validation
from jaxem.static import ByValue

__all__ = [
    "ChainPotentials",
    "MarkovModel",
    "MarkovPosterior",
    "SequenceData",
    "Sequences",
    "check_model",
    "checked_inputs",
    "finite_max",
    "log_partition",
    "pairwise_marginals",
]

_HIGHEST = jax.lax.Precision.HIGHEST


class Sequences(NamedTuple):
    """One unit of the engine (or a batch with a leading sequence axis S)."""

    observations: Any  # pytree, leaves (T, ...) (or (S, T, ...))
    length: jax.Array | None  # int32 scalar (or (S,)); None: every sequence fills all T steps


class ChainPotentials(NamedTuple):
    """Log-potentials of one sequence; the same structure holds the marginals.

    Attributes:
      initial: (K,) ``log_initial(params, k)``; as a marginal, ``gamma_1``.
      transition: (K, K) shared ``log_transition(params, j, k)``; as a
        marginal, the expected counts ``sum_t xi_t(j, k)``. Per-step tables
        (T-1, K, K) are accepted by :func:`log_partition` (used by
        :func:`pairwise_marginals`).
      emission: (T, K) ``log_emission(params, x_t, k)``, zero on padding; as
        a marginal, ``gamma_t(k)`` (zero rows on padding).
    """

    initial: jax.Array
    transition: jax.Array
    emission: jax.Array


class MarkovPosterior(NamedTuple):
    """What :func:`jaxem.posterior` returns for a :class:`MarkovModel`.

    Attributes:
      states: (S, T, K) ``gamma_t(k) = p(z_t = k | x)``; rows of padding steps are zero.
      transitions: (S, K, K) expected transition counts ``sum_t p(z_{t-1}=j, z_t=k | x)``.
        Per-step pairwise marginals are given by :func:`pairwise_marginals`.
    """

    states: jax.Array
    transitions: jax.Array


class SequenceData(NamedTuple):
    """What ``init`` and ``statistics`` receive as ``data`` (for ``statistics``, a chunk of sequences).

    Attributes:
      observations: the data pytree, leaves (S, T, ...), with every padding
        step replaced by its sequence's first step (so it is finite and valid).
      mask: (S, T) bool, True on real steps.
      lengths: (S,) int32.
    """

    observations: Any
    mask: jax.Array
    lengths: jax.Array

    def flat_observations(self):
        """The observations with the sequence and step axes merged: leaves (S*T, ...)."""
        return jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), self.observations)

    def step_weights(self, weights):
        """Per-step weights (S*T,): the sequence weight on real steps, 0 on padding."""
        return (weights[:, None] * self.mask).reshape(-1)


def _check_num_states(num_states) -> int:
    if isinstance(num_states, bool) or not isinstance(num_states, (int, np.integer)):
        raise TypeError(f"num_states must be an int >= 1 (the number of hidden states K); got {num_states!r}.")
    if num_states < 1:
        raise ValueError(f"num_states must be >= 1; got {num_states}.")
    return int(num_states)


def _check_lengths(lengths, num_sequences: int, num_steps: int):
    """``lengths`` as int32 (S,), or None when every sequence fills all T steps."""
    host = np.asarray(lengths)
    if host.shape != (num_sequences,):
        raise ValueError(f"lengths must have shape ({num_sequences},), one per sequence; got shape {host.shape}.")
    if not np.issubdtype(host.dtype, np.integer):
        raise TypeError(f"lengths must be integers; got dtype {host.dtype}.")
    if np.any(host < 1) or np.any(host > num_steps):
        raise ValueError(f"lengths must lie in [1, T={num_steps}]; got minimum {host.min()} and maximum {host.max()}.")
    if np.all(host == num_steps):  # no padding: the forward needs no length bookkeeping
        return None
    return jnp.asarray(host, jnp.int32)


def _pad_mask(length, num_steps):
    return jnp.arange(num_steps) < length


def _fill_padding(observations, mask):
    """Replaces padding steps by step 0, so user functions only see real observations."""

    def fill(x):
        keep = mask.reshape(mask.shape + (1,) * (x.ndim - mask.ndim))
        first = jax.lax.slice_in_dim(x, 0, 1, axis=mask.ndim - 1)
        return jnp.where(keep, x, first)

    return jax.tree.map(fill, observations)


# ---------------------------------------------------------------------- log-semiring pieces
def _log_safe(x):
    """``log x`` with ``log 0 = -inf`` and a finite (zero) gradient there."""
    positive = x > 0
    return jnp.where(positive, jnp.log(jnp.where(positive, x, 1.0)), -jnp.inf)


def _logsumexp(x, axis):
    """``jax.nn.logsumexp`` that gives ``-inf`` with a zero (not NaN) gradient on all ``-inf`` input."""
    any_finite = jnp.any(x > -jnp.inf, axis=axis, keepdims=True)
    value = jax.nn.logsumexp(jnp.where(any_finite, x, 0.0), axis=axis)
    return jnp.where(jnp.squeeze(any_finite, axis), value, -jnp.inf)


def finite_max(x, axis=None, keepdims=False):
    """``stop_gradient(max x)`` over finite entries (0 where there are none)."""
    m = jnp.max(jnp.where(jnp.isfinite(x), x, -jnp.inf), axis=axis, keepdims=keepdims)
    return jax.lax.stop_gradient(jnp.where(jnp.isfinite(m), m, 0.0))


def _forward_sequential(potentials, length):
    """``log p(x_{1:L})`` by the forward recursion in log space.

    .. math::
        \\alpha_1 = \\phi^{init} + \\phi^{emit}_1, \\quad
        \\alpha_t(k) = \\operatorname{logsumexp}_j [\\alpha_{t-1}(j) + \\phi^{trans}(j, k)]
            + \\phi^{emit}_t(k), \\quad
        \\log p(x_{1:L}) = \\operatorname{logsumexp}_k \\alpha_L(k).

    The carry is the normalised message ``a_t = alpha_t - c_t`` with ``c_t =
    max_k alpha_t(k)`` (so ``max a_t = 0``), and ``log p(x_{1:L}) = sum_{t<=L}
    (c_t - c_{t-1}) + logsumexp a_L``. Carrying ``alpha_t`` itself, which
    grows like ``-t`` nats, would leave float32 an absolute resolution that
    shrinks with the sequence length (tested in
    ``tests/test_hmm.py::test_float32_long_sequence_keeps_its_precision``).

    The logsumexp over ``j`` is evaluated as the product
    ``s + log sum_j exp(a(j)) exp(phi(j, k) - s)`` with ``s = max phi``
    (exact; one K x K matvec per step instead of K^2 exponentials). It loses a
    state only when all of its incoming mass is below ``exp(-700)`` (float64)
    / ``exp(-87)`` (float32) relative to the largest forward message.

    The recursion runs over all T steps and the result reads ``a_L`` and the
    increments ``c_t - c_{t-1}`` up to ``L``: both depend only on steps
    ``<= L``, so the padding steps after ``L`` never reach the result and
    their gradients (marginals) are exactly zero, with no per-step mask.
    Reading ``a_L`` needs every message kept; with ``length=None`` (no
    padding: ``L = T``) the scan keeps only the last one and the scales.
    """
    initial, transition, emission = potentials
    shift = finite_max(transition, axis=(-2, -1), keepdims=True)
    probabilities = jnp.exp(transition - shift)  # (K, K) or (T-1, K, K)
    shared = transition.ndim == 2

    def normalise(alpha):
        scale = finite_max(alpha)  # stop_gradient: the result does not depend on it
        return alpha - scale, scale

    def step(message, inputs):
        emission_t, probabilities_t, shift_t = inputs
        if shared:
            probabilities_t, shift_t = probabilities, shift
        total = jnp.matmul(jnp.exp(message), probabilities_t, precision=_HIGHEST)
        message, scale = normalise(_log_safe(total) + shift_t.reshape(()) + emission_t)
        return message, (scale if length is None else (message, scale))

    first, first_scale = normalise(initial + emission[0])
    num_steps = emission.shape[0]
    if num_steps == 1:
        return first_scale + _logsumexp(first, axis=0)
    per_step = (None, None) if shared else (probabilities, shift)
    if length is None:
        last, scales = jax.lax.scan(step, first, (emission[1:],) + per_step)
        return first_scale + jnp.sum(scales) + _logsumexp(last, axis=0)
    _, (messages, scales) = jax.lax.scan(step, first, (emission[1:],) + per_step)  # index i: step i + 2
    last = jnp.where(length > 1, messages[jnp.maximum(length - 2, 0)], first)
    increments = jnp.where(jnp.arange(num_steps - 1) < length - 1, scales, 0.0)
    return first_scale + jnp.sum(increments) + _logsumexp(last, axis=0)


def _log_matmul(a, b):
    """``(a (x) b)_{ik} = logsumexp_j (a_ij + b_jk)`` over the trailing two axes (exact)."""
    return _logsumexp(a[..., :, :, None] + b[..., None, :, :], axis=-2)


def _step_tables(potentials, length):
    """The per-step log-semiring tables ``M_1..M_T`` (T, K, K) and the identity (K, K).

    ``M_1(j, k) = phi_init(k) + phi_emit_1(k)`` (every row equal),
    ``M_t(j, k) = phi_trans(j, k) + phi_emit_t(k)`` for ``t >= 2``, and the
    identity (0 on the diagonal, ``-inf`` elsewhere) on padding steps; every
    row of their product is ``alpha_L``. ``phi_trans`` may be shared (K, K)
    or per step (T-1, K, K).
    """
    initial, transition, emission = potentials
    num_steps, k = emission.shape
    first = jnp.broadcast_to(initial + emission[0], (k, k))[None]
    transitions = jnp.broadcast_to(transition, (num_steps - 1, k, k))
    identity = jnp.where(jnp.eye(k, dtype=bool), 0.0, -jnp.inf).astype(emission.dtype)
    rest = transitions + emission[1:, None, :]
    if length is not None:
        rest = jnp.where((jnp.arange(1, num_steps) < length)[:, None, None], rest, identity)
    return jnp.concatenate([first, rest], axis=0), identity


def _normalise_tables(tables):
    """``(tables - c, c)`` with ``c`` the largest finite entry of each trailing K x K table."""
    scale = finite_max(tables, axis=(-2, -1))
    return tables - scale[..., None, None], scale


def _forward_parallel(potentials, length):
    """``log p(x_{1:L})`` as a log-semiring product reduced in a balanced tree (depth O(log T)).

    Every row of the log-semiring product ``M_1 (x) M_2 (x) ... (x) M_T`` of
    the per-step tables (:func:`_step_tables`) is ``alpha_L``. The product is
    associative, so adjacent pairs are multiplied level by level: ``log2 T``
    levels of batched K x K log-matmuls, ``O(T K^3)`` work (the sequential
    scan does ``O(T K^2)`` in ``T`` steps). Only the whole product is formed,
    not every prefix as ``lax.associative_scan`` would (half the work): the
    marginals are its gradient, whose backward pass runs down the same tree.

    Each table is carried as ``(M - c, c)`` with ``c`` its largest finite
    entry, so the tables stay near zero and float32 keeps its resolution on
    long sequences; the ``c`` add up separately.
    """
    tables, identity = _step_tables(potentials, length)
    tables, scales = _normalise_tables(tables)
    while tables.shape[0] > 1:  # log2(T) levels, unrolled at trace time
        if tables.shape[0] % 2:
            tables = jnp.concatenate([tables, identity[None]], axis=0)
            scales = jnp.concatenate([scales, jnp.zeros((1,), scales.dtype)])
        tables, scale = _normalise_tables(_log_matmul(tables[0::2], tables[1::2]))
        scales = scales[0::2] + scales[1::2] + scale
    return scales[0] + _logsumexp(tables[0, 0], axis=0)


def log_partition(potentials: ChainPotentials, length, parallel: bool = False):
    """``log p(x_{1:L})`` of one sequence from its log-potentials (differentiable).

    ``length`` is ``L`` (an int32 scalar), or None when the sequence fills all
    ``T`` steps of its potentials.
    """
    forward = _forward_parallel if parallel else _forward_sequential
    return forward(potentials, length)


# ---------------------------------------------------------------------- the model
@dataclasses.dataclass(frozen=True, eq=False)
class MarkovModel(ByValue):
    """A hidden Markov model given by three factors of its complete-data log joint.

    ``log p(x_{1:T}, z_{1:T}) = log_initial(z_1) + sum_t log_transition(z_{t-1}, z_t)
    + sum_t log_emission(x_t, z_t)``; :func:`jaxem.fit`, :func:`jaxem.em_step`,
    :func:`jaxem.log_likelihood` and :func:`jaxem.posterior` accept it as
    they accept a :class:`jaxem.Model`, with ``data`` a pytree of leaves
    ``(num_sequences, T, ...)`` and optional ``lengths`` (num_sequences,).
    Sample weights are per sequence, so :func:`jaxem.fit`'s ``tol`` is a
    change of the objective per unit-weight sequence (not per step).

    Args:
      log_initial: ``(params, z) -> scalar``, ``log p(z_1 = z)``.
      log_transition: ``(params, z_prev, z) -> scalar``, ``log p(z_t = z | z_{t-1} = z_prev)``.
      log_emission: ``(params, x, z) -> scalar``, ``log p(x_t | z_t = z)`` for
        one step ``x`` (leaves of shape ``(...)``).
      num_states: ``K``.
      init: ``(key, data) -> params`` for one restart; ``data`` is a
        :class:`SequenceData`.
      constraints: as for :class:`jaxem.Model`.
      statistics: the closed-form M-step's data half,
        ``statistics(data, marginals, weights, params) -> pytree`` for a
        CHUNK of n sequences: ``data`` a :class:`SequenceData`, ``marginals``
        a :class:`ChainPotentials` with a leading sequence axis (``initial``
        (n, K) = gamma_1, ``transition`` (n, K, K) = sum_t xi_t, ``emission``
        (n, T, K) = gamma_t) and ``weights`` (n,) (zero for sequences counted
        in another chunk). Its results must add over disjoint chunks.
      maximize: ``maximize(statistics, params) -> dict`` of new values, as
        for :class:`jaxem.Model`.
      log_prior: ``(params) -> scalar`` for MAP-EM.
      batch_log_emission: optional ``(params, observations) -> (T, K)``, the
        table of ``log_emission`` over the T steps of ONE sequence at once
        (leaves (T, ...)); it must equal ``log_emission`` entry by entry. Used
        instead of evaluating ``log_emission`` per step and state.
      sample_emission: optional ``(key, params, z) -> x``, one observation
        from state ``z``; needed by :func:`sample_sequences` for observations.
      parallel: if True the E-step forms the log-semiring product of the
        per-step tables in a balanced tree (O(log T) depth, O(T K^3) work)
        instead of the ``lax.scan`` recursion (T steps, O(T K^2) work).
      validate_data: optional host-side ``(observations) -> observations``
        check of the step observations (leaves (S, T, ...), padding already
        replaced by real steps), as for :class:`jaxem.Model`.
      degenerate: optional ``(params, counts) -> bool scalar`` with ``counts``
        (K,) the expected number of steps in each state, as for
        :class:`jaxem.Model`.
      min_observations: fits need at least this many real steps in
        sequences of positive weight (default 1; built-ins: one per state, as
        hmmlearn requires).

    Example:
      >>> hmm = jaxem.MarkovModel(
      ...     log_initial=lambda p, z: jnp.log(p["initial"][z]),
      ...     log_transition=lambda p, i, j: jnp.log(p["transition"][i, j]),
      ...     log_emission=lambda p, x, z: jax.scipy.stats.poisson.logpmf(x, p["rates"][z]),
      ...     num_states=2, init=init,
      ...     constraints={"initial": jaxem.constraints.simplex,
      ...                  "transition": jaxem.constraints.simplex,
      ...                  "rates": jaxem.constraints.positive})
      >>> result = jaxem.fit(hmm, counts, lengths=lengths, key=jax.random.key(0))
    """

    log_initial: Callable[..., Any]
    log_transition: Callable[..., Any]
    log_emission: Callable[..., Any]
    num_states: int
    init: Callable[..., Any] | None = None
    constraints: Any = None
    statistics: Callable[..., Any] | None = None
    maximize: Callable[..., Any] | None = None
    log_prior: Callable[..., Any] | None = None
    batch_log_emission: Callable[..., Any] | None = None
    sample_emission: Callable[..., Any] | None = None
    parallel: bool = False
    validate_data: Callable[..., Any] | None = None
    degenerate: Callable[..., Any] | None = None
    min_observations: int = 1

    unit_name = "sequence"

    def __post_init__(self):
        for name in ("log_initial", "log_transition", "log_emission"):
            if not callable(getattr(self, name)):
                raise TypeError(f"{name} must be callable; got {getattr(self, name)!r}.")
        _check_num_states(self.num_states)
        validation.check_model_functions(
            self,
            {
                "init": "(key, data) -> params",
                "statistics": "(data, marginals, weights, params) -> statistics",
                "maximize": "(statistics, params) -> dict",
                "log_prior": "(params) -> scalar",
                "batch_log_emission": "(params, observations) -> (T, K)",
                "sample_emission": "(key, params, z) -> x",
                "validate_data": "(observations) -> observations",
                "degenerate": "(params, counts) -> bool",
            },
        )
        if not isinstance(self.parallel, bool):
            raise TypeError(f"parallel must be a bool; got {self.parallel!r}.")
        validation.check_positive_int(self.min_observations, "min_observations")

    # ------------------------------------------------------------------ engine protocol
    @property
    def state_shape(self) -> tuple[int, ...]:
        return (int(self.num_states),)

    def units(self, data, lengths=None, check: bool = True):
        """:class:`Sequences` (S units) from the data and ``lengths``; with ``check`` (concrete
        inputs) the sequence axes, ``lengths`` and the values are checked on the host."""
        if not check:
            if lengths is None:
                return Sequences(data, None)
            length = jnp.asarray(lengths, jnp.int32)
            num_steps = jax.tree.leaves(data)[0].shape[1]
            mask = jax.vmap(_pad_mask, in_axes=(0, None))(length, num_steps)
            return Sequences(_fill_padding(data, mask), length)
        shapes = [tuple(np.shape(x)) for x in jax.tree.leaves(data)]
        if any(len(shape) < 2 for shape in shapes):
            raise ValueError(
                f"data leaves must have shape (num_sequences, T, ...) for a MarkovModel (pass one sequence as "
                f"num_sequences = 1); got leaf shapes {shapes}."
            )
        if len({shape[1] for shape in shapes}) > 1:
            raise ValueError(f"data leaves must share their step axis T (axis 1); got leaf shapes {shapes}.")
        num_sequences, num_steps = shapes[0][:2]
        length = None if lengths is None else _check_lengths(lengths, num_sequences, num_steps)
        if length is None:
            validation.check_finite(data)
            return Sequences(self._validated(data), None)
        # Padding is replaced once here, before any compiled code, so neither the
        # log-potentials nor the closed-form updates see it (NaN there is fine).
        mask = jax.vmap(_pad_mask, in_axes=(0, None))(length, num_steps)
        validation.check_finite(data, mask)
        return Sequences(self._validated(_fill_padding(data, mask)), length)

    def _validated(self, observations):
        return observations if self.validate_data is None else self.validate_data(observations)

    def observation_count(self, units: Sequences, weights) -> int:
        """Real steps in sequences of positive weight (host-side)."""
        num_sequences, num_steps = jax.tree.leaves(units.observations)[0].shape[:2]
        lengths = np.full(num_sequences, num_steps) if units.length is None else np.asarray(units.length)
        return int(np.sum(np.where(np.asarray(weights) > 0, lengths, 0)))

    def potential_count(self, example_unit: Sequences) -> int:
        """Numbers in one sequence's log-potentials (for the chunk-size budget)."""
        num_steps = jax.tree.leaves(example_unit.observations)[0].shape[0]
        k = int(self.num_states)
        return num_steps * k + k * k + k

    def weighted_counts(self, marginals: ChainPotentials, weights):
        """``sum_s w_s sum_t gamma_{s,t}`` over a chunk: the expected number of steps in each state (K,)."""
        weights = jnp.where(weights > 0, weights, 0.0)
        return jnp.einsum("s,stk->k", weights, marginals.emission, precision=_HIGHEST)

    def statistics_data(self, units: Sequences) -> SequenceData:
        """The :class:`SequenceData` that ``init`` and ``statistics`` receive."""
        num_sequences, num_steps = jax.tree.leaves(units.observations)[0].shape[:2]
        if units.length is None:
            lengths = jnp.full((num_sequences,), num_steps, jnp.int32)
            return SequenceData(units.observations, jnp.ones((num_sequences, num_steps), bool), lengths)
        mask = jax.vmap(_pad_mask, in_axes=(0, None))(units.length, num_steps)
        return SequenceData(units.observations, mask, units.length)

    def chain_tables(self, params):
        """``(log_initial, log_transition)`` tabulated over the states: (K,), (K, K)."""
        states = jnp.arange(self.num_states, dtype=jnp.int32)
        initial = jax.vmap(lambda z: self.log_initial(params, z))(states)
        transition = jax.vmap(lambda i: jax.vmap(lambda j: self.log_transition(params, i, j))(states))(states)
        return initial, transition

    def _tables(self, params, observations):
        states = jnp.arange(self.num_states, dtype=jnp.int32)
        initial, transition = self.chain_tables(params)
        if self.batch_log_emission is not None:
            emission = self.batch_log_emission(params, observations)
        else:
            emission = jax.vmap(lambda x: jax.vmap(lambda z: self.log_emission(params, x, z))(states))(observations)
        dtype = jnp.result_type(initial, transition, emission, float)
        return initial.astype(dtype), transition.astype(dtype), emission.astype(dtype)

    def log_potentials(self, params, unit: Sequences) -> ChainPotentials:
        """The three log-potential tables of one sequence (emission zero on padding)."""
        initial, transition, emission = self._tables(params, unit.observations)  # padding already filled by units()
        if unit.length is not None:
            emission = jnp.where(_pad_mask(unit.length, emission.shape[0])[:, None], emission, 0.0)
        return ChainPotentials(initial, transition, emission)

    def chunk_potentials(self, params, units: Sequences) -> ChainPotentials:
        """The log-potentials of every sequence of a chunk (leading axis n)."""
        return jax.vmap(lambda unit: self.log_potentials(params, unit))(units)

    def log_partition(self, potentials: ChainPotentials, unit: Sequences):
        """``log p(x_{1:L})`` by the forward algorithm (see :func:`log_partition`)."""
        return log_partition(potentials, unit.length, self.parallel)

    def log_partition_and_marginals(self, potentials: ChainPotentials, unit: Sequences):
        """``(log p(x_{1:L}), its gradient)``: the posterior marginals by the reverse pass."""
        return jax.value_and_grad(self.log_partition)(potentials, unit)

    def example_log_joint(self, params, unit: Sequences):
        """Each factor at state 0 and step 0, checked to be a scalar (for validation)."""
        x = jax.tree.map(lambda leaf: leaf[0], unit.observations)
        values = {
            "log_initial": self.log_initial(params, jnp.int32(0)),
            "log_transition": self.log_transition(params, jnp.int32(0), jnp.int32(0)),
            "log_emission": self.log_emission(params, x, jnp.int32(0)),
        }
        for name, value in values.items():
            if jnp.shape(value) != ():
                raise ValueError(
                    f"{name} must return a scalar for one step and one state; got shape {jnp.shape(value)}."
                )
        return sum(values.values())

    def posterior_output(self, marginals: ChainPotentials) -> MarkovPosterior:
        return MarkovPosterior(states=marginals.emission, transitions=marginals.transition)


# ---------------------------------------------------------------------- user-facing functions
def check_model(model):
    if not isinstance(model, MarkovModel):
        raise TypeError(f"model must be a jaxem.MarkovModel; got {type(model).__name__}.")


def checked_inputs(model, params, data, lengths):
    """``(params, units)`` checked on the host for a function of a :class:`MarkovModel` at given params."""
    check_model(model)
    data, _ = validation.check_data(data)
    units = model.units(data, lengths)
    params = validation.checked_params(model, params, units, jax.tree.map(lambda x: x[0], units))
    return params, units


def _pairwise_one(model, params, unit):
    potentials = model.log_potentials(params, unit)
    num_steps = potentials.emission.shape[0]
    per_step = potentials._replace(
        transition=jnp.broadcast_to(potentials.transition, (num_steps - 1,) + potentials.transition.shape)
    )
    return jax.grad(log_partition)(per_step, unit.length, model.parallel).transition


_pairwise_jit = jax.jit(
    lambda model, params, units: jax.vmap(lambda u: _pairwise_one(model, params, u))(units), static_argnums=0
)


def pairwise_marginals(model: MarkovModel, params, data, *, lengths=None):
    """Per-step pairwise marginals ``xi_t(j, k) = p(z_{t-1} = j, z_t = k | x)``.

    Obtained, like every posterior in jaxem, as the gradient of the forward
    log-partition, here with respect to a separate transition table per step.

    Returns:
      (S, T-1, K, K); entry ``t-1`` holds ``xi_t`` for steps ``t = 2..T``; zero
      where ``t`` is padding.
    """
    params, units = checked_inputs(model, params, data, lengths)
    return _pairwise_jit(model, params, units)
