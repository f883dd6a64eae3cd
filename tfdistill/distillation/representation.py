"""The representation term of a `Distiller`: the student's features, projected to the
teacher's width, against the teacher's vector of the same text.

A text's logits carry one number per class; the teacher's last layer carries hundreds
(384 for MiniLM, a sentence encoder before it was fine-tuned). Matching them as well
(FitNets, Romero et al. 2015; for sentence vectors, Reimers & Gurevych 2020) asks the
student to place texts where the teacher places them, not only on the right side of
its decision. Its term per text is

    Σ_d (W · f + b − r)_d²

where `f` is what the student's head reads (the input of its last layer), `W, b` a
learned projection that belongs to the distiller (trained with the student, never
saved with it), and `r` the teacher's vector: the mean of its last layer over the
text's pieces (`teacher_vectors_model`), standardized over the transfer set
(`standardize`). The vectors are computed once and cached like the logits, so the
term costs the student a projection and no teacher pass.

Example:

>>> import numpy as np
>>> inputs = keras.Input((4,))
>>> student = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Dense(3)(inputs)))
>>> outputs = features_model(student)(np.ones((5, 4)))
>>> outputs["logits"].shape, outputs["features"].shape
(TensorShape([5, 2]), TensorShape([5, 3]))
>>> projection = build_projection(student, 6)
>>> term_loss(np.zeros((5, 6), "float32"), outputs["features"], projection).shape
TensorShape([5])
"""

import keras
import numpy as np
from keras import ops

PROJECTION_NAME = "representation_projection"


def features_model(student):
    """`student` as a model of `{"logits": ..., "features": ...}`, the features being
    the input of its last layer (a task's head: `Dense(num_classes)`)."""
    head = student.layers[-1]
    return keras.Model(student.inputs, {"logits": student.output, "features": head.input})


def build_projection(student, dim):
    """A float32 `Dense(dim)` from the width of `student`'s features, built."""
    projection = keras.layers.Dense(dim, dtype="float32", name=PROJECTION_NAME)
    projection.build((None, student.layers[-1].input.shape[-1]))
    return projection


def term_loss(teacher_vectors, student_features, projection):
    """Per text, the squared distance of the projected features to the teacher's vector."""
    projected = projection(ops.cast(student_features, "float32"))
    return ops.sum(ops.square(projected - ops.cast(teacher_vectors, "float32")), axis=-1)


def teacher_vectors_model(teacher):
    """A model from `teacher`'s preprocessed inputs to its float32 last-layer mean over
    each text's real tokens (`[CLS]` and `[SEP]` included, padding not), `(batch,
    hidden_dim)`: the sentence vector a sentence encoder gives (mean pooling)."""
    backbone = teacher.backbone
    inputs = {name: keras.Input((None,), dtype="int32", name=name) for name in backbone.input}
    sequence = ops.cast(backbone(inputs)["sequence_output"], "float32")
    mask = ops.expand_dims(ops.cast(inputs["padding_mask"], "float32"), -1)
    mean = ops.sum(sequence * mask, axis=1) / ops.maximum(ops.sum(mask, axis=1), 1.0)
    return keras.Model(inputs, mean, name="teacher_vectors")


def standardize(vectors, reference):
    """`vectors` centred on `reference`'s mean and divided by its mean standard
    deviation (one number, so that the directions keep their relative scales): each
    dimension's term then starts near 1, whatever the teacher's layer norm."""
    reference = np.asarray(reference, np.float64)
    scale = max(float(reference.std(axis=0).mean()), 1e-12)
    return ((np.asarray(vectors, np.float64) - reference.mean(axis=0)) / scale).astype(np.float32)
