"""The training protocol: schedule, optimiser groups, determinism, the CLI, and real learning."""
from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from hytasbench.datasets.load import HSIData, load_dataset
from hytasbench.datasets.synthetic import synthetic_cube
from hytasbench.errors import InvalidArgumentError, InvalidProtocolError
from hytasbench.model import build_model, count_flops, count_params, vit_reference
from conftest import REPO
from hytasbench.train import PROTOCOL, TrainConfig, lr_at, main, param_groups, pick_test_pixels, train_and_evaluate

TINY = "e32-h4534-r1412"  # HyTAS-2000 id 397, the smallest by FLOPs


def test_learning_rate_schedule():
    cfg = TrainConfig()
    lrs = [lr_at(e, cfg) for e in range(cfg.epochs)]
    assert lrs[0] == pytest.approx(1e-6)
    assert lrs[4] == pytest.approx(1e-6 + 4 * (3.125e-4 - 1e-6) / 5)
    # after warm-up, timm's cosine over 300 epochs counted from epoch 0
    assert lrs[5] == pytest.approx(1e-5 + 0.5 * (3.125e-4 - 1e-5) * (1 + math.cos(math.pi * 5 / 300)))
    assert lrs[150] == pytest.approx(1e-5 + 0.5 * (3.125e-4 - 1e-5))
    assert all(a > b for a, b in zip(lrs[5:], lrs[6:]))
    assert lrs[-1] > 1e-5 and lrs[-1] == pytest.approx(1e-5, rel=1e-2)


def test_weight_decay_groups():
    model = build_model(TINY, 20, 4, 3)
    decay, no_decay = param_groups(model, 0.005)
    names = {id(p): n for n, p in model.named_parameters()}
    decayed = {names[id(p)] for p in decay["params"]}
    assert decay["weight_decay"] == 0.005 and no_decay["weight_decay"] == 0.0
    assert "blocks.0.attn.qkv.weight" in decayed and "fusions.0.weight" in decayed and "head.weight" in decayed
    assert not decayed & {"cls_token", "pos_embed", "head.bias", "blocks.0.norm1.weight", "fusions.0.bias"}
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))


def test_protocol_name():
    assert TrainConfig().protocol_name() == PROTOCOL
    assert TrainConfig(device="cpu", threads=1, progress=True).protocol_name() == PROTOCOL
    assert TrainConfig(epochs=5, test_subset=10).protocol_name() == f"{PROTOCOL}+custom(epochs=5,test_subset=10)"


def test_pick_test_pixels():
    assert np.array_equal(pick_test_pixels(5, None, 0), np.arange(5))
    sub = pick_test_pixels(100, 10, 3)
    assert len(sub) == 10 and np.array_equal(sub, np.sort(sub)) and np.array_equal(sub, pick_test_pixels(100, 10, 3))


def _toy(seed: int = 0) -> HSIData:
    labels = np.zeros((24, 24), int)
    labels[2:10, 2:22], labels[12:22, 2:12], labels[12:22, 13:22] = 1, 2, 3
    cube = synthetic_cube(labels, 3, 6, seed=seed, noise=1.0)
    rows, cols = np.nonzero(labels)
    rc = np.stack([rows, cols], 1)
    y = labels[rows, cols] - 1
    train = np.arange(len(y)) % 5 == 0
    return HSIData("toy", cube, rc[train], y[train], rc[~train], y[~train], ("a", "b", "c"), 3)


def test_seeded_runs_are_identical_and_results_complete():
    data = _toy()
    threads_before = torch.get_num_threads()
    cfg = TrainConfig(epochs=3, eval_every=2, batch_size=32, lr=1e-3, warmup_epochs=1, device="cpu", threads=1)
    a = train_and_evaluate(TINY, data, cfg)
    b = train_and_evaluate(TINY, data, cfg)
    assert [h["loss"] for h in a.history] == [h["loss"] for h in b.history]
    assert a.oa == b.oa and a.class_acc == b.class_acc
    assert [h["epoch"] for h in a.history if "test_oa" in h] == [2, 3]  # every 2 epochs and the last
    assert a.oa_best == max(h["test_oa"] for h in a.history if "test_oa" in h)
    assert a.arch == TINY and a.arch_id == 397 and a.epochs == 3 and a.device.startswith("cpu")
    assert a.params == count_params(build_model(TINY, 6, 3, 3)) and a.flops == count_flops(TINY, 6, 3, 3)
    assert len(a.class_acc) == 3 and 0 <= a.aa <= 1 and -1 <= a.kappa <= 1
    assert a.train_seconds >= a.eval_seconds > 0
    c = train_and_evaluate(TINY, data, TrainConfig(epochs=1, device="cpu", seed=1, threads=1))
    d = train_and_evaluate(TINY, data, TrainConfig(epochs=1, device="cpu", seed=2, threads=1))
    assert c.history[0]["loss"] != d.history[0]["loss"]
    json.dumps(a.to_dict())
    assert torch.get_num_threads() == threads_before


def test_spectralformer_and_prebuilt_models_train():
    data = _toy()
    r = train_and_evaluate("spectralformer", data, TrainConfig(epochs=1, device="cpu", threads=1))
    assert r.arch == "spectralformer" and r.arch_id is None
    r = train_and_evaluate("ViT", data, TrainConfig(epochs=1, device="cpu", threads=1))
    assert r.arch == "vit" and r.arch_id is None and r.params == count_params(vit_reference(6, 3, 3))
    model = build_model(TINY, 6, 3, 3)
    r = train_and_evaluate(model, data, TrainConfig(epochs=1, device="cpu", threads=1))
    assert r.arch == TINY


def test_a_class_without_test_pixels_has_a_null_recall_in_the_record():
    """Its recall is NaN to compute with (the attribute) and null in the record: NaN is not JSON."""
    r = train_and_evaluate(TINY, _toy(), TrainConfig(epochs=1, test_subset=1, device="cpu", threads=1))
    assert sum(math.isnan(v) for v in r.class_acc) == 2
    record = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert [v is None for v in record["class_acc"]] == [math.isnan(v) for v in r.class_acc]


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (mixed precision path)")
def test_cuda_mixed_precision():
    r = train_and_evaluate(TINY, _toy(), TrainConfig(epochs=2, eval_every=1))
    assert r.device.startswith("cuda") and len(r.history) == 2


@pytest.mark.slow
def test_cli_writes_a_self_describing_json(tmp_path, shared_datasets):
    out = tmp_path / "r.json"
    assert main(["--arch", TINY, "--dataset", "ip", "--root", str(shared_datasets), "--synthetic", "--epochs", "1",
                 "--test-subset", "200", "--threads", "1", "--out", str(out)]) == 0
    r = json.loads(out.read_text())
    for key in ("arch", "arch_id", "dataset", "seed", "epochs", "protocol", "device", "library_version", "oa", "aa",
                "kappa", "class_acc", "oa_best", "train_seconds", "torch_version", "synthetic", "history"):
        assert key in r
    assert r["dataset"] == "indian_pines" and r["synthetic"] is True and len(r["class_acc"]) == 16
    assert r["protocol"] == f"{PROTOCOL}+custom(epochs=1,test_subset=200)"


@pytest.mark.parametrize("bad,message", [
    (["--arch", "0"], "invalid architecture"), (["--arch", "e33-h3333-r1111"], "invalid architecture"),
    (["--dataset", "bogus"], "unknown dataset 'bogus'"), (["--protocol", "bogus"], "cannot read protocol"),
    (["--protocol", "hytas-sampler+lag+lag"], "['lag'] repeated"), (["--epochs", "0"], "epochs must be"),
    (["--batch-size", "0"], "batch_size must be"), (["--eval-every", "-1"], "eval_every must be"),
    (["--seed", "-1"], "seed must be an integer in 0..4294967295, got -1"),
    (["--seed", "99999999999"], "seed must be an integer in 0..4294967295"),
    (["--split-seed", "-1"], "--split-seed must be"), (["--test-subset", "-3"], "test_subset must be"),
    (["--device", "bogus"], "device 'bogus'"), (["--threads", "0"], "threads must be"),
    (["--arch", "spectralformer", "--protocol", "hytas-sampler+caf8"], "caf8 switch"), (["--out", "."], "is a folder"),
])
def test_cli_refuses_bad_arguments_before_loading_data(bad, message, tmp_path, capsys):
    """One line ``error: ...`` and exit status 2, with the argument's own error: the data root is
    empty, so an argument checked only after loading would fail on the missing files instead."""
    assert main(["--arch", TINY, "--dataset", "ip", "--root", str(tmp_path), "--epochs", "1", *bad]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1, err


def test_cli_reports_missing_data_without_a_traceback(tmp_path):
    """The real command, as a user runs it: the typed error of the missing files, no traceback."""
    res = subprocess.run([sys.executable, "-m", "hytasbench.train", "--arch", TINY, "--dataset", "ip", "--root",
                          str(tmp_path)], cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)),
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and res.stderr.startswith("error: ") and "Traceback" not in res.stderr, res.stderr
    assert "indian_pines" in res.stderr


@pytest.mark.parametrize("setting,error,message", [
    ({"seed": -1}, InvalidArgumentError, "seed must be an integer in 0..4294967295"),
    ({"seed": 2 ** 32}, InvalidArgumentError, "seed must be"), ({"seed": 1.5}, InvalidArgumentError, "seed must be"),
    ({"threads": 0}, InvalidArgumentError, "threads must be"), ({"device": "bogus"}, InvalidArgumentError, "bogus"),
    ({"device": "cuda:99"}, InvalidArgumentError, "cuda:99"),
    ({"test_subset": -3}, InvalidProtocolError, "test_subset must be"),
    ({"test_subset": 0}, InvalidProtocolError, "test_subset must be"),
])
def test_library_callers_get_typed_errors_for_bad_settings(setting, error, message):
    """train_and_evaluate checks the config first: the same typed errors as the CLI."""
    with pytest.raises(error, match=message):
        train_and_evaluate(TINY, _toy(), TrainConfig(epochs=1, **{"device": "cpu", "threads": 1, **setting}))


def test_learns_on_a_toy_scene(toy280):
    """The same quick protocol on the toy scene (3 classes, 6 bands): the loss falls and the test
    set is classified far above chance; the default run's check that training learns at all."""
    cfg = TrainConfig(epochs=5, batch_size=32, lr=1e-3, warmup_epochs=0, drop_path=0.0, eval_every=5,
                      threads=1, device="cpu")
    r = train_and_evaluate(TINY, toy280, cfg)
    losses = [h["loss"] for h in r.history]
    assert losses[-1] < losses[0] - 0.3
    assert r.oa > 0.8 and r.kappa > 0.6  # chance: OA 1/3, kappa 0


@pytest.mark.slow
def test_learns_on_real_indian_pines(shared_datasets):
    """Five quick epochs (higher lr, no warm-up) of the smallest architecture on the real data
    (about 20 s of one core; one thread because a shared, busy machine stalls OpenMP barriers)."""
    data = load_dataset("indian_pines", shared_datasets)
    cfg = TrainConfig(epochs=5, batch_size=32, lr=1e-3, warmup_epochs=0, drop_path=0.0, eval_every=5,
                      test_subset=500, threads=1, device="cpu")
    r = train_and_evaluate(TINY, data, cfg)
    losses = [h["loss"] for h in r.history]
    assert losses[-1] < losses[0] - 0.3
    assert r.history[-1]["train_acc"] > 0.25
    # chance: AA 1/16; always answering the biggest class: OA 0.25, kappa 0
    assert r.aa > 0.25 and r.kappa > 0.15 and r.oa > 0.28


def test_hytas_epoch_order():
    """Indian Pines under upstream's sampler: one step per epoch of 5 GPUs x 64 = 320 entries, each
    pixel repeated 3 times in a row (the first 320 entries of the repeated permutation)."""
    from hytasbench.train import hytas_epoch_order

    order = hytas_epoch_order(695, 64, torch.Generator().manual_seed(0))
    assert order.shape == (320,)
    assert torch.equal(order[0::3], order[1::3][:107]) and torch.equal(order[0::3][:106], order[2::3])
    assert len(order.unique()) == 107
    assert hytas_epoch_order(3921, 64, torch.Generator().manual_seed(0)).shape == (12 * 320,)  # PaviaU
    with pytest.raises(ValueError, match="no full batch"):
        hytas_epoch_order(255, 64, torch.Generator())
    toy = _toy()  # 70 training and 280 test pixels: swap them to have >= 256 training pixels
    swapped = dataclasses.replace(toy, train_rc=toy.test_rc, train_labels=toy.test_labels,
                                  test_rc=toy.train_rc, test_labels=toy.train_labels)
    r = train_and_evaluate(TINY, swapped, TrainConfig(epochs=1, epoch_sampler="hytas", batch_size=16, device="cpu",
                                                      threads=1, test_subset=10))
    assert r.protocol == "hytas-sampler+custom(epochs=1,batch_size=16,test_subset=10)"
    with pytest.raises(ValueError, match="epoch_sampler"):
        train_and_evaluate(TINY, _toy(), TrainConfig(epochs=1, epoch_sampler="nope"))
    with pytest.raises(ValueError, match="epochs must be an integer >= 1"):
        train_and_evaluate(TINY, _toy(), TrainConfig(epochs=0))
