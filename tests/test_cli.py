"""The `tfdistill` command end to end on the smoke config, and its one-line errors."""

import json
import os
import pathlib
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from command import InProcessResult
from command import REPO
from command import USER_ENV
from command import finished_run
from command import tfdistill
from command import tfdistill_in_process

from tfdistill import evaluation

SMOKE = REPO / "configs" / "smoke.yaml"
# configs/smoke.yaml: 64 training texts in batches of 16, six student epochs.
SMOKE_EPOCHS = 6
SMOKE_STEPS_PER_EPOCH = 4
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
    "export/bilstm_distilled/model_float32.tflite",
)


# Enough of the smoke run to train every stage under a strategy, quickly.
LIGHT_SMOKE = (
    "--set=distillation.epochs=2",
    "--set=distillation.baseline=false",
    "--set=export.tflite=[]",
    "--set=export.latency_batch_sizes=[8]",
)


# What TensorFlow's C++ writes at start-up (and tf.data later), and its Python INFO
# lines on saving and converting, which the command hides.
TENSORFLOW_NOISE = (
    "cuInit", "oneDNN", "cpu_feature_guard", "absl::InitializeLog", "node_def_util",
    "Assets written to", "Writing fingerprint", "Using new converter",
    "XNNPACK delegate", "fully_quantize",
)


# absl's log line prefix: severity, date, time, thread, file:line.
ABSL_LOG_PREFIX = r"^[IWEF]\d{4} [\d:.]+ +\d+ [^ \]]+:\d+\] "


def _tensorflow_noise(output):
    return [line for line in output.splitlines() if any(word in line for word in TENSORFLOW_NOISE)]


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    return finished_run(tmp_path_factory, SMOKE, "smoke")


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
    # Every timing names the machine it was taken on, and the run says it once.
    machine = evaluation.describe_machine()
    timings = [*metrics["models"].values(), metrics["models"]["bilstm_distilled"]["tflite"]["float32"]]
    assert [entry["measured_on"] for entry in timings] == [machine] * 4
    assert f"timed on: {machine}\n" in result.stdout
    assert f"timed on: {machine}." in (output_dir / "report.md").read_text()


@pytest.mark.slow
def test_the_smoke_run_prints_none_of_tensorflows_start_up_lines(smoke_run):
    _, result = smoke_run
    assert _tensorflow_noise(result.stderr + result.stdout) == []
    # Our own log lines and Keras's progress stay, ours as the time and the message.
    assert re.search(r"^\d\d:\d\d:\d\d Fine-tuning the teacher minilm_l6_packaged", result.stderr, re.M)
    assert not re.search(ABSL_LOG_PREFIX, result.stderr, re.M), result.stderr[-2000:]
    assert "Epoch 6/6" in result.stdout


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


def _assert_one_line_error(result, *fragments, alone=False):
    """Exit status 2, one error line holding `fragments`, no traceback or TF noise;
    `alone`: and nothing else on either stream (a mistake caught before any work)."""
    assert result.returncode == 2, result.stderr[-2000:]
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("tfdistill: error:")]
    assert len(error_lines) == 1, result.stderr[-2000:]
    if alone:
        assert result.stderr.strip().splitlines() == error_lines, result.stderr[-2000:]
        assert result.stdout.strip() == ""
    for fragment in fragments:
        assert fragment in error_lines[0]
    assert "Traceback" not in result.stderr
    assert _tensorflow_noise(result.stderr + result.stdout) == []


@pytest.mark.parametrize(
    "extra, fragments",
    [
        (["--set=distillation.temprature=3"], ["unknown config key distillation.temprature"]),
        (["--set=distillation.epochs=many"], ["distillation.epochs must be of type int"]),
        (["--set=teacher.preset=/nonexistent/teacher"], ["teacher.preset", "/nonexistent/teacher"]),
        # Before #14 this failed after the teacher's fine-tuning.
        (["--set=student.sizes={lstm_unit: 4}"], ["student.sizes: unknown key 'lstm_unit' (did you mean 'lstm_units'?) for bilstm; accepted:"]),
        # Before session 29 a misspelt preset name read the data, made the run's
        # folder, then died in keras-hub with a traceback and exit status 1.
        (["--set=teacher.preset=minilm_l6_packagd"], ["'minilm_l6_packagd' (did you mean 'minilm_l6_packaged'?) is not a teacher preset"]),
        (["--set=data.source=rotten_tomatos"], ["Unknown source 'rotten_tomatos' (did you mean 'rotten_tomatoes'?)"]),
        (["--set=distilation.epochs=3"], ["unknown config key distilation (did you mean 'distillation'?)"]),
        (["--set=distillation.loss=kll"], ["distillation.loss must be one of", "got 'kll' (did you mean 'kl'?)"]),
        # Caught after the data is read (the teacher's positions), before any folder.
        (["--set=teacher.sequence_length=1000"], ["teacher.sequence_length: 1000 is longer than the teacher's 512 position embeddings"]),
        (["--set=student.sizes.lstm_units=0"], ["student.sizes.lstm_units must be >= 1, got 0."]),
    ],
)
def test_bad_config_fails_in_one_line_and_writes_nothing(tmp_path, capsys, extra, fragments):
    output_dir = tmp_path / "run"
    result = tfdistill_in_process(capsys, f"--config={SMOKE}", f"--output_dir={output_dir}", *extra)
    _assert_one_line_error(result, *fragments, alone=True)
    assert list(tmp_path.iterdir()) == []


def test_a_run_without_an_output_dir_names_the_flag_and_writes_nothing(tmp_path, capsys, monkeypatch):
    # Before session 29 an unset output_dir became the current folder, and the
    # message was about that folder not being tfdistill's.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    result = tfdistill_in_process(capsys, f"--config={SMOKE}")
    _assert_one_line_error(result, "output_dir is not set: pass --output_dir", alone=True)
    assert [path.name for path in tmp_path.iterdir()] == ["notes.txt"]


def test_a_mistake_in_a_fresh_process_prints_its_one_line_and_nothing_else(tmp_path):
    # In a process of its own, as a user meets it: the in-process tests above do not
    # see absl's log lines, which pytest's logging capture takes.
    result = tfdistill(f"--config={SMOKE}", f"--output_dir={tmp_path / 'run'}",
                       "--set=student.sizes={lstm_unit: 4}")
    _assert_one_line_error(result, "student.sizes: unknown key 'lstm_unit'", alone=True)


def test_a_misspelt_flag_fails_in_one_line(capsys):
    # absl's own report of it is two lines, with exit status 1.
    from absl import flags

    from tfdistill import __main__ as command

    capsys.readouterr()
    try:
        with pytest.raises(SystemExit) as stopped:
            command._parse_flags(["tfdistill", "predict", "--model=runs/demo", "--inptu=texts.csv"])
    finally:
        flags.FLAGS.unparse_flags()
    result = InProcessResult(stopped.value.code, *capsys.readouterr())
    _assert_one_line_error(result, "Unknown command line flag 'inptu'", "tfdistill --help", alone=True)


def test_a_command_without_its_flags_names_every_missing_one(capsys):
    result = tfdistill_in_process(capsys, "predict", "--input=texts.txt")
    _assert_one_line_error(
        result, "--model and --output are required (`tfdistill --help` lists", alone=True
    )
    result = tfdistill_in_process(capsys)
    _assert_one_line_error(result, "tfdistill: error: --config is required (", alone=True)


def test_version_prints_one_line_of_versions(capsys):
    import keras

    result = tfdistill_in_process(capsys, "--version")
    assert result.returncode == 0 and result.stderr == ""
    assert re.fullmatch(
        rf"tfdistill \S+ \(TensorFlow \S+, Keras {re.escape(keras.__version__)}, keras-hub \S+, Python \S+\)\n",
        result.stdout,
    )


def test_tune_as_a_command_names_the_setting_that_searches(capsys):
    result = tfdistill_in_process(capsys, "tune", f"--config={SMOKE}")
    _assert_one_line_error(
        result, "unknown command 'tune'; commands: export, predict, run",
        "--set=distillation.tune.trials=", alone=True,
    )


@pytest.mark.parametrize(
    "typed, meant", [("rnu", "run"), ("predcit", "predict"), ("exprot", "export")]
)
def test_a_misspelt_command_names_the_command_meant(capsys, typed, meant):
    # "rnu" is one swap from "run", which difflib alone rates under the cut.
    result = tfdistill_in_process(capsys, typed, f"--config={SMOKE}")
    _assert_one_line_error(
        result, f"unknown command {typed!r} (did you mean {meant!r}?); commands:", alone=True
    )


def test_help_from_the_console_script_lists_the_commands_and_flags(tmp_path):
    # The installed `tfdistill` script is a stub module, not tfdistill/__main__.py.
    script = tmp_path / "bin" / "tfdistill"
    script.parent.mkdir()
    script.write_text("import sys\nfrom tfdistill.__main__ import run_main\nsys.exit(run_main())\n")
    result = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, cwd=REPO,
        env={**USER_ENV, "PYTHONPATH": str(REPO)},
    )
    # absl's --help exits with 1 once it has printed the help.
    assert "tfdistill predict --model=runs/demo" in result.stdout, result.stderr[-2000:]
    for flag in ("--config", "--output_dir", "--set", "--model", "--input", "--tflite"):
        assert f"  {flag}:" in result.stdout, result.stdout
    assert _tensorflow_noise(result.stderr + result.stdout) == []


def test_verbosity_brings_back_tensorflows_lines_and_the_errors_traceback(tmp_path):
    result = tfdistill(f"--config={SMOKE}", f"--output_dir={tmp_path / 'run'}",
                       "--set=distillation.epochs=0", "--verbosity=1")
    assert result.returncode == 2
    assert _tensorflow_noise(result.stderr), result.stderr[-2000:]
    # Our lines name their file and line again.
    assert re.search(ABSL_LOG_PREFIX + "The error in full:", result.stderr, re.M)
    assert "Traceback" in result.stderr
    assert result.stderr.rstrip().endswith(
        "tfdistill: error: distillation.epochs must be >= 1, got 0."
    )


def test_bad_data_fails_in_one_line_before_any_training(tmp_path, capsys):
    # Label ids 1 and 2: a phantom class 0 that no training example has.
    for split in ("train", "validation", "test"):
        (tmp_path / f"{split}.csv").write_text("text,label\ngood film,2\nbad film,1\n")
    result = tfdistill_in_process(
        capsys, f"--config={SMOKE}", f"--output_dir={tmp_path / 'run'}",
        f"--set=data.source={tmp_path / '{split}.csv'}",
    )
    _assert_one_line_error(
        result, "data: classes ['0'] (label ids [0]) have no example in the train split", alone=True
    )
    assert "Fine-tuning" not in result.stderr


def test_an_unexpected_error_keeps_its_traceback(tmp_path):
    # A ValueError from deep inside a run is a bug, not a data error: injected here.
    script = textwrap.dedent(
        f"""
        import sys
        from tfdistill import __main__ as command
        from tfdistill.run import pipeline

        def run(config, output_dir, overwrite=False):
            raise ValueError("a bug deep inside training")

        pipeline.run = run
        sys.argv = ["tfdistill", "--config={SMOKE}", "--output_dir={tmp_path / 'run'}"]
        command.run_main()
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, env=USER_ENV
    )
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.rstrip().endswith("ValueError: a bug deep inside training")
    assert "tfdistill: error:" not in result.stderr


def test_unwritable_output_directory_fails_in_one_line(tmp_path, capsys):
    # A path below a regular file cannot be created, even by root.
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = tfdistill_in_process(capsys, f"--config={SMOKE}", f"--output_dir={blocker / 'run'}")
    _assert_one_line_error(result, "cannot be written", str(blocker / "run"))
    assert sorted(path.name for path in tmp_path.iterdir()) == ["file"]


def _run_until(args, condition, timeout=600):
    """Starts the command, SIGKILLs it as soon as `condition()` holds, returns its log."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tfdistill", *args],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "the run never reached the kill point"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()


def _finished_epochs(stage_dir):
    state = stage_dir / "state.json"
    return len(json.loads(state.read_text())["epochs"]) if state.exists() else 0


@pytest.mark.long
def test_a_run_killed_while_a_student_trains_resumes_it_exactly(smoke_run, tmp_path):
    output_dir = tmp_path / "killed"
    args = [f"--config={SMOKE}", f"--output_dir={output_dir}"]
    checkpoint = pathlib.Path(f"{output_dir}.partial") / "checkpoints" / "bilstm_distilled"
    _run_until(args, lambda: _finished_epochs(checkpoint) >= 1)

    result = tfdistill(*args)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Reusing the fine-tuned teacher" in result.stderr
    epoch, step = map(int, re.search(
        r"Resuming bilstm_distilled from epoch (\d+) \(optimizer step (\d+)\)", result.stderr
    ).groups())
    assert 1 <= epoch < SMOKE_EPOCHS and step == epoch * SMOKE_STEPS_PER_EPOCH
    resumed = json.loads((output_dir / "metrics.json").read_text())["models"]
    uninterrupted = json.loads((smoke_run[0] / "metrics.json").read_text())["models"]
    for name in ("bilstm_distilled", "bilstm_baseline"):
        assert resumed[name]["optimizer_steps"] == uninterrupted[name]["optimizer_steps"]
        assert resumed[name]["optimizer_steps"] == SMOKE_EPOCHS * SMOKE_STEPS_PER_EPOCH
        assert abs(resumed[name]["accuracy"] - uninterrupted[name]["accuracy"]) <= 0.005
        # Same seed, same config, another process: the same training, epoch by epoch.
        histories = [
            json.loads((run / "students" / name / "training.json").read_text())["history"]
            for run in (output_dir, smoke_run[0])
        ]
        for metric, values in histories[0].items():
            if metric == "epoch_seconds":  # Wall time: the one thing that may differ.
                continue
            np.testing.assert_allclose(values, histories[1][metric], atol=1e-6, err_msg=metric)


@pytest.mark.long
def test_a_run_killed_during_the_teacher_fine_tune_keeps_its_finished_epochs(tmp_path):
    output_dir = tmp_path / "killed"
    args = [f"--config={SMOKE}", f"--output_dir={output_dir}", "--set=teacher.epochs=2"]
    checkpoint = pathlib.Path(f"{output_dir}.partial") / "checkpoints" / "teacher"
    _run_until(args, lambda: _finished_epochs(checkpoint) >= 1)

    result = tfdistill(*args)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Resuming teacher from epoch 1 (optimizer step 4)" in result.stderr
    history = json.loads((output_dir / "teacher" / "training.json").read_text())["history"]
    assert len(history["loss"]) == 2


@pytest.mark.long
def test_small_bert_with_intermediate_terms_and_a_temperature_schedule(tmp_path, tiny_teacher):
    output_dir = tmp_path / "intermediate"
    result = tfdistill(
        f"--config={SMOKE}",
        f"--output_dir={output_dir}",
        f"--set=teacher.preset={tiny_teacher}",
        "--set=student.kind=small_bert",
        "--set=student.sizes={num_layers: 1}",
        "--set=student.sequence_length=32",
        "--set=distillation.epochs=2",
        "--set=distillation.baseline=false",
        "--set=export.tflite=[]",
        "--set=distillation.intermediate={hidden: 1.0, attention: 1.0}",
        "--set=distillation.schedule={temperature: {kind: linear, start: 4.0, end: 1.0}}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    history = json.loads(
        (output_dir / "students" / "small_bert_distilled" / "training.json").read_text()
    )["history"]
    assert history["temperature"] == [4.0, 1.0]
    assert len(history["hidden_loss"]) == len(history["val_attention_loss"]) == 2


@pytest.mark.parametrize(
    "extra, fragments",
    [
        (["--set=teacher.ensemble_seeds=[7, 7]"], ["teacher.ensemble_seeds repeats a seed"]),
        (
            ["--set=teacher.ensemble_seeds=[7]", "--set=teacher.ensemble_weights=[1.0]"],
            ["teacher.ensemble_weights", "1 teacher weights were given for 2 teachers"],
        ),
    ],
)
def test_bad_ensemble_config_fails_in_one_line(tmp_path, capsys, extra, fragments):
    result = tfdistill_in_process(capsys, f"--config={SMOKE}", f"--output_dir={tmp_path / 'run'}", *extra)
    _assert_one_line_error(result, *fragments)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.long
def test_a_teacher_ensemble_under_mirrored_strategy_from_the_config(tmp_path, tiny_teacher):
    """Two features in one smoke run, to keep the suite short: an ensemble of two
    teachers (fine-tuned, cached per member, averaged) and MirroredStrategy on two
    logical CPU devices."""
    output_dir = tmp_path / "ensemble_mirrored"
    result = tfdistill(
        f"--config={SMOKE}",
        f"--output_dir={output_dir}",
        f"--set=teacher.preset={tiny_teacher}",
        "--set=runtime.strategy=mirrored",
        "--set=runtime.cpu_devices=2",
        "--set=teacher.ensemble_seeds=[7]",
        "--set=teacher.ensemble_weights=[1.0, 3.0]",
        *LIGHT_SMOKE,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Strategy MirroredStrategy with 2 replica(s)" in result.stderr
    assert f"Fine-tuning the teacher {tiny_teacher} as teacher_seed_7, seed 7" in result.stderr
    assert (output_dir / "teacher_seed_7" / "task.json").exists()
    # Train, validation and test logits for each of the two teachers.
    assert len(list((output_dir / "cache").glob("*.npy"))) == 6
    summary = json.loads((output_dir / "metrics.json").read_text())
    assert set(summary["teacher_ensemble"]["member_accuracy"]) == {"teacher", "teacher_seed_7"}
    assert "teacher ensemble (the students' soft labels)" in result.stdout
    assert summary["models"]["bilstm_distilled"]["optimizer_steps"] == 2 * SMOKE_STEPS_PER_EPOCH


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("localhost", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


@pytest.mark.long
def test_multi_worker_strategy_with_two_local_workers_finishes_the_smoke_run(tmp_path, tiny_teacher):
    output_dir = tmp_path / "multi_worker"
    cluster = {"worker": [f"localhost:{port}" for port in _free_ports(2)]}
    workers = [
        subprocess.Popen(
            [
                sys.executable, "-m", "tfdistill", f"--config={SMOKE}",
                f"--output_dir={output_dir}", "--set=runtime.strategy=multi_worker",
                f"--set=teacher.preset={tiny_teacher}", *LIGHT_SMOKE,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env={
                **os.environ,
                "TF_CPP_MIN_LOG_LEVEL": "3",
                "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}),
            },
        )
        for i in range(2)
    ]
    outputs = [worker.communicate(timeout=900) for worker in workers]
    for worker, (_, stderr) in zip(workers, outputs):
        assert worker.returncode == 0, stderr[-3000:]
        assert "Strategy CollectiveAllReduceStrategy with 2 replica(s)" in stderr
    # The chief (worker 0) wrote the run; worker 1's scratch copy is gone.
    metrics = json.loads((output_dir / "metrics.json").read_text())["models"]
    assert metrics["bilstm_distilled"]["optimizer_steps"] == 2 * SMOKE_STEPS_PER_EPOCH
    assert sorted(path.name for path in tmp_path.iterdir()) == ["multi_worker"]


def test_multi_worker_strategy_without_tf_config_fails_in_one_line(tmp_path):
    env_without = {key: value for key, value in os.environ.items() if key != "TF_CONFIG"}
    result = subprocess.run(
        [sys.executable, "-m", "tfdistill", f"--config={SMOKE}",
         f"--output_dir={tmp_path / 'run'}", "--set=runtime.strategy=multi_worker"],
        capture_output=True, text=True, cwd=REPO, env={**env_without, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    _assert_one_line_error(result, "runtime.strategy", "TF_CONFIG")
    assert list(tmp_path.iterdir()) == []


def test_intermediate_terms_need_a_bert_student(tmp_path, capsys):
    result = tfdistill_in_process(
        capsys, f"--config={SMOKE}", f"--output_dir={tmp_path / 'run'}",
        "--set=distillation.intermediate={hidden: 1.0}",
    )
    _assert_one_line_error(result, "distillation.intermediate", "small_bert")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_a_rerun_with_another_config_stops_in_one_line_and_keeps_the_run(smoke_run):
    output_dir, _ = smoke_run
    before = {p: p.stat().st_mtime_ns for p in output_dir.rglob("*") if p.is_file()}
    result = tfdistill(
        f"--config={SMOKE}", f"--output_dir={output_dir}", "--set=distillation.temperature=4"
    )
    _assert_one_line_error(
        result, "bilstm_distilled was made with other settings",
        "distillation.temperature 2.0 -> 4.0", "--overwrite",
    )
    after = {p: p.stat().st_mtime_ns for p in output_dir.rglob("*") if p.is_file()}
    assert after == before


def test_a_users_folder_is_refused_in_one_line_and_kept(tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "cat.jpg").write_text("mine")
    result = tfdistill_in_process(capsys, f"--config={SMOKE}", f"--output_dir={folder}")
    _assert_one_line_error(result, "was not made by tfdistill")
    assert [p.name for p in folder.iterdir()] == ["cat.jpg"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos"]


@pytest.mark.slow
def test_export_adds_tflite_files_to_a_finished_run(smoke_run, tmp_path, capsys):
    run_dir = tmp_path / "run"
    subprocess.run(["cp", "-al", str(smoke_run[0]), str(run_dir)], check=True)
    result = tfdistill("export", f"--run={run_dir}", "--tflite=dynamic_range")
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for name in ("bilstm_distilled", "bilstm_baseline"):
        entries = metrics["models"][name]["tflite"]
        assert sorted(entries) == ["dynamic_range", "float32"]
        assert entries["dynamic_range"]["exported"], entries["dynamic_range"]
        assert (run_dir / entries["dynamic_range"]["path"]).is_file()
        assert 0.0 <= entries["dynamic_range"]["agreement"] <= 1.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    assert f"timed on: {evaluation.describe_machine()}\n" in result.stdout
    # The finished smoke run it was linked from is untouched.
    assert not (smoke_run[0] / "export" / "bilstm_distilled" / "model_dynamic_range.tflite").exists()
    # The mistakes stop before any work: the command's own `main` is enough.
    bad = tfdistill_in_process(capsys, "export", f"--run={run_dir}", "--tflite=int4")
    _assert_one_line_error(bad, "export.tflite", "int4")
    before = (run_dir / "metrics.json").read_text()
    twice = tfdistill_in_process(capsys, "export", f"--run={run_dir}", "--tflite=float16,float16")
    _assert_one_line_error(twice, "export.tflite names 'float16' twice")
    assert (run_dir / "metrics.json").read_text() == before
    assert not (run_dir / "export" / "bilstm_distilled" / "model_float16.tflite").exists()
    inside = tfdistill_in_process(capsys, "export", f"--run={run_dir}/students", "--tflite=float16")
    _assert_one_line_error(inside, f"it is inside the run {run_dir} (pass --run={run_dir}).")
    misspelt = tfdistill_in_process(capsys, "export", f"--run={tmp_path}/runn", "--tflite=float16")
    _assert_one_line_error(misspelt, f"{tmp_path}/runn does not exist (did you mean '{run_dir}'?).")
