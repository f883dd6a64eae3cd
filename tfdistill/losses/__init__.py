"""Distillation losses: small functions that return one loss per example.

Three families, each returning a float32 tensor of shape `(batch,)`, so that
`Distiller` (or any training loop) can apply sample weights and its own reduction:

- logit losses (`logits.py`), `(teacher_logits, student_logits, temperature)`:
  `soft_target_kl`, `soft_target_cross_entropy`, `logits_mse`, registered by name in
  `LOGIT_LOSSES` (add one with `register_logit_loss`, look one up with `get`);
  `ensemble_logits` combines several teachers into the one target they compare with;
- intermediate-layer losses (`intermediate.py`), `(teacher_features,
  student_features, mask)`: `embedding_mse`, `hidden_state_mse` and `attention_kl`,
  registered as the `Distiller`'s terms in `INTERMEDIATE_TERMS`;
- the hard-label loss (`labels.py`): `hard_label_cross_entropy`, where a negative
  label marks an example with no gold label (`has_gold_label`); per token,
  `UNTAGGED_WORD` marks a word that only the teacher tags (`is_word`).

Example:

>>> import numpy as np
>>> from tfdistill import losses
>>> teacher = np.array([[2.0, 0.5, -1.0]], "float32")
>>> student = np.array([[1.0, 1.0, 0.0]], "float32")
>>> losses.soft_target_kl(teacher, student, temperature=2.0).shape
TensorShape([1])
>>> losses.get("kl") is losses.soft_target_kl
True
"""

from tfdistill.losses.intermediate import INTERMEDIATE_TERMS
from tfdistill.losses.intermediate import attention_kl
from tfdistill.losses.intermediate import embedding_mse
from tfdistill.losses.intermediate import hidden_state_mse
from tfdistill.losses.labels import UNTAGGED_WORD
from tfdistill.losses.labels import hard_label_cross_entropy
from tfdistill.losses.labels import has_gold_label
from tfdistill.losses.labels import is_word
from tfdistill.losses.logits import LOGIT_LOSSES
from tfdistill.losses.logits import TEACHER_AVERAGES
from tfdistill.losses.logits import check_teacher_weights
from tfdistill.losses.logits import ensemble_average
from tfdistill.losses.logits import ensemble_logits
from tfdistill.losses.logits import get
from tfdistill.losses.logits import logits_mse
from tfdistill.losses.logits import register_logit_loss
from tfdistill.losses.logits import soft_target_cross_entropy
from tfdistill.losses.logits import soft_target_kl

__all__ = [
    "INTERMEDIATE_TERMS",
    "LOGIT_LOSSES",
    "TEACHER_AVERAGES",
    "UNTAGGED_WORD",
    "attention_kl",
    "check_teacher_weights",
    "embedding_mse",
    "ensemble_average",
    "ensemble_logits",
    "get",
    "hard_label_cross_entropy",
    "has_gold_label",
    "is_word",
    "hidden_state_mse",
    "logits_mse",
    "register_logit_loss",
    "soft_target_cross_entropy",
    "soft_target_kl",
]
