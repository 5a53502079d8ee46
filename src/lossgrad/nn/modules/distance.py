"""Distance modules: PairwiseDistance, CosineSimilarity (thin wrappers of the functionals)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lossgrad._exports import public_names
from lossgrad._tensor import Tensor
from lossgrad.nn import functional as F
from lossgrad.nn.modules.module import Module


class PairwiseDistance(Module):
    """``||x1 - x2 + eps||_p`` over the last dimension (see ``F.pairwise_distance``)."""

    def __init__(self, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> None:
        super().__init__()
        self.norm = p
        self.eps = eps
        self.keepdim = keepdim

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        return F.pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)


class CosineSimilarity(Module):
    """Cosine similarity along ``dim``, each norm floored at ``eps`` (``F.cosine_similarity``)."""

    def __init__(self, dim: int = 1, eps: float = 1e-8) -> None:
        super().__init__()
        self.dim = dim
        self.eps = eps

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        return F.cosine_similarity(x1, x2, self.dim, self.eps)


if not TYPE_CHECKING:  # see lossgrad._exports
    __all__ = public_names(globals())
