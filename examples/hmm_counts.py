"""A Poisson hidden Markov model for the annual counts of major earthquakes, 1900-2006.

Data: the number of earthquakes of magnitude 7 or greater worldwide in each
year 1900-2006, compiled from the U.S. Geological Survey's Earthquake Data
Base System (USGS, National Earthquake Information Center) and used as the
running example of W. Zucchini & I. L. MacDonald, *Hidden Markov Models for
Time Series: An Introduction Using R* (Chapman & Hall/CRC, 2009), Table 1.1.
The values for 1900-1989 also appear in the Lisp-Stat data set "quakenums"
("Statistics were compiled from the Earthquake Data Base System of the U.S.
Geological Survey"), against which they were checked.

Zucchini & MacDonald fit stationary Poisson HMMs; their three-state model has
state means of roughly 13, 20 and 30 quakes a year. jaxem estimates the
initial distribution instead of assuming stationarity, so its figures differ
slightly.

Run:  python examples/hmm_counts.py   (writes examples/hmm_counts.png when matplotlib is installed)
"""

from __future__ import annotations

import pathlib

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp
import numpy as np

import jaxem

FIRST_YEAR = 1900
# fmt: off
EARTHQUAKES = np.array([
    13, 14, 8, 10, 16, 26, 32, 27, 18, 32, 36, 24, 22, 23, 22, 18, 25, 21, 21, 14,  # 1900-1919
    8, 11, 14, 23, 18, 17, 19, 20, 22, 19, 13, 26, 13, 14, 22, 24, 21, 22, 26, 21,  # 1920-1939
    23, 24, 27, 41, 31, 27, 35, 26, 28, 36, 39, 21, 17, 22, 17, 19, 15, 34, 10, 15,  # 1940-1959
    22, 18, 15, 20, 15, 22, 19, 16, 30, 27, 29, 23, 20, 16, 21, 21, 25, 16, 18, 15,  # 1960-1979
    18, 14, 10, 15, 8, 15, 6, 11, 8, 7, 18, 16, 13, 12, 13, 20, 15, 16, 12, 18,      # 1980-1999
    15, 16, 13, 15, 16, 11, 11,                                                      # 2000-2006
])
# fmt: on


def main(num_states: int = 3):
    counts = jnp.asarray(EARTHQUAKES, jnp.float64)[None]  # one sequence: (1, T)
    model = jaxem.models.poisson_hmm(num_states)
    result = jaxem.fit(model, counts, key=jax.random.key(0), num_restarts=32, max_iter=1000, tol=1e-10)
    order = np.argsort(np.asarray(result.params["rates"]))  # report states from calm to active
    rates = np.asarray(result.params["rates"])[order]
    transition = np.asarray(result.params["transition"])[np.ix_(order, order)]
    initial = np.asarray(result.params["initial"])[order]
    relabel = np.argsort(order)
    path = relabel[np.asarray(jaxem.viterbi(model, result.params, counts))[0]]

    years = FIRST_YEAR + np.arange(len(EARTHQUAKES))
    print(f"Poisson HMM with {num_states} states, {len(EARTHQUAKES)} years ({years[0]}-{years[-1]})")
    print(
        f"log-likelihood {float(result.log_likelihood):.3f} (best of 32 restarts; "
        f"{int(np.sum(np.isclose(result.restarts.log_likelihood, result.log_likelihood, rtol=1e-6)))} reached it)"
    )
    print("rates (quakes per year):", np.round(rates, 2))
    print("initial distribution:   ", np.round(initial, 3))
    print("transition matrix:")
    print(np.round(transition, 3))
    print("decoded states (Viterbi), by decade:")
    for start in range(0, len(years), 10):
        print(f"  {years[start]}: " + " ".join(str(s) for s in path[start : start + 10]))

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no figure written")
        return
    figure, axes = plt.subplots(figsize=(9, 3.5))
    axes.plot(years, EARTHQUAKES, "o-", color="0.55", markersize=3, linewidth=1, label="earthquakes (M >= 7)")
    axes.step(years, rates[path], where="mid", color="C3", linewidth=2, label="rate of the decoded state")
    axes.set_xlabel("year")
    axes.set_ylabel("count per year")
    axes.set_title(f"{num_states}-state Poisson HMM (jaxem), Viterbi path")
    axes.legend(frameon=False)
    figure.tight_layout()
    output = pathlib.Path(__file__).with_suffix(".png")
    figure.savefig(output, dpi=120)
    print(f"figure written to {output}")


if __name__ == "__main__":
    main()
