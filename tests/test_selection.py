"""Free parameters, BIC/AIC/ICL and model selection against scikit-learn and hmmlearn.

The criteria are compared at the SAME parameters (jaxem's fitted ones copied
into the reference estimator), so the only differences are rounding: the
issue asks for 1e-8 and the values are O(1e3), so an absolute 1e-8 is a
relative 1e-11, well above float64 rounding of sums over a few hundred terms.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hmmlearn import hmm as hmmlearn_hmm
from sklearn.mixture import GaussianMixture
from sklearn.mixture._gaussian_mixture import _compute_precision_cholesky

import jaxem

FAITHFUL = np.asarray(jaxem.datasets.load_faithful())


def _sklearn_at(params, covariance_type):
    reference = GaussianMixture(len(params["weights"]), covariance_type=covariance_type)
    reference.weights_ = np.asarray(params["weights"])
    reference.means_ = np.asarray(params["means"])
    reference.covariances_ = np.asarray(params["covariances"])
    reference.precisions_cholesky_ = _compute_precision_cholesky(reference.covariances_, covariance_type)
    return reference


@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical", "tied"])
def test_bic_aic_icl_equal_scikit_learn_at_the_same_parameters(covariance_type):
    model = jaxem.models.gaussian_mixture(3, covariance_type=covariance_type)
    result = jaxem.fit(model, FAITHFUL, key=jax.random.key(0), num_restarts=2)
    reference = _sklearn_at(result.params, covariance_type)
    values = jaxem.criteria(model, result.params, FAITHFUL)
    assert values.num_parameters == reference._n_parameters()
    assert values.num_observations == FAITHFUL.shape[0]
    assert abs(values.bic - reference.bic(FAITHFUL)) < 1e-8
    assert abs(values.aic - reference.aic(FAITHFUL)) < 1e-8
    assert abs(values.log_likelihood - reference.score(FAITHFUL) * FAITHFUL.shape[0]) < 1e-8
    # ICL (mclust's, lower-is-better sign): BIC - 2 sum_i log max_k p(k | x_i), from sklearn's posteriors
    entropy = -np.sum(np.log(np.max(reference.predict_proba(FAITHFUL), axis=1)))
    assert abs(values.icl - (reference.bic(FAITHFUL) + 2 * entropy)) < 1e-8
    assert values.icl >= values.bic


def test_weighted_criteria_count_weighted_observations():
    # Integer weights equal repeating the rows: every criterion must match the repeated data.
    model = jaxem.models.gaussian_mixture(2)
    params = jaxem.fit(model, FAITHFUL, key=jax.random.key(0), num_restarts=2).params
    weights = np.tile([1.0, 2.0, 3.0, 0.0], FAITHFUL.shape[0] // 4)
    repeated = np.repeat(FAITHFUL, weights.astype(int), axis=0)
    weighted, plain = jaxem.criteria(model, params, FAITHFUL, weights), jaxem.criteria(model, params, repeated)
    np.testing.assert_allclose(weighted[:6], plain[:6], rtol=1e-12)


@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical", "tied"])
def test_gaussian_hmm_criteria_equal_hmmlearn(covariance_type):
    rng = np.random.default_rng(0)
    steps = np.concatenate([rng.normal(m, 1.0, (40, 2)) for m in (-3.0, 2.0, -3.0, 2.0, 5.0)])
    lengths = np.array([120, 80])
    model = jaxem.models.gaussian_hmm(3, covariance_type=covariance_type)
    sequences = np.zeros((2, 120, 2))
    sequences[0], sequences[1, :80] = steps[:120], steps[120:]
    result = jaxem.fit(model, sequences, lengths=lengths, key=jax.random.key(0), num_restarts=2, max_iter=30)
    p = result.params
    reference = hmmlearn_hmm.GaussianHMM(3, covariance_type=covariance_type, init_params="")
    reference.startprob_, reference.transmat_, reference.means_ = (
        np.asarray(p[k]) for k in ("initial", "transition", "means")
    )
    reference.covars_ = np.asarray(p["covariances"])  # hmmlearn takes each type in its own shape, as jaxem
    reference.n_features = 2
    values = jaxem.criteria(model, p, sequences, lengths=lengths)
    assert values.num_observations == 200
    assert abs(values.log_likelihood - reference.score(steps, lengths)) < 1e-8
    assert abs(values.bic - reference.bic(steps, lengths)) < 1e-8
    assert abs(values.aic - reference.aic(steps, lengths)) < 1e-8


def test_fixed_parameters_are_not_counted():
    model = jaxem.models.poisson_hmm(3)
    params = {"initial": jnp.full(3, 1 / 3), "transition": jnp.full((3, 3), 1 / 3), "rates": jnp.ones(3)}
    assert jaxem.num_parameters(model, params) == 2 + 6 + 3
    assert jaxem.num_parameters(model, params, fixed=("transition",)) == 2 + 3
    with pytest.raises(ValueError, match="fixed must name parameters"):
        jaxem.num_parameters(model, params, fixed=("lambdas",))


def test_user_model_counts_from_its_constraints():
    # The README's two-component model: weights on the simplex (1 free), two means, two scales = 5;
    # a user constraint with its own free entries is honoured.
    def log_joint(params, x, z):
        return jnp.log(params["weights"][z]) + jax.scipy.stats.norm.logpdf(x, params["means"][z], params["scales"][z])

    constraints = {"weights": jaxem.constraints.simplex, "scales": jaxem.constraints.positive}
    model = jaxem.Model(log_joint, num_states=2, constraints=constraints)
    params = {"weights": jnp.full(2, 0.5), "means": jnp.zeros(2), "scales": jnp.ones(2)}
    assert jaxem.num_parameters(model, params) == 5
    half = jaxem.constraints.Constraint(
        "first_half", lambda u: u, lambda x: x, free=lambda shape: np.arange(shape[-1]) < 1
    )
    covariance = {"c": jnp.eye(3), "m": jnp.zeros((2, 3))}
    tree = jaxem.Model(log_joint, num_states=2, constraints={"c": jaxem.constraints.positive_definite, "m": half})
    assert jaxem.num_parameters(tree, covariance) == 6 + 2


def test_select_tabulates_and_marks_the_best():
    candidates = jaxem.selection.gaussian_mixtures(range(1, 4), covariance_types=("full", "spherical"))
    table = jaxem.select(candidates, FAITHFUL, key=jax.random.key(0), num_restarts=4, criterion="bic")
    assert [row.name for row in table.rows] == list(candidates)
    for row in table.rows:
        reference = _sklearn_at(row.result.params, row.model.log_joint.family.covariance_type)
        assert abs(row.bic - reference.bic(FAITHFUL)) < 1e-8
        assert row.num_parameters == reference._n_parameters()
    bics = [row.bic for row in table.rows]
    assert table.best == int(np.argmin(bics))
    assert table.best_model == table.rows[table.best].model
    text = str(table)
    assert text.count("\n") == len(table.rows) + 1 and "*" in text.splitlines()[table.best + 1][:2]
    by_aic = jaxem.select(candidates, FAITHFUL, key=jax.random.key(0), num_restarts=4, criterion="aic")
    assert by_aic.best == int(np.argmin([row.aic for row in by_aic.rows]))


def test_select_keeps_a_failed_candidate_and_checks_its_arguments():
    with pytest.raises(ValueError, match="criterion must be one of"):
        jaxem.select([jaxem.models.gaussian_mixture(1)], FAITHFUL, key=jax.random.key(0), criterion="BIC2")
    with pytest.raises(ValueError, match="at least one model"):
        jaxem.select([], FAITHFUL, key=jax.random.key(0))
    with pytest.raises(TypeError, match="candidates must be jaxem models"):
        jaxem.select({"a": 3}, FAITHFUL, key=jax.random.key(0))

    def log_joint(params, x, z):  # every restart fails: the objective is NaN
        return jnp.nan * params["m"][z] + jnp.sum(x)

    broken = jaxem.Model(log_joint, num_states=2, init=lambda key, data: {"m": jnp.zeros(2)})
    candidates = {"broken": broken, "good": jaxem.models.gaussian_mixture(2)}
    with pytest.warns(jaxem.FitWarning):
        table = jaxem.select(candidates, FAITHFUL, key=jax.random.key(0), num_restarts=2)
    assert table.rows[0].error is not None and np.isnan(table.rows[0].bic)
    assert table.best == 1 and "failed" in str(table)


def test_a_component_collapsed_on_repeated_values_is_degenerate_and_passed_over():
    # 60 spread points and 15 copies of one point: a second component sits on the copies with a
    # covariance of reg_covar * I (the likelihood spike reg_covar alone bounds).
    rng = np.random.default_rng(0)
    data = np.concatenate([rng.normal(0.0, 1.0, (60, 2)), np.full((15, 2), 4.0)])
    two = jaxem.models.gaussian_mixture(2, covariance_type="full")
    with pytest.warns(jaxem.DegenerateFitWarning, match="reg_covar floor"):
        result = jaxem.fit(two, data, key=jax.random.key(0), num_restarts=4)
    assert bool(result.degenerate)
    smallest = np.min(np.linalg.eigvalsh(np.asarray(result.params["covariances"])))
    assert smallest <= 2e-6  # the floor: reg_covar = 1e-6 plus the copies' zero spread
    candidates = {"one": jaxem.models.gaussian_mixture(1), "two": two}
    with pytest.warns(jaxem.DegenerateFitWarning):
        table = jaxem.select(candidates, data, key=jax.random.key(0), num_restarts=4)
    assert table.rows[1].degenerate and table.rows[1].bic < table.rows[0].bic  # the spike wins on BIC ...
    assert table.best == 0 and "degenerate" in str(table)  # ... and is passed over
