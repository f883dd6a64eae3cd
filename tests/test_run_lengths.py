"""Tests for tfdistill.run.lengths: `sequence_length: auto` read from the training texts."""

import pytest

from tfdistill import tasks
from tfdistill.run import config as run_config
from tfdistill.run import validate
from tfdistill.run.context import RunContext
from tfdistill.run.lengths import resolve_sequence_lengths

CLASSIFY = tasks.get("text_classification")
TAG = tasks.get("token_classification")
# Each of these words is one piece of the tiny teacher's vocabulary; so is [UNK], what
# an unknown word or punctuation becomes. 99 texts of 3 words and one of 30.
SHORT, LONG = "the good film", " ".join(["the good film"] * 10)
TEXTS = [SHORT] * 99 + [LONG]
# 6 words, 9 pieces: punctuation is a word's part to a whitespace split, a piece of its own
# to WordPiece.
PUNCTUATED = ["good film, the film; a film."] * 100


def auto_config(tiny_teacher, *assignments):
    return run_config.override(
        run_config.RunConfig(),
        [f"teacher.preset={tiny_teacher}", "teacher.sequence_length=auto",
         "student.sequence_length=auto", *assignments],
    )


def resolved(config, task=CLASSIFY, texts=TEXTS):
    config = resolve_sequence_lengths(config, task, texts)
    return config.teacher.sequence_length, config.student.sequence_length


def test_lengths_are_a_high_percentile_rounded_up_and_capped(tiny_teacher):
    # The 99th percentile of 99 x 5 pieces ([CLS] and [SEP] included) and 1 x 32 is 5.27
    # -> 6 -> 8; of 99 x 3 and 1 x 30 words, 3.27 -> 4 -> 8.
    assert resolved(auto_config(tiny_teacher)) == (8, 8)
    texts = [SHORT] * 50 + [LONG] * 50
    # 32 pieces -> 32, the tiny teacher's 32 positions; 30 words -> 32.
    assert resolved(auto_config(tiny_teacher), texts=texts) == (32, 32)
    longer = [" ".join(["the good film"] * 30)] * 10
    assert resolved(auto_config(tiny_teacher), texts=longer) == (32, 32)  # 92 pieces, capped


def test_each_student_counts_in_its_own_unit(tiny_teacher):
    texts = ["the goodfilm"] * 100  # 2 words; "goodfilm" is [UNK]: 1 piece, so 4 with specials
    assert resolved(auto_config(tiny_teacher), texts=texts) == (8, 8)
    texts = [" ".join(["thegoodfilm"] * 12)] * 100  # 12 words and 12 + 2 pieces
    assert resolved(auto_config(tiny_teacher, "student.kind=bilstm"), texts=texts) == (16, 16)
    assert resolved(auto_config(tiny_teacher, "student.kind=small_bert"), texts=PUNCTUATED) == (16, 16)
    # Not a BERT, but on the teacher's tokenizer: pieces too.
    assert resolved(auto_config(tiny_teacher, "student.kind=bilstm_wordpiece"), texts=PUNCTUATED) == (16, 16)
    assert resolved(auto_config(tiny_teacher, "student.kind=bilstm"), texts=PUNCTUATED) == (16, 8)
    tagger = auto_config(tiny_teacher, "task=token_classification", "student.kind=small_bert")
    assert resolved(tagger, TAG, texts=PUNCTUATED) == (16, 8)  # a tagger's slots are words


def test_intermediate_terms_give_the_student_the_teachers_length(tiny_teacher):
    config = auto_config(
        tiny_teacher, "student.kind=small_bert", "distillation.intermediate={hidden: 1.0}",
        "teacher.sequence_length=24",
    )
    assert resolved(config, texts=PUNCTUATED) == (24, 24)


def test_fixed_lengths_leave_the_config_untouched(tiny_teacher):
    config = run_config.RunConfig()
    assert resolve_sequence_lengths(config, CLASSIFY, TEXTS) is config


def test_a_run_context_holds_the_numbers_auto_stood_for(tiny_teacher, tmp_path):
    config = auto_config(tiny_teacher, "data.max_examples=40")
    context = RunContext.create(config, tmp_path / "run")
    lengths = context.config.teacher.sequence_length, context.config.student.sequence_length
    assert all(isinstance(length, int) and length % 8 == 0 and length <= 32 for length in lengths)
    assert config.teacher.sequence_length == "auto"  # the user's config is not changed


@pytest.mark.parametrize(
    "assignment, message",
    [
        ("teacher.sequence_length=atuo", r"teacher\.sequence_length must be of type int or 'auto', got 'atuo' \(str\)"),
        ("student.sequence_length=0", r"student\.sequence_length must be >= 1, got 0"),
        ("student.sequence_length=12.5", r"student\.sequence_length must be of type int or 'auto'"),
    ],
)
def test_a_length_is_a_positive_int_or_auto(tmp_path, assignment, message):
    with pytest.raises(run_config.ConfigError, match=message):
        validate.validate(run_config.override(run_config.RunConfig(), [assignment]), tmp_path / "run")
    config = run_config.override(run_config.RunConfig(), ["teacher.sequence_length=auto"])
    validate.validate(config, tmp_path / "ok")
