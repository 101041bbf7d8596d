"""Reading and writing files: formats, bit depth, alpha, orientation, ICC/EXIF, atomic writes."""
import io
import os

import numpy as np
import pytest
from PIL import Image, ImageCms

from restora.engine import BadInputError, Photo, read_image, write_image
from restora.engine import imageio


def srgb_icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def exif_bytes(orientation: int = 1, artist: str = "Restora test") -> bytes:
    exif = Image.Exif()
    exif[0x013B] = artist            # Artist
    exif[0x0112] = orientation       # Orientation
    return exif.tobytes()


LOSSLESS = [".png", ".tif", ".bmp", ".webp"]


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tif", ".webp", ".bmp"])
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_round_trip_every_format(suffix, channels, tmp_path, make_image):
    img = make_image(37, 53, channels, np.uint8)
    path = write_image(tmp_path / f"img{suffix}", Photo(img))
    photo = read_image(path)
    expected_c = 3 if suffix == ".jpg" and channels == 4 else channels
    if suffix == ".webp" and channels == 1:
        expected_c = 3   # WebP stores gray as RGB
    assert photo.pixels.shape[:2] == (37, 53) and photo.pixels.dtype == np.uint8
    assert photo.pixels.shape[2] == expected_c
    got = photo.pixels[..., :min(expected_c, channels)].astype(int)
    want = img[..., :min(expected_c, channels)].astype(int)
    if expected_c == 3 and channels == 1:
        got, want = photo.pixels[..., 0].astype(int), img[..., 0].astype(int)
    if suffix in (".png", ".tif", ".bmp"):
        assert np.array_equal(got, want)
    else:   # JPEG/WebP are lossy (quality 95, chroma subsampled; the test image is noisy)
        assert np.abs(got - want).mean() < 8
        if got.ndim == 3 and got.shape[2] >= 3:   # and RGB, not BGR: swapping R/B would be far worse
            swapped = np.abs(got[..., [2, 1, 0]] - want[..., :3]).mean()
            assert np.abs(got[..., :3] - want[..., :3]).mean() < swapped / 3
    if channels == 4 and suffix != ".jpg":
        assert np.abs(photo.pixels[..., 3].astype(int) - img[..., 3].astype(int)).max() <= (0 if suffix != ".webp" else 2)


def test_read_files_made_by_pillow(tmp_path, make_image):
    img = make_image(45, 61, 3, np.uint8)
    for fmt, suffix in [("PNG", ".png"), ("JPEG", ".jpg"), ("TIFF", ".tif"), ("WEBP", ".webp"), ("BMP", ".bmp")]:
        path = tmp_path / f"pil{suffix}"
        Image.fromarray(img).save(path, fmt, **({"quality": 95} if fmt in ("JPEG", "WEBP") else {}))
        photo = read_image(path)
        assert photo.format == fmt and photo.pixels.shape == (45, 61, 3)
        diff = np.abs(photo.pixels.astype(int) - img.astype(int)).mean()
        swapped = np.abs(photo.pixels[..., ::-1].astype(int) - img.astype(int)).mean()
        assert diff < 8 and diff < swapped / 3, fmt   # RGB order, not BGR


@pytest.mark.parametrize("suffix", [".png", ".tif"])
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_16_bit_kept(suffix, channels, tmp_path, make_image):
    img = make_image(37, 53, channels, np.uint16)
    assert len(np.unique(img[..., 0] & 0xFF)) > 1   # really uses the low byte
    photo = read_image(write_image(tmp_path / f"deep{suffix}", Photo(img)))
    assert photo.pixels.dtype == np.uint16 and np.array_equal(photo.pixels, img)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_gray_alpha_tiff_keeps_alpha(dtype, tmp_path, make_image):
    img = make_image(37, 53, 2, dtype)
    photo = read_image(write_image(tmp_path / "la.tif", Photo(img)))
    assert photo.pixels.shape == (37, 53, 2) and photo.pixels.dtype == dtype
    assert np.array_equal(photo.pixels, img)


@pytest.mark.parametrize("suffix", [".png", ".webp"])
def test_gray_alpha_kept_as_rgba(suffix, tmp_path, make_image):
    img = make_image(37, 53, 2, np.uint8)
    photo = read_image(write_image(tmp_path / f"la{suffix}", Photo(img)))
    assert photo.pixels.shape == (37, 53, 4)
    assert np.array_equal(photo.pixels[..., 3], img[..., 1])
    assert np.abs(photo.pixels[..., 0].astype(int) - img[..., 0]).max() <= (0 if suffix == ".png" else 8)


def test_16_bit_to_8_bit_formats_rounds(tmp_path):
    img = np.full((8, 8, 3), 257 * 100 + 100, np.uint16)
    photo = read_image(write_image(tmp_path / "x.bmp", Photo(img)))
    assert photo.pixels.dtype == np.uint8 and (photo.pixels == 100).all()


def test_exif_orientation_applied_on_load(tmp_path):
    from PIL import ImageOps

    # a 20 wide × 10 high picture, left half dark, stored with orientation 6 (rotate 90° CW to view)
    stored = np.zeros((10, 20, 3), np.uint8)
    stored[:, 10:] = 255
    stored[0, 0] = (255, 0, 0)
    path = tmp_path / "rotated.jpg"
    Image.fromarray(stored).save(path, "JPEG", quality=100, exif=exif_bytes(6))
    photo = read_image(path)
    assert photo.pixels.shape == (20, 10, 3), "portrait after applying orientation 6"
    with Image.open(path) as im:
        upright = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    assert np.abs(photo.pixels.astype(int) - upright.astype(int)).max() <= 2
    # 90° clockwise: the dark left half is now the top
    assert photo.pixels[:10].mean() < 60 and photo.pixels[10:].mean() > 200
    # the carried EXIF no longer asks for a rotation (it was applied), other tags survive
    exif = Image.Exif()
    exif.load(b"Exif\x00\x00" + photo.exif)
    assert exif.get(0x0112) == 1 and exif.get(0x013B) == "Restora test"


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_orientation_matches_pillow(orientation, tmp_path, make_image):
    from PIL import ImageOps

    img = make_image(12, 20, 3, np.uint8)
    path = tmp_path / f"o{orientation}.png"
    im = Image.fromarray(img)
    im.save(path, "PNG", exif=exif_bytes(orientation))
    with Image.open(path) as reopened:
        upright = np.asarray(ImageOps.exif_transpose(reopened).convert("RGB"))
    assert np.array_equal(read_image(path).pixels, upright)


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp"])
def test_icc_and_exif_carried_into_outputs(suffix, tmp_path, make_image):
    icc = srgb_icc()
    source = tmp_path / "in.jpg"
    Image.fromarray(make_image(37, 53, 3)).save(source, "JPEG", icc_profile=icc, exif=exif_bytes(1))
    photo = read_image(source)
    assert photo.icc_profile == icc
    out = write_image(tmp_path / f"out{suffix}", photo.with_pixels(photo.pixels[::-1].copy()))
    with Image.open(out) as im:
        assert im.info.get("icc_profile") == icc
        exif = im.getexif()
        assert exif.get(0x013B) == "Restora test"
        im.load()
    # the file still decodes with OpenCV (our reader) too
    assert read_image(out).pixels.shape == (37, 53, 3)


def test_icc_carried_into_tiff(tmp_path, make_image):
    icc = srgb_icc()
    photo = Photo(make_image(20, 30, 3, np.uint16), icc_profile=icc)
    with Image.open(write_image(tmp_path / "o.tif", photo)) as im:
        assert im.info.get("icc_profile") == icc


def test_bad_files(tmp_path):
    with pytest.raises(BadInputError, match="not found"):
        read_image(tmp_path / "missing.png")
    with pytest.raises(BadInputError, match="folder"):
        read_image(tmp_path)
    text = tmp_path / "notes.png"
    text.write_text("hello, not an image")
    with pytest.raises(BadInputError, match="not a supported image"):
        read_image(text)
    gif = tmp_path / "anim.gif"
    Image.new("RGB", (4, 4)).save(gif, "GIF")
    with pytest.raises(BadInputError, match="not a supported image"):
        read_image(gif)
    truncated = tmp_path / "cut.png"
    buf = io.BytesIO()
    Image.new("RGB", (40, 40), (10, 20, 30)).save(buf, "PNG")
    truncated.write_bytes(buf.getvalue()[:60])
    with pytest.raises(BadInputError, match="corrupt or truncated"):
        read_image(truncated)


def test_write_refuses_existing_and_unsupported(tmp_path, make_image):
    target = tmp_path / "out.png"
    target.write_bytes(b"precious")
    photo = Photo(make_image(10, 10))
    with pytest.raises(BadInputError, match="already exists"):
        write_image(target, photo)
    assert target.read_bytes() == b"precious"
    write_image(target, photo, overwrite=True)
    assert np.array_equal(read_image(target).pixels, photo.pixels)
    with pytest.raises(BadInputError, match="unsupported output format"):
        write_image(tmp_path / "out.gif", photo)
    with pytest.raises(BadInputError, match="does not exist"):
        write_image(tmp_path / "nope" / "out.png", photo)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]


@pytest.mark.parametrize("hard_links", [True, False])
def test_a_file_made_while_encoding_is_not_replaced(tmp_path, make_image, monkeypatch, hard_links):
    """The "already exists" check comes before the encoding; a file another program writes
    meanwhile still survives (the part file is linked into place, not renamed over it), also
    where the file system has no hard links."""
    from restora.engine.imageio import encode, files

    target = tmp_path / "out.png"
    real_encode = encode.encode_image

    def slow_encode(*a, **kw):
        target.write_bytes(b"theirs")
        return real_encode(*a, **kw)

    monkeypatch.setattr(encode, "encode_image", slow_encode)
    if not hard_links:
        monkeypatch.setattr(files.os, "link", lambda *_a: (_ for _ in ()).throw(OSError(1, "Operation not permitted")))
    with pytest.raises(BadInputError, match="already exists"):
        write_image(target, Photo(make_image(8, 8)))
    assert target.read_bytes() == b"theirs"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]   # no part file left
    fresh = tmp_path / "new.png"
    monkeypatch.setattr(encode, "encode_image", real_encode)
    write_image(fresh, Photo(make_image(8, 8)))
    assert fresh.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["new.png", "out.png"]


def test_no_replace_write_edge_cases(tmp_path, make_image, monkeypatch):
    """A part file that cannot be removed after the link (held open, on Windows) does not
    turn a written photo into an error; a link failing for another reason (a full disk) fails
    the write rather than falling back to check-then-rename."""
    from restora.engine.imageio import files

    real_unlink = os.unlink
    monkeypatch.setattr(files.os, "unlink", lambda p: (_ for _ in ()).throw(PermissionError(13, "in use")))
    out = write_image(tmp_path / "w.png", Photo(make_image(8, 8)))
    assert read_image(out).pixels.shape == (8, 8, 3)
    monkeypatch.setattr(files.os, "unlink", real_unlink)
    monkeypatch.setattr(files.os, "link", lambda *_a: (_ for _ in ()).throw(OSError(28, "No space left on device")))
    with pytest.raises(BadInputError, match="No space left"):
        write_image(tmp_path / "full.png", Photo(make_image(8, 8)))
    assert not (tmp_path / "full.png").exists()


def test_failed_write_leaves_nothing(tmp_path, make_image, monkeypatch):
    def broken_fsync(_fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(imageio.files.os, "fsync", broken_fsync)
    with pytest.raises(BadInputError, match="cannot write .No space left on device"):
        write_image(tmp_path / "out.png", Photo(make_image(10, 10)))
    assert list(tmp_path.iterdir()) == [], "no output and no stray .part file"


def test_interrupted_write_keeps_the_old_file(tmp_path, make_image, monkeypatch):
    target = tmp_path / "out.png"
    target.write_bytes(b"old")

    def interrupted(*_a):
        raise KeyboardInterrupt

    monkeypatch.setattr(imageio.files.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_image(target, Photo(make_image(10, 10)), overwrite=True)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]
    assert not any(name.endswith(".part") for name in os.listdir(tmp_path))
