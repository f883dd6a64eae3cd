"""Logit losses: the student's logits against the teacher's, one loss per example.

Each loss takes `(teacher_logits, student_logits, temperature)` and returns a float32
tensor of shape `(batch,)`. They are registered by name in `LOGIT_LOSSES`, the one
list that the `Distiller`, the config validator and the error messages read; a user
adds one with `register_logit_loss` and can then name it in a config.

`ensemble_logits` turns several teachers' logits into the one target a loss compares
with. Each registered loss says how: its `ensemble_average` attribute is
`"probabilities"` (the teachers' averaged soft labels) or `"logits"`.

Precision: the soft-target losses compute in float64 and return float32. In float16
the softmax loses the small probabilities that carry the "dark knowledge"; in float32
the `T²` factor multiplies the rounding error of the log-probabilities, so that at
`T=8` the loss is off by about 3e-5 even for logits of unit scale (measured against a
float64 reference). The tensors involved are only `(batch, classes)`, so float64 costs
nothing measurable next to the models.

Hinton et al. (2015) multiply the soft-target terms by `temperature**2` so that their
gradients keep the same magnitude as the hard-label loss when the temperature changes;
both soft-target losses below include that factor.

Example:

>>> LOGIT_LOSSES.names()
['cross_entropy', 'kl', 'mse']
>>> ensemble_average("mse")
'logits'
"""

from keras import ops

from tfdistill.registry import Registry

# How an ensemble's teachers can be combined into one target.
TEACHER_AVERAGES = ("probabilities", "logits")

# Name -> loss `(teacher_logits, student_logits, temperature) -> (batch,)`, each with
# the attribute `ensemble_average`, one of TEACHER_AVERAGES.
LOGIT_LOSSES = Registry("logit loss")


def register_logit_loss(name, *, ensemble_average="probabilities"):
    """Registers a logit loss under `name` (a decorator), so a config can name it.

    Args:
        name: the name the `Distiller` and `distillation.loss` of a config accept.
        ensemble_average: how an ensemble's teachers are combined before this loss
            compares them with the student: `"probabilities"` (their averaged soft
            labels) or `"logits"` (their averaged logits).

    Returns:
        A decorator that registers a function
        `(teacher_logits, student_logits, temperature) -> (batch,)` and returns it.

    Example:

    >>> @register_logit_loss("tempered_l1")
    ... def tempered_l1(teacher_logits, student_logits, temperature=1.0):
    ...     teacher = ops.softmax(ops.stop_gradient(teacher_logits) / temperature)
    ...     student = ops.softmax(student_logits / temperature)
    ...     return ops.sum(ops.abs(teacher - student), axis=-1)
    >>> get("tempered_l1") is tempered_l1
    True
    >>> LOGIT_LOSSES.unregister("tempered_l1")
    """
    if ensemble_average not in TEACHER_AVERAGES:
        raise ValueError(
            f"ensemble_average must be one of {list(TEACHER_AVERAGES)}, got "
            f"{ensemble_average!r}."
        )
    return LOGIT_LOSSES.register(name, ensemble_average=ensemble_average)


def _tempered_log_probs(logits, temperature):
    logits = ops.cast(logits, "float64")
    return ops.log_softmax(logits / ops.cast(temperature, "float64"), axis=-1)


def _times_temperature_squared(loss, temperature):
    return ops.cast(loss * ops.cast(temperature, "float64") ** 2, "float32")


@register_logit_loss("kl")
def soft_target_kl(teacher_logits, student_logits, temperature=1.0):
    """Hinton's distillation loss: `T² · KL(softmax(t/T) ‖ softmax(s/T))` per example.

    The KL divergence is zero when the student's tempered distribution equals the
    teacher's, which makes it the easiest of the soft-target losses to read in logs.
    Unlike `keras.distillation.LogitsDistillation(loss="kl_divergence")`, the logits
    go through a softmax first and the result is scaled by `T²`.

    Args:
        teacher_logits: float tensor `(batch, classes)`; no gradient flows into it.
        student_logits: float tensor `(batch, classes)`.
        temperature: a positive float (or scalar tensor). Higher values soften both
            distributions and expose more of the teacher's ranking of wrong classes.

    Returns:
        A float32 tensor of shape `(batch,)`.

    Example:

    >>> import numpy as np
    >>> logits = np.array([[3.0, -1.0]], "float32")
    >>> float(soft_target_kl(logits, logits, temperature=4.0)[0])
    0.0
    """
    teacher_log_probs = ops.stop_gradient(_tempered_log_probs(teacher_logits, temperature))
    student_log_probs = _tempered_log_probs(student_logits, temperature)
    kl = ops.sum(
        ops.exp(teacher_log_probs) * (teacher_log_probs - student_log_probs), axis=-1
    )
    return _times_temperature_squared(kl, temperature)


@register_logit_loss("cross_entropy")
def soft_target_cross_entropy(teacher_logits, student_logits, temperature=1.0):
    """Cross-entropy against the teacher's soft targets, `-T² · Σ p_t log p_s` per example.

    It equals `soft_target_kl` plus `T²` times the teacher's entropy, a constant for the
    student, so both give the same gradients; this form is what most papers write.

    Args:
        teacher_logits: float tensor `(batch, classes)`; no gradient flows into it.
        student_logits: float tensor `(batch, classes)`.
        temperature: a positive float (or scalar tensor).

    Returns:
        A float32 tensor of shape `(batch,)`.

    Example:

    >>> import numpy as np
    >>> teacher = np.array([[0.0, 0.0]], "float32")
    >>> round(float(soft_target_cross_entropy(teacher, teacher)[0]), 4)  # log 2
    0.6931
    """
    teacher_probs = ops.stop_gradient(
        ops.exp(_tempered_log_probs(teacher_logits, temperature))
    )
    student_log_probs = _tempered_log_probs(student_logits, temperature)
    cross_entropy = -ops.sum(teacher_probs * student_log_probs, axis=-1)
    return _times_temperature_squared(cross_entropy, temperature)


# Raw logits are what this loss compares, so an ensemble averages its logits.
@register_logit_loss("mse", ensemble_average="logits")
def logits_mse(teacher_logits, student_logits, temperature=1.0):
    """Mean squared error between raw logits, per example (Tang et al., 2019).

    Matching logits directly is the limit of Hinton's loss at high temperature; Tang et
    al. distilled their BiLSTM students with it. For the default BiLSTM here it
    measured no better than `"kl"` over 3 seeds (BENCHMARKS.md section 40). The
    temperature cancels out
    (`T² · ((t - s) / T)² = (t - s)²`); it is accepted so that every distillation loss
    has the same signature.

    Args:
        teacher_logits: float tensor `(batch, classes)`; no gradient flows into it.
        student_logits: float tensor `(batch, classes)`.
        temperature: unused, see above.

    Returns:
        A float32 tensor of shape `(batch,)`.

    Example:

    >>> import numpy as np
    >>> float(logits_mse(np.array([[1.0, 3.0]]), np.array([[0.0, 0.0]]))[0])
    5.0
    """
    del temperature  # Cancels out; see the docstring.
    teacher_logits = ops.stop_gradient(ops.cast(teacher_logits, "float32"))
    student_logits = ops.cast(student_logits, "float32")
    return ops.mean(ops.square(teacher_logits - student_logits), axis=-1)


def get(identifier):
    """Returns a logit loss function from its registered name, or a callable as is.

    Args:
        identifier: a name in `LOGIT_LOSSES` (`"kl"`, `"cross_entropy"`, `"mse"` and
            any registered with `register_logit_loss`), or a callable with the
            signature `(teacher_logits, student_logits, temperature) -> (batch,)`.

    Raises:
        ValueError: for a name that is not registered; the message lists the names.

    Example:

    >>> get("kl") is soft_target_kl
    True
    """
    if callable(identifier):
        return identifier
    try:
        return LOGIT_LOSSES.get(identifier)
    except ValueError as error:
        raise ValueError(
            f"{error} Or pass a callable (teacher_logits, student_logits, "
            "temperature) -> per-example loss."
        ) from None


def ensemble_average(identifier):
    """How an ensemble's teachers are combined for a loss: one of `TEACHER_AVERAGES`.

    A registered loss, by name or as the registered function, gives its
    `ensemble_average` attribute; any other callable averages probabilities.

    Example:

    >>> ensemble_average("kl"), ensemble_average(logits_mse)
    ('probabilities', 'logits')
    """
    if callable(identifier):
        registered = [
            name for name in LOGIT_LOSSES.names() if LOGIT_LOSSES.get(name) is identifier
        ]
        if not registered:
            return "probabilities"
        identifier = registered[0]
    return LOGIT_LOSSES.attributes(identifier)["ensemble_average"]


def ensemble_logits(teacher_logits, temperature=1.0, weights=None, average="probabilities"):
    """One set of logits for several teachers' `(batch, teachers, classes)` logits.

    With `average="probabilities"` (the soft labels of an ensemble, as in Hinton et
    al. 2015), the result is `T · log Σ_k w_k softmax(z_k / T)`: logits whose tempered
    softmax is exactly the weighted mean of the teachers' tempered softmaxes, so every
    soft-target loss above compares the student with the averaged soft labels. With
    `average="logits"`, it is the weighted mean of the logits, the natural target for
    `logits_mse`, which compares raw logits.

    Computed in float64 (see the module's note on precision), and returned in
    float64 so that the loss reads it without rounding it first.

    Args:
        teacher_logits: float tensor `(batch, teachers, classes)`.
        temperature: a positive float (or scalar tensor).
        weights: optional sequence of non-negative weights, one per teacher; they are
            normalised to sum to 1. `None` weighs the teachers equally.
        average: `"probabilities"` or `"logits"`.

    Returns:
        A float64 tensor of shape `(batch, classes)`.

    Example:

    >>> import numpy as np
    >>> stacked = np.array([[[2.0, 0.0], [0.0, 2.0]]])  # two teachers that disagree
    >>> mixed = ensemble_logits(stacked, temperature=2.0)
    >>> [round(float(p), 4) for p in ops.softmax(mixed / 2.0)[0]]
    [0.5, 0.5]
    """
    if average not in TEACHER_AVERAGES:
        raise ValueError(
            f"average must be one of {list(TEACHER_AVERAGES)}, got {average!r}."
        )
    if len(teacher_logits.shape) != 3:
        raise ValueError(
            "ensemble_logits takes logits of shape (batch, teachers, classes), got "
            f"shape {tuple(teacher_logits.shape)}."
        )
    num_teachers = teacher_logits.shape[1]
    weights = ops.convert_to_tensor(check_teacher_weights(weights, num_teachers), "float64")
    logits = ops.cast(teacher_logits, "float64")
    if average == "logits":
        return ops.sum(logits * weights[:, None], axis=1)
    temperature = ops.cast(temperature, "float64")
    log_probs = ops.log_softmax(logits / temperature, axis=-1)
    return temperature * ops.logsumexp(log_probs + ops.log(weights)[:, None], axis=1)


def check_teacher_weights(weights, num_teachers=None):
    """Returns `weights` normalised to sum to 1, or raises a ValueError naming the problem.

    `None` gives equal weights when `num_teachers` is known, and stays `None`
    otherwise. `num_teachers=None` skips the count check (the ensemble's size is not
    known until its logits arrive).

    >>> check_teacher_weights([1, 3])
    [0.25, 0.75]
    """
    if weights is None:
        return None if num_teachers is None else [1.0 / num_teachers] * num_teachers
    weights = [float(weight) for weight in weights]
    if num_teachers is not None and len(weights) != num_teachers:
        raise ValueError(
            f"{len(weights)} teacher weights were given for {num_teachers} teachers."
        )
    if not weights or min(weights) < 0 or sum(weights) <= 0:
        raise ValueError(
            f"Teacher weights must be >= 0 with a positive sum, got {weights}."
        )
    return [weight / sum(weights) for weight in weights]
