"""Interleaved A/B timings of implementation choices that were kept, against the alternative.

Single runs on a shared machine move by 20-30 % between minutes, more than
most changes tried, so each experiment compiles the same ``jaxem.fit`` call
twice in one process (the current code, and the alternative switched in at
trace time), then times 5 alternating rounds on the same data and starts
(16 restarts x 10 EM iterations, tol = 0) and reports the best round of each
in ms per restart-iteration, with the largest relative difference of the
restarts' log-likelihoods.

Experiments:

* ``diag-gmm`` / ``diag-hmm``: the diagonal Gaussian log-density as an
  unrolled sum over features (current, D <= 16) against matrix products
  (``gaussian._UNROLL_MAX_FEATURES = 0``). ``diag-gmm`` is the GMM
  benchmark's diag mixture (N = 100 000, D = 8, K = 10, float32); ``diag-hmm``
  the HMM benchmark's problem (50 x 1000 steps, K = 6, D = 4, float64).
* ``forward-mask``: the sequential forward algorithm reading ``alpha_L`` after
  an unmasked recursion (current) against masking every step with
  ``t < L`` (the previous form, kept below as ``_forward_masked``); HMM
  benchmark problem, float32 (add ``--x64`` for float64).
* ``diag-scatter``: the diagonal covariance update's centred scatter
  ``sum_n w_n r_nk (x_n - mu_k)^2`` in float64 as one fused multiply-and-reduce
  over N (current) against the contraction over N of the materialised
  (K, N, D) squared deviations that float32 uses
  (``gaussian._FUSED_DIAG_SCATTER_DTYPES = ()``); the HMM benchmark problem,
  or with ``--gmm`` the ``diag-gmm`` mixture (float64 in both, as the switch
  only concerns float64).
* ``no-padding``: a batch with no padded sequence (``lengths=None``, or all
  equal to T) runs the forward with ``length=None``, keeping only the last
  message (current), against the padded-batch path that keeps every message
  to read ``alpha_L`` at each sequence's length (forced by giving the same
  sequences a lengths array); HMM benchmark problem, float32 (``--x64`` for
  float64). Both read the message at the last step, so the log-likelihoods
  agree to rounding.
* ``parallel-tree``: ``parallel=True``'s balanced-tree product of normalised
  tables (current) against the previous ``lax.associative_scan`` over raw
  tables (kept below as ``_forward_associative_scan``). Timed instead: the
  E-step (``jaxem.posterior``) of one sequence of T = 100 000 steps from the
  HMM benchmark's model, float32 (``--x64`` for float64), in ms per call;
  the log-likelihoods of both are compared with the float64 sequential one.

* ``precision-long`` (not a timing): float32 accuracy on one sequence of
  T = 100 000 steps (K = 6, D = 4 diagonal HMM, the case of
  ``tests/test_hmm.py::long_sequence_case``) against hmmlearn in float64:
  relative log-likelihood error and largest posterior error of the current
  sequential and tree E-steps and of their previous forms (raw carry:
  ``_forward_masked``; raw tables: ``_forward_associative_scan``), and the
  number of Viterbi states that differ from hmmlearn's path with the
  max-plus messages kept relative (current) or raw (previous).

Usage: python benchmarks/ab_variants.py diag-gmm|diag-hmm|diag-scatter|forward-mask|no-padding|parallel-tree|precision-long [--x64] [--gmm]
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
import time

import jax
import numpy as np

EXPERIMENTS = ("diag-gmm", "diag-hmm", "diag-scatter", "forward-mask", "no-padding", "parallel-tree", "precision-long")
experiment = sys.argv[1] if len(sys.argv) > 1 else "diag-gmm"
if experiment not in EXPERIMENTS:
    raise SystemExit(f"experiment must be one of {EXPERIMENTS}; got {experiment!r}")
jax.config.update("jax_enable_x64", experiment in ("diag-hmm", "diag-scatter", "parallel-tree") or "--x64" in sys.argv)

import jax.numpy as jnp

import jaxem
from jaxem import decoding, markov
from jaxem.models import gaussian

RESTARTS, ITERATIONS, ROUNDS = 16, 10, 5


def random_diag_hmm(rng, k, d, means_scale):
    """A random K-state diagonal Gaussian HMM (NumPy float64): sticky transitions, means ~ N(0, means_scale)."""
    transition = 0.8 * np.eye(k) + 0.2 * rng.dirichlet(np.ones(k), size=k)
    return {
        "initial": rng.dirichlet(np.ones(k)),
        "transition": transition / transition.sum(1, keepdims=True),
        "means": rng.normal(0.0, means_scale, (k, d)),
        "covariances": rng.uniform(0.5, 1.5, (k, d)),
    }


def interleaved_best(run, models):
    """Best wall-clock seconds of ``run(model)`` per model over ROUNDS alternating rounds (all compiled already)."""
    best = dict.fromkeys(models, np.inf)
    for _ in range(ROUNDS):
        for name, model in models.items():
            start = time.perf_counter()
            jax.block_until_ready(run(model))
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def gmm_problem():
    rng = np.random.default_rng(0)
    n, k, d = 100_000, 10, 8
    centres = rng.normal(scale=4.0, size=(k, d))
    labels = rng.integers(0, k, n)
    dtype = jnp.result_type(float)  # float32 unless x64 is on
    x = jnp.asarray(centres[labels] + rng.uniform(0.5, 1.5, (k, 1))[labels] * rng.normal(size=(n, d)), dtype)
    make = lambda: jaxem.models.gaussian_mixture(k, covariance_type="diag")
    init = jax.vmap(lambda key: make().init(key, x))(jax.random.split(jax.random.key(0), RESTARTS))
    return make, x, init


def hmm_problem():
    dtype = jnp.float64 if jax.config.jax_enable_x64 else jnp.float32
    rng = np.random.default_rng(0)
    s, t, k, d = 50, 1000, 6, 4
    x = jnp.asarray(rng.normal(size=(s, t, d)) + 2.0 * rng.integers(0, 3, size=(s, t, 1)), dtype)
    rows = np.asarray(x).reshape(-1, d)
    init = {
        "initial": rng.dirichlet(np.ones(k), size=RESTARTS),
        "transition": rng.dirichlet(np.ones(k), size=(RESTARTS, k)),
        "means": np.stack([rows[rng.choice(len(rows), k, replace=False)] for _ in range(RESTARTS)]),
        "covariances": np.tile(rows.var(0), (RESTARTS, k, 1)),
    }
    make = lambda: jaxem.models.gaussian_hmm(k, covariance_type="diag", reg_covar=0.0)
    return make, x, jax.tree.map(lambda a: jnp.asarray(a, dtype), init)


def with_length_arrays(model):
    """``model`` whose ``units`` keep a lengths array (the padded-batch path) even when nothing is padded."""

    @dataclasses.dataclass(frozen=True, eq=False)
    class LengthArrays(markov.MarkovModel):
        def units(self, data, lengths):
            units = super().units(data, lengths)
            if units.length is None:
                num_sequences, num_steps = jax.tree.leaves(data)[0].shape[:2]
                units = units._replace(length=jnp.full((num_sequences,), num_steps, jnp.int32))
            return units

    return LengthArrays(**{field.name: getattr(model, field.name) for field in dataclasses.fields(model)})


def _forward_masked(potentials, length):
    """The previous sequential forward: every step masked with ``t < L`` (same arithmetic otherwise)."""
    initial, transition, emission = potentials
    length = emission.shape[0] if length is None else length  # None: an unpadded sequence, L = T
    shift = markov._finite_max(transition, axis=(-2, -1), keepdims=True)
    probabilities = jnp.exp(transition - shift)

    def step(alpha, inputs):
        t, emission_t = inputs
        m = markov._finite_max(alpha)
        total = jnp.matmul(jnp.exp(alpha - m), probabilities, precision=jax.lax.Precision.HIGHEST)
        new = markov._log_safe(total) + m + shift.reshape(()) + emission_t
        return jnp.where(t < length, new, alpha), None

    alpha, _ = jax.lax.scan(step, initial + emission[0], (jnp.arange(1, emission.shape[0]), emission[1:]))
    return markov._logsumexp(alpha, axis=0)


def _forward_associative_scan(potentials, length):
    """The previous parallel forward: every prefix product of the raw tables by ``lax.associative_scan``."""
    tables, _ = markov._step_tables(potentials, length)
    products = jax.lax.associative_scan(markov._log_matmul, tables)
    return markov._logsumexp(products[-1, 0], axis=0)


def parallel_tree():
    dtype = jnp.float64 if "--x64" in sys.argv else jnp.float32  # x64 is on for the float64 reference
    k, d, steps = 6, 4, 100_000
    truth = random_diag_hmm(np.random.default_rng(0), k, d, means_scale=2.0)
    base = jaxem.models.gaussian_hmm(k, covariance_type="diag", reg_covar=0.0)
    params = jax.tree.map(lambda a: jnp.asarray(a, dtype), truth)
    x = jnp.asarray(jaxem.sample_sequences(base, params, jax.random.key(1), steps, 1).observations, dtype)
    names = ("balanced tree, normalised tables (current)", "associative_scan, raw tables")
    models = {name: dataclasses.replace(base, parallel=True) for name in names}
    run = lambda model: jaxem.posterior(model, params, x).states
    jax.block_until_ready(run(models[names[0]]))
    with patched(markov, "_forward_parallel", _forward_associative_scan):
        jax.block_until_ready(run(models[names[1]]))
        other = float(jaxem.log_likelihood(models[names[1]], params, x))
    current = float(jaxem.log_likelihood(models[names[0]], params, x))
    best = interleaved_best(run, models)
    print(
        f"experiment parallel-tree ({x.dtype}): E-step of one sequence of {steps} steps, best of {ROUNDS} "
        "interleaved rounds"
    )
    for name, seconds in best.items():
        print(f"  {name}: {seconds * 1e3:.1f} ms per call")
    reference = float(jaxem.log_likelihood(base, jax.tree.map(jnp.asarray, truth), jnp.asarray(x, jnp.float64)))
    print(
        f"  speed-up of the current form: {best[names[1]] / best[names[0]]:.2f}x; log-likelihood "
        f"current {current:.3f}, previous {other:.3f}, float64 sequential {reference:.3f}"
    )


def precision_long():
    from hmmlearn import hmm as hmmlearn_hmm

    k, d, steps = 6, 4, 100_000

    def case(means_scale):
        params = random_diag_hmm(np.random.default_rng(7), k, d, means_scale)
        model = jaxem.models.gaussian_hmm(k, covariance_type="diag")
        x = np.asarray(jaxem.sample_sequences(model, params, jax.random.key(3), steps).observations)
        reference = hmmlearn_hmm.GaussianHMM(k, covariance_type="diag", init_params="", algorithm="viterbi")
        reference.startprob_, reference.transmat_ = params["initial"], params["transition"]
        reference.means_, reference.covars_ = params["means"], params["covariances"]
        params32 = jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), params)
        return model, params32, jnp.asarray(x, jnp.float32), x[0], reference

    model, params, x, x64, reference = case(2.0)
    expected_log_likelihood, expected_states = reference.score_samples(x64)
    print(f"experiment precision-long: float32, one sequence of {steps} steps, against hmmlearn (float64)")
    variants = (
        ("sequential, normalised carry (current)", False, contextlib.nullcontext()),
        ("sequential, raw alpha carry (previous)", False, patched(markov, "_forward_sequential", _forward_masked)),
        ("tree, normalised tables (current)", True, contextlib.nullcontext()),
        (
            "associative scan, raw tables (previous)",
            True,
            patched(markov, "_forward_parallel", _forward_associative_scan),
        ),
    )
    for name, parallel, variant in variants:
        with variant:
            fitted = dataclasses.replace(model, parallel=parallel)  # a new model object: traced afresh
            log_likelihood = float(jaxem.log_likelihood(fitted, params, x))
            states = np.asarray(jaxem.posterior(fitted, params, x).states[0], np.float64)
        print(
            f"  {name}: log-likelihood relative error "
            f"{abs(log_likelihood - expected_log_likelihood) / abs(expected_log_likelihood):.1e}, "
            f"largest posterior error {np.max(np.abs(states - expected_states)):.1e}"
        )
    model, params, x, x64, reference = case(1.0)
    _, expected_path = reference.decode(x64)
    for name, variant in (
        ("relative messages (current)", contextlib.nullcontext()),
        ("raw messages (previous)", patched(decoding, "_relative", lambda delta: delta)),
    ):
        with variant:
            path = np.asarray(jaxem.viterbi(dataclasses.replace(model), params, x)[0])
        print(f"  Viterbi, {name}: {int(np.sum(path != expected_path))} of {steps} states differ from hmmlearn's")


@contextlib.contextmanager
def patched(module, name, value):
    """Sets ``module.name`` while a variant is traced (the switch is read at trace time)."""
    saved = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, saved)


def main():
    if experiment == "parallel-tree":
        return parallel_tree()
    if experiment == "precision-long":
        return precision_long()
    if experiment == "forward-mask":
        # Both with lengths arrays: the masked form needs one, and the current
        # form then takes its padded-batch path (reading alpha_L).
        (make_model, x, init), names = hmm_problem(), ("unmasked, reads alpha_L (current)", "masked every step")
        make = lambda: with_length_arrays(make_model())
        alternative = patched(markov, "_forward_sequential", _forward_masked)
    elif experiment == "diag-scatter":
        (make, x, init) = gmm_problem() if "--gmm" in sys.argv else hmm_problem()
        names = ("fused reduction (current, float64)", "contraction over N")
        alternative = patched(gaussian, "_FUSED_DIAG_SCATTER_DTYPES", ())
    elif experiment == "no-padding":
        (make_model, x, init) = hmm_problem()
        names = ("length=None, last message only (current)", "lengths array, every message kept")
        models = iter((make_model(), with_length_arrays(make_model())))
        make = lambda: next(models)
        alternative = contextlib.nullcontext()
    else:
        (make, x, init) = gmm_problem() if experiment == "diag-gmm" else hmm_problem()
        names = ("unrolled (current)", "matrix products")
        alternative = patched(gaussian, "_UNROLL_MAX_FEATURES", 0)
    run = lambda model: jaxem.fit(model, x, init_params=init, max_iter=ITERATIONS, tol=0.0).restarts.log_likelihood
    models = {names[0]: make(), names[1]: make()}
    current = jax.block_until_ready(run(models[names[0]]))
    with alternative:
        other = jax.block_until_ready(run(models[names[1]]))
    best = interleaved_best(run, models)
    print(
        f"experiment {experiment} ({x.dtype}): {RESTARTS} restarts x {ITERATIONS} iterations, "
        f"best of {ROUNDS} interleaved rounds"
    )
    for name, seconds in best.items():
        print(f"  {name}: {seconds / (RESTARTS * ITERATIONS) * 1e3:.2f} ms per restart-iteration")
    print(
        f"  speed-up of the current form: {best[names[1]] / best[names[0]]:.2f}x; max relative "
        f"log-likelihood difference {float(jnp.max(jnp.abs(current - other) / jnp.abs(other))):.1e}"
    )


if __name__ == "__main__":
    main()
