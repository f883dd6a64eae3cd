"""Out of domain (#18): do the words no transfer text held read worse because their
vectors stayed where the teacher's put them while the trained words' vectors moved?

    .venv/bin/python benchmarks/vocabulary_expansion.py --run_dir=runs/demo \
        [--run_dir=runs/other ...] [--quick] [--ridge=1.0]

A word-level student started from the teacher's word vectors (`init_from_teacher`)
trains only the rows of the words its transfer set holds; with `teacher_words` a third
of its vocabulary never reaches a batch, and those rows keep their start vectors, while
the others moved during training. Vocabulary expansion (Kiros et al. 2015, "Skip-Thought
Vectors") maps the start space onto the trained one with a linear map fitted on the
words that moved, and applies it to the words that did not.

For each finished run of such a student, this script recomputes the start vectors (the
teacher's last layer per word, `tfdistill.models.word_vectors`, under the run's teacher
dtype policy), finds the rows of the trained table still equal to them to the last bit
(a run from another CPU kind reproduces none, and is reported as such), fits the map
(ridge, with a bias) from the teacher's full-width vectors of the moved words to their
trained rows, writes its image into the untouched rows, and scores the distilled
student before and after on the test split and the run's `data.extra_test` sets, each
as accuracy and as its share of the teacher's (read from `metrics.json`). The teacher
pass over the vocabulary takes about 3 minutes on 2 CPU cores; `--quick` scores the
first 200 texts of each set.
"""

import json
import pathlib

import common
import keras
import numpy as np
import tensorflow as tf
from absl import flags

from tfdistill import data
from tfdistill import models
from tfdistill.models.word_vectors import last_layer_means
from tfdistill.models.word_vectors import principal_projection
from tfdistill.run import config as run_config
from tfdistill.run.context import RunContext
from tfdistill.run.layout import DISTILLED
from tfdistill.run.layout import TEACHER
from tfdistill.run.layout import RunLayout
from tfdistill.run.layout import student_name
from tfdistill.run.precision import dtype_policy

flags.DEFINE_multi_string("run_dir", None, "A finished run of a word-level student; repeat for more.")
flags.mark_flag_as_required("run_dir")
flags.DEFINE_float("ridge", 1.0, "The ridge penalty of the fitted map.")
FLAGS = flags.FLAGS

# Padding and out-of-vocabulary come first in the table; they start at zero, not
# from the teacher.
_NON_WORD_IDS = 2
_QUICK_TEXTS = 200


def expansion(teacher, preprocessor, table, ridge):
    """`(expanded table, untouched rows, R^2 of the map on the moved rows)`."""
    words = preprocessor.get_vocabulary()[_NON_WORD_IDS:]
    means = last_layer_means(teacher, words)
    start = principal_projection(means, table.shape[1], fitted=means.any(axis=1)).astype(table.dtype)
    trained = table[_NON_WORD_IDS:]
    untouched = np.all(trained == start, axis=1)
    inputs = np.concatenate([means, np.ones((len(means), 1))], axis=1)
    moved_inputs, moved = inputs[~untouched], trained[~untouched].astype(np.float64)
    weights = np.linalg.solve(
        moved_inputs.T @ moved_inputs + ridge * np.eye(inputs.shape[1]), moved_inputs.T @ moved
    )
    fitted = moved_inputs @ weights
    r2 = 1 - ((fitted - moved) ** 2).sum() / ((moved - moved.mean(axis=0)) ** 2).sum()
    expanded = table.copy()
    expanded[_NON_WORD_IDS:][untouched] = (inputs[untouched] @ weights).astype(table.dtype)
    return expanded, untouched, r2


def _sets(context, limit):
    """`(name, texts, labels)` of the test split and each extra test set."""
    test = context.splits["test"]
    yield "test", test.texts[:limit], np.asarray(test.labels)[:limit]
    for source in context.config.data.extra_test:
        dataset, _ = data.load(source, "test")
        texts, labels = zip(*dataset.as_numpy_iterator())
        yield source, list(texts)[:limit], np.asarray(labels)[:limit]


def _teacher_accuracy(metrics, name):
    scores = metrics["models"] if name == "test" else metrics["extra_test"][name]["models"]
    return scores[TEACHER]["accuracy"]


def score_run(report, run_dir, limit, rows):
    """The run's rows of the table; `rows[run_dir]` gets how many rows were mapped."""
    layout = RunLayout(run_dir)
    config = run_config.load(layout.config)
    context = RunContext.create(config, run_dir)
    metrics = json.loads(layout.metrics.read_text(encoding="utf-8"))
    name = student_name(config, DISTILLED)
    student = models.load_student(layout.student(name), kind=config.student.kind)
    with dtype_policy(context.teacher_policy):
        teacher = models.load_teacher(
            layout.teacher(), len(context.class_names), sequence_length=config.teacher.sequence_length
        )
    embedding = student.model.get_layer("token_embedding")
    table = embedding.get_weights()[0]
    expanded, untouched, r2 = expansion(teacher, student.preprocessor, table, FLAGS.ridge)
    report.note(
        f"{run_dir}: {untouched.sum():,} of {len(untouched):,} word rows never moved from "
        f"their start vectors; the map fits the moved ones with R^2 = {r2:.3f}."
    )
    rows[str(run_dir)] = {"words": len(untouched), "untouched": int(untouched.sum()), "r2": r2}
    if not untouched.any():
        report.note(f"{run_dir}: no row matches its start vector: not a run of this CPU kind?")
        return []
    records = []
    for set_name, texts, labels in _sets(context, limit):
        inputs = student.preprocessor(tf.constant(texts))
        accuracies = {}
        for variant, weights in (("trained", table), ("expanded", expanded)):
            embedding.set_weights([weights])
            logits = student.model.predict(inputs, batch_size=512, verbose=0)
            accuracies[variant] = float(np.mean(np.argmax(logits, axis=-1) == labels))
        teacher_accuracy = _teacher_accuracy(metrics, set_name)
        records.append({
            "run": pathlib.Path(run_dir).name, "set": set_name, "texts": len(texts),
            **accuracies, "gain": 100 * (accuracies["expanded"] - accuracies["trained"]),
            "kept_trained": accuracies["trained"] / teacher_accuracy,
            "kept_expanded": accuracies["expanded"] / teacher_accuracy,
        })
    embedding.set_weights([table])
    keras.backend.clear_session()
    return records


def benchmark(report):
    limit = _QUICK_TEXTS if FLAGS.quick else None
    rows = {}
    records = [record for run_dir in FLAGS.run_dir for record in score_run(report, run_dir, limit, rows)]
    report.record("rows", rows)
    report.table("expansion", f"The distilled student as trained and with its untouched rows "
                 f"mapped (ridge {FLAGS.ridge})", records, [
        ("run", "run", "{}"), ("set", "set", "{}"), ("texts", "texts", "{}"),
        ("trained", "trained", "{:.2%}"), ("expanded", "expanded", "{:.2%}"),
        ("gain", "gain (points)", "{:+.2f}"),
        ("kept_trained", "kept, trained", "{:.1%}"), ("kept_expanded", "kept, expanded", "{:.1%}"),
    ])


if __name__ == "__main__":
    common.main(__doc__, benchmark)
