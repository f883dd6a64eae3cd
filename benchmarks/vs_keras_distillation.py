"""Is tfdistill.Distiller right and as fast as keras.distillation.Distiller, and does it
train a better student?

    .venv/bin/python benchmarks/vs_keras_distillation.py [--quick] [--teacher_dir=runs/demo/teacher]

Same teacher (the packaged MiniLM, fine-tuned briefly on the Rotten Tomatoes train
split, or a fine-tuned teacher from --teacher_dir), same student (a 2-layer BERT that
shares the teacher's tokenizer and starts from two of its layers: Keras's Distiller
needs identical inputs for both models), same data, epochs, seed and optimizer:

(a) the distillation loss on fixed logits: Keras's default
    `LogitsDistillation(loss="kl_divergence")`, Keras with `keras.losses.KLDivergence()`,
    ours, and a NumPy float64 reference of Hinton's `T² · KL(p_teacher ‖ p_student)`,
    with the norm of each gradient with respect to the student's logits;
(b) the train-step time, ours / theirs with the teacher in the loop (target <= 1.0),
    and ours on cached teacher logits (which Keras cannot do) / theirs;
(c) the test accuracy of the student each way.

alpha (our weight of the hard-label loss) is Keras's `student_loss_weight`, and Keras's
`distillation_loss_weights` is left at 1: both compute
`alpha · CE + (1 − alpha) · distillation loss`.
"""

import dataclasses
import tempfile
from typing import Optional

import common
import keras
import numpy as np
import tensorflow as tf
from absl import flags

from tfdistill import data
from tfdistill import evaluation
from tfdistill import losses
from tfdistill import models
from tfdistill.run.config import RunConfig
from tfdistill.run.context import RunContext
from tfdistill.run.layout import DISTILLED
from tfdistill.run.stages import students

flags.DEFINE_float("temperature", 2.0, "Distillation temperature, for both distillers.")
flags.DEFINE_float("alpha", 0.5, "Weight of the hard-label loss (Keras: student_loss_weight).")
flags.DEFINE_integer("sequence_length", 64, "Tokens per text, for teacher and student.")
flags.DEFINE_integer("batch_size", 32, "Examples per training step.")
flags.DEFINE_integer("seed", 0, "Seed of the student initialisation and data order.")
flags.DEFINE_bool("jit_compile", False, "XLA-compile both distillers' train steps.")
flags.DEFINE_string(
    "teacher_dir",
    None,
    "A fine-tuned teacher saved by finetune_teacher (e.g. runs/demo/teacher); "
    "by default the packaged MiniLM is fine-tuned here.",
)
FLAGS = flags.FLAGS


@dataclasses.dataclass(frozen=True)
class Sizes:
    """How much data and time each part gets; None means the whole split.

    The quick run's learning rates are higher so that its few dozen steps move the
    models off the majority class.
    """

    teacher_train_examples: Optional[int]
    teacher_epochs: int
    teacher_learning_rate: float
    student_train_examples: Optional[int]
    student_epochs: int
    student_learning_rate: float
    test_examples: Optional[int]
    timing_repeats: int


FULL = Sizes(
    teacher_train_examples=None,
    teacher_epochs=2,
    teacher_learning_rate=5e-5,
    student_train_examples=None,
    student_epochs=3,
    student_learning_rate=5e-5,
    test_examples=None,
    timing_repeats=20,
)
QUICK = Sizes(
    teacher_train_examples=1024,
    teacher_epochs=1,
    teacher_learning_rate=2e-4,
    student_train_examples=512,
    student_epochs=1,
    student_learning_rate=2e-4,
    test_examples=512,
    timing_repeats=5,
)

KERAS_DEFAULT = "keras, default loss"
KERAS_KL = "keras, KLDivergence()"
OURS = "tfdistill"
OURS_CACHED = "tfdistill, cached logits"


# --- (a) The loss on fixed logits. ---


def _softmax64(logits, temperature):
    scaled = np.asarray(logits, np.float64) / temperature
    scaled -= scaled.max(axis=-1, keepdims=True)
    probabilities = np.exp(scaled)
    return probabilities / probabilities.sum(axis=-1, keepdims=True)


def reference_loss_and_gradient(teacher_logits, student_logits, temperature):
    """Hinton's batch-mean `T² · KL(p_t ‖ p_s)` in float64, and its exact gradient.

    d/ds of `T² · KL` is `T · (p_s − p_t)` per example; the batch mean divides by N.
    """
    p_teacher = _softmax64(teacher_logits, temperature)
    p_student = _softmax64(student_logits, temperature)
    kl = np.sum(p_teacher * (np.log(p_teacher) - np.log(p_student)), axis=-1)
    gradient = temperature * (p_student - p_teacher) / len(p_teacher)
    return float(temperature**2 * kl.mean()), float(np.linalg.norm(gradient))


def _loss_and_gradient(loss_fn, teacher_logits, student_logits):
    student = tf.Variable(np.asarray(student_logits, np.float32))
    teacher = tf.constant(np.asarray(teacher_logits, np.float32))
    with tf.GradientTape() as tape:
        loss = loss_fn(teacher, student)
    gradient = tape.gradient(loss, student)
    return float(loss), float(tf.norm(gradient))


def loss_cases(seed):
    """Teacher and student logits that expose how each loss behaves."""
    rng = np.random.default_rng(seed)
    teacher = rng.normal(0.0, 3.0, (256, 2))
    return {
        "random logits, 256 x 2": (teacher, rng.normal(0.0, 1.0, (256, 2))),
        "student = teacher": (teacher, teacher),
        "negative logits, opposite classes": ([[-1.0, -4.0]], [[-4.0, -1.0]]),
        "student = teacher + 4 (same softmax)": ([[2.0, 1.0]], [[6.0, 5.0]]),
    }


def compare_losses(report):
    temperature = FLAGS.temperature
    contenders = {
        "ours": lambda t, s: keras.ops.mean(losses.soft_target_kl(t, s, temperature)),
        "keras_kl": keras.distillation.LogitsDistillation(
            temperature=temperature, loss=keras.losses.KLDivergence()
        ).compute_loss,
        "keras_default": keras.distillation.LogitsDistillation(
            temperature=temperature
        ).compute_loss,
    }
    records = []
    for case, (teacher, student) in loss_cases(FLAGS.seed).items():
        record = {"case": case}
        record["loss_reference"], record["gradient_reference"] = reference_loss_and_gradient(
            teacher, student, temperature
        )
        for name, loss_fn in contenders.items():
            record[f"loss_{name}"], record[f"gradient_{name}"] = _loss_and_gradient(
                loss_fn, teacher, student
            )
        records.append(record)
    for quantity, title in (("loss", "loss"), ("gradient", "norm of d loss / d student logits")):
        report.table(
            f"{quantity}_on_fixed_logits",
            f"(a) Distillation {title} at T={temperature:g} "
            "(NumPy float64 reference = Hinton's T²·KL)",
            records,
            [
                ("case", "case", "{}"),
                (f"{quantity}_reference", "NumPy reference", "{:.6f}"),
                (f"{quantity}_ours", "tfdistill", "{:.6f}"),
                (f"{quantity}_keras_kl", "keras KLDivergence()", "{:.6f}"),
                (f"{quantity}_keras_default", "keras default", "{:.6f}"),
            ],
        )
    worst = max(abs(r["loss_ours"] - r["loss_reference"]) for r in records)
    report.note(f"Largest |tfdistill - reference| loss difference: {worst:.2e}.")
    report.note(
        'Keras\'s default LogitsDistillation(loss="kl_divergence") resolves to the '
        "function keras.losses.kl_divergence, which its special case for the "
        "KLDivergence class does not catch: it gets the tempered logits themselves, "
        "clipped to [1e-7, 1], with no softmax and no T². Negative logits all clip to "
        "the same value (loss and gradient 0 while the models disagree), and a shift of "
        "the logits, which changes no prediction, changes the loss (even below 0)."
    )


# --- (b) and (c): the same student trained each way. ---


def fresh_student(teacher):
    """The same 2-layer BERT student every time: same seed, same copied teacher layers."""
    keras.utils.set_random_seed(FLAGS.seed)
    return models.build_student(
        "small_bert", 2, teacher=teacher, sequence_length=FLAGS.sequence_length
    )


def keras_distiller(teacher, student, loss, sizes):
    distiller = keras.distillation.Distiller(
        teacher=teacher,
        student=student,
        distillation_losses=keras.distillation.LogitsDistillation(
            temperature=FLAGS.temperature, loss=loss
        ),
        student_loss_weight=FLAGS.alpha,
    )
    distiller.compile(
        optimizer=keras.optimizers.Adam(sizes.student_learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        jit_compile=FLAGS.jit_compile,
    )
    return distiller


def our_config(sizes):
    """The run config whose distilled student is tfdistill's contender: the flags'
    temperature, alpha and XLA, the sizes' learning rate."""
    settings = {
        "distillation.temperature": FLAGS.temperature,
        "distillation.alpha": FLAGS.alpha,
        "distillation.learning_rate": sizes.student_learning_rate,
        "runtime.jit_compile": FLAGS.jit_compile,
    }
    return common.config_with(RunConfig(), settings)


def build_contender(name, teacher, context, sizes):
    """A compiled distiller with a fresh student; ours as the pipeline compiles it in a
    run of `context` (`our_config`'s), with no teacher for cached logits."""
    student = fresh_student(teacher)
    if name == KERAS_DEFAULT:
        return keras_distiller(teacher, student.model, "kl_divergence", sizes)
    if name == KERAS_KL:
        return keras_distiller(teacher, student.model, keras.losses.KLDivergence(), sizes)
    cached = name == OURS_CACHED
    return students.make_trainer(context, DISTILLED, student, [teacher], cached=cached)


def compare_step_times(report, teacher, train, context, sizes):
    batches = data.encode(common.examples(train), teacher.preprocessor, batch_size=FLAGS.batch_size)
    x, y = next(iter(batches))
    cached_x = {"student": x, "teacher_logits": teacher(x, training=False)}
    contenders = {}
    for name in (KERAS_DEFAULT, KERAS_KL, OURS, OURS_CACHED):
        distiller = build_contender(name, teacher, context, sizes)
        batch_x = cached_x if name == OURS_CACHED else x
        contenders[name] = lambda d=distiller, bx=batch_x: d.train_on_batch(bx, y)
    times = common.interleaved_times(contenders, repeats=sizes.timing_repeats, warmup=2)
    reference = times[KERAS_DEFAULT]["median_s"]
    records = [
        {
            "distiller": name,
            "median_ms": 1000 * timing["median_s"],
            "min_ms": 1000 * timing["min_s"],
            "vs_keras_default": timing["median_s"] / reference,
            "times_s": timing["times_s"],
        }
        for name, timing in times.items()
    ]
    report.table(
        "step_times",
        f"(b) Train-step time, batch {FLAGS.batch_size} x {FLAGS.sequence_length} tokens, "
        f"median of {sizes.timing_repeats} interleaved steps, jit_compile={FLAGS.jit_compile}",
        records,
        [
            ("distiller", "distiller", "{}"),
            ("median_ms", "median ms", "{:.1f}"),
            ("min_ms", "min ms", "{:.1f}"),
            ("vs_keras_default", "/ keras default", common.times_format),
        ],
    )
    ours = times[OURS]["median_s"] / reference
    report.note(
        f"Teacher in the loop: tfdistill / keras = {ours:.2f}x "
        f"(target <= 1.0: {'met' if ours <= 1.0 else 'NOT met'}). "
        f"Cached logits: {times[OURS_CACHED]['median_s'] / reference:.2f}x of keras's step."
    )


def evaluate_student(model, test, preprocessor):
    batches = data.encode(common.examples(test), preprocessor, batch_size=64, cache=False)
    logits = data.predict_logits(model, batches, verbose=0)
    return evaluation.classification_metrics(test.labels, np.argmax(logits, axis=-1), 2)


def compare_accuracy(report, teacher, train, test, context, sizes):
    train_logits = data.predict_logits(
        teacher,
        data.encode(common.examples(train), teacher.preprocessor, batch_size=64, cache=False),
        verbose=0,
    )
    shuffled = {"batch_size": FLAGS.batch_size, "shuffle": True, "seed": FLAGS.seed}
    batches_with_inputs = data.encode(common.examples(train), teacher.preprocessor, **shuffled)
    # The same shuffle seed and size give the same order as the batches above.
    batches_with_logits = data.encode_for_distillation(
        common.examples(train),
        student_preprocessor=teacher.preprocessor,
        teacher_logits=train_logits,
        **shuffled,
    )
    teacher_scores = evaluate_student(teacher, test, teacher.preprocessor)
    records = [{"model": "teacher (reference)", **teacher_scores}]
    for name in (KERAS_DEFAULT, KERAS_KL, OURS_CACHED):
        distiller = build_contender(name, teacher, context, sizes)
        batches = batches_with_logits if name == OURS_CACHED else batches_with_inputs
        distiller.fit(batches, epochs=sizes.student_epochs, shuffle=False, verbose=0)
        scores = evaluate_student(distiller.student, test, teacher.preprocessor)
        records.append({"model": f"student: {name}", **scores})
    report.table(
        "test_accuracy",
        f"(c) Test accuracy of the student after {sizes.student_epochs} epoch(s) on "
        f"{len(train.texts)} training texts ({len(test.texts)} test texts)",
        records,
        [
            ("model", "model", "{}"),
            ("accuracy", "accuracy", "{:.2%}"),
            ("f1", "F1", "{:.3f}"),
        ],
    )
    report.note(
        "tfdistill trains on cached logits: the same teacher outputs, computed once; "
        "every student sees the batches in the same order."
    )


def load_finetuned_teacher(sizes):
    keras.utils.set_random_seed(FLAGS.seed)
    if FLAGS.teacher_dir:
        teacher = models.load_teacher(FLAGS.teacher_dir, sequence_length=FLAGS.sequence_length)
        return models.freeze(teacher), f"loaded from {FLAGS.teacher_dir}"
    teacher = models.load_teacher(sequence_length=FLAGS.sequence_length)
    train = common.default_split("train", sizes.teacher_train_examples)
    validation = common.default_split("validation", sizes.test_examples)
    models.finetune_teacher(
        teacher,
        common.examples(train).shuffle(len(train.texts), seed=FLAGS.seed).batch(FLAGS.batch_size),
        common.examples(validation).batch(FLAGS.batch_size),
        epochs=sizes.teacher_epochs,
        learning_rate=sizes.teacher_learning_rate,
        verbose=0,
    )
    return models.freeze(teacher), (
        f"packaged MiniLM fine-tuned for {sizes.teacher_epochs} epoch(s) on "
        f"{len(train.texts)} training texts"
    )


def benchmark(report):
    sizes = common.pick_sizes(report, FULL, QUICK)
    keras.config.set_dtype_policy("float32")  # Keras's Distiller needs equal dtypes.
    compare_losses(report)
    teacher, origin = load_finetuned_teacher(sizes)
    report.note(f"\nTeacher: {origin}.")
    train = common.default_split("train", sizes.student_train_examples)
    test = common.default_split("test", sizes.test_examples)
    with tempfile.TemporaryDirectory() as run_dir:
        context = RunContext.create(our_config(sizes), run_dir)
        compare_step_times(report, teacher, train, context, sizes)
        compare_accuracy(report, teacher, train, test, context, sizes)


if __name__ == "__main__":
    common.main(__doc__, benchmark)
