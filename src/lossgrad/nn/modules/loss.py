"""The ``nn.*Loss`` modules: thin classes that store options and call the functional.

``_Loss`` resolves the legacy ``size_average``/``reduce`` flags once, at construction (as torch
does); ``_WeightedLoss`` registers ``weight`` as a buffer so it follows ``.to()`` and
``state_dict``.
"""

from __future__ import annotations

from lossgrad._exports import public_names
from lossgrad._tensor import Tensor
from lossgrad.nn import functional as F
from lossgrad.nn.functional import _reduction
from lossgrad.nn.modules.module import Module


class _Loss(Module):
    reduction: str

    def __init__(self, size_average: bool | None = None, reduce: bool | None = None, reduction: str = "mean") -> None:
        super().__init__()
        if size_average is not None or reduce is not None:
            self.reduction = _reduction.legacy_get_string(size_average, reduce)
        else:
            self.reduction = reduction


class _WeightedLoss(_Loss):
    def __init__(self, weight: Tensor | None = None, size_average: bool | None = None, reduce: bool | None = None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)
        self.weight: Tensor | None


# -- regression ------------------------------------------------------------------------------------


class MSELoss(_Loss):
    """Mean squared error, ``(x - y)^2``, reduced (see ``F.mse_loss``)."""

    def __init__(self, size_average: bool | None = None, reduce: bool | None = None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.mse_loss(input, target, reduction=self.reduction)


# -- probability (BCE, BCEWithLogits, KLDiv, PoissonNLL, GaussianNLL, SoftMargin, MultiLabelSoftMargin)


# -- classification (NLL, NLL2d, CrossEntropy, Focal, SigmoidFocal) ---------------------------------


# -- margin and embedding (MultiMargin, MultiLabelMargin, MarginRanking, HingeEmbedding, ...) -------


# -- CTC --------------------------------------------------------------------------------------------


__all__ = public_names(globals())
