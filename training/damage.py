"""Masks shaped like the damage of old prints, for training inpainting (and detection).

Every generator takes an ``(h, w)`` size and a ``random.Random`` and returns a float32
HxW mask in [0, 1] (1 = damaged). Shapes: thin scratches (straight and curved, 1-5 px),
branching cracks, dust and specks, soft blotches and stains, large blocks, torn edges and
corners, and holes touching the border. ``mixed_mask`` draws a mix the way a scan shows
them: usually several kinds at once.
"""
from __future__ import annotations

import math
import random

import cv2
import numpy as np


def scratches(h: int, w: int, rng: random.Random, count: int = 0) -> np.ndarray:
    """Long and short, straight or gently curved lines, 1-5 px wide."""
    m = np.zeros((h, w), np.uint8)
    for _ in range(count or rng.randint(1, 6)):
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        angle = rng.uniform(0, math.pi)
        length = rng.uniform(0.1, 1.2) * max(h, w)
        bend = rng.uniform(-1.5, 1.5) / max(length, 1)
        width = rng.choice([1, 1, 2, 2, 3, 4, 5])
        pts, steps = [], max(4, int(length / 6))
        for i in range(steps + 1):
            t = i / steps * length - length / 2
            a = angle + bend * t
            pts.append((x + math.cos(a) * t, y + math.sin(a) * t))
        cv2.polylines(m, [np.int32(pts)], False, 1, width, cv2.LINE_AA)
    return (m > 0).astype(np.float32)


def cracks(h: int, w: int, rng: random.Random) -> np.ndarray:
    """Jagged, branching lines (emulsion cracks), 1-3 px."""
    m = np.zeros((h, w), np.uint8)

    def walk(x, y, angle, length, width, depth):
        pts = [(x, y)]
        for _ in range(int(length / 4)):
            angle += rng.gauss(0, 0.35)
            x, y = x + 4 * math.cos(angle), y + 4 * math.sin(angle)
            pts.append((x, y))
            if depth < 3 and rng.random() < 0.04:
                walk(x, y, angle + rng.choice([-1, 1]) * rng.uniform(0.4, 1.2), length * 0.5,
                     max(1, width - 1), depth + 1)
        cv2.polylines(m, [np.int32(pts)], False, 1, width, cv2.LINE_8)

    for _ in range(rng.randint(1, 3)):
        walk(rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0, 2 * math.pi),
             rng.uniform(0.2, 0.8) * max(h, w), rng.choice([1, 2, 2, 3]), 0)
    return (m > 0).astype(np.float32)


def dust(h: int, w: int, rng: random.Random) -> np.ndarray:
    """Specks and fibres: many tiny blobs, a few short hairs."""
    m = np.zeros((h, w), np.uint8)
    for _ in range(rng.randint(5, 60)):
        r = max(1, int(rng.expovariate(1 / 1.5)))
        cv2.circle(m, (rng.randrange(w), rng.randrange(h)), min(r, 6), 1, -1)
    for _ in range(rng.randint(0, 6)):
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        a, n = rng.uniform(0, 2 * math.pi), rng.randint(4, 12)
        pts = []
        for _ in range(n):
            a += rng.gauss(0, 0.6)
            x, y = x + 2.5 * math.cos(a), y + 2.5 * math.sin(a)
            pts.append((x, y))
        cv2.polylines(m, [np.int32(pts)], False, 1, 1)
    return (m > 0).astype(np.float32)


def blotches(h: int, w: int, rng: random.Random) -> np.ndarray:
    """Stains and water spots: irregular soft-edged blobs (thresholded smooth noise)."""
    small = np.float32([[rng.random() for _ in range(8)] for _ in range(8)])
    field = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    field += cv2.resize(np.float32([[rng.random() for _ in range(24)] for _ in range(24)]), (w, h)) * 0.3
    level = np.quantile(field, 1 - rng.uniform(0.02, 0.12))
    return (field > level).astype(np.float32)


def blocks(h: int, w: int, rng: random.Random, area: float = 0.0) -> np.ndarray:
    """One to three rectangles (rounded, a little rotated): a lost piece of the print."""
    m = np.zeros((h, w), np.uint8)
    target = area or rng.uniform(0.03, 0.2)
    for _ in range(rng.randint(1, 3)):
        bw = int(w * math.sqrt(target) * rng.uniform(0.6, 1.5))
        bh = int(target * h * w / max(bw, 1) * rng.uniform(0.7, 1.3))
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        box = cv2.boxPoints(((cx, cy), (max(bw, 4), max(bh, 4)), rng.uniform(-20, 20)))
        cv2.fillPoly(m, [np.int32(box)], 1)
    return (m > 0).astype(np.float32)


def torn_edge(h: int, w: int, rng: random.Random) -> np.ndarray:
    """A torn side or corner: a jagged region touching the border."""
    m = np.zeros((h, w), np.uint8)
    depth = rng.uniform(0.05, 0.3)
    if rng.random() < 0.5:   # corner
        cx, cy = rng.choice([(0, 0), (w, 0), (0, h), (w, h)])
        r = depth * (h + w)
        pts = [(cx, cy)]
        for i in range(13):
            a = math.atan2(h / 2 - cy, w / 2 - cx) + (i / 12 - 0.5) * math.pi * 0.9
            rr = r * rng.uniform(0.6, 1.2)
            pts.append((cx + rr * math.cos(a), cy + rr * math.sin(a)))
        cv2.fillPoly(m, [np.int32(pts)], 1)
    else:                    # side
        side = rng.randrange(4)
        n = 24
        span = w if side in (0, 1) else h
        edge = [(i / n * span, depth * (h if side in (0, 1) else w) * rng.uniform(0.3, 1.3)) for i in range(n + 1)]
        if side == 0:
            pts = [(0, 0)] + [(x, d) for x, d in edge] + [(w, 0)]
        elif side == 1:
            pts = [(0, h)] + [(x, h - d) for x, d in edge] + [(w, h)]
        elif side == 2:
            pts = [(0, 0)] + [(d, y) for y, d in edge] + [(0, h)]
        else:
            pts = [(w, 0)] + [(w - d, y) for y, d in edge] + [(w, h)]
        cv2.fillPoly(m, [np.int32(pts)], 1)
    return (m > 0).astype(np.float32)


KINDS = {"scratches": scratches, "cracks": cracks, "dust": dust, "blotches": blotches,
         "blocks": blocks, "torn": torn_edge}
#: how often each kind appears in a mixed mask (old prints: scratches and dust most of all)
WEIGHTS = {"scratches": 3, "cracks": 1.5, "dust": 2, "blotches": 1.5, "blocks": 2, "torn": 1}


def mixed_mask(h: int, w: int, rng: random.Random, max_area: float = 0.45) -> np.ndarray:
    """One to three kinds of damage together; never more than ``max_area`` of the crop."""
    names = list(KINDS)
    weights = [WEIGHTS[n] for n in names]
    m = np.zeros((h, w), np.float32)
    for name in rng.choices(names, weights, k=rng.choice([1, 1, 2, 2, 3])):
        m = np.maximum(m, KINDS[name](h, w, rng))
    if m.mean() > max_area or m.sum() < 1:
        return blocks(h, w, rng, area=rng.uniform(0.03, 0.15))
    return m
