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

from tfdistill import evaluation
from tfdistill.tasks import register_task
from tfdistill.tasks.base import Task
from tfdistill.tasks.base import dense_head

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
    logits_rank = 2
    report_columns = (("accuracy", "accuracy", 9, ".2%"), ("F1", "f1", 7, ".3f"))

    def check_labels(self, labels, num_classes, where):
        labels = np.asarray(labels)
        if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(
                f"{where}: text classification takes one integer class id per text; "
                f"got labels of shape {labels.shape} and dtype {labels.dtype}."
            )
        bad = labels[(labels < NO_GOLD_LABEL) | (labels >= num_classes)]
        if bad.size:
            raise ValueError(
                f"{where}: label id {int(bad[0])} is outside [0, {num_classes}) "
                f"({num_classes} classes)."
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

    def evaluate(self, labels, logits, class_names):
        return evaluation.classification_metrics(
            labels, np.argmax(logits, axis=-1), len(class_names)
        )

    def serving_outputs(self, logits, class_names):
        probabilities = tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)
        label_ids = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
        return {
            "probabilities": probabilities,
            "label_ids": label_ids,
            "labels": tf.gather(class_names, label_ids),
        }
