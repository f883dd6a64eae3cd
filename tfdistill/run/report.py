"""What a run tells its user: `metrics.json`, `report.md`, plots and the final table."""

import pathlib

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")  # Plots are files; no display is needed or wanted.
import matplotlib.pyplot as plt  # noqa: E402

from tfdistill import tasks  # noqa: E402
from tfdistill.atomic import write_json  # noqa: E402
from tfdistill.atomic import write_text  # noqa: E402
from tfdistill.run.layout import TEACHER  # noqa: E402
from tfdistill.run.layout import RunLayout  # noqa: E402


def _speed_at(scores, batch_size):
    for entry in scores["speed"]:
        if entry["batch_size"] == batch_size:
            return entry
    return scores["speed"][-1]


def summarize(config, class_names, results):
    """The content of `metrics.json`: every model's scores, plus ratios to the teacher.

    For each student: `retention` (its headline metric ÷ the teacher's; the task
    names the metric, accuracy for text classification), `smaller` (teacher
    parameters ÷ its parameters) and `faster` (its throughput ÷ the teacher's, at the
    largest timed batch size); for each distilled student, `gain_over_baseline` in
    points of the headline metric.
    """
    metric = tasks.get(config.task).headline_metric
    teacher = results[TEACHER]
    largest_batch = max(config.export.latency_batch_sizes)
    teacher_speed = _speed_at(teacher, largest_batch)["samples_per_second"]
    for name, scores in results.items():
        if name == TEACHER:
            continue
        scores["retention"] = scores[metric] / teacher[metric]
        scores["smaller"] = teacher["parameters"] / scores["parameters"]
        scores["faster"] = _speed_at(scores, largest_batch)["samples_per_second"] / teacher_speed
        baseline = results.get(name.replace("_distilled", "_baseline"))
        if name.endswith("_distilled") and baseline is not None:
            scores["gain_over_baseline"] = 100 * (scores[metric] - baseline[metric])
    return {
        "name": config.name,
        "task": config.task,
        "class_names": list(class_names),
        "teacher_preset": config.teacher.preset,
        "student_kind": config.student.kind,
        "timed_batch_size": largest_batch,
        "models": results,
    }


def format_table(summary):
    """The final table: the task's metrics, size and speed of every model, with ratios."""
    batch_size = summary["timed_batch_size"]
    task = tasks.get(summary["task"])
    columns = "".join(f"{title:>{width}}" for title, _, width, _ in task.report_columns)
    header = (
        f"{'model':<22}{columns}{'params':>12}{'MB':>8}"
        f"{'ms@1':>8}{f'samples/s@{batch_size}':>16}{'retention':>11}{'smaller':>9}{'faster':>8}"
    )
    lines = [header, "-" * len(header)]
    for name, scores in summary["models"].items():
        single = _speed_at(scores, 1)["latency_ms"]
        ratios = (
            f"{scores['retention']:>10.1%}{scores['smaller']:>8.1f}x{scores['faster']:>7.1f}x"
            if name != TEACHER
            else f"{'-':>11}{'-':>9}{'-':>8}"
        )
        metrics = "".join(
            f"{scores[key]:>{width}{spec}}" for _, key, width, spec in task.report_columns
        )
        lines.append(
            f"{name:<22}{metrics}{scores['parameters']:>12,}"
            f"{scores['savedmodel_bytes'] / 1e6:>8.1f}{single:>8.2f}"
            f"{_speed_at(scores, batch_size)['samples_per_second']:>16,.0f}{ratios}"
        )
    gains = [
        f"{name}: {scores['gain_over_baseline']:+.2f} {task.headline_metric} points over its baseline"
        for name, scores in summary["models"].items()
        if "gain_over_baseline" in scores
    ]
    ensemble = summary.get("teacher_ensemble")
    if ensemble:
        members = ", ".join(f"{name} {value:.2%}" for name, value in ensemble["member_accuracy"].items())
        gains.append(
            f"teacher ensemble (the students' soft labels): {ensemble['accuracy']:.2%} ({members})"
        )
    return "\n".join(lines + gains)


def describe_policies(summary):
    """E.g. "dtype policies: teacher mixed_bfloat16, bilstm_distilled float32"."""
    policies = ", ".join(
        f"{name} {scores['dtype_policy']}" for name, scores in summary["models"].items()
    )
    return f"dtype policies: {policies}"


def _plot_learning_curves(histories, path):
    figure, axes = plt.subplots(1, 2, figsize=(11, 4))
    for name, history in histories.items():
        for axis, metric in zip(axes, ("accuracy", "loss")):
            for prefix, style in (("", "-"), ("val_", "--")):
                values = history.get(prefix + metric)
                if values:
                    epochs = range(1, len(values) + 1)
                    axis.plot(epochs, values, style, marker="o", label=f"{name} {prefix or 'train_'}{metric}")
    for axis, metric in zip(axes, ("accuracy", "loss")):
        axis.set_xlabel("epoch")
        axis.set_ylabel(metric)
        axis.legend(fontsize=7)
        axis.grid(alpha=0.3)
    figure.suptitle("Learning curves (distillation 'loss' mixes hard and soft terms)")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _plot_tradeoff(summary, path):
    batch_size = summary["timed_batch_size"]
    figure, axes = plt.subplots(1, 2, figsize=(11, 4))
    for name, scores in summary["models"].items():
        accuracy = 100 * scores["accuracy"]
        points = (
            (axes[0], 1000 / _speed_at(scores, batch_size)["samples_per_second"]),
            (axes[1], scores["parameters"] / 1e6),
        )
        for axis, x in points:
            axis.scatter(x, accuracy, s=60)
            axis.annotate(name, (x, accuracy), textcoords="offset points", xytext=(5, 5), fontsize=8)
    axes[0].set_xlabel(f"CPU latency per example at batch {batch_size} (ms, log)")
    axes[1].set_xlabel("parameters (millions, log)")
    for axis in axes:
        axis.set_xscale("log")
        # Labelled minor ticks of a log axis crowd into each other.
        axis.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        axis.set_ylabel("test accuracy (%)")
        axis.grid(alpha=0.3)
    figure.suptitle("Accuracy against speed and size")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _markdown(summary):
    lines = [
        f"# Run report: {summary['name']}",
        "",
        f"Teacher `{summary['teacher_preset']}`, student `{summary['student_kind']}`; "
        f"{describe_policies(summary)}. Speeds are measured through the exported "
        "SavedModels on raw strings, on this machine's CPU.",
        "",
        "```",
        format_table(summary),
        "```",
        "",
        "## Confusion matrices (rows: true class, columns: predicted)",
        "",
    ]
    names = summary["class_names"]
    for name, scores in summary["models"].items():
        lines += [f"**{name}**", "", "| | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
        lines += [
            f"| {names[i]} | " + " | ".join(str(count) for count in row) + " |"
            for i, row in enumerate(scores["confusion_matrix"])
        ]
        lines.append("")
    lines += ["## Plots", "", "![learning curves](learning_curves.png)", "", "![trade-off](tradeoff.png)", ""]
    return "\n".join(lines)


def write(run_dir, summary, histories):
    """Writes `metrics.json`, `report.md`, `learning_curves.png` and `tradeoff.png`."""
    run_dir = pathlib.Path(run_dir)
    write_json(RunLayout(run_dir).metrics, summary)
    _plot_learning_curves(histories, run_dir / "learning_curves.png")
    _plot_tradeoff(summary, run_dir / "tradeoff.png")
    write_text(run_dir / "report.md", _markdown(summary))
