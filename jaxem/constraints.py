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

Each constraint also knows its domain: ``constraint.domain_error(value)``
checks concrete (host) values and returns ``None`` inside the domain, or a
sentence saying what is wrong. The public entry points run it on every
starting or given parameter before anything is compiled:

* ``real``: any finite value.
* ``positive``: every entry ``> 0``.
* ``unit_interval``: every entry in ``[0, 1]``.
* ``simplex``: entries ``>= 0`` and each vector along the last axis sums to
  one within ``max(sqrt(eps), 1e-5)`` of the dtype (3.5e-4 in float32,
  1e-5 in float64, hmmlearn's tolerance, so float32 values cast to float64
  still pass). Exact zeros are allowed (a left-to-right transition matrix).
* ``positive_definite``: symmetric within that tolerance relative to the
  largest entry, and with a Cholesky factor (checked in float64).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "Constraint",
    "expand",
    "positive",
    "positive_definite",
    "real",
    "simplex",
    "unit_interval",
]


class Constraint:
    """A named bijection ``forward: unconstrained -> constrained``, its inverse and its domain.

    Instances are leaves (not pytrees), so they can sit in a constraints tree
    that is a prefix of the parameter tree.

    Args:
      name: shown in messages.
      forward: unconstrained -> constrained (traced).
      inverse: constrained -> unconstrained (traced).
      domain: optional host-side check ``domain(value: np.ndarray) -> str | None``:
        ``None`` when every entry lies in the domain, else a short sentence
        saying what is wrong. Leading axes are batch axes.
      free: optional ``free(unconstrained_shape) -> bool array`` (broadcast to
        that shape): the entries of the unconstrained value that ``forward``
        reads; default all. Counts free parameters (BIC, AIC) and picks the
        coordinates of the information matrix.
    """

    __slots__ = ("domain", "forward", "free", "inverse", "name")

    def __init__(
        self,
        name: str,
        forward: Callable,
        inverse: Callable,
        domain: Callable | None = None,
        free: Callable | None = None,
    ):
        self.name = name
        self.forward = forward
        self.inverse = inverse
        self.domain = domain
        self.free = free

    def free_mask(self, unconstrained_shape) -> np.ndarray:
        """Which entries of an unconstrained value (shape ``inverse(value).shape``) ``forward``
        depends on: a bool array of that shape. All of them unless the constraint says otherwise
        (``positive_definite`` reads only the lower triangle)."""
        shape = tuple(unconstrained_shape)
        return np.ones(shape, bool) if self.free is None else np.broadcast_to(self.free(shape), shape)

    def num_free(self, value) -> int:
        """Free parameters in ``value`` (one leaf): the entries of its unconstrained value that
        ``forward`` depends on (simplex: size - 1 per vector; positive definite D x D: D(D+1)/2)."""
        shape = jax.eval_shape(self.inverse, jax.ShapeDtypeStruct(np.shape(value), jnp.result_type(value))).shape
        return int(np.count_nonzero(self.free_mask(shape)))

    def domain_error(self, value) -> str | None:
        """``None`` if the concrete ``value`` lies in the domain, else what is wrong."""
        return None if self.domain is None else self.domain(np.asarray(value))

    def __repr__(self) -> str:
        return f"jaxem.constraints.{self.name}"

    def __reduce__(self):
        # The built-in constraints pickle as references to this module's objects (their
        # functions are local); a user's constraint pickles as its parts.
        if globals().get(self.name) is self:
            return (_named, (self.name,))
        return (Constraint, (self.name, self.forward, self.inverse, self.domain, self.free))


def _named(name: str) -> Constraint:
    return globals()[name]


def _tiny(x):
    return jnp.finfo(jnp.result_type(x)).tiny


def _log_clipped(x):
    # Boundary values (an exact zero weight, say) map to a large finite
    # negative number instead of -inf so gradients stay finite.
    return jnp.log(jnp.maximum(x, _tiny(x)))


def _tolerance(x) -> float:
    dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64
    return max(float(np.sqrt(np.finfo(dtype).eps)), 1e-5)


def _positive_domain(x):
    if np.all(x > 0):
        return None
    return f"every entry must be > 0; got minimum {np.min(x)!r}"


def _unit_interval_domain(x):
    if np.all((x >= 0) & (x <= 1)):
        return None
    return f"every entry must lie in [0, 1]; got range [{np.min(x)!r}, {np.max(x)!r}]"


def _simplex_domain(x):
    if x.ndim == 0:
        return "must have at least one axis (the simplex is the last axis); got a scalar"
    if np.any(x < 0):
        return f"entries must be >= 0 (a probability vector along the last axis); got minimum {np.min(x)!r}"
    sums = np.sum(x.astype(np.float64), axis=-1)
    worst = float(np.max(np.abs(sums - 1.0)))
    if worst > _tolerance(x):
        far = sums.reshape(-1)[np.argmax(np.abs(sums - 1.0).reshape(-1))]
        return f"must sum to 1 along the last axis (within {_tolerance(x):.1e}); got a sum of {far!r}"
    return None


def _positive_definite_domain(x):
    if x.ndim < 2 or x.shape[-1] != x.shape[-2]:
        return f"must be square (D, D) matrices in the trailing axes; got shape {x.shape}"
    x = x.astype(np.float64)
    scale = max(float(np.max(np.abs(x))), np.finfo(np.float64).tiny)
    asymmetry = float(np.max(np.abs(x - np.swapaxes(x, -1, -2))))
    if asymmetry > _tolerance(x) * scale:
        return f"must be symmetric; got |A - A^T| up to {asymmetry:.3g}"
    try:
        np.linalg.cholesky(x)
    except np.linalg.LinAlgError:
        smallest = float(np.min(np.linalg.eigvalsh(x)))
        return f"must be positive definite; got a smallest eigenvalue of {smallest:.3g}"
    return None


real = Constraint("real", lambda u: u, lambda x: x)

positive = Constraint("positive", jnp.exp, _log_clipped, _positive_domain)

unit_interval = Constraint(
    "unit_interval",
    jax.nn.sigmoid,
    lambda x: _log_clipped(x) - _log_clipped(1.0 - x),
    _unit_interval_domain,
)


def _simplex_forward(u):
    zeros = jnp.zeros(u.shape[:-1] + (1,), u.dtype)
    return jax.nn.softmax(jnp.concatenate([u, zeros], axis=-1), axis=-1)


def _simplex_inverse(x):
    log_x = _log_clipped(x)
    return log_x[..., :-1] - log_x[..., -1:]


simplex = Constraint("simplex", _simplex_forward, _simplex_inverse, _simplex_domain)


def _pd_forward(u):
    lower = jnp.tril(u, -1) + jnp.exp(jnp.diagonal(u, axis1=-2, axis2=-1))[..., None] * jnp.eye(
        u.shape[-1], dtype=u.dtype
    )
    return jnp.matmul(lower, jnp.swapaxes(lower, -1, -2), precision="highest")


def _pd_inverse(x):
    lower = jnp.linalg.cholesky(x)
    log_diag = _log_clipped(jnp.diagonal(lower, axis1=-2, axis2=-1))
    return jnp.tril(lower, -1) + log_diag[..., None] * jnp.eye(x.shape[-1], dtype=x.dtype)


def _pd_free(shape):
    return np.tril(np.ones(shape[-2:], bool))


positive_definite = Constraint("positive_definite", _pd_forward, _pd_inverse, _positive_definite_domain, _pd_free)


def expand(constraints, params):
    """A tree with the params' structure holding one Constraint per leaf."""
    if constraints is None:
        return jax.tree.map(lambda _: real, params)
    if isinstance(params, dict) and isinstance(constraints, dict):
        constraints = {name: constraints.get(name, real) for name in params}
    constraints = jax.tree.map(lambda c: real if c is None else c, constraints, is_leaf=lambda c: c is None)
    return jax.tree.map(
        lambda c, sub: jax.tree.map(lambda _: c, sub),
        constraints,
        params,
        is_leaf=lambda c: isinstance(c, Constraint),
    )
