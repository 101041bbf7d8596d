"""Choose the compute device, report its name and free memory, and decide fp16.

torch is imported lazily so that listing models or reading files stays fast.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from .jobs import BadInputError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


@dataclass(frozen=True)
class DeviceInfo:
    kind: str            # "cuda", "mps" or "cpu"
    torch_device: str    # e.g. "cuda:0"
    name: str            # for people: "NVIDIA H100 80GB HBM3" or "CPU (2 threads)"
    half: bool           # whether fp16 is worth trying on this device
    bf16: bool = False   # a CPU with native bf16 dot products (AVX512-BF16, AMX)


def _torch():
    import torch
    return torch


def resolve_device(choice: str = "auto") -> DeviceInfo:
    """``auto`` picks CUDA, then MPS, then CPU. Forcing a missing device is a user error."""
    torch = _torch()
    choice = (choice or "auto").lower()
    if choice not in DEVICE_CHOICES:
        raise BadInputError(f"unknown device '{choice}': use one of {', '.join(DEVICE_CHOICES)}")
    cuda_ok = torch.cuda.is_available()
    mps_ok = bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    if choice == "auto":
        choice = "cuda" if cuda_ok else "mps" if mps_ok else "cpu"
    if choice == "cuda":
        if not cuda_ok:
            raise BadInputError("device 'cuda' requested but no CUDA GPU is available: use --device cpu")
        return DeviceInfo("cuda", "cuda:0", torch.cuda.get_device_name(0), True)
    if choice == "mps":
        if not mps_ok:
            raise BadInputError("device 'mps' requested but Apple MPS is not available: use --device cpu")
        # fp16 on MPS is unreliable for several conv nets; stay in fp32 there.
        return DeviceInfo("mps", "mps", "Apple GPU (MPS)", False)
    bf16 = cpu_has_bf16()
    name = f"CPU ({torch.get_num_threads()} threads{', bf16' if bf16 else ''})"
    return DeviceInfo("cpu", "cpu", name, False, bf16)


def cpu_has_bf16() -> bool:
    """Whether the CPU multiplies bf16 natively, so nets that allow it run at about half
    the fp32 time. ``RESTORA_CPU_BF16=0`` turns it off (to compare, or on a suspect CPU)."""
    if os.environ.get("RESTORA_CPU_BF16", "1") == "0":
        return False
    cpu = getattr(_torch(), "cpu", None)
    try:
        return bool(cpu._is_avx512_bf16_supported() or cpu._is_amx_tile_supported())
    except AttributeError:  # an older torch without the probes: stay in fp32
        return False


def free_memory_bytes(device: DeviceInfo) -> int:
    """Memory the next job may use on ``device`` (a conservative estimate)."""
    if device.kind == "cuda":
        free, _total = _torch().cuda.mem_get_info()
        return int(free)
    if device.kind == "mps":
        return 4 << 30  # no reliable query; unified memory, be modest
    return _available_ram()


def _available_ram() -> int:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 4 << 30


def is_oom(exc: BaseException) -> bool:
    """True for the out-of-memory errors torch raises on any backend."""
    torch = _torch()
    oom_type = getattr(torch.cuda, "OutOfMemoryError", None)
    if oom_type is not None and isinstance(exc, oom_type):
        return True
    return isinstance(exc, (RuntimeError, MemoryError)) and "out of memory" in str(exc).lower() \
        or isinstance(exc, MemoryError)


def release_cached_memory() -> None:
    """Hand freed memory back: the GPU caches, and on Linux glibc's heap (weights freed in
    many mid-sized blocks stay in the process otherwise: listing three StyleGAN pickles left
    ~250 MB resident that ``malloc_trim`` returns)."""
    torch = _torch()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    mps = getattr(torch, "mps", None)
    if mps is not None and getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        mps.empty_cache()
    _trim_heap()


def _trim_heap() -> None:
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):   # not glibc (musl): nothing to trim this way
        pass
