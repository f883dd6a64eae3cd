"""Which parts of distillation buy accuracy, and what each costs per epoch: an ablation
on the real Rotten Tomatoes data, for the bilstm and small_bert students.

    .venv/bin/python benchmarks/ablation.py [--quick] [--students=bilstm,small_bert] \\
        [--seeds=42,43,44] [--set=key=value ...] [--pool_from=<run dir> ...] \\
        [--output_dir=runs/benchmarks/ablation]

Each row is a set of config overrides on the student's own config
(`configs/rotten_tomatoes_minilm_to_<student>.yaml`), run once per seed with
`tfdistill.run.pipeline.run`:

- no distillation: the same student on the hard labels alone (the baseline that the
  pipeline trains beside the "logits only" row);
- logits only: Hinton's loss on the teacher's logits, no augmentation;
- + hidden states, + attention (small_bert only, cumulative): TinyBERT's hidden-state
  MSE, then also MiniLM's attention KL, against the live teacher;
- + augmentation: logits on the training texts plus augmented variants that the
  teacher labels (Tang et al. 2019);
- multi-teacher: logits only, from the averaged soft labels of three teachers (the
  teacher and two more fine-tuned with seeds 1 and 2).

A BiLSTM has no transformer layers to match, so its hidden and attention rows are
not run. The teachers are fine-tuned once and shared between all runs, with their
cached logits, through `<output_dir>/shared/` (see `common.run_seeds`); `--pool_from`
fills it from earlier runs of the same teacher (e.g. the accuracy benchmark's).

Reported per row: test accuracy mean ± std over the seeds, its difference from
"logits only", the retention (÷ the teacher's accuracy), and the cost of an epoch
(wall time, validation included; median over epochs and seeds) with the number of
epochs trained (early stopping). Rerunning the command continues where it stopped.
"""

import json
import statistics

import common
from absl import flags

from tfdistill.run import config as run_config
from tfdistill.run.checkpoint import EPOCH_SECONDS
from tfdistill.run.layout import TEACHER
from tfdistill.run.layout import RunLayout

flags.DEFINE_list("students", ["bilstm", "small_bert"], "The students to ablate.")
flags.DEFINE_list("seeds", ["42", "43", "44"], "One run per row and seed.")
common.define_set()
common.define_pool_from()
flags.DEFINE_string(
    "output_dir",
    None,
    "Where the runs go. Default: runs/benchmarks/ablation, or a temporary directory "
    "with --quick.",
)
FLAGS = flags.FLAGS

CONFIGS = {
    "bilstm": "configs/rotten_tomatoes_minilm_to_bilstm.yaml",
    "small_bert": "configs/rotten_tomatoes_minilm_to_small_bert.yaml",
}
LOGITS_ONLY = "logits only"
NO_DISTILLATION = "no distillation"
NO_AUGMENTATION = "distillation.augment.factor=0"
# Transfer-set size for "+ augmentation": 4 variants per text for the BiLSTM (its
# config's own when BENCHMARKS.md section 7 ran; the config has 8 since), 1 for
# small_bert, whose epochs cost about 7x a BiLSTM's.
AUGMENT_FACTOR = {"bilstm": 4, "small_bert": 1}


def rows(kind):
    """Row name -> its config overrides, in table order, for a student kind.

    Only "logits only" trains the baseline (the "no distillation" row) beside the
    distilled student; the other rows train the distilled student alone.
    """
    table = {LOGITS_ONLY: [NO_AUGMENTATION, "distillation.baseline=true"]}
    if kind == "small_bert":
        table["+ hidden states"] = [NO_AUGMENTATION, "distillation.intermediate={hidden: 1.0}"]
        table["+ attention"] = [
            NO_AUGMENTATION,
            "distillation.intermediate={hidden: 1.0, attention: 1.0}",
        ]
    table["+ augmentation"] = [f"distillation.augment.factor={AUGMENT_FACTOR[kind]}"]
    table["multi-teacher"] = [NO_AUGMENTATION, "teacher.ensemble_seeds=[1, 2]"]
    return table


# Every row: no baseline (but "logits only"), no TFLite, short timings (speed is the
# inference benchmark's job).
COMMON_OVERRIDES = ("distillation.baseline=false", "export.tflite=[]", "export.latency_seconds=0.2")
QUICK_OVERRIDES = (
    "data.max_examples=256",
    "teacher.epochs=1",
    "teacher.learning_rate=2.0e-4",
    "distillation.epochs=2",
    "export.latency_batch_sizes=[8]",
)


def _row_overrides(overrides):
    return [*COMMON_OVERRIDES, *(QUICK_OVERRIDES if FLAGS.quick else ()), *FLAGS.set, *overrides]


def _training(run_dir, name):
    layout = RunLayout(run_dir)
    return json.loads(layout.training(layout.student(name)).read_text())


def _row_records(kind, row, model, runs):
    """One record per seed: accuracy, retention, epochs and seconds per epoch."""
    records = []
    for seed, (run_dir, summary) in runs.items():
        history = _training(run_dir, model)["history"]
        scores = summary["models"][model]
        records.append(
            {
                "student": kind,
                "row": row,
                "seed": seed,
                "accuracy": scores["accuracy"],
                "teacher_accuracy": summary["models"][TEACHER]["accuracy"],
                "retention": scores["accuracy"] / summary["models"][TEACHER]["accuracy"],
                "epochs": len(history[EPOCH_SECONDS]),
                "epoch_seconds": history[EPOCH_SECONDS],
                "ensemble_accuracy": summary.get("teacher_ensemble", {}).get("accuracy"),
                "teachers": len(summary.get("teacher_ensemble", {}).get("member_accuracy", {})) or 1,
            }
        )
    return records


def _summary_record(records, logits_only_accuracy):
    accuracy = common.mean_and_std(r["accuracy"] for r in records)
    ensemble = [r["ensemble_accuracy"] for r in records if r["ensemble_accuracy"] is not None]
    return {
        "student": records[0]["student"],
        "row": records[0]["row"],
        "accuracy": accuracy,
        "vs_logits_only": None
        if logits_only_accuracy is None
        else 100 * (accuracy["mean"] - logits_only_accuracy),
        "retention": common.mean_and_std(r["retention"] for r in records),
        "epoch_seconds": statistics.median(s for r in records for s in r["epoch_seconds"]),
        "epochs": "/".join(str(r["epochs"]) for r in records),
        "teachers": _teachers_cell(records[0], ensemble),
    }


def _teachers_cell(record, ensemble_accuracies):
    if record["row"] == NO_DISTILLATION:
        return "none"
    if ensemble_accuracies:
        return f"{record['teachers']} (ensemble {statistics.fmean(ensemble_accuracies):.2%})"
    return "1"


def ablate(report, kind, seeds, output_root, pool):
    """Runs every row of `kind` over `seeds`; returns `(per-seed records, row records)`."""
    base = run_config.load(CONFIGS[kind])
    per_seed, summary_records = [], []
    logits_only_accuracy = None
    for row, overrides in rows(kind).items():
        config = run_config.override(base, _row_overrides(overrides))
        report.record(f"config/{kind}/{row}", config.to_dict())
        print(f"\n{kind}, {row}: seeds {seeds}", flush=True)
        row_dir = output_root / kind / row.strip("+ ").replace(" ", "_").replace("-", "_")
        runs = common.run_seeds(report, config, seeds, row_dir, pool)
        if row == LOGITS_ONLY:
            baseline = _row_records(kind, NO_DISTILLATION, f"{kind}_baseline", runs)
            per_seed += baseline
            summary_records.append(_summary_record(baseline, None))
        records = _row_records(kind, row, f"{kind}_distilled", runs)
        per_seed += records
        if row == LOGITS_ONLY:
            logits_only_accuracy = statistics.fmean(r["accuracy"] for r in records)
        summary_records.append(_summary_record(records, logits_only_accuracy))
    return per_seed, summary_records


def benchmark(report):
    seeds = [int(seed) for seed in FLAGS.seeds]
    per_seed, summary_records = [], []
    with common.runs_directory(FLAGS.output_dir, "runs/benchmarks/ablation") as output_root:
        pool = common.seeded_pool(output_root / "shared")
        for kind in FLAGS.students:
            kind_per_seed, kind_summary = ablate(report, kind, seeds, output_root, pool)
            per_seed += kind_per_seed
            summary_records += kind_summary
    report.table(
        "per_seed",
        "Per seed (test split)",
        per_seed,
        [
            ("student", "student", "{}"),
            ("row", "row", "{}"),
            ("seed", "seed", "{}"),
            ("accuracy", "accuracy", "{:.2%}"),
            ("retention", "retention", "{:.1%}"),
            ("epochs", "epochs", "{}"),
            ("epoch_seconds", "median s/epoch", lambda s: f"{statistics.median(s):.1f}"),
        ],
    )
    report.table(
        "ablation",
        f"Ablation, mean ± std over seeds {seeds}",
        summary_records,
        [
            ("student", "student", "{}"),
            ("row", "row", "{}"),
            ("accuracy", "accuracy %", lambda s: common.plus_minus(s, 100)),
            ("vs_logits_only", "vs logits only", lambda v: "-" if v is None else f"{v:+.2f}"),
            ("retention", "retention %", lambda s: common.plus_minus(s, 100, "{:.1f}")),
            ("epoch_seconds", "s/epoch", "{:.1f}"),
            ("epochs", "epochs per seed", "{}"),
            ("teachers", "teachers", "{}"),
        ],
    )


if __name__ == "__main__":
    common.main(__doc__, benchmark)
