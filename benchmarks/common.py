"""What every benchmark shares: its flags, the machine report, timing, tables and JSON.

A benchmark script defines its own flags, writes `def benchmark(report): ...` that
measures and hands its numbers to `report.table(...)`, `report.record(...)` and
`report.note(...)`, and ends with `common.main(__doc__, benchmark)`. Every script then:

- takes `--quick` (a reduced run of a few minutes) and `--output_json` (default
  `benchmarks/results/<script>.json`);
- prints the machine (cores, CPU model, GPUs) and the TensorFlow, Keras and keras-hub
  versions first;
- prints each table aligned as plain text, and writes the same records (raw numbers,
  not the formatted cells) to the JSON file, with the machine, the flags and the
  wall time.

Shared machines are noisy, so scripts report ratios measured side by side in one run
(`interleaved_times`), not lone absolute times.

Example (a script's `benchmark`; the script ends with
`common.main("Times one sum.", benchmark)`):

>>> def benchmark(report):
...     times = interleaved_times({"a": lambda: sum(range(10**5))}, repeats=3)
...     report.table("sums", "One sum", [{"name": "a", "runs": len(times["a"]["times_s"])}],
...                  [("name", "contender", "{}"), ("runs", "timed runs", "{}")])
>>> benchmark(Report("demo"))
<BLANKLINE>
One sum
contender  timed runs
---------------------
a                   3
"""

import os

# Before TensorFlow or Keras is imported anywhere: the backend is read once, at import.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# 3, as the command sets it: level 2 still let through ERROR lines that are only
# notices (oneDNN's DT_INT64, tf.data's use_unbounded_threadpool).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Tables are for people: TensorFlow's C++ start-up lines are hidden as the command
# hides them (`tfdistill.run.quiet`; TFDISTILL_TF_LOGS=1 shows them). tfdistill
# imports TensorFlow first, before the script does.
os.environ.setdefault("TFDISTILL_QUIET_IMPORT", "1")
import tfdistill  # noqa: E402, F401

import contextlib  # noqa: E402
import dataclasses  # noqa: E402
import datetime  # noqa: E402
import functools  # noqa: E402
import json  # noqa: E402
import pathlib  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from absl import app  # noqa: E402
from absl import flags  # noqa: E402
from absl import logging  # noqa: E402

from tfdistill.evaluation import describe_hardware  # noqa: E402
from tfdistill.evaluation import machine  # noqa: E402
from tfdistill.run import quiet  # noqa: E402
from tfdistill.run.config import ConfigError  # noqa: E402
from tfdistill.run.splits import DataError  # noqa: E402

flags.DEFINE_bool("quick", False, "Run a reduced version that finishes in a few minutes.")
flags.DEFINE_string(
    "output_json",
    None,
    "Where to write the results as JSON. Default: benchmarks/results/<script>.json.",
)
FLAGS = flags.FLAGS

RESULTS_DIR = pathlib.Path(__file__).resolve().parent / "results"
# `config_with` settings for a run whose teacher and students compute in float32.
FLOAT32 = {"runtime.dtype_policy": "float32", "runtime.student_dtype_policy": "float32"}
def _format_machine(info):
    return "\n".join(
        [
            f"machine:  {describe_hardware(info)}",
            f"GPU:      {', '.join(info['gpus']) or 'none'}",
            f"versions: TensorFlow {info['tensorflow']}, Keras {info['keras']}, "
            f"keras-hub {info['keras_hub']}, NumPy {info['numpy']}, "
            f"Python {info['python']}",
        ]
    )


def format_cell(value, fmt):
    """Formats one table cell: `fmt` is a format string or a function; None is "n/a"."""
    if value is None:
        return "n/a"
    return fmt(value) if callable(fmt) else fmt.format(value)


def format_table(records, columns):
    """Aligns `records` (dicts) as a plain-text table.

    Args:
        records: a list of dicts.
        columns: `(key, header, fmt)` triples; `fmt` as in `format_cell`. The first
            column is left-aligned (it names the row), the others right-aligned.

    Example:

    >>> print(format_table([{"n": "a", "x": 1.5}], [("n", "name", "{}"), ("x", "x", "{:.1f}")]))
    name    x
    ---------
    a     1.5
    """
    header = [title for _, title, _ in columns]
    rows = [[format_cell(record.get(key), fmt) for key, _, fmt in columns] for record in records]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(columns))]

    def line(cells):
        first = cells[0].ljust(widths[0])
        rest = [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:])]
        return "  ".join([first, *rest]).rstrip()

    rule = "-" * len(line(header))
    return "\n".join([line(header), rule, *map(line, rows)])


def ratio(numerator, denominator):
    """`numerator / denominator`, or None when either is missing or the denominator is 0."""
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def times_format(value):
    """Formats a ratio as "1.23x"."""
    return f"{value:.2f}x"


class Report:
    """Prints a benchmark's tables and notes as they come, and keeps them for the JSON file.

    Args:
        name: the benchmark's name (its script name).

    Example:

    >>> report = Report("demo")
    >>> report.record("steps", 3)
    >>> report.results
    {'steps': 3}
    """

    def __init__(self, name):
        self.name = name
        self.results = {}
        self.notes = []

    def record(self, key, value):
        """Stores a JSON-serialisable `value` under `key` without printing it."""
        self.results[key] = value

    def table(self, key, title, records, columns):
        """Prints `records` as a table under `title` and stores them under `key`."""
        self.results[key] = records
        print(f"\n{title}\n{format_table(records, columns)}", flush=True)

    def note(self, text):
        """Prints a remark (a verdict, a caveat, a measurement that could not be made)."""
        self.notes.append(text)
        print(text, flush=True)


def _json_default(value):
    # NumPy scalars and arrays, pathlib paths.
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def _flag_values():
    """The values of this module's flags and of the running script's."""
    by_module = FLAGS.flags_by_module_dict()
    return {
        flag.name: flag.value
        for module in (__name__, sys.argv[0])
        for flag in by_module.get(module, [])
    }


def main(doc, benchmark):
    """Runs `benchmark(report)` as an absl app and writes the report's JSON file.

    Args:
        doc: the script's docstring; its first paragraph (the question) heads the output.
        benchmark: a function of a `Report`.
    """
    name = pathlib.Path(sys.argv[0]).stem
    question = " ".join(doc.strip().split("\n\n")[0].split())

    def run(argv):
        if len(argv) > 1:
            raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
        import tensorflow as tf

        from tfdistill.atomic import write_text

        # The tables are the output; progress logs (exports, pipeline stages) would bury them.
        logging.set_verbosity(logging.WARNING)
        tf.get_logger().setLevel("WARNING")
        info = machine()
        mode = "quick" if FLAGS.quick else "full"
        print(f"{name} ({mode}): {question}")
        print(_format_machine(info), flush=True)
        if FLAGS.quick:
            print("quick: reduced sizes; the numbers show that the benchmark runs, not results.")
        report = Report(name)
        started = time.perf_counter()
        try:
            benchmark(report)
        # A setting or a folder the run cannot use (a mistyped --set key, an
        # --output_dir made with other settings): one line, as the tfdistill command.
        except (ConfigError, DataError) as error:
            print(quiet.error_line(name, error), file=sys.stderr)
            return quiet.USAGE_ERROR
        elapsed = time.perf_counter() - started
        output = pathlib.Path(FLAGS.output_json or RESULTS_DIR / f"{name}.json")
        document = {
            "benchmark": name,
            "quick": FLAGS.quick,
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "elapsed_seconds": elapsed,
            "machine": info,
            "flags": _flag_values(),
            "results": report.results,
            "notes": report.notes,
        }
        write_text(output, json.dumps(document, indent=2, default=_json_default) + "\n")
        print(f"\n{name} took {elapsed:.0f} s; results written to {output}")

    app.run(run)


def interleaved_times(contenders, repeats, warmup=1):
    """Times zero-argument functions in turn: A, B, C, A, B, C, ...

    On a machine shared with other jobs the speed drifts; taking turns exposes every
    contender to the same drift, and the median ignores the outliers. Each contender
    first runs `warmup` untimed times (tracing, compilation, filling caches).

    Args:
        contenders: a dict from a name to a function that runs to completion (it must
            return only once its results are computed, e.g. as NumPy values).
        repeats: timed runs of each contender.
        warmup: untimed runs of each contender first.

    Returns:
        `{name: {"median_s", "min_s", "times_s"}}`.

    Example:

    >>> times = interleaved_times({"sleep": lambda: time.sleep(0.01)}, repeats=3)
    >>> 0.01 <= times["sleep"]["median_s"] < 0.1
    True
    """
    for function in contenders.values():
        for _ in range(warmup):
            function()
    samples = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, function in contenders.items():
            start = time.perf_counter()
            function()
            samples[name].append(time.perf_counter() - start)
    return {
        name: {
            "median_s": statistics.median(times),
            "min_s": min(times),
            "times_s": times,
        }
        for name, times in samples.items()
    }


def timed(function):
    """Runs `function()` once; returns `(seconds, its result)`."""
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def pick_sizes(report, full, quick):
    """`quick` with --quick, else `full` (a script's sizes, a dataclass), recorded in
    the report."""
    sizes = quick if FLAGS.quick else full
    report.record("sizes", dataclasses.asdict(sizes))
    return sizes


@contextlib.contextmanager
def runs_directory(output_dir, default):
    """Where a benchmark's pipeline runs go: `output_dir` if given; else, with --quick,
    a temporary directory removed afterwards; else `default` (where a full run started
    again continues)."""
    if output_dir or not FLAGS.quick:
        yield pathlib.Path(output_dir or default)
        return
    with tempfile.TemporaryDirectory() as scratch:
        yield pathlib.Path(scratch)


def config_with(config, settings):
    """`config` (a `tfdistill.run.config.RunConfig`) with `{"section.key": value}` set,
    each value checked as a config file's would be.

    Example:

    >>> from tfdistill.run.config import RunConfig
    >>> config_with(RunConfig(), FLOAT32).runtime.student_dtype_policy
    'float32'
    """
    from tfdistill.run.config import RunConfig

    values = config.to_dict()
    for key, value in settings.items():
        *sections, leaf = key.split(".")
        functools.reduce(dict.__getitem__, sections, values)[leaf] = value
    return RunConfig.from_dict(values)


def default_split(split, max_examples=None):
    """`split` of the default data config (the packaged Rotten Tomatoes), as a run
    loads it, cut to its first `max_examples` (the hash splits are in hash order, so
    the first ones are a fair sample).

    Returns:
        A `tfdistill.run.splits.Split` (its texts and labels; `examples` pairs them).

    Example:

    >>> split = default_split("test", 3)
    >>> len(split.texts), split.labels.tolist()
    (3, [0, 1, 1])
    """
    from tfdistill import tasks
    from tfdistill.run.config import DataConfig
    from tfdistill.run.config import RunConfig
    from tfdistill.run.splits import load_split

    task = tasks.get(RunConfig().task)
    split, _ = load_split(DataConfig(max_examples=max_examples), split, task)
    return split


def examples(split):
    """A text-classification split's `(text, label)` pairs as a `tf.data.Dataset`, as
    `tfdistill.data.encode` batches them.

    >>> pairs = examples(default_split("test", 2)).as_numpy_iterator()
    >>> [(text.decode()[:9], int(label)) for text, label in pairs]
    [('Gooding o', 0), ('The story', 1)]
    """
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices((split.texts, split.labels))


def mean_and_std(values):
    """`{"mean": ..., "std": ...}` of `values`; the std is None for a single value."""
    values = list(values)
    return {
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else None,
    }


def plus_minus(summary, scale=1.0, fmt="{:.2f}"):
    """A `mean_and_std` summary as "mean ± std" (just the mean without a std)."""
    mean = fmt.format(scale * summary["mean"])
    if summary["std"] is None:
        return mean
    return f"{mean} ± {fmt.format(scale * summary['std'])}"


def _shared_entries(run_dir):
    """What runs of the same teacher can share: the fine-tuned teachers and the cache."""
    from tfdistill.run.layout import TEACHER
    from tfdistill.run.layout import RunLayout

    layout = RunLayout(run_dir)
    teachers = [layout.teacher(), *sorted(layout.root.glob(f"{TEACHER}_seed_*"))]
    return [path for path in [*teachers, layout.cache] if path.is_dir()]


def copy_shared(source_dir, target_dir):
    """Copies the fine-tuned teachers and cached teacher logits that `target_dir` lacks.

    The pipeline reuses a teacher it finds in its run directory, and finds cached
    logits under the fingerprint of the same weights and texts, so runs that share
    these skip the fine-tuning and the teacher's passes over texts already labelled.
    Cache files are merged one by one (runs add different augmented texts).
    """
    from tfdistill.run.layout import RunLayout

    cache_name = RunLayout(target_dir).cache.name
    for source in _shared_entries(source_dir):
        target = pathlib.Path(target_dir) / source.name
        if source.name != cache_name:
            if not target.exists():
                _copy_whole(shutil.copytree, source, target)
            continue
        target.mkdir(parents=True, exist_ok=True)
        for cached in source.glob("*.npy"):
            if not (target / cached.name).exists():
                _copy_whole(shutil.copy2, cached, target / cached.name)


def _copy_whole(copy, source, target):
    """`copy(source, target)`, atomically: another benchmark process sharing the pool
    never sees half a teacher."""
    from tfdistill.atomic import replace_atomically

    replace_atomically(lambda tmp: copy(source, tmp), target)


def define_set():
    """Defines `--set`, for a script whose runs or builds take config overrides."""
    flags.DEFINE_multi_string(
        "set", [], "Override one config value: --set=section.key=value (repeatable)."
    )


def define_pool_from():
    """Defines `--pool_from`, for a script that shares teachers through a pool."""
    flags.DEFINE_multi_string(
        "pool_from",
        [],
        "Run directories of the same teacher (or their shared/ pools) whose fine-tuned "
        "teachers and cached logits seed the shared pool, so that a new recipe on that "
        "teacher neither fine-tunes it nor labels its texts again.",
    )


def seeded_pool(pool):
    """`pool`, with what the `--pool_from` directories hold that it lacks copied in."""
    for source in FLAGS.pool_from:
        copy_shared(source, pool)
    return pool


def run_seeds(report, config, seeds, output_root, pool):
    """Runs the pipeline on `config` once per seed into `output_root/seed_<seed>`.

    Every run starts with what `pool` (a directory) holds of fine-tuned teachers and
    cached logits, and adds what it made to it: the teachers are fine-tuned once, in
    the first run that needs them (or never, when `pool` starts with them). A
    finished run found again is reused as the pipeline reuses it.

    Returns:
        `{seed: (run_dir, summary)}`.
    """
    from tfdistill.run import config as run_config
    from tfdistill.run import folders
    from tfdistill.run import pipeline
    from tfdistill.run.layout import PARTIAL_SUFFIX

    pool = pathlib.Path(pool)
    teacher_seed = pooled_teacher_seed(pool, seeds[0])
    if teacher_seed != seeds[0]:
        report.note(
            f"Every seed's run reuses the teacher fine-tuned with seed {teacher_seed} in {pool}."
        )
    runs = {}
    for seed in seeds:
        run_dir = output_root / f"seed_{seed}"
        if run_dir.exists():
            report.note(f"Seed {seed}: continuing the run found in {run_dir}.")
        else:
            partial = pathlib.Path(str(run_dir) + PARTIAL_SUFFIX)
            folders.start(partial)
            copy_shared(pool, partial)
        cached_before = _cached_logits(pool)
        # The students' seed varies; the teacher's stays that of the teacher already
        # pooled (else the first run's), so that every run reuses one fine-tuned teacher.
        overrides = [f"seed={seed}", f"teacher.seed={teacher_seed}"]
        seconds, summary = timed(
            lambda: pipeline.run(run_config.override(config, overrides), run_dir)
        )
        new_logits = _cached_logits(run_dir) - cached_before
        report.note(
            f"Seed {seed}: run took {seconds:.0f} s ({run_dir}); the teacher labelled "
            f"{len(new_logits)} set(s) of texts not in the shared cache."
        )
        copy_shared(run_dir, pool)
        runs[seed] = run_dir, summary
    return runs


def pooled_teacher_seed(pool, default):
    """The seed the first teacher in `pool` was fine-tuned with, or `default` when the
    pool holds none: a call for one later seed, or with `--pool_from` another
    recipe's runs, then reuses that teacher instead of refusing it.

    Example:

    >>> import tempfile
    >>> pool = pathlib.Path(tempfile.mkdtemp())
    >>> pooled_teacher_seed(pool, 43)
    43
    >>> (pool / "teacher").mkdir()
    >>> _ = (pool / "teacher" / "stage.json").write_text('{"config": {"seed": 42}}')
    >>> pooled_teacher_seed(pool, 43)
    42
    """
    from tfdistill.run.fingerprints import STAGE_FILE
    from tfdistill.run.layout import TEACHER

    stage = pathlib.Path(pool) / TEACHER / STAGE_FILE
    if not stage.exists():
        return default
    return json.loads(stage.read_text(encoding="utf-8"))["config"]["seed"]


def _cached_logits(run_dir):
    """The names of the cached logit files in `run_dir` (a run or the pool)."""
    from tfdistill.run.layout import RunLayout

    return {path.name for path in RunLayout(run_dir).cache.glob("*.npy")}
