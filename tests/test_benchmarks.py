"""The benchmark scripts' docstring examples.

`make test` collects the package's doctests but not the scripts': each script defines
its absl flags when imported, and two scripts in one process collide on a name such
as `--set`. So the scripts that hold examples run in a process of their own here.
Without this, `common.default_split` broke when `load_split` gained its `task`
argument, and four benchmarks stopped at their first line unnoticed.
"""

import pathlib
import subprocess
import sys

BENCHMARKS = pathlib.Path(__file__).resolve().parent.parent / "benchmarks"
WITH_EXAMPLES = ("accuracy.py", "common.py")


def test_every_script_with_examples_is_run_here():
    holding = sorted(path.name for path in BENCHMARKS.glob("*.py") if ">>>" in path.read_text())
    assert holding == sorted(WITH_EXAMPLES)


def test_benchmark_examples_pass():
    command = [
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
        "--doctest-modules", *WITH_EXAMPLES,
    ]
    result = subprocess.run(command, cwd=BENCHMARKS, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]
