"""Weight averaging: a student validated, kept and saved with an exponential moving
average of its training weights (Polyak averaging), from the optimizer's `use_ema`."""

import keras


class EpochEMAWeights(keras.callbacks.SwapEMAWeights):
    """`SwapEMAWeights(swap_on_epoch=True)` that a resumed stage can continue.

    With an optimizer made with `use_ema=True`, Keras's validation at each epoch's
    end scores the averaged weights, and from this callback's `on_epoch_end` to the
    next epoch's start the model holds them and the optimizer's average slots hold
    the training weights. So the callbacks after this one (early stopping's best
    weights, an epoch checkpoint) keep the averaged weights, and the model `fit`
    leaves is averaged.

    A checkpoint written at an epoch's end is therefore swapped. Keras's callback
    starts every `fit` unswapped; this one starts swapped when `resumed` (the stage
    restores such a checkpoint), so that the first epoch begins by swapping back and
    trains on the same weights as an uninterrupted run would.

    Place it before the callbacks that should see the averaged weights.

    Example: a loss whose gradient for the bias is always 1, so that SGD at rate 1
    moves the bias from 0 to -1, -2, -3 in three one-step epochs. Keras's average
    starts at the first step's weights, then takes half of each new one: -1, -1.5,
    -2.25. The model `fit` leaves holds the average, not the trained -3.

    >>> import numpy as np
    >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    >>> optimizer = keras.optimizers.SGD(1.0, use_ema=True, ema_momentum=0.5)
    >>> model.compile(optimizer, loss=lambda labels, outputs: keras.ops.mean(outputs))
    >>> _ = model.fit(np.zeros((1, 1)), np.zeros(1), epochs=3, verbose=0,
    ...               callbacks=[EpochEMAWeights(resumed=False)])
    >>> model.layers[0].bias.numpy()
    array([-2.25], dtype=float32)
    """

    def __init__(self, *, resumed):
        super().__init__(swap_on_epoch=True)
        self.resumed = resumed

    def on_train_begin(self, logs=None):
        self._ema_weights_in_model = self.resumed
