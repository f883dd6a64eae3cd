"""Negated copies (tfdistill.data.negated_copies): one negation flipped per copy,
never a double negative, punctuation and case kept, duplicates dropped."""

import numpy as np
import pytest

from tfdistill import data
from tfdistill.run.stages import transfer

from test_run_fingerprints import _context as fingerprint_context


@pytest.mark.parametrize(
    "text, negated",
    [
        ("the plot does work", "the plot doesn't work"),  # an auxiliary gains n't
        ("the plot doesn't work", "the plot does work"),  # and loses it
        ("it's funny", "it's not funny"),  # a contraction of "is" gains "not"
        ("had no problems", "had problems"),  # no, not and never are dropped
        ("a film without heart", "a film with heart"),  # an opposite
        ("nothing happens", "something happens"),
        ("Is it good?", "Isn't it good?"),  # the case of the word it replaces
        ("IT'S GOOD", "IT'S NOT GOOD"),
        ("funny, not clever.", "funny, clever."),
        ("good, but not.", "good, but ."),  # a dropped word's punctuation stays
        ("it isn\u2019t good", "it is good"),  # a typographic apostrophe
    ],
)
def test_each_kind_of_flip(text, negated):
    assert data.negated_copies([text], copies=1) == [negated]


def test_an_auxiliary_already_negated_is_left_alone():
    # "is" before "not" would make "isn't not": only "not" flips.
    assert data.negated_copies(["this is not good"], copies=5) == ["this is good"]
    assert data.negated_copies(["it's never dull"], copies=5) == ["it's dull"]


def test_each_copy_flips_another_word_and_texts_without_one_have_none():
    copies = data.negated_copies(["it is good and it was fun", "a fine film"], copies=5, seed=3)
    assert sorted(copies) == ["it is good and it wasn't fun", "it isn't good and it was fun"]
    assert len(data.negated_copies(["it is good and it was fun"], copies=1)) == 1


def test_copies_equal_to_a_text_or_another_copy_are_dropped():
    texts = ["it is good", "it  is good", "it isn't good"]
    assert data.negated_copies(texts, copies=2) == []


def test_the_same_seed_gives_the_same_copies():
    texts = ["it is what it is, and it was not bad; it has no plot"]
    made = [data.negated_copies(texts, copies=2, seed=seed) for seed in (1, 1, 2, 3, 4)]
    assert made[0] == made[1]
    assert len({tuple(copies) for copies in made}) > 1


@pytest.mark.parametrize("copies", [-1, 1.5, "2"])
def test_a_bad_number_of_copies_is_rejected(copies):
    with pytest.raises(ValueError, match="copies must be an int >= 0"):
        data.negated_copies(["it is good"], copies=copies)


def _context(tmp_path, *assignments):
    # No teacher is read: no word is replaced and no logit cached.
    no_teacher = ["distillation.augment.replace_probability=0", "distillation.cache_teacher_logits=false"]
    return fingerprint_context(tmp_path, *no_teacher, *assignments, texts=("It is good", "no plot at all"))


def test_the_negated_copies_join_the_transfer_set_unlabelled_and_every_factor_keeps_them(tmp_path):
    made = transfer.transfer_set(
        _context(tmp_path, "distillation.augment.factor=0", "distillation.augment.negations=2"), [None]
    )
    assert made.split.texts == ["It is good", "no plot at all", "It isn't good", "plot at all"]
    np.testing.assert_array_equal(made.split.labels, [1, 0, -1, -1])
    both = transfer.transfer_set(
        _context(tmp_path, "distillation.augment.factor=2", "distillation.augment.negations=2"), [None]
    )
    assert both.split.texts[-2:] == ["It isn't good", "plot at all"]
    assert both.copy_numbers.max() == 1
    # A search's trial of factor 0 trains on the training texts and the negated copies.
    assert both.with_factor(0).split.texts == made.split.texts



def test_turning_negations_on_labels_only_the_negated_copies_with_the_teacher(
    tmp_path, tiny_teacher, monkeypatch
):
    from tfdistill import models
    from tfdistill.data import cache

    computed = []
    predict_logits = cache.predict_logits
    monkeypatch.setattr(
        cache, "predict_logits",
        lambda *args, **kwargs: computed.append(len(logits := predict_logits(*args, **kwargs))) or logits,
    )
    teacher = models.load_teacher(tiny_teacher, sequence_length=16)
    cached = ["distillation.cache_teacher_logits=true", "distillation.augment.factor=2"]
    plain = transfer.transfer_set(_context(tmp_path, *cached), [teacher])
    # The training texts and their variants (the validation split is the training one).
    assert sum(computed) == len(plain.split.texts) > 2
    computed.clear()
    negated = transfer.transfer_set(_context(tmp_path, *cached, "distillation.augment.negations=2"), [teacher])
    assert computed == [2]  # "It isn't good" and "plot at all"; the rest from the cache
    np.testing.assert_array_equal(negated.logits[: len(plain.logits)], plain.logits)
