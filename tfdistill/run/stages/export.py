"""Stage 5: every model exported for serving, and every exported file measured.

Each model gets a SavedModel that takes raw strings, timed through it. Each student
also gets one TFLite file per mode in `export.tflite`, each run through
`tf.lite.Interpreter` on the whole test split: scored by the run's task, compared
with the float32 Keras model, weighed and timed. A failed TFLite conversion is
recorded with its reason rather than failing the run.
"""

import os

import numpy as np
import tensorflow as tf
from absl import logging

from tfdistill import data
from tfdistill import evaluation
from tfdistill import export as exporting
from tfdistill import tflite
from tfdistill.convertible import float32_copy
from tfdistill.run.layout import TEACHER


def export(context, name, model, preprocessor):
    """Exports one model; returns its serving facts for `metrics.json`."""
    layout, config = context.layout, context.config.export
    savedmodel = exporting.export_savedmodel(
        model,
        preprocessor,
        layout.savedmodel(name),
        context.class_names,
        task=context.config.task,
        jit_compile=config.jit_compile and name != TEACHER,
    )
    scores = {
        "savedmodel": os.path.relpath(savedmodel, layout.root),
        "savedmodel_bytes": evaluation.size_on_disk(savedmodel),
    }
    if config.tflite and name != TEACHER:
        scores["tflite"] = tflite_scores(context, name, model, preprocessor)
    serve = exporting.load_savedmodel(savedmodel)
    # Speeds differ from one machine to the next: each timing keeps where it was taken.
    scores["measured_on"] = evaluation.describe_machine()
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


def tflite_scores(context, name, model, preprocessor):
    """One entry per mode of `export.tflite`, for the student's `metrics.json` entry.

    An exported file's entry holds `exported` (True), `path` (relative to the run),
    `bytes`, the task's test metrics (for text classification `accuracy`, `f1`, ...),
    `agreement` (the share of test texts it labels as the float32 Keras model does)
    and `latency`, the median milliseconds of one text at batch size 1, per thread
    count: `[{"threads": 1, "latency_ms": ...}, {"threads": <all CPUs>, ...}]`, taken
    on the machine `measured_on` describes. A failed one holds `exported` (False) and
    `reason`.
    """
    test = context.splits["test"]
    encoded = context.task.encode(
        test.texts, test.labels, preprocessor, batch_size=256, cache=False
    )
    examples = _concatenated(inputs for inputs, *_ in encoded)
    reference = np.argmax(data.predict_logits(float32_copy(model), encoded, verbose=0), axis=-1)
    calibration = _calibration_sample(context, preprocessor)
    # An app (and `tfdistill predict`) reads the files with these.
    tflite.save_companions(
        context.layout.export(name), preprocessor, context.config.task, context.class_names
    )
    entries = {}
    for mode in context.config.export.tflite:
        path = context.layout.tflite(name, mode)
        try:
            exporting.export_tflite(
                model,
                path,
                mode,
                calibration if mode == "full_int8" else None,
                # The test inputs' own lengths: a BERT tagger's pieces and words differ.
                sequence_length=(
                    {key: array.shape[1] for key, array in examples.items()}
                    if isinstance(examples, dict)
                    else context.config.student.sequence_length
                ),
            )
        except ValueError as error:
            logging.warning("%s", error)
            entries[mode] = {"exported": False, "reason": str(error).splitlines()[0]}
            continue
        entries[mode] = {
            "exported": True,
            "path": os.path.relpath(path, context.layout.root),
            "bytes": path.stat().st_size,
            **_measure(context, path, examples, reference),
        }
        _log(context, name, mode, entries[mode])
    return entries


def _measure(context, path, examples, reference):
    """The file's test metrics, its agreement with `reference` labels, its latency."""
    logits = tflite.TFLiteModel(path).predict(examples)
    scores = context.task.evaluate(context.splits["test"].labels, logits, context.class_names)
    scores["agreement"] = context.task.agreement(
        np.argmax(logits, axis=-1), reference, context.splits["test"].labels
    )
    scores["measured_on"] = evaluation.describe_machine()
    scores["latency"] = [
        {
            "threads": threads,
            "latency_ms": tflite.median_latency_ms(
                path,
                examples,
                num_threads=threads,
                min_seconds=context.config.export.latency_seconds,
            ),
        }
        for threads in tflite.thread_counts()
    ]
    return scores


def _concatenated(batches):
    """One structure of NumPy arrays from a stream of batches of the same structure."""
    batches = list(batches)
    return tf.nest.map_structure(lambda *parts: np.concatenate(parts), *batches)


def _calibration_sample(context, preprocessor):
    """`full_int8`'s representative dataset: `export.representative_examples` training
    texts drawn with the run's seed, the real texts the transfer set is built on."""
    texts = context.splits["train"].texts
    count = min(context.config.export.representative_examples, len(texts))
    chosen = np.random.default_rng(context.config.seed).choice(len(texts), count, replace=False)

    def examples():
        for index in chosen:
            yield preprocessor(context.task.serving_inputs(tf.constant([texts[index]])))

    return examples


def _log(context, name, mode, entry):
    metric = context.task.headline_metric
    logging.info(
        "TFLite %s %s: %.2f MB, %s %.4f, agreement %.2f%%, %.2f ms at 1 thread",
        name, mode, entry["bytes"] / 1e6, metric, entry[metric],
        100 * entry["agreement"], entry["latency"][0]["latency_ms"],
    )
