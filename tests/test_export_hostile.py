"""Hostile text through every kind of exported SavedModel, the BERT ones included.

Each SavedModel (a BERT teacher loaded as the run loads it, a `small_bert` student
built from it, a CNN, a BiLSTM and a BiLSTM on the teacher's pieces) must answer every text, alone or in a batch of up
to 10,000, with finite probabilities of the right shape and a valid class name, and
must give a text the same answer whatever its batch.
"""

import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from tfdistill import export
from tfdistill import models
from tiny_models import tiny_bert_classifier

# Some non-ASCII: the class names are served as strings too.
CLASS_NAMES = ["negative", "neutre", "très positif 😀"]
WORDS = ["a", "good", "bad", "film", "great", "movie", "tres", "bon", "非", "常", "好", "##s"]
TRAIN_TEXTS = ["a good film", "a bad movie", "great great film", "tres bon film 非常好"]
SEQUENCE_LENGTH = 16
# The SavedModels take bytes: invalid UTF-8 is one of the hostile inputs.
HOSTILE = {
    "empty": b"",
    "whitespace": " \t\n\r\u00a0\u3000\u2028 ".encode(),
    "100,000 characters of words": ("great film " * 9_091).encode(),
    "one 100,000-character word": b"a" * 100_000,
    "control characters": "bad\x00\x01\x07\x1b[31m movie\x7f\x85\u200b\u202e".encode(),
    "invalid UTF-8": b"\xff\xfe film \xc3\x28 \x80 \xed\xa0\x80 \xf4\x90\x80\x80 good \xe2\x82",
    "emoji": "😀👍🏽 🎬🍿 👨‍👩‍👧‍👦 🏳️‍🌈".encode(),
    "mixed scripts": "très bon film, 非常好 — отличный, ممتاز جدا, बहुत अच्छा".encode(),
    "BERT's special tokens": b"[CLS] [SEP] [PAD] [MASK] [UNK] ##s [unused0]",
}
SHORT = [text for text in HOSTILE.values() if len(text) < 1_000]


def _save_tiny_preset(preset_dir):
    """A random 2-layer BERT with a WordPiece vocabulary, saved as a keras-hub preset."""
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    keras_hub.models.BertTokenizer(vocabulary=vocabulary).save_to_preset(preset_dir)
    bert = tiny_bert_classifier(
        hidden_dim=8, vocabulary_size=len(vocabulary), max_sequence_length=32
    )
    bert.backbone.save_to_preset(preset_dir)
    return str(preset_dir)


def _models(preset_dir):
    """`{kind: (model, preprocessor)}` as the run exports them."""
    # load_teacher gives the tokenizer the run's settings: lowercase, strip accents
    # (Unicode normalization of invalid UTF-8) and special tokens in strings.
    teacher = models.load_teacher(
        preset_dir, num_classes=len(CLASS_NAMES), sequence_length=SEQUENCE_LENGTH
    )
    built = {"teacher": (teacher, teacher.preprocessor)}
    for kind, sizes in [
        ("small_bert", {"num_layers": 1}),
        ("cnn", {"vocabulary_size": 30, "embedding_dim": 8, "filters": 4}),
        ("bilstm", {"vocabulary_size": 30, "embedding_dim": 8, "lstm_units": 4}),
        ("bilstm_wordpiece", {"embedding_dim": 8, "lstm_units": 4}),
    ]:
        student = models.build_student(
            kind,
            num_classes=len(CLASS_NAMES),
            teacher=teacher,
            train_texts=TRAIN_TEXTS,
            sequence_length=SEQUENCE_LENGTH,
            **sizes,
        )
        built[kind] = (student.model, student.preprocessor)
    return built


KINDS = ["teacher", "small_bert", "cnn", "bilstm", "bilstm_wordpiece"]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """`{kind: serving function}` of each kind's exported SavedModel, reloaded."""
    root = tmp_path_factory.mktemp("hostile")
    built = _models(_save_tiny_preset(root / "preset"))
    return {
        kind: export.load_savedmodel(
            export.export_savedmodel(model, preprocessor, root / kind, CLASS_NAMES)
        )
        for kind, (model, preprocessor) in built.items()
    }


def _serve_checked(serve, texts, what):
    """Serves `texts`; checks shapes, finiteness and labels; returns the probabilities.

    `what` names the texts in a failure's message.
    """
    outputs = {name: value.numpy() for name, value in serve(texts=tf.constant(texts)).items()}
    probabilities, label_ids = outputs["probabilities"], outputs["label_ids"]
    assert probabilities.shape == (len(texts), len(CLASS_NAMES)), what
    assert label_ids.shape == outputs["labels"].shape == (len(texts),), what
    assert np.isfinite(probabilities).all(), what
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, atol=1e-5, err_msg=what)
    np.testing.assert_array_equal(label_ids, probabilities.argmax(axis=-1), err_msg=what)
    names = np.array([name.encode() for name in CLASS_NAMES], dtype=object)
    np.testing.assert_array_equal(outputs["labels"], names[label_ids], err_msg=what)
    return probabilities


# One test per kind: the first call of a loaded BERT SavedModel in a test costs
# seconds (each test starts with a cleared Keras session), the others milliseconds.
@pytest.mark.parametrize("kind", KINDS)
def test_hostile_text_gets_the_same_valid_answer_alone_and_in_batches(served, kind):
    serve = served[kind]
    alone = {
        text: _serve_checked(serve, [text], f"{kind} on {name} alone")[0]
        for name, text in HOSTILE.items()
    }

    for batch_size in (7, 10_000):
        # Every hostile text once (the long ones only here), then short ones repeated.
        texts = (list(HOSTILE.values()) + SHORT * (batch_size // len(SHORT)))[:batch_size]
        probabilities = _serve_checked(serve, texts, f"{kind} on a batch of {batch_size}")
        np.testing.assert_allclose(
            probabilities,
            [alone[text] for text in texts],
            atol=1e-5,
            err_msg=f"{kind}: a text's answer changed with its batch of {batch_size}",
        )
