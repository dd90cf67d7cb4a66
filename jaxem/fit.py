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

Restarts are independent, so they can be split over several devices (a
sharding constraint on the batched starting parameters; XLA partitions the
vmapped program and each device runs its share of the restarts). By default
that happens on accelerators (every local GPU or TPU). On CPU it is opt-in:
start JAX with one CPU device per core
(``jax.config.update("jax_num_cpu_devices", os.cpu_count())`` before first
use) and pass ``devices=jax.devices()``. XLA's CPU runtime can deadlock when
several CPU devices run batched LAPACK calls (Cholesky, triangular solves)
or FFTs at once: those calls fan out into the thread pool their callers
already occupy. A split over CPU devices is therefore refused, before
compiling, for a program that contains such calls (e.g. full or tied
covariance Gaussians); diagonal Gaussian, Poisson, Bernoulli and
categorical models have none.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxem import validation
from jaxem.estep import e_step
from jaxem.mstep import DEFAULT_NUM_GRADIENT_STEPS, GradientSettings, default_optimizer, m_step

__all__ = ["FitError", "FitResult", "Restarts", "em_step", "fit", "log_likelihood", "posterior"]


class FitError(RuntimeError):
    """Every restart failed.

    Attributes:
      restarts: the :class:`Restarts` of the failed fit (each restart's last
        finite params, ``history`` up to the failure, ``failed_iteration`` and
        ``failed_value``), for inspecting what went wrong.
    """

    def __init__(self, message, restarts=None):
        super().__init__(message)
        self.restarts = restarts


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
    """

    params: Any
    log_likelihood: jax.Array
    objective: jax.Array
    converged: jax.Array
    num_iterations: jax.Array
    history: jax.Array
    best_restart: jax.Array
    restarts: Restarts


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


def _fit_one(model, settings, max_iter, params, units, weights, tol):
    """EM for one restart; vmapped over restarts by :func:`_fit_program`."""
    marginals, log_lik, objective = _evaluate(model, params, units, weights)
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
    )


def _split_restarts(tree, sharding):
    return tree if sharding is None else jax.lax.with_sharding_constraint(tree, sharding)


def _fit_program(model, settings, max_iter, sharding, keys, init_params, units, weights, tol):
    if init_params is None:
        data = model.update_data(units)
        init_params = jax.vmap(model.init, in_axes=(0, None))(_split_restarts(keys, sharding), data)
    init_params = _split_restarts(init_params, sharding)
    restarts = jax.vmap(_fit_one, in_axes=(None, None, None, 0, None, None, None))(
        model, settings, max_iter, init_params, units, weights, tol
    )
    score = jnp.where(restarts.failed | ~jnp.isfinite(restarts.objective), -jnp.inf, restarts.objective)
    return restarts, jnp.argmax(score)


_fit_jit = jax.jit(_fit_program, static_argnums=(0, 1, 2, 3))


def _check_devices(devices):
    if devices is None:
        local = jax.local_devices()
        return local if local[0].platform != "cpu" else local[:1]  # CPU: opt-in, see the module docstring
    checked = list(devices) if isinstance(devices, (list, tuple)) else []
    if not checked or not all(isinstance(d, jax.Device) for d in checked):
        raise TypeError(
            f"devices must be a non-empty list or tuple of jax.Device (e.g. jax.devices()); got {devices!r}."
        )
    platforms = sorted({d.platform for d in checked})
    if len(platforms) > 1:
        raise ValueError(f"devices must all be of one platform; got platforms {platforms}.")
    if len(set(checked)) < len(checked):
        raise ValueError(f"devices must not repeat a device; got {devices!r}.")
    return checked


_POOL_BLOCKING_CALL = re.compile(r"@(lapack_\w+|ducc_\w+)|stablehlo\.(fft)")


def _check_cpu_split(sharding, arguments):
    """Refuses a split over CPU devices when the program has calls that can deadlock XLA:CPU."""
    if sharding is None or next(iter(sharding.device_set)).platform != "cpu":
        return
    text = _fit_jit.lower(*arguments).as_text()
    calls = sorted({a or b for a, b in _POOL_BLOCKING_CALL.findall(text)})
    if calls:
        raise ValueError(
            f"devices: splitting the restarts over {len(sharding.device_set)} CPU devices is refused for this model: "
            f"its program calls {calls}, which can deadlock XLA's CPU runtime when several CPU devices run them at "
            "once. Pass devices=jax.devices()[:1] (one CPU device) for this model."
        )


def _restart_sharding(devices, num_restarts):
    """The sharding that splits the restart axis over ``devices`` (None: one device).

    With ``num_restarts`` not a multiple of the number of devices, the
    restarts go to the largest number of them that divides it evenly.
    """
    used = max(n for n in range(1, len(devices) + 1) if num_restarts % n == 0)
    if used == 1:
        return None
    mesh = jax.sharding.Mesh(np.array(devices[:used]), ("restarts",))
    return jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("restarts"))


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
    weights = validation.check_weights(weights, jax.tree.leaves(units)[0].shape[0])
    example = jax.tree.map(lambda x: x[0], units)
    return units, weights, example, n


def _failure_message(restarts: Restarts) -> str:
    failed_iteration = np.asarray(restarts.failed_iteration)
    failed_value = np.asarray(restarts.failed_value)
    lines = []
    for r in range(min(len(failed_iteration), 5)):
        lines.append(f"restart {r}: objective became {failed_value[r]} at iteration {failed_iteration[r]}")
    more = "" if len(failed_iteration) <= 5 else f" (and {len(failed_iteration) - 5} more)"
    return (
        f"All {len(failed_iteration)} restarts failed: " + "; ".join(lines) + more + ". Iteration 0 means the "
        "starting parameters already give a non-finite log-likelihood. Check that log_joint returns a finite value "
        "for at least one latent value of every observation, and that init produces valid parameters "
        "(positive scales, weights on the simplex)."
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
    devices = _check_devices(devices)
    if init_params is not None:
        batch, size = validation.check_init_params(model, init_params, example)
        if num_restarts is not None:
            validation.check_positive_int(num_restarts, "num_restarts")
            if num_restarts != size:
                raise ValueError(
                    f"num_restarts must match the batch of init_params; got num_restarts={num_restarts} "
                    f"and {size} set(s) of init_params."
                )
        keys = None
    else:
        if model.init is None:
            raise ValueError("init_params must be given when the model has no init; got neither.")
        if key is None:
            raise ValueError("key must be a jax.random.key when starting from model.init; got None.")
        num_restarts = 16 if num_restarts is None else num_restarts
        validation.check_positive_int(num_restarts, "num_restarts")
        keys = jax.random.split(key, num_restarts)
        data_for_init = model.update_data(units)
        try:
            first = model.init(keys[0], data_for_init)
        except Exception as error:
            raise ValueError(f"init failed on (key, data): {type(error).__name__}: {error}") from error
        validation.check_params(model, first, example, "init(key, data)")
        batch = None
    sharding = _restart_sharding(devices, size if init_params is not None else num_restarts)
    arguments = (model, settings, max_iter, sharding, keys, batch, units, weights, jnp.asarray(tol, weights.dtype))
    with jax.default_device(devices[0]):
        _check_cpu_split(sharding, arguments)
        restarts, best = _fit_jit(*arguments)
    failed = np.asarray(restarts.failed)
    if failed.all():
        raise FitError(_failure_message(restarts), restarts)
    pick = lambda x: x[best]
    return FitResult(
        params=jax.tree.map(pick, restarts.params),
        log_likelihood=restarts.log_likelihood[best],
        objective=restarts.objective[best],
        converged=restarts.converged[best],
        num_iterations=restarts.num_iterations[best],
        history=restarts.history[best],
        best_restart=best,
        restarts=restarts,
    )


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
    validation.check_params(model, params, example, "params")
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
    validation.check_params(model, params, example, "params")
    return _log_likelihood_jit(model, params, units, weights)


def posterior(model, params, data, *, lengths=None):
    """Posterior over the latents: for a mixture, responsibilities (N, *num_states)."""
    units, weights, example, _ = _prepare(model, data, None, lengths)
    validation.check_params(model, params, example, "params")
    return _posterior_jit(model, params, units, weights)
