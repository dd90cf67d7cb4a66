"""Saving and loading fitted results (jaxem.persistence) and the built-ins' specifications.

The references are NumPy's own ``.npz`` reader (``np.load(allow_pickle=False)``)
and the objects that were saved: a round trip copies bits, so every
comparison is exact (``np.array_equal``, equal dtypes, ``==``), with no
tolerance.
"""

import dataclasses
import json
import warnings
from collections import namedtuple

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest

import jaxem
from jaxem import persistence
from jaxem.models import specification

M = jaxem.models
RNG = np.random.default_rng(0)


def _gaussian_rows(rng, n=24):
    return np.concatenate([rng.normal(0.0, 1.0, (n // 2, 2)), rng.normal(6.0, 1.0, (n - n // 2, 2))])


def _data(name):
    """Tiny data for each built-in: a few observations, or 3 sequences of 8 steps."""
    rng = np.random.default_rng(1)
    if name == "gaussian":
        return _gaussian_rows(rng)
    if name == "poisson":
        return rng.poisson(np.repeat([2.0, 15.0], 12)).astype(np.float64)
    if name == "bernoulli":
        return (rng.uniform(size=(24, 4)) < np.repeat([[0.9, 0.1, 0.8, 0.2], [0.1, 0.9, 0.2, 0.7]], 12, 0)).astype(
            np.float64
        )
    if name == "categorical":
        return rng.integers(0, 4, (24, 3)).astype(np.int32)
    if name == "gaussian_hmm":
        return _gaussian_rows(rng).reshape(3, 8, 2)
    if name == "poisson_hmm":
        return rng.poisson(np.repeat([2.0, 15.0], 12)).astype(np.float64).reshape(3, 8)
    return rng.integers(0, 3, (3, 8)).astype(np.int32)  # categorical_hmm


# Cheap init schemes where the default (k-means to convergence) would add compile time; the
# specification carries the scheme, so these round trips check it too.
BUILT_INS = {
    "gaussian_full": (M.gaussian_mixture(2, covariance_type="full", init="kmeans++"), "gaussian"),
    "gaussian_diag": (M.gaussian_mixture(2, covariance_type="diag", reg_covar=1e-4, init="kmeans++"), "gaussian"),
    "gaussian_spherical": (M.gaussian_mixture(2, covariance_type="spherical", init="random_points"), "gaussian"),
    "gaussian_tied": (M.gaussian_mixture(2, covariance_type="tied", init="random_responsibilities"), "gaussian"),
    "poisson": (M.poisson_mixture(2), "poisson"),
    "bernoulli": (M.bernoulli_mixture(2), "bernoulli"),
    "categorical": (M.categorical_mixture(2, 4), "categorical"),
    "gaussian_hmm": (M.gaussian_hmm(2, covariance_type="diag", init="kmeans++"), "gaussian_hmm"),
    "poisson_hmm": (M.poisson_hmm(2), "poisson_hmm"),
    "categorical_hmm": (M.categorical_hmm(2, 3), "categorical_hmm"),
}
# Fitted (a FitResult saved); every fit is a compilation of a few seconds on 2 cores, so the
# others save hand-made valid params with their model instead: what the file holds for a
# model (its specification and its params' tree) is the same whichever way the params came.
FITTED = ("gaussian_full", "poisson", "poisson_hmm")

_FITS = {}


def _fitted(name):
    """One tiny fit per fitted built-in, shared by the tests."""
    if name not in _FITS:
        model, data_name = BUILT_INS[name]
        data = _data(data_name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", jaxem.FitWarning)  # 8 iterations need not converge
            result = jaxem.fit(model, data, key=jax.random.key(3), num_restarts=2, max_iter=8, tol=1e-4)
        _FITS[name] = (model, data, result)
    return _FITS[name]


def _hand_made(name):
    """Valid params of the built-in's shapes for its data (K = 2, D = 2 Gaussian features)."""
    rng = np.random.default_rng(2)
    model, data_name = BUILT_INS[name]
    data = _data(data_name)
    simplex = lambda *shape: rng.dirichlet(np.ones(shape[-1]), size=shape[:-1])
    means = np.array([[0.0, 0.0], [6.0, 6.0]]) + rng.normal(0, 0.1, (2, 2))
    covariances = {
        "gaussian_diag": rng.uniform(0.5, 2.0, (2, 2)),
        "gaussian_spherical": rng.uniform(0.5, 2.0, (2,)),
        "gaussian_tied": np.array([[1.0, 0.3], [0.3, 2.0]]),
        "gaussian_hmm": rng.uniform(0.5, 2.0, (2, 2)),
    }
    if name in covariances:
        params = {"means": means, "covariances": covariances[name]}
    else:
        shape = {"bernoulli": (2, 4), "categorical": (2, 3, 4), "categorical_hmm": (2, 3)}[name]
        params = {"probs": rng.uniform(0.2, 0.8, shape) if name == "bernoulli" else simplex(*shape)}
    if name.endswith("hmm"):
        params.update(initial=simplex(2), transition=simplex(2, 2))
    else:
        params.update(weights=simplex(2))
    return model, data, params


def _assert_trees_identical(loaded, original):
    """Same structure (node types included), and every leaf bit-equal with the same dtype."""
    assert jax.tree.structure(loaded) == jax.tree.structure(jax.tree.map(np.asarray, original))
    for got, want in zip(jax.tree.leaves(loaded), jax.tree.leaves(original), strict=True):
        assert isinstance(got, np.ndarray)  # load documents NumPy arrays
        want = np.asarray(want)
        assert got.dtype == want.dtype and got.shape == want.shape
        assert np.array_equal(got, want, equal_nan=True)


# ---------------------------------------------------------------------- built-in round trips
@pytest.mark.parametrize("name", sorted(BUILT_INS))
def test_built_in_round_trip(tmp_path, name):
    if name in FITTED:
        model, data, result = _fitted(name)
        params = result.params
        path = persistence.save(tmp_path / "fit.npz", result, model, metadata={"case": name})
    else:
        model, data, params = _hand_made(name)
        path = persistence.save(tmp_path / "fit.npz", params, model, metadata={"case": name})
    saved = persistence.load(path)

    assert saved.model == model and saved.model is not model
    assert type(saved.model) is type(model)
    assert specification.describe(saved.model) == specification.describe(model)
    assert saved.metadata == {"case": name}
    assert (saved.result is None) == (name not in FITTED)
    _assert_trees_identical(saved.params, params)
    # Exact: the same compiled program (equal models share it) on bit-equal params and data.
    original = jaxem.log_likelihood(model, params, data)
    reloaded = jaxem.log_likelihood(saved.model, saved.params, data)
    assert np.isfinite(np.asarray(original))
    assert np.asarray(reloaded) == np.asarray(original)


def test_fit_result_round_trip_field_by_field(tmp_path):
    model, _, result = _fitted("poisson")
    saved = persistence.load(persistence.save(tmp_path / "fit.npz", result, model))

    assert type(saved.result) is jaxem.FitResult and type(saved.result.restarts) is jaxem.Restarts
    assert saved.result._fields == result._fields and saved.result.restarts._fields == result.restarts._fields
    assert saved.result.params is saved.params
    for field in result._fields:
        if field != "restarts":
            _assert_trees_identical(getattr(saved.result, field), getattr(result, field))
    for field in result.restarts._fields:
        _assert_trees_identical(getattr(saved.result.restarts, field), getattr(result.restarts, field))
    # The NaN padding of the histories must survive (a restart that converged before max_iter).
    assert np.isnan(saved.result.restarts.history).any()
    assert saved.result.restarts.params["rates"].shape == (2, 2)  # the restart axis is kept


def test_file_reads_without_pickle_and_follows_the_documented_layout(tmp_path):
    model, _, result = _fitted("gaussian_full")
    path = persistence.save(tmp_path / "fit.npz", result, model, metadata={"note": "faithful", "k": [2]})

    with np.load(path, allow_pickle=False) as archive:
        header = json.loads(archive["header"].tobytes().decode("utf-8"))
        assert archive["header"].dtype == np.uint8
        assert np.array_equal(archive["params/means"], np.asarray(result.params["means"]))
        assert np.array_equal(archive["result/history"], np.asarray(result.history), equal_nan=True)
        assert np.array_equal(archive["restarts/params/covariances"], np.asarray(result.restarts.params["covariances"]))
        assert np.array_equal(archive["restarts/failed"], np.asarray(result.restarts.failed))
        names = set(archive.files)
    assert header["format"] == "jaxem" and header["format_version"] == persistence.FORMAT_VERSION
    assert header["jaxem_version"] == jaxem.__version__
    assert header["model"] == {
        "builder": "gaussian_mixture",
        "args": [2],
        "kwargs": {"covariance_type": "full", "reg_covar": 1e-6, "init": "kmeans++"},
    }
    assert header["model_label"] == "gaussian_mixture(2, covariance_type='full', init='kmeans++')"
    assert header["metadata"] == {"note": "faithful", "k": [2]}
    assert header["params"]["dict"]["means"] == {"array": "params/means", "dtype": "float64", "shape": [2, 2]}
    expected = {"header"} | {f"params/{k}" for k in ("weights", "means", "covariances")}
    expected |= {f"result/{f}" for f in jaxem.FitResult._fields if f not in ("params", "restarts")}
    expected |= {f"restarts/{f}" for f in jaxem.Restarts._fields if f != "params"}
    expected |= {f"restarts/params/{k}" for k in ("weights", "means", "covariances")}
    assert names == expected


# ---------------------------------------------------------------------- user models and pytrees
def _user_model():
    def log_joint(params, x, z):
        return jnp.log(params["mix"]["weights"][z]) + jax.scipy.stats.norm.logpdf(x, params["locs"][z])

    return jaxem.Model(log_joint, num_states=3)


def test_user_model_saves_its_nested_params(tmp_path):
    params = {
        "mix": {"weights": jnp.full((3,), 1 / 3, jnp.float32)},
        "locs": [np.arange(3.0), (np.array([1, -2], np.int8), None)],
        "extra": {"flag": True, "count": 7, "scale": 0.25, "half": jnp.ones((2, 2), jnp.bfloat16)},
        "empty": (),
        "key with / and %": np.array([[1 + 2j]]),
    }
    path = persistence.save(tmp_path / "params.npz", params, _user_model(), metadata={"seed": 0})
    saved = persistence.load(path)

    assert saved.model is None and saved.result is None and saved.metadata == {"seed": 0}
    with np.load(path, allow_pickle=False) as archive:
        header = json.loads(archive["header"].tobytes().decode("utf-8"))
    assert header["model"] is None and header["model_label"] == "Model(num_states=3)"
    # Node types survive: lists stay lists, tuples tuples, None None, Python scalars Python scalars.
    assert isinstance(saved.params["locs"], list) and isinstance(saved.params["locs"][1], tuple)
    assert saved.params["locs"][1][1] is None and saved.params["empty"] == ()
    for key, kind in (("flag", bool), ("count", int), ("scale", float)):
        assert type(saved.params["extra"][key]) is kind and saved.params["extra"][key] == params["extra"][key]
    assert saved.params["extra"]["half"].dtype == ml_dtypes.bfloat16  # stored as raw bytes, viewed back
    array_leaves = lambda tree: jax.tree.map(lambda v: v if hasattr(v, "dtype") else None, tree)
    _assert_trees_identical(array_leaves(saved.params), array_leaves(params))


def test_saving_a_params_pytree_without_a_model(tmp_path):
    model, data, result = _fitted("poisson_hmm")
    saved = persistence.load(persistence.save(tmp_path / "p", result.params))  # no suffix added
    assert (tmp_path / "p").is_file() and not (tmp_path / "p.npz").exists()
    assert saved.model is None and saved.result is None and saved.metadata == {}
    _assert_trees_identical(saved.params, result.params)
    # Loaded params are ordinary inputs: exact, as in the round trips above.
    assert np.asarray(jaxem.log_likelihood(model, saved.params, data)) == np.asarray(
        jaxem.log_likelihood(model, result.params, data)
    )
    # Saving again replaces the file.
    persistence.save(tmp_path / "p", {"other": np.ones(1)})
    assert list(persistence.load(tmp_path / "p").params) == ["other"]


@pytest.mark.parametrize(
    "params, message",
    [
        (namedtuple("Pair", "a b")(np.zeros(2), np.ones(2)), "Pair"),
        ({"a": {1: np.zeros(2)}}, "key 1"),
        ({"a": [np.zeros(2), object()]}, r"params\['a'\]\[1\]"),
        ({"a": np.array([None, 1], dtype=object)}, "object"),
        ({"key": jax.random.key(0)}, r"params\['key'\]"),
        ({"big": 2**70}, "too large"),
    ],
)
def test_unsupported_pytrees_are_refused(tmp_path, params, message):
    with pytest.raises(TypeError, match=message):
        persistence.save(tmp_path / "bad.npz", params)
    assert not list(tmp_path.iterdir())  # nothing half-written is left


@pytest.mark.parametrize("metadata", [{"t": (1, 2)}, {1: "x"}, {"x": float("nan")}, {"x": object()}, ["a"]])
def test_metadata_must_survive_json(tmp_path, metadata):
    with pytest.raises(TypeError, match="metadata"):
        persistence.save(tmp_path / "bad.npz", {"a": np.zeros(1)}, metadata=metadata)


# ---------------------------------------------------------------------- load errors
def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no jaxem file"):
        persistence.load(tmp_path / "missing.npz")
    with pytest.raises(FileNotFoundError, match="directory"):
        persistence.load(tmp_path)

    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match="not a jaxem file.*without a 'header'"):
        persistence.load(tmp_path / "other.npz")
    np.savez(tmp_path / "foreign.npz", header=np.frombuffer(b'{"format": "other"}', np.uint8))
    with pytest.raises(ValueError, match="not a jaxem file.*'other'"):
        persistence.load(tmp_path / "foreign.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ValueError, match="not a jaxem file"):
        persistence.load(tmp_path / "text.npz")
    np.save(tmp_path / "array.npy", np.zeros(2))
    with pytest.raises(ValueError, match="not a jaxem file.*single .npy"):
        persistence.load(tmp_path / "array.npy")


def test_a_newer_format_version_is_refused(tmp_path):
    path = persistence.save(tmp_path / "fit.npz", {"a": np.zeros(2)})
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    header = json.loads(arrays["header"].tobytes().decode("utf-8"))
    header["format_version"] = persistence.FORMAT_VERSION + 1
    arrays["header"] = np.frombuffer(json.dumps(header).encode("utf-8"), np.uint8)
    np.savez(tmp_path / "future.npz", **arrays)
    with pytest.raises(ValueError, match=f"format version {persistence.FORMAT_VERSION + 1}.*Upgrade jaxem"):
        persistence.load(tmp_path / "future.npz")


# ---------------------------------------------------------------------- specifications
def test_describe_and_build_every_built_in():
    for model, _ in BUILT_INS.values():
        spec = specification.describe(model)
        assert json.loads(json.dumps(spec)) == spec  # JSON-able, unchanged by JSON
        assert set(spec) == {"builder", "args", "kwargs"}
        assert specification.build(spec) == model
    assert specification.describe(M.categorical_hmm(3, 5)) == {
        "builder": "categorical_hmm",
        "args": [3, 5],
        "kwargs": {"init": "dirichlet"},
    }
    assert specification.describe(M.gaussian_hmm(2)) == {
        "builder": "gaussian_hmm",
        "args": [2],
        "kwargs": {"covariance_type": "full", "reg_covar": 1e-6, "init": "kmeans"},
    }


def test_describe_is_none_when_a_part_is_the_users_own():
    mixture = M.gaussian_mixture(2)
    own_init = lambda key, data: {"weights": jnp.ones(2) / 2}
    assert specification.describe(_user_model()) is None
    assert specification.describe(dataclasses.replace(mixture, init=own_init)) is None
    assert specification.describe(M.gaussian_mixture(2, init=own_init)) is None
    assert specification.describe(dataclasses.replace(mixture, statistics=lambda *args: {})) is None
    assert specification.describe(dataclasses.replace(mixture, constraints={})) is None
    assert specification.describe(dataclasses.replace(mixture, log_prior=lambda params: 0.0)) is None
    # A family swapped behind the factory's back: the log joint and the maximiser disagree.
    other = M.poisson_mixture(2)
    assert specification.describe(dataclasses.replace(mixture, log_joint=other.log_joint)) is None
    user_hmm = jaxem.MarkovModel(
        lambda p, z: jnp.log(p["initial"][z]),
        lambda p, i, j: jnp.log(p["transition"][i, j]),
        M.poisson_hmm(2).log_emission,  # a built-in part inside a user's model
        num_states=2,
    )
    assert specification.describe(user_hmm) is None
    with pytest.raises(TypeError, match="jaxem.Model or jaxem.MarkovModel"):
        specification.describe({"builder": "gaussian_mixture"})


def test_fields_replaced_by_plain_values_are_described():
    parallel = dataclasses.replace(M.poisson_hmm(2), parallel=True)
    spec = specification.describe(parallel)
    assert spec["replace"] == {"parallel": True}
    assert specification.build(spec) == parallel and specification.build(spec) != M.poisson_hmm(2)
    gradient_only = dataclasses.replace(M.bernoulli_mixture(2), statistics=None, maximize=None)
    spec = specification.describe(gradient_only)
    assert spec["replace"] == {"statistics": None, "maximize": None}
    assert specification.build(json.loads(json.dumps(spec))) == gradient_only


def test_label():
    assert specification.label(M.gaussian_mixture(3)) == "gaussian_mixture(3, covariance_type='full')"
    assert specification.label(M.gaussian_mixture(3, reg_covar=0.0)) == (
        "gaussian_mixture(3, covariance_type='full', reg_covar=0.0)"
    )
    assert specification.label(M.categorical_mixture(2, 5)) == "categorical_mixture(2, 5)"
    assert specification.label(M.poisson_hmm(2, init="random_points")) == "poisson_hmm(2, init='random_points')"
    assert specification.label(dataclasses.replace(M.poisson_hmm(2), parallel=True)) == (
        "replace(poisson_hmm(2), parallel=True)"
    )
    assert specification.label(_user_model()) == "Model(num_states=3)"
    user_hmm = jaxem.MarkovModel(lambda p, z: 0.0, lambda p, i, j: 0.0, lambda p, x, z: 0.0, num_states=4)
    assert specification.label(user_hmm) == "MarkovModel(num_states=4)"


@pytest.mark.parametrize(
    "spec, error, message",
    [
        ({"builder": "student_mixture", "args": [2]}, ValueError, "student_mixture"),
        ({"args": [2]}, ValueError, "'builder'"),
        ({"builder": "poisson_mixture", "args": [2], "extra": 1}, ValueError, "unknown keys"),
        (["gaussian_mixture", 2], TypeError, "dict"),
        ({"builder": "poisson_mixture", "args": 2}, TypeError, "args"),
        ({"builder": "poisson_mixture", "args": [0]}, ValueError, "poisson_mixture.*num_components"),
        ({"builder": "poisson_mixture", "args": [2], "kwargs": {"rate": 1}}, TypeError, "rate"),
        ({"builder": "gaussian_mixture", "args": [2], "kwargs": {"covariance_type": "big"}}, ValueError, "big"),
        ({"builder": "gaussian_hmm", "args": [2], "kwargs": {"init": "sometimes"}}, ValueError, "init"),
        ({"builder": "poisson_hmm", "args": [2], "replace": {"speed": 1}}, ValueError, "speed"),
        ({"builder": "poisson_hmm", "args": [2], "replace": {"parallel": 1}}, TypeError, "parallel"),
    ],
)
def test_build_errors(spec, error, message):
    with pytest.raises(error, match=message):
        specification.build(spec)


def test_a_file_naming_an_unknown_builder_is_refused(tmp_path):
    path = persistence.save(tmp_path / "fit.npz", {"a": np.zeros(2)}, M.poisson_mixture(2))
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    header = json.loads(arrays["header"].tobytes().decode("utf-8"))
    assert header["model"]["builder"] == "poisson_mixture"
    header["model"]["builder"] = "student_mixture"
    arrays["header"] = np.frombuffer(json.dumps(header).encode("utf-8"), np.uint8)
    np.savez(tmp_path / "renamed.npz", **arrays)
    with pytest.raises(ValueError, match="cannot build.*student_mixture"):
        persistence.load(tmp_path / "renamed.npz")
