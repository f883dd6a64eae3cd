"""The report's wording: whole-epoch ticks on the learning curves, and a loss said as a loss."""

import matplotlib.pyplot as plt
import pytest

from tfdistill.run import report


def _summary(distilled_accuracy, baseline_accuracy):
    """A `metrics.json` summary of three models, as `report.summarize` returns it."""
    speed = [{"batch_size": 1, "latency_ms": 1.0, "samples_per_second": 1000.0}]

    def scores(accuracy):
        return {"accuracy": accuracy, "f1": accuracy, "parameters": 1000, "savedmodel_bytes": 4000,
                "speed": speed, "retention": 1.0, "smaller": 1.0, "faster": 1.0}

    distilled = scores(distilled_accuracy)
    distilled["gain_over_baseline"] = 100 * (distilled_accuracy - baseline_accuracy)
    return {
        "task": "text_classification",
        "timed_batch_size": 1,
        "models": {"teacher": scores(0.82), "bilstm_distilled": distilled,
                   "bilstm_baseline": scores(baseline_accuracy)},
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
