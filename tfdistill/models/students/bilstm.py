"""`"bilstm"`: a word-level bidirectional LSTM student (Tang et al. 2019, "Distilling
Task-Specific Knowledge from BERT into Simple Neural Networks").

Its LSTM never uses cuDNN (see `XLACompatibleLSTM`), so that the model, and any
model that contains it, can be XLA-compiled. `build_student("bilstm", ...)` builds it.
"""

import keras
from keras import ops

from tfdistill.models.students.base import register_student

# How the BiLSTM's steps become one vector: `"last"`, each direction's final state
# (Tang et al. 2019); `"max"`, each feature's largest value over the real steps of
# both directions' outputs (InferSent, Conneau et al. 2017), which sees every step.
POOLINGS = ("last", "max")


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


@keras.saving.register_keras_serializable(package="tfdistill")
class MaskedMaxPooling(keras.layers.Layer):
    """`(batch, steps, features)` -> `(batch, features)`: each feature's largest value
    over the steps its mask keeps; 0 for a row with none (an empty text).

    Padding steps never win: a padded step's output (zero, or anything) is not a
    value of the text.

    Example:

    >>> import numpy as np
    >>> steps = np.array([[[-3.0], [-2.0], [9.0]]])
    >>> MaskedMaxPooling()(steps, mask=np.array([[True, True, False]])).numpy().tolist()
    [[-2.0]]
    >>> MaskedMaxPooling()(steps, mask=np.array([[False, False, False]])).numpy().tolist()
    [[0.0]]
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is None:
            return ops.max(inputs, axis=1)
        kept = ops.expand_dims(ops.cast(mask, "bool"), -1)
        # Below any value a step can hold, and finite in float16.
        lowest = ops.full_like(inputs, -6.0e4)
        largest = ops.max(ops.where(kept, inputs, lowest), axis=1)
        return ops.where(ops.any(kept, axis=1), largest, ops.zeros_like(largest))

    def compute_mask(self, inputs, mask=None):
        return None


@register_student("bilstm", recurrent=True)
def build_bilstm(
    sequence_length,
    vocabulary_size,
    *,
    head,
    embedding_dim=128,
    lstm_units=128,
    hidden_dim=128,
    dropout=0.2,
    pooling="last",
):
    """Embeddings, a bidirectional LSTM, dropout, a ReLU layer, the head.

    `sequence_length`, `vocabulary_size` and `head` are a word-level builder's (see
    `register_student`).

    Args:
        embedding_dim: the width of the word embeddings.
        lstm_units: the LSTM's hidden size per direction.
        hidden_dim: the width of the ReLU layer before the head.
        dropout: the dropout rate before the ReLU layer.
        pooling: one of `POOLINGS`, how the steps become one vector.

    Returns:
        A `keras.Model` named `"bilstm_student"` from word ids to logits.
    """
    token_ids = keras.Input(shape=(sequence_length,), dtype="int64", name="token_ids")
    # Id 0 is padding: the mask makes the LSTM skip it.
    embedded = keras.layers.Embedding(
        vocabulary_size, embedding_dim, mask_zero=True, name="token_embedding"
    )(token_ids)
    features = bilstm_features(
        embedded, lstm_units=lstm_units, hidden_dim=hidden_dim, dropout=dropout, pooling=pooling
    )
    return keras.Model(token_ids, head(features), name="bilstm_student")


def bilstm_features(embedded, *, lstm_units, hidden_dim, dropout, mask=None, pooling="last"):
    """The BiLSTM's body on embedded tokens: a bidirectional LSTM, dropout, a ReLU layer.

    Shared by every student that runs this body on its own embeddings (`"bilstm"` on
    word ids, `"bilstm_wordpiece"` on the teacher's pieces), so that they differ only
    in what they read. The layers are made in the order `build_bilstm` always made
    them, so a seeded build keeps its initial weights.

    Args:
        embedded: a functional tensor `(batch, steps, width)`, carrying its padding
            mask (`Embedding(mask_zero=True)`) unless `mask` is given.
        lstm_units: the LSTM's hidden size per direction.
        hidden_dim: the width of the ReLU layer.
        dropout: the dropout rate before the ReLU layer.
        mask: a boolean `(batch, steps)` tensor, True at real tokens; None keeps
            `embedded`'s own mask.
        pooling: one of `POOLINGS`.

    Returns:
        The ReLU layer's output, `(batch, hidden_dim)`: the features a head reads.
    """
    if pooling not in POOLINGS:
        raise ValueError(f"pooling {pooling!r} is not one of {list(POOLINGS)}.")
    # cuDNN would switch XLA off for the whole model, the Distiller included.
    bilstm = keras.layers.Bidirectional(
        XLACompatibleLSTM(lstm_units, return_sequences=pooling != "last"), name="bilstm"
    )
    encoded = bilstm(embedded) if mask is None else bilstm(embedded, mask=mask)
    if pooling == "max":
        encoded = MaskedMaxPooling(name="max_pooling")(encoded)
    return keras.layers.Dense(hidden_dim, activation="relu", name="hidden")(
        keras.layers.Dropout(dropout, name="dropout")(encoded)
    )
