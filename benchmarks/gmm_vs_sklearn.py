"""Gaussian-mixture EM: jaxem (built-in and a user-written log joint) against scikit-learn.

Same data, same starting points, same fixed number of EM iterations (tol = 0)
for every contestant. Prints, per configuration, seconds per restart-iteration
for each, the ratio scikit-learn / jaxem, and jaxem's compile time.

* jaxem runs ``--restarts`` restarts vmapped in one jitted program for
  ``--iterations`` M-steps; its time per restart-iteration is the second
  (compiled) call's wall time / (restarts x iterations). That wall time also
  holds the initial E-step, so jaxem is charged slightly more than its
  per-iteration cost. Compile time = first call - second call.
* scikit-learn fits ``--sklearn-restarts`` of the same starting points one by
  one (it has no batched restarts). Its per-iteration cost is
  ``(t(max_iter=1 + m) - t(max_iter=1)) / m``, which removes its set-up and
  final E-step. ``init_params="random_from_data"`` keeps the (overridden)
  initialisation cheap.
* "generic" is the same mixture written by a user as a plain log joint
  (``jax.scipy.stats.multivariate_normal.logpdf`` on ONE observation and ONE
  component) with the built-in family's statistics and maximiser, through
  the same engine path as any user model.

Run: ``python benchmarks/gmm_vs_sklearn.py`` (add ``--x64`` for float64 jaxem;
the default is JAX's float32 while scikit-learn always works in float64).
``--configs`` picks the configurations (default ``full:8,diag:8,full:16,generic:8``;
``type:D``). The issue's large problem is
``--num-points 1000000 --num-components 8 --restarts 8 --configs full:10``.
``--breakdown`` also prints, for the generic path, the time of the user's
log-potentials alone (the E-step's input table, all restarts vmapped) and of
the bare ``jax.lax.linalg.triangular_solve`` calls that
``multivariate_normal.logpdf`` issues on those shapes (one (N, D) right-hand
side per restart and component), per restart, to show where its time goes.
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings

import numpy as np
from common import cpu_model


def _data(num_points, num_features, num_components, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(num_components, num_features))
    labels = rng.integers(0, num_components, num_points)
    scales = rng.uniform(0.5, 1.5, size=(num_components, 1))
    return centres[labels] + scales[labels] * rng.normal(size=(num_points, num_features))


def _generic_model(builtin):
    """The mixture as a user would write it: one observation, one component, with the built-in
    family's closed-form statistics and maximiser."""
    import jax
    import jax.numpy as jnp

    import jaxem

    def log_joint(params, x, z):
        return jnp.log(params["weights"][z]) + jax.scipy.stats.multivariate_normal.logpdf(
            x, params["means"][z], params["covariances"][z]
        )

    return jaxem.Model(
        log_joint, num_states=builtin.num_states, statistics=builtin.statistics, maximize=builtin.maximize
    )


def _time_jaxem(model, x, init_params, iterations):
    import jax

    import jaxem

    def once():
        start = time.perf_counter()
        result = jaxem.fit(model, x, init_params=init_params, max_iter=iterations, tol=0.0)
        jax.block_until_ready(result.restarts.params)
        return time.perf_counter() - start, result

    first, _ = once()
    second, result = once()
    restarts = jax.tree.leaves(init_params)[0].shape[0]
    assert int(result.restarts.num_iterations.min()) == iterations
    return second / (restarts * iterations), first - second


def _best_seconds(fn, *args, repeats=3):
    import jax

    jax.block_until_ready(fn(*args))
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - start)
    return best


def _generic_breakdown(model, x, init_params):
    """Seconds per restart: the generic model's log-potentials, and the triangular solves inside them."""
    import jax
    import jax.numpy as jnp

    x = jnp.asarray(x, jax.tree.leaves(init_params)[0].dtype)
    restarts = jax.tree.leaves(init_params)[0].shape[0]
    potentials = jax.jit(jax.vmap(lambda p: jax.vmap(lambda u: model.log_potentials(p, u))(x)))
    factors = jnp.linalg.cholesky(init_params["covariances"])  # (R, K, D, D)
    deviations = x[None, None] - init_params["means"][:, :, None, :]  # (R, K, N, D)
    solve = jax.jit(
        lambda lower, b: jax.lax.linalg.triangular_solve(lower, b, left_side=False, lower=True, transpose_a=True)
    )  # as in multivariate_normal.logpdf
    return (_best_seconds(potentials, init_params) / restarts, _best_seconds(solve, factors, deviations) / restarts)


def _sklearn_precisions(covariances, covariance_type):
    if covariance_type in ("full", "tied"):
        return np.linalg.inv(covariances)
    return 1.0 / covariances


def _time_sklearn(x, start, covariance_type, reg_covar, num_restarts, extra_iterations):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture

    def run(r, max_iter):
        model = GaussianMixture(
            start["weights"].shape[1],
            covariance_type=covariance_type,
            reg_covar=reg_covar,
            tol=0.0,
            max_iter=max_iter,
            init_params="random_from_data",
            random_state=0,
            weights_init=start["weights"][r],
            means_init=start["means"][r],
            precisions_init=_sklearn_precisions(start["covariances"][r], covariance_type),
        )
        begin = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(x)
        return time.perf_counter() - begin

    per_iteration = []
    for r in range(num_restarts):
        base = run(r, 1)
        longer = run(r, 1 + extra_iterations)
        per_iteration.append((longer - base) / extra_iterations)
    return float(np.mean(per_iteration))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-points", type=int, default=100_000)
    parser.add_argument("--num-components", type=int, default=10)
    parser.add_argument("--restarts", type=int, default=16)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--sklearn-restarts", type=int, default=2)
    parser.add_argument("--sklearn-iterations", type=int, default=3)
    parser.add_argument(
        "--generic-restarts", type=int, default=4, help="restarts for the (much slower) generic user-log-joint path"
    )
    parser.add_argument("--generic-iterations", type=int, default=3)
    parser.add_argument("--x64", action="store_true", help="run jaxem in float64")
    parser.add_argument("--configs", default="full:8,diag:8,full:16,generic:8", help="type:D, comma-separated")
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="also time the generic path's log-potentials and its triangular solves alone",
    )
    args = parser.parse_args(argv)

    import jax

    if args.x64:
        jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    import jaxem

    reg_covar = 1e-6
    print(
        f"machine: {platform.machine()}, {cpu_model()}, {jax.device_count()} JAX device(s) "
        f"({jax.devices()[0].platform}), nproc visible to JAX host: {__import__('os').cpu_count()}"
    )
    print(f"jax {jax.__version__}, jaxem dtype {jnp.result_type(float)}, scikit-learn float64")
    print(
        f"N={args.num_points}, K={args.num_components}, jaxem restarts={args.restarts} x {args.iterations} "
        f"iterations, scikit-learn {args.sklearn_restarts} of the same starts x {args.sklearn_iterations} "
        "iterations (difference timing)"
    )
    header = f"{'config':<32}{'jaxem s/restart-it':>20}{'sklearn s/restart-it':>22}{'ratio':>9}{'compile s':>11}"
    print(header)
    print("-" * len(header))
    configs = []
    for item in args.configs.split(","):
        kind, features = item.split(":")
        configs.append(("full" if kind == "generic" else kind, int(features), kind == "generic"))
    for covariance_type, num_features, generic in configs:
        x = _data(args.num_points, num_features, args.num_components)
        builtin = jaxem.models.gaussian_mixture(
            args.num_components, covariance_type=covariance_type, reg_covar=reg_covar
        )
        restarts = args.generic_restarts if generic else args.restarts
        iterations = args.generic_iterations if generic else args.iterations
        keys = jax.random.split(jax.random.key(0), restarts)
        start = jax.jit(jax.vmap(builtin.init, in_axes=(0, None)))(keys, jnp.asarray(x))
        model = _generic_model(builtin) if generic else builtin
        jaxem_time, compile_time = _time_jaxem(model, x, start, iterations)
        start64 = jax.tree.map(lambda leaf: np.asarray(leaf, np.float64), start)
        start64["weights"] /= start64["weights"].sum(axis=1, keepdims=True)  # float32 -> exact float64 simplex
        sklearn_time = _time_sklearn(
            x, start64, covariance_type, reg_covar, args.sklearn_restarts, args.sklearn_iterations
        )
        name = f"{covariance_type} D={num_features}" + (f" generic R={restarts} T={iterations}" if generic else "")
        print(
            f"{name:<32}{jaxem_time:>20.5f}{sklearn_time:>22.5f}{sklearn_time / jaxem_time:>8.1f}x"
            f"{compile_time:>11.2f}",
            flush=True,
        )
        if generic and args.breakdown:
            table, solves = _generic_breakdown(model, x, start)
            print(
                f"  generic breakdown, s per restart: log-potentials {table:.5f}, of which the triangular "
                f"solves alone {solves:.5f}; scikit-learn / (solves alone) = {sklearn_time / solves:.1f}x "
                "bounds the generic ratio",
                flush=True,
            )


if __name__ == "__main__":
    main()
