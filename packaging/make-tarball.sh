#!/usr/bin/env bash
# Make the Linux download: dist/restora-<version>-linux-<arch>.tar.gz
#
#   packaging/make-tarball.sh [BUNDLE_DIR]      (default: dist/restora, from `make package`)
#
# A bundle folder named restora-cpu (`make package-cpu`) gives ...-linux-<arch>-cpu.tar.gz.
#
# It holds one folder, restora-<version>/, with the bundle (restora/), install-linux.sh,
# uninstall-linux.sh, restora.desktop, icons/hicolor/ and INSTALL.txt. Exit 2 if the bundle
# is missing.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
bundle="${1:-$root/dist/restora}"
if [ ! -d "$bundle" ] || [ ! -x "$bundle/restora" ]; then
    echo "make-tarball.sh: error: no Restora bundle at '$bundle'; build it with 'make package'" >&2
    exit 2
fi
bundle="$(cd "$bundle" && pwd)"
version="$(sed -n 's/^__version__ = "\(.*\)"/\1/p' "$root/restora/__init__.py")"
[ -n "$version" ] || { echo "make-tarball.sh: error: no __version__ in restora/__init__.py" >&2; exit 2; }
arch="$(uname -m)"
name="restora-$version"
flavour=""; [ "$(basename "$bundle")" = restora-cpu ] && flavour=-cpu
out="$root/dist/$name-linux-$arch$flavour.tar.gz"
mkdir -p "$root/dist"
stage="$(mktemp -d "$root/dist/.tarball.XXXXXX")"
trap 'rm -rf "$stage"' EXIT
mkdir "$stage/$name"
# Hard links where the bundle is on the same file system (a 4 GB bundle is not copied).
cp -al "$bundle" "$stage/$name/restora" 2>/dev/null || { rm -rf "$stage/$name/restora"; cp -a "$bundle" "$stage/$name/restora"; }
install -m 755 "$here/install-linux.sh" "$here/uninstall-linux.sh" "$stage/$name/"
install -m 644 "$here/restora.desktop" "$stage/$name/"
mkdir "$stage/$name/icons"
cp -a "$root/resources/icons/hicolor" "$stage/$name/icons/"
cat > "$stage/$name/INSTALL.txt" <<TXT
Restora $version for Linux ($arch)

Install for your user (no root needed):
    ./install-linux.sh
This puts Restora in ~/.local/share/restora, the 'restora' command in ~/.local/bin,
and Restora in your applications menu and in "Open With" for PNG, JPEG, TIFF, WebP
and BMP images. Add --set-default to make it the default for those types.

Uninstall:
    ~/.local/share/restora/uninstall-linux.sh
Your settings and models (~/.config/Restora, ~/.local/share/Restora) are kept.

Run without installing:
    ./restora/restora [photo ...]       (the window)
    ./restora/restora --help            (the command line)
    ./restora/restora --self-test       (checks the install; no window needed)

The window needs Qt's X11 libraries; on Debian/Ubuntu:
    sudo apt install libxcb-cursor0 libxkbcommon-x11-0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0
TXT
compress=(-z); if command -v pigz >/dev/null 2>&1; then compress=(-I pigz); fi
tar "${compress[@]}" --owner=0 --group=0 --numeric-owner -cf "$out.part" -C "$stage" "$name"
mv "$out.part" "$out"
echo "$out ($(du -h "$out" | cut -f1))"
