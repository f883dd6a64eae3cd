"""How much smaller and faster than the teacher are the students when serving, and how
much accuracy do they keep?

    .venv/bin/python benchmarks/inference.py [--quick] [--run_dir=runs/demo ... | --set=...]

Parameter count, SavedModel size on disk, and CPU throughput at batch 1 and 32 on the
same 512 real test texts (Rotten Tomatoes test split), for the teacher and the
students, all through SavedModels exported by `tfdistill.export` (raw strings in,
tokenizer included), the models taking turns. Ratios are to the teacher.

With --run_dir, the models are the run's exports (listed in its metrics.json), with
their test accuracy; if the run computed in another precision than float32, float32
copies of its teacher and student are also built and timed (both XLA-compiled if the
run compiled its students'). Repeat --run_dir to time
several runs' students in the same turns, each beside its own run's teacher.

Without --run_dir, the packaged MiniLM teacher and one student of each
text-classification kind are built in float32 with the default config sizes
(untrained: speed and size do not depend on the weights; accuracy is then not
measured). There `--set` overrides the default config, so a student of other sizes
is timed beside the rest, the others keeping their kinds' defaults; with
`--set=export.jit_compile=true` every model is also timed XLA-compiled, in a second
group beside the plain builds; the teacher too, so that group's ratios are XLA against
XLA (a run compiles only its students' SavedModels):

    .venv/bin/python benchmarks/inference.py --set=student.kind=bilstm_wordpiece \
        "--set=student.sizes={embedding_dim: 96, lstm_units: 96, piece_embedding_dim: 32}"

Target: one student keeps >= 97% of the teacher's accuracy with >= 10x fewer parameters
and >= 10x the throughput at batch 32. Reference (hand-rolled Keras, batch 32, length
64, float32, this machine): teacher 169 samples/s; BiLSTM 4,260 (25x); 2-layer BERT 485
(2.9x).
"""

import collections
import dataclasses
import json
import pathlib
import statistics
import tempfile
from typing import Optional

import common
import keras
from absl import app
from absl import flags

from tfdistill import evaluation
from tfdistill import export
from tfdistill import models
from tfdistill.run import config as run_config
from tfdistill.run.context import RunContext
from tfdistill.run.layout import TEACHER
from tfdistill.run.layout import RunLayout
from tfdistill.run.stages import students

flags.DEFINE_multi_string(
    "run_dir", [], "A finished run directory (holding metrics.json); repeat for more runs."
)
flags.DEFINE_integer("num_texts", 512, "Test texts the models are timed on.")
flags.DEFINE_list("batch_sizes", ["1", "32"], "Batch sizes to time.")
common.define_set()
FLAGS = flags.FLAGS

TARGETS = {"retention": 0.97, "smaller": 10.0, "faster": 10.0}
REFERENCE_FLOAT32 = {"teacher": 169, "bilstm": 4260, "small_bert": 485}


@dataclasses.dataclass(frozen=True)
class Sizes:
    """How long each model is timed: the models take turns for `rounds` rounds, each
    model at least `min_seconds` per batch size and round; the median is reported."""

    min_seconds: float
    rounds: int


FULL = Sizes(min_seconds=3.0, rounds=3)
QUICK = Sizes(min_seconds=0.5, rounds=1)


@dataclasses.dataclass(frozen=True)
class Exported:
    """An exported model to time. Ratios are taken within a group (to its teacher)."""

    name: str
    group: str
    policy: str
    savedmodel: str
    parameters: int
    accuracy: Optional[float] = None


def from_run_dir(run_dir):
    """The run's exported models, with their accuracy, and the run's config."""
    run_dir = pathlib.Path(run_dir)
    metrics_path = RunLayout(run_dir).metrics
    if not metrics_path.is_file():
        raise FileNotFoundError(f"{metrics_path} does not exist: is {run_dir} a finished run?")
    summary = json.loads(metrics_path.read_text())
    exported = [
        Exported(
            name=name,
            group=f"run {run_dir.parent.name}/{run_dir.name}",
            policy=scores["dtype_policy"],
            savedmodel=str(run_dir / scores["savedmodel"]),
            parameters=scores["parameters"],
            accuracy=scores["accuracy"],
        )
        for name, scores in summary["models"].items()
    ]
    return exported, run_config.load(RunLayout(run_dir).config)


def build_float32(config, kinds, export_dir, group="float32 build, untrained"):
    """Builds and exports, in float32, the teacher and one student of each kind, as
    runs of `config` naming that kind would build them, under `export_dir`; all of
    them XLA-compiled if `config.export.jit_compile`, the teacher too (a run never
    compiles its teacher's SavedModel, but these builds compare XLA with XLA), and
    then their `group` says so."""
    if config.export.jit_compile:
        group += ", XLA-compiled"
    keras.config.set_dtype_policy("float32")
    context = RunContext.create(common.config_with(config, common.FLOAT32), export_dir)
    teacher = models.load_teacher(
        config.teacher.preset, sequence_length=config.teacher.sequence_length
    )
    built = {TEACHER: (teacher, teacher.preprocessor)}
    for kind in kinds:
        student = students.build(_with_student(context, kind), teacher)
        built[kind] = student.model, student.preprocessor
    return [
        Exported(
            name=name,
            group=group,
            policy="float32",
            savedmodel=export.export_savedmodel(
                model,
                preprocessor,
                context.layout.export(name) / "savedmodel",
                context.class_names,
                task=context.config.task,
                jit_compile=config.export.jit_compile,
            ),
            parameters=model.count_params(),
        )
        for name, (model, preprocessor) in built.items()
    ]


def runs_exported(run_dirs, export_dir):
    """The exports of each run in `run_dirs`, plus float32 builds of its teacher and
    student where the run computed in another precision."""
    exported = []
    for index, run_dir in enumerate(run_dirs):
        run_exports, config = from_run_dir(run_dir)
        if any(entry.policy != "float32" for entry in run_exports):
            group = f"{run_exports[0].group}, float32 build, untrained"
            run_exports += build_float32(
                config, [config.student.kind], export_dir / str(index), group
            )
        exported += run_exports
    return exported


def _with_student(context, kind):
    """`context` for a student of `kind`: the config's own student, or one of the
    kind's default sizes."""
    if kind == context.config.student.kind:
        return context
    config = common.config_with(context.config, {"student.kind": kind, "student.sizes": {}})
    return dataclasses.replace(context, config=config)


def time_all(exported, texts, batch_sizes, sizes):
    """`{(name, group, batch size): median throughput result}`, the models taking turns."""
    serves = {(e.name, e.group): export.load_savedmodel(e.savedmodel) for e in exported}
    results = collections.defaultdict(list)
    for _ in range(sizes.rounds):
        for key, serve in serves.items():
            for batch_size in batch_sizes:
                results[(*key, batch_size)].append(
                    evaluation.measure_throughput(
                        lambda batch, serve=serve: serve(texts=batch),
                        texts,
                        batch_size,
                        min_seconds=sizes.min_seconds,
                    )
                )
    return {
        key: {
            "samples_per_second": statistics.median(r["samples_per_second"] for r in runs),
            "latency_ms": statistics.median(r["latency_ms"] for r in runs),
        }
        for key, runs in results.items()
    }


def records_of(exported, speeds, batch_sizes):
    teachers = {e.group: e for e in exported if e.name == TEACHER}
    largest = max(batch_sizes)
    records = []
    for entry in exported:
        teacher = teachers[entry.group]
        record = {
            "model": entry.name,
            "group": entry.group,
            "policy": entry.policy,
            "parameters": entry.parameters,
            "savedmodel_mb": evaluation.size_on_disk(entry.savedmodel) / 1e6,
            "accuracy": entry.accuracy,
            "retention": common.ratio(entry.accuracy, teacher.accuracy),
            "smaller": teacher.parameters / entry.parameters,
        }
        for batch_size in batch_sizes:
            speed = speeds[entry.name, entry.group, batch_size]
            teacher_speed = speeds[TEACHER, entry.group, batch_size]["samples_per_second"]
            record[f"latency_ms_at_{batch_size}"] = speed["latency_ms"]
            record[f"samples_per_second_at_{batch_size}"] = speed["samples_per_second"]
            record[f"faster_at_{batch_size}"] = speed["samples_per_second"] / teacher_speed
        record["faster"] = record[f"faster_at_{largest}"]
        records.append(record)
    return records


def columns(batch_sizes):
    speed_columns = []
    for batch_size in batch_sizes:
        speed_columns += [
            (f"samples_per_second_at_{batch_size}", f"samples/s@{batch_size}", "{:,.0f}"),
            (f"faster_at_{batch_size}", f"faster@{batch_size}", common.times_format),
        ]
    return [
        ("model", "model", "{}"),
        ("group", "models", "{}"),
        ("policy", "policy", "{}"),
        ("parameters", "params", "{:,}"),
        ("smaller", "smaller", common.times_format),
        ("savedmodel_mb", "SavedModel MB", "{:.1f}"),
        (f"latency_ms_at_{batch_sizes[0]}", f"ms@{batch_sizes[0]}", "{:.2f}"),
        *speed_columns,
        ("accuracy", "accuracy", "{:.2%}"),
        ("retention", "retention", "{:.1%}"),
    ]


def verdicts(report, records):
    """Whether some student meets every target; a target that was not measured is said so."""
    students = [r for r in records if r["model"] != TEACHER]
    for record in students:
        checks = {
            name: None if record[name] is None else record[name] >= threshold
            for name, threshold in TARGETS.items()
        }
        record["meets_targets"] = checks
        described = ", ".join(
            f"{name} {'not measured' if ok is None else 'met' if ok else 'NOT met'}"
            for name, ok in checks.items()
        )
        report.note(f"{record['model']} ({record['group']}): {described}.")
    winners = [r["model"] for r in students if all(r["meets_targets"].values())]
    report.note(
        f"Target (>= 97% accuracy, >= 10x fewer parameters, >= 10x throughput at the "
        f"largest batch): {'met by ' + ', '.join(winners) if winners else 'not shown met'}."
    )


def benchmark(report):
    sizes = common.pick_sizes(report, FULL, QUICK)
    batch_sizes = sorted(int(size) for size in FLAGS.batch_sizes)
    texts = common.default_split("test", FLAGS.num_texts).texts
    with tempfile.TemporaryDirectory() as export_dir:
        if FLAGS.run_dir:
            if FLAGS.set:
                raise app.UsageError("--set changes the builds; a --run_dir is timed as it ran.")
            exported = runs_exported(FLAGS.run_dir, pathlib.Path(export_dir))
        else:
            config = run_config.override(run_config.RunConfig(), FLAGS.set)
            kinds = models.students_for(config.task)
            plain = run_config.override(config, ["export.jit_compile=false"])
            exported = build_float32(plain, kinds, f"{export_dir}/plain")
            if config.export.jit_compile:
                # Beside the plain builds, so that XLA's gain is timed in the same turns;
                # the teacher compiled too, so that the ratios are XLA against XLA.
                exported += build_float32(config, kinds, f"{export_dir}/xla")
        speeds = time_all(exported, texts, batch_sizes, sizes)
        records = records_of(exported, speeds, batch_sizes)
    report.table(
        "models",
        f"Serving through SavedModels on {len(texts)} test texts, CPU, median of "
        f"{sizes.rounds} round(s) of >= {sizes.min_seconds:g} s per model and batch size; "
        "ratios to the teacher of the same group",
        records,
        columns(batch_sizes),
    )
    verdicts(report, records)
    reference = ", ".join(
        f"{name} {speed:,} ({speed / REFERENCE_FLOAT32['teacher']:.1f}x)"
        for name, speed in REFERENCE_FLOAT32.items()
    )
    report.note(
        f"Reference, hand-rolled Keras, float32, batch 32, this machine: {reference} "
        "samples/s. Compare the ratios: absolute speeds move with the machine's load."
    )


if __name__ == "__main__":
    common.main(__doc__, benchmark)
