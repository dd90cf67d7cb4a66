"""Emission families, each written once and used unchanged by the mixtures and the HMMs.

A family is a small frozen object (compared by value, picklable) that knows,
for observations ``x`` of one kind and K components:

* ``constraints()``: its parameters' constraints (a dict);
* ``log_density(params, x) -> (K,)``: ``log f(x | theta_k)`` for ONE
  observation (one step of a sequence), written so that over a chunk it is a
  matrix product of per-observation features and per-component parameters;
* ``statistics(rows, responsibilities, weights, params)``: sums over a chunk
  of rows (n, ...) with responsibilities (n, K) and weights (n,), which add
  over chunks, and ``maximize(statistics, params) -> dict``: the closed-form
  maximiser of Q from their totals;
* ``start(rows, responsibilities, weights) -> dict``: parameters from starting
  responsibilities; ``seed_features(rows)``: the (n, F) features the init
  schemes measure distances on; ``init_smoothing``: how much uniform mass
  starting responsibilities get;
* ``validate(family_label, sequences)``: its host-side data check,
  ``min_count(params)``: observations a component needs (degeneracy),
  ``sample(key, params, z)``: one observation from component ``z``.
"""

from jaxem.families.bernoulli import Bernoulli
from jaxem.families.categorical import Categorical
from jaxem.families.gaussian import COVARIANCE_TYPES, Gaussian, check_covariance_type, covariances_shape
from jaxem.families.poisson import Poisson

__all__ = [
    "COVARIANCE_TYPES",
    "Bernoulli",
    "Categorical",
    "Gaussian",
    "Poisson",
    "check_covariance_type",
    "covariances_shape",
]
