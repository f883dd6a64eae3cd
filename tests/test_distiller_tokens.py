"""Tests for the Distiller per token (logits_rank=3): the masked per-word losses."""

import keras
import numpy as np
import pytest

from tfdistill.distillation.distiller import Distiller

BATCH, WORDS, TAGS = 4, 6, 5


def identity_student():
    """A 'student' whose logits are its inputs, so the test sets them directly."""
    inputs = keras.Input((WORDS, TAGS))
    return keras.Model(inputs, keras.layers.Identity()(inputs))


def numpy_loss(teacher, student, labels, temperature, alpha, weights):
    """α·CE + (1-α)·T²·KL, Σ w·loss / number of words: CE on words with a gold tag
    (label >= 0), KL on every word (label -2 too), nothing on padding (-1)."""
    def log_softmax(z):
        z = z - z.max(-1, keepdims=True)
        return z - np.log(np.exp(z).sum(-1, keepdims=True))

    teacher, student = teacher.astype(np.float64), student.astype(np.float64)
    gold, word = labels >= 0, labels != -1
    cross_entropy = -np.take_along_axis(
        log_softmax(student), np.where(gold, labels, 0)[..., None], -1)[..., 0]
    cross_entropy = np.where(gold, cross_entropy, 0.0)
    teacher_log = log_softmax(teacher / temperature)
    kl = temperature**2 * (np.exp(teacher_log) * (teacher_log - log_softmax(student / temperature))).sum(-1)
    average = lambda loss: (weights[:, None] * np.where(word, loss, 0.0)).sum() / word.sum()
    return alpha * average(cross_entropy) + (1 - alpha) * average(kl), average(cross_entropy), average(kl)


@pytest.fixture
def batch():
    rng = np.random.default_rng(0)
    teacher = rng.normal(size=(BATCH, WORDS, TAGS)).astype("float32") * 3
    student = rng.normal(size=(BATCH, WORDS, TAGS)).astype("float32") * 3
    labels = rng.integers(0, TAGS, size=(BATCH, WORDS)).astype("int32")
    # Sentences of 6, 4, 1 and 3 words; the rest padding.
    for row, length in enumerate([6, 4, 1, 3]):
        labels[row, length:] = -1
    return teacher, student, labels


def evaluate(distiller, teacher, student, labels, weights=None):
    x = {"student": student, "teacher_logits": teacher}
    return distiller.evaluate(x, labels, sample_weight=weights, batch_size=BATCH,
                              verbose=0, return_dict=True)


@pytest.mark.parametrize("untagged", [False, True])
@pytest.mark.parametrize("weights", [None, np.array([1.0, 0.5, 2.0, 0.0])])
def test_the_masked_loss_equals_numpy(batch, weights, untagged):
    """`untagged`: the second sentence is an augmented one, its 4 words labelled -2."""
    teacher, student, labels = batch
    if untagged:
        labels = labels.copy()
        labels[1, :4] = -2
    distiller = Distiller(None, identity_student(), temperature=3.0, alpha=0.3, logits_rank=3)
    distiller.compile(optimizer="adam")
    scores = evaluate(distiller, teacher, student, labels, weights)
    expected = numpy_loss(teacher, student, labels, 3.0, 0.3,
                          np.ones(BATCH) if weights is None else weights)
    np.testing.assert_allclose(
        [scores["loss"], scores["student_loss"], scores["distillation_loss"]], expected, rtol=1e-5)


def test_padded_slots_cannot_change_the_loss(batch):
    teacher, student, labels = batch
    distiller = Distiller(None, identity_student(), temperature=2.0, alpha=0.5, logits_rank=3)
    distiller.compile(optimizer="adam")
    before = evaluate(distiller, teacher, student, labels)
    padded = labels < 0
    teacher, student = teacher.copy(), student.copy()
    teacher[padded] = 1e4 * np.arange(TAGS)
    student[padded] = -1e3
    assert evaluate(distiller, teacher, student, labels) == before


def test_a_trained_tagger_and_its_metrics_skip_padding(batch):
    teacher, _, labels = batch
    inputs = keras.Input((WORDS, 3))
    student = keras.Model(inputs, keras.layers.Dense(TAGS)(inputs))
    distiller = Distiller(None, student, logits_rank=3)
    distiller.compile(optimizer="adam", weighted_metrics=["accuracy"])
    x = {"student": np.ones((BATCH, WORDS, 3), "float32"), "teacher_logits": teacher}
    history = distiller.fit(x, labels, epochs=2, batch_size=2, verbose=0).history
    assert np.isfinite(history["loss"]).all() and 0 <= history["accuracy"][-1] <= 1


def test_the_rank_not_the_shape_tells_tokens_from_an_ensemble(batch):
    teacher, student, labels = batch
    # Rank 3 with logits_rank=2: three "teachers" of (batch, classes) logits.
    inputs = keras.Input((TAGS,))
    per_text = keras.Model(inputs, keras.layers.Identity()(inputs))
    ensemble = Distiller(None, per_text)
    ensemble.compile(optimizer="adam")
    x = {"student": student[:, 0], "teacher_logits": teacher[:, :3]}
    assert np.isfinite(ensemble.evaluate(x, labels[:, 0], verbose=0, return_dict=True)["loss"])
    per_text_rank = Distiller(None, identity_student())
    per_text_rank.compile(optimizer="adam")
    with pytest.raises(ValueError, match="Per-token logits need logits_rank=3"):
        evaluate(per_text_rank, teacher, student, labels)
    with pytest.raises(ValueError, match="not supported per token"):
        Distiller([per_text, per_text], identity_student(), logits_rank=3)
    with pytest.raises(ValueError, match="logits_rank must be 2"):
        Distiller(None, identity_student(), logits_rank=4)


def test_the_config_keeps_the_rank():
    distiller = Distiller(None, identity_student(), logits_rank=3)
    assert Distiller.from_config(distiller.get_config()).logits_rank == 3
