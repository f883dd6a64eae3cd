"""Do mixed precision and XLA change what the Distiller learns, and how much faster do
they make its train step here?

    .venv/bin/python benchmarks/precision_xla.py [--quick]

For float32, mixed_float16 and mixed_bfloat16, each with `jit_compile` off and on, on
whatever device is present: the median time of a `Distiller` train step (teacher in the
loop: the packaged MiniLM BERT teacher, with a small_bert student initialised from it,
and with the bilstm student), and the training loss after N steps from the same initial
weights on the same batches, compared with float32 without XLA. On a CPU this checks
correctness: the loss after training may differ from float32-without-XLA's by at most
1% (float32 with XLA) or 10% (mixed policies) of the progress float32-without-XLA made,
so a setting that learns nothing fails. On a GPU the same script measures the speed-up.

The dtype policy is set before each teacher, student and Distiller is built (layers take
the global policy when they are created). Dropout is off in the students, so that the
runs differ only in arithmetic, not in random masks.
"""

import dataclasses

import common
import keras
import tensorflow as tf
from absl import flags

import tfdistill
from tfdistill import data
from tfdistill import models

flags.DEFINE_integer("seed", 0, "Seed of the initial weights.")
FLAGS = flags.FLAGS

POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")
JIT_SETTINGS = (False, True)
# Adam learning rates as in the shipped configs.
STUDENTS = {"small_bert": 5e-5, "bilstm": 1e-3}
REFERENCE = ("float32", False)
# How far the final loss may be from float32-without-XLA's, as a fraction of the
# progress float32-without-XLA made: a setting that learned nothing is off by ~1.
TOLERANCE = {"float32": 1e-2, "mixed_float16": 1e-1, "mixed_bfloat16": 1e-1}


@dataclasses.dataclass(frozen=True)
class Sizes:
    """Shapes, steps compared for the loss, and timed steps per setting."""

    batch_size: int
    sequence_length: int
    loss_steps: int
    timed_steps: int


FULL = Sizes(batch_size=32, sequence_length=64, loss_steps=20, timed_steps=10)
QUICK = Sizes(batch_size=16, sequence_length=32, loss_steps=8, timed_steps=3)


def device_name():
    gpus = tf.config.list_physical_devices("GPU")
    return f"GPU ({len(gpus)})" if gpus else "CPU"


def build_distillers(policy, sizes, train_texts):
    """Distillers built under `policy` from the same seed.

    Returns:
        `(teacher preprocessor, {kind: student preprocessor},
        {(kind, jit_compile): compiled Distiller})`.
    """
    keras.config.set_dtype_policy(policy)
    try:
        keras.utils.set_random_seed(FLAGS.seed)
        teacher = models.freeze(models.load_teacher(sequence_length=sizes.sequence_length))
        preprocessors, distillers = {}, {}
        for kind, learning_rate in STUDENTS.items():
            for jit_compile in JIT_SETTINGS:
                keras.utils.set_random_seed(FLAGS.seed)
                student = models.build_student(
                    kind,
                    2,
                    teacher=teacher,
                    train_texts=train_texts,
                    sequence_length=sizes.sequence_length,
                    dropout=0.0,
                )
                distiller = tfdistill.Distiller(teacher, student.model)
                distiller.compile(
                    optimizer=keras.optimizers.Adam(learning_rate),
                    jit_compile=jit_compile,
                )
                distillers[kind, jit_compile] = distiller
                preprocessors[kind] = student.preprocessor
    finally:
        keras.config.set_dtype_policy("float32")
    return teacher.preprocessor, preprocessors, distillers


def distillation_batches(train, teacher_preprocessor, student_preprocessor, sizes):
    batches = data.encode_for_distillation(
        common.examples(train),
        student_preprocessor=student_preprocessor,
        teacher_preprocessor=teacher_preprocessor,
        batch_size=sizes.batch_size,
        drop_remainder=True,
    )
    return list(batches)


def train(distiller, batches):
    """Trains one step per batch; returns the loss on the first batch before and after,
    and the seconds of the first step (which traces, and compiles with XLA)."""
    (x, y), *rest = batches
    before = distiller.test_on_batch(x, y, return_dict=True)["loss"]
    first_step_s, _ = common.timed(lambda: distiller.train_on_batch(x, y))
    for batch in rest:
        distiller.train_on_batch(*batch)
    after = distiller.test_on_batch(x, y, return_dict=True)["loss"]
    return first_step_s, before, after


def compare_settings(report, kind, distillers, batches, sizes):
    """Loss agreement and step time of every (policy, jit_compile) for one student."""
    trained = {setting: train(distiller, batches) for setting, distiller in distillers.items()}
    x, y = batches[0]
    times = common.interleaved_times(
        {
            setting: lambda d=distiller: d.train_on_batch(x, y)
            for setting, distiller in distillers.items()
        },
        repeats=sizes.timed_steps,
        warmup=1,
    )
    _, reference_before, reference_after = trained[REFERENCE]
    progress = reference_before - reference_after
    reference_time = times[REFERENCE]["median_s"]
    records = []
    for (policy, jit_compile), timing in times.items():
        first_step_s, before, after = trained[policy, jit_compile]
        off_by = abs(after - reference_after) / progress if progress > 0 else None
        records.append(
            {
                "policy": policy,
                "jit_compile": jit_compile,
                "first_step_s": first_step_s,
                "median_step_ms": 1000 * timing["median_s"],
                "speedup": reference_time / timing["median_s"],
                "loss_before": before,
                "loss_after": after,
                "off_by_fraction_of_progress": off_by,
                "agrees": off_by is not None and off_by <= TOLERANCE[policy],
                "step_times_s": timing["times_s"],
            }
        )
    report.table(
        kind,
        f"{kind} student from the MiniLM teacher, {device_name()}, batch "
        f"{sizes.batch_size} x {sizes.sequence_length}, Adam {STUDENTS[kind]:g}: loss on "
        f"batch 1 before and after {sizes.loss_steps} steps, median of "
        f"{sizes.timed_steps} interleaved steps",
        records,
        [
            ("policy", "policy", "{}"),
            ("jit_compile", "XLA", lambda on: "on" if on else "off"),
            ("first_step_s", "1st step s", "{:.1f}"),
            ("median_step_ms", "step ms", "{:.1f}"),
            ("speedup", "speed-up", common.times_format),
            ("loss_before", "loss before", "{:.6f}"),
            ("loss_after", "loss after", "{:.6f}"),
            ("off_by_fraction_of_progress", "|diff|/progress", "{:.1e}"),
            ("agrees", "agrees", lambda ok: "yes" if ok else "NO"),
        ],
    )
    return records


def benchmark(report):
    sizes = common.pick_sizes(report, FULL, QUICK)
    report.record("tolerance", TOLERANCE)
    train = common.default_split("train", sizes.batch_size * sizes.loss_steps)
    built = {policy: build_distillers(policy, sizes, train.texts) for policy in POLICIES}
    teacher_preprocessor, student_preprocessors, _ = built["float32"]
    disagreements = []
    for kind in STUDENTS:
        # Token ids do not depend on the policy, and every build adapts the same
        # vocabulary on the same texts, so one encoding serves every setting.
        batches = distillation_batches(
            train, teacher_preprocessor, student_preprocessors[kind], sizes
        )
        distillers = {
            (policy, jit_compile): built[policy][2][kind, jit_compile]
            for policy in POLICIES
            for jit_compile in JIT_SETTINGS
        }
        records = compare_settings(report, kind, distillers, batches, sizes)
        disagreements += [
            f"{kind} {r['policy']} XLA {'on' if r['jit_compile'] else 'off'}"
            for r in records
            if not r["agrees"]
        ]
    report.note(
        "speed-up = step time of float32 without XLA / this step time. |diff|/progress = "
        "|loss after - float32-without-XLA's loss after| / (float32-without-XLA's loss "
        f"before - after); tolerance {TOLERANCE}."
    )
    report.note(
        "All settings agree with float32 without XLA."
        if not disagreements
        else f"Outside tolerance: {', '.join(disagreements)}."
    )
    if device_name() == "CPU":
        report.note(
            "No GPU here: the speed-ups are those of this CPU (oneDNN, XLA:CPU), not a "
            "GPU's; float16 has no fast CPU kernels."
        )


if __name__ == "__main__":
    common.main(__doc__, benchmark)
