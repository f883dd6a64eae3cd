"""Transfer-set augmentation: new texts for the teacher to label.

A student distilled on the training texts alone sees too few of the teacher's
outputs to imitate it. Tang et al. 2019 ("Distilling Task-Specific Knowledge
from BERT into Simple Neural Networks") grow the transfer set with perturbed
copies of the training texts, label them with the teacher's logits, and train
the student on both. `augment_texts` makes such copies with their three
perturbations: masking words, replacing words by similar words, and cutting a
text down to one of its n-grams.

Tang et al. replace a word by a random word of the same part of speech. Here a
word is replaced by one of its nearest neighbours in the teacher's token
embedding space (`embedding_neighbours`, `teacher_neighbours`), which needs no
tagger and gives mostly synonyms and related words. It also gives antonyms:
"good" -> "bad", "best" -> "worst". That is harmless, since the teacher labels
each augmented text afresh; the augmented texts have no gold labels.

Example (then label the texts and their copies with the teacher, see
`TeacherLogitCache`):

>>> neighbours = {"gripping": ["riveting"], "film": ["movie"]}
>>> augment_texts(["a gripping film about two brothers"], factor=3, seed=1,
...               mask_probability=0.3, replace_probability=0.5, neighbours=neighbours)
['a gripping [MASK] about two brothers', 'movie [MASK] two', 'a riveting movie about [MASK] brothers']
"""

import keras
import numpy as np

from tfdistill.data.encoders import MASK_TOKEN
from tfdistill.data.words import split_affixes
from tfdistill.data.words import with_case_of

# `embedding_neighbours` compares this many words with all the others at once:
# a float32 block of similarities of 1,024 x 21,722 MiniLM words is 89 MB,
# about 400 MB with the temporaries of `np.argpartition`.
_NEIGHBOUR_BLOCK_SIZE = 1024
# Random integers below this pick neighbours and n-gram starts by `%`: exact
# integer arithmetic, and a bias of at most (choices / 2**31), negligible.
_PICK_RANGE = 2**31


def augment_texts(
    texts,
    *,
    factor,
    seed=0,
    mask_probability=0.1,
    replace_probability=0.1,
    ngram_probability=0.25,
    max_ngram=5,
    neighbours=None,
    mask_token=MASK_TOKEN,
    keep=None,
    match_case=False,
    return_copy_numbers=False,
):
    """Makes up to `factor` perturbed copies of each text (Tang et al. 2019).

    Words are the text's whitespace-separated tokens, punctuation attached. In
    each copy, every word independently is masked with probability
    `mask_probability`, or replaced with probability `replace_probability`
    (one uniform draw decides, so never both), or kept. Masking turns the word
    into `mask_token` and keeps its leading and trailing punctuation ("great,"
    -> "[MASK],"). Replacement does the same with one of `neighbours[word]`,
    drawn uniformly, the word looked up lowercased and without punctuation;
    words without neighbours are kept, and so are the words that `keep` marks. With
    `match_case`, a replacement takes the case of the word it replaces ("Paris" ->
    "London", "NBA" -> "NFL"), for models that read case. Then, with probability
    `ngram_probability`, the copy is cut down to a random run of `n`
    consecutive words, `n` uniform in `1..max_ngram` (the whole copy when it
    has `n` words or fewer). Copies are joined by single spaces.

    Only new texts are returned: copies equal to another copy or to one of
    `texts` (up to whitespace) are dropped, so there can be fewer than
    `factor * len(texts)`; empty texts have no copies and one-word texts few.
    The texts have no labels: let the teacher label them.

    The result depends only on the arguments: the same `seed` gives the same
    texts on every machine (with the same NumPy version, whose random streams
    are not promised to stay the same across versions).

    Args:
        texts: A sequence of strings, e.g. `texts_of(raw_train)`.
        factor: Copies made of each text, an int >= 0.
        seed: Seed of the `np.random.Generator` drawing every choice.
        mask_probability: Probability that a word is masked.
        replace_probability: Probability that a word is replaced by a
            neighbour. At most `1 - mask_probability`.
        ngram_probability: Probability that a copy is cut to an n-gram.
        max_ngram: The longest n-gram, an int >= 1.
        neighbours: A mapping from a lowercase word to a sequence of words
            that may replace it, e.g. from `teacher_neighbours`. `None`: no
            replacement.
        mask_token: What a masked word becomes. The default, `"[MASK]"`, is
            BERT's mask token, and `build_vectorizer` maps it to the
            out-of-vocabulary id; another token would be read as a word.
        keep: `None`, or per text a sequence of booleans, one per word (its
            whitespace-separated tokens): the words never masked or replaced (e.g.
            a tagged sentence's entity words).
        match_case: Whether a replacement takes the case of the word it replaces.
        return_copy_numbers: Whether to return, beside the texts, which of its
            source text's copies each one is (`0..factor-1`). The texts whose
            number is below `k` are `k` copies of each text at most, so one
            augmentation serves every smaller factor (`distillation.tune`'s
            search of the factor).

    Returns:
        A list of the new texts, in the order of their source texts; with
        `return_copy_numbers`, `(texts, copy_numbers)`, the numbers an int32 array.

    Example:

    >>> augment_texts(["A gripping, moving film."], factor=3, seed=1)
    ['film.', 'A [MASK], moving film.']
    >>> augment_texts(["good film"], factor=2, mask_probability=0.0,
    ...     replace_probability=1.0, ngram_probability=0.0,
    ...     neighbours={"good": ["great"]})
    ['great film']
    >>> augment_texts(["Paris is good"], factor=2, mask_probability=0.0,
    ...     replace_probability=1.0, ngram_probability=0.0, keep=[[False, False, True]],
    ...     neighbours={"paris": ["london"], "good": ["great"]}, match_case=True)
    ['London is good']
    >>> augment_texts(["A gripping, moving film."], factor=3, seed=1,
    ...     return_copy_numbers=True)
    (['film.', 'A [MASK], moving film.'], array([0, 2], dtype=int32))
    """
    _check_augment_arguments(
        factor,
        mask_probability,
        replace_probability,
        ngram_probability,
        max_ngram,
    )
    texts = list(texts)
    keep = _checked_keep(keep, texts)
    neighbours = neighbours or {}
    rng = np.random.default_rng(seed)
    seen = set()
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise ValueError(
                f"augment_texts needs strings; text {index} is a "
                f"{type(text).__name__}: {text!r:.80}."
            )
        seen.add(" ".join(text.split()))
    perturbation = {
        "mask_probability": mask_probability,
        "replace_probability": replace_probability,
        "ngram_probability": ngram_probability,
        "max_ngram": max_ngram,
        "neighbours": neighbours,
        "mask_token": mask_token,
        "match_case": match_case,
    }
    augmented, copy_numbers = [], []
    for text, kept in zip(texts, keep):
        words = [split_affixes(word) for word in text.split()]
        if not words:
            continue
        copies = _perturbed_copies(words, kept, factor, rng, **perturbation)
        for number, copy in enumerate(copies):
            if copy not in seen:
                seen.add(copy)
                augmented.append(copy)
                copy_numbers.append(number)
    if return_copy_numbers:
        return augmented, np.asarray(copy_numbers, np.int32)
    return augmented


def _check_augment_arguments(
    factor, mask_probability, replace_probability, ngram_probability, max_ngram
):
    if not isinstance(factor, (int, np.integer)) or factor < 0:
        raise ValueError(f"factor must be an int >= 0, got {factor!r}.")
    if not isinstance(max_ngram, (int, np.integer)) or max_ngram < 1:
        raise ValueError(f"max_ngram must be an int >= 1, got {max_ngram!r}.")
    for name, probability in (
        ("mask_probability", mask_probability),
        ("replace_probability", replace_probability),
        ("ngram_probability", ngram_probability),
    ):
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {probability}.")
    if mask_probability + replace_probability > 1.0:
        raise ValueError(
            "A word is masked or replaced, never both, so mask_probability + "
            f"replace_probability must be at most 1, got {mask_probability} + "
            f"{replace_probability}."
        )


def _checked_keep(keep, texts):
    """`keep` as one boolean array per text (all False when `keep` is None)."""
    if keep is None:
        return [np.zeros(len(text.split()), bool) for text in texts]
    keep = [np.asarray(flags, bool) for flags in keep]
    if len(keep) != len(texts):
        raise ValueError(f"keep has {len(keep)} entries for {len(texts)} texts.")
    for index, (flags, text) in enumerate(zip(keep, texts)):
        if flags.shape != (len(text.split()),):
            raise ValueError(
                f"keep[{index}] has {flags.size} flags but text {index} has "
                f"{len(text.split())} words."
            )
    return keep


def _perturbed_copies(
    words,
    kept,
    factor,
    rng,
    *,
    mask_probability,
    replace_probability,
    ngram_probability,
    max_ngram,
    neighbours,
    mask_token,
    match_case,
):
    """Yields `factor` perturbed copies of one text's `(prefix, core, suffix)` words,
    leaving those that `kept` marks.

    Every draw is made up front in fixed-size arrays, so the random stream
    advances the same way whatever the outcomes.
    """
    num_words = len(words)
    word_draws = rng.random((factor, num_words))
    neighbour_picks = rng.integers(_PICK_RANGE, size=(factor, num_words))
    cut_draws = rng.random(factor)
    ngram_lengths = rng.integers(1, max_ngram + 1, size=factor)
    ngram_starts = rng.integers(_PICK_RANGE, size=factor)
    candidates = [neighbours.get(core.lower()) for _, core, _ in words]
    for copy in range(factor):
        perturbed = []
        for (prefix, core, suffix), draw, pick, choices, is_kept in zip(
            words, word_draws[copy], neighbour_picks[copy], candidates, kept
        ):
            # A kept word (an entity, with `keep`) is never masked or replaced.
            if not is_kept and draw < mask_probability:
                core = mask_token
            elif not is_kept and draw < mask_probability + replace_probability and choices:
                replacement = choices[pick % len(choices)]
                core = with_case_of(core, replacement) if match_case else replacement
            perturbed.append(prefix + core + suffix)
        if cut_draws[copy] < ngram_probability:
            length = min(int(ngram_lengths[copy]), num_words)
            start = ngram_starts[copy] % (num_words - length + 1)
            perturbed = perturbed[start : start + length]
        yield " ".join(perturbed)


def _is_whole_word(token):
    """Letters only and at least two: no "##" subword, no "[CLS]"-like special
    token, no punctuation, digits or single characters."""
    return len(token) >= 2 and token.isalpha()


def embedding_neighbours(vocabulary, embeddings, *, k=10, min_similarity=0.4):
    """The nearest whole words of every whole word, by embedding cosine similarity.

    Whole words are the tokens of two or more letters and nothing else: no
    WordPiece continuation ("##ing"), no special token ("[CLS]", "[MASK]",
    "[unused0]"), no punctuation or numbers. Only whole words are compared.
    Similarities are computed a block of words at a time, so memory stays
    under half a gigabyte for BERT-sized vocabularies.

    On all-MiniLM-L6-v2, a cut at 0.4 keeps the close words ("good" ->
    "excellent", "great", "nice"; "funny" -> "hilarious", "humorous") and
    drops the loose tail ("dull" -> "sharpe" at 0.35). Antonyms remain about
    as close as synonyms ("good" -> "bad" at 0.53); see the module docstring.

    Args:
        vocabulary: The tokens, in embedding-row order.
        embeddings: A float array `[len(vocabulary), dim]`, e.g. a BERT token
            embedding matrix.
        k: The most neighbours per word.
        min_similarity: Neighbours less cosine-similar than this are dropped.

    Returns:
        A dict from each whole word with at least one neighbour to its
        neighbours, most similar first (ties in vocabulary order).

    Example:

    >>> embedding_neighbours(
    ...     ["[PAD]", "good", "great", "##ly", "film"],
    ...     np.array([[0, 0], [1, 0.1], [1, 0.2], [1, 0.15], [0, 1]]),
    ...     k=1,
    ... )
    {'good': ['great'], 'great': ['good']}
    """
    embeddings = np.asarray(embeddings, dtype=np.float32)
    if embeddings.ndim != 2 or embeddings.shape[0] != len(vocabulary):
        raise ValueError(
            "embeddings must have shape [len(vocabulary), dim] = "
            f"[{len(vocabulary)}, dim], got {embeddings.shape}."
        )
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be an int >= 1, got {k!r}.")
    word_ids = np.array(
        [index for index, token in enumerate(vocabulary) if _is_whole_word(token)],
        dtype=np.int64,
    )
    k = min(k, len(word_ids) - 1)
    if k < 1:
        return {}
    vectors = embeddings[word_ids]
    # Zero rows stay zero (similarity 0 to everything) instead of dividing by 0.
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    neighbours = {}
    for start in range(0, len(word_ids), _NEIGHBOUR_BLOCK_SIZE):
        similarities = vectors[start : start + _NEIGHBOUR_BLOCK_SIZE] @ vectors.T
        rows = np.arange(len(similarities))
        similarities[rows, start + rows] = -np.inf  # A word is not its own neighbour.
        nearest = np.argpartition(similarities, -k, axis=1)[:, -k:]
        nearest_similarities = np.take_along_axis(similarities, nearest, axis=1)
        order = np.lexsort((nearest, -nearest_similarities), axis=1)
        nearest = np.take_along_axis(nearest, order, axis=1)
        nearest_similarities = np.take_along_axis(nearest_similarities, order, axis=1)
        for row, (columns, row_similarities) in enumerate(
            zip(nearest, nearest_similarities)
        ):
            close = columns[row_similarities >= min_similarity]
            if len(close):
                word = vocabulary[word_ids[start + row]]
                neighbours[word] = [vocabulary[word_ids[column]] for column in close]
    return neighbours


def teacher_neighbours(teacher, *, k=10, min_similarity=0.4):
    """`embedding_neighbours` of a keras-hub teacher's token embeddings.

    Args:
        teacher: A keras-hub text classifier with its preprocessor attached,
            e.g. from `tfdistill.models.load_teacher`: the vocabulary comes
            from `teacher.preprocessor.tokenizer`, the embeddings from
            `teacher.backbone.token_embedding`.
        k, min_similarity: As in `embedding_neighbours`.

    Returns:
        A dict from a lowercase word (for an uncased vocabulary) to its
        nearest words, ready for `augment_texts(..., neighbours=...)`.

    Example:

    >>> from tfdistill.models import load_teacher
    >>> neighbours = teacher_neighbours(load_teacher())
    >>> neighbours["terrible"][:3]
    ['horrible', 'awful', 'dreadful']
    """
    if getattr(teacher, "preprocessor", None) is None:
        raise ValueError(
            f"The teacher {teacher.name!r} has no preprocessor, so its vocabulary "
            "is unknown; load it with tfdistill.models.load_teacher."
        )
    return embedding_neighbours(
        teacher.preprocessor.tokenizer.get_vocabulary(),
        keras.ops.convert_to_numpy(teacher.backbone.token_embedding.embeddings),
        k=k,
        min_similarity=min_similarity,
    )
