"""Interleaved A/B: the diagonal Gaussian log-density unrolled over features vs as matrix products.

`jaxem.models.gaussian` evaluates the diag/spherical density as an unrolled sum
over features when D <= `_UNROLL_MAX_FEATURES` (16) and as matrix products
above. Variant B is compiled with that switch set to 0 (matrix products), so
both variants run in one process on the same data and starts; 5 alternating
rounds of the same `jaxem.fit` call (10 EM iterations, tol = 0, 16 restarts)
and the best round of each is reported, in ms per restart-iteration.

Cases: the GMM benchmark's diag mixture (N = 100 000, D = 8, K = 10, float32)
and the HMM benchmark's problem (50 x 1000 steps, K = 6, D = 4 diag, float64).

Usage: python benchmarks/ab_diag_density.py [gmm|hmm]
"""

from __future__ import annotations

import sys
import time

import jax
import numpy as np

case = sys.argv[1] if len(sys.argv) > 1 else "gmm"
jax.config.update("jax_enable_x64", case == "hmm")

import jax.numpy as jnp

import jaxem
from jaxem.models import gaussian

RESTARTS, ITERATIONS, ROUNDS = 16, 10, 5


def problem():
    rng = np.random.default_rng(0)
    if case == "gmm":
        n, k, d = 100_000, 10, 8
        centres = rng.normal(scale=4.0, size=(k, d))
        labels = rng.integers(0, k, n)
        x = jnp.asarray(centres[labels] + rng.uniform(0.5, 1.5, (k, 1))[labels] * rng.normal(size=(n, d)), jnp.float32)
        make = lambda: jaxem.models.gaussian_mixture(k, covariance_type="diag")
        init = jax.vmap(lambda key: make().init(key, x))(jax.random.split(jax.random.key(0), RESTARTS))
        return make, x, init
    s, t, k, d = 50, 1000, 6, 4
    x = jnp.asarray(rng.normal(size=(s, t, d)) + 2.0 * rng.integers(0, 3, size=(s, t, 1)))
    rows = np.asarray(x).reshape(-1, d)
    init = {
        "initial": rng.dirichlet(np.ones(k), size=RESTARTS),
        "transition": rng.dirichlet(np.ones(k), size=(RESTARTS, k)),
        "means": np.stack([rows[rng.choice(len(rows), k, replace=False)] for _ in range(RESTARTS)]),
        "covariances": np.tile(rows.var(0), (RESTARTS, k, 1)),
    }
    make = lambda: jaxem.models.gaussian_hmm(k, covariance_type="diag", reg_covar=0.0)
    return make, x, jax.tree.map(jnp.asarray, init)


def main():
    make, x, init = problem()
    run = lambda model: jaxem.fit(model, x, init_params=init, max_iter=ITERATIONS, tol=0.0).restarts.log_likelihood
    unrolled, products = make(), make()
    a = jax.block_until_ready(run(unrolled))  # compiled with the unrolled form
    saved = gaussian._UNROLL_MAX_FEATURES
    gaussian._UNROLL_MAX_FEATURES = 0  # read at trace time: this model compiles with matrix products
    try:
        b = jax.block_until_ready(run(products))
    finally:
        gaussian._UNROLL_MAX_FEATURES = saved
    best = {"unrolled (current)": np.inf, "matrix products": np.inf}
    for _ in range(ROUNDS):
        for name, model in (("unrolled (current)", unrolled), ("matrix products", products)):
            start = time.perf_counter()
            jax.block_until_ready(run(model))
            best[name] = min(best[name], time.perf_counter() - start)
    print(f"case {case}: {RESTARTS} restarts x {ITERATIONS} iterations, best of {ROUNDS} interleaved rounds")
    for name, seconds in best.items():
        print(f"  {name}: {seconds / (RESTARTS * ITERATIONS) * 1e3:.2f} ms per restart-iteration")
    print(f"  speed-up: {best['matrix products'] / best['unrolled (current)']:.2f}x; "
          f"max relative log-likelihood difference {float(jnp.max(jnp.abs(a - b) / jnp.abs(b))):.1e}")


if __name__ == "__main__":
    main()
