"""packaging/restora.spec: what the PyInstaller bundle is made of, checked without building it.

The spec is run here with stand-ins for PyInstaller's names (Analysis, PYZ, EXE, COLLECT and
the hook helpers), so `make test` needs no PyInstaller and takes well under a second; what
the spec hands to Analysis is then checked: every built-in model and its model card, the
icons, qtawesome's fonts, torchvision's ops library (the "operator torchvision::nms does
not exist" trap), triton excluded, nothing from ../shared.

The real bundle (`make package`, minutes and gigabytes) is checked only when it has been
built: its --self-test then runs from dist/restora with a bare environment.
"""
from __future__ import annotations

import ast
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SPEC = REPO / "packaging" / "restora.spec"
BUNDLE_EXE = REPO / "dist" / "restora" / "restora"
SHARED = (REPO.parent / "shared").resolve()


class _Recorder:
    """Stands in for one of PyInstaller's build targets: keeps its arguments."""

    made: dict = {}

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs
        _Recorder.made[type(self).__name__] = self
        self.pure, self.scripts, self.binaries, self.datas = [], [], [], []


def _run_spec(monkeypatch) -> dict:
    """Execute the spec with stand-ins; return the recorded targets by name."""
    import importlib.util

    tv_dir = str(Path(importlib.util.find_spec("torchvision").origin).parent)   # found, not imported
    hooks = types.ModuleType("PyInstaller.utils.hooks")
    hooks.collect_data_files = lambda package, *a, **k: [(f"<{package} data>", package)]
    hooks.collect_submodules = lambda package, *a, **k: [f"{package}.<all>"]
    hooks.get_package_paths = lambda package: (str(Path(tv_dir).parent), tv_dir)
    for name in ("PyInstaller", "PyInstaller.utils"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "PyInstaller.utils.hooks", hooks)
    _Recorder.made = {}
    targets = {name: type(name, (_Recorder,), {}) for name in ("Analysis", "PYZ", "EXE", "COLLECT")}
    namespace = {"SPECPATH": str(SPEC.parent), "__file__": str(SPEC), **targets}
    exec(compile(SPEC.read_text(encoding="utf-8"), str(SPEC), "exec"), namespace)
    assert set(_Recorder.made) == {"Analysis", "PYZ", "EXE", "COLLECT"}, _Recorder.made
    return dict(_Recorder.made, namespace=namespace)


def test_spec_parses_as_python():
    ast.parse(SPEC.read_text(encoding="utf-8"), filename=str(SPEC))


def test_spec_bundles_every_builtin_model_its_card_and_the_icons(monkeypatch):
    analysis = _run_spec(monkeypatch)["Analysis"]
    datas = {(Path(src).resolve(), dest) for src, dest in analysis.kwargs["datas"] if not src.startswith("<")}
    models = sorted((REPO / "resources" / "models").glob("*.safetensors"))
    assert models, "no built-in weights in resources/models"
    for model in models:
        assert (model.resolve(), "resources/models") in datas, model
        card = model.with_suffix(".md")
        assert card.exists(), f"{model.name} has no model card"
        assert (card.resolve(), "resources/models") in datas, card
    for icon in (REPO / "resources" / "icons").glob("*.svg"):
        assert (icon.resolve(), "resources/icons") in datas, icon
    # the window's icons are qtawesome font glyphs: its data (the fonts) must come along
    assert ("<qtawesome data>", "qtawesome") in analysis.kwargs["datas"]


def test_spec_collects_torchvision_ops_library(monkeypatch):
    analysis = _run_spec(monkeypatch)["Analysis"]
    libs = [(Path(src), dest) for src, dest in analysis.kwargs["binaries"]]
    ops = [src for src, dest in libs if src.name.startswith(("_C.", "_C_stable.")) and dest == "torchvision"]
    assert ops, f"torchvision's _C / _C_stable library is not collected into torchvision/: {libs}"
    assert all(src.exists() for src in ops)


def test_spec_excludes_triton_and_unused_qt(monkeypatch):
    excludes = set(_run_spec(monkeypatch)["Analysis"].kwargs["excludes"])
    assert "triton" in excludes
    assert "PySide6.QtWebEngineCore" in excludes
    assert not excludes & {"torch", "torchvision", "cv2", "PySide6", "PySide6.QtCore", "PySide6.QtGui",
                           "PySide6.QtWidgets", "spandrel", "qtawesome", "numpy", "safetensors"}


def test_spec_takes_nothing_from_shared(monkeypatch):
    analysis = _run_spec(monkeypatch)["Analysis"]
    sources = [src for src, _ in analysis.kwargs["datas"] + analysis.kwargs["binaries"] if not src.startswith("<")]
    sources += list(analysis.kwargs.get("pathex", []))
    for src in sources:
        assert not Path(src).resolve().is_relative_to(SHARED), src


def test_spec_builds_one_folder_named_restora(monkeypatch):
    made = _run_spec(monkeypatch)
    assert made["EXE"].kwargs["name"] == "restora"
    assert made["EXE"].kwargs["exclude_binaries"] is True      # one folder, not one file
    assert made["COLLECT"].kwargs["name"] == "restora"
    entry = Path(made["Analysis"].args[0][0])
    assert entry.exists(), entry


def test_builtin_resources_are_found_in_a_bundle(monkeypatch, tmp_path):
    """builtin.py looks under sys._MEIPASS/resources/models, where the spec puts them."""
    from restora.engine.models import builtin

    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert builtin._resources() == tmp_path / "resources" / "models"
    monkeypatch.delattr(sys, "_MEIPASS")
    assert builtin._resources() == REPO / "resources" / "models"


@pytest.mark.skipif(not BUNDLE_EXE.exists(), reason="no bundle: run `make package` first")
def test_bundle_self_test_passes_in_a_bare_environment(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([str(BUNDLE_EXE), "--self-test"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    lines = done.stdout.splitlines()
    assert done.returncode == 0, done.stdout + done.stderr
    assert lines and all(line.startswith("ok") for line in lines), done.stdout + done.stderr
    assert "builtin model restora-denoise loads and runs" in done.stdout
    assert "the window can be created and closed" in done.stdout
    version = subprocess.run([str(BUNDLE_EXE), "--version"], env=env, capture_output=True, text=True, timeout=120)
    assert version.returncode == 0 and version.stdout.strip(), version.stdout + version.stderr


def test_spec_ships_selftest_source_and_its_runtime_hooks(monkeypatch):
    """--self-test's TorchScript check needs restora/selftest.py's source in the bundle, and
    every runtime hook the spec names must exist (PyInstaller would stop on a missing one)."""
    analysis = _run_spec(monkeypatch)["Analysis"]
    assert analysis.kwargs["module_collection_mode"].get("restora.selftest") == "pyz+py"
    for hook in analysis.kwargs.get("runtime_hooks", []):
        assert Path(hook).is_file(), hook
        ast.parse(Path(hook).read_text(encoding="utf-8"), filename=hook)
