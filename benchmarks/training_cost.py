"""What does an epoch of distillation cost next to an epoch of plain training, with the
teacher in the loop and on cached logits?

    .venv/bin/python benchmarks/training_cost.py [--quick] [--student=small_bert]

Times an epoch of (i) the student's own `fit` on the hard labels, (ii) `Distiller.fit`
with the frozen teacher (the packaged MiniLM) running on every batch, and (iii)
`Distiller.fit` on teacher logits cached beforehand: the same student (bilstm by
default), texts, batch size and seed, the three taking turns, median over epochs after
a warm-up epoch each. The students and their trainers are those the pipeline builds
for the default config (its baseline and its distilled student). Also the one-time cost of filling the cache (the teacher-weight
fingerprint and one teacher pass over the texts), and the number of epochs after which
it has paid for itself. Target: a cached epoch costs <= 1.15x a plain epoch.

Only speed is measured, so the teacher's classification head is left untrained.
"""

import dataclasses
import tempfile
from typing import Optional

import common
import keras
from absl import flags

from tfdistill import data
from tfdistill import models
from tfdistill.run import config as run_config
from tfdistill.run.context import RunContext
from tfdistill.run.context import steps_per_epoch
from tfdistill.run.layout import BASELINE
from tfdistill.run.layout import DISTILLED
from tfdistill.run.stages import students

flags.DEFINE_enum("student", "bilstm", models.STUDENTS.names(), "The student kind.")
flags.DEFINE_integer(
    "sequence_length", 64, "Tokens (teacher) and words or tokens (student) per text."
)
flags.DEFINE_integer("batch_size", 32, "Examples per training step.")
flags.DEFINE_integer("seed", 0, "Seed of the student initialisation and data order.")
flags.DEFINE_bool("jit_compile", False, "XLA-compile the train steps.")
FLAGS = flags.FLAGS

TARGET_CACHED_OVER_PLAIN = 1.15


@dataclasses.dataclass(frozen=True)
class Sizes:
    """Training texts (None: the whole train split) and timed epochs per trainer."""

    train_examples: Optional[int]
    timed_epochs: int


FULL = Sizes(train_examples=None, timed_epochs=3)
QUICK = Sizes(train_examples=512, timed_epochs=3)

PLAIN = "(i) plain fit, hard labels"
TEACHER_IN_LOOP = "(ii) Distiller, teacher in the loop"
CACHED = "(iii) Distiller, cached logits"


def run_context(sizes, run_dir):
    """A run of the default config set by the flags, in float32: its splits, and the
    students the pipeline would build and train from them."""
    settings = {
        "seed": FLAGS.seed,
        "data.max_examples": sizes.train_examples,
        "teacher.sequence_length": FLAGS.sequence_length,
        "student.kind": FLAGS.student,
        "student.sequence_length": FLAGS.sequence_length,
        "distillation.batch_size": FLAGS.batch_size,
        "runtime.jit_compile": FLAGS.jit_compile,
        **common.FLOAT32,
    }
    return RunContext.create(common.config_with(run_config.RunConfig(), settings), run_dir)


def build_trainers(context, teacher, logits):
    """`{name: (compiled model, its batches)}`, each with a fresh copy of the run's
    student, compiled as the pipeline compiles its baseline and distilled students."""
    train = context.splits["train"]
    shuffled = {"batch_size": FLAGS.batch_size, "shuffle": True, "seed": FLAGS.seed}
    plain, in_loop, cached = (students.build(context, teacher) for _ in range(3))
    return {
        PLAIN: (
            students.make_trainer(context, BASELINE, plain, [teacher], cached=False),
            data.encode(common.examples(train), plain.preprocessor, **shuffled),
        ),
        TEACHER_IN_LOOP: (
            students.make_trainer(context, DISTILLED, in_loop, [teacher], cached=False),
            data.encode_for_distillation(
                common.examples(train),
                student_preprocessor=in_loop.preprocessor,
                teacher_preprocessor=teacher.preprocessor,
                **shuffled,
            ),
        ),
        CACHED: (
            students.make_trainer(context, DISTILLED, cached, [teacher], cached=True),
            data.encode_for_distillation(
                common.examples(train),
                student_preprocessor=cached.preprocessor,
                teacher_logits=logits,
                **shuffled,
            ),
        ),
    }


def fill_cache(context, teacher):
    """Times what a first run pays once: the fingerprint and one teacher pass."""
    train = context.splits["train"]
    preprocessing = data.teacher_preprocessing(teacher, context.teacher_policy)
    fingerprint_s, key = common.timed(lambda: data.fingerprint(teacher, train.texts, preprocessing))
    inputs = data.encode(
        common.examples(train), teacher.preprocessor, batch_size=FLAGS.batch_size, cache=False
    )
    cache = data.TeacherLogitCache(context.layout.cache)
    teacher_pass_s, logits = common.timed(
        lambda: cache.get_or_compute(teacher, inputs, key, verbose=0)
    )
    return fingerprint_s, teacher_pass_s, logits


def report_epochs(report, times, train, sizes):
    """The table of epoch times, and whether a cached epoch meets its target."""
    steps = steps_per_epoch(train, FLAGS.batch_size)
    plain = times[PLAIN]["median_s"]
    records = [
        {
            "trainer": name,
            "median_epoch_s": timing["median_s"],
            "min_epoch_s": timing["min_s"],
            "median_step_ms": 1000 * timing["median_s"] / steps,
            "vs_plain": timing["median_s"] / plain,
            "epoch_times_s": timing["times_s"],
        }
        for name, timing in times.items()
    ]
    report.table(
        "epoch_times",
        f"Epoch time, {FLAGS.student} student, {len(train.texts)} texts = {steps} steps "
        f"of {FLAGS.batch_size}, median of {sizes.timed_epochs} interleaved epochs",
        records,
        [
            ("trainer", "trainer", "{}"),
            ("median_epoch_s", "s/epoch", "{:.2f}"),
            ("min_epoch_s", "min s", "{:.2f}"),
            ("median_step_ms", "ms/step", "{:.1f}"),
            ("vs_plain", "/ plain", common.times_format),
        ],
    )
    cached_ratio = times[CACHED]["median_s"] / plain
    verdict = "met" if cached_ratio <= TARGET_CACHED_OVER_PLAIN else "NOT met"
    report.note(
        f"Cached epoch / plain epoch = {cached_ratio:.2f}x "
        f"(target <= {TARGET_CACHED_OVER_PLAIN}: {verdict})."
    )


def report_cache_fill(report, times, fingerprint_s, teacher_pass_s):
    """What filling the cache costs, in seconds and in epochs, and when it pays off."""
    plain = times[PLAIN]["median_s"]
    fill_s = fingerprint_s + teacher_pass_s
    saved_per_epoch_s = times[TEACHER_IN_LOOP]["median_s"] - times[CACHED]["median_s"]
    break_even = common.ratio(fill_s, saved_per_epoch_s) if saved_per_epoch_s > 0 else None
    report.record(
        "cache_fill",
        {
            "fingerprint_s": fingerprint_s,
            "teacher_pass_s": teacher_pass_s,
            "total_s": fill_s,
            "in_plain_epochs": fill_s / plain,
            "break_even_epochs": break_even,
        },
    )
    report.note(
        f"Filling the cache once: fingerprint {fingerprint_s:.2f} s + teacher pass "
        f"{teacher_pass_s:.2f} s = {fill_s:.2f} s = {fill_s / plain:.1f} plain epochs; "
        + (
            f"it pays for itself after {break_even:.2f} distillation epochs."
            if break_even is not None
            else "it never pays for itself here (the teacher-in-the-loop epoch was not slower)."
        )
    )


def benchmark(report):
    sizes = common.pick_sizes(report, FULL, QUICK)
    keras.config.set_dtype_policy("float32")
    with tempfile.TemporaryDirectory() as run_dir:
        context = run_context(sizes, run_dir)
        teacher = models.freeze(models.load_teacher(sequence_length=FLAGS.sequence_length))
        fingerprint_s, teacher_pass_s, logits = fill_cache(context, teacher)
        epochs = {
            name: lambda model=model, batches=batches: model.fit(
                batches, epochs=1, shuffle=False, verbose=0
            )
            for name, (model, batches) in build_trainers(context, teacher, logits).items()
        }
        # The warm-up epoch traces the step and fills each input pipeline's cache.
        times = common.interleaved_times(epochs, repeats=sizes.timed_epochs, warmup=1)
    report_epochs(report, times, context.splits["train"], sizes)
    report_cache_fill(report, times, fingerprint_s, teacher_pass_s)


if __name__ == "__main__":
    common.main(__doc__, benchmark)
