"""A TFLite file run as an app runs it: one text's token ids at a time, through
`tf.lite.Interpreter`, and timed that way.

A file of `tfdistill.export.export_tflite` takes the model's inputs at batch size 1
(token ids, which the app makes with the student's preprocessor) and returns
logits: float32, or int8 for a `full_int8` file, which `TFLiteModel` turns back into
float32 with the output's scale and zero point.

Example:

>>> import tempfile
>>> import keras
>>> from tfdistill import export
>>> model = keras.Sequential([keras.Input((4,), dtype="int32", name="token_ids"),
...                           keras.layers.Embedding(20, 8),
...                           keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(2)])
>>> ids = np.random.default_rng(0).integers(1, 20, size=(50, 4)).astype("int32")
>>> path = export.export_tflite(model, tempfile.mkdtemp() + "/model_full_int8.tflite",
...                             "full_int8", lambda: ids[:, None])
>>> logits = TFLiteModel(path).predict(ids)
>>> logits.shape, logits.dtype
((50, 2), dtype('float32'))
>>> bool(np.abs(logits - model(ids).numpy()).max() < 0.05)
True
"""

import contextlib
import json
import logging
import os
import pathlib
import time
import warnings

import keras
import numpy as np
import tensorflow as tf

from tfdistill import tasks
from tfdistill.atomic import write_json
from tfdistill.data.unknown_words import counts_unknown_words
from tfdistill.data.unknown_words import unknown_word_counts
from tfdistill.data.word_ids import WordIds
from tfdistill.models.students.saving import load_preprocessor
from tfdistill.models.students.saving import save_preprocessor
from tfdistill.run import quiet

# Beside a run's TFLite files: the task and the class names their logits stand for.
LABELS_FILE = "labels.json"


def arrays_by_name(inputs, names):
    """The arrays of `inputs` for the model inputs `names`, in that order.

    Args:
        inputs: what a preprocessor returns: one tensor (for a model of one input) or
            a dict of tensors keyed by the model's input names.
        names: the model's input names.

    Returns:
        A list of NumPy arrays, one per name.
    """
    if isinstance(inputs, dict):
        return [np.asarray(inputs[name]) for name in names]
    if len(names) != 1:
        raise ValueError(f"The model takes {len(names)} inputs {names}; got one tensor.")
    return [np.asarray(inputs)]


# What TensorFlow's converter and interpreter say on every use, about their own
# internals, that a user can do nothing about: the same flatbuffer runs under the
# LiteRT interpreter they point to, and the deprecated conversion path is the one that
# freezes the model's lookup tables.
LIBRARY_NOTICES = (
    "tf.lite.Interpreter is deprecated",
    "Please consider providing the trackable_obj argument",
    "Issue encountered when serializing table_initializer",
    "Statistics for quantized inputs were expected",
)


class _NoticeFilter(logging.Filter):
    def filter(self, record):
        return not any(notice in record.getMessage() for notice in LIBRARY_NOTICES)


@contextlib.contextmanager
def library_notices_hidden():
    """Within it, TensorFlow's `LIBRARY_NOTICES` (Python warnings and log lines) are
    dropped, and so are TFLite's C++ INFO lines in the command
    (`quiet.library_lines_hidden`); every other warning still shows."""
    notice_filter = _NoticeFilter()
    loggers = [tf.get_logger(), logging.getLogger("absl")]  # TensorFlow writes to both.
    for logger in loggers:
        logger.addFilter(notice_filter)
    try:
        with warnings.catch_warnings(), quiet.library_lines_hidden():
            for notice in LIBRARY_NOTICES:
                warnings.filterwarnings("ignore", message=rf"\s*(Warning: )?{notice}")
            yield
    finally:
        for logger in loggers:
            logger.removeFilter(notice_filter)


class TFLiteModel:
    """A TFLite file of `export_tflite`: model inputs in, float32 logits out.

    Args:
        path: the `.tflite` file.
        num_threads: the interpreter's CPU threads; None lets TFLite choose.
    """

    def __init__(self, path, num_threads=None):
        with library_notices_hidden():
            self.interpreter = tf.lite.Interpreter(model_path=str(path), num_threads=num_threads)
            # Where TFLite applies its default (XNNPACK) delegate, and says so.
            self.interpreter.allocate_tensors()
        self._inputs = self.interpreter.get_input_details()
        (self._output,) = self.interpreter.get_output_details()

    def feeds(self, examples):
        """`examples` (a preprocessor's output for n texts) as one array per file input,
        in the dtypes the file takes (e.g. a BERT's boolean padding mask as int32)."""
        names = [detail["name"] for detail in self._inputs]
        arrays = arrays_by_name(examples, names)
        return [array.astype(detail["dtype"]) for array, detail in zip(arrays, self._inputs)]

    def run(self, feeds, index):
        """The raw output for example `index` of `feeds`: one call of the interpreter."""
        for detail, array in zip(self._inputs, feeds):
            self.interpreter.set_tensor(detail["index"], array[index : index + 1])
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self._output["index"])

    def logits(self, raw):
        """The float32 logits of a raw output: int8 ones dequantized (scale, zero point)."""
        scale, zero_point = self._output["quantization"]
        if not scale:
            return raw.astype(np.float32)
        return ((raw.astype(np.float32) - zero_point) * scale).astype(np.float32)

    def predict(self, examples):
        """The logits of every example, `[n, ...]` float32, computed one at a time."""
        feeds = self.feeds(examples)
        return np.concatenate(
            [self.logits(self.run(feeds, index)) for index in range(len(feeds[0]))]
        )


def save_companions(directory, preprocessor, task, class_names):
    """Writes what an app needs beside a student's TFLite files: its preprocessor and
    `labels.json` (the task and the class names, indexed by label id)."""
    save_preprocessor(preprocessor, directory)
    write_json(pathlib.Path(directory) / LABELS_FILE, {"task": task, "class_names": list(class_names)})


def text_model(path):
    """`(predict, count_unknown_words)` of a TFLite file, from it and the companions
    beside it, read once.

    `predict` is `texts -> serving outputs`: the task's, as the SavedModel's (for text
    classification `probabilities`, `label_ids` and `labels`). `count_unknown_words`
    is `texts -> unknown_word_counts` of a word-level student's preprocessor (the
    SavedModel's `unknown_words` signature), or None for any other.
    """
    task, class_names, preprocessor = _companions(path)
    preprocess = fast_preprocessor(preprocessor, task)
    model = TFLiteModel(path)

    def predict(texts):
        logits = model.predict(preprocess(texts))
        return task.serving_outputs(logits, class_names, tf.constant(texts, dtype=tf.string))

    def count_unknown_words(texts):
        return unknown_word_counts(preprocess(texts))

    return predict, count_unknown_words if counts_unknown_words(preprocessor) else None


def _companions(path):
    """`(task, class names, preprocessor)` of a TFLite file, from the files beside it."""
    path = pathlib.Path(path)
    labels_path = path.parent / LABELS_FILE
    if not labels_path.is_file():
        raise ValueError(
            f"{path}: no {LABELS_FILE} and preprocessor beside it; use a .tflite file "
            "from a run's export/ folder (tfdistill export writes them)."
        )
    labels = json.loads(labels_path.read_text(encoding="utf-8"))
    task, class_names = tasks.get(labels["task"]), tf.constant(labels["class_names"])
    return task, class_names, load_preprocessor(path.parent)


def fast_preprocessor(preprocessor, task):
    """`texts -> model inputs` as fast as one text at a time allows: a word-level
    classifier's vectorizer as `WordIds` (plain Python, no TensorFlow graph to run),
    any other preprocessor as it is, on what `task` reads of a text (a tagger's
    words)."""
    if isinstance(preprocessor, keras.layers.TextVectorization):
        return WordIds.from_vectorizer(preprocessor)
    return lambda texts: preprocessor(task.serving_inputs(tf.constant(texts, dtype=tf.string)))


def thread_counts():
    """The thread counts that latency is measured at: 1, and every CPU of the machine."""
    return sorted({1, os.cpu_count() or 1})


def median_latency_ms(path, examples, *, num_threads, min_seconds=2.0, warmup=2):
    """The median time of one call at batch size 1, cycling over `examples`.

    A call sets the inputs, runs the interpreter and reads the raw output, as an app
    does; the calls go on for at least `min_seconds` (and 3 calls).

    Args:
        path: the `.tflite` file.
        examples: a preprocessor's output for some texts (see `TFLiteModel.feeds`).
        num_threads: the interpreter's CPU threads.
        min_seconds: how long to keep timing.
        warmup: calls before timing starts.

    Returns:
        Milliseconds, a float.
    """
    model = TFLiteModel(path, num_threads=num_threads)
    feeds = model.feeds(examples)
    count = len(feeds[0])
    for index in range(warmup):
        model.run(feeds, index % count)
    durations = []
    deadline = time.perf_counter() + min_seconds
    while time.perf_counter() < deadline or len(durations) < 3:
        start = time.perf_counter()
        model.run(feeds, len(durations) % count)
        durations.append(time.perf_counter() - start)
    return float(np.median(durations) * 1000)
