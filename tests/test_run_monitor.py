"""`distillation.monitor`: what picks the distilled student's best epoch. The
distillation loss picks the distilled student's; the baseline's, and a search's
trials (which differ in temperature), stay on accuracy."""

import json

import numpy as np

from tfdistill.run import pipeline
from tfdistill.run.layout import BASELINE
from tfdistill.run.layout import DISTILLED
from tfdistill.run.stages import students

from test_run_tune import _config


def test_the_distillation_loss_picks_the_distilled_epoch_and_accuracy_the_rest(
    tmp_path, tiny_teacher, monkeypatch
):
    made = []
    stopping = students.stopping

    def recorded_stopping(context, built, variant=None):
        callback = stopping(context, built, variant)
        made.append((variant, callback))
        return callback

    monkeypatch.setattr(students, "stopping", recorded_stopping)
    config = _config(
        tmp_path, tiny_teacher, "distillation.monitor=distillation_loss",
        "distillation.baseline=true", "distillation.tune.trials=1", "distillation.tune.epochs=1",
        "distillation.epochs=4", "distillation.patience=4", "distillation.learning_rate=0.01",
    )
    pipeline.run(config, tmp_path / "run")

    assert [variant for variant, _ in made] == [None, DISTILLED, BASELINE]
    (_, trial), (_, distilled), (_, baseline) = made
    assert trial.monitor == "val_accuracy" and baseline.monitor == "val_accuracy"
    assert distilled.monitor == "val_distillation_loss"
    history = {
        variant: json.loads(
            (tmp_path / "run" / "students" / f"bilstm_{variant}" / "training.json").read_text()
        )["history"]
        for variant in (DISTILLED, BASELINE)
    }
    losses = history[DISTILLED]["val_distillation_loss"]
    assert len(losses) == 4 and len(set(losses)) == 4, losses
    # The lowest loss is the best epoch, whose weights the student keeps.
    assert distilled.best_epoch == int(np.argmin(losses)), losses
    assert baseline.best_epoch == int(np.argmax(history[BASELINE]["val_accuracy"]))
