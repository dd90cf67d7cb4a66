"""Gaussian-mixture init schemes: how often each reaches the best optimum, and what it costs.

For each scheme in ``--schemes`` (default: all four), the built-in
``jaxem.models.gaussian_mixture(8, init=scheme)`` (full covariance, other
settings default) is fitted with ``jaxem.fit(model, data,
key=jax.random.key(0), num_restarts=8)`` (default ``max_iter`` and ``tol``) on
well-separated synthetic data: ``--num-points`` x 10 draws from 8 Gaussian
blobs (centres ~ N(0, 4^2 I), per-blob scale in (0.5, 1.5), numpy seed 0).
Per scheme it prints:

* "at best": the fraction of restarts whose final log-likelihood per
  observation is within 1e-3 of the best over all schemes run;
* the best final log-likelihood per observation, and the mean and maximum
  per-restart number of EM iterations (the vmapped loop runs until the
  slowest restart stops, so the maximum sets the fit time);
* the fit's wall time on the first call (compilation included) and on a
  second, warm call;
* the init alone: a module-level ``jax.jit(jax.vmap(model.init, in_axes=(0,
  None)))`` with the same restart keys as the fit, first and warm call (each
  with ``jax.block_until_ready``), and its share of the fit time (first / first
  and warm / warm). ``jaxem.fit`` runs the same vmapped init as a program of
  its own before the EM program, so this is the init's part of the fit.

For reference it also prints scikit-learn ``GaussianMixture(8, n_init=8,
random_state=0)``'s best log-likelihood per observation on the same data (its
default init: k-means per restart; float64), its wall time and iterations.

Run: ``python benchmarks/init_schemes.py`` (``--num-points 1000000`` for the
larger case, ``--x64`` for float64 jaxem, ``--skip-sklearn`` to leave out the
reference, ``--hmm`` for ``jaxem.models.gaussian_hmm(8)`` on the same points cut
into sequences of 100 steps; "per observation" is then per step).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import jax
import numpy as np
from common import cpu_model

SCHEMES = ("kmeans++", "random_points", "random_responsibilities", "kmeans")
NUM_COMPONENTS = 8
NUM_FEATURES = 10
NUM_RESTARTS = 8
NEAR_BEST = 1e-3  # per-observation log-likelihood


def _data(num_points, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(NUM_COMPONENTS, NUM_FEATURES))
    labels = rng.integers(0, NUM_COMPONENTS, num_points)
    scales = rng.uniform(0.5, 1.5, size=(NUM_COMPONENTS, 1))
    return centres[labels] + scales[labels] * rng.normal(size=(num_points, NUM_FEATURES))


SEQUENCE_LENGTH = 100  # --hmm: the points are cut into sequences of this many steps


@jax.jit(static_argnums=0)
def _init_all(model, keys, init_data):
    return jax.vmap(model.init, in_axes=(0, None))(keys, init_data)


def _timed(fn):
    start = time.perf_counter()
    out = jax.block_until_ready(fn())
    return time.perf_counter() - start, out


def _run_scheme(scheme, data, hmm):
    import jaxem

    if hmm:
        model = jaxem.models.gaussian_hmm(NUM_COMPONENTS, init=scheme)
        data = data.reshape(-1, SEQUENCE_LENGTH, NUM_FEATURES)
    else:
        model = jaxem.models.gaussian_mixture(NUM_COMPONENTS, init=scheme)
    key = jax.random.key(0)

    def fit():
        result = jaxem.fit(model, data, key=key, num_restarts=NUM_RESTARTS)
        return result.restarts.log_likelihood, result.restarts.num_iterations, result.restarts.failed

    fit_first, _ = _timed(fit)
    fit_warm, (log_likelihood, num_iterations, failed) = _timed(fit)
    keys = jax.random.split(key, NUM_RESTARTS)  # the keys jaxem.fit gives model.init
    init_data = model.statistics_data(model.units(data, None))  # what jaxem.fit gives model.init (host-side checks)
    init_first, _ = _timed(lambda: _init_all(model, keys, init_data))
    init_warm, _ = _timed(lambda: _init_all(model, keys, init_data))
    return {
        "per_observation": np.asarray(log_likelihood, np.float64)
        / (data.shape[0] * data.shape[1] if hmm else data.shape[0]),
        "iterations": (float(np.mean(np.asarray(num_iterations))), int(np.max(np.asarray(num_iterations)))),
        "failed": int(np.sum(np.asarray(failed))),
        "fit": (fit_first, fit_warm),
        "init": (init_first, init_warm),
    }


def _sklearn(x):
    from sklearn.mixture import GaussianMixture

    model = GaussianMixture(NUM_COMPONENTS, n_init=NUM_RESTARTS, random_state=0)
    start = time.perf_counter()
    model.fit(x)
    seconds = time.perf_counter() - start
    return float(model.score(x)), seconds, int(model.n_iter_)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-points", type=int, default=200_000)
    parser.add_argument("--schemes", nargs="+", choices=SCHEMES, default=list(SCHEMES))
    parser.add_argument("--x64", action="store_true", help="run jaxem in float64")
    parser.add_argument("--skip-sklearn", action="store_true")
    parser.add_argument(
        "--hmm",
        action="store_true",
        help=f"fit jaxem.models.gaussian_hmm(8) instead, the points cut into sequences of {SEQUENCE_LENGTH} steps",
    )
    args = parser.parse_args(argv)

    if args.x64:
        jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    print(
        f"machine: {platform.machine()}, {cpu_model()}, {jax.device_count()} JAX device(s) "
        f"({jax.devices()[0].platform}), cpu_count {os.cpu_count()}"
    )
    print(
        f"jax {jax.__version__}, jaxem dtype {jnp.result_type(float)}; N={args.num_points}, D={NUM_FEATURES}, "
        f"K={NUM_COMPONENTS}, full covariance, {NUM_RESTARTS} restarts, jaxem.fit defaults, "
        f"{'Gaussian HMM' if args.hmm else 'Gaussian mixture'}"
    )
    x = _data(args.num_points)
    data = jnp.asarray(x, jnp.result_type(float))
    results = {}
    for scheme in args.schemes:
        results[scheme] = _run_scheme(scheme, data, args.hmm)
        print(f"  done {scheme}: fit first {results[scheme]['fit'][0]:.1f} s", flush=True)
    best = max(float(np.max(r["per_observation"])) for r in results.values())

    print()
    print(
        "| init | at best (within 1e-3) | best log-lik / obs | iterations mean / max | failed "
        "| fit first (s) | fit warm (s) | init first (s), share | init warm (s), share |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for scheme, r in results.items():
        at_best = int(np.sum(r["per_observation"] >= best - NEAR_BEST))
        mean_iterations, max_iterations = r["iterations"]
        (fit_first, fit_warm), (init_first, init_warm) = r["fit"], r["init"]
        print(
            f"| {scheme} | {at_best}/{NUM_RESTARTS} | {np.max(r['per_observation']):.5f} "
            f"| {mean_iterations:.1f} / {max_iterations} "
            f"| {r['failed']} | {fit_first:.2f} | {fit_warm:.2f} | {init_first:.2f}, {init_first / fit_first:.1%} "
            f"| {init_warm:.3f}, {init_warm / fit_warm:.1%} |",
            flush=True,
        )
    if not (args.skip_sklearn or args.hmm):
        score, seconds, iterations = _sklearn(x)
        print(
            f"\nscikit-learn GaussianMixture(8, n_init=8, random_state=0), float64: best log-lik / obs "
            f"{score:.5f} (jaxem best - scikit-learn = {best - score:+.2e}), fit {seconds:.1f} s, "
            f"n_iter_ of the best restart {iterations}"
        )


if __name__ == "__main__":
    main()
