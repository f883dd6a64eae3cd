"""The command's quiet terminal: which lines of TensorFlow's C++ are hidden, and when.

The command itself is run in tests/test_cli.py: its errors print no TensorFlow line,
and `--verbosity=1` brings them back.
"""

import logging
import os
import pathlib
import subprocess
import sys

from tfdistill.run import quiet

# Lines TensorFlow 2.21 wrote at start-up on this project's CPU machine.
EARLY_LINES = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    "I0000 00:00:1796168123.632432   25205 port.cc:153] oneDNN custom operations are on.\n"
    "I0000 00:00:1796168123.632731   25205 cudart_stub.cc:31] Could not find cuda drivers.\n"
    "I0000 00:00:1796168123.704918   25205 cpu_feature_guard.cc:227] This TensorFlow binary "
    "is optimized to use available CPU instructions.\n"
    "To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild.\n"
)
AN_ERROR = "E0000 00:00:1796168128.035791   25205 cuda_platform.cc:52] failed call to cuInit\n"


# Each case is a loop item, not a parametrized test: the suite's per-test teardown
# (clearing the Keras session) costs more than all of them.
COMMAND_LINES = (
    (["/venv/bin/python", "/venv/bin/tfdistill", "--config=run.yaml"], True),
    (["python", "-m", "tfdistill", "--config=run.yaml"], True),
    (["python", "-u", "-W", "ignore", "-m", "tfdistill.__main__"], True),
    (["python", "-m", "pytest", "tests"], False),
    (["python", "-c", "import tfdistill"], False),  # The library keeps TF's lines.
    (["python", "benchmarks/accuracy.py"], False),
    (["python"], False),
)
OPT_INS = (
    (["tfdistill", "--config=run.yaml"], {}, False),
    (["tfdistill", "--verbosity=1"], {}, True),
    (["tfdistill", "-v", "2"], {}, True),
    (["tfdistill", "--v=0"], {}, False),
    (["tfdistill", "--verbosity=-1"], {}, False),
    (["tfdistill", "--verbosity=loud"], {}, False),  # absl's own parsing reports it.
    (["tfdistill"], {"TFDISTILL_TF_LOGS": "1"}, True),
    (["tfdistill"], {"TFDISTILL_TF_LOGS": "0"}, False),
)


def test_only_the_command_is_quiet():
    for orig_argv, expected in COMMAND_LINES:
        assert quiet.is_command(orig_argv) is expected, orig_argv


def test_a_program_that_asks_is_quiet_unless_the_user_asks_for_tensorflows_lines():
    benchmark = ["python", "benchmarks/accuracy.py"]
    assert not quiet.is_quiet(benchmark, benchmark[1:], {})
    assert quiet.is_quiet(benchmark, benchmark[1:], {"TFDISTILL_QUIET_IMPORT": "1"})
    both = {"TFDISTILL_QUIET_IMPORT": "1", "TFDISTILL_TF_LOGS": "1"}
    assert not quiet.is_quiet(benchmark, benchmark[1:], both)


def test_a_benchmark_prints_no_tensorflow_start_up_line():
    script = pathlib.Path(__file__).resolve().parent.parent / "benchmarks" / "unknown_words.py"
    environ = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "TFDISTILL_TF_LOGS")}
    done = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, env=environ, timeout=300
    )
    # absl's --help exits with 1 once it has printed the flags.
    assert "--vocabulary_size" in done.stdout, done.stderr
    for line in ("cpu_feature_guard", "oneDNN custom operations", "cuInit", "InitializeLog"):
        assert line not in done.stderr, done.stderr


def test_verbosity_or_the_environment_variable_asks_for_tensorflows_lines():
    for argv, environ, expected in OPT_INS:
        assert quiet.wants_tensorflow_logs(argv, environ) is expected, (argv, environ)


def test_early_lines_are_dropped_by_level_with_their_continuations():
    text = "a line before\n" + EARLY_LINES + AN_ERROR
    assert quiet.kept_lines(text, min_level=3) == "a line before\n"
    # Level 2 keeps errors; level 0 keeps everything, as TF_CPP_MIN_LOG_LEVEL would.
    assert quiet.kept_lines(text, min_level=2) == "a line before\n" + AN_ERROR
    assert quiet.kept_lines(text, min_level=0) == text


def test_tensorflows_own_info_records_are_dropped_and_its_warnings_and_ours_kept(tmp_path):
    tensorflow_dir = tmp_path / "site-packages" / "tensorflow"
    info_filter = quiet.TensorFlowInfoFilter(package_dirs=[str(tensorflow_dir)])

    def kept(path, level):
        record = logging.LogRecord("absl", level, str(path), 1, "a message", None, None)
        return info_filter.filter(record)

    saver = tensorflow_dir / "python" / "saved_model" / "builder_impl.py"
    assert not kept(saver, logging.INFO)
    assert kept(saver, logging.WARNING)
    assert kept(tmp_path / "tfdistill" / "run" / "pipeline.py", logging.INFO)
    # A sibling package whose name starts the same is not TensorFlow's.
    assert kept(tmp_path / "site-packages" / "tensorflow_text" / "ops.py", logging.INFO)


def test_the_import_window_filters_file_descriptor_2(capfd):
    # What C++ writes bypasses sys.stderr: only the descriptor sees it.
    with quiet.filtered_stderr(min_level=3):
        os.write(2, b"a line that is not TensorFlow's\n")
        os.write(2, EARLY_LINES.encode())
    os.write(2, AN_ERROR.encode())  # After the window: untouched.
    assert capfd.readouterr().err == "a line that is not TensorFlow's\n" + AN_ERROR
