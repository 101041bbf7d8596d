"""--recipe-out and `restora apply`: what one run did, replayed bit for bit."""
from __future__ import annotations

import json

import numpy as np

from restora.engine import read_image


def _photo(tmp_path, save_image, make_image, name="p.png", h=40, w=56):
    return save_image(tmp_path / name, make_image(h, w, 3))


def test_cli_recipe_then_apply_gives_the_same_pixels(cli, tmp_path, save_image, make_image):
    photo = _photo(tmp_path, save_image, make_image)
    holes = np.zeros((40, 56), np.uint8)
    holes[10:14, 4:50] = 255
    mask = save_image(tmp_path / "m.png", holes)
    assert cli("inpaint", photo, "--mask", mask, "-o", tmp_path / "a.png", "--model", "telea",
               "--recipe-out", tmp_path / "r1.json")[0] == 0
    assert cli("denoise", tmp_path / "a.png", "-o", tmp_path / "b.png", "--model", "nlm", "--sigma", "12",
               "--recipe-out", tmp_path / "r2.json")[0] == 0
    joined = {"restora_recipe": 1, "steps": json.loads((tmp_path / "r1.json").read_text())["steps"]
              + json.loads((tmp_path / "r2.json").read_text())["steps"]}
    (tmp_path / "both.json").write_text(json.dumps(joined))
    code, _o, err = cli("apply", tmp_path / "both.json", photo, "-o", tmp_path / "again.png",
                        "--recipe-out", tmp_path / "r3.json")
    assert code == 0, err
    assert np.array_equal(read_image(tmp_path / "again.png").pixels, read_image(tmp_path / "b.png").pixels)
    assert [s["task"] for s in json.loads((tmp_path / "r3.json").read_text())["steps"]] == ["inpaint", "denoise"]


def test_apply_on_a_folder_pairs_masks_when_the_stored_one_does_not_fit(cli, tmp_path, save_image, make_image):
    photo = _photo(tmp_path, save_image, make_image)
    holes = np.zeros((40, 56), np.uint8)
    holes[5:9, 5:40] = 255
    assert cli("inpaint", photo, "--mask", save_image(tmp_path / "m.png", holes), "-o", tmp_path / "a.png",
               "--model", "telea", "--recipe-out", tmp_path / "r.json")[0] == 0
    folder, masks, out = tmp_path / "in", tmp_path / "masks", tmp_path / "out"
    folder.mkdir(), masks.mkdir()
    _photo(folder, save_image, make_image, "same.png")                    # 40x56: the stored mask fits
    _photo(folder, save_image, make_image, "other.png", 30, 30)          # needs its own
    other_holes = np.zeros((30, 30), np.uint8)
    other_holes[3:6, 3:20] = 255
    save_image(masks / "other.png", other_holes)
    code, _o, err = cli("apply", tmp_path / "r.json", folder, "-o", out, "--mask", masks)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["other.png", "same.png"]
    code, _o, err = cli("apply", tmp_path / "r.json", folder, "-o", tmp_path / "out2")
    assert code == 2 and "needs a mask for this photo" in err and (tmp_path / "out2" / "same.png").exists()


def test_apply_refuses_bad_recipes_before_any_work(cli, one_error_line, tmp_path, save_image, make_image):
    photo = _photo(tmp_path, save_image, make_image)
    bad = tmp_path / "bad.json"
    bad.write_text('{"restora_recipe": 1, "steps": [{"task": "upscale", "params": {}, '
                   '"model": {"name": "no-such-model", "source": "user"}}]}')
    code, _o, err = cli("apply", bad, photo, "-o", tmp_path / "o.png")
    assert code == 2 and "not available here" in one_error_line(err) and not (tmp_path / "o.png").exists()
    code, _o, err = cli("apply", tmp_path / "missing.json", photo, "-o", tmp_path / "o.png")
    assert code == 2 and "recipe file not found" in one_error_line(err)


def test_recipe_out_is_checked_first(cli, one_error_line, tmp_path, save_image, make_image):
    photo = _photo(tmp_path, save_image, make_image)
    (tmp_path / "r.json").write_text("mine")
    code, _o, err = cli("denoise", photo, "-o", tmp_path / "o.png", "--model", "nlm", "--recipe-out",
                        tmp_path / "r.json")
    assert code == 2 and "already exists" in one_error_line(err) and not (tmp_path / "o.png").exists()
    assert (tmp_path / "r.json").read_text() == "mine"


def test_inside_option_limits_a_task(cli, tmp_path, save_image, make_image):
    photo = _photo(tmp_path, save_image, make_image)
    area = np.zeros((40, 56), np.uint8)
    area[10:30, 10:30] = 255
    code, _o, err = cli("denoise", photo, "-o", tmp_path / "o.png", "--model", "nlm", "--sigma", "40",
                        "--inside", save_image(tmp_path / "area.png", area))
    assert code == 0, err
    before, after = read_image(photo).pixels, read_image(tmp_path / "o.png").pixels
    assert np.array_equal(before[:, 40:], after[:, 40:]) and not np.array_equal(before[15:25, 15:25],
                                                                               after[15:25, 15:25])
