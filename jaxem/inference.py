"""Standard errors from the observed information matrix, by automatic differentiation.

EM finds the maximum-likelihood estimate but says nothing about its
precision: the E-step's expected complete-data information overstates it by
the information the latents carry, and Louis (1982) needs model-specific
second moments to subtract it. jaxem's marginal log-likelihood
``l(theta) = sum_i w_i log p(x_i; theta)`` is itself a traceable function of
the params (the E-step's log-partition summed over chunks), so its Hessian is
exact to rounding by automatic differentiation, for every model alike.

* Coordinates. Each leaf is mapped to unconstrained space,
  ``u = constraint.inverse(theta)``; the coordinates are the free entries of
  ``u`` (``constraint.free_mask``: the lower triangle for
  ``positive_definite``; ``simplex``'s inverse already drops one entry),
  leaf by leaf in ``jax.tree`` order and row-major within a leaf, without the
  parameters named in ``fixed``. There the information is
  ``I = -d^2 l / du du^T`` (plus ``-d^2 log_prior`` when the model has a
  prior: then it is the curvature of the log posterior).
* Delta method. ``Cov(u) = I^{-1}`` and ``Cov(theta) = J Cov(u) J^T`` with
  ``J = d theta / d u``, which gives a standard error for every entry of
  every parameter (all K weights, both halves of a symmetric covariance). At
  a stationary point this equals the inverse information in theta's own
  coordinates wherever those are free.
* Identifiability. With ``lambda`` the eigenvalues of ``I``, a direction
  with ``lambda <= sqrt(eps) max|lambda|`` (``eps`` of the params' dtype:
  1.5e-8 in float64, 3.5e-4 in float32) is treated as null. Autodiff gives
  ``I`` with rounding of order ``eps`` times the sum of the per-observation
  curvatures, which can exceed ``max|lambda|`` many times over (complete-data
  minus missing information); below ``sqrt(eps)`` an eigenvalue, and the
  variance ``1 / lambda`` it gives, has lost half its digits or more, and an
  exactly null direction (a parameter the likelihood ignores, two identical
  components) comes out far below it. Negative eigenvalues beyond the same
  threshold mean the params are not a local maximum. Either sets
  ``singular``; the parameter entries whose row of ``J`` has a component
  along those directions larger than ``eps ** 0.25`` of its norm (the
  computed null space is accurate to about ``eps / sqrt(eps)``, far below
  that) get NaN standard errors, as do entries whose row of ``J`` is zero
  (a value at the edge of its domain, such as a weight of exactly 1, where
  the transform saturates); the others keep theirs, from the inverse on the
  remaining directions.
* Labels. For a mixture (or an HMM) the component labels are arbitrary: the
  errors are for the labelling found. Two components of a built-in mixture
  (or emission distributions of a built-in HMM) whose parameters all differ
  by less than the standard error of their difference are reported.

Cost: the Hessian is ``jacfwd(grad)`` per chunk of the data, P forward passes
of a gradient for P coordinates, with P tangents held at once (the chunk is
sized for that). Fine for moderate P (hundreds); the P x P eigendecomposition
runs in NumPy.
"""

from __future__ import annotations

import math
import statistics
import warnings
from collections.abc import Collection
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxem import chunks, validation
from jaxem import constraints as _constraints
from jaxem.diagnostics import FitWarning
from jaxem.estep import posteriors, weighted_sum
from jaxem.evaluation import checked_arguments
from jaxem.models.hmm import HMMEmission
from jaxem.models.mixtures import MixtureLogJoint

__all__ = ["IdentifiabilityWarning", "Inference", "standard_errors"]

# A row of J whose component along the null (or negative) directions exceeds this fraction of its norm
# (to the power of eps: eps ** LOADING_POWER) loads on them; see the module docstring.
LOADING_POWER = 0.25
# The Newton step to the maximum, in standard errors, beyond which params are "not at the maximum".
MAX_NEWTON_STEP = 0.1


class IdentifiabilityWarning(FitWarning):
    """The standard errors at these params are not all meaningful: the information matrix is singular,
    near-singular or not positive definite, the params are not at the maximum, or two components are
    nearly identical (see ``Inference.problems``)."""


class Inference(NamedTuple):
    """Standard errors and Wald intervals of ``params`` from the observed information.

    Attributes:
      params: the estimates (as checked and cast).
      standard_errors: a pytree like ``params``; 0 for ``fixed`` parameters (held
        known), NaN where the information does not identify the entry.
      lower, upper: Wald intervals ``theta -/+ z se`` at ``level``.
      covariance: (T, T) delta-method covariance of the estimated entries of theta
        (every entry of the parameters not fixed), labelled by ``names``.
      names: ``(parameter, index)`` for each row of ``covariance``.
      information: (P, P) observed information in the unconstrained free coordinates.
      coordinates: ``(parameter, index into the unconstrained value)`` for each of them.
      score: (P,) gradient of the objective there (about 0 at a maximum).
      eigenvalues: of ``information``, ascending.
      condition_number: ``max / min`` eigenvalue (inf when not positive definite).
      singular: the information is singular, near-singular or not positive definite.
      problems: sentences about what makes the errors doubtful (empty when none).
      level: the intervals' coverage.
      log_likelihood: ``sum_i w_i log p(x_i; params)``.
    """

    params: Any
    standard_errors: Any
    lower: Any
    upper: Any
    covariance: np.ndarray
    names: list
    information: np.ndarray
    coordinates: list
    score: np.ndarray
    eigenvalues: np.ndarray
    condition_number: float
    singular: bool
    problems: list
    level: float
    log_likelihood: float

    def summary(self) -> str:
        """A table: parameter, index, estimate, se, lower, upper (then the problems, if any)."""
        rows = [("parameter", "index", "estimate", "se", "lower", "upper")]
        columns = [jax.tree.leaves(t) for t in (self.standard_errors, self.lower, self.upper)]
        for (path, value), se, low, high in zip(_named_leaves(self.params), *columns):
            for index in np.ndindex(np.shape(value)):
                numbers = (np.asarray(x)[index] for x in (value, se, low, high))
                rows.append((path, _index_text(index), *(f"{float(x):.6g}" for x in numbers)))
        widths = [max(len(row[c]) for row in rows) for c in range(6)]
        title = (
            f"Standard errors from the observed information ({100 * self.level:g}% Wald intervals); "
            f"log-likelihood {self.log_likelihood:.6g}, condition number {self.condition_number:.3g}"
        )
        lines = [title]
        for row in rows:
            cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1])] + [
                c.rjust(w) for c, w in zip(row[2:], widths[2:])
            ]
            lines.append("  ".join(cells).rstrip())
        lines += [f"problem: {p}" for p in self.problems]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


class _Leaf(NamedTuple):
    """Static description of one leaf: its constraint and the flat indices of its free unconstrained entries
    (None when the leaf is fixed)."""

    constraint: _constraints.Constraint
    free: tuple | None


def _path_text(path) -> str:
    parts = [str(getattr(k, "key", getattr(k, "idx", getattr(k, "name", k)))) for k in path]
    return "/".join(parts) or "params"


def _named_leaves(tree):
    return [(_path_text(p), x) for p, x in jax.tree_util.tree_flatten_with_path(tree)[0]]


def _index_text(index) -> str:
    return "[" + ", ".join(str(i) for i in index) + "]" if index else "-"


def _check_level(level) -> float:
    if isinstance(level, bool) or not isinstance(level, (int, float, np.floating, np.integer)):
        raise TypeError(f"level must be a float in (0, 1), the coverage of the intervals; got {level!r}.")
    if not 0.0 < float(level) < 1.0:
        raise ValueError(f"level must lie strictly between 0 and 1 (e.g. 0.95); got {level!r}.")
    return float(level)


def _layout(model, params, fixed) -> tuple:
    """One :class:`_Leaf` per leaf of ``params`` (host-side, from shapes only)."""
    tree = _constraints.expand(model.constraints, params)
    cons = jax.tree.leaves(tree, is_leaf=lambda c: isinstance(c, _constraints.Constraint))
    layout = []
    for (path, value), constraint in zip(jax.tree_util.tree_flatten_with_path(params)[0], cons):
        if path and getattr(path[0], "key", None) in fixed:
            layout.append(_Leaf(constraint, None))
            continue
        spec = jax.ShapeDtypeStruct(np.shape(value), jnp.result_type(value))
        shape = jax.eval_shape(constraint.inverse, spec).shape
        layout.append(_Leaf(constraint, tuple(int(i) for i in np.flatnonzero(constraint.free_mask(shape)))))
    return tuple(layout)


def _to_params(layout, treedef, base, vector):
    """The params at free coordinates ``vector``: fixed leaves as given, the others ``forward`` of their
    unconstrained value ``base`` with the free entries replaced."""
    leaves, start = [], 0
    for leaf, value in zip(layout, base):
        if leaf.free is None:
            leaves.append(value)
            continue
        index = np.asarray(leaf.free, np.int64)
        flat = value.reshape(-1).at[index].set(vector[start : start + index.size])
        start += index.size
        leaves.append(leaf.constraint.forward(flat.reshape(value.shape)))
    return jax.tree.unflatten(treedef, leaves)


def _information_program(model, layout, chunk_size, params, units, weights):
    values, treedef = jax.tree.flatten(params)
    base = [v if leaf.free is None else leaf.constraint.inverse(v) for leaf, v in zip(layout, values)]
    start = jnp.concatenate(
        [b.reshape(-1)[np.asarray(leaf.free, np.int64)] for leaf, b in zip(layout, base) if leaf.free is not None]
    )

    def at(vector):
        return _to_params(layout, treedef, base, vector)

    def chunk(u, w):
        def log_l(vector):
            return weighted_sum(w, posteriors(model, at(vector), u)[0])

        def gradient(vector):  # the value and gradient ride along as aux of the Hessian's forward pass
            value, grad = jax.value_and_grad(log_l)(vector)
            return grad, (value, grad)

        hessian, (value, grad) = jax.jacfwd(gradient, has_aux=True)(start)
        return value, grad, hessian

    log_l, score, hessian = chunks.accumulate(chunk, units, weights, chunk_size)
    if model.log_prior is not None:

        def prior(vector):
            return model.log_prior(at(vector))

        score = score + jax.grad(prior)(start)
        hessian = hessian + jax.hessian(prior)(start)

    def estimated(vector):
        leaves = jax.tree.leaves(at(vector))
        return jnp.concatenate([x.reshape(-1) for x, leaf in zip(leaves, layout) if leaf.free is not None])

    return log_l, score, -hessian, jax.jacfwd(estimated)(start)


_information_jit = jax.jit(_information_program, static_argnums=(0, 1, 2))


def _labels(params, layout, unconstrained: bool):
    """``(parameter, index)`` of each estimated entry of theta, or (``unconstrained``) of each free coordinate."""
    labels = []
    for (path, value), leaf in zip(_named_leaves(params), layout):
        if leaf.free is None:
            continue
        if unconstrained:
            shape = jax.eval_shape(leaf.constraint.inverse, jax.ShapeDtypeStruct(np.shape(value), value.dtype)).shape
            labels += [(path, tuple(int(i) for i in np.unravel_index(f, shape))) for f in leaf.free]
        else:
            labels += [(path, tuple(int(i) for i in index)) for index in np.ndindex(np.shape(value))]
    return labels


def _loaded_parameters(names, mask) -> str:
    return ", ".join(sorted({path for (path, _), bad in zip(names, mask) if bad})) or "none"


def _spectrum(information, jacobian, score, names, eps, objective):
    """``(covariance of theta, eigenvalues, condition number, singular, problems)`` from the information."""
    size = information.shape[0]
    if not np.all(np.isfinite(information)):
        nan = np.full((jacobian.shape[0],) * 2, np.nan)
        problem = (
            "the information matrix is not finite (NaN or inf): the log-likelihood's curvature cannot be "
            "computed at these params (a parameter on the boundary of its domain, or a non-finite "
            "log-likelihood); every standard error is NaN."
        )
        return nan, np.full(size, np.nan), math.inf, True, [problem]
    problems = []
    scale = max(float(np.max(np.abs(information))), np.finfo(np.float64).tiny)
    asymmetry = float(np.max(np.abs(information - information.T))) / scale
    if asymmetry > math.sqrt(eps):
        problems.append(
            f"the information matrix is not symmetric (relative asymmetry {asymmetry:.2g}); it was symmetrised."
        )
    eigenvalues, vectors = np.linalg.eigh(0.5 * (information + information.T))
    top = float(np.max(np.abs(eigenvalues)))
    threshold = math.sqrt(eps) * top
    good = eigenvalues > threshold
    negative = eigenvalues < -threshold
    null = ~good & ~negative
    condition = float(eigenvalues[-1] / eigenvalues[0]) if eigenvalues[0] > 0 else math.inf
    covariance_u = (vectors[:, good] / eigenvalues[good]) @ vectors[:, good].T
    covariance = jacobian @ covariance_u @ jacobian.T
    row_norms = np.linalg.norm(jacobian, axis=1)
    saturated = row_norms == 0  # theta does not move with u: a value at the edge of its domain (a weight of 1)

    def loading(directions):
        return (np.linalg.norm(jacobian @ vectors[:, directions], axis=1) > eps**LOADING_POWER * row_norms) | saturated

    unidentified = loading(~good)
    covariance[unidentified, :] = np.nan
    covariance[:, unidentified] = np.nan
    if null.any():
        problems.append(
            f"the information matrix is {'singular' if top > 0 else 'zero'}: {int(null.sum())} of {size} eigenvalues "
            f"are within sqrt(eps) = {math.sqrt(eps):.1e} of the largest in magnitude ({top:.3g}), so the likelihood "
            f"does not identify the params along those directions (a parameter it does not depend on, two identical "
            f"components, a weight or probability at 0 or 1, too little data). They involve: "
            f"{_loaded_parameters(names, loading(null))}; those standard errors are NaN."
        )
    if saturated.any():
        problems.append(
            f"{_loaded_parameters(names, saturated)} has entries at the edge of the domain (a weight or probability of "
            "exactly 0 or 1), where theta does not move with the unconstrained coordinates and a Wald interval does not "
            "apply; those standard errors are NaN."
        )
    if negative.any():
        problems.append(
            f"the information matrix is not positive definite: {int(negative.sum())} of {size} eigenvalues are "
            f"negative (down to {float(eigenvalues[0]):.3g}), so params are not a local maximum of the "
            f"{objective} (a saddle point: fit again with more restarts or a smaller "
            f"tol). They involve: {_loaded_parameters(names, loading(negative))}; those standard errors are NaN."
        )
    if good.any():
        newton = float(np.sqrt(max(score @ covariance_u @ score, 0.0)))
        if newton > MAX_NEWTON_STEP:
            problems.append(
                f"params are not at the maximum: the gradient there is not 0, and the Newton step to the maximum is "
                f"{newton:.3g} standard errors long (more than {MAX_NEWTON_STEP}); the errors are for a nearby point. "
                "Fit with a smaller tol (and reg_covar=0 for the Gaussian built-ins, whose M-step adds it)."
            )
    return covariance, eigenvalues, condition, not bool(good.all()), problems


def _component_leaves(model, params):
    """The names of the per-component parameters of a built-in mixture or HMM, or None for other models."""
    emission = getattr(model, "log_joint", None)
    if not isinstance(emission, MixtureLogJoint):
        emission = getattr(model, "log_emission", None)
        if not isinstance(emission, HMMEmission):
            return None
    family = emission.family
    names = [name for name in family.constraints() if name in params]
    if getattr(family, "covariance_type", None) == "tied":
        names = [name for name in names if name != "covariances"]
    return names


def _identical_components(model, params, covariance, names, eps):
    """Sentences about pairs of components whose every parameter differs by less than the standard error
    of the difference (or by rounding alone)."""
    leaves = _component_leaves(model, params)
    num_states = model.state_shape[0] if len(model.state_shape) == 1 else 0
    if not leaves or num_states < 2:
        return []
    row = {name: i for i, name in enumerate(names)}
    variance = np.diag(covariance)
    pairs = []
    for k in range(num_states):
        for m in range(k + 1, num_states):
            close = True
            for name in leaves:
                value = np.asarray(params[name], np.float64)
                for index in np.ndindex(value.shape[1:]):
                    a, b = value[(k, *index)], value[(m, *index)]
                    difference = abs(a - b)
                    if difference <= math.sqrt(eps) * max(abs(a), abs(b)):
                        continue
                    i, j = row.get((name, (k, *index))), row.get((name, (m, *index)))
                    spread = np.nan if i is None or j is None else variance[i] + variance[j] - 2 * covariance[i, j]
                    if not (np.isfinite(spread) and difference <= math.sqrt(max(spread, 0.0))):
                        close = False
                        break
                if not close:
                    break
            if close:
                pairs.append((k, m))
    what = "states" if isinstance(getattr(model, "log_emission", None), HMMEmission) else "components"
    return [
        f"{what} {k} and {m} are nearly identical: every parameter of theirs ({', '.join(leaves)}) differs by less "
        "than one standard error of the difference. Their labels are interchangeable and the model may have more "
        f"{what} than the data support; the errors are for the labelling found. Try fewer {what}."
        for k, m in pairs
    ]


def standard_errors(
    model, params, data, weights=None, *, lengths=None, level: float = 0.95, fixed: Collection[str] = ()
):
    """Standard errors and Wald intervals of ``params`` from the observed information, by autodiff.

    The observed information is ``I = -d^2 l / du du^T`` at ``params`` in the
    free unconstrained coordinates ``u`` (see :mod:`jaxem.inference`), with
    ``l`` the weighted marginal log-likelihood, plus ``log_prior`` when the
    model has one (then ``I`` is the curvature of the log posterior and the
    intervals are Laplace-approximation ones). The covariance of theta is the
    delta method ``J I^{-1} J^T``, ``J = d theta / d u``; the intervals are
    ``theta -/+ z se`` with ``z`` the normal quantile at ``(1 + level) / 2``.
    They are asymptotic (Wald) intervals at a maximum: call this on a fit's
    ``params`` fitted with a small ``tol``. For a mixture the errors are for
    the labelling found (swapping labels gives the same errors, swapped).

    A singular, near-singular or not positive definite information, params away
    from the maximum, or two nearly identical components of a built-in model are
    reported in ``problems`` with an :class:`IdentifiabilityWarning`; entries not
    identified get NaN errors (the rule is in :mod:`jaxem.inference`).

    Args:
      model: a :class:`jaxem.Model` or :class:`jaxem.MarkovModel`.
      params: one set of parameters (e.g. ``result.params``).
      data: the data the model was fitted to (and ``lengths`` for sequences).
      weights: optional sample weights (frequency weights: the information adds them).
      level: coverage of the intervals, in (0, 1).
      fixed: top-level parameter names held fixed (known) in the fit: left out of
        the coordinates, with standard error 0.

    Returns:
      :class:`Inference` (``print`` it for a table).

    Example:
      >>> model = jaxem.models.gaussian_mixture(2, reg_covar=0.0)
      >>> result = jaxem.fit(model, faithful, key=jax.random.key(0), tol=1e-12)
      >>> print(jaxem.standard_errors(model, result.params, faithful))
    """
    level = _check_level(level)
    if any(isinstance(x, jax.core.Tracer) for tree in (params, data, weights, lengths) for x in jax.tree.leaves(tree)):
        raise TypeError(
            "standard_errors runs on the host (it inverts the information in NumPy and reports problems); call it "
            "outside jit, vmap and grad, on concrete params and data."
        )
    fixed = validation.check_fixed(params, fixed)
    params, units, weights = checked_arguments(model, params, data, weights, lengths)
    layout = _layout(model, params, fixed)
    size = sum(len(leaf.free) for leaf in layout if leaf.free is not None)
    if size == 0:
        raise ValueError(f"fixed must leave at least one free parameter to estimate; got fixed={sorted(fixed)}.")
    chunk_size = chunks.chunk_size_for(model, units, num_restarts=size)
    log_l, score, information, jacobian = (
        np.asarray(x, np.float64) for x in _information_jit(model, layout, chunk_size, params, units, weights)
    )
    eps = float(jnp.finfo(jax.tree.leaves(params)[0].dtype).eps)
    names = _labels(params, layout, unconstrained=False)
    objective = "log-likelihood" if model.log_prior is None else "log posterior"
    covariance, eigenvalues, condition, singular, problems = _spectrum(
        information, jacobian, score, names, eps, objective
    )
    problems += _identical_components(model, params, covariance, names, eps)
    if problems:
        warnings.warn(" ".join(problems), IdentifiabilityWarning, stacklevel=2)

    z = statistics.NormalDist().inv_cdf(0.5 + level / 2)
    errors, start = [], 0
    for value, leaf in zip(jax.tree.leaves(params), layout):
        count = int(np.size(value))
        if leaf.free is None:
            errors.append(np.zeros(np.shape(value)))
            continue
        variance = np.diag(covariance)[start : start + count]
        errors.append(np.sqrt(np.where(variance >= 0, variance, np.nan)).reshape(np.shape(value)))
        start += count
    treedef = jax.tree.structure(params)
    host = [np.asarray(x, np.float64) for x in jax.tree.leaves(params)]
    return Inference(
        params=params,
        standard_errors=jax.tree.unflatten(treedef, errors),
        lower=jax.tree.unflatten(treedef, [x - z * se for x, se in zip(host, errors)]),
        upper=jax.tree.unflatten(treedef, [x + z * se for x, se in zip(host, errors)]),
        covariance=covariance,
        names=names,
        information=information,
        coordinates=_labels(params, layout, unconstrained=True),
        score=score,
        eigenvalues=eigenvalues,
        condition_number=condition,
        singular=singular,
        problems=problems,
        level=level,
        log_likelihood=float(log_l),
    )
