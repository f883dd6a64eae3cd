"""Which dtype policy the hardware runs fastest: `runtime.dtype_policy: auto`."""

import contextlib
import pathlib

import keras
import tensorflow as tf

# What `runtime.dtype_policy` and `runtime.student_dtype_policy` accept.
POLICIES = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
# CPU features that give fast bfloat16 matrix multiplies (Intel AMX, AVX-512 BF16).
_BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


def _cpu_flags():
    cpuinfo = pathlib.Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        return set()
    for line in cpuinfo.read_text().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def resolve_dtype_policy(name, *, recurrent=False):
    """Returns `name`, or for `"auto"` the mixed policy this machine runs fastest.

    - a GPU of compute capability 8.0 or newer (Ampere on): `mixed_bfloat16`, which
      needs no loss scaling;
    - an older GPU: `mixed_float16` (with loss scaling);
    - a CPU with AMX or AVX-512 BF16: `mixed_bfloat16`;
    - anything else: `float32`.

    With `recurrent=True` (a student with an LSTM) a CPU always gets `float32`: the
    LSTM's step-by-step loop gains nothing from bfloat16 matrix units, and drifts
    furthest from float32 (`benchmarks/precision_xla.py`, BENCHMARKS.md section 6).

    Example:

    >>> resolve_dtype_policy("float32")
    'float32'
    """
    if name != "auto":
        return name
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        capability = tf.config.experimental.get_device_details(gpus[0]).get(
            "compute_capability", (0, 0)
        )
        return "mixed_bfloat16" if capability >= (8, 0) else "mixed_float16"
    if not recurrent and _cpu_flags() & set(_BF16_CPU_FLAGS):
        return "mixed_bfloat16"
    return "float32"


@contextlib.contextmanager
def dtype_policy(name):
    """Sets Keras's global dtype policy for the models built inside, then restores it."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
