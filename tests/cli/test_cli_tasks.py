"""The CLI on files the tests make: every task, gray/RGB/RGBA, 8/16-bit, every format,
tiling forced on (--tile 64) and off (--tile 0); metadata, overwrite rules, batches."""
import numpy as np
import pytest
from PIL import Image, ImageCms

from restora.engine import read_image

# (suffix, channels, dtype): every readable format; lossless ones compared exactly
CASES = [(".png", 1, np.uint8), (".png", 4, np.uint16), (".tif", 3, np.uint16), (".tif", 1, np.uint16),
         (".tif", 4, np.uint8), (".jpg", 3, np.uint8), (".webp", 4, np.uint8), (".bmp", 3, np.uint8)]
H, W = 97, 131


def levels(a, b):
    peak = 255.0 if a.dtype == np.uint8 else 65535.0
    d = np.abs(a.astype(np.float64) - b.astype(np.float64)) * (255.0 / peak)
    return float(d.max()), float(d.mean())


def task_args(task, tmp_path, save_image):
    if task == "upscale":
        return ["--scale", "2", "--model", "lanczos"]
    if task == "denoise":
        return ["--sigma", "12", "--model", "nlm"]
    mask = np.zeros((H, W), np.uint8)
    mask[H // 2:H // 2 + 3, 4:W - 4] = 255
    mask[20:34, 15:32] = 255
    return ["--mask", save_image(tmp_path / "mask.png", mask)]


@pytest.mark.parametrize("suffix, channels, dtype", CASES,
                         ids=[f"{s[1:]}-{c}ch-{np.dtype(d).name}" for s, c, d in CASES])
@pytest.mark.parametrize("task", ["upscale", "denoise", "inpaint"])
def test_task_on_every_kind_of_file(task, suffix, channels, dtype, cli, tmp_path, make_image, save_image, listing):
    from restora.engine import Photo, write_image

    img = make_image(H, W, channels, dtype, seed=channels)
    src = write_image(tmp_path / f"in{suffix}", Photo(img))
    original = src.read_bytes()
    source_pixels = read_image(src).pixels
    out_suffix = ".png" if suffix in (".jpg", ".webp", ".bmp") else suffix   # lossless outputs to compare
    outputs = {}
    for tile in ("0", "64"):
        out = tmp_path / f"out-{tile}{out_suffix}"
        code, _stdout, stderr = cli(task, src, "-o", out, "--device", "cpu", "--tile", tile,
                                    *task_args(task, tmp_path, save_image))
        assert code == 0, stderr
        outputs[tile] = read_image(out).pixels
    assert src.read_bytes() == original, "the input file is never modified"
    whole, tiled = outputs["0"], outputs["64"]
    scale = 2 if task == "upscale" else 1
    assert whole.shape == (H * scale, W * scale, source_pixels.shape[2])
    assert whole.dtype == source_pixels.dtype, "bit depth kept through a CLI run"
    max_diff, mean_diff = levels(whole, tiled)
    assert max_diff <= 1.0 and mean_diff < 0.01   # same bound as tests/engine/test_engine_tasks.py
    if source_pixels.shape[2] == 4 and task != "upscale":
        assert np.array_equal(whole[..., 3], source_pixels[..., 3]), "alpha kept"
    if task == "inpaint":
        untouched = np.ones((H, W), bool)
        untouched[H // 2:H // 2 + 3, 4:W - 4] = False
        untouched[20:34, 15:32] = False
        assert np.array_equal(whole[untouched], source_pixels[untouched])
    assert not any(name.endswith(".part") for name in listing(tmp_path))


def test_16_bit_png_and_tiff_keep_16_bits(cli, tmp_path, make_image, save_image):
    for suffix in (".png", ".tif"):
        img = make_image(37, 53, 3, np.uint16, seed=9)
        src = save_image(tmp_path / f"deep{suffix}", img)
        out = tmp_path / f"deep-out{suffix}"
        assert cli("upscale", src, "-o", out, "--scale", "2", "--model", "bicubic", "--device", "cpu")[0] == 0
        pixels = read_image(out).pixels
        assert pixels.dtype == np.uint16 and pixels.shape == (74, 106, 3)
        assert len(np.unique(pixels & 0xFF)) > 200, "low byte carries information, not 8-bit data shifted"


@pytest.mark.parametrize("out_suffix", [".png", ".jpg", ".webp"])
def test_icc_and_exif_carried_through_the_cli(out_suffix, cli, tmp_path, make_image):
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x013B] = "Grandma"
    exif[0x0112] = 6
    src = tmp_path / "scan.jpg"
    Image.fromarray(make_image(30, 44, 3)).save(src, "JPEG", quality=95, icc_profile=icc, exif=exif.tobytes())
    out = tmp_path / f"restored{out_suffix}"
    code, _o, err = cli("denoise", src, "-o", out, "--sigma", "5", "--model", "nlm", "--device", "cpu")
    assert code == 0, err
    with Image.open(out) as im:
        assert im.info.get("icc_profile") == icc
        carried = im.getexif()
        assert carried.get(0x013B) == "Grandma"
        assert carried.get(0x0112) in (None, 1), "orientation was applied, so it must not be applied twice"
        assert im.size == (30, 44), "orientation 6 turned the 44x30 photo upright"


def test_existing_output_refused_without_overwrite(cli, tmp_path, make_image, save_image, one_error_line):
    src = save_image(tmp_path / "in.png", make_image(20, 30))
    out = tmp_path / "out.png"
    out.write_bytes(b"keep me")
    code, _o, err = cli("upscale", src, "-o", out, "--model", "lanczos", "--device", "cpu")
    assert code == 2 and "already exists" in one_error_line(err) and out.read_bytes() == b"keep me"
    assert cli("upscale", src, "-o", out, "--model", "lanczos", "--device", "cpu", "--overwrite")[0] == 0
    assert read_image(out).pixels.shape == (40, 60, 3)


def test_input_never_overwritten_unless_asked(cli, tmp_path, make_image, save_image, one_error_line):
    img = make_image(20, 30)
    src = save_image(tmp_path / "in.png", img)
    before = src.read_bytes()
    code, _o, err = cli("denoise", src, "-o", src, "--sigma", "30", "--model", "nlm", "--device", "cpu")
    assert code == 2 and "overwrite" in one_error_line(err) and src.read_bytes() == before
    code, _o, err = cli("denoise", src, "-o", tmp_path, "--sigma", "30", "--model", "nlm", "--device", "cpu")   # OUT = folder of IN
    assert code == 2 and src.read_bytes() == before
    assert cli("denoise", src, "-o", src, "--sigma", "30", "--model", "nlm", "--device", "cpu", "--overwrite")[0] == 0
    assert src.read_bytes() != before and read_image(src).pixels.shape == img.shape


def test_output_folder(cli, tmp_path, make_image, save_image):
    src = save_image(tmp_path / "in.png", make_image(20, 30))
    folder = tmp_path / "results"
    folder.mkdir()
    assert cli("upscale", src, "-o", folder, "--scale", "3", "--model", "bicubic", "--device", "cpu")[0] == 0
    assert read_image(folder / "in.png").pixels.shape == (60, 90, 3)


def test_batch_folder_goes_on_past_a_bad_file(cli, tmp_path, make_image, save_image, listing):
    inputs = tmp_path / "in"
    inputs.mkdir()
    save_image(inputs / "a.png", make_image(20, 30))
    save_image(inputs / "b.tif", make_image(21, 31, 1, np.uint16))
    (inputs / "c.jpg").write_bytes(b"\xff\xd8\xff garbage")
    out = tmp_path / "out"
    out.mkdir()
    code, _o, err = cli("upscale", inputs, "-o", out, "--model", "lanczos", "--device", "cpu")
    assert code == 2
    assert listing(out) == ["a.png", "b.tif"]
    assert "c.jpg" in err and "corrupt" in err
    assert read_image(out / "b.tif").pixels.dtype == np.uint16


def test_inpaint_mask_folder(cli, tmp_path, make_image, save_image):
    inputs, masks, out = tmp_path / "in", tmp_path / "masks", tmp_path / "out"
    for d in (inputs, masks, out):
        d.mkdir()
    img = make_image(30, 40)
    save_image(inputs / "p.jpg", img)
    mask = np.zeros((30, 40), np.uint8)
    mask[10:12, 5:35] = 255
    save_image(masks / "p.png", mask)
    assert cli("inpaint", inputs, "-o", out, "--mask", masks, "--device", "cpu")[0] == 0
    assert (out / "p.jpg").exists()


def test_cancelled_cli_run_leaves_no_file(cli, tmp_path, make_image, save_image, monkeypatch, listing):
    import restora.cli as cli_mod

    calls = []

    def interrupt(self, fraction):
        calls.append(fraction)
        if fraction > 0:
            raise KeyboardInterrupt

    monkeypatch.setattr(cli_mod.Progress, "__call__", interrupt)
    src = save_image(tmp_path / "in.png", make_image(97, 131))
    code, _o, err = cli("upscale", src, "-o", tmp_path / "out.png", "--tile", "64", "--model", "lanczos",
                        "--device", "cpu")
    assert code == 130 and "interrupted" in err
    assert listing(tmp_path) == ["in.png"]
    assert len([c for c in calls if c > 0]) == 1


def test_failed_write_leaves_no_file(cli, tmp_path, make_image, save_image, listing, monkeypatch, one_error_line):
    import restora.engine.imageio as imageio

    src = save_image(tmp_path / "in.png", make_image(20, 30))

    def full_disk(_fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(imageio.files.os, "fsync", full_disk)
    code, _o, err = cli("upscale", src, "-o", tmp_path / "out.png", "--model", "lanczos", "--device", "cpu")
    assert code == 2 and "No space left on device" in one_error_line(err)
    assert listing(tmp_path) == ["in.png"], "no output and no stray .part file"


def test_spandrel_models_from_the_cli(cli, tmp_path, make_image, save_image, model_files):
    gray = save_image(tmp_path / "gray.png", make_image(37, 53, 1))
    rgb = save_image(tmp_path / "rgb.png", make_image(37, 53, 3))
    # colour model on a gray photo, gray model on a colour photo; scale defaults to the model's (×2)
    assert cli("upscale", gray, "-o", tmp_path / "g2.png", "--model", model_files["rgb_x2"], "--device", "cpu")[0] == 0
    assert read_image(tmp_path / "g2.png").pixels.shape == (74, 106, 1)
    assert cli("upscale", rgb, "-o", tmp_path / "r2.png", "--model", model_files["gray_x2"], "--device", "cpu")[0] == 0
    assert read_image(tmp_path / "r2.png").pixels.shape == (74, 106, 3)
    assert cli("denoise", rgb, "-o", tmp_path / "d.png", "--model", model_files["gray_denoise"], "--device", "cpu")[0] == 0
    assert read_image(tmp_path / "d.png").pixels.shape == (37, 53, 3)


def test_real_model_upscales_x4_from_the_cli(cli, real_model, tmp_path, make_image, save_image):
    src = save_image(tmp_path / "small.png", make_image(23, 31, 3))
    code, _o, err = cli("upscale", src, "-o", tmp_path / "big.png", "--model", real_model, "--device", "cpu")
    assert code == 0, err
    assert read_image(tmp_path / "big.png").pixels.shape == (92, 124, 3)
