"""Specifications of the built-in models: a built-in as a small JSON-able dict, and back.

Every built-in model is a plain :class:`jaxem.Model` or :class:`jaxem.MarkovModel`
assembled by one factory of :mod:`jaxem.models` from its arguments, so the
factory's name and arguments describe it completely:

    {"builder": "gaussian_mixture", "args": [3],
     "kwargs": {"covariance_type": "full", "reg_covar": 1e-06, "init": "kmeans"}}

``kwargs`` always holds every keyword of the factory (defaults written out), so
a specification does not depend on the defaults of the jaxem that reads it.
A built-in whose fields were changed with ``dataclasses.replace`` to plain
values (``None``, a bool, an int, a float or a string: e.g. ``parallel=True``,
or ``statistics=None, maximize=None`` for gradient M-steps) adds them as
``"replace": {"parallel": true}``, applied to the factory's model. A model with
any other part of its own (a user-written model, a custom ``init``
callable, replaced ``statistics``) has no specification: :func:`describe`
returns ``None``.

The rule :func:`describe` keeps is ``build(describe(model)) == model`` (models
compare by value): it rebuilds the candidate specification and returns it only
if the rebuilt model equals the one given. :func:`label` gives a short name
for tables.

Example:
  >>> spec = describe(jaxem.models.gaussian_mixture(3))
  >>> build(spec) == jaxem.models.gaussian_mixture(3)
  True
  >>> label(jaxem.models.gaussian_mixture(3, covariance_type="diag"))
  "gaussian_mixture(3, covariance_type='diag')"
"""

from __future__ import annotations

import dataclasses
import inspect
import json
from collections.abc import Mapping

from jaxem import families
from jaxem.markov import MarkovModel
from jaxem.model import Model
from jaxem.models import hmm, mixtures
from jaxem.static import freeze

__all__ = ["BUILDERS", "build", "describe", "label"]

BUILDERS = {
    "gaussian_mixture": mixtures.gaussian_mixture,
    "poisson_mixture": mixtures.poisson_mixture,
    "bernoulli_mixture": mixtures.bernoulli_mixture,
    "categorical_mixture": mixtures.categorical_mixture,
    "gaussian_hmm": hmm.gaussian_hmm,
    "poisson_hmm": hmm.poisson_hmm,
    "categorical_hmm": hmm.categorical_hmm,
}

_SPEC_KEYS = ("builder", "args", "kwargs", "replace")
# Keywords :func:`label` shows even at their default: what a table of models usually varies.
_ALWAYS_SHOWN = ("covariance_type",)
_JSON_SCALARS = (type(None), bool, int, float, str)

_MIXTURE_BUILDERS = {
    families.Gaussian: "gaussian_mixture",
    families.Poisson: "poisson_mixture",
    families.Bernoulli: "bernoulli_mixture",
    families.Categorical: "categorical_mixture",
}
_HMM_BUILDERS = {
    families.Gaussian: "gaussian_hmm",
    families.Poisson: "poisson_hmm",
    families.Categorical: "categorical_hmm",
}


def _keyword_defaults(builder: str) -> dict:
    """The factory's keyword-only parameters and their defaults, in signature order."""
    parameters = inspect.signature(BUILDERS[builder]).parameters.values()
    return {p.name: p.default for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY}


def _check_model(model, name: str = "model"):
    if not isinstance(model, (Model, MarkovModel)):
        raise TypeError(f"{name} must be a jaxem.Model or jaxem.MarkovModel; got {type(model).__name__} {model!r}.")


def _candidate(model):
    """``(builder, args, kwargs)`` read off the model's parts, or None if it was not built by a factory.

    Only a guess: the family and the init scheme are read from the parts that
    carry them (a mixture's ``log_joint``, an HMM's ``log_emission``, the
    ``init``); :func:`describe` checks it by rebuilding.
    """
    num_states = model.num_states
    if type(num_states) is not int:
        return None
    if isinstance(model, Model) and isinstance(model.log_joint, mixtures.MixtureLogJoint):
        family = model.log_joint.family
        builder = _MIXTURE_BUILDERS.get(type(family))
        init = model.init
        scheme = init.scheme if isinstance(init, mixtures.MixtureInit) else None
    elif isinstance(model, MarkovModel) and isinstance(model.log_emission, hmm.HMMEmission):
        family = model.log_emission.family
        builder = _HMM_BUILDERS.get(type(family))
        init = model.init
        if isinstance(init, hmm.HMMInit):
            scheme = init.scheme
        elif isinstance(init, hmm.DirichletStart) and builder == "categorical_hmm":
            scheme = "dirichlet"
        else:
            scheme = None
    else:
        return None
    if builder is None:
        return None
    args = [num_states]
    kwargs = _keyword_defaults(builder)
    if isinstance(family, families.Categorical):
        args.append(family.num_categories)
    if isinstance(family, families.Gaussian):
        kwargs.update(covariance_type=family.covariance_type, reg_covar=family.reg_covar)
    if scheme is not None:  # otherwise the default: a replaced init is caught by the rebuild
        kwargs["init"] = scheme
    return builder, args, kwargs


def describe(model) -> dict | None:
    """The JSON-able specification of a built-in model, or None for any other model.

    Args:
      model: a :class:`jaxem.Model` or :class:`jaxem.MarkovModel`.

    Returns:
      ``{"builder": name, "args": [...], "kwargs": {...}}`` (plus ``"replace"``
      for fields set to plain values by ``dataclasses.replace``, see the
      module docstring) such that ``build(spec) == model``; None when no such
      specification exists (a user-written model, a built-in with a part of
      its own such as a custom ``init`` callable).

    Raises:
      TypeError: ``model`` is not a jaxem model.

    Example:
      >>> describe(jaxem.models.poisson_hmm(2))
      {'builder': 'poisson_hmm', 'args': [2], 'kwargs': {'init': 'kmeans++'}}
    """
    _check_model(model)
    candidate = _candidate(model)
    if candidate is None:
        return None
    builder, args, kwargs = candidate
    spec = {"builder": builder, "args": args, "kwargs": kwargs}
    try:
        rebuilt = build(spec)
    except (TypeError, ValueError):
        return None
    if type(rebuilt) is not type(model):
        return None
    replace = {}
    for field in dataclasses.fields(model):
        value = getattr(model, field.name)
        if freeze(getattr(rebuilt, field.name)) != freeze(value):
            if type(value) not in _JSON_SCALARS:
                return None  # a part of the user's own: no specification
            replace[field.name] = value
    if replace:
        spec["replace"] = replace
    try:
        same_after_json = json.loads(json.dumps(spec, allow_nan=False)) == spec
        rebuilt = build(spec) if replace else rebuilt
    except (TypeError, ValueError):
        return None
    return spec if same_after_json and rebuilt == model else None


def build(spec: Mapping):
    """The built-in model a specification (from :func:`describe`) names.

    Args:
      spec: a mapping with ``"builder"`` (one of :data:`BUILDERS`), and
        optionally ``"args"`` (a list), ``"kwargs"`` (a dict with str keys) and
        ``"replace"`` (a dict of model field names to None, bool, int, float
        or str values, applied with ``dataclasses.replace``).

    Returns:
      The model ``BUILDERS[builder](*args, **kwargs)``, with ``replace`` applied.

    Raises:
      TypeError: ``spec`` or one of its entries has the wrong type, or the
        factory rejects the arguments' types.
      ValueError: an unknown builder or key, or the factory rejects the
        arguments' values.

    Example:
      >>> build({"builder": "categorical_mixture", "args": [3, 4], "kwargs": {}})
    """
    if not isinstance(spec, Mapping):
        raise TypeError(f"spec must be a dict with a 'builder' entry; got {type(spec).__name__} {spec!r}.")
    unknown = [key for key in spec if key not in _SPEC_KEYS]
    if unknown:
        raise ValueError(f"spec has unknown keys {unknown}; expected only {list(_SPEC_KEYS)}. Got {dict(spec)!r}.")
    if "builder" not in spec:
        raise ValueError(f"spec must have a 'builder' entry (one of {sorted(BUILDERS)}); got {dict(spec)!r}.")
    builder = spec["builder"]
    if not isinstance(builder, str) or builder not in BUILDERS:
        raise ValueError(f"spec['builder'] must be one of {sorted(BUILDERS)}; got {builder!r}.")
    args = spec.get("args", [])
    kwargs = spec.get("kwargs", {})
    replace = spec.get("replace", {})
    if not isinstance(args, (list, tuple)):
        raise TypeError(f"spec['args'] must be a list; got {type(args).__name__} {args!r}.")
    for entry, name in ((kwargs, "kwargs"), (replace, "replace")):
        if not isinstance(entry, Mapping) or not all(isinstance(key, str) for key in entry):
            raise TypeError(f"spec[{name!r}] must be a dict with str keys; got {type(entry).__name__} {entry!r}.")
    call = f"{builder}({_arguments(args, kwargs)})"
    try:
        model = BUILDERS[builder](*args, **kwargs)
    except (TypeError, ValueError) as error:
        raise type(error)(f"spec {call} was rejected by jaxem.models.{builder}: {error}") from error
    if not replace:
        return model
    names = [field.name for field in dataclasses.fields(model)]
    bad = [key for key in replace if key not in names]
    if bad:
        raise ValueError(f"spec['replace'] names {bad}, not fields of {type(model).__name__}; its fields are {names}.")
    for key, value in replace.items():
        if type(value) not in _JSON_SCALARS:
            raise TypeError(f"spec['replace'][{key!r}] must be None, a bool, int, float or str; got {value!r}.")
    try:
        return dataclasses.replace(model, **replace)
    except (TypeError, ValueError) as error:
        raise type(error)(f"spec['replace'] {dict(replace)!r} was rejected for {call}: {error}") from error


def _arguments(args, kwargs) -> str:
    return ", ".join([repr(a) for a in args] + [f"{key}={value!r}" for key, value in kwargs.items()])


def label(model) -> str:
    """A short readable name of a model, for tables.

    A built-in reads as its factory call with the keywords that differ from
    the defaults (and ``covariance_type`` always), e.g.
    ``"gaussian_mixture(3, covariance_type='full')"``; fields replaced by
    plain values as ``"replace(poisson_hmm(2), parallel=True)"``. Any other
    model reads as its type and number of states, ``"Model(num_states=3)"``.

    Raises:
      TypeError: ``model`` is not a jaxem model.
    """
    _check_model(model)
    spec = describe(model)
    if spec is None:
        return f"{type(model).__name__}(num_states={model.num_states!r})"
    defaults = _keyword_defaults(spec["builder"])
    shown = {
        key: value
        for key, value in spec["kwargs"].items()
        if key in _ALWAYS_SHOWN or key not in defaults or value != defaults[key]
    }
    text = f"{spec['builder']}({_arguments(spec['args'], shown)})"
    if "replace" in spec:
        text = f"replace({text}, {_arguments([], spec['replace'])})"
    return text
