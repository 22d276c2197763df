"""Resumable training runs: the whole state of a run at an evaluation point, in one file.

A CPU run of 300 epochs takes about half an hour of a core; a session that ends or a kill would
lose it all. With a checkpoint a run loses at most the epochs since its last evaluation, and the
resumed run continues from the same model, optimiser, gradient-scaler and random-generator states,
so its result is the one an uninterrupted run gives (tests/test_train_checkpoint.py). A checkpoint
names the run it belongs to (architecture, dataset files, protocol and run settings but the
progress bar); another run refuses it with a CheckpointError instead of continuing the wrong run.
"""
from __future__ import annotations

import dataclasses
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import torch

from .errors import CheckpointError
from .tables import atomic_write_bytes

FORMAT = 1
#: Config fields added after checkpoints of this format were first written, each with the value
#: that does what the code did before it existed: a checkpoint without the field was written by
#: that code, so it is the same run as one with the field at that value (and only then).
ADDED_FIELDS: Dict[str, Any] = {"embed_init": "trunc-normal", "shared_init": False}


@dataclass
class Progress:
    """What a run has done so far besides its tensors: ``epoch`` epochs finished."""

    epoch: int = 0
    history: List[Dict[str, float]] = field(default_factory=list)
    best: float = -1.0
    best_epoch: int = 0
    cm: Optional[np.ndarray] = None
    eval_seconds: float = 0.0
    seconds: float = 0.0  # wall seconds of the earlier segments of the run


def identity(arch: str, data: Any, config: Any) -> Dict[str, Any]:
    """What makes two runs the same run."""
    settings = {k: v for k, v in dataclasses.asdict(config).items() if k != "progress"}
    return {"format": FORMAT, "arch": arch, "dataset": data.name, "split_seed": data.split_seed,
            "synthetic": bool(data.synthetic), "files": {str(k): str(v) for k, v in dict(data.files).items()},
            "config": {k: v if isinstance(v, (int, float, str, bool, type(None))) else str(v)
                       for k, v in settings.items()}}


def _with_added_fields(saved: Any) -> Any:
    """A saved identity with the fields it predates at the value that reproduces its code."""
    config = saved.get("config") if isinstance(saved, dict) else None
    if not isinstance(config, dict):
        return saved
    return {**saved, "config": {**{k: v for k, v in ADDED_FIELDS.items() if k not in config}, **config}}


def save(path: Path, ident: Dict[str, Any], progress: Progress, model: torch.nn.Module,
         optimizer: torch.optim.Optimizer, scaler: Any, shuffle: torch.Generator, device: torch.device) -> None:
    """Write the checkpoint atomically (a kill while saving leaves the previous one)."""
    state = {"identity": ident, "progress": {**dataclasses.asdict(progress),
                                             "cm": None if progress.cm is None else progress.cm.tolist()},
             "model": model.state_dict(), "optimizer": optimizer.state_dict(), "scaler": scaler.state_dict(),
             "shuffle": shuffle.get_state(), "torch_rng": torch.get_rng_state(),
             "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def restore(path: Path, ident: Dict[str, Any], model: torch.nn.Module, optimizer: torch.optim.Optimizer,
            scaler: Any, shuffle: torch.Generator, device: torch.device) -> Progress:
    """Load the run's state into the fresh objects; a run without a checkpoint starts at epoch 0."""
    if not path.exists():
        return Progress()
    try:
        state = torch.load(path, map_location=device, weights_only=True)
        saved = state["identity"]
    except Exception as exc:  # torch raises several types for a damaged file
        raise CheckpointError(f"training checkpoint {path} cannot be read ({type(exc).__name__}: {exc}); "
                              "delete it to start the run over") from None
    saved = _with_added_fields(saved)
    if saved != ident:
        diff = sorted(k for k in set(saved) | set(ident) if saved.get(k) != ident.get(k))
        if "config" in diff:
            diff = [d for d in diff if d != "config"] + [
                f"config.{k}" for k in sorted(set(saved["config"]) | set(ident["config"]))
                if saved["config"].get(k) != ident["config"].get(k)]
        raise CheckpointError(f"training checkpoint {path} belongs to another run (differs in {', '.join(diff)}); "
                              "use another --checkpoint path or delete it")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scaler.load_state_dict(state["scaler"])
    shuffle.set_state(state["shuffle"])
    torch.set_rng_state(state["torch_rng"])
    if state["cuda_rng"] is not None and device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda_rng"], device)
    progress = Progress(**state["progress"])
    progress.cm = None if progress.cm is None else np.asarray(progress.cm, dtype=np.int64)
    return progress
