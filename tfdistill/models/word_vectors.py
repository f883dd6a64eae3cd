"""Word vectors read from a BERT teacher: the starting embeddings of a word-level student.

A word-level student (`"bilstm"`, `"cnn"`) has its own vocabulary, so it cannot copy
the teacher's embedding table as `small_bert` does. Tang et al. (2019) started their
distilled BiLSTM from pretrained word2vec vectors; `teacher_word_vectors` gets such
vectors from the teacher itself, with nothing to download. Each word is fed to the
teacher alone (`[CLS] word [SEP]`), the last layer's outputs at its word pieces are
averaged, and the averages are projected on their `dim` main directions (PCA), so the
student's embedding width can stay small. A teacher fine-tuned on the task carries
the task in those outputs: on the fine-tuned MiniLM, "brilliant" and "dreadful" lie
far apart on the first direction.
"""

import keras
import keras_hub
import numpy as np

from tfdistill.models.teachers import check_has_tokenizer

# Words are fed alone; one longer than this many pieces keeps its first ones.
_MAX_PIECES = 14
_BATCH_SIZE = 512


def last_layer_means(teacher, words):
    """`(len(words), hidden_dim)` float64: each word's mean last-layer output over
    its pieces, `[CLS]` and `[SEP]` left out; zeros for a word with no piece."""
    packer = keras_hub.models.BertTextClassifierPreprocessor(
        teacher.preprocessor.tokenizer, sequence_length=_MAX_PIECES + 2
    )
    means = []
    for start in range(0, len(words), _BATCH_SIZE):
        inputs = packer(list(words[start : start + _BATCH_SIZE]))
        outputs = keras.ops.convert_to_numpy(
            keras.ops.cast(teacher.backbone(inputs)["sequence_output"], "float32")
        ).astype(np.float64)
        padding_mask = keras.ops.convert_to_numpy(inputs["padding_mask"]).astype(bool)
        # The pieces sit between [CLS] (first) and [SEP] (last unpadded position).
        pieces = padding_mask.copy()
        pieces[:, 0] = False
        pieces[np.arange(len(pieces)), padding_mask.sum(axis=1) - 1] = False
        counts = pieces.sum(axis=1, keepdims=True)
        sums = (outputs * pieces[..., None]).sum(axis=1)
        means.append(np.where(counts > 0, sums / np.maximum(counts, 1), 0.0))
    return np.concatenate(means)


def teacher_word_vectors(teacher, words, dim):
    """Each word's vector in the teacher's last layer, projected to `dim` directions.

    The vectors are centred (their mean over `words` is subtracted), projected on
    their `dim` principal directions and scaled by one number so that their mean norm
    is 1. A word with no word piece (e.g. the empty string) gets the zero vector.
    The teacher runs on batches of 512 words of at most 16 tokens each, so a whole
    vocabulary costs about as much as one teacher pass over that many short texts.

    Args:
        teacher: a `keras_hub.models.BertTextClassifier` with its preprocessor attached,
            e.g. from `tfdistill.models.load_teacher`, ideally fine-tuned on the task.
        words: a sequence of strings, e.g. a `TextVectorization` vocabulary.
        dim: how many directions to keep, at most the teacher's hidden width and the
            number of words.

    Returns:
        A float32 array of shape `(len(words), dim)`, rows in the order of `words`.

    Raises:
        ValueError: for a teacher without a preprocessor, or a `dim` out of range.

    Example (a random BERT, for speed; `tfdistill.models.load_teacher()` gives a
    real one):

    >>> vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "fun", "dull"]
    >>> teacher = keras_hub.models.BertTextClassifier(
    ...     keras_hub.models.BertBackbone(7, num_layers=1, num_heads=1, hidden_dim=4,
    ...                                   intermediate_dim=8, max_sequence_length=16),
    ...     num_classes=2, preprocessor=keras_hub.models.
    ...     BertTextClassifierPreprocessor(keras_hub.models.BertTokenizer(vocabulary)))
    >>> teacher_word_vectors(teacher, ["fun", "dull", "film"], 2).shape
    (3, 2)
    """
    check_has_tokenizer(teacher, "Word vectors come from the teacher's tokenizer and layers")
    words = list(words)
    hidden_dim = teacher.backbone.hidden_dim
    if not 1 <= dim <= min(hidden_dim, len(words)):
        raise ValueError(
            f"dim={dim} directions cannot be taken from {len(words)} words of the "
            f"teacher's width {hidden_dim}: choose 1 <= dim <= "
            f"{min(hidden_dim, len(words))} (a student's embedding_dim)."
        )
    means = last_layer_means(teacher, words)
    return principal_projection(means, dim, fitted=means.any(axis=1))


def principal_projection(vectors, dim, fitted=None):
    """`vectors` centred, projected on their `dim` principal directions (PCA), and
    scaled by one number to a mean norm of 1.

    What a student's embedding table starts from when it is narrower than the
    teacher's vectors: the word-level students' word vectors (`teacher_word_vectors`)
    and `"bilstm_wordpiece"`'s copy of the teacher's token embeddings.

    Args:
        vectors: a `(n, width)` array.
        dim: how many directions to keep, at most `width` and the number of
            `fitted` rows (the caller checks and says why in its own terms).
        fitted: a boolean `(n,)` array: the rows that the mean, the directions and
            the scale come from; the others (vectors that stand for nothing, e.g.
            a word with no piece) get the zero vector. None: every row.

    Returns:
        A float32 array of shape `(n, dim)`.
    """
    vectors = np.asarray(vectors, dtype=np.float64)
    fitted = np.ones(len(vectors), bool) if fitted is None else np.asarray(fitted, bool)
    centred = np.where(fitted[:, None], vectors - vectors[fitted].mean(axis=0), 0.0)
    # Rows of `directions` are the principal directions, largest variance first.
    _, _, directions = np.linalg.svd(centred[fitted], full_matrices=False)
    projected = centred @ directions[:dim].T
    # One global scale, so the geometry stays the teacher's: mean norm 1, like the
    # normalised word2vec vectors Tang et al. started from. At the teacher's own
    # scale (norms near 10 on MiniLM) the LSTM gates would start saturated.
    norms = np.linalg.norm(projected[fitted], axis=1)
    return (projected / max(norms.mean(), 1e-12)).astype(np.float32)


def whole_words(tokenizer):
    """The words of a WordPiece vocabulary that a word-level student can read.

    A word-level student knows only its vocabulary's words; the teacher splits any
    word into pieces. The pieces that are whole words (not `##` continuations or
    `[special]` tokens) and made only of ASCII letters and digits, lowercased, are the
    words a student's vocabulary can add beyond its training texts, each with a
    vector from the teacher (`teacher_word_vectors`): 22,716 of MiniLM's
    30,522 pieces. Punctuation is left out, as the student's standardization
    strips it.

    Args:
        tokenizer: the teacher's `keras_hub.models.BertTokenizer`
            (`teacher.preprocessor.tokenizer`).

    Returns:
        A list of distinct lowercase strings, in the vocabulary's order.

    Example:

    >>> vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "Fun", "##s", "fun", "!"]
    >>> whole_words(keras_hub.models.BertTokenizer(vocabulary))
    ['fun']
    """
    pieces = (str(piece).lower() for piece in tokenizer.get_vocabulary())
    return list(dict.fromkeys(piece for piece in pieces if piece.isalnum() and piece.isascii()))
