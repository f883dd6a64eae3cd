"""The benchmark scripts' docstring examples.

`make test` collects the package's doctests but not the scripts': each script defines
its absl flags when imported, and two scripts in one process collide on a name such
as `--set`. So the scripts that hold examples run in a process of their own here.
Without this, `common.default_split` broke when `load_split` gained its `task`
argument, and four benchmarks stopped at their first line unnoticed.

The long test runs the scripts that need no finished run with `--quick` (their
`make bench-quick`), so that a change of the package's API that a script calls
stops `make test-long`; `accuracy.py` and `ablation.py` run the pipeline that the
default tests run, `tflite.py` needs a finished run; `unknown_words.py --run_dir` and
`vocabulary_expansion.py` run on a small run made here.
"""

import json
import pathlib
import subprocess
import sys

import pytest

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


def test_a_config_mistake_is_one_line_and_status_2(tmp_path):
    command = [
        sys.executable, "benchmarks/accuracy.py", "--set=distillation.temprature=3",
        f"--output_dir={tmp_path / 'runs'}",
    ]
    result = subprocess.run(command, cwd=BENCHMARKS.parent, capture_output=True, text=True)
    assert result.returncode == 2, result.stderr[-3000:]
    assert result.stderr.strip().splitlines() == [
        "accuracy: error: unknown config key distillation.temprature (did you mean 'temperature'?)."
    ]
    assert not (tmp_path / "runs").exists()


QUICK_SCRIPTS = (
    "hardware_efficiency.py", "inference.py", "precision_xla.py", "training_cost.py",
    "unknown_words.py", "vs_keras_distillation.py",
)


@pytest.mark.long
@pytest.mark.parametrize("script", QUICK_SCRIPTS)
def test_benchmark_runs_quick(script, tmp_path):
    output = tmp_path / "results.json"
    command = [sys.executable, script, "--quick", f"--output_json={output}"]
    result = subprocess.run(command, cwd=BENCHMARKS, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert output.is_file()


@pytest.mark.long
def test_unknown_words_counts_what_predict_reports_with_a_runs_student(tmp_path):
    from tfdistill import data
    from tfdistill.models.students.saving import save_preprocessor

    # What the script reads of a run: its distilled student's preprocessor.
    vectorizer = data.build_vectorizer(["a good film", "a bad film"], sequence_length=8)
    save_preprocessor(vectorizer, tmp_path / "run" / "students" / "bilstm_distilled")
    output = tmp_path / "results.json"
    command = [sys.executable, "unknown_words.py", "--quick", f"--run_dir={tmp_path / 'run'}",
               f"--output_json={output}"]
    result = subprocess.run(command, cwd=BENCHMARKS, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = {row["set"]: row for row in json.loads(output.read_text())["results"]["predicted"]}
    # Four words known: nearly every word of every set is unknown, and warned.
    assert {row["warned"] for row in rows.values()} == {"yes"}
    assert rows["chinese.csv"]["unknown"] == 1.0 and 0.8 < rows["rotten_tomatoes"]["unknown"] < 1.0


@pytest.mark.long
def test_vocabulary_expansion_maps_the_rows_no_batch_reached(tmp_path, tiny_teacher):
    from tfdistill.run import config as run_config
    from tfdistill.run import pipeline

    # A word-level student from the teacher's vectors, with the teacher's whole words:
    # rows that no text of the smoke run's transfer set holds.
    overrides = [
        "distillation.epochs=1", "distillation.baseline=false", "export.tflite=[]",
        "export.latency_batch_sizes=[8]", f"teacher.preset={tiny_teacher}",
        "student.sizes={vocabulary_size: 500, embedding_dim: 8, lstm_units: 4, "
        "init_from_teacher: true, teacher_words: true}",
    ]
    smoke = run_config.load(BENCHMARKS.parent / "configs" / "smoke.yaml")
    pipeline.run(run_config.override(smoke, overrides), tmp_path / "run")
    output = tmp_path / "results.json"
    command = [sys.executable, "vocabulary_expansion.py", "--quick",
               f"--run_dir={tmp_path / 'run'}", f"--output_json={output}"]
    result = subprocess.run(command, cwd=BENCHMARKS, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads(output.read_text())["results"]
    # Every start vector recomputed to the bit: the rows that moved and those that
    # did not are told apart, and only the latter are mapped.
    rows = results["rows"][str(tmp_path / "run")]
    assert 0 < rows["untouched"] < rows["words"], rows
    assert [record["set"] for record in results["expansion"]] == ["test"]
