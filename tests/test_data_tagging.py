"""Tests for tfdistill.data.tagging: the first-piece alignment and the word ids."""

import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from tfdistill.data.conll import TaggedSentences
from tfdistill.data.tagging import FirstPiecePacker
from tfdistill.data.tagging import build_word_lookup
from tfdistill.data.tagging import encode_tagged
from tfdistill.data.tagging import encode_tagged_for_distillation

VOCABULARY = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "new", "york", "##er", "##s",
              "la", "!", "un", "##believ", "##able"]
CLS, SEP, PAD, UNK = 2, 3, 0, 1


@pytest.fixture
def tokenizer():
    return keras_hub.models.BertTokenizer(VOCABULARY, lowercase=True)


def pack(packer, sentences):
    words = tf.ragged.constant(sentences)
    return {key: value.numpy().tolist() for key, value in packer(words).items()}


def test_each_word_is_read_at_its_first_piece(tokenizer):
    packer = FirstPiecePacker(tokenizer, sequence_length=12, max_words=5)
    inputs = pack(packer, [["Unbelievable", "New", "Yorkers", "!"], ["la"]])
    # unbelievable -> un ##believ ##able; yorkers -> york ##er ##s.
    assert inputs["token_ids"][0] == [CLS, 11, 12, 13, 5, 6, 7, 8, 10, SEP, PAD, PAD]
    assert inputs["word_starts"] == [[1, 4, 5, 8, 0], [1, 0, 0, 0, 0]]
    assert inputs["padding_mask"][1] == [True] * 3 + [False] * 9
    assert inputs["segment_ids"][0] == [0] * 12


def test_words_past_the_sequence_length_are_cut_and_untagged(tokenizer):
    packer = FirstPiecePacker(tokenizer, sequence_length=7, max_words=4)
    sentences = TaggedSentences(
        [["new", "yorkers", "la", "la"], ["la", "unbelievable"]],
        [["B-x", "I-x", "O", "O"], ["O", "B-y"]],
    )
    tags = [np.array([1, 2, 0, 0]), np.array([0, 3])]
    inputs, labels = next(iter(encode_tagged(sentences, tags, packer, batch_size=2)))
    # 5 piece positions: new york ##er ##s la | la ; la un ##believ ##able.
    assert inputs["token_ids"].numpy()[0].tolist() == [CLS, 5, 6, 7, 8, 9, SEP]
    assert inputs["word_starts"].numpy().tolist() == [[1, 2, 5, 0], [1, 2, 0, 0]]
    assert labels.numpy().tolist() == [[1, 2, 0, -1], [0, 3, -1, -1]]


def test_a_word_without_pieces_keeps_its_slot_as_unknown(tokenizer):
    packer = FirstPiecePacker(tokenizer, sequence_length=8)
    inputs = pack(packer, [["new", "\u200b", "york"]])
    assert inputs["token_ids"][0][:5] == [CLS, 5, UNK, 6, SEP]
    assert inputs["word_starts"][0][:4] == [1, 2, 3, 0]


def test_max_words_cuts_the_words_and_the_config_round_trips(tokenizer):
    packer = FirstPiecePacker(tokenizer, sequence_length=16, max_words=2)
    assert pack(packer, [["la", "la", "la"]])["word_starts"] == [[1, 2]]
    rebuilt = FirstPiecePacker.from_config(packer.get_config())
    assert (rebuilt.sequence_length, rebuilt.max_words) == (16, 2)
    assert pack(rebuilt, [["la", "la", "la"]]) == pack(packer, [["la", "la", "la"]])


def test_word_ids_keep_every_word_and_lowercase_only():
    lookup = build_word_lookup([["Paris", "!", ":)", "paris", "#wnut"]], max_words=6)
    assert lookup.get_vocabulary() == ["", "[UNK]", "paris", "!", ":)", "#wnut"]
    ids = lookup(tf.ragged.constant([["PARIS", ":)", "#WNUT", "?", "!"]])).numpy()
    assert ids.tolist() == [[2, 4, 5, 1, 3, 0]]


def test_distillation_labels_mask_the_words_either_model_misses(tokenizer):
    packer = FirstPiecePacker(tokenizer, sequence_length=5, max_words=3)
    lookup = build_word_lookup([["la"]], max_words=3)
    sentences = TaggedSentences([["la", "yorkers", "la"]], [["O", "B-x", "O"]])
    live = encode_tagged_for_distillation(
        sentences, [[0, 1, 0]], student_preprocessor=lookup,
        teacher_preprocessor=packer, batch_size=1)
    x, labels = next(iter(live))
    assert sorted(x) == ["student", "teacher"]
    # Pieces: la york ##er ##s la; 3 fit, so the last "la" is cut for the teacher.
    assert labels.numpy().tolist() == [[0, 1, -1]]
    cached = encode_tagged_for_distillation(
        sentences, [[0, 1, 0]], student_preprocessor=lookup,
        teacher_logits=np.zeros((1, 3, 2)), teacher_word_mask=[[True, False, True]],
        batch_size=1)
    x, labels = next(iter(cached))
    assert x["teacher_logits"].shape == (1, 3, 2)
    assert labels.numpy().tolist() == [[0, -1, 0]]
    with pytest.raises(ValueError, match="same max_words"):
        encode_tagged_for_distillation(
            sentences, [[0, 1, 0]], student_preprocessor=build_word_lookup([["la"]], 4),
            teacher_preprocessor=packer, batch_size=1)


def test_eager_calls_of_any_batch_size_share_one_traced_packer():
    """TensorFlow warns on a terminal when a function retraces again and again (a new
    trace per batch size): the teacher's logits over train, validation and test did."""
    tokenizer = keras_hub.models.BertTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "new", "york"])
    packer = FirstPiecePacker(tokenizer, sequence_length=8, max_words=4)
    for batch_size in range(1, 10):
        packer(tf.ragged.constant([["new", "york"]] * batch_size))
    assert packer._eager_pack.experimental_get_tracing_count() <= 2
