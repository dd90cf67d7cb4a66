"""Test-wide settings: float64, so algebraic identities can be checked to 1e-8 and below."""

import jax

jax.config.update("jax_enable_x64", True)
