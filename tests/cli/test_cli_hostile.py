"""The CLI against hostile or careless use: missing output folders, problems found before any
model runs, range checks at parse time, mistyped commands, trust of program model files,
model files that try to write to the terminal, SIGTERM, and odd file names and folders.

Every refusal: exit 2, one ``restora: error:`` line per refused photo, nothing written,
the input unchanged, and in a batch the other photos still processed.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from restora.engine import read_image

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def photo(tmp_path, make_image, save_image):
    """A 40×30 RGB PNG photo in its own folder."""
    folder = tmp_path / "work"
    folder.mkdir()
    return save_image(folder / "photo.png", make_image(30, 40, 3))


@pytest.fixture
def model_calls(monkeypatch):
    """Records every task the CLI runs (and prints MODEL RUNS to stderr, to see what came before)."""
    import restora.cli as cli_module

    calls = []
    real = cli_module.run_task

    def spy(task, *args, **kwargs):
        calls.append(getattr(task, "name", task))
        print("MODEL RUNS", file=sys.stderr)
        return real(task, *args, **kwargs)

    monkeypatch.setattr(cli_module, "run_task", spy)
    return calls


def error_lines(stderr):
    return [ln for ln in stderr.splitlines() if ln.startswith("restora: error: ")]


def snapshot(folder):
    """Every file under ``folder`` with its bytes (to prove nothing was written or changed)."""
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def refused(cli, one_error_line, folder, *argv, expect):
    """Run; assert exit 2, one line containing ``expect``, and ``folder`` left exactly as it was."""
    before = snapshot(folder)
    names = sorted(p.name for p in folder.rglob("*"))
    code, stdout, stderr = cli(*argv)
    assert code == 2, (code, stderr)
    line = one_error_line(stderr)
    assert expect in line, line
    assert stdout == ""
    assert snapshot(folder) == before and sorted(p.name for p in folder.rglob("*")) == names
    return line


def start(*argv, cwd=None):
    """``python -m restora ARGV`` as a child process (for signals and hang checks)."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    return subprocess.Popen([sys.executable, "-m", "restora", *map(str, argv)], cwd=cwd or REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc, timeout=60):
    """(exit code, stdout, stderr); a child still running after ``timeout`` s (a hang) fails the test."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"restora did not exit within {timeout} s")
    return proc.returncode, out, err


# --- 1. output folders -------------------------------------------------------------------------

def test_batch_creates_a_missing_output_folder(cli, tmp_path, make_image, save_image, listing):
    inputs = tmp_path / "photos"
    inputs.mkdir()
    save_image(inputs / "a.png", make_image(20, 30))
    save_image(inputs / "b.png", make_image(21, 31))
    out = tmp_path / "photos-x4" / "nested"
    code, _o, err = cli("upscale", inputs, "-o", f"{out}/", "--model", "lanczos", "--device", "cpu")
    assert code == 0, err
    assert listing(out) == ["a.png", "b.png"]
    assert read_image(out / "b.png").pixels.shape == (42, 62, 3)


def test_batch_with_nothing_to_do_creates_no_folder(cli, tmp_path):
    inputs = tmp_path / "photos"
    inputs.mkdir()
    (inputs / "empty.png").write_bytes(b"")
    code, _o, err = cli("upscale", inputs, "-o", tmp_path / "out", "--model", "lanczos")
    assert code == 2 and len(error_lines(err)) == 1 and "empty.png" in err
    assert not (tmp_path / "out").exists()


def test_single_output_in_a_missing_folder_is_refused(cli, one_error_line, photo):
    folder = photo.parent
    refused(cli, one_error_line, folder, "upscale", photo, "-o", folder / "missing" / "out.png",
            "--model", "lanczos", expect="output folder does not exist (create it first)")
    refused(cli, one_error_line, folder, "upscale", photo, "-o", f"{folder / 'newdir'}/", "--model", "lanczos",
            expect="no such folder")
    assert not (folder / "missing").exists() and not (folder / "newdir").exists()


# --- 2. pre-flight ---------------------------------------------------------------------------------

def test_single_job_refused_before_any_model_runs(cli, one_error_line, photo, save_image, model_calls):
    folder = photo.parent
    out = folder / "out.png"
    existing = folder / "existing.png"
    existing.write_bytes(b"keep me")
    empty = folder / "empty.png"
    empty.write_bytes(b"")
    text = folder / "notes.png"
    text.write_text("not an image")
    small_mask = save_image(folder / "small-mask.png", np.full((29, 40), 255, np.uint8))
    cases = [
        (["upscale", photo, "-o", out, "--model", "magic"], "unknown model"),
        (["denoise", photo, "-o", out, "--model", "lanczos"], "cannot denoise"),
        (["upscale", photo, "-o", existing, "--model", "lanczos"], "already exists"),
        (["upscale", photo, "-o", photo, "--model", "lanczos"], "would overwrite the input"),
        (["upscale", photo, "-o", folder / "out.gif", "--model", "lanczos"], "unsupported output format"),
        (["inpaint", photo, "--mask", small_mask, "-o", out, "--model", "telea"], "does not match"),
        (["inpaint", photo, "--mask", folder / "nope.png", "-o", out, "--model", "telea"], "mask file not found"),
        (["inpaint", photo, "--mask", photo, "-o", small_mask, "--model", "telea"], "already exists"),
        (["denoise", empty, "-o", out, "--model", "nlm"], "empty.png"),
        (["denoise", text, "-o", out, "--model", "nlm"], "notes.png"),
        (["upscale", folder / "gone.png", "-o", out, "--model", "lanczos"], "file not found"),
    ]
    for argv, expect in cases:
        refused(cli, one_error_line, folder, *argv, expect=expect)
    assert model_calls == []


def test_mask_is_never_overwritten(cli, one_error_line, photo, save_image, model_calls):
    mask = save_image(photo.parent / "mask.png", np.zeros((30, 40), np.uint8))
    refused(cli, one_error_line, photo.parent, "inpaint", photo, "--mask", mask, "-o", photo.parent / "." / "mask.png",
            expect="would overwrite the input")
    assert model_calls == []


def test_mask_matches_a_photo_turned_by_exif(cli, tmp_path, make_image, save_image):
    """Headers give the stored size; a mask drawn on the upright photo must still be accepted."""
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = 6                                                     # stored 44x30, shown 30x44
    src = tmp_path / "turned.jpg"
    Image.fromarray(make_image(30, 44)).save(src, "JPEG", exif=exif.tobytes())
    mask = np.zeros((44, 30), np.uint8)
    mask[10:12, 5:25] = 255
    code, _o, err = cli("inpaint", src, "--mask", save_image(tmp_path / "m.png", mask), "-o", tmp_path / "o.png",
                        "--model", "telea")
    assert code == 0, err
    assert read_image(tmp_path / "o.png").pixels.shape == (44, 30, 3)


def test_batch_reports_every_problem_before_the_first_model_run(cli, tmp_path, make_image, save_image,
                                                                model_calls, listing):
    photos, masks, out = tmp_path / "photos", tmp_path / "masks", tmp_path / "out"
    for d in (photos, masks, out):
        d.mkdir()
    for name in ("a", "b", "c", "e"):
        save_image(photos / f"{name}.png", make_image(20, 30, seed=ord(name)))
    (photos / "d.png").write_bytes(b"")                                   # empty
    hole = np.zeros((20, 30), np.uint8)
    hole[5:8, 5:20] = 255
    for name in ("a", "d", "e"):
        save_image(masks / f"{name}.png", hole)
    save_image(masks / "b.png", hole[:19])                                 # wrong size; c has no mask
    (out / "e.png").write_bytes(b"earlier result")                         # exists, no --overwrite
    code, _o, err = cli("inpaint", photos, "--mask", masks, "-o", out, "--model", "telea", "--device", "cpu")
    assert code == 2
    lines = err.splitlines()
    problems = error_lines(err)
    assert len(problems) == 4, err
    for name, why in [("b.png", "does not match"), ("c.png", "no mask"), ("d.png", "d.png"),
                      ("e.png", "already exists")]:
        assert any(name in ln and why in ln for ln in problems), (name, err)
    assert max(lines.index(ln) for ln in problems) < lines.index("MODEL RUNS"), "refusals come first"
    assert model_calls == ["inpaint"]
    assert listing(out) == ["a.png", "e.png"] and (out / "e.png").read_bytes() == b"earlier result"


# --- 3. --max-pixels ----------------------------------------------------------------------------------

def test_max_pixels_is_handed_to_the_engine(cli, photo, monkeypatch):
    import restora.engine.imageio as imageio

    limits = []
    monkeypatch.setattr(imageio, "set_max_pixels", limits.append, raising=False)
    code, _o, err = cli("upscale", photo, "-o", photo.parent / "out.png", "--model", "lanczos",
                        "--max-pixels", "5000")
    assert code == 0, err
    assert limits == [5000]


def test_max_pixels_refuses_a_larger_photo(cli_subprocess, photo, one_error_line, listing):
    import restora.engine.imageio as imageio

    if not hasattr(imageio, "set_max_pixels"):
        pytest.skip("the engine has no pixel limit yet (restora.engine.imageio.set_max_pixels)")
    result = cli_subprocess("upscale", photo, "-o", photo.parent / "out.png", "--model", "lanczos",
                            "--max-pixels", "1000")     # the photo has 1200
    assert result.returncode == 2, result.stderr
    assert "photo.png" in one_error_line(result.stderr)
    assert listing(photo.parent) == ["photo.png"]


# --- 4. the first word ------------------------------------------------------------------------------

@pytest.fixture
def window(monkeypatch):
    """Replaces the window: records the arguments it would have opened."""
    import restora.gui.app as app

    opened = []
    monkeypatch.setattr(app, "run", lambda argv: opened.append(list(argv)) or 0)
    return opened


def test_mistyped_commands_and_options_never_open_the_window(window, tmp_path, capsys, one_error_line,
                                                             monkeypatch):
    from restora.__main__ import main

    monkeypatch.chdir(tmp_path)
    for argv, expect in [(["denoize", "x.png"], "unknown command 'denoize'"),
                         (["aply", "--help"], "unknown command 'aply'"),
                         (["--frobnicate"], "unknown option '--frobnicate'"),
                         (["x.png", "-platform", "xcb"], "unknown option '-platform'"),
                         (["x.png", "readme"], "readme: no such photo or folder")]:
        assert main(argv) == 2, argv
        out, err = capsys.readouterr()
        line = one_error_line(err)
        assert expect in line and "commands: inpaint, denoise, upscale, generate, detect, apply, models" in line, line
        assert out == ""
    assert window == []


def test_photos_and_folders_open_the_window(window, photo, monkeypatch):
    from restora.__main__ import main

    monkeypatch.chdir(photo.parent)
    (photo.parent / "-dash.png").write_bytes(photo.read_bytes())
    for argv in (["photo.png"], [str(photo.parent)], ["missing.jpg"], ["-dash.png", "photo.png"]):
        assert main(argv) == 0
    assert window == [["photo.png"], [str(photo.parent)], ["missing.jpg"], ["-dash.png", "photo.png"]]


def test_version(window, capsys):
    from restora.__main__ import main

    for flag in ("--version", "-V"):
        with pytest.raises(SystemExit) as exit_info:
            main([flag])
        assert exit_info.value.code == 0
        assert capsys.readouterr().out == "restora 0.1.0\n"
    assert window == []


def test_subprocess_mistyped_command_fails_fast(tmp_path, one_error_line):
    code, out, err = finish(start("denoize", "x.png", cwd=tmp_path))
    assert code == 2 and out == ""
    assert "unknown command 'denoize'" in one_error_line(err)
    code, out, _err = finish(start("--version"))
    assert code == 0 and out == "restora 0.1.0\n"


# --- 5. range checks at parse time -------------------------------------------------------------------

def test_out_of_range_options_refused_while_parsing(cli, one_error_line, photo, model_calls, monkeypatch):
    import restora.cli as cli_mod

    def no_planning(_args):
        raise AssertionError("an out-of-range option must be refused before any planning")

    monkeypatch.setattr(cli_mod, "plan_jobs", no_planning)
    out = photo.parent / "out.webp"
    up = ["upscale", photo, "-o", out, "--model", "lanczos"]
    gen = ["generate", "-o", photo.parent / "g.png", "--model", "x.pt"]
    cases = [(up + ["--quality", "101"], "--quality"), (up + ["--quality", "0"], "--quality"),
             (up + ["--quality", "high"], "--quality"), (up + ["--tile", "-1"], "--tile"),
             (up + ["--tile", "65537"], "--tile"), (up + ["--max-pixels", "0"], "--max-pixels"),
             (gen + ["--seed", str(2 ** 70)], "--seed"), (gen + ["--seed", "-1"], "--seed"),
             (gen + ["--seed", str(2 ** 32)], "--seed"), (gen + ["--count", "257"], "--count"),
             (gen + ["--count", "0"], "--count"), (gen + ["--latent-dim", "0"], "--latent-dim"),
             (gen + ["--latent-dim", "65537"], "--latent-dim"),
             (["inpaint", photo, "--mask", photo, "-o", out, "--seed", "4294967296"], "--seed")]
    for value in ("nan", "inf", "-1", "0", "255", "1e400", "many"):
        cases.append((["denoise", photo, "-o", out, "--model", "nlm", "--sigma", value], "--sigma"))
    for argv, expect in cases:
        line = refused(cli, one_error_line, photo.parent, *argv, expect=expect)
        assert "out of range" in line or "not a" in line or "finite" in line, line
    assert model_calls == []


def test_range_limits_themselves_are_accepted(cli, photo, model_calls):
    for quality in ("1", "100"):
        out = photo.parent / f"q{quality}.webp"
        code, _o, err = cli("upscale", photo, "-o", out, "--model", "lanczos", "--quality", quality, "--tile", "0")
        assert code == 0, err
        assert read_image(out).pixels.shape == (60, 80, 3)
    code, _o, err = cli("inpaint", photo, "--mask", photo.parent / "q1.webp", "-o", photo.parent / "i.png",
                        "--seed", str(2 ** 32 - 1), "--model", "telea")
    assert code == 2 and "does not match" in err   # got past the parser: the mask is twice the size


# --- 6. trust for program model files --------------------------------------------------------------

def test_trust_code_records_the_decision_and_generates(cli, one_error_line, tmp_path, model_files):
    from restora.engine import trust

    generator = tmp_path / "gen.pt"
    shutil.copy(model_files["generator"], generator)
    code, _o, err = cli("generate", "-o", tmp_path / "g.png", "--model", generator, "--device", "cpu")
    assert code == 2 and "--trust-code" in one_error_line(err), "a program file runs only once trusted"
    assert not (tmp_path / "g.png").exists() and not trust.is_trusted(generator)
    code, _o, err = cli("generate", "-o", tmp_path / "g.png", "--model", generator, "--trust-code", "--device", "cpu")
    assert code == 0, err
    assert trust.is_trusted(generator)
    assert read_image(tmp_path / "g.png").pixels.shape == (12, 12, 3)


def test_trust_code_needs_a_model_file(cli, one_error_line, photo):
    for extra in ([], ["--model", "lanczos"], ["--model", photo.parent / "missing.pt"]):
        refused(cli, one_error_line, photo.parent, "upscale", photo, "-o", photo.parent / "o.png", "--trust-code",
                *extra, expect="--trust-code needs --model FILE")


def test_trust_code_never_lets_a_malicious_pickle_run(cli, one_error_line, photo, evil_model):
    path, marker = evil_model
    code, _o, err = cli("upscale", photo, "-o", photo.parent / "out.png", "--model", path, "--trust-code")
    assert code == 2 and len(error_lines(err)) == 1
    assert not marker.exists() and not (photo.parent / "out.png").exists()


def test_models_trust_and_untrust(cli, one_error_line, tmp_path, model_files):
    from restora.engine import trust

    generator = tmp_path / "gen.pt"
    shutil.copy(model_files["generator"], generator)
    code, out, err = cli("models", "--trust", generator)
    assert code == 0, err
    digest = trust.file_digest(generator)
    assert out == f"trusted: {generator} (sha256 {digest[:8]}…): Restora will run it\n"
    assert trust.is_trusted(generator)
    code, out, _err = cli("models", "--untrust", generator)
    assert code == 0 and out == f"no longer trusted: {generator}\n"
    assert not trust.is_trusted(generator)
    code, out, _err = cli("models", "--untrust", generator)
    assert code == 0 and "not trusted" in out
    for flag in ("--trust", "--untrust"):
        code, out, err = cli("models", flag, tmp_path / "missing.pt")
        assert code == 2 and "model file not found" in one_error_line(err) and out == ""


# --- 7. what model files may print -------------------------------------------------------------------

def test_clean_text():
    from restora.cli import clean_text

    assert clean_text("plain name") == "plain name"
    assert clean_text("a\x1b[2Jb\rc\nd\te\x9bf\x7fg") == "a [2Jb c d e f g"
    assert clean_text("safe\u202egnp.exe\u2028x") == "safe gnp.exe x"
    assert clean_text("caf\udce9") == "caf\\udce9"           # an undecodable file name byte
    long = clean_text("x" * 1000)
    assert len(long) == 200 and long.endswith("…")
    assert clean_text("ünïcödé 写真") == "ünïcödé 写真"


def test_models_listing_cannot_drive_the_terminal(cli, models_dir, model_files):
    shutil.copy(model_files["rgb_x2"], models_dir / "evil\x1b[2J\x1b[H\rlanczos    upscale fake.pth")
    shutil.copy(model_files["corrupt"], models_dir / "broken\nskipped: all fine.pth")
    shutil.copy(model_files["gray_x2"], models_dir / ("long" * 60 + ".pth"))
    code, out, err = cli("models")
    assert code == 0
    for text in (out, err):
        assert not any(c in text for c in "\x1b\r\x9b\t"), repr(text)
    assert max(len(ln) for ln in out.splitlines()) <= 2 * 200 + 40, out   # name and description cut
    assert len([ln for ln in err.splitlines() if ln.startswith("skipped:")]) == 1, err
    names = [ln.split()[0] for ln in out.splitlines()[1:] if ln.strip() and not ln.startswith("User models")]
    assert names.count("lanczos") == 1, "a file cannot pass for a built-in entry"
    code, out, _err = cli("models", "--json")
    data = json.loads(out)
    assert any("\x1b" in m["name"] or "evil" in m["name"] for m in data["models"])


# --- 8. SIGTERM ----------------------------------------------------------------------------------------

def test_sigterm_cleans_up_like_ctrl_c(tmp_path, make_image, save_image, listing):
    photos, out = tmp_path / "photos", tmp_path / "out"
    photos.mkdir()
    save_image(photos / "a.png", make_image(16, 16))
    save_image(photos / "b.png", make_image(1500, 1500))            # ~10 s of nlm on one core
    proc = start("denoise", photos, "-o", out, "--model", "nlm", "--sigma", "20", "--tile", "128", "--device", "cpu")
    seen = ""
    while "a.png ->" not in seen and proc.poll() is None:              # a.png done: b.png is running
        seen = proc.stderr.readline()
    assert "a.png ->" in seen, seen
    proc.send_signal(signal.SIGTERM)
    code, _out, err = finish(proc)
    assert code == 143, err
    assert error_lines(err) == ["restora: error: interrupted; no partial files were written"], err
    assert listing(out) == ["a.png"]
    assert not [p for p in tmp_path.rglob("*") if ".part" in p.name]


# --- 9. hostile names and places ------------------------------------------------------------------------

def test_unicode_and_dash_file_names(cli, tmp_path, make_image, save_image, monkeypatch):
    monkeypatch.chdir(tmp_path)
    img = make_image(20, 30)
    for name in ("фото ñ 写真 📷.png", "-x.png", "e\u0301t\u00e9 'quoted' \"too\".png"):
        save_image(tmp_path / name, img)
    before = snapshot(tmp_path)
    assert cli("upscale", "фото ñ 写真 📷.png", "-o", "résultat 写真.png", "--model", "lanczos")[0] == 0
    assert cli("upscale", "./-x.png", "-o", "./-y.png", "--model", "lanczos")[0] == 0
    assert cli("upscale", "-o", "z.png", "--model", "lanczos", "--", "-x.png")[0] == 0
    assert cli("upscale", "e\u0301t\u00e9 'quoted' \"too\".png", "-o", "q.png", "--model", "lanczos")[0] == 0
    for name in ("résultat 写真.png", "-y.png", "z.png", "q.png"):
        assert read_image(tmp_path / name).pixels.shape == (40, 60, 3)
    assert {k: v for k, v in snapshot(tmp_path).items() if k in before} == before


def test_batch_with_empty_truncated_and_odd_named_files(cli, tmp_path, make_image, save_image, listing):
    photos, out = tmp_path / "photos", tmp_path / "out"
    photos.mkdir()
    good = save_image(photos / "good.png", make_image(20, 30))
    (photos / "empty.png").write_bytes(b"")
    (photos / "truncated.png").write_bytes(good.read_bytes()[:60])
    (photos / "new\nline.png").write_bytes(b"\x1b[2J")
    before = snapshot(photos)
    code, _o, err = cli("upscale", photos, "-o", out, "--model", "lanczos", "--device", "cpu")
    assert code == 2
    problems = error_lines(err)
    assert len(problems) == 3, err
    assert [ln for ln in err.splitlines() if "->" in ln] == [f"{photos / 'good.png'} -> {out / 'good.png'}"]
    assert "\x1b" not in err and any("new line.png" in ln for ln in problems)
    assert listing(out) == ["good.png"]
    assert snapshot(photos) == before


def test_output_symlinked_to_the_input(cli, one_error_line, photo):
    link = photo.parent / "link.png"
    link.symlink_to(photo)
    original = photo.read_bytes()
    refused(cli, one_error_line, photo.parent, "upscale", photo, "-o", link, "--model", "lanczos",
            expect="would overwrite the input")
    dir_link = photo.parent.parent / "out-link"
    dir_link.symlink_to(photo.parent)                   # OUT folder = IN's folder under another name
    refused(cli, one_error_line, photo.parent, "upscale", photo, "-o", dir_link, "--model", "lanczos",
            expect="would overwrite the input")
    assert photo.read_bytes() == original


def test_output_is_the_input_spelt_differently(cli, one_error_line, photo, monkeypatch):
    monkeypatch.chdir(photo.parent)
    for out in ("./photo.png", "../work/photo.png", str(photo)):
        refused(cli, one_error_line, photo.parent, "denoise", "photo.png", "-o", out, "--model", "nlm",
                expect="would overwrite the input")


def test_read_only_output_folder(cli, one_error_line, photo):
    if os.geteuid() == 0:
        pytest.skip("running as root: chmod does not stop root from writing")
    locked = photo.parent / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        refused(cli, one_error_line, photo.parent, "upscale", photo, "-o", locked / "out.png", "--model", "lanczos",
                expect="not writable")
    finally:
        locked.chmod(0o755)


def test_a_name_too_long_for_the_system(cli, one_error_line, photo):
    refused(cli, one_error_line, photo.parent, "upscale", photo.parent / ("a" * 5000 + ".png"), "-o",
            photo.parent / "out.png", "--model", "lanczos", expect="aaaa")


def test_all_white_mask_with_telea(cli, one_error_line, photo, save_image):
    mask = save_image(photo.parent / "white.png", np.full((30, 40), 255, np.uint8))
    line = refused(cli, one_error_line, photo.parent, "inpaint", photo, "--mask", mask, "-o",
                   photo.parent / "out.png", "--model", "telea", expect="mask")
    assert "whole" in line or "cover" in line or "all" in line, line


# --- 10. unexpected failures, odd outputs, empty arguments, no display ---------------------------------

def crash_on(monkeypatch, height, exc=RuntimeError("model exploded\nsecond line of the message")):
    """run_task raises ``exc`` for the photo ``height`` pixels tall (and runs for the others)."""
    import restora.cli as cli_module

    real = cli_module.run_task

    def flaky(task, pixels, *args, **kwargs):
        if pixels is None or pixels.shape[0] == height:
            raise exc
        return real(task, pixels, *args, **kwargs)

    monkeypatch.setattr(cli_module, "run_task", flaky)


@pytest.fixture
def three_photos(tmp_path, make_image, save_image):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i, name in enumerate("abc"):
        save_image(photos / f"{name}.png", make_image(20 + i, 30))
    return photos


def test_batch_goes_on_past_an_unexpected_failure(cli, three_photos, monkeypatch, listing):
    crash_on(monkeypatch, 21)                                               # b.png
    out = three_photos.parent / "out"
    code, stdout, err = cli("upscale", three_photos, "-o", out, "--model", "lanczos", "--device", "cpu")
    assert code == 1, err
    assert error_lines(err) == [f"restora: error: {three_photos / 'b.png'}: unexpected failure "
                                "(RuntimeError: model exploded); RESTORA_DEBUG=1 shows the details"], err
    assert "Traceback" not in err and stdout == ""
    assert listing(out) == ["a.png", "c.png"]
    (three_photos / "d.png").write_bytes(b"")                               # plus a user error: 1 still wins
    code, _o, err = cli("upscale", three_photos, "-o", out, "--model", "lanczos", "--overwrite")
    assert code == 1 and len(error_lines(err)) == 2, err


def test_single_photo_unexpected_failure_is_one_line(cli, one_error_line, photo, monkeypatch):
    crash_on(monkeypatch, 30, MemoryError())
    code, stdout, err = cli("upscale", photo, "-o", photo.parent / "out.png", "--model", "lanczos")
    assert code == 1 and stdout == ""
    assert one_error_line(err) == f"restora: error: {photo}: unexpected failure (MemoryError); " \
                                  "RESTORA_DEBUG=1 shows the details"
    assert sorted(p.name for p in photo.parent.iterdir()) == ["photo.png"]


def test_interrupt_still_stops_the_batch(cli, three_photos, monkeypatch):
    crash_on(monkeypatch, 20, KeyboardInterrupt())                          # a.png: the first
    code, _o, err = cli("upscale", three_photos, "-o", three_photos.parent / "out", "--model", "lanczos")
    assert code == 130 and error_lines(err) == ["restora: error: interrupted; no partial files were written"]
    assert not any((three_photos.parent / "out").iterdir())


def test_generate_unexpected_failure_is_one_line(cli, one_error_line, tmp_path, monkeypatch):
    import restora.cli as cli_module

    monkeypatch.setattr(cli_module, "check_model", lambda *a, **k: None)
    crash_on(monkeypatch, None)
    code, _o, err = cli("generate", "-o", tmp_path / "g.png", "--model", "x.pt", "--count", "2")
    assert code == 1
    assert one_error_line(err) == f"restora: error: {tmp_path / 'g.png'}: unexpected failure " \
                                  "(RuntimeError: model exploded); RESTORA_DEBUG=1 shows the details"
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setenv("RESTORA_DEBUG", "1")
    code, _o, err = cli("generate", "-o", tmp_path / "g.png", "--model", "x.pt", "--count", "2")
    assert code == 1 and "Traceback" in err and "model exploded" in err


def test_output_that_is_not_a_regular_file_is_refused(cli, one_error_line, photo, model_calls):
    folder = photo.parent
    os.mkfifo(folder / "pipe.png")
    (folder / "to-pipe.png").symlink_to(folder / "pipe.png")
    (folder / "dangling.png").symlink_to(folder / "elsewhere" / "nowhere.png")
    for extra in ([], ["--overwrite"]):
        for name in ("pipe.png", "to-pipe.png"):
            refused(cli, one_error_line, folder, "upscale", photo, "-o", folder / name, "--model", "lanczos", *extra,
                    expect=f"{name}: is not a regular file")
        refused(cli, one_error_line, folder, "upscale", photo, "-o", folder / "dangling.png", "--model", "lanczos",
                *extra, expect="dangling.png: is a link to a missing file")
        refused(cli, one_error_line, folder, "upscale", photo, "-o", folder / "out.png", "--model", "lanczos",
                "--recipe-out", folder / "pipe.png", *extra, expect="is not a regular file")
    assert model_calls == [] and not (folder / "elsewhere").exists()


def test_batch_refuses_a_dangling_link_among_the_outputs(cli, three_photos, tmp_path, model_calls, listing):
    out = tmp_path / "out"
    out.mkdir()
    (out / "b.png").symlink_to(tmp_path / "created-by-restora.png")
    code, _o, err = cli("upscale", three_photos, "-o", out, "--model", "lanczos", "--overwrite")
    assert code == 2 and len(error_lines(err)) == 1 and "b.png: is a link to a missing file" in err
    assert model_calls == ["upscale", "upscale"] and listing(out) == ["a.png", "b.png", "c.png"]
    assert not (tmp_path / "created-by-restora.png").exists()


def test_output_onto_a_device_node_is_refused(cli, one_error_line, photo, model_calls):
    import stat

    node = photo.parent / "full.png"
    if os.geteuid() != 0:
        pytest.skip("only root can make a device node")
    try:
        os.mknod(node, 0o600 | stat.S_IFCHR, os.makedev(1, 7))           # a private /dev/full
    except (OSError, AttributeError) as exc:
        pytest.skip(f"os.mknod does not work here: {exc}")
    for extra in ([], ["--overwrite"]):
        refused(cli, one_error_line, photo.parent, "upscale", photo, "-o", node, "--model", "lanczos", *extra,
                expect="full.png: is not a regular file")
    assert stat.S_ISCHR(node.lstat().st_mode) and model_calls == []


def test_an_empty_argument_is_refused(window, cli, tmp_path, capsys, one_error_line, monkeypatch, model_calls):
    from restora.__main__ import main

    monkeypatch.chdir(tmp_path)
    expect = "restora: error: an empty argument: give a photo, a folder or a command"
    for argv in ([""], ["  "], ["\t"], [".", ""], ["upscale", "", "-o", "out.png", "--model", "lanczos"]):
        assert main(argv) == 2, argv
        out, err = capsys.readouterr()
        assert one_error_line(err) == expect and out == ""
    code, out, err = cli("upscale", ".", "-o", "", "--model", "lanczos")
    assert code == 2 and one_error_line(err) == expect
    assert window == [] and model_calls == [] and list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11/Wayland displays are a Linux matter")
def test_no_display_is_one_line_not_a_qt_abort(photo, one_error_line):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    proc = subprocess.Popen([sys.executable, "-m", "restora", str(photo)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    code, out, err = finish(proc, timeout=60)
    assert code == 2 and out == ""
    assert one_error_line(err) == ("restora: error: no display to open the window on (set DISPLAY, or use the "
                                   "command line: restora --help)")


# --- a real full disk ---------------------------------------------------------------------------------

@pytest.fixture
def tiny_disk(tmp_path):
    """A 64 kB tmpfs (needs root and mount rights; skipped otherwise)."""
    import subprocess

    mount = tmp_path / "tiny"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
                                           capture_output=True).returncode != 0:
        pytest.skip("mounting a small tmpfs needs root and mount rights (the full-disk case is also "
                    "simulated in tests/engine/test_hostile_imageio.py)")
    yield mount
    subprocess.run(["umount", str(mount)], capture_output=True)


def test_a_full_disk_is_one_line_and_leaves_nothing(cli, one_error_line, tmp_path, tiny_disk, save_image,
                                                    make_image):
    rng = np.random.default_rng(0)
    photo = save_image(tmp_path / "noise.png", rng.integers(0, 255, (200, 200, 3), dtype=np.uint8))
    code, _o, err = cli("upscale", photo, "-o", tiny_disk / "big.png", "--model", "lanczos", "--scale", "2")
    assert code == 2 and "No space left on device" in one_error_line(err)
    assert list(tiny_disk.iterdir()) == []            # no output, no .part file
    small = save_image(tmp_path / "small.png", make_image(8, 8, 3))
    assert cli("upscale", small, "-o", tiny_disk / "ok.png", "--model", "lanczos")[0] == 0   # room for that
