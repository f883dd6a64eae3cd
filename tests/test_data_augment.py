"""Tests for tfdistill.data.augment and the mask token of word-student vectorizers."""

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from tfdistill import data
from tfdistill.data import augment

NO_PERTURBATION = {
    "mask_probability": 0.0,
    "replace_probability": 0.0,
    "ngram_probability": 0.0,
}
REVIEWS = [
    "A gripping, moving film.",
    "Dull and far too long.",
    "The cast is good but the script is bad -- very bad.",
    "Funny.",
]

# Whole words on three axes ("good" things, "film" things, "bad"), with special
# and subword tokens that would be their nearest neighbours if they counted.
TINY_VOCABULARY = (
    ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[unused0]"]
    + ["good", "great", "fine", "##ly", "bad", "a", "film", "movie", "42"]
)
TINY_EMBEDDINGS = np.array(
    [
        [0.0, 0.0, 0.0, 0.0],
        [1.0, 0.1, 0.0, 0.0],
        [1.0, 0.1, 0.0, 0.0],
        [1.0, 0.1, 0.0, 0.0],
        [1.0, 0.1, 0.0, 0.0],
        [1.0, 0.1, 0.0, 0.0],
        [1.0, 0.1, 0.0, 0.0],  # good
        [1.0, 0.2, 0.0, 0.0],  # great: 5.6 degrees from good
        [1.0, 0.4, 0.0, 0.0],  # fine: 16.1 degrees from good, 10.5 from great
        [1.0, 0.1, 0.0, 0.0],
        [-1.0, 0.0, 0.0, 0.0],  # bad: opposite to good
        [1.0, 0.1, 0.0, 0.0],
        [0.0, 0.0, 1.0, 0.0],  # film
        [0.0, 0.0, 1.0, 0.1],  # movie
        [0.0, 0.0, 1.0, 0.0],
    ]
)
TINY_NEIGHBOURS = {
    "good": ["great", "fine"],
    "great": ["good", "fine"],
    "fine": ["great", "good"],
    "film": ["movie"],
    "movie": ["film"],
}


def augment_with(texts, factor=4, **overrides):
    """`augment_texts` with no perturbation but the ones in `overrides`."""
    return data.augment_texts(texts, factor=factor, **{**NO_PERTURBATION, **overrides})


def ngrams_of(text, max_length):
    words = text.split()
    return {
        " ".join(words[start : start + length])
        for length in range(1, max_length + 1)
        for start in range(len(words) - length + 1)
    }


def test_mask_probability_one_masks_every_word_and_keeps_punctuation():
    augmented = augment_with(
        ["A gripping, moving film.", "Wow -- (great)"], mask_probability=1.0
    )
    assert augmented == ["[MASK] [MASK], [MASK] [MASK].", "[MASK] [MASK] ([MASK])"]
    assert augment_with(["good film"], mask_probability=1.0, mask_token="<mask>") == [
        "<mask> <mask>"
    ]


def test_replace_probability_one_replaces_exactly_the_words_with_neighbours():
    neighbours = {"good": ["great", "fine"], "film": ["movie"], "unused": ["x"]}
    augmented = augment_with(
        ["The Good, bad film"],
        factor=10,
        replace_probability=1.0,
        neighbours=neighbours,
    )
    assert sorted(augmented) == ["The fine, bad movie", "The great, bad movie"]


def test_words_are_masked_or_replaced_with_the_given_probabilities():
    words = [f"w{i}" for i in range(200)]
    augmented = augment_with(
        [" ".join(words)],
        factor=10,
        mask_probability=0.2,
        replace_probability=0.3,
        neighbours={word: ["other"] for word in words},
    )
    outcomes = np.array([text.split() for text in augmented])
    assert outcomes.shape == (10, 200)
    assert np.mean(outcomes == "[MASK]") == pytest.approx(0.2, abs=0.03)
    assert np.mean(outcomes == "other") == pytest.approx(0.3, abs=0.03)


def test_ngram_probability_one_gives_contiguous_ngrams_up_to_max_ngram():
    source = "one two three four five six seven eight"
    augmented = augment_with([source], factor=60, ngram_probability=1.0, max_ngram=3)
    assert set(augmented) <= ngrams_of(source, 3)
    assert {len(text.split()) for text in augmented} == {1, 2, 3}
    # An n-gram as long as the text is the text itself, so no new text.
    assert set(augment_with(["too short"], factor=20, ngram_probability=1.0)) == {
        "too",
        "short",
    }


def test_copies_are_new_texts_at_most_factor_per_text():
    augmented = data.augment_texts(REVIEWS, factor=5, seed=0)
    assert 0 < len(augmented) <= 5 * len(REVIEWS)
    assert len(set(augmented)) == len(augmented)
    assert not set(augmented) & set(REVIEWS)
    assert data.augment_texts(REVIEWS, factor=0) == []


def test_copy_numbers_count_each_texts_copies_and_skip_dropped_ones():
    long_texts = [" ".join(f"w{i}{j}" for j in range(30)) for i in range(2)]
    texts, numbers = augment_with(long_texts, factor=4, mask_probability=0.5, return_copy_numbers=True)
    assert texts == augment_with(long_texts, factor=4, mask_probability=0.5)
    assert numbers.tolist() == [0, 1, 2, 3, 0, 1, 2, 3]
    # Copy 1 repeats copy 0 and is dropped; the next text's copies count from 0.
    texts, numbers = augment_with(
        ["good film", *long_texts[:1]], factor=2, mask_probability=1.0, return_copy_numbers=True
    )
    assert texts == ["[MASK] [MASK]", " ".join(["[MASK]"] * 30)]
    assert numbers.tolist() == [0, 0]


def test_copies_equal_to_an_original_up_to_whitespace_are_dropped():
    assert augment_with(["a  good film"], factor=3) == []
    neighbours = {"good": ["great"]}
    assert augment_with(
        ["good film", "great film"], replace_probability=1.0, neighbours=neighbours
    ) == []


def test_augmentation_is_deterministic_for_a_seed():
    first = data.augment_texts(REVIEWS, factor=5, seed=3)
    assert data.augment_texts(REVIEWS, factor=5, seed=3) == first
    assert data.augment_texts(REVIEWS, factor=5, seed=4) != first
    # Pinned, so that a change of the random stream, which would change every
    # augmented transfer set and its cached logits, is noticed.
    assert data.augment_texts(["A gripping, moving film."], factor=3, seed=1) == [
        "film.",
        "A [MASK], moving film.",
    ]


def test_empty_and_one_word_texts():
    assert data.augment_texts(["", "   "], factor=5) == []
    assert augment_with(["Great!"], mask_probability=1.0) == ["[MASK]!"]
    assert augment_with(["Great!"], ngram_probability=1.0) == []
    assert augment_with(
        ["Great!"], replace_probability=1.0, neighbours={"great": ["superb"]}
    ) == ["superb!"]


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"factor": -1}, "factor must be an int >= 0, got -1"),
        ({"factor": 2.5}, "factor must be an int >= 0, got 2.5"),
        ({"factor": 2, "max_ngram": 0}, "max_ngram must be an int >= 1"),
        (
            {"factor": 2, "ngram_probability": 1.5},
            r"ngram_probability must be in \[0, 1\]",
        ),
        (
            {"factor": 2, "mask_probability": 0.6, "replace_probability": 0.6},
            "at most 1, got 0.6 \\+ 0.6",
        ),
    ],
)
def test_bad_augment_arguments_are_rejected(arguments, message):
    with pytest.raises(ValueError, match=message):
        data.augment_texts(REVIEWS, **arguments)


def test_texts_must_be_strings():
    with pytest.raises(ValueError, match="text 1 is a bytes"):
        data.augment_texts(["good", b"bad"], factor=1)


def test_embedding_neighbours_are_the_nearest_whole_words():
    neighbours = data.embedding_neighbours(
        TINY_VOCABULARY, TINY_EMBEDDINGS, k=2, min_similarity=0.5
    )
    assert neighbours == TINY_NEIGHBOURS


def test_embedding_neighbours_without_a_threshold_and_in_blocks(monkeypatch):
    everything = data.embedding_neighbours(
        TINY_VOCABULARY, TINY_EMBEDDINGS, k=10, min_similarity=-1.0
    )
    assert set(everything) == {"good", "great", "fine", "bad", "film", "movie"}
    assert everything["good"][:2] == ["great", "fine"]
    assert everything["bad"][-1] == "good"  # the least similar: opposite
    assert all(len(words) == 5 for words in everything.values())
    # Blocks of two rows compare every row with the same words.
    monkeypatch.setattr(augment, "_NEIGHBOUR_BLOCK_SIZE", 2)
    assert (
        data.embedding_neighbours(
            TINY_VOCABULARY, TINY_EMBEDDINGS, k=10, min_similarity=-1.0
        )
        == everything
    )


def test_equally_similar_neighbours_come_in_vocabulary_order():
    neighbours = data.embedding_neighbours(
        ["aa", "cc", "bb"],
        [[1.0, 0.0], [1.0, 1.0], [1.0, 1.0]],
        k=2,
        min_similarity=0.0,
    )
    assert neighbours["aa"] == ["cc", "bb"]


def test_embedding_neighbours_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"\[15, dim\], got \(14, 4\)"):
        data.embedding_neighbours(TINY_VOCABULARY, TINY_EMBEDDINGS[:-1])
    with pytest.raises(ValueError, match="k must be an int >= 1, got 0"):
        data.embedding_neighbours(TINY_VOCABULARY, TINY_EMBEDDINGS, k=0)
    assert data.embedding_neighbours(["good", "##s"], np.ones((2, 3))) == {}


def tiny_bert_classifier(preprocessor=True):
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=len(TINY_VOCABULARY),
        num_layers=1,
        num_heads=1,
        hidden_dim=TINY_EMBEDDINGS.shape[1],
        intermediate_dim=8,
        max_sequence_length=8,
    )
    backbone.token_embedding.embeddings.assign(TINY_EMBEDDINGS)
    if preprocessor:
        tokenizer = keras_hub.models.BertTokenizer(
            vocabulary=TINY_VOCABULARY, lowercase=True
        )
        preprocessor = keras_hub.models.BertTextClassifierPreprocessor(
            tokenizer, sequence_length=8
        )
    else:
        preprocessor = None
    return keras_hub.models.BertTextClassifier(
        backbone, num_classes=2, preprocessor=preprocessor
    )


def test_teacher_neighbours_reads_the_tokenizer_and_token_embeddings():
    neighbours = data.teacher_neighbours(
        tiny_bert_classifier(), k=2, min_similarity=0.5
    )
    assert neighbours == TINY_NEIGHBOURS
    with pytest.raises(ValueError, match="has no preprocessor"):
        data.teacher_neighbours(tiny_bert_classifier(preprocessor=False))


@pytest.mark.slow
def test_real_teacher_neighbours_are_plausible():
    # No time limit here: a test shares its cores (65 s for what takes 5 s on quiet ones).
    from tfdistill.models import load_teacher

    teacher = load_teacher()
    neighbours = data.teacher_neighbours(teacher, k=10)
    assert 15_000 < len(neighbours) < 21_722  # 18,019 of the 21,722 whole words
    assert {"great", "excellent", "nice"} <= set(neighbours["good"])
    assert {"horrible", "awful", "dreadful"} <= set(neighbours["terrible"])
    assert {"hilarious", "humorous"} <= set(neighbours["funny"])
    words = set(neighbours).union(*neighbours.values())
    assert all(word.isalpha() and len(word) >= 2 for word in words)


def test_vectorizer_maps_the_mask_token_to_out_of_vocabulary():
    vectorizer = data.build_vectorizer(
        ["a mask film", "the [MASK] of a film"], sequence_length=5
    )
    vocabulary = vectorizer.get_vocabulary()
    assert "mask" in vocabulary and "[mask]" not in vocabulary
    ids = {word: vocabulary.index(word) for word in ("a", "film", "mask")}
    assert vectorizer(tf.constant(["a [MASK] film", "A [mask], film!", "a mask film"])
    ).numpy().tolist() == [
        [ids["a"], 1, ids["film"], 0, 0],
        [ids["a"], 1, ids["film"], 0, 0],
        [ids["a"], ids["mask"], ids["film"], 0, 0],
    ]


def test_the_mask_token_stays_out_of_vocabulary_after_saving(tmp_path):
    vectorizer = data.build_vectorizer(["a mask film"], sequence_length=4)
    model = keras.Sequential([keras.Input((1,), dtype="string"), vectorizer])
    texts = tf.constant([["a [MASK] film"], ["a mask film"]])
    expected = model(texts).numpy()
    assert expected[0, 1] == 1 and expected[1, 1] > 1

    model.save(tmp_path / "vectorizer.keras")
    reloaded = keras.models.load_model(tmp_path / "vectorizer.keras")
    assert np.array_equal(reloaded(texts), expected)

    model.export(tmp_path / "saved_model", verbose=False)
    exported = tf.saved_model.load(str(tmp_path / "saved_model"))
    assert np.array_equal(exported.serve(texts), expected)


def test_kept_words_are_never_perturbed_and_replacements_keep_case():
    texts = ["Obama met the NBA in Paris today", "GOOD film"]
    keep = [[True, False, False, True, False, True, False], [False, False]]
    neighbours = {word: [f"{word}x"] for word in ("obama", "met", "the", "nba", "in", "paris", "today", "good", "film")}
    augmented = augment_with(
        texts, factor=20, mask_probability=0.3, replace_probability=0.7,
        neighbours=neighbours, keep=keep, match_case=True,
    )
    copies = [text.split() for text in augmented if len(text.split()) == 7]
    assert copies and all(
        (words[0], words[3], words[5]) == ("Obama", "NBA", "Paris") for words in copies
    )
    assert {word for words in copies for word in words} >= {"metx", "thex", "[MASK]"}
    assert "GOODX filmx" in augmented


def test_keep_must_flag_every_word_of_every_text():
    with pytest.raises(ValueError, match=r"keep\[1\] has 1 flags but text 1 has 2 words"):
        augment_with(["a b", "c d"], factor=1, keep=[[True, False], [True]])
    with pytest.raises(ValueError, match="keep has 1 entries for 2 texts"):
        augment_with(["a b", "c d"], factor=1, keep=[[True, False]])
