"""A fault to inject into training: one weight value set to NaN at a chosen batch."""

import keras
import numpy as np


class PoisonWeight(keras.callbacks.Callback):
    """Sets `variable[index]` to NaN when batch `batch` of epoch `epoch` begins (0-based).

    A NaN weight value makes the loss NaN from that batch on if the batch reads it,
    and leaves the loss finite if nothing reads it (an embedding row of a word the
    batches do not hold).
    """

    def __init__(self, variable, index, *, epoch, batch):
        super().__init__()
        self.variable, self.index = variable, index
        self.at = (epoch, batch)
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            value = keras.ops.convert_to_numpy(self.variable.value).copy()
            value[self.index] = np.nan
            self.variable.assign(value)
