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


def check_data(data, name: str = "data"):
    """Converts data leaves to arrays; returns (data, N). Leaves share a leading axis N >= 1."""
    leaves, treedef = jax.tree.flatten(data)
    if not leaves:
        raise ValueError(f"{name} must be an array or a pytree of arrays; got {data!r} with no array leaves.")
    arrays = []
    for path, leaf in jax.tree_util.tree_flatten_with_path(data)[0]:
        where = f"{name}{jax.tree_util.keystr(path)}"
        try:
            host = np.asarray(leaf)
        except Exception as error:
            raise TypeError(f"{where} must be array-like; got {type(leaf).__name__}.") from error
        if host.dtype == object or not (np.issubdtype(host.dtype, np.number) or host.dtype == bool):
            raise TypeError(f"{where} must hold numbers; got dtype {host.dtype}.")
        if host.ndim == 0:
            raise ValueError(f"{where} must have a leading observation axis; got a scalar.")
        if np.issubdtype(host.dtype, np.inexact) and not np.all(np.isfinite(host)):
            bad = int(np.size(host) - np.count_nonzero(np.isfinite(host)))
            raise ValueError(f"{where} must be finite; got {bad} non-finite value(s) (NaN or inf).")
        arrays.append(leaf if isinstance(leaf, jax.Array) else jnp.asarray(host))
    sizes = {np.shape(a)[0] for a in arrays}
    if len(sizes) > 1:
        shapes = [tuple(np.shape(a)) for a in arrays]
        raise ValueError(f"{name} leaves must share their leading size N; got leaf shapes {shapes}.")
    n = sizes.pop()
    if n == 0:
        raise ValueError(f"{name} must hold at least one observation; got N = 0 (leading axis of size 0).")
    return jax.tree.unflatten(treedef, arrays), n


def check_weights(weights, n: int):
    """Returns float weights (N,) (ones when None)."""
    dtype = jnp.result_type(float)
    if weights is None:
        return jnp.ones((n,), dtype)
    host = np.asarray(weights)
    if host.shape != (n,):
        raise ValueError(f"weights must have shape ({n},), one per observation; got shape {host.shape}.")
    if not np.issubdtype(host.dtype, np.number) or np.issubdtype(host.dtype, np.complexfloating):
        raise TypeError(f"weights must be real numbers; got dtype {host.dtype}.")
    if not np.all(np.isfinite(host)):
        raise ValueError("weights must be finite; got NaN or inf.")
    if np.any(host < 0):
        raise ValueError(f"weights must be non-negative; got minimum {host.min()}.")
    if not np.any(host > 0):
        raise ValueError("weights must have at least one positive entry; got all zeros.")
    return jnp.asarray(host, dtype)


def check_model_functions(model, optional: dict[str, str]):
    """Optional callables (name -> expected signature) and ``m_step`` of a model, at construction."""
    for name, signature in optional.items():
        value = getattr(model, name)
        if value is not None and not callable(value):
            raise TypeError(f"{name} must be callable {signature} or None; got {value!r}.")
    m_step = model.m_step
    if m_step is None or callable(m_step):
        return
    if not isinstance(m_step, dict):
        raise TypeError(
            "m_step must be None, a dict {parameter name: update function} or one function "
            f"returning a params dict; got {type(m_step).__name__}."
        )
    for name, update in m_step.items():
        if not callable(update):
            raise TypeError(
                f"m_step[{name!r}] must be callable (data, responsibilities, weights, params); got {update!r}."
            )


def check_positive_int(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int >= {minimum}; got {value!r}.")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value}.")
    return int(value)


def check_tol(tol) -> float:
    try:
        value = float(tol)
    except (TypeError, ValueError) as error:
        raise TypeError(f"tol must be a non-negative float; got {tol!r}.") from error
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"tol must be a non-negative finite float; got {tol!r}.")
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


def check_params(model, params, example_unit, source: str, host_values: bool = True):
    """Shapes, finiteness, constraints and log_joint's output for one set of params."""
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
        if host_values and not np.all(np.isfinite(np.asarray(leaf))):
            raise ValueError(f"{where} must be finite; got {np.asarray(leaf)!r}.")
    if model.m_step is not None and not isinstance(params, dict):
        raise TypeError(
            f"{source} must be a dict of parameters when the model registers m_step updates; got {type(params).__name__}."
        )
    if isinstance(model.m_step, dict):
        missing = sorted(set(model.m_step) - set(params), key=str)
        if missing:
            raise ValueError(
                f"m_step registers updates for {missing}, which are not keys of the params from {source} ({sorted(params, key=str)})."
            )
    check_constraints(model, params, source)
    try:
        out = jax.eval_shape(model.example_log_joint, params, example_unit)
    except Exception as error:
        raise ValueError(
            f"log_joint failed on the params from {source} (structure {_describe(params)}) and one observation: "
            f"{type(error).__name__}: {error}"
        ) from error
    if out.shape != ():
        raise ValueError(
            f"log_joint must return a scalar for one observation and one latent value; got shape {out.shape}."
        )
    return params


def same_structure(a, b) -> bool:
    return jax.tree.structure(a) == jax.tree.structure(b) and all(
        np.shape(x) == np.shape(y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b))
    )


def check_init_params(model, init_params, example_unit):
    """Returns (params batch with leading restart axis R, R) from one set or a batch."""
    init_params = jax.tree.map(jnp.asarray, init_params)
    leaves = jax.tree.leaves(init_params)
    if not leaves:
        raise ValueError(f"init_params must be a pytree of arrays; got {init_params!r}.")
    single_error = None
    try:
        check_params(model, init_params, example_unit, "init_params")
        return jax.tree.map(lambda x: x[None], init_params), 1
    except (ValueError, TypeError) as error:
        single_error = error
    sizes = {np.shape(x)[0] if np.ndim(x) else None for x in leaves}
    if len(sizes) == 1 and None not in sizes:
        r = sizes.pop()
        try:
            check_params(model, jax.tree.map(lambda x: x[0], init_params), example_unit, "init_params[restart 0]")
            if not np.all([np.all(np.isfinite(np.asarray(x))) for x in leaves]):
                raise ValueError("init_params must be finite; got NaN or inf in the batch.")
            return init_params, r
        except (ValueError, TypeError):
            pass
    raise ValueError(
        "init_params must be one set of parameters or a batch with a leading restart axis; "
        f"got structure {_describe(init_params)}, which fails as one set: {single_error}"
    ) from single_error
