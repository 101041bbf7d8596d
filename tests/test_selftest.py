"""`restora --self-test`: the whole self-test passes from source, and a failing check shows."""
from __future__ import annotations

import io
import itertools
import os
import subprocess
import sys
from pathlib import Path

from restora import selftest

REPO = Path(__file__).resolve().parents[1]


def test_self_test_passes_from_source(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HOME=str(tmp_path / "home"),
               XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_DATA_HOME=str(tmp_path / "data"))
    for name in ("RESTORA_CONFIG_DIR", "RESTORA_MODELS_DIR"):   # the person's folders, as in a real run
        env.pop(name, None)
    done = subprocess.run([sys.executable, "-m", "restora", "--self-test"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=180)
    lines = done.stdout.splitlines()
    assert done.returncode == 0, done.stdout + done.stderr
    assert lines, done.stderr
    assert all(line.startswith("ok") for line in lines), done.stdout
    text = done.stdout
    for needle in ("builtin model restora-denoise loads and runs", "classical model telea runs",
                   "16-bit PNG keeps 16 bits", "RGBA PNG keeps alpha", "ICC profile survives JPEG",
                   "EXIF orientation is applied", "the window can be created and closed",
                   "TorchScript program file is refused without trust"):
        assert needle in text, text
    # nothing written outside the temporary folder: no settings, no models, no trust store
    assert not (tmp_path / "config").exists() and not (tmp_path / "data").exists()


def test_a_failing_check_gives_exit_1_and_a_fail_line():
    def broken():
        raise selftest.CheckFailed("the resource is damaged")

    def crashing():
        raise RuntimeError("boom\nsecond line")

    out = io.StringIO()
    status = selftest.run_checks([selftest.Check("passes", lambda: None),
                                  selftest.Check("a damaged resource", broken),
                                  selftest.Check("a crash", crashing)], out=out)
    lines = out.getvalue().splitlines()
    assert status == 1
    assert len(lines) == 3
    assert lines[0].startswith("ok    passes (")
    assert lines[1].startswith("FAIL  a damaged resource: the resource is damaged (")
    assert lines[2].startswith("FAIL  a crash: RuntimeError: boom second line (")


def test_all_passing_checks_give_exit_0_and_nothing_to_run_fails():
    out = io.StringIO()
    assert selftest.run_checks([selftest.Check("one", lambda: None)], out=out) == 0
    assert out.getvalue().startswith("ok    one (")
    assert selftest.run_checks([], out=io.StringIO()) == 1


def test_a_check_list_that_breaks_while_being_made_fails():
    def checks():
        yield selftest.Check("first", lambda: None)
        raise ImportError("No module named 'torch'")

    out = io.StringIO()
    assert selftest.run_checks(checks(), out=out) == 1
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("ok    first")
    assert lines[1].startswith("FAIL  self-test: cannot prepare the next check: ImportError: No module named")


def test_a_damaged_or_missing_builtin_model_is_a_fail_line(tmp_path, monkeypatch):
    """A broken bundle: one built-in file cut short, another intact. The damaged file is named,
    the intact one still runs; with no folder at all, one clear FAIL line."""
    import restora.engine.models.builtin as builtin

    source = builtin.builtin_dir()
    folder = tmp_path / "resources"
    folder.mkdir()
    good = sorted(source.glob("*.safetensors"))[0]
    (folder / good.name).write_bytes(good.read_bytes())
    (folder / "restora-broken.safetensors").write_bytes(good.read_bytes()[:64])
    monkeypatch.setattr(builtin, "RESOURCES", folder)
    ctx = selftest.Context(device="cpu", tmp=tmp_path / "work")
    ctx.tmp.mkdir()
    out = io.StringIO()   # the listing, then (made once it ran) the first built-in model's check
    assert selftest.run_checks(itertools.islice(selftest.default_checks(ctx), 2), out=out) == 1
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("FAIL  built-in models found in ")
    assert "restora-broken.safetensors" in lines[0] and good.name not in lines[0]
    assert lines[1].startswith(f"ok    builtin model {ctx.builtins[0].name} loads and runs")

    monkeypatch.setattr(builtin, "RESOURCES", tmp_path / "gone")
    out = io.StringIO()
    ctx = selftest.Context(device="cpu", tmp=tmp_path / "work")
    assert selftest.run_checks([next(selftest.default_checks(ctx))], out=out) == 1
    assert "the folder is missing" in out.getvalue()
