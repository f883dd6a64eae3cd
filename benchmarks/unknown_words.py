"""How many words of each test set can a word-level student not read, with its own
vocabulary and with the teacher's whole words added (`student.sizes.teacher_words`)?

    .venv/bin/python benchmarks/unknown_words.py [--quick] [--vocabulary_size=15000]

Builds a BiLSTM vocabulary from the `rotten_tomatoes` training texts alone (the
`vocabulary_size - 2` most frequent words), and the same followed by the packaged
MiniLM teacher's whole words (the default config's, `teacher_words`), then counts, per
test set, the share of its words (after the student's standardization: lowercase, no
punctuation) that each vocabulary lacks, and the share of texts with at least one. No
model runs, so the figures do not depend on the machine. The teacher reads every one of
these words, as word pieces. `--quick` reads the first 200 texts of each set.
"""

import common
from absl import flags

from tfdistill import data
from tfdistill.data.word_ids import WordIds
from tfdistill.models.teachers import load_teacher_tokenizer
from tfdistill.models.word_vectors import whole_words

flags.DEFINE_integer("vocabulary_size", 15_000, "The student's vocabulary size (the default config's).")
FLAGS = flags.FLAGS

SETS = ("rotten_tomatoes", "drug_reviews", "vader_amazon_reviews", "vader_tweets", "vader_nyt_editorials")
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


if __name__ == "__main__":
    common.main(__doc__, benchmark)
