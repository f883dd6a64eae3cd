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
