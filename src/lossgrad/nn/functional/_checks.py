"""Validation helpers shared by the losses: torch's exception classes, messages that show the
offending shape or value."""

from __future__ import annotations

import warnings
from typing import Any

from lossgrad._tensor import Tensor


def warn_if_broadcast(input: Tensor, target: Tensor) -> None:
    """l1/mse/smooth_l1/huber warn when the target size differs from the input size."""
    if target.shape != input.shape:
        warnings.warn(
            f"Using a target size ({target.size()}) that is different to the input size "
            f"({input.size()}). This will likely lead to incorrect results due to broadcasting. "
            "Please ensure they have the same size.",
            stacklevel=3,
        )


def check_same_size(input: Tensor, target: Tensor) -> None:
    """BCE-style losses: ValueError when target and input sizes differ."""
    if target.shape != input.shape:
        raise ValueError(
            f"Using a target size ({target.size()}) that is different to the input size "
            f"({input.size()}) is deprecated. Please ensure they have the same size."
        )


def check_tensor(value: Any, name: str) -> Tensor:
    """TypeError unless ``value`` is a Tensor (losses take tensors, as in torch)."""
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a Tensor, got {type(value).__name__}")
    return value
