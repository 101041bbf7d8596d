"""Bad inputs (exit 2, one line, input untouched, nothing written), generation, `restora models`,
and a few true subprocess runs of the console entry."""
import json
import shutil

import numpy as np
import pytest

from restora.engine import read_image


@pytest.fixture
def photo(tmp_path, make_image, save_image):
    """A 61×45 RGB PNG photo in its own folder."""
    folder = tmp_path / "work"
    folder.mkdir()
    path = save_image(folder / "photo.png", make_image(45, 61, 3))
    return path


def assert_refused(cli, one_error_line, folder, argv, *, expect, untouched=()):
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in untouched}
    names_before = sorted(p.name for p in folder.iterdir())
    code, stdout, stderr = cli(*argv)
    assert code == 2, (code, stderr)
    line = one_error_line(stderr)
    assert expect in line, line
    assert stdout == ""
    for p, (data, mtime) in before.items():
        assert p.read_bytes() == data and p.stat().st_mtime_ns == mtime, f"{p} was modified"
    assert sorted(p.name for p in folder.iterdir()) == names_before, "no output (and no .part file) written"
    return line


def test_missing_input(cli, one_error_line, photo):
    assert_refused(cli, one_error_line, photo.parent, ["upscale", photo.parent / "nope.png", "-o",
                                                       photo.parent / "out.png"], expect="file not found")


def test_corrupt_input(cli, one_error_line, photo):
    bad = photo.parent / "broken.jpg"
    bad.write_bytes(photo.read_bytes()[:0] + b"\xff\xd8\xff\xe0" + b"\x00" * 50)
    assert_refused(cli, one_error_line, photo.parent, ["denoise", bad, "-o", photo.parent / "out.png",
                                                       "--model", "nlm"], expect="corrupt", untouched=[bad])
    truncated = photo.parent / "truncated.png"
    truncated.write_bytes(photo.read_bytes()[:80])
    assert_refused(cli, one_error_line, photo.parent, ["upscale", truncated, "-o", photo.parent / "out.png"],
                   expect="corrupt or truncated", untouched=[truncated])


def test_unsupported_formats(cli, one_error_line, photo):
    from PIL import Image

    gif = photo.parent / "anim.gif"
    Image.new("RGB", (8, 8)).save(gif, "GIF")
    assert_refused(cli, one_error_line, photo.parent, ["upscale", gif, "-o", photo.parent / "out.png"],
                   expect="not a supported image", untouched=[gif])
    assert_refused(cli, one_error_line, photo.parent, ["upscale", photo, "-o", photo.parent / "out.gif",
                                                       "--model", "lanczos"],
                   expect="unsupported output format", untouched=[photo])


def test_mask_size_mismatch(cli, one_error_line, photo, save_image):
    mask = save_image(photo.parent / "mask.png", np.full((44, 61), 255, np.uint8))
    assert_refused(cli, one_error_line, photo.parent,
                   ["inpaint", photo, "--mask", mask, "-o", photo.parent / "out.png"],
                   expect="does not match", untouched=[photo, mask])
    assert_refused(cli, one_error_line, photo.parent,
                   ["inpaint", photo, "--mask", photo.parent / "missing-mask.png", "-o", photo.parent / "out.png"],
                   expect="mask file not found", untouched=[photo])


def test_unrecognised_and_wrong_task_models(cli, one_error_line, photo, model_files):
    out = photo.parent / "out.png"
    for argv, expect in [
        (["upscale", photo, "-o", out, "--model", "magic-sharpen"], "unknown model 'magic-sharpen'"),
        (["upscale", photo, "-o", out, "--model", model_files["unknown_arch"]], "unrecognised model architecture"),
        (["denoise", photo, "-o", out, "--model", model_files["corrupt"]], "truncated or damaged"),
        (["denoise", photo, "-o", out, "--model", "lanczos"], "cannot denoise"),
        (["upscale", photo, "-o", out, "--model", model_files["rgb_denoise"]], "cannot upscale"),
        (["inpaint", photo, "-o", out, "--mask", photo, "--model", model_files["rgb_x2"]], "cannot inpaint"),
        (["generate", "-o", out, "--model", "nlm"], "cannot generate images"),
        (["upscale", photo, "-o", out, "--model", photo.parent / "gone.pth"], "model file not found"),
    ]:
        assert_refused(cli, one_error_line, photo.parent, argv, expect=expect, untouched=[photo])


def test_unsafe_model_refused_and_never_runs(cli, one_error_line, photo, evil_model):
    path, marker = evil_model
    for task in ("upscale", "denoise"):
        line = assert_refused(cli, one_error_line, photo.parent,
                              [task, photo, "-o", photo.parent / "out.png", "--model", path],
                              expect="refused to load", untouched=[photo, path])
        assert "run code" in line
    assert not marker.exists(), "the pickle's os.system payload must never run"


def test_bad_parameters(cli, one_error_line, photo):
    import torch

    out = photo.parent / "out.png"
    cases = [(["denoise", photo, "-o", out, "--sigma", "0", "--model", "nlm"], "out of range"),
             (["upscale", photo, "-o", out, "--tile", "-1"], "--tile"),
             (["upscale", photo, "-o", out, "--scale", "5"], "invalid choice"),
             (["upscale", photo, "-o", out, "--device", "tpu"], "invalid choice"),
             (["upscale", photo], "required"),
             (["generate", "-o", out, "--count", "0"], "count")]
    if not torch.cuda.is_available():
        cases.append((["upscale", photo, "-o", out, "--device", "cuda", "--model", "lanczos"], "no CUDA GPU"))
    for argv, expect in cases:
        assert_refused(cli, one_error_line, photo.parent, argv, expect=expect, untouched=[photo])


def test_cpu_device_works(cli, photo):
    code, _o, err = cli("upscale", photo, "-o", photo.parent / "out.png", "--device", "cpu", "--model", "lanczos")
    assert code == 0, err
    assert read_image(photo.parent / "out.png").pixels.shape == (90, 122, 3)


# --- generate ------------------------------------------------------------------------------

def test_generate_cli_writes_seeded_images(trusted_generators, cli, tmp_path, model_files):
    from restora.engine import Registry, generate

    out = tmp_path / "faces"
    code, _o, err = cli("generate", "-o", out, "--model", model_files["generator"], "--seed", "5", "--count", "3",
                        "--device", "cpu")
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["seed-5.png", "seed-6.png", "seed-7.png"]
    engine = generate(model=str(model_files["generator"]), seed=5, count=3, device="cpu",
                      registry=Registry(user_dir=tmp_path / "none"))
    for i, image in enumerate(engine):
        assert np.array_equal(read_image(out / f"seed-{5 + i}.png").pixels, image)
    # one file by name; seed 6 alone == image 1 of the batch
    single = tmp_path / "one.png"
    assert cli("generate", "-o", single, "--model", model_files["generator"], "--seed", "6", "--device", "cpu")[0] == 0
    assert np.array_equal(read_image(single).pixels, read_image(out / "seed-6.png").pixels)
    # count > 1 with a file name: numbered files beside it
    assert cli("generate", "-o", tmp_path / "g.png", "--model", model_files["generator"], "--count", "2")[0] == 0
    assert (tmp_path / "g-0.png").exists() and (tmp_path / "g-1.png").exists()


def test_generate_existing_output_refused(trusted_generators, cli, one_error_line, tmp_path, model_files):
    target = tmp_path / "img.png"
    target.write_bytes(b"mine")
    code, _o, err = cli("generate", "-o", target, "--model", model_files["generator"])
    assert code == 2 and "already exists" in one_error_line(err) and target.read_bytes() == b"mine"
    # found before the model is read (a StyleGAN pickle can take seconds): even a broken one
    broken = tmp_path / "broken.pkl"
    broken.write_bytes(b"not a pickle")
    code, _o, err = cli("generate", "-o", target, "--model", broken)
    assert code == 2 and "already exists" in one_error_line(err)


def test_generate_latent_dim_option(trusted_generators, cli, one_error_line, tmp_path, model_files):
    out = tmp_path / "nodim.png"
    code, _o, err = cli("generate", "-o", out, "--model", model_files["generator_nodim"], "--device", "cpu")
    assert code == 2 and "--latent-dim" in one_error_line(err) and not out.exists()
    code, _o, err = cli("generate", "-o", out, "--model", model_files["generator_nodim"], "--latent-dim", "6",
                        "--seed", "3", "--device", "cpu")
    assert code == 0, err
    assert read_image(out).pixels.shape == (12, 12, 3)
    assert list(tmp_path.iterdir()) == [out]
    # a generator whose latent size is known: another one is refused (one line, exit 2)
    other = tmp_path / "other.png"
    code, _o, err = cli("generate", "-o", other, "--model", model_files["generator"], "--latent-dim", "5",
                        "--device", "cpu")
    assert code == 2 and "latent size is 8" in one_error_line(err) and not other.exists()


# --- models ----------------------------------------------------------------------------------

def test_models_json_lists_classical_and_user_models(trusted_generators, cli, models_dir, model_files):
    shutil.copy(model_files["gray_x2"], models_dir / "mygray.pth")
    shutil.copy(model_files["generator"], models_dir / "gan.pt")
    shutil.copy(model_files["corrupt"], models_dir / "broken.pth")
    code, stdout, _err = cli("models", "--json")
    assert code == 0
    data = json.loads(stdout)
    models = {m["name"]: m for m in data["models"]}
    assert data["user_models_dir"] == str(models_dir)
    for name, task in [("telea", "inpaint"), ("navier-stokes", "inpaint"), ("nlm", "denoise"),
                       ("bicubic", "upscale"), ("lanczos", "upscale")]:
        assert models[name]["task"] == task and models[name]["source"] == "classical"
    mine = models["mygray"]
    assert (mine["task"], mine["scale"], mine["in_channels"], mine["source"]) == ("upscale", 2, 1, "user")
    assert mine["path"] == str(models_dir / "mygray.pth")
    assert models["gan"]["task"] == "generate"
    assert "broken" not in models and str(models_dir / "broken.pth") in data["problems"]
    code, stdout, _ = cli("models", "--json", "--task", "inpaint")
    assert {m["task"] for m in json.loads(stdout)["models"]} == {"inpaint"}
    code, stdout, stderr = cli("models")
    assert code == 0 and "mygray" in stdout and "lanczos" in stdout and "skipped" in stderr
    # the user model is usable by name from the CLI
    from restora.engine import Photo, write_image
    src = write_image(models_dir.parent / "p.png", Photo(np.full((20, 30, 3), 100, np.uint8)))
    assert cli("upscale", src, "-o", models_dir.parent / "p2.png", "--model", "mygray", "--device", "cpu")[0] == 0
    assert read_image(models_dir.parent / "p2.png").pixels.shape == (40, 60, 3)


# --- true subprocess runs ---------------------------------------------------------------------

def test_subprocess_help_and_models(cli_subprocess, tmp_path, model_files):
    result = cli_subprocess("--help")
    assert result.returncode == 0 and "upscale" in result.stdout
    folder = tmp_path / "models"
    folder.mkdir()
    shutil.copy(model_files["rgb_x2"], folder / "subproc-x2.pth")
    result = cli_subprocess("models", "--json", env_extra={"RESTORA_MODELS_DIR": str(folder)})
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    info = {m["name"]: m for m in data["models"]}["subproc-x2"]
    assert (info["task"], info["scale"], info["in_channels"]) == ("upscale", 2, 3)


def test_subprocess_bad_input_exit_code(cli_subprocess, tmp_path, one_error_line):
    result = cli_subprocess("upscale", tmp_path / "missing.png", "-o", tmp_path / "out.png")
    assert result.returncode == 2
    assert "file not found" in one_error_line(result.stderr)
    assert list(tmp_path.iterdir()) == []


def test_subprocess_unsafe_model(cli_subprocess, evil_model, tmp_path, make_image, save_image, one_error_line):
    path, marker = evil_model
    src = save_image(tmp_path / "in.png", make_image(20, 20))
    result = cli_subprocess("upscale", src, "-o", tmp_path / "out.png", "--model", path, "--device", "cpu")
    assert result.returncode == 2 and "refused to load" in one_error_line(result.stderr)
    assert not marker.exists() and not (tmp_path / "out.png").exists()


def test_subprocess_real_model_x4(cli_subprocess, real_model, tmp_path, make_image, save_image):
    src = save_image(tmp_path / "in.png", make_image(21, 27))
    # by path relative to the repository: ../shared/models/...
    result = cli_subprocess("upscale", src, "-o", tmp_path / "out.png", "--model",
                            "../shared/models/realesr-animevideov3.pth", "--device", "cpu")
    assert result.returncode == 0, result.stderr
    assert read_image(tmp_path / "out.png").pixels.shape == (84, 108, 3)
