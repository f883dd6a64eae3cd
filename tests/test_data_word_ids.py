"""`WordIds` gives exactly the ids of the `TextVectorization` it reproduces."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfdistill.data.encoders import build_vectorizer
from tfdistill.data.word_ids import WordIds
from tfdistill.models.students.saving import load_preprocessor
from tfdistill.models.students.saving import save_preprocessor

TRAIN_TEXTS = [
    "A gripping, funny film!",
    "dull and far too long... [MASK] the director's cut",
    "très bon film, 非常好 — отличный 😀",
    "ÉCOLE straße İstanbul mask unk",
    "it's a can't-miss, well-made (and 'true') story",
]
# Each rule of the module's docstring has a case that breaks if the rule is wrong.
TEXTS = TRAIN_TEXTS + [
    "",
    "   \t\n\x0b\x0c\r ",
    "great " * 20_000,
    "bad\x00\x01\x07\x1b[31m movie\x7f",
    "FILM Film fIlM École ÉCOLE",  # ASCII lowercased only
    "[mask] [MASK] [Mask]film film[MASK] [MASK",  # the mask token in any case
    "a\x1cb\x85c\u00a0d\u2003e",  # not ASCII whitespace: no split
    "[UNK] [unk] unk",
    "a\tgood\nfilm\rtoo",
    "!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~' good",
    "x" * 50 + " " + "good " * 40,
]


@pytest.fixture(scope="module")
def vectorizer():
    return build_vectorizer(TRAIN_TEXTS, vocabulary_size=60, sequence_length=12)


def test_word_ids_match_the_vectorizer_on_every_rule(vectorizer):
    np.testing.assert_array_equal(
        WordIds.from_vectorizer(vectorizer)(TEXTS), vectorizer(tf.constant(TEXTS)).numpy()
    )


def test_invalid_utf8_bytes_get_the_vectorizers_ids(vectorizer):
    texts = [b"\xff\xfe invalid \xc3\x28 Film! \x80", b"good\xc3 film"]
    np.testing.assert_array_equal(
        WordIds.from_vectorizer(vectorizer)(texts), vectorizer(tf.constant(texts)).numpy()
    )


def test_a_saved_and_reloaded_vectorizer_gives_the_same_word_ids(vectorizer, tmp_path):
    save_preprocessor(vectorizer, tmp_path)
    reloaded = WordIds.from_vectorizer(load_preprocessor(tmp_path))
    np.testing.assert_array_equal(reloaded(TEXTS), vectorizer(tf.constant(TEXTS)).numpy())


def test_a_vectorizer_with_other_rules_is_refused():
    other = keras.layers.TextVectorization(output_sequence_length=4)
    other.adapt(["a b c"])
    with pytest.raises(ValueError, match="only the vectorizers build_vectorizer makes"):
        WordIds.from_vectorizer(other)
