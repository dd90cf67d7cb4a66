"""hmmlearn's convergence monitor, and the logger the HMM estimators write hmmlearn's warnings to."""

from __future__ import annotations

import collections
import logging
import sys

import numpy as np

__all__ = ["ConvergenceMonitor", "logger"]

logger = logging.getLogger("jaxem.estimators.hmm")


class ConvergenceMonitor:
    """hmmlearn's ``monitor_``: ``history`` (the log-likelihood before each M-step), ``iter`` (M-steps
    made), ``tol``, ``n_iter``, ``verbose``, ``report`` and hmmlearn's ``converged`` rule.

    ``fit`` runs in one compiled program and fills the monitor after it (a subclass's ``converged``
    can be read after a fit but cannot change when the fit stops)."""

    _template = "{iter:>10d} {log_prob:>16.8f} {delta:>+16.8f}"

    def __init__(self, tol, n_iter, verbose):
        self.tol = tol
        self.n_iter = n_iter
        self.verbose = verbose
        self.history = collections.deque()
        self.iter = 0

    def _reset(self):
        self.iter = 0
        self.history.clear()

    def report(self, log_prob):
        """Records one iteration's log-likelihood: printed to stderr when ``verbose`` (iteration,
        value, gain), logged as a warning when it falls by more than ``sqrt(eps)``."""
        if self.verbose:
            delta = log_prob - self.history[-1] if self.history else np.nan
            print(self._template.format(iter=self.iter + 1, log_prob=log_prob, delta=delta), file=sys.stderr)
        if self.history and log_prob - self.history[-1] < -np.sqrt(np.finfo(float).eps):
            logger.warning(
                "The log-likelihood decreased from %s to %s: EM is not converging.", self.history[-1], log_prob
            )
        self.history.append(log_prob)
        self.iter += 1

    @property
    def converged(self) -> bool:
        """hmmlearn's rule: ``n_iter`` reached, or the last gain below ``tol``."""
        gain = len(self.history) >= 2 and self.history[-1] - self.history[-2] < self.tol
        return self.iter == self.n_iter or bool(gain)

    def __repr__(self):
        return (
            f"ConvergenceMonitor(tol={self.tol}, n_iter={self.n_iter}, iter={self.iter}, history={list(self.history)})"
        )
