"""Tagged sentences -> batched model inputs, one label per word.

Both kinds of model see the same words in the same slots: a sentence is cut to
`max_words` words and padded up to it, and its labels are the words' tag ids, with
`NO_TAG` (-1) for padding and for every word a model does not see.

* A BERT teacher reads word pieces. `FirstPiecePacker` tokenizes each word with the
  teacher's keras-hub tokenizer, packs the pieces with `[CLS]` and `[SEP]` (keras-hub's
  `MultiSegmentPacker`), and gives `word_starts`: the position of each word's first
  piece, where the teacher's tagger reads that word (see
  `tfdistill.models.BertTokenClassifier`). A word whose first piece falls past the
  sequence length is cut: its start is 0 (the `[CLS]` position, never a word's) and
  its label `NO_TAG`. A word that the tokenizer turns into no piece at all (e.g. a
  lone zero-width space) stands as `[UNK]`, so every word keeps a slot.
* A word-level student reads one id per word from `WordLookup`: each word lowercased,
  then looked up as a whole in a vocabulary of training words (0 is padding, 1 out of
  vocabulary). Nothing is stripped, so no word can vanish and shift its neighbours.

Raw words come as a `tf.string` tensor `(batch, max_words)` padded with `""`, or as a
`tf.RaggedTensor` `(batch, None)`; an empty word is padding.

Example:

>>> import keras_hub
>>> tokenizer = keras_hub.models.BertTokenizer(
...     ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "new", "york", "##er", "!"])
>>> packer = FirstPiecePacker(tokenizer, sequence_length=6, max_words=4)
>>> sentences = TaggedSentences([["new", "yorker", "!", "!"]], [["B-geo-loc", "O", "O", "O"]])
>>> inputs, labels = next(iter(encode_tagged(
...     sentences, [[1, 0, 0, 0]], packer, batch_size=1)))
>>> inputs["token_ids"].numpy().tolist(), inputs["word_starts"].numpy().tolist()
([[2, 5, 6, 7, 8, 3]], [[1, 2, 4, 0]])
>>> labels.numpy().tolist()  # the last "!" did not fit in the sequence
[[1, 0, 0, -1]]
"""

import collections

import keras
import keras_hub
import numpy as np
import tensorflow as tf

from tfdistill.data.cache import predict_logits
from tfdistill.data.conll import TaggedSentences
from tfdistill.data.encoders import _encode_batches
from tfdistill.distillation.batch import STUDENT_KEY
from tfdistill.distillation.batch import TEACHER_KEY
from tfdistill.distillation.batch import TEACHER_LOGITS_KEY
from tfdistill.losses.labels import NOT_A_WORD

# The label of a slot that has no tag to learn or score: padding, or a word cut off.
# (A word of an augmented sentence, which only the teacher tags, is `UNTAGGED_WORD`.)
NO_TAG = NOT_A_WORD
# WordLookup's first ids: padding (the empty word) and out of vocabulary.
_PADDING, _OOV_TOKEN = "", "[UNK]"
# The character slots per word of a `WordLookup` that spells words.
DEFAULT_MAX_CHARS = 20


def _as_ragged(words):
    """Raw words as a `(batch, None)` ragged tensor, `""` padding dropped."""
    if isinstance(words, tf.RaggedTensor):
        return words
    return tf.RaggedTensor.from_tensor(tf.convert_to_tensor(words, tf.string), padding=_PADDING)


@keras.saving.register_keras_serializable(package="tfdistill")
class FirstPiecePacker(keras.layers.Layer):
    """Raw words -> BERT inputs and the position of each word's first piece.

    Returns a dict of `token_ids`, `padding_mask`, `segment_ids` (all
    `(batch, sequence_length)`, as keras-hub's BERT preprocessors give them) and
    `word_starts`, int32 `(batch, max_words)`: 0 for padding and cut words (see the
    module docstring). Runs in `tf.data` (or any `tf.function`).

    Args:
        tokenizer: the teacher's `keras_hub.models.BertTokenizer`; its own rules
            (lowercasing, accents, special tokens) apply to each word.
        sequence_length: the number of pieces, `[CLS]` and `[SEP]` included.
        max_words: the number of word slots; defaults to `sequence_length - 2`, as
            many words as can fit when each is one piece.

    Example (the teacher reads "yorker" at its first piece, "york"):

    >>> import keras_hub
    >>> tokenizer = keras_hub.models.BertTokenizer(
    ...     ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "new", "york", "##er"])
    >>> packer = FirstPiecePacker(tokenizer, sequence_length=6, max_words=3)
    >>> inputs = packer(tf.constant([["new", "yorker", ""]]))
    >>> inputs["token_ids"].numpy().tolist(), inputs["word_starts"].numpy().tolist()
    ([[2, 5, 6, 7, 3, 0]], [[1, 2, 0]])
    """

    def __init__(self, tokenizer, sequence_length=128, max_words=None, **kwargs):
        super().__init__(**kwargs)
        self.tokenizer = tokenizer
        self.sequence_length = sequence_length
        self.max_words = max_words or sequence_length - 2
        self.packer = keras_hub.layers.MultiSegmentPacker(
            sequence_length=sequence_length,
            start_value=tokenizer.start_token_id,
            end_value=tokenizer.end_token_id,
            pad_value=tokenizer.pad_token_id,
        )
        # One traced function for every eager call, which batches of any size share.
        self._eager_pack = tf.function(self._pack, reduce_retracing=True)

    def build(self, input_shape=None):
        # No weights: the tokenizer's vocabulary and the packer are set at construction.
        self.built = True

    def word_mask(self, inputs):
        """Which word slots of `inputs` the model reads: a `(batch, max_words)` bool."""
        return inputs["word_starts"] > 0

    def call(self, words):
        if tf.executing_eagerly():
            # keras-hub tokenizers give Python lists when eager; traced, tensors.
            return self._eager_pack(_as_ragged(words))
        return self._pack(_as_ragged(words))

    def _pack(self, words):
        words = words[:, : self.max_words]
        pieces = self.tokenizer(words.flat_values)
        # A word without pieces stands as [UNK] (one piece added to those rows only).
        missing = tf.cast(pieces.row_lengths() == 0, pieces.row_splits.dtype)
        unknown_id = self.tokenizer.token_to_id(self.tokenizer.oov_token)
        unknown = tf.RaggedTensor.from_row_lengths(
            tf.fill([tf.reduce_sum(missing)], tf.cast(unknown_id, pieces.dtype)), missing
        )
        pieces = tf.concat([pieces, unknown], axis=1)
        counts = words.with_flat_values(tf.cast(pieces.row_lengths(), tf.int32))
        counts = counts.to_tensor(shape=[None, self.max_words])
        # 1 + the pieces before a word: its first piece's position, after [CLS].
        starts = 1 + tf.cumsum(counts, axis=1, exclusive=True)
        # Positions 1 .. sequence_length - 2 hold pieces; the last one holds [SEP].
        seen = (counts > 0) & (starts <= self.sequence_length - 2)
        sentence_pieces = tf.RaggedTensor.from_row_splits(
            pieces.flat_values, tf.gather(pieces.row_splits, words.row_splits)
        )
        token_ids, segment_ids = self.packer(sentence_pieces)
        return {
            "token_ids": token_ids,
            "padding_mask": token_ids != self.tokenizer.pad_token_id,
            "segment_ids": segment_ids,
            "word_starts": tf.where(seen, starts, 0),
        }

    def get_config(self):
        config = super().get_config()
        tokenizer = keras.saving.serialize_keras_object(self.tokenizer)
        # keras-hub keeps a vocabulary in its saved assets, not in the config; the
        # packer's config carries it, so that `from_config` alone rebuilds the layer.
        tokenizer["config"]["vocabulary"] = [str(t) for t in self.tokenizer.get_vocabulary()]
        config.update(
            {
                "tokenizer": tokenizer,
                "sequence_length": self.sequence_length,
                "max_words": self.max_words,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["tokenizer"] = keras.saving.deserialize_keras_object(config["tokenizer"])
        return cls(**config)


@keras.saving.register_keras_serializable(package="tfdistill")
class WordLookup(keras.layers.Layer):
    """Raw words -> one int64 id per word, `(batch, max_words)`: a word-level student's input.

    Each word is lowercased (Unicode, as `tf.strings.lower(encoding="utf-8")`) and
    looked up whole; 0 is padding, 1 out of vocabulary. `build_word_lookup` makes one
    from training words.

    With `characters`, it also spells each word: the output is then a dict of
    `word_ids` and `char_ids`, `(batch, max_words, max_chars)`, the ids of each
    word's first `max_chars` characters, case kept (0 padding, 1 a character not in
    `characters`; invalid UTF-8 reads as U+FFFD). Characters show a tagger what a
    word id hides: capitals, digits, `@` and `#`, and the shape of a name never seen
    in training.

    Args:
        vocabulary: the words of ids 2, 3, ..., lowercased.
        max_words: the number of word slots.
        characters: the characters of ids 2, 3, ...; None: no character ids.
        max_chars: the number of character slots per word.

    Example (`"A"` is out of vocabulary, `"Good"` is looked up lowercased):

    >>> lookup = WordLookup(["good", "film"], max_words=4)
    >>> lookup(tf.constant([["A", "Good", "film", ""]])).numpy().tolist()
    [[1, 2, 3, 0]]
    """

    def __init__(self, vocabulary, max_words, characters=None, max_chars=DEFAULT_MAX_CHARS, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary = list(vocabulary)
        self.max_words = max_words
        self.characters = None if characters is None else list(characters)
        self.max_chars = max_chars
        self.lookup = keras.layers.StringLookup(
            vocabulary=self.vocabulary, mask_token=_PADDING, oov_token=_OOV_TOKEN
        )
        if self.characters is not None:
            self.char_lookup = keras.layers.StringLookup(
                vocabulary=self.characters, mask_token=_PADDING, oov_token=_OOV_TOKEN
            )

    def build(self, input_shape=None):
        # No weights: the lookups hold their vocabularies from construction. (Keras
        # otherwise warns on the terminal, "unbuilt state", when a saved model loads.)
        self.built = True

    def get_vocabulary(self):
        """Every id's word: padding (`""`), out of vocabulary (`"[UNK]"`), then the words."""
        return [str(word) for word in self.lookup.get_vocabulary()]

    def vocabulary_size(self):
        return self.lookup.vocabulary_size()

    def word_mask(self, inputs):
        """Which word slots of `inputs` hold a word: a `(batch, max_words)` bool."""
        return (inputs["word_ids"] if isinstance(inputs, dict) else inputs) != 0

    def call(self, words):
        words = _as_ragged(words)[:, : self.max_words]
        ids = words.with_flat_values(
            self.lookup(tf.strings.lower(words.flat_values, encoding="utf-8"))
        )
        word_ids = tf.cast(ids.to_tensor(shape=[None, self.max_words]), tf.int64)
        if self.characters is None:
            return word_ids
        chars = tf.strings.unicode_split(words.flat_values, "UTF-8", errors="replace")
        char_ids = self.char_lookup(chars[:, : self.max_chars])
        per_sentence = words.with_flat_values(char_ids)  # (batch, words, chars)
        char_ids = per_sentence.to_tensor(shape=[None, self.max_words, self.max_chars])
        return {"word_ids": word_ids, "char_ids": tf.cast(char_ids, tf.int64)}

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary": self.vocabulary,
                "max_words": self.max_words,
                "characters": self.characters,
                "max_chars": self.max_chars,
            }
        )
        return config


def build_word_lookup(
    train_words,
    max_words,
    vocabulary_size=20_000,
    *,
    characters=0,
    max_chars=DEFAULT_MAX_CHARS,
    extra_words=(),
):
    """A `WordLookup` whose vocabulary is the most frequent lowercased training words.

    Args:
        train_words: the training sentences' words (e.g. `TaggedSentences.words`);
            never validation or test words, which must count as unseen.
        max_words: the number of word slots.
        vocabulary_size: the number of ids, padding and out-of-vocabulary included.
        characters: with a positive number, the lookup also spells words with the
            most frequent `characters - 2` characters of the training words (so
            its character ids are below `characters`).
        max_chars: the number of character slots per word, when spelling.
        extra_words: lowercase words to add after the training words, those
            already there skipped (e.g. a teacher's whole words).

    Returns:
        A `WordLookup`; words (and characters) of equal count keep their first-seen
        order.

    Example:

    >>> lookup = build_word_lookup([["Paris", "rocks"], ["paris", "!"]], max_words=3)
    >>> lookup.get_vocabulary()
    ['', '[UNK]', 'paris', 'rocks', '!']
    >>> lookup(tf.ragged.constant([["PARIS", "!"], ["London"]])).numpy().tolist()
    [[2, 4, 0], [1, 0, 0]]
    >>> spelled = build_word_lookup([["Paris"]], max_words=2, characters=8)
    >>> spelled.characters
    ['P', 'a', 'r', 'i', 's']
    >>> ids = spelled(tf.ragged.constant([["Pa", "Zs"]]))
    >>> ids["word_ids"].numpy().tolist(), ids["char_ids"].numpy()[0, :, :3].tolist()
    ([[1, 1]], [[2, 3, 0], [1, 6, 0]])
    """
    flat = [word for sentence in train_words for word in sentence]
    # Lowercased by TensorFlow, as WordLookup does, so both apply one rule.
    lowered = tf.strings.lower(tf.constant(flat or [""], tf.string), encoding="utf-8")
    counts = collections.Counter(word.decode() for word in lowered.numpy() if word)
    vocabulary = [word for word, _ in counts.most_common(vocabulary_size - 2)]
    vocabulary += [word for word in dict.fromkeys(extra_words) if word not in set(vocabulary)]
    if not characters:
        return WordLookup(vocabulary, max_words)
    char_counts = collections.Counter(char for word in flat for char in word)
    characters = [char for char, _ in char_counts.most_common(characters - 2)]
    return WordLookup(vocabulary, max_words, characters, max_chars)


def _padded(sentences, max_words, fill, dtype):
    """Per-sentence sequences as one `(len, max_words)` array, cut and padded."""
    array = np.full((len(sentences), max_words), fill, dtype=dtype)
    for row, sentence in enumerate(sentences):
        sentence = list(sentence)[:max_words]
        array[row, : len(sentence)] = sentence
    return array


def _words_of(sentences):
    """The words of `TaggedSentences`, or `sentences` itself (one sequence of words each)."""
    return sentences.words if isinstance(sentences, TaggedSentences) else sentences


def _raw_tagged(sentences, tag_ids, max_words):
    """`(words, tag ids)` examples, both padded to `max_words` (`""` and `NO_TAG`)."""
    if len(tag_ids) != len(sentences):
        raise ValueError(f"{len(sentences)} sentences but {len(tag_ids)} rows of tag ids.")
    return (
        _padded(_words_of(sentences), max_words, _PADDING, object),
        _padded(tag_ids, max_words, NO_TAG, np.int32),
    )


def _masked_labels(tags, *masks):
    """`tags` with `NO_TAG` wherever one of `masks` is False."""
    seen = masks[0]
    for mask in masks[1:]:
        seen = seen & mask
    return tf.where(seen, tags, NO_TAG)


def encode_tagged(
    sentences, tag_ids, preprocessor, *, batch_size, shuffle=False, seed=0, **options
):
    """Batches tagged sentences into `(inputs, labels)` for one model.

    Args:
        sentences: `TaggedSentences` (only their words are read), or one sequence
            of words per sentence.
        tag_ids: each sentence's tag ids, e.g. from `tag_ids(sentences.tags, names)`.
        preprocessor: a `FirstPiecePacker` (a BERT tagger) or a `WordLookup` (a
            word-level student).
        batch_size, shuffle, seed: as in `tfdistill.data.encode`.
        **options: `drop_remainder`, `cache`, `epochs`, as in `tfdistill.data.encode`.

    Returns:
        A `tf.data.Dataset` of `(inputs, labels)`, labels int32
        `(batch, max_words)` with `NO_TAG` where the model sees no word.
    """
    words, tags = _raw_tagged(sentences, tag_ids, preprocessor.max_words)

    def preprocess(raw_words, labels):
        inputs = preprocessor(raw_words)
        return inputs, _masked_labels(labels, preprocessor.word_mask(inputs))

    return _encode_batches(
        tf.data.Dataset.from_tensor_slices((words, tags)),
        preprocess,
        **_pipeline_options(batch_size, shuffle, seed, options),
    )


def encode_tagged_for_distillation(
    sentences,
    tag_ids,
    *,
    student_preprocessor,
    teacher_preprocessor=None,
    teacher_logits=None,
    teacher_word_mask=None,
    batch_size,
    shuffle=False,
    seed=0,
    **options,
):
    """Batches tagged sentences into `Distiller` batches, one label per word slot.

    Give either `teacher_preprocessor` (the teacher runs on every batch) or
    `teacher_logits` with `teacher_word_mask` (precomputed by `predict_tag_logits`).
    A word gets a label only if both models see it: the labels are the mask of the
    per-word losses (see `Distiller`'s `logits_rank`).

    Args:
        sentences, tag_ids: as in `encode_tagged`.
        student_preprocessor: the student's `WordLookup` (or `FirstPiecePacker`).
        teacher_preprocessor: the teacher's `FirstPiecePacker`, with the same
            `max_words`.
        teacher_logits: float `(num_sentences, max_words, num_tags)`, in the order
            of `sentences`.
        teacher_word_mask: bool `(num_sentences, max_words)`: the slots where
            `teacher_logits` hold a word's logits.
        batch_size, shuffle, seed, **options: as in `encode_tagged`.

    Returns:
        A `tf.data.Dataset` of `(x, labels)` where `x` is `{"student": ...,
        "teacher": ...}` or `{"student": ..., "teacher_logits": float32
        (batch, max_words, num_tags)}`.
    """
    max_words = student_preprocessor.max_words
    words, tags = _raw_tagged(sentences, tag_ids, max_words)
    if (teacher_preprocessor is None) == (teacher_logits is None) or (
        (teacher_logits is None) != (teacher_word_mask is None)
    ):
        raise ValueError(
            "Pass either teacher_preprocessor, or teacher_logits with "
            "teacher_word_mask (see predict_tag_logits)."
        )
    if teacher_preprocessor is not None:
        _check_same_slots(teacher_preprocessor.max_words, max_words)
        raw = words

        def teacher_part(raw_words):
            inputs = teacher_preprocessor(raw_words)
            return raw_words, {TEACHER_KEY: inputs}, teacher_preprocessor.word_mask(inputs)

    else:
        teacher_logits = np.asarray(teacher_logits, np.float32)
        teacher_word_mask = np.asarray(teacher_word_mask, bool)
        if teacher_logits.shape[:2] != words.shape or teacher_word_mask.shape != words.shape:
            raise ValueError(
                f"teacher_logits {teacher_logits.shape} and teacher_word_mask "
                f"{teacher_word_mask.shape} must start with (num_sentences, max_words) "
                f"= {words.shape}."
            )
        raw = (words, teacher_logits, teacher_word_mask)

        def teacher_part(raw_batch):
            raw_words, logits, mask = raw_batch
            return raw_words, {TEACHER_LOGITS_KEY: logits}, mask

    def preprocess(raw_batch, labels):
        raw_words, x, teacher_mask = teacher_part(raw_batch)
        x[STUDENT_KEY] = student_preprocessor(raw_words)
        mask = student_preprocessor.word_mask(x[STUDENT_KEY])
        return x, _masked_labels(labels, teacher_mask, mask)

    return _encode_batches(
        tf.data.Dataset.from_tensor_slices((raw, tags)),
        preprocess,
        **_pipeline_options(batch_size, shuffle, seed, options),
    )


def _check_same_slots(teacher_max_words, student_max_words):
    if teacher_max_words != student_max_words:
        raise ValueError(
            f"The teacher's preprocessor has {teacher_max_words} word slots but the "
            f"student's {student_max_words}; give both the same max_words."
        )


def _pipeline_options(batch_size, shuffle, seed, options):
    """`_encode_batches`'s arguments; the word axis is fixed, so never trimmed."""
    unknown = set(options) - {"drop_remainder", "cache", "epochs"}
    if unknown:
        raise TypeError(f"Unexpected arguments {sorted(unknown)}.")
    return {
        "batch_size": batch_size,
        "shuffle": shuffle,
        "seed": seed,
        "drop_remainder": options.get("drop_remainder", False),
        "cache": options.get("cache", True),
        "trim_padding": False,
        "epochs": options.get("epochs"),
    }


def predict_tag_logits(teacher, sentences, *, batch_size=64, verbose=0):
    """Runs a BERT tagger once over `sentences`: its cached logits and their mask.

    Args:
        teacher: a model from word inputs to per-word logits whose `preprocessor`
            is a `FirstPiecePacker` (e.g. `tfdistill.models.BertTokenClassifier`).
        sentences: `TaggedSentences`, or one sequence of words per sentence.
        batch_size: sentences per teacher batch.
        verbose: as in `tfdistill.data.predict_logits`.

    Returns:
        `(logits, word_mask)`: float32 `(num_sentences, max_words, num_tags)`, and
        bool `(num_sentences, max_words)`, True where the teacher read a word; for
        `encode_tagged_for_distillation`.
    """
    packer = teacher.preprocessor
    padded = _padded(_words_of(sentences), packer.max_words, _PADDING, object)

    def pack(raw_words, _):
        # The mask rides as the "label", which predict_logits ignores.
        inputs = packer(raw_words)
        return inputs, packer.word_mask(inputs)

    sentences = tf.data.Dataset.from_tensor_slices((padded, np.zeros(len(padded))))
    inputs = _encode_batches(sentences, pack, **_pipeline_options(batch_size, False, 0, {}))
    logits = predict_logits(teacher, inputs, verbose=verbose)
    word_mask = np.concatenate([mask.numpy() for _, mask in inputs])
    return logits, word_mask


def word_mask(preprocessor, sentences, *, batch_size=256):
    """Which word slots a model fed by `preprocessor` reads, for cached logits.

    Args:
        preprocessor: a `FirstPiecePacker` or a `WordLookup`.
        sentences: `TaggedSentences`, or one sequence of words per sentence.
        batch_size: sentences per batch.

    Returns:
        A bool array `(num_sentences, preprocessor.max_words)`, as
        `predict_tag_logits` returns it with the logits.

    Example:

    >>> lookup = build_word_lookup([["hi"]], max_words=3)
    >>> word_mask(lookup, [["hi", "you"], ["hi"]]).tolist()
    [[True, True, False], [True, False, False]]
    """
    padded = _padded(_words_of(sentences), preprocessor.max_words, _PADDING, object)
    batches = tf.data.Dataset.from_tensor_slices(padded).batch(batch_size)
    return np.concatenate(
        [preprocessor.word_mask(preprocessor(words)).numpy() for words in batches]
    )
