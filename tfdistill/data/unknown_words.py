"""How many of each text's words a word-level student cannot read.

A word-level student's preprocessor (`build_vectorizer`'s `TextVectorization`, the
tagger's `WordLookup`) gives padding id 0 and every word outside its vocabulary one
id, 1. A text whose words are mostly that id reaches the model as little more than
its length, and the model still answers with a label: `tfdistill predict` counts
them, so that a file unlike the training texts (the wrong column, another language)
is named instead of silently scored. Students that read the teacher's word pieces
have no such id for whole words, and are not counted.

Example:

>>> from tfdistill.data.encoders import build_vectorizer
>>> vectorizer = build_vectorizer(["a good film", "a bad film"], sequence_length=6)
>>> counts_unknown_words(vectorizer)
True
>>> counts = unknown_word_counts(vectorizer(["a good movie", "ein guter Film"]))
>>> counts["words"].numpy().tolist(), counts["unknown_words"].numpy().tolist()
([3, 3], [1, 2])
"""

import keras
import tensorflow as tf

from tfdistill.data.tagging import WordLookup
from tfdistill.data.word_ids import OOV_ID
from tfdistill.data.word_ids import PAD_ID


def counts_unknown_words(preprocessor):
    """Whether `preprocessor` is word-level, with one id for every unknown word."""
    return isinstance(preprocessor, (keras.layers.TextVectorization, WordLookup))


def unknown_word_counts(word_ids):
    """`{"words": ..., "unknown_words": ...}`, int32 `[batch]` each: how many of each
    text's word slots hold a word, and how many of those the vocabulary lacks.

    Args:
        word_ids: a word-level preprocessor's output, `[batch, slots]` ids (a tensor
            or an array), or the tagger's dict of them under `word_ids`. Only the
            words the model reads count: those past its last slot are not in it.
    """
    if isinstance(word_ids, dict):
        word_ids = word_ids["word_ids"]
    word_ids = tf.convert_to_tensor(word_ids)
    return {
        "words": tf.reduce_sum(tf.cast(tf.not_equal(word_ids, PAD_ID), tf.int32), axis=-1),
        "unknown_words": tf.reduce_sum(tf.cast(tf.equal(word_ids, OOV_ID), tf.int32), axis=-1),
    }
