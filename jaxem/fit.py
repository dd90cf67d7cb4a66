"""The fit driver: EM iterations in a ``lax.while_loop``, restarts as a ``vmap`` axis.

One restart is written once (:func:`_fit_one`) and vmapped; the whole fit is a
single program jitted at module level with the model as a static argument, so
a second fit with the same model and data of the same shapes reuses it.

Each iteration is an M-step from the carried posterior marginals, then an
E-step at the new parameters (which also gives their objective). A restart
stops when

* it has converged: ``|objective_t - objective_{t-1}| < tol * sum(weights)``,
  i.e. the average gain per (unit-weight) observation fell below ``tol``
  (default ``1e-6``); ``tol = 0`` runs exactly ``max_iter`` iterations;
* it has failed: the objective became NaN or infinite. It keeps its last
  finite parameters and is flagged; the other restarts go on;
* or ``max_iter`` M-steps have run.

The objective is the weighted log-likelihood plus ``log_prior`` (MAP-EM).
The best restart is the one with the highest final objective among those
that did not fail.

Restarts can be split over several devices: see :mod:`jaxem.devices`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxem import devices as _devices
from jaxem import validation
from jaxem.diagnostics import FitError, failure_message, warn_about
from jaxem.estep import e_step
from jaxem.mstep import DEFAULT_NUM_GRADIENT_STEPS, GradientSettings, default_optimizer, m_step

__all__ = [
    "FitResult",
    "Restarts",
    "em_step",
    "fit",
    "log_likelihood",
    "posterior",
]


class Restarts(NamedTuple):
    """Per-restart results, each with a leading restart axis R."""

    params: Any
    log_likelihood: jax.Array
    objective: jax.Array
    converged: jax.Array
    num_iterations: jax.Array
    history: jax.Array
    failed: jax.Array
    failed_iteration: jax.Array
    failed_value: jax.Array
    degenerate: jax.Array


class FitResult(NamedTuple):
    """The best restart's results, and every restart's in ``restarts``.

    Attributes:
      params: best restart's parameters.
      log_likelihood: its final total weighted log-likelihood ``sum_i w_i log p(x_i)``.
      objective: ``log_likelihood + log_prior(params)`` (equal without a prior).
      converged: whether it met the tolerance before ``max_iter``.
      num_iterations: M-steps it ran.
      history: objective after 0, 1, ..., max_iter M-steps (NaN-padded).
      best_restart: its index among the restarts.
      restarts: :class:`Restarts` with the same fields for every restart plus
        ``failed``, ``failed_iteration`` (-1 if not failed) and ``failed_value``
        (the non-finite objective met: NaN, -inf or +inf).
      degenerate: whether the best restart is degenerate, as judged by the
        model's ``degenerate`` (for the built-ins: a component holding fewer
        observations than its parameters need); ``restarts.degenerate`` has
        it for every restart.
    """

    params: Any
    log_likelihood: jax.Array
    objective: jax.Array
    converged: jax.Array
    num_iterations: jax.Array
    history: jax.Array
    best_restart: jax.Array
    restarts: Restarts
    degenerate: jax.Array


class _State(NamedTuple):
    params: Any
    marginals: Any
    log_likelihood: jax.Array
    objective: jax.Array
    iteration: jax.Array
    converged: jax.Array
    failed: jax.Array
    failed_value: jax.Array
    history: jax.Array


def _evaluate(model, params, units, weights):
    marginals, log_lik, _ = e_step(model, params, units, weights)
    objective = log_lik if model.log_prior is None else log_lik + model.log_prior(params)
    return marginals, log_lik, objective


def _select(flag, new, old):
    return jax.tree.map(lambda a, b: jnp.where(flag, a, b), new, old)


def _fit_one(model, settings, max_iter, params, invalid_start, units, weights, tol):
    """EM for one restart; vmapped over restarts by :func:`_fit_program`.

    ``invalid_start`` marks a start that lies outside its constraints' domain
    (found on the host): the restart fails at iteration 0 with value NaN.
    """
    marginals, log_lik, objective = _evaluate(model, params, units, weights)
    objective = jnp.where(invalid_start, jnp.nan, objective)
    history = jnp.full((max_iter + 1,), jnp.nan, objective.dtype).at[0].set(objective)
    bad = ~jnp.isfinite(objective)
    state = _State(
        params,
        marginals,
        log_lik,
        objective,
        jnp.asarray(0, jnp.int32),
        jnp.asarray(False),
        bad,
        jnp.where(bad, objective, 0.0),
        history,
    )
    threshold = tol * jnp.sum(weights)

    def keep_going(s):
        return (s.iteration < max_iter) & ~s.converged & ~s.failed

    def iterate(s):
        new_params = m_step(model, s.params, units, s.marginals, weights, settings)
        marginals, log_lik, objective = _evaluate(model, new_params, units, weights)
        finite = jnp.isfinite(objective)
        iteration = s.iteration + 1
        return _State(
            params=_select(finite, new_params, s.params),
            marginals=_select(finite, marginals, s.marginals),
            log_likelihood=jnp.where(finite, log_lik, s.log_likelihood),
            objective=jnp.where(finite, objective, s.objective),
            iteration=iteration,
            converged=finite & (jnp.abs(objective - s.objective) < threshold),
            failed=~finite,
            failed_value=jnp.where(finite, s.failed_value, objective),
            history=s.history.at[iteration].set(objective),
        )

    s = jax.lax.while_loop(keep_going, iterate, state)
    if model.degenerate is None:
        degenerate = jnp.asarray(False)
    else:
        counts = model.expected_counts(s.marginals, weights)
        degenerate = jnp.asarray(model.degenerate(s.params, counts), bool).reshape(()) & ~s.failed
    return Restarts(
        params=s.params,
        log_likelihood=s.log_likelihood,
        objective=s.objective,
        converged=s.converged,
        num_iterations=s.iteration,
        history=s.history,
        failed=s.failed,
        failed_iteration=jnp.where(s.failed, s.iteration, -1),
        failed_value=s.failed_value,
        degenerate=degenerate,
    )


def _init_program(model, dtype, keys, units):
    starts = jax.vmap(model.init, in_axes=(0, None))(keys, model.update_data(units))
    return validation.cast_params(starts, dtype)


_init_jit = jax.jit(_init_program, static_argnums=(0, 1))


def _fit_program(model, settings, max_iter, sharding, init_params, invalid_start, units, weights, tol):
    init_params = _devices.split_restarts(init_params, sharding)
    restarts = jax.vmap(_fit_one, in_axes=(None, None, None, 0, 0, None, None, None))(
        model, settings, max_iter, init_params, invalid_start, units, weights, tol
    )
    score = jnp.where(restarts.failed | ~jnp.isfinite(restarts.objective), -jnp.inf, restarts.objective)
    return restarts, jnp.argmax(score)


_fit_jit = jax.jit(_fit_program, static_argnums=(0, 1, 2, 3))


def _settings(optimizer, num_gradient_steps):
    optimizer = default_optimizer() if optimizer is None else optimizer
    if not (hasattr(optimizer, "init") and hasattr(optimizer, "update")):
        raise TypeError(f"optimizer must be an optax GradientTransformation; got {optimizer!r}.")
    steps = validation.check_positive_int(num_gradient_steps, "num_gradient_steps")
    return GradientSettings(optimizer, steps)


def _prepare(model, data, weights, lengths):
    if not hasattr(model, "log_potentials"):
        raise TypeError(f"model must be a jaxem.Model or jaxem.MarkovModel; got {type(model).__name__}.")
    data, n = validation.check_data(data)
    units = model.units(data, lengths)
    weights = validation.check_weights(weights, jax.tree.leaves(units)[0].shape[0], model.unit_name)
    example = jax.tree.map(lambda x: x[0], units)
    return units, weights, example, n


def _check_enough_observations(model, units, weights):
    count = model.observation_count(units, weights)
    if count < model.min_observations:
        what = f"{model.unit_name}s" if model.unit_name == "observation" else "real steps"
        raise ValueError(
            f"data has {count} {what} with positive weight, but this model needs at least "
            f"{model.min_observations} to be fitted (one per latent value, num_states={model.num_states!r}); "
            "use fewer states or more data."
        )


def fit(
    model,
    data,
    *,
    key=None,
    num_restarts: int | None = None,
    max_iter: int = 500,
    tol: float = 1e-6,
    weights=None,
    init_params=None,
    lengths=None,
    optimizer=None,
    num_gradient_steps: int = DEFAULT_NUM_GRADIENT_STEPS,
    devices=None,
) -> FitResult:
    """Fits a model by EM from many restarts at once and returns the best.

    Each EM iteration maximises (or, for parameters without a closed-form
    update, increases) ``Q(theta | theta_t) + log_prior(theta)`` where
    ``Q(theta | theta_t) = sum_i w_i E[log p(x_i, z; theta) | x_i, theta_t]``.

    Args:
      model: a :class:`jaxem.Model` (or ``MarkovModel``).
      data: an array or pytree of arrays sharing a leading axis N.
      key: a ``jax.random.key``; required unless ``init_params`` is given.
      num_restarts: number of restarts from ``model.init`` with split keys
        (default 16); with ``init_params`` it defaults to their batch size.
      max_iter: maximum number of M-steps per restart (static: sets the
        history length).
      tol: convergence tolerance on the per-observation change of the
        objective (traced: changing it does not recompile).
      weights: optional non-negative sample weights (N,).
      init_params: starting params, one set or a batch with a leading
        restart axis, used instead of ``model.init``.
      lengths: sequence lengths, for Markov models only.
      optimizer: optax optimizer for the gradient M-step (default L-BFGS
        with a backtracking line search, see :mod:`jaxem.mstep`). Reuse one object across fits to avoid recompiling.
      num_gradient_steps: optimizer steps per gradient M-step (default 10).
      devices: devices to split the restarts over (default: every local
        accelerator, or the first CPU device on CPU; CPU splits are opt-in,
        see the module docstring); the restart axis is divided evenly over
        as many of them as divide ``num_restarts``. Pass one device to run
        every restart on it. Results do not depend on the split.

    Returns:
      A :class:`FitResult`.

    Example:
      >>> result = jaxem.fit(model, data, key=jax.random.key(0), num_restarts=32)
      >>> result.params, result.log_likelihood, result.restarts.log_likelihood
    """
    units, weights, example, _ = _prepare(model, data, weights, lengths)
    max_iter = validation.check_positive_int(max_iter, "max_iter", minimum=0)
    tol = validation.check_tol(tol)
    settings = _settings(optimizer, num_gradient_steps)
    devices = _devices.check_devices(devices)
    _check_enough_observations(model, units, weights)
    if init_params is not None:
        if key is not None:
            validation.check_key(key)
        expected = validation.expected_shapes(model, units)
        batch, size = validation.check_init_params(model, init_params, example, expected)
        if num_restarts is not None:
            validation.check_positive_int(num_restarts, "num_restarts")
            if num_restarts != size:
                raise ValueError(
                    f"num_restarts must match the batch of init_params; got num_restarts={num_restarts} "
                    f"and {size} set(s) of init_params."
                )
        batch = validation.cast_params(batch, validation.param_dtype(batch, units))
        invalid = np.zeros(size, bool)
    else:
        batch, invalid = _starts_from_init(model, key, num_restarts, units, example)
        size = invalid.size
    sharding = _devices.restart_sharding(devices, size)
    arguments = (model, settings, max_iter, sharding, batch, invalid, units, weights, jnp.asarray(tol, weights.dtype))
    with jax.default_device(devices[0]):
        _devices.check_cpu_split(sharding, lambda: _fit_jit.lower(*arguments).as_text())
        restarts, best = _fit_jit(*arguments)
    failed = np.asarray(restarts.failed)
    if failed.all():
        raise FitError(failure_message(restarts), restarts)
    pick = lambda x: x[best]
    result = FitResult(
        params=jax.tree.map(pick, restarts.params),
        log_likelihood=restarts.log_likelihood[best],
        objective=restarts.objective[best],
        converged=restarts.converged[best],
        num_iterations=restarts.num_iterations[best],
        history=restarts.history[best],
        best_restart=best,
        restarts=restarts,
        degenerate=restarts.degenerate[best],
    )
    warn_about(result, tol, max_iter, float(np.sum(np.asarray(weights))))
    return result


def _starts_from_init(model, key, num_restarts, units, example):
    """Every restart's start from ``model.init`` (one vmapped program), checked on the host.

    The structure, shapes and dtypes are checked before anything compiles
    (by shape evaluation). Values are checked per restart after the init
    program has run: a start that is not finite or lies outside its
    constraints' domain marks that restart failed at iteration 0, unless
    every start is invalid, which means ``init`` itself is wrong: then the
    first restart's problem is raised.
    """
    if model.init is None:
        raise ValueError("init_params must be given when the model has no init; got neither.")
    key = validation.check_key(key)
    num_restarts = 16 if num_restarts is None else num_restarts
    validation.check_positive_int(num_restarts, "num_restarts")
    keys = jax.random.split(key, num_restarts)
    try:
        shapes = jax.eval_shape(model.init, keys[0], model.update_data(units))
    except Exception as error:
        raise ValueError(f"init failed on (key, data): {type(error).__name__}: {error}") from error
    validation.check_params(model, shapes, example, "init(key, data)", host_values=False)
    dtype = validation.param_dtype(shapes, units)
    starts = _init_jit(model, jnp.dtype(dtype).name, keys, units)
    problems = validation.value_problems(model, starts, "init(key, data)")
    if all(p is not None for p in problems):
        raise ValueError(problems[0])
    return starts, np.array([p is not None for p in problems])


def _em_step_program(model, settings, params, units, weights):
    marginals, _, _ = e_step(model, params, units, weights)
    return m_step(model, params, units, marginals, weights, settings)


_em_step_jit = jax.jit(_em_step_program, static_argnums=(0, 1))


def em_step(
    model,
    params,
    data,
    weights=None,
    *,
    lengths=None,
    optimizer=None,
    num_gradient_steps: int = DEFAULT_NUM_GRADIENT_STEPS,
):
    """One EM iteration from ``params``: E-step, then the M-step. Pure; jitted.

    Example:
      >>> params = jaxem.em_step(model, params, data)
    """
    units, weights, example, _ = _prepare(model, data, weights, lengths)
    params = validation.checked_params(model, params, units, example)
    return _em_step_jit(model, _settings(optimizer, num_gradient_steps), params, units, weights)


def _log_likelihood_program(model, params, units, weights):
    return e_step(model, params, units, weights)[1]


def _posterior_program(model, params, units, weights):
    return model.posterior_output(e_step(model, params, units, weights)[0])


_log_likelihood_jit = jax.jit(_log_likelihood_program, static_argnums=0)
_posterior_jit = jax.jit(_posterior_program, static_argnums=0)


def log_likelihood(model, params, data, weights=None, *, lengths=None):
    """``sum_i w_i log p(x_i; params)`` (without ``log_prior``)."""
    units, weights, example, _ = _prepare(model, data, weights, lengths)
    params = validation.checked_params(model, params, units, example)
    return _log_likelihood_jit(model, params, units, weights)


def posterior(model, params, data, *, lengths=None):
    """Posterior over the latents: for a mixture, responsibilities (N, *num_states)."""
    units, weights, example, _ = _prepare(model, data, None, lengths)
    params = validation.checked_params(model, params, units, example)
    return _posterior_jit(model, params, units, weights)
