"""Progress reports from inside the compiled EM loop, throttled by wall time.

A fit with ``progress`` compiles one host callback into its ``while_loop``.
The loop carries the iteration at which the next report is due; when it
comes, the callback runs on the host with the iteration, the best objective
so far and the number of restarts still running, hands them to the
reporter, and returns the next due iteration, chosen from the measured time
per iteration so that reports come about ``interval`` seconds apart. So the
loop leaves the device about once per interval (plus twice at the start, to
measure), whatever an iteration costs.

The callback is one module-level function and the reporter of the running
fit is looked up when it is called, so fits with and without different
reporters share the compiled program (only *whether* a fit reports is
static). One fit reports at a time per process; a second thread's fit with
``progress`` waits for the first.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import io_callback

__all__ = ["DEFAULT_INTERVAL", "Progress", "Reporter", "check_progress", "print_report", "reporting"]

DEFAULT_INTERVAL = 1.0  # seconds between reports


class Progress(NamedTuple):
    """One report: ``iteration`` (EM steps so far), ``best_objective`` (highest objective among
    the restarts that have not failed), ``num_running`` of ``num_restarts`` still stepping, and
    ``elapsed`` seconds since the loop started. ``done`` marks the report after the loop ends."""

    iteration: int
    best_objective: float
    num_running: int
    num_restarts: int
    elapsed: float
    done: bool = False


def print_report(report: Progress, file=None) -> None:
    """The default reporter: one line per report on stderr."""
    state = "done" if report.done else f"{report.num_running} of {report.num_restarts} restarts running"
    print(
        f"jaxem: iteration {report.iteration:>5d}  best objective {report.best_objective:.6g}  {state}  "
        f"{report.elapsed:.1f} s",
        file=sys.stderr if file is None else file,
        flush=True,
    )


class Reporter:
    """The host side of one fit's reports: the user's callable, the interval and the clock."""

    def __init__(self, callback: Callable[[Progress], None], interval: float):
        self.callback = callback
        self.interval = interval
        self.start = None
        self.last = None  # (time, iteration) of the previous report

    def __call__(self, iteration, best, running, num_restarts) -> int:
        now = time.perf_counter()
        iteration = int(iteration)
        if self.start is None:
            self.start = now
        self.callback(Progress(iteration, float(best), int(running), int(num_restarts), now - self.start))
        if self.last is None or iteration <= self.last[1]:
            step = 1  # measure one iteration first
        else:
            per_iteration = max((now - self.last[0]) / (iteration - self.last[1]), 1e-9)
            step = max(1, min(math.ceil(self.interval / per_iteration), 2**30))
        self.last = (now, iteration)
        return iteration + step

    def finish(self, iteration, best, running, num_restarts):
        elapsed = 0.0 if self.start is None else time.perf_counter() - self.start
        self.callback(Progress(int(iteration), float(best), int(running), int(num_restarts), elapsed, True))


_active: list[Reporter | None] = [None]
_lock = threading.Lock()


def _host(iteration, best, running, num_restarts):
    reporter = _active[0]
    due = int(iteration) + 2**30 if reporter is None else reporter(iteration, best, running, num_restarts)
    return np.asarray(due, np.int32)


def report(due, iteration, best, running, num_restarts, axis_name=None):
    """Traced, in the loop: when ``iteration >= due`` call the host and return its next due
    iteration, else ``due`` unchanged. Inside a ``shard_map`` over ``axis_name`` only the first
    device calls the host, and its answer is shared so every device runs the same iterations."""
    first = True if axis_name is None else jax.lax.axis_index(axis_name) == 0

    def call():
        return io_callback(_host, jax.ShapeDtypeStruct((), jnp.int32), iteration, best, running, num_restarts)

    new = jax.lax.cond((iteration >= due) & first, call, lambda: due)
    if axis_name is not None:
        new = jax.lax.psum(jnp.where(first, new, 0), axis_name)
    return new


class reporting:
    """Context manager making ``reporter`` the one the loop's callback reaches during a fit."""

    def __init__(self, reporter: Reporter | None):
        self.reporter = reporter

    def __enter__(self):
        if self.reporter is not None:
            _lock.acquire()
            _active[0] = self.reporter
        return self.reporter

    def __exit__(self, *exc):
        if self.reporter is not None:
            _active[0] = None
            _lock.release()
        return False


def check_progress(progress, interval) -> Reporter | None:
    """``progress`` (None/False, True, or a callable taking a :class:`Progress`) as a Reporter."""
    if progress is None or progress is False:
        return None
    if not (isinstance(interval, (int, float)) and not isinstance(interval, bool) and interval >= 0):
        raise ValueError(f"progress_interval must be a non-negative number of seconds; got {interval!r}.")
    if progress is True:
        return Reporter(print_report, float(interval))
    if callable(progress):
        return Reporter(progress, float(interval))
    raise TypeError(f"progress must be None, True or a callable taking a jaxem.progress.Progress; got {progress!r}.")
