"""`BertTokenClassifier`: a keras-hub BERT backbone with a per-word tagging head.

keras-hub has no token classifier for BERT, so this one is built the way its
`BertTextClassifier` is: a functional model over the backbone's inputs, with dropout
and a `Dense` layer named `logits`. Each word is read at its first word piece (the
`word_starts` input that `tfdistill.data.FirstPiecePacker` gives), as in BERT's own
entity tagging (Devlin et al. 2019); the word's other pieces get no logits at all.
The logits are `(batch, max_words, num_classes)`, one row per word slot, in the
student's word order, so a word-level student learns from them slot by slot.
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="tfdistill")
class FirstPieceGather(keras.layers.Layer):
    """`(sequence_output, word_starts)` -> each word's vector at its first piece.

    Example:

    >>> import numpy as np
    >>> sequence = np.arange(6, dtype="float32").reshape(1, 3, 2)
    >>> FirstPieceGather()([sequence, np.array([[2, 1]])]).numpy().tolist()
    [[[4.0, 5.0], [2.0, 3.0]]]
    """

    def call(self, inputs):
        sequence, word_starts = inputs
        indices = ops.expand_dims(ops.cast(word_starts, "int32"), -1)
        return ops.take_along_axis(sequence, indices, axis=1)

    def compute_output_shape(self, input_shapes):
        sequence_shape, starts_shape = input_shapes
        return (*starts_shape, sequence_shape[-1])


@keras.saving.register_keras_serializable(package="tfdistill")
class BertTokenClassifier(keras.Model):
    """A BERT tagger: per-word logits from a keras-hub `BertBackbone`.

    Inputs are a dict of `token_ids`, `padding_mask`, `segment_ids` and
    `word_starts`, as `FirstPiecePacker` makes them from raw words; slots whose start
    is 0 read `[CLS]` and mean nothing (their label is -1).

    Args:
        backbone: a `keras_hub.models.BertBackbone`.
        num_classes: the number of tags.
        preprocessor: the `FirstPiecePacker` that makes the inputs from words. Kept
            with the model (and in its config) so that the tokenizer travels with
            it; it runs in `tf.data`, not inside the model.
        dropout: the dropout rate before the logits.

    Example (a random BERT, for speed):

    >>> import keras_hub
    >>> import tensorflow as tf
    >>> from tfdistill.data.tagging import FirstPiecePacker
    >>> tokenizer = keras_hub.models.BertTokenizer(
    ...     ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "new", "york", "##er"])
    >>> backbone = keras_hub.models.BertBackbone(
    ...     8, num_layers=1, num_heads=1, hidden_dim=4, intermediate_dim=8,
    ...     max_sequence_length=8)
    >>> tagger = BertTokenClassifier(
    ...     backbone, num_classes=3, preprocessor=FirstPiecePacker(tokenizer, 8))
    >>> tagger(tagger.preprocessor(tf.constant([["new", "yorker"]]))).shape
    TensorShape([1, 6, 3])
    """

    def __init__(self, backbone, num_classes, preprocessor=None, dropout=0.1, **kwargs):
        inputs = {
            **backbone.input,
            "word_starts": keras.Input(shape=(None,), dtype="int32", name="word_starts"),
        }
        sequence = backbone({key: inputs[key] for key in backbone.input})["sequence_output"]
        words = FirstPieceGather(dtype=backbone.dtype_policy, name="first_pieces")(
            [sequence, inputs["word_starts"]]
        )
        words = keras.layers.Dropout(
            dropout, dtype=backbone.dtype_policy, name="classifier_dropout"
        )(words)
        logits = keras.layers.Dense(
            num_classes,
            # BERT's initializer, as keras-hub's heads use.
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            dtype=backbone.dtype_policy,
            name="logits",
        )(words)
        super().__init__(inputs=inputs, outputs=logits, **kwargs)
        # The head reads the sequence output only: the pooled output's dense layer
        # would get no gradient, and Keras would warn about it at every fit.
        backbone.get_layer("pooled_dense").trainable = False
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.num_classes = num_classes
        self.dropout = dropout

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "num_classes": self.num_classes,
            "preprocessor": keras.saving.serialize_keras_object(self.preprocessor),
            "dropout": self.dropout,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("backbone", "preprocessor"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)
