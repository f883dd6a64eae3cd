"""Where a run keeps what: every folder and file name of a run directory, once.

```
<output_dir>/
  config.yaml  metrics.json  report.md  learning_curves.png  tradeoff.png
  teacher/  teacher_seed_<s>/      fine-tuned teachers (keras-hub presets)
  cache/                           the teachers' logits, one .npy per fingerprint
  tuning/                          the hyperparameter search (KerasTuner) + trials.json
  students/<kind>_<variant>/       model.keras + training.json
  export/<model>/                  savedmodel/ and model.tflite
  checkpoints/<stage>/             epoch checkpoints of an unfinished stage
  tensorboard/<stage>/
```

The run is built in `<output_dir>.partial/` and renamed to `<output_dir>` when it
finishes (see `tfdistill.run.pipeline`).

Example:

>>> layout = RunLayout("runs/demo.partial")
>>> str(layout.student_model("bilstm_distilled"))
'runs/demo.partial/students/bilstm_distilled/model.keras'
"""

import pathlib

from tfdistill.models.students.saving import MODEL_FILE

PARTIAL_SUFFIX = ".partial"
# The first teacher's folder and the name of its row in metrics.json.
TEACHER = "teacher"
# The student variants: with the teachers, and the same student without them.
DISTILLED = "distilled"
BASELINE = "baseline"
TRAINING_FILE = "training.json"
# The folder of the hyperparameter search: also its KerasTuner project name.
TUNING = "tuning"
CONFIG_FILE = "config.yaml"


def partial_dir(output_dir):
    """Where the run for `output_dir` is built until it is whole."""
    return pathlib.Path(str(output_dir) + PARTIAL_SUFFIX)


def enclosing_run(folder):
    """The nearest folder above `folder` that is a finished run (it has its
    `metrics.json`), in `folder`'s own form (relative stays relative); None if none
    is: what to name to a user who gave a folder inside a run."""
    for parent in pathlib.Path(folder).parents:
        if RunLayout(parent).metrics.is_file():
            return parent
    return None


def teacher_members(config):
    """`(folder name, fine-tuning seed)` of each teacher, the first one first."""
    first_seed = config.seed if config.teacher.seed is None else config.teacher.seed
    return [(TEACHER, first_seed)] + [
        (f"{TEACHER}_seed_{seed}", seed) for seed in config.teacher.ensemble_seeds
    ]


def student_variants(config):
    """The student variants a run trains: distilled, and its baseline if asked for."""
    return (DISTILLED, BASELINE) if config.distillation.baseline else (DISTILLED,)


def student_name(config, variant):
    """The folder and metrics.json row of a student variant, e.g. `bilstm_distilled`."""
    return f"{config.student.kind}_{variant}"


class RunLayout:
    """The paths inside one run directory.

    Args:
        root: the run directory (the `.partial` one while the run is going).
    """

    def __init__(self, root):
        self.root = pathlib.Path(root)

    @property
    def output_dir(self):
        """Where the finished run goes: the root without its `.partial`."""
        return pathlib.Path(str(self.root).removesuffix(PARTIAL_SUFFIX))

    def teacher(self, name=TEACHER):
        """The fine-tuned teacher `name` (a keras-hub preset folder)."""
        return self.root / name

    def staging(self, name):
        """A hidden folder where a stage writes `name` before renaming it into place."""
        return self.root / f".{name}.tmp"

    @property
    def cache(self):
        return self.root / "cache"

    @property
    def tuning(self):
        return self.root / TUNING

    @property
    def tuning_trials(self):
        """Every trial of the search (values, score, status) and the winner."""
        return self.tuning / "trials.json"

    def student(self, name):
        return self.root / "students" / name

    def student_model(self, name):
        """The trained student; its presence marks the stage done."""
        return self.student(name) / MODEL_FILE

    def training(self, model_dir):
        """The history of the stage that trained the model in `model_dir`."""
        return pathlib.Path(model_dir) / TRAINING_FILE

    def export(self, name):
        return self.root / "export" / name

    def savedmodel(self, name):
        """The SavedModel of model `name`, which serves raw strings."""
        return self.export(name) / "savedmodel"

    def tflite(self, name, mode):
        """One TFLite file of a student; its preprocessor and labels lie beside it."""
        return self.export(name) / f"model_{mode}.tflite"

    @property
    def checkpoints(self):
        return self.root / "checkpoints"

    def checkpoint(self, name):
        return self.checkpoints / name

    def tensorboard(self, name):
        return self.root / "tensorboard" / name

    @property
    def config(self):
        return self.root / CONFIG_FILE

    @property
    def metrics(self):
        """What the run measured, written last."""
        return self.root / "metrics.json"
