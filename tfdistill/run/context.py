"""`RunContext`: what every stage of a run reads, and the trainings it has done."""

import dataclasses
import json
import sys

import keras

from tfdistill import models
from tfdistill import tasks
from tfdistill.run.layout import RunLayout
from tfdistill.run.lengths import resolve_sequence_lengths
from tfdistill.run.precision import resolve_dtype_policy
from tfdistill.run.splits import Split
from tfdistill.run.splits import prepare_extra_tests
from tfdistill.run.splits import prepare_splits
from tfdistill.run.splits import prepare_transfer_texts


@dataclasses.dataclass
class RunContext:
    """One run's config, folders, task, data, precision and the trainings so far.

    Attributes:
        config: the `RunConfig`.
        layout: the `RunLayout` of the run directory being written.
        task: the `tfdistill.tasks.Task` the config names.
        splits: `{"train" | "validation" | "test": Split}`.
        class_names: the class names, indexed by label id.
        extra_tests: `{source: Split}`, the test split of each `data.extra_test`.
        transfer_texts: the `distillation.transfer_texts`, a `Split` with no gold
            labels (empty without sources), leak-checked against the splits above.
        teacher_policy, student_policy: the resolved dtype policies.
        trainings: per trained model, `{"history": ..., "optimizer_steps": ...}`.
    """

    config: object
    layout: RunLayout
    task: tasks.Task
    splits: dict
    class_names: list
    teacher_policy: str
    student_policy: str
    trainings: dict = dataclasses.field(default_factory=dict)
    extra_tests: dict = dataclasses.field(default_factory=dict)
    transfer_texts: Split = dataclasses.field(default_factory=Split.empty)

    @classmethod
    def create(cls, config, run_dir):
        """Loads and checks the splits, extra test sets and transfer texts, resolves
        the policies and any `auto` sequence length of `config`
        (`tfdistill.run.lengths`), for `run_dir`.

        Raises:
            tfdistill.run.splits.DataError: for splits that cannot train and evaluate
                the run (see `prepare_splits`), an extra test set it cannot score, or
                transfer texts it cannot read.
        """
        task = tasks.get(config.task)
        splits, class_names = prepare_splits(config.data, task)
        extra_tests = prepare_extra_tests(config.data, task, class_names)
        transfer_texts = prepare_transfer_texts(config, task, splits, extra_tests)
        config = resolve_sequence_lengths(config, task, splits["train"].texts)
        recurrent = models.STUDENTS.attributes(config.student.kind)["recurrent"]
        return cls(
            config=config,
            layout=RunLayout(run_dir),
            task=task,
            splits=splits,
            class_names=class_names,
            extra_tests=extra_tests,
            transfer_texts=transfer_texts,
            teacher_policy=resolve_dtype_policy(config.runtime.dtype_policy),
            student_policy=resolve_dtype_policy(
                config.runtime.student_dtype_policy, recurrent=recurrent
            ),
        )

    def load_training(self, name, model_dir):
        """Reads the history a finished stage saved beside its model."""
        self.trainings[name] = json.loads(self.layout.training(model_dir).read_text())


def fit_verbosity():
    """Progress bars on a terminal; one line per epoch in a log file or CI."""
    return 1 if sys.stdout.isatty() else 2


def steps_per_epoch(split, batch_size):
    return -(-len(split.texts) // batch_size)


def best_epoch_stopping(context, patience, model, preprocessor, batch_size):
    """Early stopping on the task's headline metric on the validation split, ending
    with the best epoch's weights.

    Keras's `val_accuracy` when that is the headline metric; otherwise (entity F1,
    which Keras cannot sum batch by batch) `ValidationScoreStopping` scores `model`'s
    logits on the validation texts, read by `preprocessor`, at each epoch's end.
    """
    if context.task.headline_is_keras_accuracy:
        return keras.callbacks.EarlyStopping(
            monitor="val_accuracy", mode="max", patience=patience, restore_best_weights=True
        )
    validation = context.splits["validation"]
    inputs = context.task.encode(
        validation.texts, validation.labels, preprocessor, batch_size=batch_size
    )

    def score():
        logits = model.predict(inputs, verbose=0)
        scores = context.task.evaluate(validation.labels, logits, context.class_names)
        return scores[context.task.headline_metric]

    return ValidationScoreStopping(f"val_{context.task.headline_metric}", score, patience)


class ValidationScoreStopping(keras.callbacks.EarlyStopping):
    """`EarlyStopping` (mode max, best weights restored) on a score that it computes
    itself at each epoch's end, `score()`, and adds to the epoch's logs as `monitor`,
    so that the callbacks after it (checkpoints, history) record it too.

    Example:

    >>> import numpy as np
    >>> scores = iter([0.2, 0.5, 0.4, 0.3])
    >>> stopping = ValidationScoreStopping("val_f1", lambda: next(scores), patience=2)
    >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    >>> model.compile("sgd", "mse")
    >>> history = model.fit(np.ones((4, 1)), np.ones(4), epochs=9, verbose=0,
    ...                     callbacks=[stopping])
    >>> history.history["val_f1"], stopping.best_epoch
    ([0.2, 0.5, 0.4, 0.3], 1)
    """

    def __init__(self, monitor, score, patience):
        super().__init__(monitor=monitor, mode="max", patience=patience, restore_best_weights=True)
        self.score = score

    def on_epoch_end(self, epoch, logs=None):
        logs[self.monitor] = float(self.score())
        super().on_epoch_end(epoch, logs)


def tensorboard(layout, name):
    return keras.callbacks.TensorBoard(log_dir=str(layout.tensorboard(name)))
