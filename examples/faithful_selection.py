"""Choose a Gaussian mixture for the Old Faithful data by BIC, as mclust's ``Mclust`` does.

Fits K = 1..5 components with each of the four covariance types (8 restarts
each), prints the table of log-likelihood, free parameters, BIC, AIC and ICL
with the best marked, and the best model's parameters with standard errors.
When matplotlib is installed (the ``plot`` extra) it saves
``faithful_bic.png``: BIC against K, one line per covariance type.

Run: ``python examples/faithful_selection.py [--components 1-5] [--restarts 8] [--output faithful_bic.png]``
"""

from __future__ import annotations

import argparse

import jax

import jaxem
from jaxem.cli import parse_components


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--components", default="1-5")
    parser.add_argument("--restarts", type=int, default=8)
    parser.add_argument("--output", default="faithful_bic.png")
    args = parser.parse_args()

    faithful = jaxem.datasets.load_faithful()
    candidates = jaxem.selection.gaussian_mixtures(parse_components(args.components))
    table = jaxem.select(candidates, faithful, key=jax.random.key(0), num_restarts=args.restarts)
    print(table)

    best = table.best_row
    print(f"\nthe best model, {best.name}:")
    print(jaxem.standard_errors(best.model, best.result.params, faithful).summary())

    try:
        import matplotlib
    except ImportError:
        print('\nmatplotlib is not installed (pip install "jaxem[plot]"): no plot written')
        return
    matplotlib.use("Agg")
    axes = jaxem.plots.selection(table)
    axes.figure.savefig(args.output, dpi=100)
    print(f"\nsaved {args.output}")


if __name__ == "__main__":
    main()
