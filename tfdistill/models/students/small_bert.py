"""`"small_bert"`: a shallower and/or narrower BERT that starts from the teacher.

It shares the teacher's tokenizer and starts from a copy of the teacher's embeddings
and of some of its transformer layers (DistilBERT, Sanh et al. 2019), or from a
pretrained compact BERT (`pretrained="minilm_l3"`, see `tfdistill.models.pretrained`).
Being a keras-hub BERT, it can also learn the teacher's hidden states and attention.

Example:

>>> import keras_hub
>>> from tfdistill.models import build_student
>>> vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "gem"]
>>> backbone = keras_hub.models.BertBackbone(
...     vocabulary_size=7, num_layers=3, num_heads=1, hidden_dim=4,
...     intermediate_dim=8, max_sequence_length=8)
>>> teacher = keras_hub.models.BertTextClassifier(
...     backbone, num_classes=2, preprocessor=keras_hub.models.
...     BertTextClassifierPreprocessor(keras_hub.models.BertTokenizer(vocabulary)))
>>> student = build_student("small_bert", num_classes=2, teacher=teacher,
...                         sequence_length=8, num_layers=2)
>>> student.model.backbone.num_layers, student.model(student.preprocessor(["a gem"])).shape
(2, TensorShape([1, 2]))
"""

import keras_hub

from tfdistill.models.pretrained import PRETRAINED_BACKBONES
from tfdistill.models.pretrained import load_pretrained_backbone
from tfdistill.models.students.base import register_student
from tfdistill.models.teachers import check_has_tokenizer

# The teacher's layers outside the transformer stack that a student copies as they are.
_COPIED_LAYERS = (
    "token_embedding",
    "position_embedding",
    "segment_embedding",
    "embeddings_layer_norm",
    "pooled_dense",
)


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
    for name in _COPIED_LAYERS:
        getattr(student_backbone, name).set_weights(
            getattr(teacher_backbone, name).get_weights()
        )
    for student_layer, teacher_index in zip(
        student_backbone.transformer_layers, teacher_layers
    ):
        student_layer.set_weights(
            teacher_backbone.transformer_layers[teacher_index].get_weights()
        )


def _layers_to_copy(teacher_backbone, sizes, num_layers, init_from_teacher, teacher_layers):
    """The teacher layers the student copies (None when it copies nothing), checked."""
    if not init_from_teacher:
        if teacher_layers is not None:
            raise ValueError("teacher_layers needs init_from_teacher=True.")
        return None
    _check_copyable(teacher_backbone, sizes)
    if teacher_layers is None:
        teacher_layers = _evenly_spaced_layers(num_layers, teacher_backbone.num_layers)
    _check_teacher_layers(teacher_layers, num_layers, teacher_backbone.num_layers)
    return teacher_layers


@register_student(
    "small_bert", bert_like=True, tasks=("text_classification", "token_classification")
)
def build_small_bert(
    teacher,
    sequence_length,
    *,
    bert_model,
    bert_preprocessor,
    num_layers=None,
    hidden_dim=None,
    num_heads=None,
    intermediate_dim=None,
    dropout=0.1,
    init_from_teacher=None,
    teacher_layers=None,
    pretrained=None,
):
    """A BERT of `num_layers` layers on the teacher's tokenizer, started from the teacher.

    With `init_from_teacher`, the embeddings, the pooler and the transformer layers
    listed in `teacher_layers` are copied from the teacher, so the widths must be
    the teacher's. By default the layers are evenly spaced from the teacher's first
    to its last, rounded down: student layer `i` of `L_s` copies teacher layer
    `i * (L_t - 1) // (L_s - 1)`, e.g. `[0, 5]` for 2 of 6, `[0, 2, 5]` for 3 of 6,
    and `[0]` for a one-layer student.

    Args:
        teacher: the `BertTextClassifier` teacher with its preprocessor attached.
        sequence_length: the run's `student.sequence_length`: for text
            classification the preprocessor's length in word pieces, `[CLS]` and
            `[SEP]` included; for tagging the number of word slots (the pieces
            are as many as the teacher's).
        bert_model: the task's keras-hub model (see `register_student`).
        bert_preprocessor: `(teacher preprocessor, sequence_length)` -> the
            student's preprocessor, the task's (`Task.bert_student_preprocessor`).
        num_layers: the number of transformer layers (2; a pretrained backbone's
            own).
        hidden_dim: the width; defaults to the teacher's, as do `num_heads` and
            `intermediate_dim`.
        num_heads: the number of attention heads.
        intermediate_dim: the width of the feed-forward layers.
        dropout: the dropout rate, in the backbone and before the head.
        init_from_teacher: copy the teacher's weights, as above (the default,
            unless `pretrained` is given).
        teacher_layers: the 0-based teacher layer each student layer copies.
        pretrained: the name of a pretrained compact BERT to start from instead
            (`tfdistill.models.pretrained.PRETRAINED_BACKBONES`, e.g. `"minilm_l3"`):
            its sizes and weights, a fresh head. Its vocabulary must be the
            teacher's.

    Returns:
        `(model, preprocessor)`: the model named `"small_bert_student"`, and its
        preprocessor on the teacher's tokenizer (a `BertTextClassifierPreprocessor`,
        or for tagging a `FirstPiecePacker`).

    Raises:
        ValueError: for a teacher without its tokenizer, or sizes and
            `teacher_layers` that cannot be copied from the teacher.
    """
    check_has_tokenizer(teacher, "A small_bert student shares the teacher's tokenizer")
    if pretrained is not None:
        backbone = _pretrained_backbone(teacher, pretrained, init_from_teacher, dropout, {
            "num_layers": num_layers, "hidden_dim": hidden_dim, "num_heads": num_heads,
            "intermediate_dim": intermediate_dim, "teacher_layers": teacher_layers,
        })
        return _with_head(backbone, teacher, sequence_length, bert_model, bert_preprocessor, dropout)
    num_layers = 2 if num_layers is None else num_layers
    init_from_teacher = True if init_from_teacher is None else init_from_teacher
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
    teacher_layers = _layers_to_copy(
        teacher_backbone, sizes, num_layers, init_from_teacher, teacher_layers
    )
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=teacher_backbone.vocabulary_size,
        num_layers=num_layers,
        dropout=dropout,
        max_sequence_length=teacher_backbone.max_sequence_length,
        num_segments=teacher_backbone.num_segments,
        **sizes,
    )
    if teacher_layers is not None:
        _copy_teacher_weights(teacher_backbone, backbone, teacher_layers)
    return _with_head(backbone, teacher, sequence_length, bert_model, bert_preprocessor, dropout)


def _with_head(backbone, teacher, sequence_length, bert_model, bert_preprocessor, dropout):
    """`(model, preprocessor)`: the task's model on `backbone`, and its preprocessor."""
    # Students are compiled by whatever trains them (the Distiller).
    model = bert_model(
        backbone, None, dropout=dropout, name="small_bert_student", compile=False
    )
    return model, bert_preprocessor(teacher.preprocessor, sequence_length)


def _pretrained_backbone(teacher, name, init_from_teacher, dropout, sizes):
    """The pretrained backbone `name`, checked against the other arguments and the
    teacher's vocabulary."""
    PRETRAINED_BACKBONES.get(name)  # An unknown name fails here, naming the known ones.
    if init_from_teacher:
        raise ValueError(
            f"pretrained={name!r} starts the student from its own weights, so "
            "init_from_teacher must not be set too."
        )
    attributes = PRETRAINED_BACKBONES.attributes(name)
    for size, value in sizes.items():
        if value is not None and value != attributes.get(size):
            raise ValueError(
                f"{size}={value!r} does not fit pretrained={name!r}, whose sizes are fixed: "
                f"{attributes}; leave {size} out."
            )
    backbone = load_pretrained_backbone(name, dropout=dropout)
    vocabulary_size = teacher.preprocessor.tokenizer.vocabulary_size()
    if backbone.vocabulary_size != vocabulary_size:
        raise ValueError(
            f"pretrained={name!r} has {backbone.vocabulary_size} token embeddings but the "
            f"teacher's tokenizer has {vocabulary_size} tokens: it cannot read the teacher's ids."
        )
    return backbone
