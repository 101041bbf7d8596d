"""`restora --self-test`: check, headless, that this installation of Restora works.

Meant for a packaged bundle as much as for a source checkout: it reads only the package's
own resources (built-in models from :func:`restora.engine.models.builtin.builtin_dir`) and
writes only into a temporary folder, never into the person's settings, models or trust
decisions. Qt runs on the offscreen platform unless ``QT_QPA_PLATFORM`` says otherwise.

One line per check on stdout, in the order they run::

    ok    builtin model restora-denoise loads and runs (0.21 s)
    FAIL  RGBA PNG keeps alpha: alpha channel lost (0.01 s)

Exit status 0 only when every check passed, 1 otherwise (2 for a bad option).

What is checked: every built-in model loads and runs on a tiny image through the engine's
own task (and gives a plausible result), the classical models run, a PNG/JPEG/TIFF round
trip keeps 16 bits, alpha, the ICC profile and applies the EXIF orientation, the window
can be created and closed, and a TorchScript program file is refused until it is trusted.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Optional, TextIO

import numpy as np

SIDE = 32   # pixels on a side of the test images: small enough to be instant on a CPU


class CheckFailed(Exception):
    """A check found something wrong; the message says what, for the FAIL line."""


@dataclass(frozen=True)
class Check:
    label: str                 # what is being checked, as it reads after "ok"
    run: Callable[[], None]    # raises (CheckFailed or anything else) when the check fails


@dataclass
class Context:
    """What the checks share: the device, the temporary folder, the registry once built."""
    device: str
    tmp: Path
    registry: object = None
    builtins: list = field(default_factory=list)


def expect(condition, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


# --- the runner ---------------------------------------------------------------------------

def run_checks(checks: Iterable[Check], out: Optional[TextIO] = None, verbose: bool = False) -> int:
    """Run ``checks`` in order (an iterable may yield more checks as earlier ones finish),
    print one line each, and return the exit status: 0 if all passed, else 1."""
    out = out or sys.stdout
    failed = ran = 0
    pending = iter(checks)
    while True:
        try:
            check = next(pending)
        except StopIteration:
            break
        except Exception as exc:  # noqa: BLE001 - e.g. a package missing from a broken bundle
            print(f"FAIL  self-test: cannot prepare the next check: {_reason(exc)}", file=out, flush=True)
            if verbose:
                traceback.print_exc(file=sys.stderr)
            return 1
        ran += 1
        start = time.perf_counter()
        try:
            check.run()
            line = f"ok    {check.label} ({time.perf_counter() - start:.2f} s)"
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # noqa: BLE001 - every failure is one FAIL line, never a crash
            failed += 1
            line = f"FAIL  {check.label}: {_reason(exc)} ({time.perf_counter() - start:.2f} s)"
            if verbose:
                traceback.print_exc(file=sys.stderr)
        print(line, file=out, flush=True)
    if ran == 0:
        print("FAIL  self-test: no checks ran", file=out, flush=True)
        return 1
    return 1 if failed else 0


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if not isinstance(exc, (CheckFailed,)) and not _is_restora_error(exc):
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    text = text or type(exc).__name__
    return text if len(text) <= 300 else text[:299] + "…"


def _is_restora_error(exc: BaseException) -> bool:
    try:
        from .engine import RestoraError
    except Exception:  # noqa: BLE001 - the engine itself does not import
        return False
    return isinstance(exc, RestoraError)


# --- the checks ---------------------------------------------------------------------------

def default_checks(ctx: Context) -> Iterable[Check]:
    """Every check, in order. A generator: the per-model checks are made once the registry
    has been listed (by the first check)."""
    from .engine.models.builtin import builtin_dir

    yield Check(f"built-in models found in {builtin_dir()}", lambda: list_builtins(ctx))
    for info in ctx.builtins:
        yield Check(f"builtin model {info.name} loads and runs", lambda info=info: run_model(ctx, info))
    from .engine.models.classical import classical_models

    for model in classical_models():
        info = model.info
        yield Check(f"classical model {info.name} runs", lambda info=info: run_model(ctx, info))
    yield from image_checks(ctx)
    yield Check("the window can be created and closed", lambda: window_opens_and_closes(ctx))
    yield Check("a TorchScript program file is refused without trust", lambda: program_refused(ctx))


def _registry(ctx: Context):
    """Built-in and classical models, with an empty user folder in the temporary folder: the
    person's own model files are not part of this installation (and may be large)."""
    if ctx.registry is None:
        from .engine import Registry

        models = ctx.tmp / "models"
        models.mkdir(exist_ok=True)
        ctx.registry = Registry(user_dir=models)
    return ctx.registry


def list_builtins(ctx: Context) -> None:
    from .engine.models.builtin import builtin_dir

    folder = builtin_dir()
    expect(folder.is_dir(), "the folder is missing (a broken installation?)")
    files = sorted(folder.glob("*.safetensors"))
    expect(files, "no model files (*.safetensors) in the folder (a broken installation?)")
    registry = _registry(ctx)   # a file with bad metadata raises ModelError here: its message is the reason
    ctx.builtins = [i for i in registry.models() if i.source == "builtin"]   # the usable ones still run
    listed = {Path(i.path).resolve() for i in ctx.builtins if i.path}
    unusable = [p.name for p in files if p.resolve() not in listed]
    expect(not unusable, f"not usable as Restora models: {', '.join(unusable)} (damaged or not ours)")


def test_image(channels: int = 3, side: int = SIDE, dtype=np.uint8, seed: int = 0) -> np.ndarray:
    """A small photo-like image: smooth gradients and a few hard edges, HxWxC."""
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32)
    planes = []
    for c in range(1 if channels in (1, 2) else 3):
        base = 0.5 + 0.3 * np.sin(xx / (6.0 + 2 * c) + c) * np.cos(yy / (8.0 + c))
        base += 0.1 * ((xx // 11 + yy // 9 + c) % 2)
        planes.append(base)
    if channels in (2, 4):
        planes.append(0.2 + 0.8 * xx / (side - 1))
    img = np.clip(np.stack(planes, axis=2), 0, 1)
    peak = np.iinfo(dtype).max
    return (img * peak + 0.5).astype(dtype)


def _mean_abs(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.abs(a.astype(np.float64) - b.astype(np.float64))))


def run_model(ctx: Context, info) -> None:
    """Run ``info``'s task through the engine on a tiny image and check the result makes sense
    (a model with wrong or random weights gives far-off pixels)."""
    from . import engine

    registry = _registry(ctx)
    job = {"model": info.name, "device": ctx.device, "registry": registry}
    clean = test_image(info.in_channels if info.in_channels in (1, 3) else 3)
    if info.task == "denoise":
        rng = np.random.default_rng(1)
        noisy = np.clip(clean + rng.normal(0, 12, clean.shape), 0, 255).astype(np.uint8)
        out = engine.denoise(noisy, sigma=12, **job)
        expect(out.shape == clean.shape and out.dtype == np.uint8, f"result is {out.dtype} {out.shape}")
        before, after = _mean_abs(noisy, clean), _mean_abs(out, clean)
        expect(after < 0.85 * before, f"the result is not clearly cleaner than the noisy input "
                               f"(mean error {after:.1f} vs {before:.1f} of 255)")
    elif info.task == "upscale":
        scale = info.scale or 2
        out = engine.upscale(clean, scale, **job)
        expect(out.shape == (SIDE * scale, SIDE * scale, clean.shape[2]), f"result is {out.shape}")
        import cv2

        ref = cv2.resize(clean, (SIDE * scale, SIDE * scale), interpolation=cv2.INTER_CUBIC)
        err = _mean_abs(out, ref.reshape(out.shape))
        expect(err < 10, f"the result is far from the photo (mean difference {err:.1f} of 255)")
    elif info.task == "inpaint":
        mask = np.zeros(clean.shape[:2], np.uint8)
        mask[12:18, 10:22] = 255
        out = engine.inpaint(clean, mask, seed=0, **job)
        expect(out.shape == clean.shape and out.dtype == clean.dtype, f"result is {out.dtype} {out.shape}")
        keep = mask == 0
        expect(np.array_equal(out[keep], clean[keep]), "pixels outside the mask changed")
        err = _mean_abs(out[~keep], clean[~keep])
        expect(err < 40, f"the fill is far from its surroundings (mean difference {err:.1f} of 255)")
    elif info.task == "detect":
        from .engine.tasks.detect import damage_probability

        prob = damage_probability(clean, **job)
        expect(prob.shape == clean.shape[:2], f"probability map is {prob.shape}")
        expect(np.isfinite(prob).all() and prob.min() >= 0 and prob.max() <= 1,
               "probabilities outside 0..1")
    elif info.task == "generate":
        images = engine.generate(seed=0, count=1, **job)
        expect(len(images) == 1 and images[0].ndim == 3, "no image generated")
    else:
        raise CheckFailed(f"unknown task {info.task!r}")


# --- image files ------------------------------------------------------------------------

def srgb_profile() -> bytes:
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _round_trip(ctx: Context, name: str, pixels: np.ndarray, icc: Optional[bytes] = None):
    from .engine import Photo, read_image, write_image

    path = ctx.tmp / "images" / name
    path.parent.mkdir(exist_ok=True)
    write_image(path, Photo(pixels, icc_profile=icc), overwrite=True)
    return read_image(path)


def keeps_16_bit(ctx: Context, suffix: str) -> None:
    pixels = test_image(3, 16, np.uint16)
    pixels[0, 0] = (1, 2, 65534)          # values no 8-bit image can hold
    back = _round_trip(ctx, f"deep{suffix}", pixels).pixels
    expect(back.dtype == np.uint16, f"read back as {back.dtype}")
    expect(back.shape == pixels.shape, f"read back as {back.shape}")
    expect(np.array_equal(back, pixels), "16-bit pixel values changed")


def keeps_alpha(ctx: Context, suffix: str) -> None:
    pixels = test_image(4, 16)
    back = _round_trip(ctx, f"alpha{suffix}", pixels).pixels
    expect(back.ndim == 3 and back.shape[2] == 4, f"alpha channel lost (read back {back.shape})")
    expect(np.array_equal(back, pixels), "RGBA pixel values changed")


def keeps_icc(ctx: Context, suffix: str) -> None:
    profile = srgb_profile()
    photo = _round_trip(ctx, f"icc{suffix}", test_image(3, 16), icc=profile)
    expect(photo.icc_profile is not None, "the ICC profile was dropped")
    expect(photo.icc_profile == profile, "the ICC profile changed")


def applies_orientation(ctx: Context) -> None:
    """A JPEG stored sideways with EXIF orientation 6 (turn 90° clockwise to view) must read
    upright: a red block in the stored top-left corner ends up top-right."""
    from PIL import Image

    from .engine import read_image

    stored = np.zeros((16, 32, 3), np.uint8)        # 32 wide, 16 high as stored
    stored[:8, :8] = (255, 0, 0)
    stored[8:, 16:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = ctx.tmp / "images" / "sideways.jpg"
    path.parent.mkdir(exist_ok=True)
    Image.fromarray(stored).save(path, quality=95, exif=exif.tobytes())
    photo = read_image(path)
    expect(photo.pixels.shape[:2] == (32, 16), f"not turned upright (read {photo.pixels.shape[1]}x"
                                               f"{photo.pixels.shape[0]}, expected 16x32)")
    upright = np.rot90(stored, k=-1)
    err = _mean_abs(photo.pixels[:, :, :3], upright)
    expect(err < 12, f"turned the wrong way (mean difference {err:.1f} of 255)")


def image_checks(ctx: Context) -> Iterable[Check]:
    yield Check("16-bit PNG keeps 16 bits", lambda: keeps_16_bit(ctx, ".png"))
    yield Check("16-bit TIFF keeps 16 bits", lambda: keeps_16_bit(ctx, ".tif"))
    yield Check("RGBA PNG keeps alpha", lambda: keeps_alpha(ctx, ".png"))
    yield Check("RGBA TIFF keeps alpha", lambda: keeps_alpha(ctx, ".tif"))
    yield Check("ICC profile survives PNG", lambda: keeps_icc(ctx, ".png"))
    yield Check("ICC profile survives JPEG", lambda: keeps_icc(ctx, ".jpg"))
    yield Check("ICC profile survives TIFF", lambda: keeps_icc(ctx, ".tif"))
    yield Check("EXIF orientation is applied", lambda: applies_orientation(ctx))


# --- the window ---------------------------------------------------------------------------

def window_opens_and_closes(ctx: Context) -> None:
    """Create the main window on a temporary settings file and the self-test's registry, let
    it list its models, then close it."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QSettings, qInstallMessageHandler
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "restora"])
    settings_dir = ctx.tmp / "settings"
    QSettings.setPath(QSettings.IniFormat, QSettings.UserScope, str(settings_dir))
    settings = QSettings(str(settings_dir / "restora-self-test.ini"), QSettings.IniFormat)
    from .gui.main_window import MainWindow

    previous = qInstallMessageHandler(_quiet_offscreen)
    try:
        closed, errors = _open_and_close(app, MainWindow(registry=_registry(ctx), settings=settings))
    finally:
        qInstallMessageHandler(previous)
        settings.sync()
    expect(not errors, f"the window reported: {errors[0] if errors else ''}")
    expect(closed, "the window refused to close")


def _quiet_offscreen(mode, context, message: str) -> None:
    """Qt's messages to stderr as usual, less the offscreen platform's notes on what it
    cannot do (which are no fault of the window)."""
    if "This plugin does not support" not in message:
        print(message, file=sys.stderr)


def _open_and_close(app, window) -> tuple[bool, list[str]]:
    errors: list[str] = []
    window.show_error = lambda message, title="Restora": errors.append(str(message))
    window.ask_save_changes = lambda doc: "discard"
    window.ask_save_all = lambda docs: "discard"
    try:
        window.resize(900, 600)
        window.show()
        deadline = time.monotonic() + 20
        while window.panel.model_list.count() == 0 and not errors and time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.01)
        for _ in range(5):
            app.processEvents()
        if not errors and window.panel.model_list.count() == 0:
            errors.append("no models listed within 20 s")
    finally:
        closed = window.close()
        app.processEvents()
        window.deleteLater()
        app.processEvents()
    return closed, errors


# --- program files ------------------------------------------------------------------------

@contextlib.contextmanager
def _env(name: str, value: str):
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


def program_refused(ctx: Context) -> None:
    """A tiny TorchScript program, never trusted (a fresh, empty trust store), is refused
    with UntrustedCodeError before anything in it runs."""
    import warnings

    import torch

    from .engine import ModelError, Registry, UntrustedCodeError

    class Tiny(torch.nn.Module):
        def forward(self, z: torch.Tensor) -> torch.Tensor:
            return torch.zeros(z.shape[0], 3, 4, 4)

    path = ctx.tmp / "program" / "program.pt"
    path.parent.mkdir(exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.script(Tiny()), str(path))
    users = ctx.tmp / "program" / "models"
    users.mkdir(exist_ok=True)
    with _env("RESTORA_CONFIG_DIR", str(ctx.tmp / "program" / "config")):
        try:
            Registry(user_dir=users, include_builtin=False).get(str(path), "generate")
        except UntrustedCodeError:
            return
        except ModelError as exc:
            raise CheckFailed(f"refused, but not as untrusted code: {exc}") from exc
    raise CheckFailed("the program file was loaded without the person's trust")


# --- entry point --------------------------------------------------------------------------

def main(argv: Optional[list[str]] = None) -> int:
    """``restora --self-test [--device D] [-v]``: run every check; 0 if all passed, else 1."""
    argv = sys.argv[1:] if argv is None else list(argv)
    argv = [a for a in argv if a != "--self-test"]
    parser = argparse.ArgumentParser(prog="restora --self-test",
                                     description="Check, headless, that this installation of Restora works: "
                                                 "one line per check, exit 0 only if all pass.")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="cpu",
                        help="compute device for the model checks (default: cpu)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print each failure's traceback to stderr")
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")   # before anything imports Qt
    with tempfile.TemporaryDirectory(prefix="restora-self-test-") as tmp:
        ctx = Context(device=args.device, tmp=Path(tmp))
        try:
            return run_checks(default_checks(ctx), verbose=args.verbose)
        except BrokenPipeError:   # `restora --self-test | head`: the reader went away
            with contextlib.suppress(OSError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 1
        finally:
            if ctx.registry is not None:
                with contextlib.suppress(Exception):
                    ctx.registry.unload_all()


if __name__ == "__main__":
    sys.exit(main())
