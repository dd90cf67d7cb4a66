"""Progress reports from inside the compiled loop: they come, they say the truth, and they change nothing."""

import io

import jax
import numpy as np
import pytest

import jaxem
from jaxem import progress

FAITHFUL = np.asarray(jaxem.datasets.load_faithful())
MODEL = jaxem.models.gaussian_mixture(2, covariance_type="diag")


def _fit(**options):
    return jaxem.fit(MODEL, FAITHFUL, key=jax.random.key(0), num_restarts=4, tol=1e-9, **options)


def test_reports_come_from_the_loop_and_results_are_unchanged():
    reports = []
    with_reports = _fit(progress=reports.append, progress_interval=0.0)
    plain = _fit()
    for a, b in zip(jax.tree.leaves(with_reports.restarts), jax.tree.leaves(plain.restarts)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))  # bit for bit: reporting reads, never writes
    # interval 0: a report after every loop iteration, then the final one
    last_iteration = int(np.max(np.asarray(plain.restarts.num_iterations)))
    assert [r.iteration for r in reports[:-1]] == list(range(1, last_iteration + 1))
    assert reports[-1].done and reports[-1].num_running == 0
    # what a report says matches the restarts' histories at that iteration
    history = np.asarray(plain.restarts.history)
    for report in reports[:-1]:
        column = history[:, report.iteration]
        running = np.asarray(plain.restarts.num_iterations) >= report.iteration
        expected_best = np.nanmax(
            np.where(running, column, history[np.arange(4), np.asarray(plain.restarts.num_iterations)])
        )
        assert report.best_objective == pytest.approx(expected_best, rel=1e-12)
        assert report.num_running == int(np.sum(np.asarray(plain.restarts.num_iterations) > report.iteration))
        assert report.num_restarts == 4
    assert reports[-1].best_objective == pytest.approx(float(plain.objective), rel=1e-12)


def test_reports_are_throttled_by_wall_time():
    reports = []
    _fit(progress=reports.append, progress_interval=3600.0)
    # two reports to measure an iteration, then none for an hour, then the final one
    assert [r.iteration for r in reports[:-1]] == [1, 2] and reports[-1].done


def test_true_prints_lines_and_the_compiled_program_is_shared(capsys):
    _fit(progress=True, progress_interval=0.0)
    err = capsys.readouterr().err
    assert "jaxem: iteration" in err and "restarts running" in err and "done" in err
    # a different reporter reuses the program compiled for the first
    reports = []
    size = jaxem.driver._fit_jit._cache_size()
    _fit(progress=reports.append)
    assert jaxem.driver._fit_jit._cache_size() == size and reports


def test_print_report_format():
    out = io.StringIO()
    progress.print_report(progress.Progress(12, -1130.5, 3, 8, 2.5), file=out)
    assert out.getvalue() == "jaxem: iteration    12  best objective -1130.5  3 of 8 restarts running  2.5 s\n"


def test_bad_progress_arguments():
    with pytest.raises(TypeError, match="progress must be None, True or a callable"):
        _fit(progress="yes")
    with pytest.raises(ValueError, match="progress_interval must be a non-negative number"):
        _fit(progress=True, progress_interval=-1)
