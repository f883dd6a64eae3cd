"""`"cnn"`: a word-level convolutional student (Kim 2014, "Convolutional Neural
Networks for Sentence Classification").

Example:

>>> from tfdistill.models import build_student
>>> student = build_student("cnn", num_classes=2, train_texts=["a gem", "a dud"],
...                         filters=4, sequence_length=8)
>>> student.model(student.preprocessor(["a gem of a film"])).shape
TensorShape([1, 2])
"""

import keras

from tfdistill.models.students.base import register_student


@register_student("cnn")
def build_cnn(
    sequence_length,
    vocabulary_size,
    *,
    head,
    embedding_dim=128,
    filters=100,
    kernel_sizes=(3, 4, 5),
    dropout=0.5,
):
    """Embeddings, one max-pooled convolution per kernel size, dropout, the head.

    `sequence_length`, `vocabulary_size` and `head` are a word-level builder's (see
    `register_student`).

    Args:
        embedding_dim: the width of the word embeddings.
        filters: the number of filters per kernel size.
        kernel_sizes: the widths of the convolutions, in words.
        dropout: the dropout rate before the head.

    Returns:
        A `keras.Model` named `"cnn_student"` from word ids to logits.

    Raises:
        ValueError: if `sequence_length` is shorter than the widest kernel.
    """
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
    return keras.Model(token_ids, head(features, dropout=dropout), name="cnn_student")
