"""A word-level BiLSTM tagger: the `"bilstm"` student's body, one output per word.

Registered in `STUDENTS` as `"bilstm_tagger"` for token classification only: its
features are one vector per word. `build_student("bilstm_tagger", ...,
task="token_classification")` builds it from training texts (words joined by
spaces); `build_word_tagger` from training words.
"""

import functools

import keras

from tfdistill import tasks
from tfdistill.data.tagging import DEFAULT_MAX_CHARS
from tfdistill.data.tagging import build_word_lookup
from tfdistill.data.word_ids import OOV_ID
from tfdistill.models.students.base import Student
from tfdistill.models.students.base import register_student
from tfdistill.models.students.bilstm import XLACompatibleLSTM
from tfdistill.models.students.word_level import init_embedding_from_teacher

KIND = "bilstm_tagger"



@keras.saving.register_keras_serializable(package="tfdistill")
class WordDropout(keras.layers.Layer):
    """In training, replaces each word id by the out-of-vocabulary id with
    probability `rate` (padding stays padding); at inference, does nothing.

    A vocabulary built from the training words holds every training word, so a
    tagger never meets an unknown word in training, yet most entities of new text
    are unknown words. Hiding words teaches it to tag from context and characters
    (Lample et al. 2016 replace singletons by the unknown word likewise).

    Example:

    >>> ids = keras.ops.convert_to_tensor([[5, 6, 7, 0]], "int64")
    >>> WordDropout(1.0, seed=0)(ids, training=True).numpy().tolist()
    [[1, 1, 1, 0]]
    >>> WordDropout(1.0, seed=0)(ids).numpy().tolist()
    [[5, 6, 7, 0]]
    """

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, word_ids, training=False):
        if not training or self.rate == 0:
            return word_ids
        hidden = keras.random.uniform(keras.ops.shape(word_ids), seed=self.seed_generator) < self.rate
        return keras.ops.where(hidden & (word_ids != 0), keras.ops.cast(OOV_ID, word_ids.dtype), word_ids)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


@register_student(KIND, recurrent=True, tasks=("token_classification",))
def build_bilstm_tagger(
    max_words,
    vocabulary_size,
    *,
    head,
    embedding_dim=128,
    lstm_units=128,
    dropout=0.2,
    word_dropout=0.0,
    characters=0,
    max_chars=DEFAULT_MAX_CHARS,
    char_dim=32,
    char_filters=64,
):
    """Embeddings, a bidirectional LSTM over the words, dropout, the head at every word.

    With `characters`, each word's embedding is joined by features of its characters
    (Ma & Hovy 2016): character embeddings, a width-3 convolution, the maximum over
    the word's characters. Its `WordLookup` must spell words with as many character
    ids (`build_word_lookup(..., characters=, max_chars=)`).

    Args:
        max_words: the number of word slots of the input.
        vocabulary_size: the number of word ids, padding (0) and OOV (1) included.
        head: the task's head bound to the number of tags (`TokenClassification.head`).
        embedding_dim: the width of the word embeddings.
        lstm_units: the LSTM's hidden size per direction.
        dropout: the dropout rate before the head.
        word_dropout: the rate at which training hides words (`WordDropout`).
        characters: the number of character ids, padding and unknown included;
            0: words alone.
        max_chars: the number of character slots per word.
        char_dim: the width of the character embeddings.
        char_filters: the number of character features per word.

    Returns:
        A `keras.Model` named `"bilstm_tagger"` from int64 word ids
        `(batch, max_words)` (with characters: a dict of those, `word_ids`, and
        `char_ids`, `(batch, max_words, max_chars)`) to logits `(batch, max_words, tags)`.
    """
    word_ids = keras.Input(shape=(max_words,), dtype="int64", name="word_ids")
    # Id 0 is padding: the mask keeps it out of both directions' states.
    embedded = keras.layers.Embedding(
        vocabulary_size, embedding_dim, mask_zero=True, name="token_embedding"
    )(WordDropout(word_dropout, name="word_dropout")(word_ids) if word_dropout else word_ids)
    inputs = word_ids
    if characters:
        char_ids = keras.Input(shape=(max_words, max_chars), dtype="int64", name="char_ids")
        inputs = {"word_ids": word_ids, "char_ids": char_ids}
        chars = keras.layers.Embedding(characters, char_dim, name="char_embedding")(char_ids)
        chars = keras.layers.Conv2D(
            char_filters, (1, 3), padding="same", activation="relu", name="char_conv"
        )(chars)
        chars = keras.layers.MaxPooling2D((1, max_chars), name="char_max")(chars)
        chars = keras.layers.Reshape((max_words, char_filters), name="char_features")(chars)
        # The word embedding's padding mask carries through the concatenation.
        embedded = keras.layers.Concatenate(name="word_and_chars")([embedded, chars])
    encoded = keras.layers.Bidirectional(
        XLACompatibleLSTM(lstm_units, return_sequences=True), name="bilstm"
    )(embedded)
    return keras.Model(inputs, head(encoded, dropout=dropout), name=KIND)


def build_word_tagger(
    train_words,
    num_tags,
    teacher=None,
    *,
    max_words,
    vocabulary_size=20_000,
    init_from_teacher=False,
    characters=0,
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
        characters: with a positive number, character features too, over the
            `characters - 2` most frequent characters of the training words
            (`build_word_lookup`); 0: words alone.
        **sizes: `embedding_dim`, `lstm_units`, `dropout`, `word_dropout`,
            `max_chars`, `char_dim`, `char_filters` (`build_bilstm_tagger`).

    Returns:
        A `Student` of kind `"bilstm_tagger"`.

    Example:

    >>> import tensorflow as tf
    >>> student = build_word_tagger([["Hi", "Ann"]], num_tags=3, max_words=4,
    ...                             embedding_dim=4, lstm_units=4)
    >>> student.model(student.preprocessor(tf.constant([["hi", "Bo", "", ""]]))).shape
    TensorShape([1, 4, 3])
    """
    max_chars = sizes.get("max_chars", DEFAULT_MAX_CHARS)
    lookup = build_word_lookup(
        train_words, max_words, vocabulary_size, characters=characters, max_chars=max_chars
    )
    model = build_bilstm_tagger(
        max_words,
        lookup.vocabulary_size(),
        head=functools.partial(tasks.get("token_classification").head, num_classes=num_tags),
        characters=characters,
        **sizes,
    )
    if init_from_teacher:
        init_embedding_from_teacher(model, lookup, teacher)
    return Student(kind=KIND, model=model, preprocessor=lookup, num_params=model.count_params())
