"""`Distiller`: a `keras.Model` that trains a student on a frozen teacher's soft labels."""

import keras
import tensorflow as tf
from absl import logging
from keras import ops

from tfdistill import losses

# Keys of a dict batch that route inputs to the two models. Any other dict is taken to
# be one input shared by both (e.g. the {"token_ids", "padding_mask", ...} of a BERT).
STUDENT_KEY = "student"
TEACHER_KEY = "teacher"
TEACHER_LOGITS_KEY = "teacher_logits"
_ROUTING_KEYS = (STUDENT_KEY, TEACHER_KEY, TEACHER_LOGITS_KEY)


def _num_classes(model):
    """The static size of a model's last output axis, or None when it is not known yet."""
    outputs = getattr(model, "outputs", None)
    if not outputs or len(outputs) != 1:
        return None
    return outputs[0].shape[-1]


@keras.saving.register_keras_serializable(package="tfdistill")
class Distiller(keras.Model):
    """Trains a student to match a frozen teacher's soft labels and the hard labels.

    The loss of a batch is

        alpha * student_loss + (1 - alpha) * distillation_loss

    where `student_loss` is the cross-entropy of the student's logits against the true
    labels and `distillation_loss` compares the student's logits with the teacher's
    (by default Hinton's `T² · KL(softmax(teacher/T) ‖ softmax(student/T))`, see
    `tfdistill.losses`). Both models must output logits, not probabilities. So
    `alpha=1` trains on the labels only and `alpha=0` on the teacher only.

    The teacher is frozen (`trainable=False`) and runs with `training=False`, outside
    the gradient tape; gradients reach the student only. Losses are computed in float32
    under any dtype policy, and under `mixed_float16` the loss is scaled by the
    optimizer's `LossScaleOptimizer` (which `compile` adds for the student's policy).

    A batch is `(x, y)` or `(x, y, sample_weight)`. A label of -1 marks an example
    with no gold label (an augmented transfer text): it learns from the teacher only,
    and metrics compiled as `weighted_metrics` skip it (Keras's plain `metrics` ignore
    weights by design). `x` is one of:

    - one input that both models take (e.g. BERT teacher and BERT student sharing a
      tokenizer);
    - `{"teacher": teacher_x, "student": student_x}`, when the models read different
      encodings of the same texts (e.g. a BiLSTM with its own vocabulary);
    - `{"student": student_x, "teacher_logits": logits}`, when the teacher's logits
      were computed beforehand (see `tfdistill.data.TeacherLogitCache`): the teacher
      does not run, and it may be `None`.

    `fit` and `evaluate` report `loss`, `student_loss`, `distillation_loss` and the
    compiled metrics of the student. Calling the distiller runs the student.

    `save()` writes the student alone, the artifact one deploys; the teacher is never
    bundled into it. `get_config()` describes both models, so `from_config` rebuilds the
    whole distiller.

    Args:
        teacher: a `keras.Model` that outputs logits, or `None` when every batch
            carries `teacher_logits`.
        student: the `keras.Model` to train; it outputs logits.
        temperature: softens both distributions; a positive float. Higher values pass
            on more of the teacher's ranking of the wrong classes.
        alpha: weight of the hard-label loss, in `[0, 1]`; the distillation loss gets
            `1 - alpha`.
        distillation_loss: `"kl"` (default), `"cross_entropy"`, `"mse"` (Tang et al.
            2019), or a callable `(teacher_logits, student_logits, temperature)`
            returning one loss per example.

    Example:

    ```python
    import keras
    import numpy as np
    import tfdistill

    teacher = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3)])
    student = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3)])
    distiller = tfdistill.Distiller(teacher, student, temperature=2.0, alpha=0.5)
    distiller.compile(optimizer="adam", metrics=["accuracy"])
    x, y = np.random.rand(64, 8), np.random.randint(0, 3, 64)
    history = distiller.fit(x, y, epochs=2, verbose=0)
    print(sorted(history.history))  # accuracy, distillation_loss, loss, student_loss
    ```
    """

    def __init__(
        self,
        teacher,
        student,
        temperature=2.0,
        alpha=0.5,
        distillation_loss="kl",
        **kwargs,
    ):
        # The distiller computes in the student's precision, so that `compile` wraps
        # the optimizer in a LossScaleOptimizer whenever the student is mixed_float16,
        # whatever the global policy is when the distiller is built.
        kwargs.setdefault("dtype", student.dtype_policy)
        super().__init__(**kwargs)
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}.")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(
                f"alpha (the weight of the hard-label loss) must be in [0, 1], got {alpha}."
            )
        teacher_classes, student_classes = _num_classes(teacher), _num_classes(student)
        if None not in (teacher_classes, student_classes) and (
            teacher_classes != student_classes
        ):
            raise ValueError(
                f"The teacher outputs {teacher_classes} classes but the student outputs "
                f"{student_classes}; they must predict the same classes."
            )
        self.teacher = teacher
        self.student = student
        if teacher is not None:
            teacher.trainable = False
        self.distillation_loss_fn = losses.get(distillation_loss)
        self._distillation_loss_config = distillation_loss
        # Variables, not Python floats, so that a schedule can change them between
        # steps without retracing the compiled train step.
        self.temperature = keras.Variable(
            float(temperature), trainable=False, dtype="float32", name="temperature"
        )
        self.alpha = keras.Variable(
            float(alpha), trainable=False, dtype="float32", name="alpha"
        )
        self.student_loss_tracker = keras.metrics.Mean(name="student_loss")
        self.distillation_loss_tracker = keras.metrics.Mean(name="distillation_loss")

    def call(self, inputs, training=False):
        student_inputs = inputs
        if self._is_routed(inputs):
            student_inputs = inputs[STUDENT_KEY]
        return self.student(student_inputs, training=training)

    @staticmethod
    def _is_routed(x):
        return isinstance(x, dict) and any(key in x for key in _ROUTING_KEYS)

    def _split_batch(self, x):
        """Returns `(student_inputs, teacher_logits)`, running the teacher if needed."""
        if not self._is_routed(x):
            student_inputs, teacher_inputs, teacher_logits = x, x, None
        else:
            if STUDENT_KEY not in x:
                raise ValueError(
                    f"A dict batch for the Distiller needs a {STUDENT_KEY!r} key; "
                    f"got keys {sorted(x)}."
                )
            student_inputs = x[STUDENT_KEY]
            teacher_inputs = x.get(TEACHER_KEY)
            teacher_logits = x.get(TEACHER_LOGITS_KEY)
            if teacher_inputs is None and teacher_logits is None:
                raise ValueError(
                    f"A dict batch for the Distiller needs {TEACHER_KEY!r} (inputs for "
                    f"the teacher) or {TEACHER_LOGITS_KEY!r} (its precomputed logits) "
                    f"beside {STUDENT_KEY!r}; got keys {sorted(x)}."
                )
        if teacher_logits is None:
            if self.teacher is None:
                raise ValueError(
                    "The Distiller has no teacher (teacher=None), so every batch must "
                    f"carry precomputed {TEACHER_LOGITS_KEY!r}: "
                    f"x = {{{STUDENT_KEY!r}: ..., {TEACHER_LOGITS_KEY!r}: ...}}."
                )
            teacher_logits = self.teacher(teacher_inputs, training=False)
        return student_inputs, ops.stop_gradient(ops.cast(teacher_logits, "float32"))

    def _loss_terms(self, y, student_logits, teacher_logits, sample_weight):
        """Returns `(total, student_loss, distillation_loss)`, each a float32 scalar."""
        student_logits = ops.cast(student_logits, "float32")
        if teacher_logits.shape[-1] != student_logits.shape[-1]:
            raise ValueError(
                f"Teacher logits have shape {tuple(teacher_logits.shape)} but student "
                f"logits {tuple(student_logits.shape)}; the class axes must match."
            )
        student_loss = self._reduce(
            losses.hard_label_cross_entropy(y, student_logits), sample_weight
        )
        distillation_loss = self._reduce(
            self.distillation_loss_fn(teacher_logits, student_logits, self.temperature),
            sample_weight,
        )
        total = self.alpha * student_loss + (1.0 - self.alpha) * distillation_loss
        return total, student_loss, distillation_loss

    @staticmethod
    def _reduce(per_example, sample_weight):
        """Keras's "sum_over_batch_size": Σ wᵢ·lᵢ / batch size (weights default to 1)."""
        if sample_weight is not None:
            per_example = per_example * ops.cast(
                ops.reshape(sample_weight, ops.shape(per_example)), "float32"
            )
        return ops.mean(per_example)

    def _update_trackers(self, data, total, student_loss, distillation_loss, student_logits):
        x, y, sample_weight = data
        batch_size = ops.shape(student_logits)[0]
        self._loss_tracker.update_state(total, sample_weight=batch_size)
        self.student_loss_tracker.update_state(student_loss, sample_weight=batch_size)
        self.distillation_loss_tracker.update_state(
            distillation_loss, sample_weight=batch_size
        )
        # Examples without a gold label (label -1) have nothing to be accurate about;
        # `weighted_metrics` honour this weight, plain `metrics` ignore it.
        metric_weight = losses.has_gold_label(y, student_logits)
        if sample_weight is not None:
            metric_weight = metric_weight * ops.cast(
                ops.reshape(sample_weight, ops.shape(metric_weight)), "float32"
            )
        return self.compute_metrics(x, y, student_logits, sample_weight=metric_weight)

    def train_step(self, data):
        data = keras.utils.unpack_x_y_sample_weight(data)
        x, y, sample_weight = data
        # The frozen teacher runs outside the tape: nothing of it is recorded.
        student_inputs, teacher_logits = self._split_batch(x)
        with tf.GradientTape() as tape:
            student_logits = self.student(student_inputs, training=True)
            total, student_loss, distillation_loss = self._loss_terms(
                y, student_logits, teacher_logits, sample_weight
            )
            # tf.distribute sums the replicas' gradients, so each replica contributes
            # its mean loss divided by the replica count (as Keras's own losses do).
            scaled_loss = total / tf.distribute.get_strategy().num_replicas_in_sync
            # Multiplies by the loss scale under mixed_float16, so that small float16
            # gradients do not flush to zero; apply_gradients divides it out again.
            scaled_loss = self.optimizer.scale_loss(scaled_loss)
        trainable_weights = self.student.trainable_weights
        gradients = tape.gradient(scaled_loss, trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, trainable_weights))
        return self._update_trackers(
            data, total, student_loss, distillation_loss, student_logits
        )

    def test_step(self, data):
        data = keras.utils.unpack_x_y_sample_weight(data)
        x, y, sample_weight = data
        student_inputs, teacher_logits = self._split_batch(x)
        student_logits = self.student(student_inputs, training=False)
        total, student_loss, distillation_loss = self._loss_terms(
            y, student_logits, teacher_logits, sample_weight
        )
        return self._update_trackers(
            data, total, student_loss, distillation_loss, student_logits
        )

    def save(self, filepath, overwrite=True, **kwargs):
        """Saves the student alone (the model to deploy); the teacher is not included.

        `keras.models.load_model(filepath)` returns the student. To keep the teacher,
        save it on its own.
        """
        logging.info(
            f"Distiller.save writes the student only to {filepath}; "
            "the teacher is not included."
        )
        self.student.save(filepath, overwrite=overwrite, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "teacher": keras.saving.serialize_keras_object(self.teacher),
                "student": keras.saving.serialize_keras_object(self.student),
                "temperature": float(self.temperature.numpy()),
                "alpha": float(self.alpha.numpy()),
                "distillation_loss": keras.saving.serialize_keras_object(
                    self._distillation_loss_config
                ),
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("teacher", "student", "distillation_loss"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)
