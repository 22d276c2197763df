"""Protocol names and the switches of the emulated upstream sampler, each on a tiny real run."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from builders.units import protocol_tag, train_columns
from hytasbench import protocols
from hytasbench.datasets.load import HSIData
from hytasbench.errors import InvalidProtocolError
from hytasbench.model import build_model, count_params
from hytasbench.train import (HYTAS_SAMPLER_FULL, TrainConfig, epoch_generator, hytas_epoch_order, lr_at,
                              train_and_evaluate, training_pixels)

TINY = "e32-h4534-r1412"  # HyTAS-2000 id 397


def _run(protocol: str, data: HSIData, **kw):
    cfg = TrainConfig.for_protocol(protocol, **{"epochs": 3, "batch_size": 16, "device": "cpu", "threads": 1,
                                                "test_subset": 10, **kw})
    return train_and_evaluate(TINY, data, cfg)


def test_names_say_which_emulation():
    assert TrainConfig().protocol_name() == "hytasbench-v1"
    assert TrainConfig(epoch_sampler="hytas").protocol_name() == "hytas-sampler"
    assert TrainConfig(epoch_sampler="hytas", schedule_lag=True).protocol_name() == "hytas-sampler+lag"
    assert TrainConfig(epoch_sampler="hytas", caf_fusions=8).protocol_name() == "hytas-sampler+caf8"
    assert TrainConfig(epoch_sampler="hytas", epoch_seeded_order=True).protocol_name() == "hytas-sampler+epoch-order"
    full = TrainConfig.for_protocol(HYTAS_SAMPLER_FULL)
    assert full.protocol_name() == "hytas-sampler+lag+caf8+epoch-order"
    assert (full.epoch_sampler, full.schedule_lag, full.caf_fusions, full.epoch_seeded_order) == ("hytas", True, 8, True)
    # switches in any order read back to the canonical name; other deviations are spelled out
    assert protocols.canonical("hytas-sampler+epoch-order+lag") == "hytas-sampler+lag+epoch-order"
    assert TrainConfig.for_protocol("hytas-sampler+caf8", epochs=5).protocol_name() == \
        "hytas-sampler+caf8+custom(epochs=5)"
    for name in protocols.HYTAS_SAMPLER_SINGLE + (HYTAS_SAMPLER_FULL, "hytasbench-v1", "hytas-sampler"):
        assert TrainConfig.for_protocol(name).protocol_name() == name


def test_a_repeated_switch_is_refused_not_collapsed():
    for name in ("hytas-sampler+lag+lag", "hytasbench-v1+caf8+lag+caf8"):
        with pytest.raises(InvalidProtocolError, match="repeated"):
            protocols.parse(name)
    with pytest.raises(InvalidProtocolError, match="repeated"):
        protocols.make_name(protocols.HYTAS_SAMPLER, ("lag", "lag"))


def test_switches_apply_under_the_hytasbench_v1_base(toy280):
    """A switch on our base is a real protocol: the trainer applies each (the schedule lag, eight
    fusions, the epoch-seeded order), so the name is kept, not refused."""
    name = "hytasbench-v1+lag+caf8+epoch-order"
    r = _run(name, toy280, epochs=2)
    assert r.protocol == name + "+custom(epochs=2,batch_size=16,test_subset=10)"
    assert [h["lr"] for h in r.history] == pytest.approx([1e-6, 1e-6])
    assert r.params == count_params(build_model(TINY, 6, 3, 3, fusions=8))
    cfg = TrainConfig.for_protocol(name)
    assert (cfg.epoch_sampler, cfg.epoch_seeded_order) == ("epoch", True)
    assert epoch_generator(cfg, 1, torch.Generator().manual_seed(7)).initial_seed() == 1


def test_older_names_stay_readable():
    assert protocols.canonical("hytasbench-v1+custom(epoch_sampler=hytas)") == "hytas-sampler"
    assert protocols.canonical("hytasbench-v1+custom(epochs=1,batch_size=16,test_subset=10,epoch_sampler=hytas)") \
        == "hytas-sampler+custom(epochs=1,batch_size=16,test_subset=10)"
    assert "emulation" in protocols.describe("hytasbench-v1+custom(epoch_sampler=hytas)")
    assert "not the protocol behind the published OA" in protocols.describe("hytasbench-v1")
    assert "take_fewshot" in protocols.describe(protocols.PUBLISHED)
    text = protocols.describe(HYTAS_SAMPLER_FULL)
    assert "scheduler lag" in text and "eight CAF" in text and "seeded with e" in text
    for bad in ("hytas-samplr", "hytas-sampler+lagg", "", "hytas-sampler+custom(epochs=1"):
        with pytest.raises(InvalidProtocolError):
            protocols.parse(bad)
    with pytest.raises(InvalidProtocolError, match="custom"):
        TrainConfig.for_protocol("hytas-sampler+custom(epochs=1)")


def test_work_dir_tags_stable_and_distinct():
    assert protocol_tag("hytasbench-v1") == ""  # keys of earlier builds unchanged
    assert protocol_tag("hytasbench-v1+custom(epochs=2,test_subset=200)") == "e2-t200"
    names = ["hytasbench-v1", "hytasbench-v1+custom(epochs=2)", "hytas-sampler", "hytas-sampler+custom(epochs=2)",
             *protocols.HYTAS_SAMPLER_SINGLE, HYTAS_SAMPLER_FULL, "hytas-sampler+lag+caf8",
             "hytasbench-v1+custom(lr=0.001)", "hytas-sampler+custom(lr=0.001)"]
    tags = [protocol_tag(n) for n in names]
    assert len(set(tags)) == len(tags), dict(zip(names, tags))
    assert protocol_tag("hytasbench-v1+custom(epoch_sampler=hytas)") == protocol_tag("hytas-sampler") == "hs"
    assert protocol_tag(HYTAS_SAMPLER_FULL) == "hs-lag-caf8-eo"


def test_lag_switch_keeps_epochs_0_and_1_at_the_warmup_rate(toy280):
    plain, lagged = _run("hytas-sampler", toy280), _run("hytas-sampler+lag", toy280)
    cfg = TrainConfig()
    assert [h["lr"] for h in plain.history] == pytest.approx([1e-6, lr_at(1, cfg), lr_at(2, cfg)])
    assert [h["lr"] for h in lagged.history] == pytest.approx([1e-6, 1e-6, lr_at(1, cfg)])
    assert lagged.protocol == "hytas-sampler+lag+custom(epochs=3,batch_size=16,test_subset=10)"
    # the whole schedule is shifted by one epoch: the last epoch trains at the rate of the one before
    full = TrainConfig(schedule_lag=True)
    assert lr_at(299, full) == lr_at(298, cfg) and lr_at(5, full) == pytest.approx(1e-6 + 4 * (3.125e-4 - 1e-6) / 5)


def test_caf8_switch_trains_eight_fusions(toy280):
    plain, eight = _run("hytas-sampler", toy280, epochs=1), _run("hytas-sampler+caf8", toy280, epochs=1)
    assert plain.params == count_params(build_model(TINY, 6, 3, 3))
    assert eight.params == count_params(build_model(TINY, 6, 3, 3, fusions=8))
    per_fusion = 2 * 7 * 7 + 7  # Conv2d(7, 7, (1, 2)) over 6 band tokens + the class token
    assert eight.params - plain.params == 6 * per_fusion and eight.flops > plain.flops
    assert eight.config["caf_fusions"] == 8
    with pytest.raises(InvalidProtocolError, match="caf8"):
        train_and_evaluate("spectralformer", toy280, TrainConfig(caf_fusions=8, epochs=1, device="cpu"))


def _upstream_rank_batches(perm: list, rank: int, world: int = 5, batch: int = 64) -> list:
    """Batches of one GPU in one epoch, following upstream's RASampler (lib/samplers.py) and its
    DataLoader with drop_last: each index 3 times in a row, padded to a multiple of the world size,
    every world-th entry from the rank on, the first floor(n // 256 * 256 / world), full batches."""
    n = len(perm)
    num_samples = int(math.ceil(n * 3.0 / world))
    total = num_samples * world
    indices = [e for e in perm for _ in range(3)]
    indices += indices[:total - len(indices)]
    mine = indices[rank:total:world][:int(math.floor(n // 256 * 256 / world))]
    return [mine[i:i + batch] for i in range(0, len(mine) - batch + 1, batch)]


@pytest.mark.parametrize("n", [695, 3921])  # Indian Pines (1 step per epoch), PaviaU (12 steps)
def test_step_is_the_five_gpu_batches_of_upstream(n):
    """A step of the emulation holds exactly the entries of upstream's five per-GPU batches of
    that step: the five-GPU batch composition is already what hytas-sampler trains on."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(3)).tolist()
    ours = hytas_epoch_order(n, 64, torch.Generator().manual_seed(3))
    ranks = [_upstream_rank_batches(perm, r) for r in range(5)]
    assert len(ours) == 320 * len(ranks[0])
    for k in range(len(ranks[0])):
        step = sorted(ours[320 * k:320 * (k + 1)].tolist())
        assert step == sorted(sum((ranks[r][k] for r in range(5)), []))


def test_five_gpu_gradient_average_is_the_320_batch_gradient():
    """All-reduce of five GPUs' gradients of their mean losses over 64 = gradient of the mean loss
    over the 320 (no batch-dependent layer in the model): why no switch is needed for it."""
    torch.manual_seed(0)
    model = build_model(TINY, 6, 3, 3, drop_path=0.0).train()
    x, y = torch.randn(320, 6, 147), torch.randint(0, 3, (320,))
    whole = torch.autograd.grad(F.cross_entropy(model(x), y), list(model.parameters()))
    parts = [torch.autograd.grad(F.cross_entropy(model(x[r::5]), y[r::5]), list(model.parameters()))
             for r in range(5)]
    for g, *gs in zip(whole, *parts):
        assert torch.allclose(g, torch.stack(gs).mean(0), atol=1e-7, rtol=1e-4)


def test_epoch_order_switch_gives_every_run_the_same_data(toy280):
    runs = [TrainConfig(seed=s, epoch_sampler="hytas", epoch_seeded_order=on) for s in (0, 1) for on in (False, True)]
    orders = [[hytas_epoch_order(695, 64, epoch_generator(c, e, g)).tolist() for e in range(3)]
              for c in runs for g in [torch.Generator().manual_seed(c.seed)]]
    assert orders[1] == orders[3] and orders[0] != orders[2]  # seed-independent only with the switch
    assert orders[1][0] != orders[1][1]  # a new permutation each epoch
    upstream = torch.randperm(695, generator=torch.Generator().manual_seed(2))  # RASampler after set_epoch(2)
    assert orders[1][2] == upstream.repeat_interleave(3)[:320].tolist()
    data = toy280
    rc, y = training_pixels(data, runs[1])
    assert np.array_equal(y, np.sort(data.train_labels)) and sorted(map(tuple, rc)) == sorted(map(tuple, data.train_rc))
    for c in range(3):  # row-major within a class, as upstream's chooose_train_and_test_point
        assert np.array_equal(rc[y == c], data.train_rc[data.train_labels == c])
    a, b = (_run("hytas-sampler+epoch-order", data, epochs=1, seed=s) for s in (0, 1))
    assert a.protocol == b.protocol == "hytas-sampler+epoch-order+custom(epochs=1,batch_size=16,test_subset=10)"
    assert a.history[0]["loss"] != b.history[0]["loss"]  # the seed still sets the initialisation


def test_result_columns_use_todays_name(toy280):
    r = dataclasses.asdict(_run("hytas-sampler", toy280, epochs=1))
    r["protocol"] = "hytasbench-v1+custom(epoch_sampler=hytas)"
    assert train_columns(r)["protocol"] == "hytas-sampler"
