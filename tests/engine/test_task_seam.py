"""The task seam: tasks are objects with typed parameters; the engine runs any of them by
name, limits results to a mask, and records recipe steps that replay bit for bit."""
from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import invert_task_spec, run_without_qt

from restora.engine import (BadInputError, ModelError, Registry, all_tasks, get_task, register, replay,
                            run_task)
from restora.engine.recipe import MaskRef, load_recipe, parse_recipe, recipe_dict, save_recipe
from restora.engine.tasks import catalog


@pytest.fixture
def reg(tmp_path):
    return Registry(user_dir=tmp_path / "none", include_builtin=False)


def test_every_task_has_typed_checked_parameters():
    names = [t.name for t in all_tasks()]
    assert names[:4] == ["inpaint", "denoise", "upscale", "generate"]
    denoise = get_task("denoise")
    assert denoise.parse({}).sigma is None and denoise.parse({"sigma": 12}).sigma == 12.0
    for bad, message in [({"sigma": 0}, "out of range"), ({"sigma": "x"}, "must be a number"),
                         ({"sigma": 1, "strength": 2}, "unknown parameter 'strength'")]:
        with pytest.raises(BadInputError, match=message):
            denoise.parse(bad)
    with pytest.raises(BadInputError, match="not supported"):
        get_task("upscale").parse({"scale": 5})
    with pytest.raises(BadInputError, match="unknown task"):
        get_task("sharpen")


def test_run_task_returns_the_result_and_its_recipe_step(make_image, reg):
    img = make_image(40, 52, 3)
    direct = run_task("denoise", img, {"sigma": 15}, model="nlm", registry=reg)
    from restora.engine import denoise

    assert np.array_equal(direct.images[0], denoise(img, 15, model="nlm", registry=reg))
    step = direct.step
    assert (step.task, step.params, step.model.name, step.model.source, step.tile) == \
        ("denoise", {"sigma": 15.0}, "nlm", "classical", 0)


def test_inside_mask_is_the_engines_for_every_photo_task(make_image, reg):
    img = make_image(48, 64, 3)
    area = np.zeros((48, 64), bool)
    area[10:30, 20:40] = True
    den = run_task("denoise", img, {"sigma": 30}, inside=area, model="nlm", registry=reg).images[0]
    assert np.array_equal(den[:, :8], img[:, :8]) and not np.array_equal(den[15:25, 25:35], img[15:25, 25:35])
    big = run_task("upscale", img, {"scale": 2}, inside=area, model="bicubic", registry=reg).images[0]
    plain = run_task("upscale", img, {"scale": 2}, model="lanczos", registry=reg).images[0]
    assert big.shape == (96, 128, 3) and np.array_equal(big[:, :16], plain[:, :16])
    with pytest.raises(BadInputError, match="empty"):
        run_task("denoise", img, {}, inside=np.zeros((48, 64), bool), model="nlm", registry=reg)
    with pytest.raises(BadInputError, match="cannot be limited"):
        run_task("inpaint", img, {}, mask=area, inside=area, model="telea", registry=reg)


def test_recipe_replays_bit_for_bit_and_survives_json(make_image, reg, tmp_path):
    img = make_image(50, 60, 3)
    holes = np.zeros((50, 60), np.uint8)
    holes[20:24, 5:50] = 255
    a = run_task("denoise", img, {"sigma": 20}, model="nlm", registry=reg)
    b = run_task("inpaint", a.images[0], {}, mask=holes, model="telea", registry=reg)
    c = run_task("upscale", b.images[0], {}, model="lanczos", registry=reg)
    path = save_recipe(tmp_path / "r.json", [a.step, b.step, c.step])
    steps = load_recipe(path)
    assert [s.task for s in steps] == ["denoise", "inpaint", "upscale"] and steps[2].params == {"scale": 2}
    out, ran = replay(steps, img, registry=reg)
    assert np.array_equal(out, c.images[0]) and len(ran) == 3
    # two recipes' steps together are a recipe
    first, second = recipe_dict(steps[:1]), recipe_dict(steps[1:])
    joined = parse_recipe({"restora_recipe": 1, "steps": first["steps"] + second["steps"]})
    assert np.array_equal(replay(joined, img, registry=reg)[0], c.images[0])


def test_a_recipe_file_made_meanwhile_is_not_replaced(make_image, reg, tmp_path, monkeypatch):
    import pytest

    from restora.engine import BadInputError
    from restora.engine import recipe as recipe_module

    step = run_task("denoise", make_image(20, 20, 3), {"sigma": 10}, model="nlm", registry=reg).step
    target = tmp_path / "r.json"
    real = recipe_module.recipe_dict

    def racing(steps):
        target.write_text("theirs")     # another program, between the check and the write
        return real(steps)

    monkeypatch.setattr(recipe_module, "recipe_dict", racing)
    with pytest.raises(BadInputError, match="already exists"):
        save_recipe(target, [step])
    assert target.read_text() == "theirs"


def test_masks_round_trip_packed():
    mask = np.zeros((37, 53), bool)
    mask[3:9, 4:40] = True
    ref = MaskRef.of(mask)
    assert np.array_equal(ref.to_array(), mask) and len(ref.bits) < 200
    forged = MaskRef(ref.width, ref.height, "0" * 64, ref.bits)
    with pytest.raises(BadInputError, match="does not match its hash"):
        forged.to_array()


@pytest.mark.parametrize("content, message", [
    ("not json", "not valid JSON"),
    ("[]", "not a Restora recipe"),
    ('{"restora_recipe": 2, "steps": []}', "version 2"),
    ('{"restora_recipe": 1, "steps": []}', "1..1000 steps"),
    ('{"restora_recipe": 1, "steps": [{"task": "rm -rf"}]}', "unknown task"),
    ('{"restora_recipe": 1, "steps": [{"task": "denoise", "params": {"sigma": 1e9}}]}', "out of range"),
    ('{"restora_recipe": 1, "steps": [{"task": "denoise", "params": {"x": 1}}]}', "unknown parameter"),
    ('{"restora_recipe": 1, "steps": [{"task": "denoise", "tile": -4}]}', "tile"),
    ('{"restora_recipe": 1, "steps": [{"task": "inpaint", "mask": {"width": 10, "height": 1e12}}]}', "mask size"),
    ('{"restora_recipe": 1, "steps": [{"task": "denoise", "model": {"name": "nlm", "source": "classical",'
     ' "sha256": "zz"}}]}', "64 hex"),
    ("[" * 100000, "not valid JSON"),
])
def test_hostile_recipes_are_refused(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(BadInputError, match=message):
        load_recipe(path)


def test_a_recipe_whose_model_changed_is_refused(tmp_path, model_files, make_image):
    import shutil

    folder = tmp_path / "user"
    folder.mkdir()
    shutil.copy(model_files["rgb_x2"], folder / "mine.pth")
    reg = Registry(user_dir=folder, include_builtin=False)
    img = make_image(16, 16, 3)
    step = run_task("upscale", img, {}, model="mine", device="cpu", registry=reg).step
    assert step.model.sha256 and step.params["scale"] == 2
    shutil.copy(model_files["rgb_x2"], folder / "mine.pth")          # same bytes: fine
    replay([step], img, device="cpu", registry=Registry(user_dir=folder, include_builtin=False))
    shutil.copy(model_files["gray_x2"], folder / "mine.pth")         # other weights, same name
    with pytest.raises(ModelError, match="not the file the recipe was made with"):
        replay([step], img, device="cpu", registry=Registry(user_dir=folder, include_builtin=False))
    (folder / "mine.pth").unlink()
    with pytest.raises(ModelError, match="not available here"):
        replay([step], img, device="cpu", registry=Registry(user_dir=folder, include_builtin=False))


# --- adding a task is one module and one register line -----------------------------------------

@pytest.fixture
def invert_task():
    task = register(invert_task_spec())
    yield task
    catalog.unregister("invert")


def test_a_new_task_appears_in_the_cli_and_runs(invert_task, cli, tmp_path, save_image, make_image):
    from restora.cli import build_parser

    assert "invert" in build_parser().format_help()
    photo = save_image(tmp_path / "p.png", make_image(10, 12, 3))
    code, _o, err = cli("invert", photo, "-o", tmp_path / "o.png", "--amount", "1",
                        "--recipe-out", tmp_path / "r.json")
    assert code == 0, err
    from restora.engine import read_image

    assert np.array_equal(read_image(tmp_path / "o.png").pixels, 255 - read_image(photo).pixels)
    assert json.loads((tmp_path / "r.json").read_text())["steps"][0]["params"] == {"amount": 1.0}
    code, _o, err = cli("invert", photo, "-o", tmp_path / "o2.png", "--amount", "2")
    assert code == 2 and "out of range" in err


def test_the_engine_never_imports_qt():
    result = run_without_qt("import restora.engine, restora.cli, restora.engine.recipe\n"
                            "from restora.engine.tasks.catalog import all_tasks\n"
                            "all_tasks()\n"
                            "print('ok')\n")
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_a_mask_that_inflates_beyond_its_size_is_refused():
    import base64
    import hashlib
    import zlib

    bomb = zlib.compress(bytes(50 << 20), 9)                 # 50 MB of zeros in ~50 kB
    ref = MaskRef(80, 64, hashlib.sha256(b"").hexdigest(), base64.b64encode(bomb).decode())
    with pytest.raises(BadInputError, match="not the 80x64 mask"):
        ref.to_array()                                       # inflates 640 bytes, no more
