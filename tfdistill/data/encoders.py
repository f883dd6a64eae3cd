"""Raw `(text, label)` examples -> batched model inputs.

`encode` feeds one model (teacher evaluation, baselines);
`encode_for_distillation` feeds the `Distiller`, whose inputs are
`{"teacher": ..., "student": ...}` or `{"student": ..., "teacher_logits": ...}`.
Both share one pipeline, `_encode_batches`.

A preprocessor is anything that maps a batch of strings to model inputs inside
`tf.data`: a keras-hub preprocessor such as `BertTextClassifierPreprocessor`
(a dict of `token_ids`, `padding_mask`, `segment_ids`) or a
`keras.layers.TextVectorization` (int ids, 0 = padding).
"""

import re

import functools

import keras
import numpy as np
import tensorflow as tf

from tfdistill.distillation.batch import STUDENT_KEY
from tfdistill.distillation.batch import TEACHER_KEY
from tfdistill.distillation.batch import TEACHER_LOGITS_KEY
from tfdistill.distillation.batch import TEACHER_VECTORS_KEY

# `sequence_length_from_data` tokenizes texts this many at a time.
_TOKENIZE_BATCH_SIZE = 1024
# Datasets of up to this many examples are encoded eagerly, a batch at a time,
# before tf.data sees them; larger ones stream through `Dataset.map`. As a map, a
# keras-hub BERT preprocessor costs 3 to 4 s whatever the data's size (tracing it,
# then serializing its WordPiece model into the dataset's graph at every iterator);
# eagerly, 0.03 s for 64 texts (the packaged MiniLM's, on 2 CPU cores).
EAGER_ENCODING_LIMIT = 100_000
# Epoch e of a multi-epoch stream shuffles with seed * stride + e: distinct seeds
# for every (seed, epoch) pair of any realistic run.
_EPOCH_SEED_STRIDE = 1_000_003

# The word that stands for a masked-out word in augmented texts (see
# `augment_texts`): BERT's own mask token, so a BERT teacher reads it as such.
MASK_TOKEN = "[MASK]"
# `TextVectorization`'s out-of-vocabulary token. `adapt` never puts it in the
# vocabulary, so it always maps to the OOV id 1.
_OOV_TOKEN = "[UNK]"
# The punctuation Keras's "lower_and_strip_punctuation" removes.
_PUNCTUATION = r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']'
_LOWERCASE_MASK = re.escape(MASK_TOKEN.lower())


def sequence_length_from_data(
    texts,
    tokenize,
    percentile=99,
    cap=512,
    multiple_of=8,
    *,
    num_special_tokens=0,
):
    """Picks a sequence length that covers `percentile`% of the texts.

    The length is the `percentile`-th percentile of the token counts plus
    `num_special_tokens`, rounded up to a multiple of `multiple_of` (friendly
    to XLA and matrix units), and at most `cap`.

    Args:
        texts: A list or array of strings, e.g. from `texts_of`.
        tokenize: A function from a list of strings to their tokens: a
            `tf.RaggedTensor`, or one item per text that is either a sequence
            of tokens or a token count. A keras-hub tokenizer works as is.
        percentile: The percentile of token counts to cover, in [0, 100].
        cap: The largest length returned, e.g. the model's maximum.
        multiple_of: The length is rounded up to a multiple of this.
        num_special_tokens: Tokens the preprocessor adds to every text, e.g. 2
            for BERT's `[CLS]` and `[SEP]`.

    Returns:
        The sequence length, an int. Callers should log it.

    Example:

    >>> sequence_length_from_data(
    ...     ["a good film", "bad"], lambda batch: [t.split() for t in batch]
    ... )
    8
    """
    if len(texts) == 0:
        raise ValueError("sequence_length_from_data needs at least one text.")
    if not 0 <= percentile <= 100:
        raise ValueError(f"percentile must be in [0, 100], got {percentile}.")
    counts = np.concatenate(
        [
            _token_counts(tokenize(list(texts[start : start + _TOKENIZE_BATCH_SIZE])))
            for start in range(0, len(texts), _TOKENIZE_BATCH_SIZE)
        ]
    )
    length = int(np.ceil(np.percentile(counts, percentile))) + num_special_tokens
    length = -(-length // multiple_of) * multiple_of
    return min(length, cap)


def _token_counts(tokens):
    if isinstance(tokens, tf.RaggedTensor):
        return tokens.row_lengths().numpy()
    return np.array(
        [item if isinstance(item, (int, np.integer)) else len(item) for item in tokens]
    )


@keras.saving.register_keras_serializable(package="tfdistill")
def lower_and_strip_punctuation_except_mask(texts):
    """Keras's "lower_and_strip_punctuation", except that `MASK_TOKEN` becomes OOV.

    Plain punctuation stripping would turn `"[MASK]"` into the real word
    "mask". Instead it becomes a word of its own that no vocabulary holds, so
    a `TextVectorization` maps it to the out-of-vocabulary id 1, whatever
    texts it was adapted on (augmented ones included). The match ignores case.
    Texts without the mask token are standardized exactly as by
    "lower_and_strip_punctuation". Made of TensorFlow string ops and
    registered, so it runs in `tf.data` and saves with the layer.

    Args:
        texts: A `tf.string` tensor.

    Returns:
        The standardized `tf.string` tensor, of the same shape.

    Example:

    >>> texts = tf.constant(["A [MASK], film!"])
    >>> lower_and_strip_punctuation_except_mask(texts).numpy()
    array([b'a  [UNK]  film'], dtype=object)
    """
    texts = tf.strings.lower(texts)
    # RE2 has no lookahead, so the lowercased mask token is matched as an
    # alternative and written back (`\1`), while punctuation (group 1 unmatched)
    # is replaced by nothing.
    texts = tf.strings.regex_replace(
        texts, rf"({_LOWERCASE_MASK})|{_PUNCTUATION}", r"\1"
    )
    return tf.strings.regex_replace(texts, _LOWERCASE_MASK, f" {_OOV_TOKEN} ")


def build_vectorizer(train_texts, vocabulary_size=20000, sequence_length=64, extra_words=()):
    """A word-level `TextVectorization` adapted on the training texts only.

    Texts are lowercased and stripped of punctuation, split on whitespace and
    mapped to int ids (0 = padding, 1 = out of vocabulary), padded or
    truncated to `sequence_length` so batches have a static shape for XLA.
    The mask token of augmented texts, `"[MASK]"`, is a word of its own that
    maps to 1 (see `lower_and_strip_punctuation_except_mask`); loading a saved
    vectorizer needs `tfdistill` imported, which registers that function.

    Args:
        train_texts: Training texts: a list or array of strings or a
            `tf.data.Dataset` of scalar strings. Unlabelled texts may join them
            (a run's transfer texts); never validation or test texts, whose
            words must count as unseen.
        vocabulary_size: Vocabulary size, including padding and OOV.
        sequence_length: Length of every output row.
        extra_words: Words to add after the training texts' `vocabulary_size`
            ones, in their order, those already there skipped: words that
            no training text holds but that a model can still read, such as a
            teacher's whole words (`models.word_vectors.whole_words`). They must already be
            standardized (lowercase, no punctuation), or no text reaches them.

    Returns:
        An adapted `keras.layers.TextVectorization`.

    Example:

    >>> vectorizer = build_vectorizer(["a good film", "a bad film"], sequence_length=4)
    >>> vectorizer(["a good one"]).shape
    TensorShape([1, 4])
    >>> extended = build_vectorizer(["a good film"], extra_words=["fine", "good"])
    >>> [str(word) for word in extended.get_vocabulary()]
    ['', '[UNK]', 'good', 'film', 'a', 'fine']
    """
    vectorizer = _vectorizer(vocabulary_size, sequence_length)
    if not isinstance(train_texts, tf.data.Dataset):
        train_texts = tf.data.Dataset.from_tensor_slices(
            tf.constant(train_texts, tf.string)
        )
    vectorizer.adapt(train_texts.batch(_TOKENIZE_BATCH_SIZE))
    if not extra_words:
        return vectorizer
    vocabulary = vectorizer.get_vocabulary()
    known = set(vocabulary)
    vocabulary += [word for word in dict.fromkeys(extra_words) if word not in known]
    # `max_tokens` caps what `set_vocabulary` takes, so the layer is made anew.
    extended = _vectorizer(len(vocabulary), sequence_length)
    extended.set_vocabulary(vocabulary)
    return extended


def _vectorizer(max_tokens, sequence_length):
    return keras.layers.TextVectorization(
        max_tokens=max_tokens,
        standardize=lower_and_strip_punctuation_except_mask,
        output_mode="int",
        output_sequence_length=sequence_length,
    )


def encode(
    dataset,
    preprocessor,
    *,
    batch_size,
    shuffle=False,
    seed=0,
    drop_remainder=False,
    cache=True,
    trim_padding=False,
    epochs=None,
):
    """Batches raw `(text, label)` examples into `(inputs, label)` for one model.

    Args:
        dataset: A `tf.data.Dataset` of `(text, label)`, as `load` returns.
        preprocessor: Maps a batch of strings to model inputs (see the module
            docstring).
        batch_size: Examples per batch.
        shuffle: Shuffle the examples every epoch, reproducibly from `seed`.
        seed: The shuffle seed.
        drop_remainder: Drop the last partial batch, so the batch dimension is
            static (what XLA wants).
        cache: Keep the encoded examples in memory, so texts are tokenized
            once instead of every epoch.
        trim_padding: Cut each batch to its longest sequence: keras-hub inputs
            by `padding_mask`, int ids by trailing all-zero columns. Faster for
            short texts, but the sequence dimension becomes dynamic, so leave
            it off when XLA needs static shapes.
        epochs: None for a dataset of one epoch, reshuffled each time it is
            iterated; or `(first, stop)` (with `shuffle`) for one stream of
            epochs `first` to `stop - 1`, epoch e shuffled by `(seed, e)` alone.
            Give `fit` such a stream with `steps_per_epoch` and
            `initial_epoch=first`: a run resumed at epoch `first` then sees
            exactly the batches an uninterrupted run saw. `first == stop`
            (nothing left to train) gives an empty stream.

    Returns:
        A `tf.data.Dataset` of `(inputs, label)` batches.

    Example:

    >>> raw = tf.data.Dataset.from_tensor_slices((["a good film", "bad"], [1, 0]))
    >>> vectorizer = build_vectorizer(["a good film", "bad"], sequence_length=4)
    >>> ids, labels = next(iter(encode(raw, vectorizer, batch_size=2)))
    >>> ids.shape, labels.shape
    (TensorShape([2, 4]), TensorShape([2]))
    """
    return _encode_batches(
        dataset,
        _keep_label(preprocessor),
        batch_size=batch_size,
        shuffle=shuffle,
        seed=seed,
        drop_remainder=drop_remainder,
        cache=cache,
        trim_padding=trim_padding,
        epochs=epochs,
    )


def encode_for_distillation(
    dataset,
    *,
    student_preprocessor,
    teacher_preprocessor=None,
    teacher_logits=None,
    teacher_vectors=None,
    batch_size,
    shuffle=False,
    seed=0,
    drop_remainder=False,
    cache=True,
    trim_padding=False,
    epochs=None,
):
    """Batches raw `(text, label)` examples into `Distiller` batches.

    Give exactly one of `teacher_preprocessor` (the teacher runs on every
    batch) or `teacher_logits` (precomputed, see `TeacherLogitCache`: much
    faster, since the frozen teacher's outputs never change).

    Args:
        dataset: A `tf.data.Dataset` of `(text, label)`, as `load` returns.
        student_preprocessor: Maps a batch of strings to student inputs.
        teacher_preprocessor: Maps a batch of strings to teacher inputs.
        teacher_logits: A float array `[num_examples, num_classes]`, row `i`
            for example `i` of `dataset` in its order, or
            `[num_examples, num_teachers, num_classes]` for an ensemble. They
            stay paired with their examples through shuffling.
        teacher_vectors: with `teacher_logits`, optionally the teacher's vectors
            of the texts, `[num_examples, dim]` (the representation term's, see
            `tfdistill.distillation.representation`), carried likewise.
        batch_size, shuffle, seed, drop_remainder, cache, trim_padding,
            epochs: As in `encode`.

    Returns:
        A `tf.data.Dataset` of `(x, label)` batches where `x` is
        `{"teacher": ..., "student": ...}` or
        `{"student": ..., "teacher_logits": float32 [batch, num_classes]}`, with
        `"teacher_vectors"` too when they are given.

    Example:

    >>> raw = tf.data.Dataset.from_tensor_slices((["a good film", "bad"], [1, 0]))
    >>> vectorizer = build_vectorizer(["a good film", "bad"], sequence_length=4)
    >>> x, y = next(iter(encode_for_distillation(
    ...     raw, student_preprocessor=vectorizer,
    ...     teacher_logits=np.array([[-1.0, 1.0], [2.0, -2.0]]), batch_size=2)))
    >>> sorted(x), x["teacher_logits"].shape
    (['student', 'teacher_logits'], TensorShape([2, 2]))
    """
    if (teacher_preprocessor is None) == (teacher_logits is None):
        raise ValueError(
            "Pass exactly one of teacher_preprocessor (run the teacher on every "
            "batch) or teacher_logits (precomputed); got "
            f"{'both' if teacher_logits is not None else 'neither'}."
        )
    if teacher_vectors is not None and teacher_logits is None:
        raise ValueError("teacher_vectors come beside cached teacher_logits, not a live teacher.")
    if teacher_preprocessor is not None:
        raw = dataset

        def preprocess(texts):
            return {
                TEACHER_KEY: teacher_preprocessor(texts),
                STUDENT_KEY: student_preprocessor(texts),
            }

    else:
        teacher_logits = np.asarray(teacher_logits, dtype=np.float32)
        num_examples = _num_examples(dataset)
        if teacher_logits.ndim not in (2, 3) or teacher_logits.shape[0] != num_examples:
            raise ValueError(
                "teacher_logits must have shape [num_examples, num_classes] = "
                f"[{num_examples}, C] (or [{num_examples}, num_teachers, C] for an "
                f"ensemble) to match the dataset, got {teacher_logits.shape}."
            )
        targets = {TEACHER_LOGITS_KEY: teacher_logits}
        if teacher_vectors is not None:
            targets[TEACHER_VECTORS_KEY] = _rows_of(teacher_vectors, num_examples, "teacher_vectors")
        # Pair each example with its rows before any shuffling.
        raw = tf.data.Dataset.zip(
            dataset, tf.data.Dataset.from_tensor_slices(targets)
        ).map(lambda example, rows: ((example[0], rows), example[1]))

        def preprocess(texts_and_rows):
            texts, rows = texts_and_rows
            return {STUDENT_KEY: student_preprocessor(texts), **rows}

    return _encode_batches(
        raw,
        _keep_label(preprocess),
        batch_size=batch_size,
        shuffle=shuffle,
        seed=seed,
        drop_remainder=drop_remainder,
        cache=cache,
        trim_padding=trim_padding,
        epochs=epochs,
    )


def _rows_of(array, num_examples, name):
    """`array` as float32 `[num_examples, dim]`, or a ValueError naming `name`."""
    array = np.asarray(array, dtype=np.float32)
    if array.ndim != 2 or array.shape[0] != num_examples:
        raise ValueError(
            f"{name} must have shape [num_examples, dim] = [{num_examples}, D] to match "
            f"the dataset, got {array.shape}."
        )
    return array


def _keep_label(preprocess):
    """A labelled `preprocess` (see `_encode_batches`) from one of raw batches alone."""
    return lambda raw, label: (preprocess(raw), label)


def _encode_batches(
    dataset,
    preprocess,
    *,
    batch_size,
    shuffle,
    seed,
    drop_remainder,
    cache,
    trim_padding,
    epochs,
):
    """The one input pipeline: `(raw, label)` examples -> `(inputs, label)` batches.

    `preprocess(raw, label)` maps a batch to `(inputs, label)`: a tagging encoder
    sets the labels of the words its models do not see to -1.

    Tokenizers are vectorized, so texts are encoded a batch at a time and the
    encoded examples are cached (tokenization then runs once, not every
    epoch). Shuffling must mix examples, not permute fixed batches, so when
    shuffling the cached batches are split back into examples, shuffled with a
    full buffer and re-batched. The cache comes before the shuffle, or it would
    freeze the first epoch's order.
    """
    if epochs is not None and not shuffle:
        raise ValueError("epochs=(first, stop) makes a stream of shuffled epochs; pass shuffle=True.")
    full_batches_only = drop_remainder and not shuffle

    def encode_batch(raw, label):
        inputs, label = preprocess(raw, label)
        if full_batches_only:
            # Tokenizers lose the static batch size that XLA needs; restore it.
            inputs = tf.nest.map_structure(
                lambda t: tf.ensure_shape(
                    t, tf.TensorShape([batch_size]).concatenate(t.shape[1:])
                ),
                inputs,
            )
        return inputs, label

    batches = _encoded(dataset, encode_batch, batch_size, full_batches_only)
    if cache:
        batches = batches.cache()
    if shuffle:
        num_examples = _num_examples(dataset)
        num_batches = (
            num_examples // batch_size if drop_remainder else -(-num_examples // batch_size)
        )
        examples = batches.unbatch()

        def shuffled(epoch_seed, reshuffle):
            return examples.shuffle(
                num_examples, seed=epoch_seed, reshuffle_each_iteration=reshuffle
            ).batch(batch_size, drop_remainder=drop_remainder)

        if epochs is None:
            batches = shuffled(seed, reshuffle=True)
        else:
            # Epoch e's order comes from (seed, e) alone, not from how many times
            # the data was iterated before, so a stream that starts at a later
            # epoch replays exactly what an uninterrupted run saw from there.
            first, stop = epochs
            if not 0 <= first <= stop:
                raise ValueError(f"epochs=(first, stop) needs 0 <= first <= stop, got {epochs}.")
            # Starting from an empty stream, so that a resumed stage with no epoch
            # left (first == stop) gets an empty dataset rather than nothing.
            batches = functools.reduce(
                tf.data.Dataset.concatenate,
                [
                    shuffled(seed * _EPOCH_SEED_STRIDE + epoch, reshuffle=False)
                    for epoch in range(first, stop)
                ],
                shuffled(seed, reshuffle=False).take(0),
            )
            num_batches *= stop - first
        # `unbatch` forgets the size; Keras needs it for steps and progress bars.
        batches = batches.apply(tf.data.experimental.assert_cardinality(num_batches))
    if trim_padding:
        batches = batches.map(
            lambda inputs, label: (_trim_padding(inputs), label),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    return batches.prefetch(tf.data.AUTOTUNE)


def _encoded(dataset, encode_batch, batch_size, drop_remainder):
    """The batches of `encode_batch` over `dataset`: encoded now when it can be
    (`_eagerly_encoded`), else by `Dataset.map`."""
    batches = _eagerly_encoded(dataset, encode_batch, batch_size, drop_remainder)
    if batches is None:
        batches = dataset.batch(batch_size, drop_remainder=drop_remainder)
        batches = batches.map(encode_batch, num_parallel_calls=tf.data.AUTOTUNE)
    return batches


def _eagerly_encoded(dataset, encode_batch, batch_size, drop_remainder):
    """The batches of `encode_batch` over `dataset`, encoded now, as a dataset that
    holds them; None for a dataset of unknown size or over `EAGER_ENCODING_LIMIT`,
    an empty one, or one whose examples encode to unequal shapes."""
    cardinality = int(dataset.cardinality())
    if not tf.executing_eagerly() or not 0 < cardinality <= EAGER_ENCODING_LIMIT:
        return None
    raw_batches = dataset.batch(batch_size, drop_remainder=drop_remainder)
    encoded = [encode_batch(raw, label) for raw, label in raw_batches]
    if not encoded:
        return None
    try:
        examples = tf.nest.map_structure(lambda *parts: tf.concat(parts, axis=0), *encoded)
    except (tf.errors.InvalidArgumentError, ValueError, TypeError):
        return None
    return tf.data.Dataset.from_tensor_slices(examples).batch(batch_size, drop_remainder=drop_remainder)


def _num_examples(dataset):
    """The dataset's size; counted by iterating when tf.data does not know it
    (cheap for raw text)."""
    cardinality = int(dataset.cardinality())
    if cardinality == tf.data.INFINITE_CARDINALITY:
        raise ValueError("The dataset is infinite (repeated?); pass a finite dataset.")
    if cardinality >= 0:
        return cardinality
    return int(dataset.reduce(0, lambda count, _: count + 1))


def _trim_padding(inputs):
    """Cuts batched model inputs to their longest real sequence.

    keras-hub BERT inputs are cut by `padding_mask`; right-padded integer ids
    (0 = padding, as from `TextVectorization`) by their longest row of
    non-zero ids. Float tensors such as teacher logits pass through.
    """
    if isinstance(inputs, dict) and "padding_mask" in inputs:
        length = tf.reduce_max(
            tf.reduce_sum(tf.cast(inputs["padding_mask"], tf.int32), axis=1)
        )
        return {key: value[:, : tf.maximum(length, 1)] for key, value in inputs.items()}
    if isinstance(inputs, dict):
        return {key: _trim_padding(value) for key, value in inputs.items()}
    if inputs.dtype.is_integer and inputs.shape.rank == 2:
        length = tf.reduce_max(tf.math.count_nonzero(inputs, axis=1, dtype=tf.int32))
        return inputs[:, : tf.maximum(length, 1)]
    return inputs
