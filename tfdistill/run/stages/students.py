"""Stage 3b: each student, trained with the teachers (distilled) or without (baseline).

A trained student is saved as `students/<kind>_<variant>/model.keras`, whose presence
marks the stage done; an unfinished one resumes from its epoch checkpoints.
"""

import dataclasses
import functools
import shutil

import keras
from absl import logging

from tfdistill import models
from tfdistill.atomic import write_json
from tfdistill.distillation import schedules
from tfdistill.distillation.averaging import EpochEMAWeights
from tfdistill.distillation.distiller import Distiller
from tfdistill.distillation.nonfinite import NonFiniteLossGuard
from tfdistill.distillation.optimizers import build_optimizer
from tfdistill.run import fingerprints
from tfdistill.run.checkpoint import ResumableBackup
from tfdistill.run.context import best_epoch_stopping
from tfdistill.run.context import fit_verbosity
from tfdistill.run.context import steps_per_epoch
from tfdistill.run.context import tensorboard
from tfdistill.run.layout import DISTILLED
from tfdistill.run.layout import student_name
from tfdistill.run.layout import student_variants
from tfdistill.run.precision import dtype_policy


def train_students(context, teachers, transfer, distilled_config=None):
    """Trains (or reloads) every variant; returns `[(name, Student)]`.

    `distilled_config`, when given, is the config the distilled student trains with
    (the search's winner, see `tfdistill.run.stages.tune`); the baseline keeps the
    run's. Every student records the fingerprint of the run's config, the one a
    rerun checks: the search's winner follows from it.
    """
    contexts = {variant: context for variant in student_variants(context.config)}
    if distilled_config is not None:
        contexts[DISTILLED] = dataclasses.replace(context, config=distilled_config)
    return [
        student(
            contexts[variant], variant, teachers, transfer,
            fingerprints.student_fingerprint(context, variant),
        )
        for variant in contexts
    ]


def build(context, teacher):
    """A fresh student of the run's kind, its head from the run's task.

    The same seed before each build: distilled and baseline start identical. A
    word-level student's vocabulary comes from the training texts and the transfer
    texts (`distillation.transfer_texts`): unlabelled text is fair for a vocabulary,
    and without it their new words would stay out-of-vocabulary, which is what the
    transfer texts are for. The baseline gets the same vocabulary, so the two stay
    a paired comparison; it never trains on the transfer texts.
    """
    config = context.config
    with dtype_policy(context.student_policy):
        keras.utils.set_random_seed(config.seed)
        return models.build_student(
            config.student.kind,
            len(context.class_names),
            teacher=teacher,
            train_texts=[*context.splits["train"].texts, *context.transfer_texts.texts],
            sequence_length=config.student.sequence_length,
            task=config.task,
            **config.student.sizes,
        )


def make_trainer(context, variant, student, teachers, cached):
    """The compiled model that `fit` trains for `variant`.

    The distilled variant gets a `Distiller` (with no teacher when the batches carry
    `cached` logits), the baseline the student itself with the task's loss.
    """
    config = context.config
    distillation = config.distillation
    if variant == DISTILLED:
        live_teachers = teachers if len(teachers) > 1 else teachers[0]
        trainer = Distiller(
            None if cached else live_teachers,
            student.model,
            temperature=distillation.temperature,
            alpha=distillation.alpha,
            distillation_loss=distillation.loss,
            intermediate_losses=distillation.intermediate or None,
            layer_map=distillation.layer_map,
            teacher_weights=config.teacher.ensemble_weights,
            logits_rank=context.task.logits_rank,
            representation_weight=distillation.representation,
            representation_dim=teachers[0].backbone.hidden_dim if distillation.representation else None,
        )
        loss = None
    else:
        trainer = student.model
        loss = context.task.loss()
    momentum = distillation.ema_momentum
    averaged = {} if momentum is None else {"use_ema": True, "ema_momentum": momentum}
    trainer.compile(
        keras.optimizers.Adam(distillation.learning_rate, **averaged),
        loss=loss,
        weighted_metrics=["accuracy"],
        jit_compile=config.runtime.jit_compile,
    )
    return trainer


def student(context, variant, teachers, transfer, fingerprint):
    """Trains (or reloads) one student and returns `(name, Student)`; a trained one
    records `fingerprint`.

    A reloaded student comes with the preprocessor it was trained with (its own
    vocabulary), whatever the current training texts are.
    """
    name = student_name(context.config, variant)
    student_dir = context.layout.student(name)
    if context.layout.student_model(name).exists():
        logging.info("Reusing the trained student in %s", student_dir)
        context.load_training(name, student_dir)
        return name, models.load_student(student_dir, kind=context.config.student.kind)
    built = build(context, teachers[0])
    _train(context, name, variant, built, teachers, transfer, fingerprint)
    return name, built


def _train(context, name, variant, built, teachers, transfer, fingerprint):
    config, layout = context.config, context.layout
    early_stopping = stopping(context, built)
    backup = ResumableBackup(layout.checkpoint(name), early_stopping=early_stopping)
    fingerprints.record(backup.backup_dir, fingerprint)
    cached = transfer.logits is not None
    trainer = make_trainer(context, variant, built, teachers, cached)
    data = datasets(context, variant, built, teachers[0], transfer, backup.initial_epoch)
    callbacks = [
        *averaging(config, resumed=backup.initial_epoch > 0),
        early_stopping,
        tensorboard(layout, name),
        *scheduled(config, variant),
    ]
    if variant != DISTILLED:
        # The Distiller guards its own steps; the baseline's plain fit needs a guard.
        callbacks.append(NonFiniteLossGuard(name))
    logging.info("Training %s (%s)", name, context.student_policy)
    fit(context, trainer, data, [*callbacks, backup], backup.initial_epoch)
    context.trainings[name] = {
        "history": backup.history(),
        "optimizer_steps": int(trainer.optimizer.iterations.numpy()),
    }
    student_dir = layout.student(name)
    write_json(layout.training(student_dir), context.trainings[name])
    fingerprints.record(student_dir, fingerprint)
    # The model is written last: model.keras marks the stage done.
    models.save_student(built, student_dir)
    shutil.rmtree(backup.backup_dir)


def scheduled(config, variant):
    """The `distillation.schedule` callbacks `variant` trains with: the distilled
    student all of them, the baseline those of its optimizer (the learning rate), so
    that both learn at the same rates."""
    return [
        schedules.DistillerSchedule(variable, **spec)
        for variable, spec in config.distillation.schedule.items()
        if variant == DISTILLED or variable in schedules.OPTIMIZER_VARIABLES
    ]


def averaging(config, *, resumed=False):
    """The callback that swaps in the averaged weights (`distillation.ema_momentum`)
    at each epoch's end, if any: it goes before early stopping, which then keeps the
    best averaged weights. `resumed`: the stage restores an epoch checkpoint."""
    if config.distillation.ema_momentum is None:
        return []
    return [EpochEMAWeights(resumed=resumed)]


def stopping(context, built):
    """Early stopping of the student `built` on the task's headline metric."""
    distillation = context.config.distillation
    return best_epoch_stopping(
        context, distillation.patience, built.model, built.preprocessor, distillation.batch_size
    )


def fit(context, trainer, data, callbacks, initial_epoch=0):
    """Trains `trainer` on `data`, `datasets`'s triple, up to `distillation.epochs`."""
    train, validation, train_split = data
    distillation = context.config.distillation
    build_optimizer(trainer)  # The baseline is a plain Keras model.
    trainer.fit(
        train,
        validation_data=validation,
        epochs=distillation.epochs,
        initial_epoch=initial_epoch,
        steps_per_epoch=steps_per_epoch(train_split, distillation.batch_size),
        callbacks=callbacks,
        shuffle=False,  # The dataset shuffles itself, reproducibly from the seed.
        verbose=fit_verbosity(),
    )


def datasets(context, variant, built, teacher, transfer, initial_epoch):
    """`(train, validation, train_split)` for `variant` of the student `built`.

    Training batches stream the epochs still to run, each in the order that epoch
    has in any run (so a resumed stage replays the interrupted one).
    """
    epochs = (initial_epoch, context.config.distillation.epochs)
    if variant == DISTILLED:
        # Fewer augmented copies than the transfer set holds: a search's trial, or
        # the student trained with its winner.
        transfer = transfer.with_factor(context.config.distillation.augment.factor)
        batches = functools.partial(_batches, context, built, teacher)
        train = batches(transfer.split, transfer.logits, transfer.vectors, epochs=epochs)
        validation = batches(
            context.splits["validation"], transfer.validation_logits, transfer.validation_vectors
        )
        return train, validation, transfer.split
    # The baseline never sees the teacher.
    batches = functools.partial(_batches, context, built, None)
    train_split = context.splits["train"]
    return batches(train_split, epochs=epochs), batches(context.splits["validation"]), train_split


def _batches(context, student, teacher, split, teacher_logits=None, teacher_vectors=None, epochs=None):
    """Batches of `split` for a student: plain (no `teacher`), or for distillation
    with the teacher's cached `teacher_logits` (and its `teacher_vectors` for the
    representation term, if any), or else the live teacher's inputs.

    With `epochs=(first, stop)`, a shuffled stream of those epochs (for training);
    without, one epoch in order (for validation).
    """
    config = context.config
    options = {
        "batch_size": config.distillation.batch_size,
        "shuffle": epochs is not None,
        "seed": config.seed,
        "epochs": epochs,
        "trim_padding": config.distillation.trim_padding,
    }
    if teacher is None:
        return context.task.encode(split.texts, split.labels, student.preprocessor, **options)
    if teacher_vectors is not None:
        options["teacher_vectors"] = teacher_vectors
    return context.task.encode_for_distillation(
        split.texts,
        split.labels,
        student_preprocessor=student.preprocessor,
        teacher_preprocessor=teacher.preprocessor,
        teacher_logits=teacher_logits,
        **options,
    )
