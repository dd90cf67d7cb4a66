"""Saving fitted results to one portable ``.npz`` file, and loading them back.

:func:`save` writes a :class:`jaxem.FitResult` (or a params pytree alone) as
a NumPy ``.npz`` archive that needs no pickle: ``np.load(path,
allow_pickle=False)`` reads it, and so can any zip and ``.npy`` reader. The
archive holds

============================  ==============================================
entry                         content
============================  ==============================================
``header``                    the JSON header, UTF-8 bytes as a uint8 array
``params/<path>``             each leaf of the (best) params
``result/<field>``            the FitResult's ``log_likelihood``, ``objective``,
                              ``converged``, ``num_iterations``, ``history``,
                              ``best_restart``, ``degenerate``
``restarts/<field>``          each field of ``FitResult.restarts`` (leading
                              restart axis R); ``restarts/params/<path>`` the
                              restarts' params
============================  ==============================================

``<path>`` joins the keys and indices leading to a leaf with ``/`` (dict keys
percent-encoded, list and tuple indices as ``#0``, ``#1``, ...), e.g.
``params/means`` or ``params/layers/#0/scale``; a params that is one array
is ``params`` itself. The names are for people reading the archive; the
header is what :func:`load` follows. Its JSON object is

.. code-block:: text

    {"format": "jaxem", "format_version": 1, "jaxem_version": "0.1.0",
     "model": <jaxem.models.specification.describe(model), or null>,
     "model_label": <label(model), or null>,
     "params": <tree>,
     "result": {"<field>": <tree>, ...} or null,
     "restarts": {"<field>": <tree>, ...} or null,
     "metadata": {...}}

where a ``<tree>`` is ``{"array": "<entry name>", "dtype": "float64",
"shape": [2, 3]}`` for an array leaf (plus ``"scalar": "float"`` when the
leaf was a Python scalar), ``{"dict": {key: <tree>, ...}}``,
``{"list": [<tree>, ...]}``, ``{"tuple": [<tree>, ...]}`` or ``null`` (None).

Supported params pytrees: nested ``dict`` (str keys), ``list``, ``tuple``
and ``None``, with leaves NumPy or JAX arrays (any dtype NumPy stores
without pickle: bool, integers, floats, complex, and JAX's bfloat16 and
other ml_dtypes, kept by their name) or Python bool, int, float or complex.
Anything else (namedtuples, dataclasses and other registered pytree nodes,
object arrays, PRNG key arrays) raises ``TypeError`` naming where it is.

:func:`load` returns NumPy arrays, never JAX arrays: they keep the saved
dtype exactly (JAX without ``jax_enable_x64`` would turn float64 into
float32), stay on the host, and every jaxem function accepts them as it
accepts JAX arrays. Python scalar leaves come back as Python scalars, NumPy
scalars (``np.float64(1.0)``) and 0-d JAX arrays as 0-d NumPy arrays.

Example:
  >>> result = jaxem.fit(model, data, key=jax.random.key(0))
  >>> jaxem.persistence.save("fit.npz", result, model, metadata={"data": "faithful"})
  >>> saved = jaxem.persistence.load("fit.npz")
  >>> jaxem.log_likelihood(saved.model, saved.params, data)
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote

import jax
import numpy as np

from jaxem.driver import FitResult, Restarts
from jaxem.models import specification

__all__ = ["FORMAT", "FORMAT_VERSION", "Saved", "load", "save"]

FORMAT = "jaxem"
FORMAT_VERSION = 1
HEADER = "header"
_RESULT_FIELDS = tuple(name for name in FitResult._fields if name not in ("params", "restarts"))
_SCALARS = {bool: "bool", int: "int", float: "float", complex: "complex"}
_SCALAR_TYPES = {name: kind for kind, name in _SCALARS.items()}


class Saved(NamedTuple):
    """What :func:`load` returns.

    Attributes:
      params: the params pytree (for a saved FitResult, its best params), NumPy arrays.
      model: the built-in model rebuilt from its specification, or None (a
        user-written model, or none given to :func:`save`).
      result: the :class:`jaxem.FitResult` rebuilt (its ``restarts`` a
        :class:`jaxem.Restarts`, arrays NumPy), or None when params alone were saved.
      metadata: the user's metadata dict (empty if none was given).
    """

    params: Any
    model: Any
    result: FitResult | None
    metadata: dict


# ---------------------------------------------------------------------- encoding
def _leaf_array(value, where: str) -> tuple[np.ndarray, str | None]:
    """``(array, scalar kind or None)`` for a leaf, or TypeError naming where it is."""
    if type(value) in _SCALARS:
        array = np.asarray(value)
        if array.dtype.hasobject:  # an int beyond 64 bits
            raise TypeError(f"{where} is the Python int {value!r}, too large for a 64-bit integer array.")
        return array, _SCALARS[type(value)]
    if not isinstance(value, (np.ndarray, np.generic, jax.Array)):
        raise TypeError(
            f"{where} is a {type(value).__module__}.{type(value).__qualname__}: jaxem.persistence saves pytrees of "
            "dicts (str keys), lists, tuples and None with array or Python scalar leaves."
        )
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as error:  # e.g. a PRNG key array
        raise TypeError(f"{where} (dtype {getattr(value, 'dtype', '?')}) cannot be saved as a NumPy array.") from error
    if array.dtype.hasobject or array.dtype.names is not None:
        raise TypeError(f"{where} has dtype {array.dtype}; object and structured arrays need pickle and are not saved.")
    return array, None


def _encode(tree, name: str, where: str, arrays: dict):
    """The header node of ``tree``; its leaves go into ``arrays`` under names starting with ``name``."""
    if tree is None:
        return None
    if type(tree) is dict:
        nodes = {}
        for key, value in tree.items():
            if not isinstance(key, str):
                raise TypeError(f"{where} has the key {key!r} ({type(key).__name__}); only str dict keys are saved.")
            nodes[key] = _encode(value, f"{name}/{quote(key, safe='')}", f"{where}[{key!r}]", arrays)
        return {"dict": nodes}
    if type(tree) in (list, tuple):
        kind = type(tree).__name__
        return {kind: [_encode(value, f"{name}/#{i}", f"{where}[{i}]", arrays) for i, value in enumerate(tree)]}
    if isinstance(tree, (dict, list, tuple)):  # namedtuples, OrderedDicts, dict subclasses: not exactly rebuilt
        raise TypeError(
            f"{where} is a {type(tree).__qualname__}; jaxem.persistence saves only plain dict, list and tuple "
            "nodes (convert it, e.g. with dict(...) or tuple(...))."
        )
    array, scalar = _leaf_array(tree, where)
    arrays[name] = array
    node = {"array": name, "dtype": array.dtype.name, "shape": list(array.shape)}
    if scalar is not None:
        node["scalar"] = scalar
    return node


def _check_metadata(metadata) -> dict:
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise TypeError(f"metadata must be a dict of JSON values or None; got {type(metadata).__name__} {metadata!r}.")
    try:
        same = json.loads(json.dumps(metadata, allow_nan=False)) == metadata
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"metadata must be JSON-serialisable (finite numbers, str keys); {error}: {metadata!r}."
        ) from error
    if not same:
        raise TypeError(
            "metadata must come back from JSON unchanged: str keys, lists rather than tuples, no NaN; "
            f"got {metadata!r}."
        )
    return metadata


def save(path, fitted, model=None, *, metadata: dict | None = None) -> Path:
    """Writes a fitted result, or a params pytree, to one ``.npz`` file readable without pickle.

    Args:
      path: the file to write, exactly (no suffix is added; ``.npz`` is the
        usual one). An existing file is replaced, atomically.
      fitted: a :class:`jaxem.FitResult` (everything is saved: the best
        params, its fields and every restart's) or a params pytree (see the
        module docstring for the pytrees supported).
      model: optional, the model that was fitted. A built-in is saved as its
        specification (:func:`jaxem.models.specification.describe`) and
        rebuilt by :func:`load`; any other model is recorded only by its
        label and loads as None.
      metadata: optional dict of JSON values (str keys, lists, finite
        numbers), stored in the header and returned by :func:`load`.

    Returns:
      The path written, as a :class:`pathlib.Path`.

    Raises:
      TypeError: an unsupported pytree node or leaf (named by its path),
        ``model`` not a jaxem model, or metadata that JSON does not keep.

    Example:
      >>> jaxem.persistence.save("fit.npz", result, model)
    """
    import jaxem  # for the version; at call time, so this module can be imported from jaxem's __init__

    metadata = _check_metadata(metadata)
    spec = model_label = None
    if model is not None:
        spec = specification.describe(model)
        model_label = specification.label(model)
    arrays: dict[str, np.ndarray] = {}
    if isinstance(fitted, FitResult):
        params = _encode(fitted.params, "params", "params", arrays)
        result = {f: _encode(getattr(fitted, f), f"result/{f}", f"result.{f}", arrays) for f in _RESULT_FIELDS}
        if not isinstance(fitted.restarts, Restarts):
            raise TypeError(f"fitted.restarts must be a jaxem.Restarts; got {type(fitted.restarts).__name__}.")
        restarts = {
            f: _encode(getattr(fitted.restarts, f), f"restarts/{f}", f"result.restarts.{f}", arrays)
            for f in Restarts._fields
        }
    elif isinstance(fitted, Restarts):
        raise TypeError("fitted is a jaxem.Restarts; save the whole FitResult (or one restart's params) instead.")
    else:
        params = _encode(fitted, "params", "params", arrays)
        result = restarts = None
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "jaxem_version": jaxem.__version__,
        "model": spec,
        "model_label": model_label,
        "params": params,
        "result": result,
        "restarts": restarts,
        "metadata": metadata,
    }
    arrays[HEADER] = np.frombuffer(json.dumps(header, allow_nan=False).encode("utf-8"), dtype=np.uint8)
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez_compressed(file, **arrays)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


# ---------------------------------------------------------------------- decoding
def _not_jaxem(path, why: str) -> ValueError:
    return ValueError(f"{str(path)!r} is not a jaxem file ({why}); jaxem.persistence.load reads files from save.")


def _decode(node, archive, path):
    if node is None:
        return None
    if not isinstance(node, dict) or len(node) == 0:
        raise _not_jaxem(path, f"a malformed tree node {node!r} in its header")
    if "array" in node:
        name = node["array"]
        if name not in archive.files:
            raise _not_jaxem(path, f"its header names the array {name!r}, which it does not hold")
        array = archive[name]
        if array.dtype.name != node.get("dtype", array.dtype.name):  # e.g. bfloat16, stored as raw bytes
            array = array.view(_dtype(node["dtype"], path))
        if "scalar" in node:
            return _SCALAR_TYPES[node["scalar"]](array.item())
        return array
    (kind, children), *rest = node.items()
    if rest or kind not in ("dict", "list", "tuple"):
        raise _not_jaxem(path, f"a malformed tree node {node!r} in its header")
    if kind == "dict":
        return {key: _decode(child, archive, path) for key, child in children.items()}
    values = [_decode(child, archive, path) for child in children]
    return values if kind == "list" else tuple(values)


def _dtype(name: str, path):
    try:
        import ml_dtypes  # installed with jax: bfloat16, float8 types, int4, ...

        return np.dtype(getattr(ml_dtypes, name))
    except (ImportError, AttributeError, TypeError) as error:
        raise ValueError(
            f"{str(path)!r} holds an array saved with dtype {name!r}, which NumPy and ml_dtypes here do not know."
        ) from error


def load(path) -> Saved:
    """Reads a file written by :func:`save`.

    Args:
      path: the file.

    Returns:
      :class:`Saved` ``(params, model, result, metadata)``: the params (NumPy
      arrays, dtypes as saved), the built-in model rebuilt (None for any
      other), the :class:`jaxem.FitResult` rebuilt (None if params alone
      were saved) and the metadata dict.

    Raises:
      FileNotFoundError: no file at ``path``.
      ValueError: the file is not a jaxem file, was written by a newer
        format version than this jaxem reads, or names a model this jaxem
        cannot build.

    Example:
      >>> saved = jaxem.persistence.load("fit.npz")
      >>> saved.result.log_likelihood, saved.model
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no jaxem file at {str(path)!r}" + (" (it is a directory)." if path.exists() else "."))
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        raise _not_jaxem(path, f"NumPy cannot read it as an .npz archive: {error}") from error
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise _not_jaxem(path, "it is a single .npy array, not an .npz archive")
    with archive:
        if HEADER not in archive.files:
            raise _not_jaxem(path, f"an .npz archive without a {HEADER!r} entry; it holds {archive.files[:8]}")
        try:
            header = json.loads(archive[HEADER].tobytes().decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as error:
            raise _not_jaxem(path, f"its {HEADER!r} entry is not JSON") from error
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            found = header.get("format") if isinstance(header, dict) else header
            raise _not_jaxem(path, f"its header's format is {found!r}, not {FORMAT!r}")
        version = header.get("format_version")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise _not_jaxem(path, f"its header's format_version is {version!r}")
        if version > FORMAT_VERSION:
            raise ValueError(
                f"{str(path)!r} has jaxem format version {version} (written by jaxem "
                f"{header.get('jaxem_version')}); this jaxem {_version()} reads versions up to {FORMAT_VERSION}. "
                "Upgrade jaxem to load it."
            )
        params = _decode(header.get("params"), archive, path)
        result = None
        if header.get("result") is not None:
            result = _result(header, params, archive, path)
    spec = header.get("model")
    model = None
    if spec is not None:
        try:
            model = specification.build(spec)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{str(path)!r} names a model this jaxem cannot build: {error}") from error
    metadata = header.get("metadata") or {}
    return Saved(params=params, model=model, result=result, metadata=metadata)


def _result(header, params, archive, path) -> FitResult:
    """The FitResult from the header's ``result`` and ``restarts`` entries, every field checked present."""
    result, restarts = header.get("result"), header.get("restarts")
    expected = {"result": set(_RESULT_FIELDS), "restarts": set(Restarts._fields)}
    for name, nodes in (("result", result), ("restarts", restarts)):
        if not isinstance(nodes, dict) or set(nodes) != expected[name]:
            found = sorted(nodes) if isinstance(nodes, dict) else nodes
            raise ValueError(
                f"{str(path)!r} (jaxem {header.get('jaxem_version')}) saved the {name} fields {found}; this jaxem's "
                f"{'FitResult' if name == 'result' else 'Restarts'} has {sorted(expected[name])}."
            )
    restarts = Restarts(**{f: _decode(restarts[f], archive, path) for f in Restarts._fields})
    fields = {f: _decode(result[f], archive, path) for f in _RESULT_FIELDS}
    return FitResult(params=params, restarts=restarts, **fields)


def _version() -> str:
    import jaxem

    return jaxem.__version__
