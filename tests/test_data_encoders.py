"""Tests for tfdistill.data.encoders: sequence length, vectorizer, input pipelines."""

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

import tfdistill
from tfdistill import data

WORDS = ["good", "bad", "film", "plot", "the", "a", "dull", "great"]
TEXTS = [
    " ".join(WORDS[(i * 3 + j) % len(WORDS)] for j in range(1 + i % 7)) for i in range(20)
]
LABELS = [i % 2 for i in range(20)]


def raw_dataset(texts=TEXTS, labels=LABELS):
    return tf.data.Dataset.from_tensor_slices((texts, labels))


def index_preprocessor(texts):
    """Texts "0", "1", ... -> their number: makes example order visible."""
    return tf.strings.to_number(texts, tf.int32)


def index_dataset(size=10):
    return raw_dataset([str(i) for i in range(size)], [i % 2 for i in range(size)])


@pytest.fixture
def vectorizer():
    return data.build_vectorizer(TEXTS, vocabulary_size=50, sequence_length=12)


@pytest.fixture
def bert_preprocessor():
    tokenizer = keras_hub.models.BertTokenizer(
        vocabulary=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS], lowercase=True
    )
    return keras_hub.models.BertTextClassifierPreprocessor(tokenizer, sequence_length=16)


def test_sequence_length_from_data_rounds_up_and_caps():
    texts = ["w " * n for n in range(1, 101)]  # 1..100 words

    def split_words(batch):
        return [text.split() for text in batch]

    assert data.sequence_length_from_data(texts, split_words, percentile=50) == 56
    assert data.sequence_length_from_data(texts, split_words, percentile=100) == 104
    assert data.sequence_length_from_data(texts, split_words, cap=64) == 64
    assert (
        data.sequence_length_from_data(
            texts, split_words, percentile=100, multiple_of=1, num_special_tokens=2
        )
        == 102
    )
    counts = data.sequence_length_from_data(
        texts, lambda batch: [len(text.split()) for text in batch], percentile=100
    )
    assert counts == 104
    with pytest.raises(ValueError, match="percentile must be in"):
        data.sequence_length_from_data(texts, split_words, percentile=101)


def test_sequence_length_from_data_with_a_keras_hub_tokenizer(bert_preprocessor):
    tokenizer = bert_preprocessor.tokenizer
    texts = ["good film"] * 9 + ["the good the bad the dull plot great film a"]
    length = data.sequence_length_from_data(
        texts, tokenizer, percentile=100, multiple_of=4, num_special_tokens=2
    )
    assert length == 12  # 10 WordPieces + [CLS] + [SEP], rounded up to 4


def test_build_vectorizer_adapts_on_training_texts_only():
    vectorizer = data.build_vectorizer(["Good, GOOD film!"], sequence_length=5)
    assert vectorizer.get_vocabulary() == ["", "[UNK]", "good", "film"]
    ids = vectorizer(tf.constant(["good unseen film"]))
    assert ids.numpy().tolist() == [[2, 1, 3, 0, 0]]


def test_encode_with_a_vectorizer(vectorizer):
    batches = data.encode(raw_dataset(), vectorizer, batch_size=8)
    ids_spec, label_spec = batches.element_spec
    assert ids_spec.shape.as_list() == [None, 12] and label_spec.dtype == tf.int32
    shapes = [ids.shape[0] for ids, _ in batches]
    assert shapes == [8, 8, 4]
    ids, labels = next(iter(batches))
    assert np.array_equal(ids, vectorizer(tf.constant(TEXTS[:8])))
    assert labels.numpy().tolist() == LABELS[:8]


def test_encode_with_a_keras_hub_preprocessor(bert_preprocessor):
    inputs, labels = next(iter(data.encode(raw_dataset(), bert_preprocessor, batch_size=4)))
    assert sorted(inputs) == ["padding_mask", "segment_ids", "token_ids"]
    assert inputs["token_ids"].shape == (4, 16) and inputs["token_ids"].dtype == tf.int32
    assert labels.shape == (4,)


@pytest.mark.parametrize("shuffle", [False, True])
def test_drop_remainder_gives_a_static_batch_dimension(vectorizer, shuffle):
    batches = data.encode(
        raw_dataset(), vectorizer, batch_size=8, shuffle=shuffle, drop_remainder=True
    )
    ids_spec, label_spec = batches.element_spec
    assert ids_spec.shape.as_list() == [8, 12] and label_spec.shape.as_list() == [8]
    assert len(list(batches)) == 2


def test_shuffle_is_seeded_reshuffles_each_epoch_and_mixes_batches():
    def epochs(seed):
        batches = data.encode(
            index_dataset(), index_preprocessor, batch_size=4, shuffle=True, seed=seed
        )
        return [np.concatenate([x for x, _ in batches]).tolist() for _ in range(2)]

    first, second = epochs(seed=1)
    assert sorted(first) == list(range(10))
    assert first != list(range(10)) and first != second
    assert epochs(seed=1) == [first, second]
    assert epochs(seed=2)[0] != first
    # Examples, not fixed batches, are shuffled: the batches' contents change.
    fixed_batches = {frozenset(range(0, 4)), frozenset(range(4, 8)), frozenset({8, 9})}
    assert {frozenset(first[i : i + 4]) for i in (0, 4, 8)} != fixed_batches


def test_a_stream_of_epochs_resumed_later_replays_the_tail_and_may_be_empty():
    def stream(first, stop=3):
        batches = data.encode(
            index_dataset(), index_preprocessor, batch_size=4, shuffle=True, seed=1,
            epochs=(first, stop),
        )
        assert int(batches.cardinality()) == 3 * (stop - first)
        return [x.numpy().tolist() for x, _ in batches]

    assert stream(first=2) == stream(first=0)[6:]
    # A stage killed after its last epoch's checkpoint resumes with nothing to train.
    assert stream(first=3) == []
    with pytest.raises(ValueError, match=r"0 <= first <= stop, got \(4, 3\)"):
        stream(first=4)


def test_unshuffled_order_and_labels_are_kept_with_and_without_cache():
    for cache in (True, False):
        batches = data.encode(
            index_dataset(), index_preprocessor, batch_size=3, cache=cache
        )
        examples = [(x, y) for xs, ys in batches for x, y in zip(xs.numpy(), ys.numpy())]
        assert examples == [(i, i % 2) for i in range(10)]


def test_trim_padding_cuts_bert_inputs_and_ids(bert_preprocessor, vectorizer):
    short = raw_dataset(["good film", "a dull plot"], [1, 0])
    inputs, _ = next(
        iter(data.encode(short, bert_preprocessor, batch_size=2, trim_padding=True))
    )
    # The longest text is 3 WordPieces + [CLS] + [SEP].
    assert {key: value.shape for key, value in inputs.items()} == {
        key: (2, 5) for key in ("token_ids", "padding_mask", "segment_ids")
    }
    assert bool(tf.reduce_all(inputs["padding_mask"][1]))
    ids, _ = next(iter(data.encode(short, vectorizer, batch_size=2, trim_padding=True)))
    assert ids.shape == (2, 3) and bool(tf.reduce_all(ids[1] != 0))


def test_encode_for_distillation_with_a_teacher_preprocessor(bert_preprocessor, vectorizer):
    batches = data.encode_for_distillation(
        raw_dataset(),
        student_preprocessor=vectorizer,
        teacher_preprocessor=bert_preprocessor,
        batch_size=8,
        drop_remainder=True,
        trim_padding=True,
    )
    x, y = next(iter(batches))
    assert sorted(x) == ["student", "teacher"]
    assert x["teacher"]["token_ids"].shape[0] == 8 and x["student"].shape[0] == 8
    assert x["student"].shape[1] == 7  # the longest of the first 8 texts has 7 words
    assert y.shape == (8,)


def test_encode_for_distillation_keeps_logits_with_their_examples():
    size = 10
    logits = np.stack([np.arange(size), -np.arange(size)], axis=1).astype(np.float64)
    batches = data.encode_for_distillation(
        index_dataset(size),
        student_preprocessor=index_preprocessor,
        teacher_logits=logits,
        batch_size=4,
        shuffle=True,
        seed=3,
        trim_padding=True,
    )
    x_spec, _ = batches.element_spec
    assert x_spec["teacher_logits"].dtype == tf.float32
    assert x_spec["teacher_logits"].shape.as_list() == [None, 2]
    seen = []
    for x, y in batches:
        assert np.array_equal(x["teacher_logits"][:, 0], x["student"])
        assert np.array_equal(y, x["student"] % 2)
        seen += x["student"].numpy().tolist()
    assert sorted(seen) == list(range(size)) and seen != list(range(size))


def test_encode_for_distillation_rejects_bad_teacher_arguments(vectorizer):
    with pytest.raises(ValueError, match="exactly one.*got neither"):
        data.encode_for_distillation(
            raw_dataset(), student_preprocessor=vectorizer, batch_size=4
        )
    with pytest.raises(ValueError, match="exactly one.*got both"):
        data.encode_for_distillation(
            raw_dataset(),
            student_preprocessor=vectorizer,
            teacher_preprocessor=vectorizer,
            teacher_logits=np.zeros((20, 2)),
            batch_size=4,
        )
    with pytest.raises(ValueError, match=r"\[20, C\].*got \(19, 2\)"):
        data.encode_for_distillation(
            raw_dataset(),
            student_preprocessor=vectorizer,
            teacher_logits=np.zeros((19, 2)),
            batch_size=4,
        )
    # A filtered dataset has no known size: it is counted.
    with pytest.raises(ValueError, match=r"\[10, C\]"):
        data.encode_for_distillation(
            raw_dataset().filter(lambda text, label: label == 0),
            student_preprocessor=vectorizer,
            teacher_logits=np.zeros((20, 2)),
            batch_size=4,
        )


def test_distiller_fits_on_encoded_batches(bert_preprocessor, vectorizer):
    token_ids = keras.Input((None,), dtype="int32", name="token_ids")
    padding_mask = keras.Input((None,), dtype="bool", name="padding_mask")
    segment_ids = keras.Input((None,), dtype="int32", name="segment_ids")
    embedded = keras.layers.Add()(
        [
            keras.layers.Embedding(50, 8)(token_ids),
            keras.layers.Embedding(2, 8)(segment_ids),
        ]
    )
    pooled = keras.layers.GlobalAveragePooling1D()(embedded, mask=padding_mask)
    teacher = keras.Model(
        {"token_ids": token_ids, "padding_mask": padding_mask, "segment_ids": segment_ids},
        keras.layers.Dense(2)(pooled),
    )
    student = keras.Sequential(
        [
            keras.Input((None,), dtype="int64"),
            keras.layers.Embedding(50, 8),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(2),
        ]
    )
    batches = data.encode_for_distillation(
        raw_dataset(),
        student_preprocessor=vectorizer,
        teacher_preprocessor=bert_preprocessor,
        batch_size=8,
        shuffle=True,
    )
    distiller = tfdistill.Distiller(teacher, student, temperature=2.0, alpha=0.5)
    distiller.compile(optimizer="adam", metrics=["accuracy"])
    history = distiller.fit(batches, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert {"student_loss", "distillation_loss", "accuracy"} <= set(history.history)


def _batches(dataset):
    return [tf.nest.map_structure(lambda t: t.numpy(), batch) for batch in dataset]


@pytest.mark.parametrize("options", [{}, {"shuffle": True, "seed": 3}, {"drop_remainder": True}])
def test_a_small_dataset_is_encoded_eagerly_into_the_batches_tf_data_would_make(
    bert_preprocessor, monkeypatch, options
):
    """Encoding in `Dataset.map` traced the preprocessor and serialized its tokenizer
    at every iterator: 3 to 4 s per dataset for the packaged MiniLM's."""
    eager_calls = []

    def recording(texts):
        eager_calls.append(tf.executing_eagerly())
        return bert_preprocessor(texts)

    eagerly = _batches(data.encode(raw_dataset(), recording, batch_size=6, **options))
    assert eager_calls == [True] * (len(TEXTS) // 6 + (not options.get("drop_remainder")))

    monkeypatch.setattr(data.encoders, "EAGER_ENCODING_LIMIT", len(TEXTS) - 1)
    eager_calls.clear()
    in_tf_data = _batches(data.encode(raw_dataset(), recording, batch_size=6, **options))
    assert eager_calls == [False]  # Traced once by Dataset.map.
    assert len(eagerly) == len(in_tf_data)
    for eager_batch, tf_data_batch in zip(eagerly, in_tf_data):
        tf.nest.map_structure(np.testing.assert_array_equal, eager_batch, tf_data_batch)


def test_examples_that_encode_to_unequal_shapes_are_encoded_in_tf_data():
    """Concatenating them into one tensor is impossible; `Dataset.map` batches them."""
    def per_batch_width(texts):
        words = tf.strings.split(texts).to_tensor(default_value="")
        return tf.strings.length(words)

    batches = _batches(data.encode(raw_dataset(), per_batch_width, batch_size=6))
    assert [batch[0].shape[0] for batch in batches] == [6, 6, 6, 2]
    assert len({batch[0].shape[1] for batch in batches}) > 1
