"""`sequence_length: auto`: the teacher's and the student's lengths, read from the data.

A fixed length chosen on one dataset is wrong for the next: 64 pieces hold a movie-review
snippet but cut a news article to its first lines, and pad a tweet with mostly nothing.
With `auto`, a length is the `PERCENTILE`th percentile of the training texts' lengths,
rounded up to a multiple of `MULTIPLE`, and capped by the teacher's position
embeddings:

* the teacher's in its WordPiece tokens, `[CLS]` and `[SEP]` included;
* the student's in what its `sequence_length` counts: words for a word-level student
  and for every tagger (its word slots), pieces for a student on the teacher's
  tokenizer that classifies texts (a BERT student, `bilstm_wordpiece`: the same
  pieces as the teacher's). Words are the whitespace-separated tokens,
  an upper bound on what a word student's vectorizer keeps.

Intermediate-layer terms compare the models position by position, so with them the
student takes the teacher's length. The run logs each choice, and the run folder's
`config.yaml` records the numbers. A fixed teacher length longer than a local teacher's
position embeddings is a `ConfigError` here, before any folder is made.
"""

import dataclasses
import math
import os

import numpy as np
from absl import logging

from tfdistill import models
from tfdistill.run.config import AUTO
from tfdistill.run.config import ConfigError

PERCENTILE = 99
# Fewer distinct shapes, and vectors that fill SIMD lanes.
MULTIPLE = 8


def resolve_sequence_lengths(config, task, train_texts):
    """`config` with each `auto` sequence length replaced by the number it stands for.

    Args:
        config: a validated `RunConfig`.
        task: the run's `tfdistill.tasks.Task`.
        train_texts: the training split's texts.

    Returns:
        `config` itself when neither length is `auto`, else a copy with both numbers.

    Raises:
        ConfigError: a fixed teacher length beyond the teacher's position embeddings
            (checked for a local teacher; a remote one is not fetched for it).
    """
    teacher, student = config.teacher.sequence_length, config.student.sequence_length
    local = os.path.isdir(models.resolve_preset(config.teacher.preset))
    if AUTO not in (teacher, student) and not local:
        return config
    tokenizer, max_positions = models.load_teacher_tokenizer(config.teacher.preset)
    if teacher != AUTO and teacher > max_positions:
        raise ConfigError(
            f"teacher.sequence_length: {teacher} is longer than the teacher's "
            f"{max_positions} position embeddings; use at most {max_positions}, or auto."
        )
    if AUTO not in (teacher, student):
        return config
    # One call over all texts: keras-hub tokenizes a batch much faster than one by one.
    pieces = [len(ids) + 2 for ids in tokenizer(list(train_texts))]
    if teacher == AUTO:
        teacher = _chosen("teacher.sequence_length", pieces, "pieces", max_positions)
    if student == AUTO:
        word_level = models.STUDENTS.attributes(config.student.kind)["word_level"]
        if config.distillation.intermediate:
            student = teacher
        elif not word_level and not task.student_slots_are_words:
            student = _chosen("student.sequence_length", pieces, "pieces", max_positions)
        else:
            words = [len(text.split()) for text in train_texts]
            student = _chosen("student.sequence_length", words, "words", max_positions)
    return dataclasses.replace(
        config,
        teacher=dataclasses.replace(config.teacher, sequence_length=teacher),
        student=dataclasses.replace(config.student, sequence_length=student),
    )


def _chosen(key, lengths, unit, cap):
    """The `PERCENTILE`th percentile of `lengths`, rounded up to `MULTIPLE`, within
    `[MULTIPLE, cap]`; logged."""
    percentile = math.ceil(np.percentile(lengths, PERCENTILE)) if lengths else 1
    length = min(max(MULTIPLE, -(-percentile // MULTIPLE) * MULTIPLE), cap)
    logging.info(
        "%s: auto -> %d (%dth percentile of %d training texts: %d %s; longest %d; cap %d)",
        key, length, PERCENTILE, len(lengths), percentile, unit, max(lengths, default=0), cap,
    )
    return length
