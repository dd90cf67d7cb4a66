"""Checks of the mixture estimators' constructor arguments, starting values and input data.

Everything here runs in ``fit`` (scikit-learn's rule: the constructor only
stores) before anything is compiled, and raises ``ValueError`` naming the
argument, what was given and what was expected. Where scikit-learn's
``GaussianMixture`` has a message of its own for the same mistake, ours
begins with scikit-learn's key phrase (``"The parameter 'weights' should be
normalized"``, ``"should have the shape of"``, ``"Expected n_samples >=
n_components"``) so code that matches those messages keeps working, and then
says it in jaxem's terms.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = [
    "check_bool",
    "check_choice",
    "check_enough_samples",
    "check_int",
    "check_integral",
    "check_non_negative",
    "check_weights_init",
    "given_array",
    "negative_values_error",
]


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def check_int(value, name: str, minimum: int) -> int:
    """An int (not a bool) of at least ``minimum``."""
    if not _is_int(value) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}; got {value!r}.")
    return int(value)


def check_non_negative(value, name: str) -> float:
    """A finite real number >= 0."""
    real = isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
    if not real or not 0 <= value < math.inf:
        raise ValueError(f"{name} must be a non-negative finite float; got {value!r}.")
    return float(value)


def check_choice(value, name: str, choices) -> str:
    """One of ``choices`` (strings)."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}; got {value!r}.")
    return value


def check_bool(value, name: str) -> bool:
    """True or False (a Python or NumPy bool)."""
    if type(value) not in (bool, np.bool_):
        raise ValueError(f"{name} must be True or False; got {value!r}.")
    return bool(value)


def check_enough_samples(num_samples: int, num_components: int):
    """scikit-learn's rule: at least one sample per component."""
    if num_samples < num_components:
        raise ValueError(
            f"Expected n_samples >= n_components but got n_components = {num_components}, "
            f"n_samples = {num_samples}: X must have at least one sample per component."
        )


def given_array(value, name: str, shape, meaning: str, parameter: str):
    """A user-given starting array: finite numbers of exactly ``shape``.

    ``meaning`` says what it holds; ``parameter`` is scikit-learn's name for
    it in its shape message (``'weights'``, ``'means'``, ``'full precision'``).
    """
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be an array of numbers of shape {shape} ({meaning}); got {value!r}.") from error
    if array.shape != tuple(shape):
        raise ValueError(
            f"The parameter '{parameter}' should have the shape of {tuple(shape)}, but got {array.shape}: "
            f"{name} must hold {meaning}."
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite; got {int(np.sum(~np.isfinite(array)))} NaN or infinite value(s).")
    return array


def check_weights_init(value, num_components: int):
    """scikit-learn's rule: entries in [0, 1] summing to one (within 1e-8; 1e-6 for float32 input)."""
    tolerance = 1e-6 if getattr(value, "dtype", None) == np.float32 else 1e-8
    weights = given_array(value, "weights_init", (num_components,), "one weight per component", "weights")
    if np.any(weights < 0) or np.any(weights > 1):
        raise ValueError(
            f"The parameter 'weights' should be in the range [0, 1], but got min value {weights.min():.5f}, "
            f"max value {weights.max():.5f}: weights_init must hold one probability per component."
        )
    if abs(1.0 - weights.sum()) > tolerance:
        raise ValueError(
            f"The parameter 'weights' should be normalized, but got sum(weights) = {weights.sum():.5f}: "
            f"weights_init must sum to 1 (within {tolerance:g}); got sum {weights.sum()!r}."
        )
    return weights


def negative_values_error(X, owner: str, expected: str):
    """scikit-learn's wording for negative input ("Negative values in data passed to ..."), naming X."""
    negative = X < 0
    if np.any(negative):
        raise ValueError(
            f"Negative values in data passed to {owner}: X must hold {expected}; got {int(negative.sum())} "
            f"negative value(s), e.g. {X[negative][0].item()!r}."
        )


def check_integral(X, owner: str, expected: str):
    """X holds non-negative integers (any numeric dtype), else ValueError naming X."""
    negative_values_error(X, owner, expected)
    if np.issubdtype(X.dtype, np.floating):
        fractional = X != np.round(X)
        if np.any(fractional):
            raise ValueError(
                f"X must hold {expected} for {owner}; got {int(fractional.sum())} non-integer value(s), "
                f"e.g. {X[fractional][0].item()!r}."
            )
