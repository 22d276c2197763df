"""One dataset opener (hytasbench.datasets.opener) and one device name (hytasbench.devices) for
training, proxy scoring and the builders."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from builders.units import RunnerConfig, Unit, UnitRunner, train_columns
from hytasbench.datasets import opener
from hytasbench.devices import device_name
from hytasbench.proxies.batch import proxy_batch
from hytasbench.train import TrainConfig, train_and_evaluate

TINY = "e32-h4534-r1412"  # HyTAS-2000 id 397, the smallest by FLOPs


@pytest.fixture
def counted(monkeypatch):
    """Counts the real loads behind open_dataset (the loaders themselves run unchanged)."""
    calls = []
    for name in ("synthetic_dataset", "load_dataset"):
        real = getattr(opener, name)

        def spy(*args, _real=real, _name=name, **kwargs):
            calls.append((_name, args[0]))
            return _real(*args, **kwargs)

        monkeypatch.setattr(opener, name, spy)
    opener.clear_cache()
    proxy_batch.cache_clear()
    yield calls
    opener.clear_cache()
    proxy_batch.cache_clear()


def test_training_scoring_and_builders_share_one_load(counted, shared_datasets):
    root = str(shared_datasets)
    data = opener.open_dataset("indian", root, synthetic=True)  # an alias names the same dataset
    assert data.synthetic and data.name == "indian_pines"
    threads = torch.get_num_threads()
    try:
        assert UnitRunner(RunnerConfig(data_root=root), "cpu").data("indian_pines", True) is data
    finally:
        torch.set_num_threads(threads)
    assert proxy_batch("indian_pines", 7, root, True).synthetic
    assert counted == [("synthetic_dataset", "indian_pines")]
    real = opener.open_dataset("indian_pines", root)
    assert real is not data and not real.synthetic
    assert counted[-1] == ("load_dataset", "indian_pines")


def test_split_seeds_are_separate_entries_and_the_cache_is_bounded(counted, shared_datasets):
    root = str(shared_datasets)
    first = opener.open_dataset("ksc", root, synthetic=True, split_seed=0)
    other = opener.open_dataset("ksc", root, synthetic=True, split_seed=1)
    assert not np.array_equal(first.train_rc, other.train_rc)  # KSC's split is drawn per seed
    for seed in range(2, opener.CACHE_SIZE + 1):  # one more entry than the cache holds
        opener.open_dataset("indian_pines", root, synthetic=True, split_seed=seed)
    assert len(counted) == opener.CACHE_SIZE + 1
    assert opener.open_dataset("ksc", root, synthetic=True, split_seed=1) is other  # still held
    assert opener.open_dataset("ksc", root, synthetic=True, split_seed=0) is not first  # evicted, loaded again
    assert len(counted) == opener.CACHE_SIZE + 2


def test_trained_and_scored_rows_name_the_device_alike(toy280):
    threads = torch.get_num_threads()
    try:
        runner = UnitRunner(RunnerConfig(threads=1), "cpu")
        cost = runner.run(Unit("cost", "indian_pines", TINY, None))
        trained = train_and_evaluate(TINY, toy280, TrainConfig(epochs=1, device="cpu", threads=1))
    finally:
        torch.set_num_threads(threads)
    assert cost["device"] == train_columns(trained.to_dict())["device"]
    assert cost["device"].startswith("cpu:") and cost["device"].endswith(" x1 threads")
    assert device_name(torch.device("cpu")) == device_name("cpu")
