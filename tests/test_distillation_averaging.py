"""Weight averaging (`distillation.ema_momentum`): the student kept is the average of
its training weights at its best epoch, and a resumed stage ends as an uninterrupted one,
whether early stopping reads Keras's `val_accuracy` or scores the student's predictions
itself (the tagger's entity F1)."""

import keras
import numpy as np
import pytest
from test_run_checkpoint import MAX_EPOCHS
from test_run_checkpoint import PATIENCE
from test_run_checkpoint import Crash
from test_run_checkpoint import CrashAfterEpoch
from test_run_checkpoint import assert_same_stage
from test_run_checkpoint import fit
from test_run_checkpoint import fresh_run

from test_run_tune import _config as tune_config
from test_run_tune import run_until_students_trained

from tfdistill.distillation.averaging import EpochEMAWeights
from tfdistill.run import pipeline
from tfdistill.run.checkpoint import ResumableBackup
from tfdistill.run.context import ValidationScoreStopping
from tfdistill.run.stages import students

MOMENTUM = 0.5  # Its validation peaks at the 4th of 6 epochs.


class RecordTrainingWeights(keras.callbacks.Callback):
    """The student's weights after every step, as trained (never the average)."""

    def __init__(self, student):
        super().__init__()
        self.student, self.steps = student, []

    def on_train_batch_end(self, batch, logs=None):
        self.steps.append([weight.numpy() for weight in self.student.trainable_weights])


def student_accuracy(student, validation):
    """The share of `validation`'s labels that `student`'s predictions get right."""
    right = [
        np.argmax(student.predict(inputs["student"], verbose=0), axis=-1) == labels.numpy()
        for inputs, labels in validation
    ]
    return float(np.mean(np.concatenate(right)))


def early_stopping_on(monitor, score):
    """Early stopping as `tfdistill.run.context.best_epoch_stopping` makes it: on
    Keras's `val_accuracy`, or on `score()`, computed at each epoch's end."""
    if monitor == "val_accuracy":
        return keras.callbacks.EarlyStopping(
            monitor=monitor, mode="max", patience=PATIENCE, restore_best_weights=True
        )
    return ValidationScoreStopping(monitor, score, PATIENCE)


def averaged_stage(backup_dir, monitor, crash_after=None, record=False):
    """One attempt at an early-stopping stage with averaged weights, callbacks in the
    run's order (`tfdistill.run.stages.students`)."""
    # The score reads the model and validation batches made below, when it is called.
    early_stopping = early_stopping_on(monitor, lambda: student_accuracy(model.student, validation))
    backup = ResumableBackup(backup_dir, early_stopping=early_stopping)
    model, train, validation = fresh_run(
        backup.initial_epoch, MAX_EPOCHS, use_ema=True, ema_momentum=MOMENTUM
    )
    callbacks = [EpochEMAWeights(resumed=backup.initial_epoch > 0), early_stopping, backup]
    callbacks += [CrashAfterEpoch(crash_after)] if crash_after else []
    recorder = RecordTrainingWeights(model.student)
    fit(model, train, [recorder, *callbacks] if record else callbacks,
        backup.initial_epoch, MAX_EPOCHS, validation)
    return model, backup, recorder.steps


@pytest.fixture(scope="module", params=["val_accuracy", "val_student_accuracy"])
def uninterrupted(request, tmp_path_factory):
    monitor = request.param
    model, backup, steps = averaged_stage(tmp_path_factory.mktemp("averaged"), monitor, record=True)
    return monitor, model, backup.history(), steps


def test_the_student_kept_is_the_average_at_its_best_epoch(uninterrupted):
    monitor, model, history, steps = uninterrupted
    averages, average = [], None
    for weights in steps:  # Keras's average starts at the first step's weights.
        average = weights if average is None else [
            MOMENTUM * mean + (1 - MOMENTUM) * weight for mean, weight in zip(average, weights)
        ]
        averages.append(average)
    best_epoch = int(np.argmax(history[monitor]))
    steps_per_epoch = len(steps) // len(history["loss"])
    # Early stopping stopped before the last epoch: the best epoch's average is kept,
    # which neither the last weights nor the best epoch's trained weights are.
    assert best_epoch > 0 and len(history["loss"]) < MAX_EPOCHS
    expected = averages[(best_epoch + 1) * steps_per_epoch - 1]
    for kept, want, trained in zip(
        model.student.trainable_weights, expected, steps[(best_epoch + 1) * steps_per_epoch - 1]
    ):
        np.testing.assert_allclose(kept.numpy(), want, rtol=1e-5, atol=1e-6)
        assert not np.allclose(kept.numpy(), trained, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("killed", ["after-the-first-epoch", "after-the-stopping-epoch"])
def test_a_resumed_averaged_stage_ends_as_an_uninterrupted_one(tmp_path, uninterrupted, killed):
    monitor, model, history, _ = uninterrupted
    stopped_after = len(history["loss"])
    crash_after = 1 if killed == "after-the-first-epoch" else stopped_after
    with pytest.raises(Crash):
        averaged_stage(tmp_path, monitor, crash_after)
    resumed, backup, _ = averaged_stage(tmp_path, monitor)
    assert backup.initial_epoch == (1 if crash_after == 1 else MAX_EPOCHS)
    assert_same_stage(resumed, backup, (model, history))


def test_every_student_of_a_run_trains_averaged_and_a_resumed_one_starts_swapped(
    tmp_path, tiny_teacher, monkeypatch
):
    """The search's trials, the distilled student and the baseline: each fit's optimizer
    averages, and the swap comes before early stopping, which keeps the averages. The
    distilled student dies after its first epoch's checkpoint; rerun, its swap starts
    from the averaged weights that checkpoint holds, and no other fit's does."""
    fits, crashed, fit_student = [], [], students.fit

    def recorded_fit(context, trainer, data, callbacks, initial_epoch=0):
        fits.append((trainer.optimizer, callbacks, initial_epoch))
        checkpointed = any(isinstance(callback, ResumableBackup) for callback in callbacks)
        if checkpointed and not crashed:  # The distilled student's first attempt.
            crashed.append(True)
            callbacks = [*callbacks, CrashAfterEpoch(1)]
        return fit_student(context, trainer, data, callbacks, initial_epoch)

    monkeypatch.setattr(students, "fit", recorded_fit)
    config = tune_config(
        tmp_path, tiny_teacher, "distillation.baseline=true", "distillation.ema_momentum=0.9"
    )
    with pytest.raises(Crash):
        pipeline.run(config, tmp_path / "run")
    run_until_students_trained(config, tmp_path / "run", monkeypatch)
    # 2 trials and the killed student, then (the search done) it resumed, and the baseline.
    assert [initial_epoch for _, _, initial_epoch in fits] == [0, 0, 0, 1, 0]
    for optimizer, callbacks, initial_epoch in fits:
        assert optimizer.use_ema and optimizer.ema_momentum == 0.9
        assert isinstance(callbacks[0], EpochEMAWeights)
        assert callbacks[0].resumed == (initial_epoch > 0)
        assert any(isinstance(callback, keras.callbacks.EarlyStopping) for callback in callbacks)
