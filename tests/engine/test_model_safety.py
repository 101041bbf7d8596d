"""Model files never run code unless the person trusts that exact file.

The attack: a TorchScript archive whose scripted ``__setstate__`` writes a file when the
archive is loaded (``code_payload`` in conftest). It must write nothing while Restora lists,
describes or detects models, or is asked to use it, until the person trusts it.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from restora.engine import ModelError, Registry, UnsafeModelError, generate, trust
from restora.engine.jobs import UntrustedCodeError
from restora.engine.models.formats import sniff_model_file


def test_the_payload_is_real(code_payload, tmp_path):
    """Trusted, the file runs: proves the other tests would see the write if it happened."""
    path, marker = code_payload
    trust.trust(path)
    model = Registry(user_dir=tmp_path / "none").get(str(path), "generate")
    assert marker.read_bytes() == b"PWNED"
    assert model.info.trusted_code


@pytest.mark.parametrize("suffix", [".pt", ".pth", ".ckpt", ".safetensors"])
def test_listing_a_user_folder_never_loads_a_program(code_payload, tmp_path, suffix):
    path, marker = code_payload
    folder = tmp_path / "user"
    folder.mkdir()
    shutil.copy(path, folder / f"gan{suffix}")     # the suffix does not decide: the bytes do
    reg = Registry(user_dir=folder)
    names = {i.name for i in reg.models()}
    assert "gan" not in names
    assert list(reg.untrusted) == [folder / f"gan{suffix}"]
    assert "TorchScript program" in reg.problems[folder / f"gan{suffix}"]
    assert "trust" in reg.problems[folder / f"gan{suffix}"]
    with pytest.raises(UntrustedCodeError, match="would run code"):
        reg.get("gan", "generate")
    with pytest.raises(UntrustedCodeError):
        reg.add_file(folder / f"gan{suffix}")
    assert not marker.exists()


@pytest.mark.parametrize("task", ["denoise", "upscale", "inpaint", "generate"])
def test_every_task_refuses_an_untrusted_program(code_payload, tmp_path, task):
    path, marker = code_payload
    with pytest.raises(UntrustedCodeError) as info:
        Registry(user_dir=tmp_path / "none").get(str(path), task)
    assert info.value.path == path and info.value.what == "a TorchScript program"
    assert not marker.exists()


def test_trust_is_per_content_not_per_name(code_payload, tmp_path):
    path, marker = code_payload
    trust.trust(path)
    assert trust.is_trusted(path)
    copy = tmp_path / "renamed-copy.pt"                 # same bytes, other name: still trusted
    shutil.copy(path, copy)
    assert trust.is_trusted(copy)
    with open(path, "ab") as fh:                         # changed bytes, same name: not trusted
        fh.write(b"\0")
    assert not trust.is_trusted(path)
    with pytest.raises(UntrustedCodeError):
        Registry(user_dir=tmp_path / "none").get(str(path), "generate")
    assert not marker.exists()


def test_trust_is_remembered_and_can_be_withdrawn(code_payload, tmp_path):
    path, marker = code_payload
    folder = tmp_path / "user"
    folder.mkdir()
    shutil.copy(path, folder / "gan.pt")
    info = Registry(user_dir=folder).trust(folder / "gan.pt")
    assert info.trusted_code and info.task == "generate"
    marker.unlink()
    again = Registry(user_dir=folder)                   # a new session remembers the choice
    listed = {i.name: i for i in again.models()}
    assert listed["gan"].trusted_code and marker.exists()
    stored = json.loads((trust.config_dir() / trust.TRUST_FILE).read_text())
    assert stored["trusted"][trust.file_digest(folder / "gan.pt")]["name"] == "gan.pt"
    marker.unlink()
    assert again.untrust(folder / "gan.pt")
    fresh = Registry(user_dir=folder)
    assert "gan" not in {i.name for i in fresh.models()} and not marker.exists()


def test_a_trusted_generator_samples(tmp_path, generator_factory):
    path = generator_factory(tmp_path / "g.pt", latent_dim=8)
    reg = Registry(user_dir=tmp_path / "none")
    with pytest.raises(UntrustedCodeError):
        generate(model=str(path), device="cpu", registry=reg)
    reg.trust(path)
    images = generate(model=str(path), seed=3, count=2, device="cpu", registry=reg)
    assert len(images) == 2 and images[0].shape == (12, 12, 3) and images[0].dtype == np.uint8


def test_torch_export_programs_are_refused(tmp_path):
    import torch

    class Double(torch.nn.Module):
        def forward(self, x):
            return x * 2

    program = torch.export.export(Double(), (torch.zeros(1, 3, 4, 4),))
    path = tmp_path / "double.pt2"
    torch.export.save(program, str(path))
    renamed = tmp_path / "double.pth"
    path.rename(renamed)
    assert sniff_model_file(renamed).kind == "export"
    with pytest.raises(UntrustedCodeError, match="torch.export program"):
        Registry(user_dir=tmp_path / "none").get(str(renamed), "upscale")


@pytest.mark.parametrize("content, message", [
    (b"", r"empty \(0 bytes\)"),
    (bytes(range(256)) * 4, "not a model file"),
    (b"\x80" + bytes(range(1, 200)), "truncated or damaged"),   # a pickle that does not parse
    (b"PK\x03\x04" + b"\0" * 100, "truncated or damaged"),       # a zip that stops
])
def test_bad_model_files_say_what_is_wrong(tmp_path, content, message):
    path = tmp_path / "bad.pth"
    path.write_bytes(content)
    with pytest.raises(ModelError, match=message) as info:
        Registry(user_dir=tmp_path / "none").get(str(path), "upscale")
    assert not isinstance(info.value, UnsafeModelError), "damage is not an attack"


def test_truncated_weights_files(model_files, tmp_path):
    for key in ("rgb_x2", "rgb_x2_st"):
        data = model_files[key].read_bytes()
        cut = tmp_path / f"cut-{model_files[key].name}"
        cut.write_bytes(data[: len(data) * 2 // 3])
        with pytest.raises(ModelError, match="truncated or damaged|not a model file"):
            Registry(user_dir=tmp_path / "none").get(str(cut), "upscale")


# --- Restora-metadata safetensors: checked when listed ------------------------------------

def _forge(tmp_path: Path, stem: str, **meta_changes) -> Path:
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    from restora.engine.models.builtin import builtin_dir

    source = builtin_dir() / "restora-sr-x2.safetensors"
    with safe_open(str(source), framework="pt") as fh:
        meta = dict(fh.metadata())
    meta.update(meta_changes)
    path = tmp_path / f"{stem}.safetensors"
    save_file(load_file(str(source)), str(path), meta)
    return path


@pytest.mark.parametrize("changes, message", [
    ({"restora_arch": "Evil"}, "unknown architecture"),
    ({"restora_config": json.dumps({"scale": 2, "channels": 10 ** 6, "blocks": 12})}, "out of range"),
    ({"restora_config": json.dumps({"scale": 2, "channels": 64, "blocks": 12})}, "weights do not match"),
    ({"restora_config": json.dumps({"scale": 2, "chanels": 32})}, "does not fit"),
    ({"restora_config": "[" * 5000}, "bad metadata"),
    ({"restora_config": json.dumps({"x": list(range(1000))})}, "too large"),
    ({"scale": "1000000"}, "outside 1..8"),
    ({"task": "delete-everything"}, "unknown task"),
    # metadata that does not match what the network computes
    ({"scale": "8"}, "metadata says x8"),                                  # a x2 net
    ({"in_channels": "1"}, "does not take the 1-channel input"),
    ({"out_channels": "1"}, "makes 3 channels"),
    ({"restora_config": json.dumps({"scale": -2, "channels": 32, "blocks": 12})}, "out of range"),
    ({"context_px": "1024"}, "outside 0..128"),
    ({"bytes_per_pixel": "1048576"}, "outside 1..16384"),
])
def test_hostile_restora_files_are_refused_at_listing(tmp_path, changes, message):
    folder = tmp_path / "user"
    folder.mkdir()
    path = _forge(folder, "forged", **changes)
    reg = Registry(user_dir=folder, include_builtin=False)
    assert "forged" not in {i.name for i in reg.models()}
    assert message in reg.problems[path]


def test_text_from_model_files_is_one_printable_line(tmp_path):
    folder = tmp_path / "user"
    folder.mkdir()
    _forge(folder, "spoof", name="x\x1b[2J\rrestora-sr-x4\nupscale x4 builtin",
           description="fine\x07\x9b" + "a" * 500)
    info = next(i for i in Registry(user_dir=folder, include_builtin=False).models() if i.source == "user")
    for text in (info.name, info.description):
        assert text.isprintable() and "\x1b" not in text and "\n" not in text
    assert len(info.description) <= 200


# --- the command line ------------------------------------------------------------------------

def test_cli_never_runs_an_untrusted_program(cli, one_error_line, code_payload, models_dir, tmp_path, save_image,
                                             make_image):
    path, marker = code_payload
    shutil.copy(path, models_dir / "faces.pt")
    code, out, err = cli("models")
    assert code == 0 and "faces" not in out and "TorchScript program" in err and not marker.exists()
    photo = save_image(tmp_path / "p.png", make_image(20, 24, 3))
    mask = save_image(tmp_path / "m.png", np.full((20, 24), 255, np.uint8))
    runs = [("denoise", photo), ("upscale", photo), ("inpaint", photo, "--mask", mask), ("generate",)]
    for argv in runs:
        for model in (str(path), "faces"):
            code, _o, err = cli(*argv, "-o", tmp_path / f"out-{argv[0]}.png", "--model", model)
            assert code == 2 and "trust" in one_error_line(err), (argv, err)
    assert not marker.exists() and not list(tmp_path.glob("out-*"))


def test_cli_trust_is_visible_in_the_listing(cli, code_payload, models_dir):
    path, marker = code_payload
    shutil.copy(path, models_dir / "faces.pt")
    code, out, _err = cli("models", "--trust", models_dir / "faces.pt")
    assert code == 0 and "trusted" in out
    code, out, _err = cli("models")
    line = next(ln for ln in out.splitlines() if ln.startswith("faces"))
    assert "generate" in line and "[trusted program: runs code]" in line and marker.exists()
    code, out, _err = cli("models", "--json")
    assert next(m for m in json.loads(out)["models"] if m["name"] == "faces")["trusted_code"] is True
    marker.unlink()
    assert cli("models", "--untrust", models_dir / "faces.pt")[0] == 0
    code, out, err = cli("models")
    assert "faces" not in out and "TorchScript program" in err and not marker.exists()


def test_a_file_swapped_after_the_trust_check_does_not_run(code_payload, tmp_path, generator_factory, monkeypatch):
    """The trusted bytes are the ones loaded: hash and load read one buffer."""
    from restora.engine.models import sources

    payload, marker = code_payload
    good = generator_factory(tmp_path / "good.pt")
    trust.trust(good)
    target = tmp_path / "swap.pt"
    shutil.copy(good, target)
    real_is_trusted = trust.is_trusted

    def swap_after_check(path, digest=None):
        verdict = real_is_trusted(path, digest)
        shutil.copy(payload, target)          # the attacker's swap, right after the check
        return verdict

    monkeypatch.setattr(sources.trust, "is_trusted", swap_after_check)
    with pytest.raises(ModelError, match="changed since you trusted it"):
        sources.load_model_file(target)       # swapped after the first check: its bytes are refused
    assert not marker.exists()
    shutil.copy(good, target)
    calls = []
    monkeypatch.setattr(sources.trust, "is_trusted",
                        lambda path, digest=None: calls.append(1) or (swap_after_check(path, digest)
                                                                     if len(calls) == 2 else real_is_trusted(path, digest)))
    model = sources.load_model_file(target)   # swapped after the bytes were read and checked: those run
    assert model.info.task == "generate" and not marker.exists()


def test_model_sources_are_an_ordered_registry():
    from restora.engine.models.sources import SOURCES

    assert [s.name for s in SOURCES] == ["restora", "torchscript", "nvlabs", "rosinality", "dcgan", "spandrel"]


# --- files that would make building the network cost more than they hold ---------------------

def test_a_layer_number_bomb_is_refused_before_spandrel_builds_it(tmp_path):
    import torch
    from safetensors.torch import save_file

    path = tmp_path / "bomb.safetensors"
    save_file({"body.0.weight": torch.zeros(64, 3, 3, 3), "body.0.bias": torch.zeros(64),
               "body.1.weight": torch.zeros(64), "body.20001.weight": torch.zeros(12, 64, 3, 3),
               "body.20001.bias": torch.zeros(12)}, str(path))
    with pytest.raises(ModelError, match="names layer 20001"):
        Registry(user_dir=tmp_path / "none").get(str(path), "upscale")


def test_an_expanded_tensor_pickle_bomb_is_refused(tmp_path):
    import torch

    path = tmp_path / "tiny.pth"
    torch.save({"body.0.weight": torch.zeros(1).expand(6000, 6000, 3, 3)}, path)
    assert path.stat().st_size < 10_000
    with pytest.raises(ModelError, match="claims 324,000,000 weights"):
        Registry(user_dir=tmp_path / "none").get(str(path), "upscale")


def test_weight_names_that_are_not_text(tmp_path):
    import torch

    folder = tmp_path / "user"
    folder.mkdir()
    torch.save({1: torch.zeros(2), "a": torch.zeros(2)}, folder / "odd.pth")
    reg = Registry(user_dir=folder, include_builtin=False)
    reg.models()
    assert "not text" in reg.problems[folder / "odd.pth"]


def test_a_damaged_trust_store_trusts_nothing_and_is_not_overwritten(code_payload, tmp_path):
    path, marker = code_payload
    store = trust.config_dir() / trust.TRUST_FILE
    trust.trust(path)
    for damage in ("[" * 100_000, '{"trusted": {"x": 1},}', '{"trusted": []}', "\0\0\0"):
        store.write_text(damage)
        assert not trust.is_trusted(path)
        with pytest.raises(ModelError, match="damaged"):
            trust.trust(path)
        with pytest.raises(UntrustedCodeError):
            Registry(user_dir=tmp_path / "none").get(str(path), "generate")
        assert store.read_text() == damage and not marker.exists()


def test_registry_refuses_odd_arguments_in_words(tmp_path):
    reg = Registry(user_dir=tmp_path / "none", include_builtin=False)
    with pytest.raises(ModelError, match="unknown task 'sharpen'"):
        reg.get("nlm", "sharpen")
    with pytest.raises(ModelError, match="cannot open the model"):
        reg.add_file("bad\0name.pth")
    with pytest.raises(ModelError, match="cannot open the model"):
        reg.get("x" * 5000 + ".pth", "upscale")
