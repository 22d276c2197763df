"""The CUDA path against the CPU path it must agree with: on-device batch gathering, fp32 training,
proxy scores, and the builder with two workers on one GPU. Skipped without a CUDA device;
``benchmarks/gpu_check.py`` runs them (``pytest -m cuda``) on a GPU machine."""
from __future__ import annotations

import math
import os
import subprocess
import sys

import pytest
import torch

from conftest import DATASETS_DIR, REPO, need
from hytasbench.datasets.samples import PatchSampler
from hytasbench.train import TrainConfig, train_and_evaluate

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

SMALLEST = "e32-h4534-r1412"  # HyTAS-2000 id 397

from test_train import _toy  # noqa: E402  (the same small synthetic scene as the CPU training tests)


def test_batches_gathered_on_the_gpu_equal_the_cpu_ones():
    data = _toy()
    rc = torch.as_tensor(data.test_rc)
    cpu = PatchSampler(data.cube, data.band_patch)(rc)
    gpu = PatchSampler(data.cube, data.band_patch, "cuda")(rc.cuda())
    assert gpu.device.type == "cuda" and gpu.shape == cpu.shape
    assert torch.equal(gpu.cpu(), cpu)


def test_fp32_training_on_the_gpu_follows_the_cpu_run():
    """Same seed, no drop path (its random masks are drawn on the device), no autocast: the GPU run
    must track the CPU run up to floating-point differences."""
    data = _toy()
    cfg = dict(epochs=3, eval_every=1, drop_path=0.0, amp=False, threads=1)
    cpu = train_and_evaluate(SMALLEST, data, TrainConfig(device="cpu", **cfg))
    gpu = train_and_evaluate(SMALLEST, data, TrainConfig(device="cuda", **cfg))
    assert gpu.device.startswith("cuda") and cpu.device.startswith("cpu")
    for a, b in zip(cpu.history, gpu.history):
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-3), (cpu.history, gpu.history)
    assert abs(gpu.oa - cpu.oa) <= 0.05


def test_proxy_scores_on_the_gpu_match_the_cpu_ones():
    need(DATASETS_DIR / "indian_pines" / "Indian_pines_gt.mat", "the Indian Pines label map")
    from hytasbench.proxies.engine import score_architecture

    kw = dict(seed=0, data_root=str(DATASETS_DIR), synthetic=True)
    cpu = score_architecture(SMALLEST, "indian_pines", device="cpu", **kw)
    gpu = score_architecture(SMALLEST, "indian_pines", device="cuda", **kw)
    scalars = [k for k, v in cpu.items() if k.startswith("proxy_") and isinstance(v, float) and math.isfinite(v)
               and not k.endswith("__seconds")]
    assert len(scalars) >= 13
    off = {k: (cpu[k], gpu.get(k)) for k in scalars
           if not (isinstance(gpu.get(k), float) and gpu[k] == pytest.approx(cpu[k], rel=2e-2, abs=1e-6))}
    assert not off, f"proxy scores differing by more than 2 % between CPU and GPU: {off}"


def test_builder_with_two_workers_on_one_gpu(tmp_path):
    need(DATASETS_DIR / "indian_pines" / "Indian_pines_gt.mat", "the Indian Pines label map")
    from hytasbench import Benchmark

    out = tmp_path / "tables"
    cmd = [sys.executable, "-m", "builders.build", "--gpu", "0,0", "--datasets", "indian_pines", "--synthetic", "all",
           "--archs", "121,397", "--kind", "both", "--epochs", "2", "--test-subset", "128", "--data-root",
           str(DATASETS_DIR), "--work", str(tmp_path / "work"), "--out", str(out), "--source", "gpu", "--quiet"]
    env = dict(os.environ, PYTHONPATH=str(REPO), HYTASBENCH_CACHE=str(tmp_path / "cache"))
    res = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    bench = Benchmark(source=out)
    for arch_id in (121, 397):
        rec = bench.query(arch_id, "indian_pines")
        assert 0.0 <= rec.oa <= 1.0 and rec["device"].startswith("cuda")
        assert sum(v is not None for v in rec.proxies.values()) >= 13, rec.proxies
