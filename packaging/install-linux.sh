#!/usr/bin/env bash
# Install a built Restora bundle for the current user (no root, no sudo):
#
#   packaging/install-linux.sh [--set-default] [BUNDLE_DIR]
#
# BUNDLE_DIR is the PyInstaller one-folder bundle (the folder holding the `restora`
# executable). Default: ./restora beside this script (the unpacked download), else
# dist/restora in the source tree.
#
# What it puts where (XDG_DATA_HOME defaults to ~/.local/share):
#   $XDG_DATA_HOME/restora/                       the bundle, uninstall-linux.sh, .install-manifest
#   ~/.local/bin/restora                          a symlink to the bundle's executable
#   $XDG_DATA_HOME/applications/restora.desktop   the menu entry, Exec = the installed executable
#   $XDG_DATA_HOME/icons/hicolor/*/apps/restora.* the icon in every size
# then, only where the tools exist: update-desktop-database, gtk-update-icon-cache and
# xdg-mime default (Restora becomes the default for an image type only where that type has
# no default yet, or for all of them with --set-default).
#
# Every path it creates is written to $XDG_DATA_HOME/restora/.install-manifest;
# uninstall-linux.sh removes exactly those. Installing again replaces the previous install.
#
# Exit codes: 0 installed, 2 bundle missing / bad arguments, 3 would overwrite something
# that is not ours.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
set_default=0
bundle=""
for arg in "$@"; do
    case "$arg" in
        --set-default) set_default=1 ;;
        -h|--help) sed -n '2,23p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "install-linux.sh: unknown option $arg (see --help)" >&2; exit 2 ;;
        *) [ -z "$bundle" ] || { echo "install-linux.sh: only one BUNDLE_DIR, please" >&2; exit 2; }
           bundle="$arg" ;;
    esac
done
if [ -z "$bundle" ]; then
    if [ -d "$here/restora" ] && [ -x "$here/restora/restora" ]; then bundle="$here/restora"
    else bundle="$here/../dist/restora"; fi
fi
if [ ! -d "$bundle" ] || [ ! -f "$bundle/restora" ] || [ ! -x "$bundle/restora" ]; then
    echo "install-linux.sh: error: no Restora bundle at '$bundle' (expected a folder with an" >&2
    echo "  executable 'restora' in it). Build one with 'make package', or pass the bundle folder:" >&2
    echo "  install-linux.sh path/to/restora" >&2
    exit 2
fi
bundle="$(cd "$bundle" && pwd)"

# The files to install: beside this script in the download, or in the source tree.
desktop_src="$here/restora.desktop"
icons_src=""
for d in "$here/icons/hicolor" "$here/../resources/icons/hicolor" \
         "$bundle/_internal/resources/icons/hicolor" "$bundle/resources/icons/hicolor"; do
    if [ -d "$d" ]; then icons_src="$(cd "$d" && pwd)"; break; fi
done
[ -f "$desktop_src" ] || { echo "install-linux.sh: error: $desktop_src is missing" >&2; exit 2; }
[ -n "$icons_src" ] || { echo "install-linux.sh: error: no icons (icons/hicolor) beside this script" >&2; exit 2; }

data="${XDG_DATA_HOME:-$HOME/.local/share}"
config="${XDG_CONFIG_HOME:-$HOME/.config}"
app="$data/restora"
bindir="$HOME/.local/bin"
apps="$data/applications"
icons="$data/icons/hicolor"
manifest="$app/.install-manifest"
mimetypes=(image/png image/jpeg image/tiff image/webp image/bmp)
have() { command -v "$1" >/dev/null 2>&1; }

case "$app$bindir" in *$'\n'*|*$'\t'*)
    echo "install-linux.sh: error: install paths with tabs or newlines are not supported" >&2; exit 2 ;;
esac

# A previous install of ours: remove it first (it leaves user data alone).
if [ -f "$manifest" ]; then
    echo "Replacing the Restora installed in $app"
    bash "$app/uninstall-linux.sh" --quiet || bash "$here/uninstall-linux.sh" --quiet
fi
if [ -e "$app" ] && [ -n "$(ls -A "$app" 2>/dev/null)" ]; then
    echo "install-linux.sh: error: $app exists and was not made by this script; move it away first" >&2
    exit 3
fi
if [ -e "$bindir/restora" ] && [ ! -L "$bindir/restora" ]; then
    echo "install-linux.sh: error: $bindir/restora exists and is not a symlink; move it away first" >&2
    exit 3
fi
for f in "$apps/restora.desktop"; do
    if [ -e "$f" ]; then
        echo "install-linux.sh: error: $f exists (another Restora install?); remove it first" >&2
        exit 3
    fi
done

# mkdir -p that records each folder it creates (so uninstall can remove it again if empty).
created_dirs=()
mkdirs() {
    local d="$1" missing=()
    while [ ! -d "$d" ]; do missing=("$d" "${missing[@]}"); d="$(dirname "$d")"; done
    for d in "${missing[@]}"; do mkdir "$d"; created_dirs+=("$d"); done
}
entries=()
record() { entries+=("$(printf '%s\t%s' "$1" "$2")"); }

# The defaults before our .desktop file exists (after, xdg-mime would report it as one).
declare -A defaults_before=()
if have xdg-mime; then
    for t in "${mimetypes[@]}"; do defaults_before[$t]="$(xdg-mime query default "$t" 2>/dev/null || true)"; done
fi

# 1. the bundle
mkdirs "$app"
staging="$(mktemp -d "$data/.restora-install.XXXXXX")"
trap 'rm -rf "$staging"' EXIT
cp -a "$bundle/." "$staging/"
for entry in "$staging"/* "$staging"/.[!.]*; do
    [ -e "$entry" ] || [ -L "$entry" ] || continue
    name="$(basename "$entry")"
    mv "$entry" "$app/$name"
    if [ -d "$app/$name" ] && [ ! -L "$app/$name" ]; then record tree "$app/$name"; else record file "$app/$name"; fi
done
rmdir "$staging"; trap - EXIT
install -m 755 "$here/uninstall-linux.sh" "$app/uninstall-linux.sh"
record file "$app/uninstall-linux.sh"
exe="$app/restora"

# 2. the launcher
mkdirs "$bindir"
ln -sfn "$exe" "$bindir/restora"
record link "$bindir/restora"

# 3. the menu entry, pointing at the installed executable
#    (Desktop Entry spec: quote the path if needed, escape " ` $ \ inside quotes, % as %%,
#    then escape backslashes once more for the string value).
bs='\' dq='"' bq='`' dl='$'    # quoted replacements are taken literally (bash 5.2's patsub_replacement)
exec_path="$exe"
case "$exe" in
    *[!A-Za-z0-9/._+-]*)
        q="$exe"; q="${q//"$bs"/"$bs$bs"}"; q="${q//"$dq"/"$bs$dq"}"; q="${q//"$bq"/"$bs$bq"}"
        q="${q//"$dl"/"$bs$dl"}"; exec_path="$dq$q$dq" ;;
esac
exec_path="${exec_path//%/%%}"
exec_path="${exec_path//"$bs"/"$bs$bs"}"
tryexec="${exe//"$bs"/"$bs$bs"}"
mkdirs "$apps"
EXEC_PATH="$exec_path" TRYEXEC="$tryexec" awk '
    /^Exec=restora( |$)/ { print "Exec=" ENVIRON["EXEC_PATH"] substr($0, 13); next }   # no sub(): & and \ stay
    /^TryExec=/ { print "TryExec=" ENVIRON["TRYEXEC"]; next }
    { print }' "$desktop_src" > "$apps/restora.desktop"
chmod 644 "$apps/restora.desktop"
record file "$apps/restora.desktop"

# 4. the icons
for src in "$icons_src"/*/apps/restora.png "$icons_src"/*/apps/restora.svg; do
    [ -f "$src" ] || continue
    size="$(basename "$(dirname "$(dirname "$src")")")"
    mkdirs "$icons/$size/apps"
    install -m 644 "$src" "$icons/$size/apps/$(basename "$src")"
    record file "$icons/$size/apps/$(basename "$src")"
done

# 5. registration, only with the tools that exist
if have update-desktop-database; then
    created=0; [ -e "$apps/mimeinfo.cache" ] || created=1
    update-desktop-database -q "$apps" 2>/dev/null || true
    record desktopdb "$apps"$'\t'"$created"
fi
if have gtk-update-icon-cache; then
    created=0; [ -e "$icons/icon-theme.cache" ] || created=1
    gtk-update-icon-cache -q -f -t "$icons" 2>/dev/null || true
    record iconcache "$icons"$'\t'"$created"
fi
if have xdg-mime; then
    created=0; [ -e "$config/mimeapps.list" ] || created=1
    [ -d "$config" ] || mkdirs "$config"
    record mimeapps "$config/mimeapps.list"$'\t'"$created"
    for t in "${mimetypes[@]}"; do
        current="${defaults_before[$t]:-}"
        if [ "$set_default" = 1 ] || [ -z "$current" ]; then
            # Put back on uninstall only a default the user chose (a line in their mimeapps.list);
            # a system default comes back by itself once our line is gone.
            prev=""
            if [ -f "$config/mimeapps.list" ]; then
                prev="$(T="$t" awk -F= '/^[ \t]*\[/ { d = ($0 ~ /Default Applications/) }
                    d && $1 == ENVIRON["T"] { print substr($0, index($0, "=") + 1); exit }' "$config/mimeapps.list")"
            fi
            if xdg-mime default restora.desktop "$t" 2>/dev/null; then
                record mimedefault "$t"$'\t'"$prev"
            fi
        fi
    done
fi

# 6. the manifest (created folders last, so uninstall finds them after their contents)
{
    echo "# Restora install manifest: uninstall-linux.sh removes exactly these. Do not edit."
    for e in "${entries[@]}"; do echo "$e"; done
    for d in "${created_dirs[@]}"; do printf 'dir\t%s\n' "$d"; done
} > "$manifest"

echo "Installed Restora into $app"
echo "  command:    $bindir/restora"
case ":$PATH:" in *":$bindir:"*) ;; *) echo "              ($bindir is not on your PATH; add it, or run the full path)" ;; esac
echo "  menu entry: $apps/restora.desktop (opens PNG, JPEG, TIFF, WebP and BMP images)"
echo "  uninstall:  $app/uninstall-linux.sh"
echo "Note: the window needs Qt's X11 libraries (on Debian/Ubuntu: sudo apt install libxcb-cursor0"
echo "  libxkbcommon-x11-0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0) or a Wayland session."
