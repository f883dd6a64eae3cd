"""The stable hash split and de-duplication that sources without fixed splits share.

A source whose data has no train/validation/test split of its own (Rotten Tomatoes,
a single local file) de-duplicates its texts with `deduplicate`, then takes one split
with `split_indices`: a stratified 80/10/10 split decided by a SHA-256 hash of each
text, so it never changes between versions or machines. Tagged sentences (the
bundled tweets, a single CoNLL file) take theirs with `split_sentences`, which
applies the same de-duplication and sends each sentence to the split its own hash
falls in.

Example:

>>> texts, labels, num_repeats, num_conflicting = deduplicate(
...     ["fine", "dull", "fine", "odd", "odd"], [1, 0, 1, 0, 1]
... )
>>> texts.tolist(), labels.tolist(), num_repeats, num_conflicting
(['fine', 'dull'], [1, 0], 1, 1)
"""

import collections
import hashlib

import numpy as np

# Each split's [start, stop) fraction of every label's texts.
SPLIT_FRACTIONS = {"train": (0.0, 0.8), "validation": (0.8, 0.9), "test": (0.9, 1.0)}


def _text_hash(text, salt=b""):
    """A stable 64-bit number for a text: the same on every machine and run."""
    digest = hashlib.sha256(salt + text.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big")


def split_indices(texts, labels, split):
    """Indices of the examples of `split` in a stratified 80/10/10 hash split.

    Within each label, texts are ordered by their SHA-256 hash and cut at
    80% and 90%. Membership depends only on the set of (text, label) pairs,
    never on their order, the machine or the library version. `texts` must be
    unique, or copies of a text could straddle a cut.

    Args:
        texts: a numpy array of unique `str` texts.
        labels: a numpy array of their integer labels.
        split: `"train"`, `"validation"` or `"test"`.

    Returns:
        Indices into `texts`, ordered by a second, salted hash. Ordering by the
        hash that made the cuts would not mix the labels: each label's cut lands
        at a slightly different hash, so a split would open with a run of one
        label (the first 64 validation texts were all positive).

    Raises:
        ValueError: for any other split name.

    Example:

    >>> texts = np.array([f"review {i}" for i in range(20)], dtype=object)
    >>> labels = np.array([0, 1] * 10)
    >>> [len(split_indices(texts, labels, split)) for split in SPLIT_FRACTIONS]
    [16, 2, 2]
    """
    start_fraction, stop_fraction = _fractions(split)
    hashes = np.array([_text_hash(text) for text in texts], dtype=np.uint64)
    selected = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        members = members[np.argsort(hashes[members], kind="stable")]
        start = int(len(members) * start_fraction)
        stop = int(len(members) * stop_fraction)
        selected.append(members[start:stop])
    selected = np.concatenate(selected) if selected else np.array([], int)
    return _in_hash_order(selected, texts)


def split_sentences(words, tags, split):
    """Indices of `split`'s tagged sentences: de-duplicated, then an 80/10/10 hash split.

    A sentence is its words, and its tags are its label: `deduplicate` keeps the
    first copy of a repeated sentence and drops every copy of one tagged in two
    ways. Each kept sentence goes to the split in whose `SPLIT_FRACTIONS` range its
    SHA-256 hash (as a fraction of 2**64) falls. So a kept sentence's split depends
    on its words alone, never on the order, the other sentences, the machine or the
    library version, and adding sentences moves none; unlike `split_indices`,
    which cuts at ranks, the fractions are only about 80/10/10.

    Args:
        words: each sentence's words, a sequence of sequences of `str`.
        tags: each sentence's tags, likewise.
        split: `"train"`, `"validation"` or `"test"`.

    Returns:
        `(indices, num_repeats, num_conflicting)`: indices into `words` in a
        salted hash order, as `split_indices` gives them; the number of dropped
        repeated copies and of sentences dropped for conflicting tags.

    Example:

    >>> words = [["hi", f"user{i}"] for i in range(30)] + [["hi", "user0"]]
    >>> tags = [["O", "O"]] * 31
    >>> parts = [split_sentences(words, tags, split) for split in SPLIT_FRACTIONS]
    >>> [len(indices) for indices, _, _ in parts], parts[0][1]
    ([26, 2, 2], 1)
    """
    start_fraction, stop_fraction = _fractions(split)
    # Tokens hold no tab (read_conll splits tab-separated lines on them), so two
    # sentences have the same key only if they have the same words.
    keys = ["\t".join(sentence) for sentence in words]
    tag_sequence_ids = {}
    labels = [
        tag_sequence_ids.setdefault(tuple(sentence), len(tag_sequence_ids)) for sentence in tags
    ]
    kept_keys, _, num_repeats, num_conflicting = deduplicate(keys, labels)
    first_index = {}
    for index, key in enumerate(keys):
        first_index.setdefault(key, index)
    selected = np.array(
        [
            first_index[key]
            for key in kept_keys
            if start_fraction <= _text_hash(key) / 2**64 < stop_fraction
        ],
        dtype=int,
    )
    return _in_hash_order(selected, keys), num_repeats, num_conflicting


def _fractions(split):
    if split not in SPLIT_FRACTIONS:
        raise ValueError(
            f"Unknown split {split!r}: expected one of {list(SPLIT_FRACTIONS)}."
        )
    return SPLIT_FRACTIONS[split]


def hash_order(texts):
    """Indices of all `texts` in the salted hash order that `split_indices` gives a
    split, for a source whose whole file is one split: its labels come interleaved,
    so the first N (a run's `data.max_examples`) are a fair sample of the file.

    >>> hash_order(np.array(["a", "b", "c"], dtype=object)).tolist()
    [0, 2, 1]
    """
    return _in_hash_order(np.arange(len(texts)), texts)


def unique_in_hash_order(texts):
    """`texts` as an unlabelled source gives them: each whitespace run one space, empty
    ones dropped, each kept once, in the salted hash order of `hash_order`.

    >>> unique_in_hash_order(["b  c", "", "a", "b c"])
    ('a', 'b c')
    """
    cleaned = (" ".join(text.split()) for text in texts)
    unique = list(dict.fromkeys(text for text in cleaned if text))
    return tuple(unique[i] for i in hash_order(unique))


def in_second_half(keys):
    """Whether each of `keys` (e.g. document ids) falls in the second of two halves
    cut by a salted hash of the key: stable across machines and versions, and the
    same for every text that shares a key.

    >>> in_second_half(np.array(["1", "2", "3", "1"], dtype=object)).tolist()
    [True, False, True, True]
    """
    return np.array([_text_hash(str(key), salt=b"halves") % 2 == 1 for key in keys], dtype=bool)


def _in_hash_order(selected, texts):
    """`selected` ordered by a salted hash of their texts (see `split_indices`)."""
    order = np.array([_text_hash(texts[i], salt=b"order") for i in selected], np.uint64)
    return selected[np.argsort(order, kind="stable")]


def deduplicate(texts, labels):
    """Keeps the first copy of each text; drops every copy of a text that
    appears with different labels, since no label would be right for it.

    Returns:
        `(texts, labels, num_repeats, num_conflicting)`: numpy arrays, the
        number of dropped repeated copies and of dropped conflicting texts.
    """
    label_sets = collections.defaultdict(set)
    for text, label in zip(texts, labels):
        label_sets[text].add(int(label))
    conflicting = {text for text, found in label_sets.items() if len(found) > 1}
    kept = {}
    for text, label in zip(texts, labels):
        if text not in conflicting:
            kept.setdefault(text, label)
    num_repeats = sum(text not in conflicting for text in texts) - len(kept)
    return (
        np.array(list(kept), dtype=object),
        np.array(list(kept.values()), dtype=np.int32),
        num_repeats,
        len(conflicting),
    )
