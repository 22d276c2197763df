"""The five HyTAS datasets: specs (torch-free) and, with the torch extra, loading and samples."""
from .specs import DATASETS, DatasetSpec, canonical_name, get_spec  # noqa: F401
