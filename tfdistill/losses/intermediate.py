"""Intermediate-layer losses: what two transformers compute inside, per example.

Each loss takes `(teacher_features, student_features, mask)` and returns a float32
tensor of shape `(batch,)`: `embedding_mse` and `hidden_state_mse` (TinyBERT, Jiao et
al. 2020) and `attention_kl` (MiniLM, Wang et al. 2020). `mask` is the
`(batch, sequence)` padding mask: padded positions never count.

They compute in float32: they have no temperature to amplify rounding, and their
tensors are as large as the model's activations.

`INTERMEDIATE_TERMS` is the one list of the terms a `Distiller` can add, by name,
each registered with what it compares: `feature`, the output of
`tfdistill.models.features.bert_features` it reads; `per_layer`, whether it compares
every student layer with its mapped teacher layer; and `projected`, whether that
feature has the model's width, so that a narrower student's goes through a learned
projection to the teacher's width first.

Example:

>>> INTERMEDIATE_TERMS.names()
['attention', 'embedding', 'hidden']
>>> INTERMEDIATE_TERMS.attributes("hidden")["feature"]
'hidden_states'
"""

import keras
from keras import ops

from tfdistill.registry import Registry

INTERMEDIATE_TERMS = Registry("intermediate term")


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


INTERMEDIATE_TERMS.register(
    "embedding", embedding_mse, feature="embeddings", per_layer=False, projected=True
)
INTERMEDIATE_TERMS.register(
    "hidden", hidden_state_mse, feature="hidden_states", per_layer=True, projected=True
)
# Attention maps are (query, key) distributions, the same size at any width.
INTERMEDIATE_TERMS.register(
    "attention", attention_kl, feature="attention_probs", per_layer=True, projected=False
)
