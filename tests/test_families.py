"""The families' uncentred moments in float32: data far from the origin, clusters far apart.

A float32 fit (x64 off, in a subprocess: the suite runs in float64) is compared
with the float64 fit from the same start. Tolerances are the issue's: the
log-likelihood per observation within 1e-4, the covariances within 1e-3
relative to the largest entry of each covariance.
"""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

CASES = [("full", 2, 2), ("full", 3, 3), ("diag", 3, 2), ("spherical", 2, 3), ("tied", 3, 2)]

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import jax
    jax.config.update("jax_enable_x64", sys.argv[1] == "64")
    import jax.numpy as jnp
    import numpy as np
    import jaxem

    out = []
    for covariance_type, num_components, num_features in json.loads(sys.argv[2]):
        rng = np.random.default_rng(0)
        # Adjacent clusters 100 standard deviations apart (along a random direction), all offset by 1e4.
        direction = rng.normal(size=num_features)
        direction /= np.linalg.norm(direction)
        centres = 1e4 + 100.0 * np.arange(num_components)[:, None] * direction
        labels = rng.integers(0, num_components, 6000)
        x = centres[labels] + rng.normal(size=(6000, num_features))
        dtype = jnp.float64 if sys.argv[1] == "64" else jnp.float32
        shape = jaxem.families.covariances_shape(covariance_type, num_components, num_features)
        eye = {"full": np.eye(num_features), "tied": np.eye(num_features)}.get(covariance_type, 1.0)
        start = {
            "weights": jnp.full(num_components, 1.0 / num_components, dtype),
            "means": jnp.asarray(centres + rng.normal(size=centres.shape), dtype),
            "covariances": jnp.asarray(np.broadcast_to(eye, shape) * 2.0, dtype),
        }
        model = jaxem.models.gaussian_mixture(num_components, covariance_type=covariance_type)
        result = jaxem.fit(model, x.astype(dtype), init_params=start, tol=1e-7, max_iter=100)
        out.append({
            "log_likelihood": float(result.log_likelihood) / x.shape[0],
            "covariances": np.asarray(result.params["covariances"], np.float64).tolist(),
            "dtype": str(result.params["covariances"].dtype),
        })
    print(json.dumps(out))
    """
)


def _fits(bits):
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, bits, json.dumps(CASES)],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def fits():
    return {"32": _fits("32"), "64": _fits("64")}


@pytest.mark.parametrize("case", range(len(CASES)), ids=[f"{t}-K{k}-D{d}" for t, k, d in CASES])
def test_float32_fit_far_from_the_origin_matches_float64(fits, case):
    covariance_type = CASES[case][0]
    single, double = fits["32"][case], fits["64"][case]
    assert single["dtype"] == "float32" and double["dtype"] == "float64"
    assert abs(single["log_likelihood"] - double["log_likelihood"]) < 1e-4, (single, double)
    got, want = np.asarray(single["covariances"]), np.asarray(double["covariances"])
    if covariance_type == "tied":
        scale = np.max(np.abs(want))  # one matrix: its largest entry
    elif covariance_type == "spherical":
        scale = np.abs(want)  # one number per component
    else:
        scale = np.max(np.abs(want.reshape(want.shape[0], -1)), axis=-1).reshape((-1,) + (1,) * (want.ndim - 1))
    assert np.all(np.abs(got - want) <= 1e-3 * scale), (np.max(np.abs(got - want) / scale), covariance_type)


@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical", "tied"])
def test_anchored_products_equal_the_per_observation_density_and_centred_moments(covariance_type):
    """In float64, for every number of anchors: the chunk's product form equals the per-observation
    quadratic form, and the statistics moved from the anchors to the means equal the directly
    centred sums (1e-9 relative: rounding of sums of a few hundred terms of size ~1e2)."""
    import jax
    import jax.numpy as jnp

    from jaxem import families

    rng = np.random.default_rng(4)
    family = families.Gaussian(covariance_type)
    num_components, num_features = 4, 3
    means = rng.normal(size=(num_components, num_features)) * 20.0
    shape = families.covariances_shape(covariance_type, num_components, num_features)
    if covariance_type in ("full", "tied"):
        factor = rng.normal(size=shape)
        covariances = factor @ np.swapaxes(factor, -1, -2) + np.eye(num_features)
    else:
        covariances = rng.uniform(0.5, 2.0, shape)
    params = {"means": jnp.asarray(means), "covariances": jnp.asarray(covariances)}
    rows = jnp.asarray(means[rng.integers(0, num_components, 300)] + rng.normal(size=(300, num_features)))
    responsibilities = jax.nn.softmax(jnp.asarray(rng.normal(size=(300, num_components))), axis=-1)
    weights = jnp.asarray(rng.uniform(0.5, 2.0, 300))
    direct = jax.vmap(lambda x: family.log_density(params, x))(rows)
    deviations = rows[:, None, :] - params["means"][None]  # (n, K, D)
    weighted = responsibilities * weights[:, None]
    outer = deviations[..., :, None] * deviations[..., None, :]
    upper = np.triu_indices(num_features)
    second = {
        "full": outer[..., upper[0], upper[1]],
        "tied": outer[..., upper[0], upper[1]],
        "diag": deviations**2,
        "spherical": jnp.sum(deviations**2, axis=-1, keepdims=True),
    }[covariance_type]
    expected = {
        "counts": jnp.sum(weighted, axis=0),
        "sums": jnp.einsum("nk,nkd->kd", weighted, deviations),
        "squares": jnp.einsum("nk,nkf->kf", weighted, second),
    }
    density = jax.jit(family.log_density_batch, static_argnums=2)
    statistics = jax.jit(family.statistics, static_argnums=4)
    for num_anchors in (1, 2, 4):
        batch = density(params, rows, num_anchors)
        np.testing.assert_allclose(batch, direct, rtol=1e-9, atol=1e-9 * float(jnp.max(jnp.abs(direct))))
        got = statistics(rows, responsibilities, weights, params, num_anchors)
        for name, value in expected.items():
            np.testing.assert_allclose(got[name], value, rtol=1e-9, atol=1e-9 * float(jnp.max(jnp.abs(value))))
