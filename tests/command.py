"""Run the `tfdistill` command as a user does, from the repository (shared by test files)."""

import dataclasses
import logging
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


@dataclasses.dataclass(frozen=True)
class InProcessResult:
    """What `tfdistill_in_process` saw, named as `subprocess.CompletedProcess` names it."""

    returncode: int
    stdout: str
    stderr: str


def tfdistill_in_process(capsys, *args):
    """`tfdistill *args` through the command's own `main`, in this process: for a
    mistake the command stops at before any work, its one line and exit status
    without a TensorFlow start-up (about 10 s each). Whether that start-up stays off
    the terminal is for `tfdistill`, in a fresh process."""
    from absl import flags
    from absl import logging as absl_logging

    from tfdistill import __main__ as command

    loggers = [logging.getLogger(name) for name in ("tensorflow", "absl")]
    filters, verbosity = [list(logger.filters) for logger in loggers], absl_logging.get_verbosity()
    capsys.readouterr()
    try:
        returncode = command.main(flags.FLAGS(["tfdistill", *args]))
    finally:
        flags.FLAGS.unparse_flags()
        absl_logging.set_verbosity(verbosity)
        for logger, kept in zip(loggers, filters):
            logger.filters[:] = kept
    out, err = capsys.readouterr()
    return InProcessResult(returncode, out, err)
