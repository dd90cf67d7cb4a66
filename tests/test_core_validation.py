"""Bad input raises before tracing, naming the argument, what was given and what was expected."""

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
    with pytest.raises(TypeError, match=r"m_step must be None, a dict"):
        jaxem.Model(log_joint, num_states=2, m_step=[1])
    with pytest.raises(TypeError, match=r"m_step\['means'\] must be callable"):
        jaxem.Model(log_joint, num_states=2, m_step={"means": 3})
    model = jaxem.Model(log_joint, num_states=2, m_step={"mean": lambda *a: 0.0})
    with pytest.raises(ValueError, match=r"m_step registers updates for \['mean'\], which are not keys of the params"):
        jaxem.em_step(model, GOOD, DATA)
    with pytest.raises(ValueError, match=r"lengths is only for MarkovModel"):
        jaxem.fit(MODEL, DATA, key=KEY, lengths=np.ones(20, int))
    with pytest.raises(TypeError, match=r"model must be a jaxem.Model"):
        jaxem.fit(object(), DATA, key=KEY)


def test_errors_are_raised_before_compiling(monkeypatch):
    """Validation fails fast: the compiled program is never called."""
    import importlib

    fit_module = importlib.import_module("jaxem.fit")  # the module, not the function jaxem.fit

    def boom(*args, **kwargs):
        raise AssertionError("the compiled fit was reached")

    monkeypatch.setattr(fit_module, "_fit_jit", boom)
    with pytest.raises(ValueError, match="weights must have shape"):
        fit(weights=np.ones(5))
