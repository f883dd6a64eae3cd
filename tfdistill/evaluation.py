"""How good, how big and how fast a model is, and on which machine: the numbers a
distillation is judged by.

Example:

>>> import numpy as np
>>> scores = classification_metrics(np.array([0, 1, 1, 0]), np.array([0, 1, 0, 0]), 2)
>>> scores["accuracy"], scores["confusion_matrix"]
(0.75, [[2, 0], [1, 1]])
"""

import functools
import os
import pathlib
import platform
import time

import numpy as np


# CPU features that decide how fast low-precision matrix multiplies can run.
_CPU_FLAGS_OF_INTEREST = ("avx2", "avx512f", "avx512_bf16", "avx512_fp16", "amx_bf16")


def machine():
    """The machine and library versions a measurement was made with, as a dict.

    Example:

    >>> sorted(machine())[:3]
    ['cores', 'cpu_flags', 'cpu_model']
    """
    import keras
    import keras_hub
    import tensorflow as tf

    model, cpu_flags = _cpu_info()
    gpus = [
        tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
        for gpu in tf.config.list_physical_devices("GPU")
    ]
    return {
        "cpu_model": model,
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "cpu_flags": [flag for flag in _CPU_FLAGS_OF_INTEREST if flag in cpu_flags],
        "gpus": gpus,
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "keras_hub": keras_hub.__version__,
        "numpy": np.__version__,
    }


def describe_hardware(info):
    """E.g. "AMD EPYC, 2 usable of 2 cores, CPU flags: avx2 avx512f avx512_bf16"."""
    return (
        f"{info['cpu_model']}, {info['usable_cores']} usable of {info['cores']} cores, "
        f"CPU flags: {' '.join(info['cpu_flags']) or 'none'}"
    )


@functools.cache
def describe_machine():
    """One line for the machine a timing was taken on, kept beside the timing in a
    run's `metrics.json`: its CPU, GPUs and TensorFlow's version. Read once a process
    (a run asks for it beside every model's and every TFLite file's timing).

    Example:

    >>> describe_machine().count("TensorFlow")
    1
    """
    info = machine()
    return (
        f"{describe_hardware(info)}, GPU: {', '.join(info['gpus']) or 'none'}, "
        f"TensorFlow {info['tensorflow']}"
    )


def _cpu_info():
    """`(model name, flags)` from /proc/cpuinfo, or what `platform` knows elsewhere."""
    model, cpu_flags = platform.processor() or "unknown", set()
    cpuinfo = pathlib.Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                cpu_flags = set(value.split())
    return model, cpu_flags


def _safe_divide(numerator, denominator):
    # A class never predicted (or never present) scores 0, not NaN, as in scikit-learn.
    return np.divide(
        numerator, denominator, out=np.zeros(len(numerator)), where=denominator > 0
    )


def classification_metrics(labels, predictions, num_classes):
    """Accuracy, per-class and macro precision/recall/F1, and the confusion matrix.

    For two classes, `precision`, `recall` and `f1` are those of class 1 (the
    positive class); otherwise they are the macro averages, which are always
    reported as `macro_precision`, `macro_recall` and `macro_f1` too.

    Args:
        labels: int array `(n,)` of true class ids.
        predictions: int array `(n,)` of predicted class ids.
        num_classes: the number of classes.

    Returns:
        A JSON-serialisable dict. `confusion_matrix[i][j]` counts examples of class
        `i` predicted as `j`.
    """
    labels = np.asarray(labels, dtype=np.int64)
    predictions = np.asarray(predictions, dtype=np.int64)
    if labels.shape != predictions.shape:
        raise ValueError(
            f"labels have shape {labels.shape} but predictions {predictions.shape}."
        )
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(confusion, (labels, predictions), 1)
    true_positives = np.diag(confusion).astype(np.float64)
    precision = _safe_divide(true_positives, confusion.sum(axis=0))
    recall = _safe_divide(true_positives, confusion.sum(axis=1))
    f1 = _safe_divide(2 * precision * recall, precision + recall)
    reported = 1 if num_classes == 2 else slice(None)
    return {
        "accuracy": float(true_positives.sum() / max(len(labels), 1)),
        "precision": float(np.mean(precision[reported])),
        "recall": float(np.mean(recall[reported])),
        "f1": float(np.mean(f1[reported])),
        "macro_precision": float(precision.mean()),
        "macro_recall": float(recall.mean()),
        "macro_f1": float(f1.mean()),
        "confusion_matrix": confusion.tolist(),
        "num_examples": int(len(labels)),
    }


def size_on_disk(path):
    """Bytes under `path` (a file or a directory tree)."""
    path = pathlib.Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(
        os.path.getsize(os.path.join(root, name))
        for root, _, names in os.walk(path)
        for name in names
    )


def measure_throughput(predict, texts, batch_size, *, min_seconds=2.0, warmup_batches=2):
    """Times `predict` on batches of `texts`, after a warm-up that pays for tracing.

    Batches cycle over `texts` until at least `min_seconds` have passed, so a fast and
    a slow model are both timed over enough work to be stable.

    Args:
        predict: a function from a `tf.string` batch `(batch,)` to anything; it is run
            to completion (its outputs are converted to NumPy).
        texts: a list of strings.
        batch_size: the number of texts per call.

    Returns:
        `{"batch_size", "latency_ms" (median per batch), "samples_per_second"}`.
    """
    import tensorflow as tf

    batches = [
        tf.constant([texts[(start + i) % len(texts)] for i in range(batch_size)])
        for start in range(0, max(len(texts), batch_size), batch_size)
    ]

    def run(batch):
        outputs = predict(batch)
        tf.nest.map_structure(lambda tensor: tensor.numpy(), outputs)

    for batch in batches[:warmup_batches]:
        run(batch)
    durations = []
    begin = time.perf_counter()
    while time.perf_counter() - begin < min_seconds or len(durations) < 3:
        batch = batches[len(durations) % len(batches)]
        start = time.perf_counter()
        run(batch)
        durations.append(time.perf_counter() - start)
    return {
        "batch_size": batch_size,
        "latency_ms": float(np.median(durations) * 1000),
        "samples_per_second": float(batch_size * len(durations) / sum(durations)),
    }
