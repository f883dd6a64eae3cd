"""tfdistill: distill a frozen keras-hub BERT teacher into a small, fast Keras student.

The public face of the package:

- `tfdistill.Distiller`: a `keras.Model` whose `fit` trains a student on a frozen
  teacher's soft labels and the hard labels.
- `tfdistill.losses`: the distillation losses, one loss per example.
"""

from tfdistill import losses
from tfdistill.distiller import Distiller

__all__ = ["Distiller", "losses"]
