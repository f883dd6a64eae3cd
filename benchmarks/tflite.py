"""Does the distilled student ship: how small, how accurate and how fast at batch 1 is
every TFLite file of a finished run, beside its float32 Keras model and the teacher?

    .venv/bin/python benchmarks/tflite.py --run_dir=runs/demo [--run_dir=runs/other] [--quick]

For each run, every mode of `tfdistill.export.TFLITE_MODES` that its `metrics.json`
lacks is first added as `tfdistill export --run=DIR --tflite=...` adds it; the run's
own scores of each file (the whole test split through `tf.lite.Interpreter`: accuracy,
F1, agreement with the float32 Keras model, bytes) are then read from `metrics.json`.
The float32 Keras student is scored here on the same split.

Batch-1 latency is timed here, every contender taking turns on the same test texts
(`common.interleaved_times`), one text per call:
- the teacher's and the student's SavedModels, raw strings in (what `metrics.json`'s
  `speed` times);
- the student's preprocessor alone (strings to ids): as a TensorFlow graph (a
  `tf.function`), and as `tfdistill predict` runs it (`tflite.fast_preprocessor`: a
  word-level student's vocabulary lookup in plain Python, `WordIds`);
- each TFLite file through the interpreter alone, at 1 thread and at all threads;
- text in through the full_int8 file: that fast preprocessor, then the interpreter
  (all threads), the path `tfdistill predict` takes.

Targets (#15): the full_int8 BiLSTM is <= 2.0 MB and >= 45x smaller than the teacher's
SavedModel, within 0.5 point of its float32 Keras model, no slower at batch 1 than the
float32 TFLite file; text in, it answers one text >= 20x faster than the teacher's
SavedModel; a small_bert full_int8 file is within 1 point of its float32 model.
"""

import dataclasses
import json
import pathlib

import common
import numpy as np
import tensorflow as tf
from absl import flags

from tfdistill import data
from tfdistill import export
from tfdistill import models
from tfdistill import tasks
from tfdistill import tflite
from tfdistill.convertible import float32_copy
from tfdistill.run import config as run_config
from tfdistill.run.context import RunContext
from tfdistill.run.layout import DISTILLED
from tfdistill.run.layout import TEACHER
from tfdistill.run.layout import RunLayout
from tfdistill.run.layout import student_name
from tfdistill.run.reexport import add_tflite

flags.DEFINE_multi_string("run_dir", None, "A finished run directory; repeat for more runs.")
flags.mark_flag_as_required("run_dir")
FLAGS = flags.FLAGS

INT8 = "full_int8"


@dataclasses.dataclass(frozen=True)
class Sizes:
    """`calls` timed calls per contender (after `warmup`), each on the next test text."""

    calls: int
    warmup: int


FULL = Sizes(calls=1000, warmup=20)
QUICK = Sizes(calls=50, warmup=5)


def scored_run(run_dir):
    """The run's `metrics.json` summary, with every TFLite mode exported and scored."""
    metrics = RunLayout(run_dir).metrics
    summary = json.loads(metrics.read_text(encoding="utf-8"))
    exported = set.intersection(
        *(
            {mode for mode, entry in scores.get("tflite", {}).items() if "exported" in entry}
            for name, scores in summary["models"].items()
            if name != TEACHER
        )
    )
    missing = [mode for mode in export.TFLITE_MODES if mode not in exported]
    if missing:
        print(f"{run_dir}: adding {', '.join(missing)} (tfdistill export)", flush=True)
        summary = add_tflite(run_dir, missing)
    return summary


def contenders(run_dir, config, summary, texts):
    """`{name: one-text call}` for the distilled student of the run, and the teacher."""
    layout = RunLayout(run_dir)
    name = student_name(config, DISTILLED)
    student = models.load_student(layout.student(name), kind=config.student.kind)
    tokenize = tf.function(student.preprocessor)
    examples = student.preprocessor(tf.constant(texts))
    serves = {
        model: export.load_savedmodel(run_dir / summary["models"][model]["savedmodel"])
        for model in (TEACHER, name)
    }
    calls = {
        f"{model} SavedModel": _cycling(texts, lambda text, serve=serve: serve(texts=[text]))
        for model, serve in serves.items()
    }
    fast = tflite.fast_preprocessor(student.preprocessor, tasks.get(config.task))
    calls["preprocessor alone, TensorFlow graph"] = _cycling(
        texts, lambda text: tokenize(tf.constant([text]))
    )
    calls["preprocessor alone, as tfdistill predict runs it"] = _cycling(
        texts, lambda text: fast([text])
    )
    for mode, entry in summary["models"][name]["tflite"].items():
        if not entry["exported"]:
            continue
        for threads in sorted(set(tflite.thread_counts())):
            model = tflite.TFLiteModel(run_dir / entry["path"], num_threads=threads)
            feeds = model.feeds(examples)
            calls[f"{mode} interpreter, {threads} thread(s)"] = _cycling(
                range(len(texts)), lambda index, model=model, feeds=feeds: model.run(feeds, index)
            )
        if mode == INT8:
            calls[f"{mode} text in"] = _cycling(texts, _text_in(fast, model))
    return student, calls


def _text_in(preprocess, model):
    def call(text):
        feeds = model.feeds(preprocess([text]))
        return model.run(feeds, 0)

    return call


def _cycling(items, call):
    """A zero-argument function that calls `call` on the next of `items` each time."""
    items, position = list(items), [0]

    def next_call():
        result = call(items[position[0] % len(items)])
        position[0] += 1
        return np.asarray(result) if not isinstance(result, dict) else result

    return next_call


def float32_accuracy(context, student):
    """The float32 Keras student's test accuracy, as the TFLite files are compared to."""
    test = context.splits["test"]
    encoded = context.task.encode(
        test.texts, test.labels, student.preprocessor, batch_size=256, cache=False
    )
    logits = data.predict_logits(float32_copy(student.model), encoded, verbose=0)
    return float(np.mean(np.argmax(logits, axis=-1) == np.asarray(test.labels)))




def file_records(summary, name, keras_accuracy, latency):
    """One row per artefact of the student `name`, with ratios to the teacher's SavedModel."""
    teacher, scores = summary["models"][TEACHER], summary["models"][name]
    teacher_ms = latency[f"{TEACHER} SavedModel"]
    records = [
        {"file": f"{TEACHER} SavedModel", "bytes": teacher["savedmodel_bytes"],
         "accuracy": teacher["accuracy"], "f1": teacher["f1"], "ms_all": teacher_ms},
        {"file": f"{name} Keras float32", "accuracy": keras_accuracy},
        {"file": f"{name} SavedModel", "bytes": scores["savedmodel_bytes"],
         "accuracy": scores["accuracy"], "f1": scores["f1"],
         "ms_all": latency[f"{name} SavedModel"]},
    ]
    threads = sorted(set(tflite.thread_counts()))
    for mode, entry in scores["tflite"].items():
        if not entry["exported"]:
            records.append({"file": f"{name} {mode}: not exported ({entry['reason']})"})
            continue
        records.append(
            {"file": f"{name} {mode}", "mode": mode, "bytes": entry["bytes"], "accuracy": entry["accuracy"],
             "f1": entry["f1"], "agreement": entry["agreement"],
             "ms_1": latency[f"{mode} interpreter, {threads[0]} thread(s)"],
             "ms_all": latency[f"{mode} interpreter, {threads[-1]} thread(s)"]}
        )
    for record in records:
        record["mb"] = None if "bytes" not in record else record["bytes"] / 1e6
        record["smaller"] = common.ratio(teacher["savedmodel_bytes"], record.get("bytes"))
        if record.get("accuracy") is not None and record is not records[0]:
            record["points"] = 100 * (record["accuracy"] - keras_accuracy)
        # A TFLite file at 1 thread, as apps usually run one; a SavedModel at TF's own.
        record["faster"] = common.ratio(teacher_ms, record.get("ms_1") or record.get("ms_all"))
    return records


FILE_COLUMNS = [
    ("file", "artefact", "{}"),
    ("mb", "MB", "{:.2f}"),
    ("smaller", "smaller", common.times_format),
    ("accuracy", "accuracy", "{:.2%}"),
    ("points", "vs Keras f32", "{:+.2f} pt"),
    ("f1", "F1", "{:.4f}"),
    ("agreement", "agreement", "{:.2%}"),
    ("ms_1", "ms@1, 1 thread", "{:.3f}"),
    ("ms_all", "ms@1, all threads", "{:.3f}"),
    ("faster", "faster than teacher", common.times_format),
]
FILE_NOTE = (
    "faster than teacher: the teacher SavedModel's ms@1 over the artefact's (a TFLite "
    "file's at 1 thread, a SavedModel's at all threads)"
)


def verdicts(report, kind, records, latency):
    """Checks the #15 targets that apply to a student of `kind` from its rows."""
    by_mode = {record["mode"]: record for record in records if "mode" in record}
    int8, float32 = by_mode.get(INT8), by_mode.get("float32")
    if int8 is None:
        report.note(f"{kind}: no {INT8} file, so its targets are not met.")
        return
    if kind == "small_bert":
        checks = {"within 1 point of float32 Keras": abs(int8["points"]) <= 1.0}
    else:
        text_in_faster = latency[f"{TEACHER} SavedModel"] / latency[f"{INT8} text in"]
        checks = {
            "<= 2.0 MB": int8["mb"] <= 2.0,
            ">= 45x smaller than the teacher's SavedModel": int8["smaller"] >= 45,
            "within 0.5 point of float32 Keras": abs(int8["points"]) <= 0.5,
            "no slower than the float32 file (1 thread)": (
                float32 is not None and int8["ms_1"] <= float32["ms_1"]
            ),
            f">= 20x faster than the teacher, text in ({text_in_faster:.1f}x)": (
                text_in_faster >= 20
            ),
        }
    for target, met in checks.items():
        report.note(f"{kind} {INT8}: {target}: {'met' if met else 'NOT met'}.")


def benchmark(report):
    sizes = common.pick_sizes(report, FULL, QUICK)
    for run_dir in map(pathlib.Path, FLAGS.run_dir):
        config = run_config.load(RunLayout(run_dir).config)
        summary = scored_run(run_dir)
        context = RunContext.create(config, run_dir)
        texts = context.splits["test"].texts
        student, calls = contenders(run_dir, config, summary, texts)
        times = common.interleaved_times(calls, repeats=sizes.calls, warmup=sizes.warmup)
        latency = {name: 1000 * result["median_s"] for name, result in times.items()}
        name = student_name(config, DISTILLED)
        records = file_records(summary, name, float32_accuracy(context, student), latency)
        report.table(
            f"{run_dir.name}_files",
            f"{run_dir}: every artefact on the {len(texts)} test texts; ms@1 is the median "
            f"of {sizes.calls} one-text calls, the contenders taking turns (SavedModels: "
            "raw strings in; TFLite: the interpreter alone, ids in)",
            records,
            FILE_COLUMNS,
        )
        report.note(FILE_NOTE)
        teacher_ms = latency[f"{TEACHER} SavedModel"]
        report.table(
            f"{run_dir.name}_latency",
            f"{run_dir}: where one text's time goes (median ms of {sizes.calls} calls)",
            [{"contender": key, "ms": ms, "faster": teacher_ms / ms} for key, ms in latency.items()],
            [("contender", "contender", "{}"), ("ms", "ms", "{:.3f}"),
             ("faster", "faster than teacher", common.times_format)],
        )
        verdicts(report, config.student.kind, records, latency)


if __name__ == "__main__":
    common.main(__doc__, benchmark)
