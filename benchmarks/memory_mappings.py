"""Memory mappings held by compiled programs: what a process that fits many distinct models keeps.

XLA:CPU maps each compiled program into memory in several pieces, and JAX keeps every program it
compiled until ``jax.clear_caches()``. Linux refuses new mappings past ``vm.max_map_count`` (65530 by
default), after which allocations fail at random. This script fits ``--num-fits`` Gaussian mixtures
of distinct K (each compiles its own programs) to Old Faithful and prints, per fit, the backend
compilations (JAX's compile-duration events) and the new entries of ``/proc/self/maps``; then the
entries left after ``jax.clear_caches()``; with ``--select``, the entries ``jaxem.select`` adds over
mclust's default grid (K = 1..9 x four covariance types, 36 candidates).

Run: ``python benchmarks/memory_mappings.py`` (Linux only; ``--num-fits 8``, ``--select``).
"""

from __future__ import annotations

import argparse
import gc
import warnings

import jax
import numpy as np
from jax._src import monitoring

import jaxem

COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"


def _mappings() -> int:
    with open("/proc/self/maps", encoding="utf-8") as handle:
        return sum(1 for _ in handle)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-fits", type=int, default=8)
    parser.add_argument("--select", action="store_true", help="also measure jaxem.select over mclust's grid")
    args = parser.parse_args()
    compiles = []
    monitoring.register_event_duration_secs_listener(
        lambda event, duration, **kwargs: compiles.append(event) if event == COMPILE_EVENT else None
    )
    data = np.asarray(jaxem.datasets.load_faithful())
    warnings.simplefilter("ignore", jaxem.FitWarning)  # unconverged or degenerate candidates do not matter here
    jaxem.fit(jaxem.models.gaussian_mixture(1), data, key=jax.random.key(0), num_restarts=4)  # shared programs
    print(f"jax {jax.__version__}, backend {jax.default_backend()}; entries of /proc/self/maps:")
    print("| fit | compilations | new mappings | per compilation |")
    print("|---|---|---|---|")
    per_fit = []
    for k in range(2, 2 + args.num_fits):
        before, compiled = _mappings(), len(compiles)
        jaxem.fit(jaxem.models.gaussian_mixture(k), data, key=jax.random.key(0), num_restarts=4)
        new, count = _mappings() - before, len(compiles) - compiled
        per_fit.append(new)
        print(f"| gaussian_mixture({k}) | {count} | {new} | {new / max(count, 1):.0f} |")
    held = _mappings()
    jax.clear_caches()
    gc.collect()
    print(f"\nheld after {args.num_fits + 1} fits: {held}; after jax.clear_caches(): {_mappings()}")
    print(f"median new mappings per fit: {int(np.median(per_fit))}")
    if args.select:
        before, compiled = _mappings(), len(compiles)
        jaxem.select(jaxem.selection.gaussian_mixtures(), data, key=jax.random.key(0), num_restarts=4)
        print(
            f"jaxem.select over gaussian_mixtures() (36 candidates): {len(compiles) - compiled} compilations, "
            f"{_mappings() - before} new mappings"
        )


if __name__ == "__main__":
    main()
