"""Catalog entries of the contrastive and metric-learning losses
(``nn.functional.loss_contrastive``).

The curves put two-dimensional unit embeddings on a circle: the loss is drawn against the angle
between an anchor and its positive (pair losses) or between an embedding and its class centre
(ArcFace and the other classification-style losses), with the other rows held fixed. Each point
is one call of the loss on that small batch.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from types import ModuleType
from typing import Any

import numpy as np

from lossgrad._catalog import Curve, Loss

TITLE = "Contrastive and metric-learning losses"

_ANGLE = "angle θ between anchor and positive (negative at {negative:g} rad)"
_CLASS_ANGLE = "angle θ between the embedding and its class centre (two classes)"


def _unit(lib: ModuleType, angle: Any) -> Any:
    return lib.stack([lib.cos(angle), lib.sin(angle)]).unsqueeze(0)


def _fixed_unit(lib: ModuleType, angle: float) -> Any:
    return lib.tensor([[math.cos(angle), math.sin(angle)]], dtype=lib.float64)


def _per_point(lib: ModuleType, z: Any, loss_at: Any) -> Any:
    return lib.stack([loss_at(z[k]) for k in range(z.shape[0])])


def _pair_curve(
    functional: str, lib: ModuleType, z: Any, p: Mapping[str, Any], s: Mapping[str, Any]
) -> Any:
    """Anchor at angle 0, its positive at θ, one negative at ``negative`` radians."""
    fn = getattr(lib.nn.functional, functional)
    labels = lib.tensor([0, 0, 1])
    anchor, negative = _fixed_unit(lib, 0.0), _fixed_unit(lib, s["negative"])
    return _per_point(
        lib, z, lambda angle: fn(lib.cat([anchor, _unit(lib, angle), negative]), labels, **p)
    )


def _info_nce_curve(lib: ModuleType, z: Any, p: Mapping[str, Any], s: Mapping[str, Any]) -> Any:
    query, negative = _fixed_unit(lib, 0.0), _fixed_unit(lib, s["negative"])
    return _per_point(
        lib,
        z,
        lambda angle: lib.nn.functional.info_nce_loss(query, _unit(lib, angle), negative, **p),
    )


def _clip_curve(lib: ModuleType, z: Any, p: Mapping[str, Any], s: Mapping[str, Any]) -> Any:
    images = lib.cat([_fixed_unit(lib, 0.0), _fixed_unit(lib, s["negative"])])
    other_text = _fixed_unit(lib, s["negative"])
    return _per_point(
        lib,
        z,
        lambda angle: lib.nn.functional.clip_loss(
            images, lib.cat([_unit(lib, angle), other_text]), **p
        ),
    )


def _class_curve(
    functional: str, lib: ModuleType, z: Any, p: Mapping[str, Any], s: Mapping[str, Any]
) -> Any:
    """One embedding at angle θ from the centre of its class 0; class 1's centre at 90°."""
    fn = getattr(lib.nn.functional, functional)
    centres = lib.eye(2, dtype=lib.float64)
    label = lib.tensor([0])
    return _per_point(lib, z, lambda angle: fn(_unit(lib, angle), label, centres, **p))


_VIEW = np.array([[1.0, 0.2], [-0.5, 1.1], [0.3, -0.9], [-1.2, -0.4], [0.8, 0.7], [-0.4, -0.7]])
_NOISE = np.array([[0.3, -0.8], [0.9, 0.2], [-0.6, 0.5], [0.1, -0.3], [-0.7, 0.9], [0.4, 0.6]])


def _two_view_curve(
    functional: str, lib: ModuleType, z: Any, p: Mapping[str, Any], s: Mapping[str, Any]
) -> Any:
    """The second view is the first plus ``θ`` times a fixed noise."""
    fn = getattr(lib.nn.functional, functional)
    view, noise = lib.tensor(_VIEW), lib.tensor(_NOISE)
    return _per_point(lib, z, lambda scale: fn(view, view + scale * noise, **p))


def _pair(functional: str, negative: float = 2.0) -> Curve:
    return Curve(
        "angle",
        _ANGLE,
        (0.0, math.pi),
        functools.partial(_pair_curve, functional),
        {"negative": negative},
    )


def _by_class(functional: str) -> Curve:
    # θ = 0 and π are off the range: there d cos(θ + m)/dθ is 0·∞ (ArcFace)
    lim = (0.02, math.pi - 0.02)
    return Curve("angle", _CLASS_ANGLE, lim, functools.partial(_class_curve, functional))


def _two_views(functional: str) -> Curve:
    return Curve(
        "noise",
        "scale of the noise added to the second view",
        (0.0, 2.0),
        functools.partial(_two_view_curve, functional),
    )


_BATCH = """\
embeddings = torch.tensor([[0.9, 0.1, 0.3], [0.8, 0.3, 0.2], [-0.2, 1.0, 0.4],
                           [0.1, 0.8, 0.6], [0.5, -0.6, 0.9]], requires_grad=True)
labels = torch.tensor([0, 0, 1, 1, 2])
"""

_CLASSES = """\
embeddings = torch.tensor([[0.9, 0.1, 0.3], [0.8, 0.3, 0.2], [-0.2, 1.0, 0.4],
                           [0.1, 0.8, 0.6]], requires_grad=True)
labels = torch.tensor([0, 0, 1, 2])
"""


def _pml(cls: str, args: str = "") -> str:
    """A torch program computing the same loss with pytorch-metric-learning."""
    return (
        "from pytorch_metric_learning import losses\n"
        + _BATCH
        + f"output = losses.{cls}({args})(embeddings, labels)\noutput.backward()\n"
    )


def _weighted_example(module: str, attribute: str, args: str, layout: str) -> tuple[str, str]:
    """(example, torch_example): the same weights set in lossgrad's and in pml's module."""
    weights = (
        "torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])"
        if layout == "square"
        else layout
    )
    set_weights = f"loss.{attribute}.data = {weights}\n"
    body = _CLASSES + f"loss = nn.{module}({args})\n" + set_weights
    body += "output = loss(embeddings, labels)\noutput.backward()\n"
    theirs = "from pytorch_metric_learning import losses\n" + _CLASSES
    theirs += f"loss = losses.{module}({args})\n" + set_weights
    theirs += "output = loss(embeddings, labels)\noutput.backward()\n"
    return body, theirs


def _entry(key: str, functional: str, module: str | None, **fields: Any) -> Loss:
    return Loss(
        key=key,
        functional=functional,
        module=module,
        family="contrastive",
        in_torch=False,
        **fields,
    )


_ARC_EXAMPLE = _weighted_example("ArcFaceLoss", "W", "3, 3, margin=28.6, scale=8.0", "square")
_COS_EXAMPLE = _weighted_example("CosFaceLoss", "W", "3, 3, margin=0.35, scale=8.0", "square")
_SPHERE_EXAMPLE = _weighted_example("SphereFaceLoss", "W", "3, 3, margin=4", "square")
_SUB_EXAMPLE = _weighted_example(
    "SubCenterArcFaceLoss",
    "W",
    "num_classes=3, embedding_size=3, scale=8.0, sub_centers=2",
    "torch.tensor([[1.0, 0.5, 0.0, 0.0, 0.0, 0.2], [0.0, 0.5, 1.0, 0.1, 0.0, 0.0], "
    "[0.0, 0.0, 0.0, 0.9, 1.0, 0.5]])",
)
_NORM_EXAMPLE = _weighted_example("NormalizedSoftmaxLoss", "W", "3, 3, temperature=0.5", "square")
_ANCHOR_EXAMPLE = _weighted_example("ProxyAnchorLoss", "proxies", "3, 3, alpha=8.0", "square")
_NCA_EXAMPLE = _weighted_example("ProxyNCALoss", "proxies", "3, 3", "square")

ENTRIES: tuple[Loss, ...] = (
    _entry(
        "info_nce",
        "info_nce_loss",
        "InfoNCELoss",
        summary="InfoNCE: the positive key must win a softmax against the negatives.",
        tex=(
            r"\ell = -\log \frac{e^{q\cdot k^+/\tau}}{e^{q\cdot k^+/\tau} + "
            r"\sum_j e^{q\cdot k^-_j/\tau}}"
        ),
        tex_gradient=r"\frac{\partial \ell}{\partial z_j} = \operatorname{softmax}(z)_j - [j = +]",
        notes=(
            "negative_keys=None uses the other rows' positive keys (in-batch negatives)",
            "negative_mode 'unpaired': (M, D) shared negatives; 'paired': (N, M, D)",
            "the info-nce-pytorch package's convention; τ > 0 is checked",
        ),
        example="""\
query = torch.tensor([[1.0, 0.2], [0.1, 1.0]], requires_grad=True)
positive = torch.tensor([[0.9, 0.3], [0.0, 1.0]])
output = F.info_nce_loss(query, positive, temperature=0.5)
output.backward()
""",
        torch_example="""\
query = torch.tensor([[1.0, 0.2], [0.1, 1.0]], requires_grad=True)
positive = torch.tensor([[0.9, 0.3], [0.0, 1.0]])
logits = F.normalize(query, dim=1) @ F.normalize(positive, dim=1).T / 0.5
output = F.cross_entropy(logits, torch.arange(2))
output.backward()
""",
        torch_note="cross_entropy on normalized logits",
        curve=Curve("angle", _ANGLE, (0.0, math.pi), _info_nce_curve, {"negative": 2.0}),
    ),
    _entry(
        "clip",
        "clip_loss",
        "CLIPLoss",
        summary="CLIP's symmetric image↔text cross entropy, with a learnable logit scale.",
        tex=r"\ell = \tfrac12\bigl[\mathrm{CE}(sIT^\top, i) + \mathrm{CE}(sTI^\top, i)\bigr]",
        tex_gradient=(
            r"\frac{\partial \ell}{\partial L} = \frac{\operatorname{softmax}_{\rm row}(L) + "
            r"\operatorname{softmax}_{\rm col}(L) - 2E}{2N}"
        ),
        notes=(
            "F.clip_loss takes the multiplier s itself (open_clip's logit_scale.exp())",
            "nn.CLIPLoss holds log(1/0.07) as a Parameter and clips exp() at max_scale = 100",
        ),
        example="""\
image = torch.tensor([[1.0, 0.2], [0.1, 1.0], [-0.5, 0.5]], requires_grad=True)
text = torch.tensor([[0.9, 0.3], [0.0, 1.0], [-0.4, 0.7]])
output = F.clip_loss(image, text, logit_scale=10.0)
output.backward()
""",
        torch_example="""\
image = torch.tensor([[1.0, 0.2], [0.1, 1.0], [-0.5, 0.5]], requires_grad=True)
text = torch.tensor([[0.9, 0.3], [0.0, 1.0], [-0.4, 0.7]])
logits = 10.0 * F.normalize(image, dim=1) @ F.normalize(text, dim=1).T
target = torch.arange(3)
output = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
output.backward()
""",
        torch_note="the CLIP paper's pseudo-code",
        curve=Curve("angle", _ANGLE, (0.0, math.pi), _clip_curve, {"negative": 2.0}),
    ),
    _entry(
        "nt_xent",
        "nt_xent_loss",
        "NTXentLoss",
        summary="NT-Xent (SimCLR): each positive pair against its anchor's negatives.",
        tex=(
            r"\ell_{ij} = -\log\frac{e^{s_{ij}/\tau}}{e^{s_{ij}/\tau} + "
            r"\sum_{k:\,y_k\neq y_i} e^{s_{ik}/\tau}}"
        ),
        tex_gradient=(
            r"\frac{\partial \ell_{ij}}{\partial s_{ij}} = -\frac{\sigma_{ij}}{\tau},\quad "
            r"\frac{\partial \ell_{ij}}{\partial s_{ik}} = \frac{\sigma_{ij} p_{ik}}{\tau}"
        ),
        notes=(
            "equal to pml NTXentLoss, optax ntxent and MONAI ContrastiveLoss (two views = "
            "labels [0..B−1, 0..B−1])",
            "an anchor without negatives contributes 0; no positive or no negative pair → 0",
            "pml's −log(ratio + tiny) saturates near 87.3 in float32; lossgrad stays exact",
        ),
        example=_BATCH + "output = F.nt_xent_loss(embeddings, labels, temperature=0.1)\n"
        "output.backward()\n",
        torch_example=_pml("NTXentLoss", "temperature=0.1"),
        torch_note="pml NTXentLoss",
        curve=_pair("nt_xent_loss"),
    ),
    _entry(
        "supcon",
        "supcon_loss",
        "SupConLoss",
        summary="Supervised contrastive: mean log-probability of each anchor's positives.",
        tex=(
            r"\ell_i = -\frac{1}{|P(i)|}\sum_{p\in P(i)}\Bigl[\frac{s_{ip}}{\tau} - "
            r"\log\sum_{k\neq i} e^{s_{ik}/\tau}\Bigr]"
        ),
        tex_gradient=(
            r"\frac{\partial \ell_i}{\partial s_{ik}} = \frac{q_{ik} - [k\in P(i)]/|P(i)|}{\tau}"
        ),
        notes=(
            "equal to pml SupConLoss: the mean over anchors with a non-zero loss",
            "anchors without positives are left out; no positive or no negative pair → 0",
        ),
        example=_BATCH + "output = F.supcon_loss(embeddings, labels, temperature=0.1)\n"
        "output.backward()\n",
        torch_example=_pml("SupConLoss", "temperature=0.1"),
        torch_note="pml SupConLoss",
        curve=_pair("supcon_loss"),
    ),
    _entry(
        "contrastive",
        "contrastive_loss",
        "ContrastiveLoss",
        summary="Hadsell's pair loss: pull positives within pos_margin, push negatives past "
        "neg_margin.",
        tex=(
            r"\ell = \overline{\max(0, d_{ij} - m_+)}^{\,+} + "
            r"\overline{\max(0, m_- - d_{ij})}^{\,-}"
        ),
        tex_gradient=(
            r"\frac{\partial \ell}{\partial d_{ij}} = \frac{1}{n_+}\ \text{(active positive)},"
            r"\quad -\frac{1}{n_-}\ \text{(active negative)}"
        ),
        notes=(
            "d: Euclidean distance of the normalized embeddings (torch.cdist, as pml)",
            "mean⁺: the average of the non-zero terms (pml's AvgNonZeroReducer)",
            "pml ContrastiveLoss; MONAI's ContrastiveLoss is NT-Xent (F.nt_xent_loss)",
        ),
        example=_BATCH + "output = F.contrastive_loss(embeddings, labels)\noutput.backward()\n",
        torch_example=_pml("ContrastiveLoss"),
        torch_note="pml ContrastiveLoss",
        curve=_pair("contrastive_loss"),
    ),
    _entry(
        "triplet_mining",
        "triplet_mining_loss",
        "TripletMiningLoss",
        summary="Triplet loss over a batch's triplets chosen by batch-all, batch-hard or "
        "semi-hard mining.",
        tex=r"\ell = \overline{\max(0, d_{ap} - d_{an} + m)}^{\,+}",
        tex_gradient=(
            r"\frac{\partial \ell}{\partial d_{ap}} = -\frac{\partial \ell}{\partial d_{an}} = "
            r"\frac{1}{n_+}"
        ),
        notes=(
            "mining='batch_all' (pml TripletMarginLoss), 'batch_hard' (pml BatchHardMiner), "
            "'semihard' (pml TripletMarginMiner type 'semihard'); the selection is not "
            "differentiated",
            "swap and smooth_loss as pml; 'batch_all' enumerates O(N³) triplets, as pml",
        ),
        example=_BATCH + "output = F.triplet_mining_loss(embeddings, labels, margin=1.0)\n"
        "output.backward()\n",
        torch_example=_pml("TripletMarginLoss", "margin=1.0"),
        torch_note="pml TripletMarginLoss",
        curve=_pair("triplet_mining_loss"),
    ),
    _entry(
        "multi_similarity",
        "multi_similarity_loss",
        "MultiSimilarityLoss",
        summary="Multi-similarity: soft weighting of every positive and negative pair.",
        tex=(
            r"\ell_i = \frac1\alpha\log\Bigl(1 + \sum_P e^{-\alpha(s_{ip}-\lambda)}\Bigr) + "
            r"\frac1\beta\log\Bigl(1 + \sum_N e^{\beta(s_{in}-\lambda)}\Bigr)"
        ),
        tex_gradient=(
            r"\frac{\partial \ell_i}{\partial s_{ip}} = "
            r"\frac{-e^{-\alpha(s_{ip}-\lambda)}}{1 + \sum_P e^{-\alpha(s-\lambda)}}"
        ),
        notes=("λ = base; pml MultiSimilarityLoss without a miner (mean over all anchors)",),
        example=_BATCH + "output = F.multi_similarity_loss(embeddings, labels)\n"
        "output.backward()\n",
        torch_example=_pml("MultiSimilarityLoss"),
        torch_note="pml MultiSimilarityLoss",
        curve=_pair("multi_similarity_loss"),
    ),
    _entry(
        "lifted_structure",
        "lifted_structure_loss",
        "LiftedStructureLoss",
        aliases=("GeneralizedLiftedStructureLoss",),
        summary="Lifted structured loss: each positive pair against all negatives of both ends.",
        tex=(
            r"\ell_{ij} = \tfrac12\max\Bigl(0, \log\!\!\sum_{(a,n):\ a = i \text{ or } a = j}\!\! "
            r"e^{m_- - d_{an}} + d_{ij} - m_+\Bigr)^2"
        ),
        tex_gradient=r"\frac{\partial \ell_{ij}}{\partial d_{ij}} = r_{ij}",
        notes=(
            "pml LiftedStructureLoss; generalized=True is pml GeneralizedLiftedStructureLoss "
            "(per anchor, relu of the two log-sum-exps)",
        ),
        example=_BATCH + "output = F.lifted_structure_loss(embeddings, labels)\n"
        "output.backward()\n",
        torch_example=_pml("LiftedStructureLoss"),
        torch_note="pml LiftedStructureLoss",
        curve=_pair("lifted_structure_loss"),
    ),
    _entry(
        "npairs",
        "npairs_loss",
        "NPairsLoss",
        summary="N-pairs: each class's anchor classifies its positive among the others'.",
        tex=r"\ell = \mathrm{CE}(AP^\top, \operatorname{arange}(K))",
        tex_gradient=(
            r"\frac{\partial \ell}{\partial (AP^\top)} = \frac{\operatorname{softmax} - E}{K}"
        ),
        notes=("the first pair of each label in row-major order, as pml NPairsLoss",),
        example=_BATCH + "output = F.npairs_loss(embeddings, labels)\noutput.backward()\n",
        torch_example=_pml("NPairsLoss"),
        torch_note="pml NPairsLoss",
        curve=_pair("npairs_loss"),
    ),
    _entry(
        "margin",
        "margin_loss",
        "MarginLoss",
        summary="Margin loss (Wu et al.): distances of positives below β − m, negatives above "
        "β + m.",
        tex=(
            r"\ell = \frac{1}{n}\sum_{(a,p,n)}\bigl[\max(0, d_{ap} - \beta + m) + "
            r"\max(0, \beta - d_{an} + m)\bigr]"
        ),
        tex_gradient=r"\frac{\partial \ell}{\partial d_{ap}} = \frac1n\ \text{(active)}",
        notes=(
            "pml MarginLoss (all triplets), computed on pairs without enumerating triplets",
            "learn_beta: β is a Parameter (per class with num_classes); nu·β is added",
        ),
        example=_BATCH + "output = F.margin_loss(embeddings, labels)\noutput.backward()\n",
        torch_example=_pml("MarginLoss"),
        torch_note="pml MarginLoss",
        curve=_pair("margin_loss"),
    ),
    _entry(
        "circle",
        "circle_loss",
        "CircleLoss",
        summary="Circle loss: self-paced weights on each pair's similarity.",
        tex=(
            r"\ell_i = \operatorname{softplus}\Bigl(\log\sum_P e^{-\gamma a_p (s_{ip} - 1 + m)} + "
            r"\log\sum_N e^{\gamma a_n (s_{in} - m)}\Bigr)"
        ),
        tex_gradient=(r"\frac{\partial \ell_i}{\partial s_{ip}} = -\gamma a_p w_{ip} \sigma_i"),
        notes=(
            "a_p = relu(1 + m − s), a_n = relu(s + m); mean over non-zero anchors",
            "convention='pml' normalizes and detaches a_p, a_n (pml CircleLoss); 'keras' uses the "
            "embeddings as given and differentiates them (keras.losses.Circle): same value on "
            "unit rows, different gradients",
        ),
        example=_BATCH + "output = F.circle_loss(embeddings, labels, m=0.25, gamma=32.0)\n"
        "output.backward()\n",
        torch_example=_pml("CircleLoss", "m=0.25, gamma=32.0"),
        torch_note="pml CircleLoss",
        curve=_pair("circle_loss"),
    ),
    _entry(
        "arcface",
        "arcface_loss",
        "ArcFaceLoss",
        summary="ArcFace: cross entropy on scaled cosines with an additive angular margin.",
        tex=r"\ell = \mathrm{CE}\bigl(s\,[\cos(\theta_y + m), \cos\theta_{j\neq y}],\ y\bigr)",
        tex_gradient=(
            r"\frac{\partial \cos(\theta+m)}{\partial \cos\theta} = \cos m + "
            r"\frac{\cos\theta \sin m}{\sin\theta}"
        ),
        notes=(
            "margin in degrees (pml's 28.6 = 0.5 rad); beyond θ > π − m the target is "
            "cos θ − m·sin m",
            "W (embedding_size, num_classes) is a Parameter, as pml ArcFaceLoss",
        ),
        example=_ARC_EXAMPLE[0],
        torch_example=_ARC_EXAMPLE[1],
        torch_note="pml ArcFaceLoss",
        curve=_by_class("arcface_loss"),
    ),
    _entry(
        "subcenter_arcface",
        "subcenter_arcface_loss",
        "SubCenterArcFaceLoss",
        summary="Sub-center ArcFace: K centres per class, the closest one takes the margin.",
        tex=r"\cos\theta_c = \max_k \cos\theta_{c,k}",
        tex_gradient=r"\text{as ArcFace, through the arg-max centre}",
        notes=("W has num_classes·sub_centers columns, as pml SubCenterArcFaceLoss",),
        example=_SUB_EXAMPLE[0],
        torch_example=_SUB_EXAMPLE[1],
        torch_note="pml SubCenterArcFaceLoss",
        curve=_by_class("arcface_loss"),
    ),
    _entry(
        "cosface",
        "cosface_loss",
        "CosFaceLoss",
        summary="CosFace / AM-Softmax: cross entropy on scaled cosines, target minus a margin.",
        tex=r"\ell = \mathrm{CE}\bigl(s\,[\cos\theta_y - m, \cos\theta_{j\neq y}],\ y\bigr)",
        tex_gradient=(
            r"\frac{\partial \ell}{\partial \cos\theta_j} = s\,(\operatorname{softmax}_j - [j=y])"
        ),
        notes=("pml CosFaceLoss: margin 0.35, scale 64, W a Parameter",),
        example=_COS_EXAMPLE[0],
        torch_example=_COS_EXAMPLE[1],
        torch_note="pml CosFaceLoss",
        curve=_by_class("cosface_loss"),
    ),
    _entry(
        "sphereface",
        "large_margin_softmax_loss",
        "SphereFaceLoss",
        aliases=("LargeMarginSoftmaxLoss", "large_margin_softmax"),
        summary="SphereFace / L-Softmax: multiplicative angular margin cos(mθ).",
        tex=r"\psi(\theta) = (-1)^k\cos(m\theta) - 2k,\quad k = \lfloor m\theta/\pi\rfloor",
        tex_gradient=(
            r"\cos(m\theta) = \sum_n (-1)^n \binom{m}{2n}\cos^{m-2n}\theta\,\sin^{2n}\theta"
        ),
        notes=(
            "SphereFaceLoss = pml SphereFaceLoss (unit class weights, "
            "normalize_weights=True); LargeMarginSoftmaxLoss = pml LargeMarginSoftmaxLoss "
            "(|W_j| kept)",
        ),
        example=_SPHERE_EXAMPLE[0],
        torch_example=_SPHERE_EXAMPLE[1],
        torch_note="pml SphereFaceLoss",
        curve=_by_class("large_margin_softmax_loss"),
    ),
    _entry(
        "normalized_softmax",
        "normalized_softmax_loss",
        "NormalizedSoftmaxLoss",
        summary="Normalized softmax (NormFace): cross entropy on cosines over a temperature.",
        tex=r"\ell = \mathrm{CE}(\cos\theta/\tau,\ y)",
        tex_gradient=(
            r"\frac{\partial \ell}{\partial \cos\theta_j} = \frac{\operatorname{softmax}_j - [j=y]}"
            r"{\tau}"
        ),
        notes=("pml NormalizedSoftmaxLoss (temperature 0.05)",),
        example=_NORM_EXAMPLE[0],
        torch_example=_NORM_EXAMPLE[1],
        torch_note="pml NormalizedSoftmaxLoss",
        curve=_by_class("normalized_softmax_loss"),
    ),
    _entry(
        "proxy_anchor",
        "proxy_anchor_loss",
        "ProxyAnchorLoss",
        summary="Proxy-Anchor: each class proxy pulls its samples and pushes the others.",
        tex=(
            r"\ell = \frac{1}{|C^+|}\sum_{c\in C^+}\log\Bigl(1+\sum_{y_i=c} "
            r"e^{-\alpha(s_{ic}-\delta)}\Bigr) + \frac1C\sum_c\log\Bigl(1+\sum_{y_i\neq c} "
            r"e^{\alpha(s_{ic}+\delta)}\Bigr)"
        ),
        tex_gradient=r"\text{softmax weights} \times (\mp\alpha)",
        notes=("proxies (num_classes, embedding_size), He-normal initialized as pml",),
        example=_ANCHOR_EXAMPLE[0],
        torch_example=_ANCHOR_EXAMPLE[1],
        torch_note="pml ProxyAnchorLoss",
        curve=_by_class("proxy_anchor_loss"),
    ),
    _entry(
        "proxy_nca",
        "proxy_nca_loss",
        "ProxyNCALoss",
        summary="Proxy-NCA: softmax over negative squared distances to class proxies.",
        tex=r"\ell = \mathrm{CE}(-s\,d^2,\ y)",
        tex_gradient=r"\frac{\partial \ell}{\partial d^2_c} = -s\,(q_c - [c = y])",
        notes=("pml ProxyNCALoss (LpDistance(power=2)); pml drops rows whose probability is 0",),
        example=_NCA_EXAMPLE[0],
        torch_example=_NCA_EXAMPLE[1],
        torch_note="pml ProxyNCALoss",
        curve=_by_class("proxy_nca_loss"),
    ),
    _entry(
        "barlow_twins",
        "barlow_twins_loss",
        "BarlowTwinsLoss",
        summary="Barlow Twins: the cross-correlation of two views driven to the identity.",
        tex=r"\ell = \sum_i (1 - C_{ii})^2 + \lambda\sum_{i\neq j} C_{ij}^2",
        tex_gradient=(
            r"\frac{\partial \ell}{\partial C_{ii}} = -2(1 - C_{ii}),\quad "
            r"\frac{\partial \ell}{\partial C_{ij}} = 2\lambda C_{ij}"
        ),
        notes=("MONAI BarlowTwinsLoss: (x − mean)/(std + 1e-6), unbiased std",),
        example="""\
view_a = torch.tensor([[1.0, 0.2], [-0.5, 1.1], [0.3, -0.9], [-1.2, -0.4]], requires_grad=True)
view_b = torch.tensor([[0.9, 0.4], [-0.3, 1.0], [0.5, -0.8], [-1.0, -0.6]])
output = F.barlow_twins_loss(view_a, view_b)
output.backward()
""",
        torch_example="""\
from monai.losses import BarlowTwinsLoss
view_a = torch.tensor([[1.0, 0.2], [-0.5, 1.1], [0.3, -0.9], [-1.2, -0.4]], requires_grad=True)
view_b = torch.tensor([[0.9, 0.4], [-0.3, 1.0], [0.5, -0.8], [-1.0, -0.6]])
output = BarlowTwinsLoss()(view_a, view_b)
output.backward()
""",
        torch_note="MONAI BarlowTwinsLoss",
        curve=_two_views("barlow_twins_loss"),
    ),
    _entry(
        "vicreg",
        "vicreg_loss",
        "VICRegLoss",
        summary="VICReg: invariance, variance hinge and covariance penalty of two views.",
        tex=(
            r"\ell = \lambda\,\overline{(x-y)^2} + \frac{\mu}{2}\bigl(V(x)+V(y)\bigr) + "
            r"\nu\bigl(C(x)+C(y)\bigr)"
        ),
        tex_gradient=r"\frac{\partial \ell}{\partial x} = \frac{2\lambda (x-y)}{ND} + \dots",
        notes=("pml VICRegLoss (its variance terms are halved and summed)",),
        example="""\
view_a = torch.tensor([[1.0, 0.2], [-0.5, 1.1], [0.3, -0.9], [-1.2, -0.4]], requires_grad=True)
view_b = torch.tensor([[0.9, 0.4], [-0.3, 1.0], [0.5, -0.8], [-1.0, -0.6]])
output = F.vicreg_loss(view_a, view_b)
output.backward()
""",
        torch_example="""\
from pytorch_metric_learning import losses
view_a = torch.tensor([[1.0, 0.2], [-0.5, 1.1], [0.3, -0.9], [-1.2, -0.4]], requires_grad=True)
view_b = torch.tensor([[0.9, 0.4], [-0.3, 1.0], [0.5, -0.8], [-1.0, -0.6]])
output = losses.VICRegLoss()(view_a, ref_emb=view_b)
output.backward()
""",
        torch_note="pml VICRegLoss",
        curve=_two_views("vicreg_loss"),
    ),
)
