"""Dataset registry: names, aliases and the facts every other module needs. Torch-free."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Tuple

from ..errors import UnknownDatasetError


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    title: str
    shape: Tuple[int, int]
    bands: int
    num_classes: int
    band_patch: int
    aliases: Tuple[str, ...] = ()
    upstream: str = ""  # the authors' folder name under outputs/ and results/


DATASETS: Dict[str, DatasetSpec] = {s.name: s for s in (
    DatasetSpec("indian_pines", "Indian Pines", (145, 145), 200, 16, 3,
                ("indian", "indianpines", "indian-pines", "ip", "in"), "indian"),
    DatasetSpec("salinas", "Salinas", (512, 217), 204, 16, 3, ("sa", "salinas_corrected"), "salinas"),
    DatasetSpec("houston2013", "Houston 2013", (349, 1905), 144, 15, 3,
                ("houston", "houston13", "houston-2013", "hu", "dfc2013"), "houston"),
    DatasetSpec("paviau", "Pavia University", (610, 340), 103, 9, 7,
                ("pavia", "pavia_u", "pavia-u", "paviauniversity", "pavia_university", "pu", "up"), "pavia"),
    DatasetSpec("ksc", "Kennedy Space Center", (512, 614), 176, 13, 1, ("kennedy", "kennedy_space_center"), "ksc"),
)}

_LOOKUP: Dict[str, str] = {}
for _spec in DATASETS.values():
    for _key in (_spec.name,) + _spec.aliases:
        _LOOKUP[_key] = _spec.name


def canonical_name(name: object) -> str:
    """Map a dataset name or alias (case-insensitive) to its canonical id, or raise."""
    if isinstance(name, str):
        key = name.strip().lower().replace(" ", "_")
        if key in _LOOKUP:
            return _LOOKUP[key]
    raise UnknownDatasetError(name, [f"{s.name} (or {', '.join(s.aliases[:2])})" for s in DATASETS.values()])


def get_spec(name: object) -> DatasetSpec:
    return DATASETS[canonical_name(name)]
