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
from collections.abc import Collection
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxem import constraints as _constraints
from jaxem.estep import posteriors, weighted_sum
from jaxem.evaluation import _inputs

__all__ = ["Criteria", "criteria", "num_parameters"]


def _check_fixed(params, fixed) -> frozenset:
    fixed = frozenset(fixed)
    if fixed and not isinstance(params, dict):
        raise TypeError(f"fixed names top-level parameters, so params must be a dict; got {type(params).__name__}.")
    unknown = sorted(fixed - set(params)) if fixed else []
    if unknown:
        raise ValueError(f"fixed must name parameters of the model ({sorted(params)}); got unknown {unknown}.")
    return fixed


def num_parameters(model, params, fixed: Collection[str] = ()) -> int:
    """Free parameters of ``model`` at parameters shaped like ``params``, from its constraints.

    Args:
      model: a :class:`jaxem.Model` or :class:`jaxem.MarkovModel`.
      params: one set of parameters (only shapes are read).
      fixed: names of top-level parameters held fixed in the fit (not counted).

    Example:
      >>> jaxem.num_parameters(jaxem.models.gaussian_mixture(3), result.params)   # 3*2 + 3*3 + 2 = 17
    """
    fixed = _check_fixed(params, fixed)
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


def _summary_program(model, params, units, weights):
    log_p, marginals = posteriors(model, params, units)
    states = model.posterior_output(marginals)
    states = states.states if hasattr(states, "states") else states
    flat = states.reshape(states.shape[0], -1, math.prod(model.state_shape))  # (N, steps, K)
    steps = jnp.round(jnp.sum(flat, axis=(1, 2)))  # the real steps of each unit (marginals sum to 1 on each)
    top = jnp.max(flat, axis=-1)
    log_top = jnp.sum(jnp.where(top > 0, jnp.log(jnp.where(top > 0, top, 1.0)), 0.0), axis=-1)
    return weighted_sum(weights, log_p), weighted_sum(weights, steps), -weighted_sum(weights, log_top)


_summary_jit = jax.jit(_summary_program, static_argnums=0)


def criteria(model, params, data, weights=None, *, lengths=None, fixed: Collection[str] = ()) -> Criteria:
    """Log-likelihood, free parameters, BIC, AIC and ICL of ``model`` at ``params`` on ``data``.

    Args:
      model: a :class:`jaxem.Model` or :class:`jaxem.MarkovModel`.
      params: one set of parameters (e.g. ``result.params``).
      data: the data the model was fitted to (and ``lengths`` for sequences).
      weights: optional sample weights; ``n`` and ``log L`` are then weighted.
      fixed: top-level parameter names held fixed in the fit (not counted).

    Example:
      >>> jaxem.criteria(model, result.params, data).bic   # equals GaussianMixture.bic(data)
    """
    count = num_parameters(model, params, fixed)
    params, units, weights = _inputs(model, params, data, weights, lengths)
    log_l, n, entropy = (float(x) for x in _summary_jit(model, params, units, weights))
    bic = -2.0 * log_l + count * float(np.log(n))
    return Criteria(log_l, count, n, bic, -2.0 * log_l + 2.0 * count, bic + 2.0 * entropy, entropy)
