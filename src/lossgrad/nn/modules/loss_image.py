"""Modules of the image losses (lossgrad extensions), calling the functionals of
``lossgrad.nn.functional.loss_image``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from lossgrad._exports import public_names
from lossgrad._tensor import Tensor
from lossgrad.nn import functional as F
from lossgrad.nn.modules.loss_segmentation import _OptionsLoss


class SSIMLoss(_OptionsLoss):
    """``1 - SSIM`` with pytorch-msssim's keywords (see ``F.ssim_loss``)."""

    def __init__(
        self,
        data_range: float = 255,
        size_average: bool = True,
        win_size: int = 11,
        win_sigma: float = 1.5,
        win: Any = None,
        K: Sequence[float] = (0.01, 0.03),
        nonnegative_ssim: bool = False,
        *,
        padding: str = "valid",
        halved: bool = False,
        eps: float = 0.0,
    ) -> None:
        super().__init__(locals())

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.ssim_loss(input, target, **self.options)


class MS_SSIMLoss(_OptionsLoss):  # noqa: N801  (pytorch-msssim's MS_SSIM)
    """``1 - MS-SSIM`` with pytorch-msssim's keywords (see ``F.ms_ssim_loss``)."""

    def __init__(
        self,
        data_range: float = 255,
        size_average: bool = True,
        win_size: int = 11,
        win_sigma: float = 1.5,
        win: Any = None,
        weights: Sequence[float] | None = None,
        K: Sequence[float] = (0.01, 0.03),
    ) -> None:
        super().__init__(locals())

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.ms_ssim_loss(input, target, **self.options)


class TotalVariation(_OptionsLoss):
    """Anisotropic total variation per image and channel, kornia's (see
    ``F.total_variation``)."""

    def __init__(self, reduction: str = "sum") -> None:
        super().__init__(locals())

    def forward(self, img: Tensor) -> Tensor:
        return F.total_variation(img, **self.options)


class PSNRLoss(_OptionsLoss):
    """Negative PSNR, kornia's (see ``F.psnr_loss``)."""

    def __init__(self, max_val: float) -> None:
        super().__init__(locals())

    def forward(self, image: Tensor, target: Tensor) -> Tensor:
        return F.psnr_loss(image, target, **self.options)


if not TYPE_CHECKING:  # see lossgrad._exports
    __all__ = public_names(globals())
