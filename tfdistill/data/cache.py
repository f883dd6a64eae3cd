"""The teacher-logit cache: run the frozen teacher once, reuse its logits.

A frozen teacher gives the same logits for the same text every epoch, and the
teacher forward pass dominates a distillation step. So the logits are computed
once, stored as a float32 `.npy` file named by a `fingerprint` of everything
they depend on (teacher weights, texts, preprocessing), and fed to
`encode_for_distillation(..., teacher_logits=logits)`. With a keras-hub teacher, key
the cache with `fingerprint(teacher, texts, teacher_preprocessing(teacher, policy))`
and feed it `encode(raw, teacher.preprocessor, cache=False, trim_padding=True)`
(trimming the padding speeds the teacher up without changing its logits).

Example:

>>> import tempfile
>>> teacher = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
>>> inputs = tf.data.Dataset.from_tensor_slices(np.ones((10, 4), "float32")).batch(4)
>>> key = fingerprint(teacher, [f"text {i}" for i in range(10)], {"sequence_length": 4})
>>> cache = TeacherLogitCache(tempfile.mkdtemp())
>>> cache.get_or_compute(teacher, inputs, key, verbose=0).shape
(10, 2)
"""

import functools
import hashlib
import json
import os
import re
import weakref

import keras
import numpy as np
import tensorflow as tf

from tfdistill.atomic import replace_atomically

# Part of every fingerprint: bump it when the stored logits change meaning.
_FORMAT_VERSION = b"tfdistill-teacher-logits-v1"
_KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*$")


def fingerprint(teacher, texts, preprocessing):
    """A SHA-256 key for the logits of `teacher` on `texts`.

    Any change of a teacher weight, of a text or of the text order, or of the
    preprocessing config gives another key.

    Args:
        teacher: A `keras.Model`. Its class and every weight's name, shape,
            dtype and value are hashed, in the model's own (construction)
            order. Variable paths are not used: Keras makes them unique per
            process (`dense_3/kernel`), which would make every run miss.
        texts: The texts in dataset order, strings or bytes (see `texts_of`).
        preprocessing: A JSON-serializable dict of everything else that changes
            the logits, e.g. `{"sequence_length": 128, "lowercase": True,
            "vocabulary_size": 30522}`.

    Returns:
        A 64-character hex string.

    Example:

    >>> teacher = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    >>> len(fingerprint(teacher, ["a good film"], {"sequence_length": 4}))
    64
    """
    digest = hashlib.sha256()

    def add(data):
        # Length-prefixed, so that ("ab", "c") and ("a", "bc") differ.
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)

    add(_FORMAT_VERSION)
    add(type(teacher).__qualname__.encode())
    for variable in teacher.weights:
        value = np.ascontiguousarray(keras.ops.convert_to_numpy(variable.value))
        add(f"{variable.name}:{value.shape}:{value.dtype}".encode())
        add(value.tobytes())
    num_texts = 0
    for text in texts:
        add(text if isinstance(text, bytes) else text.encode("utf-8"))
        num_texts += 1
    add(str(num_texts).encode())
    add(json.dumps(preprocessing, sort_keys=True).encode())
    return digest.hexdigest()


def teacher_preprocessing(teacher, dtype_policy):
    """What besides its weights and the texts changes a keras-hub teacher's logits.

    The `preprocessing` of its `fingerprint`: the sequence length, the tokenizer's
    settings and the dtype policy the logits are computed in. Every caller (the run,
    the benchmarks) keys its cache with this one description.

    Args:
        teacher: a keras-hub classifier with its preprocessor attached.
        dtype_policy: the name of the policy the teacher computes in.
    """
    tokenizer = teacher.preprocessor.tokenizer
    description = {
        "sequence_length": teacher.preprocessor.sequence_length,
        "vocabulary_size": tokenizer.vocabulary_size(),
        "lowercase": tokenizer.lowercase,
        "strip_accents": tokenizer.strip_accents,
        "special_tokens_in_strings": tokenizer.special_tokens_in_strings,
        "policy": dtype_policy,
    }
    # A tagger's logits have one row per word slot (`FirstPiecePacker.max_words`).
    if hasattr(teacher.preprocessor, "max_words"):
        description["max_words"] = teacher.preprocessor.max_words
    return description


# One traced forward pass per model, kept while the model lives: a run predicts
# with the same teacher on several splits, and each new function would trace again.
_FORWARD_PASSES = weakref.WeakKeyDictionary()


def _traced_forward(model):
    """`model(x, training=False)` as one `tf.function`; reduce_retracing keeps the
    smaller last batch (and trimmed lengths) from tracing once each."""
    if model not in _FORWARD_PASSES:
        # A weak reference: the function must not keep its own key alive. A partial,
        # not a lambda: TensorFlow counts traces per code object, so every model's
        # first trace through one shared lambda added up to a "retracing" warning.
        forward = functools.partial(_call_in_inference, weakref.ref(model))
        _FORWARD_PASSES[model] = tf.function(forward, reduce_retracing=True)
    return _FORWARD_PASSES[model]


def _call_in_inference(model_ref, x):
    return model_ref()(x, training=False)


def predict_logits(teacher, inputs, *, verbose=1):
    """Runs `teacher(x, training=False)` once over a batched dataset.

    Args:
        teacher: A `keras.Model` returning logits `[batch, num_classes]`.
        inputs: A batched, unshuffled `tf.data.Dataset` of teacher inputs, or
            of `(inputs, label)` pairs as `encode` yields (labels are ignored).
        verbose: 1 shows a `keras.utils.Progbar`, 2 one line when done (for
            logs), 0 is silent.

    Returns:
        float32 logits `[num_examples, num_classes]` in dataset order, whatever
        the teacher's dtype policy (mixed precision gives float16/bfloat16).

    Example:

    >>> teacher = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    >>> inputs = tf.data.Dataset.from_tensor_slices(np.ones((10, 4))).batch(4)
    >>> predict_logits(teacher, inputs, verbose=0).shape
    (10, 2)
    """
    forward = _traced_forward(teacher)
    num_batches = int(inputs.cardinality())
    progress = keras.utils.Progbar(
        num_batches if num_batches >= 0 else None, verbose=verbose, unit_name="batch"
    )
    logits = []
    for step, batch in enumerate(inputs):
        x, _, _ = keras.utils.unpack_x_y_sample_weight(batch)
        batch_logits = keras.ops.convert_to_numpy(forward(x)).astype(np.float32)
        if batch_logits.ndim < 2:
            raise ValueError(
                "The teacher must return logits of shape [batch, ..., num_classes]; "
                f"got shape {batch_logits.shape}."
            )
        logits.append(batch_logits)
        progress.update(step + 1)
    if not logits:
        raise ValueError("The teacher inputs dataset is empty.")
    return np.concatenate(logits)


def _check_finite(key, logits):
    """Raises `FloatingPointError` if a logit of `key` is NaN or Inf, naming how many."""
    finite = np.isfinite(logits)
    if finite.all():
        return
    first_example = int(np.argmin(finite.reshape(len(logits), -1).all(axis=1)))
    raise FloatingPointError(
        f"The teacher's logits for cache key {key!r} hold {finite.size - finite.sum()} "
        f"NaN or Inf values (of {finite.size}), the first in example {first_example}; "
        "they were not cached."
    )


class TeacherLogitCache:
    """A directory of teacher logits, one `<key>.npy` file per key.

    Args:
        directory: Where the files live; created on the first `put`.

    Example:

    >>> import tempfile
    >>> cache = TeacherLogitCache(tempfile.mkdtemp())
    >>> cache.get("abc") is None
    True
    >>> cache.put("abc", np.zeros((3, 2)))
    >>> cache.get("abc").shape
    (3, 2)
    """

    def __init__(self, directory):
        self.directory = os.fspath(directory)

    def path(self, key):
        """The file that holds the logits of `key`."""
        if not _KEY_PATTERN.match(key):
            raise ValueError(
                f"Cache key {key!r} must be a file name of letters, digits, "
                "'_', '-' and '.' (not starting with '.'), such as a fingerprint."
            )
        return os.path.join(self.directory, f"{key}.npy")

    def get(self, key):
        """The stored float32 logits of `key`, or None if there are none."""
        path = self.path(key)
        if not os.path.exists(path):
            return None
        return np.load(path)

    def put(self, key, logits):
        """Stores `logits` `[num_examples, ..., num_classes]` as float32 under `key`.

        The file is written under a temporary name in the same directory and
        then renamed: a crash or a concurrent reader never sees half a file.

        Raises:
            ValueError: if `logits` has no class axis.
            FloatingPointError: if a logit is NaN or Inf (then nothing is
                written): a poisoned teacher's logits would otherwise be reused by
                every later run.

        Example:

        >>> import tempfile
        >>> cache = TeacherLogitCache(tempfile.mkdtemp())
        >>> cache.put("k", [[0.5, np.nan], [np.inf, 1.0], [0.0, 0.0]])
        Traceback (most recent call last):
        ...
        FloatingPointError: The teacher's logits for cache key 'k' hold 2 NaN or Inf values (of 6), the first in example 0; they were not cached.
        >>> cache.get("k") is None
        True
        """
        path = self.path(key)
        logits = np.asarray(logits, dtype=np.float32)
        if logits.ndim < 2:
            raise ValueError(
                f"Logits must have shape [num_examples, ..., num_classes]; got {logits.shape}."
            )
        _check_finite(key, logits)
        # The temporary path keeps the ".npy" name, which np.save would otherwise add.
        replace_atomically(lambda tmp: np.save(tmp, logits), path)

    def get_or_compute(self, teacher, inputs, key, *, verbose=1):
        """The logits of `key`: read if stored, else computed and stored.

        On a hit the teacher is not called at all. Logits with a NaN or Inf are
        not stored: `put` raises a `FloatingPointError`.

        Args:
            teacher: A frozen `keras.Model` returning logits.
            inputs: A batched, unshuffled dataset of teacher inputs, or of
                `(inputs, label)` pairs as `encode` yields; or a function that
                returns one, called only on a miss (tokenizing tens of thousands
                of texts takes minutes that a hit does not need).
            key: Usually `fingerprint(teacher, texts, preprocessing)`.
            verbose: 1 shows a progress bar while computing, 0 is silent.

        Returns:
            float32 logits `[num_examples, num_classes]` in dataset order.

        Example:

        >>> import tempfile
        >>> teacher = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        >>> inputs = tf.data.Dataset.from_tensor_slices(np.ones((10, 4))).batch(4)
        >>> cache = TeacherLogitCache(tempfile.mkdtemp())
        >>> cache.get_or_compute(teacher, inputs, "k", verbose=0).shape
        (10, 2)
        """
        logits = self.get(key)
        if logits is None:
            inputs = inputs() if callable(inputs) else inputs
            logits = predict_logits(teacher, inputs, verbose=verbose)
            self.put(key, logits)
        return logits
