"""Resume a training stage after a crash: atomic epoch checkpoints that replay exactly.

In a run, the training data streams the epochs still to run,
`tfdistill.data.encode(raw, preprocessor, shuffle=True, epochs=(backup.initial_epoch,
epochs))`, so that a resumed stage replays the interrupted epoch's order.

Example: a stage stopped after 2 of 3 epochs resumes at the third.

>>> import tempfile, numpy as np
>>> directory = tempfile.mkdtemp()
>>> def stage(epochs):
...     model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
...     model.compile("adam", "sparse_categorical_crossentropy")
...     backup = ResumableBackup(directory)
...     model.fit(np.ones((8, 4)), np.zeros(8), epochs=epochs, verbose=0,
...               initial_epoch=backup.initial_epoch, callbacks=[backup])
...     return backup
>>> stage(epochs=2).initial_epoch
0
>>> resumed = stage(epochs=3)
>>> resumed.initial_epoch, len(resumed.history()["loss"])
(2, 3)
"""

import json
import pathlib
import time

import keras
from absl import logging

from tfdistill.atomic import write_text

_STATE_FILE = "state.json"
# The key of each epoch's wall time in `history()`.
EPOCH_SECONDS = "epoch_seconds"


def _seed_states(model):
    """The states of the model's random seed generators (dropout and the like).

    `save_weights` leaves them out, so a resumed run would draw the dropout masks of
    its first epochs again; the checkpoint keeps them to draw the next ones.
    """
    return [
        variable
        for variable in model.non_trainable_variables
        if variable.path.endswith("seed_generator_state")
    ]


class ResumableBackup(keras.callbacks.Callback):
    """Saves a stage at every epoch end; when the stage runs again, restores it.

    A checkpoint is the model's weights with its optimizer state
    (`epoch-N.weights.h5`) plus `state.json`, which names that file and keeps the
    logs of the finished epochs (with each epoch's wall time, `epoch_seconds`) and
    the states of the dropout seed generators. The weights are written first under a
    new name, then `state.json` is replaced atomically, then older weights are
    removed: a kill at any moment leaves a whole checkpoint, never half of one.

    `initial_epoch` is the number of epochs a previous attempt finished (0 for a
    fresh stage); start `fit` there (`initial_epoch=`), on data whose order depends
    on the epoch alone (`tfdistill.data.encode(..., epochs=(initial_epoch, stop))`),
    and with the weights and optimizer state this callback restores when training
    begins, the resumed stage ends exactly where an uninterrupted one would.
    `EarlyStopping`'s patience starts again on resume.

    Args:
        backup_dir: a directory for this stage alone; the caller removes it once the
            stage's result is saved.
        stage: a name for the log lines; defaults to the directory's name.
    """

    def __init__(self, backup_dir, stage=None):
        super().__init__()
        self.backup_dir = pathlib.Path(backup_dir)
        self.stage = stage or self.backup_dir.name
        state_path = self.backup_dir / _STATE_FILE
        self._state = json.loads(state_path.read_text(encoding="utf-8")) if state_path.exists() else None
        self.finished_epochs = list(self._state["epochs"]) if self._state else []
        self.initial_epoch = len(self.finished_epochs)

    def on_train_begin(self, logs=None):
        if self._state is None:
            return
        optimizer = self.model.optimizer
        if optimizer is not None and not optimizer.built:
            optimizer.build(self.model.trainable_variables)
        self.model.load_weights(self.backup_dir / self._state["weights"])
        for variable, value in zip(_seed_states(self.model), self._state["seed_states"]):
            variable.assign(value)
        step = int(optimizer.iterations.numpy()) if optimizer is not None else 0
        logging.info(
            "Resuming %s from epoch %d (optimizer step %d)", self.stage, self.initial_epoch, step
        )

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = {name: float(value) for name, value in (logs or {}).items()}
        # Wall time of the epoch, validation included: what an epoch costs the user.
        logs[EPOCH_SECONDS] = time.perf_counter() - self._epoch_start
        self.finished_epochs.append(logs)
        self.backup_dir.mkdir(parents=True, exist_ok=True)
        weights = f"epoch-{epoch + 1}.weights.h5"
        self.model.save_weights(self.backup_dir / weights, overwrite=True)
        state = {
            "weights": weights,
            "epochs": self.finished_epochs,
            "seed_states": [variable.numpy().tolist() for variable in _seed_states(self.model)],
        }
        write_text(self.backup_dir / _STATE_FILE, json.dumps(state))
        for old in self.backup_dir.glob("epoch-*.weights.h5"):
            if old.name != weights:
                old.unlink()

    def history(self):
        """`{metric: [value per epoch]}` over every epoch of the stage, as `History` has."""
        names = self.finished_epochs[0].keys() if self.finished_epochs else ()
        return {name: [epoch[name] for epoch in self.finished_epochs] for name in names}
