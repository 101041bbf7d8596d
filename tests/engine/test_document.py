"""The Qt-free document model: packed masks, the history of results with their recipes, spilling."""
from __future__ import annotations

import gc

import numpy as np
import pytest
from helpers import run_without_qt

from restora.engine import Photo
from restora.engine.document import DocumentModel, PackedBits
from restora.engine.spill import SpillStore


def test_the_document_model_works_with_qt_blocked():
    code = ("import numpy as np\n"
            "from restora.engine import Photo\n"
            "from restora.engine.document import DocumentModel, PackedBits\n"
            "doc = DocumentModel(Photo(pixels=np.zeros((8, 9, 3), np.uint8)))\n"
            "step = doc.result_step(np.ones((8, 9, 3), np.uint8), 'one', recipe=[{'task': 'x'}])\n"
            "doc.apply(step)\n"
            "assert doc.pixels.max() == 1 and doc.recipe_steps() == [{'task': 'x'}]\n"
            "assert PackedBits(np.eye(5, dtype=bool)).to_bool().trace() == 5\n"
            "doc.close()\n"
            "print('ok')\n")
    result = run_without_qt(code)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_packed_bits_round_trip_and_compress():
    rng = np.random.default_rng(5)
    odd = rng.integers(0, 2, (37, 53)).astype(bool)
    packed = PackedBits(odd)
    assert packed.shape == (37, 53)
    assert (packed.to_bool() == odd).all()
    assert set(np.unique(packed.to_uint8())) <= {0, 255} and ((packed.to_uint8() == 255) == odd).all()

    big = np.zeros((2000, 3000), bool)
    big[500:900, 700:2500] = True
    assert PackedBits(big).nbytes < 100_000          # vs 6,000,000 bytes unpacked
    assert PackedBits(np.zeros((0, 4), bool)).to_bool().shape == (0, 4)
    with pytest.raises(ValueError):
        PackedBits(np.zeros((2, 3, 3), bool))


def test_history_undoes_and_redoes_exactly_and_spills(tmp_path):
    rng = np.random.default_rng(3)
    steps = [rng.integers(0, 255, (40, 50, 3), dtype=np.uint8) for _ in range(5)]
    store = SpillStore(budget_bytes=steps[0].nbytes, folder=tmp_path)
    doc = DocumentModel(Photo(pixels=steps[0]), history=store)
    history = []
    for i, pixels in enumerate(steps[1:], 1):
        step = doc.result_step(pixels, f"step {i}", recipe=[{"n": i}])
        doc.apply(step)
        history.append(step)
    store.wait()
    assert doc.pixels is steps[-1] and store.memory_bytes() <= steps[0].nbytes
    assert len(list(tmp_path.glob("*.npy"))) >= 2          # older results went to disk
    assert doc.recipe_steps() == [{"n": i} for i in range(1, 5)]
    with pytest.raises(ValueError):
        doc.revert(history[0])                              # last in, first out
    for step, want in zip(reversed(history), reversed(steps[:-1])):
        pixels, mask = doc.revert(step)
        assert np.array_equal(pixels, want) and mask is None
    assert doc.pixels is steps[0] and doc.original_pixels is steps[0] and doc.recipe_steps() == []
    for step, want in zip(history[:2], steps[1:3]):
        assert np.array_equal(doc.apply(step)[0], want)
    assert doc.recipe_steps() == [{"n": 1}, {"n": 2}]
    branch = doc.result_step(steps[0][::-1].copy(), "new branch")
    del history[2:], step                                   # dropped from the history ...
    doc.apply(branch)
    store.wait()
    gc.collect()
    assert len(list(tmp_path.glob("*.npy"))) <= 2           # ... and their files with them
    doc.close()
    store.close()


def test_a_result_of_another_size_takes_the_mask_along_and_inpainting_clears_it():
    doc = DocumentModel(Photo(pixels=np.zeros((10, 20), np.uint8)))
    mask = np.zeros((10, 20), bool)
    mask[2:4, 5:9] = True

    same = doc.result_step(np.ones((10, 20), np.uint8), "denoise", mask=None)
    assert same.mask_before is None and same.mask_after is None

    bigger = doc.result_step(np.ones((20, 40), np.uint8), "upscale", mask=mask)
    pixels, after = doc.apply(bigger)
    assert pixels.shape == (20, 40) and after.shape == (20, 40)
    assert after.to_bool().sum() == 4 * mask.sum()
    pixels, before = doc.revert(bigger)
    assert pixels.shape == (10, 20) and (before.to_bool() == mask).all()

    filled = doc.result_step(np.full((10, 20), 7, np.uint8), "inpaint", mask=mask, clear_mask=True)
    _pixels, after = doc.apply(filled)
    assert not after.to_bool().any() and (filled.mask_before.to_bool() == mask).all()
    doc.close()


def test_naming_and_kind():
    gray_rgb = np.repeat(np.arange(12, dtype=np.uint16).reshape(3, 4, 1), 3, axis=2)
    doc = DocumentModel(Photo(pixels=gray_rgb), title="Generated seed 1")
    assert doc.title == "Generated seed 1" and doc.path is None and doc.source is None
    assert doc.channels == 3 and doc.is_gray
    assert doc.size_text() == "4 × 3 · RGB (black and white) · 16-bit"
    doc.saved_as("/tmp/out/restored.png")
    assert doc.title == "restored.png" and doc.source is None
    colour = gray_rgb.copy()
    colour[0, 0, 0] += 1
    doc.apply(doc.result_step(colour, "tint"))
    assert not doc.is_gray
    doc.close()
