"""A stage killed after some epochs resumes exactly where an uninterrupted run would be."""

import logging

import keras
import numpy as np
import pytest
import tensorflow as tf
from absl import logging as absl_logging

import tfdistill
from tfdistill import data
from tfdistill.run.checkpoint import ResumableBackup

EPOCHS = 4


class Crash(Exception):
    pass


class CrashAtEpoch(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise Crash()


def fresh_run(first_epoch=0):
    """What a new process builds: the same seeds, a new model, a new dataset object."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    features = rng.normal(size=(64, 4)).astype("float32")
    teacher_logits = rng.normal(size=(64, 2)).astype("float32")
    examples = tf.data.Dataset.from_tensor_slices((features, (features[:, 0] > 0).astype("int32")))
    train = data.encode_for_distillation(
        examples, student_preprocessor=lambda x: x, teacher_logits=teacher_logits,
        batch_size=8, shuffle=True, seed=1, epochs=(first_epoch, EPOCHS),
    )
    student = keras.Sequential([
        keras.Input((4,)),
        keras.layers.Dense(8, activation="relu"),
        keras.layers.Dropout(0.3),  # Its random masks must continue, not restart.
        keras.layers.Dense(2),
    ])
    distiller = tfdistill.Distiller(None, student)
    distiller.compile(optimizer=keras.optimizers.Adam(0.01))
    return distiller, train


def fit(model, train, callbacks=(), initial_epoch=0):
    model.fit(train, epochs=EPOCHS, steps_per_epoch=8, initial_epoch=initial_epoch,
              callbacks=list(callbacks), shuffle=False, verbose=0)


def test_a_resumed_stage_ends_exactly_where_an_uninterrupted_one_does(tmp_path):
    uninterrupted, train = fresh_run()
    fit(uninterrupted, train)

    crashed, train = fresh_run()
    with pytest.raises(Crash):
        fit(crashed, train, [ResumableBackup(tmp_path / "stage"), CrashAtEpoch(2)])

    backup = ResumableBackup(tmp_path / "stage")
    assert backup.initial_epoch == 2
    resumed, train = fresh_run(first_epoch=backup.initial_epoch)
    fit(resumed, train, [backup], initial_epoch=backup.initial_epoch)

    assert int(resumed.optimizer.iterations.numpy()) == int(uninterrupted.optimizer.iterations.numpy()) == EPOCHS * 8
    for expected, got in zip(uninterrupted.student.weights, resumed.student.weights):
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-6, atol=1e-7)
    assert len(backup.history()["loss"]) == EPOCHS


def test_resume_logs_where_it_starts(tmp_path):
    crashed, train = fresh_run()
    with pytest.raises(Crash):
        fit(crashed, train, [ResumableBackup(tmp_path / "s"), CrashAtEpoch(3)])
    backup = ResumableBackup(tmp_path / "s")
    resumed, train = fresh_run(first_epoch=3)
    # Straight from absl's logger: other tests may leave it not propagating to pytest.
    messages = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    absl_logger = absl_logging.get_absl_logger()
    verbosity = absl_logging.get_verbosity()
    absl_logger.addHandler(handler)
    absl_logging.set_verbosity(absl_logging.INFO)
    try:
        fit(resumed, train, [backup], initial_epoch=3)
    finally:
        absl_logger.removeHandler(handler)
        absl_logging.set_verbosity(verbosity)
    assert "Resuming s from epoch 3 (optimizer step 24)" in messages


def test_checkpoint_files_are_whole_after_each_epoch(tmp_path):
    model, train = fresh_run()
    with pytest.raises(Crash):
        fit(model, train, [ResumableBackup(tmp_path / "s"), CrashAtEpoch(2)])
    assert sorted(path.name for path in (tmp_path / "s").iterdir()) == ["epoch-2.weights.h5", "state.json"]
