"""Hostile and odd files: decompression bombs, empty/truncated/random files, CMYK, multi-page,
ICC profiles that no longer match the pixels or are huge, long PNG text, file modes, symlinks,
devices and FIFOs, stale part files (ours only), engine calls with bad arguments, and a
property test of write → read.

Every refusal is a BadInputError with a one-line message, prints nothing, writes nothing
and leaves the input file as it was.
"""
from __future__ import annotations

import errno
import io
import os
import stat
import struct
import time
import warnings
import zlib

import numpy as np
import pytest
from helpers import random_pixels
from PIL import Image

from restora.engine import BadInputError, Photo, RestoraError, read_image, write_image
from restora.engine import imageio


# --- helpers ----------------------------------------------------------------------

def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_claiming(width: int, height: int) -> bytes:
    """A valid-looking PNG (good CRCs) whose IHDR claims width x height, with one tiny IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + png_chunk(b"IEND", b""))


def tiff_claiming(width: int, height: int) -> bytes:
    """A little-endian baseline TIFF whose only IFD claims width x height 8-bit gray, 16 bytes of data."""
    entries = [(256, 4, width), (257, 4, height), (258, 3, 8), (259, 3, 1), (262, 3, 1),
               (273, 4, 0), (277, 3, 1), (278, 4, height), (279, 4, 16)]
    ifd_size = 2 + 12 * len(entries) + 4
    data_offset = 8 + ifd_size
    ifd = struct.pack("<H", len(entries))
    for tag, kind, value in entries:
        value = data_offset if tag == 273 else value
        packed = struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value)
        ifd += struct.pack("<HHI", tag, kind, 1) + packed
    return b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + bytes(16)


def fake_icc(space: bytes) -> bytes:
    """A 128-byte ICC header (no tags) saying its data colour space is ``space``: enough for the
    colour-space rule, not usable by a colour engine."""
    header = bytearray(128)
    struct.pack_into(">I", header, 0, 128)
    header[12:16] = b"mntr" if space != b"CMYK" else b"prtr"
    header[16:20] = space
    header[20:24] = b"XYZ "
    header[36:40] = b"acsp"
    return bytes(header)


def encoded(pixels: np.ndarray, fmt: str, **kwargs) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, fmt, **kwargs)
    return out.getvalue()


def noisy(h: int = 48, w: int = 64, channels: int = 3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (h, w, channels), dtype=np.uint8)


def assert_refused(path, match: str, capfd=None, **kwargs) -> str:
    """read_image(path) raises a one-line BadInputError matching ``match``, leaves the file and its
    folder as they were and (with ``capfd``) prints nothing."""
    before = path.read_bytes() if path.is_file() else None
    listing = sorted(os.listdir(path.parent))
    if capfd is not None:
        capfd.readouterr()
    with pytest.raises(BadInputError, match=match) as info:
        read_image(path, **kwargs)
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(path)), message
    assert "OpenCV" not in message and "cv2" not in message and "Traceback" not in message
    if capfd is not None:
        out, err = capfd.readouterr()
        assert out == "" and err == "", f"printed: {out!r} {err!r}"
    if before is not None:
        assert path.read_bytes() == before
    assert sorted(os.listdir(path.parent)) == listing
    return message


@pytest.fixture(autouse=True)
def _default_limit(monkeypatch):
    """Every test starts (and ends) with the default pixel limit."""
    monkeypatch.delenv("RESTORA_MAX_PIXELS", raising=False)
    imageio.set_max_pixels(None)
    yield
    imageio.set_max_pixels(None)


@pytest.fixture
def umask():
    """Set the process umask for one test: ``umask(0o022)``; restored after."""
    old = os.umask(0o022)
    os.umask(old)
    yield lambda mask: os.umask(mask)
    os.umask(old)


posix_only = pytest.mark.skipif(os.name == "nt", reason="POSIX file modes and symlinks")


# --- 1. decompression bombs ---------------------------------------------------------

@pytest.mark.parametrize("suffix, data", [(".png", png_claiming(60000, 60000)),
                                          (".tif", tiff_claiming(60000, 60000))])
def test_bomb_refused_from_the_header(suffix, data, tmp_path, capfd):
    path = tmp_path / f"photo{suffix}"
    path.write_bytes(data)
    message = assert_refused(path, "over the 300 MP limit", capfd)
    assert message == (f"{path}: 60000x60000 pixels (3600 MP) is over the 300 MP limit; "
                       "raise it with --max-pixels or RESTORA_MAX_PIXELS")
    with pytest.raises(BadInputError, match="60000x60000 pixels .3600 MP. is over the 300 MP limit"):
        imageio.image_size(path)
    assert imageio.image_size(path, max_pixels=60000 * 60000) == (60000, 60000)


def test_default_limit_is_300_mp():
    assert imageio.DEFAULT_MAX_PIXELS == 300_000_000 and imageio.max_pixels() == 300_000_000


def test_one_pixel_over_the_limit(tmp_path):
    path = write_image(tmp_path / "small.png", Photo(noisy(10, 20)))
    imageio.set_max_pixels(199)
    assert imageio.max_pixels() == 199
    message = assert_refused(path, "over the")
    assert message == (f"{path}: 20x10 pixels (200 pixels) is over the 199 pixels limit; "
                       "raise it with --max-pixels or RESTORA_MAX_PIXELS")
    with pytest.raises(BadInputError, match="over the"):
        imageio.image_size(path)
    imageio.set_max_pixels(200)
    assert read_image(path).pixels.shape == (10, 20, 3) and imageio.image_size(path) == (20, 10)


def test_just_over_a_round_limit_names_exact_counts(tmp_path):
    path = tmp_path / "big.png"
    path.write_bytes(png_claiming(1_000_001, 300))
    assert_refused(path, r"1000001x300 pixels \(300,000,300 pixels\) is over the 300,000,000-pixel limit")


def test_explicit_and_environment_limits(tmp_path, monkeypatch):
    path = write_image(tmp_path / "small.png", Photo(noisy(10, 10)))
    assert read_image(path, max_pixels=100).pixels.shape == (10, 10, 3)
    assert_refused(path, "over the 99 pixels limit", max_pixels=99)
    imageio.set_max_pixels(50)
    assert read_image(path, max_pixels=100).pixels.shape == (10, 10, 3)   # the call's own limit wins
    monkeypatch.setenv("RESTORA_MAX_PIXELS", "1000")
    assert imageio.max_pixels() == 50                                     # --max-pixels beats the environment
    imageio.set_max_pixels(None)
    assert imageio.max_pixels() == 1000
    for junk in ("lots", "-5", "0", "1.5e9", ""):
        monkeypatch.setenv("RESTORA_MAX_PIXELS", junk)
        assert imageio.max_pixels() == imageio.DEFAULT_MAX_PIXELS, junk  # invalid: ignored
    monkeypatch.delenv("RESTORA_MAX_PIXELS")
    assert imageio.max_pixels() == imageio.DEFAULT_MAX_PIXELS


@pytest.mark.parametrize("bad", [0, -1, 2.5, "100", True])
def test_set_max_pixels_refuses_nonsense(bad):
    with pytest.raises(BadInputError, match="pixel limit must be a whole number above 0"):
        imageio.set_max_pixels(bad)
    assert imageio.max_pixels() == imageio.DEFAULT_MAX_PIXELS


def test_pillow_own_bomb_check_does_not_interfere(tmp_path):
    # 200 MP: under our limit, over twice Pillow's default (which would raise DecompressionBombError)
    path = tmp_path / "pano.png"
    path.write_bytes(png_claiming(20000, 10000))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert imageio.image_size(path) == (20000, 10000)


def test_image_size_reads_only_the_header(tmp_path, monkeypatch):
    path = write_image(tmp_path / "a.jpg", Photo(noisy(30, 40)))
    monkeypatch.setattr(imageio.decode, "_cv2_decode", lambda _data: pytest.fail("decoded pixels"))
    assert imageio.image_size(path) == (40, 30)


def test_image_size_is_the_upright_size(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6                   # stored 40 wide x 30 high, shown turned a quarter
    path = tmp_path / "turned.jpg"
    Image.fromarray(noisy(30, 40)).save(path, "JPEG", exif=exif.tobytes())
    assert imageio.image_size(path) == (30, 40)
    assert read_image(path).pixels.shape[:2] == (40, 30)


def test_image_size_refuses_like_read_image(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("hello")
    for name, match in [("missing.png", "file not found"), ("empty.png", r"is empty \(0 bytes\)"),
                        ("text.png", "not an image")]:
        with pytest.raises(BadInputError, match=match):
            imageio.image_size(tmp_path / name)
        with pytest.raises(BadInputError, match=match):
            read_image(tmp_path / name)
    with pytest.raises(BadInputError, match="is a folder"):
        imageio.image_size(tmp_path)


# --- 2. messages that do not mislead ------------------------------------------------

def test_empty_file(tmp_path, capfd):
    path = tmp_path / "photo.jpg"
    path.write_bytes(b"")
    assert assert_refused(path, "empty", capfd) == f"{path}: the file is empty (0 bytes)"


def test_random_bytes(tmp_path, capfd):
    path = tmp_path / "photo.png"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    message = assert_refused(path, "not an image", capfd)
    assert "PNG, JPEG, TIFF, WebP or BMP" in message


def test_other_image_formats_are_named(tmp_path):
    path = tmp_path / "anim.gif"
    Image.new("RGB", (4, 4)).save(path, "GIF")
    assert "GIF is not a supported image format" in assert_refused(path, "not a supported image")


def truncated_cases():
    img = noisy(64, 80)
    cases = {
        "png-half": encoded(img, "PNG")[:4000],
        "png-no-iend": encoded(img, "PNG")[:-12],        # every IDAT there, the IEND chunk missing
        "jpeg-half": encoded(img, "JPEG", quality=90)[:3000],
        "jpeg-no-eoi": encoded(img, "JPEG", quality=90)[:-2],
        "progressive-jpeg": encoded(img, "JPEG", quality=90, progressive=True)[:2500],
        "tiff-half": encoded(img, "TIFF")[:8000],
        "tiff-header-only": encoded(img, "TIFF")[:8],
        "webp-half": encoded(img, "WEBP", quality=90)[:2000],
    }
    return list(cases.items())


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data:UserWarning")  # pytest resets our filter per test
@pytest.mark.parametrize("name, data", truncated_cases(), ids=[n for n, _ in truncated_cases()])
def test_truncated_files(name, data, tmp_path, capfd):
    fmt = {"png": "PNG", "jpeg": "JPEG", "progressive": "JPEG", "tiff": "TIFF", "webp": "WEBP"}[name.split("-")[0]]
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(data)
    message = assert_refused(path, "corrupt or truncated", capfd)
    assert message.startswith(f"{path}: the {fmt} file is corrupt or truncated"), message


def test_corrupt_data_decoders_complain_about_stays_quiet(tmp_path, capfd):
    """Files that pass the structure checks but whose compressed pixels are garbage: the decoders
    (libpng, libtiff) print errors on the C-level stderr; none may show."""
    img = noisy(64, 80)
    png = bytearray(encoded(img, "PNG"))
    start = png.index(b"IDAT") + 4
    png[start + 100:start + 400] = bytes(300)
    tif = io.BytesIO()
    import tifffile

    tifffile.imwrite(tif, img, photometric="rgb", compression="zlib")
    tif = bytearray(tif.getvalue())
    tif[300:1200] = b"\xff" * 900
    for name, data in [("bad.png", png), ("bad.tif", tif)]:
        path = tmp_path / name
        path.write_bytes(bytes(data))
        capfd.readouterr()
        try:
            read_image(path)
        except BadInputError as exc:
            assert "corrupt or truncated" in str(exc)
        out, err = capfd.readouterr()
        assert out == "" and err == "", f"{name} printed: {err!r}"


def test_stderr_is_restored_after_a_decode(tmp_path, capfd):
    path = tmp_path / "cut.png"
    path.write_bytes(encoded(noisy(), "PNG")[:-12] + b"\x00\x00\x00\x00IEND")  # IEND present, data cut
    with pytest.raises(BadInputError):
        read_image(path)
    os.write(2, b"still here\n")
    assert capfd.readouterr().err == "still here\n"


def test_nothing_printed_in_a_real_process(tmp_path):
    """Outside pytest's capture: the libraries' warnings (C stderr, Python warnings, tifffile's
    logging) must not reach a terminal; only our messages, which the CLI prints itself."""
    import subprocess
    import sys

    img = noisy(64, 80)
    files = {"cut.png": encoded(img, "PNG")[:-12] + b"\x00\x00\x00\x00IEND",
             "cut.tif": encoded(img, "TIFF")[:8000], "head.tif": encoded(img, "TIFF")[:8],
             "cut.jpg": encoded(img, "JPEG")[:3000], "bomb.png": png_claiming(60000, 60000),
             "bomb.tif": tiff_claiming(60000, 60000), "empty.png": b"", "junk.webp": b"RIFF\x10\x00\x00\x00WEBPjunk"}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    script = ("import sys\nfrom restora.engine import BadInputError, read_image\n"
              "for p in sys.argv[1:]:\n    try:\n        read_image(p)\n"
              "    except BadInputError as e:\n        print(e)\n")
    done = subprocess.run([sys.executable, "-c", script, *sorted(files)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert len(done.stdout.splitlines()) == len(files), done.stdout


def test_concurrent_decodes_restore_stderr(tmp_path, capfd):
    from concurrent.futures import ThreadPoolExecutor

    good = write_image(tmp_path / "good.png", Photo(noisy()))
    bad = tmp_path / "bad.png"
    bad.write_bytes(encoded(noisy(), "PNG")[:-12] + b"\x00\x00\x00\x00IEND")

    def one(i):
        try:
            return read_image(good if i % 2 else bad).pixels.shape
        except BadInputError:
            return None

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(one, range(40)))
    assert results.count(None) == 20 and results.count((48, 64, 3)) == 20
    capfd.readouterr()
    os.write(2, b"still here\n")
    assert capfd.readouterr().err == "still here\n"


def test_jpeg_end_check():
    img = noisy(40, 40)
    thumb = encoded(noisy(8, 8), "JPEG")
    exif = Image.Exif()
    exif[0x013B] = "someone"
    whole = encoded(img, "JPEG", quality=90, exif=exif.tobytes())
    assert imageio.probe._jpeg_complete(whole)
    assert imageio.probe._jpeg_complete(whole + b"\x00" * 100 + b"ftypmp42 a motion photo's video")
    assert not imageio.probe._jpeg_complete(whole[:-2])
    assert not imageio.probe._jpeg_complete(whole[:len(whole) // 2])
    # a complete thumbnail inside an APP1 segment has its own EOI: it must not count
    app1 = b"\xff\xe1" + struct.pack(">H", len(thumb) + 2) + thumb
    with_thumb = whole[:2] + app1 + whole[2:]
    assert imageio.probe._jpeg_complete(with_thumb)
    assert not imageio.probe._jpeg_complete(with_thumb[:len(app1) + 600])


# --- 3. multi-page, animation, CMYK, thin images, odd names -------------------------

def test_multi_page_tiff_reads_the_first_page(tmp_path):
    pages = [Image.new("RGB", (8, 6), c) for c in [(200, 10, 10), (10, 200, 10)]]
    path = tmp_path / "pages.tif"
    pages[0].save(path, "TIFF", save_all=True, append_images=pages[1:])
    photo = read_image(path)
    assert photo.pixels.shape == (6, 8, 3) and tuple(photo.pixels[0, 0]) == (200, 10, 10)


def test_animated_webp_reads_the_first_frame(tmp_path):
    frames = [Image.new("RGB", (8, 6), c) for c in [(200, 10, 10), (10, 200, 10)]]
    path = tmp_path / "anim.webp"
    frames[0].save(path, "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    photo = read_image(path)
    assert photo.pixels.shape == (6, 8, 3) and tuple(photo.pixels[0, 0]) == (200, 10, 10)


def test_animated_webp_without_opencv_support(tmp_path, monkeypatch):
    frames = [Image.new("RGBA", (8, 6), c) for c in [(200, 10, 10, 128), (10, 200, 10, 255)]]
    path = tmp_path / "anim.webp"
    frames[0].save(path, "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    monkeypatch.setattr(imageio.decode, "_cv2_decode", lambda _data: None)   # OpenCV < 4.11
    photo = read_image(path)
    assert photo.pixels.shape == (6, 8, 4) and tuple(photo.pixels[0, 0]) == (200, 10, 10, 128)


CMYK_PATCHES = [  # (C, M, Y, K) → RGB by the naive formula
    ((255, 0, 0, 0), (0, 255, 255)),
    ((0, 255, 0, 0), (255, 0, 255)),
    ((0, 0, 255, 0), (255, 255, 0)),
    ((0, 0, 0, 255), (0, 0, 0)),
    ((0, 0, 0, 0), (255, 255, 255)),
]


def cmyk_image() -> Image.Image:
    cmyk = np.zeros((8, 8 * len(CMYK_PATCHES), 4), np.uint8)
    for i, (ink, _rgb) in enumerate(CMYK_PATCHES):
        cmyk[:, 8 * i:8 * i + 8] = ink
    return Image.fromarray(cmyk, "CMYK")


@pytest.mark.parametrize("fmt, suffix, tolerance", [("JPEG", ".jpg", 6), ("TIFF", ".tif", 0)])
@pytest.mark.parametrize("with_profile", [False, True])
def test_cmyk_becomes_rgb(fmt, suffix, tolerance, with_profile, tmp_path):
    path = tmp_path / f"print{suffix}"
    kwargs = {"quality": 100} if fmt == "JPEG" else {}
    if with_profile:
        kwargs["icc_profile"] = fake_icc(b"CMYK")
    cmyk_image().save(path, fmt, **kwargs)
    photo = read_image(path)
    assert photo.pixels.shape == (8, 8 * len(CMYK_PATCHES), 3) and photo.pixels.dtype == np.uint8
    for i, (_ink, rgb) in enumerate(CMYK_PATCHES):
        got = photo.pixels[4, 8 * i + 4].astype(int)
        assert np.abs(got - rgb).max() <= tolerance, (i, got, rgb)   # not inverted, not BGR
    assert photo.icc_profile is None      # the CMYK profile does not describe RGB pixels
    for out in ("o.png", "o.jpg", "o.tif", "o.webp"):
        with Image.open(write_image(tmp_path / out, photo)) as im:
            assert "icc_profile" not in im.info or not im.info["icc_profile"], out


def test_cmyk_profile_is_never_written_with_rgb_pixels(tmp_path):
    photo = Photo(noisy(10, 12), icc_profile=fake_icc(b"CMYK"))
    for out in ("o.png", "o.jpg", "o.tif", "o.webp"):
        with Image.open(write_image(tmp_path / out, photo)) as im:
            assert not im.info.get("icc_profile"), out


def test_profile_rule():
    rgb, gray, cmyk = fake_icc(b"RGB "), fake_icc(b"GRAY"), fake_icc(b"CMYK")
    assert imageio.icc._profile_for(3, rgb) == rgb and imageio.icc._profile_for(4, rgb) == rgb
    assert imageio.icc._profile_for(1, gray) == gray and imageio.icc._profile_for(2, gray) == gray
    assert imageio.icc._profile_for(1, rgb) is None and imageio.icc._profile_for(3, gray) is None
    assert all(imageio.icc._profile_for(c, cmyk) is None for c in (1, 2, 3, 4))
    assert imageio.icc._profile_for(3, None) is None and imageio.icc._profile_for(3, b"short") is None


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_gray_alpha_png_with_gray_profile(dtype, tmp_path, make_image):
    gray = fake_icc(b"GRAY")
    img = make_image(17, 23, 2, dtype)
    path = write_image(tmp_path / "la.png", Photo(img, icc_profile=gray))
    data = path.read_bytes()
    assert data[24:26] == bytes([8 * np.dtype(dtype).itemsize, 4]), "IHDR: gray+alpha, bit depth kept"
    with Image.open(path) as im:
        assert im.info.get("icc_profile") == gray
        if dtype == np.uint8:
            assert im.mode == "LA" and np.array_equal(np.asarray(im), img)
    photo = read_image(path)        # OpenCV gives gray+alpha PNGs as RGBA
    assert photo.pixels.dtype == dtype and photo.pixels.shape == (17, 23, 4)
    assert all(np.array_equal(photo.pixels[..., c], img[..., 0]) for c in range(3))
    assert np.array_equal(photo.pixels[..., 3], img[..., 1])
    # ...so the GRAY profile no longer matches and is not written with those RGBA pixels
    with Image.open(write_image(tmp_path / "again.png", photo)) as im:
        assert not im.info.get("icc_profile")


def test_gray_profile_kept_with_gray_dropped_with_colour(tmp_path, make_image):
    gray = fake_icc(b"GRAY")
    for out in ("g.png", "g.jpg", "g.tif"):
        with Image.open(write_image(tmp_path / out, Photo(make_image(9, 11, 1), icc_profile=gray))) as im:
            assert im.info.get("icc_profile") == gray, out
    for out, pixels in [("c.png", make_image(9, 11, 3)), ("c.tif", make_image(9, 11, 4)),
                        ("w.webp", make_image(9, 11, 1))]:   # WebP stores gray as RGB
        with Image.open(write_image(tmp_path / out, Photo(pixels, icc_profile=gray))) as im:
            assert not im.info.get("icc_profile"), out


def big_icc(size: int, space: bytes = b"RGB ") -> bytes:
    """A ``size``-byte profile of random bytes (they do not compress) with an ICC header."""
    icc = bytearray(np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes())
    icc[:128] = fake_icc(space)
    return bytes(icc)


def test_large_icc_profile_round_trips(tmp_path, capfd):
    """Pillow refuses a PNG whose profile inflates to over 1 MB: Restora must read what it wrote."""
    icc = big_icc(1_500_000)
    src = tmp_path / "in.jpg"
    src.write_bytes(encoded(noisy(32, 32), "JPEG", icc_profile=icc))
    capfd.readouterr()
    photo = read_image(src)
    assert photo.icc_profile == icc
    out = write_image(tmp_path / "out.png", photo)
    again = read_image(out)
    assert again.icc_profile == icc and again.pixels.shape == (32, 32, 3)
    assert imageio.image_size(out) == (32, 32)
    assert read_image(write_image(tmp_path / "again.jpg", again)).icc_profile == icc
    assert capfd.readouterr() == ("", ""), "no libpng warning or anything else printed"


def test_png_with_a_long_compressed_comment(tmp_path, capfd):
    ok_png = encoded(noisy(8, 8), "PNG")
    text = png_chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"a" * 2_000_000))
    path = tmp_path / "ztxt.png"
    path.write_bytes(ok_png[:33] + text + ok_png[33:])
    capfd.readouterr()
    assert np.array_equal(read_image(path).pixels, noisy(8, 8))
    assert capfd.readouterr() == ("", "")


def test_text_inflation_bomb_still_refused(tmp_path, capfd):
    ok_png = encoded(noisy(8, 8), "PNG")
    bomb = png_chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(bytes(65 << 20), 9))   # 65 MB of zeros
    path = tmp_path / "bomb.png"
    path.write_bytes(ok_png[:33] + bomb + ok_png[33:])
    assert_refused(path, "corrupt", capfd)


def test_oversized_icc_profile_is_dropped(tmp_path):
    limit = imageio.icc._MAX_ICC_BYTES
    assert 16_000_000 < limit <= 255 * 65519, "what JPEG can carry"
    huge = fake_icc(b"RGB ") + bytes(limit + 1 - 128)        # zeros: compresses well
    for out in ("h.png", "h.tif", "h.jpg"):
        path = write_image(tmp_path / out, Photo(noisy(4, 4), icc_profile=huge))
        assert read_image(path).icc_profile is None, out
    # a file that already carries one: the photo is read, the profile left behind
    ok_png = encoded(noisy(4, 4), "PNG")
    path = tmp_path / "carries.png"
    path.write_bytes(ok_png[:33] + png_chunk(b"iCCP", b"big\x00\x00" + zlib.compress(huge)) + ok_png[33:])
    photo = read_image(path)
    assert photo.icc_profile is None and np.array_equal(photo.pixels, noisy(4, 4))
    largest = huge[:limit]
    assert read_image(write_image(tmp_path / "largest.jpg", Photo(noisy(4, 4), icc_profile=largest))).icc_profile \
        == largest


@pytest.mark.parametrize("shape", [(1, 9), (9, 1), (1, 1)])
@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tif", ".webp", ".bmp"])
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_thin_images(shape, suffix, channels, tmp_path):
    img = noisy(*shape, channels)
    photo = read_image(write_image(tmp_path / f"thin{suffix}", Photo(img)))
    assert photo.pixels.shape[:2] == shape


@pytest.mark.parametrize("name", ["фото 写真 é.png", "-rf.jpg", "--overwrite.tif", "-.webp", "😀.bmp"])
def test_odd_file_names(name, tmp_path, monkeypatch):
    img = noisy(6, 7)
    path = write_image(tmp_path / name, Photo(img))
    assert path.name == name and read_image(path).pixels.shape == (6, 7, 3)
    monkeypatch.chdir(tmp_path)   # relative, so the name really starts with '-'
    assert read_image(name).pixels.shape == (6, 7, 3)
    write_image(name, Photo(img), overwrite=True)
    assert sorted(os.listdir(tmp_path)) == [name]


# --- 5. file modes and symlinks -------------------------------------------------------

@posix_only
@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_new_files_get_the_umask_mode(mask, mode, umask, tmp_path):
    umask(mask)
    path = write_image(tmp_path / "new.png", Photo(noisy(4, 4)))
    assert stat.S_IMODE(path.stat().st_mode) == mode


@posix_only
def test_umask_without_proc(umask, tmp_path, monkeypatch):
    def no_proc(*_a, **_k):
        raise OSError(errno.ENOENT, "No such file or directory")

    monkeypatch.setattr(imageio.files, "open", no_proc, raising=False)   # shadows the builtin in the module
    umask(0o027)
    assert imageio.files._umask() == 0o027
    assert os.umask(0o027) == 0o027, "the umask is put back"
    path = write_image(tmp_path / "new.png", Photo(noisy(4, 4)))
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


@posix_only
def test_atomic_write_new_file_mode(umask, tmp_path):
    umask(0o022)
    imageio.atomic_write_bytes(tmp_path / "secret.json", b"{}", mode=0o600)   # e.g. a private config file
    assert stat.S_IMODE((tmp_path / "secret.json").stat().st_mode) == 0o600
    (tmp_path / "secret.json").chmod(0o640)
    imageio.atomic_write_bytes(tmp_path / "secret.json", b"{}", mode=0o600)
    assert stat.S_IMODE((tmp_path / "secret.json").stat().st_mode) == 0o640   # replaced: mode kept


@posix_only
@pytest.mark.parametrize("mode", [0o644, 0o600, 0o664])
def test_overwrite_keeps_the_mode(mode, umask, tmp_path):
    umask(0o077)
    path = tmp_path / "old.png"
    path.write_bytes(b"old")
    path.chmod(mode)
    write_image(path, Photo(noisy(4, 4)), overwrite=True)
    assert stat.S_IMODE(path.stat().st_mode) == mode and path.read_bytes() != b"old"


@posix_only
def test_symlink_target_is_rewritten(tmp_path):
    real_dir = tmp_path / "real"
    real_dir.mkdir()
    target = real_dir / "photo.png"
    target.write_bytes(b"old")
    link = tmp_path / "link.png"
    link.symlink_to(target)
    with pytest.raises(BadInputError, match="already exists"):
        write_image(link, Photo(noisy(4, 4)))
    assert target.read_bytes() == b"old" and link.is_symlink()
    img = noisy(5, 6)
    write_image(link, Photo(img), overwrite=True)
    assert link.is_symlink() and os.readlink(link) == str(target), "the link stays a link"
    assert np.array_equal(read_image(target).pixels, img)
    assert sorted(os.listdir(real_dir)) == ["photo.png"] and sorted(os.listdir(tmp_path)) == ["link.png", "real"]


@posix_only
@pytest.mark.parametrize("overwrite", [False, True])
def test_dangling_symlink_is_refused(overwrite, tmp_path):
    link = tmp_path / "link.png"
    link.symlink_to(tmp_path / "elsewhere" / ".." / "nowhere.png")
    with pytest.raises(BadInputError, match=r"link.png: is a link to a missing file$"):
        write_image(link, Photo(noisy(4, 4)), overwrite=overwrite)
    with pytest.raises(BadInputError, match="is a link to a missing file"):
        imageio.atomic_write_bytes(link, b"{}")     # recipes and the trust store go this way
    assert os.listdir(tmp_path) == ["link.png"] and link.is_symlink()


def special_files(folder):
    """(name, path, kind check) of files that are not regular files, made in ``folder``: a FIFO,
    a link to one, and (as root) a link to a private character device node, like /dev/null."""
    os.mkfifo(folder / "pipe.png")
    (folder / "pipe-link.png").symlink_to(folder / "pipe.png")
    cases = [("fifo", folder / "pipe.png", stat.S_ISFIFO), ("link to fifo", folder / "pipe-link.png", stat.S_ISFIFO)]
    if os.geteuid() == 0:
        os.mknod(folder / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
        (folder / "link.png").symlink_to(folder / "null")
        cases.append(("link to device", folder / "link.png", stat.S_ISCHR))
    return cases


@posix_only
@pytest.mark.parametrize("overwrite", [False, True])
def test_devices_and_fifos_are_never_replaced(overwrite, tmp_path):
    for name, path, kind in special_files(tmp_path):
        listing = sorted(os.listdir(tmp_path))
        with pytest.raises(BadInputError, match=r"is not a regular file \(a device, pipe or socket\)$"):
            write_image(path, Photo(noisy(4, 4)), overwrite=overwrite)
        with pytest.raises(BadInputError, match="is not a regular file"):
            imageio.atomic_write_bytes(path, b"{}")
        assert kind(os.stat(path).st_mode), f"{name} was replaced"
        assert sorted(os.listdir(tmp_path)) == listing, name


@posix_only
def test_devices_and_fifos_are_not_read(tmp_path):
    for _name, path, _kind in special_files(tmp_path):   # reading a FIFO would wait for a writer forever
        assert_refused(path, r"is not a regular file \(a device, pipe or socket\)$")
        with pytest.raises(BadInputError, match="is not a regular file"):
            imageio.image_size(path)


# --- 6. stale part files ---------------------------------------------------------------

def test_stale_part_files_are_swept(tmp_path):
    old = time.time() - 3600
    stale = tmp_path / ".photo.png.restora-abc123_z.part"
    fresh = tmp_path / ".photo.png.restora-k9x2m4q1.part"
    keep = [tmp_path / ".photo.png.restora-.part", tmp_path / "photo.png.restora-abcdefgh.part",   # not ours
            tmp_path / ".photo.png.restora-abcdefgh.partial", tmp_path / "notes.txt",
            tmp_path / ".photo.png.abcdefgh.part"]      # no "restora-": another program's
    for path in [stale, fresh, *keep]:
        path.write_bytes(b"x")
    for path in [stale, *keep]:
        os.utime(path, (old, old))
    write_image(tmp_path / "other.png", Photo(noisy(4, 4)))
    assert not stale.exists()
    assert fresh.exists() and all(p.exists() for p in keep)


@posix_only
def test_sweep_leaves_folders_and_links_alone(tmp_path):
    old = time.time() - 3600
    folder = tmp_path / ".dir.png.restora-abcdefgh.part"
    folder.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    link = tmp_path / ".link.png.restora-abcdefgh.part"
    link.symlink_to(victim)
    os.utime(folder, (old, old))
    os.utime(link, (old, old), follow_symlinks=False)
    write_image(tmp_path / "out.png", Photo(noisy(4, 4)))
    assert folder.is_dir() and link.is_symlink() and victim.read_text() == "keep me"


def test_other_programs_part_files_survive(tmp_path):
    """Editors, browsers and download managers leave hidden ".part" files too: only names with
    Restora's own marker are swept, however old the others are."""
    old = time.time() - 3600
    theirs = [".thesis.chapter1.part", ".video.mp4.download.part", ".backup.20240101.part", ".a.abcdefgh.part"]
    ours = ".photo.png.restora-x1y2z3_4.part"
    for name in [*theirs, ours]:
        (tmp_path / name).write_text("someone's work")
        os.utime(tmp_path / name, (old, old))
    write_image(tmp_path / "out.png", Photo(noisy(4, 4)))
    assert sorted(os.listdir(tmp_path)) == sorted([*theirs, "out.png"])
    assert all((tmp_path / name).read_text() == "someone's work" for name in theirs)


@pytest.mark.parametrize("name", ["out.png", "é" * 120 + ".png", "a" * 251 + ".png"])
def test_our_part_names_match_the_sweep(name, tmp_path, monkeypatch):
    """The part file a write makes is the pattern the sweep removes, and stays a valid name for a
    target name up to NAME_MAX (255 bytes)."""
    renamed = []
    real_replace, real_link = os.replace, os.link
    monkeypatch.setattr(imageio.files.os, "replace", lambda a, b: (renamed.append(a), real_replace(a, b)))
    monkeypatch.setattr(imageio.files.os, "link", lambda a, b: (renamed.append(a), real_link(a, b)))   # a new file
    write_image(tmp_path / name, Photo(noisy(4, 4)))
    part = os.path.basename(renamed[0])
    assert imageio.files._PART_NAME.match(part) and ".restora-" in part, part
    assert len(os.fsencode(part)) <= 255 and os.listdir(tmp_path) == [name]


# --- 7. write_image argument checks and failing disks ------------------------------------

BAD_PIXELS = {
    "float64": np.zeros((4, 4, 3), np.float64),
    "int32": np.zeros((4, 4, 3), np.int32),
    "bool": np.zeros((4, 4, 3), bool),
    "empty": np.zeros((0, 0, 3), np.uint8),
    "no rows": np.zeros((0, 5, 3), np.uint8),
    "5 channels": np.zeros((4, 4, 5), np.uint8),
    "0 channels": np.zeros((4, 4, 0), np.uint8),
    "4-D": np.zeros((1, 4, 4, 3), np.uint8),
    "1-D": np.zeros(12, np.uint8),
    "list": [[[0, 0, 0]]],
    "None": None,
}


@pytest.mark.parametrize("name", list(BAD_PIXELS))
@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_bad_pixels_refused_before_writing(name, suffix, tmp_path):
    with pytest.raises(BadInputError, match="^cannot write ") as info:
        write_image(tmp_path / f"out{suffix}", Photo(BAD_PIXELS[name]))
    assert "\n" not in str(info.value)
    assert os.listdir(tmp_path) == []


def _photo():
    return Photo(noisy(4, 4))


#: engine calls with arguments no caller should pass: each is one BadInputError (a RestoraError),
#: never a TypeError, ValueError or OSError, and writes nothing. ``d`` is an empty folder
#: holding only "in.png".
API_MISUSE = {
    "write_image(None, photo)": (lambda d: write_image(None, _photo()), r"^expected a file path"),
    "write_image(3, photo)": (lambda d: write_image(3, _photo()), r"^expected a file path \(str or Path\), got int"),
    "write_image(path, list)": (lambda d: write_image(d / "o.png", [[[0, 0, 0]]]),
                                r"^cannot write list as an image \(expected a Photo or a numpy pixel array\)"),
    "write_image(path, str)": (lambda d: write_image(d / "o.png", "in.png"), r"^cannot write str as an image"),
    "write_image(path, None)": (lambda d: write_image(d / "o.png", None), r"^cannot write NoneType as an image"),
    "encode_image(int)": (lambda d: imageio.encode_image(5, "PNG"), r"^cannot write int as an image"),
    "Photo(icc_profile=str)": (lambda d: Photo(noisy(4, 4), icc_profile="RGB " * 50),
                               r"^a photo's icc_profile must be bytes or None, not str$"),
    "Photo(exif=str)": (lambda d: Photo(noisy(4, 4), exif="abc"), r"^a photo's exif must be bytes or None, not str$"),
    "Photo(exif=int)": (lambda d: Photo(noisy(4, 4), exif=3), r"^a photo's exif must be bytes or None, not int$"),
    "exif set to str later": (lambda d: write_image(d / "o.png", _set(_photo(), exif="abc")), r"exif must be bytes"),
    "write_image NUL in path": (lambda d: write_image(str(d / "a\x00.png"), _photo()),
                                r"a\\0\.png: a file name cannot contain a NUL character$"),
    "write_image 300-char name": (lambda d: write_image(d / ("a" * 300 + ".png"), _photo()),
                                  r"\.png: cannot write \(File name too long\)$"),
    "write_image onto a folder": (lambda d: write_image(_mkdir(d / "dir.png"), _photo(), overwrite=True),
                                  r"dir\.png: is a folder"),
    "read_image(None)": (lambda d: read_image(None), r"^expected a file path"),
    "read_image(3.5)": (lambda d: read_image(3.5), r"^expected a file path \(str or Path\), got float"),
    "read_image NUL in path": (lambda d: read_image("a\x00.png"), r"^a\\0\.png: a file name cannot contain a NUL"),
    "read_image 5000-char name": (lambda d: read_image("a" * 5000 + ".png"),
                                  r"\.png: cannot read \(File name too long\)$"),
    "image_size(None)": (lambda d: imageio.image_size(None), r"^expected a file path"),
    "image_size 5000-char name": (lambda d: imageio.image_size("a" * 5000 + ".png"),
                                  r"cannot read \(File name too long"),
}
for _bad in [0, -1, "5", 2.5, True]:
    API_MISUSE[f"read_image(max_pixels={_bad!r})"] = (
        lambda d, bad=_bad: read_image(d / "in.png", max_pixels=bad),
        r"^the pixel limit must be a whole number above 0")
    API_MISUSE[f"image_size(max_pixels={_bad!r})"] = (
        lambda d, bad=_bad: imageio.image_size(d / "in.png", max_pixels=bad), r"^the pixel limit must be")


def _set(photo, **fields):
    for name, value in fields.items():
        setattr(photo, name, value)
    return photo


def _mkdir(path):
    path.mkdir()
    return path


@pytest.mark.parametrize("name", list(API_MISUSE))
def test_api_misuse_is_a_bad_input_error(name, tmp_path, capfd):
    call, match = API_MISUSE[name]
    folder = tmp_path / "d"
    folder.mkdir()
    write_image(folder / "in.png", _photo())
    listing = sorted(os.listdir(folder))
    capfd.readouterr()
    with pytest.raises(BadInputError, match=match) as info:
        call(folder)
    assert "\n" not in str(info.value)
    assert not [n for n in os.listdir(folder) if n not in listing and n != "dir.png"], "nothing written"
    assert capfd.readouterr() == ("", "")


def test_friendly_arguments_are_accepted(tmp_path):
    img = noisy(5, 6)
    path = write_image(tmp_path / "bare.png", img)                 # pixels without a Photo
    assert np.array_equal(read_image(path).pixels, img)
    assert imageio.encode_image(img, "PNG") == path.read_bytes()
    icc = fake_icc(b"RGB ")
    photo = Photo(img, icc_profile=bytearray(icc), exif=memoryview(b"II*\x00\x08\x00\x00\x00" + bytes(6)))
    assert type(photo.icc_profile) is bytes and type(photo.exif) is bytes
    assert read_image(write_image(tmp_path / "ba.png", photo)).icc_profile == icc
    assert read_image(os.fsencode(path), max_pixels=np.int64(30)).pixels.shape == (5, 6, 3)   # bytes path
    assert imageio.image_size(str(path), max_pixels=30) == (6, 5)
    with pytest.raises(imageio.limits.TooLargeError):
        read_image(path, max_pixels=29)


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tif", ".webp", ".bmp"])
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_non_contiguous_pixels_work(suffix, channels, tmp_path):
    base = noisy(20, 30, channels)
    views = {"strided": base[::2, ::3], "transposed": np.swapaxes(base, 0, 1), "flipped": base[:, ::-1]}
    for name, view in views.items():
        assert not view.flags.c_contiguous
        photo = read_image(write_image(tmp_path / f"{name}{suffix}", Photo(view)))
        assert photo.pixels.shape[:2] == view.shape[:2]
        if suffix in (".png", ".tif") and channels != 2:
            assert np.array_equal(photo.pixels, view), name


@pytest.mark.parametrize("quality", [0, 101, -5, 95.5, "95", None, True])
def test_bad_quality_refused(quality, tmp_path):
    with pytest.raises(BadInputError, match="quality must be a whole number from 1 to 100"):
        write_image(tmp_path / "out.jpg", Photo(noisy(4, 4)), quality=quality)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("quality", [1, 100, np.int64(50)])
def test_edge_qualities_work(quality, tmp_path):
    write_image(tmp_path / "out.jpg", Photo(noisy(4, 4)), quality=quality)


def test_webp_side_limit_is_a_clear_error(tmp_path):
    with pytest.raises(BadInputError, match="WEBP images can be at most 16383 pixels wide and high"):
        write_image(tmp_path / "wide.webp", Photo(np.zeros((1, 16384, 3), np.uint8)))
    assert os.listdir(tmp_path) == []


def test_full_disk(tmp_path, monkeypatch):
    def full(_fd, _data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(imageio.files.os, "write", full)
    with pytest.raises(BadInputError, match=r"out.png: cannot write \(No space left on device\)$"):
        write_image(tmp_path / "out.png", Photo(noisy(8, 8)))
    assert os.listdir(tmp_path) == []


def test_full_disk_on_overwrite_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "out.png"
    target.write_bytes(b"old")

    def short_then_full(fd, data, calls=[]):  # noqa: B006 - counts calls
        calls.append(1)
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return os.pwrite(fd, bytes(data[:10]), 0)

    monkeypatch.setattr(imageio.files.os, "write", short_then_full)
    with pytest.raises(BadInputError, match=r"cannot write \(No space left on device\)"):
        write_image(target, Photo(noisy(8, 8)), overwrite=True)
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["out.png"]


def test_read_only_folder_simulated(tmp_path, monkeypatch):
    def denied(*_a, **_k):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(imageio.files.tempfile, "mkstemp", denied)
    with pytest.raises(BadInputError, match=r"cannot write \(Permission denied\)"):
        write_image(tmp_path / "out.png", Photo(noisy(8, 8)))
    assert os.listdir(tmp_path) == []


@posix_only
@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root writes into read-only folders; see test_read_only_folder_simulated")
def test_read_only_folder(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(BadInputError, match=r"cannot write \(Permission denied\)"):
            write_image(folder / "out.png", Photo(noisy(8, 8)))
        assert os.listdir(folder) == []
    finally:
        folder.chmod(0o755)


def test_short_writes_are_completed(tmp_path, monkeypatch):
    real_write = os.write
    monkeypatch.setattr(imageio.files.os, "write", lambda fd, data: real_write(fd, bytes(data[:7])))
    img = noisy(16, 16)
    assert np.array_equal(read_image(write_image(tmp_path / "out.png", Photo(img))).pixels, img)


# --- 8. property: write → read ------------------------------------------------------------

try:
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover - hypothesis is in the dev extras
    given = None

if given is not None:
    DTYPES = [np.uint8, np.uint16, np.float32, np.float64, np.int16, np.bool_]

    @st.composite
    def arrays(draw):
        h, w = draw(st.integers(1, 12)), draw(st.integers(1, 12))
        if draw(st.booleans()):
            h = 1 if draw(st.booleans()) else h
        else:
            w = 1 if draw(st.booleans()) else w
        channels = draw(st.one_of(st.integers(1, 4), st.integers(-1, 6)))   # -1: a 2-D array
        dtype = np.dtype(draw(st.sampled_from(DTYPES[:2] * 2 + DTYPES)))     # valid ones more often
        shape = (h, w) if channels < 0 else (h, w, channels)
        return random_pixels(np.random.default_rng(draw(st.integers(0, 2 ** 16))), shape, dtype)

    @settings(max_examples=60, deadline=None)
    @given(pixels=arrays(), suffix=st.sampled_from([".png", ".jpg", ".tif", ".webp", ".bmp"]),
           quality=st.sampled_from([1, 50, 95, 100, 100, 95, 0, 101]))
    def test_write_read_property(tmp_path_factory, pixels, suffix, quality):
        folder = tmp_path_factory.mktemp("prop")
        path = folder / f"out{suffix}"
        try:
            write_image(path, Photo(pixels), quality=quality)
        except RestoraError:
            assert os.listdir(folder) == []
            valid = (pixels.dtype in (np.uint8, np.uint16) and (pixels.ndim == 2 or 1 <= pixels.shape[2] <= 4)
                     and 1 <= quality <= 100)
            assert not valid, "a valid image was refused"
            return
        photo = read_image(path)
        assert photo.pixels.shape[:2] == pixels.shape[:2]
        channels = 1 if pixels.ndim == 2 else pixels.shape[2]
        if suffix == ".tif":
            assert photo.pixels.dtype == pixels.dtype and photo.pixels.shape[2] == channels
            assert np.array_equal(photo.pixels.reshape(pixels.shape), pixels)
        if suffix == ".png":
            assert photo.pixels.dtype == pixels.dtype
            assert photo.pixels.shape[2] == (4 if channels == 2 else channels)   # gray+alpha reads as RGBA
