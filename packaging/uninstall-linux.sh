#!/usr/bin/env bash
# Remove a Restora installed by install-linux.sh, for the current user:
#
#   uninstall-linux.sh [--quiet]
#
# It removes exactly the paths listed in $XDG_DATA_HOME/restora/.install-manifest
# (XDG_DATA_HOME defaults to ~/.local/share): the bundle, the ~/.local/bin/restora
# launcher, the menu entry, the icons, the folders install created (only if they are
# empty now), and Restora's default-application entries in mimeapps.list; it refreshes
# the desktop and icon caches. It never touches your data: settings, the models folder
# and trust decisions (~/.config/Restora, ~/.local/share/Restora/models) stay.
#
# Exit codes: 0 removed, 1 nothing installed (no manifest).
set -euo pipefail

quiet=0
for arg in "$@"; do
    case "$arg" in
        --quiet|-q) quiet=1 ;;
        -h|--help) sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "uninstall-linux.sh: unknown argument $arg (see --help)" >&2; exit 2 ;;
    esac
done
say() { [ "$quiet" = 1 ] || echo "$@"; }
have() { command -v "$1" >/dev/null 2>&1; }

data="${XDG_DATA_HOME:-$HOME/.local/share}"
config="${XDG_CONFIG_HOME:-$HOME/.config}"
app="$data/restora"
manifest="$app/.install-manifest"
if [ ! -f "$manifest" ]; then
    echo "uninstall-linux.sh: no Restora install found ($manifest is missing)." >&2
    echo "  If you installed with another XDG_DATA_HOME, run this again with that set." >&2
    exit 1
fi

# mimeapps.list: drop restora.desktop from the lists of the given types (every section);
# where that empties a [Default Applications] entry the user had before, put their value back.
strip_mimeapps() {
    local file="$1"; shift
    [ -f "$file" ] || return 0
    local tmp; tmp="$(mktemp "$file.XXXXXX")"
    TYPES=" $* " RESTORE="$(for r in "${restore[@]}"; do echo "${r/$'\t'/=}"; done)" awk -F= '
        BEGIN { n = split(ENVIRON["RESTORE"], lines, "\n")
                for (i = 1; i <= n; i++) { j = index(lines[i], "="); if (j) prev[substr(lines[i], 1, j - 1)] = substr(lines[i], j + 1) } }
        /^[ \t]*\[/ { d = ($0 ~ /Default Applications/); print; next }
        !/=/ { print; next }
        {
            key = $1; sub(/[ \t]+$/, "", key)
            if (index(ENVIRON["TYPES"], " " key " ") == 0) { print; next }
            value = substr($0, index($0, "=") + 1)
            n = split(value, parts, ";"); out = ""
            for (i = 1; i <= n; i++) if (parts[i] != "" && parts[i] != "restora.desktop") out = out parts[i] ";"
            if (out == "" && d && (key in prev)) out = prev[key]
            if (out != "") print key "=" out
        }' "$file" > "$tmp"
    cat "$tmp" > "$file"; rm -f "$tmp"
}

files=(); trees=(); dirs=(); desktopdb=(); iconcache=(); mimeapps=(); mimetypes=(); restore=()
while IFS=$'\t' read -r kind path extra; do
    case "$kind" in
        ''|'#'*) ;;
        file|link) files+=("$path") ;;
        tree) trees+=("$path") ;;
        dir) dirs+=("$path") ;;
        desktopdb) desktopdb+=("$path"$'\t'"$extra") ;;
        iconcache) iconcache+=("$path"$'\t'"$extra") ;;
        mimeapps) mimeapps+=("$path"$'\t'"$extra") ;;
        mimedefault) mimetypes+=("$path"); [ -z "$extra" ] || restore+=("$path"$'\t'"$extra") ;;
        *) echo "uninstall-linux.sh: warning: unknown manifest line kind '$kind', skipped" >&2 ;;
    esac
done < "$manifest"

# 1. files, links and the bundle's folders (each only inside the paths install recorded)
for f in "${files[@]}"; do
    if [ -L "$f" ] || [ -f "$f" ]; then rm -f "$f"; fi
done
for t in "${trees[@]}"; do
    case "$t" in "$app"/?*) [ -d "$t" ] && rm -rf "$t" ;;
        *) echo "uninstall-linux.sh: warning: $t is outside $app, left alone" >&2 ;; esac
done

# 2. default applications: remove ours; put back a previous default where there was one
for entry in "${mimeapps[@]}"; do
    file="${entry%%$'\t'*}"; created="${entry#*$'\t'}"
    [ "${#mimetypes[@]}" -eq 0 ] || strip_mimeapps "$file" "${mimetypes[@]}"
    # A mimeapps.list that install created and that now holds nothing but section headers.
    if [ "$created" = 1 ] && [ -f "$file" ] && ! grep -q '=' "$file"; then rm -f "$file"; fi
done

# 3. caches: refresh them; remove one that install created if nothing else is left to cache
for entry in "${desktopdb[@]}"; do
    dir="${entry%%$'\t'*}"; created="${entry#*$'\t'}"
    if [ "$created" = 1 ] && [ -z "$(find "$dir" -name '*.desktop' -print -quit 2>/dev/null)" ]; then
        rm -f "$dir/mimeinfo.cache"
    elif [ -d "$dir" ] && have update-desktop-database; then
        update-desktop-database -q "$dir" 2>/dev/null || true
    fi
done
for entry in "${iconcache[@]}"; do
    dir="${entry%%$'\t'*}"; created="${entry#*$'\t'}"
    if [ "$created" = 1 ] && [ -z "$(find "$dir" \( -type f -o -type l \) ! -path "$dir/icon-theme.cache" -print -quit 2>/dev/null)" ]; then
        rm -f "$dir/icon-theme.cache"
    elif [ -d "$dir" ] && have gtk-update-icon-cache; then
        gtk-update-icon-cache -q -f -t "$dir" 2>/dev/null || true
    fi
done

# 4. the manifest, then the folders install created, deepest first, only if empty now
rm -f "$manifest"
while IFS= read -r d; do
    [ -n "$d" ] && [ -d "$d" ] && rmdir "$d" 2>/dev/null || true
done < <(for d in "${dirs[@]}"; do echo "$d"; done | awk '{ print length($0) "\t" $0 }' | sort -rn | cut -f2-)

say "Removed Restora (the bundle in $app, the launcher, the menu entry and the icons)."
say "Your data was left alone: settings and trust decisions in $config/Restora,"
say "  models in ${RESTORA_MODELS_DIR:-$data/Restora/models}. Delete those yourself if you want them gone."
