"""The batch protocol on the real Indian Pines, the builders' entry point, and live recompute
through the Benchmark API (skipped with a reason when the shared files are absent)."""
from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hytasbench.datasets.load import load_dataset  # noqa: E402
from hytasbench.errors import (DatasetFilesError, InvalidArgumentError, UnknownProxyError,  # noqa: E402
                               UnknownProxyOptionError)
from hytasbench.live import NOT_TRAINED, recompute_record, score  # noqa: E402
from hytasbench.model import build_model_for, count_flops, count_params  # noqa: E402
from hytasbench.proxies import proxy_batch, score_architecture  # noqa: E402
from hytasbench.space import Arch  # noqa: E402

OUTSIDE = Arch(32, (3, 4, 5, 6), (1, 2, 1, 1))  # a small architecture that is not one of the 2000


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def root(shared_datasets):
    if not (shared_datasets / "indian_pines" / "Indian_pines_corrected.mat").exists():
        pytest.skip("the Indian Pines cube is not in the shared datasets")
    return str(shared_datasets)


def test_batch_is_one_training_pixel_per_class_fixed_by_the_seed(root):
    data = load_dataset("indian_pines", root)
    batch = proxy_batch("Indian Pines", 0, root)
    assert batch.x.shape == (16, 200, 147) and batch.y.tolist() == list(range(16))
    train = {tuple(rc): y for rc, y in zip(data.train_rc.tolist(), data.train_labels.tolist())}
    assert [train[p] for p in batch.pixels] == list(range(16))
    assert batch.pixels == proxy_batch("indian_pines", 0, root).pixels
    assert batch.pixels != proxy_batch("indian_pines", 1, root).pixels
    r, c = batch.pixels[3]  # token b of the centre pixel holds bands b-1, b, b+1 at patch index 24
    assert float(batch.x[3, 10, 49 + 24]) == pytest.approx(float(data.cube[r, c, 10]))


def test_score_architecture_gives_every_column(root):
    cols = score_architecture(OUTSIDE, "indian_pines", data_root=root)
    model = build_model_for(OUTSIDE, "indian_pines")
    assert cols["cost_params"] == count_params(model) and cols["cost_flops"] == count_flops(model)
    assert cols["batch_splits"] == 1
    for name in ("grad_norm", "snip", "grasp", "synflow", "logsynflow", "dss", "fisher", "jacob_cov", "naswot",
                 "zico", "zico_pp", "croze", "tcet"):
        assert math.isfinite(cols[f"proxy_{name}"]) and cols[f"proxy_{name}__error"] is None, name
        assert cols[f"proxy_{name}__seconds"] > 0
    assert len(cols["proxy_snip__layers"]) == 2 + 4 * OUTSIDE.depth


def test_live_score_matches_the_engine_entry_point(root):
    live = score(OUTSIDE, "indian_pines", ["snip", "dss"], data_root=root)
    cols = score_architecture(OUTSIDE, "indian_pines", ["snip", "dss"], data_root=root)
    assert dict(live) == {"snip": cols["proxy_snip"], "dss": cols["proxy_dss"]}
    assert live.results["dss"].attn == cols["proxy_dss__attn"]


def test_benchmark_score_and_recompute(reference_bench, root, monkeypatch):
    monkeypatch.setenv("HYTASBENCH_DATA", root)
    live = reference_bench.score(OUTSIDE, "Indian Pines", proxies=["grad_norm"])
    assert list(live) == ["grad_norm"] and live["grad_norm"] > 0
    rec = reference_bench.query(OUTSIDE, "indian_pines", recompute=True)
    assert rec.oa is None and rec.reason("oa") == NOT_TRAINED
    assert rec.params == count_params(build_model_for(OUTSIDE, "indian_pines"))
    assert rec.grad_norm == pytest.approx(live["grad_norm"])
    assert rec["dss__attn"] > 0 and rec.provenance["source"] == "live"
    assert "snip__layers" not in rec.proxies and rec.arch == OUTSIDE and rec.arch_id is None


def test_missing_dataset_files_raise_a_clear_error(tmp_path):
    with pytest.raises(DatasetFilesError, match="Indian_pines_corrected.mat"):
        score(OUTSIDE, "indian_pines", ["snip"], data_root=str(tmp_path))


def test_unknown_proxy_fails_before_any_work(tmp_path):
    with pytest.raises(UnknownProxyError, match="grad_norm"):
        recompute_record(OUTSIDE, "indian_pines", proxies=["gradnorm"], data_root=str(tmp_path))


@pytest.mark.parametrize("kwargs, error, message", [
    ({"options": 5}, InvalidArgumentError, "options must map a proxy"),
    ({"options": ["synflow"]}, InvalidArgumentError, "options must map a proxy"),
    ({"options": {"nope": {}}}, UnknownProxyError, "'nope'; allowed: grad_norm, snip"),
    ({"options": {"nope:tag": {}}}, UnknownProxyError, "'nope'; allowed: grad_norm, snip"),
    ({"options": {5: {}}}, UnknownProxyError, "5; allowed: grad_norm"),
    ({"options": {"snip": {"nope": 1}}}, UnknownProxyOptionError, "'snip' has no option 'nope'"),  # not scored here
    ({"options": {"synflow": 5}}, InvalidArgumentError, r"options\['synflow'\] must map"),
    ({"options": {"synflow": {"nope": 1}}}, UnknownProxyOptionError, "no option 'nope'; allowed: hytas_compat"),
    ({"synthetic": "no"}, InvalidArgumentError, "synthetic must be True or False"),
    ({"synthetic": 1}, InvalidArgumentError, "synthetic must be True or False"),
])
def test_bad_live_options_fail_typed_before_any_data(small_bench, tmp_path, kwargs, error, message):
    # an empty data root: a check that came after loading would raise DatasetFilesError instead
    with pytest.raises(error, match=message):
        small_bench.score(2, "ip", proxies=["synflow"], data_root=str(tmp_path), **kwargs)


@pytest.mark.parametrize("options", [{"synflow": {"hytas_compat": True}}, {"snip": {"precision": "float64"}}, {}, None])
def test_good_live_options_reach_the_data(small_bench, tmp_path, options):
    # one options dict may serve several calls: a valid entry for a proxy not scored here is unused
    with pytest.raises(DatasetFilesError):
        small_bench.score(2, "ip", proxies=["synflow"], data_root=str(tmp_path), options=options, synthetic=False)


@pytest.mark.slow
def test_largest_architecture_is_finite_on_the_real_data(root):
    largest = Arch(240, (3,) * 10, (6,) * 10)
    cols = score_architecture(largest, "indian_pines", data_root=root)
    assert all(np.isfinite(v) for k, v in cols.items() if k.startswith("proxy_") and k.count("__") == 0)
