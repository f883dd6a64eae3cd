"""The `tfdistill` command: run a whole distillation from a config file.

    tfdistill --config=configs/rotten_tomatoes_minilm_to_bilstm.yaml --output_dir=runs/demo \
        [--set=distillation.temperature=4 ...]

`python -m tfdistill` takes the same flags.
"""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app  # noqa: E402
from absl import flags  # noqa: E402
from absl import logging  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("config", None, "Path of the run config (YAML or JSON).", required=True)
flags.DEFINE_string("output_dir", None, "The run directory; overrides the config's output_dir.")
flags.DEFINE_multi_string("set", [], "Override one config value: --set=section.key=value.")


def main(argv):
    del argv  # Everything comes through flags.
    # Imported here so that `--help` and flag errors answer without loading TensorFlow.
    from tfdistill.run import config as run_config
    from tfdistill.run import pipeline
    from tfdistill.run import report

    logging.set_verbosity(logging.INFO)
    try:
        config = run_config.override(run_config.load(FLAGS.config), FLAGS.set)
        output_dir = FLAGS.output_dir or config.output_dir
        summary = pipeline.run(config, output_dir)
    except run_config.ConfigError as error:
        print(f"tfdistill: error: {error}", file=sys.stderr)
        return 2
    print()
    print(report.format_table(summary))
    print()
    print(report.describe_policies(summary))
    print(f"report:       {os.path.join(output_dir, 'report.md')}")
    for name, scores in summary["models"].items():
        print(f"SavedModel:   {os.path.join(output_dir, scores['savedmodel'])}  ({name})")
    return 0


def run_main():
    """The console-script entry point."""
    app.run(main)


if __name__ == "__main__":
    run_main()
