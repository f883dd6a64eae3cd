"""What a run tells its user: `metrics.json`, `report.md`, plots and the final table."""

import pathlib

import matplotlib
import matplotlib.lines
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


def summarize(config, class_names, results, extra_test=None):
    """The content of `metrics.json`: every model's scores, plus ratios to the teacher.

    For each student: `retention` (its headline metric ÷ the teacher's; the task
    names the metric, accuracy for text classification), `smaller` (teacher
    parameters ÷ its parameters) and `faster` (its throughput ÷ the teacher's, at the
    largest timed batch size); for each distilled student, `gain_over_baseline` in
    points of the headline metric. `extra_test`, the scores on the `data.extra_test`
    sets (`stages.evaluate.extra_test_scores`), is kept under that key when there
    are any, with the students' `retention` and `gain_over_baseline` on each set.
    """
    metric = tasks.get(config.task).headline_metric
    teacher = results[TEACHER]
    largest_batch = max(config.export.latency_batch_sizes)
    teacher_speed = _speed_at(teacher, largest_batch)["samples_per_second"]
    _compare_with_teacher(results, metric)
    for name, scores in results.items():
        if name != TEACHER:
            scores["smaller"] = teacher["parameters"] / scores["parameters"]
            scores["faster"] = _speed_at(scores, largest_batch)["samples_per_second"] / teacher_speed
    summary = {
        "name": config.name,
        "task": config.task,
        "class_names": list(class_names),
        "teacher_preset": config.teacher.preset,
        "student_kind": config.student.kind,
        "timed_batch_size": largest_batch,
        "models": results,
    }
    if extra_test:
        for entry in extra_test.values():
            _compare_with_teacher(entry["models"], metric)
        summary["extra_test"] = extra_test
    return summary


def _compare_with_teacher(models, metric):
    """Adds each student's `retention` of the teacher's `metric` to its scores in
    `models` (`{name: scores}` on one test set), and each distilled student's
    `gain_over_baseline` in points, when its baseline is there."""
    teacher = models[TEACHER][metric]
    for name, scores in models.items():
        if name == TEACHER:
            continue
        # None when the teacher scored 0 (an untrained smoke teacher's entity F1).
        scores["retention"] = scores[metric] / teacher if teacher else None
        baseline = models.get(name.replace("_distilled", "_baseline"))
        if name.endswith("_distilled") and baseline is not None:
            scores["gain_over_baseline"] = 100 * (scores[metric] - baseline[metric])


def describe_gain(name, points, metric):
    """One line on what distillation bought a student over its baseline, or cost it.

    >>> describe_gain("bilstm_distilled", 3.13, "accuracy")
    'bilstm_distilled: +3.13 accuracy points over its baseline'
    >>> describe_gain("bilstm_distilled", -1.4, "accuracy")
    'bilstm_distilled: 1.40 accuracy points below its baseline'
    """
    if round(points, 2) < 0:
        return f"{name}: {-points:.2f} {metric} points below its baseline"
    # abs(): a gain that rounds to zero from below reads "+0.00", not "+-0.00".
    return f"{name}: +{abs(points):.2f} {metric} points over its baseline"


def format_table(summary):
    """The final table: the task's metrics, size and speed of every model, with ratios."""
    batch_size = summary["timed_batch_size"]
    task = tasks.get(summary["task"])
    columns = "".join(f"{title:>{width}}" for title, _, width, _ in task.report_columns)
    # At least 22 wide, and one space after the longest name.
    name_width = max(22, *(len(name) + 1 for name in summary["models"]))
    header = (
        f"{'model':<{name_width}}{columns}{'params':>12}{'MB':>8}"
        f"{'ms@1':>8}{f'samples/s@{batch_size}':>16}{'retention':>11}{'smaller':>9}{'faster':>8}"
    )
    lines = [header, "-" * len(header)]
    for name, scores in summary["models"].items():
        single = _speed_at(scores, 1)["latency_ms"]
        retention = scores.get("retention")
        ratios = (
            f"{'-' if retention is None else format(retention, '.1%'):>10}"
            f"{scores['smaller']:>8.1f}x{scores['faster']:>7.1f}x"
            if name != TEACHER
            else f"{'-':>11}{'-':>9}{'-':>8}"
        )
        metrics = "".join(
            f"{scores[key]:>{width}{spec}}" for _, key, width, spec in task.report_columns
        )
        lines.append(
            f"{name:<{name_width}}{metrics}{scores['parameters']:>12,}"
            f"{scores['savedmodel_bytes'] / 1e6:>8.1f}{single:>8.2f}"
            f"{_speed_at(scores, batch_size)['samples_per_second']:>16,.0f}{ratios}"
        )
    lines += _tflite_table(summary)
    gains = [
        describe_gain(name, scores["gain_over_baseline"], task.headline_metric)
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


def _tflite_table(summary):
    """Lines of a second table, one row per TFLite file of every student.

    `agree` is the share of test texts it labels as the float32 Keras model does;
    `ms@1 <n>t` its median latency for one text with n threads; `smaller` and
    `faster` compare it with the teacher's SavedModel (size on disk, and latency for
    one text, though the file takes token ids and the SavedModel raw strings).
    """
    files = [
        (f"{name} {mode}", entry)
        for name, scores in summary["models"].items()
        for mode, entry in scores.get("tflite", {}).items()
    ]
    exported = [entry for _, entry in files if entry["exported"]]
    if not files:
        return []
    task = tasks.get(summary["task"])
    teacher = summary["models"][TEACHER]
    columns = "".join(f"{title:>{width}}" for title, _, width, _ in task.report_columns)
    threads = [latency["threads"] for latency in exported[0]["latency"]] if exported else []
    latency_titles = "".join(f"{f'ms@1 {count}t':>10}" for count in threads)
    # At least 32 wide, and one space after the longest label.
    label_width = max(32, *(len(label) + 1 for label, _ in files))
    header = f"{'TFLite file':<{label_width}}{columns}{'agree':>8}{'MB':>8}{latency_titles}{'smaller':>9}{'faster':>8}"
    lines = ["", header, "-" * len(header)]
    for label, entry in files:
        if not entry["exported"]:
            lines.append(f"{label:<{label_width}}not exported: {entry['reason']}")
            continue
        metrics = "".join(f"{entry[key]:>{width}{spec}}" for _, key, width, spec in task.report_columns)
        latencies = "".join(f"{latency['latency_ms']:>10.2f}" for latency in entry["latency"])
        smaller = teacher["savedmodel_bytes"] / entry["bytes"]
        faster = _speed_at(teacher, 1)["latency_ms"] / entry["latency"][0]["latency_ms"]
        lines.append(
            f"{label:<{label_width}}{metrics}{entry['agreement']:>8.1%}{entry['bytes'] / 1e6:>8.2f}"
            f"{latencies}{smaller:>8.1f}x{faster:>7.1f}x"
        )
    return lines


def describe_policies(summary):
    """E.g. "dtype policies: teacher mixed_bfloat16, bilstm_distilled float32"."""
    policies = ", ".join(
        f"{name} {scores['dtype_policy']}" for name, scores in summary["models"].items()
    )
    return f"dtype policies: {policies}"


def describe_machines(summary):
    """Where the run's timings were taken: one machine, or each with its timings
    (a rerun keeps a model's timings, `tfdistill export` adds TFLite ones).

    >>> describe_machines({"models": {"teacher": {"measured_on": "CPU A"},
    ...                               "cnn_distilled": {"measured_on": "CPU A",
    ...                                   "tflite": {"float16": {"exported": True,
    ...                                                          "measured_on": "CPU B"}}}}})
    'timed on: CPU A (teacher, cnn_distilled); CPU B (cnn_distilled float16)'
    """
    machines = {}
    for name, scores in summary["models"].items():
        timings = [(name, scores)] + [
            (f"{name} {mode}", entry) for mode, entry in scores.get("tflite", {}).items()
            if entry["exported"]
        ]
        for timed, entry in timings:
            # Runs made before timings kept their machine say so.
            machines.setdefault(entry.get("measured_on", "a machine not recorded"), []).append(timed)
    if len(machines) == 1:
        return f"timed on: {next(iter(machines))}"
    return "timed on: " + "; ".join(f"{machine} ({', '.join(names)})" for machine, names in machines.items())


def learning_curves_figure(histories):
    """A figure of every model's accuracy and loss per epoch (train solid, validation dashed).

    `histories` maps a model's name to its Keras `History.history` dict. The caller
    saves and closes the figure.

    >>> history = {"accuracy": [0.5, 0.6, 0.7], "loss": [0.9, 0.7, 0.6]}
    >>> figure = learning_curves_figure({"student": history})
    >>> all(tick.is_integer() for tick in figure.axes[0].get_xticks())  # whole epochs only
    True
    >>> plt.close(figure)
    """
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
        # An epoch is a whole number: no tick at 1.5.
        axis.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        axis.set_ylabel(metric)
        axis.legend(fontsize=7)
        axis.grid(alpha=0.3)
    figure.suptitle("Learning curves (distillation 'loss' mixes hard and soft terms)")
    figure.tight_layout()
    return figure


def _plot_learning_curves(histories, path):
    figure = learning_curves_figure(histories)
    figure.savefig(path, dpi=100)
    plt.close(figure)


# How each kind of TFLite file shows on the trade-off plot; SavedModels are circles.
_TFLITE_MARKERS = {"float32": "^", "float16": "v", "dynamic_range": "s", "full_int8": "D"}


def _plot_tradeoff(summary, path):
    """The task's headline metric (accuracy for text classification) against the
    latency of one text and the size on disk of every artefact: each model's
    SavedModel (a circle, named) and each TFLite file (its mode's marker, in its
    model's colour)."""
    metric = tasks.get(summary["task"]).headline_metric
    figure, axes = plt.subplots(1, 2, figsize=(11, 4))
    for index, (name, scores) in enumerate(summary["models"].items()):
        colour = f"C{index}"
        points = [("o", scores[metric], _speed_at(scores, 1)["latency_ms"], scores["savedmodel_bytes"])]
        points += [
            (_TFLITE_MARKERS[mode], entry[metric], entry["latency"][0]["latency_ms"], entry["bytes"])
            for mode, entry in scores.get("tflite", {}).items()
            if entry["exported"]
        ]
        for marker, accuracy, milliseconds, size in points:
            for axis, x in ((axes[0], milliseconds), (axes[1], size / 1e6)):
                axis.scatter(x, 100 * accuracy, s=60, marker=marker, color=colour)
        for axis, x in ((axes[0], points[0][2]), (axes[1], points[0][3] / 1e6)):
            axis.annotate(name, (x, 100 * points[0][1]), textcoords="offset points", xytext=(5, 5), fontsize=8)
    handles = [
        matplotlib.lines.Line2D([], [], color="grey", marker=marker, linestyle="", label=label)
        for label, marker in [("SavedModel", "o"), *(
            (f"TFLite {mode}", marker) for mode, marker in _TFLITE_MARKERS.items())]
    ]
    axes[1].legend(handles=handles, fontsize=7)
    axes[0].set_xlabel("latency of one text (ms, log): SavedModels on strings, TFLite on ids, 1 thread")
    axes[1].set_xlabel("size on disk (MB, log)")
    for axis in axes:
        axis.set_xscale("log")
        # Labelled minor ticks of a log axis crowd into each other.
        axis.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        axis.set_ylabel(f"test {metric} (%)")
        axis.grid(alpha=0.3)
    figure.suptitle(f"{metric.capitalize()} against speed and size")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def tuning_section(tuning):
    """The search's trials (`tuning/trials.json`) as Markdown, the winner marked.

    >>> trial = {"trial": "0", "values": {"temperature": 4.0, "alpha": 0.3,
    ...          "learning_rate": 1e-3}, "score": 0.75, "status": "COMPLETED"}
    >>> tuning = {"objective": "val_accuracy", "trials": [trial], "best": trial,
    ...           "standard_error": 0.0153}
    >>> tuning_section(tuning)[2]
    "Each trial scored by its best epoch's val_accuracy (validation split). The winner is the best trial if it beats the config's own values (the first) by more than one standard error of their score (0.0153), else the config's; the distilled student trained with the winner's values."
    >>> tuning_section(tuning)[-2]
    '| 0 (winner) | 4 | 0.3 | 0.001 | 0.7500 | COMPLETED |'
    >>> tuning_section(None)
    []
    """
    if not tuning:
        return []
    # What the search varied, in the order the search names it (`tune._search_space`).
    keys = list(dict.fromkeys(key for trial in tuning["trials"] for key in trial["values"]))
    lines = [
        "## Hyperparameter search",
        "",
        f"Each trial scored by its best epoch's {tuning['objective']} (validation split). "
        "The winner is the best trial if it beats the config's own values (the first) by "
        f"more than one standard error of their score ({_four_places(tuning.get('standard_error'))}), "
        "else the config's; the distilled student trained with the winner's values.",
        "",
        "| trial | " + " | ".join(key.replace("_", " ") for key in keys) + " | score | status |",
        "|---" * (len(keys) + 3) + "|",
    ]
    for trial in tuning["trials"]:
        name = trial["trial"] + (" (winner)" if trial == tuning["best"] else "")
        values = " | ".join(f"{trial['values'][key]:.3g}" for key in keys)
        score = _four_places(trial["score"])
        lines.append(f"| {name} | {values} | {score} | {trial['status']} |")
    return lines + [""]


def _four_places(number):
    return "-" if number is None else f"{number:.4f}"


def extra_test_section(summary):
    """The scores on the `data.extra_test` sets as Markdown: a table per set, with
    each student's retention and agreement with the teacher there beside those on the
    run's test split.

    >>> def scores(accuracy, **ratios):
    ...     return {"accuracy": accuracy, "f1": accuracy, **ratios}
    >>> summary = {
    ...     "task": "text_classification",
    ...     "models": {"teacher": scores(0.9), "cnn_distilled": scores(
    ...         0.88, retention=0.978, teacher_agreement=0.9)},
    ...     "extra_test": {"drug_reviews": {"num_examples": 343, "models": {
    ...         "teacher": scores(0.8), "cnn_distilled": scores(
    ...             0.76, retention=0.95, teacher_agreement=0.81)}}},
    ... }
    >>> print("\\n".join(extra_test_section(summary)[4:]))
    **drug_reviews** (343 examples)
    <BLANKLINE>
    | model | accuracy | F1 | retention | retention on the test split | agreement | agreement on the test split |
    |---|---|---|---|---|---|---|
    | teacher | 80.00% | 0.800 | - | - | - | - |
    | cnn_distilled | 76.00% | 0.760 | 95.0% | 97.8% | 81.0% | 90.0% |
    <BLANKLINE>
    >>> extra_test_section({"task": "text_classification", "models": {}})
    []
    """
    if not summary.get("extra_test"):
        return []
    task = tasks.get(summary["task"])
    titles = " | ".join(title for title, _, _, _ in task.report_columns)
    lines = [
        "## Extra test sets",
        "",
        "Every model on the test split of each `data.extra_test` source; a student's "
        f"retention is its {task.headline_metric} ÷ the teacher's on the same texts, its "
        "agreement the share of them it labels as the teacher does. Out of domain, more "
        "agreement can mean less accuracy: a student that copies its teacher closely "
        "copies its mistakes too.",
        "",
    ]
    for source, entry in summary["extra_test"].items():
        lines += [
            f"**{source}** ({entry['num_examples']:,} examples)",
            "",
            f"| model | {titles} | retention | retention on the test split "
            "| agreement | agreement on the test split |",
            "|---" * (len(task.report_columns) + 5) + "|",
        ]
        for name, scores in entry["models"].items():
            metrics = " | ".join(f"{scores[key]:{spec}}" for _, key, _, spec in task.report_columns)
            ratios = [
                ratio_scores.get(key)
                for key in ("retention", "teacher_agreement")
                for ratio_scores in (scores, summary["models"][name])
            ]
            cells = " | ".join("-" if value is None else f"{value:.1%}" for value in ratios)
            lines.append(f"| {name} | {metrics} | {cells} |")
        gains = [
            describe_gain(name, scores["gain_over_baseline"], task.headline_metric)
            for name, scores in entry["models"].items()
            if "gain_over_baseline" in scores
        ]
        # A blank line first: a line right under a table would be read as its row.
        lines += ["", *gains, ""] if gains else [""]
    return lines


def _markdown(summary):
    lines = [
        f"# Run report: {summary['name']}",
        "",
        f"Teacher `{summary['teacher_preset']}`, student `{summary['student_kind']}`; "
        f"{describe_policies(summary)}. Speeds are measured through the exported "
        f"SavedModels on raw strings; {describe_machines(summary)}.",
        "",
        "```",
        format_table(summary),
        "```",
        "",
        *extra_test_section(summary),
        *tasks.get(summary["task"]).report_sections(summary),
        *tuning_section(summary.get("tuning")),
    ]
    lines += ["## Plots", "", "![learning curves](learning_curves.png)", "", "![trade-off](tradeoff.png)", ""]
    return "\n".join(lines)


def write(run_dir, summary, histories):
    """Writes `metrics.json`, `report.md`, `learning_curves.png` and `tradeoff.png`."""
    run_dir = pathlib.Path(run_dir)
    write_json(RunLayout(run_dir).metrics, summary)
    _plot_learning_curves(histories, run_dir / "learning_curves.png")
    _plot_tradeoff(summary, run_dir / "tradeoff.png")
    write_text(run_dir / "report.md", _markdown(summary))
