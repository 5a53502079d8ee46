"""Modules of the sparse, ranking and transducer losses (``nn.SparsemaxLoss``, ``nn.RNNTLoss``,
...): thin classes that store options and call the functional of the same name."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lossgrad._exports import public_names
from lossgrad._tensor import Tensor
from lossgrad.nn import functional as F
from lossgrad.nn.modules.loss import _Loss

# -- sparse mappings and poly-1 -------------------------------------------------------------------


class SparsemaxLoss(_Loss):
    """The sparsemax (Fenchel–Young) loss (see ``F.sparsemax_loss``)."""

    def __init__(self, ignore_index: int = -100, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.sparsemax_loss(input, target, self.ignore_index, self.reduction)


class Entmax15Loss(_Loss):
    """The 1.5-entmax loss (see ``F.entmax15_loss``)."""

    def __init__(self, ignore_index: int = -100, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.entmax15_loss(input, target, self.ignore_index, self.reduction)


class EntmaxBisectLoss(_Loss):
    """The α-entmax loss (see ``F.entmax_bisect_loss``)."""

    def __init__(
        self,
        alpha: float = 1.5,
        n_iter: int = 50,
        ignore_index: int = -100,
        reduction: str = "mean",
    ) -> None:
        super().__init__(reduction=reduction)
        self.alpha, self.n_iter, self.ignore_index = alpha, n_iter, ignore_index

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.entmax_bisect_loss(
            input, target, self.alpha, self.n_iter, self.ignore_index, self.reduction
        )


class Poly1CrossEntropyLoss(_Loss):
    """Poly-1 cross-entropy (see ``F.poly1_cross_entropy``)."""

    def __init__(
        self, epsilon: float = 2.0, label_smoothing: float = 0.0, reduction: str = "mean"
    ) -> None:
        super().__init__(reduction=reduction)
        self.epsilon, self.label_smoothing = epsilon, label_smoothing

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.poly1_cross_entropy(
            input, target, self.epsilon, self.label_smoothing, self.reduction
        )


# -- ranking --------------------------------------------------------------------------------------


class _RankingLoss(_Loss):
    """``forward(scores, labels, where=None, weights=None)`` calls the functional ``_loss``."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)

    def forward(
        self,
        scores: Tensor,
        labels: Tensor,
        where: Tensor | None = None,
        weights: Tensor | None = None,
    ) -> Tensor:
        return type(self)._loss(scores, labels, where, weights, self.reduction)

    _loss = staticmethod(F.softmax_ranking_loss)


class SoftmaxRankingLoss(_RankingLoss):
    """Softmax (ListNet-style) ranking loss (see ``F.softmax_ranking_loss``)."""


class PairwiseLogisticLoss(_RankingLoss):
    """RankNet's pairwise logistic loss (see ``F.pairwise_logistic_loss``)."""

    _loss = staticmethod(F.pairwise_logistic_loss)


class PairwiseHingeLoss(_RankingLoss):
    """Pairwise hinge loss (see ``F.pairwise_hinge_loss``)."""

    _loss = staticmethod(F.pairwise_hinge_loss)


class ListMLELoss(_Loss):
    """ListMLE (see ``F.listmle_loss``)."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)

    def forward(self, scores: Tensor, labels: Tensor, where: Tensor | None = None) -> Tensor:
        return F.listmle_loss(scores, labels, where, self.reduction)


# -- transducer -----------------------------------------------------------------------------------


class RNNTLoss(_Loss):
    """The RNN transducer loss with torchaudio's module signature (see ``F.rnnt_loss``)."""

    def __init__(
        self,
        blank: int = -1,
        clamp: float = -1.0,
        reduction: str = "mean",
        fused_log_softmax: bool = True,
    ) -> None:
        super().__init__(reduction=reduction)
        self.blank, self.clamp, self.fused_log_softmax = blank, clamp, fused_log_softmax

    def forward(
        self, logits: Tensor, targets: Tensor, logit_lengths: Tensor, target_lengths: Tensor
    ) -> Tensor:
        return F.rnnt_loss(
            logits,
            targets,
            logit_lengths,
            target_lengths,
            self.blank,
            self.clamp,
            self.reduction,
            self.fused_log_softmax,
        )


if not TYPE_CHECKING:  # see lossgrad._exports
    __all__ = public_names(globals())
