"""Stage fingerprints: what each stage's result was made from, so that a rerun never
silently reuses a result that another config made.

A fingerprint records the config keys that shape the stage (by their dotted names),
a digest of the training and validation data, for a distilled student the digests
of its teachers' fingerprints and of its transfer texts (also for a word-level
baseline, whose vocabulary reads them), and the tfdistill version. A finished stage keeps its
fingerprint in `stage.json` beside its result, and so does an unfinished stage's
checkpoint. Before any work, `check_stages` compares them with the config's: a
matching stage is reused; a differing one stops the run in one line naming what
changed, unless `overwrite` is set: then it is redone, and so is every stage after
it (their fingerprints hold its digest).

Example:

>>> recorded = {"config": {"distillation.temperature": 2.0}, "data": "ab12"}
>>> expected = {"config": {"distillation.temperature": 4.0}, "data": "cd34"}
>>> changes(recorded, expected)
['distillation.temperature 2.0 -> 4.0', 'the training or validation data']
"""

import hashlib
import json
import pathlib
import shutil

from absl import logging

from tfdistill import models
from tfdistill.atomic import write_json
from tfdistill.distillation.schedules import OPTIMIZER_VARIABLES
from tfdistill.run.checkpoint import STATE_FILE
from tfdistill.run.folders import RunFolderError
from tfdistill.run.layout import BASELINE
from tfdistill.run.layout import DISTILLED
from tfdistill.run.layout import TUNING
from tfdistill.run.layout import student_name
from tfdistill.run.layout import student_variants
from tfdistill.run.layout import teacher_members

STAGE_FILE = "stage.json"
# The distillation keys a baseline student depends on: it never sees the teacher.
# Of `schedule`, only the optimizer's variables (`_drop_distiller_schedules`).
_BASELINE_KEYS = (
    "epochs", "batch_size", "learning_rate", "patience", "trim_padding", "schedule", "ema_momentum"
)
# The `data` keys that name test sets.
_TEST_SETS = ("test_split", "extra_test")
# The distillation keys that choose the transfer texts (`distillation.transfer_texts`).
_TRANSFER_KEYS = ("transfer_texts", "max_transfer_texts")
# Keys that shape no student but that older runs recorded in a distilled student's
# fingerprint: whether a baseline is trained beside it changes nothing in it, so turning
# the baseline on in a finished run trains the baseline alone. A record holding them
# still matches.
_SHAPES_NOTHING = ("distillation.baseline",)
# Keys added after runs were recorded, with their defaults: a fingerprint leaves a key
# out while it holds its default, so those runs still match.
_ADDED_KEYS = {
    "distillation.augment.negations": 0,
    "distillation.ema_momentum": None,
    "distillation.representation": 0.0,
}
# How each part of a fingerprint other than its config keys is named in a message.
_PARTS = {
    "data": "the training or validation data",
    "teachers": "the teacher(s)",
    "transfer_texts": "the transfer texts",
}


def digest(value):
    """A short SHA-256 of a JSON-serialisable value."""
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _flatten(values, prefix):
    flat = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _base(context, policy, section, keep=None):
    """The keys every stage shares (task, data, seed, runtime) plus one section's."""
    from tfdistill import __version__

    config = context.config.to_dict()
    # The test sets shape no stage's result, they are only scored: adding one to a
    # finished run retrains nothing.
    data = {key: value for key, value in config["data"].items() if key not in _TEST_SETS}
    own = {key: value for key, value in config[section].items() if keep is None or key in keep}
    splits = [context.splits[role] for role in ("train", "validation")]
    return {
        "config": {
            "task": config["task"],
            **_flatten(data, "data."),
            **_flatten(own, f"{section}."),
            "runtime.dtype_policy": policy,
            "runtime.jit_compile": config["runtime"]["jit_compile"],
            "runtime.deterministic": config["runtime"]["deterministic"],
        },
        "data": digest([[split.texts, split.labels.tolist()] for split in splits]),
        "tfdistill": __version__,
    }


def teacher_fingerprint(context, seed):
    """What a teacher fine-tuned from `seed` depends on."""
    fingerprint = _base(context, context.teacher_policy, "teacher")
    keys = fingerprint["config"]
    for key in [key for key in keys if key.startswith("teacher.ensemble_")]:
        del keys[key]  # The other members do not shape this one.
    # The seed it was fine-tuned from is what shapes it, whichever key gave it.
    del keys["teacher.seed"]
    keys["seed"] = seed
    return fingerprint


def student_fingerprint(context, variant):
    """What a student variant depends on; a distilled one also on its teachers, and a
    baseline on the first teacher when it is built from it (`built_from_teacher`);
    either on the transfer texts when they shape it (`_add_transfer_texts`)."""
    config = context.config
    keep = _BASELINE_KEYS if variant == BASELINE else None
    fingerprint = _base(context, context.student_policy, "distillation", keep)
    fingerprint["config"].update(_flatten(config.to_dict()["student"], "student."))
    fingerprint["config"]["seed"] = config.seed
    members = teacher_members(config)
    for key in _SHAPES_NOTHING:
        fingerprint["config"].pop(key, None)
    for key, default in _ADDED_KEYS.items():
        if fingerprint["config"].get(key, default) == default:
            fingerprint["config"].pop(key, None)
    if variant == DISTILLED:
        fingerprint["config"]["teacher.ensemble_weights"] = config.teacher.ensemble_weights
        _drop_tuning_keys(fingerprint["config"], config.distillation.tune)
    else:
        _drop_distiller_schedules(fingerprint["config"])
        # The baseline is built from the first teacher alone, if from any.
        members = members[:1] if built_from_teacher(config) else []
    if members:
        fingerprint["teachers"] = [digest(teacher_fingerprint(context, seed)) for _, seed in members]
    _add_transfer_texts(fingerprint, context, variant)
    return fingerprint


def _drop_distiller_schedules(keys):
    """Drops from a baseline's fingerprint `keys` the schedules of a Distiller's own
    variables (temperature, alpha), which it does not train with (`students.scheduled`)."""
    prefix = "distillation.schedule."
    for key in [key for key in keys if key.startswith(prefix)]:
        if key[len(prefix) :].split(".")[0] not in OPTIMIZER_VARIABLES:
            del keys[key]


def built_from_teacher(config):
    """Whether building the student reads the teacher, which its baseline then depends
    on although it never learns from it: the teacher's tokenizer (a kind that is not
    word-level), its vocabulary's words (`teacher_words`) or its weights
    (`init_from_teacher`; `small_bert` copies them by default)."""
    sizes = config.student.sizes
    word_level = models.STUDENTS.attributes(config.student.kind)["word_level"]
    return not word_level or any(sizes.get(key) for key in ("init_from_teacher", "teacher_words"))


def _add_transfer_texts(fingerprint, context, variant):
    """Records in a student's `fingerprint` the transfer texts, if they shape it.

    They shape the distilled student, which trains on them, and a word-level
    baseline, whose vocabulary is learned from them too (`students.build`). Their
    digest is of the texts kept, so a change in what the leak check drops (a new
    `data.extra_test` set that holds one of them) redoes the student, though the
    test sets are otherwise left out. Without transfer texts their keys shape
    nothing, and runs made before they existed recorded none.
    """
    distillation = context.config.distillation
    word_level = models.STUDENTS.attributes(context.config.student.kind)["word_level"]
    shaped = bool(distillation.transfer_texts) and (variant == DISTILLED or word_level)
    keys = fingerprint["config"]
    for name in _TRANSFER_KEYS:
        keys.pop(f"distillation.{name}", None)
        if shaped:
            keys[f"distillation.{name}"] = getattr(distillation, name)
    # Their variants shape the distilled student alone (the vocabulary reads no
    # variant), and runs made before the key existed recorded none.
    keys.pop("distillation.augment.transfer_texts", None)
    if shaped and variant == DISTILLED and distillation.augment.transfer_texts:
        keys["distillation.augment.transfer_texts"] = True
    if shaped:
        fingerprint["transfer_texts"] = digest(context.transfer_texts.texts)


def _drop_tuning_keys(keys, tune):
    """Drops from a distilled student's `keys` the search's keys, when there is no search.

    With a search, every key stays: its settings, and the config's own values,
    which it tries first, determine the values it picks. The student that then
    trains with the winner records the fingerprint of the config before the search
    (`students.train_students`), so a rerun of that config reuses it. Without a
    search, its settings shape nothing (and runs made before it existed recorded
    none). Nor does an unset `augment_factor`, which searches made before it existed
    did not record.
    """
    if tune.trials:
        if tune.augment_factor is None:
            keys.pop("distillation.tune.augment_factor", None)
        return
    for key in [key for key in keys if key.startswith("distillation.tune.")]:
        del keys[key]


def changes(recorded, expected):
    """What differs between two fingerprints, each as a short phrase."""
    if not recorded:
        return ["settings not recorded (made by an older tfdistill, or not finished)"]
    old, new = recorded.get("config", {}), expected.get("config", {})
    old = {key: value for key, value in old.items() if key not in _SHAPES_NOTHING}
    found = [
        f"{key} {old.get(key, '(unset)')} -> {new.get(key, '(unset)')}"
        for key in sorted(set(old) | set(new))
        if old.get(key) != new.get(key)
    ]
    # With the same config, a part missing from the record was not recorded yet by
    # the tfdistill that made it: say so, rather than that it changed.
    older = not found
    found += [
        f"{phrase} (not recorded by an older tfdistill)" if older and part not in recorded else phrase
        for part, phrase in _PARTS.items()
        if recorded.get(part) != expected.get(part)
    ]
    if recorded.get("tfdistill") != expected.get("tfdistill"):
        found.append(f"tfdistill {recorded.get('tfdistill')} -> {expected.get('tfdistill')}")
    return found


def record(directory, fingerprint):
    """Writes `fingerprint` as the `stage.json` of the result in `directory`."""
    write_json(pathlib.Path(directory) / STAGE_FILE, fingerprint)


def _recorded(directory):
    path = pathlib.Path(directory) / STAGE_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def expected_stages(context):
    """`[(stage name, [its result and checkpoint folders], fingerprint)]`, in run order."""
    layout, config = context.layout, context.config
    stages = [
        (name, [layout.teacher(name), layout.checkpoint(name)], teacher_fingerprint(context, seed))
        for name, seed in teacher_members(config)
    ]
    if config.distillation.tune.trials:
        # The search trains the distilled student with each trial's values, so it
        # depends on what the distilled student does.
        stages.append((TUNING, [layout.tuning], student_fingerprint(context, DISTILLED)))
    for variant in student_variants(config):
        name = student_name(config, variant)
        folders = [layout.student(name), layout.checkpoint(name)]
        stages.append((name, folders, student_fingerprint(context, variant)))
    return stages


def _holds_work(folder, layout):
    """Whether `folder` holds a result or a checkpoint that its stage would reuse.

    A stage writes its fingerprint before its model or its first checkpoint, so a
    kill can fall in between: such a folder holds nothing to reuse, and the stage
    starts (or finishes) in it. A teacher's folder appears whole, by rename.
    """
    if folder.parent == layout.checkpoints:
        return (folder / STATE_FILE).exists()
    if folder == layout.student(folder.name):
        return layout.student_model(folder.name).exists()
    return folder.exists()


def check_stages(context, overwrite=False):
    """Compares every earlier result with the config before any work (see module doc).

    Raises:
        RunFolderError: naming the first stage made with other settings, unless
            `overwrite`; then every such stage's folders are removed to be redone.
    """
    for name, folders, fingerprint in expected_stages(context):
        for folder in folders:
            if not _holds_work(folder, context.layout):
                continue
            found = changes(_recorded(folder), fingerprint)
            if not found:
                continue
            if not overwrite:
                raise RunFolderError(
                    f"{context.layout.output_dir}: {name} was made with other settings ({'; '.join(found)}); "
                    "pass --overwrite to redo it and what depends on it, or choose "
                    "another --output_dir."
                )
            logging.info("Redoing %s (--overwrite): %s", name, "; ".join(found))
            # Inside the run's own partial folder: a finished run keeps its copy.
            shutil.rmtree(folder)
