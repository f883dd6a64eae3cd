"""Over seeds, how much of the teacher's headline score does the distilled student keep,
and does it beat the same student trained alone by more than noise?

    .venv/bin/python benchmarks/accuracy.py [--quick] \\
        [--config=configs/rotten_tomatoes_minilm_to_small_bert.yaml] [--set=key=value ...] \\
        [--seeds=0,1,2] [--pool_from=<run dir> ...] \\
        [--output_dir=runs/benchmarks/accuracy/<config name>]

Runs `tfdistill.run.pipeline.run` on a real config once per seed (the `seed` key: the
students' initialisation and data order). The teacher is fine-tuned once, in the first
seed's run (`teacher.seed` fixed to the first seed), and shared with the later ones
through `<output_dir>/shared/` (see `common.run_seeds`); `--pool_from` fills it from
another recipe's runs of the same teacher, e.g. `--pool_from=runs/benchmarks/accuracy/
<other>/shared`, so that its fine-tuned teacher and labelled texts are reused. A full
run is resumed where it stopped if started again.

The headline score is the task's: accuracy for text classification, entity F1 for
token classification. Reports the mean ± std over seeds of the scores of the teacher,
the distilled student and its baseline (the same student trained without the teacher);
the retention (student score / teacher score); the gain (distilled − baseline, in
points); and, per seed, a paired test of the distilled student against its baseline
on the same test examples, from the exported SavedModels' predictions: an exact
McNemar test on texts (classification), or an approximate randomisation test of the
entity F1 difference over sentences (tagging). A gain the test cannot tell from noise
(p >= 0.05) is not claimed.

With extra test sets, e.g. `--set=data.extra_test=[drug_reviews]` (drug reviews: out of
the movie-review domain), it also reports each model's headline score and retention on
each set beside the test split's, mean ± std over seeds, and per seed the same paired
test of the distilled student against its baseline on each set. A finished run given a
new set is reused: its models are only scored on it. `--compare_to` pairs this recipe's
distilled student with another's (of any student kind) on the test split and on each
extra set. For classification it also prints, per student and set, how often the
student gives the teacher's label and how often it is right where the teacher is
wrong (the `--compare_to` recipe's student too). Every student's SavedModel is checked
against its `metrics.json`. With
`--set=distillation.baseline=false` a run trains the distilled student alone (about half
the time): the tables give its scores and retention, and `--compare_to`'s pairing, but
no gain.

Targets: retention >= 97% for the default (bilstm) student, >= 99% for small_bert and
>= 90% for the BiLSTM tagger; a gain over the baseline that the test supports in every
seed (and of >= +3 points, for classification).
"""

import json
import math
import pathlib

import common
import numpy as np
import tensorflow as tf
from absl import flags

from tfdistill import export
from tfdistill import tasks
from tfdistill.run import config as run_config
from tfdistill.run.layout import TEACHER
from tfdistill.run.splits import prepare_extra_tests
from tfdistill.run.splits import prepare_splits

flags.DEFINE_string(
    "config", "configs/rotten_tomatoes_minilm_to_bilstm.yaml", "The run config to repeat."
)
common.define_set()
flags.DEFINE_list("seeds", ["0", "1", "2"], "One run per seed; the first fine-tunes the teacher.")
flags.DEFINE_string(
    "compare_to",
    None,
    "Another recipe's finished --output_dir (the same seeds and teacher): also pair each "
    "seed's distilled student here with that one's, by the same paired test.",
)
common.define_pool_from()
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
TARGET_RETENTION = {"bilstm": 0.97, "small_bert": 0.99, "bilstm_tagger": 0.90}
TARGET_GAIN_POINTS = {"text_classification": 3.0}
SIGNIFICANCE = 0.05
# Each task's scores in the tables, its headline score first.
SCORES = {
    "text_classification": (("accuracy", "accuracy", "{:.2%}"), ("f1", "F1", "{:.3f}")),
    "token_classification": (("f1", "entity F1", "{:.3f}"), ("token_accuracy", "token acc.", "{:.2%}")),
}


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


def approximate_randomization(first_counts, second_counts, trials=10_000, seed=0):
    """Two-sided paired approximate randomisation test of an entity F1 difference.

    Each row of the count arrays is one sentence's `(correct, predicted, gold)`
    entities for one system. Under the null hypothesis the two systems are
    exchangeable on every sentence, so each trial swaps a random half of the
    sentences' rows between them; the p-value is the share of trials whose F1
    difference is at least the observed one (with the observed itself counted).

    Example:

    >>> perfect = np.array([[1, 1, 1]] * 12)
    >>> blind = np.array([[0, 0, 1]] * 12)
    >>> approximate_randomization(perfect, blind) < 0.01
    True
    >>> approximate_randomization(perfect, perfect)
    1.0
    """
    first_counts, second_counts = np.asarray(first_counts), np.asarray(second_counts)
    swaps = np.random.default_rng(seed).random((trials, len(first_counts)))[..., None] < 0.5
    first = np.where(swaps, second_counts, first_counts).sum(axis=1)
    second = np.where(swaps, first_counts, second_counts).sum(axis=1)
    observed = abs(_f1(first_counts.sum(axis=0)) - _f1(second_counts.sum(axis=0)))
    differences = np.abs(_f1(first) - _f1(second))
    return float((np.sum(differences >= observed - 1e-12) + 1) / (trials + 1))


def _f1(counts):
    """Entity F1 from `(..., 3)` summed `(correct, predicted, gold)` counts."""
    correct, predicted, gold = np.moveaxis(np.asarray(counts, float), -1, 0)
    return np.divide(2 * correct, predicted + gold, out=np.zeros_like(correct), where=predicted + gold > 0)


# What `served` returned, by (SavedModel, output, texts): the tables pair a model on
# the same set more than once (the per-seed table, the extra sets, --compare_to).
_SERVED = {}


def served(run_dir, scores, texts, output, batch_size=64):
    """One output of a model's exported SavedModel on `texts`, batch by batch; each
    model is served once per set of texts."""
    path = (pathlib.Path(run_dir) / scores["savedmodel"]).resolve()
    key = (str(path), output, tuple(texts))
    if key not in _SERVED:
        serve = export.load_savedmodel(path)
        _SERVED[key] = np.concatenate(
            [
                serve(texts=tf.constant(texts[start : start + batch_size]))[output].numpy()
                for start in range(0, len(texts), batch_size)
            ]
        )
    return _SERVED[key]


def texts_correct(model, test):
    """Whether a classifier's SavedModel gets each text right; `model` is
    `(run_dir, its metrics.json scores)`."""
    run_dir, scores = model
    return served(run_dir, scores, test.texts, "label_ids") == test.labels


def tagged_sentence_counts(model, test, class_names):
    """As `texts_correct`, for taggers: `sentence_counts` of the served tags."""
    run_dir, scores = model
    return sentence_counts(served(run_dir, scores, test.texts, "tags"), test.labels, class_names)


def mcnemar_on_texts(pair, test, class_names):
    """`(what each model scores from its SavedModel, the test's record fields)`; `pair`
    holds two `(run_dir, the model's metrics.json scores)`."""
    correct = [texts_correct(model, test) for model in pair]
    b, c, p_value = mcnemar_exact(*correct)
    fields = {"test": "McNemar", "only_distilled_right": b, "only_baseline_right": c, "p": p_value}
    return [float(right.mean()) for right in correct], fields


def randomization_on_sentences(pair, test, class_names):
    """As `mcnemar_on_texts`, for taggers: entity F1 and the randomisation test."""
    counts = [tagged_sentence_counts(model, test, class_names) for model in pair]
    fields = {"test": "randomisation", "p": approximate_randomization(*counts)}
    return [float(_f1(count.sum(axis=0))) for count in counts], fields


def recall_by_seen_words(report, runs, config, splits, class_names):
    """For taggers: each model's entity recall on the test entities whose words all
    occur in the training split (lowercased, as a word-level student's vocabulary
    holds them) and on those with a word never seen there, averaged over seeds."""
    from tfdistill.tasks.token_classification import entity_spans

    seen = {word.lower() for text in splits["train"].texts for word in text.split(" ")}
    test = splits["test"]
    gold = [
        {span: all(word.lower() in seen for word in text.split(" ")[span[1] : span[2]])
         for span in entity_spans([class_names[i] for i in labels[labels >= 0]])}
        for text, labels in zip(test.texts, test.labels)
    ]
    kind = config.student.kind
    records = []
    for name in (TEACHER, *(f"{kind}_{role}" for role in student_roles(config))):
        found = {True: [], False: []}
        for run_dir, summary in runs.values():
            tags = served(run_dir, summary["models"][name], test.texts, "tags")
            hits = {True: 0, False: 0}
            for spans, predicted, labels in zip(gold, tags, test.labels):
                read = [tag.decode() for tag in predicted[: len(labels)][labels >= 0]]
                for span in set(entity_spans(read)) & set(spans):
                    hits[spans[span]] += 1
            for group in found:
                found[group].append(hits[group])
        totals = {group: sum(spans[span] == group for spans in gold for span in spans) for group in found}
        records.append({"model": name, **{
            f"recall_{'seen' if group else 'unseen'}": common.mean_and_std(
                count / totals[group] for count in found[group])
            for group in found
        }, "seen_entities": totals[True], "unseen_entities": totals[False]})
    report.table(
        "recall_by_seen_words",
        "Test entity recall by whether every word of the entity occurs in the training "
        "split (mean ± std over seeds)",
        records,
        [("model", "model", "{}"), ("seen_entities", "seen entities", "{}"),
         ("recall_seen", "recall seen", lambda s: common.plus_minus(s, 1, "{:.3f}")),
         ("unseen_entities", "unseen entities", "{}"),
         ("recall_unseen", "recall unseen", lambda s: common.plus_minus(s, 1, "{:.3f}"))],
    )


def teacher_on_training_sentences(report, runs, train, class_names):
    """For taggers: how well the teacher's tags (the soft labels' argmax) match the
    gold ones on the training sentences, which the students learn from."""
    run_dir, summary = next(iter(runs.values()))
    tags = served(run_dir, summary["models"][TEACHER], train.texts, "tags")
    counts = sentence_counts(tags, train.labels, class_names).sum(axis=0)
    correct, predicted, gold = map(int, counts)
    scores = {
        "precision": common.ratio(correct, predicted) or 0.0,
        "recall": common.ratio(correct, gold) or 0.0,
        "f1": float(_f1(counts)),
    }
    report.record("teacher_on_train", scores)
    report.note(
        f"The teacher on the {len(train.texts)} training sentences: entity recall "
        f"{scores['recall']:.3f}, precision {scores['precision']:.3f}, F1 {scores['f1']:.3f}."
    )


def sentence_counts(predicted_tags, labels, class_names):
    """`(sentences, 3)` entity counts `(correct, predicted, gold)`, each sentence read
    on its tagged words (labels >= 0) as `TokenClassification.evaluate` reads it."""
    from tfdistill.tasks.token_classification import entity_spans

    rows = []
    for predicted, gold_ids in zip(predicted_tags, labels):
        tagged = np.asarray(gold_ids) >= 0
        gold = set(entity_spans([class_names[i] for i in gold_ids[tagged]]))
        found = set(entity_spans([tag.decode() for tag in predicted[: len(gold_ids)][tagged]]))
        rows.append((len(gold & found), len(found), len(gold)))
    return np.array(rows)


PAIRED_TESTS = {
    "text_classification": mcnemar_on_texts,
    "token_classification": randomization_on_sentences,
}
# One model's headline score from its SavedModel, when there is no second to pair.
SERVED_SCORES = {
    "text_classification": lambda model, test, names: float(texts_correct(model, test).mean()),
    "token_classification": lambda model, test, names: float(
        _f1(tagged_sentence_counts(model, test, names).sum(axis=0))),
}


def student_roles(config):
    """The students each run trains: the distilled one, then its baseline unless
    `distillation.baseline` is off (then no gain is measured, which halves the cost
    of comparing two recipes with `--compare_to`)."""
    return ("distilled", "baseline") if config.distillation.baseline else ("distilled",)


def per_seed_records(report, runs, config, test, class_names):
    kind, headline = config.student.kind, SCORES[config.task][0][0]
    roles = ("teacher", *student_roles(config))
    names = dict(zip(roles, (TEACHER, *(f"{kind}_{role}" for role in roles[1:]))))
    records = []
    for seed, (run_dir, summary) in runs.items():
        models = summary["models"]
        record = {"seed": seed}
        students = [(run_dir, models[names[role]]) for role in roles[1:]]
        if "baseline" in names:
            served_scores, fields = PAIRED_TESTS[config.task](students, test, class_names)
            record.update(fields)
        else:
            served_scores = [SERVED_SCORES[config.task](students[0], test, class_names)]
        _check_served(report, seed, students, served_scores, headline)
        for role, name in names.items():
            record.update({f"{role}_{key}": models[name][key] for key, _, _ in SCORES[config.task]})
        record["retention"] = common.ratio(record[f"distilled_{headline}"], record[f"teacher_{headline}"])
        if "baseline" in names:
            record["gain_points"] = 100 * (record[f"distilled_{headline}"] - record[f"baseline_{headline}"])
        records.append(record)
    return records


def _check_served(report, seed, pair, served_scores, headline):
    """Notes a model whose SavedModel scores otherwise than its `metrics.json` says."""
    for (_, scores), score in zip(pair, served_scores):
        if not math.isclose(score, scores[headline], abs_tol=1e-9):
            report.note(
                f"Seed {seed}: a SavedModel ({scores['savedmodel']}) scores {score:.4f} "
                f"{headline} on the test texts, metrics.json says {scores[headline]:.4f}."
            )


def per_seed_table(report, records, task, num_examples):
    headline, title, fmt = SCORES[task][0]
    roles = [role for role in ("teacher", "distilled", "baseline") if f"{role}_{headline}" in records[0]]
    columns = [("seed", "seed", "{}")]
    columns += [(f"{role}_{headline}", f"{role} {title}", fmt) for role in roles]
    columns.append(("retention", "retention", "{:.1%}"))
    caption = f"Per seed, {num_examples} test examples"
    if "baseline" in roles:
        columns.append(("gain_points", "gain pts", "{:+.2f}"))
        if task == "text_classification":
            columns += [("only_distilled_right", "only distilled right", "{}"),
                        ("only_baseline_right", "only baseline right", "{}")]
        test = records[0]["test"]
        columns.append(("p", f"{test} p", "{:.3g}"))
        caption += f" ({test}: two-sided, distilled vs baseline)"
    report.table("per_seed", caption, records, columns)


def summarize(report, records, config):
    kind, task = config.student.kind, config.task
    summary_records = [
        {"model": name, **{key: common.mean_and_std(r[f"{role}_{key}"] for r in records)
                           for key, _, _ in SCORES[task]}}
        for name, role in ((TEACHER, "teacher"),
                           *((f"{kind}_{role}", role) for role in student_roles(config)))
    ]
    report.table(
        "summary",
        f"Mean ± std over {len(records)} seed(s)",
        summary_records,
        [("model", "model", "{}")]
        + [(key, title, lambda s, fmt=fmt: _plus_minus(s, fmt)) for key, title, fmt in SCORES[task]],
    )
    # A teacher that scores 0 (a smoke run's) leaves the retention undefined.
    retentions = [r["retention"] for r in records if r["retention"] is not None]
    retention = common.mean_and_std(retentions) if retentions else None
    report.record("retention", retention)
    report.note(_retention_note(kind, SCORES[task][0][1], retention))
    if not config.distillation.baseline:
        report.note("No baseline (distillation.baseline=false): no gain measured.")
        return
    gain = common.mean_and_std(r["gain_points"] for r in records)
    report.record("gain_points", gain)
    significant = [r["seed"] for r in records if r["p"] < SIGNIFICANCE and r["gain_points"] > 0]
    claimed = len(significant) == len(records)
    report.record("gain_claimed", claimed)
    _note_gain(report, task, gain, claimed, len(significant), len(records))


def _percent_cell(summary):
    """A `mean_and_std` summary of fractions as a percentage cell: "97.5 ± 0.8%"."""
    return common.plus_minus(summary, 100, "{:.1f}") + "%"


def _plus_minus(summary, fmt):
    """`common.plus_minus` in a table cell's own format: percent or plain."""
    if fmt.endswith("%}"):
        return common.plus_minus(summary, 100)
    return common.plus_minus(summary, 1, fmt)


def _note_gain(report, task, gain, claimed, num_significant, num_seeds):
    report.note(
        f"Gain over the baseline: {common.plus_minus(gain)} points; a gain with p < "
        f"{SIGNIFICANCE} in {num_significant} of {num_seeds} seed(s). "
        + (
            "The gain is claimed."
            if claimed
            else "The gain is NOT claimed: the test does not support it in every seed."
        )
    )
    target_gain = TARGET_GAIN_POINTS.get(task)
    if target_gain is not None:
        met = claimed and gain["mean"] >= target_gain
        report.note(f"Target gain >= +{target_gain:g} points: {'met' if met else 'NOT met'}.")


def _retention_note(kind, headline, retention):
    if retention is None:
        return f"Retention: undefined, the teacher's {headline} is 0."
    text = f"Retention: {common.plus_minus(retention, 100)}% of the teacher's {headline} "
    target = TARGET_RETENTION.get(kind)
    if target is None:
        return text + f"(no target for {kind})."
    return text + f"(target >= {target:.0%}: {'met' if retention['mean'] >= target else 'NOT met'})."


def extra_test_table(report, runs, config):
    """Each model's headline score and retention on each `data.extra_test` set beside
    the test split's, mean ± std over seeds, from each run's `metrics.json` summary.

    Example:

    >>> from tfdistill.run.config import RunConfig
    >>> def models(teacher, distilled, baseline):
    ...     scores = {"teacher": teacher, "bilstm_distilled": distilled, "bilstm_baseline": baseline}
    ...     return {name: {"accuracy": value, "retention": None if name == "teacher" else value / teacher}
    ...             for name, value in scores.items()}
    >>> def run(test, drugs):
    ...     return "run_dir", {"models": models(*test), "extra_test": {"drug_reviews": {"models": models(*drugs)}}}
    >>> runs = {0: run((0.8, 0.78, 0.76), (0.8, 0.72, 0.64)), 1: run((0.8, 0.78, 0.76), (0.8, 0.76, 0.64))}
    >>> config = RunConfig.from_dict({"data": {"extra_test": ["drug_reviews"]}})
    >>> extra_test_table(common.Report("demo"), runs, config)
    <BLANKLINE>
    accuracy and retention (÷ the teacher's) on the test split and each extra test set, mean ± std over 2 seed(s)
    model             test accuracy  test retention  drug_reviews accuracy  drug_reviews retention
    ----------------------------------------------------------------------------------------------
    teacher            80.00 ± 0.00             n/a           80.00 ± 0.00                     n/a
    bilstm_distilled   78.00 ± 0.00     97.5 ± 0.0%           74.00 ± 2.83             92.5 ± 3.5%
    bilstm_baseline    76.00 ± 0.00     95.0 ± 0.0%           64.00 ± 0.00             80.0 ± 0.0%
    """
    kind, (headline, title, fmt) = config.student.kind, SCORES[config.task][0]
    sets = {"test": lambda summary: summary["models"]}
    for source in config.data.extra_test:
        sets[source] = lambda summary, source=source: summary["extra_test"][source]["models"]
    columns = [("model", "model", "{}")]
    for label in sets:
        columns += [
            (f"{label}_{headline}", f"{label} {title}", lambda s, fmt=fmt: _plus_minus(s, fmt)),
            (f"{label}_retention", f"{label} retention", _percent_cell),
        ]
    records = []
    for name in (TEACHER, *(f"{kind}_{role}" for role in student_roles(config))):
        record = {"model": name}
        for label, models_of in sets.items():
            scores = [models_of(summary)[name] for _, summary in runs.values()]
            record[f"{label}_{headline}"] = common.mean_and_std(s[headline] for s in scores)
            # The teacher has none; a teacher that scores 0 leaves it undefined.
            retentions = [s["retention"] for s in scores if s.get("retention") is not None]
            record[f"{label}_retention"] = common.mean_and_std(retentions) if retentions else None
        records.append(record)
    report.table(
        "extra_test",
        f"{title} and retention (÷ the teacher's) on the test split and each extra test set, "
        f"mean ± std over {len(runs)} seed(s)",
        records,
        columns,
    )


def benchmark(report):
    overrides = [*(QUICK_OVERRIDES if FLAGS.quick else ()), *FLAGS.set]
    config = run_config.override(run_config.load(FLAGS.config), overrides)
    report.record("config", config.to_dict())
    seeds = [int(seed) for seed in FLAGS.seeds]
    default_root = f"runs/benchmarks/accuracy/{config.name}"
    with common.runs_directory(FLAGS.output_dir, default_root) as output_root:
        print(
            f"\n{config.name}: {config.student.kind} student, seeds {seeds}, runs in {output_root}",
            flush=True,
        )
        pool = common.seeded_pool(output_root / "shared")
        runs = common.run_seeds(report, config, seeds, output_root, pool)
        splits, class_names = prepare_splits(config.data, tasks.get(config.task))
        records = per_seed_records(report, runs, config, splits["test"], class_names)
        if config.task == "token_classification":
            recall_by_seen_words(report, runs, config, splits, class_names)
            teacher_on_training_sentences(report, runs, splits["train"], class_names)
        extra_tests = prepare_extra_tests(config.data, tasks.get(config.task), class_names)
        # Read from the runs' SavedModels, before a --quick run's folder is removed.
        gains = config.distillation.baseline and extra_test_gains(runs, config, extra_tests, class_names)
        sets = {"test": splits["test"], **extra_tests}
        against = FLAGS.compare_to and compare_recipes(runs, config, sets, class_names, FLAGS.compare_to)
        agreement = config.task == "text_classification" and teacher_agreement(
            runs, config, sets, FLAGS.compare_to)
    per_seed_table(report, records, config.task, len(splits["test"].texts))
    summarize(report, records, config)
    if extra_tests:
        extra_test_table(report, runs, config)
    if gains:
        caption = "Per seed and extra test set, the distilled student against its baseline (paired, two-sided)"
        paired_table(report, "extra_test_gains", caption, gains, ("distilled", "baseline"), config)
    if against:
        caption = f"Per seed, this recipe's distilled student against {FLAGS.compare_to}'s (paired, two-sided)"
        paired_table(report, "against_other_recipe", caption, against, ("this", "other"), config)
    if agreement:
        agreement_table(report, agreement, sets)


def paired_by_set(pairs, sets, task, class_names):
    """Per seed and evaluation set, the task's paired test of two models.

    `pairs` is `{seed: [(run_dir, scores), (run_dir, scores)]}` (as `PAIRED_TESTS`
    takes them) and `sets` is `{name: Split}`. Returns one record per seed and set:
    both models' headline scores from their SavedModels, the difference in points and
    the test's p-value.
    """
    records = []
    for seed, pair in pairs.items():
        for label, split in sets.items():
            (first, second), fields = PAIRED_TESTS[task](pair, split, class_names)
            records.append({"seed": seed, "set": label, "first": first, "second": second,
                            "difference": 100 * (first - second), "p": fields["p"]})
    return records


def paired_table(report, key, caption, records, roles, config):
    """Prints `paired_by_set`'s records, then per set the mean difference and in how
    many seeds the test finds it (p < SIGNIFICANCE) in favour of the first model.

    Example:

    >>> from tfdistill.run.config import RunConfig
    >>> records = [{"seed": seed, "set": "tweets", "first": 0.7, "second": 0.6,
    ...             "difference": 10.0, "p": p} for seed, p in ((42, 0.001), (43, 0.2))]
    >>> paired_table(common.Report("demo"), "gains", "Distilled vs baseline", records,
    ...              ("distilled", "baseline"), RunConfig.from_dict({}))
    <BLANKLINE>
    Distilled vs baseline
    seed     set  distilled accuracy  baseline accuracy  difference pts      p
    --------------------------------------------------------------------------
    42    tweets              70.00%             60.00%          +10.00  0.001
    43    tweets              70.00%             60.00%          +10.00    0.2
    tweets: distilled minus baseline 10.00 ± 0.00 points; in its favour with p < 0.05 in 1 of 2 seed(s).
    """
    _, title, fmt = SCORES[config.task][0]
    report.table(
        key, caption, records,
        [("seed", "seed", "{}"), ("set", "set", "{}"), ("first", f"{roles[0]} {title}", fmt),
         ("second", f"{roles[1]} {title}", fmt), ("difference", "difference pts", "{:+.2f}"),
         ("p", "p", "{:.3g}")],
    )
    for label in dict.fromkeys(record["set"] for record in records):
        of_set = [record for record in records if record["set"] == label]
        difference = common.mean_and_std(record["difference"] for record in of_set)
        found = sum(r["p"] < SIGNIFICANCE and r["difference"] > 0 for r in of_set)
        report.note(
            f"{label}: {roles[0]} minus {roles[1]} {_plus_minus(difference, '{:.2f}')} points; "
            f"in its favour with p < {SIGNIFICANCE} in {found} of {len(of_set)} seed(s)."
        )


def extra_test_gains(runs, config, extra_tests, class_names):
    """`paired_by_set` of the distilled student against its baseline on each extra
    test set (the test split's is in the per-seed table)."""
    names = [f"{config.student.kind}_{role}" for role in ("distilled", "baseline")]
    pairs = {seed: [(run_dir, summary["models"][name]) for name in names]
             for seed, (run_dir, summary) in runs.items()}
    return paired_by_set(pairs, extra_tests, config.task, class_names)


def teacher_agreement(runs, config, sets, other_root=None):
    """Per student, mean over seeds on each set: how often it gives the teacher's label,
    and its accuracy on the texts the teacher gets wrong, from the SavedModels. With
    `other_root` (`--compare_to`), that recipe's distilled student too, against this
    recipe's teacher (the same one, as `--compare_to` asks). Classification only.

    A student that copies its teacher more closely also copies its mistakes: out of
    domain, more agreement can mean less accuracy.
    """
    students = {}
    for seed, (run_dir, summary) in runs.items():
        students.setdefault(TEACHER, []).append((run_dir, summary["models"][TEACHER]))
        for role in student_roles(config):
            name = f"{config.student.kind}_{role}"
            students.setdefault(name, []).append((run_dir, summary["models"][name]))
        if other_root:
            other_dir = pathlib.Path(other_root) / f"seed_{seed}"
            other = json.loads((other_dir / "metrics.json").read_text(encoding="utf-8"))
            name = f"{other['student_kind']}_distilled"
            students.setdefault(f"{name} ({other_dir.parent.name})", []).append(
                (other_dir, other["models"][name]))
    teachers = students.pop(TEACHER)
    records = []
    for name, models in students.items():
        record = {"model": name}
        for label, split in sets.items():
            agreement, right_where_wrong = [], []
            for teacher, student in zip(teachers, models):
                said = served(*teacher, split.texts, "label_ids")
                predicted = served(*student, split.texts, "label_ids")
                agreement.append(float(np.mean(predicted == said)))
                wrong = said != split.labels
                right_where_wrong.append(float(np.mean(predicted[wrong] == split.labels[wrong])))
            record[f"{label}_agreement"] = common.mean_and_std(agreement)
            record[f"{label}_right"] = common.mean_and_std(right_where_wrong)
        records.append(record)
    return records


def agreement_table(report, records, sets):
    """Prints `teacher_agreement`'s records.

    Example:

    >>> records = [{"model": "bilstm_distilled", "tweets_agreement": {"mean": 0.85, "std": 0.01},
    ...             "tweets_right": {"mean": 0.15, "std": None}}]
    >>> agreement_table(common.Report("demo"), records, ["tweets"])
    <BLANKLINE>
    Agreement with the teacher (share of texts given its label) and accuracy where the teacher is wrong, mean ± std over seeds
    model             tweets agreement  tweets right where teacher wrong
    --------------------------------------------------------------------
    bilstm_distilled       85.0 ± 1.0%                             15.0%
    """
    columns = [("model", "model", "{}")]
    for label in sets:
        columns += [
            (f"{label}_agreement", f"{label} agreement", _percent_cell),
            (f"{label}_right", f"{label} right where teacher wrong", _percent_cell),
        ]
    report.table(
        "teacher_agreement",
        "Agreement with the teacher (share of texts given its label) and accuracy where the "
        "teacher is wrong, mean ± std over seeds",
        records,
        columns,
    )


def compare_recipes(runs, config, sets, class_names, other_root):
    """`paired_by_set` of this recipe's distilled student against `other_root`'s,
    which may be another kind of student."""
    pairs = {}
    for seed, (run_dir, summary) in runs.items():
        other_dir = pathlib.Path(other_root) / f"seed_{seed}"
        other = json.loads((other_dir / "metrics.json").read_text(encoding="utf-8"))
        pairs[seed] = [(run_dir, summary["models"][f"{config.student.kind}_distilled"]),
                       (other_dir, other["models"][f"{other['student_kind']}_distilled"])]
    return paired_by_set(pairs, sets, config.task, class_names)


if __name__ == "__main__":
    common.main(__doc__, benchmark)
