"""lossgrad.utils: torch.utils's ``data`` package (datasets, samplers, DataLoader)."""

from lossgrad.utils import data

__all__ = ["data"]
