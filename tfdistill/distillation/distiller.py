"""`Distiller`: a `keras.Model` that trains a student on a frozen teacher's soft labels."""

import keras
import tensorflow as tf
from absl import logging
from keras import ops

from tfdistill import losses
from tfdistill.distillation import batch
from tfdistill.distillation import intermediate
from tfdistill.distillation import nonfinite
from tfdistill.distillation import representation
from tfdistill.distillation.checks import as_teacher_list
from tfdistill.distillation.checks import check_alpha
from tfdistill.distillation.checks import check_classes
from tfdistill.distillation.checks import check_logits_rank
from tfdistill.distillation.checks import check_representation
from tfdistill.distillation.checks import check_temperature
from tfdistill.distillation.checks import resolve_teacher_average
from tfdistill.distillation.optimizers import build_optimizer


@keras.saving.register_keras_serializable(package="tfdistill")
class Distiller(keras.Model):
    """Trains a student to match a frozen teacher's soft labels and the hard labels.

    The loss of a batch is

        alpha * student_loss + (1 - alpha) * distillation_loss
              + Σ_k weight_k * intermediate_loss_k
              + representation_weight * representation_loss

    where `student_loss` is the cross-entropy of the student's logits against the true
    labels and `distillation_loss` compares them with the teacher's (by default
    Hinton's `T² · KL(softmax(teacher/T) ‖ softmax(student/T))`, see
    `tfdistill.losses`). Both models output logits. The sum is empty unless
    `intermediate_losses` (TinyBERT's and MiniLM's terms, which also match what two
    keras-hub BERTs compute inside) are asked for: see
    `tfdistill.distillation.intermediate`. The last term, off by default, matches the
    student's features (projected) to the teacher's cached vectors of the texts, which
    batches carry beside the cached logits (`"teacher_vectors"`): see
    `tfdistill.distillation.representation`.

    The teacher is frozen and runs with `training=False`, outside the gradient tape.
    Losses are computed in float32 under any dtype policy; under `mixed_float16`,
    `compile` adds a `LossScaleOptimizer` for the student's policy. `temperature` and
    `alpha` are non-trainable variables, so a callback (see `tfdistill.schedules`) can
    change them between epochs without retracing. A step with a NaN or Inf never
    reaches the weights, and training stops naming the first bad term and the step
    (see `tfdistill.distillation.nonfinite`).

    A batch is `(x, y)` or `(x, y, sample_weight)`. A label of -1 marks an example
    with no gold label (an augmented transfer text): it learns from the teacher only,
    and metrics compiled as `weighted_metrics` skip it. `x` is one input that both
    models take, or a dict that gives each model its own (`{"student": ...,
    "teacher": ...}`) or carries the teacher's precomputed logits (`{"student": ...,
    "teacher_logits": ...}`, when the teacher may be `None`); see
    `tfdistill.distillation.batch`.

    An ensemble of teachers is given as a list, or as cached logits stacked
    `(batch, teachers, classes)`; the student learns from their weighted average
    (`losses.ensemble_logits`).

    Per-token tasks (entity tagging) pass `logits_rank=3`: both models then output
    `(batch, words, tags)` logits (a tagging teacher reads each word at its first
    word piece), the labels are `(batch, words)` tag ids, and a label of -1 marks a
    slot that is no word (padding, or a word a model did not see): it has no loss at
    all, neither hard nor soft. A label of -2 (`losses.UNTAGGED_WORD`) marks a word
    without a gold tag (a word of an augmented sentence): it learns from the teacher
    only, as a -1 text does per text. Each term is averaged over the batch's words, not
    its sentences: `Σ w·loss / number of words`, where `w` is the sentence's sample
    weight. Every word is one tagging decision, so a long sentence teaches as much
    as its words, and the loss keeps its scale whatever the padding (as Keras's
    `ignore_class` and the usual tagging losses do). The rank, not the shape of the
    teacher's logits, says what a rank-3 tensor is: with `logits_rank=2` it is an
    ensemble. Ensembles and intermediate losses are not supported per token yet.

    `fit` and `evaluate` report `loss`, `student_loss`, `distillation_loss`, one
    `<name>_loss` per intermediate loss (e.g. `hidden_loss`), and the compiled
    metrics of the student. Calling the distiller runs the student. `save()` writes
    the student alone, the artifact one deploys; `get_config()` describes both
    models, so `from_config` rebuilds the whole distiller.

    Args:
        teacher: a `keras.Model` that outputs logits, a list of them (an ensemble),
            or `None` when every batch carries `teacher_logits`.
        student: the `keras.Model` to train; it outputs logits.
        temperature: softens both distributions; a positive float. Higher values pass
            on more of the teacher's ranking of the wrong classes.
        alpha: weight of the hard-label loss, in `[0, 1]`; the distillation loss gets
            `1 - alpha`.
        distillation_loss: a name in `losses.LOGIT_LOSSES` (`"kl"`, the default,
            `"cross_entropy"`, `"mse"`, or one added with
            `losses.register_logit_loss`), or a callable
            `(teacher_logits, student_logits, temperature)` returning one loss per
            example.
        intermediate_losses: optional dict from names in `losses.INTERMEDIATE_TERMS`
            (`"embedding"`, `"hidden"`, `"attention"`) to non-negative weights.
            `None` (default) matches logits only, and builds nothing more.
        layer_map: optional list of 0-based teacher layer indices, one per student
            transformer layer, for the `"hidden"` and `"attention"` losses.
        teacher_weights: optional weights of an ensemble's teachers, one per
            teacher (normalised to sum to 1); `None` weighs them equally.
        teacher_average: how an ensemble's outputs are combined: `"probabilities"`
            (its soft labels), `"logits"`, or `"auto"` (default): the distillation
            loss's `losses.ensemble_average` (logits for `"mse"`).
        logits_rank: 2 (default) for one label per example, `(batch, classes)`
            logits; 3 for one label per token, `(batch, tokens, classes)` (see
            above). A task's `logits_rank`.
        representation_weight: the weight of the representation term; 0 (default)
            builds nothing for it. Needs `representation_dim`, one label per example
            and no intermediate losses.
        representation_dim: the width of the teacher's vectors the batches carry.

    Example:

    >>> import numpy as np
    >>> def dense_model():
    ...     inputs = keras.Input((8,))
    ...     return keras.Model(inputs, keras.layers.Dense(3)(inputs))
    >>> distiller = Distiller(dense_model(), dense_model(), temperature=2.0, alpha=0.5)
    >>> distiller.compile(optimizer="adam", metrics=["accuracy"])
    >>> x, y = np.random.rand(64, 8), np.random.randint(0, 3, 64)
    >>> history = distiller.fit(x, y, epochs=2, verbose=0)
    >>> sorted(history.history)
    ['accuracy', 'distillation_loss', 'loss', 'student_loss']
    """

    def __init__(
        self,
        teacher,
        student,
        temperature=2.0,
        alpha=0.5,
        distillation_loss="kl",
        intermediate_losses=None,
        layer_map=None,
        teacher_weights=None,
        teacher_average="auto",
        logits_rank=2,
        representation_weight=0.0,
        representation_dim=None,
        **kwargs,
    ):
        # The distiller computes in the student's precision, so that `compile` wraps
        # the optimizer in a LossScaleOptimizer whenever the student is mixed_float16,
        # whatever the global policy is when the distiller is built.
        kwargs.setdefault("dtype", student.dtype_policy)
        super().__init__(**kwargs)
        check_temperature(temperature)
        check_alpha(alpha)
        teachers = as_teacher_list(teacher)
        check_classes(teachers, student)
        check_logits_rank(logits_rank, teacher, intermediate_losses)
        self.logits_rank = logits_rank
        for member in teachers:
            member.trainable = False
        self.teacher = teacher
        self.student = student
        self.distillation_loss_fn = losses.get(distillation_loss)
        self._distillation_loss_config = distillation_loss
        # Kept as given (normalised in the loss): `None` also fits cached ensembles,
        # whose size is only known from their logits.
        losses.check_teacher_weights(teacher_weights, len(teachers) or None)
        self.teacher_weights = None if teacher_weights is None else [
            float(weight) for weight in teacher_weights
        ]
        self.teacher_average = resolve_teacher_average(teacher_average, distillation_loss)
        self._teacher_average_config = teacher_average
        # Variables, not Python floats, so that a schedule can change them between
        # steps without retracing the compiled train step.
        self.temperature = keras.Variable(
            float(temperature), trainable=False, dtype="float32", name="temperature"
        )
        self.alpha = keras.Variable(
            float(alpha), trainable=False, dtype="float32", name="alpha"
        )
        self.first_nonfinite = nonfinite.record_variable()
        self.nonfinite_check_names = []
        self.intermediate_losses = intermediate.check_weights(intermediate_losses)
        # All None or empty without intermediate losses: logits-only runs build nothing.
        names = sorted(self.intermediate_losses)
        self.teacher_features, self.student_features, self.layer_map, self.projections = (
            intermediate.build(self.teacher, self.student, names, layer_map)
        )
        self.representation_weight = check_representation(
            representation_weight, representation_dim, self.intermediate_losses, logits_rank
        )
        self.representation_dim = representation_dim
        if self.representation_weight:
            self.student_features = representation.features_model(student)
            self.projections["representation"] = representation.build_projection(
                student, representation_dim
            )
        self.loss_trackers = {
            name: keras.metrics.Mean(name=name)
            for name in ["student_loss", "distillation_loss"]
            + [f"{term}_loss" for term in self.intermediate_losses]
            + (["representation_loss"] if self.representation_weight else [])
        }
        # Everything the distiller holds exists now (its models come built), and
        # `save_weights`, used by checkpoints, refuses a model not marked built.
        self.built = student.built

    def call(self, inputs, training=False):
        student_inputs = inputs
        if batch.is_routed(inputs):
            student_inputs = inputs[batch.STUDENT_KEY]
        return self.student(student_inputs, training=training)

    @staticmethod
    def _forward(model, features_model, inputs, training):
        """A model's outputs as a dict: its `bert_features` when intermediate losses
        are on (`features_model` is not None), else just its `"logits"`."""
        if features_model is None:
            return {"logits": model(inputs, training=training)}
        return features_model(inputs, training=training)

    def _split_batch(self, x):
        """Returns `(student_inputs, teacher_outputs)`, running the teacher if needed.

        `teacher_outputs` is a dict with float32 `"logits"`, and the teacher's other
        `bert_features` when intermediate losses are on.
        """
        student_inputs, teacher_inputs, teacher_logits = batch.unpack(x)
        if teacher_logits is not None:
            if self.intermediate_losses:
                raise ValueError(
                    f"The intermediate losses {sorted(self.intermediate_losses)} need "
                    "the teacher's hidden states, which precomputed "
                    f"{batch.TEACHER_LOGITS_KEY!r} do not carry: give the teacher its "
                    "inputs instead."
                )
            teacher_outputs = {"logits": teacher_logits}
        elif self.teacher is None:
            raise ValueError(
                "The Distiller has no teacher (teacher=None), so every batch must "
                f"carry precomputed {batch.TEACHER_LOGITS_KEY!r}: x = "
                f"{{{batch.STUDENT_KEY!r}: ..., {batch.TEACHER_LOGITS_KEY!r}: ...}}."
            )
        elif isinstance(self.teacher, (list, tuple)):
            member_logits = [
                ops.cast(member(teacher_inputs, training=False), "float32")
                for member in self.teacher
            ]
            teacher_outputs = {"logits": ops.stack(member_logits, axis=1)}
        else:
            teacher_outputs = self._forward(
                self.teacher, self.teacher_features, teacher_inputs, training=False
            )
        teacher_outputs["logits"] = ops.stop_gradient(
            ops.cast(teacher_outputs["logits"], "float32")
        )
        if self.representation_weight:
            vectors = batch.teacher_vectors(x)
            if vectors is None:
                raise ValueError(
                    f"representation_weight={self.representation_weight} needs the "
                    f"teacher's vectors in every batch, under {batch.TEACHER_VECTORS_KEY!r}."
                )
            teacher_outputs["vectors"] = ops.stop_gradient(ops.cast(vectors, "float32"))
        return student_inputs, teacher_outputs

    def _teacher_target(self, teacher_logits, student_logits):
        """The teacher's logits in the student's shape: an ensemble's combined into one."""
        teacher_rank, student_rank = len(teacher_logits.shape), len(student_logits.shape)
        # The rank the Distiller was built for, not the shape, tells an ensemble's
        # (batch, teachers, classes) from one teacher's (batch, tokens, classes).
        is_ensemble = self.logits_rank == 2 and teacher_rank == 3
        if student_rank != self.logits_rank or not (
            teacher_rank == self.logits_rank or is_ensemble
        ):
            raise ValueError(
                f"With logits_rank={self.logits_rank}, the student's logits must have "
                f"rank {self.logits_rank} and the teacher's rank {self.logits_rank}"
                + (" (or 3, an ensemble)" if self.logits_rank == 2 else "")
                + f"; got shapes {tuple(student_logits.shape)} and "
                f"{tuple(teacher_logits.shape)}. Per-token logits need logits_rank=3."
            )
        if is_ensemble:
            teacher_logits = losses.ensemble_logits(
                teacher_logits,
                self.temperature,
                weights=self.teacher_weights,
                average=self.teacher_average,
            )
        if teacher_logits.shape[-1] != student_logits.shape[-1]:
            raise ValueError(
                f"Teacher logits have shape {tuple(teacher_logits.shape)} but student "
                f"logits {tuple(student_logits.shape)}; the class axes must match."
            )
        return teacher_logits

    def _loss_terms(
        self, y, teacher_outputs, student_outputs, student_inputs, sample_weight
    ):
        """Returns `(total, terms)`: float32 scalars, `terms` keyed by tracker name."""
        student_logits = ops.cast(student_outputs["logits"], "float32")
        teacher_logits = self._teacher_target(teacher_outputs["logits"], student_logits)
        terms = {
            "student_loss": losses.hard_label_cross_entropy(y, student_logits),
            "distillation_loss": self.distillation_loss_fn(
                teacher_logits, student_logits, self.temperature
            ),
        }
        if self.representation_weight:
            terms["representation_loss"] = representation.term_loss(
                teacher_outputs["vectors"],
                student_outputs["features"],
                self.projections["representation"],
            )
        for name in self.intermediate_losses:
            terms[f"{name}_loss"] = intermediate.term_loss(
                name,
                teacher_outputs,
                student_outputs,
                student_inputs["padding_mask"],
                self.layer_map,
                self.projections.get(name),
            )
        terms = {
            name: self._reduce(per_example, y, student_logits, sample_weight)
            for name, per_example in terms.items()
        }
        total = (
            self.alpha * terms["student_loss"]
            + (1.0 - self.alpha) * terms["distillation_loss"]
        )
        for name, weight in self.intermediate_losses.items():
            total = total + weight * terms[f"{name}_loss"]
        if self.representation_weight:
            total = total + self.representation_weight * terms["representation_loss"]
        return total, terms

    def _reduce(self, per_example, y, student_logits, sample_weight):
        """One term's per-example (or per-word) losses -> its scalar for the batch."""
        if self.logits_rank == 2:
            # Keras's "sum_over_batch_size": Σ wᵢ·lᵢ / batch size (weights default to 1).
            return ops.mean(self._weighted(per_example, sample_weight))
        # Σ over words, then sentences weighted; divided by the number of words (see
        # the class docstring). `where`, not a product: whatever a padded slot holds
        # cannot reach the loss (0 · inf would be NaN).
        is_word = losses.is_word(y) > 0
        per_sentence = ops.sum(ops.where(is_word, per_example, 0.0), axis=-1)
        return ops.sum(self._weighted(per_sentence, sample_weight)) / self._tracker_weight(
            y, student_logits
        )

    def _tracker_weight(self, y, student_logits):
        """What a batch counts for in an epoch's mean: its examples, or its words."""
        if self.logits_rank == 2:
            return ops.cast(ops.shape(student_logits)[0], "float32")
        return ops.maximum(ops.sum(losses.is_word(y)), 1.0)

    @staticmethod
    def _weighted(per_example, sample_weight):
        """`per_example` times the sample weights (`sample_weight` may be None)."""
        if sample_weight is None:
            return per_example
        return per_example * ops.cast(
            ops.reshape(sample_weight, ops.shape(per_example)), "float32"
        )

    def _update_trackers(self, data, total, terms, student_logits):
        x, y, sample_weight = data
        batch_weight = self._tracker_weight(y, student_logits)
        self._loss_tracker.update_state(total, sample_weight=batch_weight)
        for name, value in terms.items():
            self.loss_trackers[name].update_state(value, sample_weight=batch_weight)
        # Examples without a gold label (label -1) have nothing to be accurate about;
        # `weighted_metrics` honour this weight, plain `metrics` ignore it. Per token,
        # the sentences' weights spread over their words.
        gold = losses.has_gold_label(y, student_logits)
        if sample_weight is not None and self.logits_rank == 3:
            sample_weight = ops.reshape(ops.cast(sample_weight, "float32"), (-1, 1)) * gold
        metric_weight = self._weighted(gold, sample_weight)
        return self.compute_metrics(x, y, student_logits, sample_weight=metric_weight)

    def fit(self, *args, callbacks=None, **kwargs):
        """`keras.Model.fit`, with the optimizer built first (`build_optimizer`); a
        jit-compiled distiller also gets its NaN guard callback. A `tf.data.Dataset`
        is not shuffled by `fit` (shuffle it yourself, as `data.encode_for_distillation`
        does), so `shuffle` defaults to False for one."""
        build_optimizer(self)
        if isinstance(args[0] if args else kwargs.get("x"), tf.data.Dataset):
            # Keras ignores `shuffle` for a dataset, but warns on every fit that its
            # default, True, is ignored.
            kwargs.setdefault("shuffle", False)
        if self.jit_compile:
            callbacks = [*(callbacks or []), nonfinite.NonFiniteGuard(self)]
        return super().fit(*args, callbacks=callbacks, **kwargs)

    def _trained_weights(self):
        """The student's trainable weights and those of the projections (not its)."""
        weights = list(self.student.trainable_weights)
        for projection in self.projections.values():
            weights.extend(projection.trainable_weights)
        return weights

    def train_step(self, data):
        data = keras.utils.unpack_x_y_sample_weight(data)
        x, y, sample_weight = data
        # The frozen teacher runs outside the tape: nothing of it is recorded.
        student_inputs, teacher_outputs = self._split_batch(x)
        with tf.GradientTape() as tape:
            student_outputs = self._forward(
                self.student, self.student_features, student_inputs, training=True
            )
            total, terms = self._loss_terms(
                y, teacher_outputs, student_outputs, student_inputs, sample_weight
            )
            # tf.distribute sums the replicas' gradients, so each replica contributes
            # its mean loss divided by the replica count (as Keras's own losses do).
            scaled_loss = total / tf.distribute.get_strategy().num_replicas_in_sync
            # Multiplies by the loss scale under mixed_float16, so that small float16
            # gradients do not flush to zero; apply_gradients divides it out again.
            scaled_loss = self.optimizer.scale_loss(scaled_loss)
        trained_weights = self._trained_weights()
        gradients = tape.gradient(scaled_loss, trained_weights)
        finite_checks = {"teacher_logits": teacher_outputs["logits"], **terms}
        # Under loss scaling an overflow is expected now and then: the optimizer
        # skips that step and lowers the scale, so only unscaled gradients are checked.
        if not isinstance(self.optimizer, keras.optimizers.LossScaleOptimizer):
            finite_checks["gradients"] = gradients
        # Checked before the update, so a bad step never reaches the weights.
        nonfinite.apply_gradients_if_finite(self, finite_checks, gradients, trained_weights)
        return self._update_trackers(data, total, terms, student_outputs["logits"])

    def test_step(self, data):
        data = keras.utils.unpack_x_y_sample_weight(data)
        x, y, sample_weight = data
        student_inputs, teacher_outputs = self._split_batch(x)
        student_outputs = self._forward(
            self.student, self.student_features, student_inputs, training=False
        )
        total, terms = self._loss_terms(
            y, teacher_outputs, student_outputs, student_inputs, sample_weight
        )
        return self._update_trackers(data, total, terms, student_outputs["logits"])

    def save(self, filepath, overwrite=True, **kwargs):
        """Saves the student alone (the model to deploy); the teacher is not included.

        `keras.models.load_model(filepath)` returns the student. To keep the teacher,
        save it on its own. The projections of the intermediate losses are training
        aids and are not saved either.
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
                "intermediate_losses": dict(self.intermediate_losses),
                "layer_map": self.layer_map,
                "teacher_weights": self.teacher_weights,
                "teacher_average": self._teacher_average_config,
                "logits_rank": self.logits_rank,
                "representation_weight": self.representation_weight,
                "representation_dim": self.representation_dim,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("teacher", "student", "distillation_loss"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)

