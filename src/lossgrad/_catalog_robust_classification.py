"""Catalog entries of the margin and noise-robust classification losses
(``nn/functional/loss_robust.py``)."""

from __future__ import annotations

from lossgrad._catalog import Curve, Loss, _logit, _softmax_class

TITLE = "Margins and noise-robust classification"

_MARGIN_LABEL = "margin x_y − x_other (two classes)"
_SCORE_LABEL = "score x (label y = {target:g})"
_LOGITS = """\
input = torch.tensor([[1.0, -0.5, 2.0], [0.3, 1.2, -1.0], [2.5, 0.0, 0.5]], requires_grad=True)
target = torch.tensor([2, 0, 0])
"""
_SCORES = """\
input = torch.tensor([0.8, -0.3, 2.0, -1.5], requires_grad=True)
target = torch.tensor([1.0, 1.0, -1.0, -1.0])
"""


def _example(module: str, data: str = _LOGITS) -> str:
    return f"loss = nn.{module}\n" + data + "output = loss(input, target)\noutput.backward()\n"


def _margin_curve(functional: str) -> Curve:
    return Curve("margin", _MARGIN_LABEL, (-4.0, 4.0), _softmax_class(functional))


ENTRIES: tuple[Loss, ...] = (
    Loss(
        key="squared_hinge",
        functional="squared_hinge_loss",
        module="SquaredHingeLoss",
        family="robust_classification",
        summary="Squared hinge (L2-SVM) for labels ±1 (Keras).",
        tex=r"\ell = \max(0,\ m - y\,x)^2",
        tex_gradient=r"\frac{\partial \ell}{\partial x} = -2y\max(0,\ m - y\,x)",
        in_torch=False,
        notes=("Keras's SquaredHinge: targets all in {0, 1} are mapped to −1, +1 first",),
        example=_example("SquaredHingeLoss()", _SCORES),
        curve=Curve(
            "score", _SCORE_LABEL, (-3.0, 3.0), _logit("squared_hinge_loss"), {"target": 1.0}
        ),
    ),
    Loss(
        key="perceptron",
        functional="perceptron_loss",
        module="PerceptronLoss",
        family="robust_classification",
        summary="Binary perceptron loss max(0, −y·x) for labels ±1 (optax).",
        tex=r"\ell = \max(0,\ -y\,x)",
        tex_gradient=r"\frac{\partial \ell}{\partial x} = -y\,\mathbb{1}[y x < 0]",
        in_torch=False,
        notes=("optax's perceptron_loss",),
        example=_example("PerceptronLoss()", _SCORES),
        curve=Curve("score", _SCORE_LABEL, (-3.0, 3.0), _logit("perceptron_loss"), {"target": 1.0}),
    ),
    Loss(
        key="multiclass_hinge",
        functional="multiclass_hinge_loss",
        module="MulticlassHingeLoss",
        family="robust_classification",
        summary="Crammer–Singer multi-class hinge: margin of the true class over the best other.",
        tex=r"\ell = \max\bigl(0,\ m + \max_{j \ne y} x_j - x_y\bigr)",
        tex_gradient=r"\frac{\partial \ell}{\partial x} = \bigl(e_{j^*} - e_y\bigr)\,"
        r"\mathbb{1}[\ell > 0],\quad j^* = \arg\max_{j\ne y} x_j",
        in_torch=False,
        notes=(
            "optax's multiclass_hinge_loss; convention='keras' is Keras's CategoricalHinge, "
            "max((1 − t)·x) − Σ t·x + m, which is 0 whenever every wrong score is below −m",
            "torch's multi_margin_loss is the Weston–Watkins sum over j ≠ y instead",
        ),
        example=_example("MulticlassHingeLoss()"),
        curve=_margin_curve("multiclass_hinge_loss"),
        aliases=("crammer_singer", "categorical_hinge"),
    ),
    Loss(
        key="multiclass_perceptron",
        functional="multiclass_perceptron_loss",
        module="MulticlassPerceptronLoss",
        family="robust_classification",
        summary="Multi-class perceptron loss max_j x_j − x_y (optax).",
        tex=r"\ell = \max_j x_j - x_y",
        tex_gradient=r"\frac{\partial \ell}{\partial x} = e_{\arg\max_j x_j} - e_y",
        in_torch=False,
        notes=("optax's multiclass_perceptron_loss; ties share the gradient of the max evenly",),
        example=_example("MulticlassPerceptronLoss()"),
        curve=_margin_curve("multiclass_perceptron_loss"),
    ),
    Loss(
        key="generalized_cross_entropy",
        functional="generalized_cross_entropy_loss",
        module="GeneralizedCrossEntropyLoss",
        family="robust_classification",
        summary="Noise-robust (1 − p_y^q)/q: between cross entropy (q → 0) and MAE (q = 1).",
        tex=r"\ell = \frac{1 - p_y^{\,q}}{q},\quad p_y = \operatorname{softmax}(x)_y",
        tex_gradient=r"\frac{\partial \ell}{\partial x} = p_y^{\,q}\bigl(\operatorname{softmax}"
        r"(x) - \operatorname{onehot}(y)\bigr)",
        in_torch=False,
        notes=(
            "Keras's CategoricalGeneralizedCrossEntropy on softmax(input): lossgrad takes "
            "logits and computes −expm1(q·log_softmax)/q",
            "q outside (0, 1] → ValueError",
        ),
        example=_example("GeneralizedCrossEntropyLoss(q=0.7)"),
        curve=_margin_curve("generalized_cross_entropy_loss"),
        aliases=("gce",),
    ),
    Loss(
        key="asymmetric",
        functional="asymmetric_loss",
        module="AsymmetricLoss",
        family="robust_classification",
        summary="ASL: focal terms with separate exponents for positives and negatives (timm).",
        tex=(
            r"\ell = -\sum_c \Bigl[y\,(1-p)^{\gamma_+}\log p + (1-y)\,(1-p_m)^{\gamma_-}\log p_m"
            r"\Bigr],\quad p = \sigma(x),\ p_m = \min(1 - p + \mathrm{clip}, 1)"
        ),
        tex_gradient=r"\text{autograd through the logs and the focusing weights}",
        in_torch=False,
        notes=(
            "float targets (N, C): timm's AsymmetricLossMultiLabel ('batchmean' there is "
            "'mean' here); class indices (N,): AsymmetricLossSingleLabel (its eps is "
            "label_smoothing, 0.1 by default in timm)",
            "timm computes in float32 whatever the input dtype; lossgrad keeps the dtype",
        ),
        example=_example("AsymmetricLoss()"),
        curve=_margin_curve("asymmetric_loss"),
        aliases=("asl",),
    ),
    Loss(
        key="symmetric_cross_entropy",
        functional="symmetric_cross_entropy_loss",
        module="SymmetricCrossEntropyLoss",
        family="robust_classification",
        summary="α·CE + β·reverse CE, robust to label noise (Wang et al. 2019).",
        tex=r"\ell = \alpha\,\mathrm{CE}(x, y) - \beta \log(10^{-4}) \sum_{c \ne y} p_c",
        tex_gradient=r"\text{autograd of the two terms}",
        in_torch=False,
        notes=(
            "the paper's reference code (SCELoss), with its clamps of p at 1e−7 and of the "
            "one-hot target at 1e−4",
        ),
        example=_example("SymmetricCrossEntropyLoss(alpha=0.1, beta=1.0)"),
        curve=_margin_curve("symmetric_cross_entropy_loss"),
        aliases=("sce",),
    ),
)
