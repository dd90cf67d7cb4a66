"""Bijections between constrained parameter spaces and unconstrained space.

The gradient M-step optimises Q over unconstrained values ``u`` and maps them
back with ``constraint.forward(u)``; ``constraint.inverse(theta)`` gives the
starting point. A model's ``constraints`` argument is a pytree prefix of its
parameters holding these objects; parameters without one are ``real``.

Every constraint acts elementwise or along the trailing axes, so the same
object works for a vector, a batch of vectors, or a matrix of rows:

* ``real``               identity.
* ``positive``           ``theta = exp(u)``.
* ``unit_interval``      ``theta = sigmoid(u)``.
* ``simplex``            last axis sums to one: ``theta = softmax([u, 0])``
                         (additive log-ratio; ``u`` has one fewer entry).
* ``positive_definite``  trailing ``(D, D)`` matrices: ``theta = L L^T`` with
                         ``L`` lower triangular, ``diag(L) = exp(diag(u))``.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

__all__ = [
    "Constraint",
    "positive",
    "positive_definite",
    "real",
    "simplex",
    "unit_interval",
]


class Constraint:
    """A named bijection ``forward: unconstrained -> constrained`` and its inverse.

    Instances are leaves (not pytrees), so they can sit in a constraints tree
    that is a prefix of the parameter tree.
    """

    __slots__ = ("forward", "inverse", "name")

    def __init__(self, name: str, forward: Callable, inverse: Callable):
        self.name = name
        self.forward = forward
        self.inverse = inverse

    def __repr__(self) -> str:
        return f"jaxem.constraints.{self.name}"


def _tiny(x):
    return jnp.finfo(jnp.result_type(x)).tiny


def _log_clipped(x):
    # Boundary values (an exact zero weight, say) map to a large finite
    # negative number instead of -inf so gradients stay finite.
    return jnp.log(jnp.maximum(x, _tiny(x)))


real = Constraint("real", lambda u: u, lambda x: x)

positive = Constraint("positive", jnp.exp, _log_clipped)

unit_interval = Constraint(
    "unit_interval",
    jax.nn.sigmoid,
    lambda x: _log_clipped(x) - _log_clipped(1.0 - x),
)


def _simplex_forward(u):
    zeros = jnp.zeros(u.shape[:-1] + (1,), u.dtype)
    return jax.nn.softmax(jnp.concatenate([u, zeros], axis=-1), axis=-1)


def _simplex_inverse(x):
    log_x = _log_clipped(x)
    return log_x[..., :-1] - log_x[..., -1:]


simplex = Constraint("simplex", _simplex_forward, _simplex_inverse)


def _pd_forward(u):
    lower = jnp.tril(u, -1) + jnp.exp(jnp.diagonal(u, axis1=-2, axis2=-1))[..., None] * jnp.eye(
        u.shape[-1], dtype=u.dtype
    )
    return jnp.matmul(lower, jnp.swapaxes(lower, -1, -2), precision="highest")


def _pd_inverse(x):
    lower = jnp.linalg.cholesky(x)
    log_diag = _log_clipped(jnp.diagonal(lower, axis1=-2, axis2=-1))
    return jnp.tril(lower, -1) + log_diag[..., None] * jnp.eye(x.shape[-1], dtype=x.dtype)


positive_definite = Constraint("positive_definite", _pd_forward, _pd_inverse)
