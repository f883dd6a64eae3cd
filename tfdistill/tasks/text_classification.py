"""Text classification: one class per text (sentiment, news topics, ...).

Labels are int32 class ids, one per text, with -1 for a transfer text that only the
teacher labels. Students end in a `Dense(num_classes)` head on pooled features; the
metrics are accuracy, precision, recall and F1; the exported signature returns
`probabilities`, `label_ids` and `labels`.

Example:

>>> import numpy as np
>>> task = TextClassification()
>>> scores = task.evaluate(np.array([0, 1, 1]), np.array([[2., 0.], [0., 1.], [1., 0.]]),
...                        ["negative", "positive"])
>>> round(scores["accuracy"], 4), scores["confusion_matrix"]
(0.6667, [[1, 0], [1, 1]])
"""

import keras
import keras_hub
import numpy as np
import tensorflow as tf

from tfdistill import data
from tfdistill import evaluation
from tfdistill.tasks import register_task
from tfdistill.tasks.base import Task
from tfdistill.tasks.base import check_ids
from tfdistill.tasks.base import dense_head

# Examples read from a source's tf.data per step (`read_examples`).
_READ_BATCH = 4096

# The label of a transfer text that only the teacher labels (see `Distiller`).
NO_GOLD_LABEL = -1


@register_task("text_classification")
class TextClassification(Task):
    """One class per text. See the module docstring.

    Example:

    >>> import keras
    >>> features = keras.Input((8,))
    >>> TextClassification().head(features, num_classes=3).shape
    (None, 3)
    """

    name = "text_classification"
    headline_metric = "accuracy"
    headline_is_keras_accuracy = True
    logits_rank = 2
    report_columns = (("accuracy", "accuracy", 9, ".2%"), ("F1", "f1", 7, ".3f"))
    # A text has no entities to keep.
    fixed_config = {"distillation.augment.keep_entities": False}

    def check_labels(self, labels, num_classes, where):
        check_ids(
            labels, 1, NO_GOLD_LABEL, num_classes,
            lambda labels: (
                f"{where}: text classification takes one integer class id per text; "
                f"got labels of shape {labels.shape} and dtype {labels.dtype}."
            ),
            lambda bad: f"{where}: label id {bad} is outside [0, {num_classes}) ({num_classes} classes).",
        )

    def head(self, features, num_classes, dropout=None):
        return dense_head(features, num_classes, dropout)

    def bert_model(self, backbone, preprocessor, num_classes, dropout, **kwargs):
        return keras_hub.models.BertTextClassifier(
            backbone=backbone,
            num_classes=num_classes,
            preprocessor=preprocessor,
            activation=None,
            dropout=dropout,
            **kwargs,
        )

    def agreement(self, predicted, reference, labels):
        """The share of texts given the same class."""
        return float(np.mean(np.asarray(predicted) == np.asarray(reference)))

    def augment(self, texts, labels, class_names, options):
        options = dict(options)
        options.pop("keep_entities")  # Always false: see `fixed_config`.
        new_texts, copy_numbers = data.augment_texts(texts, return_copy_numbers=True, **options)
        return new_texts, self.no_gold_labels(new_texts), copy_numbers

    def no_gold_labels(self, texts):
        return np.full(len(texts), NO_GOLD_LABEL, dtype=np.int32)

    def bert_student_preprocessor(self, teacher_preprocessor, sequence_length):
        """A `BertTextClassifierPreprocessor` on the teacher's tokenizer."""
        return keras_hub.models.BertTextClassifierPreprocessor(
            tokenizer=teacher_preprocessor.tokenizer, sequence_length=sequence_length
        )

    def evaluate(self, labels, logits, class_names):
        return evaluation.classification_metrics(
            labels, np.argmax(logits, axis=-1), len(class_names)
        )

    def serving_outputs(self, logits, class_names, texts):
        probabilities = tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)
        label_ids = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
        return {
            "probabilities": probabilities,
            "label_ids": label_ids,
            "labels": tf.gather(class_names, label_ids),
        }

    def read_examples(self, source, split, data_options):
        dataset, info = data.load(source, split, **data_options)
        texts, labels = [], []
        # In batches: tf.data's per-element overhead made reading 12,000 snippets one
        # by one take seconds.
        for text_batch, label_batch in dataset.batch(_READ_BATCH).as_numpy_iterator():
            texts.extend(text.decode("utf-8") for text in text_batch)
            labels.extend(label_batch)
        return texts, np.asarray(labels, dtype=np.int32), list(info.class_names)

    def encode(self, texts, labels, preprocessor, **options):
        return data.encode(_examples(texts, labels), preprocessor, **options)

    def encode_for_distillation(
        self, texts, labels, *, student_preprocessor, teacher_preprocessor, teacher_logits=None,
        **options
    ):
        teacher = (
            {"teacher_logits": teacher_logits}
            if teacher_logits is not None
            else {"teacher_preprocessor": teacher_preprocessor}
        )
        return data.encode_for_distillation(
            _examples(texts, labels), student_preprocessor=student_preprocessor, **teacher, **options
        )

    def loss(self):
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def word_vectorizer(self, train_texts, vocabulary_size, sequence_length, extra_words=()):
        return data.build_vectorizer(train_texts, vocabulary_size, sequence_length, extra_words)

    def serving_inputs(self, texts):
        return texts

    def report_sections(self, summary):
        """A confusion matrix per model (rows: true class, columns: predicted)."""
        names = summary["class_names"]
        lines = ["## Confusion matrices (rows: true class, columns: predicted)", ""]
        for name, scores in summary["models"].items():
            lines += [f"**{name}**", "", "| | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
            lines += [
                f"| {names[i]} | " + " | ".join(str(count) for count in row) + " |"
                for i, row in enumerate(scores["confusion_matrix"])
            ]
            lines.append("")
        return lines


def _examples(texts, labels):
    """`(text, label)` pairs as a `tf.data.Dataset`."""
    return tf.data.Dataset.from_tensor_slices((texts, labels))
