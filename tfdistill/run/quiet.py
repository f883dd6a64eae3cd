"""A quiet terminal for the `tfdistill` command: TensorFlow's C++ start-up lines hidden,
and a user's mistake in one line (`error_line`, the benchmarks' too).

`tfdistill/__init__.py` imports TensorFlow through `import_tensorflow`, before any
other module does. In a process that runs the command (`tfdistill ...` or
`python -m tfdistill ...`), it hides TensorFlow's own lines; a Python program that
imports the library sees TensorFlow as it is. What hides each line (measured with
TensorFlow 2.21 on a CPU-only machine):

- `failed call to cuInit` (an ERROR), oneDNN's `DT_INT64` notice (util.cc, an
  ERROR) and node_def_util's `use_unbounded_threadpool` (an ERROR, from tf.data)
  are logged once absl's C++ logging runs: `TF_CPP_MIN_LOG_LEVEL=3`, set before
  TensorFlow is imported, hides them. The command sets it unless it is set.
- `WARNING: All log messages before absl::InitializeLog() is called are written to
  STDERR`, and the INFO lines after it (`oneDNN custom operations are on`,
  cudart_stub's `Could not find cuda drivers`, cpu_feature_guard's two lines) come
  while `import tensorflow` loads its libraries, before any log level is read: no
  environment variable hides them. So the import runs with file descriptor 2 sent
  to a temporary file, whose lines are then written to stderr, less those that
  `TF_CPP_MIN_LOG_LEVEL` would have hidden.
- TFLite's converter (`fully_quantize: ...`) and interpreter (`INFO: Created
  TensorFlow Lite XNNPACK delegate for CPU.`) print INFO lines of their own, without
  the log format, whatever `TF_CPP_MIN_LOG_LEVEL` says: `library_lines_hidden`
  filters file descriptor 2 the same way around them.

A program of ours that prints for people other than the command (the benchmarks)
asks for the same by setting `TFDISTILL_QUIET_IMPORT=1` before importing tfdistill.
`TFDISTILL_TF_LOGS=1`, or absl's `--verbosity=1` (debug) or higher, leaves
TensorFlow's lines alone. Our own log lines and Keras's progress are not hidden: they
are written after the import. In the command, ours read `21:06:18 message` rather
than absl's `I1206 21:06:18.755814 140579877432192 transfer.py:104] message`, whose
thread and file:line come back with TensorFlow's lines (`TerminalFormatter`).

Example:

>>> is_command(["/usr/bin/python3", "-u", "-m", "tfdistill", "--config=run.yaml"])
True
>>> is_command(["/usr/bin/python3", "-m", "pytest"])
False
>>> wants_tensorflow_logs(["tfdistill", "--verbosity=1"], environ={})
True
>>> line = "I0000 00:00:1796168123.632 25205 port.cc:153] oneDNN custom operations are on."
>>> kept_lines("a line of ours\\n" + line + "\\n", min_level=3)
'a line of ours\\n'
>>> kept_lines("INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\\n", min_level=3)
''
"""

import contextlib
import importlib.util
import logging
import os
import re
import sys
import tempfile

# Set to 1 to see TensorFlow's C++ lines on the command line.
OPT_IN_VARIABLE = "TFDISTILL_TF_LOGS"
# Set to 1 by a program that is not the command but hides them as it does.
QUIET_IMPORT_VARIABLE = "TFDISTILL_QUIET_IMPORT"
# What absl's C++ logging writes first when it is used before being set up.
EARLY_LOG_BANNER = "WARNING: All log messages before absl::InitializeLog() is called"
# A line of TensorFlow's C++ logging: severity, date, time, thread, file:line].
_LOG_LINE = re.compile(r"^([IWEF])\d{4} [\d:.]+ +\d+ [^ \]]+:\d+\] ")
# The INFO lines TensorFlow Lite prints without its log format: the interpreter's
# "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." and the converter's
# "fully_quantize: 0, inference_type: 6, ..." when it quantizes.
_TFLITE_INFO_LINE = re.compile(r"^(INFO: Created TensorFlow Lite |fully_quantize: \d)")
# TF_CPP_MIN_LOG_LEVEL's levels, by the severity letter that starts a line.
_LEVELS = {"I": 0, "W": 1, "E": 2, "F": 3}
_DEFAULT_MIN_LEVEL = "3"


def import_tensorflow(orig_argv=None, argv=None, environ=None):
    """Imports TensorFlow; in the `tfdistill` command, with its C++ lines hidden.

    Args default to `sys.orig_argv`, `sys.argv` and `os.environ`.
    """
    orig_argv = sys.orig_argv if orig_argv is None else orig_argv
    argv = sys.argv if argv is None else argv
    environ = os.environ if environ is None else environ
    if "tensorflow" in sys.modules or not is_quiet(orig_argv, argv, environ):
        import tensorflow  # noqa: F401
        return
    environ.setdefault("TF_CPP_MIN_LOG_LEVEL", _DEFAULT_MIN_LEVEL)
    with filtered_stderr(_min_level(environ)):
        import tensorflow  # noqa: F401, F811


def is_quiet(orig_argv, argv, environ):
    """Whether this process hides TensorFlow's lines: the command, or a program that
    set `QUIET_IMPORT_VARIABLE`, unless `wants_tensorflow_logs`."""
    asked = is_command(orig_argv) or environ.get(QUIET_IMPORT_VARIABLE) == "1"
    return asked and not wants_tensorflow_logs(argv, environ)


def is_command(orig_argv):
    """Whether a process started as `orig_argv` runs the `tfdistill` command."""
    if len(orig_argv) > 1 and os.path.basename(orig_argv[1]) == "tfdistill":
        return True
    return any(
        flag == "-m" and module in ("tfdistill", "tfdistill.__main__")
        for flag, module in zip(orig_argv, orig_argv[1:])
    )


def wants_tensorflow_logs(argv, environ):
    """Whether `OPT_IN_VARIABLE` or absl's `--verbosity` (>= 1) asks for TF's lines.

    `argv` is read as absl will read it: `--verbosity=1`, `-v 1`, `--v=1`.
    """
    if environ.get(OPT_IN_VARIABLE, "").strip().lower() in ("1", "true", "yes"):
        return True
    from absl import flags

    verbosity = flags.FlagValues()
    flags.DEFINE_integer("verbosity", 0, "", short_name="v", flag_values=verbosity)
    try:
        verbosity(list(argv), known_only=True)
    except flags.Error:
        return False  # absl's own parsing will report it.
    return verbosity.verbosity >= 1


def kept_lines(text, min_level):
    """`text` less TensorFlow's C++ log lines below `min_level` and the early-log banner.

    A line that starts no log record continues the record before it (cpu_feature_guard
    writes two lines), and is kept or dropped with it: in the window this filters,
    `import tensorflow`, nothing but TensorFlow writes.
    """
    kept, dropping = [], False
    for line in text.splitlines(keepends=True):
        record = _LOG_LINE.match(line)
        if record:
            dropping = _LEVELS[record[1]] < min_level
        elif _TFLITE_INFO_LINE.match(line):
            dropping = min_level > _LEVELS["I"]
        elif line.startswith(EARLY_LOG_BANNER):
            dropping = min_level > _LEVELS["I"]
        if not dropping:
            kept.append(line)
    return "".join(kept)


def _min_level(environ):
    try:
        return int(environ["TF_CPP_MIN_LOG_LEVEL"])
    except ValueError:
        return _LEVELS["I"]  # Hide nothing rather than guess.


def library_lines_hidden():
    """In a process that hides TensorFlow's lines (`is_quiet`), `filtered_stderr` for
    a block in which its C++ libraries print (the TFLite converter and interpreter);
    elsewhere a block left alone."""
    if not is_quiet(sys.orig_argv, sys.argv, os.environ):
        return contextlib.nullcontext()
    return filtered_stderr(_min_level(os.environ))


@contextlib.contextmanager
def filtered_stderr(min_level):
    """Sends file descriptor 2 to a temporary file inside the block, then writes
    its `kept_lines` to stderr."""
    if sys.stderr is None:  # Started with stderr closed: nothing to filter.
        yield
        return
    sys.stderr.flush()
    saved_stderr = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved_stderr, 2)
            os.close(saved_stderr)
            captured.seek(0)
            sys.stderr.write(kept_lines(captured.read().decode("utf-8", "replace"), min_level))
            sys.stderr.flush()


class TensorFlowInfoFilter(logging.Filter):
    """Drops the INFO and DEBUG records logged from TensorFlow's own Python files: its
    bookkeeping ("Assets written to", "Using new converter"), not the run's progress,
    which our lines give. Its warnings pass, and so does every other file's record.

    Args:
        package_dirs: where TensorFlow's files are; by default, found without
            importing it.
    """

    def __init__(self, package_dirs=None):
        super().__init__()
        if package_dirs is None:
            package_dirs = importlib.util.find_spec("tensorflow").submodule_search_locations
        self._prefixes = tuple(os.path.join(directory, "") for directory in package_dirs)

    def filter(self, record):
        return record.levelno >= logging.WARNING or not record.pathname.startswith(self._prefixes)


class TerminalFormatter(logging.Formatter):
    """A log line for people: the time and the message, and the level only when it is
    a warning or worse; no date, thread or file:line. A traceback still follows.

    >>> record = logging.makeLogRecord(
    ...     {"msg": "Resuming %s", "args": ("teacher",), "levelno": logging.INFO})
    >>> TerminalFormatter().format(record)[8:]
    ' Resuming teacher'
    >>> record = logging.makeLogRecord(
    ...     {"msg": "no GPU", "levelno": logging.WARNING, "levelname": "WARNING"})
    >>> TerminalFormatter().format(record)[8:]
    ' warning: no GPU'
    """

    def formatMessage(self, record):
        level = f"{record.levelname.lower()}: " if record.levelno >= logging.WARNING else ""
        return f"{self.formatTime(record, '%H:%M:%S')} {level}{record.message}"


def terminal_log_lines():
    """Formats absl's log lines, which ours are, with a `TerminalFormatter`."""
    from absl import logging as absl_logging

    absl_logging.get_absl_handler().setFormatter(TerminalFormatter())


def hide_tensorflow_info():
    """Adds a `TensorFlowInfoFilter` to the loggers TensorFlow's files write to: its
    own, and absl's (which ours share, so a logger's level cannot do it)."""
    info_filter = TensorFlowInfoFilter()
    for name in ("tensorflow", "absl"):
        logging.getLogger(name).addFilter(info_filter)


# The exit status of a command stopped by its user's config, data or flags.
USAGE_ERROR = 2


def error_line(program, error):
    """`<program>: error: <message>` on one line, whatever the message holds (a TFDS
    error spans several): how a command of ours reports a mistake of its user."""
    message = re.sub(r"\s*\n\s*", " ", str(error).strip())
    return f"{program}: error: {message}"
