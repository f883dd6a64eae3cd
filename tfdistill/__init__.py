"""tfdistill: distill a frozen keras-hub BERT teacher into a small, fast Keras student.

The public face of the package:

- `tfdistill.Distiller`: a `keras.Model` whose `fit` trains a student on a frozen
  teacher's soft labels and the hard labels.
- `tfdistill.losses`: the distillation losses, one loss per example.
- `tfdistill.data`: sources (`load`), encoders, the teacher-logit cache, augmentation.
- `tfdistill.models`: the teacher (`load_teacher`, `finetune_teacher`) and the
  students (`build_student`).
- `tfdistill.tasks`: what a label is (text classification), with its heads, metrics
  and serving outputs.
- `tfdistill.schedules`: per-epoch temperature and alpha schedules.
- `tfdistill.export`: a SavedModel that serves raw strings, and TFLite.
- `tfdistill.evaluation`: accuracy, precision, recall, F1, size and speed.

Every list of names is a registry that a user extends from Python, then names in a
config: `register_student`, `register_logit_loss`, `register_source`,
`register_task`, `register_strategy`.

The command line and its config files live in `tfdistill.run` (see `python -m tfdistill`).

Example:

>>> import tfdistill
>>> tfdistill.models.STUDENTS.names()
['bilstm', 'cnn', 'small_bert']
>>> tfdistill.losses.LOGIT_LOSSES.names()
['cross_entropy', 'kl', 'mse']
"""

from tfdistill import data
from tfdistill import evaluation
from tfdistill import export
from tfdistill import losses
from tfdistill import models
from tfdistill import tasks
from tfdistill.data import register_source
from tfdistill.distillation import schedules
from tfdistill.distillation.distiller import Distiller
from tfdistill.losses import register_logit_loss
from tfdistill.models import register_student
from tfdistill.run.distribute import register_strategy
from tfdistill.tasks import register_task

__all__ = [
    "Distiller",
    "data",
    "evaluation",
    "export",
    "losses",
    "models",
    "register_logit_loss",
    "register_source",
    "register_strategy",
    "register_student",
    "register_task",
    "schedules",
    "tasks",
]
