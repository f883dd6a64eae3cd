"""Students: small text classifiers that learn from a BERT teacher's logits.

Three kinds, from the distillation literature:

- `"small_bert"`: a shallower and/or narrower BERT that shares the teacher's
  tokenizer and starts from a copy of the teacher's embeddings and of some of its
  transformer layers (DistilBERT, Sanh et al. 2019).
- `"bilstm"`: a word-level bidirectional LSTM (Tang et al. 2019, "Distilling
  Task-Specific Knowledge from BERT into Simple Neural Networks").
- `"cnn"`: a word-level convolutional network (Kim 2014, "Convolutional Neural
  Networks for Sentence Classification").

Each comes as a `Student`: a Keras model that maps preprocessed inputs to logits,
and the preprocessor that maps raw strings to those inputs. The two are kept apart
so that preprocessing runs in `tf.data` (on the CPU, cached once) and the model
stays a plain, XLA-compilable Keras model that saves to `.keras`.

Example:

>>> student = build_student("cnn", num_classes=2, train_texts=["a gem", "a dud"])
>>> student.model(student.preprocessor(["a gem of a film"])).shape
TensorShape([1, 2])
"""

import dataclasses

import keras
import keras_hub
import numpy as np

from tfdistill.data.encoders import build_vectorizer
from tfdistill.models.teachers import check_has_tokenizer
from tfdistill.models.word_vectors import teacher_word_vectors

STUDENT_KINDS = ("small_bert", "bilstm", "cnn")


@dataclasses.dataclass(frozen=True)
class Student:
    """A student model and the preprocessor that feeds it.

    Attributes:
        kind: one of `STUDENT_KINDS`.
        model: a `keras.Model` that maps the preprocessor's output to float logits
            of shape `(batch, num_classes)`.
        preprocessor: a `keras.layers.Layer` that maps a batch of raw `tf.string`
            texts to the model's inputs.
        num_params: the number of weights in `model`, the embedding table
            included (it is most of a small student's weights).

    Example:

    >>> student = build_student("bilstm", num_classes=3, train_texts=["so good"])
    >>> student.model(student.preprocessor(["so so"])).shape
    TensorShape([1, 3])
    """

    kind: str
    model: keras.Model
    preprocessor: keras.layers.Layer
    num_params: int


def _evenly_spaced_layers(num_student_layers, num_teacher_layers):
    """Teacher layer indices from the first to the last, evenly spaced, rounded down."""
    last = num_teacher_layers - 1
    step_count = max(num_student_layers - 1, 1)
    return [i * last // step_count for i in range(num_student_layers)]


def _check_copyable(teacher_backbone, sizes):
    for name, size in sizes.items():
        teacher_size = getattr(teacher_backbone, name)
        if size != teacher_size:
            raise ValueError(
                f"Cannot initialise a small_bert student with {name}={size} from a "
                f"teacher with {name}={teacher_size}: the weights would not fit. "
                f"Set init_from_teacher=False, or {name}={teacher_size}."
            )


def _check_teacher_layers(teacher_layers, num_layers, num_teacher_layers):
    if len(teacher_layers) != num_layers or not all(
        0 <= index < num_teacher_layers for index in teacher_layers
    ):
        raise ValueError(
            f"teacher_layers must list {num_layers} indices (one per student layer) "
            f"between 0 and {num_teacher_layers - 1}; got {list(teacher_layers)}."
        )


def _copy_teacher_weights(teacher_backbone, student_backbone, teacher_layers):
    for name in (
        "token_embedding",
        "position_embedding",
        "segment_embedding",
        "embeddings_layer_norm",
        "pooled_dense",
    ):
        getattr(student_backbone, name).set_weights(
            getattr(teacher_backbone, name).get_weights()
        )
    for student_layer, teacher_index in zip(
        student_backbone.transformer_layers, teacher_layers
    ):
        student_layer.set_weights(
            teacher_backbone.transformer_layers[teacher_index].get_weights()
        )


def _small_bert(
    num_classes,
    teacher,
    sequence_length,
    *,
    num_layers=2,
    hidden_dim=None,
    num_heads=None,
    intermediate_dim=None,
    dropout=0.1,
    init_from_teacher=True,
    teacher_layers=None,
):
    check_has_tokenizer(teacher, "A small_bert student shares the teacher's tokenizer")
    teacher_backbone = teacher.backbone
    requested = {
        "hidden_dim": hidden_dim,
        "num_heads": num_heads,
        "intermediate_dim": intermediate_dim,
    }
    sizes = {
        name: getattr(teacher_backbone, name) if size is None else size
        for name, size in requested.items()
    }
    if init_from_teacher:
        _check_copyable(teacher_backbone, sizes)
        if teacher_layers is None:
            teacher_layers = _evenly_spaced_layers(
                num_layers, teacher_backbone.num_layers
            )
        _check_teacher_layers(teacher_layers, num_layers, teacher_backbone.num_layers)
    elif teacher_layers is not None:
        raise ValueError("teacher_layers needs init_from_teacher=True.")
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=teacher_backbone.vocabulary_size,
        num_layers=num_layers,
        dropout=dropout,
        max_sequence_length=teacher_backbone.max_sequence_length,
        num_segments=teacher_backbone.num_segments,
        **sizes,
    )
    if init_from_teacher:
        _copy_teacher_weights(teacher_backbone, backbone, teacher_layers)
    model = keras_hub.models.BertTextClassifier(
        backbone=backbone,
        num_classes=num_classes,
        preprocessor=None,
        activation=None,
        dropout=dropout,
        name="small_bert_student",
        # Students are compiled by whatever trains them (the Distiller).
        compile=False,
    )
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(
        tokenizer=teacher.preprocessor.tokenizer, sequence_length=sequence_length
    )
    return model, preprocessor


@keras.saving.register_keras_serializable(package="tfdistill")
class XLACompatibleLSTM(keras.layers.LSTM):
    """A `keras.layers.LSTM` that never uses cuDNN, so it can be XLA-compiled.

    Keras answers a cuDNN LSTM by silently turning `jit_compile` off for every
    model that contains it. `LSTM(use_cudnn=False)` is not enough: `use_cudnn` is
    not part of the layer's config, so the copies `Bidirectional` makes of it, and
    the layer reloaded from a `.keras` file, go back to cuDNN wherever a GPU is
    available. This class fixes the choice in its constructor instead.

    Args:
        units: the size of the hidden state.
        **kwargs: any other `keras.layers.LSTM` argument but `use_cudnn`.

    Example:

    >>> layer = keras.layers.Bidirectional(XLACompatibleLSTM(4))
    >>> layer.forward_layer.use_cudnn, layer.backward_layer.use_cudnn
    (False, False)
    """

    def __init__(self, units, **kwargs):
        super().__init__(units, use_cudnn=False, **kwargs)


def _bilstm(
    num_classes,
    sequence_length,
    vocabulary_size,
    *,
    embedding_dim=128,
    lstm_units=128,
    hidden_dim=128,
    dropout=0.2,
):
    token_ids = keras.Input(shape=(sequence_length,), dtype="int64", name="token_ids")
    # Id 0 is padding: the mask makes the LSTM skip it.
    embedded = keras.layers.Embedding(
        vocabulary_size, embedding_dim, mask_zero=True, name="token_embedding"
    )(token_ids)
    # cuDNN would switch XLA off for the whole model, the Distiller included.
    encoded = keras.layers.Bidirectional(XLACompatibleLSTM(lstm_units), name="bilstm")(
        embedded
    )
    hidden = keras.layers.Dense(hidden_dim, activation="relu", name="hidden")(
        keras.layers.Dropout(dropout, name="dropout")(encoded)
    )
    logits = keras.layers.Dense(num_classes, name="logits")(hidden)
    return keras.Model(token_ids, logits, name="bilstm_student")


def _cnn(
    num_classes,
    sequence_length,
    vocabulary_size,
    *,
    embedding_dim=128,
    filters=100,
    kernel_sizes=(3, 4, 5),
    dropout=0.5,
):
    if sequence_length < max(kernel_sizes):
        raise ValueError(
            f"sequence_length={sequence_length} is shorter than the widest "
            f"convolution (kernel_sizes={tuple(kernel_sizes)})."
        )
    token_ids = keras.Input(shape=(sequence_length,), dtype="int64", name="token_ids")
    # No mask: convolutions cannot use one. Padding gets its own learned embedding,
    # as the zero-padded sentences of Kim (2014) did.
    embedded = keras.layers.Embedding(
        vocabulary_size, embedding_dim, name="token_embedding"
    )(token_ids)
    pooled = [
        keras.layers.GlobalMaxPooling1D(name=f"max_pool_{size}")(
            keras.layers.Conv1D(filters, size, activation="relu", name=f"conv_{size}")(
                embedded
            )
        )
        for size in kernel_sizes
    ]
    if len(pooled) > 1:
        features = keras.layers.Concatenate(name="features")(pooled)
    else:
        features = pooled[0]
    logits = keras.layers.Dense(num_classes, name="logits")(
        keras.layers.Dropout(dropout, name="dropout")(features)
    )
    return keras.Model(token_ids, logits, name="cnn_student")


_WORD_MODELS = {"bilstm": _bilstm, "cnn": _cnn}


def _word_student(
    build_model,
    num_classes,
    teacher,
    train_texts,
    sequence_length,
    *,
    vocabulary_size=20_000,
    init_from_teacher=False,
    **sizes,
):
    if train_texts is None:
        raise ValueError(
            "A word-level student learns its vocabulary from train_texts; got "
            "train_texts=None."
        )
    preprocessor = build_vectorizer(train_texts, vocabulary_size, sequence_length)
    model = build_model(
        num_classes, sequence_length, preprocessor.vocabulary_size(), **sizes
    )
    if init_from_teacher:
        embedding = model.get_layer("token_embedding")
        # Rows 0 and 1 are padding and out-of-vocabulary: no word, so the zero vector
        # (the mean of the words' vectors).
        words = preprocessor.get_vocabulary()[2:]
        vectors = teacher_word_vectors(teacher, words, embedding.output_dim)
        padding_and_unknown = np.zeros((2, vectors.shape[1]), vectors.dtype)
        embedding.set_weights([np.concatenate([padding_and_unknown, vectors])])
    return model, preprocessor


def build_student(
    kind, num_classes, teacher=None, train_texts=None, *, sequence_length=64, **sizes
):
    """Builds a student of the given kind and the preprocessor that feeds it.

    `**sizes` depend on the kind (defaults in brackets):

    - `"small_bert"`: `num_layers` (2), `hidden_dim`, `num_heads` and
      `intermediate_dim` (the teacher's), `dropout` (0.1), `init_from_teacher`
      (True) and `teacher_layers`. Needs `teacher`, whose tokenizer it shares. With
      `init_from_teacher`, the embeddings, the pooler and the transformer layers
      listed in `teacher_layers` are copied from the teacher, so the widths must be
      the teacher's. By default the layers are evenly spaced from the teacher's
      first to its last, rounded down: student layer `i` of `L_s` copies teacher
      layer `i * (L_t - 1) // (L_s - 1)`, e.g. `[0, 5]` for 2 of 6, `[0, 2, 5]`
      for 3 of 6, and `[0]` for a one-layer student.
    - `"bilstm"`: `vocabulary_size` (20,000), `embedding_dim` (128), `lstm_units`
      per direction (128), `hidden_dim` of the ReLU layer before the logits (128),
      `dropout` (0.2) and `init_from_teacher` (False). The LSTM never uses cuDNN
      (see `XLACompatibleLSTM`), so that the model, and any model that contains it,
      can be XLA-compiled.
    - `"cnn"`: `vocabulary_size` (20,000), `embedding_dim` (128), `filters` per
      kernel size (100), `kernel_sizes` ((3, 4, 5)), `dropout` (0.5) and
      `init_from_teacher` (False).

    A word-level student with `init_from_teacher` needs `teacher`: its embedding
    table starts from the teacher's word vectors (`teacher_word_vectors`, at most the
    teacher's width), with zeros for padding and out-of-vocabulary.

    The word-level students (`"bilstm"`, `"cnn"`) get a `TextVectorization`
    preprocessor that lowercases, strips punctuation, splits on whitespace, and pads
    or truncates to `sequence_length` word ids (0 is padding, 1 out-of-vocabulary).
    Its vocabulary is the `vocabulary_size - 2` most frequent words of
    `train_texts`, so pass training texts only. It runs outside the model because it
    cannot be XLA-compiled.

    Args:
        kind: one of `STUDENT_KINDS`.
        num_classes: the number of logits.
        teacher: the `BertTextClassifier` teacher with its preprocessor attached;
            required for `"small_bert"` and for word-level students initialised
            from it, ignored otherwise.
        train_texts: the training texts (a list, array or `tf.data.Dataset` of
            strings); required for `"bilstm"` and `"cnn"`, ignored otherwise.
        sequence_length: the length of the preprocessor's output, in word pieces
            (`[CLS]` and `[SEP]` included) or words.
        **sizes: see above.

    Returns:
        A `Student`.

    Raises:
        ValueError: for an unknown kind, a missing teacher or `train_texts`, or
            sizes that cannot be initialised from the teacher.

    Example:

    >>> student = build_student(
    ...     "bilstm", num_classes=2, train_texts=["great fun", "dull"],
    ...     lstm_units=16, sequence_length=8)
    >>> student.model(student.preprocessor(["great"])).shape
    TensorShape([1, 2])
    """
    if kind == "small_bert":
        model, preprocessor = _small_bert(
            num_classes, teacher, sequence_length, **sizes
        )
    elif kind in _WORD_MODELS:
        model, preprocessor = _word_student(
            _WORD_MODELS[kind],
            num_classes,
            teacher,
            train_texts,
            sequence_length,
            **sizes,
        )
    else:
        raise ValueError(
            f"Unknown student kind {kind!r}; choose one of {STUDENT_KINDS}."
        )
    return Student(
        kind=kind,
        model=model,
        preprocessor=preprocessor,
        num_params=model.count_params(),
    )
