"""The device a row was computed on, as its ``device`` provenance column says it.

One spelling for every kind of row (training, proxies, live recompute), so that rows of one table
can be grouped by hardware: ``cuda:<GPU name>`` or ``cpu:<CPU model> x<N> threads``. Proxy and
cost rows of tables built before issue 16 say ``cpu:<platform.machine()> x<N> threads`` instead
(e.g. ``cpu:x86_64 x1 threads``, next to ``cpu:Intel(R) Xeon(R) Processor x1 threads`` on trained
rows); both start with ``cpu:``, which is all a reader may rely on.
"""
from __future__ import annotations

import platform
from pathlib import Path
from typing import Any


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name(device: Any) -> str:
    """Provenance text for work on ``device`` (a torch device or 'cpu', 'cuda', 'cuda:N')."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return f"cpu:{cpu_model()} x{torch.get_num_threads()} threads"
