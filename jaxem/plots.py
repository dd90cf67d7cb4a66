"""Plots of a fit: a Gaussian mixture over its data, the restarts' objective traces, a model-selection
table's criterion against K, and an HMM's decoded states over time.

matplotlib is an optional extra (``pip install "jaxem[plot]"``): ``import jaxem`` never imports it,
and each function here imports it when called. Every function draws on the Axes given as ``ax``
(or on a new figure) and returns what it drew on, an Axes or, for a grid of panels, the Figure; none
calls ``plt.show()``. Component ``k`` (or state ``k``) is drawn in matplotlib's cycle colour ``C{k}``
in every plot.

Ellipses: for a Gaussian component with covariance ``Sigma`` restricted to the two plotted features
(the marginal covariance of that pair), ``Sigma = V diag(l_1, l_2) V^T`` with ``l_1 >= l_2``; the
ellipse at ``n`` standard deviations, ``{x : (x - mu)^T Sigma^{-1} (x - mu) = n^2}``, has semi-axes
``n sqrt(l_1)`` along the first eigenvector ``v_1`` and ``n sqrt(l_2)`` along ``v_2``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jax
import numpy as np

from jaxem.decoding import viterbi
from jaxem.evaluation import predict
from jaxem.families.gaussian import COVARIANCE_TYPES, covariances_shape
from jaxem.markov import MarkovModel

__all__ = ["mixture", "selection", "states", "traces"]

CRITERIA = ("bic", "aic", "icl")
MAX_FEATURES_DRAWN = 4  # states(): every feature up to this many, else the first only


def _pyplot():
    """matplotlib's pyplot, imported on first use (it is an optional extra)."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise ImportError('jaxem.plots needs matplotlib, an optional extra: pip install "jaxem[plot]"') from error
    return plt


def _colour(index: int) -> str:
    return f"C{index % 10}"


def _axes(ax):
    return _pyplot().subplots()[1] if ax is None else ax


# ---------------------------------------------------------------------- mixtures
def _covariance_type(means, covariances, covariance_type):
    """The covariance type of params with these shapes (given, or read from the shapes)."""
    num_components, num_features = means.shape
    if covariance_type is not None:
        if covariance_type not in COVARIANCE_TYPES:
            raise ValueError(f"covariance_type must be one of {COVARIANCE_TYPES}; got {covariance_type!r}.")
        expected = covariances_shape(covariance_type, num_components, num_features)
        if covariances.shape != expected:
            raise ValueError(
                f"params['covariances'] must have shape {expected} for covariance_type={covariance_type!r} with "
                f"K={num_components}, D={num_features}; got shape {covariances.shape}."
            )
        return covariance_type
    matches = [
        kind for kind in COVARIANCE_TYPES if covariances_shape(kind, num_components, num_features) == covariances.shape
    ]
    if not matches:
        raise ValueError(
            f"params['covariances'] has shape {covariances.shape}, which fits no covariance type with "
            f"K={num_components}, D={num_features} (full {(num_components, num_features, num_features)}, diag "
            f"{(num_components, num_features)}, spherical {(num_components,)}, tied {(num_features, num_features)})."
        )
    if len(matches) > 1 and num_components > 1:
        raise ValueError(
            f"params['covariances'] of shape {covariances.shape} with K = D = {num_components} could be any of "
            f"{matches}; pass covariance_type."
        )
    return matches[0]


def _full_covariances(covariances, covariance_type, num_components, num_features):
    """(K, D, D) covariance matrices from any of the four covariance types."""
    if covariance_type == "full":
        return covariances
    if covariance_type == "tied":
        return np.broadcast_to(covariances, (num_components, num_features, num_features))
    if covariance_type == "diag":
        return covariances[:, :, None] * np.eye(num_features)
    return covariances[:, None, None] * np.eye(num_features)


def _check_features(features, num_features, name="features"):
    if features is None:
        return tuple(range(num_features))
    chosen = tuple(int(f) for f in np.atleast_1d(features))
    if len(set(chosen)) != len(chosen) or any(not 0 <= f < num_features for f in chosen):
        raise ValueError(f"{name} must be distinct feature indices in [0, {num_features}); got {features!r}.")
    return chosen


def _ellipse_patches(mean, covariance, num_std, colour):
    """One ``Ellipse`` per entry of ``num_std`` for a 2-D mean and 2 x 2 covariance."""
    from matplotlib.patches import Ellipse

    values, vectors = np.linalg.eigh(covariance)  # ascending: the major axis is the last eigenvector
    values = np.clip(values, 0.0, None)
    angle = float(np.degrees(np.arctan2(vectors[1, 1], vectors[0, 1])))
    return [
        Ellipse(
            tuple(mean),
            2.0 * n * np.sqrt(values[1]),
            2.0 * n * np.sqrt(values[0]),
            angle=angle,
            fill=False,
            edgecolor=colour,
            linewidth=1.5 if index == 0 else 1.0,
            linestyle="-" if index == 0 else "--",
            gid=f"ellipse {n:g} sd",
        )
        for index, n in enumerate(num_std)
    ]


def _draw_pair(ax, data, labels, means, covariances, pair, num_std, point_size):
    i, j = pair
    for k in range(means.shape[0]):
        members = labels == k
        ax.scatter(
            data[members, i],
            data[members, j],
            s=point_size,
            color=_colour(k),
            alpha=0.6,
            linewidths=0,
            label=f"component {k}",
        )
    for k in range(means.shape[0]):
        for patch in _ellipse_patches(means[k, [i, j]], covariances[k][np.ix_([i, j], [i, j])], num_std, _colour(k)):
            ax.add_patch(patch)
        ax.plot(means[k, i], means[k, j], marker="+", markersize=10, color="k", linestyle="none", gid=f"mean {k}")


def mixture(
    params,
    data,
    *,
    covariance_type: str | None = None,
    labels=None,
    model=None,
    features=None,
    feature_names: Sequence[str] | None = None,
    num_std: Sequence[float] = (1.0, 2.0),
    point_size: float = 12.0,
    ax=None,
):
    """The data coloured by hard label and each Gaussian component's ellipses, on pairs of features.

    Each component ``k`` gets one ellipse per entry of ``num_std`` (1 and 2 standard deviations by
    default) from the eigen-decomposition of its covariance restricted to the plotted pair (see the
    module docstring), and a ``+`` at its mean.

    Args:
      params: Gaussian mixture parameters: ``means`` (K, D) and ``covariances`` of any
        covariance type (full (K, D, D), diag (K, D), spherical (K,), tied (D, D)); ``weights``
        (K,) too when ``labels`` is not given.
      data: (N, D) array.
      covariance_type: needed only when the shape of ``covariances`` leaves it open (diag and
        tied when K = D > 1) and ``model`` is not a built-in Gaussian mixture (whose type is
        read from it); otherwise read from the shapes.
      labels: optional (N,) integer labels in [0, K); by default :func:`jaxem.predict` of
        ``model`` (by default ``jaxem.models.gaussian_mixture(K, covariance_type=...)``).
      model: the model whose :func:`jaxem.predict` gives the labels (ignored with ``labels``).
      features: which features to plot (default all). Two features give one panel; more give
        the lower triangle of a grid with a panel for every pair.
      feature_names: optional names of the D features for the axis labels.
      num_std: the ellipses' sizes in standard deviations.
      point_size: scatter marker size.
      ax: the Axes to draw one pair on (not for a grid).

    Returns:
      The Axes for one pair of features, else the Figure of the grid.

    Example:
      >>> result = jaxem.fit(jaxem.models.gaussian_mixture(2), faithful, key=jax.random.key(0))
      >>> jaxem.plots.mixture(result.params, faithful).figure.savefig("faithful.png")
    """
    plt = _pyplot()
    if not isinstance(params, Mapping) or not {"means", "covariances"} <= set(params):
        raise TypeError(
            "params must be a dict with 'means' and 'covariances' (e.g. result.params of a Gaussian mixture); got "
            f"{type(params).__name__}{sorted(params) if isinstance(params, Mapping) else ''}."
        )
    means = np.asarray(params["means"], float)
    covariances = np.asarray(params["covariances"], float)
    if means.ndim != 2:
        raise ValueError(f"params['means'] must have shape (K, D); got shape {means.shape}.")
    num_components, num_features = means.shape
    data = np.asarray(data, float)
    if data.ndim != 2 or data.shape[1] != num_features:
        raise ValueError(f"data must have shape (N, D={num_features}) to match params['means']; got {data.shape}.")
    if covariance_type is None and model is not None:
        from jaxem.models import specification

        spec = specification.describe(model)
        covariance_type = None if spec is None else spec["kwargs"].get("covariance_type")
    covariance_type = _covariance_type(means, covariances, covariance_type)
    covariances = _full_covariances(covariances, covariance_type, num_components, num_features)
    features = _check_features(features, num_features)
    if len(features) < 2:
        raise ValueError(f"features must name at least two features to plot against each other; got {features}.")
    if feature_names is None:
        feature_names = [f"feature {d}" for d in range(num_features)]
    elif len(feature_names) != num_features:
        raise ValueError(f"feature_names must have one name per feature ({num_features}); got {len(feature_names)}.")
    num_std = tuple(float(n) for n in np.atleast_1d(num_std))
    if not num_std or not all(n > 0 for n in num_std):
        raise ValueError(f"num_std must be positive numbers of standard deviations; got {num_std}.")
    if labels is None:
        if model is None:
            from jaxem.models import gaussian_mixture

            model = gaussian_mixture(num_components, covariance_type=covariance_type)
        labels = predict(model, params, data)
    labels = np.asarray(labels)
    if labels.shape != (data.shape[0],) or labels.dtype.kind not in "iu":
        raise ValueError(f"labels must be integers of shape ({data.shape[0]},); got {labels.dtype} {labels.shape}.")
    if labels.size and not (labels.min() >= 0 and labels.max() < num_components):
        raise ValueError(f"labels must lie in [0, K={num_components}); got {labels.min()}..{labels.max()}.")

    arguments = (data, labels, means, covariances)
    if len(features) == 2:
        ax = _axes(ax)
        _draw_pair(ax, *arguments, features, num_std, point_size)
        ax.set_xlabel(feature_names[features[0]])
        ax.set_ylabel(feature_names[features[1]])
        ax.legend(loc="best", fontsize="small")
        return ax
    if ax is not None:
        raise ValueError(
            f"ax draws one pair of features; {len(features)} features make a grid of pairs. Pass ax=None, or "
            "features with two entries."
        )
    size = len(features) - 1
    figure, grid = plt.subplots(size, size, figsize=(3.0 * size, 3.0 * size), squeeze=False)
    for row in range(size):
        for column in range(size):
            panel = grid[row, column]
            if column > row:
                panel.remove()
                continue
            _draw_pair(panel, *arguments, (features[column], features[row + 1]), num_std, point_size)
            if row == size - 1:
                panel.set_xlabel(feature_names[features[column]])
            if column == 0:
                panel.set_ylabel(feature_names[features[row + 1]])
    handles, names = grid[0, 0].get_legend_handles_labels()
    figure.legend(handles, names, loc="upper right", fontsize="small")
    figure.tight_layout()
    return figure


# ---------------------------------------------------------------------- restarts
def _finite_prefix(trace):
    """The trace up to (not including) its first non-finite entry (NaN padding, or a failure)."""
    bad = ~np.isfinite(trace)
    return trace[: int(np.argmax(bad))] if bad.any() else trace


def traces(result, *, gap: bool = False, ax=None):
    """Every restart's objective trace, the best restart highlighted.

    The objective is the fit's (``log_likelihood + log_prior``, summed over the weighted
    observations) after 0, 1, ... M-steps, from ``result.restarts.history``; each trace stops
    where its NaN padding starts. Failed restarts (``restarts.failed``) are dotted, with an ``x``
    at their last finite value; restarts stopped by racing (``restarts.raced``) are dashed.

    Args:
      result: a :class:`jaxem.FitResult`.
      gap: plot ``best final objective - objective`` on a log scale instead (how fast each
        restart approaches the best; entries at or below zero are not drawn).
      ax: optional Axes to draw on.

    Returns:
      The Axes; line ``r`` (``gid`` ``"restart r"``) is restart ``r``.

    Example:
      >>> jaxem.plots.traces(jaxem.fit(model, data, key=jax.random.key(0))).figure.savefig("traces.png")
    """
    _pyplot()
    from matplotlib.ticker import MaxNLocator

    restarts = getattr(result, "restarts", None)
    if restarts is None or not hasattr(restarts, "history"):
        raise TypeError(f"result must be a jaxem.FitResult (with restarts.history); got {type(result).__name__}.")
    history = np.asarray(restarts.history, float)
    if history.ndim != 2:
        raise ValueError(f"result.restarts.history must have shape (restarts, max_iter + 1); got {history.shape}.")
    num_restarts = history.shape[0]
    best = int(np.asarray(result.best_restart))
    failed = np.asarray(getattr(restarts, "failed", np.zeros(num_restarts, bool)), bool).reshape(num_restarts)
    raced = np.asarray(getattr(restarts, "raced", np.zeros(num_restarts, bool)), bool).reshape(num_restarts)
    best_trace = _finite_prefix(history[best])
    reference = best_trace[-1] if best_trace.size else np.nan
    ax = _axes(ax)
    styles = {
        "best": {"color": "C3", "linewidth": 2.2, "zorder": 4},
        "failed": {"color": "C1", "linewidth": 1.0, "linestyle": ":", "zorder": 3},
        "raced": {"color": "0.55", "linewidth": 1.0, "linestyle": "--", "zorder": 2},
        "other": {"color": "C0", "linewidth": 1.0, "alpha": 0.6, "zorder": 2},
    }
    names = {
        "best": f"best (restart {best})",
        "failed": "failed",
        "raced": "stopped by racing",
        "other": "other restarts",
    }
    shown = set()
    for index in range(num_restarts):
        kind = "best" if index == best else "failed" if failed[index] else "raced" if raced[index] else "other"
        trace = _finite_prefix(history[index])
        values = reference - trace if gap else trace
        if gap:
            values = np.where(values > 0, values, np.nan)
        label = names[kind] if kind not in shown else "_nolegend_"
        shown.add(kind)
        ax.plot(np.arange(trace.size), values, label=label, gid=f"restart {index}", **styles[kind])
        if kind == "failed" and trace.size:
            ax.scatter([trace.size - 1], [values[-1]], marker="x", color=styles["failed"]["color"], zorder=5)
    if gap:
        ax.set_yscale("log")
        ax.set_ylabel("best final objective - objective (log scale)")
    else:
        ax.set_ylabel("objective (log-likelihood + log prior, summed)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("M-steps")
    ax.set_title(f"EM traces of {num_restarts} restart{'s' if num_restarts != 1 else ''}")
    ax.legend(loc="best", fontsize="small")
    return ax


# ---------------------------------------------------------------------- model selection
def selection(table, *, criterion: str | None = None, ax=None):
    """A model-selection criterion against K from a :class:`jaxem.Selection`, one line per group.

    A group is a kind of candidate that differs only in its number of states (e.g. one covariance
    type); each line joins its candidates in order of K. Lower is better (scikit-learn's sign); the
    best candidate by the criterion is starred. Failed candidates (NaN) leave gaps.

    Args:
      table: the :class:`jaxem.Selection` of :func:`jaxem.select`.
      criterion: ``"bic"``, ``"aic"`` or ``"icl"``; default the table's.
      ax: optional Axes to draw on.

    Returns:
      The Axes; the line of group ``g`` has ``gid`` ``g``.

    Example:
      >>> jaxem.plots.selection(jaxem.select(candidates, faithful, key=jax.random.key(0)))
    """
    _pyplot()
    if not all(hasattr(table, name) for name in ("rows", "criterion", "best")):
        raise TypeError(f"table must be a jaxem.Selection (from jaxem.select); got {type(table).__name__}.")
    criterion = table.criterion if criterion is None else criterion
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}; got {criterion!r}.")
    rows = table.rows
    groups: dict[str, list] = {}
    for row in rows:
        groups.setdefault(row.group, []).append(row)
    ax = _axes(ax)
    for index, (group, members) in enumerate(groups.items()):
        members = sorted(members, key=lambda row: row.num_states)
        ax.plot(
            [row.num_states for row in members],
            [getattr(row, criterion) for row in members],
            marker="o",
            color=_colour(index),
            label=group,
            gid=group,
        )
    scores = np.array([getattr(row, criterion) for row in rows], float)
    if criterion == table.criterion:
        best = table.best
    else:
        best = None if np.all(np.isnan(scores)) else int(np.nanargmin(scores))
    if best is not None:
        row = rows[best]
        ax.scatter(
            [row.num_states],
            [getattr(row, criterion)],
            marker="*",
            s=260,
            facecolor="gold",
            edgecolor="k",
            zorder=5,
            label=f"best: {row.name}",
        )
    ax.set_xticks(sorted({row.num_states for row in rows}))
    ax.set_xlabel("number of components or states K")
    ax.set_ylabel(f"{criterion.upper()} (lower is better)")
    ax.legend(loc="best", fontsize="small")
    return ax


# ---------------------------------------------------------------------- hidden Markov models
def _runs(path):
    """``(state, start, length)`` of each run of equal consecutive states."""
    starts = np.flatnonzero(np.r_[True, path[1:] != path[:-1]])
    lengths = np.diff(np.r_[starts, path.size])
    return [(int(path[s]), int(s), int(n)) for s, n in zip(starts, lengths)]


def states(model, params, data, *, lengths=None, sequence: int = 0, features=None, ax=None):
    """An HMM's Viterbi states over one sequence: its observations over time, the background and
    the markers coloured by decoded state.

    Args:
      model: a :class:`jaxem.MarkovModel`.
      params: its parameters (e.g. ``result.params``).
      data: pytree of leaves (S, T, ...) as for :func:`jaxem.fit`; the first leaf is drawn.
      lengths: optional (S,) sequence lengths (padding is not drawn).
      sequence: which sequence to draw.
      features: which features of the (flattened) observations to draw; default every feature
        when there are at most 4, else the first.
      ax: optional Axes to draw on.

    Returns:
      The Axes: one line per drawn feature (``gid`` ``"feature d"``), one background collection
      and one scatter per decoded state (``gid`` ``"state k"``).

    Example:
      >>> jaxem.plots.states(hmm, result.params, counts, lengths=lengths, sequence=2)
    """
    _pyplot()
    if not isinstance(model, MarkovModel):
        raise TypeError(f"model must be a jaxem.MarkovModel (an HMM); got {type(model).__name__}.")
    leaves = jax.tree.leaves(data)
    if not leaves or np.ndim(leaves[0]) < 2:
        shapes = [np.shape(leaf) for leaf in leaves]
        raise ValueError(f"data leaves must have shape (num_sequences, T, ...); got leaf shapes {shapes}.")
    num_sequences = np.shape(leaves[0])[0]
    if isinstance(sequence, bool) or not isinstance(sequence, (int, np.integer)) or not 0 <= sequence < num_sequences:
        raise ValueError(f"sequence must be an integer in [0, {num_sequences}); got {sequence!r}.")
    sequence = int(sequence)
    one = jax.tree.map(lambda leaf: np.asarray(leaf)[sequence : sequence + 1], data)
    if lengths is not None:
        lengths = np.asarray(lengths)
        if lengths.shape != (num_sequences,):
            raise ValueError(f"lengths must have shape ({num_sequences},), one per sequence; got {lengths.shape}.")
        lengths = lengths[sequence : sequence + 1]
    path = np.asarray(viterbi(model, params, one, lengths=lengths))[0]
    path = path[path >= 0]  # padding is -1, at the end
    observations = np.asarray(leaves[0])[sequence, : path.size].reshape(path.size, -1)
    num_features = observations.shape[1]
    if features is None:
        features = tuple(range(num_features)) if num_features <= MAX_FEATURES_DRAWN else (0,)
    features = _check_features(features, num_features)
    steps = np.arange(path.size)
    ax = _axes(ax)
    runs = _runs(path)
    for state in sorted(set(path.tolist())):
        ax.broken_barh(
            [(start - 0.5, length) for k, start, length in runs if k == state],
            (0.0, 1.0),
            transform=ax.get_xaxis_transform(),
            facecolors=_colour(state),
            alpha=0.18,
            linewidth=0,
            gid=f"state {state}",
            label=f"state {state}",
        )
    line_styles = ("-", "--", ":", "-.")
    for index, feature in enumerate(features):
        name = f"feature {feature}" if num_features > 1 else "observation"
        ax.plot(
            steps,
            observations[:, feature],
            color="0.25",
            linewidth=0.8,
            linestyle=line_styles[index % len(line_styles)],
            label=name if len(features) > 1 else "_nolegend_",
            gid=f"feature {feature}",
        )
        for state in sorted(set(path.tolist())):
            at = path == state
            ax.scatter(steps[at], observations[at, feature], s=10, color=_colour(state), zorder=3, gid=f"state {state}")
    ax.set_xlim(-0.5, path.size - 0.5)
    ax.set_xlabel("step")
    ax.set_ylabel(
        "observations" if len(features) > 1 else f"feature {features[0]}" if num_features > 1 else "observation"
    )
    ax.set_title(f"sequence {sequence}: Viterbi states")
    ax.legend(loc="best", fontsize="small")
    return ax
