"""Modules of the contrastive and metric-learning losses (see ``nn.functional.loss_contrastive``).

The pair, triplet and self-supervised losses are thin classes storing their options. The
classification-style losses (ArcFace, CosFace, SphereFace, L-Softmax, sub-center ArcFace,
normalized softmax, Proxy-Anchor, Proxy-NCA) hold their class weights as Parameters with
pytorch-metric-learning's constructor arguments, layouts and initializations (``W`` is
``(embedding_size, num_classes)``, ``proxies`` ``(num_classes, embedding_size)``), so a state
copied from pml's module gives the same loss. ``CLIPLoss`` holds CLIP's learnable log scale.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from lossgrad._exports import public_names
from lossgrad._factories import empty, full
from lossgrad._tensor import Tensor
from lossgrad.nn import functional as F
from lossgrad.nn import init
from lossgrad.nn.modules.module import Module
from lossgrad.nn.parameter import Parameter


class InfoNCELoss(Module):
    """InfoNCE with explicit or in-batch negatives (see ``F.info_nce_loss``)."""

    def __init__(
        self, temperature: float = 0.1, reduction: str = "mean", negative_mode: str = "unpaired"
    ) -> None:
        super().__init__()
        self.temperature = temperature
        self.reduction = reduction
        self.negative_mode = negative_mode

    def forward(
        self, query: Tensor, positive_key: Tensor, negative_keys: Tensor | None = None
    ) -> Tensor:
        return F.info_nce_loss(
            query,
            positive_key,
            negative_keys,
            self.temperature,
            self.reduction,
            self.negative_mode,
        )


class CLIPLoss(Module):
    """CLIP's symmetric loss with a learnable temperature (see ``F.clip_loss``).

    ``logit_scale`` is a Parameter holding ``log(1 / init_temperature)``; the multiplier used is
    ``min(exp(logit_scale), max_scale)`` (CLIP clips the scale at 100).
    """

    def __init__(
        self, init_temperature: float = 0.07, max_scale: float = 100.0, reduction: str = "mean"
    ) -> None:
        super().__init__()
        self.logit_scale = Parameter(full((), math.log(1 / init_temperature)))
        self.max_scale = max_scale
        self.reduction = reduction

    def forward(self, image_embeddings: Tensor, text_embeddings: Tensor) -> Tensor:
        scale = self.logit_scale.exp().clamp(max=self.max_scale)
        return F.clip_loss(image_embeddings, text_embeddings, scale, self.reduction)


class NTXentLoss(Module):
    """NT-Xent / SimCLR (see ``F.nt_xent_loss``; pml ``NTXentLoss``)."""

    def __init__(self, temperature: float = 0.07) -> None:
        super().__init__()
        self.temperature = temperature

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        return F.nt_xent_loss(embeddings, labels, self.temperature)


class SupConLoss(Module):
    """Supervised contrastive loss (see ``F.supcon_loss``; pml ``SupConLoss``)."""

    def __init__(self, temperature: float = 0.1) -> None:
        super().__init__()
        self.temperature = temperature

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        return F.supcon_loss(embeddings, labels, self.temperature)


class ContrastiveLoss(Module):
    """Hadsell's pair loss with pml's two margins (see ``F.contrastive_loss``; pml
    ``ContrastiveLoss``; MONAI's ``ContrastiveLoss`` is NT-Xent, ``NTXentLoss`` here)."""

    def __init__(self, pos_margin: float = 0.0, neg_margin: float = 1.0) -> None:
        super().__init__()
        self.pos_margin = pos_margin
        self.neg_margin = neg_margin

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        return F.contrastive_loss(embeddings, labels, self.pos_margin, self.neg_margin)


class TripletMiningLoss(Module):
    """Triplet loss over mined triplets (see ``F.triplet_mining_loss``)."""

    def __init__(
        self,
        margin: float = 0.05,
        mining: str = "batch_all",
        swap: bool = False,
        smooth_loss: bool = False,
    ) -> None:
        super().__init__()
        self.margin = margin
        self.mining = mining
        self.swap = swap
        self.smooth_loss = smooth_loss

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        return F.triplet_mining_loss(
            embeddings, labels, self.margin, self.mining, self.swap, self.smooth_loss
        )


class MultiSimilarityLoss(Module):
    """Multi-similarity loss (see ``F.multi_similarity_loss``; pml ``MultiSimilarityLoss``)."""

    def __init__(self, alpha: float = 2.0, beta: float = 50.0, base: float = 0.5) -> None:
        super().__init__()
        self.alpha = alpha
        self.beta = beta
        self.base = base

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        return F.multi_similarity_loss(embeddings, labels, self.alpha, self.beta, self.base)


class LiftedStructureLoss(Module):
    """Lifted structured loss (see ``F.lifted_structure_loss``; pml ``LiftedStructureLoss``)."""

    generalized = False

    def __init__(self, neg_margin: float = 1.0, pos_margin: float = 0.0) -> None:
        super().__init__()
        self.neg_margin = neg_margin
        self.pos_margin = pos_margin

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        return F.lifted_structure_loss(
            embeddings, labels, self.neg_margin, self.pos_margin, self.generalized
        )


class GeneralizedLiftedStructureLoss(LiftedStructureLoss):
    """Generalized lifted structure (pml ``GeneralizedLiftedStructureLoss``)."""

    generalized = True


class NPairsLoss(Module):
    """N-pairs loss (see ``F.npairs_loss``; pml ``NPairsLoss``)."""

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        return F.npairs_loss(embeddings, labels)


class MarginLoss(Module):
    """Margin loss of Wu et al. (see ``F.margin_loss``), pml ``MarginLoss``'s arguments: with
    ``learn_beta`` the boundary is a Parameter (one per class when ``num_classes`` is given)."""

    def __init__(
        self,
        margin: float = 0.2,
        nu: float = 0.0,
        beta: float = 1.2,
        learn_beta: bool = False,
        num_classes: int | None = None,
    ) -> None:
        super().__init__()
        self.margin = margin
        self.nu = nu
        self.learn_beta = learn_beta
        beta_tensor = full((num_classes,) if num_classes else (1,), float(beta))
        if learn_beta:
            self.beta = Parameter(beta_tensor)
        else:
            self.register_buffer("beta", beta_tensor)

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        beta = self.beta.to(embeddings.dtype)
        if not self.learn_beta and beta.numel() == 1:
            beta = beta.item()
        return F.margin_loss(embeddings, labels, self.margin, beta, self.nu)


class CircleLoss(Module):
    """Circle loss (see ``F.circle_loss``): ``convention='pml'`` or ``'keras'``."""

    def __init__(self, m: float = 0.4, gamma: float = 80.0, convention: str = "pml") -> None:
        super().__init__()
        self.m = m
        self.gamma = gamma
        self.convention = convention

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        return F.circle_loss(embeddings, labels, self.m, self.gamma, self.convention)


class BarlowTwinsLoss(Module):
    """Barlow Twins (see ``F.barlow_twins_loss``; MONAI ``BarlowTwinsLoss``)."""

    def __init__(self, lambd: float = 5e-3) -> None:
        super().__init__()
        self.lambd = lambd

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.barlow_twins_loss(input, target, self.lambd)


class VICRegLoss(Module):
    """VICReg (see ``F.vicreg_loss``; pml ``VICRegLoss``)."""

    def __init__(
        self,
        invariance_lambda: float = 25.0,
        variance_mu: float = 25.0,
        covariance_v: float = 1.0,
        eps: float = 1e-4,
    ) -> None:
        super().__init__()
        self.invariance_lambda = invariance_lambda
        self.variance_mu = variance_mu
        self.covariance_v = covariance_v
        self.eps = eps

    def forward(self, embeddings: Tensor, ref_emb: Tensor) -> Tensor:
        return F.vicreg_loss(
            embeddings,
            ref_emb,
            self.invariance_lambda,
            self.variance_mu,
            self.covariance_v,
            self.eps,
        )


# ------------------------------------------------------------- losses with class weights


def _as_dtype_of(weight: Tensor, embeddings: Tensor) -> Tensor:
    """The weight in the embeddings' dtype (pml casts its weights the same way); differentiable,
    so the Parameter still receives its gradient."""
    return weight if weight.dtype == embeddings.dtype else weight.to(embeddings.dtype)


class _ClassWeightLoss(Module):
    """Holds pml's ``W`` ``(embedding_size, num_classes)`` Parameter, normal-initialized."""

    def __init__(self, num_classes: int, embedding_size: int, columns: int | None = None) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.embedding_size = embedding_size
        self.W = Parameter(empty(embedding_size, columns or num_classes))
        init.normal_(self.W)


class ArcFaceLoss(_ClassWeightLoss):
    """ArcFace (see ``F.arcface_loss``); margin in degrees, pml's ``ArcFaceLoss``."""

    def __init__(
        self, num_classes: int, embedding_size: int, margin: float = 28.6, scale: float = 64.0
    ) -> None:
        super().__init__(num_classes, embedding_size)
        self.margin = margin
        self.scale = scale

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        return F.arcface_loss(
            embeddings, labels, _as_dtype_of(self.W, embeddings), self.margin, self.scale
        )


class SubCenterArcFaceLoss(_ClassWeightLoss):
    """Sub-center ArcFace (see ``F.subcenter_arcface_loss``); ``W`` has
    ``num_classes * sub_centers`` columns, as pml's."""

    def __init__(
        self,
        num_classes: int,
        embedding_size: int,
        margin: float = 28.6,
        scale: float = 64.0,
        sub_centers: int = 3,
    ) -> None:
        super().__init__(num_classes, embedding_size, num_classes * sub_centers)
        self.margin = margin
        self.scale = scale
        self.sub_centers = sub_centers

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        return F.subcenter_arcface_loss(
            embeddings,
            labels,
            _as_dtype_of(self.W, embeddings),
            self.margin,
            self.scale,
            self.sub_centers,
        )


class CosFaceLoss(_ClassWeightLoss):
    """CosFace (see ``F.cosface_loss``; pml ``CosFaceLoss``)."""

    def __init__(
        self, num_classes: int, embedding_size: int, margin: float = 0.35, scale: float = 64.0
    ) -> None:
        super().__init__(num_classes, embedding_size)
        self.margin = margin
        self.scale = scale

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        return F.cosface_loss(
            embeddings, labels, _as_dtype_of(self.W, embeddings), self.margin, self.scale
        )


class LargeMarginSoftmaxLoss(_ClassWeightLoss):
    """L-Softmax (see ``F.large_margin_softmax_loss``; pml ``LargeMarginSoftmaxLoss``)."""

    normalize_weights = False

    def __init__(
        self, num_classes: int, embedding_size: int, margin: int = 4, scale: float = 1.0
    ) -> None:
        super().__init__(num_classes, embedding_size)
        self.margin = int(margin)
        self.scale = scale

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        return F.large_margin_softmax_loss(
            embeddings,
            labels,
            _as_dtype_of(self.W, embeddings),
            self.margin,
            self.scale,
            self.normalize_weights,
        )


class SphereFaceLoss(LargeMarginSoftmaxLoss):
    """SphereFace / A-Softmax: L-Softmax with unit class weights (pml ``SphereFaceLoss``)."""

    normalize_weights = True


class NormalizedSoftmaxLoss(_ClassWeightLoss):
    """Normalized softmax (see ``F.normalized_softmax_loss``; pml ``NormalizedSoftmaxLoss``)."""

    def __init__(self, num_classes: int, embedding_size: int, temperature: float = 0.05) -> None:
        super().__init__(num_classes, embedding_size)
        self.temperature = temperature

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        return F.normalized_softmax_loss(
            embeddings, labels, _as_dtype_of(self.W, embeddings), self.temperature
        )


class ProxyAnchorLoss(Module):
    """Proxy-Anchor (see ``F.proxy_anchor_loss``); ``proxies`` ``(num_classes,
    embedding_size)``, He-normal (fan_out) initialized as pml's."""

    def __init__(
        self, num_classes: int, embedding_size: int, margin: float = 0.1, alpha: float = 32.0
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.proxies = Parameter(empty(num_classes, embedding_size))
        init.kaiming_normal_(self.proxies, mode="fan_out")
        self.margin = margin
        self.alpha = alpha

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        return F.proxy_anchor_loss(
            embeddings, labels, _as_dtype_of(self.proxies, embeddings), self.margin, self.alpha
        )


class ProxyNCALoss(Module):
    """Proxy-NCA (see ``F.proxy_nca_loss``); ``proxies`` ``(num_classes, embedding_size)``."""

    def __init__(self, num_classes: int, embedding_size: int, softmax_scale: float = 1.0) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.proxies = Parameter(empty(num_classes, embedding_size))
        init.normal_(self.proxies)
        self.softmax_scale = softmax_scale

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        return F.proxy_nca_loss(
            embeddings, labels, _as_dtype_of(self.proxies, embeddings), self.softmax_scale
        )


if not TYPE_CHECKING:  # see lossgrad._exports
    __all__ = public_names(globals())
