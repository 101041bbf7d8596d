"""Shared fixtures for the engine and CLI tests.

Everything a core test needs is made here: small synthetic photos (gray, RGB, RGBA,
8- and 16-bit, odd sizes), tiny spandrel-recognised model files with random weights,
TorchScript generators and a crafted malicious pickle. Only the "real model" tests
read ../shared/models and they skip when it is absent.
"""

import os
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_MODELS = REPO.parent / "shared" / "models"
REAL_MODEL = SHARED_MODELS / "realesr-animevideov3.pth"


# --- images -------------------------------------------------------------------

def synthetic(h: int, w: int, channels: int = 3, dtype=np.uint8, seed: int = 0) -> np.ndarray:
    """A photo-like test image: smooth gradients, a few hard edges and mild noise.

    Shape HxWxC (C = 1, 2, 3 or 4; the last of 2/4 is a varying alpha plane).
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    planes = []
    colour = 1 if channels in (1, 2) else 3
    for c in range(colour):
        base = 0.5 + 0.35 * np.sin(xx / (7.0 + 3 * c) + c) * np.cos(yy / (9.0 + 2 * c))
        base += 0.1 * ((xx // 13 + yy // 11 + c) % 2)             # hard edges (checker)
        planes.append(base)
    img = np.stack(planes, axis=2) + rng.normal(0, 0.02, (h, w, colour)).astype(np.float32)
    if channels in (2, 4):
        alpha = (0.2 + 0.8 * xx / max(w - 1, 1))[:, :, None]
        img = np.concatenate([img, alpha], axis=2)
    peak = 255 if np.dtype(dtype) == np.uint8 else 65535
    return np.clip(img * peak + 0.5, 0, peak).astype(dtype)


@pytest.fixture
def make_image():
    return synthetic


def write_png(path: Path, pixels: np.ndarray) -> Path:
    """Write pixels (RGB order) with the engine's writer (no metadata)."""
    from restora.engine import Photo, write_image

    return write_image(path, Photo(pixels), overwrite=True)


@pytest.fixture
def save_image():
    return write_png


# --- registry isolation -------------------------------------------------------

@pytest.fixture
def models_dir(tmp_path, monkeypatch):
    """An empty user models folder; RESTORA_MODELS_DIR points at it and the
    process-wide registry is reset so in-process CLI runs see it."""
    import restora.engine.registry as registry_mod

    folder = tmp_path / "user-models"
    folder.mkdir()
    monkeypatch.setenv("RESTORA_MODELS_DIR", str(folder))
    monkeypatch.setattr(registry_mod, "_default", None)
    return folder


@pytest.fixture(autouse=True)
def _isolated_user_models(tmp_path_factory, monkeypatch):
    """Never let a test read the real user's model folder."""
    import restora.engine.registry as registry_mod

    # Trust decisions for program model files go to a per-test config folder.
    monkeypatch.setenv("RESTORA_CONFIG_DIR", str(tmp_path_factory.mktemp("config")))
    if "RESTORA_MODELS_DIR" not in os.environ:
        empty = tmp_path_factory.getbasetemp() / "no-user-models"
        empty.mkdir(exist_ok=True)
        monkeypatch.setenv("RESTORA_MODELS_DIR", str(empty))
    monkeypatch.setattr(registry_mod, "_default", None)


# --- model files --------------------------------------------------------------

def compact_state_dict(in_ch: int, out_ch: int, scale: int, seed: int = 0, num_feat: int = 8, num_conv: int = 2):
    """Random-init spandrel Compact (SRVGGNetCompact) weights."""
    import torch
    from spandrel.architectures.Compact import Compact

    torch.manual_seed(seed)
    net = Compact(num_in_ch=in_ch, num_out_ch=out_ch, num_feat=num_feat, num_conv=num_conv, upscale=scale)
    with torch.no_grad():  # keep outputs near the input range so [0,1] clipping rarely bites
        for p in net.parameters():
            p.mul_(0.5)
    return net.state_dict()


@pytest.fixture(scope="session")
def model_files(tmp_path_factory):
    """Tiny model files: name → path. Built once per session."""
    import torch

    folder = tmp_path_factory.mktemp("models")
    files = {}
    for name, (cin, cout, scale) in {"rgb_x2": (3, 3, 2), "gray_x2": (1, 1, 2),
                                     "rgb_denoise": (3, 3, 1), "gray_denoise": (1, 1, 1)}.items():
        path = folder / f"{name}.pth"
        torch.save(compact_state_dict(cin, cout, scale, seed=len(files)), path)
        files[name] = path
    # Same weights as safetensors (loaded without pickle).
    from safetensors.torch import save_file

    sd = compact_state_dict(3, 3, 2, seed=0)
    files["rgb_x2_st"] = folder / "rgb_x2_st.safetensors"
    save_file({k: v.contiguous() for k, v in sd.items()}, str(files["rgb_x2_st"]))
    # Weights spandrel does not recognise.
    files["unknown_arch"] = folder / "unknown_arch.pth"
    torch.save({"foo.weight": torch.zeros(3, 3), "bar.bias": torch.zeros(3)}, files["unknown_arch"])
    # Bytes that are no model at all.
    files["corrupt"] = folder / "corrupt.pth"
    files["corrupt"].write_bytes(b"PK\x03\x04 this is not really a zip" + bytes(range(256)))
    files["generator"] = make_generator(folder / "gen.pt", latent_dim=8)
    files["generator_nodim"] = make_generator(folder / "gen_nodim.pt", latent_dim=None)
    return files


def make_file_writing_program(path: Path, marker: Path) -> Path:
    """A TorchScript generator whose scripted ``__setstate__`` creates (or overwrites) ``marker``
    with ``torch.from_file(..., shared=True).copy_(...)`` the moment the archive is loaded:
    the attack a program model file in the user folder can carry."""
    import warnings
    from typing import Tuple

    import torch

    class Payload(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.target = str(marker)
            self.latent_dim = 4

        def forward(self, z: torch.Tensor) -> torch.Tensor:
            return torch.zeros(z.shape[0], 3, 8, 8)

        @torch.jit.export
        def __getstate__(self) -> Tuple[str, int, bool]:
            return (self.target, self.latent_dim, self.training)

        @torch.jit.export
        def __setstate__(self, state: Tuple[str, int, bool]) -> None:
            self.target = state[0]
            self.training = state[2]
            data = torch.tensor([80, 87, 78, 69, 68], dtype=torch.uint8)           # "PWNED"
            written = torch.from_file(self.target, True, 5, dtype=torch.uint8).copy_(data)
            self.latent_dim = state[1] + int(written.sum()) * 0   # keeps the write alive

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.script(Payload()), str(path))
    return path


@pytest.fixture
def code_payload(tmp_path):
    """(program file, marker): loading the file writes the marker file."""
    marker = tmp_path / "PWNED"
    return make_file_writing_program(tmp_path / "payload.pt", marker), marker


@pytest.fixture
def trusted_generators(model_files):
    """The TorchScript test generators are programs: trust them (this test's config folder)."""
    from restora.engine import trust

    for key in ("generator", "generator_nodim"):
        trust.trust(model_files[key])
    return model_files


def make_generator(path: Path, latent_dim=8, size: int = 12, seed: int = 0) -> Path:
    """A TorchScript generator: N×d latents → N×3×size×size images in [-1, 1]."""
    import torch
    from torch import nn

    dim = latent_dim or 6

    class Gen(nn.Module):
        def __init__(self):
            super().__init__()
            self.size = size
            self.fc = nn.Linear(dim, 3 * size * size)

        def forward(self, z: torch.Tensor) -> torch.Tensor:
            return torch.tanh(self.fc(z)).view(z.shape[0], 3, self.size, self.size)

    class GenWithDim(Gen):
        latent_dim: int

        def __init__(self):
            super().__init__()
            self.latent_dim = dim

    torch.manual_seed(seed)
    module = GenWithDim() if latent_dim else Gen()
    torch.jit.save(torch.jit.script(module), str(path))
    return path


class _Evil:
    """Unpickling this runs ``os.system('touch MARKER')``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


@pytest.fixture
def evil_model(tmp_path):
    """(model file, marker path): a .pth whose pickle would create the marker when loaded unsafely."""
    import torch

    marker = tmp_path / "PWNED"
    path = tmp_path / "evil.pth"
    torch.save({"body.0.weight": torch.zeros(1), "payload": _Evil(marker)}, path)
    assert not marker.exists()
    return path, marker


@pytest.fixture
def real_model():
    if not REAL_MODEL.is_file():
        pytest.skip(f"real third-party model not found at {REAL_MODEL} (needs ../shared/models, present in CI)")
    return REAL_MODEL


# --- CLI ------------------------------------------------------------------------

@pytest.fixture
def cli(capsys):
    """Run ``restora.cli.main(argv)`` in-process: returns (exit code, stdout, stderr)."""
    from restora.cli import main

    def run(*argv):
        argv = [str(a) for a in argv]
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse errors
            code = exc.code
        out, err = capsys.readouterr()
        return code, out, err

    return run


def run_subprocess(*argv, env_extra=None, cwd=None):
    import subprocess

    env = dict(os.environ)
    env.update(env_extra or {})
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    return subprocess.run([sys.executable, "-m", "restora", *map(str, argv)], capture_output=True, text=True,
                          env=env, cwd=cwd or REPO, timeout=240)


@pytest.fixture
def cli_subprocess():
    return run_subprocess


def error_line(stderr: str) -> str:
    """The single non-empty stderr line of a failed CLI run (asserts there is exactly one)."""
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected a one-line message, got: {stderr!r}"
    assert lines[0].startswith("restora: error: "), lines[0]
    return lines[0]


@pytest.fixture
def one_error_line():
    return error_line


@pytest.fixture
def generator_factory():
    return make_generator


@pytest.fixture
def compact_weights():
    return compact_state_dict


def folder_listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def listing():
    return folder_listing
