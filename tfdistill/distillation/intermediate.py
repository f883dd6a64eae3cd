"""The intermediate terms of a `Distiller`: matching what two BERTs compute inside.

Intermediate losses (TinyBERT, Jiao et al. 2020; MiniLM, Wang et al. 2020) also
match what the two transformers compute inside. They need a keras-hub
`BertTextClassifier` as teacher and as student, whose tokens line up (the same
tokenizer and sequence length), and a live teacher: cached logits carry no hidden
states. The terms are registered in `tfdistill.losses.INTERMEDIATE_TERMS`:

- `"embedding"`: `losses.embedding_mse` of the embedding outputs;
- `"hidden"`: `losses.hidden_state_mse` of every student layer's output and its
  mapped teacher layer's, averaged over the student layers;
- `"attention"`: `losses.attention_kl` of the same layers' attention probabilities,
  averaged over the student layers.

Student layer `i` learns from teacher layer `layer_map[i]`, by default TinyBERT's
uniform map (`tfdistill.models.features.uniform_layer_map`: 2 of 6 layers learn from
the teacher's 3rd and 6th). When the student is narrower than the teacher, its
embeddings and hidden states first go through learned linear projections to the
teacher's width (TinyBERT's `W_e` and `W_h`, one shared by all layers): Dense layers
without bias in float32 that belong to the distiller, train with the student, and
are never saved with it. Padding never counts.

This module checks a distiller's request, builds what the terms need (feature
models, the layer map, the projections) and computes one term's loss.

Example:

>>> import keras_hub
>>> from tfdistill.distillation.distiller import Distiller
>>> def bert(num_layers, hidden_dim):
...     backbone = keras_hub.models.BertBackbone(
...         vocabulary_size=32, num_layers=num_layers, num_heads=2,
...         hidden_dim=hidden_dim, intermediate_dim=16, max_sequence_length=8)
...     return keras_hub.models.BertTextClassifier(
...         backbone, num_classes=2, preprocessor=None, activation=None)
>>> distiller = Distiller(
...     bert(4, 16), bert(2, 8),
...     intermediate_losses={"hidden": 1.0, "attention": 1.0, "embedding": 1.0})
>>> distiller.layer_map, sorted(distiller.projections)
([1, 3], ['embedding', 'hidden'])
"""

import keras
import keras_hub
from keras import ops

from tfdistill.losses import INTERMEDIATE_TERMS
from tfdistill.models import features


def check_weights(intermediate_losses):
    """Returns `{name: float weight}`, or raises for an unknown name or bad weight.

    Args:
        intermediate_losses: a dict from names in `INTERMEDIATE_TERMS` to
            non-negative weights, or `None` for none.
    """
    terms = dict(intermediate_losses or {})
    unknown = sorted(set(terms) - set(INTERMEDIATE_TERMS.names()))
    if unknown:
        raise ValueError(
            f"Unknown intermediate loss(es) {unknown}; valid names: "
            f"{INTERMEDIATE_TERMS.names()}."
        )
    for name, weight in terms.items():
        if not weight >= 0:
            raise ValueError(
                f"The weight of the {name!r} intermediate loss must be >= 0, got "
                f"{weight}."
            )
    return {name: float(weight) for name, weight in terms.items()}


def check_models(names, teacher, student, layer_map):
    """Raises unless the terms `names` can compare `teacher` with `student`.

    They need one live keras-hub `BertTextClassifier` as teacher and one as
    student; a `layer_map` without any term is a mistake too.
    """
    if not names:
        if layer_map is not None:
            raise ValueError(
                "layer_map only applies to the 'hidden' and 'attention' "
                "intermediate losses, and none was asked for."
            )
        return
    if isinstance(teacher, (list, tuple)):
        raise ValueError(
            f"The intermediate losses {names} compare one teacher's internals with "
            f"the student's; got an ensemble of {len(teacher)} teachers."
        )
    if teacher is None:
        raise ValueError(
            f"The intermediate losses {names} compare the teacher's internals with "
            "the student's, so they need a live teacher; got teacher=None (cached "
            "teacher logits carry no hidden states)."
        )
    for role, model in (("teacher", teacher), ("student", student)):
        if not isinstance(model, keras_hub.models.BertTextClassifier):
            raise ValueError(
                f"The intermediate losses {names} read BERT internals, so the "
                f"{role} must be a keras_hub.models.BertTextClassifier; got "
                f"{type(model).__name__} {model.name!r}."
            )


def build(teacher, student, names, layer_map=None):
    """Returns `(teacher_features, student_features, layer_map, projections)`.

    What the terms `names` need: the two BERTs' `bert_features` models, the checked
    layer map and the width projections by term. `(None, None, None, {})` when
    `names` is empty, so that logits-only distillation builds nothing.

    Raises:
        ValueError: if the models cannot serve the terms (see `check_models`) or the
            layer map does not fit them.
    """
    check_models(names, teacher, student, layer_map)
    if not names:
        return None, None, None, {}
    teacher_features, student_features, layer_map = feature_models(
        teacher, student, layer_map
    )
    return (
        teacher_features,
        student_features,
        layer_map,
        width_projections(teacher, student, names),
    )


def feature_models(teacher, student, layer_map=None):
    """Returns `(teacher_features, student_features, layer_map)`.

    The feature models are the two BERTs' `bert_features`; `layer_map` is checked,
    and by default TinyBERT's uniform map.
    """
    teacher_layers = teacher.backbone.num_layers
    student_layers = student.backbone.num_layers
    teacher_features = features.bert_features(teacher)
    student_features = features.bert_features(student)
    if layer_map is None:
        layer_map = features.uniform_layer_map(student_layers, teacher_layers)
    layer_map = features.check_layer_map(layer_map, student_layers, teacher_layers)
    return teacher_features, student_features, layer_map


def width_projections(teacher, student, names):
    """`{term name: projection}` for the terms of the model's width, when the
    student is narrower than the teacher; `{}` when the widths are equal."""
    teacher_width = teacher.backbone.hidden_dim
    student_width = student.backbone.hidden_dim
    if teacher_width == student_width:
        return {}
    # In the registry's (sorted) order: each projection draws its initial weights
    # from Keras's global seed sequence.
    return {
        name: _width_projection(student_width, teacher_width, name)
        for name in INTERMEDIATE_TERMS.names()
        if name in names and INTERMEDIATE_TERMS.attributes(name)["projected"]
    }


def _width_projection(student_width, teacher_width, term_name):
    """TinyBERT's `W`: a learned linear map from the student's width to the teacher's.

    Float32, like the losses it feeds, whatever the student's precision.
    """
    projection = keras.layers.Dense(
        teacher_width, use_bias=False, dtype="float32", name=f"{term_name}_projection"
    )
    projection.build((None, None, student_width))
    return projection


def term_loss(name, teacher_outputs, student_outputs, padding_mask, layer_map, projection):
    """One intermediate term's loss per example, averaged over the mapped layer pairs.

    Args:
        name: the term, a name in `INTERMEDIATE_TERMS`.
        teacher_outputs: the teacher's `bert_features` outputs.
        student_outputs: the student's `bert_features` outputs.
        padding_mask: the `(batch, sequence)` mask of real tokens.
        layer_map: the teacher layer each student layer learns from.
        projection: the student's width projection for this term, or `None`.
    """
    loss_fn = INTERMEDIATE_TERMS.get(name)
    term = INTERMEDIATE_TERMS.attributes(name)
    teacher_feature = teacher_outputs[term["feature"]]
    student_feature = student_outputs[term["feature"]]
    if term["per_layer"]:
        pairs = [
            (teacher_feature[teacher_layer], student_feature[student_layer])
            for student_layer, teacher_layer in enumerate(layer_map)
        ]
    else:
        pairs = [(teacher_feature, student_feature)]
    per_pair = [
        loss_fn(
            teacher,
            student if projection is None else projection(student),
            padding_mask,
        )
        for teacher, student in pairs
    ]
    return ops.mean(ops.stack(per_pair), axis=0)
