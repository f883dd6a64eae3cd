"""Optimizer set-up shared by every `fit` of the package: the teacher's, the
students', the `Distiller`'s."""


def build_optimizer(model):
    """Creates `model`'s optimizer variables for its trainable variables, once.

    Without a distribution strategy, Keras creates them while it traces the first
    training step, and a `tf.function` that creates variables is traced twice:
    for the packaged MiniLM, its first step took 23 to 26 s that way and 20 s
    built first (2 Xeon cores, one run each).
    Under a strategy, Keras builds them first itself, in its scope; this does the same.

    Example:

    >>> import keras
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    >>> model.compile(optimizer="adam", loss="mse")
    >>> build_optimizer(model)
    >>> model.optimizer.built, len(model.optimizer.variables) > 2
    (True, True)
    """
    # Not compiled yet: no attribute at all; Keras's `fit` then says to compile.
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and not optimizer.built:
        # In the strategy the model was made in, as `fit` would be, wherever it is called.
        with model.distribute_strategy.scope():
            optimizer.build(model.trainable_variables)
