"""Every example runs to the end, with and without float64 (JAX_ENABLE_X64), in a fresh process."""

import os
import pathlib
import subprocess
import sys

EXAMPLES = sorted((pathlib.Path(__file__).parent.parent / "examples").glob("*.py"))
# Smaller settings for the examples that take them (the code path is the same; the defaults fit
# 20 candidates or 64 restarts, which would run twice here on a 2-core CI machine).
QUICK = {
    "faithful_selection.py": ["--components", "1-2", "--restarts", "2"],
    "gmm_faithful.py": ["--restarts", "8"],
}


def test_every_example_runs_with_and_without_x64(tmp_path):
    # All runs start at once (they are independent processes) and are checked together.
    runs = {}
    for example in EXAMPLES:
        for x64 in ("0", "1"):
            env = {**os.environ, "JAX_ENABLE_X64": x64}
            runs[(example.name, x64)] = subprocess.Popen(
                [sys.executable, str(example), *QUICK.get(example.name, [])],
                cwd=tmp_path,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
    failures = []
    for (name, x64), process in runs.items():
        output, _ = process.communicate(timeout=600)
        if process.returncode != 0 or "Traceback" in output:
            failures.append(f"{name} with JAX_ENABLE_X64={x64} exited {process.returncode}:\n{output[-3000:]}")
    assert len(EXAMPLES) >= 3
    assert not failures, "\n\n".join(failures)
