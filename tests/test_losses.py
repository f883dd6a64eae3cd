"""The distillation losses against independent NumPy references."""

import keras
import numpy as np
import pytest

from tfdistill import losses

TEMPERATURES = (1.0, 2.0, 4.0, 8.0)


def _np_log_softmax(logits):
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def np_soft_target_kl(teacher, student, temperature):
    log_p = _np_log_softmax(teacher.astype(np.float64) / temperature)
    log_q = _np_log_softmax(student.astype(np.float64) / temperature)
    return temperature**2 * (np.exp(log_p) * (log_p - log_q)).sum(axis=-1)


def np_soft_target_cross_entropy(teacher, student, temperature):
    log_p = _np_log_softmax(teacher.astype(np.float64) / temperature)
    log_q = _np_log_softmax(student.astype(np.float64) / temperature)
    return -(temperature**2) * (np.exp(log_p) * log_q).sum(axis=-1)


def np_logits_mse(teacher, student, temperature):
    return ((teacher.astype(np.float64) - student) ** 2).mean(axis=-1)


@pytest.fixture
def logits():
    rng = np.random.default_rng(7)
    # A wide range of logits, as a fine-tuned teacher produces.
    teacher = (rng.normal(size=(16, 5)) * 4).astype("float32")
    student = (rng.normal(size=(16, 5)) * 2).astype("float32")
    return teacher, student


@pytest.mark.parametrize("temperature", TEMPERATURES)
@pytest.mark.parametrize(
    "loss_fn, reference",
    [
        (losses.soft_target_kl, np_soft_target_kl),
        (losses.soft_target_cross_entropy, np_soft_target_cross_entropy),
        (losses.logits_mse, np_logits_mse),
    ],
)
def test_loss_matches_numpy(loss_fn, reference, temperature, logits):
    teacher, student = logits
    got = keras.ops.convert_to_numpy(loss_fn(teacher, student, temperature))
    assert got.shape == (16,) and got.dtype == np.float32
    np.testing.assert_allclose(got, reference(teacher, student, temperature), atol=1e-5, rtol=0)


@pytest.mark.parametrize("temperature", TEMPERATURES)
def test_weighted_mean_matches_numpy(temperature, logits):
    """The per-example losses reduce with sample weights as Keras's sum_over_batch_size."""
    teacher, student = logits
    weights = np.linspace(0.0, 2.0, 16).astype("float32")
    got = keras.ops.convert_to_numpy(
        keras.ops.mean(losses.soft_target_kl(teacher, student, temperature) * weights)
    )
    expected = (np_soft_target_kl(teacher, student, temperature) * weights).mean()
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)


def test_kl_is_zero_iff_distributions_match(logits):
    teacher, student = logits
    same = keras.ops.convert_to_numpy(losses.soft_target_kl(teacher, teacher, 4.0))
    np.testing.assert_allclose(same, 0.0, atol=1e-6)
    assert (keras.ops.convert_to_numpy(losses.soft_target_kl(teacher, student, 4.0)) > 0).all()


def test_losses_compute_in_float32_from_half_precision_logits(logits):
    teacher, student = logits
    got = losses.soft_target_kl(teacher.astype("float16"), student.astype("float16"), 2.0)
    assert keras.backend.standardize_dtype(got.dtype) == "float32"
    expected = np_soft_target_kl(
        teacher.astype("float16").astype("float32"), student.astype("float16"), 2.0
    )
    np.testing.assert_allclose(keras.ops.convert_to_numpy(got), expected, atol=1e-4)


def test_no_gradient_flows_into_teacher_logits(logits):
    import tensorflow as tf

    teacher, student = (tf.constant(a) for a in logits)
    for name in losses.LOGIT_LOSSES.names():
        loss_fn = losses.get(name)
        with tf.GradientTape(persistent=True) as tape:
            tape.watch([teacher, student])
            loss = tf.reduce_sum(loss_fn(teacher, student, 2.0))
        assert tape.gradient(loss, teacher) is None
        assert tape.gradient(loss, student) is not None


def test_hard_label_cross_entropy_sparse_and_one_hot_agree(logits):
    _, student = logits
    labels = np.arange(16) % 5
    sparse = losses.hard_label_cross_entropy(labels, student)
    one_hot = losses.hard_label_cross_entropy(np.eye(5, dtype="float32")[labels], student)
    expected = -_np_log_softmax(student.astype(np.float64))[np.arange(16), labels]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(sparse), expected, atol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(one_hot), expected, atol=1e-5)


def test_get_rejects_unknown_names_listing_the_registered_ones():
    with pytest.raises(
        ValueError,
        match=r"Unknown logit loss 'kullback'; registered: "
        r"\['cross_entropy', 'kl', 'mse'\]\. Or pass a callable",
    ):
        losses.get("kullback")


def test_registered_losses_say_how_an_ensemble_is_averaged():
    assert losses.LOGIT_LOSSES.names() == ["cross_entropy", "kl", "mse"]
    averages = {name: losses.ensemble_average(name) for name in losses.LOGIT_LOSSES.names()}
    assert averages == {"cross_entropy": "probabilities", "kl": "probabilities", "mse": "logits"}
    # The registered function itself reads the same attribute; other callables
    # average probabilities.
    assert losses.ensemble_average(losses.logits_mse) == "logits"
    assert losses.ensemble_average(lambda t, s, temperature: t) == "probabilities"


def test_a_loss_registered_from_outside_is_found_by_name_and_can_leave():
    @losses.register_logit_loss("half_mse", ensemble_average="logits")
    def half_mse(teacher_logits, student_logits, temperature=1.0):
        return losses.logits_mse(teacher_logits, student_logits) / 2.0

    try:
        assert losses.get("half_mse") is half_mse
        assert losses.ensemble_average("half_mse") == "logits"
        with pytest.raises(ValueError, match="already registered"):
            losses.register_logit_loss("half_mse")(half_mse)
    finally:
        losses.LOGIT_LOSSES.unregister("half_mse")
    with pytest.raises(ValueError, match="Unknown logit loss 'half_mse'"):
        losses.get("half_mse")


def test_register_logit_loss_rejects_an_unknown_ensemble_average():
    with pytest.raises(ValueError, match=r"ensemble_average must be one of \['probabilities', 'logits'\]"):
        losses.register_logit_loss("median", ensemble_average="median")
    assert "median" not in losses.LOGIT_LOSSES


def test_intermediate_terms_register_what_the_distiller_compares():
    assert losses.INTERMEDIATE_TERMS.names() == ["attention", "embedding", "hidden"]
    assert losses.INTERMEDIATE_TERMS.get("attention") is losses.attention_kl
    assert losses.INTERMEDIATE_TERMS.attributes("hidden") == {
        "feature": "hidden_states", "per_layer": True, "projected": True
    }
    assert losses.INTERMEDIATE_TERMS.attributes("embedding") == {
        "feature": "embeddings", "per_layer": False, "projected": True
    }
    assert losses.INTERMEDIATE_TERMS.attributes("attention") == {
        "feature": "attention_probs", "per_layer": True, "projected": False
    }


def test_hard_label_cross_entropy_is_zero_without_a_gold_label(logits):
    _, student = logits
    labels = np.where(np.arange(16) % 2 == 0, np.arange(16) % 5, -1)
    got = keras.ops.convert_to_numpy(losses.hard_label_cross_entropy(labels, student))
    expected = -_np_log_softmax(student.astype(np.float64))[np.arange(16), np.maximum(labels, 0)]
    np.testing.assert_allclose(got, np.where(labels >= 0, expected, 0.0), atol=1e-5)


@pytest.mark.parametrize("temperature", TEMPERATURES)
def test_ensemble_logits_soften_to_the_weighted_mean_of_soft_labels(temperature):
    rng = np.random.default_rng(3)
    stacked = rng.normal(size=(8, 3, 5)) * 4
    weights = np.array([1.0, 2.0, 5.0])
    mixed = keras.ops.convert_to_numpy(losses.ensemble_logits(stacked, temperature, weights))
    probs = np.exp(_np_log_softmax(stacked / temperature))
    expected = (probs * (weights / weights.sum())[None, :, None]).sum(axis=1)
    np.testing.assert_allclose(np.exp(_np_log_softmax(mixed / temperature)), expected, atol=1e-12)


def test_ensemble_logits_can_average_raw_logits():
    stacked = np.array([[[1.0, 3.0], [3.0, -1.0]]])
    mixed = losses.ensemble_logits(stacked, weights=[3, 1], average="logits")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(mixed), [[1.5, 2.0]])


def test_ensemble_of_one_teacher_is_that_teacher(logits):
    teacher, student = logits
    mixed = losses.ensemble_logits(teacher[:, None, :], temperature=2.0)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(losses.soft_target_kl(mixed, student, 2.0)),
        keras.ops.convert_to_numpy(losses.soft_target_kl(teacher, student, 2.0)),
        atol=1e-6,
    )


@pytest.mark.parametrize(
    "logits_shape, kwargs, message",
    [
        ((4, 5), {}, r"shape \(batch, teachers, classes\), got shape \(4, 5\)"),
        ((4, 2, 5), {"weights": [1.0]}, "1 teacher weights were given for 2 teachers"),
        ((4, 2, 5), {"weights": [0.0, 0.0]}, "positive sum"),
        ((4, 2, 5), {"average": "max"}, "average must be one of"),
    ],
)
def test_ensemble_logits_reject_bad_input(logits_shape, kwargs, message):
    with pytest.raises(ValueError, match=message):
        losses.ensemble_logits(np.zeros(logits_shape), **kwargs)
