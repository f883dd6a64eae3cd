"""How much of the hardware's matrix-multiply speed do the teacher's and the students'
train steps reach?

    .venv/bin/python benchmarks/hardware_efficiency.py [--quick] [--sequence_length=128]

Counts the FLOPs of one train step of the teacher (the packaged MiniLM: 6 layers, hidden
384, 12 heads, intermediate 1536; AdamW, as `finetune_teacher` trains it) and of one
distillation step of each student on cached teacher logits, three ways where possible:

- graph: the matrix products (MatMul, BatchMatMul, Einsum) of the traced train-step
  graph, 2 FLOPs per multiply-add, from its static shapes;
- analytic: per token and layer, 8·H² (attention projections) + 4·H·I (feed-forward)
  + 4·L·H (attention scores and mixing), times 3 for forward + backward;
- TensorFlow's profiler: `tf.compat.v1.profiler.profile(graph, float_operation())`.

FLOPs divided by the measured step time give FLOP/s, expressed as a fraction of a large
float32 matmul's and a bfloat16 matmul's FLOP/s measured in the same run, all taking
turns. Target: >= 50% of the float32 matmul for the teacher step. Then it shows where
the teacher's step time goes: forward, backward and optimizer wall times, and an
op-level profile (a `tf.profiler.experimental` trace) summed by op type.
"""

import collections
import dataclasses
import math
import pathlib
import tempfile
from typing import Callable
from typing import Optional

import common
import keras
import numpy as np
import tensorflow as tf
from absl import flags
from tensorflow.tsl.profiler.protobuf import xplane_pb2

import tfdistill
from tfdistill import models

flags.DEFINE_integer("batch_size", 32, "Examples per train step.")
flags.DEFINE_integer("sequence_length", 64, "Tokens per example (64 or 128).")
flags.DEFINE_integer("matmul_size", 4096, "The reference matmul is n x n @ n x n.")
FLAGS = flags.FLAGS

TARGET_TEACHER_FRACTION = 0.5
MATMUL_OPS = ("MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3", "Einsum")


@dataclasses.dataclass(frozen=True)
class Sizes:
    """How much each workload is run.

    Attributes:
        timing_repeats: timed runs of each workload and of each phase of the teacher's
            step, after the warm-up runs.
        traced_steps: teacher steps in the op-level trace.
    """

    timing_repeats: int
    traced_steps: int


FULL = Sizes(timing_repeats=10, traced_steps=3)
QUICK = Sizes(timing_repeats=3, traced_steps=1)


# --- FLOP counts. ---


def _einsum_flops(op):
    """2 x the output's size x the sizes of the letters summed over."""
    inputs, output = op.get_attr("equation").decode().split("->")
    sizes = {}
    for letters, tensor in zip(inputs.split(","), op.inputs):
        # An ellipsis stands for leading axes: the letters name the last ones.
        letters = letters.replace("...", "")
        sizes.update(zip(letters, tensor.shape[len(tensor.shape) - len(letters) :]))
    summed = [sizes[letter] for letter in sizes if letter not in output]
    return 2 * math.prod(summed) * op.outputs[0].shape.num_elements()


def _matmul_flops(op):
    left = op.inputs[0].shape
    if op.type == "MatMul":
        inner = left[0] if op.get_attr("transpose_a") else left[1]
    elif op.type == "Einsum":
        return _einsum_flops(op)
    else:
        inner = left[-2] if op.get_attr("adj_x") else left[-1]
    return 2 * inner * op.outputs[0].shape.num_elements()


def graph_flops(graph):
    """`{op type: FLOPs}` of the matrix products in `graph`, from static shapes.

    Element-wise ops and reductions cost O(elements), against O(elements x width) for
    the products, so they are left out, as in every published FLOP count of BERT.
    """
    counts = collections.Counter()
    for op in graph.get_operations():
        if op.type in MATMUL_OPS:
            if not op.outputs[0].shape.is_fully_defined():
                raise ValueError(f"{op.name} has no static shape: {op.outputs[0].shape}.")
            counts[op.type] += _matmul_flops(op)
    return dict(counts)


def profiler_flops(graph):
    """`{op type: FLOPs}` as TensorFlow's (v1) profiler counts them."""
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel("ERROR")  # The v1 profiler warns that it uses v1 APIs.
    try:
        by_op = tf.compat.v1.profiler.profile(graph=graph, cmd="op", options=options)
    finally:
        logger.setLevel(level)
    return {node.name: node.total_float_ops for node in by_op.children}


def bert_train_flops(backbone, batch_size, sequence_length, num_classes):
    """Forward FLOPs of a BERT classifier from its sizes, times 3 for training."""
    hidden, intermediate = backbone.hidden_dim, backbone.intermediate_dim
    per_token_and_layer = 8 * hidden**2 + 4 * hidden * intermediate + 4 * sequence_length * hidden
    encoder = batch_size * sequence_length * backbone.num_layers * per_token_and_layer
    pooler_and_head = batch_size * (2 * hidden**2 + 2 * hidden * num_classes)
    return 3 * (encoder + pooler_and_head)


def bilstm_train_flops(model, batch_size, sequence_length, num_classes):
    """Forward FLOPs of the bilstm student (4 gates per direction), times 3."""
    embedding_dim = model.get_layer("token_embedding").output_dim
    units = model.get_layer("bilstm").forward_layer.units
    hidden = model.get_layer("hidden").units
    recurrent = 2 * batch_size * sequence_length * 2 * 4 * units * (embedding_dim + units)
    head = batch_size * (2 * 2 * units * hidden + 2 * hidden * num_classes)
    return 3 * (recurrent + head)


# --- The workloads. ---


def matmul_step(dtype, size):
    left = tf.cast(tf.random.normal((size, size)), dtype)
    right = tf.cast(tf.random.normal((size, size)), dtype)
    # Fetching one element forces the product without copying it back.
    product = tf.function(lambda a, b: tf.linalg.matmul(a, b)[0, 0])
    return lambda: product(left, right).numpy(), 2 * size**3


def _bert_batch():
    shape = (FLAGS.batch_size, FLAGS.sequence_length)
    rng = np.random.default_rng(0)
    return {
        "token_ids": tf.constant(rng.integers(1000, 20000, shape), tf.int32),
        "padding_mask": tf.ones(shape, tf.bool),
        "segment_ids": tf.zeros(shape, tf.int32),
    }


def _train_step(model):
    """`model.train_step` as one tf.function of `(x, y)`, traced as Keras's `fit` traces
    it (without AutoGraph), so that its graph can be inspected."""
    return tf.function(lambda x, y: model.train_step((x, y)), autograph=False)


def _run(step, x, y):
    return lambda: tf.nest.map_structure(lambda t: t.numpy(), step(x, y))


@dataclasses.dataclass(frozen=True)
class Workload:
    """A train step to time, its traced graph (None if it cannot be counted), its FLOPs."""

    name: str
    run: Callable[[], object]
    graph: Optional[tf.Graph]
    analytic_flops: int


def teacher_workload():
    """The teacher's fine-tuning step, the teacher, and the batch it runs on."""
    teacher = models.load_teacher(sequence_length=FLAGS.sequence_length)
    optimizer = keras.optimizers.AdamW(learning_rate=5e-5, weight_decay=0.01)
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    teacher.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=False,
    )
    x, y = _bert_batch(), tf.zeros((FLAGS.batch_size,), tf.int32)
    step = _train_step(teacher)
    analytic = bert_train_flops(
        teacher.backbone, FLAGS.batch_size, FLAGS.sequence_length, teacher.num_classes
    )
    workload = Workload(
        "teacher fine-tuning step (MiniLM)",
        _run(step, x, y),
        step.get_concrete_function(x, y).graph,
        analytic,
    )
    return workload, teacher, (x, y)


def student_workload(kind, teacher, train_texts):
    student = models.build_student(
        kind, 2, teacher=teacher, train_texts=train_texts, sequence_length=FLAGS.sequence_length
    )
    distiller = tfdistill.Distiller(None, student.model)
    distiller.compile(optimizer=keras.optimizers.Adam(), jit_compile=False)
    if kind == "small_bert":
        inputs = _bert_batch()
        analytic = bert_train_flops(
            student.model.backbone, FLAGS.batch_size, FLAGS.sequence_length, 2
        )
    else:
        # Every position holds a word (no padding), as the analytic count assumes.
        inputs = tf.ones((FLAGS.batch_size, FLAGS.sequence_length), tf.int64)
        analytic = bilstm_train_flops(student.model, FLAGS.batch_size, FLAGS.sequence_length, 2)
    x = {"student": inputs, "teacher_logits": tf.zeros((FLAGS.batch_size, 2))}
    y = tf.zeros((FLAGS.batch_size,), tf.int32)
    step = _train_step(distiller)
    # An LSTM's products sit inside a while loop, which a static count sees once.
    graph = step.get_concrete_function(x, y).graph if kind == "small_bert" else None
    return Workload(
        f"{kind} student distillation step (cached logits)", _run(step, x, y), graph, analytic
    )


# --- Where the teacher's step time goes. ---


def phase_times(teacher, x, y, full_step, repeats):
    """Wall times of the teacher's forward, forward + backward, and whole train step."""
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    variables = teacher.trainable_variables

    @tf.function
    def forward(x, y):
        return loss_fn(y, teacher(x, training=True))

    @tf.function
    def forward_backward(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, teacher(x, training=True))
        gradients = tape.gradient(loss, variables)
        # One scalar that needs every gradient, so that none is pruned from the graph.
        return tf.add_n(
            [tf.reduce_sum(g.values if isinstance(g, tf.IndexedSlices) else g) for g in gradients]
        )

    times = common.interleaved_times(
        {
            "forward": _run(forward, x, y),
            "forward + backward": _run(forward_backward, x, y),
            "train step": full_step,
        },
        repeats=repeats,
        warmup=1,
    )
    medians = {name: timing["median_s"] for name, timing in times.items()}
    step = medians["train step"]
    parts = {
        "forward": medians["forward"],
        "backward": medians["forward + backward"] - medians["forward"],
        "optimizer update and metrics": step - medians["forward + backward"],
    }
    return [
        {"phase": phase, "ms": 1000 * seconds, "share": seconds / step}
        for phase, seconds in parts.items()
    ]


def op_profile(run, steps):
    """Time per op type over `steps` traced runs, from the profiler's XSpace file."""
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        for _ in range(steps):
            run()
        tf.profiler.experimental.stop()
        (path,) = pathlib.Path(logdir).rglob("*.xplane.pb")
        space = xplane_pb2.XSpace.FromString(path.read_bytes())
    picoseconds = collections.Counter()
    for plane in space.planes:
        for line in plane.lines:
            # The executor threads; kernel events there are named "op_name:OpType".
            if not line.name.startswith("tf_Compute"):
                continue
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                if ":" not in name or "::" in name:
                    continue
                op_type = name.rsplit(":", 1)[1].removeprefix("_Mkl")
                picoseconds[op_type] += event.duration_ps
    total = sum(picoseconds.values())
    return [
        {
            "op_type": op_type,
            "ms_per_step": duration / 1e9 / steps,
            "share": duration / total,
            "matmul": op_type in MATMUL_OPS,
        }
        for op_type, duration in picoseconds.most_common()
    ]


# --- The benchmark. ---


def flop_records(workloads):
    """`(per workload, per workload and op type)` records of the three FLOP counts."""
    records, by_type = [], []
    for workload in workloads:
        graph = graph_flops(workload.graph) if workload.graph is not None else None
        profiler = profiler_flops(workload.graph) if workload.graph is not None else None
        records.append(
            {
                "workload": workload.name,
                "graph_flops": None if graph is None else sum(graph.values()),
                "analytic_flops": workload.analytic_flops,
                "profiler_flops": None if profiler is None else sum(profiler.values()),
            }
        )
        if graph is not None:
            by_type += [
                {
                    "workload": workload.name,
                    "op_type": op_type,
                    "graph_flops": graph.get(op_type, 0),
                    "profiler_flops": profiler.get(op_type, 0),
                }
                for op_type in sorted(set(graph) | set(profiler))
            ]
    return records, by_type


def count_flops(report, workloads):
    """Tables of the FLOP counts; returns `{workload: FLOPs}`, the graph count where
    there is one, else the analytic count."""
    records, by_type = flop_records(workloads)
    report.table(
        "flop_counts",
        f"FLOPs of one train step, batch {FLAGS.batch_size} x {FLAGS.sequence_length} tokens",
        records,
        [
            ("workload", "workload", "{}"),
            ("graph_flops", "graph GFLOP", _gflop_format),
            ("analytic_flops", "analytic GFLOP", _gflop_format),
            ("profiler_flops", "tf.profiler GFLOP", _gflop_format),
        ],
    )
    report.table(
        "flop_counts_by_op_type",
        "The same counts by op type: the graph walk against TensorFlow's profiler",
        by_type,
        [
            ("workload", "workload", "{}"),
            ("op_type", "op type", "{}"),
            ("graph_flops", "graph GFLOP", _gflop_format),
            ("profiler_flops", "tf.profiler GFLOP", _gflop_format),
        ],
    )
    for record in records:
        if record["graph_flops"] is not None:
            graph, analytic = record["graph_flops"], record["analytic_flops"]
            report.note(
                f"{record['workload']}: graph count / analytic count = {graph / analytic:.4f}, "
                f"tf.profiler / graph count = {record['profiler_flops'] / graph:.2f}."
            )
    report.note(
        "The graph count is the one used below. TensorFlow's v1 profiler reports no FLOPs "
        "for the MatMul ops of this TF2 graph (see the table), and for BatchMatMulV2 it "
        "reads an attribute transpose_a that the op does not have (it has adj_x), so it "
        "sizes the transposed weight-gradient products by the wrong axis. A bilstm's "
        "products sit inside a while loop, which a static graph count sees once: it has "
        "the analytic count only."
    )
    return {r["workload"]: r["graph_flops"] or r["analytic_flops"] for r in records}


def _gflop_format(flops):
    return f"{flops / 1e9:,.1f}"


def measure_efficiency(report, workloads, flops, sizes):
    """Times the workloads against a float32 and a bfloat16 matmul; their FLOP/s as a
    fraction of the matmuls', and whether the teacher (the first workload) meets its
    target."""
    size = FLAGS.matmul_size
    contenders, matmul_flops = {}, {}
    for dtype in ("float32", "bfloat16"):
        name = f"{dtype} matmul {size}x{size}"
        contenders[name], matmul_flops[name] = matmul_step(dtype, size)
    contenders.update({workload.name: workload.run for workload in workloads})
    flops = {**flops, **matmul_flops}
    times = common.interleaved_times(contenders, repeats=sizes.timing_repeats, warmup=2)
    rates = {name: flops[name] / timing["median_s"] for name, timing in times.items()}
    float32_peak = rates[f"float32 matmul {size}x{size}"]
    bfloat16_peak = rates[f"bfloat16 matmul {size}x{size}"]
    records = [
        {
            "workload": name,
            "flops": flops[name],
            "median_ms": 1000 * timing["median_s"],
            "flops_per_second": rates[name],
            "of_float32_matmul": rates[name] / float32_peak,
            "of_bfloat16_matmul": rates[name] / bfloat16_peak,
        }
        for name, timing in times.items()
    ]
    report.table(
        "efficiency",
        f"FLOP/s, median of {sizes.timing_repeats} interleaved runs (float32 models)",
        records,
        [
            ("workload", "workload", "{}"),
            ("flops", "GFLOP", _gflop_format),
            ("median_ms", "median ms", "{:.1f}"),
            ("flops_per_second", "GFLOP/s", _gflop_format),
            ("of_float32_matmul", "of f32 matmul", "{:.0%}"),
            ("of_bfloat16_matmul", "of bf16 matmul", "{:.0%}"),
        ],
    )
    fraction = rates[workloads[0].name] / float32_peak
    verdict = "met" if fraction >= TARGET_TEACHER_FRACTION else "NOT met"
    report.note(
        f"Teacher step: {fraction:.0%} of the float32 matmul's FLOP/s (target >= "
        f"{TARGET_TEACHER_FRACTION:.0%}: {verdict})."
    )


def profile_teacher(report, teacher, batch, teacher_step, sizes):
    """Where the teacher's step time goes: by phase, and by op type in a trace."""
    x, y = batch
    report.table(
        "teacher_phases",
        "Where the teacher's step goes: wall times, interleaved",
        phase_times(teacher, x, y, teacher_step.run, sizes.timing_repeats),
        [("phase", "phase", "{}"), ("ms", "ms", "{:.1f}"), ("share", "of step", "{:.0%}")],
    )
    profile = op_profile(teacher_step.run, sizes.traced_steps)
    report.record("teacher_op_profile", profile)
    report.table(
        "teacher_op_profile_top",
        f"Teacher step by op type (trace of {sizes.traced_steps} step(s); summed over "
        "the executor threads, which overlap, so shares are of summed op time)",
        profile[:12],
        [
            ("op_type", "op type", "{}"),
            ("ms_per_step", "ms/step", "{:.1f}"),
            ("share", "share", "{:.0%}"),
            ("matmul", "matmul", lambda is_matmul: "yes" if is_matmul else ""),
        ],
    )
    matmul_share = sum(entry["share"] for entry in profile if entry["matmul"])
    report.note(f"Matrix products take {matmul_share:.0%} of the summed op time.")


def benchmark(report):
    sizes = common.pick_sizes(report, FULL, QUICK)
    keras.config.set_dtype_policy("float32")
    teacher_step, teacher, batch = teacher_workload()
    train_texts = common.default_split("train").texts
    workloads = [
        teacher_step,
        student_workload("small_bert", teacher, train_texts),
        student_workload("bilstm", teacher, train_texts),
    ]
    flops = count_flops(report, workloads)
    measure_efficiency(report, workloads, flops, sizes)
    profile_teacher(report, teacher, batch, teacher_step, sizes)


if __name__ == "__main__":
    common.main(__doc__, benchmark)
