"""The window's Document adapts the engine's Qt-free DocumentModel to a QUndoStack."""
from __future__ import annotations

import numpy as np

from restora.engine import Photo
from restora.engine.document import DocumentModel, PackedBits
from restora.gui.display import array_to_mask
from restora.gui.mask_layer import PackedMask


def test_the_undo_stack_drives_the_model_history(qapp):
    from restora.gui.document import Document

    doc = Document(Photo(pixels=np.zeros((10, 20, 3), np.uint8)), title="t")
    assert isinstance(doc.model, DocumentModel) and doc.history is doc.model.history
    mask = np.zeros((10, 20), bool)
    mask[1:3, 4:6] = True
    doc.push_mask(array_to_mask(mask), "Paint mask")
    doc.apply_result(np.ones((10, 20, 3), np.uint8), "denoise", steps=[{"task": "denoise"}])
    doc.apply_result(np.ones((20, 40, 3), np.uint8), "upscale", steps=[{"task": "upscale"}])
    assert doc.mask.to_array().shape == (20, 40) and doc.mask.to_array().sum() == 4 * mask.sum()
    assert [s.label for s in doc.model.applied] == ["denoise", "upscale"]
    assert doc.recipe_steps() == [{"task": "denoise"}, {"task": "upscale"}]

    doc.undo_stack.setIndex(1)                  # back to just the painted mask
    assert doc.model.applied == [] and doc.recipe_steps() == []
    assert doc.pixels.shape == (10, 20, 3) and (doc.mask.to_array() == mask).all()
    doc.undo_stack.redo()
    assert doc.recipe_steps() == [{"task": "denoise"}] and doc.pixels.max() == 1
    doc.apply_result(np.full((10, 20, 3), 9, np.uint8), "inpaint", clear_mask=True, steps=[{"task": "inpaint"}])
    assert doc.mask.is_empty() and doc.recipe_steps() == [{"task": "denoise"}, {"task": "inpaint"}]
    doc.undo_stack.undo()
    assert (doc.mask.to_array() == mask).all() and doc.pixels.max() == 1

    doc.path = doc.path                          # the model's attributes read and write through
    doc.overwrite_confirmed = True
    assert doc.model.overwrite_confirmed and doc.title == "t"
    doc.close()
    assert doc.model.closed


def test_packed_mask_wraps_the_engines_packed_bits(qapp):
    rng = np.random.default_rng(1)
    odd = rng.integers(0, 2, (9, 13)).astype(bool)
    packed = PackedMask(array_to_mask(odd))
    assert isinstance(packed.bits, PackedBits) and (packed.bits.to_bool() == odd).all()
    assert (packed.width, packed.height) == (13, 9) and packed.nbytes == packed.bits.nbytes
