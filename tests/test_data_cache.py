"""Tests for tfdistill.data.cache: fingerprints and the teacher-logit cache."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfdistill
from tfdistill import atomic
from tfdistill import data

TEXTS = ["a good film", "a bad film", "good plot", "dull", "great great film"]
LABELS = [1, 0, 1, 0, 1]
PREPROCESSING = {"sequence_length": 6, "lowercase": True}


def tiny_teacher(seed=0, dtype=None):
    """An int-ids classifier whose weights depend only on `seed`."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((6,), dtype="int64"),
            keras.layers.Embedding(20, 4, dtype=dtype),
            keras.layers.GlobalAveragePooling1D(dtype=dtype),
            keras.layers.Dense(2, dtype=dtype),
        ]
    )


class ExplodingTeacher(keras.Model):
    """A teacher that must never run."""

    def call(self, inputs, training=False):
        raise AssertionError("the teacher was called")


@pytest.fixture
def raw():
    return tf.data.Dataset.from_tensor_slices((TEXTS, LABELS))


@pytest.fixture
def teacher_inputs(raw):
    vectorizer = data.build_vectorizer(TEXTS, vocabulary_size=20, sequence_length=6)
    return data.encode(raw, vectorizer, batch_size=2, cache=False)


def test_cached_logits_equal_the_teachers(tmp_path, teacher_inputs):
    teacher = tiny_teacher()
    cache = data.TeacherLogitCache(tmp_path)
    logits = cache.get_or_compute(teacher, teacher_inputs, "k", verbose=0)
    expected = np.concatenate([teacher(ids, training=False) for ids, _ in teacher_inputs])
    assert logits.shape == (5, 2) and logits.dtype == np.float32
    np.testing.assert_allclose(logits, expected, atol=1e-6)
    np.testing.assert_allclose(cache.get("k"), expected, atol=1e-6)


def test_a_hit_does_not_call_the_teacher(tmp_path, teacher_inputs):
    cache = data.TeacherLogitCache(tmp_path)
    stored = np.arange(10, dtype=np.float32).reshape(5, 2)
    cache.put("k", stored)
    logits = cache.get_or_compute(ExplodingTeacher(), teacher_inputs, "k", verbose=0)
    np.testing.assert_array_equal(logits, stored)
    with pytest.raises(AssertionError, match="the teacher was called"):
        cache.get_or_compute(ExplodingTeacher(), teacher_inputs, "other", verbose=0)


def test_put_is_atomic_and_leaves_no_temporary_files(tmp_path):
    directory = tmp_path / "new" / "cache"
    cache = data.TeacherLogitCache(directory)
    cache.put("k", np.ones((3, 2), dtype=np.float64))
    cache.put("k", np.zeros((3, 2)))
    assert os.listdir(directory) == ["k.npy"]
    assert cache.get("k").dtype == np.float32 and not cache.get("k").any()
    with pytest.raises(ValueError, match=r"\[num_examples, ..., num_classes\]; got \(3,\)"):
        cache.put("bad", np.ones(3))
    assert os.listdir(directory) == ["k.npy"]


def test_a_crash_before_the_rename_keeps_the_old_logits(tmp_path, monkeypatch):
    cache = data.TeacherLogitCache(tmp_path)
    cache.put("k", np.ones((3, 2)))

    def crash(source, target):
        raise KeyboardInterrupt("killed between the write and the rename")

    monkeypatch.setattr(atomic.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        cache.put("k", np.zeros((3, 2)))
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["k.npy"]
    np.testing.assert_array_equal(cache.get("k"), np.ones((3, 2)))


def test_nonfinite_logits_are_never_written(tmp_path):
    cache = data.TeacherLogitCache(tmp_path)
    cache.put("k", np.ones((3, 2)))
    poisoned = np.zeros((3, 2))
    poisoned[1:, 0] = [np.inf, np.nan]

    with pytest.raises(
        FloatingPointError,
        match=r"^The teacher's logits for cache key 'k' hold 2 NaN or Inf values \(of 6\), "
        r"the first in example 1; they were not cached\.$",
    ):
        cache.put("k", poisoned)
    with pytest.raises(FloatingPointError, match="'new' hold 2 NaN"):
        cache.put("new", poisoned)

    assert os.listdir(tmp_path) == ["k.npy"]
    np.testing.assert_array_equal(cache.get("k"), np.ones((3, 2)))


def test_a_teacher_with_nan_weights_gets_no_cached_logits(tmp_path, teacher_inputs):
    teacher = tiny_teacher()
    # Poison the embedding of "dull", a word only the fourth text holds (the ids are
    # the `teacher_inputs` vectorizer's).
    vectorizer = data.build_vectorizer(TEXTS, vocabulary_size=20, sequence_length=6)
    embeddings = teacher.layers[0].embeddings
    poisoned = embeddings.numpy()
    poisoned[vectorizer.get_vocabulary().index("dull")] = np.nan
    embeddings.assign(poisoned)
    cache = data.TeacherLogitCache(tmp_path / "cache")

    with pytest.raises(
        FloatingPointError,
        match=r"2 NaN or Inf values \(of 10\), the first in example 3",
    ):
        cache.get_or_compute(teacher, teacher_inputs, "k", verbose=0)

    assert cache.get("k") is None
    assert not (tmp_path / "cache").exists()


def test_keys_must_be_plain_file_names(tmp_path):
    cache = data.TeacherLogitCache(tmp_path)
    for key in ("../escape", ".hidden", "a/b", ""):
        with pytest.raises(ValueError, match="Cache key"):
            cache.get(key)


def test_mixed_precision_logits_are_stored_as_float32(tmp_path, teacher_inputs):
    teacher = tiny_teacher(dtype="mixed_float16")
    assert teacher.outputs[0].dtype == "float16"
    logits = data.TeacherLogitCache(tmp_path).get_or_compute(
        teacher, teacher_inputs, "k", verbose=0
    )
    assert logits.dtype == np.float32 and np.load(tmp_path / "k.npy").dtype == np.float32


def test_predict_logits_rejects_non_logit_outputs(teacher_inputs):
    # One score per text: no class axis.
    scorer = keras.Sequential(
        [keras.Input((6,), dtype="int64"), keras.layers.Dense(1), keras.layers.Reshape(())]
    )
    with pytest.raises(ValueError, match=r"\[batch, ..., num_classes\]; got shape \(2,\)"):
        data.predict_logits(scorer, teacher_inputs, verbose=0)


def test_predict_logits_keeps_a_token_axis(teacher_inputs):
    tagger = keras.Sequential([keras.Input((6,), dtype="int64"), keras.layers.Embedding(20, 3)])
    assert data.predict_logits(tagger, teacher_inputs, verbose=0).shape[1:] == (6, 3)


def test_fingerprint_is_stable_across_rebuilds_and_orders_texts(raw):
    key = data.fingerprint(tiny_teacher(seed=0), TEXTS, PREPROCESSING)
    # A rebuilt model has other variable paths (dense_1/...) but the same weights.
    assert data.fingerprint(tiny_teacher(seed=0), TEXTS, PREPROCESSING) == key
    assert data.fingerprint(tiny_teacher(seed=0), data.texts_of(raw), PREPROCESSING) == key
    assert (
        data.fingerprint(tiny_teacher(seed=0), [t.encode() for t in TEXTS], PREPROCESSING)
        == key
    )
    assert len(key) == 64


def test_fingerprint_changes_with_weights_texts_and_preprocessing():
    teacher = tiny_teacher()
    key = data.fingerprint(teacher, TEXTS, PREPROCESSING)
    kernel = teacher.layers[-1].kernel
    kernel.assign(kernel.numpy() + np.eye(4, 2, dtype=np.float32) * 1e-3)
    changed_weight = data.fingerprint(teacher, TEXTS, PREPROCESSING)
    kernel.assign(kernel.numpy() - np.eye(4, 2, dtype=np.float32) * 1e-3)
    assert data.fingerprint(teacher, TEXTS, PREPROCESSING) == key
    other_keys = [
        changed_weight,
        data.fingerprint(teacher, TEXTS[:-1], PREPROCESSING),
        data.fingerprint(teacher, TEXTS[::-1], PREPROCESSING),
        data.fingerprint(teacher, TEXTS, {**PREPROCESSING, "sequence_length": 8}),
        data.fingerprint(teacher, TEXTS, {**PREPROCESSING, "lowercase": False}),
    ]
    assert len({key, *other_keys}) == 1 + len(other_keys)
    # Texts are delimited, not concatenated.
    assert data.fingerprint(teacher, ["ab", "c"], {}) != data.fingerprint(
        teacher, ["a", "bc"], {}
    )


def test_cached_logits_feed_the_distiller(tmp_path, raw, teacher_inputs):
    teacher = tiny_teacher()
    key = data.fingerprint(teacher, data.texts_of(raw), PREPROCESSING)
    logits = data.TeacherLogitCache(tmp_path).get_or_compute(
        teacher, teacher_inputs, key, verbose=0
    )
    student_vectorizer = data.build_vectorizer(TEXTS, sequence_length=4)
    batches = data.encode_for_distillation(
        raw,
        student_preprocessor=student_vectorizer,
        teacher_logits=logits,
        batch_size=2,
        shuffle=True,
    )
    student = keras.Sequential(
        [
            keras.Input((4,), dtype="int64"),
            keras.layers.Embedding(student_vectorizer.vocabulary_size(), 4),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(2),
        ]
    )
    distiller = tfdistill.Distiller(None, student, temperature=2.0, alpha=0.5)
    distiller.compile(optimizer="adam", metrics=["accuracy"])
    history = distiller.fit(batches, epochs=1, verbose=0)
    assert np.isfinite(history.history["distillation_loss"][0])


def test_predict_logits_traces_once_per_model_across_calls():
    from tfdistill.data import cache

    teacher = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    for num_examples in (10, 7, 13):  # Splits of other sizes: other last batches.
        inputs = tf.data.Dataset.from_tensor_slices(np.ones((num_examples, 4), "float32")).batch(4)
        data.predict_logits(teacher, inputs, verbose=0)
    # The full batch, then one generalised trace for every smaller batch.
    assert cache._traced_forward(teacher).experimental_get_tracing_count() <= 2


def test_predicting_with_many_models_gives_no_retracing_warning(caplog):
    # A run predicts with its teacher, each student and each exported model: every
    # model's one trace must not add up to TensorFlow's "retracing" warning.
    inputs = tf.data.Dataset.from_tensor_slices(np.ones((10, 4), "float32")).batch(4)
    models = [keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]) for _ in range(8)]
    with caplog.at_level("WARNING", logger="tensorflow"):
        for model in models:
            data.predict_logits(model, inputs, verbose=0)
    assert not [record for record in caplog.records if "retracing" in record.getMessage()]
