"""Keep a run's progress in git: the weights of ``training/runs/<run>/last.pt`` in float16,
without the optimiser state (a third of the size), for a later session to go on from.

    python training/snapshot.py inpaint_v2        # -> training/checkpoints/inpaint_v2-last.pt

A config continues from it with ``"init_from": "training/checkpoints/<run>-last.pt"`` (a new
cosine cycle; the GAN trainer also takes the discriminator from it). ``training/runs/`` is not
in git and a session's machine may not be kept, so this is how a long run crosses sessions.
"""
from __future__ import annotations

import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as C  # noqa: E402


def half(state: dict) -> dict:
    return {k: (v.detach().to(torch.float16) if v.is_floating_point() else v).contiguous() for k, v in state.items()}


def snapshot(run: str) -> str:
    st = torch.load(os.path.join(C.RUNS, run, "last.pt"), map_location="cpu", weights_only=False)
    out = {"model": half(st["model"]), "step": st["step"], "best": st.get("best"), "config": st.get("config")}
    if "ema" in st:   # AveragedModel keeps the module under "module." plus a counter
        out["ema"] = half({k[len("module."):]: v for k, v in st["ema"].items() if k.startswith("module.")})
    if "disc" in st:
        out["disc"] = half(st["disc"])
    path = os.path.join(C.ROOT, "training", "checkpoints", f"{run}-last.pt")
    torch.save(out, path)
    print("wrote", path, "%.1f MB" % (os.path.getsize(path) / 1e6), "step", st["step"])
    return path


if __name__ == "__main__":
    snapshot(sys.argv[1])
