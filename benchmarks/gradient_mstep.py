"""The gradient M-step: how fast do its settings reach the default's fixed point?

A model without ``statistics``/``maximize`` has its M-step done by ``num_gradient_steps`` steps of an optax
optimizer on Q (default 10 steps of L-BFGS with a backtracking line search, see ``jaxem.mstep``). This script
fits gradient-only models, each with every selected configuration of that M-step, all in float64 with a tight
tolerance so that each runs to (near) the same fixed point, and prints one markdown table.

Problems (``--problems``; deterministic data from ``--seed``):

* ``latent_class``: 6 binary items, 3 classes, N = 2000 points drawn from such a model; ``log_joint`` is
  ``log w[z] + sum_j x_j log p[z, j] + (1 - x_j) log(1 - p[z, j])``, weights on the simplex, item probabilities
  in the unit interval; ``init``: Dirichlet(1) weights, uniform(0.2, 0.8) probabilities.
* ``two_latent``: ``num_states=(2, 3)``, z = (z1, z2); 2-D x ~ Normal(a[z1] + b[z2], scale^2 I) with one shared
  positive scale and weights on a flat 6-cell simplex (cell z1 * 3 + z2); N = 2000 points drawn from such a model;
  ``init`` from the key (Dirichlet(1) weights, a and b around the data's mean, scale the data's spread).
* ``linkage``: Rao's genetic linkage (197 animals in 4 cells), theta in the unit interval, from theta = 0.5.
* ``abo``: ABO blood groups (521 people, 4 phenotypes, 6 genotypes), allele frequencies on the simplex, from 1/3.
* ``faithful``: ``jaxem.models.gaussian_mixture(2)`` with ``statistics`` and ``maximize`` removed (so every
  parameter is moved by the gradient M-step), on ``jaxem.datasets.load_faithful()``.

The two textbook cases (``linkage``, ``abo``) start from given ``init_params`` (one restart); the others use
``--num-restarts`` restarts from ``jax.random.key(--seed)`` (default 4, to keep the run under 10 minutes on 2
cores; the issue's figures are for 32).

Configurations (``--configs``; default: all but the two opt-in ones): ``default`` (10 steps of the default L-BFGS),
``steps1``/``steps2``/``steps3``/``steps5`` (fewer steps of the same optimizer), and, when ``jaxem.fit`` takes
``acceleration``, ``squarem`` and ``squaremx2`` (SQUAREM on top of 10 / 2 steps). Opt-in (named in ``--configs``):
``ls5x3`` (3 steps of L-BFGS whose backtracking line search stops after 5 halvings instead of 15; on these problems
it took the same iterates as ``steps3``, the cap never binding, so it only measured the machine's noise) and
``zoomx3`` (3 steps of ``optax.lbfgs()`` with its own zoom line search; compiles slower, no fewer iterations) and
``squarem_race`` (SQUAREM on 10 steps with ``race=1e-3``: trailing restarts stop after 10 cycles).

For each (problem, configuration), measured:

* cold s: ``time.perf_counter`` around ``jaxem.fit`` plus ``jax.block_until_ready``, after ``jax.clear_caches()``
  so that every configuration compiles its programs anew, as in a fresh process (what a user waits for);
* compile s: the part of the cold fit that JAX reports (``jax.monitoring``) as tracing, lowering and XLA
  compilation of its programs; run s = cold - compile;
* warm s (with ``--warm``): a second identical fit, compiled programs reused;
* best log-likelihood, its difference from the default configuration's best (same problem), how many restarts
  end within 1e-3 of that configuration's best ("at best"), how many end within 1e-3 of the same restart's value
  under the default configuration ("as default": the same fixed point, restart by restart), the best restart's
  iterations (and E-steps, which differ from iterations under SQUAREM), the most iterations of any restart
  (restarts are vmapped, so every restart pays for the slowest), how many restarts converged (to ``--tol`` before
  ``--max-iter``);
* default / config: the default configuration's cold time over this one's (> 1: faster than the default).

Run: ``python benchmarks/gradient_mstep.py`` (every problem, the default configurations: 6 minutes on 2 idle
cores, 13 when they were shared; most of it the two_latent problem);
e.g. ``--problems latent_class two_latent --configs default steps2 --num-restarts 32 --warm``,
``--tol 1e-9 --max-iter 2000`` (the defaults).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import functools
import inspect
import time
import traceback
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from common import ABO_COUNTS, LINKAGE_COUNTS, abo_log_joint, git_revision, linkage_log_joint, machine

import jaxem

NUM_POINTS = 2000
AT_BEST = 1e-3

# ---------------------------------------------------------------------------------------------------- problems


class Problem(NamedTuple):
    model: Any
    data: Any
    options: dict  # key/num_restarts or init_params, weights
    description: str


def _latent_class_log_joint(params, x, z):
    p = params["probs"][z]
    return jnp.log(params["weights"][z]) + jnp.sum(x * jnp.log(p) + (1.0 - x) * jnp.log1p(-p))


def _latent_class_init(key, data):
    del data
    key_weights, key_probs = jax.random.split(key)
    return {
        "weights": jax.random.dirichlet(key_weights, jnp.ones(3)),
        "probs": jax.random.uniform(key_probs, (3, 6), minval=0.2, maxval=0.8),
    }


def latent_class(args) -> Problem:
    rng = np.random.default_rng(args.seed)
    weights = np.array([0.5, 0.3, 0.2])
    probs = rng.uniform(0.1, 0.9, size=(3, 6))
    z = rng.choice(3, size=NUM_POINTS, p=weights)
    x = (rng.uniform(size=(NUM_POINTS, 6)) < probs[z]).astype(np.float64)
    model = jaxem.Model(
        _latent_class_log_joint,
        num_states=3,
        init=_latent_class_init,
        constraints={"weights": jaxem.constraints.simplex, "probs": jaxem.constraints.unit_interval},
    )
    options = {"key": jax.random.key(args.seed), "num_restarts": args.num_restarts}
    return Problem(model, x, options, f"6 binary items, 3 classes, N={NUM_POINTS}, {args.num_restarts} restarts")


TWO_LATENT_SHAPE = (2, 3)


def _two_latent_log_joint(params, x, z):
    z1, z2 = z
    mean = params["a"][z1] + params["b"][z2]
    cell = z1 * TWO_LATENT_SHAPE[1] + z2
    return jnp.log(params["weights"][cell]) + jnp.sum(jax.scipy.stats.norm.logpdf(x, mean, params["scale"]))


def _two_latent_init(key, data):
    key_weights, key_a, key_b = jax.random.split(key, 3)
    centre, spread = jnp.mean(data, axis=0), jnp.std(data, axis=0)
    dim = data.shape[1]
    return {
        "weights": jax.random.dirichlet(key_weights, jnp.ones(TWO_LATENT_SHAPE[0] * TWO_LATENT_SHAPE[1])),
        "a": centre + 0.5 * spread * jax.random.normal(key_a, (TWO_LATENT_SHAPE[0], dim)),
        "b": 0.5 * spread * jax.random.normal(key_b, (TWO_LATENT_SHAPE[1], dim)),
        "scale": jnp.mean(spread),
    }


def two_latent(args) -> Problem:
    rng = np.random.default_rng(args.seed + 1)
    weights = np.array([0.25, 0.15, 0.10, 0.20, 0.20, 0.10])
    a = np.array([[-2.0, 0.0], [2.0, 0.5]])
    b = np.array([[0.0, -2.0], [0.5, 0.0], [0.0, 2.0]])
    cell = rng.choice(weights.size, size=NUM_POINTS, p=weights)
    z1, z2 = np.divmod(cell, TWO_LATENT_SHAPE[1])
    x = a[z1] + b[z2] + 0.8 * rng.normal(size=(NUM_POINTS, 2))
    model = jaxem.Model(
        _two_latent_log_joint,
        num_states=TWO_LATENT_SHAPE,
        init=_two_latent_init,
        constraints={"weights": jaxem.constraints.simplex, "scale": jaxem.constraints.positive},
    )
    options = {"key": jax.random.key(args.seed), "num_restarts": args.num_restarts}
    return Problem(model, x, options, f"(2, 3) latents, 2-D Gaussian, N={NUM_POINTS}, {args.num_restarts} restarts")


def linkage(args) -> Problem:
    del args
    model = jaxem.Model(linkage_log_joint, num_states=2, constraints={"theta": jaxem.constraints.unit_interval})
    options = {"init_params": {"theta": jnp.array(0.5)}, "weights": LINKAGE_COUNTS}
    return Problem(model, np.arange(4), options, "genetic linkage, 197 animals, from theta=0.5")


def abo(args) -> Problem:
    del args
    model = jaxem.Model(abo_log_joint, num_states=6, constraints={"freqs": jaxem.constraints.simplex})
    options = {"init_params": {"freqs": jnp.full(3, 1 / 3)}, "weights": ABO_COUNTS}
    return Problem(model, np.arange(4), options, "ABO blood groups, 521 people, from 1/3 each")


def faithful(args) -> Problem:
    model = dataclasses.replace(jaxem.models.gaussian_mixture(2), statistics=None, maximize=None)
    options = {"key": jax.random.key(args.seed), "num_restarts": args.num_restarts}
    return Problem(
        model,
        jaxem.datasets.load_faithful(),
        options,
        f"Old Faithful, K=2 full, gradient only, {args.num_restarts} restarts",
    )


PROBLEMS: dict[str, Callable[[argparse.Namespace], Problem]] = {
    "latent_class": latent_class,
    "two_latent": two_latent,
    "linkage": linkage,
    "abo": abo,
    "faithful": faithful,
}

# ---------------------------------------------------------------------------------------------------- configurations


class Config(NamedTuple):
    steps: int
    optimizer: Callable[[], Any] | None  # built once (cached) so a cold and a warm fit share the compiled program
    acceleration: str | None
    description: str
    opt_in: bool = False
    race: float | None = None


@functools.cache
def _lbfgs_short_linesearch():
    return optax.lbfgs(linesearch=optax.scale_by_backtracking_linesearch(max_backtracking_steps=5, store_grad=True))


@functools.cache
def _lbfgs_zoom():
    return optax.lbfgs()


CONFIGS: dict[str, Config] = {
    "default": Config(10, None, None, "10 steps, default L-BFGS"),
    "steps1": Config(1, None, None, "1 step, default L-BFGS"),
    "steps2": Config(2, None, None, "2 steps, default L-BFGS"),
    "steps3": Config(3, None, None, "3 steps, default L-BFGS"),
    "steps5": Config(5, None, None, "5 steps, default L-BFGS"),
    "ls5x3": Config(3, _lbfgs_short_linesearch, None, "3 steps, L-BFGS, <= 5 backtracks", opt_in=True),
    "zoomx3": Config(3, _lbfgs_zoom, None, "3 steps, optax.lbfgs() (zoom)", opt_in=True),
    "squarem": Config(10, None, "squarem", "SQUAREM on 10 steps, default L-BFGS"),
    "squaremx2": Config(2, None, "squarem", "SQUAREM on 2 steps, default L-BFGS"),
    "squarem_race": Config(10, None, "squarem", "SQUAREM on 10 steps, racing at 1e-3", opt_in=True, race=1e-3),
}


def _supports_acceleration() -> bool:
    return "acceleration" in inspect.signature(jaxem.fit).parameters


# ---------------------------------------------------------------------------------------------------- measuring

_COMPILE_EVENTS = (
    "/jax/core/compile/jaxpr_trace_duration",
    "/jax/core/compile/jaxpr_to_mlir_module_duration",
    "/jax/core/compile/backend_compile_duration",
)
_compile_seconds = [0.0]


def _on_duration(event, duration, **_):
    if event in _COMPILE_EVENTS:
        _compile_seconds[0] += duration


jax.monitoring.register_event_duration_secs_listener(_on_duration)


def _fit_once(problem: Problem, config: Config, args):
    options = dict(problem.options)
    if config.optimizer is not None:
        options["optimizer"] = config.optimizer()
    if config.acceleration is not None:
        options["acceleration"] = config.acceleration
    if config.race is not None:
        options["race"] = config.race
    _compile_seconds[0] = 0.0
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jaxem.FitWarning)
        result = jaxem.fit(
            problem.model,
            problem.data,
            max_iter=args.max_iter,
            tol=args.tol,
            num_gradient_steps=config.steps,
            **options,
        )
        result = jax.block_until_ready(result)
    return time.perf_counter() - start, _compile_seconds[0], result


def _measure(problem: Problem, config: Config, args) -> dict:
    jax.clear_caches()
    cold, compile_s, result = _fit_once(problem, config, args)
    restarts = result.restarts
    log_likelihoods = np.asarray(restarts.log_likelihood)
    ok = ~np.asarray(restarts.failed)
    best = float(result.log_likelihood)
    out = {
        "cold": cold,
        "compile": compile_s,
        "best": best,
        "at_best": int(np.sum(ok & (log_likelihoods >= best - AT_BEST))),
        "iterations": int(result.num_iterations),
        "max_iterations": int(np.max(np.asarray(restarts.num_iterations))),
        "converged": int(np.sum(np.asarray(restarts.converged))),
        "failed": int(np.sum(~ok)),
        "restarts": int(log_likelihoods.size),
        "e_steps": None,
        "per_restart": np.where(ok, log_likelihoods, -np.inf),
    }
    if hasattr(restarts, "num_e_steps"):
        out["e_steps"] = int(np.asarray(restarts.num_e_steps)[int(result.best_restart)])
    if args.warm:
        out["warm"], _, _ = _fit_once(problem, config, args)
    return out


# ---------------------------------------------------------------------------------------------------- report


def _header(args, configs):
    print(
        f"date {datetime.date.today().isoformat()}; jaxem git {git_revision()}; "
        f"jax {jax.__version__}, optax {optax.__version__}"
    )
    print(f"machine: {machine()}, JAX backend {jax.default_backend()} ({jax.device_count()} device(s))")
    print(f"float64, tol = {args.tol:g} per unit weight, max_iter = {args.max_iter}, seed = {args.seed}")
    print("configurations: " + "; ".join(f"{name} = {CONFIGS[name].description}" for name in configs))


def _row(problem_name, config_name, found, reference, args):
    if "error" in found:
        cells = [problem_name, config_name, f"failed: {found['error']}"] + [""] * (12 if args.warm else 11)
        return "| " + " | ".join(cells) + " |"
    delta = "" if reference is None or "error" in reference else f"{found['best'] - reference['best']:+.2e}"
    ratio = "" if reference is None or "error" in reference else f"{reference['cold'] / found['cold']:.2f}"
    same = ""
    if reference is not None and "error" not in reference:
        close = np.abs(found["per_restart"] - reference["per_restart"]) < AT_BEST
        same = f"{int(np.sum(close))}/{found['restarts']}"
    iterations = str(found["iterations"])
    if found["e_steps"] is not None and found["e_steps"] != found["iterations"] + 1:
        iterations += f" ({found['e_steps']} E)"
    cells = [
        problem_name,
        config_name,
        f"{found['cold']:.2f}",
        f"{found['compile']:.2f}",
        f"{found['cold'] - found['compile']:.2f}",
    ]
    if args.warm:
        cells.append(f"{found['warm']:.3f}")
    cells += [
        f"{found['best']:.6f}",
        delta,
        f"{found['at_best']}/{found['restarts']}",
        same,
        iterations,
        str(found["max_iterations"]),
        f"{found['converged']}/{found['restarts']}" + (f" ({found['failed']} failed)" if found["failed"] else ""),
        ratio,
    ]
    if args.warm and ratio:
        cells[-1] += f" (warm {reference['warm'] / found['warm']:.2f})"
    return "| " + " | ".join(cells) + " |"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--problems", nargs="+", choices=list(PROBLEMS), default=list(PROBLEMS))
    default_configs = [
        name for name, c in CONFIGS.items() if not c.opt_in and (c.acceleration is None or _supports_acceleration())
    ]
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=default_configs)
    parser.add_argument("--num-restarts", type=int, default=4, help="restarts for the problems fitted from a key")
    parser.add_argument("--tol", type=float, default=1e-9)
    parser.add_argument("--max-iter", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--warm", action="store_true", help="also time a second identical fit (no compilation)")
    args = parser.parse_args(argv)
    jax.config.update("jax_enable_x64", True)
    configs = list(dict.fromkeys(args.configs))
    if any(CONFIGS[name].acceleration for name in configs) and not _supports_acceleration():
        parser.error("this jaxem.fit takes no acceleration argument: drop the squarem configurations")

    _header(args, configs)
    results: dict[str, dict[str, dict]] = {}
    for problem_name in args.problems:
        problem = PROBLEMS[problem_name](args)
        print(f"\n{problem_name}: {problem.description}", flush=True)
        results[problem_name] = {}
        for config_name in configs:
            try:
                found = _measure(problem, CONFIGS[config_name], args)
            except Exception as error:  # noqa: BLE001 - a failing configuration is a result, reported in the table
                traceback.print_exc()
                found = {"error": f"{type(error).__name__}: {str(error).splitlines()[0][:80]}"}
            results[problem_name][config_name] = found
            summary = found.get("error") or f"cold {found['cold']:.1f} s, best {found['best']:.6f}"
            print(f"  {config_name}: {summary}", flush=True)

    warm_column = " warm s |" if args.warm else ""
    print()
    print(
        f"| problem | config | cold s | compile s | run s |{warm_column} best log-lik | - default | at best "
        "| as default | iterations (best) | max iterations | converged | default / config (cold) |"
    )
    print("|---" * (14 if args.warm else 13) + "|")
    for problem_name, found in results.items():
        reference = found.get("default")
        for config_name, row in found.items():
            print(_row(problem_name, config_name, row, reference, args))
    print(
        "\ncold s: the fit call after jax.clear_caches(), compilation included; compile s: JAX's own tracing, "
        "lowering and XLA compile time within it; run s = cold - compile.\n"
        f"- default: best log-lik minus the default configuration's; at best: restarts within {AT_BEST:g} of this "
        f"configuration's best;\nas default: restarts ending within {AT_BEST:g} of the same restart's value under the "
        "default configuration (the same fixed point, restart by restart);\n"
        "iterations: M-steps of the best restart (E-steps in brackets where they differ); "
        "max iterations: of any restart (the vmapped restarts all run until the slowest stops); converged: restarts "
        "that met tol before max_iter."
    )


if __name__ == "__main__":
    main()
