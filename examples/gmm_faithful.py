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


def _ellipse(mean, covariance, scale, num=100):
    values, vectors = np.linalg.eigh(covariance)
    angles = np.linspace(0.0, 2.0 * np.pi, num)
    circle = np.stack([np.cos(angles), np.sin(angles)])
    return (mean[:, None] + vectors @ (scale * np.sqrt(values)[:, None] * circle)).T


def _plot(x, model, result, output):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed; skipping the figure (pip install 'jaxem[plot]').")
        return
    params = jax.tree.map(np.asarray, result.params)
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    labels = np.asarray(jaxem.posterior(model, result.params, x)).argmax(axis=1)
    left.scatter(x[:, 0], x[:, 1], s=8, c=[f"C{k}" for k in labels], alpha=0.6)
    for k in range(params["weights"].shape[0]):
        for scale in (1.0, 2.0):
            curve = _ellipse(params["means"][k], params["covariances"][k], scale)
            left.plot(curve[:, 0], curve[:, 1], color=f"C{k}", lw=1.5 if scale == 1.0 else 0.8)
        left.plot(*params["means"][k], "x", color=f"C{k}", ms=10, mew=2)
    left.set(xlabel="eruption length (min)", ylabel="waiting time (min)", title="Old Faithful, best restart")
    history = np.asarray(result.restarts.history)
    for r, trace in enumerate(history):
        steps = np.arange(len(trace))
        right.plot(
            steps,
            trace,
            lw=2.0 if r == int(result.best_restart) else 0.6,
            color="C3" if r == int(result.best_restart) else "0.5",
        )
    finite = history[np.isfinite(history)]
    right.set_ylim(np.percentile(finite, 5) - 5, finite.max() + 5)
    right.set(xlabel="EM iteration", ylabel="log-likelihood", title=f"{len(history)} restarts (best in red)")
    right.set_xscale("symlog")
    right.set_xlim(0, history.shape[1])
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
    if args.covariance_type == "full":
        _plot(x, model, result, args.output)


if __name__ == "__main__":
    main()
