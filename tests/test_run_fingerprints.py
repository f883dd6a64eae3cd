"""Stage fingerprints: a rerun with another config never silently reuses a result
(tfdistill.run.fingerprints)."""

import dataclasses

import numpy as np
import pytest

from tfdistill import tasks
from tfdistill.run import config as run_config
from tfdistill.models.students.saving import MODEL_FILE
from tfdistill.run import fingerprints
from tfdistill.run.checkpoint import STATE_FILE
from tfdistill.run.context import RunContext
from tfdistill.run.folders import RunFolderError
from tfdistill.run.layout import BASELINE
from tfdistill.run.layout import DISTILLED
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
    """Records each stage's fingerprint beside a stand-in for its model, as a
    finished run would."""
    for _, (result, *_), fingerprint in fingerprints.expected_stages(context):
        fingerprints.record(result, fingerprint)
        (result / MODEL_FILE).touch()


def _checkpoint(folder, fingerprint):
    """A stage's checkpoint folder after its first epoch, as `ResumableBackup` leaves it."""
    fingerprints.record(folder, fingerprint)
    (folder / STATE_FILE).write_text("{}")


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


def test_a_learning_rate_schedule_redoes_both_students_a_temperature_schedule_the_distilled(tmp_path):
    """The baseline trains with the learning-rate schedule (`students.scheduled`), never
    with the Distiller's own."""
    _finish_every_stage(_context(tmp_path))
    temperature = _context(tmp_path, "distillation.schedule={temperature: {start: 4, end: 1}}")
    fingerprints.check_stages(temperature, overwrite=True)
    assert _stages_in(temperature) == ["bilstm_baseline", "teacher"]
    _finish_every_stage(temperature)
    rate = _context(
        tmp_path,
        "distillation.schedule={temperature: {start: 4, end: 1}, "
        "learning_rate: {kind: cosine, start: 1.0e-3, end: 1.0e-5}}",
    )
    with pytest.raises(RunFolderError, match=r"distillation\.schedule\.learning_rate\.kind \(unset\)"):
        fingerprints.check_stages(rate)
    fingerprints.check_stages(rate, overwrite=True)
    assert _stages_in(rate) == ["teacher"]


def test_changed_student_sizes_keep_the_fine_tuned_teacher(tmp_path):
    _finish_every_stage(_context(tmp_path))
    changed = _context(tmp_path, "student.sizes.lstm_units=32")
    fingerprints.check_stages(changed, overwrite=True)
    assert _stages_in(changed) == ["teacher"]


def test_new_test_sets_reuse_every_stage(tmp_path):
    _finish_every_stage(_context(tmp_path))
    # Without overwrite, a changed stage would stop the run: these only add scores.
    fingerprints.check_stages(
        _context(tmp_path, "data.extra_test=[drug_reviews]", "data.test_split=validation")
    )
    assert _stages_in(_context(tmp_path)) == ["bilstm_baseline", "bilstm_distilled", "teacher"]


def test_turning_the_baseline_on_trains_it_alone(tmp_path):
    """The distilled student does not depend on whether a baseline trains beside it,
    and a record from a run that wrote `distillation.baseline` into it still matches."""
    _finish_every_stage(_context(tmp_path, "distillation.baseline=false"))
    older = tmp_path / "run.partial" / "students" / "bilstm_distilled"
    recorded = fingerprints._recorded(older)
    assert "distillation.baseline" not in recorded["config"]
    recorded["config"]["distillation.baseline"] = False
    fingerprints.record(older, recorded)
    fingerprints.check_stages(_context(tmp_path, "distillation.baseline=true"))
    assert _stages_in(_context(tmp_path)) == ["bilstm_distilled", "teacher"]
    # Any other key a record holds that the config does not still differs.
    recorded["config"]["distillation.temperature_schedule"] = "cosine"
    fingerprints.record(older, recorded)
    with pytest.raises(RunFolderError, match="temperature_schedule cosine -> .unset."):
        fingerprints.check_stages(_context(tmp_path))


def _with_transfer_texts(context, texts=("headline one", "headline two")):
    """`context` as RunContext.create leaves it when its transfer sources gave `texts`."""
    return dataclasses.replace(
        context, transfer_texts=Split(list(texts), np.full(len(texts), -1, np.int32))
    )


def test_transfer_texts_redo_the_distilled_student_and_a_word_level_baseline_never_the_teacher(tmp_path):
    _finish_every_stage(_context(tmp_path))
    changed = _with_transfer_texts(_context(tmp_path, "distillation.transfer_texts=[guardian_headlines]"))
    for variant in (DISTILLED, BASELINE):
        assert fingerprints.student_fingerprint(changed, variant) != fingerprints.student_fingerprint(
            _context(tmp_path), variant
        )
    with pytest.raises(RunFolderError) as error:
        fingerprints.check_stages(changed)
    assert (
        "bilstm_distilled was made with other settings "
        "(distillation.transfer_texts (unset) -> ['guardian_headlines']; the transfer texts)"
    ) in str(error.value)
    fingerprints.check_stages(changed, overwrite=True)
    assert _stages_in(changed) == ["teacher"]
    # The same sources keeping other texts (a new extra test set held one) redo it too.
    _finish_every_stage(changed)
    fingerprints.check_stages(_with_transfer_texts(changed, ["headline one"]), overwrite=True)
    assert _stages_in(changed) == ["teacher"]


def test_transfer_texts_keep_a_bert_students_baseline_which_has_no_vocabulary_of_its_own(tmp_path):
    _finish_every_stage(_context(tmp_path, "student.kind=small_bert"))
    changed = _context(tmp_path, "student.kind=small_bert", "distillation.transfer_texts=[drug_reviews]")
    fingerprints.check_stages(_with_transfer_texts(changed), overwrite=True)
    assert _stages_in(changed) == ["small_bert_baseline", "teacher"]


def test_augmented_transfer_texts_redo_the_distilled_student_alone(tmp_path):
    plain = _with_transfer_texts(_context(tmp_path, "distillation.transfer_texts=[guardian_headlines]"))
    _finish_every_stage(plain)
    for variant in (DISTILLED, BASELINE):
        assert "distillation.augment.transfer_texts" not in fingerprints.student_fingerprint(plain, variant)["config"]
    augmented = _with_transfer_texts(_context(
        tmp_path, "distillation.transfer_texts=[guardian_headlines]", "distillation.augment.transfer_texts=true"
    ))
    with pytest.raises(RunFolderError, match=r"bilstm_distilled .*augment\.transfer_texts \(unset\) -> True"):
        fingerprints.check_stages(augmented)
    fingerprints.check_stages(augmented, overwrite=True)
    assert _stages_in(augmented) == ["bilstm_baseline", "teacher"]


@pytest.mark.parametrize(
    "assignment, change, kept",
    [
        ("distillation.augment.negations=2", r"bilstm_distilled .*augment\.negations \(unset\) -> 2",
         ["bilstm_baseline", "teacher"]),
        ("distillation.ema_momentum=0.999", r"ema_momentum \(unset\) -> 0\.999", ["teacher"]),
        ("distillation.representation=1.0", r"bilstm_distilled .*representation \(unset\) -> 1\.0",
         ["bilstm_baseline", "teacher"]),
    ],
    ids=["negated-copies-redo-the-distilled-student", "weight-averaging-redoes-both-students",
         "the-representation-term-redoes-the-distilled-student"],
)
def test_a_key_added_later_is_not_recorded_at_its_default_and_redoes_what_it_shapes(
    tmp_path, assignment, change, kept
):
    """Runs made before the key existed recorded no such key: at its default they are
    still reused. Weight averaging shapes the baseline too, so that the pair stays paired."""
    plain = _context(tmp_path)
    _finish_every_stage(plain)
    key = assignment.split("=")[0]
    for variant in (DISTILLED, BASELINE):
        assert key not in fingerprints.student_fingerprint(plain, variant)["config"]
    changed = _context(tmp_path, assignment)
    with pytest.raises(RunFolderError, match=change):
        fingerprints.check_stages(changed)
    fingerprints.check_stages(changed, overwrite=True)
    assert _stages_in(changed) == kept


def test_without_transfer_texts_their_keys_are_not_recorded(tmp_path):
    """So that the runs made before the keys existed are still reused."""
    for variant in (DISTILLED, BASELINE):
        keys = fingerprints.student_fingerprint(_context(tmp_path), variant)["config"]
        assert not [key for key in keys if "transfer_texts" in key], keys


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
    _checkpoint(checkpoint, fingerprint)
    with pytest.raises(RunFolderError, match=rf"{name} was made with other settings \(distillation.alpha 0.5 -> 0.9\)"):
        fingerprints.check_stages(_context(tmp_path, "distillation.alpha=0.9"))


def test_a_result_without_a_fingerprint_is_not_trusted(tmp_path):
    context = _context(tmp_path)
    context.layout.teacher().mkdir(parents=True)
    with pytest.raises(RunFolderError, match="settings not recorded"):
        fingerprints.check_stages(context)


def test_a_part_an_older_tfdistill_did_not_record_is_named_as_such():
    """A baseline recorded before its teacher's digest was part of its fingerprint was
    said to have been made with another teacher."""
    expected = {"config": {"seed": 1}, "data": "ab", "teachers": ["cd"]}
    older = {"config": {"seed": 1}, "data": "ab"}
    assert fingerprints.changes(older, expected) == ["the teacher(s) (not recorded by an older tfdistill)"]
    assert fingerprints.changes({**older, "teachers": ["ef"]}, expected) == ["the teacher(s)"]


def test_a_stage_killed_before_its_fingerprint_is_written_is_resumed(tmp_path):
    """A kill can fall after a folder is made and before its `stage.json` is: in a
    student's folder after `training.json`, in a checkpoint's before its first epoch."""
    context = _context(tmp_path)
    _, (student, checkpoint), fingerprint = fingerprints.expected_stages(context)[1]
    _checkpoint(checkpoint, fingerprint)
    student.mkdir(parents=True)
    (student / "training.json").write_text("{}")
    other_checkpoint = fingerprints.expected_stages(context)[2][1][1]
    (other_checkpoint / ".stage.json.x.tmp").mkdir(parents=True)
    fingerprints.check_stages(context)
    # Once the model is there, a missing fingerprint is an unknown result again.
    (student / MODEL_FILE).touch()
    with pytest.raises(RunFolderError, match="settings not recorded"):
        fingerprints.check_stages(context)


def test_a_fixed_teacher_seed_shares_the_teacher_between_runs_of_other_seeds(tmp_path):
    _finish_every_stage(_context(tmp_path, "seed=0"))
    fingerprints.check_stages(_context(tmp_path, "seed=1", "teacher.seed=0"), overwrite=True)
    # Only the students, whose seed changed, are redone.
    assert _stages_in(_context(tmp_path)) == ["teacher"]
    with pytest.raises(RunFolderError, match=r"teacher was made with other settings \(seed 0 -> 2\)"):
        fingerprints.check_stages(_context(tmp_path, "teacher.seed=2"))


@pytest.mark.parametrize(
    "student, baseline_redone",
    [
        ([], False),  # own vocabulary, random embeddings: the teacher shapes nothing
        (["student.sizes={init_from_teacher: true}"], True),  # the teacher's word vectors
        (["student.sizes={teacher_words: true}"], True),  # the teacher's vocabulary
        (["student.kind=bilstm_wordpiece"], True),  # the teacher's tokenizer
        (["student.kind=small_bert"], True),  # the teacher's layers
    ],
)
def test_a_changed_teacher_redoes_the_baseline_only_if_it_was_built_from_it(
    tmp_path, student, baseline_redone
):
    _finish_every_stage(_context(tmp_path, *student))
    changed = _context(tmp_path, *student, "teacher.learning_rate=1e-4")
    fingerprints.check_stages(changed, overwrite=True)
    kind = changed.config.student.kind
    assert _stages_in(changed) == ([] if baseline_redone else [f"{kind}_baseline"])
