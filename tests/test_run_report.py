"""The report's wording: whole-epoch ticks on the learning curves, a loss said as a loss;
and the extra test sets, scored by the evaluate stage, in metrics.json and report.md."""

import json

import keras
import matplotlib.pyplot as plt
import numpy as np
import pytest

from tfdistill import tasks
from tfdistill.run import report
from tfdistill.run.config import RunConfig
from tfdistill.run.context import RunContext
from tfdistill.run.layout import RunLayout
from tfdistill.run.splits import Split
from tfdistill.run.stages import evaluate


def _scores(accuracy):
    """One model's scores in a `metrics.json` summary, its ratios to the teacher at 1."""
    speed = [{"batch_size": 1, "latency_ms": 1.0, "samples_per_second": 1000.0}]
    return {"accuracy": accuracy, "f1": accuracy, "confusion_matrix": [[1, 0], [0, 1]], "parameters": 1000,
            "savedmodel_bytes": 4000, "speed": speed, "retention": 1.0, "smaller": 1.0, "faster": 1.0,
            "dtype_policy": "float32"}


def _summary(distilled_accuracy, baseline_accuracy):
    """A `metrics.json` summary of three models, as `report.summarize` returns it."""
    distilled = _scores(distilled_accuracy)
    distilled["gain_over_baseline"] = 100 * (distilled_accuracy - baseline_accuracy)
    return {
        "task": "text_classification",
        "timed_batch_size": 1,
        "models": {"teacher": _scores(0.82), "bilstm_distilled": distilled,
                   "bilstm_baseline": _scores(baseline_accuracy)},
    }


@pytest.mark.parametrize("epochs", [2, 3, 6, 11])
def test_learning_curves_label_whole_epochs_only(epochs):
    history = {key: [0.5 + 0.01 * epoch for epoch in range(epochs)]
               for key in ("accuracy", "val_accuracy", "loss", "val_loss")}
    figure = report.learning_curves_figure({"bilstm_distilled": history, "bilstm_baseline": history})
    figure.canvas.draw()  # Tick labels get their text when drawn.
    for axis in figure.axes:
        low, high = axis.get_xlim()
        labels = [tick.get_text() for tick in axis.get_xticklabels()
                  if low <= tick.get_position()[0] <= high]
        assert labels and all(label.lstrip("−-").isdigit() for label in labels), labels
    plt.close(figure)


def test_a_student_below_its_baseline_is_said_to_lose():
    table = report.format_table(_summary(distilled_accuracy=0.786, baseline_accuracy=0.800))
    assert "bilstm_distilled: 1.40 accuracy points below its baseline" in table
    assert "-1.40" not in table and "over its baseline" not in table


def test_a_student_above_its_baseline_is_said_to_gain():
    table = report.format_table(_summary(distilled_accuracy=0.8017, baseline_accuracy=0.7704))
    assert "bilstm_distilled: +3.13 accuracy points over its baseline" in table


def test_a_tie_reads_as_no_gain():
    assert report.describe_gain("cnn_distilled", -0.001, "accuracy") == (
        "cnn_distilled: +0.00 accuracy points over its baseline")


# An out-of-domain set, and for each model the one word that makes it say positive:
# the teacher is right on all 4 texts, the distilled student on 2, its baseline on 3.
EXTRA_TEXTS = ["great relief", "awful nights", "great sleep", "no relief"]
EXTRA_LABELS = np.array([1, 0, 1, 0], np.int32)
CUE_WORDS = {"teacher": "great", "bilstm_distilled": "relief", "bilstm_baseline": "sleep"}


def _cue_model(word):
    """`(model, preprocessor)`: positive logits exactly for the texts that hold `word`."""
    preprocessor = keras.layers.TextVectorization(vocabulary=[word], output_mode="multi_hot")
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, use_bias=False)])
    model.layers[0].set_weights([np.array([[0.0, 0.0], [0.0, 1.0]])])  # rows: other words, `word`
    return model, preprocessor


def _extra_test_context(tmp_path):
    """A run's context with the 4 texts above as its `drug_reviews` extra set, and
    each model of `CUE_WORDS` served."""
    config = RunConfig.from_dict({"data": {"extra_test": ["drug_reviews"]}})
    context = RunContext(
        config=config, layout=RunLayout(tmp_path), task=tasks.get(config.task), splits={},
        class_names=["negative", "positive"], teacher_policy="float32", student_policy="float32",
        extra_tests={"drug_reviews": Split(EXTRA_TEXTS, EXTRA_LABELS)},
    )
    return context, [(name, *_cue_model(word)) for name, word in CUE_WORDS.items()]


def test_the_extra_test_sets_are_scored_for_every_model_into_metrics_and_report(tmp_path):
    context, served = _extra_test_context(tmp_path)
    teacher_logits = {"drug_reviews": np.eye(2)[EXTRA_LABELS]}  # right on every text
    extra_test = evaluate.extra_test_scores(context, served, teacher_logits)
    results = {name: _scores(accuracy) for name, accuracy in zip(CUE_WORDS, (0.82, 0.8, 0.78))}
    history = {"bilstm_distilled": {"accuracy": [0.7, 0.8], "loss": [0.6, 0.5]}}
    report.write(tmp_path, report.summarize(context.config, context.class_names, results, extra_test), history)

    written = json.loads((tmp_path / "metrics.json").read_text())["extra_test"]
    assert list(written) == ["drug_reviews"] and written["drug_reviews"]["num_examples"] == 4
    models = written["drug_reviews"]["models"]
    assert {name: scores["accuracy"] for name, scores in models.items()} == {
        "teacher": 1.0, "bilstm_distilled": 0.5, "bilstm_baseline": 0.75}
    # The metrics of the in-domain test split, from the same Task.
    in_domain = context.task.evaluate(EXTRA_LABELS, np.eye(2)[EXTRA_LABELS], context.class_names)
    assert set(models["teacher"]) == set(in_domain)
    assert models["bilstm_distilled"]["confusion_matrix"] == [[1, 1], [1, 1]]
    assert "retention" not in models["teacher"]
    assert (models["bilstm_distilled"]["retention"], models["bilstm_baseline"]["retention"]) == (0.5, 0.75)
    assert models["bilstm_distilled"]["gain_over_baseline"] == pytest.approx(-25.0)
    assert "teacher_agreement" not in models["teacher"]

    markdown = (tmp_path / "report.md").read_text()
    f1 = models["bilstm_distilled"]["f1"]
    assert "**drug_reviews** (4 examples)" in markdown
    # Retention on this set, then on the in-domain test split (0.8 / 0.82); agreement
    # with the teacher on this set (the in-domain one is not in these made-up scores).
    assert f"| bilstm_distilled | 50.00% | {f1:.3f} | 50.0% | 97.6% | 50.0% | - |" in markdown
    assert "bilstm_distilled: 25.00 accuracy points below its baseline" in markdown


def test_agreement_is_with_the_teachers_labels_not_the_gold_ones(tmp_path):
    context, served = _extra_test_context(tmp_path)
    # A teacher that says "positive" to all 4 texts: half right. The distilled student
    # says positive to texts 0 and 3, its baseline to text 2 alone.
    said_positive = {"drug_reviews": np.tile([[0.0, 1.0]], (4, 1))}
    models = evaluate.extra_test_scores(context, served, said_positive)[
        "drug_reviews"]["models"]
    assert models["teacher"]["accuracy"] == 0.5
    assert {name: models[name]["accuracy"] for name in ("bilstm_distilled", "bilstm_baseline")} == {
        "bilstm_distilled": 0.5, "bilstm_baseline": 0.75}
    assert {name: models[name]["teacher_agreement"] for name in ("bilstm_distilled", "bilstm_baseline")} == {
        "bilstm_distilled": 0.5, "bilstm_baseline": 0.25}


def test_a_run_without_extra_test_sets_writes_none():
    results = {name: _scores(0.8) for name in CUE_WORDS}
    summary = report.summarize(RunConfig(), ["negative", "positive"], results, {})
    assert "extra_test" not in summary and report.extra_test_section(summary) == []
