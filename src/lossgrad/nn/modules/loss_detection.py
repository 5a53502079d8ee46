"""Modules of the box losses (lossgrad extensions; torchvision.ops has only the functions)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lossgrad._exports import public_names
from lossgrad._tensor import Tensor
from lossgrad.nn import functional as F
from lossgrad.nn.modules.module import Module


class _BoxLoss(Module):
    def __init__(self, reduction: str = "none", eps: float = 1e-7) -> None:
        super().__init__()
        self.reduction = reduction
        self.eps = eps

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, eps={self.eps}"


class GeneralizedBoxIoULoss(_BoxLoss):
    """``1 - GIoU`` of matched box pairs (see ``F.generalized_box_iou_loss``)."""

    def forward(self, boxes1: Tensor, boxes2: Tensor) -> Tensor:
        return F.generalized_box_iou_loss(boxes1, boxes2, self.reduction, self.eps)


class DistanceBoxIoULoss(_BoxLoss):
    """``1 - IoU + rho^2 / c^2`` of matched box pairs (see ``F.distance_box_iou_loss``)."""

    def forward(self, boxes1: Tensor, boxes2: Tensor) -> Tensor:
        return F.distance_box_iou_loss(boxes1, boxes2, self.reduction, self.eps)


class CompleteBoxIoULoss(_BoxLoss):
    """DIoU loss plus the aspect term ``alpha v`` (see ``F.complete_box_iou_loss``)."""

    def forward(self, boxes1: Tensor, boxes2: Tensor) -> Tensor:
        return F.complete_box_iou_loss(boxes1, boxes2, self.reduction, self.eps)


if not TYPE_CHECKING:  # see lossgrad._exports
    __all__ = public_names(globals())
