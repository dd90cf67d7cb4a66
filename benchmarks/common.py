"""The models and the machine description shared by the benchmark scripts.

Rao's genetic linkage and the ABO blood groups (each fitted to the cells ``np.arange(4)`` weighted by its counts), and
the CPU, core count and git revision for the header lines. The scripts run as ``python benchmarks/<name>.py``, which
puts this folder on ``sys.path``. Importing this module imports ``jax.numpy`` (not ``jaxem``), so ``end_to_end.py``
imports it only in its parent process: its scikit-learn child stays free of jax.
"""

from __future__ import annotations

import os
import platform
import subprocess

import jax.numpy as jnp
import numpy as np

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# ------------------------------------------------------------------ genetic linkage

LINKAGE_COUNTS = np.array([125.0, 18.0, 20.0, 34.0])


def linkage_log_joint(params, x, z):
    """Cell x in 0..3; cell 0 splits into a latent (1/2 | theta/4) pair (z), the impossible pairs are -inf."""
    theta = params["theta"]
    quarter, rest = jnp.log(theta / 4), jnp.log((1 - theta) / 4)
    table = jnp.stack(
        [
            jnp.stack([jnp.log(0.5), quarter]),
            jnp.stack([rest, -jnp.inf]),
            jnp.stack([rest, -jnp.inf]),
            jnp.stack([-jnp.inf, quarter]),
        ]
    )
    return table[x, z]


def linkage_statistics(data, responsibilities, weights, params):
    return {
        "theta": jnp.sum(weights * responsibilities[:, 1]),
        "other": jnp.sum(weights * responsibilities[:, 0] * (data != 0)),
    }


def linkage_maximize(statistics, params):
    return {"theta": statistics["theta"] / (statistics["theta"] + statistics["other"])}


# ------------------------------------------------------------------ ABO blood groups

ABO_COUNTS = np.array([186.0, 38.0, 13.0, 284.0])
ABO_PHENOTYPE = np.array([0, 0, 1, 1, 2, 3])  # of genotypes AA, AO, BB, BO, AB, OO


def abo_log_joint(params, x, z):
    """Phenotype x in 0..3 (A, B, AB, O); genotype z in 0..5 under Hardy-Weinberg, -inf where z cannot show x."""
    p, q, r = params["freqs"]
    genotype = jnp.stack([p * p, 2 * p * r, q * q, 2 * q * r, 2 * p * q, r * r])
    return jnp.where(jnp.asarray(ABO_PHENOTYPE)[z] == x, jnp.log(genotype[z]), -jnp.inf)


# ------------------------------------------------------------------ the machine and the revision


def cpu_model() -> str:
    """The first "model name" of /proc/cpuinfo, else ``platform.processor()``, else "unknown"."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> str:
    """``"<CPU model>, <n> cores"``; each script adds what it cares about (JAX backend, devices, date)."""
    return f"{cpu_model()}, {os.cpu_count()} cores"


def _git(*command) -> str:
    try:
        return subprocess.run(
            ["git", *command], check=False, cwd=REPOSITORY, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        return ""


def git_revision(mark_changes: bool = True) -> str:
    """HEAD's short revision ("unknown" outside a git checkout); with ``mark_changes``, followed by
    " + uncommitted changes to jaxem/" when the package differs from HEAD (untracked files included)."""
    revision = _git("rev-parse", "--short", "HEAD") or "unknown"
    if mark_changes and _git("status", "--porcelain", "--", "jaxem"):
        revision += " + uncommitted changes to jaxem/"
    return revision
