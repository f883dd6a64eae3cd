"""A run killed at any moment and run again ends exactly as a run never killed.

Each test runs the smoke config with early stopping active, once uninterrupted (the
reference); then it kills the same command (SIGKILL) at chosen moments, runs it again
to its end, and compares `metrics.json`, every `training.json` and every saved
model's weights with the reference's, numbers to 1e-6 (wall times, sizes on disk and
the ratios derived from them aside).

The default suite kills one run twice, with a tiny random teacher for speed, the
rerun picking up where the run was killed: after the distilled student's last
checkpoint (early stopping had ended it), then while the teacher is exported. `make
test-long` also kills a run with averaged weights (`distillation.ema_momentum`) once,
after the distilled student's first epoch (in the default suite,
`tests/test_distillation_averaging.py` crashes such a stage, and such a run, in process).
The full harness, `pytest tests/test_kill_anywhere.py -m kill_anywhere`, kills a
fresh run at each of its moments: targeted ones, found by log lines and checkpoint
files, that cover every stage whatever the machine's speed, and seeded random ones
over the reference run's duration.
"""

import dataclasses
import json
import random

import pytest

import kill_harness
from kill_harness import after_checkpoint
from kill_harness import after_file
from kill_harness import after_log
from kill_harness import after_seconds
from tiny_models import save_tiny_teacher

# configs/smoke.yaml trains each student for at most this many epochs.
SMOKE_EPOCHS = 6
# Patience 1 stops both smoke students after 4 epochs, with their third epoch's weights.
EARLY_STOPPING = ("--set=distillation.patience=1",)
# The full harness: a teacher of two epochs, so that it has a checkpoint to resume.
FULL = (*EARLY_STOPPING, "--set=teacher.epochs=2")
# The default suite's run (with a tiny random teacher): no baseline, no TFLite, short timings.
LIGHT = (
    *EARLY_STOPPING,
    "--set=distillation.baseline=false",
    "--set=export.tflite=[]",
    "--set=export.latency_batch_sizes=[1]",
    "--set=export.latency_seconds=0.05",
)
# The random kill moments, as fractions of the reference run's wall time.
_MOMENTS = random.Random(14)
RANDOM_MOMENTS = sorted(round(_MOMENTS.uniform(0.02, 0.95), 3) for _ in range(4))


@dataclasses.dataclass
class Reference:
    """The uninterrupted run: its wall time and results."""

    seconds: float
    results: dict


def uninterrupted(folder, overrides):
    seconds = kill_harness.run(folder / "run", overrides, folder / "run.log")
    epochs = [
        len(json.loads(path.read_text())["history"]["loss"])
        for path in (folder / "run" / "students").glob("*/training.json")
    ]
    # Early stopping is active: every student stopped before its last epoch.
    assert epochs and max(epochs) < SMOKE_EPOCHS, epochs
    return Reference(seconds, kill_harness.results(folder / "run"))


def assert_same_results(reference, output_dir):
    differences = kill_harness.differences(reference.results, kill_harness.results(output_dir))
    assert not differences, "\n".join(differences[:40])


@pytest.mark.slow
def test_a_run_killed_after_a_students_last_checkpoint_then_in_export_ends_as_if_never_killed(
    tmp_path,
):
    teacher = save_tiny_teacher(tmp_path / "tiny_teacher")
    overrides = (*LIGHT, f"--set=teacher.preset={teacher}")
    reference = uninterrupted(tmp_path, overrides)
    output_dir = tmp_path / "killed"
    # Each kill point, and what the next attempt says when it picks up from there.
    kills = [
        (
            after_checkpoint("student", "bilstm_distilled"),
            "Resuming bilstm_distilled with no epoch left to train",
        ),
        (
            after_log("export", r"Assets written to: \S*export/teacher/"),
            "Reusing the trained student",
        ),
    ]
    logs = [tmp_path / f"attempt-{number}.log" for number in range(len(kills) + 1)]
    for (kill_point, _), log in zip(kills, logs):
        killed, _ = kill_harness.run_until(output_dir, overrides, kill_point, log)
        assert killed, kill_point.name
    kill_harness.run(output_dir, overrides, logs[-1])

    for (kill_point, resumed), log in zip(kills, logs[1:]):
        assert resumed in log.read_text(), kill_point.name
    assert_same_results(reference, output_dir)


@pytest.fixture(scope="module")
def full_reference(tmp_path_factory):
    return uninterrupted(tmp_path_factory.mktemp("reference"), FULL)


# Each targeted kill point, and what the rerun says when it picks up from there.
TARGETED = {
    kill_point.name: (kill_point, rerun_says)
    for kill_point, rerun_says in [
        (after_log("teacher-fine-tuning", r"Fine-tuning the teacher"), None),
        (after_checkpoint("teacher-after-epoch-1", "teacher", 1), "Resuming teacher from epoch 1"),
        (
            after_checkpoint("teacher-after-its-last-checkpoint", "teacher"),
            "Resuming teacher with no epoch left to train",
        ),
        (after_log("logits-of-train", r"Teacher logits for train"), None),
        (after_log("logits-of-test", r"Teacher logits for test"), None),
        (after_log("distilled-starts", r"Training bilstm_distilled"), None),
        (
            after_checkpoint("distilled-after-epoch-2", "bilstm_distilled", 2),
            "Resuming bilstm_distilled from epoch 2",
        ),
        (
            after_checkpoint("distilled-after-its-last-checkpoint", "bilstm_distilled"),
            "Resuming bilstm_distilled with no epoch left to train",
        ),
        (after_log("between-the-students", r"Training bilstm_baseline"), None),
        (
            after_checkpoint("baseline-after-its-last-checkpoint", "bilstm_baseline"),
            "Resuming bilstm_baseline with no epoch left to train",
        ),
        (after_log("export-of-the-teacher", r"Assets written to: \S*export/teacher/"), None),
        (after_log("export-of-a-student", r"Assets written to: \S*export/bilstm_baseline/"), None),
        (after_file("report", "metrics.json"), None),
    ]
}


@pytest.mark.kill_anywhere
@pytest.mark.parametrize("name", TARGETED)
def test_a_run_killed_at_a_targeted_moment_ends_as_if_never_killed(
    full_reference, tmp_path, name
):
    kill_point, rerun_says = TARGETED[name]
    attempt = kill_harness.kill_then_finish(tmp_path / "run", FULL, kill_point, tmp_path)
    print(
        f"\n{name}: killed at {attempt.killed_at_seconds:.0f} s, rerun {attempt.rerun_seconds:.0f} s"
    )
    assert attempt.killed
    if rerun_says:
        assert rerun_says in attempt.rerun_log
    assert_same_results(full_reference, tmp_path / "run")


@pytest.mark.kill_anywhere
@pytest.mark.parametrize("fraction", RANDOM_MOMENTS)
def test_a_run_killed_at_a_random_moment_ends_as_if_never_killed(
    full_reference, tmp_path, fraction
):
    name = f"random-{fraction}"
    attempt = kill_harness.kill_then_finish(
        tmp_path / "run", FULL, after_seconds(name, fraction * full_reference.seconds), tmp_path
    )
    assert_same_results(full_reference, tmp_path / "run")
    if not attempt.killed:
        # The machine runs faster than when the reference ran: the run that just
        # ended unkilled measured its pace, so a fresh one is killed at that scale.
        retry = tmp_path / "retry"
        retry.mkdir()
        moment = after_seconds(name, fraction * attempt.killed_at_seconds)
        attempt = kill_harness.kill_then_finish(retry / "run", FULL, moment, retry)
        assert_same_results(full_reference, retry / "run")
    print(
        f"\n{name}: {'killed' if attempt.killed else 'finished before'} at "
        f"{attempt.killed_at_seconds:.0f} s, rerun {attempt.rerun_seconds:.0f} s"
    )


@pytest.mark.long
def test_a_run_with_averaged_weights_killed_mid_student_ends_as_if_never_killed(tmp_path):
    """The checkpoint holds the averaged weights swapped in; the rerun must swap them
    back before training on (`tfdistill.distillation.averaging.EpochEMAWeights`)."""
    teacher = save_tiny_teacher(tmp_path / "tiny_teacher")
    overrides = (
        *LIGHT, f"--set=teacher.preset={teacher}", "--set=distillation.ema_momentum=0.5"
    )
    reference = uninterrupted(tmp_path, overrides)
    output_dir = tmp_path / "killed"
    kill_point = after_checkpoint("distilled-after-epoch-1", "bilstm_distilled", 1)
    killed, _ = kill_harness.run_until(output_dir, overrides, kill_point, tmp_path / "attempt-0.log")
    assert killed
    kill_harness.run(output_dir, overrides, tmp_path / "attempt-1.log")
    assert "Resuming bilstm_distilled from epoch 1" in (tmp_path / "attempt-1.log").read_text()
    assert_same_results(reference, output_dir)
