"""Offline builders and importers, run as ``python -m builders.<name>``."""
