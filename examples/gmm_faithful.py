"""Fit a Gaussian mixture to the Old Faithful geyser data with many restarts.

Prints one line per restart (final log-likelihood, iterations, converged,
failed) and the best parameters. When matplotlib is installed (the ``plot``
extra) it also saves ``gmm_faithful.png``: the data with each component's
1- and 2-sigma ellipses, and every restart's log-likelihood trace.

Run: ``python examples/gmm_faithful.py [--components 3] [--restarts 64] [--output gmm_faithful.png]``
"""

from __future__ import annotations

import argparse

import jax
import numpy as np

import jaxem


def _plot(x, model, result, output):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed; skipping the figure (pip install 'jaxem[plot]').")
        return
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    jaxem.plots.mixture(
        result.params, x, model=model, feature_names=["eruption length (min)", "waiting (min)"], ax=left
    )
    left.set_title("Old Faithful, best restart")
    jaxem.plots.traces(result, ax=right)
    figure.tight_layout()
    figure.savefig(output, dpi=120)
    print(f"saved {output}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--components", type=int, default=3)
    parser.add_argument("--restarts", type=int, default=64)
    parser.add_argument("--covariance-type", default="full")
    parser.add_argument("--output", default="gmm_faithful.png")
    args = parser.parse_args(argv)

    jax.config.update("jax_enable_x64", True)
    x = jaxem.datasets.load_faithful()
    model = jaxem.models.gaussian_mixture(args.components, covariance_type=args.covariance_type)
    result = jaxem.fit(model, x, key=jax.random.key(0), num_restarts=args.restarts, max_iter=1000, tol=1e-9)

    restarts = result.restarts
    print(f"{'restart':>7} {'log-likelihood':>15} {'iterations':>10} {'converged':>9} {'failed':>6}")
    for r in np.argsort(-np.nan_to_num(np.asarray(restarts.log_likelihood), nan=-np.inf)):
        print(
            f"{r:>7} {float(restarts.log_likelihood[r]):>15.6f} {int(restarts.num_iterations[r]):>10} "
            f"{bool(restarts.converged[r])!s:>9} {bool(restarts.failed[r])!s:>6}"
        )
    distinct = np.unique(np.round(np.asarray(restarts.log_likelihood)[~np.asarray(restarts.failed)], 3))
    print(f"\n{len(distinct)} distinct local maxima (to 1e-3): {distinct[::-1]}")
    print(f"\nbest restart {int(result.best_restart)}: log-likelihood {float(result.log_likelihood):.6f}")
    np.set_printoptions(precision=4, suppress=True)
    for name, value in result.params.items():
        print(f"{name}:\n{np.asarray(value)}")
    _plot(x, model, result, args.output)


if __name__ == "__main__":
    main()
