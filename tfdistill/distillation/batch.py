"""The batch contract of the `Distiller`: which inputs go to which model.

A batch's `x` is either one input that both models take, or a dict routed by these
keys: `{STUDENT_KEY: ..., TEACHER_KEY: ...}` when the models read different encodings
of the same texts, or `{STUDENT_KEY: ..., TEACHER_LOGITS_KEY: ...}` when the teacher's
logits were computed beforehand. Any other dict is one input shared by both models
(e.g. the `{"token_ids", "padding_mask", ...}` of a BERT). Every module that builds
or reads such batches imports the keys from here.

This module imports nothing, so that the data pipeline can use it without pulling in
models or Keras.

Example:

>>> x = {STUDENT_KEY: "student ids", TEACHER_LOGITS_KEY: "logits"}
>>> is_routed(x), unpack(x)
(True, ('student ids', None, 'logits'))
>>> unpack({"token_ids": "ids"})
({'token_ids': 'ids'}, {'token_ids': 'ids'}, None)
"""

STUDENT_KEY = "student"
TEACHER_KEY = "teacher"
TEACHER_LOGITS_KEY = "teacher_logits"
# Beside cached logits: the teacher's cached vectors of the texts, for the
# representation term (`tfdistill.distillation.representation`).
TEACHER_VECTORS_KEY = "teacher_vectors"
ROUTING_KEYS = (STUDENT_KEY, TEACHER_KEY, TEACHER_LOGITS_KEY)


def is_routed(x):
    """Whether `x` is a dict routed by the keys above, not one shared input."""
    return isinstance(x, dict) and any(key in x for key in ROUTING_KEYS)


def unpack(x):
    """Returns `(student_inputs, teacher_inputs, teacher_logits)` of a batch's `x`.

    An entry that `x` does not carry is `None`. A shared input is both models'.

    Raises:
        ValueError: if a routed `x` lacks the student's inputs, or has neither the
            teacher's inputs nor its logits.
    """
    if not is_routed(x):
        return x, x, None
    if STUDENT_KEY not in x:
        raise ValueError(
            f"A dict batch for the Distiller needs a {STUDENT_KEY!r} key; "
            f"got keys {sorted(x)}."
        )
    teacher_inputs = x.get(TEACHER_KEY)
    teacher_logits = x.get(TEACHER_LOGITS_KEY)
    if teacher_inputs is None and teacher_logits is None:
        raise ValueError(
            f"A dict batch for the Distiller needs {TEACHER_KEY!r} (inputs for "
            f"the teacher) or {TEACHER_LOGITS_KEY!r} (its precomputed logits) "
            f"beside {STUDENT_KEY!r}; got keys {sorted(x)}."
        )
    return x[STUDENT_KEY], teacher_inputs, teacher_logits


def teacher_vectors(x):
    """The teacher's cached vectors that a routed `x` carries, else None."""
    return x.get(TEACHER_VECTORS_KEY) if is_routed(x) else None
