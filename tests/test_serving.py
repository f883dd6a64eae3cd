"""Which exported SavedModels a server without TF Text loads (README, "Serving").

A word-level student's SavedModel holds TensorFlow's core ops only; a BERT one holds
TF Text's tokenizer ops, which load only where `tensorflow_text` registered them.
Each is loaded in a fresh process that imports TensorFlow and nothing of ours.
"""

import json
import os
import subprocess
import sys

import keras_hub
import numpy as np
import pytest
import tensorflow as tf
from tiny_models import tiny_bert_classifier

from tfdistill import export
from tfdistill import models

TEXTS = ["a gripping funny film", "dull and far too long", "", "unseen words only"]
CLASS_NAMES = ["negative", "positive"]
# The TF Text ops a keras-hub BERT preprocessor puts in a SavedModel (README, "Serving").
TF_TEXT_OPS = ("CaseFoldUTF8", "NormalizeUTF8", "RegexSplitWithOffsets",
               "FastWordpieceTokenizeWithOffsets", "TFText>RoundRobinTrim")

# Runs in a fresh interpreter: loads the word-level SavedModel, then the BERT one
# before and after importing tensorflow_text, and prints what happened as JSON.
SERVER = """
import json
import sys

import tensorflow as tf

word_path, bert_path, texts = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])


def probabilities(path):
    serve = tf.saved_model.load(path).signatures["serving_default"]
    return serve(texts=tf.constant(texts))["probabilities"].numpy().tolist()


report = {"word": probabilities(word_path)}
report["tensorflow_text_imported"] = "tensorflow_text" in sys.modules
try:
    probabilities(bert_path)
    report["bert_error"] = None
except Exception as error:  # TensorFlow raises RuntimeError or NotFoundError.
    report["bert_error"] = str(error).splitlines()[0]
import tensorflow_text  # noqa: E402,F401  Registers the tokenizer ops.

report["bert_with_tensorflow_text"] = probabilities(bert_path)
print(json.dumps(report))
"""


def _in_memory_probabilities(model, preprocessor):
    return tf.nn.softmax(model(preprocessor(tf.constant(TEXTS)))).numpy()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The in-memory answers of a BiLSTM and a BERT classifier, and the fresh process's."""
    directory = tmp_path_factory.mktemp("serving")
    bilstm = models.build_student(
        "bilstm", num_classes=2, train_texts=TEXTS, sequence_length=8,
        vocabulary_size=50, embedding_dim=8, lstm_units=4)
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *" ".join(TEXTS).split()]
    bert_preprocessor = keras_hub.models.BertTextClassifierPreprocessor(
        keras_hub.models.BertTokenizer(vocabulary=vocabulary, lowercase=True), sequence_length=8)
    bert = tiny_bert_classifier(vocabulary_size=len(vocabulary), max_sequence_length=8, seed=0)
    paths = [
        export.export_savedmodel(model, preprocessor, directory / name, CLASS_NAMES)
        for name, model, preprocessor in (("bilstm", bilstm.model, bilstm.preprocessor),
                                          ("bert", bert, bert_preprocessor))
    ]
    result = subprocess.run(
        [sys.executable, "-c", SERVER, *paths, json.dumps(TEXTS)],
        capture_output=True, text=True, cwd=directory,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    expected = {"word": _in_memory_probabilities(bilstm.model, bilstm.preprocessor),
                "bert": _in_memory_probabilities(bert, bert_preprocessor)}
    return expected, json.loads(result.stdout.splitlines()[-1])


def test_a_word_level_savedmodel_answers_without_tf_text(served):
    expected, report = served
    assert not report["tensorflow_text_imported"]
    np.testing.assert_allclose(report["word"], expected["word"], atol=1e-5)


def test_a_bert_savedmodel_needs_tf_text_ops(served):
    expected, report = served
    assert report["bert_error"] is not None, "the BERT SavedModel loaded without TF Text"
    missing_ops = [op for op in TF_TEXT_OPS if f"Op type not registered '{op}'" in report["bert_error"]]
    assert missing_ops, report["bert_error"]
    np.testing.assert_allclose(report["bert_with_tensorflow_text"], expected["bert"], atol=1e-5)
