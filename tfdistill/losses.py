"""Distillation losses: small functions of logits that return one loss per example.

Every function here takes `(teacher_logits, student_logits, temperature)` and returns a
float32 tensor of shape `(batch,)`, so that `Distiller` (or any training loop) can apply
sample weights and its own reduction.

Precision: the soft-target losses compute in float64 and return float32. In float16
the softmax loses the small probabilities that carry the "dark knowledge"; in float32
the `T²` factor multiplies the rounding error of the log-probabilities, so that at
`T=8` the loss is off by about 3e-5 even for logits of unit scale (measured against a
float64 reference). The tensors involved are only `(batch, classes)`, so float64 costs
nothing measurable next to the models.

Hinton et al. (2015) multiply the soft-target terms by `temperature**2` so that their
gradients keep the same magnitude as the hard-label loss when the temperature changes;
both soft-target losses below include that factor.

Example:

>>> import numpy as np
>>> from tfdistill import losses
>>> teacher = np.array([[2.0, 0.5, -1.0]], "float32")
>>> student = np.array([[1.0, 1.0, 0.0]], "float32")
>>> losses.soft_target_kl(teacher, student, temperature=2.0).shape
TensorShape([1])
"""

import keras
from keras import ops


def _tempered_log_probs(logits, temperature):
    logits = ops.cast(logits, "float64")
    return ops.log_softmax(logits / ops.cast(temperature, "float64"), axis=-1)


def _times_temperature_squared(loss, temperature):
    return ops.cast(loss * ops.cast(temperature, "float64") ** 2, "float32")


def soft_target_kl(teacher_logits, student_logits, temperature=1.0):
    """Hinton's distillation loss: `T² · KL(softmax(t/T) ‖ softmax(s/T))` per example.

    The KL divergence is zero when the student's tempered distribution equals the
    teacher's, which makes it the easiest of the soft-target losses to read in logs.
    Unlike `keras.distillation.LogitsDistillation(loss="kl_divergence")`, the logits
    go through a softmax first and the result is scaled by `T²`.

    Args:
        teacher_logits: float tensor `(batch, classes)`; no gradient flows into it.
        student_logits: float tensor `(batch, classes)`.
        temperature: a positive float (or scalar tensor). Higher values soften both
            distributions and expose more of the teacher's ranking of wrong classes.

    Returns:
        A float32 tensor of shape `(batch,)`.

    Example:

    >>> import numpy as np
    >>> logits = np.array([[3.0, -1.0]], "float32")
    >>> float(soft_target_kl(logits, logits, temperature=4.0)[0])
    0.0
    """
    teacher_log_probs = ops.stop_gradient(_tempered_log_probs(teacher_logits, temperature))
    student_log_probs = _tempered_log_probs(student_logits, temperature)
    kl = ops.sum(
        ops.exp(teacher_log_probs) * (teacher_log_probs - student_log_probs), axis=-1
    )
    return _times_temperature_squared(kl, temperature)


def soft_target_cross_entropy(teacher_logits, student_logits, temperature=1.0):
    """Cross-entropy against the teacher's soft targets, `-T² · Σ p_t log p_s` per example.

    It equals `soft_target_kl` plus `T²` times the teacher's entropy, a constant for the
    student, so both give the same gradients; this form is what most papers write.

    Args:
        teacher_logits: float tensor `(batch, classes)`; no gradient flows into it.
        student_logits: float tensor `(batch, classes)`.
        temperature: a positive float (or scalar tensor).

    Returns:
        A float32 tensor of shape `(batch,)`.

    Example:

    >>> import numpy as np
    >>> teacher = np.array([[0.0, 0.0]], "float32")
    >>> round(float(soft_target_cross_entropy(teacher, teacher)[0]), 4)  # log 2
    0.6931
    """
    teacher_probs = ops.stop_gradient(
        ops.exp(_tempered_log_probs(teacher_logits, temperature))
    )
    student_log_probs = _tempered_log_probs(student_logits, temperature)
    cross_entropy = -ops.sum(teacher_probs * student_log_probs, axis=-1)
    return _times_temperature_squared(cross_entropy, temperature)


def logits_mse(teacher_logits, student_logits, temperature=1.0):
    """Mean squared error between raw logits, per example (Tang et al., 2019).

    Matching logits directly is the limit of Hinton's loss at high temperature; Tang et
    al. found it works best for BiLSTM students. The temperature cancels out
    (`T² · ((t - s) / T)² = (t - s)²`); it is accepted so that every distillation loss
    has the same signature.

    Args:
        teacher_logits: float tensor `(batch, classes)`; no gradient flows into it.
        student_logits: float tensor `(batch, classes)`.
        temperature: unused, see above.

    Returns:
        A float32 tensor of shape `(batch,)`.

    Example:

    >>> import numpy as np
    >>> float(logits_mse(np.array([[1.0, 3.0]]), np.array([[0.0, 0.0]]))[0])
    5.0
    """
    del temperature  # Cancels out; see the docstring.
    teacher_logits = ops.stop_gradient(ops.cast(teacher_logits, "float32"))
    student_logits = ops.cast(student_logits, "float32")
    return ops.mean(ops.square(teacher_logits - student_logits), axis=-1)


DISTILLATION_LOSSES = {
    "kl": soft_target_kl,
    "cross_entropy": soft_target_cross_entropy,
    "mse": logits_mse,
}


def get(identifier):
    """Returns a distillation loss function from its name or a callable.

    Args:
        identifier: one of `"kl"`, `"cross_entropy"`, `"mse"`, or a callable with the
            signature `(teacher_logits, student_logits, temperature) -> (batch,)`.

    Example:

    >>> get("kl") is soft_target_kl
    True
    """
    if callable(identifier):
        return identifier
    if identifier in DISTILLATION_LOSSES:
        return DISTILLATION_LOSSES[identifier]
    raise ValueError(
        f"Unknown distillation loss {identifier!r}. "
        f"Valid names: {sorted(DISTILLATION_LOSSES)}, or a callable "
        "(teacher_logits, student_logits, temperature) -> per-example loss."
    )


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
    """1.0 for examples with a gold label, 0.0 for those marked by a negative label."""
    if len(labels.shape) == len(student_logits.shape):
        return ops.ones_like(labels[..., 0], dtype="float32")
    return ops.cast(labels >= 0, "float32")
