"""SQUAREM: an :class:`jaxem.EM` that takes two EM steps and extrapolates along them.

:func:`squarem` takes an EM algorithm object and returns one of the same
kind (as an optax wrapper takes and returns a ``GradientTransformation``),
so it runs under the same driver, ``vmap`` over restarts and ``jit``.

One step of the wrapped algorithm, from ``theta_0`` (Varadhan & Roland 2008,
*Scand. J. Statist.* 35:335-353, scheme S3, with the step-length adaptation
of their R package), in unconstrained coordinates ``u`` (each leaf through
its constraint, so every extrapolated point is a valid parameter):

1. two EM steps: ``u_1 = F(u_0)``, ``u_2 = F(u_1)``;
   ``r = u_1 - u_0``, ``v = u_2 - 2 u_1 + u_0``;
2. step length ``alpha = |r| / |v|`` (S3), clipped to ``[1, step_max]``;
   ``alpha = 1`` gives ``u_2`` itself;
3. the extrapolated point ``u' = u_0 + 2 alpha r + alpha^2 v``, then one EM
   step from it (stabilisation): ``theta_new = F(theta(u'))``;
4. safeguard: ``theta_new`` is taken only if its objective is finite and at
   least that of ``theta_2``; otherwise the step returns ``theta_2`` (plain
   EM twice). The objective therefore never decreases, as in plain EM.
   The step's :class:`jaxem.EMInfo` reports, as ``previous_objective``, the
   objective before the last EM update it took (``theta(u')`` or
   ``theta_1``), so a driver's convergence test reads the change of one EM
   update, as it does for plain EM.
   ``step_max`` (carried in the state, starting at 1) grows four-fold when
   an accepted step used all of it and shrinks four-fold (not below 1) when
   a step at ``step_max`` was rejected.

A step costs four E-steps (``theta_1``, ``theta_2``, ``theta(u')``,
``theta_new``) and three M-steps; :class:`jaxem.EMInfo` counts the E-steps.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxem import constraints as _constraints
from jaxem.algorithm import EM, EMInfo

__all__ = ["SquaremState", "squarem"]

STEP_FACTOR = 4.0


class SquaremState(NamedTuple):
    """The wrapped algorithm's state at the current params, and the largest step length allowed next."""

    inner: Any
    step_max: jax.Array

    @property
    def params(self):
        return self.inner.params

    @property
    def log_likelihood(self):
        return self.inner.log_likelihood

    @property
    def objective(self):
        return self.inner.objective

    @property
    def statistics(self):
        return self.inner.statistics

    @property
    def counts(self):
        return self.inner.counts


def _squared_norm(tree):
    return sum(jnp.sum(jnp.square(leaf)) for leaf in jax.tree.leaves(tree))


def squarem(algorithm: EM, constraints=None) -> EM:
    """SQUAREM over ``algorithm`` (see the module docstring).

    Args:
      algorithm: an :class:`jaxem.EM`, e.g. ``jaxem.em(model)``. Its state
        must carry ``params`` and ``objective`` (every jaxem state does).
      constraints: the model's ``constraints`` (``model.constraints``): the
        extrapolation runs in the unconstrained coordinates they define.
        ``None`` treats every parameter as real.

    Returns:
      An :class:`jaxem.EM` whose state is a :class:`SquaremState`.

    Example:
      >>> algorithm = jaxem.squarem(jaxem.em(model), model.constraints)
      >>> state = algorithm.init(params, data)
      >>> state, info = jax.jit(algorithm.step)(state, data)
    """

    def init(params, data, weights=None) -> SquaremState:
        inner = algorithm.init(params, data, weights)
        return SquaremState(inner, jnp.ones((), jnp.result_type(inner.objective)))

    def step(state: SquaremState, data, weights=None):
        s0 = state.inner
        tree = _constraints.expand(constraints, s0.params)
        to_u = lambda params: jax.tree.map(lambda c, x: c.inverse(x), tree, params)
        s1, info1 = algorithm.step(s0, data, weights)
        s2, info2 = algorithm.step(s1, data, weights)
        u0, u1, u2 = to_u(s0.params), to_u(s1.params), to_u(s2.params)
        r = jax.tree.map(jnp.subtract, u1, u0)
        v = jax.tree.map(lambda a, b, c: c - 2 * b + a, u0, u1, u2)
        rr, vv = _squared_norm(r), _squared_norm(v)
        ratio = jnp.sqrt(rr / jnp.where(vv > 0, vv, 1.0))
        alpha = jnp.clip(jnp.where((vv > 0) & jnp.isfinite(ratio), ratio, 1.0), 1.0, state.step_max)
        u = jax.tree.map(lambda a, dr, dv: a + 2 * alpha * dr + alpha**2 * dv, u0, r, v)
        extrapolated = jax.tree.map(lambda c, x, old: c.forward(x).astype(old.dtype), tree, u, s0.params)
        candidate = algorithm.init(extrapolated, data, weights)
        s3, info3 = algorithm.step(candidate, data, weights)
        accept = jnp.isfinite(s3.objective) & (s3.objective >= s2.objective)
        new = jax.tree.map(lambda a, b: jnp.where(accept, a, b), s3, s2)
        at_max = alpha >= state.step_max
        step_max = jnp.where(
            at_max,
            jnp.where(accept, state.step_max * STEP_FACTOR, jnp.maximum(1.0, state.step_max / STEP_FACTOR)),
            state.step_max,
        )
        e_steps = info1.num_e_steps + info2.num_e_steps + 1 + info3.num_e_steps
        # The change the driver's convergence test reads is that of the last EM update taken.
        last_start = jnp.where(accept, info3.previous_objective, info2.previous_objective)
        info = EMInfo(last_start, new.objective, new.log_likelihood, e_steps)
        return SquaremState(new, step_max.astype(state.step_max.dtype)), info

    return EM(init, step)
