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
['bilstm', 'bilstm_tagger', 'bilstm_wordpiece', 'cnn', 'small_bert']
>>> tfdistill.losses.LOGIT_LOSSES.names()
['cross_entropy', 'kl', 'mse']
"""

# The one place the version is written; setup.py reads it, and every stage
# fingerprint records it.
__version__ = "0.1.0"

# First, before any module imports TensorFlow: the `tfdistill` command hides its
# C++ start-up lines (see `tfdistill/run/quiet.py`).
from tfdistill.run import quiet as _quiet  # noqa: E402

_quiet.import_tensorflow()

from tfdistill import data  # noqa: E402
from tfdistill import evaluation  # noqa: E402
from tfdistill import export  # noqa: E402
from tfdistill import losses  # noqa: E402
from tfdistill import models  # noqa: E402
from tfdistill import tasks  # noqa: E402
from tfdistill.data import register_source  # noqa: E402
from tfdistill.distillation import schedules  # noqa: E402
from tfdistill.distillation.distiller import Distiller  # noqa: E402
from tfdistill.losses import register_logit_loss  # noqa: E402
from tfdistill.models import register_student  # noqa: E402
from tfdistill.run.distribute import register_strategy  # noqa: E402
from tfdistill.tasks import register_task  # noqa: E402

__all__ = [
    "Distiller",
    "__version__",
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
