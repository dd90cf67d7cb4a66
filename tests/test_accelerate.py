"""SQUAREM (jaxem.squarem, fit(acceleration="squarem")) and racing (fit(race=...)).

References: published answers (genetic linkage, Old Faithful), plain EM run to a
tight tolerance on the same problem (the accelerated fit must reach the same
fixed point), and the single-restart fits (vmapped restarts must equal them).
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from test_core_fit import CONSTRAINTS, DATA, START, log_joint, maximize_weights_and_means, statistics
from test_core_properties import MODELS, PROPERTY_SETTINGS, problems
from test_core_textbook import (
    ABO_COUNTS,
    ABO_MLE,
    CELLS,
    LINKAGE_COUNTS,
    LINKAGE_MLE,
    abo_log_joint,
    linkage_log_joint,
    linkage_maximize,
    linkage_statistics,
)

import jaxem

SQUAREM = {"acceleration": "squarem"}
UNIT = {"theta": jaxem.constraints.unit_interval}


@pytest.mark.parametrize("closed_form", [True, False])
def test_linkage_reaches_the_published_mle(closed_form):
    extra = {"statistics": linkage_statistics, "maximize": linkage_maximize} if closed_form else {}
    model = jaxem.Model(linkage_log_joint, num_states=2, constraints=UNIT, **extra)
    result = jaxem.fit(
        model, CELLS, weights=LINKAGE_COUNTS, init_params={"theta": jnp.array(0.5)}, tol=1e-14, max_iter=100, **SQUAREM
    )
    assert bool(result.converged)
    # theta* is published to 10 decimals; 1e-8 is the bar (plain EM at this tol stops ~1e-8 short).
    assert abs(float(result.params["theta"]) - LINKAGE_MLE) < 1e-8


def test_faithful_two_components_reaches_the_published_log_likelihood():
    faithful = jaxem.datasets.load_faithful()
    model = jaxem.models.gaussian_mixture(2)
    result = jaxem.fit(model, faithful, key=jax.random.key(0), num_restarts=4, max_iter=500, tol=1e-12, **SQUAREM)
    assert bool(result.converged)
    # mclust's VVV value, published to 6 decimals; 1e-6 is the bar (float64).
    assert abs(float(result.log_likelihood) - (-1130.263960)) < 1e-6


def _two_latent():
    """A (2, 3)-latent model with no closed form: means a[z1] + b[z2], one scale."""

    def two_latent_log_joint(params, x, z):
        z1, z2 = z
        mean = params["a"][z1] + params["b"][z2]
        return jnp.log(params["weights"][z1 * 3 + z2]) + jax.scipy.stats.norm.logpdf(x, mean, params["scale"])

    rng = np.random.default_rng(4)
    cells = rng.integers(0, 6, 300)
    x = np.array([-2.0, 2.0])[cells // 3] + np.array([-1.0, 0.0, 1.5])[cells % 3] + rng.normal(0, 0.5, 300)
    model = jaxem.Model(
        two_latent_log_joint,
        num_states=(2, 3),
        constraints={"weights": jaxem.constraints.simplex, "scale": jaxem.constraints.positive},
    )
    start = {"weights": jnp.full(6, 1 / 6), "a": jnp.array([-1.0, 1.0]), "b": jnp.array([-0.5, 0.0, 0.5])}
    return model, x, {**start, "scale": jnp.array(1.0)}


def _mixed():
    """Weights and means in closed form, the scales by the gradient M-step."""
    model = jaxem.Model(
        log_joint, num_states=2, constraints=CONSTRAINTS, statistics=statistics, maximize=maximize_weights_and_means
    )
    return model, DATA, START


def _poisson_hmm():
    rng = np.random.default_rng(5)
    states = [0]
    transition = np.array([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.05, 0.15, 0.8]])
    for _ in range(399):
        states.append(rng.choice(3, p=transition[states[-1]]))
    counts = rng.poisson(np.array([1.0, 4.0, 9.0])[states]).astype(float)
    start = {
        "initial": jnp.full(3, 1 / 3),
        "transition": jnp.full((3, 3), 0.1) + 0.7 * jnp.eye(3),
        "rates": jnp.array([2.0, 3.0, 6.0]),
    }
    return jaxem.models.poisson_hmm(3), counts[None], start  # one sequence of 400 steps


def _abo():
    model = jaxem.Model(abo_log_joint, num_states=6, constraints={"freqs": jaxem.constraints.simplex})
    return model, np.arange(4), {"freqs": jnp.full(3, 1 / 3)}


PROBLEMS = {"two_latent": _two_latent, "mixed": _mixed, "poisson_hmm": _poisson_hmm}


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_accelerated_fit_reaches_the_plain_em_fixed_point(name):
    model, data, start = PROBLEMS[name]()
    settings = {"init_params": start, "tol": 1e-13, "max_iter": 3000}
    plain = jaxem.fit(model, data, **settings)
    fast = jaxem.fit(model, data, **settings, **SQUAREM)
    assert bool(plain.converged) and bool(fast.converged)
    # Both stop within 1e-13 per observation of a fixed point; 1e-9 relative covers where each stops.
    np.testing.assert_allclose(float(fast.log_likelihood), float(plain.log_likelihood), rtol=1e-9)
    # Parameters: the slowest direction of plain EM sets how far short of the fixed point it stops.
    for key in start:
        np.testing.assert_allclose(fast.params[key], plain.params[key], rtol=1e-3, atol=1e-4)


def test_abo_gradient_m_step_reaches_the_published_mle():
    model, data, start = _abo()
    result = jaxem.fit(model, data, weights=ABO_COUNTS, init_params=start, tol=1e-14, max_iter=300, **SQUAREM)
    # Published to 7 decimals.
    np.testing.assert_allclose(result.params["freqs"], ABO_MLE, atol=1e-6)


@pytest.mark.parametrize("kind", sorted(MODELS))
@PROPERTY_SETTINGS
@given(problem=problems())
def test_accelerated_objective_never_decreases(kind, problem):
    data, start, _ = problem
    try:
        restarts = jaxem.fit(MODELS[kind], data, init_params=start, tol=0.0, max_iter=8, **SQUAREM).restarts
        stop = None
    except jaxem.FitError as error:  # a component collapsed onto one point (see test_core_properties)
        restarts = error.restarts
        stop = int(restarts.failed_iteration[0])
        assert stop >= 1
    history = np.asarray(restarts.history[0][:stop])
    assert np.all(np.isfinite(history))
    # Non-decreasing up to float64 rounding of a sum of N log-densities.
    assert np.all(np.diff(history) >= -1e-10 * np.abs(history[1:]).max())
    # Every parameter stayed in its domain although the extrapolation left the plain EM path.
    params = jax.tree.map(lambda x: x[0], restarts.params)
    assert float(np.min(params["scales"])) > 0
    np.testing.assert_allclose(float(np.sum(params["weights"])), 1.0, rtol=1e-12)


@pytest.mark.filterwarnings("ignore::jaxem.ConvergenceWarning")  # 15 cycles from random starts: not the point
@pytest.mark.parametrize("kind", sorted(MODELS))
def test_vmapped_accelerated_restarts_equal_single_fits(kind):
    rng = np.random.default_rng(8)
    starts = [START] + [
        {
            "weights": jnp.asarray(rng.dirichlet([2.0, 2.0])),
            "means": jnp.asarray(rng.choice(DATA, 2)),
            "scales": START["scales"],
        }
        for _ in range(2)
    ]
    batch = jax.tree.map(lambda *xs: jnp.stack(xs), *starts)
    together = jaxem.fit(MODELS[kind], DATA, init_params=batch, tol=1e-9, max_iter=15, **SQUAREM)
    for r, one in enumerate(starts):
        alone = jaxem.fit(MODELS[kind], DATA, init_params=one, tol=1e-9, max_iter=15, **SQUAREM)
        assert int(alone.num_iterations) == int(together.restarts.num_iterations[r])
        assert int(alone.restarts.num_e_steps[0]) == int(together.restarts.num_e_steps[r])
        # Same arithmetic batched or not; 1e-9 allows XLA to reorder reductions under vmap.
        np.testing.assert_allclose(alone.objective, together.restarts.objective[r], rtol=1e-9)
        for name in one:
            np.testing.assert_allclose(alone.params[name], together.restarts.params[name][r], rtol=1e-7, atol=1e-9)


def test_squarem_object_under_jit_and_vmap_equals_fit():
    model = MODELS["closed_form"]
    algorithm = jaxem.squarem(jaxem.em(model), model.constraints)
    starts = {**jax.tree.map(lambda x: jnp.stack([x, x]), START), "means": jnp.array([[-1.0, 1.0], [0.0, 2.0]])}
    step = jax.jit(jax.vmap(algorithm.step, in_axes=(0, None)))
    state = jax.vmap(algorithm.init, in_axes=(0, None))(starts, DATA)
    objectives = [np.asarray(state.objective)]
    for _ in range(5):
        state, info = step(state, DATA)
        np.testing.assert_array_equal(np.asarray(info.objective), np.asarray(state.objective))
        objectives.append(np.asarray(state.objective))
    assert isinstance(state, jaxem.SquaremState)
    assert np.all(np.asarray(info.num_e_steps) == 4)
    fitted = jaxem.fit(model, DATA, init_params=starts, tol=0.0, max_iter=5, **SQUAREM)
    # The driver runs the same steps; 1e-10 relative allows a different fusion of the same sums.
    np.testing.assert_allclose(fitted.restarts.objective, objectives[-1], rtol=1e-10)
    np.testing.assert_allclose(fitted.restarts.history[:, :6].T, np.stack(objectives), rtol=1e-10)


def test_plain_em_counts_one_e_step_per_iteration_and_squarem_four():
    model = MODELS["closed_form"]
    plain = jaxem.fit(model, DATA, init_params=START, tol=0.0, max_iter=7)
    fast = jaxem.fit(model, DATA, init_params=START, tol=0.0, max_iter=7, **SQUAREM)
    assert int(plain.restarts.num_e_steps[0]) == 1 + 7
    assert int(fast.restarts.num_e_steps[0]) == 1 + 4 * 7


def test_a_non_finite_extrapolation_falls_back_to_plain_em():
    """An extrapolated point with a non-finite objective is never taken: the step is then two EM steps."""
    model = MODELS["closed_form"]

    def guarded(params, x, z):  # -inf whenever a mean wanders beyond 5 (the data's EM path stays inside)
        value = log_joint(params, x, z)
        return jnp.where(jnp.max(jnp.abs(params["means"])) > 5.0, -jnp.inf, value)

    walled = dataclasses.replace(model, log_joint=guarded)
    result = jaxem.fit(walled, DATA, init_params=START, tol=1e-10, max_iter=200, **SQUAREM)
    assert not bool(result.restarts.failed[0])
    plain = jaxem.fit(model, DATA, init_params=START, tol=1e-10, max_iter=2000)
    np.testing.assert_allclose(float(result.log_likelihood), float(plain.log_likelihood), rtol=1e-9)


def test_racing_stops_trailing_restarts_and_leaves_the_others_unchanged():
    faithful = jaxem.datasets.load_faithful()
    model = jaxem.models.gaussian_mixture(3)
    settings = {"key": jax.random.key(0), "num_restarts": 8, "max_iter": 400, "tol": 1e-10}
    plain = jaxem.fit(model, faithful, **settings)
    raced = jaxem.fit(model, faithful, **settings, race=0.005, race_warmup=5)
    flags = np.asarray(raced.restarts.raced)
    assert flags.any() and not flags.all()
    assert not bool(raced.restarts.raced[raced.best_restart])
    assert not np.asarray(plain.restarts.raced).any()
    total = len(faithful)
    stopped = np.asarray(raced.restarts.num_iterations)[flags]
    assert np.all(stopped >= 5)
    # A raced restart stopped more than race * N below the best restart's objective at that iteration.
    for r in np.flatnonzero(flags):
        at = int(raced.restarts.num_iterations[r])
        leader = np.nanmax(np.asarray(raced.restarts.history)[:, : at + 1].max(axis=1))
        assert float(raced.restarts.objective[r]) < leader - 0.005 * total
        assert not bool(raced.restarts.converged[r])
    # Restarts run in lockstep, so the ones not raced did exactly what they did without racing.
    keep = ~flags
    np.testing.assert_allclose(raced.restarts.objective[keep], plain.restarts.objective[keep], rtol=1e-12)
    np.testing.assert_array_equal(raced.restarts.num_iterations[keep], plain.restarts.num_iterations[keep])


@pytest.mark.parametrize(
    ("extra", "error", "match"),
    [
        ({"acceleration": "anderson"}, ValueError, r"acceleration must be one of \(None, 'squarem'\); got 'anderson'"),
        ({"race": -1.0}, ValueError, r"race must be None or a non-negative finite float; got -1.0"),
        ({"race": "fast"}, TypeError, r"race must be None or a non-negative float .*; got 'fast'"),
        ({"race_warmup": -2}, ValueError, r"race_warmup must be >= 0; got -2"),
    ],
)
def test_bad_acceleration_and_race_arguments_are_named(monkeypatch, extra, error, match):
    monkeypatch.setattr(jaxem.driver, "_fit_jit", lambda *a: (_ for _ in ()).throw(AssertionError("compiled")))
    with pytest.raises(error, match=match):
        jaxem.fit(MODELS["closed_form"], DATA, init_params=START, **extra)
