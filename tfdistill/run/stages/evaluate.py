"""Stage 4: every model scored on the test split, and on each `data.extra_test` set, by
the run's task."""

import keras
import numpy as np
from absl import logging

from tfdistill import data
from tfdistill import evaluation
from tfdistill import losses
from tfdistill.run.layout import TEACHER
from tfdistill.run.layout import teacher_members


def evaluate(context, name, model, preprocessor, teacher_logits):
    """The task's test metrics of one model, with its size and training facts.

    `teacher_logits` are the teacher's logits on the test split (cached): the
    teacher's scores come from them, and a student's `teacher_agreement` (the share
    of the task's decisions it makes as the teacher does, `Task.agreement`).
    """
    test = context.splits["test"]
    if name == TEACHER:
        scores = _scored(context, test, teacher_logits)
    else:
        scores = _scored(context, test, _logits(context, model, preprocessor, test), teacher_logits)
    model_dir = (
        context.layout.teacher(name) if name == TEACHER else context.layout.student(name)
    )
    scores.update(
        {
            "dtype_policy": model.dtype_policy.name,
            "optimizer_steps": context.trainings.get(name, {}).get("optimizer_steps"),
            "parameters": int(model.count_params()),
            "checkpoint_bytes": evaluation.size_on_disk(model_dir),
        }
    )
    return scores


def extra_test_scores(context, served, teacher_logits, known=None):
    """The task's metrics of every served model on each `data.extra_test` set.

    Args:
        context: the run's `RunContext`, its `extra_tests` loaded.
        served: `(name, model, preprocessor)` of each model, the teacher first.
        teacher_logits: `{source: logits}` of the teacher on each set with a model
            not in `known` (the run reads them from its logit cache): the teacher's
            scores, and each student's `teacher_agreement` there.
        known: `{source: {name: scores}}` already measured (`scored.kept_extra_test`),
            taken as they are.

    Returns:
        `{source: {"num_examples": ..., "models": {name: scores}}}`, in the order of
        `data.extra_test`, each model's scores those of the test split's (for text
        classification `accuracy`, `f1`, ...); `{}` without extra sets.
    """
    known = known or {}

    def scores(source, split, name, model, preprocessor):
        if name in known.get(source, {}):
            return known[source][name]
        if name == TEACHER:
            return _scored(context, split, teacher_logits[source])
        logits = _logits(context, model, preprocessor, split)
        return _scored(context, split, logits, teacher_logits[source])

    return {
        source: {
            "num_examples": len(split.texts),
            "models": {
                name: scores(source, split, name, model, preprocessor)
                for name, model, preprocessor in served
            },
        }
        for source, split in context.extra_tests.items()
    }


def _scored(context, split, logits, teacher_logits=None):
    """The task's metrics of `logits` on `split`, with `teacher_agreement` when the
    teacher's `teacher_logits` on it are given."""
    scores = context.task.evaluate(split.labels, logits, context.class_names)
    if teacher_logits is not None:
        scores["teacher_agreement"] = context.task.agreement(
            np.argmax(logits, axis=-1), np.argmax(teacher_logits, axis=-1), split.labels
        )
    return scores


def _logits(context, model, preprocessor, split):
    """`model`'s logits on the texts of `split`, read by `preprocessor`."""
    # Not `model.predict`: under a multi-worker strategy it would shard the
    # texts between the workers.
    inputs = context.task.encode(split.texts, split.labels, preprocessor, batch_size=64, cache=False)
    return data.predict_logits(model, inputs, verbose=0)


def ensemble_scores(context, test_logits):
    """Test scores of each ensemble member and of their averaged prediction.

    `test_logits` are `(texts, teachers, classes)`, the first teacher first.
    """
    config, test = context.config, context.splits["test"]
    accuracy = {
        member: float(np.mean(np.argmax(test_logits[:, i], axis=-1) == test.labels))
        for i, (member, _) in enumerate(teacher_members(config))
    }
    mixed = keras.ops.convert_to_numpy(
        losses.ensemble_logits(test_logits, weights=config.teacher.ensemble_weights)
    )
    scores = context.task.evaluate(test.labels, mixed, context.class_names)
    logging.info("Teacher ensemble: members %s, ensemble %.4f", accuracy, scores["accuracy"])
    return {"member_accuracy": accuracy, **scores}
