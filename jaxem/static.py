"""Static arguments compared by value, so equal configurations share compiled programs.

Models, built-in families and their callables are static arguments of the
module-level jitted programs: JAX reuses a compiled program when the static
arguments are equal and hash alike. :class:`ByValue` gives a frozen dataclass
that equality and hash over its fields, with dicts and lists frozen into
tuples; callables compare as themselves (the same function object is equal,
two lambdas are not), so two calls of a built-in factory with equal arguments
give equal models, while user models built from different functions differ.
"""

from __future__ import annotations

import dataclasses

__all__ = ["ByValue", "freeze"]


def freeze(value):
    """A hashable stand-in for ``value``: dicts and lists become tuples, recursively."""
    if isinstance(value, dict):
        return ("dict", tuple((key, freeze(item)) for key, item in value.items()))
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(freeze(item) for item in value))
    return value


class ByValue:
    """Mixin for frozen dataclasses: ``==`` and ``hash`` over the (frozen) fields and the type."""

    def _value_key(self):
        return (type(self),) + tuple(freeze(getattr(self, f.name)) for f in dataclasses.fields(self))

    def __eq__(self, other):
        if self is other:
            return True
        if type(other) is not type(self):
            return NotImplemented
        return self._value_key() == other._value_key()

    def __hash__(self):
        return hash(self._value_key())
