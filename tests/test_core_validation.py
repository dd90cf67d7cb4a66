"""Bad input raises before tracing, naming the argument, what was given and what was expected."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxem


def log_joint(params, x, z):
    return jnp.log(params["weights"][z]) + jax.scipy.stats.norm.logpdf(x, params["means"][z], params["scales"][z])


def init(key, data):
    return {"weights": jnp.full(2, 0.5), "means": jax.random.choice(key, data, (2,)), "scales": jnp.ones(2)}


CONSTRAINTS = {"weights": jaxem.constraints.simplex, "scales": jaxem.constraints.positive}
MODEL = jaxem.Model(log_joint, num_states=2, init=init, constraints=CONSTRAINTS)
DATA = np.linspace(-2.0, 2.0, 20)
KEY = jax.random.key(0)
GOOD = {"weights": jnp.array([0.5, 0.5]), "means": jnp.array([-1.0, 1.0]), "scales": jnp.ones(2)}


def fit(**kwargs):
    args = {"key": KEY, "max_iter": 2}
    args.update(kwargs)
    model = args.pop("model", MODEL)
    data = args.pop("data", DATA)
    return jaxem.fit(model, data, **args)


@pytest.mark.parametrize(
    "kwargs, error, pattern",
    [
        ({"data": np.array([0.0, np.nan, 1.0])}, ValueError, r"data must be finite; got 1 non-finite"),
        ({"data": np.array([0.0, np.inf])}, ValueError, r"data must be finite"),
        (
            {"data": (np.zeros(3), np.zeros(4))},
            ValueError,
            r"data leaves must share their leading size N; got leaf shapes \[\(3,\), \(4,\)\]",
        ),
        ({"data": np.zeros((0,))}, ValueError, r"data must hold at least one observation; got N = 0"),
        ({"data": np.float64(1.0)}, ValueError, r"data must have a leading observation axis; got a scalar"),
        ({"data": np.array(["a", "b"])}, TypeError, r"data must hold numbers; got dtype"),
        ({"num_restarts": 0}, ValueError, r"num_restarts must be >= 1; got 0"),
        ({"num_restarts": 2.5}, TypeError, r"num_restarts must be an int >= 1; got 2.5"),
        (
            {"weights": np.ones(3)},
            ValueError,
            r"weights must have shape \(20,\), one per observation; got shape \(3,\)",
        ),
        ({"weights": -np.ones(20)}, ValueError, r"weights must be non-negative; got minimum -1.0"),
        ({"weights": np.full(20, np.nan)}, ValueError, r"weights must be finite"),
        ({"weights": np.zeros(20)}, ValueError, r"weights must have at least one positive entry"),
        ({"key": None}, ValueError, r"key must be a jax.random.key"),
        ({"tol": -1.0}, ValueError, r"tol must be a non-negative finite float; got -1.0"),
        ({"max_iter": -3}, ValueError, r"max_iter must be >= 0; got -3"),
        (
            {"init_params": {"weights": jnp.array([0.5, 0.5])}},
            ValueError,
            r"init_params must be one set of parameters or a batch",
        ),
        (
            {"init_params": GOOD, "num_restarts": 4},
            ValueError,
            r"num_restarts must match the batch of init_params; got num_restarts=4 and 1",
        ),
        ({"init_params": {**GOOD, "means": jnp.array([np.nan, 1.0])}}, ValueError, r"init_params"),
        ({"optimizer": "adam"}, TypeError, r"optimizer must be an optax GradientTransformation; got 'adam'"),
        ({"devices": "cpu"}, TypeError, r"devices must be a non-empty list or tuple of jax.Device .*; got 'cpu'"),
        ({"devices": []}, TypeError, r"devices must be a non-empty list or tuple of jax.Device .*; got \[\]"),
        ({"devices": jax.devices() * 2}, ValueError, r"devices must not repeat a device"),
    ],
)
def test_fit_argument_errors(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        fit(**kwargs)


@pytest.mark.parametrize(
    "num_states, error, pattern",
    [
        (0, ValueError, r"num_states must be >= 1 in every entry; got 0"),
        ((2, -1), ValueError, r"num_states must be >= 1 in every entry; got \(2, -1\)"),
        (2.0, TypeError, r"num_states must be an int >= 1 or a non-empty tuple of such ints; got 2.0"),
        ((), TypeError, r"num_states must be an int"),
        (True, TypeError, r"num_states must be an int >= 1 or a tuple of such ints; got True"),
    ],
)
def test_bad_num_states(num_states, error, pattern):
    with pytest.raises(error, match=pattern):
        jaxem.Model(log_joint, num_states=num_states)


def test_constraints_must_match_params():
    model = jaxem.Model(log_joint, num_states=2, init=init, constraints={"weight": jaxem.constraints.simplex})
    with pytest.raises(
        ValueError,
        match=r"constraints has keys \['weight'\] that are not parameters; the params from init\(key, data\) have keys",
    ):
        fit(model=model)
    model = jaxem.Model(
        log_joint, num_states=2, init=init, constraints={"means": (jaxem.constraints.real, jaxem.constraints.real)}
    )
    with pytest.raises(ValueError, match=r"constraints must be a pytree prefix of the params"):
        fit(model=model)
    model = jaxem.Model(log_joint, num_states=2, init=init, constraints={"means": "positive"})
    with pytest.raises(TypeError, match=r"constraints must hold jaxem.constraints objects; got 'positive'"):
        fit(model=model)


def test_init_errors():
    nan_init = jaxem.Model(log_joint, num_states=2, init=lambda k, d: {**init(k, d), "scales": jnp.full(2, jnp.nan)})
    with pytest.raises(ValueError, match=r"init\(key, data\)\['scales'\] must be finite"):
        fit(model=nan_init)
    misshaped = jaxem.Model(log_joint, num_states=2, init=lambda k, d: {**init(k, d), "means": jnp.zeros((2, 3))})
    with pytest.raises(
        ValueError, match=r"log_joint must return a scalar for one observation and one latent value; got shape \(3,\)"
    ):
        fit(model=misshaped)
    missing = jaxem.Model(log_joint, num_states=2, init=lambda k, d: {"weights": jnp.ones(2) / 2})
    with pytest.raises(ValueError, match=r"log_joint failed on the params from init\(key, data\).*KeyError"):
        fit(model=missing)
    int_params = jaxem.Model(log_joint, num_states=2, init=lambda k, d: {**init(k, d), "means": jnp.array([0, 1])})
    with pytest.raises(TypeError, match=r"init\(key, data\)\['means'\] must be a float array"):
        fit(model=int_params)
    with pytest.raises(ValueError, match=r"init_params must be given when the model has no init"):
        jaxem.fit(jaxem.Model(log_joint, num_states=2), DATA, key=KEY)


def test_log_joint_non_scalar():
    model = jaxem.Model(lambda p, x, z: jnp.zeros(2) + p["weights"][z], num_states=2)
    with pytest.raises(ValueError, match=r"log_joint must return a scalar.*got shape \(2,\)"):
        jaxem.log_likelihood(model, {"weights": jnp.ones(2)}, DATA)


def test_model_argument_errors():
    with pytest.raises(TypeError, match=r"log_joint must be callable"):
        jaxem.Model("not a function", num_states=2)
    with pytest.raises(TypeError, match=r"statistics must be callable"):
        jaxem.Model(log_joint, num_states=2, statistics=[1], maximize=lambda s, p: {})
    with pytest.raises(ValueError, match=r"needs both statistics and maximize; got statistics without maximize"):
        jaxem.Model(log_joint, num_states=2, statistics=lambda *a: 0.0)
    model = jaxem.Model(log_joint, num_states=2, statistics=lambda *a: 0.0, maximize=lambda s, p: {"mean": s})
    with pytest.raises(ValueError, match=r"maximize returns values for \['mean'\], which are not keys of the params"):
        jaxem.em_step(model, GOOD, DATA)
    with pytest.raises(ValueError, match=r"lengths is only for MarkovModel"):
        jaxem.fit(MODEL, DATA, key=KEY, lengths=np.ones(20, int))
    with pytest.raises(TypeError, match=r"model must be a jaxem.Model"):
        jaxem.fit(object(), DATA, key=KEY)


def test_errors_are_raised_before_compiling(monkeypatch):
    """Validation fails fast: the compiled program is never called."""
    import importlib

    fit_module = importlib.import_module("jaxem.driver")

    def boom(*args, **kwargs):
        raise AssertionError("the compiled fit was reached")

    monkeypatch.setattr(fit_module, "_fit_jit", boom)
    with pytest.raises(ValueError, match="weights must have shape"):
        fit(weights=np.ones(5))


# ---------------------------------------------------------------------- issue 11: bad input, before compiling
GAUSSIAN = jaxem.models.gaussian_mixture(2)
POINTS = np.random.default_rng(0).normal(size=(30, 2))


@pytest.mark.parametrize(
    "model, data, pattern",
    [
        (
            jaxem.models.gaussian_mixture(12),
            np.random.default_rng(0).normal(size=(10, 2)),
            r"10 observations.*at least 12",
        ),
        (jaxem.models.poisson_mixture(4), np.arange(3.0), r"3 observations.*at least 4"),
        (jaxem.models.poisson_hmm(3), np.array([[2.0]]), r"1 real steps.*at least 3"),
    ],
)
def test_more_components_than_observations_is_refused(model, data, pattern):
    with pytest.raises(ValueError, match=pattern):
        jaxem.fit(model, data, key=KEY, max_iter=2)


def test_more_components_than_weighted_observations_is_refused():
    # Zero-weight rows do not count: 3 of the 10 points carry weight, 4 components.
    weights = np.r_[np.ones(3), np.zeros(7)]
    with pytest.raises(ValueError, match=r"3 observations with positive weight.*at least 4"):
        jaxem.fit(jaxem.models.gaussian_mixture(4), POINTS[:10], weights=weights, key=KEY)


def test_user_model_with_more_states_than_observations_is_allowed():
    # ABO-style models enumerate more latent values than there are (weighted) cells: not refused.
    model = jaxem.Model(log_joint, num_states=2, constraints=CONSTRAINTS)
    result = jaxem.fit(model, DATA[:1], init_params=GOOD, max_iter=1)
    assert np.isfinite(float(result.log_likelihood))


@pytest.mark.parametrize(
    "params, pattern",
    [
        ({**GOOD, "weights": jnp.array([-0.5, 1.5])}, r"\['weights'\] lies outside its constraint .*simplex.*>= 0"),
        ({**GOOD, "weights": jnp.array([0.5, 0.6])}, r"\['weights'\] lies outside .*must sum to 1"),
        ({**GOOD, "scales": jnp.array([1.0, 0.0])}, r"\['scales'\] lies outside .*positive.*> 0"),
    ],
)
def test_params_outside_their_constraint_domain_are_refused_everywhere(params, pattern):
    with pytest.raises(ValueError, match="init_params" + pattern):
        fit(init_params=params)
    for call in (jaxem.posterior, jaxem.log_likelihood, jaxem.em_step):
        with pytest.raises(ValueError, match=r"params" + pattern):
            call(MODEL, params, DATA)


def test_init_output_outside_its_domain_is_refused():
    bad_init = jaxem.Model(
        log_joint,
        num_states=2,
        init=lambda k, d: {**init(k, d), "weights": jnp.array([0.7, 0.7])},
        constraints=CONSTRAINTS,
    )
    with pytest.raises(ValueError, match=r"init\(key, data\)\['weights'\] lies outside .*must sum to 1"):
        fit(model=bad_init)


def test_covariances_not_positive_definite_are_refused_before_compiling(monkeypatch):
    params = jaxem.fit(GAUSSIAN, POINTS, key=KEY, max_iter=2).params
    import importlib

    fit_module = importlib.import_module("jaxem.driver")
    monkeypatch.setattr(fit_module, "_fit_jit", lambda *a: (_ for _ in ()).throw(AssertionError("compiled")))
    asymmetric = params["covariances"].at[0, 0, 1].add(0.5)
    with pytest.raises(ValueError, match=r"\['covariances'\] lies outside .*positive_definite.*symmetric"):
        jaxem.fit(GAUSSIAN, POINTS, init_params={**params, "covariances": asymmetric})
    indefinite = params["covariances"].at[0].set(jnp.array([[1.0, 2.0], [2.0, 1.0]]))
    with pytest.raises(ValueError, match=r"positive definite; got a smallest eigenvalue of -1"):
        jaxem.fit(GAUSSIAN, POINTS, init_params={**params, "covariances": indefinite})


def test_hmm_rows_that_do_not_sum_to_one_are_refused():
    model = jaxem.models.poisson_hmm(2)
    params = {"initial": jnp.array([0.5, 0.5]), "transition": jnp.array([[0.9, 0.2], [0.1, 0.9]]), "rates": jnp.ones(2)}
    counts = np.arange(10.0)[None]
    with pytest.raises(ValueError, match=r"params\['transition'\] lies outside .*must sum to 1"):
        jaxem.viterbi(model, params, counts)
    with pytest.raises(ValueError, match=r"params\['initial'\] lies outside"):
        jaxem.log_likelihood(model, {**params, "initial": jnp.array([0.2, 0.2]), "transition": jnp.eye(2)}, counts)
    with pytest.raises(ValueError, match=r"params\['transition'\] lies outside .*must sum to 1"):
        jaxem.sample_sequences(model, params, KEY, num_steps=5)


@pytest.mark.parametrize(
    "model, data, name, shape",
    [
        (jaxem.models.categorical_hmm(3, 4), np.array([[0, 1, 2, 3, 1]]), "transition", (1, 3)),
        (jaxem.models.categorical_hmm(3, 4), np.array([[0, 1, 2, 3, 1]]), "probs", (1, 4)),
        (jaxem.models.poisson_hmm(3), np.arange(6.0)[None], "rates", (1,)),
        (jaxem.models.poisson_mixture(3), np.arange(6.0), "rates", (1,)),
    ],
)
def test_wrong_parameter_shapes_that_indexing_would_clamp_are_refused(model, data, name, shape):
    good = jaxem.fit(model, data, key=KEY, max_iter=1).params
    bad = {**good, name: jnp.ones(shape) / shape[-1]}
    expected = tuple(good[name].shape)
    pattern = rf"\['{name}'\] must have shape {re.escape(str(expected))} .*got {re.escape(str(shape))}"
    with pytest.raises(ValueError, match="params" + pattern):
        jaxem.log_likelihood(model, bad, data)
    with pytest.raises(ValueError, match="init_params" + pattern):
        jaxem.fit(model, data, init_params=bad)


def test_complex_data_is_refused():
    with pytest.raises(TypeError, match=r"data must hold real numbers; got complex dtype complex128"):
        fit(data=DATA + 1j)


def test_zero_features_are_refused():
    with pytest.raises(ValueError, match=r"data must have no zero-size axis .*got shape \(5, 0\)"):
        jaxem.fit(GAUSSIAN, np.zeros((5, 0)), key=KEY)


def test_one_dimensional_data_to_a_vector_model_is_refused():
    params = jaxem.fit(GAUSSIAN, POINTS, key=KEY, max_iter=2).params
    for call in (jaxem.posterior, jaxem.log_likelihood):
        with pytest.raises(ValueError, match=r"Gaussian mixture must have shape \(N, D\); got shape \(30,\)"):
            call(GAUSSIAN, params, POINTS[:, 0])


def test_one_dimensional_data_to_a_user_vector_model_is_refused_by_its_init_shapes():
    def vector_log_joint(params, x, z):
        return jnp.log(params["weights"][z]) + jnp.sum(jax.scipy.stats.norm.logpdf(x, params["means"][z]))

    def vector_init(key, data):
        return {"weights": jnp.full(2, 0.5), "means": data[:2]}

    model = jaxem.Model(
        vector_log_joint, num_states=2, init=vector_init, constraints={"weights": jaxem.constraints.simplex}
    )
    params = vector_init(KEY, jnp.asarray(POINTS))
    with pytest.raises(ValueError, match=r"params\['means'\] must have shape \(2,\) .*got \(2, 2\)"):
        jaxem.posterior(model, params, POINTS[:, 0])


@pytest.mark.parametrize(
    "model, data, pattern",
    [
        (
            jaxem.models.categorical_mixture(2, 3),
            np.array([[0.0], [1.5], [2.0]]),
            r"integer symbols in \[0, num_categories=3\).*1.5",
        ),
        (jaxem.models.categorical_mixture(2, 3), np.array([[0], [-2], [2]]), r"integer symbols.*-2"),
        (jaxem.models.categorical_mixture(2, 3), np.array([[0], [3], [2]]), r"integer symbols.*3"),
        (jaxem.models.categorical_hmm(2, 3), np.array([[0, 1, 2, 5]]), r"categorical HMM must be integer symbols.*5"),
        (jaxem.models.bernoulli_mixture(2), np.array([[0.0, 1.0], [0.5, 1.0], [1.0, 0.0]]), r"binary.*0.5"),
        (jaxem.models.poisson_mixture(2), np.array([0.0, -1.0, 3.0]), r"non-negative integer counts.*-1"),
        (jaxem.models.poisson_hmm(2), np.array([[0.0, 2.5, 3.0]]), r"non-negative integer counts.*2.5"),
    ],
)
def test_data_outside_a_family_support_is_refused(model, data, pattern):
    with pytest.raises(ValueError, match=pattern):
        jaxem.fit(model, data, key=KEY, max_iter=2)


def test_integer_data_to_a_gaussian_model_is_converted_to_float():
    """Rule: integer (or bool) data are converted to the default float dtype, as scikit-learn does."""
    counts = np.random.default_rng(1).poisson(5.0, size=(40, 2))
    as_int = jaxem.fit(GAUSSIAN, counts, key=KEY, max_iter=5)
    as_float = jaxem.fit(GAUSSIAN, counts.astype(np.float64), key=KEY, max_iter=5)
    assert as_int.params["means"].dtype == jnp.float64  # x64 in the test suite: the default float
    # The same float64 arithmetic on the same values: equal to rounding.
    np.testing.assert_allclose(as_int.params["means"], as_float.params["means"], rtol=1e-12)


@pytest.mark.parametrize("bad_key", [0, 3.5, "key", np.zeros(2, np.int64)])
def test_a_key_that_is_not_a_prng_key_is_refused_naming_key(bad_key):
    with pytest.raises(TypeError, match=r"key must be a jax.random.key\(seed\)"):
        fit(key=bad_key)
    with pytest.raises(TypeError, match=r"key must be a jax.random.key\(seed\)"):
        jaxem.sample_sequences(jaxem.models.poisson_hmm(2), None, bad_key, num_steps=3)


def test_a_batch_of_keys_is_refused():
    with pytest.raises(ValueError, match=r"key must be a single key \(shape \(\)\)"):
        fit(key=jax.random.split(KEY, 2))


def test_a_raw_prng_key_is_accepted():
    result = fit(key=jax.random.PRNGKey(0))
    assert np.isfinite(float(result.log_likelihood))


def test_hmm_sample_weights_of_the_wrong_length_say_one_per_sequence():
    with pytest.raises(ValueError, match=r"weights must have shape \(2,\), one per sequence; got shape \(10,\)"):
        jaxem.fit(jaxem.models.poisson_hmm(2), np.ones((2, 5)), weights=np.ones(10), key=KEY)
