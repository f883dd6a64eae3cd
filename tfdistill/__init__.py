"""tfdistill: distill a frozen keras-hub BERT teacher into a small, fast Keras student.

The public face of the package:

- `tfdistill.Distiller`: a `keras.Model` whose `fit` trains a student on a frozen
  teacher's soft labels and the hard labels.
- `tfdistill.losses`: the distillation losses, one loss per example.
- `tfdistill.data`: sources (`load`), encoders, the teacher-logit cache, augmentation.
- `tfdistill.models`: the teacher (`load_teacher`, `finetune_teacher`) and the
  students (`build_student`).
- `tfdistill.export`: a SavedModel that serves raw strings, and TFLite.
- `tfdistill.evaluation`: accuracy, precision, recall, F1, size and speed.

The command line and its config files live in `tfdistill.run` (see `python -m tfdistill`).
"""

from tfdistill import data
from tfdistill import evaluation
from tfdistill import export
from tfdistill import losses
from tfdistill import models
from tfdistill import schedules
from tfdistill.distiller import Distiller

__all__ = ["Distiller", "data", "evaluation", "export", "losses", "models", "schedules"]
