"""A stage killed after some epochs resumes exactly where an uninterrupted run would be."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfdistill
from tfdistill import data
from tfdistill.run.checkpoint import ResumableBackup

EPOCHS = 4
# The early-stopping stage: at most 10 epochs, stopped after 6 (validation accuracy
# peaks at epoch 4 and ties it at epoch 5), ending with epoch 4's weights.
MAX_EPOCHS = 10
PATIENCE = 2


class Crash(Exception):
    pass


class CrashAtEpoch(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise Crash()


class CrashAfterEpoch(keras.callbacks.Callback):
    """Dies at the end of epoch `epochs` (1-based), once the callbacks before it ran:
    after that epoch's checkpoint, whether or not training would go on."""

    def __init__(self, epochs):
        super().__init__()
        self.epochs = epochs

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epochs:
            raise Crash()


def fresh_run(first_epoch=0, epochs=EPOCHS, **adam_options):
    """What a new process builds: the same seeds, a new model, new dataset objects.

    Returns the distiller, the training stream of epochs `first_epoch` to `epochs`,
    and validation batches (their labels are half noise, so validation accuracy
    stops improving while training goes on). `adam_options` go to the optimizer
    (`use_ema=True`, ...).
    """
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    features = rng.normal(size=(96, 4)).astype("float32")
    labels = (features[:, 0] + rng.normal(size=96) > 0).astype("int32")
    teacher_logits = rng.normal(size=(96, 2)).astype("float32")

    def batches(part, **options):
        examples = tf.data.Dataset.from_tensor_slices((features[part], labels[part]))
        return data.encode_for_distillation(
            examples, student_preprocessor=lambda x: x, teacher_logits=teacher_logits[part],
            batch_size=8, **options,
        )

    train = batches(slice(0, 64), shuffle=True, seed=1, epochs=(first_epoch, epochs))
    student = keras.Sequential([
        keras.Input((4,)),
        keras.layers.Dense(8, activation="relu"),
        keras.layers.Dropout(0.3),  # Its random masks must continue, not restart.
        keras.layers.Dense(2),
    ])
    distiller = tfdistill.Distiller(None, student)
    distiller.compile(optimizer=keras.optimizers.Adam(0.01, **adam_options), weighted_metrics=["accuracy"])
    return distiller, train, batches(slice(64, 96))


def fit(model, train, callbacks=(), initial_epoch=0, epochs=EPOCHS, validation=None):
    model.fit(train, epochs=epochs, steps_per_epoch=8, initial_epoch=initial_epoch,
              validation_data=validation, callbacks=list(callbacks), shuffle=False, verbose=0)


def test_a_resumed_stage_ends_exactly_where_an_uninterrupted_one_does(tmp_path):
    uninterrupted, train, _ = fresh_run()
    fit(uninterrupted, train)

    crashed, train, _ = fresh_run()
    with pytest.raises(Crash):
        fit(crashed, train, [ResumableBackup(tmp_path / "stage"), CrashAtEpoch(2)])

    backup = ResumableBackup(tmp_path / "stage")
    assert backup.initial_epoch == 2
    resumed, train, _ = fresh_run(first_epoch=backup.initial_epoch)
    fit(resumed, train, [backup], initial_epoch=backup.initial_epoch)

    assert int(resumed.optimizer.iterations.numpy()) == int(uninterrupted.optimizer.iterations.numpy()) == EPOCHS * 8
    for expected, got in zip(uninterrupted.student.weights, resumed.student.weights):
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-6, atol=1e-7)
    assert len(backup.history()["loss"]) == EPOCHS


def test_resume_logs_where_it_starts(tmp_path, absl_messages):
    crashed, train, _ = fresh_run()
    with pytest.raises(Crash):
        fit(crashed, train, [ResumableBackup(tmp_path / "s"), CrashAtEpoch(3)])
    backup = ResumableBackup(tmp_path / "s")
    resumed, train, _ = fresh_run(first_epoch=3)
    fit(resumed, train, [backup], initial_epoch=3)
    assert "Resuming s from epoch 3 (optimizer step 24)" in absl_messages


def test_checkpoint_files_are_whole_after_each_epoch(tmp_path):
    model, train, _ = fresh_run()
    with pytest.raises(Crash):
        fit(model, train, [ResumableBackup(tmp_path / "s"), CrashAtEpoch(2)])
    assert sorted(path.name for path in (tmp_path / "s").iterdir()) == ["epoch-2.weights.h5", "state.json"]


def assert_same_stage(resumed, backup, uninterrupted):
    """The same weights, optimizer steps and history (wall times aside) as `uninterrupted`."""
    model, history = uninterrupted
    assert int(resumed.optimizer.iterations.numpy()) == int(model.optimizer.iterations.numpy())
    for expected, got in zip(model.student.weights, resumed.student.weights, strict=True):
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-6, atol=1e-7)
    resumed_history = backup.history()
    assert set(resumed_history) == set(history)
    for metric, values in history.items():
        if metric != "epoch_seconds":
            np.testing.assert_allclose(resumed_history[metric], values, rtol=1e-6, err_msg=metric)


def early_stopping_stage(backup_dir, crash_after=None):
    """One attempt at an early-stopping stage, as a new process makes it.

    The callbacks come in the run's order: early stopping, then the checkpoint.
    """
    early_stopping = keras.callbacks.EarlyStopping(
        monitor="val_accuracy", mode="max", patience=PATIENCE, restore_best_weights=True
    )
    backup = ResumableBackup(backup_dir, early_stopping=early_stopping)
    model, train, validation = fresh_run(backup.initial_epoch, MAX_EPOCHS)
    callbacks = [early_stopping, backup] + ([CrashAfterEpoch(crash_after)] if crash_after else [])
    fit(model, train, callbacks, backup.initial_epoch, MAX_EPOCHS, validation)
    return model, backup


@pytest.fixture(scope="module")
def stopped_early(tmp_path_factory):
    """The uninterrupted early-stopping stage: its distiller and history."""
    model, backup = early_stopping_stage(tmp_path_factory.mktemp("uninterrupted"))
    history = backup.history()
    # Early stopping triggered, and restoring the best epoch's weights matters.
    assert len(history["loss"]) == 6
    assert np.argmax(history["val_accuracy"]) == 3
    return model, history


@pytest.mark.parametrize(
    "crash_after",
    [5, 6],
    ids=["while-early-stopping-waits", "after-the-stopping-epoch"],
)
def test_a_resumed_stage_that_stops_early_ends_as_an_uninterrupted_one(
    tmp_path, stopped_early, crash_after
):
    with pytest.raises(Crash):
        early_stopping_stage(tmp_path, crash_after)
    state = json.loads((tmp_path / "state.json").read_text())
    assert len(state["epochs"]) == crash_after
    assert state["early_stopping"]["best_epoch"] == 3 and state["early_stopping"]["wait"] > 0

    resumed, backup = early_stopping_stage(tmp_path)

    assert backup.initial_epoch == (MAX_EPOCHS if crash_after == 6 else crash_after)
    assert_same_stage(resumed, backup, stopped_early)


def test_a_stage_killed_after_its_last_checkpoint_finishes_on_rerun(tmp_path):
    uninterrupted, train, _ = fresh_run()
    fit(uninterrupted, train, [ResumableBackup(tmp_path / "uninterrupted")])
    crashed, train, _ = fresh_run()
    with pytest.raises(Crash):
        fit(crashed, train, [ResumableBackup(tmp_path / "s"), CrashAfterEpoch(EPOCHS)])

    backup = ResumableBackup(tmp_path / "s")
    assert backup.initial_epoch == EPOCHS
    resumed, train, _ = fresh_run(first_epoch=EPOCHS)
    fit(resumed, train, [backup], initial_epoch=EPOCHS)

    reference = ResumableBackup(tmp_path / "uninterrupted").history()
    assert_same_stage(resumed, backup, (uninterrupted, reference))


def test_early_stopping_best_weights_are_written_only_when_the_best_epoch_changes(tmp_path):
    with pytest.raises(Crash):
        early_stopping_stage(tmp_path, crash_after=6)
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "best-epoch-4.npz", "epoch-6.weights.h5", "state.json"
    ]
