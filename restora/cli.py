"""`restora <task> ...`: the batch command line over the engine.

User errors print one line (``restora: error: ...``) and exit 2 without writing
anything; a batch goes on past a bad file and exits 2 at the end.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional

import numpy as np

from .engine import (TASKS, BadInputError, Photo, RestoraError, default_registry, is_image_path, read_image,
                     write_image)
from .engine.device import DEVICE_CHOICES

COMMANDS = ("denoise", "upscale", "inpaint", "generate", "models")
EXIT_USER_ERROR = 2


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, like every other user error
        self.exit(EXIT_USER_ERROR, f"restora: error: {message} (see restora {self.prog.split()[-1]} --help)\n"
                  if " " in self.prog else f"restora: error: {message} (see restora --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="restora", description="Restore photos: denoise, upscale, inpaint, generate. "
                            "Run without a command to open the window.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--device", choices=DEVICE_CHOICES, default="auto", help="compute device (default: auto)")
    common.add_argument("--tile", type=int, default=None, metavar="N",
                        help="tile size in pixels; 0 = whole image; default: chosen from free memory")
    common.add_argument("--overwrite", action="store_true", help="replace existing output files")
    common.add_argument("--quality", type=int, default=95, metavar="Q", help="JPEG/WebP quality (default 95)")

    def task(name: str, help_text: str, inputs: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[common], help=help_text, description=help_text)
        if inputs:
            p.add_argument("input", metavar="IN", help="image file or folder of images")
        p.add_argument("-o", "--output", required=True, metavar="OUT", help="output file or folder")
        p.add_argument("--model", metavar="NAME|FILE", help="model name (see `restora models`) or model file")
        return p

    p = task("denoise", "Remove noise from photos.")
    p.add_argument("--sigma", type=float, default=None, metavar="S",
                   help="noise strength as σ in 0..255 units (default: estimated from each photo)")
    p = task("upscale", "Enlarge photos.")
    p.add_argument("--scale", type=int, choices=(2, 3, 4, 8), default=None,
                   help="enlargement factor (default: the model's own, or 2)")
    p = task("inpaint", "Fill masked areas (scratches, stains, tears).")
    p.add_argument("--mask", required=True, metavar="MASK",
                   help="mask image (white/non-zero = fill) or folder of masks named like the photos")
    p.add_argument("--seed", type=int, default=0, help="seed for stochastic models")
    p = task("generate", "Sample images from a GAN generator.", inputs=False)
    p.add_argument("--seed", type=int, default=0, help="first seed; image i uses seed+i")
    p.add_argument("--count", type=int, default=1, help="number of images")
    p.add_argument("--latent-dim", type=int, default=None, metavar="N",
                   help="latent size, when the generator does not declare it")
    p = sub.add_parser("models", help="List available models.", description="List available models.")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--task", choices=TASKS, default=None, help="only models for this task")
    return parser


@dataclass
class Job:
    source: Optional[Path]
    target: Path
    mask: Optional[Path] = None


def error(message: str) -> None:
    print(f"restora: error: {message}", file=sys.stderr)


def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and is_image_path(p) and not p.name.startswith("."))


def plan_jobs(args) -> list[Job]:
    """Pair inputs, outputs and masks; refuse anything that would overwrite the input."""
    source, target = Path(args.input), Path(args.output)
    mask = Path(args.mask) if getattr(args, "mask", None) else None
    if not source.exists():
        raise BadInputError(f"{source}: file not found")
    if source.is_dir():
        if target.exists() and not target.is_dir():
            raise BadInputError(f"{target}: IN is a folder, so OUT must be a folder too")
        if target.resolve() == source.resolve() and not args.overwrite:
            raise BadInputError(f"{target}: is the input folder; choose another or pass --overwrite")
        images = list_images(source)
        if not images:
            raise BadInputError(f"{source}: no images (PNG, JPEG, TIFF, WebP, BMP) in this folder")
        jobs = [Job(p, target / p.name, _pair_mask(mask, p)) for p in images]
    else:
        if target.is_dir():
            target = target / source.name
        if mask is not None and mask.is_dir():
            mask = _pair_mask(mask, source)
        elif mask is not None and not mask.exists():
            raise BadInputError(f"{mask}: mask file not found")
        jobs = [Job(source, target, mask)]
    for job in jobs:
        if job.target.exists() and job.source and job.target.resolve() == job.source.resolve() \
                and not args.overwrite:
            raise BadInputError(f"{job.target}: would overwrite the input; choose another OUT or pass --overwrite")
    return jobs


def _pair_mask(mask: Optional[Path], image: Path) -> Optional[Path]:
    if mask is None or not mask.is_dir():
        return mask
    for candidate in [mask / image.name] + [mask / (image.stem + s) for s in (".png", ".bmp", ".tif", ".jpg", ".webp")]:
        if candidate.exists():
            return candidate
    raise BadInputError(f"{image}: no mask named like it in {mask}")


class Progress:
    """A tqdm bar on stderr (only when stderr is a terminal) fed with fractions."""

    def __init__(self, label: str):
        from tqdm import tqdm

        self.bar = tqdm(total=1000, desc=label, file=sys.stderr, disable=None, leave=False,
                        bar_format="{desc} {percentage:3.0f}%|{bar}| {elapsed}<{remaining}")

    def __call__(self, fraction: float) -> None:
        self.bar.update(int(fraction * 1000) - self.bar.n)

    def close(self) -> None:
        self.bar.close()


def run_image_task(args, work: Callable[[Photo, Job, Callable[[float], None]], np.ndarray]) -> int:
    jobs = plan_jobs(args)
    failures = 0
    for job in jobs:
        progress = Progress(job.source.name if job.source else "")
        try:
            if job.target.exists() and not args.overwrite:
                raise BadInputError(f"{job.target}: already exists (pass --overwrite to replace it)")
            photo = read_image(job.source)
            pixels = work(photo, job, progress)
            write_image(job.target, photo.with_pixels(pixels), overwrite=args.overwrite, quality=args.quality)
        except RestoraError as exc:
            failures += 1
            progress.close()
            error(str(exc))
            if len(jobs) == 1:
                return EXIT_USER_ERROR
            continue
        progress.close()
        if len(jobs) > 1:
            print(f"{job.source} -> {job.target}", file=sys.stderr)
    return EXIT_USER_ERROR if failures else 0


def cmd_denoise(args) -> int:
    from .engine import denoise

    def work(photo, _job, progress):
        return denoise(photo.pixels, args.sigma, model=args.model, device=args.device, tile=args.tile,
                       progress=progress)
    return run_image_task(args, work)


def cmd_upscale(args) -> int:
    from .engine import upscale

    scale = args.scale
    if scale is None:
        info = default_registry().get(args.model, "upscale").info if args.model else None
        scale = info.scale if info and info.scale else 2

    def work(photo, _job, progress):
        return upscale(photo.pixels, scale, model=args.model, device=args.device, tile=args.tile, progress=progress)
    return run_image_task(args, work)


def cmd_inpaint(args) -> int:
    from .engine import inpaint

    def work(photo, job, progress):
        mask = read_image(job.mask).pixels
        return inpaint(photo.pixels, mask, model=args.model, seed=args.seed, device=args.device, tile=args.tile,
                       progress=progress)
    return run_image_task(args, work)


def generate_targets(output: Path, seed: int, count: int) -> Iterator[Path]:
    if output.suffix and count == 1:
        yield output
        return
    for i in range(count):
        yield (output.with_name(f"{output.stem}-{seed + i}{output.suffix}") if output.suffix
               else output / f"seed-{seed + i}.png")


def cmd_generate(args) -> int:
    from .engine import generate

    output = Path(args.output)
    if output.suffix:
        if not output.parent.exists():
            raise BadInputError(f"{output.parent}: output folder does not exist")
    targets = list(generate_targets(output, args.seed, args.count))
    for t in targets:
        if t.exists() and not args.overwrite:
            raise BadInputError(f"{t}: already exists (pass --overwrite to replace it)")
    progress = Progress("generate")
    try:
        images = generate(model=args.model, seed=args.seed, count=args.count, latent_dim=args.latent_dim,
                          device=args.device, progress=progress)
    finally:
        progress.close()
    if not output.suffix:
        output.mkdir(parents=True, exist_ok=True)
    for target, pixels in zip(targets, images):
        write_image(target, Photo(pixels), overwrite=args.overwrite, quality=args.quality)
        print(target, file=sys.stderr)
    return 0


def cmd_models(args) -> int:
    registry = default_registry()
    infos = registry.models(args.task)
    if args.json:
        print(json.dumps({"models": [i.to_dict() for i in infos], "user_models_dir": str(registry.user_dir),
                          "problems": {str(k): v for k, v in registry.problems.items()}}, indent=2))
        return 0
    print(f"{'NAME':24} {'TASK':9} {'SCALE':5} {'SOURCE':9} DESCRIPTION")
    for i in infos:
        scale = "any" if i.scale == 0 else f"x{i.scale}"
        print(f"{i.name:24} {i.task:9} {scale:5} {i.source:9} {i.description}")
    print(f"\nUser models folder: {registry.user_dir}")
    for path, problem in registry.problems.items():
        print(f"skipped: {problem}", file=sys.stderr)
    return 0


HANDLERS = {"denoise": cmd_denoise, "upscale": cmd_upscale, "inpaint": cmd_inpaint,
            "generate": cmd_generate, "models": cmd_models}


def main(argv: Optional[list[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    if args.command is None:
        build_parser().print_help()
        return 0
    if getattr(args, "tile", None) is not None and args.tile < 0:
        error("--tile must be 0 (no tiling) or a positive size")
        return EXIT_USER_ERROR
    try:
        return HANDLERS[args.command](args)
    except RestoraError as exc:
        error(str(exc))
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        error("interrupted; no partial files were written")
        return 130
