"""Run the `tfdistill` command as a user does, from the repository (shared by test files)."""

import os
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parent.parent
# The environment a user starts with: none of the switches that quieten TensorFlow.
USER_ENV = {
    key: value
    for key, value in os.environ.items()
    if key not in ("TF_CPP_MIN_LOG_LEVEL", "TFDISTILL_TF_LOGS")
}


def tfdistill(*args, **kwargs):
    """`python -m tfdistill *args` in the repository, its output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "tfdistill", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=USER_ENV,
        **kwargs,
    )


def finished_run(tmp_path_factory, config, name):
    """`(output_dir, result)` of a `tfdistill` run of `config` that must succeed (for a
    module fixture that several tests read)."""
    output_dir = tmp_path_factory.mktemp(name) / name
    result = tfdistill(f"--config={config}", f"--output_dir={output_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    return output_dir, result
