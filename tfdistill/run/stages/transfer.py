"""Stage 3a: the transfer set, and the teachers' logits on it, computed once.

The transfer set is the training split plus any augmented texts (Tang et al. 2019),
any negated copies of the training texts (`augment.negations`) and any
`distillation.transfer_texts` (the run context has read and leak-checked them), which
carry no gold label. The teachers' logits on each part, and on the
validation and test splits, are cached in the run's `cache/` under a fingerprint of
everything they depend on; so are the first teacher's vectors of the texts, for the
representation term (`distillation.representation`).
"""

import dataclasses
from typing import Optional

import numpy as np
from absl import logging

from tfdistill import data
from tfdistill.distillation import representation
from tfdistill.run.context import fit_verbosity
from tfdistill.run.splits import Split
from tfdistill.run.splits import concatenate


@dataclasses.dataclass(frozen=True)
class TransferSet:
    """The distilled student's training set and the teachers' logits.

    `logits` (on `split`) and `validation_logits` are `(texts, classes)` for one
    teacher and `(texts, teachers, classes)` for an ensemble; both are None when the
    teachers run on every batch instead (`cache_teacher_logits: false`, or
    intermediate terms, which read the live teacher's hidden states).
    """

    split: Split
    logits: Optional[np.ndarray] = None
    validation_logits: Optional[np.ndarray] = None
    # Per text of `split`: which copy of its training text an augmented text is
    # (`augment_texts`'s copy numbers), -1 for the others; None: no augmented texts.
    copy_numbers: Optional[np.ndarray] = None
    # The teacher's standardized vectors of `split`'s and the validation split's texts
    # (`distillation.representation`); None when the term is off.
    vectors: Optional[np.ndarray] = None
    validation_vectors: Optional[np.ndarray] = None

    def with_factor(self, factor):
        """This set with the augmented texts of the first `factor` copies of each
        training text only: what a search's trial of that factor trains on."""
        if self.copy_numbers is None or factor >= self.copy_numbers.max() + 1:
            return self
        rows = np.flatnonzero(self.copy_numbers < factor)
        split = Split([self.split.texts[row] for row in rows], self.split.labels[rows])
        logits = None if self.logits is None else self.logits[rows]
        vectors = None if self.vectors is None else self.vectors[rows]
        return dataclasses.replace(
            self, split=split, logits=logits, copy_numbers=self.copy_numbers[rows], vectors=vectors
        )


def augmented_factor(distillation):
    """How many copies of each training text the transfer set is augmented with: the
    config's `augment.factor`, or the largest factor its search tries, since a trial
    of a smaller one takes the first copies of each text (`TransferSet.with_factor`)."""
    searched = distillation.tune.augment_factor if distillation.tune.trials else None
    return max(distillation.augment.factor, searched[1] if searched else 0)


def transfer_set(context, teachers):
    """The `TransferSet` of the run, its logits read from the cache or computed."""
    config = context.config.distillation
    parts = {"train": context.splits["train"]}
    copies = {}
    options = _augment_options(context, teachers[0]) if augmented_factor(config) > 0 else None
    if options:
        augmented = _augmented(context, context.splits["train"], "training texts", options)
        parts["augmented"], copies["augmented"] = augmented
    if config.augment.negations:
        # A part of its own, so turning it on relabels these copies alone.
        parts["negated"] = _negated(context, context.splits["train"])
    if context.transfer_texts.texts:
        parts["transfer_texts"] = context.transfer_texts
        if options and config.augment.transfer_texts:
            augmented = _augmented(context, context.transfer_texts, "transfer texts", options)
            parts["augmented_transfer_texts"], copies["augmented_transfer_texts"] = augmented
    split = concatenate(*parts.values())
    copy_numbers = None
    if copies:
        copy_numbers = np.concatenate([
            copies[name] if name in copies else np.full(len(part.texts), -1, np.int32)
            for name, part in parts.items()
        ])
    if not config.cache_teacher_logits or config.intermediate:
        return TransferSet(split, copy_numbers=copy_numbers)
    logits = np.concatenate(
        [ensemble_logits(context, teachers, part, name) for name, part in parts.items()]
    )
    validation = ensemble_logits(context, teachers, context.splits["validation"], "validation")
    transfer = TransferSet(split, logits, validation, copy_numbers)
    if config.representation:
        transfer = _with_vectors(context, teachers[0], transfer, parts)
    return transfer


def _with_vectors(context, teacher, transfer, parts):
    """`transfer` with the teacher's vectors of its texts and of the validation split,
    standardized by those of the training texts (`representation.standardize`)."""
    model = representation.teacher_vectors_model(teacher)
    vectors = {
        name: teacher_outputs(context, model, teacher, part, name) for name, part in parts.items()
    }
    validation = teacher_outputs(context, model, teacher, context.splits["validation"], "validation")
    reference = vectors["train"]
    return dataclasses.replace(
        transfer,
        vectors=representation.standardize(np.concatenate(list(vectors.values())), reference),
        validation_vectors=representation.standardize(validation, reference),
    )


def ensemble_logits(context, teachers, split, name):
    """One teacher's logits on `split`, or an ensemble's stacked on axis 1."""
    logits = [teacher_logits(context, teacher, split, name) for teacher in teachers]
    return logits[0] if len(logits) == 1 else np.stack(logits, axis=1)


def teacher_logits(context, teacher, split, name):
    """`teacher`'s logits on `split`, from the run's cache or computed into it."""
    return teacher_outputs(context, teacher, teacher, split, name)


def teacher_outputs(context, model, teacher, split, name):
    """What `model` (the teacher, or a model on its inputs such as its vectors') gives
    for `split`, from the run's cache or computed into it; keyed by `model`'s weights."""
    preprocessing = data.teacher_preprocessing(teacher, context.teacher_policy)
    key = data.fingerprint(model, split.texts, preprocessing)

    def inputs():
        what = "logits" if model is teacher else "vectors"
        logging.info("Teacher %s for %s (%d texts)", what, name, len(split.texts))
        return context.task.encode(
            split.texts,
            split.labels,
            teacher.preprocessor,
            batch_size=context.config.teacher.batch_size,
            cache=False,
            trim_padding=True,
        )

    return data.TeacherLogitCache(context.layout.cache).get_or_compute(
        model, inputs, key, verbose=fit_verbosity()
    )


def _augment_options(context, teacher):
    """The keyword arguments of the task's `augment` that the config sets (the
    teacher's nearest words, if words are replaced, computed once for every part)."""
    augment = context.config.distillation.augment
    neighbours = (
        data.teacher_neighbours(teacher, k=augment.neighbours)
        if augment.replace_probability > 0
        else None
    )
    return {
        "factor": augmented_factor(context.config.distillation),
        "seed": context.config.seed,
        "mask_probability": augment.mask_probability,
        "replace_probability": augment.replace_probability,
        "ngram_probability": augment.ngram_probability,
        "max_ngram": augment.max_ngram,
        "neighbours": neighbours,
        "keep_entities": augment.keep_entities,
    }


def _negated(context, split):
    """Copies of `split`'s texts with one negation flipped (`augment.negations`),
    labelled as having no gold label."""
    texts = data.negated_copies(
        split.texts, copies=context.config.distillation.augment.negations, seed=context.config.seed
    )
    logging.info("Negated copies: %d new texts of the training texts", len(texts))
    return Split(texts, context.task.no_gold_labels(texts))


def _augmented(context, split, what, options):
    """`(Split, copy_numbers)`: augmented variants of `split`'s texts (`what`, for the
    log), labelled as having no gold label, and which copy of its text each one is."""
    texts, labels, copy_numbers = context.task.augment(
        split.texts, split.labels, context.class_names, options
    )
    logging.info("Augmented transfer set: %d new texts of the %s (factor %d)", len(texts), what, options["factor"])
    return Split(texts, labels), copy_numbers
