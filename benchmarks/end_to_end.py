"""End to end, as a user feels it: jaxem against scikit-learn's GaussianMixture, each in a fresh process.

Both libraries fit an 8-component full-covariance Gaussian mixture with ``--num-restarts`` restarts (8) at
their own defaults (initialisation, tol, max_iter; jaxem: ``jaxem.fit(jaxem.models.gaussian_mixture(8), x,
key=..., num_restarts=8)``, scikit-learn: ``GaussianMixture(n_components=8, n_init=8)``). Nothing is warmed up:
each library runs in its OWN fresh Python subprocess, so its wall time includes JAX's tracing and compilation and
its peak RSS is its own. No thread settings are made for either.

Each child generates the same deterministic float32 data from the seed (K=8 true components, centres
``normal(scale=4)``, per-component scales ``uniform(0.5, 1.5)``; written in chunks so that generating it holds
little beyond the float32 array), so the parent holds no copy and each child's peak RSS includes the data it needs.
Both get the float32 array as is, at their defaults: scikit-learn (>= 1.6 or so) keeps float32 input in float32
(older versions converted to float64), jaxem uses it as float32 (JAX's default), or as float64 with ``--x64``
(JAX_ENABLE_X64=1 in the child's environment). The dtype each fitted in is shown in the table. Each child reports:

* wall fit s: from just before the fit call to just after the results are on the host (jaxem: block_until_ready
  and float() of the log-likelihood), compilation included;
* import+data s: importing the library and generating the data (interpreter start-up not included);
* peak RSS: ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` (KiB on Linux) at the end, shown in GB (1e9 bytes);
* best log-likelihood / N: jaxem ``float(result.log_likelihood) / N``; scikit-learn ``gm.score(x)`` (mean
  log-likelihood per sample, in the dtype of its fit), and the iterations (jaxem per restart; scikit-learn best init).

Run: ``python benchmarks/end_to_end.py`` (1e6 points x 10 features); e.g. ``--num-points 20000 --only sklearn``,
``--repeats 3`` (runs alternate jaxem/scikit-learn order), ``--max-iter 100`` (passed to both), ``--x64``,
``--variants plain,squarem,race,squarem+race`` (jaxem's fit options per child: see VARIANTS; the table adds
the E-steps the fit paid, R x the longest restart's, and those the restarts needed, the sum of their own;
the variant ``estimator`` fits ``jaxem.estimators.GaussianMixture`` with scikit-learn's arguments instead), and
``--compilation-cache DIR`` (JAX's persistent compilation cache for the jaxem children: the first run fills it,
a second run with the same DIR is the warm figure).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import time

NUM_COMPONENTS = 8
# jaxem's fit options per variant (--variants); "plain" is jaxem at its defaults.
VARIANTS = {
    "plain": {},
    "squarem": {"acceleration": "squarem"},
    "race": {"race": 1e-3},
    "squarem+race": {"acceleration": "squarem", "race": 1e-3},
    # jaxem.estimators.GaussianMixture with scikit-learn's arguments (tol=1e-3, max_iter=100, n_init): what a user
    # switching from scikit-learn by changing the import gets.
    "estimator": None,
}
CHUNK = 65536


def _data(num_points, num_features, seed):
    import numpy as np

    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(NUM_COMPONENTS, num_features))
    scales = rng.uniform(0.5, 1.5, size=(NUM_COMPONENTS, 1))
    x = np.empty((num_points, num_features), dtype=np.float32)
    for start in range(0, num_points, CHUNK):
        stop = min(start + CHUNK, num_points)
        labels = rng.integers(0, NUM_COMPONENTS, stop - start)
        x[start:stop] = centres[labels] + scales[labels] * rng.normal(size=(stop - start, num_features))
    return x


def _fit_estimator(GaussianMixture, x, extra, args, out):
    """Fit scikit-learn's GaussianMixture interface (scikit-learn's class or jaxem's) and record it in ``out``."""
    gm = GaussianMixture(n_components=NUM_COMPONENTS, n_init=args.num_restarts, random_state=args.seed, **extra)
    start = time.perf_counter()
    gm.fit(x)
    out["fit_s"] = time.perf_counter() - start
    out["loglik_per_n"] = float(gm.score(x))
    out["iterations"] = [int(gm.n_iter_)]
    out["converged"] = [bool(gm.converged_)]
    out["dtype"] = str(gm.means_.dtype)


def _child(library, args):
    import resource

    start = time.perf_counter()
    out = {"library": library}
    if library == "jaxem":
        import jax
        import numpy as np

        import jaxem

        if args.compilation_cache:
            jax.config.update("jax_compilation_cache_dir", args.compilation_cache)
            jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
        x = _data(args.num_points, args.num_features, args.seed)
        if jax.config.jax_enable_x64:
            x = x.astype(np.float64)
        out["import_data_s"] = time.perf_counter() - start
        extra = {} if args.max_iter is None else {"max_iter": args.max_iter}
        if args.variant == "estimator":
            from jaxem.estimators import GaussianMixture

            _fit_estimator(GaussianMixture, x, extra, args, out)
            out["backend"] = jax.default_backend()
        else:
            model = jaxem.models.gaussian_mixture(NUM_COMPONENTS)
            start = time.perf_counter()
            extra.update(VARIANTS[args.variant])
            result = jaxem.fit(model, x, key=jax.random.key(args.seed), num_restarts=args.num_restarts, **extra)
            result = jax.block_until_ready(result)
            log_likelihood = float(result.log_likelihood)
            out["fit_s"] = time.perf_counter() - start
            out["loglik_per_n"] = log_likelihood / args.num_points
            out["iterations"] = np.asarray(result.restarts.num_iterations).tolist()
            out["converged"] = np.asarray(result.restarts.converged).tolist()
            out["e_steps"] = np.asarray(result.restarts.num_e_steps).tolist()
            out["raced"] = np.asarray(result.restarts.raced).tolist()
            out["dtype"], out["backend"] = str(x.dtype), jax.default_backend()
    else:
        from sklearn.mixture import GaussianMixture

        x = _data(args.num_points, args.num_features, args.seed)
        out["import_data_s"] = time.perf_counter() - start
        _fit_estimator(GaussianMixture, x, {} if args.max_iter is None else {"max_iter": args.max_iter}, args, out)
    out["peak_rss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(out), flush=True)


def _run_child(library, args, variant="plain"):
    command = [sys.executable, os.path.abspath(__file__), "--child", library, "--variant", variant]
    command += ["--num-points", str(args.num_points), "--num-features", str(args.num_features)]
    command += ["--num-restarts", str(args.num_restarts), "--seed", str(args.seed)]
    if args.max_iter is not None:
        command += ["--max-iter", str(args.max_iter)]
    if args.compilation_cache:
        command += ["--compilation-cache", args.compilation_cache]
    env = dict(os.environ)
    env.pop("JAX_ENABLE_X64", None)
    if library == "jaxem" and args.x64:
        env["JAX_ENABLE_X64"] = "1"
    start = time.perf_counter()
    proc = subprocess.run(command, check=False, env=env, capture_output=True, text=True)
    process_s = time.perf_counter() - start
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        print(f"[{library} child failed, rc={proc.returncode}]\n{proc.stderr[-3000:]}", file=sys.stderr)
        return None
    out = json.loads(lines[-1])
    out["process_s"] = process_s
    return out


def _machine():
    # Imported here, not at the top: common imports jax.numpy, which the scikit-learn child must not load.
    from common import git_revision, machine

    return f"{machine()}; {datetime.date.today().isoformat()}; jaxem git {git_revision(mark_changes=False)}"


def _report(results, args):
    names = {"jaxem": "jaxem", "sklearn": "scikit-learn"}
    print(
        f"\nN = {args.num_points}, D = {args.num_features}, K = {NUM_COMPONENTS}, restarts = {args.num_restarts}, "
        f"max_iter = {'library default' if args.max_iter is None else args.max_iter}, float32 data\n"
    )
    print(
        "| library | wall fit s (min; all) | import+data s | process s | peak RSS GB | best log-lik / N | iterations "
        "| E-steps paid / needed |"
    )
    print("|---|---|---|---|---|---|---|---|")
    best = {}
    for (library, variant), runs in results.items():
        label = names[library] if library == "sklearn" else f"jaxem {variant}"
        ok = [run for run in runs if run is not None]
        if not ok:
            print(f"| {label} | failed ({len(runs)} runs) | | | | | | |")
            continue
        walls = [run["fit_s"] for run in ok]
        best[label] = {"wall": min(walls), "rss": max(run["peak_rss_kib"] for run in ok) * 1024 / 1e9}
        run = min(ok, key=lambda r: r["fit_s"])
        iters = run["iterations"]
        work = ""
        if library == "jaxem" and variant == "estimator":
            iters = f"{iters[0]} (best init; converged: {run['converged'][0]})"
        elif library == "jaxem":
            raced = sum(run["raced"])
            iters = f"{iters} ({sum(run['converged'])}/{len(iters)} converged{f', {raced} raced' if raced else ''})"
            # Restarts run in lockstep: the fit pays R x the longest restart's E-steps; each needed its own.
            work = f"{len(run['e_steps']) * max(run['e_steps'])} / {sum(run['e_steps'])}"
        else:
            iters = f"{iters[0]} (best init; converged: {run['converged'][0]})"
        failed = f", {len(runs) - len(ok)} failed" if len(ok) < len(runs) else ""
        print(
            f"| {label} ({run['dtype']}) | {min(walls):.2f}; {', '.join(f'{w:.2f}' for w in walls)}{failed}"
            f" | {run['import_data_s']:.2f} | {run['process_s']:.2f} | {best[label]['rss']:.2f} (max)"
            f" | {run['loglik_per_n']:.5f} | {iters} | {work} |"
        )
    print(
        "\nwall fit includes JAX compilation; peak RSS includes the data each child generates for itself; "
        "process s is the child's whole life seen from the parent (interpreter start-up included);\n"
        "scikit-learn's log-lik is gm.score(x), in the dtype shown after the library name.\n"
    )
    reference = best.get("scikit-learn")
    for label, figures in best.items():
        if reference is not None and label != "scikit-learn":
            print(
                f"scikit-learn wall / {label} wall = {reference['wall'] / figures['wall']:.2f}; "
                f"{label} peak RSS / scikit-learn peak RSS = {figures['rss'] / reference['rss']:.2f}"
            )
    print(f"machine: {_machine()}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-points", type=int, default=1_000_000)
    parser.add_argument("--num-features", type=int, default=10)
    parser.add_argument("--num-restarts", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=1, help="runs per library, alternating the order")
    parser.add_argument("--only", choices=["jaxem", "sklearn"])
    parser.add_argument("--max-iter", type=int, default=None, help="passed to both (default: library defaults)")
    parser.add_argument("--x64", action="store_true", help="run jaxem with JAX_ENABLE_X64=1 (float64 data)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--compilation-cache",
        default=None,
        help="directory for JAX's persistent compilation cache in the jaxem children (run twice: cold, then warm)",
    )
    parser.add_argument(
        "--variants",
        default="plain",
        help=f"comma-separated jaxem variants, each its own child: {', '.join(VARIANTS)} (default: plain)",
    )
    parser.add_argument("--child", choices=["jaxem", "sklearn"], help=argparse.SUPPRESS)
    parser.add_argument("--variant", choices=list(VARIANTS), default="plain", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return _child(args.child, args)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        parser.error(f"--variants: unknown {unknown}; choose from {list(VARIANTS)}")
    runs = [] if args.only == "sklearn" else [("jaxem", v) for v in variants]
    runs += [] if args.only == "jaxem" else [("sklearn", "plain")]
    results = {run: [] for run in runs}
    for repeat in range(args.repeats):
        for library, variant in runs if repeat % 2 == 0 else runs[::-1]:
            print(f"repeat {repeat + 1}/{args.repeats}: {library} {variant} ...", file=sys.stderr, flush=True)
            results[(library, variant)].append(_run_child(library, args, variant))
    _report(results, args)


if __name__ == "__main__":
    main()
