"""Information criteria for any model: free parameters counted from its constraints, BIC, AIC, ICL.

The number of free parameters is read from the constraints, leaf by leaf:
the entries of the unconstrained value that the constraint's ``forward``
depends on (``real``, ``positive``, ``unit_interval``: every entry;
``simplex``: size - 1 per vector; ``positive_definite`` D x D: D(D+1)/2 per
matrix). So a user-written model gets the same count a hand-written formula
would, and the built-ins get scikit-learn's and hmmlearn's.

The criteria follow scikit-learn's sign convention, lower is better::

    BIC = -2 log L + p log n
    AIC = -2 log L + 2 p
    ICL = BIC - 2 sum_i w_i log max_z p(z | x_i)

``n`` is the weighted number of observations (real steps for a
``MarkovModel``, as hmmlearn counts). ICL is mclust's (Biernacki, Celeux &
Govaert 2000, with the MAP classification): BIC plus twice the entropy of the
hard classification, which is ``-sum_i log p(z = MAP_i | x_i) >= 0``. mclust
reports ``-ICL`` in this convention (higher is better); the ordering of
models is the same. For a ``MarkovModel`` the classification is the most
probable state of each step from its posterior marginal.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Collection
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxem import chunks, validation
from jaxem import constraints as _constraints
from jaxem.diagnostics import FitError, FitWarning
from jaxem.driver import fit
from jaxem.estep import posteriors, weighted_sum
from jaxem.evaluation import checked_arguments

__all__ = ["Criteria", "Selection", "SelectionRow", "criteria", "gaussian_mixtures", "num_parameters", "select"]


def num_parameters(model, params, fixed: Collection[str] = ()) -> int:
    """Free parameters of ``model`` at parameters shaped like ``params``, from its constraints.

    Args:
      model: a :class:`jaxem.Model` or :class:`jaxem.MarkovModel`.
      params: one set of parameters (only shapes are read).
      fixed: names of top-level parameters held fixed in the fit (not counted).

    Example:
      >>> jaxem.num_parameters(jaxem.models.gaussian_mixture(3), result.params)   # 3*2 + 3*3 + 2 = 17
    """
    fixed = validation.check_fixed(params, fixed)
    tree = _constraints.expand(model.constraints, params)
    total = 0
    names = list(params) if isinstance(params, dict) else [None]
    for name in names:
        if name in fixed:
            continue
        sub_params = params if name is None else params[name]
        sub_constraints = tree if name is None else tree[name]
        leaves = jax.tree.leaves(sub_params)
        cons = jax.tree.leaves(sub_constraints, is_leaf=lambda c: isinstance(c, _constraints.Constraint))
        total += sum(c.num_free(leaf) for c, leaf in zip(cons, leaves))
    return total


class Criteria(NamedTuple):
    """Fit criteria of one model at given parameters (lower BIC/AIC/ICL is better)."""

    log_likelihood: float
    num_parameters: int
    num_observations: float
    bic: float
    aic: float
    icl: float
    entropy: float  # -sum_i w_i log max_z p(z | x_i), the classification entropy in ICL


def _summary_program(model, chunk_size, params, units, weights):
    def chunk(u, w):
        log_p, marginals = posteriors(model, params, u)
        states = model.posterior_output(marginals)
        states = states.states if hasattr(states, "states") else states
        flat = states.reshape(states.shape[0], -1, math.prod(model.state_shape))  # (N, steps, K)
        steps = jnp.round(jnp.sum(flat, axis=(1, 2)))  # the real steps of each unit (marginals sum to 1 on each)
        top = jnp.max(flat, axis=-1)
        log_top = jnp.sum(jnp.where(top > 0, jnp.log(jnp.where(top > 0, top, 1.0)), 0.0), axis=-1)
        return weighted_sum(w, log_p), weighted_sum(w, steps), -weighted_sum(w, log_top)

    return chunks.accumulate(chunk, units, weights, chunk_size)


_summary_jit = jax.jit(_summary_program, static_argnums=(0, 1))


def criteria(
    model, params, data, weights=None, *, lengths=None, fixed: Collection[str] = (), chunk_size: int | None = None
) -> Criteria:
    """Log-likelihood, free parameters, BIC, AIC and ICL of ``model`` at ``params`` on ``data``.

    Args:
      model: a :class:`jaxem.Model` or :class:`jaxem.MarkovModel`.
      params: one set of parameters (e.g. ``result.params``).
      data: the data the model was fitted to (and ``lengths`` for sequences).
      weights: optional sample weights; ``n`` and ``log L`` are then weighted.
      fixed: top-level parameter names held fixed in the fit (not counted).
      chunk_size: units per chunk of the pass over the data (default: from the memory budget).

    Example:
      >>> jaxem.criteria(model, result.params, data).bic   # equals GaussianMixture.bic(data)
    """
    count = num_parameters(model, params, fixed)
    params, units, weights = checked_arguments(model, params, data, weights, lengths)
    size = chunks.resolve_chunk_size(model, units, chunk_size)
    log_l, n, entropy = (float(x) for x in _summary_jit(model, size, params, units, weights))
    bic = -2.0 * log_l + count * float(np.log(n))
    return Criteria(log_l, count, n, bic, -2.0 * log_l + 2.0 * count, bic + 2.0 * entropy, entropy)


# ---------------------------------------------------------------------- model selection
CRITERIA = ("bic", "aic", "icl")


class SelectionRow(NamedTuple):
    """One candidate of :func:`select`: its fit and criteria (NaN when every restart failed)."""

    name: str
    group: str  # candidates of one kind that differ in num_states (a line of the BIC plot)
    num_states: int
    model: object
    result: object  # FitResult, or None when the fit failed
    log_likelihood: float
    num_parameters: int
    bic: float
    aic: float
    icl: float
    converged: bool
    degenerate: bool
    error: str | None


class Selection(NamedTuple):
    """The table of :func:`select`: one row per candidate, in the order given, and the best."""

    rows: tuple
    criterion: str
    best: int  # index into rows

    @property
    def best_row(self) -> SelectionRow:
        return self.rows[self.best]

    @property
    def best_model(self):
        return self.rows[self.best].model

    @property
    def best_result(self):
        return self.rows[self.best].result

    def table(self) -> str:
        """A fixed-width table (lower BIC/AIC/ICL is better; ``*`` marks the best by ``criterion``)."""
        width = max([len("model")] + [len(row.name) for row in self.rows])
        head = f"  {'model':<{width}} {'K':>3} {'log-lik':>12} {'params':>6} {'BIC':>12} {'AIC':>12} {'ICL':>12}  note"
        lines = [head]
        for index, row in enumerate(self.rows):
            mark = "*" if index == self.best else " "
            note = (
                f"failed: {row.error}"
                if row.error
                else ", ".join(
                    n for n, flag in (("degenerate", row.degenerate), ("unconverged", not row.converged)) if flag
                )
            )
            lines.append(
                f"{mark} {row.name:<{width}} {row.num_states:>3} {row.log_likelihood:>12.4f} {row.num_parameters:>6d} "
                f"{row.bic:>12.4f} {row.aic:>12.4f} {row.icl:>12.4f}  {note}".rstrip()
            )
        lines.append(
            f"best by {self.criterion.upper()} (lower is better; degenerate fits are passed over): {self.best_row.name}"
        )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def _names_and_models(candidates):
    from jaxem.models import specification

    if isinstance(candidates, dict):
        pairs = [(str(name), model) for name, model in candidates.items()]
    else:
        try:
            pairs = [(specification.label(model), model) for model in candidates]
        except TypeError as error:
            raise TypeError(
                f"candidates must be a list of models or a dict of name -> model; got {candidates!r}."
            ) from error
    if not pairs:
        raise ValueError("candidates must hold at least one model; got none.")
    for name, model in pairs:
        if not hasattr(model, "log_potentials"):
            raise TypeError(f"candidates must be jaxem models; got {type(model).__name__} for {name!r}.")
    return pairs


def _group(model) -> str:
    from jaxem.models import specification

    spec = specification.describe(model)
    if spec is None:
        return type(model).__name__
    kind = spec["kwargs"].get("covariance_type")
    return spec["builder"] if kind is None else f"{spec['builder']} {kind}"


def select(candidates, data, *, key, criterion: str = "bic", weights=None, lengths=None, **fit_options) -> Selection:
    """Fits every candidate model to ``data`` and tabulates log-likelihood, free parameters, BIC,
    AIC and ICL, marking the best by ``criterion`` (what mclust's ``Mclust`` summary gives).

    Args:
      candidates: a list of models (named by their specification, e.g.
        ``gaussian_mixture(3, covariance_type='full')``) or a dict name -> model;
        :func:`gaussian_mixtures` builds the usual grid.
      data, weights, lengths: as for :func:`jaxem.fit`.
      key: a ``jax.random.key``; candidate ``i`` is fitted with ``fold_in(key, i)``.
      criterion: ``"bic"`` (default), ``"aic"`` or ``"icl"``; lower is better.
      **fit_options: passed to every :func:`jaxem.fit` (``num_restarts``, ``tol``, ...).

    A candidate whose restarts all fail is kept in the table with NaN criteria
    and its error, and is never the best; if every candidate fails, the first
    error is raised. A degenerate candidate (its best restart flagged by the
    model's ``degenerate``, e.g. a Gaussian component collapsed onto repeated
    values, whose likelihood ``reg_covar`` alone holds up) is kept and marked
    in the table but chosen only when every candidate is degenerate.

    Example:
      >>> table = jaxem.select(jaxem.selection.gaussian_mixtures(range(1, 6)), faithful, key=jax.random.key(0))
      >>> print(table); table.best_model
    """
    criterion = validation.check_choice(criterion, "criterion", CRITERIA)
    key = validation.check_key(key)
    pairs = _names_and_models(candidates)
    rows, errors = [], []
    for index, (name, model) in enumerate(pairs):
        num_states = int(np.prod(model.state_shape))
        try:
            result = fit(
                model, data, key=jax.random.fold_in(key, index), weights=weights, lengths=lengths, **fit_options
            )
        except FitError as error:
            errors.append(error)
            warnings.warn(f"candidate {name!r} failed and is left out of the choice: {error}", FitWarning, stacklevel=2)
            nan = float("nan")
            rows.append(
                SelectionRow(
                    name, _group(model), num_states, model, None, nan, -1, nan, nan, nan, False, False, str(error)
                )
            )
            continue
        values = criteria(model, result.params, data, weights, lengths=lengths)
        rows.append(
            SelectionRow(
                name,
                _group(model),
                num_states,
                model,
                result,
                values.log_likelihood,
                values.num_parameters,
                values.bic,
                values.aic,
                values.icl,
                bool(result.converged),
                bool(result.degenerate),
                None,
            )
        )
    scores = np.array([getattr(row, criterion) for row in rows], float)
    if np.all(np.isnan(scores)):
        raise errors[0]
    sound = np.array([not row.degenerate for row in rows]) & ~np.isnan(scores)
    if sound.any():  # a degenerate fit's likelihood is held up by its regularisation, not the data
        scores = np.where(sound, scores, np.nan)
    return Selection(tuple(rows), criterion, int(np.nanargmin(scores)))


def gaussian_mixtures(num_components=range(1, 10), covariance_types=("full", "tied", "diag", "spherical"), **options):
    """Candidates for :func:`select`: ``gaussian_mixture(K, covariance_type=t, **options)`` for every
    ``t`` and ``K``, as a dict name -> model (mclust's default grid is K = 1..9 over its covariance
    models; these are scikit-learn's four)."""
    from jaxem.models import gaussian_mixture

    return {
        f"{kind} K={k}": gaussian_mixture(k, covariance_type=kind, **options)
        for kind in covariance_types
        for k in num_components
    }
