"""Which dtype policy the hardware runs fastest: `runtime.dtype_policy: auto`."""

import pathlib

import tensorflow as tf

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


def resolve_dtype_policy(name):
    """Returns `name`, or for `"auto"` the mixed policy this machine runs fastest.

    - a GPU of compute capability 8.0 or newer (Ampere on): `mixed_bfloat16`, which
      needs no loss scaling;
    - an older GPU: `mixed_float16` (with loss scaling);
    - a CPU with AMX or AVX-512 BF16: `mixed_bfloat16`;
    - anything else: `float32`.

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
    if _cpu_flags() & set(_BF16_CPU_FLAGS):
        return "mixed_bfloat16"
    return "float32"
