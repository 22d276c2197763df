"""Hand-checked values: every kernel on a tiny two-block toy model against an independent
computation in this file (plain autograd, explicit loops over samples, a full Hessian, numpy
spectra), never through the kernels' own helpers."""
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
from hytasbench.proxies.target import Target  # noqa: E402

B, T, D_IN, D, H, C = 6, 4, 5, 4, 12, 3


class Toy(nn.Module):
    """embed -> 2 x (attn-like Linear residual, GELU MLP residual) -> head on token 0."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(D_IN, D)
        self.attn1, self.fc1a, self.act_a, self.fc2a = nn.Linear(D, D), nn.Linear(D, H), nn.GELU(), nn.Linear(H, D)
        self.attn2, self.fc1b, self.act_b, self.fc2b = nn.Linear(D, D), nn.Linear(D, H), nn.GELU(), nn.Linear(H, D)
        self.head = nn.Linear(D, C)

    def outputs(self, x):
        """Every scored layer's output in order, and the logits (the test's own forward)."""
        z = [self.embed(x)]
        h = z[0]
        for attn, fc1, act, fc2 in ((self.attn1, self.fc1a, self.act_a, self.fc2a),
                                    (self.attn2, self.fc1b, self.act_b, self.fc2b)):
            z.append(attn(h))
            h = h + z[-1]
            z.append(fc1(h))
            z.append(fc2(act(z[-1])))
            h = h + z[-1]
        z.append(self.head(h[:, 0]))
        return z, z[-1]

    def forward(self, x):
        return self.outputs(x)[1]


NAMES = ["embed", "attn1", "fc1a", "fc2a", "attn2", "fc1b", "fc2b", "head"]
KINDS = ["embed", "attn", "mlp", "mlp", "attn", "mlp", "mlp", "head"]
PRE_GELU = [2, 5]  # indices of fc1a, fc1b


def toy_target(model):
    mods = dict(model.named_modules())
    return Target(model, [(n, mods[n], k) for n, k in zip(NAMES, KINDS)], [model.act_a, model.act_b])


@pytest.fixture(scope="module")
def toy():
    torch.manual_seed(3)
    model = Toy()
    with torch.no_grad():  # a larger init than 0.02 so that every formula has non-trivial values
        for p in model.parameters():
            p.normal_(0, 0.5)
    x = torch.rand(B, T, D_IN)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    return model, ProxyBatch("toy", x, y, (), 0)


def engine(model, batch, name, **opts):
    opts.setdefault("precision", "float64")
    return run_engine(toy_target(model), batch, [name], {name: opts}).results[name]


def double(model):
    return copy.deepcopy(model).double()


def weights(model):
    return [getattr(model, n).weight for n in NAMES]


def ce_grads(model, batch):
    loss = F.cross_entropy(model(batch.x.double()), batch.y)
    return torch.autograd.grad(loss, weights(model))


def close(a, b, rel=1e-9):
    assert a == pytest.approx(b, rel=rel, abs=1e-12)


def test_grad_norm_and_snip(toy):
    model, batch = toy
    m = double(model)
    g = ce_grads(m, batch)
    close(engine(model, batch, "grad_norm").score, sum(float(torch.sqrt((gi ** 2).sum())) for gi in g))
    snip = engine(model, batch, "snip")
    per = [float((gi * w.detach()).abs().sum()) for gi, w in zip(g, weights(m))]
    close(snip.score, sum(per))
    assert snip.layers == pytest.approx(per, rel=1e-9)
    close(snip.attn, per[1] + per[4])
    close(snip.variants["mlp_log"], sum(math.log(per[i]) for i in (2, 3, 5, 6)))


def test_grasp_against_the_full_hessian(toy):
    model, batch = toy
    m = double(model)
    ws = weights(m)
    shapes = [w.shape for w in ws]
    flat0 = torch.cat([w.detach().reshape(-1) for w in ws])

    def loss_of(flat):
        pieces, i = [], 0
        for s in shapes:
            n = int(np.prod(s))
            pieces.append(flat[i:i + n].reshape(s))
            i += n
        params = {f"{n}.weight": p for n, p in zip(NAMES, pieces)}
        out = torch.func.functional_call(m, params, (batch.x.double(),))
        return F.cross_entropy(out, batch.y)

    hess = torch.autograd.functional.hessian(loss_of, flat0, vectorize=True)
    g = torch.autograd.functional.jacobian(loss_of, flat0)
    expected = -float((flat0 * (hess @ g)).sum())
    res = engine(model, batch, "grasp")
    close(res.score, expected, rel=1e-7)
    assert res.orientation == -1


def linearised_grads(model, sign=True):
    m = double(model)
    if sign:
        with torch.no_grad():
            for p in m.parameters():
                p.copy_(p.abs())
    out = m(torch.ones(1, T, D_IN, dtype=torch.float64))
    out.sum().backward()
    return [(getattr(m, n).weight.detach(), getattr(m, n).weight.grad) for n in NAMES]


def test_synflow_logsynflow_dss_with_and_without_sign(toy):
    model, batch = toy
    for sign in (True, False):
        ws = linearised_grads(model, sign)
        syn = [float((w * g).abs().sum()) for w, g in ws]
        log = [float((w * torch.log(g.abs() + 1)).abs().sum()) for w, g in ws]
        dss = [float(torch.linalg.svdvals(g).sum() * torch.linalg.svdvals(w).sum()) if k == "attn"
               else syn[i] for i, ((w, g), k) in enumerate(zip(ws, KINDS))]
        for name, per in (("synflow", syn), ("logsynflow", log), ("dss", dss)):
            rel = 1e-7 if name == "dss" else 1e-9  # DSS's nuclear norms come from Gram eigenvalues
            res = engine(model, batch, name)
            got = res.score if sign else res.variants["nosign"]
            close(got, sum(per), rel)
            if sign:
                assert res.layers == pytest.approx(per, rel=rel)
            else:
                close(res.variants["attn_nosign"], per[1] + per[4], rel)


def test_synflow_and_logsynflow_upstream_row_means(toy):
    model, batch = toy
    ws = linearised_grads(model)
    syn = sum(float((w * g).abs().sum(1).mean()) for w, g in ws)
    close(engine(model, batch, "synflow", hytas_compat=True, precision="float64").score, syn)
    log = 0.0
    for w, g in ws:
        v = float((w * torch.log(g + 1)).abs().sum(1).mean())
        log += 0.0 if math.isnan(v) else v
    close(engine(model, batch, "logsynflow", hytas_compat=True, precision="float64").score, log)


def outputs_and_grads(model, batch):
    m = double(model)
    z, out = m.outputs(batch.x.double())
    for t in z:
        t.retain_grad()
    F.cross_entropy(out, batch.y).backward()
    return m, z


def test_fisher_per_channel_and_upstream_per_token(toy):
    model, batch = toy
    _, z = outputs_and_grads(model, batch)
    clean = compat = 0.0
    for t in z:
        prod = t.detach() * t.grad
        if prod.dim() == 2:
            prod = prod[:, None, :]
        clean += float(0.5 * (prod.sum(1) ** 2).mean(0).sum())
        tok = prod.sum(2) if t.dim() == 3 else prod.sum(1)
        compat += float(0.5 * (tok ** 2).mean(0).sum()) * tok.shape[1]
    close(engine(model, batch, "fisher").score, clean)
    close(engine(model, batch, "fisher", hytas_compat=True).score, compat)


def test_jacob_cov(toy):
    model, batch = toy
    m = double(model)
    x = batch.x.double().clone().requires_grad_(True)
    m(x).sum().backward()
    lam = np.linalg.eigvals(np.corrcoef(x.grad.reshape(B, -1).numpy())).real
    expected = -np.sum(np.log(lam + 1e-5) + 1 / (lam + 1e-5))
    close(engine(model, batch, "jacob_cov").score, float(expected), rel=1e-6)


def code_logdet(codes):
    c = codes.double()
    k = c @ c.T + (1 - c) @ (1 - c).T
    return float(np.linalg.slogdet(k.numpy())[1])


def test_naswot(toy):
    model, batch = toy
    z, _ = double(model).outputs(batch.x.double())
    codes = [(z[i] > 0).reshape(B, -1).double() for i in PRE_GELU]
    k = sum(c @ c.T + (1 - c) @ (1 - c).T for c in codes)
    close(engine(model, batch, "naswot").score, float(np.linalg.slogdet(k.numpy())[1]))


def test_naswot_upstream_gaussian_reinit(toy):
    model, batch = toy
    m = double(model)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for n in NAMES:
            lin = getattr(m, n)
            lin.weight.copy_(torch.randn(lin.weight.shape, generator=gen, dtype=torch.float32))
            lin.bias.zero_()
    z, _ = m.outputs(batch.x.double())
    codes = [(z[i] > 0).reshape(B, -1).double() for i in PRE_GELU]
    k = sum(c @ c.T + (1 - c) @ (1 - c).T for c in codes)
    close(engine(model, batch, "naswot", hytas_compat=True, init_seed=0).score, float(np.linalg.slogdet(k.numpy())[1]))


def per_sample(model, batch, fn):
    """fn(model, x_b, y_b) evaluated one sample at a time (each sample's own loss)."""
    return [fn(double(model), batch.x[b:b + 1].double(), batch.y[b:b + 1]) for b in range(B)]


def snr(samples):
    arr = np.stack(samples)
    std = arr.std(0)
    keep = std > 0
    return math.log(float((np.abs(arr).mean(0)[keep] / std[keep]).sum())) if keep.any() else 0.0


def test_zico_per_sample_and_upstream_accumulated(toy):
    model, batch = toy

    def grads(m, x, y):
        return [g.numpy().ravel() for g in torch.autograd.grad(F.cross_entropy(m(x), y), weights(m))]

    per = per_sample(model, batch, grads)
    clean = sum(snr([p[i] for p in per]) for i in range(len(NAMES)))
    close(engine(model, batch, "zico").score, clean, rel=1e-7)
    cum = [np.cumsum(np.stack([p[i] for p in per]), axis=0) for i in range(len(NAMES))]
    compat = sum(snr(list(c)) for c in cum)
    close(engine(model, batch, "zico", hytas_compat=True).score, compat, rel=1e-7)


def test_zico_pp_depth_weights(toy):
    model, batch = toy

    def act_grads(m, x, y):
        z, out = m.outputs(x)
        gs = torch.autograd.grad(F.cross_entropy(out, y), z)
        return [((t * g) ** 2).detach().numpy().ravel() for t, g in zip(z, gs)]

    per = per_sample(model, batch, act_grads)
    weights_ = [1, 1, 1, 1, 1, 1, 1 / 2, 1]  # 1/(i-4) for 4 < i < last: i=5 -> 1, i=6 -> 1/2
    expected = sum(w * snr([p[i] for p in per]) for i, w in enumerate(weights_))
    close(engine(model, batch, "zico_pp").score, expected, rel=1e-7)


def test_tcet(toy):
    model, batch = toy
    m, z = outputs_and_grads(model, batch)
    ks = []
    for t in z:
        ld = code_logdet((t > 0).reshape(B, -1))
        ks.append(ld if math.isfinite(ld) else 0.0)
    s = []
    for n in NAMES:
        w = getattr(m, n).weight
        sal = (w * w.grad).detach().abs().reshape(-1)
        v = float(sal.sum() / sal.std())
        s.append(math.log(v))
    clean = s[0] + sum(s[i] * ks[i - 1] for i in range(1, len(s)))
    compat = s[0] + sum(s[i] * ks[i] for i in range(1, len(s)))
    close(engine(model, batch, "tcet").score, clean)
    close(engine(model, batch, "tcet", hytas_compat=True).score, compat)


def test_croze(toy):
    """The CRoZe authors' procedure, written out with .backward() on module gradients."""
    model, batch = toy
    x, y = batch.x.double(), batch.y
    net = double(model)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(p.abs())
    adv = copy.deepcopy(net)
    z, out = net.outputs(x)
    F.cross_entropy(out, y).backward()
    with torch.no_grad():
        for (name, p), p_adv in zip(net.named_parameters(), adv.parameters()):
            if name.endswith("weight") and p.dim() > 1:
                p_adv.add_(2.0 * p.norm() / (p.grad.norm() + 1e-30) * p.grad)
    xa = x.clone().requires_grad_(True)
    F.cross_entropy(adv(xa), y).backward()  # leaves its gradient in adv, as the authors' code
    x_adv = (x - 0.01 * xa.grad.sign()).clamp(0, 1)
    z_adv, out_adv = adv.outputs(x_adv)
    F.cross_entropy(out_adv, y).backward()
    cos = nn.CosineSimilarity(dim=0)
    terms = []
    for n, a, b in zip(NAMES, z, z_adv):
        w, w2 = getattr(net, n).weight, getattr(adv, n).weight
        t = (1 + cos(w2, w)).sum() * cos(w2.grad, w.grad).abs().sum() * (1 + cos(b, a)).sum()
        terms.append(abs(float(t.detach())))
    res = engine(model, batch, "croze")
    close(res.score, sum(terms), rel=1e-7)
    compat = engine(model, batch, "croze", hytas_compat=True, precision="float64")
    close(compat.score, sum(math.log(t) for t in terms), rel=1e-7)


def test_default_precisions_agree_with_float64(toy):
    """float32 kernels (the default for the cross-entropy pass) stay close to float64."""
    model, batch = toy
    for name in ("snip", "grad_norm", "fisher", "zico_pp"):
        a = run_engine(toy_target(model), batch, [name]).results[name].score
        b = engine(model, batch, name).score
        assert a == pytest.approx(b, rel=1e-4)
