"""The insides of a keras-hub BERT, for distillation losses beyond the logits.

`bert_features` wraps an existing `keras_hub.models.BertTextClassifier` (or
`BertBackbone`) in a Functional model that shares its layers and weights and returns,
besides the logits, what TinyBERT and MiniLM match between teacher and student: the
embeddings, every transformer layer's output and every layer's attention
probabilities. `uniform_layer_map` says which teacher layer each student layer learns
from.

Example:

>>> import keras_hub, numpy as np
>>> backbone = keras_hub.models.BertBackbone(
...     vocabulary_size=64, num_layers=2, num_heads=2, hidden_dim=8,
...     intermediate_dim=16, max_sequence_length=8)
>>> features = bert_features(backbone)
>>> outputs = features({"token_ids": np.ones((1, 8), "int32"),
...                     "segment_ids": np.zeros((1, 8), "int32"),
...                     "padding_mask": np.ones((1, 8), "int32")})
>>> [tuple(probs.shape) for probs in outputs["attention_probs"]]
[(1, 2, 8, 8), (1, 2, 8, 8)]
"""

import numbers

import keras
import keras_hub


class _EncoderWithAttention(keras.layers.Layer):
    """Calls a keras-hub `TransformerEncoder`, returning its attention probabilities too.

    `TransformerEncoder.call(..., return_attention_scores=True)` returns the softmax
    output of its `MultiHeadAttention`: the tensor that weighs the values in that very
    call (through attention dropout, when training). Its `compute_output_shape`
    declares one output, though, so calling it on symbolic inputs yields a single
    tensor; this wrapper lets Keras trace the real call to infer both outputs. It owns
    no weights of its own.

    Not serializable on purpose: it is a view used while training, never saved.
    """

    def __init__(self, encoder, **kwargs):
        super().__init__(
            dtype=encoder.dtype_policy, name=f"{encoder.name}_with_attention", **kwargs
        )
        self.encoder = encoder

    def call(self, inputs, padding_mask, training=None):
        return self.encoder(
            inputs,
            padding_mask=padding_mask,
            training=training,
            return_attention_scores=True,
        )


def _split_bert(model):
    """Returns `(backbone, classifier or None)`, or raises for anything but a BERT."""
    if isinstance(model, keras_hub.models.BertTextClassifier):
        return model.backbone, model
    if isinstance(model, keras_hub.models.BertBackbone):
        return model, None
    raise ValueError(
        "bert_features needs a keras_hub.models.BertTextClassifier or BertBackbone; "
        f"got {type(model).__name__} {getattr(model, 'name', '')!r}."
    )


def bert_features(model):
    """A Functional model exposing a keras-hub BERT's embeddings, layers and attention.

    The returned model takes the same inputs as `model` (`token_ids`, `segment_ids`,
    `padding_mask`) and shares its layers: it computes exactly what `model` computes,
    in training and in inference, and training it trains `model`'s own weights. It
    returns a dict:

    - `"logits"`: the classifier's output (only when `model` is a
      `BertTextClassifier`), `(batch, num_classes)`;
    - `"embeddings"`: the embedding block's output, i.e. the input of transformer
      layer 0, `(batch, sequence, hidden_dim)`;
    - `"hidden_states"`: a list with the output of every transformer layer, each
      `(batch, sequence, hidden_dim)`;
    - `"attention_probs"`: a list with every layer's self-attention probabilities,
      each `(batch, num_heads, query, key)`; padded keys get probability 0, exactly
      as in the layer (they come from the layer's own call, see below).

    How: the embeddings are taken from the backbone's own graph. From them up, each
    transformer layer is called in turn asking for its attention scores
    (`return_attention_scores=True`), and the pooler and classification head are
    applied to the last layer's `[CLS]` state as keras-hub does. So the attention
    probabilities are the ones each layer uses to compute its output, at no extra
    cost, without editing keras-hub. (Without attention dropout, Keras otherwise runs
    a fused kernel that never materialises them; the explicit softmax it runs instead
    agrees to float rounding. Flash attention cannot return scores: leave
    `keras.config.enable_flash_attention()` off.)

    The model is a view for training, not for saving: save `model` itself.

    Args:
        model: a `keras_hub.models.BertTextClassifier` or `BertBackbone`.

    Returns:
        A `keras.Model` mapping BERT inputs to the dict above.

    Raises:
        ValueError: if `model` is not a keras-hub BERT classifier or backbone.

    Example:

    >>> import keras_hub, numpy as np
    >>> backbone = keras_hub.models.BertBackbone(
    ...     vocabulary_size=64, num_layers=2, num_heads=2, hidden_dim=8,
    ...     intermediate_dim=16, max_sequence_length=8)
    >>> classifier = keras_hub.models.BertTextClassifier(backbone, num_classes=3)
    >>> inputs = {"token_ids": np.ones((1, 8), "int32"),
    ...           "segment_ids": np.zeros((1, 8), "int32"),
    ...           "padding_mask": np.ones((1, 8), "int32")}
    >>> outputs = bert_features(classifier)(inputs)
    >>> outputs["logits"].shape, len(outputs["hidden_states"])
    (TensorShape([1, 3]), 2)
    """
    backbone, classifier = _split_bert(model)
    # The output of the backbone's first (construction-time) call of this layer.
    embeddings = backbone.embeddings_dropout.output
    padding_mask = backbone.input["padding_mask"]
    hidden_states, attention_probs = [], []
    x = embeddings
    for encoder in backbone.transformer_layers:
        x, probs = _EncoderWithAttention(encoder)(x, padding_mask)
        hidden_states.append(x)
        attention_probs.append(probs)
    outputs = {
        "embeddings": embeddings,
        "hidden_states": hidden_states,
        "attention_probs": attention_probs,
    }
    if classifier is not None:
        pooled = backbone.pooled_dense(x[:, backbone.cls_token_index, :])
        outputs["logits"] = classifier.output_dense(classifier.output_dropout(pooled))
    return keras.Model(backbone.input, outputs, name=f"{model.name}_features")


def uniform_layer_map(num_student_layers, num_teacher_layers):
    """TinyBERT's uniform layer map: the teacher layer each student layer learns from.

    Student layer `i` (1-based) learns from teacher layer `⌈i · L_t / L_s⌉`, so that
    the last student layer always matches the last teacher layer. Indices are
    returned 0-based, as in `backbone.transformer_layers`: 2 student layers of 6
    teacher layers give `[2, 5]` (the teacher's 3rd and 6th layers).

    Args:
        num_student_layers: `L_s`, a positive int.
        num_teacher_layers: `L_t`, a positive int.

    Returns:
        A list of `num_student_layers` teacher layer indices.

    Example:

    >>> uniform_layer_map(2, 6), uniform_layer_map(4, 6), uniform_layer_map(3, 3)
    ([2, 5], [1, 2, 4, 5], [0, 1, 2])
    """
    if num_student_layers < 1 or num_teacher_layers < 1:
        raise ValueError(
            "Layer counts must be positive; got num_student_layers="
            f"{num_student_layers} and num_teacher_layers={num_teacher_layers}."
        )
    return [
        -(-(i * num_teacher_layers) // num_student_layers) - 1  # ceil, then 0-based
        for i in range(1, num_student_layers + 1)
    ]


def check_layer_map(layer_map, num_student_layers, num_teacher_layers):
    """Returns `layer_map` as a list of ints, or raises a `ValueError` naming the fault.

    A layer map lists, for every student transformer layer in order, the 0-based
    index of the teacher layer it learns from.

    Example:

    >>> check_layer_map((0, 5), num_student_layers=2, num_teacher_layers=6)
    [0, 5]
    """
    layer_map = list(layer_map)
    if len(layer_map) != num_student_layers or not all(
        isinstance(index, numbers.Integral) and 0 <= index < num_teacher_layers
        for index in layer_map
    ):
        raise ValueError(
            f"layer_map must list {num_student_layers} teacher layer indices (one per "
            f"student layer, 0-based) between 0 and {num_teacher_layers - 1}; got "
            f"{layer_map}."
        )
    return [int(index) for index in layer_map]
