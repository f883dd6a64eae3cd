"""The representation term: the student's features, projected, against the teacher's
cached vectors of the texts (`tfdistill.distillation.representation`)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfdistill import data
from tfdistill.distillation import representation
from tfdistill.distillation.distiller import Distiller

DIM, FEATURES = 6, 3


def _student(seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((4,))
    features = keras.layers.Dense(FEATURES, activation="relu", name="hidden")(inputs)
    return keras.Model(inputs, keras.layers.Dense(2, name="logits")(features))


def _batch(size=8, seed=1):
    rng = np.random.default_rng(seed)
    x = {
        "student": rng.normal(size=(size, 4)).astype("float32"),
        "teacher_logits": rng.normal(size=(size, 2)).astype("float32"),
        "teacher_vectors": rng.normal(size=(size, DIM)).astype("float32"),
    }
    return x, np.array([0, 1, -1, 1, 0, -1, 1, 0][:size])


def _distiller(weight=0.5, **kwargs):
    distiller = Distiller(
        None, _student(), alpha=0.5, representation_weight=weight,
        representation_dim=DIM if weight else None, **kwargs
    )
    distiller.compile(optimizer=keras.optimizers.Adam(0.05))
    return distiller


def test_the_term_is_the_projected_features_squared_distance_added_with_its_weight():
    x, y = _batch()
    with_term, without = _distiller(0.5), _distiller(0.0)
    scores = with_term.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    features = keras.Model(with_term.student.inputs, with_term.student.get_layer("hidden").output)
    kernel, bias = with_term.projections["representation"].get_weights()
    projected = np.asarray(features(x["student"])) @ kernel + bias
    expected = np.mean(np.sum((projected - x["teacher_vectors"]) ** 2, axis=-1))
    np.testing.assert_allclose(scores["representation_loss"], expected, rtol=1e-5)
    plain = without.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    # The same student (seeded): only the weighted term separates the two totals.
    np.testing.assert_allclose(scores["loss"], plain["loss"] + 0.5 * expected, rtol=1e-5)
    assert "representation_loss" not in plain and not without.projections


def test_training_pulls_the_projected_features_to_the_vectors_and_saves_the_student_alone(tmp_path):
    x, y = _batch()
    distiller = _distiller(1.0)
    start = distiller.projections["representation"].get_weights()[0].copy()
    history = distiller.fit(x, y, batch_size=8, epochs=30, verbose=0).history
    assert history["representation_loss"][-1] < 0.5 * history["representation_loss"][0]
    # The projection belongs to the distiller, and trains with the student.
    assert not np.allclose(distiller.projections["representation"].get_weights()[0], start)
    distiller.save(tmp_path / "student.keras")
    saved = keras.models.load_model(tmp_path / "student.keras")
    assert [layer.name for layer in saved.layers] == [layer.name for layer in distiller.student.layers]
    restored = Distiller.from_config(distiller.get_config())
    assert (restored.representation_weight, restored.representation_dim) == (1.0, DIM)


def test_a_batch_without_the_vectors_is_named():
    x, y = _batch()
    del x["teacher_vectors"]
    with pytest.raises(ValueError, match="needs the teacher's vectors in every batch, under 'teacher_vectors'"):
        _distiller(1.0).evaluate(x, y, batch_size=8, verbose=0)


@pytest.mark.parametrize(
    "kwargs, message",
    [({"representation_weight": -1.0}, "must be >= 0"),
     ({"representation_weight": 1.0}, "needs representation_dim"),
     ({"representation_weight": 1.0, "representation_dim": DIM, "logits_rank": 3}, "logits_rank=2")],
)
def test_what_the_term_needs_is_checked_before_training(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Distiller(None, _student(), **kwargs)


def test_the_vectors_ride_with_their_texts_through_shuffled_batches():
    texts = [f"text {i}" for i in range(10)]
    raw = tf.data.Dataset.from_tensor_slices((texts, list(range(10))))
    vectorizer = data.build_vectorizer(texts, sequence_length=3)
    logits = np.stack([np.arange(10.0), -np.arange(10.0)], axis=1)
    vectors = np.repeat(np.arange(10.0)[:, None], DIM, axis=1)
    batches = data.encode_for_distillation(
        raw, student_preprocessor=vectorizer, teacher_logits=logits, teacher_vectors=vectors,
        batch_size=4, shuffle=True, seed=3,
    )
    for x, labels in batches:
        np.testing.assert_array_equal(x["teacher_vectors"][:, 0], labels)
        np.testing.assert_array_equal(x["teacher_logits"][:, 0], labels)
    with pytest.raises(ValueError, match=r"teacher_vectors must have shape \[num_examples, dim\] = \[10, D\]"):
        data.encode_for_distillation(raw, student_preprocessor=vectorizer, teacher_logits=logits,
                                     teacher_vectors=vectors[:9], batch_size=4)


def test_the_teachers_vectors_are_its_last_layer_averaged_over_real_tokens(tiny_bert_teacher):
    teacher = tiny_bert_teacher
    inputs = teacher.preprocessor(["a good film", "bad"])
    vectors = np.asarray(representation.teacher_vectors_model(teacher)(inputs))
    sequence = np.asarray(teacher.backbone(inputs)["sequence_output"], np.float32)
    mask = np.asarray(inputs["padding_mask"], bool)
    for row in range(2):
        np.testing.assert_allclose(vectors[row], sequence[row][mask[row]].mean(axis=0), rtol=1e-5, atol=1e-6)
    # Standardized by a reference: centred on its mean, one scale for every direction.
    standard = representation.standardize(vectors, vectors)
    np.testing.assert_allclose(standard.mean(axis=0), 0.0, atol=1e-6)
    np.testing.assert_allclose(standard.std(axis=0).mean(), 1.0, rtol=1e-5)


@pytest.fixture
def tiny_bert_teacher():
    import keras_hub

    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "good", "film", "bad"]
    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.BertBackbone(
        len(vocabulary), num_layers=1, num_heads=1, hidden_dim=DIM, intermediate_dim=8,
        max_sequence_length=8,
    )
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(
        keras_hub.models.BertTokenizer(vocabulary, lowercase=True), sequence_length=8
    )
    return keras_hub.models.BertTextClassifier(backbone, num_classes=2, preprocessor=preprocessor)
