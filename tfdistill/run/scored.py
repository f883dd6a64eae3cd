"""A rerun of a finished run keeps what it measured, unless what it measured changed.

`metrics.json` records beside each model's scores `scored_with`: a digest of the
model's stage fingerprint (what made the model, `tfdistill.run.fingerprints`), the
task, the class names, the test split and the `export` section. A rerun that finds
the same digest, and the model's exported files still in the run, keeps those scores
and files instead of scoring, exporting and timing the model again (about 9 minutes
for the default config's teacher and students with four extra test sets, on 2 CPU
cores). Each `data.extra_test` set is kept the same way, by the digest of its texts
and labels, for the models that were kept: a set added to a finished run is the only
thing scored.

Example:

>>> kept_models({"models": {"teacher": {"scored_with": "ab", "savedmodel": "x"}}},
...             {"teacher": "cd"}, pathlib.Path("."))
{}
"""

import json
import pathlib

from tfdistill.run import fingerprints

SCORED_WITH = "scored_with"


def digests(context):
    """`{model name: digest}` of every model the run serves (see the module doc)."""
    test = context.splits["test"]
    measured_on = [
        context.config.task,
        list(context.class_names),
        context.config.to_dict()["export"],
        _split_digest(test),
    ]
    return {
        name: fingerprints.digest([fingerprint, measured_on])
        for name, _, fingerprint in fingerprints.expected_stages(context)
    }


def previous_summary(context):
    """The `metrics.json` the run folder holds from an earlier finished pass, or `{}`."""
    path = context.layout.metrics
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def kept_models(summary, model_digests, root):
    """`{name: scores}` of `summary`'s models whose scores still hold: the same
    digest as `model_digests[name]`, and every file they name still under `root`."""
    return {
        name: scores
        for name, scores in summary.get("models", {}).items()
        if scores.get(SCORED_WITH) == model_digests.get(name) and _files_exist(scores, root)
    }


def extra_test_digests(context):
    """`{source: digest}` of the texts and labels of each `data.extra_test` set."""
    return {source: _split_digest(split) for source, split in context.extra_tests.items()}


def kept_extra_test(summary, extra_digests, kept):
    """`{source: {name: scores}}` of `summary`'s extra test scores that still hold: of
    a set whose digest is unchanged (`extra_test_digests`), for a model in `kept`."""
    previous = summary.get("extra_test", {})
    found = {}
    for source, digest in extra_digests.items():
        entry = previous.get(source, {})
        if entry.get(SCORED_WITH) == digest:
            found[source] = {name: s for name, s in entry["models"].items() if name in kept}
    return found


def record_extra_test(extra_test, extra_digests):
    """Adds each extra test set's digest to its entry of `extra_test`."""
    for source, entry in extra_test.items():
        entry[SCORED_WITH] = extra_digests[source]
    return extra_test


def _split_digest(split):
    return fingerprints.digest([split.texts, split.labels.tolist()])


def _files_exist(scores, root):
    root = pathlib.Path(root)
    paths = [scores.get("savedmodel")] + [
        entry.get("path") for entry in scores.get("tflite", {}).values() if entry.get("exported")
    ]
    return all(path and (root / path).exists() for path in paths)
