"""The ``jaxem`` command: fit mixtures to a CSV file, choose among them, report and save the best.

::

    jaxem fit data.csv --family gaussian --components 1-6 --covariance-type full,diag \\
        --restarts 8 --criterion bic --output fit.npz --plot bic.png

reads the CSV (a header row of names is detected; ``--columns`` picks
columns by name or index), fits every candidate (family x components x
covariance type) with :func:`jaxem.select`, prints the model-selection
table, the best model's parameters with standard errors
(:func:`jaxem.standard_errors`), writes the best fit with
:func:`jaxem.save` (``--output``, default ``<csv stem>.jaxem.npz`` in the
working directory) and, when matplotlib is installed, the criterion against
K as a PNG (``--plot``, default ``<csv stem>.<criterion>.png``;
``--no-plot`` skips it). The fits
run in float64 unless ``--float32``.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

__all__ = ["main", "parse_components", "read_csv"]

FAMILIES = ("gaussian", "poisson", "bernoulli", "categorical")
COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


def parse_components(text: str) -> list[int]:
    """``"3"``, ``"1-6"`` or ``"1,2,5"`` (ranges inclusive, may be mixed: ``"1-3,6"``) as a list of ints >= 1."""
    values = []
    for part in str(text).split(","):
        part = part.strip()
        try:
            if "-" in part:
                low, high = (int(p) for p in part.split("-", 1))
                values.extend(range(low, high + 1))
            else:
                values.append(int(part))
        except ValueError:
            raise ValueError(f"--components must be like 3, 1-6 or 1,2,5; got {text!r}.") from None
    if not values or min(values) < 1:
        raise ValueError(f"--components must name numbers of components >= 1; got {text!r}.")
    return sorted(set(values))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_csv(path, columns=None):
    """``(names, values)`` from a CSV file of numbers, with or without a header row of names."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data: no such file {str(path)!r}.")
    with path.open("r", encoding="utf-8", newline="") as handle:
        rows = [row for row in csv.reader(handle) if row and any(cell.strip() for cell in row)]
    if not rows:
        raise ValueError(f"data: {str(path)!r} holds no rows.")
    header = not all(_is_number(cell) for cell in rows[0])
    names = [cell.strip() for cell in rows[0]] if header else [f"x{i}" for i in range(len(rows[0]))]
    body = rows[1:] if header else rows
    try:
        values = np.asarray([[float(cell) for cell in row] for row in body], dtype=np.float64)
    except ValueError as error:
        raise ValueError(f"data: every cell of {str(path)!r} after the header must be a number ({error}).") from None
    if values.ndim != 2 or values.shape[1] != len(names):
        raise ValueError(f"data: rows of {str(path)!r} must all have {len(names)} cells.")
    if columns:
        picked = []
        for column in columns.split(","):
            column = column.strip()
            if column in names:
                picked.append(names.index(column))
            elif column.isdigit() and int(column) < len(names):
                picked.append(int(column))
            else:
                raise ValueError(
                    f"--columns: {column!r} is neither a column name ({names}) nor an index below {len(names)}."
                )
        names, values = [names[i] for i in picked], values[:, picked]
    return names, values


def _candidates(args, values):
    from jaxem import models

    ks = parse_components(args.components)
    if args.family == "gaussian":
        kinds = [k.strip() for k in args.covariance_type.split(",")]
        for kind in kinds:
            if kind not in COVARIANCE_TYPES:
                raise ValueError(f"--covariance-type must be among {', '.join(COVARIANCE_TYPES)}; got {kind!r}.")
        return {f"{kind} K={k}": models.gaussian_mixture(k, covariance_type=kind) for kind in kinds for k in ks}, values
    if args.family == "poisson":
        return {f"poisson K={k}": models.poisson_mixture(k) for k in ks}, values
    if args.family == "bernoulli":
        return {f"bernoulli K={k}": models.bernoulli_mixture(k) for k in ks}, values
    symbols = values.astype(np.int64)
    if not np.array_equal(symbols, values) or symbols.min() < 0:
        raise ValueError("--family categorical needs non-negative integer symbols in every column.")
    categories = int(symbols.max()) + 1
    return {f"categorical K={k}": models.categorical_mixture(k, categories) for k in ks}, symbols


def _parser():
    parser = argparse.ArgumentParser(prog="jaxem", description="Fit latent-variable models by EM on JAX.")
    commands = parser.add_subparsers(dest="command", required=True)
    fit = commands.add_parser("fit", help="fit mixtures to a CSV file and choose the number of components")
    fit.add_argument("data", help="CSV file of numbers (a header row of names is detected)")
    fit.add_argument("--family", choices=FAMILIES, default="gaussian")
    fit.add_argument("--components", "-k", default="1-5", help="numbers of components: 3, 1-6 or 1,2,5 (default 1-5)")
    fit.add_argument(
        "--covariance-type", default="full", help="Gaussian only: comma-separated among full, tied, diag, spherical"
    )
    fit.add_argument("--restarts", type=int, default=8, help="restarts per candidate (default 8)")
    fit.add_argument("--max-iter", type=int, default=500)
    fit.add_argument("--tol", type=float, default=1e-6)
    fit.add_argument("--criterion", choices=("bic", "aic", "icl"), default="bic")
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--columns", help="comma-separated column names or indices to use (default: all)")
    fit.add_argument("--output", "-o", help="saved best fit (default: <csv stem>.jaxem.npz)")
    fit.add_argument("--plot", help="PNG of the criterion against K (default: <csv stem>.<criterion>.png)")
    fit.add_argument("--no-plot", action="store_true", help="do not write the plot")
    fit.add_argument("--float32", action="store_true", help="compute in float32 (default float64)")
    fit.add_argument("--progress", action="store_true", help="report progress of each fit on stderr")
    return parser


def _fit_command(args, out) -> int:
    import jax

    if not args.float32:
        jax.config.update("jax_enable_x64", True)
    import jaxem

    names, values = read_csv(args.data, args.columns)
    candidates, data = _candidates(args, values)
    table = jaxem.select(
        candidates,
        data,
        key=jax.random.key(args.seed),
        criterion=args.criterion,
        num_restarts=args.restarts,
        max_iter=args.max_iter,
        tol=args.tol,
        progress=True if args.progress else None,
    )
    print(f"data: {args.data} ({data.shape[0]} rows; columns {', '.join(names)})", file=out)
    print(table.table(), file=out)
    best = table.best_row
    print(f"\nbest model: {best.name}  (log-likelihood {best.log_likelihood:.4f})", file=out)
    inference = jaxem.standard_errors(best.model, best.result.params, data)
    print(inference.summary(), file=out)
    stem = Path(args.data).stem  # default outputs go to the working directory
    output = Path(args.output) if args.output else Path(f"{stem}.jaxem.npz")
    jaxem.save(output, best.result, best.model, metadata={"data": str(args.data), "columns": names, "name": best.name})
    print(f"saved: {output}", file=out)
    if not args.no_plot:
        try:
            import matplotlib

            matplotlib.use("Agg")
        except ImportError:
            print('plot skipped: matplotlib is not installed (pip install "jaxem[plot]")', file=out)
        else:
            from jaxem import plots

            path = Path(args.plot) if args.plot else Path(f"{stem}.{args.criterion}.png")
            axes = plots.selection(table, criterion=args.criterion)
            axes.figure.savefig(path, dpi=100)
            print(f"plot: {path}", file=out)
    return 0


def main(argv=None) -> int:
    """Entry point of the ``jaxem`` command; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        return _fit_command(args, sys.stdout)
    except (ValueError, FileNotFoundError, TypeError) as error:
        print(f"jaxem: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
