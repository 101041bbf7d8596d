"""What damage LOOKS like on a print, for training the damage detector (train_detect.py).

``damage.py`` draws the shapes (where the damage is); this module paints them onto a clean
crop the way an old print shows them, then puts on top, independently of the damage, what
must NOT be flagged: film grain, scan noise, mild blur, JPEG, sepia/faded tone, gray.

``synthesize(img_u8, rng, nrng)`` -> (damaged uint8 HxWx3, label float32 HxW in {0, 1}).
The label marks where the damage is visibly there: painted with opacity > 0.35 and changing
the pixel by more than 4 levels, 14 for stains (a white scratch over a white sky is not damage
anyone needs to see). A share of the samples (``p_clean``) gets no damage at all, only the nuisances, so
grain and texture are learned as negatives.

Stage 2 (options of ``look``, a dict read from the config; the defaults are stage 1's
behaviour, random draws included, so a stage-1 run resumes exactly):

* ``p_highlight``: the share of samples that get scene highlights before any damage, label 0:
  hard negatives for the paper-white lost pieces and light scratches (``highlights``);
* ``highlight_modes``: how often each kind of highlight is drawn (``HIGHLIGHT_MODES``);
* ``kind_weights``: how often each kind of damage is painted, overriding ``WEIGHTS`` per name.
"""
from __future__ import annotations

import math
import random

import cv2
import numpy as np

import damage

#: how often each kind is painted (damage.WEIGHTS, plus folds, which damage.py does not draw)
WEIGHTS = dict(damage.WEIGHTS, fold=1.0)
LABEL_ALPHA = 0.35     # a stain's label: where it is visibly strong
VISIBLE = 4.0 / 255    # ... and where it changes the pixel at all
VISIBLE_STAIN = 14.0 / 255   # a stain tints: on red or dark parts the same stain barely shows


def _soft(mask: np.ndarray, sigma: float) -> np.ndarray:
    """Antialiased edge: the painted alpha is the shape blurred a little."""
    return cv2.GaussianBlur(mask, (0, 0), sigma) if sigma > 0 else mask


def _smooth_field(h: int, w: int, rng: random.Random, lo: float, hi: float, cells: int = 6) -> np.ndarray:
    """A slowly varying field in [lo, hi]: opacity that fades along a scratch."""
    small = np.float32([[rng.random() for _ in range(cells)] for _ in range(cells)])
    return lo + (hi - lo) * cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC).clip(0, 1)


def _light(rng):
    """Emulsion gone: paper white, sometimes a little warm."""
    v = rng.uniform(0.82, 1.0)
    return np.float32([v, v * rng.uniform(0.95, 1.0), v * rng.uniform(0.85, 1.0)])


def _dark(rng):
    v = rng.uniform(0.0, 0.22)
    return np.float32([v, v, v * rng.uniform(0.8, 1.0)])


def _line_colour(rng, p_light):
    return _light(rng) if rng.random() < p_light else _dark(rng)


def _fold(h: int, w: int, rng: random.Random):
    """A fold: a long, nearly straight line (cracked emulsion, light) and a shadow on one side.
    Returns (line mask, shadow mask)."""
    line, shadow = np.zeros((h, w), np.float32), np.zeros((h, w), np.float32)
    a = rng.uniform(0, math.pi)
    cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), 2 * (h + w)
    p0 = (cx - r * math.cos(a), cy - r * math.sin(a))
    p1 = (cx + r * math.cos(a), cy + r * math.sin(a))
    width = rng.choice([1, 2, 2, 3])
    off = rng.choice([-1, 1]) * (width + rng.uniform(1, 3))
    nx, ny = -math.sin(a) * off, math.cos(a) * off
    cv2.line(shadow, (int(p0[0] + nx), int(p0[1] + ny)), (int(p1[0] + nx), int(p1[1] + ny)), 1.0,
             width + rng.randint(1, 4), cv2.LINE_AA)
    cv2.line(line, (int(p0[0]), int(p0[1])), (int(p1[0]), int(p1[1])), 1.0, width, cv2.LINE_AA)
    return line, shadow


def _paint(img: np.ndarray, alpha: np.ndarray, colour) -> np.ndarray:
    """Alpha-blend a colour (3-vector or HxWx3) over img."""
    a = alpha[..., None]
    return img * (1 - a) + np.asarray(colour, np.float32) * a


def kind_weights(overrides=None) -> dict:
    """WEIGHTS with the config's ``kind_weights`` put over it (unknown names are an error)."""
    overrides = overrides or {}
    bad = sorted(set(overrides) - set(WEIGHTS))
    if bad:
        raise ValueError("unknown damage kinds in kind_weights: %s (known: %s)" % (bad, sorted(WEIGHTS)))
    return dict(WEIGHTS, **{k: float(v) for k, v in overrides.items()})


def paint_damage(img: np.ndarray, rng: random.Random, nrng: np.random.Generator, kinds=None, weights=None):
    """Paint 1-3 kinds of damage on img (float32 HxWx3 in [0, 1]); returns (img, label).
    ``kinds`` forces the kinds; else they are drawn by ``weights`` (default ``WEIGHTS``; the
    same number of draws whatever the weights)."""
    h, w = img.shape[:2]
    weights = weights or WEIGHTS
    names = list(WEIGHTS)
    kinds = kinds or rng.choices(names, [weights[n] for n in names], k=rng.choice([1, 1, 2, 2, 3]))
    label = np.zeros((h, w), np.float32)
    for kind in kinds:
        before = img
        if kind == "fold":
            line, shadow = _fold(h, w, rng)
            img = _paint(img, _soft(shadow, 1.5) * rng.uniform(0.3, 0.6), _dark(rng))
            alpha = _soft(line, rng.uniform(0.3, 0.7)) * rng.uniform(0.6, 1.0)
            img = _paint(img, alpha, _light(rng))
            alpha = np.maximum(alpha, _soft(shadow, 1.5) * 0.5 * (1 - line))
        elif kind == "blotches":
            # stains, water spots: soft, partly transparent, yellow/brown (multiplied in, so
            # the photo shows through), often with a darker rim where the water dried
            m = damage.blotches(h, w, rng)
            alpha = _soft(m, rng.uniform(2, 8)) * rng.uniform(0.45, 0.95)
            if rng.random() < 0.4:
                rim = np.clip(m - cv2.erode(m, np.ones((5, 5), np.uint8)), 0, 1)
                alpha = np.clip(alpha + _soft(rim, 1.5) * 0.4, 0, 1)
            tint = np.float32([rng.uniform(0.85, 1.0), rng.uniform(0.62, 0.85), rng.uniform(0.3, 0.6)])
            tint *= rng.uniform(0.55, 1.0)
            if rng.random() < 0.2:   # bleached spot instead: lighter, a little yellow
                img = _paint(img, alpha, np.float32([0.97, 0.93, 0.8]))
            else:
                img = img * (1 - alpha[..., None] * (1 - tint))
        elif kind in ("blocks", "torn"):
            # a lost piece of the print: paper, the scanner lid, or a dark backing board
            m = damage.KINDS[kind](h, w, rng)
            if rng.random() < 0.75:
                fill = _light(rng) * np.float32([1, rng.uniform(0.93, 1), rng.uniform(0.8, 1)])
            else:
                fill = _dark(rng)
            fill = fill + nrng.normal(0, 0.015, (h, w, 1)).astype(np.float32)   # paper texture
            alpha = _soft(m, rng.uniform(0.3, 1.0))
            img = _paint(img, alpha, fill)
        elif kind == "dust":
            # dust on the print (dark) or on the negative / emulsion holes (bright);
            # now and then foxing: soft brown specks
            m = damage.dust(h, w, rng)
            u = rng.random()
            colour = _dark(rng) if u < 0.5 else _light(rng) if u < 0.85 else np.float32([0.55, 0.38, 0.2])
            alpha = _soft(m, rng.uniform(0.3, 0.8)) * rng.uniform(0.7, 1.0)
            img = _paint(img, alpha, colour)
        else:   # scratches, cracks: thin lines, light or dark, opacity fading along them
            m = damage.KINDS[kind](h, w, rng)
            colour = _line_colour(rng, 0.65 if kind == "scratches" else 0.4)
            sigma = rng.uniform(0.3, 0.8) if kind == "scratches" else rng.uniform(0.0, 0.5)
            alpha = _soft(m, sigma) * _smooth_field(h, w, rng, rng.uniform(0.45, 0.8), 1.0)
            img = _paint(img, alpha, colour)
        changed = np.abs(img - before).max(axis=2) > (VISIBLE_STAIN if kind == "blotches" else VISIBLE)
        label = np.maximum(label, ((alpha > LABEL_ALPHA) & changed).astype(np.float32))
        if label.mean() > 0.5:   # enough: keep some photo in the crop
            break
    return np.clip(img, 0, 1), label


# ---------------------------------------------------------------- scene highlights (negatives)

#: how often each kind of highlight is drawn (``look["highlight_modes"]`` overrides)
HIGHLIGHT_MODES = {"clip": 0.35, "blob": 0.3, "edge": 0.25, "line": 0.1}


def _luma(img: np.ndarray) -> np.ndarray:
    return img @ np.float32([0.299, 0.587, 0.114])


def _smoothstep(x, lo, hi):
    t = np.clip((x - lo) / max(hi - lo, 1e-6), 0, 1)
    return t * t * (3 - 2 * t)


def _toward_white(img: np.ndarray, alpha: np.ndarray, rng: random.Random, k_min: float = 0.0) -> np.ndarray:
    """Brighten img under alpha toward a near white (a little warm or cool now and then),
    keeping a share ``k`` >= ``k_min`` of the texture (k = 0: blown out flat); never darker
    than img."""
    v = rng.uniform(0.9, 1.0)
    white = np.float32([v, v, v])
    if rng.random() < 0.3:
        white = white * np.float32([1, rng.uniform(0.96, 1), rng.uniform(0.9, 1)])
    k = k_min if rng.random() < 0.2 else rng.uniform(max(k_min, 0.08), 0.5)
    target = np.maximum(white - (white - img) * k, img)
    return img + (target - img) * alpha[..., None]


def _hl_clip(img, rng, nrng):
    """Overexposure: the brightest parts of the scene (walls, sky, a white shirt) pushed into
    clipping, with the soft shoulder film gives."""
    y = cv2.GaussianBlur(_luma(img), (0, 0), rng.uniform(1.0, 4.0))
    lo = float(np.quantile(y, 1 - rng.uniform(0.1, 0.5)))
    alpha = _smoothstep(y, lo - rng.uniform(0.03, 0.12), lo + rng.uniform(0.02, 0.1))
    gain = rng.uniform(1.15, 1.8)
    target = np.maximum(np.minimum(1.0, img * gain + rng.uniform(0.0, 0.15)), img)
    return img + (target - img) * alpha[..., None] * rng.uniform(0.7, 1.0)


def _hl_blob(img, rng, nrng):
    """A bright, smooth-edged region (a sunlit wall, a white sail, a lamp's glow)."""
    h, w = img.shape[:2]
    cells = rng.randint(2, 6)
    small = np.float32([[rng.random() for _ in range(cells)] for _ in range(cells)])
    field = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    m = (field > np.quantile(field, 1 - rng.uniform(0.06, 0.45))).astype(np.float32)
    # softer than any lost piece (sigma <= 1) or bleached stain edge, and more often where the
    # scene is bright already
    alpha = _soft(m, rng.uniform(3.0, 0.08 * max(h, w) + 3)) * rng.uniform(0.75, 1.0)
    alpha *= 0.6 + 0.4 * _smoothstep(cv2.GaussianBlur(_luma(img), (0, 0), 3.0), 0.3, 0.8)
    return _toward_white(img, alpha, rng)


def _hl_edge(img, rng, nrng):
    """A specular rim on the bright side of the scene's edges (the lit edge of a face, a white
    collar, the rim of a plane)."""
    y = _luma(img)
    yb = cv2.GaussianBlur(y, (0, 0), rng.uniform(0.8, 2.0))
    g = np.hypot(cv2.Sobel(yb, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(yb, cv2.CV_32F, 0, 1, ksize=3))
    if float(g.max()) < 0.05:   # a flat crop has no edges to light
        return _hl_blob(img, rng, nrng)
    # strong edges only (object contours, not the texture of a cloud), in runs of 30+ px
    thr = max(float(np.quantile(g, 1 - rng.uniform(0.03, 0.12))), 0.3 * float(g.max()), 0.08)
    n, lab, stats, _ = cv2.connectedComponentsWithStats((g > thr).astype(np.uint8), connectivity=8)
    keep = np.zeros(n, np.float32)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= 30
    band = keep[lab]
    if not band.any():
        return _hl_blob(img, rng, nrng)
    band = _soft(cv2.dilate(band, np.ones((rng.choice([3, 3, 5, 7]),) * 2, np.uint8)), rng.uniform(1.5, 3.0))
    band /= max(float(band.max()), 1e-6)
    side = np.clip((yb - cv2.GaussianBlur(y, (0, 0), 4.0)) * 25 + 0.5, 0, 1)   # the brighter side
    alpha = band * side * rng.uniform(0.5, 0.9)   # a sheen that falls off, not a white line
    return _toward_white(img, alpha, rng, k_min=0.25)


def _hl_line(img, rng, nrng):
    """Thin bright structure of the scene: window frames, railings, a white mast -- straight,
    full length, parallel or a grid, as soft as the photo, often with a shadow beside."""
    h, w = img.shape[:2]
    m, shadow = np.zeros((h, w), np.float32), np.zeros((h, w), np.float32)
    base = rng.choice([0.0, math.pi / 2]) + rng.gauss(0, 0.04) if rng.random() < 0.7 else rng.uniform(0, math.pi)
    r = 2 * (h + w)
    for a in ([base, base + math.pi / 2] if rng.random() < 0.5 else [base]):
        width = rng.choice([3, 3, 4, 5, 6, 7])
        n = rng.randint(2, 5)
        gap = rng.uniform(0.12, 0.45) * max(h, w)
        start = rng.uniform(-0.5, 0.5) * max(h, w)
        off = rng.choice([-1, 1]) * (width + rng.uniform(1, 3))
        for i in range(n):
            d = start + i * gap
            cx, cy = w / 2 - math.sin(a) * d, h / 2 + math.cos(a) * d
            p0 = (int(cx - r * math.cos(a)), int(cy - r * math.sin(a)))
            p1 = (int(cx + r * math.cos(a)), int(cy + r * math.sin(a)))
            cv2.line(m, p0, p1, 1.0, width, cv2.LINE_AA)
            q = (-math.sin(a) * off, math.cos(a) * off)
            cv2.line(shadow, (int(p0[0] + q[0]), int(p0[1] + q[1])), (int(p1[0] + q[0]), int(p1[1] + q[1])), 1.0,
                     width, cv2.LINE_AA)
    if rng.random() < 0.7:
        s = _soft(shadow, 1.2) * (1 - m) * rng.uniform(0.15, 0.4)
        img = img * (1 - s[..., None])
    alpha = _soft(m, rng.uniform(0.6, 1.3)) * rng.uniform(0.8, 1.0)
    return _toward_white(img, alpha, rng)


HIGHLIGHTS = {"clip": _hl_clip, "blob": _hl_blob, "edge": _hl_edge, "line": _hl_line}


def highlights(img: np.ndarray, rng: random.Random, nrng: np.random.Generator, modes=None) -> np.ndarray:
    """One or two scene highlights on img (float32 HxWx3 in [0, 1]; brighter or equal
    everywhere but beside a line's shadow, clipped to 1): bright parts of the photo, not
    damage (label 0). ``modes``: weights by name over ``HIGHLIGHT_MODES``."""
    modes = dict(HIGHLIGHT_MODES, **(modes or {}))
    bad = sorted(set(modes) - set(HIGHLIGHTS))
    if bad:
        raise ValueError("unknown highlight modes: %s (known: %s)" % (bad, sorted(HIGHLIGHTS)))
    names = [n for n in HIGHLIGHTS if modes[n] > 0]
    for name in rng.choices(names, [modes[n] for n in names], k=rng.choice([1, 1, 1, 2])):
        img = np.clip(HIGHLIGHTS[name](img, rng, nrng), 0, 1)
    return img


def tone(img: np.ndarray, rng: random.Random) -> np.ndarray:
    """Sometimes gray, sepia or faded (the print's look, not damage)."""
    u = rng.random()
    if u < 0.3:
        y = img @ np.float32([0.299, 0.587, 0.114])
        img = np.repeat(y[..., None], 3, axis=2)
        if rng.random() < 0.5:   # sepia
            s = rng.uniform(0.3, 1.0)
            img = img * (1 - s) + img * np.float32([1.07, 0.95, 0.75]) * s
    if rng.random() < 0.2:       # faded: low contrast, lifted blacks, yellowed
        c = rng.uniform(0.6, 0.9)
        img = img * c + (1 - c) * rng.uniform(0.35, 0.6)
        img = img * np.float32([1.0, rng.uniform(0.95, 1.0), rng.uniform(0.85, 1.0)])
    return np.clip(img, 0, 1)


def grain(img: np.ndarray, rng: random.Random, nrng: np.random.Generator, strength: float) -> np.ndarray:
    """Film grain: mostly luminance (channel-correlated), clumpy, strongest in the mid-tones."""
    h, w = img.shape[:2]
    n = nrng.standard_normal((h, w, 1), dtype=np.float32)
    if rng.random() < 0.7:
        n = cv2.GaussianBlur(n, (0, 0), rng.uniform(0.4, 1.0))[..., None]
        n /= n.std() + 1e-6
    chroma = nrng.standard_normal((h, w, 3), dtype=np.float32) * rng.uniform(0, 0.4)
    y = img.mean(axis=2, keepdims=True)
    return img + (n + chroma) * strength * (0.4 + 2.4 * y * (1 - y))


def nuisances(img: np.ndarray, rng: random.Random, nrng: np.random.Generator, strong: bool = False,
              gray: bool = False) -> np.ndarray:
    """Grain, mild blur, scan noise, JPEG (float [0,1] in, uint8 out). ``strong``: always
    grain and JPEG (the validation's clean crops). ``gray`` (or now and then anyway): the
    scan is saved gray, three equal channels, as the detector gets gray photos."""
    if strong or rng.random() < 0.7:
        img = grain(img, rng, nrng, rng.uniform(0.01, 0.06))
    if rng.random() < 0.3:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 1.0))
    if rng.random() < 0.5:   # scanner noise: per channel, fine
        img = img + nrng.normal(0, rng.uniform(0.003, 0.02), img.shape).astype(np.float32)
    if gray or rng.random() < 0.15:
        img = np.repeat((img @ np.float32([0.299, 0.587, 0.114]))[..., None], 3, axis=2)
    out = np.clip(np.round(np.clip(img, 0, 1) * 255), 0, 255).astype(np.uint8)
    if strong or rng.random() < 0.7:
        ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(out[..., ::-1]),
                               [cv2.IMWRITE_JPEG_QUALITY, rng.randint(40, 95)])
        out = np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])
    return out


def synthesize(img_u8: np.ndarray, rng: random.Random, nrng: np.random.Generator,
               p_clean: float = 0.2, damaged=None, strong: bool = False, look: dict = None, kinds=None):
    """A clean RGB uint8 crop -> (damaged uint8 crop, label float32 HxW).

    ``damaged``: True / False forces damage on / off (validation), None draws it (off with
    probability ``p_clean``). Order as on a real print: tone, scene highlights and grain
    belong to the photo, the damage sits on top of them, blur / scan noise / JPEG come from
    scanning and saving. A gray input (three equal channels) gives a gray output.
    ``look``: the stage-2 options (module docstring; None = stage 1); ``kinds`` forces the
    damage kinds (validation per kind).
    """
    look = look or {}
    gray = bool((img_u8[..., 0] == img_u8[..., 1]).all() and (img_u8[..., 1] == img_u8[..., 2]).all())
    img = tone(img_u8.astype(np.float32) / 255, rng)
    p_hl = look.get("p_highlight", 0.0)
    if p_hl > 0 and rng.random() < p_hl:   # (no draw at all when off: stage-1 streams unchanged)
        img = highlights(img, rng, nrng, look.get("highlight_modes"))
    if damaged is None:
        damaged = rng.random() >= p_clean
    g = rng.random() < 0.5   # grain under the damage (in the photo) or over it (scan)
    if g:
        img = np.clip(grain(img, rng, nrng, rng.uniform(0.0, 0.04)), 0, 1)
    label = np.zeros(img.shape[:2], np.float32)
    if damaged:
        weights = kind_weights(look["kind_weights"]) if look.get("kind_weights") else None
        img, label = paint_damage(img, rng, nrng, kinds=kinds, weights=weights)
    return nuisances(img, rng, nrng, strong, gray), label
