"""Splitting a fit over devices (its restarts, or its data), and the platform workarounds it needs.

Two axes can be split, chosen by :func:`jaxem.fit`'s ``split``:

* ``"restarts"``: restarts are independent, so each device can run a share
  of them (a sharding constraint on the batched starting parameters; XLA
  partitions the vmapped program).
* ``"data"``: every quantity EM needs is a sum over units, so each device
  can hold a share of the units (N padded with zero-weight copies to a
  multiple of the devices) and sum over its own chunks; the sums are then
  added across devices (``psum`` over a mesh axis, in ``shard_map``). Every
  device runs the same loop on the same totals, so the result is the
  one-device result up to the order of additions. The same mechanism is
  what a fit over processes (``jax.distributed``) needs.

By default splits happen on accelerators (every local GPU or TPU). On CPU they are opt-in:
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
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxem import validation

__all__ = [
    "Placement",
    "check_cpu_split",
    "check_devices",
    "check_split",
    "over_data_axis",
    "pad_units",
    "placement",
    "restart_sharding",
    "split_restarts",
]

SPLITS = ("restarts", "data")
DATA_AXIS = "data"  # the mesh axis a data split sums over


class Placement(NamedTuple):
    """How a fit is laid over devices (static, hashable).

    Attributes:
      kind: ``"restarts"`` or ``"data"``.
      sharding: for restarts, the sharding of the restart axis.
      mesh: for data, the one-axis mesh the units are split over.
      num_devices: devices used.
    """

    kind: str
    sharding: Any
    mesh: Any
    num_devices: int


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


def check_split(split) -> str:
    return validation.check_choice(split, "split", SPLITS)


def check_cpu_split(placement, program_text):
    """Refuses a split over CPU devices when the program has calls that can deadlock XLA:CPU.

    ``program_text()`` gives the lowered program's text; it is only called for a CPU split.
    """
    if placement is None:
        return
    devices = placement.sharding.device_set if placement.sharding is not None else set(placement.mesh.devices.flat)
    if next(iter(devices)).platform != "cpu":
        return
    text = program_text()
    calls = sorted({a or b for a, b in _POOL_BLOCKING_CALL.findall(text)})
    if calls:
        raise ValueError(
            f"devices: splitting the {placement.kind} over {placement.num_devices} CPU devices is refused for this model: "
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


def placement(devices, split: str, num_restarts: int, num_units: int):
    """The :class:`Placement` of a fit (None: everything on one device)."""
    if split == "restarts":
        sharding = restart_sharding(devices, num_restarts)
        return None if sharding is None else Placement("restarts", sharding, None, len(sharding.device_set))
    used = min(len(devices), num_units)
    if used == 1:
        return None
    return Placement("data", None, jax.sharding.Mesh(np.array(devices[:used]), (DATA_AXIS,)), used)


def pad_units(units, weights, num_devices: int):
    """Units and weights padded along N to a multiple of ``num_devices`` with zero-weight copies of unit 0."""
    total = weights.shape[0]
    extra = -total % num_devices
    if extra == 0:
        return units, weights
    pad = lambda x: jnp.concatenate([x, jnp.broadcast_to(x[:1], (extra,) + x.shape[1:])], axis=0)
    return jax.tree.map(pad, units), jnp.concatenate([weights, jnp.zeros((extra,), weights.dtype)])


def over_data_axis(fit_restarts, placement: Placement):
    """``fit_restarts`` run under ``shard_map`` with the units and weights split along N.

    ``fit_restarts(model, config, max_iter, init_params, invalid_start, units, weights, stopping,
    observations)``; the model, config and max_iter are bound here, the units and weights are
    split over the mesh axis, everything else is replicated, and so are the results (every
    device computes the same totals).
    """
    spec = jax.sharding.PartitionSpec

    def run(model, config, max_iter, init_params, invalid_start, units, weights, tol, observations):
        body = lambda p, i, u, w, t, o: fit_restarts(model, config, max_iter, p, i, u, w, t, o)
        mapped = jax.shard_map(
            body,
            mesh=placement.mesh,
            in_specs=(spec(), spec(), spec(DATA_AXIS), spec(DATA_AXIS), spec(), spec()),
            out_specs=spec(),
        )
        return mapped(init_params, invalid_start, units, weights, tol, observations)

    return run
