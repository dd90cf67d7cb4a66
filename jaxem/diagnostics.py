"""What a fit says about itself: the error when every restart failed, and the warnings.

The per-restart flags (``failed``, ``degenerate``, ``converged``) are in the
results; nothing is only a flag. :func:`warn_about` turns them into warnings
of jaxem's own classes, all subclasses of :class:`FitWarning` (a
``UserWarning``), so they can be filtered together or one by one.
"""

from __future__ import annotations

import warnings

import numpy as np

__all__ = [
    "ConvergenceWarning",
    "DegenerateFitWarning",
    "FailedRestartsWarning",
    "FitError",
    "FitWarning",
    "failure_message",
    "warn_about",
]


class FitError(RuntimeError):
    """Every restart failed.

    Attributes:
      restarts: the :class:`Restarts` of the failed fit (each restart's last
        finite params, ``history`` up to the failure, ``failed_iteration`` and
        ``failed_value``), for inspecting what went wrong.
    """

    def __init__(self, message, restarts=None):
        super().__init__(message)
        self.restarts = restarts


class FitWarning(UserWarning):
    """Base class of the warnings :func:`fit` gives about its result."""


class ConvergenceWarning(FitWarning):
    """The best restart stopped at ``max_iter`` without meeting the tolerance."""


class DegenerateFitWarning(FitWarning):
    """The best restart is degenerate (see ``Restarts.degenerate``)."""


class FailedRestartsWarning(FitWarning):
    """Some (not all) restarts failed; the best was chosen among the others."""


def failure_message(restarts) -> str:
    """The message of :class:`FitError` for a fit whose every restart failed."""
    failed_iteration = np.asarray(restarts.failed_iteration)
    failed_value = np.asarray(restarts.failed_value)
    lines = []
    for r in range(min(len(failed_iteration), 5)):
        lines.append(f"restart {r}: objective became {failed_value[r]} at iteration {failed_iteration[r]}")
    more = "" if len(failed_iteration) <= 5 else f" (and {len(failed_iteration) - 5} more)"
    return (
        f"All {len(failed_iteration)} restarts failed: " + "; ".join(lines) + more + ". Iteration 0 means the "
        "starting parameters already give a non-finite log-likelihood. Check that log_joint returns a finite value "
        "for at least one latent value of every observation, and that init produces valid parameters "
        "(positive scales, weights on the simplex)."
    )


def warn_about(result, tol: float, max_iter: int, total_weight: float):
    """Says out loud what the per-restart flags record: failures, degeneracy, no convergence."""
    restarts = result.restarts
    best = int(result.best_restart)
    failed = np.asarray(restarts.failed)
    if failed.any():
        first = int(np.argmax(failed))
        warnings.warn(
            f"{int(failed.sum())} of {failed.size} restarts failed (restart {first}: objective became "
            f"{float(restarts.failed_value[first])} at iteration {int(restarts.failed_iteration[first])}); the best "
            "restart was chosen among the others. Iteration 0 means the start was invalid (not finite, or outside "
            "its constraints) or gave a non-finite log-likelihood. See result.restarts.failed.",
            FailedRestartsWarning,
            stacklevel=3,
        )
    if bool(result.degenerate):
        count = int(np.sum(np.asarray(restarts.degenerate)))
        warnings.warn(
            f"the best restart ({best}) is degenerate: the model's degeneracy check flags it (for the built-ins, a "
            f"component holds fewer observations than its parameters need, or a Gaussian variance sits on the "
            f"reg_covar floor); {count} of {failed.size} restarts are "
            "degenerate (result.restarts.degenerate). Try fewer components, more data or a larger reg_covar.",
            DegenerateFitWarning,
            stacklevel=3,
        )
    iterations = int(result.num_iterations)
    if tol > 0 and max_iter > 0 and not bool(result.converged) and iterations >= max_iter:
        history = np.asarray(result.history)
        change = abs(float(history[iterations] - history[iterations - 1])) / max(total_weight, 1e-300)
        warnings.warn(
            f"the best restart ({best}) stopped at max_iter={max_iter} without converging: its last change was "
            f"{change:.3g} per unit weight, above tol={tol:g}. Increase max_iter, or loosen tol.",
            ConvergenceWarning,
            stacklevel=3,
        )
