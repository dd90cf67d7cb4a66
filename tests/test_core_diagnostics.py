"""Said out loud: one float dtype for the params, degenerate restarts flagged, warnings of jaxem's own."""

import sys
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxem

sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent.parent / "examples"))
import quickstart

QUICKSTART_MODEL = jaxem.Model(
    quickstart.log_joint,
    num_states=2,
    init=quickstart.init,
    constraints={"weights": jaxem.constraints.simplex, "scales": jaxem.constraints.positive},
)
KEY = jax.random.key(0)


def _quickstart_data():
    rng = np.random.default_rng(0)
    return np.concatenate([rng.normal(-2.0, 1.0, 600), rng.normal(3.0, 0.5, 400)]).astype(np.float32)


def _mixed_init(key, data):
    """The README's first init: float64 weights (x64 default) beside float32 means from float32 data."""
    return {
        "weights": jnp.full(2, 0.5, jnp.float64),
        "means": jax.random.choice(key, data, (2,)),
        "scales": jnp.full(2, data.std()),
    }


def test_x64_with_float32_data_and_mixed_param_dtypes_fits_by_gradient_m_step():
    # The test suite runs with jax_enable_x64 (conftest.py). Before the dtype rule this died inside
    # optax's line search ("cond branches must have equal output types ... float64 ... float32").
    model = jaxem.Model(quickstart.log_joint, num_states=2, init=_mixed_init, constraints=QUICKSTART_MODEL.constraints)
    data = _quickstart_data()
    assert data.dtype == np.float32
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jaxem.FitWarning)
        result = jaxem.fit(model, data, key=KEY, num_restarts=4, max_iter=50)
    # The rule: every float leaf is cast to the widest float dtype among the params and the data.
    assert {leaf.dtype for leaf in jax.tree.leaves(result.params)} == {jnp.dtype(jnp.float64)}
    assert np.isfinite(float(result.log_likelihood))


def test_mixed_param_dtypes_are_cast_in_every_entry_point():
    data = _quickstart_data()
    params = {
        "weights": jnp.full(2, 0.5, jnp.float64),
        "means": jnp.array([-2.0, 3.0], jnp.float32),
        "scales": jnp.array([1.0, 0.5], jnp.float32),
    }
    stepped = jaxem.em_step(QUICKSTART_MODEL, params, data)
    assert {leaf.dtype for leaf in jax.tree.leaves(stepped)} == {jnp.dtype(jnp.float64)}
    assert jaxem.log_likelihood(QUICKSTART_MODEL, params, data).dtype == jnp.float64
    assert np.all(np.isfinite(np.asarray(jaxem.posterior(QUICKSTART_MODEL, params, data))))


def test_quickstart_restarts_reach_the_best_log_likelihood():
    # The example's k-means++-style start: no restart may stop at the one-component saddle
    # (-2365 against -1789 with the old full-spread start). 0.01 nats: restarts stop at tol=1e-6
    # per observation (1e-3 total per iteration), so copies of one optimum differ by less.
    result = jaxem.fit(QUICKSTART_MODEL, _quickstart_data(), key=KEY, num_restarts=32, max_iter=300)
    final = np.asarray(result.restarts.log_likelihood)
    assert float(result.log_likelihood) > -1790.0
    assert np.all(final >= float(result.log_likelihood) - 0.01), np.sort(final)


def _blobs_with_an_outlier():
    rng = np.random.default_rng(0)
    return np.vstack([rng.normal(0.0, 1.0, (60, 2)), [[40.0, -40.0]]])


def test_a_component_on_fewer_points_than_its_covariance_needs_is_flagged_and_warned():
    # A full 2-D covariance needs D + 1 = 3 points; the outlier's component holds one (its covariance is
    # reg_covar I, and its likelihood the largest of all restarts'), so the best restart is degenerate.
    data = _blobs_with_an_outlier()
    with pytest.warns(jaxem.DegenerateFitWarning, match=r"the best restart \(\d+\) is degenerate"):
        result = jaxem.fit(jaxem.models.gaussian_mixture(2), data, key=KEY, num_restarts=8)
    assert bool(result.degenerate)
    assert bool(result.restarts.degenerate[int(result.best_restart)])
    counts = np.asarray(jnp.sum(jaxem.posterior(jaxem.models.gaussian_mixture(2), result.params, data), axis=0))
    assert counts.min() < 3.0  # the reason, recomputed from the posterior


def test_a_clean_fit_is_not_flagged_and_does_not_warn():
    rng = np.random.default_rng(1)
    data = np.vstack([rng.normal(-5.0, 1.0, (100, 2)), rng.normal(5.0, 1.0, (100, 2))])
    with warnings.catch_warnings():
        warnings.simplefilter("error", jaxem.FitWarning)
        result = jaxem.fit(jaxem.models.gaussian_mixture(2), data, key=KEY, num_restarts=4)
    assert not np.any(np.asarray(result.restarts.degenerate))
    assert bool(result.converged)


def test_best_restart_stopping_at_max_iter_warns_convergence():
    data = _quickstart_data()
    with pytest.warns(jaxem.ConvergenceWarning, match=r"stopped at max_iter=2 without converging"):
        result = jaxem.fit(QUICKSTART_MODEL, data, key=KEY, num_restarts=2, max_iter=2)
    assert not bool(result.converged)
    assert issubclass(jaxem.ConvergenceWarning, jaxem.FitWarning) and issubclass(jaxem.FitWarning, UserWarning)


def test_tol_zero_runs_max_iter_without_a_convergence_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error", jaxem.ConvergenceWarning)
        result = jaxem.fit(QUICKSTART_MODEL, _quickstart_data(), key=KEY, num_restarts=2, max_iter=2, tol=0.0)
    assert int(result.num_iterations) == 2


def test_some_failed_restarts_are_said_out_loud():
    # reg_covar = 0 and 80 copies of one point: starts whose component sits on the copies have a singular
    # covariance (invalid: failed at iteration 0), others collapse later; the rest go on, and the fit warns.
    rng = np.random.default_rng(0)
    data = np.concatenate(
        [rng.normal([0.0, 0.0], 1.0, (60, 2)), rng.normal([6.0, 6.0], 1.0, (60, 2)), np.tile([[3.0, -4.0]], (80, 1))]
    )
    model = jaxem.models.gaussian_mixture(3, reg_covar=0.0, init="random_points")
    with pytest.warns(jaxem.FailedRestartsWarning, match=r"\d+ of 16 restarts failed"):
        result = jaxem.fit(model, data, key=KEY, num_restarts=16, max_iter=200)
    failed = np.asarray(result.restarts.failed)
    assert failed.any() and not failed.all()
    assert np.any(np.asarray(result.restarts.failed_iteration)[failed] == 0)  # invalid starts are flagged, not fatal
