"""Stage 5: every model exported for serving, and timed as it is served.

Each model gets a SavedModel that takes raw strings (the speed is measured through
it), and each student a TFLite file when `export.tflite` is on. A failed TFLite
conversion is recorded with its reason rather than failing the run.
"""

import os

from absl import logging

from tfdistill import evaluation
from tfdistill import export as exporting
from tfdistill.run.layout import TEACHER


def export(context, name, model, preprocessor):
    """Exports one model; returns its serving facts for `metrics.json`."""
    layout, config = context.layout, context.config.export
    savedmodel = exporting.export_savedmodel(
        model,
        preprocessor,
        layout.export(name) / "savedmodel",
        context.class_names,
        task=context.config.task,
    )
    scores = {
        "savedmodel": os.path.relpath(savedmodel, layout.root),
        "savedmodel_bytes": evaluation.size_on_disk(savedmodel),
    }
    if config.tflite and name != TEACHER:
        scores["tflite"] = _export_tflite(context, name, model)
    serve = exporting.load_savedmodel(savedmodel)
    scores["speed"] = [
        evaluation.measure_throughput(
            lambda texts: serve(texts=texts),
            context.splits["test"].texts,
            batch_size,
            min_seconds=config.latency_seconds,
        )
        for batch_size in config.latency_batch_sizes
    ]
    return scores


def _export_tflite(context, name, model):
    path = context.layout.export(name) / "model.tflite"
    try:
        exporting.export_tflite(model, path)
    except ValueError as error:
        logging.warning("%s", error)
        return {"exported": False, "reason": str(error).splitlines()[0]}
    return {
        "exported": True,
        "path": os.path.relpath(path, context.layout.root),
        "bytes": path.stat().st_size,
    }
