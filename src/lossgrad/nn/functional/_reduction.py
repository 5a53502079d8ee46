"""The one home of reduction logic: legacy flags, validation, and applying a reduction.

Every loss calls :func:`resolve` first (legacy ``size_average``/``reduce`` with torch's truth
table and warning, the deprecated ``'elementwise_mean'``, ValueError for unknown values), then
:func:`apply` last. Weighted means, ``'batchmean'`` and CTC's per-length mean are a
``denominator``, not special cases inside the losses.
"""

from __future__ import annotations

import warnings
from typing import Any

from lossgrad._tensor import Tensor

_VALID = ("none", "mean", "sum")


def legacy_get_string(size_average: bool | None, reduce: bool | None, emit_warning: bool = True) -> str:
    """torch's truth table: each None counts as True; ``reduce=False`` wins."""
    warning = "size_average and reduce args will be deprecated, please use reduction='{}' instead."
    if size_average is None:
        size_average = True
    if reduce is None:
        reduce = True
    if size_average and reduce:
        ret = "mean"
    elif reduce:
        ret = "sum"
    else:
        ret = "none"
    if emit_warning:
        warnings.warn(warning.format(ret), stacklevel=3)
    return ret


def resolve(
    reduction: str,
    size_average: bool | None = None,
    reduce: bool | None = None,
    allowed: tuple[str, ...] = _VALID,
) -> str:
    """The effective reduction string; legacy flags override ``reduction`` when either is set."""
    if size_average is not None or reduce is not None:
        return legacy_get_string(size_average, reduce)
    if reduction == "elementwise_mean":
        warnings.warn(
            "reduction='elementwise_mean' is deprecated. Please use reduction='mean' instead.",
            stacklevel=3,
        )
        return "mean"
    if reduction not in allowed:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return reduction


def apply(loss: Tensor, reduction: str, denominator: Any = None) -> Tensor:
    """Reduce an unreduced loss: 'none' keeps it, 'sum' adds it up, 'mean' divides the sum by
    ``denominator`` (a number or 0-d Tensor) or, when None, by the number of elements."""
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if denominator is None:
        return loss.mean()
    return loss.sum() / denominator
