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

    Example:

    >>> import numpy as np
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> optimizer = keras.optimizers.SGD(0.1, use_ema=True, ema_momentum=0.5)
    >>> model.compile(optimizer, "mse")
    >>> _ = model.fit(np.ones((4, 2)), np.ones(4), epochs=2, batch_size=4, verbose=0,
    ...               callbacks=[EpochEMAWeights(resumed=False)])
    >>> [bool(np.allclose(weight, average)) for weight, average in
    ...  zip(model.trainable_weights, optimizer._model_variables_moving_average)]
    [True, True]
    """

    def __init__(self, *, resumed):
        super().__init__(swap_on_epoch=True)
        self.resumed = resumed

    def on_train_begin(self, logs=None):
        self._ema_weights_in_model = self.resumed
