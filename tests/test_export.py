"""SavedModel export on raw strings (including hostile text) and TFLite export."""

import numpy as np
import pytest
import tensorflow as tf

from tfdistill import atomic
from tfdistill import export
from tfdistill import models
from tfdistill.evaluation import size_on_disk

TRAIN_TEXTS = ["a gripping funny film", "dull and far too long", "great acting", "awful plot"]
HOSTILE_TEXTS = [
    "",
    "   \t\n ",
    "great " * 20_000,  # about 100,000 characters
    "bad\x00\x01\x07\x1b[31m movie\x7f",
    "très bon film, 非常好 — отличный 😀👍🏽",
    b"\xff\xfe invalid \xc3\x28 utf-8 \x80",
]


@pytest.fixture(scope="module")
def bilstm():
    return models.build_student(
        "bilstm",
        num_classes=2,
        train_texts=TRAIN_TEXTS,
        sequence_length=16,
        vocabulary_size=50,
        embedding_dim=8,
        lstm_units=4,
    )


def test_savedmodel_serves_raw_strings_like_the_model_in_memory(bilstm, tmp_path):
    path = export.export_savedmodel(
        bilstm.model, bilstm.preprocessor, tmp_path / "savedmodel", ["negative", "positive"]
    )
    serve = export.load_savedmodel(path)
    texts = tf.constant(TRAIN_TEXTS + ["unseen words only"])
    outputs = serve(texts=texts)
    expected = tf.nn.softmax(bilstm.model(bilstm.preprocessor(texts))).numpy()
    np.testing.assert_allclose(outputs["probabilities"].numpy(), expected, atol=1e-6)
    np.testing.assert_array_equal(outputs["label_ids"].numpy(), expected.argmax(-1))
    names = np.array([b"negative", b"positive"])[expected.argmax(-1)]
    np.testing.assert_array_equal(outputs["labels"].numpy(), names)


def test_savedmodel_stores_each_weight_once(bilstm, tmp_path):
    path = export.export_savedmodel(bilstm.model, bilstm.preprocessor, tmp_path / "sm", ["n", "p"])
    weight_bytes = 4 * bilstm.model.count_params()
    assert size_on_disk(f"{path}/variables") < 1.5 * weight_bytes + 20_000


@pytest.mark.parametrize("batch_size", [1, 10_000])
def test_hostile_text_gets_a_defined_answer(bilstm, tmp_path_factory, batch_size):
    path = tmp_path_factory.mktemp("hostile") / "savedmodel"
    serve = export.load_savedmodel(
        export.export_savedmodel(bilstm.model, bilstm.preprocessor, path, ["n", "p"])
    )
    texts = [HOSTILE_TEXTS[i % len(HOSTILE_TEXTS)] for i in range(batch_size)]
    probabilities = serve(texts=tf.constant(texts))["probabilities"].numpy()
    assert probabilities.shape == (batch_size, 2)
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, atol=1e-5)


def test_replacing_an_export_is_atomic(bilstm, tmp_path, monkeypatch):
    path = tmp_path / "savedmodel"
    export.export_savedmodel(bilstm.model, bilstm.preprocessor, path, ["n", "p"])
    before = {p.relative_to(path): p.read_bytes() for p in path.rglob("*") if p.is_file()}

    def crash(source, target):
        raise KeyboardInterrupt("killed between the write and the rename")

    # A kill after the new export is written but before it replaces the old one.
    monkeypatch.setattr(atomic.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        export.export_savedmodel(bilstm.model, bilstm.preprocessor, path, ["bad", "good"])
    monkeypatch.undo()
    after = {p.relative_to(path): p.read_bytes() for p in path.rglob("*") if p.is_file()}
    assert after == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["savedmodel"]
    served = export.load_savedmodel(path)(texts=tf.constant(["great"]))["labels"].numpy()
    assert served[0] in (b"n", b"p")


@pytest.mark.parametrize("kind", ["bilstm", "cnn"])
def test_word_students_convert_to_tflite_with_builtin_ops(kind, tmp_path):
    student = models.build_student(
        kind, num_classes=2, train_texts=TRAIN_TEXTS, sequence_length=16, vocabulary_size=50
    )
    path = export.export_tflite(student.model, tmp_path / "model.tflite")
    interpreter = tf.lite.Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    ids = student.preprocessor(tf.constant(["great acting"])).numpy()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], ids.astype(
        interpreter.get_input_details()[0]["dtype"]))
    interpreter.invoke()
    logits = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(logits, student.model(ids).numpy(), atol=1e-5)
