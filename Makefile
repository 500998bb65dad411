# Everything installs into .venv; a second run reinstalls nothing unless pyproject.toml changed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TORCH_PIN := torch==2.14.1 torchvision==0.29.1
export PYTHONUNBUFFERED := 1

.PHONY: venv demo test test-fast bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH_PIN)
	printf '%s\n' $(TORCH_PIN) > $(VENV)/torch-pin.txt
	$(PY) -m pip install --quiet -c $(VENV)/torch-pin.txt -e '.[dev]'
	# torchreid is only an outside oracle for the metric and re-ranking tests (pure Python, no deps)
	$(PY) -m pip install --quiet --no-deps torchreid==0.2.5
	touch $(STAMP)

demo: $(STAMP)
	$(PY) tools/demo.py --config configs/demo.yaml

test: $(STAMP)
	$(PY) -m pytest -q tests

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow" tests

clean:
	rm -rf outputs .pytest_cache
