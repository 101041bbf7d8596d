# Two commands on a fresh clone: `make run` and `make test`.
# Both create .venv when it is missing and (re)install when pyproject.toml changes.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test bench install clean package package-cuda package-cpu

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/restora

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest

bench: $(STAMP)
	$(PY) benchmarks/engine_speed.py

# One-folder bundle (PyInstaller, packaging/restora.spec), in two flavours chosen explicitly:
#   make package  (= FLAVOUR=cuda)   dist/restora/      from .venv, PyPI's torch (CUDA)
#   make package FLAVOUR=cpu  (= make package-cpu)   dist/restora-cpu/  from .venv-cpu,
#       torch==2.13.0+cpu with the torchvision release made for it (see packaging/README.md).
# PyInstaller is installed here only, so `make test` never needs it. CPU_PIP_ARGS reaches
# pip for the CPU venv (e.g. an --extra-index-url that serves torchvision==0.28.0+cpu).
FLAVOUR   ?= cuda
CPU_VENV  := .venv-cpu
CPU_PY    := $(CPU_VENV)/bin/python
CPU_STAMP := $(CPU_VENV)/.installed
CPU_TORCH := torch==2.13.0+cpu torchvision==0.28.0
CPU_PIP_ARGS ?=

package: package-$(FLAVOUR)

package-cuda: $(STAMP)
	$(PY) -m pip install 'pyinstaller>=6.10'
	FLAVOUR=cuda packaging/build.sh $(PY)

$(CPU_STAMP): pyproject.toml
	test -x $(CPU_PY) || $(PYTHON) -m venv $(CPU_VENV)
	$(CPU_PY) -m pip install $(CPU_PIP_ARGS) $(CPU_TORCH) -e . 'pyinstaller>=6.10'
	$(CPU_PY) -c 'import torch, sys; sys.exit(torch.version.cuda is not None)' || { echo "$(CPU_VENV) has a CUDA torch" >&2; exit 1; }
	touch $(CPU_STAMP)

package-cpu: $(CPU_STAMP)
	FLAVOUR=cpu packaging/build.sh $(CPU_PY)

clean:
	rm -rf $(VENV) $(CPU_VENV) build *.egg-info
