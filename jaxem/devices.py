"""Splitting the restart axis over devices, and the platform workarounds it needs.

Restarts are independent, so they can be split over several devices (a
sharding constraint on the batched starting parameters; XLA partitions the
vmapped program and each device runs its share of the restarts). By default
that happens on accelerators (every local GPU or TPU). On CPU it is opt-in:
start JAX with one CPU device per core
(``jax.config.update("jax_num_cpu_devices", os.cpu_count())`` before first
use) and pass ``devices=jax.devices()``. XLA's CPU runtime can deadlock when
several CPU devices run batched LAPACK calls (Cholesky, triangular solves)
or FFTs at once: those calls fan out into the thread pool their callers
already occupy. A split over CPU devices is therefore refused, before
compiling, for a program that contains such calls (e.g. full or tied
covariance Gaussians); diagonal Gaussian, Poisson, Bernoulli and
categorical models have none.
"""

from __future__ import annotations

import re

import jax
import numpy as np

__all__ = ["check_cpu_split", "check_devices", "restart_sharding", "split_restarts"]


def split_restarts(tree, sharding):
    """A sharding constraint on the leading restart axis (nothing with one device)."""
    return tree if sharding is None else jax.lax.with_sharding_constraint(tree, sharding)


def check_devices(devices):
    """``devices`` as a list (default: every local accelerator, or one CPU device), or raises naming it."""
    if devices is None:
        local = jax.local_devices()
        return local if local[0].platform != "cpu" else local[:1]  # CPU: opt-in (module docstring)
    checked = list(devices) if isinstance(devices, (list, tuple)) else []
    if not checked or not all(isinstance(d, jax.Device) for d in checked):
        raise TypeError(
            f"devices must be a non-empty list or tuple of jax.Device (e.g. jax.devices()); got {devices!r}."
        )
    platforms = sorted({d.platform for d in checked})
    if len(platforms) > 1:
        raise ValueError(f"devices must all be of one platform; got platforms {platforms}.")
    if len(set(checked)) < len(checked):
        raise ValueError(f"devices must not repeat a device; got {devices!r}.")
    return checked


_POOL_BLOCKING_CALL = re.compile(r"@(lapack_\w+|ducc_\w+)|stablehlo\.(fft)")


def check_cpu_split(sharding, program_text):
    """Refuses a split over CPU devices when the program has calls that can deadlock XLA:CPU.

    ``program_text()`` gives the lowered program's text; it is only called for a CPU split.
    """
    if sharding is None or next(iter(sharding.device_set)).platform != "cpu":
        return
    text = program_text()
    calls = sorted({a or b for a, b in _POOL_BLOCKING_CALL.findall(text)})
    if calls:
        raise ValueError(
            f"devices: splitting the restarts over {len(sharding.device_set)} CPU devices is refused for this model: "
            f"its program calls {calls}, which can deadlock XLA's CPU runtime when several CPU devices run them at "
            "once. Pass devices=jax.devices()[:1] (one CPU device) for this model."
        )


def restart_sharding(devices, num_restarts):
    """The sharding that splits the restart axis over ``devices`` (None: one device).

    With ``num_restarts`` not a multiple of the number of devices, the
    restarts go to the largest number of them that divides it evenly.
    """
    used = max(n for n in range(1, len(devices) + 1) if num_restarts % n == 0)
    if used == 1:
        return None
    mesh = jax.sharding.Mesh(np.array(devices[:used]), ("restarts",))
    return jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("restarts"))
