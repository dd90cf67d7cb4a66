"""Gaussian HMM EM: jaxem (restarts vmapped) against hmmlearn and, if installed, dynamax.

Problem: 50 sequences of length 1000, K = 6 states, D = 4, diagonal Gaussian
emissions, sampled from a random HMM. Every library starts from the same
parameters and runs a fixed number of EM iterations (tolerance disabled).
Reported: seconds per EM iteration per restart, and the ratios. jaxem is
timed twice on the same data: with every restart on one CPU device, and with
the restarts split over one CPU device per core (``jaxem.fit``'s ``devices``;
JAX is started with ``--cpu-devices`` CPU devices, default ``os.cpu_count()``).
hmmlearn runs its restarts one after another on one core (its time does not
change when pinned to one core: compare ``python benchmarks/hmm_vs_hmmlearn.py
--only-hmmlearn`` with the same command under ``taskset -c 0``).

Second part: one sequence of length 100 000; the full E-step (log-likelihood
and posterior marginals, i.e. ``jaxem.posterior``) with the sequential
``lax.scan`` forward algorithm against the parallel one (the log-semiring
product of the per-step tables reduced in a balanced tree, ``parallel=True``).

Usage:
  python benchmarks/hmm_vs_hmmlearn.py            # float64 (hmmlearn's precision)
  python benchmarks/hmm_vs_hmmlearn.py --float32  # jaxem in float32
  python benchmarks/hmm_vs_hmmlearn.py --profile  # also: jaxem's E-step and M-step timed alone
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time

import jax
import numpy as np

parser = argparse.ArgumentParser()
parser.add_argument("--float32", action="store_true", help="run jaxem in float32 (default float64)")
parser.add_argument("--iterations", type=int, default=10)
parser.add_argument("--restarts", type=int, default=16)
parser.add_argument(
    "--hmmlearn-restarts", type=int, default=2, help="hmmlearn restarts timed (its cost is linear in them)"
)
parser.add_argument("--long-steps", type=int, default=100_000)
parser.add_argument("--only-hmmlearn", action="store_true", help="time hmmlearn alone (e.g. under taskset -c 0)")
parser.add_argument(
    "--cpu-devices", type=int, default=os.cpu_count(), help="CPU devices JAX starts with (restarts split over them)"
)
parser.add_argument(
    "--profile", action="store_true", help="also time jaxem's E-step and M-step alone (16 restarts vmapped)"
)
args = parser.parse_args()
jax.config.update("jax_enable_x64", not args.float32)
jax.config.update("jax_num_cpu_devices", args.cpu_devices)

import jax.numpy as jnp
from common import cpu_model

import jaxem

S, T, K, D = 50, 1000, 6, 4


def timed(fn, repeats=1):
    """Best wall-clock seconds of `repeats` calls (after the caller's warm-up)."""
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        best = min(best, time.perf_counter() - start)
    return best


def make_problem(seed=0):
    rng = np.random.default_rng(seed)
    model = jaxem.models.gaussian_hmm(K, covariance_type="diag", reg_covar=0.0)
    transition = 0.8 * np.eye(K) + 0.2 * rng.dirichlet(np.ones(K), size=K)
    truth = {
        "initial": jnp.asarray(rng.dirichlet(np.ones(K))),
        "transition": jnp.asarray(transition / transition.sum(1, keepdims=True)),
        "means": jnp.asarray(rng.normal(0, 2, (K, D))),
        "covariances": jnp.asarray(rng.uniform(0.5, 1.5, (K, D))),
    }
    x = np.asarray(jaxem.sample_sequences(model, truth, jax.random.key(seed), T, S).observations)
    rows = x.reshape(-1, D)
    starts = {
        "initial": rng.dirichlet(np.ones(K), size=args.restarts),
        "transition": rng.dirichlet(np.ones(K), size=(args.restarts, K)),
        "means": np.stack([rows[rng.choice(len(rows), K, replace=False)] for _ in range(args.restarts)]),
        "covariances": np.tile(rows.var(0), (args.restarts, K, 1)),
    }
    return model, truth, x, starts


def bench_jaxem(model, x, starts, devices):
    dtype = jnp.float32 if args.float32 else jnp.float64
    init = jax.tree.map(lambda a: jnp.asarray(a, dtype), starts)
    data = jnp.asarray(x, dtype)
    run = lambda: (
        jaxem.fit(
            model, data, init_params=init, max_iter=args.iterations, tol=0.0, devices=devices
        ).restarts.log_likelihood
    )
    compile_start = time.perf_counter()
    jax.block_until_ready(run())
    first = time.perf_counter() - compile_start
    seconds = timed(run, repeats=3)
    return seconds / (args.iterations * args.restarts), first, np.asarray(run())


def profile_jaxem(model, x, starts):
    """Seconds per restart of one E-step (log-likelihood, statistics) and one M-step, vmapped over restarts."""
    from jaxem.estep import expectations
    from jaxem.mstep import closed_form

    dtype = jnp.float32 if args.float32 else jnp.float64
    params = jax.tree.map(lambda a: jnp.asarray(a, dtype), starts)
    units = model.units(jnp.asarray(x, dtype), None)
    weights = jnp.ones(S, dtype)
    potentials = jax.jit(jax.vmap(lambda p: jax.vmap(lambda u: model.log_potentials(p, u))(units)))
    e_only = jax.jit(jax.vmap(lambda p: expectations(model, p, units, weights, S)))
    statistics = e_only(params).statistics
    m_only = jax.jit(jax.vmap(lambda s, p: closed_form(model, s, p)))
    results = {}
    for name, run in (
        ("emission and chain log-potentials", lambda: potentials(params)),
        ("E-step (potentials + forward + reverse pass + statistics)", lambda: e_only(params)),
        ("M-step (closed form from the statistics)", lambda: m_only(statistics, params)),
    ):
        jax.block_until_ready(run())
        results[name] = timed(run, repeats=5) / args.restarts
    return results


def bench_hmmlearn(x, starts):
    from hmmlearn import hmm

    rows = x.reshape(-1, D)
    lengths = np.full(S, T)
    total = 0.0
    for r in range(args.hmmlearn_restarts):
        reference = hmm.GaussianHMM(
            K,
            covariance_type="diag",
            n_iter=args.iterations,
            tol=-np.inf,
            init_params="",
            params="stmc",
            covars_prior=0.0,
            covars_weight=1.0,
        )
        reference.startprob_ = starts["initial"][r]
        reference.transmat_ = starts["transition"][r]
        reference.means_ = starts["means"][r]
        reference.covars_ = starts["covariances"][r]
        start = time.perf_counter()
        reference.fit(rows, lengths)
        total += time.perf_counter() - start
    return total / (args.iterations * args.hmmlearn_restarts)


def bench_dynamax(x, starts):
    try:
        from dynamax.hidden_markov_model import DiagonalGaussianHMM
    except Exception as error:  # noqa: BLE001
        return None, f"dynamax not importable: {type(error).__name__}: {error}"
    hmm = DiagonalGaussianHMM(K, D)
    params, props = hmm.initialize(
        initial_probs=jnp.asarray(starts["initial"][0]),
        transition_matrix=jnp.asarray(starts["transition"][0]),
        emission_means=jnp.asarray(starts["means"][0]),
        emission_scale_diags=jnp.sqrt(jnp.asarray(starts["covariances"][0])),
    )
    emissions = jnp.asarray(x)

    def run(num_iters):
        return lambda: hmm.fit_em(params, props, emissions, num_iters=num_iters, verbose=False)[1]

    # fit_em jits a closure per call, so every call recompiles: the marginal
    # cost of an iteration is the difference between N and 3N iterations.
    jax.block_until_ready(run(args.iterations)())
    short = timed(run(args.iterations), repeats=2)
    long = timed(run(3 * args.iterations), repeats=2)
    per_iteration = (long - short) / (2 * args.iterations)
    return per_iteration, (
        f"marginal cost from {args.iterations} vs {3 * args.iterations} iterations; a whole "
        f"{args.iterations}-iteration call takes {short:.2f} s, i.e. {short / args.iterations * 1e3:.1f} ms per iteration"
    )


def bench_long(model, truth):
    x = jaxem.sample_sequences(model, truth, jax.random.key(1), args.long_steps, 1).observations
    results = {}
    for name, parallel in (("sequential", False), ("parallel", True)):
        variant = dataclasses.replace(model, parallel=parallel)
        run = lambda variant=variant: jaxem.posterior(variant, truth, x).states
        jax.block_until_ready(run())
        results[name] = timed(run, repeats=3)
    check = [jaxem.log_likelihood(dataclasses.replace(model, parallel=p), truth, x) for p in (False, True)]
    return results, check


def main():
    print(
        f"machine: nproc={os.cpu_count()}, CPU: {cpu_model()}, jax {jax.__version__} on {jax.devices()[0].platform}, "
        f"jaxem dtype {'float32' if args.float32 else 'float64'}"
    )
    model, truth, x, starts = make_problem()
    print(
        f"problem: {S} sequences x {T} steps, K={K}, D={D} diagonal Gaussian, {args.iterations} EM iterations, tol disabled"
    )
    if args.only_hmmlearn:
        print(f"hmmlearn alone: {bench_hmmlearn(x, starts) * 1e3:.3f} ms per iteration per restart")
        return
    jaxem_seconds, jaxem_first, one_device = bench_jaxem(model, x, starts, jax.devices()[:1])
    print(
        f"jaxem    ({args.restarts} restarts vmapped, 1 CPU device): {jaxem_seconds * 1e3:.3f} ms per iteration "
        f"per restart (first call incl. compilation {jaxem_first:.2f} s)"
    )
    split_seconds, split_first, split = bench_jaxem(model, x, starts, jax.devices())
    print(
        f"jaxem    ({args.restarts} restarts vmapped, split over {len(jax.devices())} CPU devices): "
        f"{split_seconds * 1e3:.3f} ms per iteration per restart (first call incl. compilation {split_first:.2f} s)"
    )
    difference = np.max(np.abs(split - one_device) / np.abs(one_device))
    print(f"  final log-likelihoods, split vs one device: largest relative difference {difference:.1e}")
    if args.profile:
        for name, seconds in profile_jaxem(model, x, starts).items():
            print(f"  jaxem {name}: {seconds * 1e3:.3f} ms per restart")
    hmmlearn_seconds = bench_hmmlearn(x, starts)
    print(
        f"hmmlearn ({args.hmmlearn_restarts} restarts, one after another): {hmmlearn_seconds * 1e3:.3f} ms per iteration per restart"
    )
    print(f"ratio hmmlearn / jaxem, 1 device: {hmmlearn_seconds / jaxem_seconds:.1f}x (target >= 10x)")
    print(
        f"ratio hmmlearn / jaxem, {len(jax.devices())} devices: {hmmlearn_seconds / split_seconds:.1f}x (target >= 10x)"
    )
    dynamax_seconds, note = bench_dynamax(x, starts)
    if dynamax_seconds is None:
        print(note)
    else:
        print(f"dynamax  (1 restart, fit_em): {dynamax_seconds * 1e3:.3f} ms per iteration ({note})")
        print(
            f"ratio dynamax / jaxem (1 device) per restart-iteration: {dynamax_seconds / jaxem_seconds:.1f}x (target >= 1x)"
        )
    long_times, check = bench_long(model, truth)
    print(
        f"E-step on one sequence of {args.long_steps} steps (log-likelihood + posterior marginals): "
        f"sequential scan {long_times['sequential']:.3f} s, parallel tree {long_times['parallel']:.3f} s "
        f"(sequential / parallel = {long_times['sequential'] / long_times['parallel']:.2f}); "
        f"log-likelihoods {float(check[0]):.6f} vs {float(check[1]):.6f}"
    )


if __name__ == "__main__":
    main()
