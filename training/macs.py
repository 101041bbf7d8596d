"""Count multiply-accumulates per pixel (conv layers) of the shipped models.

    python training/macs.py
Denoisers: per input pixel; SR: per output pixel.
"""
import os, sys, json
import torch
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))
import quality as Q  # noqa: E402

def count(model, args):
    tot = [0]
    def hook(m, i, o):
        if isinstance(m, torch.nn.Conv2d):
            tot[0] += o.numel() // o.shape[0] * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
        elif isinstance(m, torch.nn.ConvTranspose2d):
            tot[0] += i[0].numel() // i[0].shape[0] * m.out_channels * m.kernel_size[0] * m.kernel_size[1]
    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    with torch.no_grad():
        model(*args)
    for h in hs:
        h.remove()
    return tot[0]

for name in ["restora-denoise", "restora-denoise-gray", "restora-sr-x2", "restora-sr-x4"]:
    path = os.path.join(Q.MODELS, name + ".safetensors")
    if not os.path.exists(path):
        continue
    m, meta = Q.load_model(name, "cpu")
    c, s = int(meta["in_channels"]), int(meta["scale"])
    h = w = 256
    x = torch.rand(1, c, h, w)
    args = (x, torch.full((1, 1, 1, 1), 0.1)) if meta["task"] == "denoise" else (x,)
    macs = count(m, args)
    px = h * w * s * s
    params = sum(p.numel() for p in m.parameters())
    print("%-22s %-14s params %8d  file %.2f MB  %6.0f MACs/%s pixel  (%.1f GMAC per MP)" % (
        name, meta["restora_arch"], params, os.path.getsize(path) / 1e6, macs / px,
        "output" if s > 1 else "input", macs / px / 1000.0))
