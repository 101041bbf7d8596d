"""`restora <task> ...`: the batch command line over the engine.

User errors print one line (``restora: error: ...``) and exit 2 without writing
anything; a batch goes on past a bad file and exits 2 at the end, or 1 if a photo met an
unexpected failure (a bug, a crashing model: also one line, never a traceback). Everything that
can be refused (model, outputs, inputs, masks) is checked before any model runs.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import threading
import unicodedata
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional

import numpy as np

from .engine import (TASKS, BadInputError, ModelError, Photo, RestoraError, all_tasks, default_registry,
                     is_image_path, read_image, resolve_device, write_image)
from .engine import imageio
from .engine.device import DEVICE_CHOICES
from .engine.recipe import RecipeStep, load_recipe, save_recipe
from .engine.tasks.detect import THRESHOLD
from .engine.tasks.runner import check_models, replay, run_task
from .engine.tasks.spec import MASK_NONE, MASK_REQUIRED, OUTPUT_IMAGES, OUTPUT_MASK, Param, Task, fields_of

#: every task is a command (generated from the task list), plus these
COMMANDS = tuple(t.name for t in all_tasks()) + ("apply", "models")
EXIT_USER_ERROR = 2
EXIT_FAILURE = 1         # an unexpected (internal) failure; wins over user errors
EMPTY_ARGUMENT = "an empty argument: give a photo, a folder or a command"
EXIT_INTERRUPTED = 130   # 128 + SIGINT, like a shell
EXIT_TERMINATED = 143    # 128 + SIGTERM
MAX_SIDE = 1 << 16
TEXT_LIMIT = 200         # longest name/description printed from a model file
ERROR_LIMIT = 1000       # longest error line (paths can be long)
_INVISIBLE = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def version() -> str:
    """The installed distribution's version, else the package's own."""
    from importlib.metadata import PackageNotFoundError, version as dist_version

    try:
        return dist_version("restora")
    except PackageNotFoundError:  # running from a source tree
        return getattr(sys.modules[__package__], "__version__", "0.1.0")


def clean_text(value, limit: int = TEXT_LIMIT) -> str:
    """``value`` as one printable line: what a model file or file name holds must not move the
    cursor, clear the terminal, reorder the line (bidi controls) or start a fake line."""
    text = str(value).encode("utf-8", "backslashreplace").decode("utf-8")  # lone surrogates of odd names
    text = "".join(" " if unicodedata.category(c) in ("Cc", "Zl", "Zp") or c in _INVISIBLE else c
                   for c in text)
    return text if len(text) <= limit else text[:limit - 1] + "…"


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, like every other user error
        where = f"restora {self.prog.split()[-1]} --help" if " " in self.prog else "restora --help"
        self.exit(EXIT_USER_ERROR, f"restora: error: {clean_text(message, ERROR_LIMIT)} (see {where})\n")


# --- option values, checked while parsing so a bad one costs no work ---------------------------

def int_in(low: int, high: Optional[int] = None) -> Callable[[str], int]:
    """An argparse type: a whole number in low..high (no upper bound when ``high`` is None)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text[:40]}' is not a whole number") from None
        if value < low or (high is not None and value > high):
            span = f"{low}..{high}" if high is not None else f"{low} or more"
            raise argparse.ArgumentTypeError(f"{text[:40]} is out of range: use {span}")
        return value
    return parse


def option_type(name: str, spec: Param) -> Callable[[str], object]:
    """An argparse type for a task parameter: parsed as its kind, checked by its Param."""
    def parse(text: str):
        try:
            value = spec.kind(text)
        except ValueError:
            kind = "whole number" if spec.kind is int else "number"
            raise argparse.ArgumentTypeError(f"'{text[:40]}' is not a {kind}") from None
        try:
            return spec.check_one(name, value) if spec.count > 1 else spec.check(name, value)
        except BadInputError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="restora", description="Restore photos: " + ", ".join(t.name for t in all_tasks()) + ". "
                            "Run without a command to open the window.")
    parser.add_argument("-V", "--version", action="version", version=f"restora {version()}")
    parser.epilog = "restora --self-test checks this installation (models, files, window) and prints one line a check."
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--device", choices=DEVICE_CHOICES, default="auto", help="compute device (default: auto)")
    common.add_argument("--tile", type=int_in(0, MAX_SIDE), default=None, metavar="N",
                        help="tile size in pixels; 0 = whole image; default: chosen from free memory")
    common.add_argument("--overwrite", action="store_true", help="replace existing output files")
    common.add_argument("--quality", type=int_in(1, 100), default=95, metavar="Q",
                        help="JPEG/WebP quality, 1..100 (default 95)")
    common.add_argument("--max-pixels", type=int_in(1), default=None, metavar="N",
                        help="the largest photo to open, in pixels (default: 300 MP)")
    common.add_argument("--trust-code", action="store_true",
                        help="run the program model file given with --model (TorchScript); only for files "
                             "you trust; remembered by the file's content hash")

    def io_options(p: argparse.ArgumentParser, inputs: bool) -> None:
        if inputs:
            p.add_argument("input", metavar="IN", help="image file or folder of images")
        p.add_argument("-o", "--output", required=True, metavar="OUT",
                       help="output file or folder (a batch creates a missing folder)")

    for task in all_tasks():
        add_task_command(sub, task, common, io_options)
    p = sub.add_parser("apply", parents=[common], help="Replay a recipe on photos.",
                       description="Replay a recipe (written by --recipe-out or the window) on photos: the same "
                                   "steps, models and parameters; the same pixels on the same input and device.")
    p.add_argument("recipe", metavar="RECIPE", help="recipe file (.json)")
    io_options(p, True)
    p.add_argument("--mask", metavar="MASK", help="masks for steps whose stored mask does not fit the photo "
                   "(a mask image or a folder of masks named like the photos)")
    p.add_argument("--inside", metavar="MASK", help="areas for steps limited to one whose stored area does not fit")
    p.add_argument("--recipe-out", metavar="FILE", help="write the recipe of what was done (JSON)")
    p = sub.add_parser("models", help="List available models.", description="List available models.")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--task", choices=TASKS, default=None, help="only models for this task")
    trust = p.add_mutually_exclusive_group()
    trust.add_argument("--trust", metavar="FILE",
                       help="let Restora run this program model file (TorchScript); remembered by its content hash")
    trust.add_argument("--untrust", metavar="FILE", help="forget that you trusted this model file")
    return parser


def add_task_command(sub, task: Task, common: argparse.ArgumentParser, io_options) -> None:
    """One subcommand per task, its options read from the task's typed parameters."""
    p = sub.add_parser(task.name, parents=[common], help=task.summary, description=task.summary)
    io_options(p, task.takes_photo)
    p.add_argument("--model", metavar="NAME|FILE", help="model name (see `restora models`) or model file")
    if task.mask != MASK_NONE:
        p.add_argument("--mask", metavar="MASK",
                       help="mask image (white/non-zero = fill) or folder of masks named like the photos"
                            + (" (required unless --auto-mask)" if task.mask == MASK_REQUIRED else ""))
        p.add_argument("--auto-mask", nargs="?", const=0.5, default=None, metavar="T",
                       type=option_type("threshold", THRESHOLD),
                       help="detect the damage and fill it (with --mask: both); T is the detector's "
                            "sensitivity (default 0.5, lower marks more)")
    if task.inside_mask:
        p.add_argument("--inside", metavar="MASK", help="keep the result only inside this mask (white), the photo "
                       "elsewhere, with a soft edge; a mask image or a folder of masks named like the photos")
    for name, spec, default in fields_of(task.Params):
        option = "--" + name.replace("_", "-")
        if spec.choices:
            p.add_argument(option, dest=name, type=spec.kind, choices=spec.choices, default=default, help=spec.help)
        elif spec.count > 1:   # a pair: --interpolate SEED_A SEED_B
            p.add_argument(option, dest=name, type=option_type(name, spec), nargs=spec.count, default=default,
                           metavar=spec.metavars or None, help=f"{spec.help} [each {spec.span()}]")
        else:
            p.add_argument(option, dest=name, type=option_type(name, spec), default=default, metavar=spec.metavar,
                           help=f"{spec.help} [{spec.span()}]")
    if task.takes_photo:
        p.add_argument("--recipe-out", metavar="FILE", help="write the recipe of what was done (JSON), to replay "
                       "with `restora apply` (one photo at a time)")
    p.set_defaults(task=task)


@dataclass
class Job:
    source: Optional[Path]
    target: Path
    mask: Optional[Path] = None
    inside: Optional[Path] = None   # the area to keep the result in
    problem: Optional[str] = None   # found while planning; reported with the other refusals


def error(message: str) -> None:
    print(f"restora: error: {clean_text(message, ERROR_LIMIT)}", file=sys.stderr)


def os_error_text(exc: OSError) -> str:
    return f"{exc.filename}: {exc.strerror}" if exc.filename else str(exc)


def report(exc: Exception, what) -> int:
    """One line for the failure of one photo (or output); the exit code it calls for."""
    if isinstance(exc, RestoraError):
        error(str(exc))
        return EXIT_USER_ERROR
    if isinstance(exc, OSError):  # the system refused something: a user error, like in run_command
        error(os_error_text(exc))
        return EXIT_USER_ERROR
    lines = str(exc).strip().splitlines()
    error(f"{what}: unexpected failure ({type(exc).__name__}{': ' + lines[0] if lines else ''})"
          + ("" if os.environ.get("RESTORA_DEBUG") else "; RESTORA_DEBUG=1 shows the details"))
    if os.environ.get("RESTORA_DEBUG"):   # for whoever tracks the bug down
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
    return EXIT_FAILURE


def exit_code(codes: list[int]) -> int:
    """0 when nothing failed; an internal failure (1) wins over user errors (2)."""
    return EXIT_FAILURE if EXIT_FAILURE in codes else EXIT_USER_ERROR if codes else 0


def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and is_image_path(p) and not p.name.startswith("."))


def plan_jobs(args) -> list[Job]:
    """Pair inputs, outputs, masks and areas. Raises for what stops the whole run; a problem
    of one photo of a batch stays in its Job."""
    source, target = Path(args.input), Path(args.output)
    masks = [Path(m) if m else None for m in (getattr(args, "mask", None), getattr(args, "inside", None))]
    if not source.exists():
        raise BadInputError(f"{source}: file not found")
    for m in masks:
        if m is not None and not m.exists():
            raise BadInputError(f"{m}: mask file not found")
    optional = args.command == "apply"   # a recipe may carry the masks itself
    if not source.is_dir():
        return [Job(source, target / source.name if target.is_dir() else target,
                    *(_pair_mask(m, source, optional) for m in masks))]
    if target.exists() and not target.is_dir():
        raise BadInputError(f"{target}: IN is a folder, so OUT must be a folder too")
    if target.resolve() == source.resolve() and not args.overwrite:
        raise BadInputError(f"{target}: is the input folder; choose another or pass --overwrite")
    images = list_images(source)
    if not images:
        raise BadInputError(f"{source}: no images (PNG, JPEG, TIFF, WebP, BMP) in this folder")
    return [_batch_job(p, target / p.name, masks, optional) for p in images]


def _batch_job(image: Path, target: Path, masks: list, optional: bool) -> Job:
    try:
        return Job(image, target, *(_pair_mask(m, image, optional) for m in masks))
    except BadInputError as exc:
        return Job(image, target, problem=str(exc))


def _pair_mask(mask: Optional[Path], image: Path, optional: bool = False) -> Optional[Path]:
    """The mask for ``image``: ``mask`` itself, or the file named like it in a mask folder
    (None when ``optional`` and there is none)."""
    if mask is None or not mask.is_dir():
        return mask
    for candidate in [mask / image.name] + [mask / (image.stem + s) for s in (".png", ".bmp", ".tif", ".jpg", ".webp")]:
        if candidate.exists():
            return candidate
    if optional:
        return None
    raise BadInputError(f"{image}: no mask named like it in {mask}")


# --- pre-flight: refuse before any model runs --------------------------------------------------

def check_model(args, task: str, scale: Optional[int] = None):
    """Resolve device and model now: an unknown, unsafe or wrong-task model (or a missing GPU)
    is refused before any photo is read."""
    resolve_device(args.device)
    return default_registry().get(args.model, task, scale)


def photo_size(path: Path) -> tuple[int, int]:
    """(width, height); header-only where the engine offers it. Raises BadInputError for a
    missing, empty, unreadable or too large file."""
    header_size = getattr(imageio, "image_size", None)
    return header_size(path) if header_size else decoded_size(path)


def decoded_size(path: Path) -> tuple[int, int]:
    height, width = read_image(path).pixels.shape[:2]
    return width, height


def same_file(a: Optional[Path], b: Path) -> bool:
    """Also through symlinks, hard links and other spellings (./a.png, a.png)."""
    return a is not None and a.exists() and b.exists() and os.path.samefile(a, b)


def check_target_kind(target: Path) -> None:
    """Refuse, even with --overwrite, a link to a missing file (writing would create a file
    wherever it points) and anything but a regular file (device node, FIFO, socket)."""
    if target.is_symlink() and not target.exists():
        raise BadInputError(f"{target}: is a link to a missing file; choose another OUT")
    if target.exists() and not target.is_file():
        raise BadInputError(f"{target}: is not a regular file; choose another OUT")


def check_output(target: Path, reads: tuple, overwrite: bool, made_later: Optional[Path] = None) -> None:
    """Refuse an output that would replace an input or an existing file, is not a file, has no
    image format, or lies in a folder that is missing (unless it is ``made_later``) or read-only."""
    if target.is_dir():
        raise BadInputError(f"{target}: is a folder; give a file name or pass a folder as IN")
    check_target_kind(target)
    if target.exists() and not overwrite:
        if any(same_file(r, target) for r in reads):
            raise BadInputError(f"{target}: would overwrite the input; choose another OUT or pass --overwrite")
        raise BadInputError(f"{target}: already exists (pass --overwrite to replace it)")
    if not target.suffix and not target.exists():  # most likely meant as a folder
        raise BadInputError(f"{target}: no such folder (create it first), and no image suffix "
                            "(.png, .jpg, .tif, .webp or .bmp) to name a file")
    imageio.output_format(target)
    folder = target.parent
    if folder.is_dir():
        if not os.access(folder, os.W_OK | os.X_OK):
            raise BadInputError(f"{folder}: output folder is not writable")
    elif folder != made_later:
        raise BadInputError(f"{folder}: output folder does not exist (create it first)")


def check_mask(job: Job, mask: Optional[Path]) -> None:
    """A mask must be an image of the photo's size (compared decoded when the headers differ,
    as EXIF orientation may turn one of them)."""
    if mask is None:
        return
    if photo_size(mask) == photo_size(job.source):
        return
    (mw, mh), (pw, ph) = decoded_size(mask), decoded_size(job.source)
    if (mw, mh) != (pw, ph):
        raise BadInputError(f"{mask}: mask size {mw}x{mh} does not match the photo {job.source.name} "
                            f"({pw}x{ph})")


def check_job(job: Job, overwrite: bool, made_later: Optional[Path]) -> None:
    if job.problem:
        raise BadInputError(job.problem)
    check_output(job.target, (job.source, job.mask, job.inside), overwrite, made_later)
    photo_size(job.source)
    check_mask(job, job.mask)
    check_mask(job, job.inside)


def preflight(jobs: list[Job], overwrite: bool, made_later: Optional[Path], codes: list[int]) -> list[Job]:
    """The jobs that can run; each refused one is reported in one line, its code added to ``codes``."""
    ready = []
    for job in jobs:
        try:
            check_job(job, overwrite, made_later)
        except Exception as exc:  # noqa: BLE001 - one photo's problem never stops the others
            codes.append(report(exc, job.source))
        else:
            ready.append(job)
    return ready


def make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInputError(f"{folder}: cannot create the output folder ({exc.strerror or exc})") from exc


class Progress:
    """A tqdm bar on stderr (only when stderr is a terminal) fed with fractions."""

    def __init__(self, label: str):
        from tqdm import tqdm

        self.bar = tqdm(total=1000, desc=clean_text(label), file=sys.stderr, disable=None, leave=False,
                        bar_format="{desc} {percentage:3.0f}%|{bar}| {elapsed}<{remaining}")

    def __call__(self, fraction: float) -> None:
        self.bar.update(int(fraction * 1000) - self.bar.n)

    def close(self) -> None:
        self.bar.close()


def run_image_task(args, work: Callable[[Photo, Job, Callable[[float], None]], np.ndarray]) -> int:
    jobs = plan_jobs(args)
    batch_folder = Path(args.output) if Path(args.input).is_dir() else None
    codes: list[int] = []   # the exit code each failed photo calls for
    ready = preflight(jobs, args.overwrite, batch_folder, codes)
    if ready and batch_folder is not None:
        make_folder(batch_folder)
    for job in ready:
        progress = Progress(job.source.name if job.source else "")
        try:
            photo = read_image(job.source)
            made = work(photo, job, progress)   # the photo's new pixels, or a Photo of its own (a mask)
            made = made if isinstance(made, Photo) else photo.with_pixels(made)
            write_image(job.target, made, overwrite=args.overwrite, quality=args.quality)
        except Exception as exc:  # noqa: BLE001 - not KeyboardInterrupt/SystemExit: those stop the batch
            codes.append(report(exc, job.source))
            continue
        finally:
            progress.close()
        if len(jobs) > 1:
            print(f"{clean_text(job.source, ERROR_LIMIT)} -> {clean_text(job.target, ERROR_LIMIT)}", file=sys.stderr)
    return exit_code(codes)


def read_mask(path: Optional[Path]) -> Optional[np.ndarray]:
    return read_image(path).pixels if path is not None else None


def cmd_task(args) -> int:
    """Any photo task: every photo (or folder of photos) through ``run_task``."""
    task: Task = args.task
    params = task.parse({name: getattr(args, name) for name, _s, _d in fields_of(task.Params)})
    check_model(args, task.model_task, getattr(params, "scale", None))
    recipe_out = _recipe_target(args)
    steps: list[RecipeStep] = []

    auto = getattr(args, "auto_mask", None)
    if task.mask == MASK_REQUIRED and not getattr(args, "mask", None) and auto is None:
        raise BadInputError(f"{task.name} needs --mask MASK, or --auto-mask to detect the damage")
    if auto is not None:
        default_registry().get(None, "detect")   # a detector must be there before any work

    def work(photo, job, progress):
        mask = read_mask(job.mask)
        if auto is not None:   # detect, then fill (the union with a given mask)
            found = run_task("detect", photo.pixels, {"threshold": auto}, device=args.device, tile=args.tile,
                             progress=lambda f: progress(0.3 * f)).images[0]
            mask = found if mask is None else np.maximum(_as_plane(mask), found)
            progress_rest = lambda f: progress(0.3 + 0.7 * f)  # noqa: E731
        else:
            progress_rest = progress
        result = run_task(task, photo.pixels, params, mask=mask, inside=read_mask(job.inside),
                          model=args.model, device=args.device, tile=args.tile, progress=progress_rest)
        steps.append(result.step)
        return Photo(result.images[0]) if task.output == OUTPUT_MASK else result.images[0]
    return _with_recipe(run_image_task(args, work), recipe_out, steps, args.overwrite)


def _as_plane(mask: np.ndarray) -> np.ndarray:
    """A mask image as one uint8 plane, 255 where any channel is set."""
    mask = np.asarray(mask)
    return np.where((mask > 0).any(axis=2) if mask.ndim == 3 else mask > 0, 255, 0).astype(np.uint8)


def cmd_apply(args) -> int:
    """`restora apply RECIPE IN -o OUT`: the recipe's steps on every photo."""
    steps = load_recipe(args.recipe)
    check_models(steps, default_registry())
    resolve_device(args.device)
    recipe_out = _recipe_target(args)
    done: list[RecipeStep] = []

    def work(photo, job, progress):
        def masks(_index, _step, shape, kind):
            path = job.mask if kind == "mask" else job.inside
            return read_mask(path)
        pixels, ran = replay(steps, photo.pixels, masks=masks, device=args.device, progress=progress)
        done.extend(ran)
        return pixels
    return _with_recipe(run_image_task(args, work), recipe_out, done, args.overwrite)


def _recipe_target(args) -> Optional[Path]:
    """--recipe-out, checked before any work (one photo at a time: a recipe holds its masks)."""
    if not getattr(args, "recipe_out", None):
        return None
    target = Path(args.recipe_out)
    if Path(args.input).is_dir():
        raise BadInputError("--recipe-out works on one photo at a time (a recipe holds that photo's masks)")
    check_target_kind(target)
    if target.exists() and not args.overwrite:
        raise BadInputError(f"{target}: already exists (pass --overwrite to replace it)")
    if not target.parent.is_dir():
        raise BadInputError(f"{target.parent}: output folder does not exist (create it first)")
    return target


def _with_recipe(code: int, target: Optional[Path], steps: list[RecipeStep], overwrite: bool) -> int:
    if target is not None and code == 0 and steps:
        save_recipe(target, steps, overwrite=overwrite)
        print(f"recipe: {clean_text(target, ERROR_LIMIT)}", file=sys.stderr)
    return code


def generate_targets(output: Path, seed: int, count: int, walk: Optional[tuple] = None) -> Iterator[Path]:
    """Where each generated image goes: ``OUT`` itself for one image, else ``OUT-SEED.png``
    (``seed-SEED.png`` in a folder); a walk's images are numbered ``OUT-00.png``
    (``walk-A-B-00.png`` in a folder), in order."""
    if walk is not None:
        width = len(str(count - 1))
        for i in range(count):
            yield (output.with_name(f"{output.stem}-{i:0{width}d}{output.suffix}") if output.suffix
                   else output / f"walk-{walk[0]}-{walk[1]}-{i:0{width}d}.png")
        return
    if output.suffix and count == 1:
        yield output
        return
    for i in range(count):
        yield (output.with_name(f"{output.stem}-{seed + i}{output.suffix}") if output.suffix
               else output / f"seed-{seed + i}.png")


def cmd_generate(args) -> int:
    task: Task = args.task
    params = task.parse({name: getattr(args, name) for name, _s, _d in fields_of(task.Params)})
    output = Path(args.output)
    folder = None if output.suffix else output
    if folder is not None and folder.exists() and not folder.is_dir():
        raise BadInputError(f"{folder}: is a file; give a folder or a file name ending in .png, .jpg, ...")
    targets = list(generate_targets(output, params.seed, params.images, params.interpolate))  # (GenerateParams)
    for t in targets:   # before the model: a StyleGAN pickle can take seconds to read
        check_output(t, (), args.overwrite, folder)
    check_model(args, task.model_task)
    progress = Progress("generate")
    try:
        images = run_task(task, None, params, model=args.model, device=args.device, progress=progress).images
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback
        return report(exc, output)
    finally:
        progress.close()
    if folder is not None:
        make_folder(folder)
    codes: list[int] = []
    for target, pixels in zip(targets, images):
        try:
            write_image(target, Photo(pixels), overwrite=args.overwrite, quality=args.quality)
        except Exception as exc:  # noqa: BLE001 - the other images are still written
            codes.append(report(exc, target))
            continue
        print(clean_text(target, ERROR_LIMIT), file=sys.stderr)
    return exit_code(codes)


def cmd_models(args) -> int:
    if args.trust or args.untrust:
        return change_trust(Path(args.trust or args.untrust).expanduser(), trusted=bool(args.trust))
    registry = default_registry()
    infos = registry.models(args.task)
    if args.json:  # json.dumps escapes every control character itself
        print(json.dumps({"models": [i.to_dict() for i in infos], "user_models_dir": str(registry.user_dir),
                          "problems": {str(k): v for k, v in registry.problems.items()}}, indent=2))
        return 0
    print(f"{'NAME':24} {'TASK':9} {'SCALE':5} {'SOURCE':9} DESCRIPTION")
    for i in infos:
        scale = "any" if i.scale == 0 else f"x{i.scale}"
        print(f"{clean_text(i.name):24} {clean_text(i.task):9} {scale:5} {clean_text(i.source):9} "
              f"{clean_text(i.description)}{' [trusted program: runs code]' if i.trusted_code else ''}")
    print(f"\nUser models folder: {clean_text(registry.user_dir, ERROR_LIMIT)}")
    for problem in registry.problems.values():
        print(f"skipped: {clean_text(problem, ERROR_LIMIT)}", file=sys.stderr)
    return 0


def change_trust(path: Path, trusted: bool) -> int:
    """`restora models --trust/--untrust FILE`: record or forget the person's decision."""
    from .engine.trust import file_digest

    if not path.is_file():
        raise ModelError(f"{path}: model file not found")
    shown = clean_text(path, ERROR_LIMIT)
    if trusted:
        default_registry().trust(path)
        print(f"trusted: {shown} (sha256 {file_digest(path)[:8]}…): Restora will run it")
    elif default_registry().untrust(path):
        print(f"no longer trusted: {shown}")
    else:
        print(f"not trusted (nothing to forget): {shown}")
    return 0


HANDLERS = {"apply": cmd_apply, "models": cmd_models}


def handler(args) -> Callable:
    task = getattr(args, "task", None)
    if isinstance(task, Task):
        return cmd_generate if task.output == OUTPUT_IMAGES else cmd_task
    return HANDLERS[args.command]


def apply_common_options(args) -> None:
    """--max-pixels and --trust-code act before anything else is read or loaded."""
    set_max_pixels = getattr(imageio, "set_max_pixels", None)
    if getattr(args, "max_pixels", None) and set_max_pixels:
        set_max_pixels(args.max_pixels)
    if not getattr(args, "trust_code", False):
        return
    path = Path(args.model).expanduser() if args.model else None
    if path is None or not path.is_file():
        raise BadInputError("--trust-code needs --model FILE: the program model file you trust")
    default_registry().trust(path)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised as an interrupt so the same clean-up runs (no .part file is left)."""


def _raise_terminated(signum, frame) -> None:
    # An exception raised inside a finaliser (__del__, e.g. tqdm's, run by the garbage
    # collector) is printed and dropped by Python, and the job would go on: deliver the
    # signal again a moment later, outside it.
    f = frame
    while f is not None:
        if f.f_code.co_name == "__del__":
            threading.Timer(0.05, os.kill, (os.getpid(), signum)).start()
            return
        f = f.f_back
    raise Terminated()


@contextmanager
def sigterm_as_interrupt():
    """Turn SIGTERM into :class:`Terminated` while the command runs (main thread only:
    Python lets no other thread install handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def main(argv: Optional[list[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if any(not a.strip() for a in argv):  # `restora upscale "$PHOTO"` with PHOTO unset: "" would be "."
        error(EMPTY_ARGUMENT)
        return EXIT_USER_ERROR
    args = build_parser().parse_args(argv)
    if args.command is None:
        build_parser().print_help()
        return 0
    with sigterm_as_interrupt():
        return run_command(args)


def run_command(args) -> int:
    try:
        apply_common_options(args)
        return handler(args)(args)
    except RestoraError as exc:
        error(str(exc))
        return EXIT_USER_ERROR
    except OSError as exc:  # the system refused something (a name too long, permissions): still one line
        error(os_error_text(exc))
        return EXIT_USER_ERROR
    except KeyboardInterrupt as exc:
        error("interrupted; no partial files were written")
        return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED
