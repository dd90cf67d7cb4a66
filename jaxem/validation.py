"""Checks of user input, run before anything is traced or compiled.

Every error names the argument, what was given and what was expected.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxem import constraints as _constraints


def _describe(tree) -> str:
    return str(jax.tree.map(lambda x: f"{getattr(x, 'dtype', type(x).__name__)}{list(np.shape(x))}", tree))


def _host(leaf, where):
    try:
        return np.asarray(leaf)
    except Exception as error:
        raise TypeError(f"{where} must be array-like; got {type(leaf).__name__}.") from error


def check_data(data, name: str = "data"):
    """Converts data leaves to arrays; returns (data, N). Leaves share a leading axis N >= 1.

    Leaves must be real numbers (bool, integer or float; complex is refused
    rather than losing its imaginary part) with no zero-size axis. Finiteness
    is checked by the model (:func:`check_finite`), which knows which steps
    are padding.
    """
    leaves, treedef = jax.tree.flatten(data)
    if not leaves:
        raise ValueError(f"{name} must be an array or a pytree of arrays; got {data!r} with no array leaves.")
    arrays = []
    for path, leaf in jax.tree_util.tree_flatten_with_path(data)[0]:
        where = f"{name}{jax.tree_util.keystr(path)}"
        host = _host(leaf, where)
        if np.issubdtype(host.dtype, np.complexfloating):
            raise TypeError(f"{where} must hold real numbers; got complex dtype {host.dtype}.")
        if host.dtype == object or not (np.issubdtype(host.dtype, np.number) or host.dtype == bool):
            raise TypeError(f"{where} must hold numbers; got dtype {host.dtype}.")
        if host.ndim == 0:
            raise ValueError(f"{where} must have a leading observation axis; got a scalar.")
        if host.shape[0] > 0 and 0 in host.shape[1:]:
            raise ValueError(
                f"{where} must have no zero-size axis after the observation axis (e.g. zero features); "
                f"got shape {host.shape}."
            )
        arrays.append(leaf if isinstance(leaf, jax.Array) else jnp.asarray(host))
    sizes = {np.shape(a)[0] for a in arrays}
    if len(sizes) > 1:
        shapes = [tuple(np.shape(a)) for a in arrays]
        raise ValueError(f"{name} leaves must share their leading size N; got leaf shapes {shapes}.")
    n = sizes.pop()
    if n == 0:
        raise ValueError(f"{name} must hold at least one observation; got N = 0 (leading axis of size 0).")
    return jax.tree.unflatten(treedef, arrays), n


def check_finite(data, mask=None, name: str = "data"):
    """Float leaves must be finite wherever ``mask`` (broadcast over trailing axes) is True."""
    for path, leaf in jax.tree_util.tree_flatten_with_path(data)[0]:
        host = np.asarray(leaf)
        if not np.issubdtype(host.dtype, np.inexact):
            continue
        bad = ~np.isfinite(host)
        if mask is not None:
            keep = np.asarray(mask).reshape(np.shape(mask) + (1,) * (host.ndim - np.ndim(mask)))
            bad = bad & keep
        if np.any(bad):
            where = f"{name}{jax.tree_util.keystr(path)}"
            scope = "" if mask is None else " on real (non-padding) steps"
            raise ValueError(f"{where} must be finite{scope}; got {int(np.sum(bad))} non-finite value(s) (NaN or inf).")


def check_weights(weights, n: int, unit: str = "observation"):
    """Returns float weights (n,) (ones when None); ``unit`` names what they weigh in messages."""
    dtype = jnp.result_type(float)
    if weights is None:
        return jnp.ones((n,), dtype)
    host = np.asarray(weights)
    if host.shape != (n,):
        raise ValueError(f"weights must have shape ({n},), one per {unit}; got shape {host.shape}.")
    if not np.issubdtype(host.dtype, np.number) or np.issubdtype(host.dtype, np.complexfloating):
        raise TypeError(f"weights must be real numbers; got dtype {host.dtype}.")
    if not np.all(np.isfinite(host)):
        raise ValueError("weights must be finite; got NaN or inf.")
    if np.any(host < 0):
        raise ValueError(f"weights must be non-negative; got minimum {host.min()}.")
    if not np.any(host > 0):
        raise ValueError("weights must have at least one positive entry; got all zeros.")
    return jnp.asarray(host, dtype)


def check_key(key, name: str = "key"):
    """A single PRNG key: a typed ``jax.random.key(seed)`` scalar, or a raw ``jax.random.PRNGKey`` (uint32 (2,))."""
    expected = "a jax.random.key(seed) (or a raw jax.random.PRNGKey(seed))"
    if key is None:
        raise ValueError(f"{name} must be {expected}; got None.")
    dtype = getattr(key, "dtype", None)
    if dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
        if np.shape(key) != ():
            raise ValueError(f"{name} must be a single key (shape ()); got a batch of keys of shape {np.shape(key)}.")
        return key
    if isinstance(key, (jax.Array, np.ndarray)) and key.dtype == np.uint32 and key.shape == (2,):
        return key
    raise TypeError(f"{name} must be {expected}; got {key!r}.")


def param_dtype(params, data):
    """The one float dtype every float leaf of the params is cast to: the widest float
    dtype among the params' float leaves and the data's float leaves."""
    dtypes = [jnp.dtype(x.dtype) if hasattr(x, "dtype") else jnp.result_type(x) for x in jax.tree.leaves(params)]
    dtypes += [jnp.result_type(x) for x in jax.tree.leaves(data)]
    floats = [d for d in dtypes if jnp.issubdtype(d, jnp.floating)]
    return jnp.result_type(*floats) if floats else jnp.result_type(float)


def cast_params(params, dtype):
    """Every float leaf of ``params`` as ``dtype`` (other leaves unchanged); works on tracers."""
    return jax.tree.map(
        lambda x: jnp.asarray(x, dtype) if jnp.issubdtype(jnp.result_type(x), jnp.floating) else x, params
    )


def check_model_functions(model, optional: dict[str, str]):
    """Optional callables (name -> expected signature) of a model, at construction; ``statistics``
    and ``maximize`` come together."""
    for name, signature in optional.items():
        value = getattr(model, name)
        if value is not None and not callable(value):
            raise TypeError(f"{name} must be callable {signature} or None; got {value!r}.")
    if (model.statistics is None) != (model.maximize is None):
        given, missing = ("statistics", "maximize") if model.maximize is None else ("maximize", "statistics")
        raise ValueError(f"a closed-form M-step needs both statistics and maximize; got {given} without {missing}.")


def check_positive_int(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int >= {minimum}; got {value!r}.")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value}.")
    return int(value)


def check_non_negative_float(value, name: str, optional: bool = False, meaning: str = "") -> float:
    """``float(value)``, or raises naming ``name`` (``optional``: the message says None is allowed too)."""
    must = f"{name} must be {'None or ' if optional else ''}"
    try:
        number = float(value)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{must}a non-negative float{f' ({meaning})' if meaning else ''}; got {value!r}.") from error
    if not np.isfinite(number) or number < 0:
        raise ValueError(f"{must}a non-negative finite float; got {value!r}.")
    return number


def check_tol(tol) -> float:
    return check_non_negative_float(tol, "tol")


def check_choice(value, name: str, choices: tuple):
    """``value`` if it is one of ``choices``, else ``ValueError`` naming them."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}; got {value!r}.")
    return value


def check_constraints(model, params, source: str):
    """The constraints tree must be a prefix of the params (dict keys may be left out)."""
    tree = model.constraints
    if tree is None:
        return
    if isinstance(params, dict) and isinstance(tree, dict):
        extra = sorted(set(tree) - set(params), key=str)
        if extra:
            raise ValueError(
                f"constraints has keys {extra} that are not parameters; the params from {source} have keys "
                f"{sorted(params, key=str)}."
            )
        tree = {k: tree.get(k, _constraints.real) for k in params}
    bad = [
        c
        for c in jax.tree.leaves(tree, is_leaf=lambda c: c is None)
        if c is not None and not isinstance(c, _constraints.Constraint)
    ]
    if bad:
        raise TypeError(f"constraints must hold jaxem.constraints objects; got {bad[0]!r}.")
    try:
        jax.tree.map(
            lambda c, sub: None, tree, params, is_leaf=lambda c: isinstance(c, _constraints.Constraint) or c is None
        )
    except ValueError as error:
        raise ValueError(
            f"constraints must be a pytree prefix of the params; got constraints {tree!r} but the params from "
            f"{source} have structure {_describe(params)}."
        ) from error


def _is_tracer(x) -> bool:
    return isinstance(x, jax.core.Tracer)


def _init_shapes(model, key, units):
    return model.init(key, model.statistics_data(units))


_init_shapes_jit = jax.jit(_init_shapes, static_argnums=0)


def expected_shapes(model, units, raise_errors: bool = False):
    """The params' shapes the model's ``init`` gives for this data (None without an init).

    ``init`` is only shape-evaluated (nothing runs), through a jitted function
    whose trace JAX caches: a second fit of the same model on data of the
    same shapes does not trace ``init`` again. This is how every model knows
    its parameter shapes: a (1, 3) ``transition`` for three states, or means
    fitted on (N, D) data given with 1-D data, are caught here. With
    ``raise_errors`` an init that cannot be shape-evaluated raises
    ``ValueError``; otherwise it gives no shape check.
    """
    if model.init is None:
        return None
    try:
        return _init_shapes_jit.eval_shape(model, jax.random.key(0), units)
    except ValueError:  # the model's own data checks (e.g. a Gaussian needs (N, D) data)
        raise
    except Exception as error:
        if raise_errors:
            raise ValueError(f"init failed on (key, data): {type(error).__name__}: {error}") from error
        return None


def _check_shapes(params, expected, source: str, batched: bool):
    if expected is None:
        return
    want = {jax.tree_util.keystr(p): tuple(x.shape) for p, x in jax.tree_util.tree_flatten_with_path(expected)[0]}
    got = {jax.tree_util.keystr(p): tuple(np.shape(x)) for p, x in jax.tree_util.tree_flatten_with_path(params)[0]}
    for where, shape in want.items():
        if where not in got:
            raise ValueError(f"{source} is missing {where or 'a leaf'}, which the model's init gives (shape {shape}).")
        have = got[where][1:] if batched else got[where]
        if have != shape:
            lead = "after the leading restart axis " if batched else ""
            raise ValueError(
                f"{source}{where} must have shape {shape} {lead}(the shape the model's init gives for this data); "
                f"got {got[where]}."
            )


def value_problems(model, batch, source: str) -> list:
    """For each restart of a batch (leading axis R): None if its values are finite and inside
    their constraints' domains, else a sentence saying what is wrong (host-side)."""
    host = jax.tree.map(np.asarray, batch)
    flat = jax.tree_util.tree_flatten_with_path(host)[0]
    tree = jax.tree.leaves(_constraints.expand(model.constraints, jax.tree.map(lambda x: x[0], host)))
    problems = []
    for r in range(np.shape(flat[0][1])[0]):
        problem = None
        for (path, leaf), constraint in zip(flat, tree):
            where = f"{source}{jax.tree_util.keystr(path)}"
            if not np.all(np.isfinite(leaf[r])):
                problem = f"{where} must be finite; got {leaf[r]!r} (restart {r})."
            else:
                message = constraint.domain_error(leaf[r])
                if message is not None:
                    problem = f"{where} lies outside its constraint {constraint!r}: {message} (restart {r})."
            if problem is not None:
                break
        problems.append(problem)
    return problems


def check_values(model, params, source: str, batched: bool = False):
    """Raises the first of :func:`value_problems` for one set of params (or a batch); tracers are skipped."""
    if any(_is_tracer(x) for x in jax.tree.leaves(params)):
        return
    batch = params if batched else jax.tree.map(lambda x: np.asarray(x)[None], params)
    for problem in value_problems(model, batch, source):
        if problem is not None:
            raise ValueError(problem if batched else problem.replace(" (restart 0)", ""))


def check_params(model, params, example_unit, source: str, host_values: bool = True, expected=None, batched=False):
    """Dtypes, finiteness, shapes, constraint domains and log_joint's output for one set of params
    (or, with ``batched``, a batch with a leading restart axis)."""
    leaves = jax.tree.leaves(params)
    if not leaves:
        raise ValueError(f"{source} must give a pytree of arrays; got {params!r}.")
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        where = f"{source}{jax.tree_util.keystr(path)}"
        if not hasattr(leaf, "dtype") and not isinstance(leaf, (int, float)):
            raise TypeError(f"{where} must be an array; got {type(leaf).__name__}.")
        if not jnp.issubdtype(jnp.result_type(leaf), jnp.inexact):
            raise TypeError(
                f"{where} must be a float array (parameters are optimised); got dtype {jnp.result_type(leaf)}."
            )
        if jnp.issubdtype(jnp.result_type(leaf), jnp.complexfloating):
            raise TypeError(f"{where} must be a real float array; got complex dtype {jnp.result_type(leaf)}.")
    if model.maximize is not None and not isinstance(params, dict):
        raise TypeError(
            f"{source} must be a dict of parameters when the model has a closed-form maximize; "
            f"got {type(params).__name__}."
        )
    check_constraints(model, params, source)
    _check_shapes(params, expected, source, batched)
    if host_values:
        check_values(model, params, source, batched)
    one = jax.tree.map(lambda x: x[0], params) if batched else params
    try:
        out = jax.eval_shape(model.example_log_joint, one, example_unit)
    except Exception as error:
        raise ValueError(
            f"log_joint failed on the params from {source} (structure {_describe(one)}) and one observation: "
            f"{type(error).__name__}: {error}"
        ) from error
    if out.shape != ():
        raise ValueError(
            f"log_joint must return a scalar for one observation and one latent value; got shape {out.shape}."
        )
    return params


def checked_params(model, params, units, example, source: str = "params"):
    """``params`` checked (shapes from the model's init, constraint domains, log_joint) and
    cast to one float dtype (:func:`param_dtype`)."""
    check_params(model, params, example, source, expected=expected_shapes(model, units))
    return cast_params(params, param_dtype(params, units))


def check_init_params(model, init_params, example_unit, expected=None):
    """Returns (params batch with leading restart axis R, R) from one set or a batch."""
    init_params = jax.tree.map(jnp.asarray, init_params)
    leaves = jax.tree.leaves(init_params)
    if not leaves:
        raise ValueError(f"init_params must be a pytree of arrays; got {init_params!r}.")
    try:
        check_params(model, init_params, example_unit, "init_params", expected=expected)
        return jax.tree.map(lambda x: x[None], init_params), 1
    except (ValueError, TypeError) as error:
        single_error = error
    sizes = {np.shape(x)[0] if np.ndim(x) else None for x in leaves}
    if len(sizes) == 1 and None not in sizes and _looks_batched(init_params, expected):
        try:
            check_params(model, init_params, example_unit, "init_params", expected=expected, batched=True)
        except (ValueError, TypeError) as batch_error:
            if expected is not None:  # the shapes say it is a batch: its own error is the one to show
                raise batch_error from None
        else:
            return init_params, sizes.pop()
    raise ValueError(
        "init_params must be one set of parameters or a batch with a leading restart axis; "
        f"got structure {_describe(init_params)}, which fails as one set: {single_error}"
    ) from single_error


def _looks_batched(params, expected) -> bool:
    """With known shapes: every leaf has exactly one more axis than the model's init gives."""
    if expected is None:
        return True
    if jax.tree.structure(params) != jax.tree.structure(expected):
        return False
    return all(np.ndim(x) == len(e.shape) + 1 for x, e in zip(jax.tree.leaves(params), jax.tree.leaves(expected)))


def check_fixed(params, fixed) -> frozenset:
    """``fixed``: a collection of top-level parameter names (held fixed: not counted, not estimated)."""
    if isinstance(fixed, str):
        raise TypeError(f"fixed must be a collection of parameter names, e.g. ({fixed!r},); got the string {fixed!r}.")
    fixed = frozenset(fixed)
    if fixed and not isinstance(params, dict):
        raise TypeError(f"fixed names top-level parameters, so params must be a dict; got {type(params).__name__}.")
    unknown = sorted(map(str, fixed - set(params))) if fixed else []
    if unknown:
        raise ValueError(f"fixed must name parameters of the model ({sorted(params)}); got unknown {unknown}.")
    return fixed
