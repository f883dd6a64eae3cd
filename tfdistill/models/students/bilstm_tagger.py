"""A word-level BiLSTM tagger: the `"bilstm"` student's body, one output per word.

Registered in `STUDENTS` as `"bilstm_tagger"` for token classification only: its
features are one vector per word. `build_student("bilstm_tagger", ...,
task="token_classification")` builds it from training texts (words joined by
spaces); `build_word_tagger` from training words.
"""

import functools

import keras

from tfdistill import tasks
from tfdistill.data.tagging import build_word_lookup
from tfdistill.models.students.base import Student
from tfdistill.models.students.base import register_student
from tfdistill.models.students.bilstm import XLACompatibleLSTM
from tfdistill.models.students.word_level import init_embedding_from_teacher

KIND = "bilstm_tagger"


@register_student(KIND, recurrent=True, tasks=("token_classification",))
def build_bilstm_tagger(
    max_words, vocabulary_size, *, head, embedding_dim=128, lstm_units=128, dropout=0.2
):
    """Embeddings, a bidirectional LSTM over the words, dropout, the head at every word.

    Args:
        max_words: the number of word slots of the input.
        vocabulary_size: the number of word ids, padding (0) and OOV (1) included.
        head: the task's head bound to the number of tags (`TokenClassification.head`).
        embedding_dim: the width of the word embeddings.
        lstm_units: the LSTM's hidden size per direction.
        dropout: the dropout rate before the head.

    Returns:
        A `keras.Model` named `"bilstm_tagger"` from int64 word ids
        `(batch, max_words)` to logits `(batch, max_words, tags)`.
    """
    word_ids = keras.Input(shape=(max_words,), dtype="int64", name="word_ids")
    # Id 0 is padding: the mask keeps it out of both directions' states.
    embedded = keras.layers.Embedding(
        vocabulary_size, embedding_dim, mask_zero=True, name="token_embedding"
    )(word_ids)
    encoded = keras.layers.Bidirectional(
        XLACompatibleLSTM(lstm_units, return_sequences=True), name="bilstm"
    )(embedded)
    return keras.Model(word_ids, head(encoded, dropout=dropout), name=KIND)


def build_word_tagger(
    train_words,
    num_tags,
    teacher=None,
    *,
    max_words,
    vocabulary_size=20_000,
    init_from_teacher=False,
    **sizes,
):
    """A BiLSTM tagger and its `WordLookup`, with a vocabulary of training words.

    Args:
        train_words: the training sentences' words (`TaggedSentences.words`).
        num_tags: the number of tags.
        teacher: a `BertTokenClassifier` with its preprocessor; needed only with
            `init_from_teacher`.
        max_words: the number of word slots, the teacher's `max_words`.
        vocabulary_size: the number of word ids, padding and OOV included.
        init_from_teacher: start the embeddings from the teacher's word vectors
            (`teacher_word_vectors` of each vocabulary word, lowercased as the
            student reads it), as the classifier's `"bilstm"` can.
        **sizes: `embedding_dim`, `lstm_units`, `dropout` (`build_bilstm_tagger`).

    Returns:
        A `Student` of kind `"bilstm_tagger"`.

    Example:

    >>> import tensorflow as tf
    >>> student = build_word_tagger([["Hi", "Ann"]], num_tags=3, max_words=4,
    ...                             embedding_dim=4, lstm_units=4)
    >>> student.model(student.preprocessor(tf.constant([["hi", "Bo", "", ""]]))).shape
    TensorShape([1, 4, 3])
    """
    lookup = build_word_lookup(train_words, max_words, vocabulary_size)
    model = build_bilstm_tagger(
        max_words,
        lookup.vocabulary_size(),
        head=functools.partial(tasks.get("token_classification").head, num_classes=num_tags),
        **sizes,
    )
    if init_from_teacher:
        init_embedding_from_teacher(model, lookup, teacher)
    return Student(kind=KIND, model=model, preprocessor=lookup, num_params=model.count_params())
