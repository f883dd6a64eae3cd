"""How many words of each test set can a word-level student not read, with its own
vocabulary and with the teacher's whole words added (`student.sizes.teacher_words`)?

    .venv/bin/python benchmarks/unknown_words.py [--quick] [--vocabulary_size=15000] \
        [--run_dir=runs/demo]

Builds a BiLSTM vocabulary from the `rotten_tomatoes` training texts alone (the
`vocabulary_size - 2` most frequent words), and the same followed by the packaged
MiniLM teacher's whole words (the default config's, `teacher_words`), then counts, per
test set, the share of its words (after the student's standardization: lowercase, no
punctuation) that each vocabulary lacks, and the share of texts with at least one. No
model runs, so the figures do not depend on the machine. The teacher reads every one of
these words, as word pieces. `--quick` reads the first 200 texts of each set.

With `--run_dir` (a finished run of a word-level student), a second table gives what
`tfdistill predict` reports with that run's distilled student on each of those test
sets, on unlabelled English unlike them (the Guardian headlines and the 2016 debates
of `scattertext`), and on two files of that wheel read as a user's `predict` reads
them: Hamlet (`hamlet.txt`, one line a row) and a Chinese novel (`chinese.csv`,
`--text_column=text`): the words its preprocessor reads, the share it lacks
(`tfdistill.data.unknown_words`, as predict counts them), and whether predict warns.
"""

import pathlib

import common
import numpy as np
import tensorflow as tf
from absl import flags

from tfdistill import data
from tfdistill import predict
from tfdistill.data.sources import packaged_file
from tfdistill.data.sources.scattertext_texts import WHEEL as SCATTERTEXT
from tfdistill.data.unknown_words import counts_unknown_words
from tfdistill.data.unknown_words import unknown_word_counts
from tfdistill.data.word_ids import WordIds
from tfdistill.models.teachers import load_teacher_tokenizer
from tfdistill.models.students.saving import load_preprocessor
from tfdistill.models.word_vectors import whole_words

flags.DEFINE_integer("vocabulary_size", 15_000, "The student's vocabulary size (the default config's).")
flags.DEFINE_string("run_dir", None, "A finished run of a word-level student: also what predict reports with it.")
FLAGS = flags.FLAGS

SETS = ("rotten_tomatoes", "drug_reviews", "vader_amazon_reviews", "vader_tweets", "vader_nyt_editorials")
UNLABELLED_SETS = ("guardian_headlines", "presidential_debates")
# Files of the scattertext wheel's data/ folder, read by predict's rules: (file, column).
PREDICT_FILES = (("hamlet.txt", None), ("chinese.csv", "text"))
_QUICK_TEXTS = 200


def _texts(source, split, limit=None):
    dataset, _ = data.load(source, split)
    if limit:
        dataset = dataset.take(limit)
    return [text for text, _ in dataset.as_numpy_iterator()]


def _unknown_shares(texts, words_of, vocabulary):
    """`(share of words, share of texts with one)` that `vocabulary` lacks."""
    known = {str(word).encode("utf-8") for word in vocabulary}
    per_text = [[word not in known for word in words_of(text)] for text in texts]
    words = [unknown for text in per_text for unknown in text]
    return sum(words) / max(len(words), 1), sum(any(text) for text in per_text) / len(texts), len(words)


def benchmark(report):
    train = [text.decode() for text in _texts("rotten_tomatoes", "train")]
    own = data.build_vectorizer(train, FLAGS.vocabulary_size, 64)
    tokenizer, _ = load_teacher_tokenizer()
    extra = whole_words(tokenizer)
    wide = data.build_vectorizer(train, FLAGS.vocabulary_size, 64, extra_words=extra)
    words_of = WordIds.from_vectorizer(own).words
    records = []
    for source in SETS:
        texts = _texts(source, "test", _QUICK_TEXTS if FLAGS.quick else None)
        own_words, own_texts, count = _unknown_shares(texts, words_of, own.get_vocabulary())
        wide_words, wide_texts, _ = _unknown_shares(texts, words_of, wide.get_vocabulary())
        records.append({
            "set": source, "texts": len(texts), "words": count,
            "own_words": own_words, "own_texts": own_texts,
            "wide_words": wide_words, "wide_texts": wide_texts,
        })
    sizes = f"{own.vocabulary_size()} and {wide.vocabulary_size()} ids"
    report.table("unknown_words", f"Unknown to the student, test splits (vocabularies of {sizes})", records, [
        ("set", "set", "{}"), ("texts", "texts", "{}"), ("words", "words", "{}"),
        ("own_words", "unknown words", "{:.1%}"), ("own_texts", "texts with one", "{:.1%}"),
        ("wide_words", "+teacher: unknown words", "{:.1%}"),
        ("wide_texts", "+teacher: texts with one", "{:.1%}"),
    ])
    if FLAGS.run_dir:
        predicted_unknown_words(report, FLAGS.run_dir, _QUICK_TEXTS if FLAGS.quick else None)


def _predict_sets(limit):
    """`(name, texts)` of every set the run's student is counted on."""
    for source in SETS:
        yield source, [text.decode() for text in _texts(source, "test", limit)]
    for source in UNLABELLED_SETS:
        yield source, list(data.load_texts(source))[:limit]
    for name, column in PREDICT_FILES:
        rows = predict.read_rows(packaged_file(name, SCATTERTEXT, "data", name), column or "text")
        yield name, [row.text for row in rows if row.error is None][:limit]


def predicted_unknown_words(report, run_dir, limit):
    """The table of what `tfdistill predict` reports with `run_dir`'s student."""
    student = next(pathlib.Path(run_dir, "students").glob("*_distilled"))
    preprocessor = load_preprocessor(student)
    if not counts_unknown_words(preprocessor):
        report.note(f"{student} reads word pieces: no word is unknown to it, nothing to count.")
        return
    records = []
    for name, texts in _predict_sets(limit):
        counts = unknown_word_counts(preprocessor(tf.constant(texts)))
        summary = {"words": int(np.sum(counts["words"])), "unknown_words": int(np.sum(counts["unknown_words"]))}
        records.append({
            "set": name, "rows": len(texts), "words": summary["words"],
            "unknown": summary["unknown_words"] / summary["words"],
            "warned": "yes" if predict.unknown_words_warning(summary) else "no",
        })
    report.table("predicted", f"What predict reports with {student} (warning above "
                 f"{predict.UNKNOWN_WORDS_WARNING_SHARE:.0%} unknown)", records, [
        ("set", "set", "{}"), ("rows", "rows", "{}"), ("words", "words read", "{}"),
        ("unknown", "unknown", "{:.1%}"), ("warned", "warned", "{}"),
    ])


if __name__ == "__main__":
    common.main(__doc__, benchmark)
