"""DCGAN-style generators saved as plain weights (a state dict, not a program).

A stack of 4x4 transposed convolutions (the first from the latent vector at 1x1 to 4x4,
each next one doubling the size), batch norms between them and a tanh at the end, as in
PyTorch's DCGAN example and its many descendants. Everything is read from the weights'
names and shapes: the latent size, the widths, the output size and channels. Nothing in
the file is run: the network is our own code.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

import torch
import torch.nn as nn

_INDEX = re.compile(r"^(.*?)(\d+)\.weight$")


def conv_chain(state_dict: dict) -> Optional[list[tuple[str, tuple]]]:
    """[(layer prefix, weight shape)] of a DCGAN generator's transposed convolutions, in
    order, or None when the weights are not one."""
    convs, norms = [], set()
    for key, value in state_dict.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            return None
        match = _INDEX.match(key)
        if match and value.ndim == 4:
            convs.append((int(match.group(2)), key[:-len(".weight")], tuple(value.shape)))
        elif key.endswith(".running_mean"):
            norms.add(key[:-len(".running_mean")])
    convs.sort()
    shapes = [shape for _i, _p, shape in convs]
    if len(shapes) < 2 or any(s[2:] != (4, 4) for s in shapes):
        return None
    if any(a[1] != b[0] for a, b in zip(shapes, shapes[1:])) or shapes[-1][1] not in (1, 3):
        return None   # ConvTranspose2d weights are (in, out, k, k): each feeds the next
    return [(prefix, shape) for _i, prefix, shape in convs]


class DCGANGenerator(nn.Module):
    """The network the weights describe; ``forward(z)`` takes N x latent (or N x latent x 1 x 1)."""

    def __init__(self, shapes: list[tuple], norms: list[bool]):
        super().__init__()
        self.latent_dim = int(shapes[0][0])
        self.output_range = (-1.0, 1.0)   # the last layer is a tanh: never guess from a batch
        layers: list[nn.Module] = []
        for i, (cin, cout, _kh, _kw) in enumerate(shapes):
            first, last = i == 0, i == len(shapes) - 1
            layers.append(nn.ConvTranspose2d(cin, cout, 4, 1 if first else 2, 0 if first else 1, bias=False))
            if last:
                layers.append(nn.Tanh())
            else:
                layers.extend([nn.BatchNorm2d(cout)] if norms[i] else [])
                layers.append(nn.ReLU(True))
        self.main = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z.reshape(z.shape[0], self.latent_dim, 1, 1))


def build(state_dict: dict, path: Path) -> Optional[DCGANGenerator]:
    """Our DCGAN with the file's weights (their names mapped onto ours), or None."""
    chain = conv_chain(state_dict)
    if chain is None:
        return None
    prefixes = [p for p, _s in chain]
    index = {p: i for i, p in enumerate(prefixes)}
    # a batch norm follows a convolution: it is the one whose layer number comes next
    norm_of = {}
    for key in state_dict:
        if key.endswith(".running_mean"):
            base = key[:-len(".running_mean")]
            head, _, num = base.rpartition(".")
            previous = f"{head}.{int(num) - 1}" if num.isdigit() else None
            if previous in index:
                norm_of[index[previous]] = base
    net = DCGANGenerator([s for _p, s in chain], [i in norm_of for i in range(len(chain))])
    mapped = {}
    layers = [m for m in net.main]
    positions = [j for j, m in enumerate(layers) if isinstance(m, nn.ConvTranspose2d)]
    for i, pos in enumerate(positions):
        mapped[f"main.{pos}.weight"] = state_dict[f"{prefixes[i]}.weight"]
        if i in norm_of:
            for name in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
                if f"{norm_of[i]}.{name}" in state_dict:
                    mapped[f"main.{pos + 1}.{name}"] = state_dict[f"{norm_of[i]}.{name}"]
    try:
        net.load_state_dict(mapped, strict=True)
    except RuntimeError:
        return None
    return net.eval()
