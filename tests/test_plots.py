"""jaxem.plots: what each plot draws, checked against references (scikit-learn's labels and
covariances, hmmlearn's Viterbi path, the fit's own traces and table), and rendered to PNG."""

import subprocess
import sys
import textwrap

import jax
import matplotlib
import matplotlib.collections
import matplotlib.figure
import numpy as np
import pytest
from hmmlearn import hmm as hmmlearn_hmm
from matplotlib.patches import Ellipse
from sklearn.mixture import GaussianMixture

import jaxem
from jaxem import plots

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # after choosing the backend

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FAITHFUL = jaxem.datasets.load_faithful()
# One fit configuration for every jaxem fit here, so select() reuses the traces test's compiled fit.
FIT = {"num_restarts": 4, "max_iter": 200}


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def check_png(figure, path):
    """Renders ``figure`` to ``path`` and checks it is a PNG of the figure's size with content."""
    figure.savefig(path)
    raw = path.read_bytes()
    assert raw[:8] == PNG_SIGNATURE
    # A blank 640 x 480 figure is ~2-5 kB; scatter points, lines and text make every plot here larger.
    assert len(raw) > 10_000
    image = plt.imread(path)
    width, height = figure.get_size_inches() * figure.dpi
    assert image.shape[:2] == (round(height), round(width))
    assert np.unique(image.reshape(-1, image.shape[-1]), axis=0).shape[0] > 10  # not a flat image


def test_matplotlib_is_optional():
    """``import jaxem`` (and ``import jaxem.plots``) never imports matplotlib; without it a plot says
    how to install it."""
    script = textwrap.dedent(
        """
        import sys
        import jaxem, jaxem.plots
        assert "matplotlib" not in sys.modules, sorted(m for m in sys.modules if m.startswith("matplotlib"))
        sys.modules["matplotlib"] = None  # makes `import matplotlib` fail, as if it were not installed
        try:
            jaxem.plots.traces(None)
        except ImportError as error:
            assert 'pip install "jaxem[plot]"' in str(error), str(error)
        else:
            raise AssertionError("no ImportError without matplotlib")
        """
    )
    completed = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr


# ---------------------------------------------------------------------- mixtures
def full_covariances(covariances, covariance_type, num_components, num_features):
    """scikit-learn's covariances_ of each type as (K, D, D) matrices, written out by hand."""
    if covariance_type == "full":
        return covariances
    if covariance_type == "tied":
        return np.stack([covariances] * num_components)
    if covariance_type == "diag":
        return np.stack([np.diag(c) for c in covariances])
    return np.stack([s * np.eye(num_features) for s in covariances])


def sklearn_params(data, num_components, covariance_type):
    reference = GaussianMixture(num_components, covariance_type=covariance_type, random_state=0).fit(data)
    params = {"weights": reference.weights_, "means": reference.means_, "covariances": reference.covariances_}
    return reference, params


def drawn_labels(ax, data, pair, num_components):
    """Each data row's component, read back from the per-component scatter collections."""
    labels = np.full(data.shape[0], -1)
    scatters = ax.collections
    assert len(scatters) == num_components
    for k, scatter in enumerate(scatters):
        for point in scatter.get_offsets():
            rows = np.flatnonzero(np.all(data[:, pair] == point, axis=1))
            assert rows.size
            labels[rows] = k
    return labels


def check_ellipses(ax, means, covariances, pair, num_std=(1.0, 2.0)):
    """Ellipse (k, n) must be {x : (x - mu_k)^T S^{-1} (x - mu_k) = n^2} for S the pair's block of
    Sigma_k, i.e. R diag(a^2, b^2) R^T = n^2 S with semi-axes a, b and rotation R."""
    ellipses = [patch for patch in ax.patches if isinstance(patch, Ellipse)]
    assert len(ellipses) == means.shape[0] * len(num_std)
    block = np.ix_(pair, pair)
    for index, ellipse in enumerate(ellipses):
        k, n = divmod(index, len(num_std))
        theta = np.radians(ellipse.angle)
        rotation = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
        shape = rotation @ np.diag([(ellipse.width / 2) ** 2, (ellipse.height / 2) ** 2]) @ rotation.T
        # 1e-9 relative: an eigen-decomposition and a trigonometric round trip in float64.
        np.testing.assert_allclose(shape, num_std[n] ** 2 * covariances[k][block], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(ellipse.center, means[k, list(pair)], rtol=1e-12)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_mixture_draws_labels_and_ellipses(covariance_type, tmp_path):
    reference, params = sklearn_params(FAITHFUL, 2, covariance_type)
    if covariance_type == "tied":  # K = D = 2: (2, 2) could be tied or diag; the model says which
        options = {"model": jaxem.models.gaussian_mixture(2, covariance_type="tied")}
    elif covariance_type == "diag":  # and scikit-learn's labels (jaxem.predict is exercised by the others)
        options = {"covariance_type": "diag", "labels": reference.predict(FAITHFUL)}
    else:
        options = {}
    ax = plots.mixture(params, FAITHFUL, **options)
    # Labels are jaxem.predict's at scikit-learn's parameters (diag: given): the same MAP rule, so
    # they must equal scikit-learn's predict exactly (no observation of Old Faithful is near a tie).
    np.testing.assert_array_equal(drawn_labels(ax, FAITHFUL, (0, 1), 2), reference.predict(FAITHFUL))
    covariances = full_covariances(reference.covariances_, covariance_type, 2, 2)
    check_ellipses(ax, reference.means_, covariances, (0, 1))
    assert ax.get_xlabel() == "feature 0" and ax.get_ylabel() == "feature 1"
    check_png(ax.figure, tmp_path / f"mixture_{covariance_type}.png")


def test_mixture_ambiguous_covariances_need_a_type():
    _, params = sklearn_params(FAITHFUL, 2, "diag")
    with pytest.raises(ValueError, match="pass covariance_type"):
        plots.mixture(params, FAITHFUL)
    with pytest.raises(ValueError, match=r"shape \(2, 2, 2\)"):
        plots.mixture(params, FAITHFUL, covariance_type="full")


def test_mixture_grid_of_feature_pairs(tmp_path):
    rng = np.random.default_rng(0)
    data = np.concatenate([rng.normal(0.0, 1.0, (90, 3)), rng.normal([4.0, -3.0, 5.0], [1.0, 0.5, 2.0], (60, 3))])
    reference, params = sklearn_params(data, 2, "full")
    figure = plots.mixture(params, data, labels=reference.predict(data), num_std=(2.0,))
    assert isinstance(figure, matplotlib.figure.Figure)
    # The lower triangle of a 2 x 2 grid, row by row: (x, y) = (0, 1); (0, 2), (1, 2).
    pairs = [(0, 1), (0, 2), (1, 2)]
    assert len(figure.axes) == len(pairs)
    for ax, pair in zip(figure.axes, pairs):
        np.testing.assert_array_equal(drawn_labels(ax, data, pair, 2), reference.predict(data))
        check_ellipses(ax, reference.means_, reference.covariances_, pair, num_std=(2.0,))
    assert [ax.get_xlabel() for ax in figure.axes] == ["", "feature 0", "feature 1"]
    assert [ax.get_ylabel() for ax in figure.axes] == ["feature 1", "feature 2", ""]
    check_png(figure, tmp_path / "mixture_grid.png")

    # Two chosen features make one panel, on the Axes given; a grid cannot go on one Axes.
    _, ax = plt.subplots()
    assert plots.mixture(params, data, features=[2, 0], labels=reference.predict(data), ax=ax) is ax
    check_ellipses(ax, reference.means_, reference.covariances_, (2, 0))
    with pytest.raises(ValueError, match="grid"):
        plots.mixture(params, data, labels=reference.predict(data), ax=ax)


# ---------------------------------------------------------------------- restarts and selection
@pytest.fixture(scope="module")
def faithful_fit():
    model = jaxem.models.gaussian_mixture(2, init="random_points")
    return jaxem.fit(model, FAITHFUL, key=jax.random.key(0), **FIT)


def finite_prefix(trace):
    end = np.flatnonzero(~np.isfinite(trace))
    return trace[: end[0]] if end.size else trace


def test_traces_draw_every_restart(faithful_fit, tmp_path):
    result = faithful_fit
    restarts = result.restarts
    best = int(result.best_restart)
    ax = plots.traces(result)
    lines = ax.get_lines()
    assert [line.get_gid() for line in lines] == [f"restart {r}" for r in range(FIT["num_restarts"])]
    history = np.asarray(restarts.history)
    for r, line in enumerate(lines):
        # A restart that did not fail has num_iterations + 1 objective values (iteration 0 is the start).
        assert len(line.get_ydata()) == int(restarts.num_iterations[r]) + 1
        np.testing.assert_array_equal(line.get_xdata(), np.arange(int(restarts.num_iterations[r]) + 1))
        np.testing.assert_array_equal(line.get_ydata(), history[r, : int(restarts.num_iterations[r]) + 1])
    assert lines[best].get_linewidth() > max(line.get_linewidth() for r, line in enumerate(lines) if r != best)
    assert lines[best].get_ydata()[-1] == float(result.objective)
    assert "objective" in ax.get_ylabel()
    check_png(ax.figure, tmp_path / "traces.png")

    # A failed and a raced restart are styled apart; the failed one ends at its last finite value.
    failed, raced = [r for r in range(FIT["num_restarts"]) if r != best][:2]
    broken = history.copy()
    broken[failed, 3:] = np.nan
    edited = result._replace(restarts=restarts._replace(history=broken, failed=_flag(failed), raced=_flag(raced)))
    ax = plots.traces(edited)
    lines = ax.get_lines()
    assert lines[failed].get_linestyle() == ":" and lines[raced].get_linestyle() == "--"
    assert lines[best].get_linestyle() == "-"
    np.testing.assert_array_equal(lines[failed].get_ydata(), history[failed, :3])
    (marker,) = ax.collections
    np.testing.assert_array_equal(marker.get_offsets(), [[2, history[failed, 2]]])

    # The gap to the best final objective, on a log scale: positive where drawn.
    ax = plots.traces(result, gap=True)
    assert ax.get_yscale() == "log"
    gaps = ax.get_lines()[best].get_ydata()
    expected = float(result.objective) - history[best, : int(restarts.num_iterations[best]) + 1]
    np.testing.assert_array_equal(gaps, np.where(expected > 0, expected, np.nan))


def _flag(index):
    flags = np.zeros(FIT["num_restarts"], bool)
    flags[index] = True
    return flags


def test_selection_draws_one_line_per_group(faithful_fit, tmp_path):
    candidates = [
        jaxem.models.gaussian_mixture(2, init="random_points"),  # compiled by faithful_fit
        jaxem.models.gaussian_mixture(1, init="random_points"),
        jaxem.models.gaussian_mixture(2, covariance_type="spherical", init="random_points"),
    ]
    table = jaxem.select(candidates, FAITHFUL, key=jax.random.key(0), **FIT)
    groups = list(dict.fromkeys(row.group for row in table.rows))
    assert len(groups) == 2
    for criterion in ("bic", "aic"):
        _, ax = plt.subplots()
        assert plots.selection(table, criterion=criterion, ax=ax) is ax
        lines = ax.get_lines()
        assert [line.get_gid() for line in lines] == groups
        for line, group in zip(lines, groups):
            members = sorted((row for row in table.rows if row.group == group), key=lambda row: row.num_states)
            np.testing.assert_array_equal(line.get_xdata(), [row.num_states for row in members])
            np.testing.assert_array_equal(line.get_ydata(), [getattr(row, criterion) for row in members])
        best = min(table.rows, key=lambda row: getattr(row, criterion))
        (star,) = ax.collections
        np.testing.assert_array_equal(star.get_offsets(), [[best.num_states, getattr(best, criterion)]])
        assert ax.get_ylabel() == f"{criterion.upper()} (lower is better)"
        np.testing.assert_array_equal(ax.get_xticks(), [1, 2])
    assert table.rows[table.best] is min(table.rows, key=lambda row: row.bic)
    check_png(plots.selection(table).figure, tmp_path / "selection.png")
    with pytest.raises(ValueError, match="criterion"):
        plots.selection(table, criterion="likelihood")


# ---------------------------------------------------------------------- hidden Markov models
def test_states_draw_the_viterbi_path(tmp_path):
    rng = np.random.default_rng(3)
    params = {
        "initial": np.array([0.6, 0.4]),
        "transition": np.array([[0.9, 0.1], [0.15, 0.85]]),
        "rates": np.array([2.0, 9.0]),
    }
    lengths = np.array([70, 55])
    counts = np.zeros((2, 70), np.int64)
    for s, length in enumerate(lengths):
        state = rng.choice(2, p=params["initial"])
        for t in range(length):
            counts[s, t] = rng.poisson(params["rates"][state])
            state = rng.choice(2, p=params["transition"][state])
    counts[1, 55:] = 1000  # padding: must be neither decoded nor drawn

    ax = plots.states(jaxem.models.poisson_hmm(2), params, counts, lengths=lengths, sequence=1)
    (line,) = ax.get_lines()
    np.testing.assert_array_equal(line.get_xdata(), np.arange(55))
    np.testing.assert_array_equal(line.get_ydata(), counts[1, :55])

    reference = hmmlearn_hmm.PoissonHMM(2, init_params="")
    reference.startprob_, reference.transmat_ = params["initial"], params["transition"]
    reference.lambdas_ = params["rates"][:, None]
    _, expected = reference.decode(counts[1, :55, None], algorithm="viterbi")
    # The drawn states, read back from the per-state markers, must be hmmlearn's float64 Viterbi
    # path exactly (both maximise the same joint; no near-ties in 55 steps of well-separated rates).
    drawn = np.full(55, -1)
    markers = [
        c for c in ax.collections if c.get_offsets().size and isinstance(c, matplotlib.collections.PathCollection)
    ]
    for scatter in markers:
        state = int(scatter.get_gid().split()[1])
        steps = scatter.get_offsets()[:, 0].astype(int)
        np.testing.assert_array_equal(scatter.get_offsets()[:, 1], counts[1, steps])
        drawn[steps] = state
    np.testing.assert_array_equal(drawn, expected)
    # The background: one band collection per state, whose runs cover exactly that state's steps.
    bands = [c for c in ax.collections if not isinstance(c, matplotlib.collections.PathCollection)]
    assert sorted(band.get_gid() for band in bands) == [f"state {k}" for k in sorted(set(expected))]
    for band in bands:
        state = int(band.get_gid().split()[1])
        covered = sum(np.ptp(path.vertices[:, 0]) for path in band.get_paths())
        assert covered == np.sum(expected == state)
    check_png(ax.figure, tmp_path / "states.png")

    with pytest.raises(ValueError, match="sequence"):
        plots.states(jaxem.models.poisson_hmm(2), params, counts, lengths=lengths, sequence=2)
    with pytest.raises(TypeError, match="MarkovModel"):
        plots.states(jaxem.models.poisson_mixture(2), params, counts)
