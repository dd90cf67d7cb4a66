"""Small public data sets bundled with jaxem (no network needed).

``faithful.csv`` - Old Faithful geyser eruptions, 272 rows: ``eruptions``
(eruption length, minutes) and ``waiting`` (minutes to the next eruption).
The classic two-cluster data set distributed with R's ``datasets`` package:
W. Härdle (1991), *Smoothing Techniques with Implementation in S*, Springer;
originally A. Azzalini and A. W. Bowman (1990), "A look at some data on the
Old Faithful geyser", *Applied Statistics* 39:357-365. Public data.
"""

from __future__ import annotations

import csv
from importlib import resources

import numpy as np

__all__ = ["load_faithful"]


def load_faithful():
    """Loads the Old Faithful geyser data.

    Returns:
      A float64 NumPy array of shape (272, 2): columns ``eruptions`` and
      ``waiting`` (both in minutes). Citation in :mod:`jaxem.datasets`.

    Example:
      >>> x = jaxem.datasets.load_faithful()
      >>> x.shape
      (272, 2)
    """
    with resources.files(__name__).joinpath("faithful.csv").open("r", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:]
    if header != ["eruptions", "waiting"]:
        raise RuntimeError(f"faithful.csv has an unexpected header {header!r}; the package data is damaged.")
    return np.asarray(body, dtype=np.float64)
