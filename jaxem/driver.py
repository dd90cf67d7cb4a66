"""The fit driver: :func:`jaxem.em` steps in a ``lax.while_loop``, restarts as a ``vmap`` axis.

The restarts are :class:`jaxem.EM`'s ``init`` and ``step`` vmapped over the
starting params, stepped together in one ``while_loop`` (:func:`_restarts`)
until none is running; the whole fit is a single program jitted at
module level with the model and the settings as static arguments, so a second
fit with an equal model and data of the same shapes reuses it.

Each iteration is one ``step``: the M-step from the carried E-step
statistics, then the E-step at the new parameters (which also gives their
objective). A restart stops when

* it has converged: ``|objective_t - objective_{t-1}| < tol * sum(weights)``,
  i.e. the average gain per (unit-weight) observation fell below ``tol``
  (default ``1e-6``); ``tol = 0`` runs exactly ``max_iter`` iterations;
* it has failed: the objective became NaN or infinite. It keeps its last
  finite parameters and is flagged; the other restarts go on;
* it was raced (``race``, off by default): after ``race_warmup`` iterations
  its objective trails the best restart's by more than ``race * sum(weights)``;
* or ``max_iter`` M-steps have run.

With ``acceleration="squarem"`` each iteration is a SQUAREM cycle
(:mod:`jaxem.accelerate`), and the change compared with ``tol`` is that of
the cycle's last EM update.

The objective is the weighted log-likelihood plus ``log_prior`` (MAP-EM).
The best restart is the one with the highest final objective among those
that did not fail.

Restarts, or the data, can be split over several devices: see :mod:`jaxem.devices`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxem import algorithm as _algorithm
from jaxem import chunks, validation
from jaxem import devices as _devices
from jaxem import progress as _progress
from jaxem.accelerate import squarem
from jaxem.diagnostics import FitError, failure_message, warn_about
from jaxem.mstep import DEFAULT_NUM_GRADIENT_STEPS

__all__ = ["FitResult", "Restarts", "fit", "initial_params", "prepare"]


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
    num_e_steps: jax.Array
    raced: jax.Array


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
        ``failed``, ``failed_iteration`` (-1 if not failed), ``failed_value``
        (the non-finite objective met: NaN, -inf or +inf), ``num_e_steps``
        (E-steps run, the start's included; with ``acceleration="squarem"``
        a step runs several) and ``raced`` (stopped by racing, see ``race``).
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


ACCELERATIONS = (None, "squarem")


class Stopping(NamedTuple):
    """Traced stopping rules (changing them does not recompile): see :func:`fit`'s ``tol`` and ``race``."""

    tol: jax.Array
    race_margin: jax.Array
    race_warmup: jax.Array


class _Config(NamedTuple):
    """Static settings of a fit: the EM settings and the wrapper around the EM step."""

    em: _algorithm.EMSettings
    acceleration: str | None
    progress: bool = False  # whether the loop reports to the host (jaxem.progress)


class _Loop(NamedTuple):
    state: Any
    iteration: jax.Array
    converged: jax.Array
    failed: jax.Array
    failed_value: jax.Array
    history: jax.Array
    num_e_steps: jax.Array
    raced: jax.Array


def _select(flag, new, old):
    """Per restart: ``new`` where ``flag`` (R,), else ``old``; leaves have the leading restart axis."""
    pick = lambda a, b: jnp.where(flag.reshape(flag.shape + (1,) * (a.ndim - flag.ndim)), a, b)
    return jax.tree.map(pick, new, old)


def _start(algorithm, max_iter, params, invalid_start, units, weights) -> _Loop:
    """One restart's loop state at iteration 0 (vmapped over restarts).

    ``invalid_start`` marks a start that lies outside its constraints' domain
    (found on the host): the restart fails at iteration 0 with value NaN.
    """
    state = algorithm.init(params, units, weights)
    objective = jnp.where(invalid_start, jnp.nan, state.objective)
    history = jnp.full((max_iter + 1,), jnp.nan, objective.dtype).at[0].set(objective)
    bad = ~jnp.isfinite(objective)
    no = jnp.asarray(False)
    zero = jnp.asarray(0, jnp.int32)
    return _Loop(state, zero, no, bad, jnp.where(bad, objective, 0.0), history, zero + 1, no)


def _finish(model, s: _Loop, observations) -> Restarts:
    """One restart's results from its final loop state (vmapped over restarts).

    ``observations`` is the number of observations (or real steps) of
    positive weight, for the expected counts the degeneracy check reads.
    """
    final = s.state
    if model.degenerate is None:
        degenerate = jnp.asarray(False)
    else:
        counts = final.counts * observations / jnp.maximum(jnp.sum(final.counts), jnp.finfo(final.counts.dtype).tiny)
        degenerate = jnp.asarray(model.degenerate(final.params, counts), bool).reshape(()) & ~s.failed
    return Restarts(
        params=final.params,
        log_likelihood=final.log_likelihood,
        objective=final.objective,
        converged=s.converged,
        num_iterations=s.iteration,
        history=s.history,
        failed=s.failed,
        failed_iteration=jnp.where(s.failed, s.iteration, -1),
        failed_value=s.failed_value,
        degenerate=degenerate,
        num_e_steps=s.num_e_steps,
        raced=s.raced,
    )


def _restarts(model, config, max_iter, init_params, invalid_start, units, weights, stopping, observations):
    """Every restart's EM in one ``while_loop`` over the batch of restarts (leading axis R).

    The step is vmapped over the restarts; a restart that has stopped is
    frozen (its step still runs under the batch and is discarded), and the
    loop ends when none is running. Racing compares each restart with the
    best of the batch (stopped restarts at their kept values), a plain
    maximum over the restart axis, so it needs no collective and runs the
    same under a ``shard_map`` over the data.
    """
    algorithm = _algorithm.build(model, config.em)
    if config.acceleration == "squarem":
        algorithm = squarem(algorithm, model.constraints)
    total_weight = jnp.sum(weights)
    if config.em.axis_name is not None:
        total_weight = jax.lax.psum(total_weight, config.em.axis_name)
    threshold = stopping.tol * total_weight
    margin = stopping.race_margin * total_weight
    step = jax.vmap(algorithm.step, in_axes=(0, None, None))
    loop = jax.vmap(_start, in_axes=(None, None, 0, 0, None, None))(
        algorithm, max_iter, init_params, invalid_start, units, weights
    )

    def running(s):
        return (s.iteration < max_iter) & ~s.converged & ~s.failed & ~s.raced

    def iterate(s):
        active = running(s)
        new, info = step(s.state, units, weights)
        finite = jnp.isfinite(info.objective)
        iteration = s.iteration + 1
        converged = finite & (jnp.abs(info.objective - info.previous_objective) < threshold)
        current = jnp.where(active, info.objective, jnp.where(s.failed, -jnp.inf, s.state.objective))
        best = jnp.max(jnp.where(jnp.isfinite(current), current, -jnp.inf))
        trailing = finite & ~converged & (iteration >= stopping.race_warmup) & (info.objective < best - margin)
        rows = jnp.arange(iteration.shape[0])
        updated = _Loop(
            state=_select(finite, new, s.state),
            iteration=iteration,
            converged=converged,
            failed=~finite,
            failed_value=jnp.where(finite, s.failed_value, info.objective),
            history=s.history.at[rows, jnp.minimum(iteration, max_iter)].set(info.objective),
            num_e_steps=s.num_e_steps + info.num_e_steps,
            raced=trailing,
        )
        return _select(active, updated, s)

    def any_running(s):
        return jnp.any(running(s))

    if not config.progress:
        final = jax.lax.while_loop(any_running, iterate, loop)
    else:
        # Iterations run in stretches up to the iteration a report is due, in an inner loop free of
        # callbacks (a host callback in the loop body slows every iteration); between stretches
        # the host gets its report and says when the next one is due (jaxem.progress).
        def stretch(carry):
            s, due = carry
            s = jax.lax.while_loop(lambda s: any_running(s) & (jnp.max(s.iteration) < due), iterate, s)
            return s, _report(s, due, running(s), config.em.axis_name)

        final, _ = jax.lax.while_loop(lambda c: any_running(c[0]), stretch, (loop, jnp.asarray(1, jnp.int32)))
    restarts = jax.vmap(_finish, in_axes=(None, 0, None))(model, final, observations)
    score = jnp.where(restarts.failed | ~jnp.isfinite(restarts.objective), -jnp.inf, restarts.objective)
    return restarts, jnp.argmax(score)


def _report(s: _Loop, due, running, axis_name):
    """Hands the host a progress report when one is due (:mod:`jaxem.progress`); under a split
    of the data only the first device reports."""
    iteration = jnp.max(s.iteration)
    objective = jnp.where(s.failed, -jnp.inf, s.state.objective)
    best = jnp.max(jnp.where(jnp.isfinite(objective), objective, -jnp.inf))
    count = jnp.sum(running.astype(jnp.int32))
    return _progress.report(due, iteration, best, count, jnp.asarray(running.shape[0], jnp.int32), axis_name)


def _fit_program(
    model, config, max_iter, placement, init_params, invalid_start, units, weights, stopping, observations
):
    """The whole fit; ``placement`` (static) splits the restarts or the data over devices."""
    arguments = (model, config, max_iter, init_params, invalid_start, units, weights, stopping, observations)
    if placement is None:
        return _restarts(*arguments)
    if placement.kind == "restarts":
        init_params = _devices.split_restarts(init_params, placement.sharding)
        return _restarts(model, config, max_iter, init_params, invalid_start, units, weights, stopping, observations)
    return _devices.over_data_axis(_restarts, placement)(*arguments)


_fit_jit = jax.jit(_fit_program, static_argnums=(0, 1, 2, 3))


def prepare(model, data, weights, lengths, check: bool = True):
    """``(units, weights, example unit)``: the data as the engine's units (host-checked when ``check``)."""
    if not hasattr(model, "log_potentials"):
        raise TypeError(f"model must be a jaxem.Model or jaxem.MarkovModel; got {type(model).__name__}.")
    if check:
        data, _ = validation.check_data(data)
    units = model.units(data, lengths, check=check)
    size = chunks.num_units(units)
    if check:
        weights = validation.check_weights(weights, size, model.unit_name)
    elif weights is None:
        weights = jnp.ones((size,), jnp.result_type(float))
    example = jax.tree.map(lambda x: x[0], units)
    return units, weights, example


def _check_enough_observations(model, count):
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
    chunk_size: int | None = None,
    memory_budget: int = chunks.DEFAULT_MEMORY_BUDGET,
    devices=None,
    split: str = "restarts",
    acceleration: str | None = None,
    race: float | None = None,
    race_warmup: int = 10,
    progress=None,
    progress_interval: float = _progress.DEFAULT_INTERVAL,
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
        with a backtracking line search, see :mod:`jaxem.mstep`). Reuse one
        object across fits to avoid recompiling.
      num_gradient_steps: optimizer steps per gradient M-step (default 10).
      chunk_size: units (observations, or sequences) per chunk of the
        E-step; default: the largest chunk whose working arrays, for all
        restarts together, fit ``memory_budget``
        (:func:`jaxem.chunks.chunk_size_for`). Results do not depend on it
        beyond rounding.
      memory_budget: bytes for the per-chunk working arrays (default 32 MiB).
      devices: devices to split over (default: every local accelerator, or
        the first CPU device on CPU; CPU splits are opt-in, see
        :mod:`jaxem.devices`). Pass one device to run everything on it.
      split: what is divided over ``devices``: ``"restarts"`` (default; over
        as many devices as divide ``num_restarts``) or ``"data"`` (the units
        along N; each device sums the statistics of its share and the sums
        are added across devices). Results do not depend on the split
        beyond rounding.
      acceleration: ``None`` (plain EM) or ``"squarem"``: each step is one
        SQUAREM cycle (two EM steps, an extrapolation along them in
        unconstrained coordinates and a stabilising EM step, falling back to
        the plain steps when that does not raise the objective;
        :mod:`jaxem.accelerate`). Same fixed points, usually far fewer E-steps
        on slowly converging problems. ``tol`` and ``max_iter`` then count
        cycles; ``restarts.num_e_steps`` counts E-steps.
      race: racing margin, in objective per unit weight (like ``tol``), or
        ``None`` (default: no racing). After ``race_warmup`` iterations, a
        restart whose objective trails the best restart's (converged ones
        included) by more than ``race * sum(weights)`` stops and is marked in
        ``restarts.raced``. Restarts run in lockstep, so the fit's cost
        follows the restarts still running; racing stops the trailing ones.
        A raced restart could have overtaken the best later: the margin is a
        bet, not a bound. (Traced: changing it does not recompile.)
      race_warmup: iterations before racing starts (default 10).
      progress: ``None`` (default: silent), ``True`` (a line on stderr about
        every ``progress_interval`` seconds: iteration, best objective so far,
        restarts still running; and one when the loop ends) or a callable
        receiving each :class:`jaxem.progress.Progress`. Reports come from
        inside the compiled loop, throttled by wall time
        (:mod:`jaxem.progress`); the results do not change.
      progress_interval: seconds between reports (default 1).

    Returns:
      A :class:`FitResult`.

    Example:
      >>> result = jaxem.fit(model, data, key=jax.random.key(0), num_restarts=32)
      >>> result.params, result.log_likelihood, result.restarts.log_likelihood
    """
    units, weights, example = prepare(model, data, weights, lengths)
    max_iter = validation.check_positive_int(max_iter, "max_iter", minimum=0)
    tol = validation.check_tol(tol)
    acceleration = validation.check_choice(acceleration, "acceleration", ACCELERATIONS)
    race_margin = (
        np.inf
        if race is None
        else validation.check_non_negative_float(race, "race", optional=True, meaning="a margin per unit weight")
    )
    race_warmup = validation.check_positive_int(race_warmup, "race_warmup", minimum=0)
    reporter = _progress.check_progress(progress, progress_interval)
    devices = _devices.check_devices(devices)
    split = _devices.check_split(split)
    budget = validation.check_positive_int(memory_budget, "memory_budget")
    config = _algorithm.settings(optimizer, num_gradient_steps, chunk_size)
    observations = model.observation_count(units, weights)
    _check_enough_observations(model, observations)
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
    placement = _devices.placement(devices, split, size, chunks.num_units(units))
    data_split = placement is not None and placement.kind == "data"
    if data_split:  # the sums run over the mesh axis; with one device there is nothing to split
        units, weights = _devices.pad_units(units, weights, placement.num_devices)
        config = config._replace(axis_name=_devices.DATA_AXIS)
    if config.chunk_size is None:
        local = chunks.num_units(units) // (placement.num_devices if data_split else 1)
        local_units = jax.tree.map(lambda x: jax.ShapeDtypeStruct((local,) + x.shape[1:], x.dtype), units)
        config = config._replace(chunk_size=chunks.chunk_size_for(model, local_units, size, budget))
    arguments = (
        model,
        _Config(config, acceleration, reporter is not None),
        max_iter,
        placement,
        batch,
        invalid,
        units,
        weights,
        Stopping(
            jnp.asarray(tol, weights.dtype),
            jnp.asarray(race_margin, weights.dtype),
            jnp.asarray(race_warmup, jnp.int32),
        ),
        jnp.asarray(observations, weights.dtype),
    )
    with jax.default_device(devices[0]):
        _devices.check_cpu_split(placement, lambda: _fit_jit.lower(*arguments).as_text())
        with _progress.reporting(reporter):
            restarts, best = _fit_jit(*arguments)
            jax.block_until_ready(restarts)
    if reporter is not None:
        usable = ~np.asarray(restarts.failed)
        best_objective = float(np.max(np.asarray(restarts.objective)[usable])) if usable.any() else float("nan")
        reporter.finish(int(np.max(np.asarray(restarts.num_iterations))), best_objective, 0, usable.size)
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


def _init_program(model, dtype, keys, units):
    """Every restart's start, one restart at a time (``lax.map``: an init's (N, K) arrays are
    held for one restart, not for all)."""
    data = model.statistics_data(units)
    starts = jax.lax.map(lambda key: model.init(key, data), keys)
    return validation.cast_params(starts, dtype)


_init_jit = jax.jit(_init_program, static_argnums=(0, 1))


def _starts_from_init(model, key, num_restarts, units, example):
    """Every restart's start from ``model.init`` (one program), checked on the host.

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
    shapes = validation.expected_shapes(model, units, raise_errors=True)
    validation.check_params(model, shapes, example, "init(key, data)", host_values=False)
    dtype = validation.param_dtype(shapes, units)
    starts = _init_jit(model, jnp.dtype(dtype).name, keys, units)
    problems = validation.value_problems(model, starts, "init(key, data)")
    if all(p is not None for p in problems):
        raise ValueError(problems[0])
    return starts, np.array([p is not None for p in problems])


def initial_params(model, data, *, key, num_restarts: int = 16, lengths=None):
    """The starting params :func:`fit` draws from ``model.init`` with this ``key`` and
    ``num_restarts`` (leading restart axis R), checked as ``fit`` checks them. Change some entries
    and pass the batch back as ``fit(..., init_params=...)`` to start from partly given values.

    Raises ``ValueError`` when every start is invalid (``init`` itself is wrong); a batch with
    some invalid starts is returned as drawn (``fit`` would fail those restarts at iteration 0).

    Example:
      >>> starts = jaxem.initial_params(model, data, key=jax.random.key(0), num_restarts=8)
      >>> starts["means"] = jnp.broadcast_to(my_means, starts["means"].shape)
      >>> result = jaxem.fit(model, data, init_params=starts)
    """
    units, _, example = prepare(model, data, None, lengths)
    return _starts_from_init(model, key, num_restarts, units, example)[0]
