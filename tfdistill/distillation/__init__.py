"""Distillation: the `Distiller` and what its training step is made of.

- `distiller.py`: `Distiller`, a `keras.Model` whose `train_step` trains a student on
  a frozen teacher's soft labels and the hard labels;
- `batch.py`: the batch contract, the keys that route inputs to the two models;
- `intermediate.py`: the terms that match what two BERTs compute inside;
- `representation.py`: the term that matches the student's features to the teacher's
  cached vectors of the texts;
- `nonfinite.py`: the guard that stops training at the first NaN or Inf;
- `checks.py`: the checks of the distiller's arguments;
- `schedules.py`: per-epoch temperature, alpha and learning-rate schedules;
- `optimizers.py`: optimizer variables made before `fit`;
- `averaging.py`: the averaged weights (`use_ema`) swapped in at each epoch's end.

This package imports none of them, so that the data pipeline can import `batch`
without pulling in the models: import the module you need, e.g.
`from tfdistill.distillation.distiller import Distiller` (also `tfdistill.Distiller`).
"""
