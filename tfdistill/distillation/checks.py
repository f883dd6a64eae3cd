"""Checks of a `Distiller`'s arguments, each raising a `ValueError` naming the problem.

They run before any model is built or any step taken; the config validator and
`tfdistill.schedules` use the same ones.

Example:

>>> check_temperature(0.0)
Traceback (most recent call last):
...
ValueError: temperature must be > 0, got 0.0.
>>> resolve_teacher_average("auto", "mse")
'logits'
"""

from tfdistill import losses


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


def check_learning_rate(learning_rate):
    """Raises a `ValueError` unless `learning_rate` is positive: at 0 an epoch trains
    nothing."""
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be > 0, got {learning_rate}.")


def as_teacher_list(teacher):
    """The teacher models: `[]` for None, the list for an ensemble, else `[teacher]`."""
    if teacher is None:
        return []
    if isinstance(teacher, (list, tuple)):
        if not teacher:
            raise ValueError("An ensemble of teachers needs at least one teacher; got [].")
        return list(teacher)
    return [teacher]


def _num_classes(model):
    """The static size of a model's last output axis, or None when it is not known yet."""
    outputs = getattr(model, "outputs", None)
    if not outputs or len(outputs) != 1:
        return None
    return outputs[0].shape[-1]


def check_classes(teachers, student):
    """Raises unless every teacher predicts as many classes as the student (when the
    models' output shapes are known)."""
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


def check_logits_rank(logits_rank, teacher, intermediate_losses):
    """Raises unless `logits_rank` is 2 (per example) or 3 (per token), and what is
    asked for works at that rank: per token, one teacher and no intermediate losses."""
    if logits_rank not in (2, 3):
        raise ValueError(
            f"logits_rank must be 2 (one label per example) or 3 (one per token), "
            f"got {logits_rank!r}."
        )
    if logits_rank == 3 and isinstance(teacher, (list, tuple)):
        raise ValueError("An ensemble of teachers is not supported per token (logits_rank=3) yet.")
    if logits_rank == 3 and intermediate_losses:
        raise ValueError(
            f"The intermediate losses {sorted(intermediate_losses)} are not supported "
            "per token (logits_rank=3) yet."
        )


def check_representation(weight, dim, intermediate_losses, logits_rank):
    """The representation term's weight as a float, checked with what it needs."""
    weight = float(weight)
    if not weight >= 0:
        raise ValueError(f"representation_weight must be >= 0, got {weight}.")
    if not weight:
        return 0.0
    if not (isinstance(dim, int) and dim > 0):
        raise ValueError(
            "representation_weight > 0 needs representation_dim, the width of the "
            f"teacher's vectors (a positive int); got {dim!r}."
        )
    if intermediate_losses or logits_rank != 2:
        raise ValueError(
            "The representation term works on cached vectors of whole texts: it takes no "
            "intermediate losses and one label per example (logits_rank=2)."
        )
    return weight


def resolve_teacher_average(teacher_average, distillation_loss):
    """`teacher_average`, with `"auto"` replaced by the loss's `ensemble_average`."""
    if teacher_average == "auto":
        return losses.ensemble_average(distillation_loss)
    if teacher_average not in losses.TEACHER_AVERAGES:
        raise ValueError(
            "teacher_average must be 'auto' or one of "
            f"{list(losses.TEACHER_AVERAGES)}, got {teacher_average!r}."
        )
    return teacher_average
