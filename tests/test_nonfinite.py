"""`NonFiniteLossGuard`: a plain Keras `fit` stops at the first NaN, before it is saved."""

import os

import keras
import numpy as np
import pytest

from nan_faults import PoisonWeight
from tfdistill.distillation.nonfinite import NonFiniteLossGuard
from tfdistill.distillation.nonfinite import check_finite_weights

# Four batches of one example; word id 9 is in none of them.
WORD_IDS = np.array([[1], [2], [3], [4]])
LABELS = np.array([0, 1, 0, 1])
UNUSED_WORD = 9


def _student():
    model = keras.Sequential(
        [
            keras.Input((1,), dtype="int32"),
            keras.layers.Embedding(10, 2, name="embedding"),
            keras.layers.Flatten(),
            keras.layers.Dense(2, name="head"),
        ],
        name="student",
    )
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def _fit_guarded(model, poison, checkpoint_dir, epochs=3):
    """`fit` with the guard, then a checkpoint callback that saves every epoch."""
    checkpoint = keras.callbacks.ModelCheckpoint(
        os.path.join(checkpoint_dir, "epoch-{epoch}.weights.h5"), save_weights_only=True
    )
    return model.fit(
        WORD_IDS,
        LABELS,
        batch_size=1,
        epochs=epochs,
        shuffle=False,
        verbose=0,
        callbacks=[poison, NonFiniteLossGuard("the student"), checkpoint],
    )


def test_a_nan_loss_stops_fit_at_its_batch_and_its_epoch_is_never_saved(tmp_path):
    model = _student()
    head = model.get_layer("head").kernel
    poison = PoisonWeight(head, (0, 0), epoch=1, batch=2)

    with pytest.raises(
        FloatingPointError,
        match=r"^NaN or Inf loss while training the student, at epoch 2, batch 3; training "
        r"stopped before the end of the epoch, so nothing of it was saved\.$",
    ):
        _fit_guarded(model, poison, tmp_path)

    # Without the guard the poisoned epochs 2 and 3 would be saved too.
    assert sorted(os.listdir(tmp_path)) == ["epoch-1.weights.h5"]
    saved = _student()
    saved.load_weights(tmp_path / "epoch-1.weights.h5")
    check_finite_weights(saved, "the saved student")


def test_a_nan_weight_behind_a_finite_loss_stops_fit_at_the_end_of_its_epoch(tmp_path):
    model = _student()
    embeddings = model.get_layer("embedding").embeddings
    poison = PoisonWeight(embeddings, UNUSED_WORD, epoch=1, batch=0)

    with pytest.raises(
        FloatingPointError,
        match=r"^NaN or Inf in the weights of the student after epoch 2 \(stopped before it "
        r"was saved\): 2 of 20 values of 'student/embedding/embeddings'\.$",
    ):
        _fit_guarded(model, poison, tmp_path)

    assert np.isfinite(model.evaluate(WORD_IDS, LABELS, verbose=0))  # The loss never saw it.
    assert sorted(os.listdir(tmp_path)) == ["epoch-1.weights.h5"]


def test_a_finite_fit_runs_to_the_end_with_the_guard(tmp_path):
    model = _student()
    poison = keras.callbacks.Callback()  # No fault.

    history = _fit_guarded(model, poison, tmp_path, epochs=2)

    assert len(history.history["loss"]) == 2
    assert sorted(os.listdir(tmp_path)) == ["epoch-1.weights.h5", "epoch-2.weights.h5"]


def test_check_finite_weights_names_the_first_bad_weight_and_counts_the_rest():
    model = _student()
    for variable in (model.get_layer("embedding").embeddings, model.get_layer("head").bias):
        variable.assign(np.full(variable.shape, np.inf, "float32"))

    with pytest.raises(
        FloatingPointError,
        match=r"in the weights of the student: 20 of 20 values of "
        r"'student/embedding/embeddings' \(and 1 more weights\)\.$",
    ):
        check_finite_weights(model, "the student")
