"""Stage 1-2: the pretrained teacher, fine-tuned on the task, then frozen.

A fine-tuned teacher is written to a hidden folder and renamed into place, so its
folder is whole or absent; a run that finds it reuses it.
"""

import shutil

import keras
from absl import logging

from tfdistill import models
from tfdistill.atomic import write_json
from tfdistill.run import fingerprints
from tfdistill.run.checkpoint import ResumableBackup
from tfdistill.run.context import best_epoch_stopping
from tfdistill.run.context import fit_verbosity
from tfdistill.run.context import steps_per_epoch
from tfdistill.run.context import tensorboard
from tfdistill.run.layout import teacher_members
from tfdistill.run.precision import dtype_policy


def teachers(context):
    """The frozen fine-tuned teachers: the first (the run's seed), then one per
    ensemble seed."""
    return [_teacher(context, name, seed) for name, seed in teacher_members(context.config)]


def _teacher(context, name, seed):
    teacher_dir = context.layout.teacher(name)
    with dtype_policy(context.teacher_policy):
        if not teacher_dir.exists():
            _finetune(context, name, seed)
        else:
            logging.info("Reusing the fine-tuned teacher in %s", teacher_dir)
        # Always the saved teacher, so what the students learn from is what was
        # saved, and the fine-tuning optimizer is gone.
        teacher = _load(context, str(teacher_dir))
    context.load_training(name, teacher_dir)
    return models.freeze(teacher)


def _load(context, preset):
    """The run's teacher from `preset`, with the task's head and the run's lengths.

    A tagger gets as many word slots as the student reads words
    (`student.sequence_length`), so both see the same words in the same slots.
    """
    config = context.config
    return models.load_teacher(
        preset,
        len(context.class_names),
        sequence_length=config.teacher.sequence_length,
        task=config.task,
        max_words=config.student.sequence_length,
    )


def _finetune(context, name, seed):
    config, layout = context.config.teacher, context.layout
    # The seed draws the classification head and dropout: an ensemble's members
    # differ by it alone.
    keras.utils.set_random_seed(seed)
    teacher = _load(context, config.preset)
    fingerprint = fingerprints.teacher_fingerprint(context, seed)
    # Encoded once here (eagerly, see `data.encode`), not by keras-hub's `fit` on
    # every batch.
    inputs = teacher.preprocessor
    early_stopping = best_epoch_stopping(context, config.patience, teacher, inputs, config.batch_size)
    backup = ResumableBackup(layout.checkpoint(name), early_stopping=early_stopping)
    fingerprints.record(backup.backup_dir, fingerprint)
    train, validation = context.splits["train"], context.splits["validation"]
    batches = context.task.encode(
        train.texts,
        train.labels,
        inputs,
        batch_size=config.batch_size,
        shuffle=True,
        seed=seed,
        epochs=(backup.initial_epoch, config.epochs),
    )
    logging.info(
        "Fine-tuning the teacher %s as %s, seed %d (%s)",
        config.preset, name, seed, context.teacher_policy,
    )
    staging = layout.staging(name)
    shutil.rmtree(staging, ignore_errors=True)
    models.finetune_teacher(
        teacher,
        batches,
        context.task.encode(validation.texts, validation.labels, inputs, batch_size=config.batch_size),
        epochs=config.epochs,
        learning_rate=config.learning_rate,
        warmup_fraction=config.warmup_fraction,
        weight_decay=config.weight_decay,
        early_stopping=early_stopping,
        steps_per_epoch=steps_per_epoch(train, config.batch_size),
        initial_epoch=backup.initial_epoch,
        save_dir=str(staging),
        callbacks=[tensorboard(layout, name), backup],
        loss=context.task.loss(),
        jit_compile=context.config.runtime.jit_compile,
        verbose=fit_verbosity(),
    )
    write_json(layout.training(staging), {"history": backup.history()})
    fingerprints.record(staging, fingerprint)
    # The folder appears whole under its name: its presence marks the stage done.
    staging.rename(layout.teacher(name))
    shutil.rmtree(backup.backup_dir)
