"""Hand-checked values of the 2022-2024 kernels (MeCo, SWAP, regularised SWAP, AZ-NAS's three,
GradSign) on a tiny two-block toy transformer, against independent computations in this file
(numpy statistics, explicit per-sample loops, full Jacobians), never the kernels' own helpers;
only AZ-NAS's seeded Rademacher probe is drawn with the library's generator, so that both sides
use the same random vector."""
from __future__ import annotations

import copy
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from hytasbench.proxies import run_engine  # noqa: E402
from hytasbench.proxies.batch import ProxyBatch  # noqa: E402
from hytasbench.proxies.features import rademacher  # noqa: E402
from hytasbench.proxies.target import Target  # noqa: E402

B, T, D_IN, D, H, C = 6, 5, 7, 4, 9, 3
NEW = ["meco", "swap", "reg_swap", "az_expressivity", "az_progressivity", "az_trainability", "gradsign"]


class ToyBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn, self.fc1, self.act, self.fc2 = nn.Linear(D, D), nn.Linear(D, H), nn.GELU(), nn.Linear(H, D)

    def forward(self, x):
        x = x + self.attn(x)
        return x + self.fc2(self.act(self.fc1(x)))


class Toy(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(D_IN, D)
        self.blocks = nn.ModuleList([ToyBlock(), ToyBlock()])
        self.head = nn.Linear(D, C)

    def forward(self, x):
        h = self.embed(x)
        for blk in self.blocks:
            h = blk(h)
        return self.head(h[:, 0])


def toy_target(model):
    layers = [("embed", model.embed, "embed")]
    for i, blk in enumerate(model.blocks):
        layers += [(f"blocks.{i}.attn", blk.attn, "attn"), (f"blocks.{i}.fc1", blk.fc1, "mlp"),
                   (f"blocks.{i}.fc2", blk.fc2, "mlp")]
    layers.append(("head", model.head, "head"))
    return Target(model, layers, [b.act for b in model.blocks], list(model.blocks))


@pytest.fixture(scope="module")
def toy():
    torch.manual_seed(11)
    model = Toy()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.5)
    x = torch.rand(B, T, D_IN)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    return model.double(), ProxyBatch("toy", x.double(), y, (), 0)


def score(model, batch, name, **opts):
    opts.setdefault("precision", "float64")
    return run_engine(toy_target(model), batch, [name], {name: opts}).results[name]


def layer_outputs(model, x):
    """Every scored layer's output, in the target's order (the test's own forward)."""
    outs = []
    h = model.embed(x)
    outs.append(h)
    for blk in model.blocks:
        a = blk.attn(h)
        outs.append(a)
        h = h + a
        z = blk.fc1(h)
        outs.append(z)
        m = blk.fc2(blk.act(z))
        outs.append(m)
        h = h + m
    outs.append(model.head(h[:, 0]))
    return outs


def test_meco_by_hand(toy):
    model, batch = toy
    with torch.no_grad():
        outs = layer_outputs(model, batch.x)
    expected = 0.0
    for out in outs:
        if out.dim() < 3:
            continue  # the head: no token axis
        mins = []
        for sample in out.numpy():
            corr = np.nan_to_num(np.corrcoef(sample.T), nan=0.0)  # channels x channels over tokens
            mins.append(np.linalg.eigvalsh(corr).min())
        expected += float(np.mean(mins))
    got = score(model, batch, "meco")
    assert got.error is None
    assert got.score == pytest.approx(expected, abs=1e-9)
    assert len(got.layers) == len(outs)
    # fc1 has H = 9 >= T = 5 channels: singular, minimum 0, computed by hand too
    assert got.layers[2] == pytest.approx(0.0, abs=1e-9)
    assert got.layers[1] != pytest.approx(0.0, abs=1e-6)


def patterns(model, x):
    """The set of sample-wise patterns of every GELU input unit, by explicit iteration."""
    with torch.no_grad():
        outs = layer_outputs(model, x)
    pre = [outs[2], outs[5]]  # fc1 of each block: the GELU inputs
    found = set()
    for z in pre:
        bits = (z > 0).reshape(z.shape[0], -1).numpy()
        for unit in range(bits.shape[1]):
            found.add(tuple(bits[:, unit]))
    return found


def test_swap_and_regularised_swap_by_hand(toy):
    model, batch = toy
    distinct = len(patterns(model, batch.x))
    assert 1 < distinct < 2 * T * H  # neither trivial nor every unit distinct by construction
    assert score(model, batch, "swap").score == distinct
    params = sum(p.numel() for p in model.parameters())
    mu, sigma = 0.3, 0.05
    expected = distinct * math.exp(-((params / 1000 - mu) ** 2) / sigma)
    assert score(model, batch, "reg_swap", mu=mu, sigma=sigma).score == pytest.approx(expected, rel=1e-12)


def feature_maps(model, x):
    maps = [model.embed(x)]
    for blk in model.blocks:
        maps.append(blk(maps[-1]))
    return maps


def entropy_of_spectrum(f):
    rows = f.reshape(-1, f.shape[-1])
    lam = np.clip(np.linalg.eigvalsh(np.cov(rows.T, bias=True)), 0, None)
    p = lam / lam.sum()
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def test_az_expressivity_and_progressivity_by_hand(toy):
    model, batch = toy
    with torch.no_grad():
        ent = [entropy_of_spectrum(f.numpy()) for f in feature_maps(model, batch.x)]
    assert score(model, batch, "az_expressivity").score == pytest.approx(sum(ent), rel=1e-10)
    assert score(model, batch, "az_progressivity").score == pytest.approx(min(ent[1] - ent[0], ent[2] - ent[1]),
                                                                          rel=1e-9, abs=1e-12)


def test_az_trainability_by_hand(toy):
    model, batch = toy
    with torch.no_grad():
        maps = feature_maps(model, batch.x)
    vals = []
    for k, blk in enumerate(model.blocks):
        inp = maps[k]
        r = rademacher((B, T, D), 1000 * 3 + k, torch.float64)
        mat = np.zeros((D, D))
        for b in range(B):  # each sample's own full Jacobian (samples are independent)
            jac = torch.autograd.functional.jacobian(lambda z: blk(z[None])[0], inp[b])  # (T, D, T, D)
            jt = jac.reshape(T * D, T * D).numpy()
            g_in = (jt.T @ r[b].reshape(-1).numpy()).reshape(T, D)
            mat += g_in.T @ r[b].numpy()
        sigma = np.linalg.norm(mat / (B * T), 2)
        vals.append(-sigma - 1 / sigma + 2)
    got = score(model, batch, "az_trainability", probe_seed=3)
    assert got.score == pytest.approx(float(np.mean(vals)), rel=1e-9)
    assert got.score != pytest.approx(score(model, batch, "az_trainability", probe_seed=4).score, rel=1e-6)


def test_gradsign_by_hand(toy):
    model, batch = toy
    weights = [m.weight for m in [model.embed] + [l for b in model.blocks for l in (b.attn, b.fc1, b.fc2)]
               + [model.head]]
    total = [torch.zeros_like(w) for w in weights]
    for i in range(B):  # each sample's own loss gradient
        loss = F.cross_entropy(model(batch.x[i:i + 1]), batch.y[i:i + 1])
        for t, g in zip(total, torch.autograd.grad(loss, weights)):
            t += torch.sign(g)
    expected = [float(t.abs().sum()) for t in total]
    got = score(model, batch, "gradsign")
    assert got.layers == pytest.approx(expected, abs=1e-9)
    assert got.score == pytest.approx(sum(expected), abs=1e-9)
    assert got.score < B * sum(w.numel() for w in weights)  # samples disagree somewhere


def test_fused_split_and_restoring(toy):
    model, batch = toy
    before = copy.deepcopy(model.state_dict())
    opts = {n: {"precision": "float64"} for n in NEW}
    fused = run_engine(toy_target(model), batch, NEW, opts)
    split = run_engine(toy_target(model), batch, NEW, opts, chunks=4)
    for name in NEW:
        alone = run_engine(toy_target(model), batch, [name], opts).results[name]
        assert alone.error is None and math.isfinite(alone.score), name
        assert fused.results[name].score == alone.score, name
        assert split.results[name].score == pytest.approx(alone.score, rel=1e-9, abs=1e-12), name
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert [k[0] for k in fused.passes].count("features") == 1
