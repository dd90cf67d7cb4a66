"""Each constraint's domain check, on values inside, on the boundary and outside."""

import re

import numpy as np
import pytest

from jaxem import constraints


@pytest.mark.parametrize(
    "constraint, inside, outside, message",
    [
        (constraints.positive, np.array([1e-30, 2.0]), np.array([1.0, 0.0]), r"> 0"),
        (constraints.unit_interval, np.array([0.0, 0.5, 1.0]), np.array([0.5, 1.0 + 1e-9]), r"\[0, 1\]"),
        # A left-to-right transition matrix: exact zeros lie in the simplex.
        (constraints.simplex, np.array([[1.0, 0.0], [0.25, 0.75]]), np.array([[0.5, 0.6], [0.5, 0.5]]), r"sum to 1"),
        (constraints.simplex, np.array([0.2, 0.8]), np.array([-0.1, 1.1]), r">= 0"),
        (
            constraints.positive_definite,
            np.array([[[2.0, 0.5], [0.5, 1.0]]]),
            np.array([[[2.0, 0.5], [0.4, 1.0]]]),
            r"symmetric",
        ),
        (constraints.positive_definite, np.eye(3), np.diag([1.0, 0.0, 1.0]), r"positive definite"),
    ],
)
def test_domains_accept_inside_and_name_what_is_outside(constraint, inside, outside, message):
    assert constraint.domain_error(inside) is None
    error = constraint.domain_error(outside)
    assert error is not None
    assert re.search(message, error), error


def test_real_has_no_domain_beyond_finiteness():
    assert constraints.real.domain_error(np.array([-1e300, 0.0, 1e300])) is None


def test_simplex_tolerance_admits_float32_rounding_cast_to_float64():
    # Ten float32 tenths sum to 1 only within float32 rounding (~1e-7); cast to float64 they must still pass,
    # while a sum off by 1e-4 must not (the float64 tolerance is 1e-5, hmmlearn's).
    tenths = np.full(10, 0.1, np.float32).astype(np.float64)
    assert constraints.simplex.domain_error(tenths) is None
    assert constraints.simplex.domain_error(np.array([0.5, 0.5001])) is not None


def test_domain_checks_act_on_batches_of_the_trailing_axes():
    batch = np.stack([np.eye(2), 2 * np.eye(2), np.array([[1.0, 2.0], [2.0, 1.0]])])
    assert "smallest eigenvalue of -1" in constraints.positive_definite.domain_error(batch)


def test_a_user_constraint_without_a_domain_accepts_anything():
    custom = constraints.Constraint("custom", lambda u: u, lambda x: x)
    assert custom.domain_error(np.array([np.inf, -1.0])) is None
