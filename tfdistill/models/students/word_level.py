"""What every word-level student shares: its own vocabulary, and a start from the teacher.

A word-level student (`"bilstm"`, `"cnn"`, `"bilstm_tagger"`, or one registered with
`register_student`) reads word ids from a preprocessor built on the training texts
(a `TextVectorization` for text classification, a `WordLookup` for tagging). With
`init_from_teacher=True` its embedding table starts from the teacher's word vectors
(`teacher_word_vectors`) instead of random ones. With `teacher_words=True` its
vocabulary also holds the teacher's whole words (`whole_words`), so that
words no training text holds are not all unknown to it: the ones the training texts
leave untrained keep the teacher's vectors, or learn from a transfer set's texts.
"""

import numpy as np

from tfdistill.data.encoders import build_vectorizer
from tfdistill.models.teachers import check_has_tokenizer
from tfdistill.models.word_vectors import whole_words
from tfdistill.models.word_vectors import teacher_word_vectors

# The vectorizer's first two ids: padding and out-of-vocabulary, no word of their own.
_NON_WORD_IDS = 2
# The sizes that shape what the preprocessor outputs as well as the model that reads
# it (a tagger's character ids), passed to both.
PREPROCESSOR_SIZES = ("characters", "max_chars")


def build_word_student(
    build_model,
    teacher,
    train_texts,
    sequence_length,
    *,
    head,
    word_vectorizer=build_vectorizer,
    vocabulary_size=20_000,
    init_from_teacher=False,
    teacher_words=False,
    **sizes,
):
    """Builds the vectorizer on `train_texts`, then the model `build_model` makes on it.

    Args:
        build_model: a word-level builder (see `register_student`).
        teacher: the teacher whose word vectors start the embedding table; needed
            only with `init_from_teacher`.
        train_texts: the training texts the vocabulary comes from.
        sequence_length: how many word ids the vectorizer pads or truncates to.
        head: the task's head, bound to the number of classes.
        word_vectorizer: `(train_texts, vocabulary_size, sequence_length,
            **options)` -> the preprocessor: the task's (`Task.word_vectorizer`);
            `options` are the `PREPROCESSOR_SIZES` among `sizes`.
        vocabulary_size: the vectorizer's vocabulary size, padding and
            out-of-vocabulary included.
        init_from_teacher: start the `"token_embedding"` layer from the teacher.
        teacher_words: add the teacher's whole words to the vocabulary, after the
            `vocabulary_size` training ones (so the vocabulary grows beyond
            `vocabulary_size`: by 22,716 words at most for MiniLM).
        **sizes: the rest, for `build_model`.

    Returns:
        `(model, vectorizer)`.

    Raises:
        ValueError: if `train_texts` is None, or `teacher_words` is set without a
            teacher.
    """
    if train_texts is None:
        raise ValueError(
            "A word-level student learns its vocabulary from train_texts; got "
            "train_texts=None."
        )
    extra_words = ()
    if teacher_words:
        check_has_tokenizer(teacher, "teacher_words=True reads the teacher's vocabulary")
        extra_words = whole_words(teacher.preprocessor.tokenizer)
    options = {key: sizes[key] for key in PREPROCESSOR_SIZES if key in sizes}
    preprocessor = word_vectorizer(
        train_texts, vocabulary_size, sequence_length, extra_words=extra_words, **options
    )
    model = build_model(
        sequence_length, preprocessor.vocabulary_size(), head=head, **sizes
    )
    if init_from_teacher:
        init_embedding_from_teacher(model, preprocessor, teacher)
    return model, preprocessor


def init_embedding_from_teacher(model, preprocessor, teacher):
    embedding = model.get_layer("token_embedding")
    words = preprocessor.get_vocabulary()[_NON_WORD_IDS:]
    vectors = teacher_word_vectors(teacher, words, embedding.output_dim)
    # Padding and out-of-vocabulary get the zero vector: the mean of the words'.
    non_words = np.zeros((_NON_WORD_IDS, vectors.shape[1]), vectors.dtype)
    embedding.set_weights([np.concatenate([non_words, vectors])])
