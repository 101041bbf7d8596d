#!/usr/bin/env bash
# Install Restora for the current user: a venv under ~/.local/share/restora-app,
# the `restora` command in ~/.local/bin, and a desktop menu entry with its icon.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
app="${XDG_DATA_HOME:-$HOME/.local/share}/restora-app"
python3 -m venv "$app"
"$app/bin/pip" install --upgrade pip
# Editable: the built-in weights in resources/ stay beside the package.
"$app/bin/pip" install -e "$here"
mkdir -p "$HOME/.local/bin" "${XDG_DATA_HOME:-$HOME/.local/share}/applications" \
         "${XDG_DATA_HOME:-$HOME/.local/share}/icons/hicolor/scalable/apps"
ln -sf "$app/bin/restora" "$HOME/.local/bin/restora"
install -m 644 "$here/packaging/restora.desktop" "${XDG_DATA_HOME:-$HOME/.local/share}/applications/"
install -m 644 "$here/resources/icons/restora.svg" \
        "${XDG_DATA_HOME:-$HOME/.local/share}/icons/hicolor/scalable/apps/restora.svg"
echo "Installed. Run 'restora' or find Restora in your applications menu."
