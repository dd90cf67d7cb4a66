"""The installed ``jaxem`` command on the bundled Old Faithful data, and its argument errors."""

import os
import pathlib
import shutil
import subprocess
import sys
from importlib import resources

import numpy as np
import pytest

import jaxem
from jaxem import cli

FAITHFUL_CSV = str(resources.files("jaxem.datasets").joinpath("faithful.csv"))


def _command():
    # the console script pip installed beside this interpreter (the README's venv), else one on PATH
    beside = pathlib.Path(sys.executable).parent / "jaxem"
    found = str(beside) if beside.exists() else shutil.which("jaxem")
    if found is None:
        pytest.fail("the jaxem command is not installed: pip install . should put it beside python")
    return found


def test_installed_command_fits_faithful(tmp_path):
    done = subprocess.run(
        [
            _command(),
            "fit",
            FAITHFUL_CSV,
            "--components",
            "1-3",
            "--covariance-type",
            "full,spherical",
            "--restarts",
            "4",
        ],
        check=False,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    # the table: 6 candidates, the best marked; Old Faithful's two clusters win BIC among these
    rows = [line for line in out.splitlines() if " K=" in line and line[2:].startswith(("full", "spherical"))]
    assert len(rows) == 6
    best = [line for line in rows if line.startswith("*")]
    assert len(best) == 1 and best[0][2:].startswith("full K=2")
    # the best fit's parameters with standard errors: 2 weights, 4 means, 8 covariance entries
    assert out.count("\nweights ") == 2 and out.count("\nmeans ") == 4 and out.count("\ncovariances ") == 8
    saved = jaxem.load(tmp_path / "faithful.jaxem.npz")
    assert saved.model == jaxem.models.gaussian_mixture(2, covariance_type="full")
    # the saved fit is Old Faithful's K=2 maximum (-1130.264, the value tests/test_mixtures.py checks)
    assert float(saved.result.log_likelihood) == pytest.approx(-1130.2639, abs=1e-3)
    assert saved.metadata["columns"] == ["eruptions", "waiting"]
    png = (tmp_path / "faithful.bic.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def test_arguments_are_checked(tmp_path, capsys):
    assert cli.parse_components("1-3,6") == [1, 2, 3, 6]
    with pytest.raises(ValueError, match="--components must be like"):
        cli.parse_components("one")
    assert cli.main(["fit", str(tmp_path / "missing.csv")]) == 2
    assert "no such file" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,x\n")
    assert cli.main(["fit", str(bad)]) == 2
    assert "must be a number" in capsys.readouterr().err
    assert cli.main(["fit", FAITHFUL_CSV, "--covariance-type", "round"]) == 2
    assert "--covariance-type must be among" in capsys.readouterr().err
    assert cli.main(["fit", FAITHFUL_CSV, "--columns", "height"]) == 2
    assert "neither a column name" in capsys.readouterr().err


def test_read_csv_with_and_without_header(tmp_path):
    plain = tmp_path / "plain.csv"
    plain.write_text("1,2\n3,4\n")
    names, values = cli.read_csv(plain)
    assert names == ["x0", "x1"] and np.array_equal(values, [[1, 2], [3, 4]])
    names, values = cli.read_csv(FAITHFUL_CSV, columns="waiting")
    assert names == ["waiting"] and np.array_equal(values[:, 0], jaxem.datasets.load_faithful()[:, 1])
