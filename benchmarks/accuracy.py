"""Over seeds, how much of the teacher's accuracy does the distilled student keep, and
does it beat the same student trained alone by more than noise?

    .venv/bin/python benchmarks/accuracy.py [--quick] \\
        [--config=configs/rotten_tomatoes_minilm_to_small_bert.yaml] [--set=key=value ...] \\
        [--seeds=0,1,2] [--output_dir=runs/benchmarks/accuracy/<config name>]

Runs `tfdistill.run.pipeline.run` on a real config once per seed (the `seed` key: the
students' initialisation and data order). The teacher is fine-tuned once, in the first
seed's run, and shared with the later ones through `<output_dir>/shared/` (see
`common.run_seeds`). A full run is resumed where it stopped if started again.

Reports the mean ± std over seeds of accuracy and F1 for the teacher, the distilled
student and its baseline (the same student trained without the teacher); the retention
(student accuracy / teacher accuracy); the gain (distilled − baseline, in points); and,
per seed, an exact McNemar test of the distilled student against its baseline on the
same test texts (per-example predictions from the exported SavedModels). A gain the
test cannot tell from noise (p >= 0.05) is not claimed.

Targets: retention >= 97% for the default (bilstm) student and >= 99% for small_bert;
gain >= +3 points.
"""

import math
import pathlib

import common
import numpy as np
import tensorflow as tf
from absl import flags

from tfdistill import export
from tfdistill.run import config as run_config
from tfdistill.run.layout import TEACHER
from tfdistill.run.splits import load_split

flags.DEFINE_string(
    "config", "configs/rotten_tomatoes_minilm_to_bilstm.yaml", "The run config to repeat."
)
flags.DEFINE_multi_string("set", [], "Override one config value: --set=section.key=value.")
flags.DEFINE_list("seeds", ["0", "1", "2"], "One run per seed; the first fine-tunes the teacher.")
flags.DEFINE_string(
    "output_dir",
    None,
    "Where the runs go, one directory per seed. Default: "
    "runs/benchmarks/accuracy/<config name>, or a temporary directory with --quick.",
)
FLAGS = flags.FLAGS

# Applied before --set: a smoke-sized run. The higher teacher learning rate lets its
# few steps move it off the majority class.
QUICK_OVERRIDES = (
    "data.max_examples=512",
    "teacher.epochs=1",
    "teacher.learning_rate=2.0e-4",
    "distillation.epochs=3",
    "distillation.patience=1",
    "export.tflite=[]",
    "export.latency_seconds=0.1",
)
TARGET_RETENTION = {"bilstm": 0.97, "small_bert": 0.99}
TARGET_GAIN_POINTS = 3.0
SIGNIFICANCE = 0.05


def mcnemar_exact(first_correct, second_correct):
    """Exact two-sided McNemar test of two classifiers on the same examples.

    Only the discordant examples count: `b` that only the first gets right, `c` that
    only the second gets right. Under the null hypothesis (equal accuracy) `b` is
    Binomial(b + c, 1/2).

    Returns:
        `(b, c, p_value)`.

    Example:

    >>> mcnemar_exact(np.array([True] * 10), np.array([False] * 10))
    (10, 0, 0.001953125)
    """
    first_correct = np.asarray(first_correct, bool)
    second_correct = np.asarray(second_correct, bool)
    b = int(np.sum(first_correct & ~second_correct))
    c = int(np.sum(~first_correct & second_correct))
    n = b + c
    if n == 0:
        return b, c, 1.0
    tail = sum(math.comb(n, k) for k in range(min(b, c) + 1)) / 2**n
    return b, c, min(1.0, 2 * tail)


def predicted_labels(run_dir, scores, texts, batch_size=64):
    serve = export.load_savedmodel(pathlib.Path(run_dir) / scores["savedmodel"])
    return np.concatenate(
        [
            serve(texts=tf.constant(texts[start : start + batch_size]))["label_ids"].numpy()
            for start in range(0, len(texts), batch_size)
        ]
    )


def per_seed_records(report, runs, kind, test):
    distilled, baseline = f"{kind}_distilled", f"{kind}_baseline"
    records = []
    for seed, (run_dir, summary) in runs.items():
        models = summary["models"]
        correct = {}
        for name in (distilled, baseline):
            predicted = predicted_labels(run_dir, models[name], test.texts)
            correct[name] = predicted == test.labels
            if not math.isclose(correct[name].mean(), models[name]["accuracy"], abs_tol=1e-9):
                report.note(
                    f"Seed {seed}: {name}'s SavedModel scores {correct[name].mean():.4f} on "
                    f"the test texts, metrics.json says {models[name]['accuracy']:.4f}."
                )
        b, c, p_value = mcnemar_exact(correct[distilled], correct[baseline])
        records.append(
            {
                "seed": seed,
                "teacher_accuracy": models[TEACHER]["accuracy"],
                "teacher_f1": models[TEACHER]["f1"],
                "distilled_accuracy": models[distilled]["accuracy"],
                "distilled_f1": models[distilled]["f1"],
                "baseline_accuracy": models[baseline]["accuracy"],
                "baseline_f1": models[baseline]["f1"],
                "retention": models[distilled]["accuracy"] / models[TEACHER]["accuracy"],
                "gain_points": 100 * (models[distilled]["accuracy"] - models[baseline]["accuracy"]),
                "only_distilled_right": b,
                "only_baseline_right": c,
                "mcnemar_p": p_value,
            }
        )
    return records


def summarize(report, records, kind):
    summary_records = [
        {
            "model": name,
            "accuracy": common.mean_and_std(r[f"{key}_accuracy"] for r in records),
            "f1": common.mean_and_std(r[f"{key}_f1"] for r in records),
        }
        for name, key in (
            (TEACHER, "teacher"),
            (f"{kind}_distilled", "distilled"),
            (f"{kind}_baseline", "baseline"),
        )
    ]
    report.table(
        "summary",
        f"Mean ± std over {len(records)} seed(s)",
        summary_records,
        [
            ("model", "model", "{}"),
            ("accuracy", "accuracy %", lambda s: common.plus_minus(s, 100)),
            ("f1", "F1", lambda s: common.plus_minus(s, 1, "{:.3f}")),
        ],
    )
    retention = common.mean_and_std(r["retention"] for r in records)
    gain = common.mean_and_std(r["gain_points"] for r in records)
    report.record("retention", retention)
    report.record("gain_points", gain)
    significant = [r["seed"] for r in records if r["mcnemar_p"] < SIGNIFICANCE]
    claimed = len(significant) == len(records)
    report.record("gain_claimed", claimed)
    target_retention = TARGET_RETENTION.get(kind)
    report.note(
        f"Retention: {common.plus_minus(retention, 100)}% of the teacher's accuracy "
        + (
            f"(target >= {target_retention:.0%}: "
            f"{'met' if retention['mean'] >= target_retention else 'NOT met'})."
            if target_retention is not None
            else f"(no target for {kind})."
        )
    )
    report.note(
        f"Gain over the baseline: {common.plus_minus(gain)} points; McNemar p < {SIGNIFICANCE} "
        f"in {len(significant)} of {len(records)} seed(s). "
        + (
            "The gain is claimed."
            if claimed
            else "The gain is NOT claimed: the test cannot tell it from noise in every seed."
        )
        + f" Target >= +{TARGET_GAIN_POINTS:g} points: "
        + ("met." if claimed and gain["mean"] >= TARGET_GAIN_POINTS else "NOT met.")
    )


def benchmark(report):
    overrides = [*(QUICK_OVERRIDES if FLAGS.quick else ()), *FLAGS.set]
    config = run_config.override(run_config.load(FLAGS.config), overrides)
    if not config.distillation.baseline:
        raise ValueError(
            "The accuracy benchmark compares with the baseline: set distillation.baseline=true."
        )
    report.record("config", config.to_dict())
    seeds = [int(seed) for seed in FLAGS.seeds]
    kind = config.student.kind
    default_root = f"runs/benchmarks/accuracy/{config.name}"
    with common.runs_directory(FLAGS.output_dir, default_root) as output_root:
        print(f"\n{config.name}: {kind} student, seeds {seeds}, runs in {output_root}", flush=True)
        runs = common.run_seeds(report, config, seeds, output_root, output_root / "shared")
        test, _ = load_split(config.data, config.data.test_split)
        records = per_seed_records(report, runs, kind, test)
    report.table(
        "per_seed",
        f"Per seed, {len(test.texts)} test texts (McNemar: exact, two-sided, distilled vs baseline)",
        records,
        [
            ("seed", "seed", "{}"),
            ("teacher_accuracy", "teacher", "{:.2%}"),
            ("distilled_accuracy", "distilled", "{:.2%}"),
            ("baseline_accuracy", "baseline", "{:.2%}"),
            ("retention", "retention", "{:.1%}"),
            ("gain_points", "gain pts", "{:+.2f}"),
            ("only_distilled_right", "only distilled right", "{}"),
            ("only_baseline_right", "only baseline right", "{}"),
            ("mcnemar_p", "McNemar p", "{:.3g}"),
        ],
    )
    summarize(report, records, kind)


if __name__ == "__main__":
    common.main(__doc__, benchmark)
