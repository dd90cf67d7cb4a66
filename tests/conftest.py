"""Test-wide settings: float64, so algebraic identities can be checked to 1e-8 and below; and the
compiled programs are dropped after each test module.

XLA:CPU maps each compiled program's code and data into memory in dozens of separate mappings
(a jaxem fit's eight programs take ~580: `python benchmarks/memory_mappings.py`), and JAX keeps every
program it compiled for the life of the process. A pytest-xdist worker that runs half the suite
would pass Linux's default limit of 65530 mappings per process (vm.max_map_count), after which
allocations fail at random: MemoryError or SystemError in unrelated code, or a crashed worker.
"""

import jax
import pytest

jax.config.update("jax_enable_x64", True)


@pytest.fixture(autouse=True, scope="module")
def _drop_compiled_programs():
    yield
    jax.clear_caches()
