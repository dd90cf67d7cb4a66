"""SQUAREM against plain EM on the slow problem set: E-steps, wall time and the fixed points reached.

Every problem is fitted twice with the same starts, the same ``--tol`` (per unit weight) and float64:
``jaxem.fit(..., max_iter=--max-iter)`` (plain EM) and ``jaxem.fit(..., acceleration="squarem",
max_iter=--max-cycles)`` (each step one SQUAREM cycle of about four E-steps; the default cycle budget is a
quarter of plain EM's step budget, so both may spend about the same number of E-steps).

Problems (``--problems``; data are deterministic from ``--seed``):

* ``overlap2d``: ``gaussian_mixture(2)`` on N = 2000 2-D points, 1000 from N(0, I) and 1000 from
  N((1.0, 0.5), I) (two heavily overlapping components: EM's classic slow case);
* ``linkage``: Rao's genetic linkage (197 animals in 4 cells), closed-form M-step, theta from 0.5 (one start);
* ``faithful3``: ``gaussian_mixture(3)`` on ``jaxem.datasets.load_faithful()`` (272 points);
* ``poisson_hmm``: ``poisson_hmm(3)`` on ONE simulated sequence of T = 2000 counts (sticky transitions, 0.9 on
  the diagonal, rates 1, 4, 9), passed as data of shape (1, T): one sequence of T steps (shape (T, 1) would be T
  sequences of one step each). A Markov model's weights are per sequence, so ``--tol`` here is per sequence: the
  fit stops on an absolute change of ``tol`` (the mixtures: ``tol * N``);
* ``abo``: ABO blood groups (521 people, 4 phenotypes, 6 genotypes), gradient M-step, freqs from 1/3 (one start);
* ``two_latent``: ``num_states=(2, 3)``, 1-D x ~ Normal(a[z1] + b[z2], scale^2), weights on a flat 6-cell simplex,
  no closed form (gradient M-step); N = 2000 points drawn from such a model; ``init(key, data)`` from the key.

Problems with a model ``init`` run ``--num-restarts`` restarts (8) from ``jax.random.key(--seed)``; both methods get
the same key and restart count, hence the same ``model.init`` starts. The textbook cases start from their given
``init_params`` (one restart).

Measured per problem and method:

* E-steps: ``sum`` over restarts of ``result.restarts.num_e_steps`` (the work every restart needed; the start's
  E-step included) and ``max`` over restarts (what the vmapped fit pays: restarts run in lockstep until the
  slowest stops), and the ratios plain / SQUAREM of each;
* cold s: the first fit call after ``jax.clear_caches()`` (compilation included); warm s: a second identical call
  (compiled programs reused); both ``time.perf_counter`` around ``jaxem.fit`` and ``jax.block_until_ready``;
* best log-likelihood (plain) and SQUAREM's best minus plain's; converged restarts (met ``--tol`` before the step
  budget);
* same restart: restarts whose SQUAREM log-likelihood is within 1e-6 * N of the SAME restart's plain value
  (N: total weight, or steps for the HMM); the rest went to a different fixed point (``+`` higher, ``-`` lower).

Verdict (the issue's target): on a slow problem (plain EM's slowest restart needs more than 100 E-steps) SQUAREM
must need at least 3x fewer E-steps, in sum and in max; on any problem it must never need more than 1.2x plain's.

Run: ``python benchmarks/acceleration.py`` (3-4 minutes on 2 cores, half of it two_latent); e.g. ``--problems overlap2d abo``,
``--tol 1e-10``, ``--num-restarts 16``, ``--max-iter 20000 --max-cycles 5000``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import platform
import time
import warnings
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from common import (
    ABO_COUNTS,
    LINKAGE_COUNTS,
    abo_log_joint,
    git_revision,
    linkage_log_joint,
    linkage_maximize,
    linkage_statistics,
    machine,
)

import jaxem

SLOW_E_STEPS = 100  # a problem is slow when plain EM's slowest restart needs more E-steps than this
TARGET_FEWER = 3.0  # slow problems: plain / SQUAREM at least this
TARGET_WORST = 1.2  # any problem: SQUAREM / plain at most this
SAME_PER_N = 1e-6  # same restart: |log-lik difference| below this times N


@dataclasses.dataclass
class Problem:
    description: str
    model: object
    data: object
    options: dict  # key/num_restarts or init_params, weights
    size: float  # N: total weight (or steps) the log-likelihood sums over


# ------------------------------------------------------------------ problems


def _overlap2d(args):
    rng = np.random.default_rng(args.seed)
    x = np.concatenate([rng.normal(size=(1000, 2)), rng.normal(size=(1000, 2)) + np.array([1.0, 0.5])])
    options = {"key": jax.random.key(args.seed), "num_restarts": args.num_restarts}
    return Problem(
        "gaussian_mixture(2), N(0, I) + N((1, .5), I), N=2000", jaxem.models.gaussian_mixture(2), x, options, 2000
    )


def _linkage(args):
    model = jaxem.Model(
        linkage_log_joint,
        num_states=2,
        constraints={"theta": jaxem.constraints.unit_interval},
        statistics=linkage_statistics,
        maximize=linkage_maximize,
    )
    options = {"weights": LINKAGE_COUNTS, "init_params": {"theta": jnp.array(0.5)}}
    return Problem("genetic linkage, closed form, theta0 = 0.5", model, np.arange(4), options, LINKAGE_COUNTS.sum())


def _faithful3(args):
    x = jaxem.datasets.load_faithful()
    options = {"key": jax.random.key(args.seed), "num_restarts": args.num_restarts}
    return Problem("gaussian_mixture(3), Old Faithful, N=272", jaxem.models.gaussian_mixture(3), x, options, len(x))


def _poisson_hmm(args):
    rng = np.random.default_rng(args.seed)
    transition = np.full((3, 3), 0.05) + 0.85 * np.eye(3)
    num_steps, state = 2000, 0
    states = np.empty(num_steps, int)
    for t in range(num_steps):
        states[t] = state
        state = rng.choice(3, p=transition[state])
    counts = rng.poisson(np.array([1.0, 4.0, 9.0])[states]).astype(float)
    options = {"key": jax.random.key(args.seed), "num_restarts": args.num_restarts}
    return Problem(
        "poisson_hmm(3), one sequence, T=2000", jaxem.models.poisson_hmm(3), counts[None], options, num_steps
    )


def _abo(args):
    model = jaxem.Model(abo_log_joint, num_states=6, constraints={"freqs": jaxem.constraints.simplex})
    options = {"weights": ABO_COUNTS, "init_params": {"freqs": jnp.full(3, 1 / 3)}}
    return Problem("ABO blood groups, gradient M-step, freqs0 = 1/3", model, np.arange(4), options, ABO_COUNTS.sum())


def _two_latent_log_joint(params, x, z):
    z1, z2 = z
    mean = params["a"][z1] + params["b"][z2]
    return jnp.log(params["weights"][z1 * 3 + z2]) + jax.scipy.stats.norm.logpdf(x, mean, params["scale"])


def _two_latent_init(key, data):
    """Dirichlet(2) cell weights; a: two data points; b: three offsets of the data's spread; scale: that spread."""
    k_weights, k_a, k_b = jax.random.split(key, 3)
    spread = jnp.std(data)
    return {
        "weights": jax.random.dirichlet(k_weights, jnp.full(6, 2.0)),
        "a": jax.random.choice(k_a, data, (2,), replace=False),
        "b": 0.5 * spread * jax.random.normal(k_b, (3,)),
        "scale": spread,
    }


def _two_latent(args):
    rng = np.random.default_rng(args.seed)
    cells = rng.integers(0, 6, 2000)
    x = np.array([-2.0, 2.0])[cells // 3] + np.array([-1.0, 0.0, 1.5])[cells % 3] + rng.normal(0, 0.5, 2000)
    model = jaxem.Model(
        _two_latent_log_joint,
        num_states=(2, 3),
        constraints={"weights": jaxem.constraints.simplex, "scale": jaxem.constraints.positive},
        init=_two_latent_init,
    )
    options = {"key": jax.random.key(args.seed), "num_restarts": args.num_restarts}
    return Problem("num_states=(2, 3), a[z1] + b[z2], gradient M-step, N=2000", model, x, options, 2000)


PROBLEMS: dict[str, Callable[[argparse.Namespace], Problem]] = {
    "overlap2d": _overlap2d,
    "linkage": _linkage,
    "faithful3": _faithful3,
    "poisson_hmm": _poisson_hmm,
    "abo": _abo,
    "two_latent": _two_latent,
}

# ------------------------------------------------------------------ measuring


def _fit(problem: Problem, squarem: bool, args, caught: list):
    extra = {"acceleration": "squarem", "max_iter": args.max_cycles} if squarem else {"max_iter": args.max_iter}
    with warnings.catch_warnings(record=True) as found:
        warnings.simplefilter("always")
        start = time.perf_counter()
        result = jaxem.fit(problem.model, problem.data, tol=args.tol, **problem.options, **extra)
        result = jax.block_until_ready(result)
        seconds = time.perf_counter() - start
    caught.extend(f"{type(w.message).__name__}: {str(w.message)[:160]}" for w in found)
    return seconds, result


def _measure(problem: Problem, squarem: bool, args) -> dict:
    caught: list[str] = []
    jax.clear_caches()
    cold, _ = _fit(problem, squarem, args, caught)
    warm, result = _fit(problem, squarem, args, [])
    restarts = result.restarts
    failed = np.asarray(restarts.failed)
    e_steps = np.asarray(restarts.num_e_steps)
    return {
        "cold": cold,
        "warm": warm,
        "e_sum": int(e_steps.sum()),
        "e_max": int(e_steps.max()),
        "best": float(result.log_likelihood),
        "per_restart": np.where(failed, np.nan, np.asarray(restarts.log_likelihood)),
        "converged": int(np.sum(np.asarray(restarts.converged))),
        "failed": int(failed.sum()),
        "restarts": int(failed.size),
        "iterations": np.asarray(restarts.num_iterations).tolist(),
        "e_steps": e_steps.tolist(),
        "warnings": sorted(set(caught)),
    }


def _verdict(plain, fast):
    sum_ratio, max_ratio = plain["e_sum"] / fast["e_sum"], plain["e_max"] / fast["e_max"]
    slow = plain["e_max"] > SLOW_E_STEPS
    worst = min(sum_ratio, max_ratio)
    if worst < 1 / TARGET_WORST:
        return f"FAIL: {1 / worst:.2f}x more E-steps" + (" (slow)" if slow else "")
    if slow:
        return "PASS (slow)" if worst >= TARGET_FEWER else f"FAIL (slow): only {worst:.2f}x fewer"
    return "PASS (not slow)"


def _same_restart(plain, fast, size):
    difference = fast["per_restart"] - plain["per_restart"]
    close = np.abs(difference) <= SAME_PER_N * size
    higher = int(np.sum(~close & (difference > 0)))
    lower = int(np.sum(~close & (difference < 0)))
    text = f"{int(np.sum(close))}/{plain['restarts']}"
    if higher or lower:
        text += f" (+{higher}, -{lower})"
    return text


def _row(name, problem, plain, fast):
    if "error" in plain or "error" in fast:
        error = plain.get("error") or fast.get("error")
        return f"| {name} | failed: {error} |" + " |" * 10
    cells = [
        name,
        f"{problem.options.get('num_restarts', 1)}",
        f"{plain['e_sum']} / {fast['e_sum']} ({plain['e_sum'] / fast['e_sum']:.2f}x)",
        f"{plain['e_max']} / {fast['e_max']} ({plain['e_max'] / fast['e_max']:.2f}x)",
        f"{plain['warm']:.3f} / {fast['warm']:.3f} ({plain['warm'] / fast['warm']:.2f}x)",
        f"{plain['cold']:.2f} / {fast['cold']:.2f}",
        f"{plain['best']:.6f}",
        f"{fast['best'] - plain['best']:+.2e}",
        f"{plain['converged']}/{plain['restarts']} / {fast['converged']}/{fast['restarts']}",
        _same_restart(plain, fast, problem.size),
        _verdict(plain, fast),
    ]
    return "| " + " | ".join(cells) + " |"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--problems", nargs="+", choices=list(PROBLEMS), default=list(PROBLEMS))
    parser.add_argument("--tol", type=float, default=1e-8, help="per unit weight, the same for both methods")
    parser.add_argument("--max-iter", type=int, default=10000, help="plain EM's step budget")
    parser.add_argument("--max-cycles", type=int, default=2500, help="SQUAREM's cycle budget (~4 E-steps each)")
    parser.add_argument("--num-restarts", type=int, default=8, help="for the problems with a model init")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--details", action="store_true", help="also print every restart's iterations and E-steps")
    args = parser.parse_args(argv)
    jax.config.update("jax_enable_x64", True)

    header = f"date {datetime.date.today().isoformat()}; jaxem git {git_revision()}; jax {jax.__version__}"
    print(f"{header}; machine: {machine()}, {platform.system()}, {jax.default_backend()} backend")
    print(
        f"float64, tol = {args.tol:g} per unit weight for both, plain max_iter = {args.max_iter}, SQUAREM max_iter "
        f"= {args.max_cycles} cycles, seed = {args.seed}, {args.num_restarts} restarts where the model has an init"
    )

    results = {}
    for name in args.problems:
        problem = PROBLEMS[name](args)
        print(f"\n{name}: {problem.description}", flush=True)
        found = {}
        for method, squarem in (("plain", False), ("squarem", True)):
            try:
                found[method] = _measure(problem, squarem, args)
            except Exception as error:  # noqa: BLE001 - a failing fit is a result, reported in the table
                found[method] = {"error": f"{type(error).__name__}: {str(error).splitlines()[0][:100]}"}
                print(f"  {method}: {found[method]['error']}", flush=True)
                continue
            row = found[method]
            print(
                f"  {method}: E-steps sum {row['e_sum']}, max {row['e_max']}; cold {row['cold']:.2f} s, warm "
                f"{row['warm']:.3f} s; best {row['best']:.8f}; converged {row['converged']}/{row['restarts']}",
                flush=True,
            )
            if args.details:
                print(f"    iterations {row['iterations']}\n    E-steps    {row['e_steps']}")
                print(f"    log-lik    {np.round(row['per_restart'], 6).tolist()}")
            for message in row["warnings"]:
                print(f"    warning ({method}, cold call): {message}", flush=True)
        results[name] = (problem, found)

    print()
    print(
        "| problem | R | E-steps sum: plain / SQUAREM (ratio) | E-steps max: plain / SQUAREM (ratio) "
        "| warm s: plain / SQUAREM (ratio) | cold s: plain / SQUAREM | best log-lik (plain) | SQUAREM - plain "
        "| converged: plain / SQUAREM | same restart | verdict |"
    )
    print("|---" * 11 + "|")
    for name, (problem, found) in results.items():
        print(_row(name, problem, found["plain"], found["squarem"]))
    print(
        f"\nE-steps: sum over restarts of restarts.num_e_steps (work) and max over restarts (what the vmapped fit pays);"
        f" ratios plain / SQUAREM (> 1: SQUAREM needs fewer).\nwarm s: second identical fit call; cold s: first call "
        f"after jax.clear_caches(), compilation included.\nsame restart: SQUAREM restarts ending within {SAME_PER_N:g} "
        "* N of the same restart's plain log-likelihood (+ higher / - lower: a different fixed point, e.g. another "
        "local maximum).\nverdict: slow = plain's slowest restart > "
        f"{SLOW_E_STEPS} E-steps; a slow problem passes with >= {TARGET_FEWER:g}x fewer E-steps in sum and max; any "
        f"problem fails with > {TARGET_WORST:g}x more."
    )


if __name__ == "__main__":
    main()
