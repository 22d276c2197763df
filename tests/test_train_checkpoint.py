"""Resumable training (hytasbench.checkpoint): a run killed after an evaluation continues from its
checkpoint to exactly the result of an uninterrupted run; a checkpoint of another run or a damaged
one is refused with a typed error."""
from __future__ import annotations

import dataclasses

import pytest

torch = pytest.importorskip("torch")

import hytasbench.train as train_mod  # noqa: E402
from hytasbench.errors import CheckpointError  # noqa: E402
from hytasbench.train import TrainConfig, train_and_evaluate  # noqa: E402

TINY = "e32-h4534-r1412"  # HyTAS-2000 id 397


def _config(**kw) -> TrainConfig:
    return TrainConfig(**{"epochs": 6, "eval_every": 2, "threads": 1, "device": "cpu", "seed": 3,
                          "epoch_sampler": "hytas", "batch_size": 16, "drop_path": 0.1, **kw})


class Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs in the process."""


def _interrupted(monkeypatch, data, cfg, path, at_call: int) -> None:
    real, calls = train_mod.evaluate, {"n": 0}

    def evaluate(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == at_call:
            raise Killed()
        return real(*args, **kwargs)

    monkeypatch.setattr(train_mod, "evaluate", evaluate)
    with pytest.raises(Killed):
        train_and_evaluate(TINY, data, cfg, checkpoint=path)
    monkeypatch.setattr(train_mod, "evaluate", real)


def test_a_killed_run_resumes_to_the_uninterrupted_result(toy280, tmp_path, monkeypatch):
    cfg = _config()
    straight = train_and_evaluate(TINY, toy280, cfg)
    path = tmp_path / "run.ckpt"
    _interrupted(monkeypatch, toy280, cfg, path, at_call=3)  # killed in epoch 6's evaluation, after epoch 4's save
    assert path.exists()
    real, calls = train_mod.evaluate, []
    monkeypatch.setattr(train_mod, "evaluate", lambda *a, **k: calls.append(1) or real(*a, **k))
    resumed = train_and_evaluate(TINY, toy280, cfg, checkpoint=path)
    assert len(calls) == 1  # only epoch 6 ran again: epochs 1-4 came from the checkpoint
    assert resumed.history == straight.history  # every loss, accuracy and test OA, exactly
    assert (resumed.oa, resumed.aa, resumed.kappa, resumed.class_acc) == \
        (straight.oa, straight.aa, straight.kappa, straight.class_acc)
    assert (resumed.oa_best, resumed.oa_best_epoch) == (straight.oa_best, straight.oa_best_epoch)
    assert not path.exists()  # a finished run removes its checkpoint


def test_a_checkpoint_of_another_run_is_refused(toy280, tmp_path, monkeypatch):
    path = tmp_path / "run.ckpt"
    _interrupted(monkeypatch, toy280, _config(), path, at_call=2)
    with pytest.raises(CheckpointError, match="config.seed"):
        train_and_evaluate(TINY, toy280, _config(seed=4), checkpoint=path)
    with pytest.raises(CheckpointError, match="arch"):
        train_and_evaluate("e32-h4534-r1411", toy280, _config(), checkpoint=path)
    other = dataclasses.replace(toy280, name="toy2")
    with pytest.raises(CheckpointError, match="dataset"):
        train_and_evaluate(TINY, other, _config(), checkpoint=path)
    path.write_bytes(path.read_bytes()[:100])  # damaged
    with pytest.raises(CheckpointError, match="cannot be read"):
        train_and_evaluate(TINY, toy280, _config(), checkpoint=path)
