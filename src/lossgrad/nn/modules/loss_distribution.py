"""The modules of ``F``'s distances between distributions and samples
(``nn/functional/loss_distribution.py``): thin classes that store the options."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lossgrad._exports import public_names
from lossgrad._tensor import Tensor
from lossgrad.nn import functional as F
from lossgrad.nn.modules.module import Module


class WassersteinLoss1d(Module):
    """``W_p**p`` between two samples on the line (see ``F.wasserstein_1d``)."""

    def __init__(self, p: float = 1) -> None:
        super().__init__()
        self.p = p

    def forward(self, u_values: Tensor, v_values: Tensor) -> Tensor:
        return F.wasserstein_1d(u_values, v_values, p=self.p)


class EnergyDistanceLoss(Module):
    """Energy distance between two samples on the line (see ``F.energy_distance``)."""

    def forward(self, u_values: Tensor, v_values: Tensor) -> Tensor:
        return F.energy_distance(u_values, v_values)


class JSDivergenceLoss(Module):
    """Jensen–Shannon divergence between discrete distributions (see ``F.js_divergence``)."""

    def __init__(self, dim: int = -1, reduction: str = "mean") -> None:
        super().__init__()
        self.dim = dim
        self.reduction = reduction

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.js_divergence(input, target, dim=self.dim, reduction=self.reduction)


class MMDLoss(Module):
    """Kernel MMD between point clouds, geomloss's definition (see ``F.mmd_loss``)."""

    def __init__(self, kernel: str = "gaussian", blur: float = 0.05, reduction: str = "mean"):
        super().__init__()
        self.kernel = kernel
        self.blur = blur
        self.reduction = reduction

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return F.mmd_loss(x, y, kernel=self.kernel, blur=self.blur, reduction=self.reduction)


class SinkhornLoss(Module):
    """Debiased Sinkhorn divergence between point clouds, geomloss's algorithm (see
    ``F.sinkhorn_loss``)."""

    def __init__(
        self,
        p: int = 2,
        blur: float = 0.05,
        scaling: float = 0.5,
        diameter: float | None = None,
        debias: bool = True,
        gradient: str = "exact",
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        self.p, self.blur, self.scaling, self.diameter = p, blur, scaling, diameter
        self.debias, self.gradient, self.reduction = debias, gradient, reduction

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return F.sinkhorn_loss(
            x, y, p=self.p, blur=self.blur, scaling=self.scaling, diameter=self.diameter,
            debias=self.debias, gradient=self.gradient, reduction=self.reduction,
        )


if not TYPE_CHECKING:  # see lossgrad._exports
    __all__ = public_names(globals())
