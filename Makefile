# Everything installs into .venv; a second run reinstalls nothing unless pyproject.toml changed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TORCH_PIN := torch==2.14.1 torchvision==0.29.1
export PYTHONUNBUFFERED := 1

.PHONY: venv peer boxmot demo test test-fast test-avx2 bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH_PIN)
	printf '%s\n' $(TORCH_PIN) > $(VENV)/torch-pin.txt
	# one cv2 only: remove the builds an older pyproject (or another package) installed before the
	# contrib build goes in (uninstalling one after the other would delete the shared cv2/ files)
	$(PY) -m pip uninstall --quiet --yes opencv-python opencv-python-headless
	$(PY) -m pip install --quiet -c $(VENV)/torch-pin.txt -e '.[dev]'
	# ByteTrack for data_prep/track_video.py; --no-deps because it declares opencv-python (its real
	# runtime deps are in pyproject.toml)
	$(PY) -m pip install --quiet --no-deps trackers==2.6.1
	# torchreid is only an outside oracle for the metric and re-ranking tests (pure Python, no deps)
	$(PY) -m pip install --quiet --no-deps torchreid==0.2.5
	touch $(STAMP)

# torchreid 0.2.5's video pipeline in a virtualenv of its own, for tools/compare_peer.py.
# Same torch as .venv, installed first and pinned by a constraints file so no dependency swaps it.
PEER_VENV := .peer-venv
PEER_PY := $(PEER_VENV)/bin/python
PEER_STAMP := $(PEER_VENV)/.installed
# What torchreid.engine.VideoTripletEngine, torchreid.data.VideoDataManager and
# torchreid.models.build_model import and run with (torchreid 0.2.5 itself declares none):
# scipy (mars .mat files), opencv (utils.reidtools), gdown (imported by a dataset module),
# tensorboard (the engine's SummaryWriter), numpy and pillow.
PEER_DEPS := torchreid==0.2.5 numpy==2.4.6 pillow==13.0.0 scipy==1.17.1 opencv-python-headless==5.1.0.95 \
	gdown==6.5.1 tensorboard==2.21.0

peer: $(PEER_STAMP)

$(PEER_STAMP): Makefile
	test -x $(PEER_PY) || $(PYTHON) -m venv $(PEER_VENV)
	$(PEER_PY) -m pip install --quiet --upgrade pip
	$(PEER_PY) -m pip install --quiet $(TORCH_PIN)
	printf '%s\n' $(TORCH_PIN) > $(PEER_VENV)/torch-pin.txt
	$(PEER_PY) -m pip install --quiet -c $(PEER_VENV)/torch-pin.txt $(PEER_DEPS)
	touch $(PEER_STAMP)

# BoxMOT 25.0.0 (AGPL-3.0, never a dependency of this package) in a virtualenv of its own, the real
# client of `tools/export.py --image`: tools/peer/boxmot_reid_check.py runs there. Same torch as
# .venv, pinned by a constraints file. onnxruntime is pinned to the exact version BoxMOT's ONNX
# backend asks for: with any other version installed it pip-installs that one at run time.
BOXMOT_VENV := .boxmot-venv
BOXMOT_PY := $(BOXMOT_VENV)/bin/python
BOXMOT_STAMP := $(BOXMOT_VENV)/.installed
BOXMOT_DEPS := boxmot==25.0.0 onnxruntime==1.24.3

boxmot: $(BOXMOT_STAMP)

$(BOXMOT_STAMP): Makefile
	test -x $(BOXMOT_PY) || $(PYTHON) -m venv $(BOXMOT_VENV)
	$(BOXMOT_PY) -m pip install --quiet --upgrade pip
	$(BOXMOT_PY) -m pip install --quiet $(TORCH_PIN)
	printf '%s\n' $(TORCH_PIN) > $(BOXMOT_VENV)/torch-pin.txt
	$(BOXMOT_PY) -m pip install --quiet -c $(BOXMOT_VENV)/torch-pin.txt $(BOXMOT_DEPS)
	touch $(BOXMOT_STAMP)

demo: $(STAMP)
	$(PY) tools/demo.py --config configs/demo.yaml

test: $(STAMP)
	$(PY) -m pytest -q tests

# The suite with the kernels of an AVX2-only CPU (such as the AMD EPYC machines CI can land on) on a
# newer one: torch's own kernels, oneDNN and MKL capped at AVX2, so a test that depends on how one
# CPU rounds shows up before CI meets it.
AVX2_CAPS := ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2

test-avx2: $(STAMP)
	$(AVX2_CAPS) $(PY) -m pytest -q tests

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow" tests

clean:
	rm -rf outputs .pytest_cache
