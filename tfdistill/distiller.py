"""`Distiller`: a `keras.Model` that trains a student on a frozen teacher's soft labels."""

import collections

import keras
import keras_hub
import tensorflow as tf
from absl import logging
from keras import ops

from tfdistill import losses
from tfdistill.models import features

# Keys of a dict batch that route inputs to the two models. Any other dict is taken to
# be one input shared by both (e.g. the {"token_ids", "padding_mask", ...} of a BERT).
STUDENT_KEY = "student"
TEACHER_KEY = "teacher"
TEACHER_LOGITS_KEY = "teacher_logits"
_ROUTING_KEYS = (STUDENT_KEY, TEACHER_KEY, TEACHER_LOGITS_KEY)

_IntermediateTerm = collections.namedtuple(
    "_IntermediateTerm", ["feature", "loss_fn", "per_layer"]
)
# The intermediate losses by name: the `bert_features` output each one compares,
# the loss, and whether it compares every student layer with its mapped teacher layer.
INTERMEDIATE_TERMS = {
    "embedding": _IntermediateTerm("embeddings", losses.embedding_mse, False),
    "hidden": _IntermediateTerm("hidden_states", losses.hidden_state_mse, True),
    "attention": _IntermediateTerm("attention_probs", losses.attention_kl, True),
}
# The terms whose features have the model's width: a narrower student's are projected.
_PROJECTED_TERMS = ("embedding", "hidden")


def check_temperature(temperature):
    """Raises a `ValueError` unless `temperature` is positive."""
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}.")


def check_alpha(alpha):
    """Raises a `ValueError` unless `alpha` (the hard-label weight) is in `[0, 1]`."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(
            f"alpha (the weight of the hard-label loss) must be in [0, 1], got {alpha}."
        )


def _check_intermediate_losses(intermediate_losses):
    """Returns `{name: float weight}`, or raises for an unknown name or bad weight."""
    terms = dict(intermediate_losses or {})
    unknown = sorted(set(terms) - set(INTERMEDIATE_TERMS))
    if unknown:
        raise ValueError(
            f"Unknown intermediate loss(es) {unknown}; valid names: "
            f"{sorted(INTERMEDIATE_TERMS)}."
        )
    for name, weight in terms.items():
        if not weight >= 0:
            raise ValueError(
                f"The weight of the {name!r} intermediate loss must be >= 0, got "
                f"{weight}."
            )
    return {name: float(weight) for name, weight in terms.items()}


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
              + Σ_k weight_k * intermediate_loss_k

    where `student_loss` is the cross-entropy of the student's logits against the true
    labels and `distillation_loss` compares the student's logits with the teacher's
    (by default Hinton's `T² · KL(softmax(teacher/T) ‖ softmax(student/T))`, see
    `tfdistill.losses`). Both models must output logits, not probabilities. So
    `alpha=1` trains on the labels only and `alpha=0` on the teacher only. The sum is
    empty unless `intermediate_losses` are asked for (see below).

    The teacher is frozen (`trainable=False`) and runs with `training=False`, outside
    the gradient tape; gradients reach the student only. Losses are computed in float32
    under any dtype policy, and under `mixed_float16` the loss is scaled by the
    optimizer's `LossScaleOptimizer` (which `compile` adds for the student's policy).
    `temperature` and `alpha` are non-trainable variables, so a callback (see
    `tfdistill.schedules`) can change them between epochs without retracing.

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

    Intermediate losses (TinyBERT, Jiao et al. 2020; MiniLM, Wang et al. 2020) also
    match what the two transformers compute inside. They need a keras-hub
    `BertTextClassifier` as teacher and as student, whose tokens line up (the same
    tokenizer and sequence length), and a live teacher: cached logits carry no hidden
    states. `intermediate_losses` maps names to weights:

    - `"embedding"`: `losses.embedding_mse` of the embedding outputs;
    - `"hidden"`: `losses.hidden_state_mse` of every student layer's output and its
      mapped teacher layer's, averaged over the student layers;
    - `"attention"`: `losses.attention_kl` of the same layers' attention
      probabilities, averaged over the student layers.

    Student layer `i` learns from teacher layer `layer_map[i]`, by default TinyBERT's
    uniform map (`tfdistill.models.features.uniform_layer_map`: 2 of 6 layers learn
    from the teacher's 3rd and 6th). When the student is narrower than the teacher,
    its embeddings and hidden states first go through learned linear projections to
    the teacher's width (TinyBERT's `W_e` and `W_h`, one shared by all layers), Dense
    layers without bias in float32 that belong to the distiller: they train with the
    student but are not part of it. Padding never counts.

    Several teachers (an ensemble, e.g. one teacher fine-tuned with three seeds) are
    given as a list: the student learns from their averaged soft labels,
    `Σ_k w_k softmax(z_k / T)` with `teacher_weights` `w` (equal by default), see
    `losses.ensemble_logits`. Precomputed logits of an ensemble come stacked as
    `(batch, teachers, classes)`. With the `"mse"` loss the logits are averaged
    instead (`teacher_average="auto"`).

    `fit` and `evaluate` report `loss`, `student_loss`, `distillation_loss`, one
    `<name>_loss` per intermediate loss (e.g. `hidden_loss`), and the compiled
    metrics of the student. Calling the distiller runs the student.

    `save()` writes the student alone, the artifact one deploys; the teacher (and
    any projection) is never bundled into it. `get_config()` describes both models,
    so `from_config` rebuilds the whole distiller.

    Args:
        teacher: a `keras.Model` that outputs logits, a list of them (an ensemble),
            or `None` when every batch carries `teacher_logits`.
        student: the `keras.Model` to train; it outputs logits.
        temperature: softens both distributions; a positive float. Higher values pass
            on more of the teacher's ranking of the wrong classes.
        alpha: weight of the hard-label loss, in `[0, 1]`; the distillation loss gets
            `1 - alpha`.
        distillation_loss: `"kl"` (default), `"cross_entropy"`, `"mse"` (Tang et al.
            2019), or a callable `(teacher_logits, student_logits, temperature)`
            returning one loss per example.
        intermediate_losses: optional dict from `"embedding"`, `"hidden"` and
            `"attention"` to non-negative weights. `None` (default) matches logits
            only, and builds nothing more.
        layer_map: optional list of 0-based teacher layer indices, one per student
            transformer layer, for the `"hidden"` and `"attention"` losses.
        teacher_weights: optional weights of an ensemble's teachers, one per
            teacher (normalised to sum to 1); `None` weighs them equally.
        teacher_average: how an ensemble's outputs are combined:
            `"probabilities"` (its soft labels), `"logits"`, or `"auto"` (default):
            logits for the `"mse"` loss, probabilities for the others.

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

    With two keras-hub `BertTextClassifier`s, the same `fit` also matches their
    insides:

    ```python
    distiller = tfdistill.Distiller(
        bert_teacher, bert_student,
        intermediate_losses={"hidden": 1.0, "attention": 1.0, "embedding": 1.0})
    ```
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
        **kwargs,
    ):
        # The distiller computes in the student's precision, so that `compile` wraps
        # the optimizer in a LossScaleOptimizer whenever the student is mixed_float16,
        # whatever the global policy is when the distiller is built.
        kwargs.setdefault("dtype", student.dtype_policy)
        super().__init__(**kwargs)
        check_temperature(temperature)
        check_alpha(alpha)
        teachers = _as_teacher_list(teacher)
        student_classes = _num_classes(student)
        for member in teachers:
            teacher_classes = _num_classes(member)
            if None not in (teacher_classes, student_classes) and (
                teacher_classes != student_classes
            ):
                raise ValueError(
                    f"The teacher {member.name!r} outputs {teacher_classes} classes but "
                    f"the student outputs {student_classes}; they must predict the "
                    "same classes."
                )
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
        self.teacher_average = _resolve_teacher_average(teacher_average, distillation_loss)
        self._teacher_average_config = teacher_average
        # Variables, not Python floats, so that a schedule can change them between
        # steps without retracing the compiled train step.
        self.temperature = keras.Variable(
            float(temperature), trainable=False, dtype="float32", name="temperature"
        )
        self.alpha = keras.Variable(
            float(alpha), trainable=False, dtype="float32", name="alpha"
        )
        # XLA cannot compile an assertion, so a jit-compiled step records its first
        # non-finite check here as [optimizer step, check index], skips its update,
        # and `fit` stops on it (see `_NonFiniteGuard`). [-1, -1]: none so far.
        self.first_nonfinite = keras.Variable(
            [-1, -1],
            trainable=False,
            dtype="int64",
            aggregation="only_first_replica",
            name="first_nonfinite",
        )
        self.nonfinite_check_names = []
        self.intermediate_losses = _check_intermediate_losses(intermediate_losses)
        self._build_intermediate(layer_map)
        self.loss_trackers = {
            name: keras.metrics.Mean(name=name)
            for name in ["student_loss", "distillation_loss"]
            + [f"{term}_loss" for term in self.intermediate_losses]
        }
        # Everything the distiller holds exists now (its models come built), and
        # `save_weights`, used by checkpoints, refuses a model not marked built.
        self.built = student.built

    def _build_intermediate(self, layer_map):
        """Sets the feature models, the layer map and the projections (all None or
        empty when there is no intermediate loss, so logits-only runs build nothing)."""
        self.teacher_features = self.student_features = self.layer_map = None
        self.projections = {}
        names = sorted(self.intermediate_losses)
        if not names:
            if layer_map is not None:
                raise ValueError(
                    "layer_map only applies to the 'hidden' and 'attention' "
                    "intermediate losses, and none was asked for."
                )
            return
        if isinstance(self.teacher, (list, tuple)):
            raise ValueError(
                f"The intermediate losses {names} compare one teacher's internals with "
                f"the student's; got an ensemble of {len(self.teacher)} teachers."
            )
        if self.teacher is None:
            raise ValueError(
                f"The intermediate losses {names} compare the teacher's internals with "
                "the student's, so they need a live teacher; got teacher=None (cached "
                "teacher logits carry no hidden states)."
            )
        for role, model in (("teacher", self.teacher), ("student", self.student)):
            if not isinstance(model, keras_hub.models.BertTextClassifier):
                raise ValueError(
                    f"The intermediate losses {names} read BERT internals, so the "
                    f"{role} must be a keras_hub.models.BertTextClassifier; got "
                    f"{type(model).__name__} {model.name!r}."
                )
        teacher_backbone = self.teacher.backbone
        student_backbone = self.student.backbone
        self.teacher_features = features.bert_features(self.teacher)
        self.student_features = features.bert_features(self.student)
        if layer_map is None:
            layer_map = features.uniform_layer_map(
                student_backbone.num_layers, teacher_backbone.num_layers
            )
        self.layer_map = features.check_layer_map(
            layer_map, student_backbone.num_layers, teacher_backbone.num_layers
        )
        if teacher_backbone.hidden_dim != student_backbone.hidden_dim:
            self.projections = {
                name: _width_projection(
                    student_backbone.hidden_dim, teacher_backbone.hidden_dim, name
                )
                for name in _PROJECTED_TERMS
                if name in self.intermediate_losses
            }

    def call(self, inputs, training=False):
        student_inputs = inputs
        if self._is_routed(inputs):
            student_inputs = inputs[STUDENT_KEY]
        return self.student(student_inputs, training=training)

    @staticmethod
    def _is_routed(x):
        return isinstance(x, dict) and any(key in x for key in _ROUTING_KEYS)

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
        if teacher_logits is not None:
            if self.intermediate_losses:
                raise ValueError(
                    f"The intermediate losses {sorted(self.intermediate_losses)} need "
                    "the teacher's hidden states, which precomputed "
                    f"{TEACHER_LOGITS_KEY!r} do not carry: give the teacher its inputs "
                    "instead."
                )
            teacher_outputs = {"logits": teacher_logits}
        elif self.teacher is None:
            raise ValueError(
                "The Distiller has no teacher (teacher=None), so every batch must "
                f"carry precomputed {TEACHER_LOGITS_KEY!r}: "
                f"x = {{{STUDENT_KEY!r}: ..., {TEACHER_LOGITS_KEY!r}: ...}}."
            )
        elif isinstance(self.teacher, (list, tuple)):
            teacher_outputs = {
                "logits": ops.stack(
                    [
                        ops.cast(member(teacher_inputs, training=False), "float32")
                        for member in self.teacher
                    ],
                    axis=1,
                )
            }
        else:
            teacher_outputs = self._forward(
                self.teacher, self.teacher_features, teacher_inputs, training=False
            )
        teacher_outputs["logits"] = ops.stop_gradient(
            ops.cast(teacher_outputs["logits"], "float32")
        )
        return student_inputs, teacher_outputs

    def _loss_terms(
        self, y, teacher_outputs, student_outputs, student_inputs, sample_weight
    ):
        """Returns `(total, terms)`: float32 scalars, `terms` keyed by tracker name."""
        student_logits = ops.cast(student_outputs["logits"], "float32")
        teacher_logits = teacher_outputs["logits"]
        if len(teacher_logits.shape) == 3:
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
        terms = {
            "student_loss": losses.hard_label_cross_entropy(y, student_logits),
            "distillation_loss": self.distillation_loss_fn(
                teacher_logits, student_logits, self.temperature
            ),
        }
        for name in self.intermediate_losses:
            terms[f"{name}_loss"] = self._intermediate_loss(
                name, teacher_outputs, student_outputs, student_inputs["padding_mask"]
            )
        terms = {
            name: self._reduce(per_example, sample_weight)
            for name, per_example in terms.items()
        }
        total = (
            self.alpha * terms["student_loss"]
            + (1.0 - self.alpha) * terms["distillation_loss"]
        )
        for name, weight in self.intermediate_losses.items():
            total = total + weight * terms[f"{name}_loss"]
        return total, terms

    def _intermediate_loss(self, name, teacher_outputs, student_outputs, padding_mask):
        """One intermediate loss per example, averaged over the mapped layer pairs."""
        term = INTERMEDIATE_TERMS[name]
        teacher_feature = teacher_outputs[term.feature]
        student_feature = student_outputs[term.feature]
        if term.per_layer:
            pairs = [
                (teacher_feature[teacher_layer], student_feature[student_layer])
                for student_layer, teacher_layer in enumerate(self.layer_map)
            ]
        else:
            pairs = [(teacher_feature, student_feature)]
        projection = self.projections.get(name)
        per_pair = [
            term.loss_fn(
                teacher,
                student if projection is None else projection(student),
                padding_mask,
            )
            for teacher, student in pairs
        ]
        return ops.mean(ops.stack(per_pair), axis=0)

    @staticmethod
    def _reduce(per_example, sample_weight):
        """Keras's "sum_over_batch_size": Σ wᵢ·lᵢ / batch size (weights default to 1)."""
        if sample_weight is not None:
            per_example = per_example * ops.cast(
                ops.reshape(sample_weight, ops.shape(per_example)), "float32"
            )
        return ops.mean(per_example)

    def _update_trackers(self, data, total, terms, student_logits):
        x, y, sample_weight = data
        batch_size = ops.shape(student_logits)[0]
        self._loss_tracker.update_state(total, sample_weight=batch_size)
        for name, value in terms.items():
            self.loss_trackers[name].update_state(value, sample_weight=batch_size)
        # Examples without a gold label (label -1) have nothing to be accurate about;
        # `weighted_metrics` honour this weight, plain `metrics` ignore it.
        metric_weight = losses.has_gold_label(y, student_logits)
        if sample_weight is not None:
            metric_weight = metric_weight * ops.cast(
                ops.reshape(sample_weight, ops.shape(metric_weight)), "float32"
            )
        return self.compute_metrics(x, y, student_logits, sample_weight=metric_weight)

    @staticmethod
    def _is_finite(tensors):
        return tf.reduce_all(
            [tf.reduce_all(tf.math.is_finite(t)) for t in tf.nest.flatten(tensors) if t is not None]
        )

    def _assert_finite(self, checks):
        """Stops training at the first NaN or Inf, naming the term and the step.

        `checks` is an ordered dict of name to tensors; the first non-finite one is
        named, so a NaN in the teacher's logits is not reported as the loss it
        poisons.
        """
        names = list(checks)
        all_finite, first_bad = self._first_nonfinite_check(checks)
        tf.debugging.Assert(
            all_finite,
            [
                "NaN or Inf in",
                tf.gather(tf.constant(names), first_bad),
                "at optimizer step",
                self.optimizer.iterations,
            ],
        )

    def _first_nonfinite_check(self, checks):
        """`(all finite, index of the first non-finite check)` of the ordered `checks`."""
        finite = tf.stack([self._is_finite(tensors) for tensors in checks.values()])
        first_bad = tf.argmin(tf.cast(finite, tf.int64), output_type=tf.int64)
        return tf.reduce_all(finite), first_bad

    def _apply_if_finite(self, checks, gradients, trained_weights):
        """The XLA-compilable guard: applies the step only if every check is finite,
        else records which check failed at which step for `_NonFiniteGuard`."""
        self.nonfinite_check_names = list(checks)
        all_finite, first_bad = self._first_nonfinite_check(checks)

        def apply():
            self.optimizer.apply_gradients(zip(gradients, trained_weights))

        def record():
            self.first_nonfinite.assign(
                tf.stack([tf.cast(self.optimizer.iterations, tf.int64), first_bad])
            )

        tf.cond(all_finite, apply, record)

    def fit(self, *args, callbacks=None, **kwargs):
        """`keras.Model.fit`; a jit-compiled distiller also gets its NaN guard callback."""
        if self.jit_compile:
            callbacks = [*(callbacks or []), _NonFiniteGuard(self)]
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
        checks = {"teacher_logits": teacher_outputs["logits"], **terms}
        # Under loss scaling an overflow is expected now and then: the optimizer
        # skips that step and lowers the scale, so only unscaled gradients are checked.
        if not isinstance(self.optimizer, keras.optimizers.LossScaleOptimizer):
            checks["gradients"] = gradients
        # Before the update, so a bad step never reaches the weights.
        if self.jit_compile:
            self._apply_if_finite(checks, gradients, trained_weights)
        else:
            self._assert_finite(checks)
            self.optimizer.apply_gradients(zip(gradients, trained_weights))
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
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("teacher", "student", "distillation_loss"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)


class _NonFiniteGuard(keras.callbacks.Callback):
    """Stops a jit-compiled distiller's `fit` at the first step with a NaN or Inf.

    The step itself was skipped (see `Distiller._apply_if_finite`); the error names
    the check (teacher logits, a loss term, or the gradients) and the step, as the
    assertion of steps that are not jit-compiled does.
    """

    def __init__(self, distiller):
        super().__init__()
        self.distiller = distiller

    def on_train_begin(self, logs=None):
        self.distiller.first_nonfinite.assign([-1, -1])

    def on_train_batch_end(self, batch, logs=None):
        step, check = (int(value) for value in self.distiller.first_nonfinite.numpy())
        if step >= 0:
            name = self.distiller.nonfinite_check_names[check]
            raise FloatingPointError(
                f"NaN or Inf in {name} at optimizer step {step}; that step's update "
                "was skipped."
            )


def _as_teacher_list(teacher):
    """The teacher models: `[]` for None, the list for an ensemble, else `[teacher]`."""
    if teacher is None:
        return []
    if isinstance(teacher, (list, tuple)):
        if not teacher:
            raise ValueError("An ensemble of teachers needs at least one teacher; got [].")
        return list(teacher)
    return [teacher]


def _resolve_teacher_average(teacher_average, distillation_loss):
    if teacher_average == "auto":
        return "logits" if distillation_loss == "mse" else "probabilities"
    if teacher_average not in losses.TEACHER_AVERAGES:
        raise ValueError(
            "teacher_average must be 'auto' or one of "
            f"{list(losses.TEACHER_AVERAGES)}, got {teacher_average!r}."
        )
    return teacher_average


def _width_projection(student_width, teacher_width, term_name):
    """TinyBERT's `W`: a learned linear map from the student's width to the teacher's.

    Float32, like the losses it feeds, whatever the student's precision.
    """
    projection = keras.layers.Dense(
        teacher_width, use_bias=False, dtype="float32", name=f"{term_name}_projection"
    )
    projection.build((None, None, student_width))
    return projection
