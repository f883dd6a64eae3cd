"""Where a run keeps what: every folder and file name of a run directory, once.

```
<output_dir>/
  config.yaml  metrics.json  report.md  learning_curves.png  tradeoff.png
  teacher/  teacher_seed_<s>/      fine-tuned teachers (keras-hub presets)
  cache/                           the teachers' logits, one .npy per fingerprint
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

PARTIAL_SUFFIX = ".partial"
# The first teacher's folder and the name of its row in metrics.json.
TEACHER = "teacher"
TRAINING_FILE = "training.json"
CONFIG_FILE = "config.yaml"


class RunLayout:
    """The paths inside one run directory.

    Args:
        root: the run directory (the `.partial` one while the run is going).
    """

    def __init__(self, root):
        self.root = pathlib.Path(root)

    def teacher(self, name=TEACHER):
        """The fine-tuned teacher `name` (a keras-hub preset folder)."""
        return self.root / name

    def staging(self, name):
        """A hidden folder where a stage writes `name` before renaming it into place."""
        return self.root / f".{name}.tmp"

    @property
    def cache(self):
        return self.root / "cache"

    def student(self, name):
        return self.root / "students" / name

    def student_model(self, name):
        """The trained student; its presence marks the stage done."""
        return self.student(name) / "model.keras"

    def training(self, model_dir):
        """The history of the stage that trained the model in `model_dir`."""
        return pathlib.Path(model_dir) / TRAINING_FILE

    def export(self, name):
        return self.root / "export" / name

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
