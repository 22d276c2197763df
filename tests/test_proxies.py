"""Conformance of every proxy kernel and the fused engine on real HyTAS subnets (small random
inputs: 10 bands, 5 classes, so that even the largest architecture of the space runs fast)."""
from __future__ import annotations

import math
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

from hytasbench.errors import InvalidArgumentError, UnknownProxyError, UnknownProxyOptionError  # noqa: E402
from hytasbench.model import SubNet, config_for, count_flops, count_params  # noqa: E402
from hytasbench.proxies import available, get, run_engine  # noqa: E402
from hytasbench.proxies.batch import ProxyBatch  # noqa: E402
from hytasbench.proxies.engine import build_scoring_model  # noqa: E402
from hytasbench.schema import (EXTRA_VARIANTS, ORIENTATION, SCORE_VARIANTS, known_proxies, orientation,  # noqa: E402
                               split_proxy_column)
from hytasbench.space import Arch  # noqa: E402

BANDS, CLASSES, BAND_PATCH = 10, 5, 3
SMALLEST = Arch(32, (3,) * 4, (1,) * 4)
LARGEST = Arch(240, (3,) * 10, (6,) * 10)
MID = Arch(64, (4, 5, 6, 3, 4), (2, 3, 1, 4, 2))
PAPER_PROXIES = ["grad_norm", "snip", "grasp", "synflow", "logsynflow", "dss", "fisher", "jacob_cov", "naswot",
                 "zico", "zico_pp", "croze", "tcet", "params", "flops"]
NEW_PROXIES = ["meco", "az_expressivity", "az_progressivity", "az_trainability", "gradsign", "swap", "reg_swap"]
LAYERWISE = set(PAPER_PROXIES) - {"jacob_cov", "naswot", "params", "flops"} | {"gradsign"}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One intra-op thread: these small models run slower with two on a shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def model_for(arch, seed=0, cls=SubNet):
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return cls(config_for(arch, BANDS, CLASSES, BAND_PATCH), arch=arch).eval()


def random_batch(n=CLASSES, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(n, BANDS, 49 * BAND_PATCH, generator=gen)
    return ProxyBatch("random", x, torch.arange(n) % CLASSES, (), seed)


def scores(report):
    return {k: r.score for k, r in report.results.items()}


def test_registry_has_the_paper_proxies_with_schema_orientation_then_the_later_ones():
    assert available() == PAPER_PROXIES + NEW_PROXIES
    for name in PAPER_PROXIES:
        assert get(name).orientation == ORIENTATION[name] in (-1, 1)
    assert get("grasp").orientation == -1
    assert all(orientation(n) == get(n).orientation for n in available())


def test_unknown_proxy_and_option_are_typed_errors_listing_what_is_allowed():
    with pytest.raises(UnknownProxyError, match="snip"):
        run_engine(model_for(SMALLEST), random_batch(), ["snipp"])
    with pytest.raises(UnknownProxyOptionError, match="hytas_compat"):
        run_engine(model_for(SMALLEST), random_batch(), ["synflow"], {"synflow": {"signn": False}})


@pytest.mark.parametrize("arch", [SMALLEST, LARGEST], ids=["smallest", "largest"])
def test_conformance_restoring_finite(arch):
    model = model_for(arch)
    model.train()
    before = [p.detach().clone() for p in model.parameters()]
    first = run_engine(model, random_batch())
    assert model.training, "the model's mode is restored"
    assert all(torch.equal(a, p) for a, p in zip(before, model.parameters())), "parameters changed"
    assert all(p.grad is None for p in model.parameters())
    n_layers = 2 + 4 * arch.depth
    for name, res in first.results.items():
        assert res.error is None, (name, res.error)
        assert math.isfinite(res.score), name
        if name in LAYERWISE:
            assert len(res.layers) == n_layers and all(math.isfinite(v) for v in res.layers), name
            assert res.seconds > 0
    assert first.results["params"].score == count_params(model)
    assert first.results["flops"].score == count_flops(model)


def test_deterministic_under_a_seed():
    first = scores(run_engine(model_for(SMALLEST, seed=5), random_batch(seed=5)))
    assert first == scores(run_engine(model_for(SMALLEST, seed=5), random_batch(seed=5)))
    assert first["snip"] != scores(run_engine(model_for(SMALLEST, seed=6), random_batch(seed=5)))["snip"]


def test_seed_changes_the_initialisation_and_the_scores():
    a = build_scoring_model(MID, "indian_pines", seed=0)
    b = build_scoring_model(MID, "indian_pines", seed=1)
    assert not torch.equal(a.head.weight, b.head.weight)
    assert torch.equal(a.head.weight, build_scoring_model(MID, "indian_pines", seed=0).head.weight)


def test_fused_equals_separate_for_every_proxy():
    model, batch = model_for(MID), random_batch()
    fused = run_engine(model, batch)
    for name in available():
        alone = run_engine(model, batch, [name]).results[name]
        got = fused.results[name]
        assert got.score == alone.score, name
        assert got.variants == alone.variants, name
    # the sign family shares one linearised pass (and one unsigned one); the CE kernels one pass
    kinds = [key[0] for key in fused.passes]
    assert kinds.count("linearised") == 2 and kinds.count("ce") == 1 and kinds.count("croze") == 1
    assert kinds.count("features") == 1  # MeCo, SWAP and AZ-NAS share one forward


def test_sample_order_does_not_matter_where_the_maths_says_so():
    model, batch = model_for(MID), random_batch(n=7)
    perm = torch.tensor([3, 0, 6, 1, 5, 2, 4])
    shuffled = ProxyBatch("random", batch.x[perm], batch.y[perm], (), 0)
    a, b = scores(run_engine(model, batch)), scores(run_engine(model, shuffled))
    for name in set(available()) - {"az_trainability"}:  # its seeded probe is drawn per batch position
        assert a[name] == pytest.approx(b[name], rel=1e-5, abs=1e-9), name
    opts = {"zico": {"hytas_compat": True}}  # upstream's running gradient sums depend on the order
    assert run_engine(model, batch, ["zico"], opts).results["zico"].score != \
        pytest.approx(run_engine(model, shuffled, ["zico"], opts).results["zico"].score, rel=1e-6)


def test_split_batch_gives_the_same_numbers():
    model, batch = model_for(MID), random_batch(n=7)
    whole = run_engine(model, batch)
    split = run_engine(model, batch, chunks=3)
    assert split.batch_splits == 3 and whole.batch_splits == 1
    for name in available():
        w, s = whole.results[name], split.results[name]
        assert s.score == pytest.approx(w.score, rel=1e-4, abs=1e-9), name
        if w.layers is not None:
            assert s.layers == pytest.approx(w.layers, rel=1e-4, abs=1e-9), name


class SmallMemoryNet(SubNet):
    """A subnet that runs out of memory (the real exception type) on batches above ``limit``."""

    limit = 2

    def forward(self, x):
        if x.shape[0] > self.limit:
            raise torch.OutOfMemoryError(f"out of memory: batch of {x.shape[0]}")
        return super().forward(x)


def test_out_of_memory_retries_with_the_batch_split():
    model, batch = model_for(SMALLEST, cls=SmallMemoryNet), random_batch()
    names = ["snip", "grasp", "jacob_cov", "zico", "croze", "synflow"]
    report = run_engine(model, batch, names)
    assert report.batch_splits == 4  # 5 samples: 2 chunks of 3 and 2 still fail, 4 chunks pass
    reference = run_engine(model_for(SMALLEST), batch, names)
    for name, res in report.results.items():
        assert res.error is None
        assert res.score == pytest.approx(reference.results[name].score, rel=1e-4), name


def test_out_of_memory_on_single_samples_is_flagged_not_raised():
    model = model_for(MID, cls=SmallMemoryNet)
    model.limit = 0
    res = run_engine(model, random_batch(), ["snip", "synflow"]).results
    assert math.isnan(res["snip"].score) and "OutOfMemoryError" in res["snip"].error
    assert res["synflow"].error is None or "OutOfMemoryError" in res["synflow"].error


def test_nan_and_failures_become_flagged_nan_without_losing_other_proxies():
    model = model_for(MID)
    with torch.no_grad():
        model.patch_embed.bias[0] = float("nan")
    res = run_engine(model, random_batch()).results
    for name in ("snip", "grad_norm", "synflow", "fisher", "zico"):
        assert math.isnan(res[name].score) and "non-finite" in res[name].error, name
    assert res["params"].error is None and res["params"].score == count_params(model)
    one = ProxyBatch("random", random_batch().x[:1], torch.tensor([0]), (), 0)
    res = run_engine(model_for(MID), one, ["jacob_cov", "snip"]).results
    assert math.isnan(res["jacob_cov"].score) and "two samples" in res["jacob_cov"].error
    assert res["snip"].error is None and math.isfinite(res["snip"].score)


def test_columns_follow_the_table_schema():
    report = run_engine(model_for(SMALLEST), random_batch())
    columns = {}
    for res in report.results.values():
        columns.update(res.columns())
    assert columns["cost_params"] == count_params(model_for(SMALLEST))
    for col, value in columns.items():
        if not col.startswith("proxy_"):
            continue
        name, variant = split_proxy_column(col)
        assert name in known_proxies() and (variant is None or variant in SCORE_VARIANTS + EXTRA_VARIANTS), col
    assert {"proxy_dss__nosign", "proxy_dss__attn_nosign", "proxy_dss__attn_log", "proxy_dss__layers",
            "proxy_dss__seconds", "proxy_dss__error"} <= set(columns)
    assert columns["proxy_dss"] == pytest.approx(sum(columns["proxy_dss__layers"]))


def test_dss_attention_part_is_far_above_the_mlp_part():
    """The paper's scale gap: DSS's attention part (nuclear norms) dwarfs its MLP part; the log
    variants are the sums of the per-layer logs."""
    res = run_engine(model_for(MID), random_batch(), ["dss"]).results["dss"]
    assert res.attn > 5 * res.mlp
    attn_layers = [v for v, n in zip(res.layers, res.layer_names) if ".attn." in n]
    assert res.variants["attn_log"] == pytest.approx(sum(math.log(v) for v in attn_layers))


def test_query_path_does_not_import_torch():
    code = "import sys, hytasbench, hytasbench.live, hytasbench.benchmark; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_labels_run_a_kernel_twice_with_other_options_but_not_as_table_columns():
    from hytasbench.proxies import score_architecture

    res = run_engine(model_for(SMALLEST), random_batch(), ["fisher", "fisher:compat"],
                     {"fisher:compat": {"hytas_compat": True}}).results
    assert res["fisher"].score != res["fisher:compat"].score and res["fisher:compat"].name == "fisher"
    with pytest.raises(InvalidArgumentError, match="run_engine"):
        score_architecture(SMALLEST, "indian_pines", ["fisher:compat"])
