"""Linux desktop integration: the .desktop file, the hicolor icons, install/uninstall scripts.

Fast and bundle-free: the install scripts run against a fake bundle (a folder with an
executable `restora` shell script) into a temporary HOME.
"""

import configparser
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGING = REPO / "packaging"
DESKTOP = PACKAGING / "restora.desktop"
HICOLOR = REPO / "resources" / "icons" / "hicolor"
SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)
MIME = {"image/png", "image/jpeg", "image/tiff", "image/webp", "image/bmp"}
TOOLS = ("update-desktop-database", "gtk-update-icon-cache", "xdg-mime")

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux") or shutil.which("bash") is None,
                                reason="Linux desktop integration (needs bash)")


def desktop_entry(path: Path) -> dict:
    parser = configparser.ConfigParser(interpolation=None, delimiters=("=",))
    parser.optionxform = str
    parser.read_string(path.read_text(encoding="utf-8"))
    assert parser.sections()[0] == "Desktop Entry"
    return dict(parser["Desktop Entry"])


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_desktop_file_has_the_keys():
    entry = desktop_entry(DESKTOP)
    assert entry["Type"] == "Application"
    assert entry["Name"] == "Restora"
    assert entry["Icon"] == "restora"
    assert entry["Terminal"] == "false"
    assert entry["Exec"].split()[-1] == "%F"
    assert entry["Exec"].split()[0] == "restora"
    assert entry["StartupWMClass"] == "Restora"      # the class Qt derives from setApplicationName
    assert MIME <= set(filter(None, entry["MimeType"].split(";")))
    assert entry["MimeType"].endswith(";") and entry["Categories"].endswith(";")
    assert "Graphics" in entry["Categories"].split(";")


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None, reason="desktop-file-utils not installed")
def test_desktop_file_validates():
    result = subprocess.run(["desktop-file-validate", str(DESKTOP)], capture_output=True, text=True)
    assert result.returncode == 0 and "error" not in result.stdout, result.stdout + result.stderr


@pytest.mark.parametrize("size", SIZES)
def test_icon_sizes(size):
    assert png_size(HICOLOR / f"{size}x{size}" / "apps" / "restora.png") == (size, size)


def test_scalable_icon_is_the_source_svg():
    scalable = HICOLOR / "scalable" / "apps" / "restora.svg"
    assert scalable.read_bytes() == (REPO / "resources" / "icons" / "restora.svg").read_bytes()


# --- install / uninstall --------------------------------------------------------

def tree(root: Path) -> dict:
    """Every path under root with what it is (and a file's bytes), to compare before/after."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if p.is_symlink():
            out[rel] = ("link", os.readlink(p))
        elif p.is_dir():
            out[rel] = ("dir",)
        else:
            out[rel] = ("file", p.read_bytes())
    return out


@pytest.fixture
def fake_bundle(tmp_path):
    bundle = tmp_path / "dist with space" / "restora"
    (bundle / "_internal" / "resources").mkdir(parents=True)
    (bundle / "_internal" / "resources" / "x.txt").write_text("data")
    exe = bundle / "restora"
    exe.write_text('#!/bin/sh\necho "fake restora $*"\n')
    exe.chmod(0o755)
    return bundle


def env_for(home: Path, path: str = None, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")}
    env.update(HOME=str(home), PATH=path or os.environ.get("PATH", "/usr/bin:/bin"), **extra)
    return env


def sh(script: str, *args, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(PACKAGING / script), *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=60)


def path_without_tools(tmp_path: Path) -> str:
    """A PATH with every command of the real one except the registration tools."""
    shadow = tmp_path / "bin-without-tools"
    shadow.mkdir()
    for d in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep):
        if not os.path.isdir(d):
            continue
        for name in os.listdir(d):
            if name not in TOOLS and not (shadow / name).exists():
                (shadow / name).symlink_to(os.path.join(d, name))
    return str(shadow)


@linux_only
@pytest.mark.parametrize("tools", ["with tools", "without tools"])
def test_install_then_uninstall_leaves_nothing(tmp_path, fake_bundle, tools):
    home = tmp_path / "home"
    (home / ".config").mkdir(parents=True)
    # The user's own defaults: uninstall must give them back unchanged.
    (home / ".config" / "mimeapps.list").write_text(
        "[Default Applications]\nimage/jpeg=gimp.desktop\ntext/plain=vim.desktop\n")
    (home / ".config" / "Restora").mkdir()                       # user data that must stay
    (home / ".config" / "Restora" / "trust.json").write_text("{}")
    before = tree(home)
    env = env_for(home, None if tools == "with tools" else path_without_tools(tmp_path))

    result = sh("install-linux.sh", "--set-default", fake_bundle, env=env)
    assert result.returncode == 0, result.stderr
    data = home / ".local" / "share"
    app = data / "restora"
    assert (app / "restora").is_file() and (app / "_internal" / "resources" / "x.txt").is_file()
    launcher = home / ".local" / "bin" / "restora"
    assert launcher.is_symlink() and Path(os.readlink(launcher)) == app / "restora"
    assert subprocess.run([str(launcher), "x.png"], capture_output=True, text=True).stdout == "fake restora x.png\n"
    entry = desktop_entry(data / "applications" / "restora.desktop")
    assert entry["Exec"] == f"{app / 'restora'} %F"
    assert entry["TryExec"] == str(app / "restora")
    for size in SIZES:
        assert (data / "icons" / "hicolor" / f"{size}x{size}" / "apps" / "restora.png").is_file()
    assert (data / "icons" / "hicolor" / "scalable" / "apps" / "restora.svg").is_file()
    if shutil.which("desktop-file-validate"):
        check = subprocess.run(["desktop-file-validate", str(data / "applications" / "restora.desktop")],
                               capture_output=True, text=True)
        assert check.returncode == 0, check.stdout
    if tools == "with tools" and shutil.which("xdg-mime"):
        assert "image/jpeg=restora.desktop" in (home / ".config" / "mimeapps.list").read_text()

    again = sh("install-linux.sh", "--set-default", fake_bundle, env=env)  # a reinstall replaces
    assert again.returncode == 0, again.stderr

    result = subprocess.run(["bash", str(app / "uninstall-linux.sh")], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "left alone" in result.stdout
    assert tree(home) == before


@linux_only
def test_install_escapes_an_odd_exec_path(tmp_path, fake_bundle):
    home = tmp_path / "my home"
    home.mkdir()
    result = sh("install-linux.sh", fake_bundle, env=env_for(home, XDG_DATA_HOME=str(tmp_path / "data $x & 100%")))
    assert result.returncode == 0, result.stderr
    desktop = tmp_path / "data $x & 100%" / "applications" / "restora.desktop"
    assert desktop_entry(desktop)["Exec"] == '"' + str(tmp_path) + '/data \\\\$x & 100%%/restora/restora" %F'
    if shutil.which("desktop-file-validate"):
        check = subprocess.run(["desktop-file-validate", str(desktop)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout


@linux_only
def test_install_refuses_a_missing_bundle(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    result = sh("install-linux.sh", tmp_path / "no-such-bundle", env=env_for(home))
    assert result.returncode == 2
    assert "no Restora bundle" in result.stderr and "make package" in result.stderr
    assert list(home.iterdir()) == []


@linux_only
def test_uninstall_without_install_says_so(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    result = sh("uninstall-linux.sh", env=env_for(home))
    assert result.returncode == 1 and "no Restora install" in result.stderr
    assert list(home.iterdir()) == []


@linux_only
def test_tarball_refuses_a_missing_bundle(tmp_path):
    result = sh("make-tarball.sh", tmp_path / "nothing", env=env_for(tmp_path))
    assert result.returncode == 2 and "no Restora bundle" in result.stderr
