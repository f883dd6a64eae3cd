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
import numpy as np
from absl import logging

from tfdistill.atomic import write_text
from tfdistill.distillation.optimizers import build_optimizer

# Its presence marks a folder that holds a checkpoint to resume.
STATE_FILE = "state.json"
# The files a checkpoint writes beside `state.json` (the run may keep others there).
_WEIGHTS_FILES = ("epoch-*.weights.h5", "best-epoch-*.npz")
# The attributes of `EarlyStopping` that carry its progress from epoch to epoch.
_EARLY_STOPPING_STATE = ("wait", "stopped_epoch", "best", "best_epoch")
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
    (`epoch-N.weights.h5`), the best weights `early_stopping` keeps
    (`best-epoch-N.npz`), and `state.json`, which names those files and keeps the
    logs of the finished epochs (with each epoch's wall time, `epoch_seconds`), the
    states of the dropout seed generators, `early_stopping`'s progress (best value,
    best epoch, wait) and whether training was stopped. The weights are written
    first under new names, then `state.json` is replaced atomically, then older
    weights are removed: a kill at any moment leaves a whole checkpoint, never half
    of one.

    `initial_epoch` is where `fit` starts: after the epochs a previous attempt
    finished (0 for a fresh stage), or at the end (that attempt's `epochs`) when a
    callback such as early stopping had stopped it, so that nothing is trained
    again. Start `fit` there (`initial_epoch=`), on data whose order depends on the
    epoch alone (`tfdistill.data.encode(..., epochs=(initial_epoch, stop))`, empty
    when nothing is left), and with the weights, optimizer state and early-stopping
    state this callback restores when training begins, the resumed stage ends
    exactly where an uninterrupted one would.

    Give it to `fit` after `early_stopping` (last is safest): at each epoch's end it
    saves what the callbacks before it have done, and when training begins it
    restores the state that `early_stopping` has just reset.

    Args:
        backup_dir: a directory for this stage alone; the caller removes it once the
            stage's result is saved.
        stage: a name for the log lines; defaults to the directory's name.
        early_stopping: the `keras.callbacks.EarlyStopping` of the stage, if any.
    """

    def __init__(self, backup_dir, stage=None, *, early_stopping=None):
        super().__init__()
        self.backup_dir = pathlib.Path(backup_dir)
        self.stage = stage or self.backup_dir.name
        self.early_stopping = early_stopping
        state_path = self.backup_dir / STATE_FILE
        self._state = json.loads(state_path.read_text(encoding="utf-8")) if state_path.exists() else None
        self.finished_epochs = list(self._state["epochs"]) if self._state else []
        stopped = self._state is not None and self._state.get("stopped", False)
        self.initial_epoch = self._state["planned_epochs"] if stopped else len(self.finished_epochs)

    def on_train_begin(self, logs=None):
        if self._state is None:
            return
        build_optimizer(self.model)  # Its variables are in the checkpoint.
        optimizer = self.model.optimizer
        self.model.load_weights(self.backup_dir / self._state["weights"])
        for variable, value in zip(_seed_states(self.model), self._state["seed_states"]):
            variable.assign(value)
        # A checkpoint written without early stopping leaves it to start afresh.
        if self.early_stopping is not None and "early_stopping" in self._state:
            self._restore_early_stopping(self._state["early_stopping"])
        step = int(optimizer.iterations.numpy()) if optimizer is not None else 0
        if self.initial_epoch < self.params["epochs"]:
            logging.info(
                "Resuming %s from epoch %d (optimizer step %d)",
                self.stage, self.initial_epoch, step,
            )
        else:
            logging.info(
                "Resuming %s with no epoch left to train (%d done, optimizer step %d)",
                self.stage, len(self.finished_epochs), step,
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
            # A stage that a callback stopped (early stopping) is over: a rerun must
            # not train it further.
            "stopped": bool(self.model.stop_training),
            "planned_epochs": self.params["epochs"],
        }
        if self.early_stopping is not None:
            state["early_stopping"] = self._save_early_stopping()
        write_text(self.backup_dir / STATE_FILE, json.dumps(state))
        self._state = state
        kept = {weights, state.get("early_stopping", {}).get("best_weights")}
        for pattern in _WEIGHTS_FILES:
            for old in self.backup_dir.glob(pattern):
                if old.name not in kept:
                    old.unlink()

    def _save_early_stopping(self):
        """`early_stopping`'s state; its best weights go to a file of their own,
        written again only when the best epoch changed since the last checkpoint."""
        stopping = self.early_stopping
        state = {name: getattr(stopping, name) for name in _EARLY_STOPPING_STATE}
        state["best"] = None if state["best"] is None else float(state["best"])
        state["best_weights"] = None
        if stopping.best_weights is not None:
            state["best_weights"] = f"best-epoch-{stopping.best_epoch + 1}.npz"
            previous = (self._state or {}).get("early_stopping") or {}
            if previous.get("best_weights") != state["best_weights"]:
                # A file by that name that no `state.json` names is a leftover of a
                # killed attempt, maybe half written: it is overwritten.
                with open(self.backup_dir / state["best_weights"], "wb") as file:
                    np.savez(file, *stopping.best_weights)
        return state

    def _restore_early_stopping(self, state):
        stopping = self.early_stopping
        for name in _EARLY_STOPPING_STATE:
            setattr(stopping, name, state[name])
        if state["best_weights"] is not None:
            with np.load(self.backup_dir / state["best_weights"]) as saved:
                stopping.best_weights = [saved[f"arr_{i}"] for i in range(len(saved.files))]

    def history(self):
        """`{metric: [value per epoch]}` over every epoch of the stage, as `History` has."""
        names = self.finished_epochs[0].keys() if self.finished_epochs else ()
        return {name: [epoch[name] for epoch in self.finished_epochs] for name in names}
