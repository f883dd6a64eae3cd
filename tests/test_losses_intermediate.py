"""The intermediate-layer losses against independent NumPy references, with masks."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfdistill import losses

BATCH, SEQUENCE, WIDTH = 4, 6, 5


def np_masked_token_mse(teacher, student, mask):
    squared = (teacher.astype(np.float64) - student.astype(np.float64)) ** 2
    per_token = squared.mean(axis=-1)
    if mask is None:
        return per_token.mean(axis=-1)
    mask = mask.astype(np.float64)
    return (per_token * mask).sum(-1) / mask.sum(-1)


def np_attention_kl(teacher, student, mask):
    """Per example: mean over heads and real queries of Σ_real keys p log(p / q)."""
    teacher, student = teacher.astype(np.float64), student.astype(np.float64)
    if teacher.shape[1] != student.shape[1]:
        teacher = teacher.mean(axis=1, keepdims=True)
        student = student.mean(axis=1, keepdims=True)
    batch, heads, queries, _ = teacher.shape
    if mask is None:
        mask = np.ones((batch, queries))
    result = np.zeros(batch)
    for b in range(batch):
        real = np.flatnonzero(mask[b])
        kl_sum = 0.0
        for h in range(heads):
            for q in real:
                p, r = teacher[b, h, q, real], student[b, h, q, real]
                kl_sum += np.sum(np.where(p > 0, p * np.log(p / r), 0.0))
        result[b] = kl_sum / (heads * len(real))
    return result


def padding_mask(lengths=(6, 3, 1, 5)):
    return np.arange(SEQUENCE)[None, :] < np.array(lengths)[:, None]


def states(seed):
    return np.random.default_rng(seed).normal(size=(BATCH, SEQUENCE, WIDTH)).astype("float32")


def attention_probs(seed, heads, mask):
    """Softmax over random scores, padded keys masked out exactly as BERT does."""
    scores = np.random.default_rng(seed).normal(size=(BATCH, heads, SEQUENCE, SEQUENCE)) * 3
    scores = np.where(mask[:, None, None, :], scores, -np.inf)
    probs = np.exp(scores - scores.max(-1, keepdims=True))
    return (probs / probs.sum(-1, keepdims=True)).astype("float32")


@pytest.mark.parametrize("loss_fn", [losses.hidden_state_mse, losses.embedding_mse])
@pytest.mark.parametrize("mask", [None, padding_mask()], ids=["no_mask", "mask"])
def test_token_mse_matches_numpy(loss_fn, mask):
    teacher, student = states(1), states(2)
    got = keras.ops.convert_to_numpy(loss_fn(teacher, student, mask))
    assert got.shape == (BATCH,) and got.dtype == np.float32
    expected = np_masked_token_mse(teacher, student, mask)
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)


def test_token_mse_ignores_whatever_sits_on_padded_tokens():
    mask = padding_mask()
    teacher, student = states(1), states(2)
    scrambled = np.where(mask[..., None], student, 1e3).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(losses.hidden_state_mse(teacher, scrambled, mask)),
        keras.ops.convert_to_numpy(losses.hidden_state_mse(teacher, student, mask)),
        atol=1e-6,
    )


@pytest.mark.parametrize("mask", [None, padding_mask()], ids=["no_mask", "mask"])
@pytest.mark.parametrize("student_heads", [3, 2], ids=["same_heads", "fewer_heads"])
def test_attention_kl_matches_numpy(mask, student_heads):
    key_mask = np.ones((BATCH, SEQUENCE), bool) if mask is None else mask
    teacher = attention_probs(1, heads=3, mask=key_mask)
    student = attention_probs(2, heads=student_heads, mask=key_mask)
    got = keras.ops.convert_to_numpy(losses.attention_kl(teacher, student, mask))
    assert got.shape == (BATCH,) and got.dtype == np.float32
    np.testing.assert_allclose(got, np_attention_kl(teacher, student, mask), atol=1e-5, rtol=0)
    # A one-token example attends with certainty in both models; the others differ.
    assert (got[key_mask.sum(-1) > 1] > 0).all()


def test_attention_kl_is_zero_for_equal_distributions_and_ignores_padded_queries():
    mask = padding_mask()
    teacher = attention_probs(1, heads=2, mask=mask)
    same = keras.ops.convert_to_numpy(losses.attention_kl(teacher, teacher, mask))
    np.testing.assert_allclose(same, 0.0, atol=1e-6)
    # Padded query rows hold whatever the model computed there; they do not count.
    student = np.where(mask[:, None, :, None], teacher, attention_probs(2, 2, mask))
    padded_rows_differ = losses.attention_kl(teacher, student, mask)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(padded_rows_differ), 0.0, atol=1e-6)


def test_no_gradient_flows_into_the_teacher_features():
    mask = padding_mask()
    pairs = {
        losses.hidden_state_mse: (states(1), states(2)),
        losses.embedding_mse: (states(1), states(2)),
        losses.attention_kl: (attention_probs(1, 2, mask), attention_probs(2, 2, mask)),
    }
    for loss_fn, (teacher, student) in pairs.items():
        teacher, student = tf.constant(teacher), tf.constant(student)
        with tf.GradientTape(persistent=True) as tape:
            tape.watch([teacher, student])
            loss = tf.reduce_sum(loss_fn(teacher, student, mask))
        assert tape.gradient(loss, teacher) is None
        assert np.isfinite(tape.gradient(loss, student).numpy()).all()


def test_half_precision_features_are_compared_in_float32():
    teacher, student = states(1).astype("float16"), states(2).astype("float16")
    got = losses.hidden_state_mse(teacher, student)
    assert keras.backend.standardize_dtype(got.dtype) == "float32"
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(got), np_masked_token_mse(teacher, student, None), atol=1e-5
    )


@pytest.mark.parametrize(
    "loss_fn, teacher_shape, student_shape, message",
    [
        (
            losses.hidden_state_mse,
            (2, 6, 8),
            (2, 6, 4),
            r"hidden states.*\(2, 6, 8\).*\(2, 6, 4\)",
        ),
        (losses.embedding_mse, (2, 6, 8), (2, 5, 8), r"embeddings.*\(2, 6, 8\).*\(2, 5, 8\)"),
        (losses.attention_kl, (2, 2, 6, 6), (2, 2, 5, 5), r"\(2, 2, 6, 6\).*\(2, 2, 5, 5\)"),
        (losses.attention_kl, (2, 6, 6), (2, 6, 6), r"\(batch, heads, query, key\)"),
    ],
)
def test_mismatched_shapes_raise_naming_both(loss_fn, teacher_shape, student_shape, message):
    with pytest.raises(ValueError, match=message):
        loss_fn(np.ones(teacher_shape, "float32"), np.ones(student_shape, "float32"))
