#!/usr/bin/env bash
# Build the one-folder bundle dist/restora/ from packaging/restora.spec with PyInstaller.
# Usage: packaging/build.sh [PYTHON]   (default: .venv/bin/python; PyInstaller must be installed in it)
# PYI_CLEAN=0 keeps PyInstaller's cache from the last build (faster rebuilds).
# Prints the build's wall time and the bundle's size (and its biggest parts) at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${1:-${PY:-.venv/bin/python}}"
"$PY" -c 'import PyInstaller' 2>/dev/null || { echo "PyInstaller is not installed in $PY (make package installs it)" >&2; exit 1; }
start=$(date +%s)
clean=--clean; [ "${PYI_CLEAN:-1}" = 0 ] && clean=   # PYI_CLEAN=0: reuse build/pyinstaller
"$PY" -m PyInstaller --noconfirm $clean --log-level "${PYI_LOG_LEVEL:-WARN}" \
    --distpath dist --workpath build/pyinstaller packaging/restora.spec
end=$(date +%s)
bundle=dist/restora
test -x "$bundle/restora" || { echo "build finished but $bundle/restora is missing" >&2; exit 1; }
echo "built $bundle in $((end - start)) s"
du -sh "$bundle"
echo "biggest parts:"
du -sh "$bundle"/_internal/* 2>/dev/null | sort -rh | head -12
