"""The window keeps a recipe of each photo: export it, replay it from the CLI bit for bit,
apply a recipe file to an open photo."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt

from restora.engine import load_recipe, read_image
from restora.gui.display import array_to_mask


def _wait_job(window, qtbot, timeout=20000):
    job = window.job
    assert job is not None
    qtbot.waitUntil(lambda: window.job is None, timeout=timeout)
    assert job.outcome == "finished", job.error
    return job


def _run(window, qtbot):
    qtbot.mouseClick(window.panel.run_button, Qt.LeftButton)
    return _wait_job(window, qtbot)


def test_window_recipe_replays_in_the_cli(window, qtbot, open_doc, tmp_path, cli):
    doc = open_doc("photo.png")
    source = doc.source
    holes = np.zeros(doc.pixels.shape[:2], bool)
    holes[20:24, 10:80] = True
    doc.push_mask(array_to_mask(holes), "mask")
    window.panel.set_task("inpaint")
    window.panel.select_model("telea")
    _run(window, qtbot)
    window.panel.set_task("denoise")
    window.panel.select_model("nlm")
    _run(window, qtbot)
    assert [s.task for s in doc.recipe_steps()] == ["inpaint", "denoise"]
    window.act_undo.trigger()                                  # undone steps leave the recipe
    assert [s.task for s in doc.recipe_steps()] == ["inpaint"]
    window.act_redo.trigger()
    recipe = tmp_path / "recipe.json"
    window.get_recipe_path = lambda save: str(recipe)
    window.export_recipe()
    qtbot.waitUntil(recipe.exists, timeout=10000)
    assert [s.task for s in load_recipe(recipe)] == ["inpaint", "denoise"]
    code, _o, err = cli("apply", recipe, source, "-o", tmp_path / "replayed.png")
    assert code == 0, err
    assert np.array_equal(read_image(tmp_path / "replayed.png").pixels, doc.pixels)


def test_apply_a_recipe_file_to_the_open_photo(window, qtbot, open_doc, tmp_path, cli, save_image, make_image):
    photo = save_image(tmp_path / "p.png", make_image(96, 128, 3))
    recipe = tmp_path / "r.json"
    assert cli("denoise", photo, "-o", tmp_path / "cli.png", "--model", "nlm", "--sigma", "20",
               "--recipe-out", recipe)[0] == 0
    window.open_paths([str(photo)])
    qtbot.waitUntil(lambda: len(window.documents) == 1, timeout=10000)
    doc = window.documents[0]
    window.get_recipe_path = lambda save: str(recipe)
    window.apply_recipe()
    _wait_job(window, qtbot)
    assert np.array_equal(doc.pixels, read_image(tmp_path / "cli.png").pixels)
    assert [s.task for s in doc.recipe_steps()] == ["denoise"] and doc.undo_stack.count() == 1
    bad = tmp_path / "bad.json"
    bad.write_text('{"restora_recipe": 1, "steps": [{"task": "upscale", "model": {"name": "gone", "source": "user"}}]}')
    window.get_recipe_path = lambda save: str(bad)
    window.apply_recipe()
    qtbot.waitUntil(lambda: window.job is None, timeout=10000)
    assert "not available here" in window.errors[-1] and doc.undo_stack.count() == 1
