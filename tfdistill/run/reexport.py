"""`tfdistill export`: add TFLite files to a finished run without training again.

The run's own config (`config.yaml`) and data give the test split to measure on and
the training texts to calibrate `full_int8` with; the students are loaded with the
preprocessors they were saved with. The run is updated as any rerun is: in its
partial folder, under its lock, and swapped in whole (`tfdistill.run.folders`).

Example: `tfdistill export --run=runs/demo --tflite=full_int8,float16`.
"""

import json
import os

from tfdistill import models
from tfdistill.registry import did_you_mean_path
from tfdistill.run import config as run_config
from tfdistill.run import folders
from tfdistill.run import report
from tfdistill.run import validate
from tfdistill.run.context import RunContext
from tfdistill.run.layout import TEACHER
from tfdistill.run.layout import RunLayout
from tfdistill.run.layout import enclosing_run
from tfdistill.run.layout import partial_dir
from tfdistill.run.stages import export


def add_tflite(output_dir, modes):
    """Exports and measures the TFLite `modes` of every student of a finished run.

    Returns:
        The updated `metrics.json` summary.

    Raises:
        RunFolderError: `output_dir` is not a finished tfdistill run.
        ConfigError: a mode is not one of `tfdistill.export.TFLITE_MODES`.
    """
    layout = RunLayout(output_dir)
    if not os.path.exists(output_dir):
        raise folders.RunFolderError(f"{output_dir} does not exist{did_you_mean_path(output_dir)}.")
    if not (layout.metrics.is_file() and layout.config.is_file()):
        run = enclosing_run(output_dir)
        raise folders.RunFolderError(
            f"{output_dir} is not a finished tfdistill run (it has no metrics.json and "
            f"config.yaml)" + (f"; it is inside the run {run} (pass --run={run})." if run else ".")
        )
    config = run_config.load(layout.config)
    config = run_config.override(config, [f"export.tflite={json.dumps(list(modes))}"])
    validate.check_task(config)
    validate.check_export(config.export)
    context = RunContext.create(config, partial_dir(output_dir))
    with folders.claim(output_dir) as partial:
        summary = json.loads(RunLayout(partial).metrics.read_text(encoding="utf-8"))
        for name, scores in summary["models"].items():
            if name == TEACHER:
                continue
            student = models.load_student(context.layout.student(name), kind=config.student.kind)
            entries = scores.get("tflite", {})
            if "exported" in entries:  # One file's entry, as runs before the modes wrote.
                entries = {}
            entries.update(export.tflite_scores(context, name, student.model, student.preprocessor))
            scores["tflite"] = entries
        report.write(partial, summary, _histories(context.layout, summary))
        folders.publish(partial, output_dir)
    return summary


def _histories(layout, summary):
    """Each model's training history, as the run saved it beside the model."""
    histories = {}
    for name in summary["models"]:
        model_dir = layout.teacher(name) if name == TEACHER else layout.student(name)
        path = layout.training(model_dir)
        if path.is_file():
            histories[name] = json.loads(path.read_text(encoding="utf-8"))["history"]
    return histories
