"""A copy of a Keras model that TFLite converts and quantizes as it is.

Two things stop a trained student from converting as it is:

- **Mixed precision.** A student trained under `mixed_bfloat16` computes in bfloat16,
  which the TFLite converter rejects. `float32_copy` computes in float32; its weights
  are the same (a mixed policy keeps its variables in float32).
- **Recurrent loops.** Keras runs a recurrent layer's cell in a loop that reads each
  step out of the whole input sequence, which it passes through the loop unchanged.
  Full-integer quantization calibrates by logging every float tensor of the TFLite
  graph, and its calibrator crashes the process (a segmentation fault, not an
  exception) on a loop output that merely passes a float input through: the loop
  frees it, the logger reads it (tensorflow/tensorflow#75140). In `convertible_copy`
  every `keras.layers.RNN` (an LSTM, a GRU, the two halves of a `Bidirectional`...)
  holds its input sequence as int32 bits (`tf.bitcast`, no copy) in a loop of its
  own, and turns one step back into float32 inside it. The results are Keras's
  (masked steps keep the last output and states).

Example:

>>> import numpy as np
>>> model = keras.Sequential([keras.Input((5, 3)), keras.layers.LSTM(4)])
>>> steps = np.random.default_rng(0).normal(size=(2, 5, 3)).astype("float32")
>>> bool(np.allclose(convertible_copy(model)(steps), model(steps), atol=1e-6))
True
"""

import functools

import keras
import tensorflow as tf


def float32_copy(model):
    """`model` rebuilt from its config with every layer computing in float32, same weights."""
    config = _in_float32(keras.saving.serialize_keras_object(model))
    # A compiled student's optimizer and loss are no part of what it computes.
    config.pop("compile_config", None)
    # The config comes from a model in memory, not a file: its Lambda layers are safe.
    copy = keras.saving.deserialize_keras_object(config, safe_mode=False)
    copy.set_weights(model.get_weights())
    return copy


def convertible_copy(model):
    """`float32_copy(model)` whose recurrent layers loop as TFLite can calibrate them.

    The copy is for tracing and converting only: its recurrent layers do not train.
    """
    copy = float32_copy(model)
    # Keras's own walk through nested layers reaches the RNNs inside wrappers.
    for layer in copy._flatten_layers():
        if isinstance(layer, keras.layers.RNN):
            layer.inner_loop = functools.partial(_calibratable_loop, layer)
    return copy


def _in_float32(node):
    """A serialized Keras config with each dtype policy replaced by float32."""
    if isinstance(node, list):
        return [_in_float32(item) for item in node]
    if not isinstance(node, dict):
        return node
    if node.get("class_name") == "DTypePolicy":
        return {**node, "config": {**node["config"], "name": "float32"}}
    return {key: _in_float32(value) for key, value in node.items()}


def _calibratable_loop(rnn, sequences, initial_state, mask, training=False):
    """`keras.layers.RNN.inner_loop` for `rnn`, with no float tensor passed through a loop.

    Returns `(last_output, outputs, states)` as Keras's `rnn` does: `outputs` is
    `[batch, steps, units]` with `return_sequences`, else `[batch, 1, units]`.
    `training` is False here: the cell reads it from Keras's call context.
    """
    del training
    mask = mask[0] if isinstance(mask, (list, tuple)) else mask
    states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
    steps = sequences.shape[1]
    time_major = tf.transpose(sequences, [1, 0, 2])
    if mask is None:
        mask = tf.ones(tf.shape(sequences)[:2], tf.bool)
    keep = tf.transpose(tf.cast(mask, tf.bool))[..., None]  # [steps, batch, 1]
    if rnn.go_backwards:
        time_major, keep = tf.reverse(time_major, [0]), tf.reverse(keep, [0])
    bits = tf.bitcast(time_major, tf.int32)
    # One step outside the loop gives the output's shape, as in Keras's loop.
    zero = tf.zeros_like(rnn.cell(time_major[0], states)[0])
    kept_outputs = steps if rnn.return_sequences else 1
    outputs = tf.tile(zero[None], [kept_outputs] + [1] * len(zero.shape))

    def step(time, outputs, previous, *states):
        output, new_states = rnn.cell(tf.bitcast(tf.gather(bits, time), tf.float32), list(states))
        keep_now = tf.gather(keep, time)
        output = tf.where(keep_now, output, zero if rnn.zero_output_for_mask else previous)
        new_states = [
            tf.where(keep_now, new, old) for new, old in zip(tf.nest.flatten(new_states), states)
        ]
        # The newest output goes last, so the oldest of the kept ones drops out.
        outputs = tf.concat([outputs[1:], output[None]], axis=0)
        return (time + 1, outputs, output, *new_states)

    _, outputs, last_output, *states = tf.while_loop(
        lambda time, *_: time < steps, step, (tf.constant(0), outputs, zero, *states)
    )
    return last_output, tf.transpose(outputs, [1, 0, 2]), states
