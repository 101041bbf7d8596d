# Two commands on a fresh clone: `make run` and `make test`.
# Both create .venv when it is missing and (re)install when pyproject.toml changes.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test bench install clean package

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

# One-folder bundle dist/restora/ (PyInstaller, packaging/restora.spec). PyInstaller is
# installed here only, so `make test` never needs it.
package: $(STAMP)
	$(PY) -m pip install 'pyinstaller>=6.10'
	packaging/build.sh $(PY)

clean:
	rm -rf $(VENV) build *.egg-info
