"""The subnet: shapes, parameter counts checked by hand and against the authors', FLOPs, init, hooks."""
from __future__ import annotations

import random

import pandas as pd
import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from hytasbench.errors import InvalidArchitectureError, InvalidArgumentError
from hytasbench.schema import scored_layer_count
from hytasbench.model import (CAF, analytic_params, build_model, build_model_for, count_flops, count_params,
                              scored_layers, spectralformer_reference, vit_reference)
from hytasbench.space import Arch, hytas2000, parse, sample

SMALLEST = "e32-h3333-r1111"
LARGEST = "e240-h6666666666-r6666666666"


def _x(b, bands, band_patch):
    return torch.randn(b, bands, 49 * band_patch)


# Parameter counts worked out by hand (see each term), not with the code under test.
# Indian Pines: 200 band tokens + class token = 201 positions, token input 7*7*3 = 147, 16 classes.
# A CAF fusion is Conv2d(201, 201, (1, 2)): 201*201*2 + 201 = 81003 parameters.
# SMALLEST (e32, 4 blocks, 3 heads of 10 = width 30, MLP hidden 32):
#   patch 147*32+32 = 4736, cls 32, pos 201*32 = 6432,
#   block = norms 2*64 + qkv 32*90+90 + proj 30*32+32 + fc1 32*32+32 + fc2 32*32+32 = 6202, x4 = 24808,
#   final norm 64, head 32*16+16 = 528, fusions 2*81003 = 162006  -> 198606
# LARGEST (e240, 10 blocks, width 240, MLP hidden 1440):
#   patch 147*240+240 = 35520, cls 240, pos 201*240 = 48240,
#   block = 2*480 + 240*720+720 + 240*240+240 + 240*1440+1440 + 1440*240+240 = 925200, x10 = 9252000,
#   norm 480, head 240*16+16 = 3856, fusions 8*81003 = 648024  -> 9988360
# SpectralFormer (e64, 5 blocks, 4 heads of 16, MLP hidden 8, qkv without bias):
#   patch 147*64+64 = 9472, cls 64, pos 201*64 = 12864,
#   block = 2*128 + 64*192 + 64*64+64 + 64*8+8 + 8*64+64 = 17800, x5 = 89000,
#   norm 128, head 64*16+16 = 1040, fusions 3*81003 = 243009  -> 355577
# Plain ViT (SpectralFormer's sizes, 49 pixel tokens + class token = 50 positions, token input = 200 bands):
#   patch 200*64+64 = 12864, cls 64, pos 50*64 = 3200, blocks 89000, norm 128, head 1040, no fusions -> 106296
# SMALLEST with upstream's 8 fusions: 198606 + 6 more fusions 6*81003 = 486018 -> 684624
# PaviaU SMALLEST (104 positions, token 7*7*7 = 343, 9 classes; fusion 104*104*2+104 = 21736):
#   343*32+32 = 11008, 32, 104*32 = 3328, 24808, 64, 32*9+9 = 297, 2*21736 = 43472  -> 83009
@pytest.mark.parametrize("make, expected", [
    (lambda: build_model(SMALLEST, 200, 16, 3), 198606),
    (lambda: build_model(LARGEST, 200, 16, 3), 9988360),
    (lambda: spectralformer_reference(200, 16, 3), 355577),
    (lambda: build_model(SMALLEST, 103, 9, 7), 83009),
    (lambda: vit_reference(200, 16, 3), 106296),
    (lambda: build_model(SMALLEST, 200, 16, 3, fusions=8), 684624),
])
def test_param_counts_by_hand(make, expected):
    model = make()
    assert count_params(model) == expected
    assert analytic_params(model) == expected


def test_param_counts_match_the_authors(reference_dir):
    """The authors' num_params_subnet leaves the CAF convolutions out; the rest must agree exactly."""
    df = pd.read_csv(reference_dir / "outputs" / "indian" / "retrain_results_2000_new_5.csv")
    for _, row in df.iterrows():
        arch = parse({"embed_dim": row.embed_dim, "num_heads": row.num_heads, "mlp_ratio": row.mlp_ratio})
        assert analytic_params(arch, 200, 16, 3, fusion=False) == row.num_params_subnet, str(arch)


@pytest.mark.parametrize("upstream, classes", [("indian", 16), ("pavia", 9), ("ksc", 13)])
def test_reported_flops_reproduce_the_authors_column(reference_dir, upstream, classes):
    from hytasbench.costs import hytas_reported_flops

    (path,) = (reference_dir / "outputs" / upstream).glob("retrain_results_*.csv")
    df = pd.read_csv(path)
    for _, row in df.iterrows():
        arch = parse({"embed_dim": row.embed_dim, "num_heads": row.num_heads, "mlp_ratio": row.mlp_ratio})
        assert hytas_reported_flops(arch, classes) == row.flops, str(arch)


def test_costs_module_is_torch_free():
    import subprocess
    import sys

    code = ("import sys; from hytasbench.costs import count_flops, analytic_params; "
            "assert analytic_params(2, 200, 16, 3) == 492115 and count_flops(2, 200, 16, 3) > 0; "
            "assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("dataset, bands, classes, band_patch", [
    ("indian_pines", 200, 16, 3), ("salinas", 204, 16, 3), ("houston2013", 144, 15, 3),
    ("paviau", 103, 9, 7), ("ksc", 176, 13, 1)])
def test_shapes_per_dataset(dataset, bands, classes, band_patch):
    for arch in (SMALLEST, LARGEST):
        model = build_model_for(arch, dataset).eval()
        assert model.patch_embed.in_features == 49 * band_patch
        assert model.pos_embed.shape == (1, bands + 1, parse(arch).embed_dim)
        with torch.no_grad():
            assert model(_x(2, bands, band_patch)).shape == (2, classes)


def test_analytic_params_equal_numel_for_random_archs():
    rng = random.Random(1)
    for _ in range(12):
        arch = sample(rng)
        model = build_model(arch, 20, 5, 3)
        assert analytic_params(arch, 20, 5, 3) == sum(p.numel() for p in model.parameters()), str(arch)


@pytest.mark.parametrize("arch", [SMALLEST, "e48-h466533-r451343", "e80-h3456345-r6543216"])
def test_flops_match_torch_flop_counter(arch):
    model = build_model(arch, 30, 7, 3).eval()  # explicit attention: every matmul is visible to the counter
    with FlopCounterMode(display=False) as counter:
        model(_x(3, 30, 3))
    assert counter.get_total_flops() == 3 * count_flops(arch, 30, 7, 3)
    assert count_flops(model) == count_flops(arch, 30, 7, 3)


def test_spectralformer_flops_match_counter():
    model = spectralformer_reference(30, 7, 3).eval()
    with FlopCounterMode(display=False) as counter:
        model(_x(2, 30, 3))
    assert counter.get_total_flops() == 2 * count_flops(model)


def test_module_names_and_scored_layers():
    model = build_model("e48-h466533-r451343", 200, 16, 3)
    names = dict(model.named_modules())
    for i in range(6):
        for sub in ("norm1", "attn.qkv", "attn.proj", "norm2", "mlp.fc1", "mlp.fc2"):
            assert f"blocks.{i}.{sub}" in names
        assert isinstance(names[f"blocks.{i}.mlp.act"], nn.GELU)
    assert [f"fusions.{j}" in names for j in range(4)] == [True] * 4 and "fusions.4" not in names
    layers = scored_layers(model)
    assert [k for _, _, k in layers] == ["embed"] + ["attn", "attn", "mlp", "mlp"] * 6 + ["head"]
    for name, layer, _ in layers:
        assert names[name] is layer and isinstance(layer, nn.Linear)
    assert model.blocks[1].attn.qkv.out_features == 3 * 6 * 8  # 6 heads of 48 // 6
    assert model.blocks[3].attn.qkv.out_features == 3 * 5 * 9  # 5 heads of 48 // 5 = 9: width 45
    assert model.blocks[0].mlp.fc1.out_features == 48 * 4


@pytest.mark.parametrize("arch", [LARGEST, "e48-h4534-r4534"])
def test_validation_knows_how_many_layers_the_kernels_score(arch):
    """schema.scored_layer_count is the torch-free length of a ``__layers`` list that validation checks."""
    model = build_model(arch, 200, 16, 3)
    assert len(scored_layers(model)) == scored_layer_count(parse(arch).depth)


def test_init():
    torch.manual_seed(0)
    model = build_model(LARGEST, 200, 16, 3)
    weights = torch.cat([m.weight.flatten() for _, m, _ in scored_layers(model)])
    assert weights.std().item() == pytest.approx(0.02, rel=0.02)
    assert all((m.bias == 0).all() for _, m, _ in scored_layers(model) if m.bias is not None)
    assert model.pos_embed.std().item() == pytest.approx(0.02, rel=0.05)
    assert (model.blocks[0].norm1.weight == 1).all() and (model.norm.bias == 0).all()


def test_drop_path_schedule_and_modes():
    model = build_model(LARGEST, 12, 3, 1)
    assert [b.drop_path for b in model.blocks] == pytest.approx([0.1 * i / 9 for i in range(10)])
    x = _x(8, 12, 1)
    model.eval()
    assert torch.equal(model(x), model(x))
    model.train()
    assert not torch.equal(model(x), model(x))  # stochastic depth is active in training


def test_fused_attention_matches_explicit():
    model = build_model("e48-h466533-r451343", 40, 5, 3).eval()
    x = _x(4, 40, 3)
    with torch.no_grad():
        plain = model(x)
        fused = model.set_fused_attention(True)(x)
    assert torch.allclose(plain, fused, atol=1e-5)


def test_caf_is_the_conv2d_of_the_design():
    torch.manual_seed(0)
    caf = CAF(11)
    conv = nn.Conv2d(11, 11, (1, 2))
    conv.weight.data.copy_(caf.weight.data)
    conv.bias.data.copy_(caf.bias.data)
    a, b = torch.randn(3, 11, 16), torch.randn(3, 11, 16)
    expected = conv(torch.stack([a, b], dim=3)).squeeze(3)
    assert torch.allclose(caf(a, b), expected, atol=1e-5)


def test_double_backward_and_functional_call():
    """GraSP needs a Hessian-gradient product through the default (explicit-attention) model."""
    model = build_model("e32-h4534-r1412", 20, 4, 3)
    x, y = _x(4, 20, 3), torch.tensor([0, 1, 2, 3])
    params = [p for p in model.parameters()]
    loss = nn.functional.cross_entropy(model(x), y)
    grads = torch.autograd.grad(loss, params, create_graph=True)
    hg = torch.autograd.grad(sum((g * g.detach()).sum() for g in grads), params)
    assert all(h is not None for h in hg) and any(h.abs().sum() > 0 for h in hg)
    out = torch.func.functional_call(model, dict(model.named_parameters()), (x,))
    assert out.shape == (4, 4)


def test_hooks_see_pre_gelu_activations():
    model = build_model(SMALLEST, 20, 4, 3).eval()
    seen = []
    model.blocks[0].mlp.act.register_forward_hook(lambda m, inp, out: seen.append(inp[0]))
    model(_x(2, 20, 3))
    assert seen[0].shape == (2, 21, 32) and (seen[0] < 0).any()


def test_bad_architectures():
    with pytest.raises(InvalidArchitectureError):
        build_model("e33-h3333-r1111", 200, 16, 3)
    with pytest.raises(InvalidArchitectureError):
        build_model(2001, 200, 16, 3)
    with pytest.raises(InvalidArgumentError, match="bands"):
        count_flops(SMALLEST)


def test_ids_and_arch_objects_build_the_same_shapes():
    a = hytas2000()[1]
    assert isinstance(a, Arch)
    assert analytic_params(2, 200, 16, 3) == analytic_params(a, 200, 16, 3) == analytic_params(str(a), 200, 16, 3)


@pytest.mark.parametrize("make", [lambda: vit_reference(30, 7, 3), lambda: build_model(SMALLEST, 30, 7, 3, fusions=8)])
def test_vit_and_eight_fusion_costs_match_counter_and_numel(make):
    model = make().eval()
    with FlopCounterMode(display=False) as counter:
        model(_x(2, 30, 3))
    assert counter.get_total_flops() == 2 * count_flops(model)
    assert analytic_params(model) == count_params(model)


def test_eight_fusions_run_between_identity_blocks():
    """Upstream's supernet: a depth-4 subnet still fuses at positions 2..9, the last six between
    identity blocks. With those six fusions made identities, the output is the depth-2 model's."""
    torch.manual_seed(0)
    eight = build_model(SMALLEST, 20, 5, 3, fusions=8).eval()
    ours = build_model(SMALLEST, 20, 5, 3).eval()
    assert len(eight.fusions) == 8 and len(ours.fusions) == 2
    ours.load_state_dict({k: v for k, v in eight.state_dict().items() if k in ours.state_dict()})
    x = _x(3, 20, 3)
    assert not torch.allclose(eight(x), ours(x), atol=1e-4)
    tokens = eight.config.tokens
    with torch.no_grad():
        for f in eight.fusions[2:]:
            f.weight.zero_()
            f.weight[:, :, 0, 0] = torch.eye(tokens)
            f.bias.zero_()
    assert torch.allclose(eight(x), ours(x), atol=1e-5)


def test_vit_tokens_are_the_pixels_of_the_neighbourhood():
    """The plain ViT's tokens are the 49 pixels of the 7x7 window, each its full spectrum (checked
    against the mirror-padded cube directly), and it has no fusions."""
    import numpy as np

    from hytasbench.datasets.samples import PatchSampler

    rng = np.random.default_rng(0)
    cube = rng.normal(size=(9, 8, 12)).astype(np.float32)
    model = vit_reference(12, 4, 3)
    rc = torch.tensor([[0, 0], [4, 5]])
    tokens = model.tokens(PatchSampler(cube, 3)(rc))
    padded = np.pad(cube, ((3, 3), (3, 3), (0, 0)), mode="symmetric")
    for i, (r, c) in enumerate(rc.tolist()):
        expect = padded[r:r + 7, c:c + 7].reshape(49, 12)
        assert np.allclose(tokens[i].numpy(), expect)
    assert len(model.fusions) == 0 and model.pos_embed.shape[1] == 50 and model.patch_embed.in_features == 12
    assert model(PatchSampler(cube, 3)(rc)).shape == (2, 4)
