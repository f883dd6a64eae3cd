"""The student's loss on the true labels, and which examples have one.

A negative integer label means "no gold label": an augmented transfer text that only
the teacher labels. Such an example has no hard-label loss and no accuracy to count.

Per token (labels `(batch, words)`), two negative labels differ: `NOT_A_WORD` (-1)
marks a slot with nothing to learn at all (padding, a word a model does not see), and
`UNTAGGED_WORD` (-2) a word of an augmented sentence, which the teacher tags and the
student learns from through the distillation loss alone.
"""

import keras
from keras import ops

NOT_A_WORD = -1
UNTAGGED_WORD = -2


def hard_label_cross_entropy(labels, student_logits):
    """The student's loss on the true labels, per example, from logits.

    Integer labels of shape `(batch,)` use the sparse form; one-hot or soft labels of
    shape `(batch, classes)` use the dense form. A negative integer label means "no
    gold label" (an augmented transfer text that only the teacher labels): its loss
    is 0, so such an example teaches through the distillation loss alone.

    Example:

    >>> import numpy as np
    >>> losses = hard_label_cross_entropy(np.array([0, -1]), np.zeros((2, 2)))
    >>> [round(float(loss), 4) for loss in losses]
    [0.6931, 0.0]
    """
    student_logits = ops.cast(student_logits, "float32")
    if len(labels.shape) == len(student_logits.shape):
        return keras.losses.categorical_crossentropy(
            ops.cast(labels, "float32"), student_logits, from_logits=True
        )
    has_label = labels >= 0
    per_example = keras.losses.sparse_categorical_crossentropy(
        ops.where(has_label, labels, 0), student_logits, from_logits=True
    )
    return ops.where(has_label, per_example, 0.0)


def has_gold_label(labels, student_logits):
    """1.0 for examples with a gold label, 0.0 for those marked by a negative label.

    Example:

    >>> import numpy as np
    >>> [float(flag) for flag in has_gold_label(np.array([1, -1]), np.zeros((2, 2)))]
    [1.0, 0.0]
    """
    if len(labels.shape) == len(student_logits.shape):
        return ops.ones_like(labels[..., 0], dtype="float32")
    return ops.cast(labels >= 0, "float32")


def is_word(labels):
    """Per token: 1.0 for a word the student learns from (a gold tag or
    `UNTAGGED_WORD`), 0.0 for `NOT_A_WORD` slots.

    Example:

    >>> import numpy as np
    >>> is_word(np.array([[3, -2, -1]])).numpy().tolist()
    [[1.0, 1.0, 0.0]]
    """
    return ops.cast(ops.not_equal(labels, NOT_A_WORD), "float32")
