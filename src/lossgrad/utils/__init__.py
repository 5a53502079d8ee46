"""lossgrad.utils: torch.utils's ``data`` package (datasets, samplers, DataLoader)."""
"""lossgrad.utils: torch.utils's names (data loading)."""

from lossgrad.utils import data

__all__ = ["data"]
