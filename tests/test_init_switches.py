"""The initialisation switches of the emulated upstream protocol: ``embed-init`` (the patch
embedding at PyTorch's default init, as upstream's Conv2d) and ``shared-init`` (every weight a
slice of one supernet draw per seed), on real models and a tiny real training run."""
from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import hytasbench.train as train_mod  # noqa: E402
from builders.units import protocol_tag  # noqa: E402
from hytasbench import protocols  # noqa: E402
from hytasbench.costs import ModelConfig  # noqa: E402
from hytasbench.errors import CheckpointError, InvalidProtocolError  # noqa: E402
from hytasbench.model import SubNet, build_model, spectralformer_reference  # noqa: E402
from hytasbench.supernet_init import init_from_supernet  # noqa: E402
from hytasbench.train import (HYTAS_SAMPLER_FULL, HYTAS_SAMPLER_INIT, TrainConfig, make_model,  # noqa: E402
                              train_and_evaluate)

BANDS, CLASSES, BAND_PATCH = 6, 3, 3
A = "e32-h4534-r1412"   # id 397
B = "e32-h3655-r3624"   # same width, other heads and ratios
WIDE = "e48-h5666-r6666"


def _model(arch: str, embed_init: str = "trunc-normal", fusions=None) -> SubNet:
    return build_model(arch, BANDS, CLASSES, BAND_PATCH, fusions=fusions, embed_init=embed_init)


def _shared(arch: str, seed: int = 0, **kw) -> SubNet:
    return init_from_supernet(_model(arch, **kw), seed)


def test_names_and_tags_of_the_init_switches():
    assert HYTAS_SAMPLER_INIT == "hytas-sampler+lag+caf8+epoch-order+embed-init+shared-init"
    assert HYTAS_SAMPLER_FULL == "hytas-sampler+lag+caf8+epoch-order"  # issue 18's runs keep their name
    cfg = TrainConfig.for_protocol(HYTAS_SAMPLER_INIT)
    assert (cfg.embed_init, cfg.shared_init, cfg.caf_fusions, cfg.schedule_lag) == ("default", True, 8, True)
    assert cfg.protocol_name() == HYTAS_SAMPLER_INIT
    assert TrainConfig(epoch_sampler="hytas", shared_init=True).protocol_name() == "hytas-sampler+shared-init"
    assert TrainConfig(embed_init="default").protocol_name() == "hytasbench-v1+embed-init"
    assert protocols.canonical("hytas-sampler+shared-init+embed-init+lag") == "hytas-sampler+lag+embed-init+shared-init"
    text = protocols.describe(HYTAS_SAMPLER_INIT)
    assert "Conv2d" in text and "supernet" in text
    tags = {protocol_tag(n) for n in (HYTAS_SAMPLER_FULL, HYTAS_SAMPLER_INIT, "hytas-sampler+embed-init",
                                      "hytas-sampler+shared-init")}
    assert len(tags) == 4 and protocol_tag(HYTAS_SAMPLER_INIT) == "hs-lag-caf8-eo-ei-si"
    for bad in (TrainConfig(embed_init="conv"), TrainConfig(shared_init=1)):
        with pytest.raises(InvalidProtocolError):
            bad.validate()
    with pytest.raises(InvalidProtocolError, match="embed_init"):
        _model(A, embed_init="xavier")


def test_embed_init_draws_as_upstreams_default_initialised_conv():
    """Upstream's patch embedding is a Conv2d(147, e, 1) that its truncated-normal init skips: with
    the switch ours draws exactly what such a Conv2d draws from the same generator state."""
    torch.manual_seed(5)
    conv = nn.Conv2d(49 * BAND_PATCH, 32, kernel_size=1)
    torch.manual_seed(5)
    ours = _model(A, embed_init="default")
    assert torch.equal(ours.patch_embed.weight, conv.weight.view(32, -1))
    assert torch.equal(ours.patch_embed.bias, conv.bias)
    torch.manual_seed(5)
    plain = _model(A)
    assert plain.patch_embed.bias.abs().max() == 0
    assert plain.patch_embed.weight.std().item() == pytest.approx(0.02, rel=0.05)
    # only the patch embedding differs in kind: every other Linear is truncated normal 0.02 (cut at
    # +-2, so in effect normal), biases zero
    for m in (ours.blocks[0].mlp.fc1, ours.blocks[3].attn.qkv):
        assert m.weight.std().item() == pytest.approx(0.02, rel=0.1) and m.bias.abs().max() == 0


def test_shared_init_gives_one_seeds_architectures_a_common_start():
    a, b = _shared(A, fusions=8), _shared(B, fusions=8)
    for name in ("patch_embed.weight", "patch_embed.bias", "cls_token", "pos_embed", "head.weight"):
        assert torch.equal(a.get_parameter(name), b.get_parameter(name)), name
    for fa, fb in zip(a.fusions, b.fusions):  # all eight fusions
        assert torch.equal(fa.weight, fb.weight) and torch.equal(fa.bias, fb.bias)
    for i in range(4):
        ma, mb = a.blocks[i].mlp, b.blocks[i].mlp
        n = min(ma.fc1.out_features, mb.fc1.out_features)
        assert torch.equal(ma.fc1.weight[:n], mb.fc1.weight[:n])  # nested slices of one fc1
        assert torch.equal(ma.fc2.weight[:, :n], mb.fc2.weight[:, :n])
        qa, qb = a.blocks[i].attn, b.blocks[i].attn
        da, db = qa.proj.in_features, qb.proj.in_features
        d = min(da, db)
        for part in range(3):  # q, k and v are each nested slices (upstream's every-third-row split)
            assert torch.equal(qa.qkv.weight[part * da:part * da + d], qb.qkv.weight[part * db:part * db + d])
        assert torch.equal(qa.proj.weight[:, :d], qb.proj.weight[:, :d])
    # a wider network holds the narrower one's weights in its leading columns
    w = _shared(WIDE, fusions=8)
    assert torch.equal(w.patch_embed.weight[:32], a.patch_embed.weight)
    assert torch.equal(w.blocks[0].mlp.fc1.weight[:32, :32], a.blocks[0].mlp.fc1.weight)
    assert torch.equal(w.head.weight[:, :32], a.head.weight)
    # another seed, another start; the same seed, the same start
    assert not torch.equal(_shared(A, seed=1).blocks[0].mlp.fc1.weight, a.blocks[0].mlp.fc1.weight)
    assert torch.equal(_shared(A).blocks[0].mlp.fc1.weight, _shared(A).blocks[0].mlp.fc1.weight)


def test_shared_init_keeps_the_distributions_and_ignores_the_depth():
    deep = _shared("e240-h6666666666-r6666666666", fusions=8)
    shallow = _shared("e240-h6666-r6666", fusions=8)
    for i in range(4):  # the draw order does not depend on the depth
        assert torch.equal(deep.blocks[i].attn.qkv.weight, shallow.blocks[i].attn.qkv.weight)
    big = torch.cat([p.flatten() for blk in deep.blocks for p in (blk.mlp.fc1.weight, blk.attn.qkv.weight)])
    assert big.std().item() == pytest.approx(0.02, rel=0.01)  # truncated normal 0.02 cut at +-2: in effect normal
    assert abs(big.mean().item()) < 1e-4 and all(blk.mlp.fc1.bias.abs().max() == 0 for blk in deep.blocks)
    embed = _shared("e240-h6666-r6666", embed_init="default").patch_embed
    bound = 1 / math.sqrt(49 * BAND_PATCH)
    assert embed.weight.abs().max() <= bound
    assert embed.weight.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.05)
    assert 0 < embed.bias.abs().max() <= bound
    # the fusions are never sliced: networks of every width share them
    assert all(torch.equal(f.weight, g.weight) and torch.equal(f.bias, g.bias)
               for f, g in zip(deep.fusions, _shared(A, fusions=8).fusions))


def test_shared_init_sets_every_parameter_not_only_the_drawn_ones():
    """Biases and LayerNorms get the supernet's values (0 and 1) whatever the model held before."""
    model = _model(A, fusions=8)
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(7.0)
    init_from_supernet(model, 0)
    ref = _shared(A, fusions=8)
    for (name, p), q in zip(model.named_parameters(), ref.parameters()):
        assert torch.equal(p, q), name
    norms = [m for m in model.modules() if isinstance(m, nn.LayerNorm)]
    assert len(norms) == 2 * 4 + 1 and all(bool((m.weight == 1).all() and (m.bias == 0).all()) for m in norms)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear) and m is not model.patch_embed]
    assert all(m.bias.abs().max() == 0 for m in linears)


def test_shared_init_refuses_what_is_not_a_slice_of_the_supernet(toy280):
    with pytest.raises(InvalidProtocolError, match="shared-init"):
        init_from_supernet(spectralformer_reference(BANDS, CLASSES, BAND_PATCH), 0)
    too_wide = SubNet(ModelConfig(400, (4,) * 4, (400,) * 4, BANDS, CLASSES, BAND_PATCH))
    with pytest.raises(InvalidProtocolError, match="embed 400"):
        init_from_supernet(too_wide, 0)
    for switch in ("embed_init", "shared_init"):
        cfg = TrainConfig(epochs=1, device="cpu", **{switch: "default" if switch == "embed_init" else True})
        with pytest.raises(InvalidProtocolError, match=switch.replace("_", "-")):
            train_and_evaluate("vit", toy280, cfg)


def test_the_trainer_starts_from_the_shared_slices_and_trains(toy280):
    cfg = TrainConfig.for_protocol("hytas-sampler+embed-init+shared-init", epochs=2, batch_size=16, device="cpu",
                                   threads=1, test_subset=10)
    streams = []
    for arch in (A, B):  # one depth: the same drop-path stream after building, whatever the architecture
        torch.manual_seed(cfg.seed)
        make_model(arch, toy280, cfg)
        streams.append(torch.rand(5))
    assert torch.equal(*streams)
    plain = TrainConfig.for_protocol("hytas-sampler+embed-init", seed=cfg.seed)
    for arch in (A, B):
        torch.manual_seed(cfg.seed)
        make_model(arch, toy280, plain)
        streams.append(torch.rand(5))
    assert not torch.equal(streams[2], streams[3])  # without the switch the architecture moves the stream
    a, b = make_model(A, toy280, cfg), make_model(B, toy280, cfg)
    assert torch.equal(a.patch_embed.weight, b.patch_embed.weight) and a.patch_embed.bias.abs().max() > 0
    assert torch.equal(a.patch_embed.weight, _shared(A, embed_init="default").patch_embed.weight)
    r = train_and_evaluate(A, toy280, cfg)
    assert r.protocol == "hytas-sampler+embed-init+shared-init+custom(epochs=2,batch_size=16,test_subset=10)"
    assert r.config["shared_init"] is True and r.config["embed_init"] == "default"
    assert all(math.isfinite(h["loss"]) for h in r.history) and 0 <= r.oa <= 1
    # a model built by the caller is run only under the switches it was built with
    with pytest.raises(InvalidProtocolError, match="shared-init"):
        train_and_evaluate(_model(A, embed_init="default"), toy280, cfg)
    with pytest.raises(InvalidProtocolError, match="embed-init"):
        train_and_evaluate(_model(A), toy280, TrainConfig.for_protocol("hytas-sampler+embed-init", epochs=1))
    with pytest.raises(InvalidProtocolError, match="caf8"):
        train_and_evaluate(_model(A), toy280, TrainConfig.for_protocol("hytas-sampler+caf8", epochs=1))


def test_a_checkpoint_written_before_the_init_switches_resumes_only_its_own_run(toy280, tmp_path, monkeypatch):
    """Checkpoints of runs started before the switches existed lack their fields: such a run is the
    same run as one with the switches off, and not one with a switch on."""
    cfg = TrainConfig(epochs=4, eval_every=2, threads=1, device="cpu", epoch_sampler="hytas", batch_size=16)
    path = tmp_path / "run.ckpt"
    real_save, saved = train_mod.checkpoint.save, {}

    def save_like_older_code(p, ident, *args, **kwargs):
        older = {k: v for k, v in ident["config"].items() if k not in ("embed_init", "shared_init")}
        ident = {**ident, "config": older}
        real_save(p, ident, *args, **kwargs)
        saved["n"] = saved.get("n", 0) + 1
        raise KeyboardInterrupt  # killed right after the first save

    monkeypatch.setattr(train_mod.checkpoint, "save", save_like_older_code)
    with pytest.raises(KeyboardInterrupt):
        train_and_evaluate(A, toy280, cfg, checkpoint=path)
    monkeypatch.setattr(train_mod.checkpoint, "save", real_save)
    assert saved["n"] == 1 and "embed_init" not in torch.load(path, weights_only=True)["identity"]["config"]
    with pytest.raises(CheckpointError, match="config.shared_init"):
        train_and_evaluate(A, toy280, TrainConfig(**{**cfg.__dict__, "shared_init": True}), checkpoint=path)
    with pytest.raises(CheckpointError, match="config.embed_init"):
        train_and_evaluate(A, toy280, TrainConfig(**{**cfg.__dict__, "embed_init": "default"}), checkpoint=path)
    resumed = train_and_evaluate(A, toy280, cfg, checkpoint=path)
    assert resumed.history == train_and_evaluate(A, toy280, cfg).history
