#!/usr/bin/env bash
# Build the one-folder bundle from packaging/restora.spec with PyInstaller.
# Usage: [FLAVOUR=cuda|cpu] packaging/build.sh [PYTHON]
#   cuda (default): dist/restora/, with PYTHON defaulting to .venv/bin/python (PyPI's torch);
#   cpu: dist/restora-cpu/, with PYTHON defaulting to .venv-cpu/bin/python (torch==2.13.0+cpu;
#        `make package-cpu` makes that venv). PyInstaller must be installed in PYTHON.
# PYI_CLEAN=0 keeps PyInstaller's cache from the last build (faster rebuilds).
# Prints the build's wall time and the bundle's size (and its biggest parts) at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
FLAVOUR="${FLAVOUR:-cuda}"
case "$FLAVOUR" in
    cuda) venv=.venv; bundle=dist/restora ;;
    cpu)  venv=.venv-cpu; bundle=dist/restora-cpu ;;
    *) echo "FLAVOUR=$FLAVOUR: choose cuda or cpu" >&2; exit 2 ;;
esac
PY="${1:-${PY:-$venv/bin/python}}"
"$PY" -c 'import PyInstaller' 2>/dev/null || { echo "PyInstaller is not installed in $PY (make package installs it)" >&2; exit 1; }
start=$(date +%s)
clean=--clean; [ "${PYI_CLEAN:-1}" = 0 ] && clean=   # PYI_CLEAN=0: reuse build/pyinstaller-<flavour>
RESTORA_FLAVOUR="$FLAVOUR" "$PY" -m PyInstaller --noconfirm $clean --log-level "${PYI_LOG_LEVEL:-WARN}" \
    --distpath dist --workpath "build/pyinstaller-$FLAVOUR" packaging/restora.spec
end=$(date +%s)
test -x "$bundle/restora" || { echo "build finished but $bundle/restora is missing" >&2; exit 1; }
echo "built $bundle ($FLAVOUR) in $((end - start)) s"
du -sh "$bundle"
echo "biggest parts:"
du -sh "$bundle"/_internal/* 2>/dev/null | sort -rh | head -12
