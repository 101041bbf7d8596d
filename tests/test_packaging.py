"""packaging/restora.spec: what the PyInstaller bundle is made of, checked without building it.

The spec is run here with stand-ins for PyInstaller's names (Analysis, PYZ, EXE, COLLECT and
the hook helpers), so `make test` needs no PyInstaller and takes well under a second; what
the spec hands to Analysis is then checked: every built-in model and its model card, the
icons, qtawesome's fonts, torchvision's ops library (the "operator torchvision::nms does
not exist" trap), triton excluded, nothing from ../shared.

The cpu flavour's switch (RESTORA_FLAVOUR=cpu: dist/restora-cpu, torchvision's ops library
left out when it cannot load against the CPU torch, and the runtime hook that lets torchvision
import without it) is checked the same way, with the venv's torch version and the ops-library
probe stood in for.

The real bundles (`make package`, `make package-cpu`: minutes and gigabytes) are checked only
when they have been built: their --self-test then runs with a bare environment.
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
BUNDLE_EXES = [BUNDLE_EXE, REPO / "dist" / "restora-cpu" / "restora"]
CPU_HOOK = REPO / "packaging" / "hooks" / "rthook_torchvision_cpu.py"
SHARED = (REPO.parent / "shared").resolve()


class _Recorder:
    """Stands in for one of PyInstaller's build targets: keeps its arguments."""

    made: dict = {}

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs
        _Recorder.made[type(self).__name__] = self
        self.pure, self.scripts, self.binaries, self.datas = [], [], [], []


def _run_spec(monkeypatch, flavour: str | None = None) -> dict:
    """Execute the spec with stand-ins; return the recorded targets by name."""
    import importlib.util

    if flavour is None:
        monkeypatch.delenv("RESTORA_FLAVOUR", raising=False)
    else:
        monkeypatch.setenv("RESTORA_FLAVOUR", flavour)

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


def _cpu_venv(monkeypatch, torch_version: str, ops_load: bool) -> list:
    """Stand in for the venv the cpu flavour is built from: its torch version, and whether
    torchvision's ops library loads against that torch (the spec asks a child process)."""
    import importlib.metadata

    real_version = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version",
                        lambda name: torch_version if name == "torch" else real_version(name))
    probes = []

    def fake_run(cmd, *args, **kwargs):
        probes.append(cmd)
        return subprocess.CompletedProcess(cmd, 0 if ops_load else 1, b"", b"")

    monkeypatch.setattr(subprocess, "run", fake_run)
    return probes


def _torchvision_ops(analysis) -> list:
    return [Path(src).name for src, dest in analysis.kwargs["binaries"] if dest == "torchvision"
            and Path(src).name.startswith(("_C.", "_C_stable."))]


def test_spec_cpu_flavour_with_pypi_torchvision_leaves_its_cuda_ops_out(monkeypatch):
    probes = _cpu_venv(monkeypatch, "2.13.0+cpu", ops_load=False)
    made = _run_spec(monkeypatch, "cpu")
    analysis = made["Analysis"]
    assert probes, "the spec did not check whether torchvision's ops library loads"
    assert made["COLLECT"].kwargs["name"] == "restora-cpu"
    assert made["EXE"].kwargs["name"] == "restora"
    assert _torchvision_ops(analysis) == []
    excludes = set(analysis.kwargs["excludes"])
    assert {"torchvision._C", "torchvision.image", "triton"} <= excludes
    assert not excludes & {"torchvision", "torch", "spandrel"}
    assert str(CPU_HOOK) in analysis.kwargs["runtime_hooks"]


def test_spec_cpu_flavour_with_a_cpu_torchvision_collects_its_ops(monkeypatch):
    _cpu_venv(monkeypatch, "2.13.0+cpu", ops_load=True)
    analysis = _run_spec(monkeypatch, "cpu")["Analysis"]
    assert _torchvision_ops(analysis)
    assert "torchvision._C" not in analysis.kwargs["excludes"]
    assert str(CPU_HOOK) not in analysis.kwargs["runtime_hooks"]


def test_spec_cuda_flavour_never_adds_the_cpu_hook(monkeypatch):
    analysis = _run_spec(monkeypatch, "cuda")["Analysis"]
    assert _torchvision_ops(analysis)
    assert str(CPU_HOOK) not in analysis.kwargs["runtime_hooks"]


@pytest.mark.parametrize("flavour, torch_version", [("cpu", "2.14.1"), ("rocm", "2.13.0+cpu")])
def test_spec_refuses_a_flavour_its_venv_does_not_match(monkeypatch, flavour, torch_version):
    _cpu_venv(monkeypatch, torch_version, ops_load=True)
    with pytest.raises(SystemExit):
        _run_spec(monkeypatch, flavour)


def test_cpu_hook_lets_torchvision_register_its_fake_kernels_without_ops(tmp_path):
    """The trap the hook is for, in a child process: a stand-in torchvision that, like
    torchvision's _meta_registrations.py, registers fake kernels for nms and qnms with no ops
    library loaded. With the hook it imports; torch is not imported before torchvision is."""
    fake = tmp_path / "torchvision"
    fake.mkdir()
    (fake / "__init__.py").write_text(
        "import torch\n"
        "for op in ('nms', 'qnms'):\n"
        "    torch.library.register_fake(f'torchvision::{op}')(lambda dets, scores, iou_threshold: dets)\n",
        encoding="utf-8")
    script = (
        "import runpy, sys\n"
        f"runpy.run_path({str(CPU_HOOK)!r})\n"
        "assert 'torch' not in sys.modules\n"
        "import torchvision, torch\n"
        "assert torchvision.__file__.startswith(sys.argv[1]), torchvision.__file__\n"
        "assert not any(type(f).__name__ == '_DefineTorchvisionOpSchemas' for f in sys.meta_path)\n"
        "print('imported', torch.ops.torchvision.nms.default.name())\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(tmp_path)}, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "imported torchvision::nms" in done.stdout


@pytest.mark.parametrize("bundle_exe", [pytest.param(exe, id=exe.parent.name) for exe in BUNDLE_EXES])
def test_bundle_self_test_passes_in_a_bare_environment(tmp_path, bundle_exe):
    if not bundle_exe.exists():
        pytest.skip(f"no bundle {bundle_exe.parent.name}: run `make package` / `make package-cpu` first")
    home = tmp_path / "home"
    home.mkdir()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([str(bundle_exe), "--self-test"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    lines = done.stdout.splitlines()
    assert done.returncode == 0, done.stdout + done.stderr
    assert lines and all(line.startswith("ok") for line in lines), done.stdout + done.stderr
    assert "builtin model restora-denoise loads and runs" in done.stdout
    assert "the window can be created and closed" in done.stdout
    version = subprocess.run([str(bundle_exe), "--version"], env=env, capture_output=True, text=True, timeout=120)
    assert version.returncode == 0 and version.stdout.strip(), version.stdout + version.stderr


def test_spec_ships_selftest_source_and_its_runtime_hooks(monkeypatch):
    """--self-test's TorchScript check needs restora/selftest.py's source in the bundle, and
    every runtime hook the spec names must exist (PyInstaller would stop on a missing one)."""
    analysis = _run_spec(monkeypatch)["Analysis"]
    assert analysis.kwargs["module_collection_mode"].get("restora.selftest") == "pyz+py"
    for hook in analysis.kwargs.get("runtime_hooks", []):
        assert Path(hook).is_file(), hook
        ast.parse(Path(hook).read_text(encoding="utf-8"), filename=hook)
