"""The references' own test files run against jaxem's estimators (a script, not collected by pytest).

Copies scikit-learn's ``sklearn/mixture/tests/test_gaussian_mixture.py`` and hmmlearn's
``test_gaussian_hmm.py``, ``test_categorical_hmm.py`` and ``test_poisson_hmm.py`` (from the installed
packages) into a temporary folder, points their imports at :mod:`jaxem.estimators` (scikit-learn's
``GaussianMixture`` and ``ConvergenceWarning``; hmmlearn's ``hmm`` module), supplies the fixtures
scikit-learn's own conftest would (``global_random_seed`` = 42, ``global_dtype`` float64 and float32),
turns on float64, and runs pytest on each, printing its summary and the failed tests. The README's
Estimators section and the closing notes say why each failure is a deliberate difference.

Run: ``python tests/reference_suites.py`` (about 5 minutes on 2 cores; ``--workers N`` for pytest-xdist,
default 2; ``--hmmlearn-seed S``, default 1, seeds hmmlearn's random data as its conftest reads it).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

CONFTEST = """import jax
import numpy as np
import pytest

jax.config.update("jax_enable_x64", True)


@pytest.fixture(params=[42])
def global_random_seed(request):
    return request.param


@pytest.fixture(params=[np.float64, np.float32])
def global_dtype(request):
    return request.param
"""

HMMLEARN_FILES = ("test_gaussian_hmm.py", "test_categorical_hmm.py", "test_poisson_hmm.py")


def _package_dir(name):
    module = __import__(name)
    return pathlib.Path(module.__file__).parent


def _sklearn_suite(root):
    source = (_package_dir("sklearn") / "mixture" / "tests" / "test_gaussian_mixture.py").read_text()
    replaced = source.replace(
        "from sklearn.mixture import GaussianMixture\n", "from jaxem.estimators import GaussianMixture\n"
    ).replace(
        "from sklearn.exceptions import ConvergenceWarning, NotFittedError\n",
        "from sklearn.exceptions import NotFittedError\n\nfrom jaxem.estimators import ConvergenceWarning\n",
    )
    if replaced.count("jaxem.estimators") != 2:
        raise SystemExit("scikit-learn's test file no longer imports GaussianMixture/ConvergenceWarning as expected")
    folder = root / "sklearn_mixture"
    folder.mkdir()
    (folder / "conftest.py").write_text(CONFTEST)
    (folder / "test_gaussian_mixture.py").write_text(replaced)
    return folder


def _hmmlearn_suite(root):
    tests = _package_dir("hmmlearn") / "tests"
    folder = root / "hmmtests"
    folder.mkdir()
    shutil.copy(tests / "__init__.py", folder / "__init__.py")  # its helpers (normalized, make_covar_matrix, ...)
    conftest = (tests / "conftest.py").read_text() + '\nimport jax\n\njax.config.update("jax_enable_x64", True)\n'
    (folder / "conftest.py").write_text(conftest)
    for name in HMMLEARN_FILES:
        source = (tests / name).read_text()
        replaced = re.sub(
            r"^from (\.\.|hmmlearn) import hmm$", "from jaxem.estimators import hmm", source, flags=re.MULTILINE
        )
        if "from jaxem.estimators import hmm" not in replaced:
            raise SystemExit(f"hmmlearn's {name} no longer imports its hmm module as expected")
        (folder / name).write_text(replaced)
    return folder


def _run(folder, workers, env):
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rf", str(folder)]
    if workers > 1:
        command += ["-n", str(workers)]
    proc = subprocess.run(command, cwd=folder.parent, env=env, capture_output=True, text=True, check=False)
    lines = proc.stdout.splitlines()
    failed = [line for line in lines if line.startswith("FAILED")]
    summary = [line for line in lines if re.search(r"\d+ (passed|failed)", line)]
    return failed, summary[-1] if summary else proc.stdout[-2000:] + proc.stderr[-2000:]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--hmmlearn-seed", type=int, default=1)
    args = parser.parse_args()
    env = dict(os.environ, HMMLEARN_SEED=str(args.hmmlearn_seed))
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp)
        for label, folder in (
            ("scikit-learn test_gaussian_mixture.py", _sklearn_suite(root)),
            (f"hmmlearn {', '.join(HMMLEARN_FILES)} (HMMLEARN_SEED={args.hmmlearn_seed})", _hmmlearn_suite(root)),
        ):
            failed, summary = _run(folder, args.workers, env)
            print(f"{label}: {summary}")
            for line in failed:
                print(f"  {line[:160]}")


if __name__ == "__main__":
    main()
