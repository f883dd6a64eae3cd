"""The README's Keras example runs as written, on a 64-example slice of each split."""

import pathlib
import re

import keras
import pytest

from tfdistill import data

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def readme_example():
    text = README.read_text(encoding="utf-8")
    section = text.split("## In a Keras script", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)


@pytest.mark.slow
def test_readme_keras_example_runs(monkeypatch, tmp_path):
    load = data.load

    def first_64(*args, **kwargs):
        dataset, info = load(*args, **kwargs)
        return dataset.take(64), info

    monkeypatch.setattr(data, "load", first_64)
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(readme_example(), str(README), "exec"), namespace)
    student = keras.models.load_model(tmp_path / "student.keras")
    assert student.count_params() == namespace["student"].num_params
    assert namespace["teacher"].trainable is False
