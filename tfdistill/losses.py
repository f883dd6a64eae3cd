"""Distillation losses: small functions that return one loss per example.

Two families, each returning a float32 tensor of shape `(batch,)`, so that
`Distiller` (or any training loop) can apply sample weights and its own reduction:

- logit losses, `(teacher_logits, student_logits, temperature)`: `soft_target_kl`,
  `soft_target_cross_entropy`, `logits_mse` (looked up by name with `get`);
- intermediate-layer losses, `(teacher_features, student_features, mask)`, which
  compare what the two transformers compute inside: `embedding_mse` and
  `hidden_state_mse` (TinyBERT, Jiao et al. 2020) and `attention_kl` (MiniLM, Wang et
  al. 2020). `mask` is the `(batch, sequence)` padding mask: padded positions never
  count.

`ensemble_logits` turns several teachers' logits into the one target the logit
losses compare with (their averaged soft labels).

Precision: the soft-target losses compute in float64 and return float32. In float16
the softmax loses the small probabilities that carry the "dark knowledge"; in float32
the `T²` factor multiplies the rounding error of the log-probabilities, so that at
`T=8` the loss is off by about 3e-5 even for logits of unit scale (measured against a
float64 reference). The tensors involved are only `(batch, classes)`, so float64 costs
nothing measurable next to the models. The intermediate losses compute in float32:
they have no temperature to amplify rounding, and their tensors are as large as the
model's activations.

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


TEACHER_AVERAGES = ("probabilities", "logits")


def ensemble_logits(teacher_logits, temperature=1.0, weights=None, average="probabilities"):
    """One set of logits for several teachers' `(batch, teachers, classes)` logits.

    With `average="probabilities"` (the soft labels of an ensemble, as in Hinton et
    al. 2015), the result is `T · log Σ_k w_k softmax(z_k / T)`: logits whose tempered
    softmax is exactly the weighted mean of the teachers' tempered softmaxes, so every
    soft-target loss above compares the student with the averaged soft labels. With
    `average="logits"`, it is the weighted mean of the logits, the natural target for
    `logits_mse`, which compares raw logits.

    Computed in float64 (see the module's note on precision), and returned in
    float64 so that the loss reads it without rounding it first.

    Args:
        teacher_logits: float tensor `(batch, teachers, classes)`.
        temperature: a positive float (or scalar tensor).
        weights: optional sequence of non-negative weights, one per teacher; they are
            normalised to sum to 1. `None` weighs the teachers equally.
        average: `"probabilities"` or `"logits"`.

    Returns:
        A float64 tensor of shape `(batch, classes)`.

    Example:

    >>> import numpy as np
    >>> stacked = np.array([[[2.0, 0.0], [0.0, 2.0]]])  # two teachers that disagree
    >>> mixed = ensemble_logits(stacked, temperature=2.0)
    >>> [round(float(p), 4) for p in keras.ops.softmax(mixed / 2.0)[0]]
    [0.5, 0.5]
    """
    if average not in TEACHER_AVERAGES:
        raise ValueError(
            f"average must be one of {list(TEACHER_AVERAGES)}, got {average!r}."
        )
    if len(teacher_logits.shape) != 3:
        raise ValueError(
            "ensemble_logits takes logits of shape (batch, teachers, classes), got "
            f"shape {_shape(teacher_logits)}."
        )
    num_teachers = teacher_logits.shape[1]
    weights = ops.convert_to_tensor(check_teacher_weights(weights, num_teachers), "float64")
    logits = ops.cast(teacher_logits, "float64")
    if average == "logits":
        return ops.sum(logits * weights[:, None], axis=1)
    temperature = ops.cast(temperature, "float64")
    log_probs = ops.log_softmax(logits / temperature, axis=-1)
    return temperature * ops.logsumexp(log_probs + ops.log(weights)[:, None], axis=1)


def check_teacher_weights(weights, num_teachers=None):
    """Returns `weights` normalised to sum to 1, or raises a ValueError naming the problem.

    `None` gives equal weights when `num_teachers` is known, and stays `None`
    otherwise. `num_teachers=None` skips the count check (the ensemble's size is not
    known until its logits arrive).

    >>> check_teacher_weights([1, 3])
    [0.25, 0.75]
    """
    if weights is None:
        return None if num_teachers is None else [1.0 / num_teachers] * num_teachers
    weights = [float(weight) for weight in weights]
    if num_teachers is not None and len(weights) != num_teachers:
        raise ValueError(
            f"{len(weights)} teacher weights were given for {num_teachers} teachers."
        )
    if not weights or min(weights) < 0 or sum(weights) <= 0:
        raise ValueError(
            f"Teacher weights must be >= 0 with a positive sum, got {weights}."
        )
    return [weight / sum(weights) for weight in weights]


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


def _shape(tensor):
    return tuple(tensor.shape)


def _shapes_agree(shape, other):
    """Same rank and the same size on every axis whose size is known in both."""
    return len(shape) == len(other) and all(
        size == other_size or None in (size, other_size)
        for size, other_size in zip(shape, other)
    )


def _mean_over_real_positions(per_position, mask):
    """Averages `(batch, sequence)` values over the positions where `mask` is true."""
    if mask is None:
        return ops.mean(per_position, axis=-1)
    mask = ops.cast(mask, "float32")
    # A row of padding only (possible in a padded last batch) gives 0, not 0/0.
    return ops.sum(per_position * mask, axis=-1) / ops.maximum(
        ops.sum(mask, axis=-1), 1.0
    )


def _token_mse(teacher_states, student_states, mask, what):
    teacher_states = ops.stop_gradient(ops.cast(teacher_states, "float32"))
    student_states = ops.cast(student_states, "float32")
    if not _shapes_agree(_shape(teacher_states), _shape(student_states)):
        raise ValueError(
            f"Teacher {what} have shape {_shape(teacher_states)} but student {what} "
            f"{_shape(student_states)}; they must match as (batch, sequence, width). "
            f"Project the student's {what} first when the widths differ (the "
            "Distiller does)."
        )
    per_token = ops.mean(ops.square(teacher_states - student_states), axis=-1)
    return _mean_over_real_positions(per_token, mask)


def hidden_state_mse(teacher_hidden, student_hidden, mask=None):
    """Mean squared error between two transformer layers' outputs, per example.

    TinyBERT's hidden-state loss: the mean over hidden units and real tokens of
    `(h_t - h_s)²`. The widths must be equal; TinyBERT (and `Distiller`) first map a
    narrower student's states to the teacher's width with a learned `W_h`.

    Args:
        teacher_hidden: float tensor `(batch, sequence, width)`; no gradient flows
            into it.
        student_hidden: float tensor of the same shape.
        mask: optional `(batch, sequence)` padding mask, true (or 1) for real tokens.
            Padded tokens do not count.

    Returns:
        A float32 tensor of shape `(batch,)`.

    Raises:
        ValueError: if the shapes differ.

    Example:

    >>> import numpy as np
    >>> teacher, student = np.ones((1, 3, 4)), np.zeros((1, 3, 4))
    >>> student[0, 2] = 9.0  # a padded token: ignored
    >>> float(hidden_state_mse(teacher, student, mask=np.array([[1, 1, 0]]))[0])
    1.0
    """
    return _token_mse(teacher_hidden, student_hidden, mask, "hidden states")


def embedding_mse(teacher_embeddings, student_embeddings, mask=None):
    """Mean squared error between the embedding layers' outputs, per example.

    TinyBERT's embedding loss: the same masked mean of `(e_t - e_s)²` as
    `hidden_state_mse`, on the input of the first transformer layer (token, position
    and segment embeddings, summed and normalised). A narrower student's embeddings
    are first mapped to the teacher's width with a learned `W_e`.

    Args:
        teacher_embeddings: float tensor `(batch, sequence, width)`; no gradient
            flows into it.
        student_embeddings: float tensor of the same shape.
        mask: optional `(batch, sequence)` padding mask; padded tokens do not count.

    Returns:
        A float32 tensor of shape `(batch,)`.

    Example:

    >>> import numpy as np
    >>> float(embedding_mse(np.full((1, 2, 4), 2.0), np.zeros((1, 2, 4)))[0])
    4.0
    """
    return _token_mse(teacher_embeddings, student_embeddings, mask, "embeddings")


def _check_attention_shapes(teacher_probs, student_probs):
    teacher_shape, student_shape = _shape(teacher_probs), _shape(student_probs)
    # Batch, query and key sizes must agree; head counts may differ.
    without_heads = [shape[:1] + shape[2:] for shape in (teacher_shape, student_shape)]
    if len(teacher_shape) != 4 or not _shapes_agree(*without_heads):
        raise ValueError(
            "Attention probabilities must have shape (batch, heads, query, key) with "
            f"the same batch, query and key sizes; got teacher {teacher_shape} and "
            f"student {student_shape}."
        )


def attention_kl(teacher_probs, student_probs, mask=None):
    """KL(teacher ‖ student) between self-attention distributions, per example.

    MiniLM's attention transfer (TinyBERT matches the same maps with an MSE): for
    every head and every real query token, the KL divergence between the teacher's
    and the student's distribution over key tokens, averaged over heads and real
    query tokens.

    When the head counts differ, each model's heads are first averaged into one
    distribution per query token (an average of distributions is a distribution), so
    a 2-head student can learn from a 12-head teacher; with equal counts head `h`
    matches head `h`.

    Padded keys get no attention in a masked softmax; their terms are left out, and
    padded queries do not count. Probabilities are clipped to `keras.config.epsilon()`
    inside the logarithm only, so that a zero teacher probability contributes exactly
    0 and a zero student probability a large but finite loss.

    Args:
        teacher_probs: float tensor `(batch, heads, query, key)` whose last axis sums
            to 1; no gradient flows into it.
        student_probs: float tensor `(batch, student_heads, query, key)`.
        mask: optional `(batch, sequence)` padding mask, for both queries and keys
            (self-attention), true (or 1) for real tokens.

    Returns:
        A float32 tensor of shape `(batch,)`.

    Raises:
        ValueError: if the tensors are not 4-D or their batch, query or key sizes
            differ.

    Example:

    >>> import numpy as np
    >>> uniform = np.full((1, 2, 3, 3), 1 / 3)
    >>> float(attention_kl(uniform, uniform)[0])
    0.0
    """
    _check_attention_shapes(teacher_probs, student_probs)
    teacher_probs = ops.stop_gradient(ops.cast(teacher_probs, "float32"))
    student_probs = ops.cast(student_probs, "float32")
    if teacher_probs.shape[1] != student_probs.shape[1]:
        teacher_probs = ops.mean(teacher_probs, axis=1, keepdims=True)
        student_probs = ops.mean(student_probs, axis=1, keepdims=True)
    epsilon = keras.config.epsilon()
    pointwise = teacher_probs * (
        ops.log(ops.maximum(teacher_probs, epsilon))
        - ops.log(ops.maximum(student_probs, epsilon))
    )
    if mask is not None:
        # (batch, key) -> (batch, 1, 1, key): the same keys for every head and query.
        pointwise = pointwise * ops.cast(mask, "float32")[:, None, None, :]
    per_query = ops.mean(ops.sum(pointwise, axis=-1), axis=1)
    return _mean_over_real_positions(per_query, mask)

