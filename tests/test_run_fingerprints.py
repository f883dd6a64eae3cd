"""Stage fingerprints: a rerun with another config never silently reuses a result
(tfdistill.run.fingerprints)."""

import numpy as np
import pytest

from tfdistill import tasks
from tfdistill.run import config as run_config
from tfdistill.run import fingerprints
from tfdistill.run.context import RunContext
from tfdistill.run.folders import RunFolderError
from tfdistill.run.layout import RunLayout
from tfdistill.run.splits import Split


def _context(tmp_path, *assignments, texts=("a gem", "a dud")):
    config = run_config.override(run_config.RunConfig(), list(assignments))
    split = Split(list(texts), np.array([1, 0], np.int32))
    return RunContext(
        config=config,
        layout=RunLayout(tmp_path / "run.partial"),
        task=tasks.get("text_classification"),
        splits={"train": split, "validation": split, "test": split},
        class_names=["negative", "positive"],
        teacher_policy="float32",
        student_policy="float32",
    )


def _finish_every_stage(context):
    """Records each stage's fingerprint as a finished run would."""
    for _, (result, _), fingerprint in fingerprints.expected_stages(context):
        fingerprints.record(result, fingerprint)


def _stages_in(context):
    return sorted(p.parent.name for p in context.layout.root.rglob(fingerprints.STAGE_FILE))


def test_the_same_config_reuses_every_stage(tmp_path):
    _finish_every_stage(_context(tmp_path))
    fingerprints.check_stages(_context(tmp_path))
    assert _stages_in(_context(tmp_path)) == ["bilstm_baseline", "bilstm_distilled", "teacher"]


def test_a_changed_temperature_names_the_distilled_student_and_the_key(tmp_path):
    _finish_every_stage(_context(tmp_path))
    changed = _context(tmp_path, "distillation.temperature=4")
    with pytest.raises(RunFolderError) as error:
        fingerprints.check_stages(changed)
    message = str(error.value)
    assert "bilstm_distilled was made with other settings" in message
    assert "distillation.temperature 2.0 -> 4.0" in message and "--overwrite" in message
    assert str(tmp_path / "run") in message and ".partial" not in message


def test_overwrite_redoes_only_what_the_change_reaches(tmp_path):
    _finish_every_stage(_context(tmp_path))
    fingerprints.check_stages(_context(tmp_path, "distillation.temperature=4"), overwrite=True)
    # The teacher and the baseline never see the temperature: they are reused.
    assert _stages_in(_context(tmp_path)) == ["bilstm_baseline", "teacher"]


def test_changed_student_sizes_keep_the_fine_tuned_teacher(tmp_path):
    _finish_every_stage(_context(tmp_path))
    changed = _context(tmp_path, "student.sizes.lstm_units=32")
    fingerprints.check_stages(changed, overwrite=True)
    assert _stages_in(changed) == ["teacher"]


def test_changed_data_redoes_the_teacher_and_what_follows(tmp_path):
    _finish_every_stage(_context(tmp_path))
    changed = _context(tmp_path, texts=("a gem", "a flop"))
    with pytest.raises(RunFolderError, match=r"teacher was made with other settings \(the training or validation data\)"):
        fingerprints.check_stages(changed)
    fingerprints.check_stages(changed, overwrite=True)
    assert _stages_in(changed) == []


def test_an_interrupted_stage_made_with_other_settings_is_not_resumed(tmp_path):
    context = _context(tmp_path)
    name, (_, checkpoint), fingerprint = fingerprints.expected_stages(context)[1]
    fingerprints.record(checkpoint, fingerprint)
    with pytest.raises(RunFolderError, match=rf"{name} was made with other settings \(distillation.alpha 0.5 -> 0.9\)"):
        fingerprints.check_stages(_context(tmp_path, "distillation.alpha=0.9"))


def test_a_result_without_a_fingerprint_is_not_trusted(tmp_path):
    context = _context(tmp_path)
    context.layout.teacher().mkdir(parents=True)
    with pytest.raises(RunFolderError, match="settings not recorded"):
        fingerprints.check_stages(context)
