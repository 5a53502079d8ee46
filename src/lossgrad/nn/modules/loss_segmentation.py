"""Modules of the segmentation losses (lossgrad extensions): each stores its options and calls
the functional of the same name in ``lossgrad.nn.functional.loss_segmentation``.

Constructor keywords are the functional's (MONAI's names and defaults), so
``nn.DiceLoss(**kw)(x, y) == F.dice_loss(x, y, **kw)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from lossgrad._exports import public_names
from lossgrad._tensor import Tensor
from lossgrad.nn import functional as F
from lossgrad.nn.modules.module import Module


class _OptionsLoss(Module):
    """A loss module that keeps its constructor's keywords in ``options`` and passes them on."""

    def __init__(self, options: dict[str, Any]) -> None:
        super().__init__()
        self.options = {
            name: value for name, value in options.items() if name not in ("self", "__class__")
        }

    def extra_repr(self) -> str:
        return ", ".join(f"{name}={value!r}" for name, value in self.options.items())


class DiceLoss(_OptionsLoss):
    """Soft Dice loss with MONAI's keywords (see ``F.dice_loss`` for the per-library settings)."""

    def __init__(
        self,
        include_background: bool = True,
        to_onehot_y: bool = False,
        sigmoid: bool = False,
        softmax: bool = False,
        other_act: Callable[..., Tensor] | None = None,
        squared_pred: bool = False,
        jaccard: bool = False,
        reduction: str = "mean",
        smooth_nr: float = 1e-5,
        smooth_dr: float = 1e-5,
        batch: bool = False,
        weight: Sequence[float] | float | Tensor | None = None,
        soft_label: bool = False,
        ignore_index: int | None = None,
        *,
        log_loss: bool = False,
        eps: float = 0.0,
        pool_classes: bool = False,
        zero_absent: bool = False,
        classes: Sequence[int] | None = None,
        class_average: str | None = None,
    ) -> None:
        super().__init__(locals())

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.dice_loss(input, target, **self.options)


class JaccardLoss(_OptionsLoss):
    """Soft Jaccard (IoU) loss (see ``F.jaccard_loss``)."""

    def __init__(
        self,
        include_background: bool = True,
        to_onehot_y: bool = False,
        sigmoid: bool = False,
        softmax: bool = False,
        other_act: Callable[..., Tensor] | None = None,
        squared_pred: bool = False,
        reduction: str = "mean",
        smooth_nr: float = 1e-5,
        smooth_dr: float = 1e-5,
        batch: bool = False,
        weight: Sequence[float] | float | Tensor | None = None,
        soft_label: bool = False,
        ignore_index: int | None = None,
        *,
        log_loss: bool = False,
        eps: float = 0.0,
        pool_classes: bool = False,
        zero_absent: bool = False,
        classes: Sequence[int] | None = None,
        class_average: str | None = None,
    ) -> None:
        super().__init__(locals())

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.jaccard_loss(input, target, **self.options)


class TverskyLoss(_OptionsLoss):
    """Tversky and focal Tversky loss, alpha on false positives (see ``F.tversky_loss``)."""

    def __init__(
        self,
        include_background: bool = True,
        to_onehot_y: bool = False,
        sigmoid: bool = False,
        softmax: bool = False,
        other_act: Callable[..., Tensor] | None = None,
        alpha: float = 0.5,
        beta: float = 0.5,
        reduction: str = "mean",
        smooth_nr: float = 1e-5,
        smooth_dr: float = 1e-5,
        batch: bool = False,
        soft_label: bool = False,
        *,
        gamma: float = 1.0,
        log_loss: bool = False,
        eps: float = 0.0,
        ignore_index: int | None = None,
        pool_classes: bool = False,
        zero_absent: bool = False,
        gamma_after_reduction: bool = False,
        classes: Sequence[int] | None = None,
        class_average: str | None = None,
        weight: Sequence[float] | float | Tensor | None = None,
    ) -> None:
        super().__init__(locals())

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.tversky_loss(input, target, **self.options)


class GeneralizedDiceLoss(_OptionsLoss):
    """Generalized Dice loss, MONAI's (see ``F.generalized_dice_loss``)."""

    def __init__(
        self,
        include_background: bool = True,
        to_onehot_y: bool = False,
        sigmoid: bool = False,
        softmax: bool = False,
        other_act: Callable[..., Tensor] | None = None,
        w_type: str = "square",
        reduction: str = "mean",
        smooth_nr: float = 1e-5,
        smooth_dr: float = 1e-5,
        batch: bool = False,
        soft_label: bool = False,
    ) -> None:
        super().__init__(locals())

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.generalized_dice_loss(input, target, **self.options)


class DiceCELoss(_OptionsLoss):
    """Dice plus cross-entropy, MONAI's (see ``F.dice_ce_loss``)."""

    def __init__(
        self,
        include_background: bool = True,
        to_onehot_y: bool = False,
        sigmoid: bool = False,
        softmax: bool = False,
        other_act: Callable[..., Tensor] | None = None,
        squared_pred: bool = False,
        jaccard: bool = False,
        reduction: str = "mean",
        smooth_nr: float = 1e-5,
        smooth_dr: float = 1e-5,
        batch: bool = False,
        weight: Tensor | None = None,
        lambda_dice: float = 1.0,
        lambda_ce: float = 1.0,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(locals())

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.dice_ce_loss(input, target, **self.options)


class DiceFocalLoss(_OptionsLoss):
    """Dice plus sigmoid focal loss, MONAI's (see ``F.dice_focal_loss``)."""

    def __init__(
        self,
        include_background: bool = True,
        to_onehot_y: bool = False,
        sigmoid: bool = False,
        softmax: bool = False,
        other_act: Callable[..., Tensor] | None = None,
        squared_pred: bool = False,
        jaccard: bool = False,
        reduction: str = "mean",
        smooth_nr: float = 1e-5,
        smooth_dr: float = 1e-5,
        batch: bool = False,
        gamma: float = 2.0,
        weight: Sequence[float] | float | Tensor | None = None,
        lambda_dice: float = 1.0,
        lambda_focal: float = 1.0,
        alpha: float | Sequence[float] | None = None,
    ) -> None:
        super().__init__(locals())

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.dice_focal_loss(input, target, **self.options)


class MCCLoss(_OptionsLoss):
    """Soft Matthews-correlation loss, MONAI's (see ``F.mcc_loss``)."""

    def __init__(
        self,
        include_background: bool = True,
        to_onehot_y: bool = False,
        sigmoid: bool = False,
        softmax: bool = False,
        other_act: Callable[..., Tensor] | None = None,
        reduction: str = "mean",
        smooth_nr: float = 0.0,
        smooth_dr: float = 1e-5,
        batch: bool = False,
        *,
        eps: float = 0.0,
    ) -> None:
        super().__init__(locals())

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.mcc_loss(input, target, **self.options)


class LovaszHingeLoss(_OptionsLoss):
    """Lovasz hinge loss, binary (see ``F.lovasz_hinge_loss``)."""

    def __init__(self, per_image: bool = True, ignore_index: int | None = None) -> None:
        super().__init__(locals())

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.lovasz_hinge_loss(input, target, **self.options)


class LovaszSoftmaxLoss(_OptionsLoss):
    """Lovasz-softmax loss, multiclass (see ``F.lovasz_softmax_loss``)."""

    def __init__(
        self,
        classes: str | Sequence[int] = "present",
        per_image: bool = False,
        ignore_index: int | None = None,
        weight: Tensor | None = None,
        *,
        from_logits: bool = True,
    ) -> None:
        super().__init__(locals())

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.lovasz_softmax_loss(input, target, **self.options)


if not TYPE_CHECKING:  # see lossgrad._exports
    __all__ = public_names(globals())
