"""What every estimator shares: turning scikit-learn's ``random_state`` into a JAX key."""

from __future__ import annotations

import numbers

import jax
import numpy as np

__all__ = ["key_from_random_state"]


def key_from_random_state(random_state):
    """A ``jax.random.key`` from scikit-learn's ``random_state`` (None, an int, or a
    ``numpy.random.RandomState``/``Generator``): an int seeds it; otherwise a seed is drawn
    from the generator (or from fresh entropy for None), so None gives a different fit each call."""
    if random_state is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0])
    elif isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        seed = int(random_state) % (2**32)
    elif isinstance(random_state, np.random.RandomState):
        seed = int(random_state.randint(0, 2**31 - 1))
    elif isinstance(random_state, np.random.Generator):
        seed = int(random_state.integers(0, 2**31 - 1))
    else:
        raise ValueError(
            f"random_state must be None, an int, a numpy.random.RandomState or a numpy.random.Generator; "
            f"got {random_state!r}."
        )
    return jax.random.key(seed)
