"""Extending tfdistill from outside the package: a new student kind and a new logit
loss are registered from Python, then named in the smoke config, which runs end to end
with them. No file of the package is touched."""

import json

import keras
import pytest
from tensorflow.python.framework import config as tf_config  # The undo has no public API.
from keras import ops

import tfdistill
from tfdistill.run import config as run_config
from tfdistill.run import pipeline
from tfdistill.run import validate

from test_cli import LIGHT_SMOKE
from test_cli import SMOKE


def build_gru(sequence_length, vocabulary_size, *, head, embedding_dim=16, units=8):
    """A word-level GRU student, following the word-level builder contract."""
    token_ids = keras.Input(shape=(sequence_length,), dtype="int64", name="token_ids")
    embedded = keras.layers.Embedding(
        vocabulary_size, embedding_dim, mask_zero=True, name="token_embedding"
    )(token_ids)
    return keras.Model(token_ids, head(keras.layers.GRU(units)(embedded)), name="gru_student")


def tempered_l1(teacher_logits, student_logits, temperature):
    """L1 distance of the tempered probabilities, one value per example."""
    teacher = ops.softmax(ops.cast(teacher_logits, "float32") / temperature, axis=-1)
    student = ops.softmax(ops.cast(student_logits, "float32") / temperature, axis=-1)
    return ops.sum(ops.abs(teacher - student), axis=-1)


@pytest.fixture
def registered():
    tfdistill.register_student("gru", word_level=True, recurrent=True)(build_gru)
    tfdistill.register_logit_loss("tempered_l1")(tempered_l1)
    yield
    tfdistill.models.STUDENTS.unregister("gru")
    tfdistill.losses.LOGIT_LOSSES.unregister("tempered_l1")
    # The run turned on op determinism for the whole process, and Keras then turns
    # jit_compile off for every model that later tests compile.
    tf_config.disable_op_determinism()


def _smoke_with(*assignments):
    overrides = [flag.removeprefix("--set=") for flag in LIGHT_SMOKE]
    return run_config.override(run_config.load(SMOKE), [*overrides, *assignments])


def test_unregistered_names_are_rejected_before_any_work(tmp_path):
    config = _smoke_with("student.kind=gru")
    with pytest.raises(run_config.ConfigError, match=r"student\.kind must be one of"):
        validate.validate(config, tmp_path / "run")


@pytest.mark.slow
def test_a_registered_student_and_loss_run_the_smoke_config(tmp_path, registered, tiny_teacher):
    config = _smoke_with(
        "student.kind=gru", "distillation.loss=tempered_l1", "student.sizes={units: 4}",
        f"teacher.preset={tiny_teacher}",
    )
    summary = pipeline.run(config, tmp_path / "run")
    assert set(summary["models"]) == {"teacher", "gru_distilled"}
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["models"]["gru_distilled"]["parameters"] > 0
    training = json.loads(
        (tmp_path / "run" / "students" / "gru_distilled" / "training.json").read_text()
    )
    assert len(training["history"]["distillation_loss"]) == 2
    reloaded = keras.models.load_model(tmp_path / "run" / "students" / "gru_distilled" / "model.keras")
    assert any(isinstance(layer, keras.layers.GRU) for layer in reloaded.layers)
