"""StyleGAN2 files (NVlabs .pkl, rosinality .pt) load as data into our own network and sample
with their authors' seed conventions; hostile pickles run nothing."""
from __future__ import annotations

import math
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from restora.engine import Registry, generate
from restora.engine.jobs import ModelError, UnsafeModelError
from restora.engine.models.formats import sniff_model_file
from restora.engine.models.sources import load_model_file
from stylegan_files import (Persistent, Tiny, Tiny3, nvlabs_snapshot_bytes, random_weights, random_weights3,
                            rosinality_state, sg3_padding, write_nvlabs3_pickle, write_nvlabs_pickle,
                            write_rosinality_checkpoint)

CFG = Tiny()


@pytest.fixture(scope="module")
def weights():
    return random_weights(CFG, seed=1)


@pytest.fixture
def nv_file(tmp_path, weights):
    return write_nvlabs_pickle(tmp_path / "network-snapshot-000100.pkl", CFG, weights)


def _registry(tmp_path):
    return Registry(user_dir=tmp_path / "no-models", include_builtin=False)


# --- a reference written from the StyleGAN2 paper's equations -------------------------------------

def full_conv(x, k):
    """The full 2-D (true) convolution of each channel of ``x`` with kernel ``k`` (c x kh x kw or kh x kw)."""
    c = x.shape[1]
    k = k if k.ndim == 3 else k.expand(c, *k.shape)
    kh, kw = k.shape[-2:]
    return F.conv2d(x, k.flip(-1, -2)[:, None], padding=(kh - 1, kw - 1), groups=c)


def zero_insert(x):
    n, c, h, w = x.shape
    u = x.new_zeros(n, c, 2 * h, 2 * w)
    u[:, :, ::2, ::2] = x
    return u


def ref_dense(x, w, b, lr=1.0, act=False):
    y = x @ (w * (lr / math.sqrt(w.shape[1]))).T + b * lr    # equalised learning rate
    return F.leaky_relu(y, 0.2) * math.sqrt(2) if act else y


def ref_layer(t, p, x, w, up, clamp=None):
    """Modulation, demodulation, optional 2x upsampling + [1,3,3,1] blur, noise, bias, lrelu*sqrt(2)."""
    s = ref_dense(w, t[f"{p}.affine.weight"], t[f"{p}.affine.bias"])             # style per input channel
    weight = t[f"{p}.weight"] * s[:, None, :, None, None]                        # w'_ijk = s_i w_ijk
    weight = weight / torch.sqrt(weight.square().sum(dim=[2, 3, 4], keepdim=True) + 1e-8)   # demodulate
    out = []
    for i in range(x.shape[0]):
        xi, wi = x[i:i + 1], weight[i]
        if up:   # transposed-conv upsampling: zeros between pixels, the 3x3 kernel, then the blur x4
            y = F.conv2d(F.pad(zero_insert(xi), (2, 2, 2, 2)), wi.flip(-1, -2))[:, :, :-1, :-1]  # full conv, 2H+1
            y = full_conv(y, t[f"{p}.resample_filter"] * 4)
            h = 2 * xi.shape[2]
            y = y[:, :, 2:2 + h, 2:2 + h]                                           # the centred 2H window
        else:
            y = F.conv2d(xi, wi, padding=1)
        out.append(y)
    y = torch.cat(out) + t[f"{p}.noise_const"] * t[f"{p}.noise_strength"]        # noise_mode='const'
    y = F.leaky_relu(y + t[f"{p}.bias"][None, :, None, None], 0.2) * math.sqrt(2)
    return y.clamp(-clamp, clamp) if clamp is not None else y


def ref_rgb(t, p, x, w):
    s = ref_dense(w, t[f"{p}.affine.weight"], t[f"{p}.affine.bias"]) / math.sqrt(x.shape[1])
    weight = t[f"{p}.weight"][None] * s[:, None, :, None, None]                 # modulated, not demodulated
    y = torch.einsum("noi,nihw->nohw", weight[:, :, :, 0, 0], x)
    return y + t[f"{p}.bias"][None, :, None, None]


def ref_upsample(img, f):
    h = 2 * img.shape[2]
    return full_conv(zero_insert(img), f * 4)[:, :, 1:1 + h, 1:1 + h]


def reference(cfg: Tiny, t: dict, z: torch.Tensor, psi: float = 1.0) -> torch.Tensor:
    """G(z): mapping (normalised z, lrelu MLP), truncation toward w_avg, skip-architecture synthesis."""
    x = z.float() / torch.sqrt(z.float().square().mean(dim=1, keepdim=True) + 1e-8)
    for i in range(cfg.mapping_layers):
        x = ref_dense(x, t[f"mapping.fc{i}.weight"], t[f"mapping.fc{i}.bias"], cfg.lr, act=True)
    w = t["mapping.w_avg"] + psi * (x - t["mapping.w_avg"])
    img = None
    for res in cfg.resolutions:
        b = f"synthesis.b{res}"
        if res == 4:
            x = t[f"{b}.const"][None].repeat(z.shape[0], 1, 1, 1)
        else:
            x = ref_layer(t, f"{b}.conv0", x, w, up=True, clamp=cfg.conv_clamp)
        x = ref_layer(t, f"{b}.conv1", x, w, up=False, clamp=cfg.conv_clamp)
        y = ref_rgb(t, f"{b}.torgb", x, w)
        y = y.clamp(-cfg.conv_clamp, cfg.conv_clamp) if cfg.conv_clamp is not None else y
        img = y if img is None else ref_upsample(img, t[f"{b}.resample_filter"]) + y
    return img


def nvlabs_pixels(x):
    return (x.permute(0, 2, 3, 1) * 127.5 + 128).clamp(0, 255).to(torch.uint8).numpy()


# --- NVlabs pickles ---------------------------------------------------------------------------------

@pytest.mark.parametrize("clamp", [None, 0.5])
def test_our_forward_pass_is_the_papers(tmp_path, clamp):
    cfg = Tiny(conv_clamp=clamp)
    t = random_weights(cfg, seed=4)
    gen = load_model_file(write_nvlabs_pickle(tmp_path / "g.pkl", cfg, t))
    z = torch.randn(3, cfg.z_dim, generator=torch.Generator().manual_seed(9))
    for psi in (1.0, 0.6):
        with torch.no_grad():
            ours = gen.net(z, psi)
            ref = reference(cfg, t, z, psi)
        assert ours.shape == (3, 3, 16, 16)
        assert torch.allclose(ours, ref, rtol=1e-4, atol=1e-4 * float(ref.abs().max())), (ours - ref).abs().max()


def test_an_nvlabs_pickle_samples_seeds_as_their_generate_py(nv_file, weights, tmp_path):
    assert sniff_model_file(nv_file).kind == "nvlabs"
    info = _registry(tmp_path).get(str(nv_file), "generate").info
    assert info.architecture == "StyleGAN2" and not info.trusted_code
    assert "16×16" in info.description and "latent 8" in info.description and "NVlabs" in info.description
    images = generate(model=str(nv_file), seed=42, count=2, device="cpu", registry=_registry(tmp_path))
    assert [im.shape for im in images] == [(16, 16, 3)] * 2 and not np.array_equal(images[0], images[1])
    for seed, image in zip((42, 43), images):
        z = torch.from_numpy(np.random.RandomState(seed).randn(1, CFG.z_dim))    # NVlabs generate.py's latent
        with torch.no_grad():
            expected = nvlabs_pixels(reference(CFG, weights, z))[0]
        diff = np.abs(image.astype(int) - expected)
        assert diff.max() <= 1 and (diff > 0).mean() < 0.01   # the same image, to float rounding


def test_it_samples_g_ema_not_g(tmp_path, weights):
    other = random_weights(CFG, seed=77)
    path = write_nvlabs_pickle(tmp_path / "snap.pkl", CFG, weights, g_train=other)
    gen = load_model_file(path)
    z = torch.randn(1, CFG.z_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(gen.net(z), reference(CFG, weights, z), rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("protocol, numpy_name", [(4, None), (3, None), (3, b"numpy.core.multiarray"),
                                                  (2, b"numpy.core.multiarray")])
def test_pickle_protocols_and_numpy_spellings(tmp_path, weights, nv_file, protocol, numpy_name):
    data = nvlabs_snapshot_bytes(CFG, weights, protocol=protocol)
    if numpy_name:   # older files (numpy < 2) spell the scalar global numpy.core.multiarray.scalar
        assert b"numpy._core.multiarray\nscalar" in data
        data = data.replace(b"numpy._core.multiarray\nscalar", numpy_name + b"\nscalar")
    path = tmp_path / "old.pkl"
    path.write_bytes(data)
    reg = _registry(tmp_path)
    got = generate(model=str(path), seed=3, count=1, device="cpu", registry=reg)[0]
    want = generate(model=str(nv_file), seed=3, count=1, device="cpu", registry=reg)[0]
    assert np.array_equal(got, want)


def test_truncation_and_interpolation(nv_file, tmp_path):
    reg = _registry(tmp_path)
    run = lambda **kw: generate(model=str(nv_file), device="cpu", registry=reg, **kw)  # noqa: E731
    assert all(np.array_equal(a, b) for a, b in zip(run(seed=5, count=3), run(seed=5, count=3)))   # bit-exact
    assert np.array_equal(run(seed=6, count=1)[0], run(seed=5, count=2)[1])    # a seed is one image, any batch
    assert np.array_equal(run(seed=5, truncation=1.0)[0], run(seed=5)[0])
    centre = run(seed=0, count=3, truncation=0.0)                             # psi 0: the average W for all
    assert all(np.array_equal(centre[0], c) for c in centre[1:])
    mild = run(seed=5, truncation=0.5)[0].astype(int)
    assert np.abs(mild - centre[0]).mean() < np.abs(run(seed=5)[0].astype(int) - centre[0]).mean()
    walk = run(interpolate=(5, 9), steps=4, truncation=0.7)
    assert len(walk) == 4
    assert np.array_equal(walk[0], run(seed=5, truncation=0.7)[0])
    assert np.array_equal(walk[-1], run(seed=9, truncation=0.7)[0])
    assert not np.array_equal(walk[1], walk[0]) and not np.array_equal(walk[1], walk[2])


def test_walks_are_linear_in_w(nv_file):
    from restora.engine.device import resolve_device
    from restora.engine.jobs import make_context

    gen = load_model_file(nv_file)
    gen.prepare(resolve_device("cpu"))
    with torch.no_grad():
        wa, wb = (gen.codes(gen.latent(s, 8)[None], 1.0) for s in (1, 2))
        half = gen.net.synthesize(torch.lerp(wa, wb, 0.5))
    image = gen.interpolate(1, 2, 3, make_context(None, None))[1]
    assert np.array_equal(image, nvlabs_pixels(half)[0])


def test_listing_a_folder_with_pickles(tmp_path, weights):
    folder = tmp_path / "models"
    folder.mkdir()
    write_nvlabs_pickle(folder / "faces.pkl", CFG, weights)
    (folder / "notes.pkl").write_bytes(pickle.dumps({"just": "data"}))
    reg = Registry(user_dir=folder, include_builtin=False)
    infos = reg.models("generate")
    assert [i.name for i in infos] == ["faces"]
    assert folder / "notes.pkl" in reg.problems and reg.default_name("generate") == "faces"


def test_nvlabs_pickles_never_reach_torch_load(nv_file, tmp_path, monkeypatch):
    def refuse(*_a, **_k):
        raise AssertionError("torch.load was called on an NVlabs pickle")

    monkeypatch.setattr(torch, "load", refuse)
    assert generate(model=str(nv_file), seed=1, device="cpu", registry=_registry(tmp_path))[0].shape == (16, 16, 3)


def _tweaked(tmp_path, weights, tweak, name="odd.pkl"):
    path = tmp_path / name
    path.write_bytes(nvlabs_snapshot_bytes(CFG, weights, tweak=tweak))
    return path


def test_generators_we_do_not_run_are_named(tmp_path, weights):
    def conditional(g):
        g.attrs["c_dim"] = 10

    def broken_stylegan3(g):
        s = g.modules["synthesis"]
        s.modules = {"input": Persistent("SynthesisInput"), "L0_36_512": Persistent("SynthesisLayer")}

    with pytest.raises(ModelError, match="conditional"):
        load_model_file(_tweaked(tmp_path, weights, conditional))
    with pytest.raises(ModelError, match="not a StyleGAN3 generator Restora can rebuild"):
        load_model_file(_tweaked(tmp_path, weights, broken_stylegan3))
    tf = tmp_path / "karras2019stylegan-ffhq-1024x1024.pkl"   # a TensorFlow-era pickle names dnnlib.tflib
    tf.write_bytes(b"\x80\x03cdnnlib.tflib.network\nNetwork\nq\x00)\x81q\x01}q\x02b.")
    with pytest.raises(ModelError, match="TensorFlow"):
        load_model_file(tf)


def test_settings_that_claim_a_huge_network_are_refused_before_it_is_built(tmp_path, weights):
    import time

    def huge(g):   # a few kB of file claiming 8192 x 8192 noise maps
        g.modules["synthesis"].modules["b4"].modules["conv1"].attrs["resolution"] = 8192

    start = time.perf_counter()
    with pytest.raises(ModelError, match=r"noise_const is \[4, 4\], its layer needs \[8192, 8192\]"):
        load_model_file(_tweaked(tmp_path, weights, huge))
    assert time.perf_counter() - start < 5


def test_damaged_pickles(tmp_path, nv_file):
    data = nv_file.read_bytes()
    cut = tmp_path / "cut.pkl"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="truncated or damaged"):
        load_model_file(cut)


# --- hostile pickles: nothing in them runs ---------------------------------------------------------

class _Touch:
    """Unpickling this (with an ordinary unpickler) creates ``path``."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_embedded_source_is_never_executed(tmp_path, weights):
    marker = tmp_path / "pwned"
    src = f"open({str(marker)!r}, 'w').write('ran')\nimport torch\nclass Generator(torch.nn.Module): pass\n"
    path = tmp_path / "trojan.pkl"
    path.write_bytes(nvlabs_snapshot_bytes(CFG, weights, module_src=src))
    gen = load_model_file(path)                    # loads (the source is only text to us) ...
    assert gen.info.task == "generate" and not marker.exists()   # ... and nothing ran


@pytest.mark.parametrize("where", ["plain", "marked", "kwargs", "storage"])
def test_a_reduce_that_would_create_a_file_is_refused(tmp_path, weights, where):
    marker = tmp_path / "created"

    def tweak(g):
        if where == "kwargs":
            g.init_kwargs["evil"] = _Touch(marker)
        elif where == "storage":   # a nested torch.save stream holding the call instead of a storage
            import io

            buf = io.BytesIO()
            torch.save(_Touch(marker), buf, _use_new_zipfile_serialization=False)
            g.attrs["payload"] = _Bytes(buf.getvalue())

    path = tmp_path / "hostile.pkl"
    if where == "plain":      # no NVlabs marker: torch's weights-only reader refuses it
        path.write_bytes(pickle.dumps({"G_ema": _Touch(marker)}, protocol=2))
    elif where == "marked":   # looks like NVlabs: ours refuses it
        path.write_bytes(b"\x80\x02\x8c\x17torch_utils.persistence0" + pickle.dumps(_Touch(marker), protocol=2)[2:])
    else:
        path.write_bytes(nvlabs_snapshot_bytes(CFG, weights, tweak=tweak))
    with pytest.raises(UnsafeModelError, match="refused"):
        Registry(user_dir=tmp_path / "none", include_builtin=False).get(str(path), "generate")
    assert not marker.exists()


class _Bytes:
    """Pickles as ``torch.storage._load_from_bytes(data)``, as a storage would."""

    def __init__(self, data):
        self.data = data

    def __reduce__(self):
        from torch.storage import _load_from_bytes

        return (_load_from_bytes, (self.data,))


@pytest.mark.parametrize("payload", [
    b"cposix\nsystem\n(Vtouch pwned\ntR.",                         # a global outside the list
    b"cbuiltins\nexec\n(Vopen('pwned','w')\ntR.",
    b"\x80\x04cdnnlib.util\nEasyDict\n)\x81}(Vx\nK\x01ub.",         # state set on an EasyDict
    b"\x80\x04ctorch._utils\n_rebuild_parameter\n)\x81.",              # NEWOBJ of a function
    b"\x80\x04ccollections\nOrderedDict\n)R(cbuiltins\nopen\nt.",    # the name alone is refused
])
def test_crafted_opcodes_are_refused(tmp_path, payload, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "crafted.pkl"
    path.write_bytes(b"\x80\x04\x8c\x17torch_utils.persistence0" + payload.removeprefix(b"\x80\x04"))
    assert sniff_model_file(path).kind == "nvlabs"
    with pytest.raises(UnsafeModelError, match="refused"):
        load_model_file(path)
    assert not (tmp_path / "pwned").exists()


def test_shared_and_cyclic_containers_are_walked_once(tmp_path):
    import time

    shared = []
    for _ in range(80):            # 2**80 paths through 80 lists
        shared = [shared, shared]
    loop = []
    loop.append(loop)
    path = tmp_path / "laughs.pkl"
    path.write_bytes(b"\x80\x04\x8c\x17torch_utils.persistence0"
                     + pickle.dumps({"G": shared, "D": loop}, protocol=4)[2:])
    start = time.perf_counter()
    with pytest.raises(ModelError, match="without a G_ema"):
        load_model_file(path)
    assert time.perf_counter() - start < 2


def test_an_expanded_tensor_bomb_is_refused(tmp_path, weights):
    def tweak(g):
        g.modules["mapping"].buffers["w_avg"] = torch.zeros(1).expand(1_000_000)

    with pytest.raises(UnsafeModelError, match="1,000,000 elements"):
        load_model_file(_tweaked(tmp_path, weights, tweak))


# --- NVlabs StyleGAN3 -------------------------------------------------------------------------------

def ref3_fir(x, f, axis):
    """True 1-D convolution of every row (axis 3) or column (axis 2) with ``f``, valid part only."""
    n, c, h, w = x.shape
    k = f.flip(0)[None, None]
    if axis == 3:
        return F.conv1d(x.reshape(-1, 1, w), k).reshape(n, c, h, -1)
    return F.conv1d(x.transpose(2, 3).reshape(-1, 1, h), k).reshape(n, c, w, -1).transpose(2, 3)


def ref3_resample(x, f, up, down, pad):
    """Zero insertion by ``up``, padding (negative = crop), the FIR (gain ``up`` per axis), every ``down``-th."""
    if up > 1:
        n, c, h, w = x.shape
        u = x.new_zeros(n, c, h * up, w * up)
        u[:, :, ::up, ::up] = x
        x = u
    p0, p1 = pad
    x = F.pad(x, [max(p0, 0), max(p1, 0), max(p0, 0), max(p1, 0)])
    x = x[:, :, max(-p0, 0): x.shape[2] - max(-p1, 0), max(-p0, 0): x.shape[3] - max(-p1, 0)]
    if f is not None:
        x = ref3_fir(ref3_fir(x, f * up, 3), f * up, 2)
    return x[:, :, ::down, ::down]


def reference3(cfg, t: dict, z: torch.Tensor, psi: float = 1.0) -> torch.Tensor:
    """StyleGAN3 from the paper: Fourier features turned and shifted by an affine of w, then layers of
    modulated conv (weights and styles at unit RMS, demodulated, input gain), bias, 2x upsampling,
    leaky ReLU, low-pass and downsampling; one image at a time."""
    x = z.float() / torch.sqrt(z.float().square().mean(dim=1, keepdim=True) + 1e-8)
    for i in range(2):
        x = ref_dense(x, t[f"mapping.fc{i}.weight"], t[f"mapping.fc{i}.bias"], 0.01, act=True)
    w = t["mapping.w_avg"] + psi * (x - t["mapping.w_avg"])
    p = "synthesis.input"
    c_, s_, tx, ty = (ref_dense(w, t[f"{p}.affine.weight"], t[f"{p}.affine.bias"])
                      / ref_dense(w, t[f"{p}.affine.weight"], t[f"{p}.affine.bias"])[:, :2].norm(dim=1, keepdim=True))[0]
    rot = torch.stack([torch.stack([c_, -s_]), torch.stack([s_, c_])])
    freqs = t[f"{p}.freqs"] @ rot
    phases = t[f"{p}.phases"] + t[f"{p}.freqs"] @ (rot @ torch.stack([-tx, -ty]))
    amp = (1 - (freqs.norm(dim=1) - cfg.bandwidth) / (cfg.sampling_rate / 2 - cfg.bandwidth)).clamp(0, 1)
    coords = (torch.arange(cfg.size) + 0.5 - cfg.size / 2) / cfg.sampling_rate      # pixel centres
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    feats = torch.sin(2 * math.pi * (xx[..., None] * freqs[:, 0] + yy[..., None] * freqs[:, 1] + phases)) * amp
    x = (feats @ (t[f"{p}.weight"] / math.sqrt(cfg.channels)).T).permute(2, 0, 1)[None]
    for name, _isz, _osz, _cout, k, up, down, torgb in cfg.layers:
        p = f"synthesis.{name}"
        s = ref_dense(w, t[f"{p}.affine.weight"], t[f"{p}.affine.bias"])
        weight = t[f"{p}.weight"]
        if torgb:
            wm = weight[None] * (s / math.sqrt(weight.shape[1] * k * k))[:, None, :, None, None]
        else:
            weight = weight / weight.square().mean(dim=[1, 2, 3], keepdim=True).sqrt()
            s = s / s.square().mean().sqrt()
            wm = weight[None] * s[:, None, :, None, None]
            wm = wm / torch.sqrt(wm.square().sum(dim=[2, 3, 4], keepdim=True) + 1e-8)
        wm = wm / t[f"{p}.magnitude_ema"].sqrt()
        x = F.conv2d(x, wm[0], padding=k - 1) + t[f"{p}.bias"][None, :, None, None]
        pad = sg3_padding(_isz, _osz, k, up, down, *((1, 1) if torgb else (cfg.taps, cfg.taps)))
        x = ref3_resample(x, t.get(f"{p}.up_filter"), up, 1, pad[:2])
        if not torgb:
            x = F.leaky_relu(x, 0.2) * math.sqrt(2)
        x = x.clamp(-cfg.conv_clamp, cfg.conv_clamp)
        x = ref3_resample(x, t.get(f"{p}.down_filter"), 1, down, (0, 0))
    return x * 0.25


def test_a_stylegan3_pickle_is_the_papers_network(tmp_path):
    cfg = Tiny3()
    t = random_weights3(cfg, seed=2)
    path = write_nvlabs3_pickle(tmp_path / "stylegan3-t.pkl", cfg, t)
    gen = load_model_file(path)
    assert gen.info.architecture == "StyleGAN3" and "8×8" in gen.info.description
    for seed, psi in ((0, 1.0), (5, 0.7)):
        z = torch.from_numpy(np.random.RandomState(seed).randn(1, cfg.z_dim))
        with torch.no_grad():
            ours, ref = gen.net(z, psi), reference3(cfg, t, z, psi)
        assert ours.shape == (1, 3, 8, 8)
        assert torch.allclose(ours, ref, rtol=1e-4, atol=1e-4 * float(ref.abs().max())), (ours - ref).abs().max()
    reg = _registry(tmp_path)
    images = generate(model=str(path), seed=5, count=2, truncation=0.7, device="cpu", registry=reg)
    assert np.array_equal(images[0], generate(model=str(path), seed=5, truncation=0.7, device="cpu", registry=reg)[0])
    walk = generate(model=str(path), interpolate=(5, 6), steps=3, truncation=0.7, device="cpu", registry=reg)
    assert np.array_equal(walk[0], images[0]) and np.array_equal(walk[-1], images[1])


# --- rosinality checkpoints ------------------------------------------------------------------------

def test_rosinality_key_mapping_round_trips(weights):
    from restora.engine.models.stylegan.rosinality import map_state

    spec, state = map_state(rosinality_state(CFG, weights))
    assert set(state) == set(weights)
    for key, value in weights.items():
        if key != "mapping.w_avg":   # theirs is not in g_ema: latent_avg, or a sampled mean
            assert torch.equal(state[key], value), key
    assert spec.img_resolution == 16 and spec.z_dim == 8 and spec.w_dim == 12 and spec.num_ws == 6


@pytest.mark.parametrize("layout", ["train", "convert", "legacy"])
def test_a_rosinality_checkpoint_samples_with_our_documented_seeds(tmp_path, weights, layout):
    path = write_rosinality_checkpoint(tmp_path / "550000.pt", CFG, weights, latent_avg=layout != "train",
                                       legacy=layout == "legacy")
    reg = _registry(tmp_path)
    assert "rosinality" in reg.get(str(path), "generate").info.description
    image = generate(model=str(path), seed=11, device="cpu", registry=reg)[0]
    z = torch.randn(1, CFG.z_dim, generator=torch.Generator().manual_seed(11))
    with torch.no_grad():
        x = reference(CFG, weights, z)
    expected = x.clamp(-1, 1).add(1).div(2).mul(255).add(0.5).clamp(0, 255).permute(0, 2, 3, 1).to(torch.uint8)
    diff = np.abs(image.astype(int) - expected[0].numpy())
    assert diff.max() <= 1 and (diff > 0).mean() < 0.01
    truncated = generate(model=str(path), seed=11, truncation=0.5, device="cpu", registry=reg)[0]
    if layout != "train":   # toward the file's latent_avg (their convert_weight.py keeps it)
        with torch.no_grad():
            x = reference(CFG, weights, z, psi=0.5)
        want = x.clamp(-1, 1).add(1).div(2).mul(255).add(0.5).clamp(0, 255).permute(0, 2, 3, 1).to(torch.uint8)
        assert np.abs(truncated.astype(int) - want[0].numpy()).max() <= 1
    again = generate(model=str(path), seed=11, truncation=0.5, device="cpu", registry=_registry(tmp_path))[0]
    assert np.array_equal(truncated, again)   # a sampled mean W is drawn from a fixed seed


def test_other_checkpoints_are_not_taken_for_rosinality(tmp_path, weights):
    state = rosinality_state(CFG, weights)
    state["to_rgbs.0.iwt.ll"] = torch.zeros(4, 4)   # e.g. their SWAGAN: other layers
    path = tmp_path / "swagan.pt"
    torch.save({"g_ema": state}, path)
    with pytest.raises(ModelError, match="not a rosinality StyleGAN2"):
        load_model_file(path)


# --- the command line ------------------------------------------------------------------------------

def test_cli_generate_with_truncation_and_interpolation(cli, nv_file, tmp_path):
    from restora.engine import read_image

    out = tmp_path / "out"
    code, _out, err = cli("generate", "-o", out, "--model", nv_file, "--seed", 7, "--count", 2, "--truncation", 0.5,
                          "--device", "cpu")
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["seed-7.png", "seed-8.png"]
    want = generate(model=str(nv_file), seed=7, count=2, truncation=0.5, device="cpu", registry=_registry(tmp_path))
    assert np.array_equal(read_image(out / "seed-8.png").pixels, want[1])
    walk = tmp_path / "walk"
    code, _out, err = cli("generate", "-o", walk, "--model", nv_file, "--interpolate", 7, 12, "--steps", 3,
                          "--device", "cpu")
    assert code == 0, err
    names = sorted(p.name for p in walk.iterdir())
    assert names == ["walk-7-12-0.png", "walk-7-12-1.png", "walk-7-12-2.png"]
    ends = generate(model=str(nv_file), seed=7, device="cpu", registry=_registry(tmp_path))[0]
    assert np.array_equal(read_image(walk / names[0]).pixels, ends)
    code, _out, err = cli("generate", "-o", tmp_path / "one.png", "--model", nv_file, "--interpolate", 1, 2,
                          "--steps", 2, "--device", "cpu")
    assert code == 0 and (tmp_path / "one-0.png").exists() and (tmp_path / "one-1.png").exists()


@pytest.mark.parametrize("args, message", [
    (["--truncation", "2.5"], "truncation 2.5 is out of range"),
    (["--truncation", "x"], "not a number"),
    (["--interpolate", "1"], "expected 2 arguments"),
    (["--interpolate", "1", "-3"], "out of range|expected 2 arguments"),
    (["--interpolate", "1", "2", "--count", "3"], "not both"),
    (["--steps", "4"], "--interpolate"),
    (["--interpolate", "1", "2", "--steps", "1"], "steps 1 is out of range"),
])
def test_cli_bad_generate_values(cli, nv_file, tmp_path, args, message):
    code, _out, err = cli("generate", "-o", tmp_path / "o", "--model", nv_file, *args)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("restora: error:")
    import re

    assert re.search(message, lines[0]), lines[0]
    assert not (tmp_path / "o").exists()


# --- regressions: small files that made the reader or nvlabs.py crash, hang or eat memory ---------

def _marked(tmp_path, payload: bytes, name="crafted.pkl"):
    path = tmp_path / name
    path.write_bytes(b"\x80\x04\x8c\x17torch_utils.persistence0" + payload)
    return path


def _lput(i):
    return b"r" + i.to_bytes(4, "little")


def _lget(i):
    return b"j" + i.to_bytes(4, "little")


_INNER = b"\x80\x02ctorch.storage\n_load_from_bytes\n."   # a storage stream naming the loader again


@pytest.mark.parametrize("payload, message", [
    # ADDITEMS on a tensor would call tensor.add(item): a (N,1) + (1,N) broadcast is N*N floats
    (pickle.dumps(torch.zeros(2, 1), protocol=2)[2:-1] + b"(" + pickle.dumps(torch.zeros(1, 2), protocol=2)[2:-1]
     + b"\x90.", "adding items to a Tensor"),
    # SETITEM on a tensor would write into the file's (read-only) bytes
    (pickle.dumps(torch.zeros(4), protocol=2)[2:-1] + b"K\x00G@\x00\x00\x00\x00\x00\x00\x00s.", "adding items to a Tensor"),
    # a tuple nested 200 000 deep as a dict key: hashing it overflowed the C stack (a segfault)
    (b"}N" + b"\x85" * 200_000 + b"K\x01s.", "dict key or set item that is a tuple"),
    (b"(N" + b"\x85" * 200_000 + b"\x91.", "dict key or set item that is a tuple"),
    # one memo'd list of 20 000 items handed to set() 2 000 times (quadratic work from a small file)
    (b"]" + _lput(1) + b"(" + b"K\x00" * 20_000 + b"e0" + b"c__builtin__\nset\n" + _lput(2) + b"0"
     + (_lget(2) + _lget(1) + b"\x85R0") * 2_000 + b"N.", "rebuilt over and over"),
    # a storage whose own torch.save stream calls _load_from_bytes again (nesting, copies per level)
    (b"ctorch.storage\n_load_from_bytes\nC" + bytes([len(_INNER)]) + _INNER + b"\x85R.", "inside a storage"),
])
def test_hostile_container_and_memo_tricks_are_refused(tmp_path, payload, message):
    import time

    start = time.perf_counter()
    with pytest.raises(UnsafeModelError, match=message):
        load_model_file(_marked(tmp_path, payload))
    assert time.perf_counter() - start < 10


def _dag(n):
    shared = []
    for _ in range(n):
        shared = [shared, shared]
    return shared


def _walk_bomb(g):   # one record under 40 names, 7 levels deep: 40**7 walks
    node = Persistent("X")
    for _ in range(7):
        node = Persistent("X", modules={f"m{i}": node for i in range(40)})
    g.modules["mapping"].modules["extra"] = node


@pytest.mark.parametrize("tweak, message", [
    (lambda g: g.modules["mapping"].modules["fc0"].attrs.update(weight_gain=10 ** 400), "weight_gain is not a number"),
    (lambda g: g.modules["mapping"].modules["fc0"].attrs.update(activation=_dag(60)), "activation is not a name"),
    (lambda g: g.modules["synthesis"].modules["b4"].attrs.update(architecture=_dag(60)), "architecture is not a name"),
    (lambda g: g.attrs.update(num_ws=_dag(60)), "count of W inputs is not a whole number"),
    (_walk_bomb, "recorded in two places"),
    (lambda g: g.modules["mapping"].modules.update({f"fc{i}": g.modules["mapping"].modules["fc1"] for i in range(2, 5000)})
     or g.modules["mapping"].attrs.update(num_layers=5000), "5000 mapping layers"),
    (lambda g: g.modules["synthesis"].modules.update({f"b{i}": g.modules["synthesis"].modules["b8"]
                                                      for i in range(17, 5000)}), "synthesis blocks"),
])
def test_settings_that_would_crash_or_hang_are_refused(tmp_path, weights, tweak, message):
    import time

    start = time.perf_counter()
    with pytest.raises(ModelError, match=message):
        load_model_file(_tweaked(tmp_path, weights, tweak))
    assert time.perf_counter() - start < 10


def test_one_tensor_under_many_names_is_not_copied_many_times(tmp_path, weights):
    def tweak(g):   # a 4 MB tensor under 2 000 names: 8 GB of copies from a 4 MB file
        big = torch.zeros(1 << 20)
        g.modules["mapping"].buffers.update({f"b{i}": big for i in range(2_000)})

    with pytest.raises(ModelError, match="more elements than the file has bytes"):
        load_model_file(_tweaked(tmp_path, weights, tweak))


def test_a_stylegan3_layer_listed_many_times_is_refused(tmp_path):
    from stylegan_files import fake_nvlabs_modules, nvlabs_generator3

    cfg = Tiny3()
    with fake_nvlabs_modules() as (hook, easydict):
        Persistent.hook = hook
        try:
            g = nvlabs_generator3(cfg, random_weights3(cfg, seed=2), easydict)
            g.modules["synthesis"].attrs["layer_names"] = ["L0_12_6", "L1_8_6"] + ["L2_8_3"] * 10_000
            data = pickle.dumps({"G_ema": g})
        finally:
            Persistent.hook = None
    path = tmp_path / "sg3.pkl"
    path.write_bytes(data)
    with pytest.raises(ModelError, match="too many layers, or one twice"):
        load_model_file(path)


def test_cli_a_number_too_big_for_a_float_is_one_line(cli, tmp_path, weights):
    path = _tweaked(tmp_path, weights, lambda g: g.modules["mapping"].modules["fc0"].attrs.update(weight_gain=10 ** 400))
    code, _out, err = cli("generate", "-o", str(tmp_path / "x.png"), "--model", str(path))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "weight_gain is not a number" in err


def test_listing_a_folder_keeps_no_weights_and_use_reads_them_again(tmp_path, weights, model_files):
    """A file read only to be listed keeps no weights (a folder of big pickles would hold
    hundreds of MB each); using it reads the file again and samples the same images. A model
    in use keeps its weights across listings."""
    import shutil

    folder = tmp_path / "models"
    folder.mkdir()
    nv = write_nvlabs_pickle(folder / "faces.pkl", CFG, weights)
    ros = write_rosinality_checkpoint(folder / "ros.pt", CFG, weights)      # mean W computed at use
    shutil.copy(model_files["rgb_x2"], folder / "up.pth")
    expected = generate(model=str(nv), seed=4, device="cpu", registry=_registry(tmp_path))[0]
    expected_ros = generate(model=str(ros), seed=4, truncation=0.5, device="cpu", registry=_registry(tmp_path))[0]

    reg = Registry(user_dir=folder, include_builtin=False)
    names = {i.name for i in reg.models()}
    assert {"faces", "ros", "up"} <= names
    listed = {p.name: m for p, (_t, m) in reg._files.items()}
    assert listed["faces.pkl"].net is None and listed["ros.pt"].net is None
    assert listed["up.pth"]._module is None and listed["up.pth"]._first is None
    assert np.array_equal(generate(model="faces", seed=4, device="cpu", registry=reg)[0], expected)
    assert np.array_equal(generate(model="ros", seed=4, truncation=0.5, device="cpu", registry=reg)[0], expected_ros)
    reg.models()                                                            # listed again while in use
    assert listed["faces.pkl"].net is not None
    assert reg.get("up", "upscale").process is not None


def test_a_file_added_by_path_keeps_no_weights_until_used(tmp_path, weights):
    nv = write_nvlabs_pickle(tmp_path / "elsewhere.pkl", CFG, weights)
    reg = _registry(tmp_path)
    info = reg.add_file(nv)
    reg.models()
    assert reg._files[nv.resolve()][1].net is None
    assert generate(model=info.name, seed=2, device="cpu", registry=reg)[0].shape == (16, 16, 3)


def test_a_copy_keeping_the_old_time_and_size_is_read_anew(tmp_path, weights):
    """cp -p / rsync -t keep the modification time and size: the registry still sees another file."""
    import os
    import shutil

    folder = tmp_path / "models"
    folder.mkdir()
    nv = write_nvlabs_pickle(folder / "faces.pkl", CFG, weights)
    reg = Registry(user_dir=folder, include_builtin=False)
    first = generate(model="faces", seed=3, device="cpu", registry=reg)[0]
    other = write_nvlabs_pickle(tmp_path / "other.pkl", CFG, random_weights(CFG, seed=7))
    assert other.stat().st_size == nv.stat().st_size
    st = nv.stat()
    shutil.copyfile(other, folder / "new.tmp")
    os.utime(folder / "new.tmp", ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(folder / "new.tmp", nv)
    again = generate(model="faces", seed=3, device="cpu", registry=reg)[0]
    assert not np.array_equal(first, again)


def test_a_pickle_changed_after_listing_is_refused_not_misread(tmp_path, weights):
    folder = tmp_path / "models"
    folder.mkdir()
    nv = write_nvlabs_pickle(folder / "faces.pkl", CFG, weights)
    reg = Registry(user_dir=folder, include_builtin=False)
    reg.models()
    model = reg.get("faces", "generate")
    other = Tiny(resolution=32)                                             # same name, another network
    st = nv.stat()
    write_nvlabs_pickle(nv, other, random_weights(other, seed=2))
    import os
    os.utime(nv, ns=(st.st_atime_ns, st.st_mtime_ns))                        # even with the old time
    from restora.engine.device import resolve_device

    with pytest.raises(ModelError, match="changed since it was listed"):   # the object listed
        model.prepare(resolve_device("cpu"))
    # through the registry the changed file is simply read anew (its size changed)
    assert generate(model="faces", seed=1, device="cpu", registry=reg)[0].shape == (32, 32, 3)
