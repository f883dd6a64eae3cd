"""The `tfdistill` command end to end on the smoke config, and its one-line errors."""

import json
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
SMOKE = REPO / "configs" / "smoke.yaml"
RUN_FILES = (
    "config.yaml",
    "metrics.json",
    "report.md",
    "learning_curves.png",
    "tradeoff.png",
    "teacher/task.json",
    "students/bilstm_distilled/model.keras",
    "students/bilstm_baseline/model.keras",
    "export/teacher/savedmodel/saved_model.pb",
    "export/bilstm_distilled/savedmodel/saved_model.pb",
    "export/bilstm_baseline/savedmodel/saved_model.pb",
    "export/bilstm_distilled/model.tflite",
)


def tfdistill(*args, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "tfdistill", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        **kwargs,
    )


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("cli") / "smoke"
    result = tfdistill(f"--config={SMOKE}", f"--output_dir={output_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    return output_dir, result


@pytest.mark.slow
def test_smoke_run_writes_every_artifact_and_prints_the_table(smoke_run):
    output_dir, result = smoke_run
    for name in RUN_FILES:
        assert (output_dir / name).exists(), name
    assert (output_dir / "tensorboard").is_dir()
    assert not pathlib.Path(f"{output_dir}.partial").exists()
    metrics = json.loads((output_dir / "metrics.json").read_text())
    assert set(metrics["models"]) == {"teacher", "bilstm_distilled", "bilstm_baseline"}
    for scores in metrics["models"].values():
        assert {"accuracy", "precision", "recall", "f1", "confusion_matrix", "parameters"} <= set(scores)
        assert sum(map(sum, scores["confusion_matrix"])) == 64
        assert [speed["batch_size"] for speed in scores["speed"]] == [1, 8]
    assert "retention" in result.stdout and "bilstm_distilled" in result.stdout
    assert "dtype policies: teacher float32, bilstm_distilled float32" in result.stdout


@pytest.mark.slow
def test_exported_savedmodel_serves_raw_strings_in_a_fresh_process(smoke_run):
    output_dir, _ = smoke_run
    script = textwrap.dedent(
        f"""
        import json
        import tensorflow as tf
        import tensorflow_text  # noqa: F401  The BERT tokenizer's ops.

        texts = tf.constant(["", "A gripping, funny film.", "awful 😡", "   ", "x" * 10000])
        out = {{}}
        for name in ("teacher", "bilstm_distilled"):
            serve = tf.saved_model.load("{output_dir}/export/" + name + "/savedmodel")
            result = serve.signatures["serving_default"](texts=texts)
            out[name] = {{key: value.numpy().tolist() for key, value in result.items()}}
        print(json.dumps(out, default=lambda b: b.decode()))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    )
    assert result.returncode == 0, result.stderr[-3000:]
    served = json.loads(result.stdout.strip().splitlines()[-1])
    for outputs in served.values():
        assert len(outputs["probabilities"]) == 5
        for row in outputs["probabilities"]:
            assert sum(row) == pytest.approx(1.0, abs=1e-5)
        assert set(outputs["labels"]) <= {"negative", "positive"}


def _assert_one_line_error(result, *fragments):
    assert result.returncode != 0
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("tfdistill: error:")]
    assert len(error_lines) == 1, result.stderr[-2000:]
    for fragment in fragments:
        assert fragment in error_lines[0]


@pytest.mark.parametrize(
    "extra, fragments",
    [
        (["--set=distillation.temprature=3"], ["unknown config key distillation.temprature"]),
        (["--set=distillation.epochs=many"], ["distillation.epochs must be of type int"]),
        (["--set=teacher.preset=/nonexistent/teacher"], ["teacher.preset", "/nonexistent/teacher"]),
    ],
)
def test_bad_config_fails_in_one_line_and_writes_nothing(tmp_path, extra, fragments):
    output_dir = tmp_path / "run"
    result = tfdistill(f"--config={SMOKE}", f"--output_dir={output_dir}", *extra)
    _assert_one_line_error(result, *fragments)
    assert list(tmp_path.iterdir()) == []


def test_unwritable_output_directory_fails_in_one_line(tmp_path):
    # A path below a regular file cannot be created, even by root.
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = tfdistill(f"--config={SMOKE}", f"--output_dir={blocker / 'run'}")
    _assert_one_line_error(result, "cannot be written", str(blocker / "run"))
    assert sorted(path.name for path in tmp_path.iterdir()) == ["file"]
