"""Standard errors from the observed information: hand-derived information, finite differences, singular cases."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_core_textbook import linkage_log_joint  # the linkage model, written once for the tests

import jaxem
from jaxem import inference
from jaxem.inference import IdentifiabilityWarning, standard_errors

# Genetic linkage (Rao 1965; Dempster, Laird & Rubin 1977): 197 animals in four cells,
# log L(theta) = 125 log(2 + theta) + 38 log(1 - theta) + 34 log(theta) up to a constant.
COUNTS = np.array([125.0, 18.0, 20.0, 34.0])
CELLS = np.arange(4)
# The score equation 125/(2+t) - 38/(1-t) + 34/t = 0 is 197 t^2 - 15 t - 68 = 0.
THETA_MLE = (15 + np.sqrt(15**2 + 4 * 197 * 68)) / (2 * 197)
Z_975 = 1.959963984540054  # the normal quantile at 0.975 (tables)
Z_95 = 1.6448536269514722  # at 0.95


LINKAGE = jaxem.Model(linkage_log_joint, num_states=2, constraints={"theta": jaxem.constraints.unit_interval})


def linkage_information(theta, a=1.0, b=1.0):
    """Minus the second derivative of log L + (a-1) log t + (b-1) log(1-t), by hand."""
    return 125 / (2 + theta) ** 2 + (38 + b - 1) / (1 - theta) ** 2 + (34 + a - 1) / theta**2


def test_linkage_standard_error_is_the_hand_derived_one():
    with warnings.catch_warnings():
        warnings.simplefilter("error", IdentifiabilityWarning)
        result = standard_errors(LINKAGE, {"theta": jnp.array(THETA_MLE)}, CELLS, COUNTS)
    information = linkage_information(THETA_MLE)
    assert abs(information - 377.5169) < 1e-4  # the textbook value, as a check of the formula
    se = 1 / np.sqrt(information)
    # theta* is exact to rounding, so the score is ~1e-15 and the only error is rounding in the Hessian:
    # 1e-10 relative is loose for that and far below any error in the chain rule.
    assert abs(float(result.standard_errors["theta"]) / se - 1) < 1e-10
    # In the logit coordinate u, I_u = I_theta (d theta / du)^2 = I_theta (theta (1 - theta))^2 at the maximum.
    jacobian = THETA_MLE * (1 - THETA_MLE)
    np.testing.assert_allclose(result.information, [[information * jacobian**2]], rtol=1e-10)
    assert abs(float(result.lower["theta"]) - (THETA_MLE - Z_975 * se)) < 1e-10
    assert abs(float(result.upper["theta"]) - (THETA_MLE + Z_975 * se)) < 1e-10
    assert not result.singular and result.problems == []
    assert result.names == [("theta", ())] and result.coordinates == [("theta", ())]
    assert abs(result.condition_number - 1) < 1e-12
    # log L at theta*, with the multinomial's cell probabilities (2+t)/4, (1-t)/4, (1-t)/4, t/4.
    probabilities = np.array([2 + THETA_MLE, 1 - THETA_MLE, 1 - THETA_MLE, THETA_MLE]) / 4
    assert abs(result.log_likelihood - COUNTS @ np.log(probabilities)) < 1e-10
    table = str(result)
    assert "parameter" in table and "se" in table and "upper" in table
    assert f"{se:.6g}" in table.splitlines()[2]

    narrower = standard_errors(LINKAGE, {"theta": jnp.array(THETA_MLE)}, CELLS, COUNTS, level=0.9)
    assert abs(float(narrower.upper["theta"]) - (THETA_MLE + Z_95 * se)) < 1e-10


def test_linkage_with_a_prior_gives_the_curvature_of_the_log_posterior():
    a, b = 3.0, 2.0

    def log_prior(params):
        return (a - 1) * jnp.log(params["theta"]) + (b - 1) * jnp.log1p(-params["theta"])

    model = jaxem.Model(
        linkage_log_joint, num_states=2, constraints={"theta": jaxem.constraints.unit_interval}, log_prior=log_prior
    )
    # The MAP solves 125/(2+t) - (37+b)/(1-t) + (33+a)/t = 0, a quadratic after clearing denominators.
    big_a, big_b = 33 + a, 37 + b
    roots = np.roots([-(125 + big_a + big_b), 125 - 2 * big_b - big_a, 2 * big_a])
    theta = float(next(r.real for r in roots if 0 < r.real < 1))
    result = standard_errors(model, {"theta": jnp.array(theta)}, CELLS, COUNTS)
    # Exact algebra again (the MAP to rounding): 1e-10 relative.
    assert abs(float(result.standard_errors["theta"]) * np.sqrt(linkage_information(theta, a, b)) - 1) < 1e-10
    assert result.problems == []


# ------------------------------------------------------------------ Old Faithful, two full-covariance Gaussians
FAITHFUL = jaxem.datasets.load_faithful()
GAUSSIAN_2 = jaxem.models.gaussian_mixture(2, reg_covar=0.0)  # reg_covar=0: EM's fixed point is the MLE
# The documented coordinate order: leaves in jax.tree order (covariances, means, weights), row-major
# free entries (the lower triangle of each log-Cholesky factor), the weights' one log-ratio.
COORDINATES = [
    ("covariances", (0, 0, 0)),
    ("covariances", (0, 1, 0)),
    ("covariances", (0, 1, 1)),
    ("covariances", (1, 0, 0)),
    ("covariances", (1, 1, 0)),
    ("covariances", (1, 1, 1)),
    ("means", (0, 0)),
    ("means", (0, 1)),
    ("means", (1, 0)),
    ("means", (1, 1)),
    ("weights", (0,)),
]


def faithful_theta(v):
    """Hand-written map from the 11 unconstrained coordinates to (covariances, means, weights)."""
    covariances = []
    for k in range(2):
        log_a, b, log_c = v[3 * k : 3 * k + 3]
        lower = np.array([[np.exp(log_a), 0.0], [b, np.exp(log_c)]])
        covariances.append(lower @ lower.T)
    weights = np.exp([v[10], 0.0])
    return np.array(covariances), v[6:10].reshape(2, 2), weights / weights.sum()


def faithful_log_likelihood(v):
    """The mixture's log-likelihood in NumPy (an independent reference, not jaxem's)."""
    covariances, means, weights = faithful_theta(v)
    columns = []
    for k in range(2):
        d = FAITHFUL - means[k]
        quadratic = np.einsum("ni,ij,nj->n", d, np.linalg.inv(covariances[k]), d)
        log_det = np.linalg.slogdet(covariances[k])[1]
        columns.append(np.log(weights[k]) - np.log(2 * np.pi) - 0.5 * log_det - 0.5 * quadratic)
    table = np.stack(columns, axis=1)
    top = table.max(axis=1)
    return float(np.sum(top + np.log(np.exp(table - top[:, None]).sum(axis=1))))


def central_hessian(f, v, steps):
    size = v.size
    hessian = np.zeros((size, size))
    e = np.diag(steps)
    f0 = f(v)
    for i in range(size):
        hessian[i, i] = (f(v + e[i]) - 2 * f0 + f(v - e[i])) / steps[i] ** 2
        for j in range(i):
            value = f(v + e[i] + e[j]) - f(v + e[i] - e[j]) - f(v - e[i] + e[j]) + f(v - e[i] - e[j])
            hessian[i, j] = hessian[j, i] = value / (4 * steps[i] * steps[j])
    return hessian


@pytest.fixture(scope="module")
def faithful_fit():
    result = jaxem.fit(GAUSSIAN_2, FAITHFUL, key=jax.random.key(0), num_restarts=2, tol=1e-14, max_iter=2000)
    assert bool(result.converged)
    return {name: np.asarray(value) for name, value in result.params.items()}


def test_faithful_information_and_errors_match_finite_differences(faithful_fit):
    params = faithful_fit
    result = standard_errors(GAUSSIAN_2, params, FAITHFUL)
    assert result.coordinates == COORDINATES
    assert not result.singular and result.problems == []
    v0 = []
    for k in range(2):
        lower = np.linalg.cholesky(params["covariances"][k])
        v0 += [np.log(lower[0, 0]), lower[1, 0], np.log(lower[1, 1])]
    v0 = np.array(v0 + list(params["means"].ravel()) + [np.log(params["weights"][0] / params["weights"][1])])
    assert abs(faithful_log_likelihood(v0) - result.log_likelihood) < 1e-9  # same function, rounding only

    # Steps h_i = 1e-4 max(1, |v_i|): the central differences' truncation error (h^2 f''''/12) and rounding
    # (eps |log L| / h^2 ~ 2.5e-5 with |log L| ~ 1130) balance near there, for an error of about 1e-4 on
    # entries up to 1.5e3 (8e-5 measured; at 1e-3 or 1e-5 it is 2.5e-3). atol 1e-3 leaves 10x for that; a
    # wrong coordinate or a missing chain-rule factor changes entries by O(1) or more.
    steps = 1e-4 * np.maximum(1.0, np.abs(v0))
    information = -central_hessian(faithful_log_likelihood, v0, steps)
    np.testing.assert_allclose(result.information, information, rtol=0, atol=1e-3)

    def flat(v):
        return np.concatenate([x.ravel() for x in faithful_theta(v)])

    jacobian = np.stack([(flat(v0 + e) - flat(v0 - e)) / (2 * h) for e, h in zip(np.diag(steps), steps)], axis=1)
    covariance = jacobian @ np.linalg.inv(information) @ jacobian.T
    errors = np.concatenate([np.ravel(result.standard_errors[name]) for name in ("covariances", "means", "weights")])
    # The covariance inherits the information's relative error (5e-8) times the condition number (~530):
    # ~3e-5, so ~1.5e-5 on a standard error (2e-6 measured). rtol 2e-5.
    np.testing.assert_allclose(errors, np.sqrt(np.diag(covariance)), rtol=2e-5)
    np.testing.assert_allclose(result.covariance, covariance, rtol=1e-4, atol=1e-4 * np.abs(covariance).max())
    # Both weights get an error, the same one (pi_1 = 1 - pi_0), and the symmetric covariance entries agree.
    assert result.standard_errors["weights"][0] == pytest.approx(result.standard_errors["weights"][1], rel=1e-12)
    se_cov = result.standard_errors["covariances"]
    np.testing.assert_allclose(se_cov[:, 0, 1], se_cov[:, 1, 0], rtol=1e-12)


def test_identical_components_are_singular_and_reported():
    # Both components at the one-Gaussian MLE: the likelihood does not depend on how the weight is split,
    # an exactly null direction of the information.
    mean = FAITHFUL.mean(axis=0)
    covariance = np.cov(FAITHFUL.T, bias=True)
    params = {
        "weights": np.array([0.5, 0.5]),
        "means": np.stack([mean, mean]),
        "covariances": np.stack([covariance] * 2),
    }
    with pytest.warns(IdentifiabilityWarning, match="singular"):
        result = standard_errors(GAUSSIAN_2, params, FAITHFUL)
    assert result.singular
    assert np.min(np.abs(result.eigenvalues)) < 1e-12 * np.max(np.abs(result.eigenvalues))
    assert any("nearly identical" in p for p in result.problems)
    assert np.all(np.isnan(result.standard_errors["weights"]))
    assert result.condition_number == np.inf


def test_collapsed_poisson_components_are_reported():
    # Counts from ONE Poisson with sample variance below the mean: a two-Poisson mixture is overdispersed,
    # so its MLE is the single Poisson, and EM lands on (nearly) equal rates with a free weight split.
    rng = np.random.default_rng(0)
    counts = rng.poisson(5.0, size=(400, 1)).astype(float)
    assert counts.var() < counts.mean()
    model = jaxem.models.poisson_mixture(2)
    fit = jaxem.fit(model, counts, key=jax.random.key(0), num_restarts=2, tol=1e-13, max_iter=5000)
    with pytest.warns(IdentifiabilityWarning):
        result = standard_errors(model, fit.params, counts)
    assert result.singular
    assert any("components 0 and 1 are nearly identical" in p for p in result.problems)
    assert np.all(np.isfinite(result.standard_errors["rates"]))  # the rates stay identified
    assert np.all(np.isnan(result.standard_errors["weights"]))


def test_an_ignored_parameter_is_singular_and_fixed_excludes_it():
    params = {"theta": jnp.array(THETA_MLE), "unused": jnp.array([1.0, -2.0])}
    with pytest.warns(IdentifiabilityWarning, match="unused"):
        result = standard_errors(LINKAGE, params, CELLS, COUNTS)
    assert result.singular and result.problems
    assert np.all(np.isnan(result.standard_errors["unused"]))
    # theta does not load on the null directions, so it keeps the hand-derived error (exact algebra: 1e-10).
    se = 1 / np.sqrt(linkage_information(THETA_MLE))
    assert abs(float(result.standard_errors["theta"]) / se - 1) < 1e-10

    with warnings.catch_warnings():
        warnings.simplefilter("error", IdentifiabilityWarning)
        held = standard_errors(LINKAGE, params, CELLS, COUNTS, fixed=("unused",))
    assert not held.singular and held.problems == []
    assert held.information.shape == (1, 1) and held.names == [("theta", ())]
    np.testing.assert_array_equal(held.standard_errors["unused"], [0.0, 0.0])
    np.testing.assert_array_equal(held.lower["unused"], [1.0, -2.0])
    assert abs(float(held.standard_errors["theta"]) / se - 1) < 1e-10


def test_argument_errors_are_raised_before_compiling(monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("the information program ran; the arguments should have been refused first")

    monkeypatch.setattr(inference, "_information_jit", never)
    good = {"theta": jnp.array(THETA_MLE)}
    for level in (0.0, 1.0, 1.5, -0.1):
        with pytest.raises(ValueError, match="level"):
            standard_errors(LINKAGE, good, CELLS, COUNTS, level=level)
    for level in ("0.95", True, None):
        with pytest.raises(TypeError, match="level"):
            standard_errors(LINKAGE, good, CELLS, COUNTS, level=level)
    with pytest.raises(ValueError, match=r"fixed must name parameters.*'nope'"):
        standard_errors(LINKAGE, good, CELLS, COUNTS, fixed=("nope",))
    with pytest.raises(TypeError, match="fixed must be a collection"):
        standard_errors(LINKAGE, good, CELLS, COUNTS, fixed="theta")
    with pytest.raises(ValueError, match="at least one free parameter"):
        standard_errors(LINKAGE, good, CELLS, COUNTS, fixed=("theta",))
    with pytest.raises(ValueError, match=r"params\['theta'\].*unit_interval"):
        standard_errors(LINKAGE, {"theta": jnp.array(1.5)}, CELLS, COUNTS)
    with pytest.raises(ValueError, match="weights must have shape"):
        standard_errors(LINKAGE, good, CELLS, COUNTS[:3])
    with pytest.raises(TypeError, match="outside jit"):
        jax.jit(lambda p: standard_errors(LINKAGE, p, CELLS, COUNTS).log_likelihood)(good)
