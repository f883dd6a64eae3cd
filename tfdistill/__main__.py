r"""The `tfdistill` command: run a distillation, predict with its model, re-export it.

    tfdistill --config=configs/rotten_tomatoes_minilm_to_bilstm.yaml --output_dir=runs/demo \
        [--set=distillation.temperature=4 ...] [--overwrite]
    tfdistill predict --model=runs/demo --input=texts.csv --output=preds.jsonl \
        [--text_column=text] [--batch_size=256]     (--input=- --output=-: a pipe)
    tfdistill export --run=runs/demo --tflite=full_int8,float16
    tfdistill --version

The search of issue #17 is not a command of its own: a config's `distillation.tune`
section (or `--set=distillation.tune.trials=12`) makes `run` search first.

`python -m tfdistill` takes the same commands and flags. A config, data or flag error prints
one line, `tfdistill: error: ...`, and exits with status 2 (`--verbosity=1` logs its
traceback too); any other error keeps its traceback. TensorFlow's C++ start-up lines are hidden
(see `tfdistill.run.quiet`), and so are its Python INFO lines: `TFDISTILL_TF_LOGS=1`
or `--verbosity=1` shows them.
"""

import os
import sys

from absl import app
from absl import flags
from absl import logging

from tfdistill import registry
from tfdistill.run import config as run_config
from tfdistill.run import pipeline
from tfdistill.run import quiet
from tfdistill.run import report
from tfdistill.predict import InputError
from tfdistill.run.splits import DataError

FLAGS = flags.FLAGS
flags.DEFINE_string("config", None, "Path of the run config (YAML or JSON).")
flags.DEFINE_string("output_dir", None, "The run directory; overrides the config's output_dir.")
flags.DEFINE_multi_string("set", [], "Override one config value: --set=section.key=value.")
flags.DEFINE_bool(
    "overwrite",
    False,
    "Redo the stages that an earlier run in --output_dir made with other settings "
    "(and what depends on them) instead of stopping.",
)

flags.DEFINE_string("model", None, "predict: a run folder, a SavedModel or a .tflite file.")
flags.DEFINE_string(
    "input", None, "predict: a .txt, .csv, .tsv or .jsonl file of texts; - reads standard "
    "input, one text per line."
)
flags.DEFINE_string(
    "output", None, "predict: the JSONL file of predictions to write; - writes standard output."
)
flags.DEFINE_string("text_column", "text", "predict: the texts' column (CSV/TSV) or key (JSONL).")
flags.DEFINE_integer("batch_size", 256, "predict: texts per model call.", lower_bound=1)
flags.DEFINE_string("run", None, "export: the finished run folder to add files to.")
flags.DEFINE_list("tflite", [], "export: TFLite modes, e.g. full_int8,float16.")
flags.DEFINE_bool(
    "version", False, "Print the versions of tfdistill, TensorFlow, Keras and keras-hub, and exit."
)

class UsageError(ValueError):
    """A command's flags that cannot work; the message names the flag."""


def _required(**values):
    missing = [f"--{name}" for name, value in values.items() if not value]
    if missing:
        needed = " and ".join(missing) + (" are" if len(missing) > 1 else " is")
        raise UsageError(f"{needed} required (`tfdistill --help` lists the commands and flags).")


def _run():
    _required(config=FLAGS.config)
    config = run_config.override(run_config.load(FLAGS.config), FLAGS.set)
    output_dir = FLAGS.output_dir or config.output_dir
    summary = pipeline.run(config, output_dir, overwrite=FLAGS.overwrite)
    print()
    print(report.format_table(summary))
    print()
    print(report.describe_policies(summary))
    print(report.describe_machines(summary))
    print(f"report:       {os.path.join(output_dir, 'report.md')}")
    for name, scores in summary["models"].items():
        print(f"SavedModel:   {os.path.join(output_dir, scores['savedmodel'])}  ({name})")


# The bad rows `predict` names on the terminal; the output file holds every one.
_ROWS_NAMED = 20


def _predict():
    from tfdistill import predict

    _required(model=FLAGS.model, input=FLAGS.input, output=FLAGS.output)
    if FLAGS.input == predict.STDIO and FLAGS["text_column"].present:
        raise InputError(
            "--text_column picks a column of a .csv, .tsv or .jsonl file; standard input "
            "(--input=-) is read as one text per line: pass the file itself."
        )
    # Before the model loads: a mistake here should not wait for it.
    predict.check_output(FLAGS.input, FLAGS.output, overwrite=FLAGS.overwrite)
    model = predict.open_model(FLAGS.model)
    to_stdout = FLAGS.output == predict.STDIO
    # Keras's progress bar writes to standard output, which then holds the predictions.
    verbose = 1 if sys.stderr.isatty() and not to_stdout else 0
    summary = predict.predict_file(
        model, FLAGS.input, FLAGS.output,
        text_column=FLAGS.text_column, batch_size=FLAGS.batch_size, verbose=verbose,
    )
    bad = summary["bad_rows"]
    rows = f"{summary['rows']} row{'s' if summary['rows'] != 1 else ''}"
    unknown = ""
    if summary.get("words"):
        unknown = f", {summary['unknown_words'] / summary['words']:.1%} of their words unknown to the model"
    where = "standard output" if to_stdout else FLAGS.output
    print(
        f"{rows}, {len(bad)} not predicted (unreadable or empty){unknown}, predictions in {where}",
        file=sys.stderr if to_stdout else sys.stdout,
    )
    for row, reason in bad[:_ROWS_NAMED]:
        print(f"  row {row}: {reason}", file=sys.stderr)
    if len(bad) > _ROWS_NAMED:
        print(f"  and {len(bad) - _ROWS_NAMED:,} more, each an error line in {where}", file=sys.stderr)
    warning = predict.unknown_words_warning(summary)
    if warning:
        logging.warning(warning)


def _export():
    from tfdistill.run import reexport

    _required(run=FLAGS.run, tflite=FLAGS.tflite)
    summary = reexport.add_tflite(FLAGS.run, FLAGS.tflite)
    print(report.format_table(summary))
    print(report.describe_machines(summary))
    print(f"report:       {os.path.join(FLAGS.run, 'report.md')}")


COMMANDS = {"run": _run, "predict": _predict, "export": _export}
# What a user may type for a command that is a setting here.
HINTS = {"tune": "The search is part of run: --set=distillation.tune.trials=12 (or a "
                 "distillation.tune section in the config)."}


def versions():
    """One line for a bug report: the versions of tfdistill and of what it runs on."""
    import tfdistill
    from tfdistill import evaluation

    info = evaluation.machine()
    return (
        f"tfdistill {tfdistill.__version__} (TensorFlow {info['tensorflow']}, Keras "
        f"{info['keras']}, keras-hub {info['keras_hub']}, Python {info['python']})"
    )


def main(argv):
    if FLAGS.version:
        print(versions())
        return 0
    command = argv[1] if len(argv) > 1 else "run"
    if not FLAGS["verbosity"].present:
        logging.set_verbosity(logging.INFO)
    if not quiet.wants_tensorflow_logs(sys.argv, os.environ):
        quiet.hide_tensorflow_info()
        quiet.terminal_log_lines()
    try:
        if command not in COMMANDS or len(argv) > 2:
            raise UsageError(
                f"unknown command {' '.join(argv[1:])!r}"
                f"{registry.did_you_mean(command, COMMANDS) if len(argv) == 2 else ''}; "
                f"commands: {', '.join(sorted(COMMANDS))} (none: run). "
                f"{HINTS.get(command, '')}"
            )
        COMMANDS[command]()
    # A NaN or Inf names its stage and step; its usual cause is a setting (the
    # learning rate), not a bug, so it gets one line too.
    except (
        run_config.ConfigError, DataError, FloatingPointError, UsageError, InputError
    ) as error:
        logging.debug("The error in full:", exc_info=True)
        _print_error(error)
        return quiet.USAGE_ERROR
    return 0


def _print_error(error):
    print(quiet.error_line("tfdistill", error), file=sys.stderr)


def _parse_flags(argv):
    """absl's flag parsing with the command's one error line: absl's own is two lines
    and exits with 1."""
    try:
        return FLAGS(argv)
    except flags.Error as error:
        _print_error(f"{error} (`tfdistill --help` lists the flags)")
        sys.exit(quiet.USAGE_ERROR)


def run_main():
    """The console-script entry point."""
    # absl's --help shows the docstring of __main__ and the flags of the module named
    # sys.argv[0]: for the console script, neither is this module.
    sys.modules["__main__"].__doc__ = __doc__
    for flag in FLAGS.get_flags_for_module(__name__):
        FLAGS.register_flag_by_module(sys.argv[0], flag)
    app.run(main, flags_parser=_parse_flags)


if __name__ == "__main__":
    run_main()
