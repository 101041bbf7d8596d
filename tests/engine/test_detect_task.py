"""Damage detection as a task on the seam: a mask out, the threshold re-applied without the
network, the CLI's `detect` and `inpaint --auto-mask` (a random-weight detector here)."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import restora_model_file

from restora.engine import BadInputError, Registry, read_image, run_task
from restora.engine.tasks.detect import damage_probability, detect, threshold_mask


@pytest.fixture(scope="module")
def detector_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("detect-models")
    restora_model_file(folder, "DamageDetector", {"in_channels": 3, "channels": [8, 16, 16], "blocks": [1, 1, 1]},
                       "detect", "tiny-detect", out_channels=1, seed=1)
    return folder


def test_detect_gives_a_mask_and_the_threshold_needs_no_second_run(detector_dir, make_image):
    reg = Registry(user_dir=detector_dir, include_builtin=False)
    assert reg.default_name("detect") == "tiny-detect"          # the only detector is the default
    img = make_image(70, 90, 3)
    prob = damage_probability(img, device="cpu", registry=reg)
    assert prob.shape == (70, 90) and prob.dtype == np.float32 and 0 <= prob.min() <= prob.max() <= 1
    mask = detect(img, 0.5, device="cpu", registry=reg)
    assert mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 255}
    assert np.array_equal(mask, threshold_mask(prob, 0.5))
    low = np.median(prob)
    assert (threshold_mask(prob, float(low)) > 0).mean() >= 0.5 >= (threshold_mask(prob, 1.0) > 0).mean()
    gray = detect(make_image(70, 90, 1), device="cpu", registry=reg)
    assert gray.shape == (70, 90)
    tiled = detect(img, 0.5, device="cpu", registry=reg, tile=64)
    assert (tiled != mask).mean() < 0.01                           # tiles agree with the whole image
    step = run_task("detect", img, {"threshold": 0.3}, device="cpu", registry=reg).step
    assert step.task == "detect" and step.params == {"threshold": 0.3}
    with pytest.raises(BadInputError, match="out of range"):
        threshold_mask(prob, 0)


def test_cli_detect_and_auto_mask(detector_dir, cli, one_error_line, tmp_path, save_image, make_image, monkeypatch):
    monkeypatch.setenv("RESTORA_MODELS_DIR", str(detector_dir))
    import restora.engine.registry as registry_mod

    monkeypatch.setattr(registry_mod, "_default", None)
    photo = save_image(tmp_path / "p.png", make_image(48, 64, 3))
    prob = damage_probability(read_image(photo).pixels, device="cpu",
                              registry=Registry(user_dir=detector_dir, include_builtin=False))
    t = f"{float(np.quantile(prob, 0.8)):.6f}"                # random weights: mark about a fifth
    code, _o, err = cli("detect", photo, "-o", tmp_path / "mask.png", "--threshold", t, "--device", "cpu")
    assert code == 0, err
    mask = read_image(tmp_path / "mask.png").pixels
    assert mask.shape[:2] == (48, 64) and set(np.unique(mask)) <= {0, 255}
    code, _o, err = cli("inpaint", photo, "--auto-mask", t, "-o", tmp_path / "fixed.png", "--model", "telea",
                        "--device", "cpu")
    assert code == 0, err
    fixed, original = read_image(tmp_path / "fixed.png").pixels, read_image(photo).pixels
    keep = mask[..., 0] == 0 if mask.ndim == 3 else mask == 0
    assert np.array_equal(fixed[keep], original[keep])
    code, _o, err = cli("inpaint", photo, "-o", tmp_path / "none.png", "--model", "telea")
    assert code == 2 and "--auto-mask" in one_error_line(err)


def test_no_detector_is_one_line_before_work(cli, one_error_line, tmp_path, save_image, make_image, models_dir,
                                             monkeypatch):
    """A bundle whose built-in detector is missing (and no detector file added)."""
    from restora.engine import registry
    from restora.engine.models import builtin

    (tmp_path / "no-builtins").mkdir()
    monkeypatch.setattr(builtin, "RESOURCES", tmp_path / "no-builtins")
    monkeypatch.setattr(registry, "_default", None)
    photo = save_image(tmp_path / "p.png", make_image(20, 20, 3))
    code, _o, err = cli("inpaint", photo, "--auto-mask", "-o", tmp_path / "o.png", "--model", "telea")
    assert code == 2 and "no detect model" in one_error_line(err) and not (tmp_path / "o.png").exists()
