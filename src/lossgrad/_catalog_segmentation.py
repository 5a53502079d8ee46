"""Catalog entries of the segmentation losses (``lossgrad.nn.functional.loss_segmentation``).

Every curve is drawn on a two-pixel image per point: the foreground pixel has logit ``z`` and
target 1, the background pixel logit ``-z`` and target 0, so ``z`` is how right the
prediction is. The ``torch_example`` of each entry computes the same loss with torch's own
functions, written from the reference library's definition named in ``torch_note``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType
from typing import Any

from lossgrad._catalog import Curve, CurveFn, Loss

TITLE = "Segmentation losses (MONAI, smp, kornia, Keras)"


def _two_pixels(lib: ModuleType, z: Any) -> tuple[Any, Any]:
    """Logits ``(N, 1, 2)`` ``[z, -z]`` and targets ``[1, 0]``: one image per point."""
    logits = lib.stack([z, -z], dim=1).unsqueeze(1)
    target = lib.tensor([[[1.0, 0.0]]], dtype=lib.float64).expand(z.shape[0], 1, 2)
    return logits, target


def _overlap(fn: str) -> CurveFn:
    def curve(lib: ModuleType, z: Any, p: Mapping[str, Any], s: Mapping[str, Any]) -> Any:
        logits, target = _two_pixels(lib, z)
        options = {"sigmoid": True, **p}
        loss = getattr(lib.nn.functional, fn)(logits, target, reduction="none", **options)
        return loss.reshape(z.shape[0])

    return curve


def _per_point(fn: str, **fixed: Any) -> CurveFn:
    """For losses that only reduce: one call per point (images of two pixels)."""

    def curve(lib: ModuleType, z: Any, p: Mapping[str, Any], s: Mapping[str, Any]) -> Any:
        logits, target = _two_pixels(lib, z)
        loss = getattr(lib.nn.functional, fn)
        return lib.stack(
            [
                loss(logits[i : i + 1], target[i : i + 1], **{**fixed, **p})
                for i in range(z.shape[0])
            ]
        )

    return curve


def _lovasz_softmax_curve(
    lib: ModuleType, z: Any, p: Mapping[str, Any], s: Mapping[str, Any]
) -> Any:
    logits, _ = _two_pixels(lib, z)
    two_class = lib.cat([logits, -logits], dim=1)  # class 0 wins on pixel 0, class 1 on pixel 1
    target = lib.tensor([[0, 1]])
    loss = lib.nn.functional.lovasz_softmax_loss
    return lib.stack([loss(two_class[i : i + 1], target, **p) for i in range(z.shape[0])])


def _curve(fn: CurveFn, xlabel: str = "logit z of the foreground pixel (background: −z)") -> Curve:
    return Curve("logit", xlabel, (-4.0, 4.0), fn)


_IMAGE = """\
input = torch.tensor(
    [[[[1.2, -0.4], [0.3, -2.0]]], [[[0.5, 0.8], [-1.0, 2.0]]]], requires_grad=True
)
target = torch.tensor([[[[1., 0.], [1., 0.]]], [[[0., 1.], [0., 1.]]]])
"""

_SOFT_COUNTS = (
    _IMAGE
    + """\
p = torch.sigmoid(input)
tp = (p * target).sum(dim=(2, 3))
fp = p.sum(dim=(2, 3)) - tp
fn = target.sum(dim=(2, 3)) - tp
"""
)

_SETTINGS = "settings that reproduce each library (F.dice_loss(x, y, **settings)):"

ENTRIES: tuple[Loss, ...] = (
    Loss(
        key="dice",
        functional="dice_loss",
        module="DiceLoss",
        family="segmentation",
        summary="Soft Dice loss with MONAI's keywords; settings reproduce smp, Keras, kornia.",
        tex=r"\ell_{bc} = 1 - \frac{2\sum_i p_i g_i + s_{nr}}{\sum_i p_i + \sum_i g_i + s_{dr}}",
        tex_gradient=r"\frac{\partial \ell}{\partial p_i} = -\frac{2 g_i D - N}{D^2}",
        in_torch=False,
        torch_note="monai.losses.DiceLoss",
        notes=(
            "MONAI's keyword names and defaults: F.dice_loss(x, y, **kw) equals "
            "monai.losses.DiceLoss(**kw)(x, y); one Dice per (sample, class), then the mean",
            _SETTINGS,
            "  MONAI DiceLoss(**kw): **kw",
            "  smp DiceLoss('multiclass'): softmax=True, to_onehot_y=True, batch=True, "
            "smooth_nr=0, smooth_dr=0, eps=1e-7, zero_absent=True",
            "  smp DiceLoss('binary' | 'multilabel', smooth=s): sigmoid=True, batch=True, "
            "smooth_nr=2s, smooth_dr=2s, eps=1e-7, zero_absent=True (log_loss=True as smp)",
            "  smp classes=k, class_weights=w: add classes=k, class_average='weighted', "
            "weight=[w[i] for i in k] (weight: one value per kept class)",
            "  keras.losses.Dice() (axis=None): batch=True, pool_classes=True, smooth_nr=0, "
            "smooth_dr=1e-7 (probabilities, channels first); axis=(1, 2, 3): pool_classes=True, "
            "smooth_nr=0, smooth_dr=1e-7; axis=(1, 2): smooth_nr=0, smooth_dr=1e-7",
            "  kornia.losses.dice_loss(x, y, eps=e) ('micro'): softmax=True, to_onehot_y=True, "
            "pool_classes=True, smooth_nr=0, smooth_dr=e",
            "  kornia average='macro': softmax=True, to_onehot_y=True, smooth_nr=0, smooth_dr=e, "
            "class_average='present'; kornia weight=w: add weight=w; its ignore_index "
            "(default -100): add ignore_index=-100",
            "finite for empty masks (the smoothing terms); float16 summed in float32",
        ),
        example=_IMAGE
        + """\
output = F.dice_loss(input, target, sigmoid=True)
output.backward()
""",
        torch_example=_SOFT_COUNTS
        + """\
output = (1 - (2 * tp + 1e-5) / (2 * tp + fp + fn + 1e-5)).mean()
output.backward()
""",
        curve=_curve(_overlap("dice_loss")),
    ),
    Loss(
        key="jaccard",
        functional="jaccard_loss",
        module="JaccardLoss",
        family="segmentation",
        summary="Soft Jaccard (IoU) loss: dice_loss(jaccard=True); smp JaccardLoss settings.",
        tex=r"\ell_{bc} = 1 - \frac{2\,tp + s_{nr}}{2\,(tp + fp + fn) + s_{dr}}",
        tex_gradient=r"\frac{\partial \ell}{\partial p_i} = -\frac{g_i U - I (1 - g_i)}{U^2}",
        in_torch=False,
        torch_note="monai.losses.DiceLoss(jaccard=True)",
        notes=(
            "MONAI: DiceLoss(jaccard=True, **kw) equals F.jaccard_loss(x, y, **kw)",
            "smp JaccardLoss(mode, smooth=s, classes=k, class_weights=w): as smp's DiceLoss "
            "settings (see dice)",
        ),
        example=_IMAGE
        + """\
output = F.jaccard_loss(input, target, sigmoid=True)
output.backward()
""",
        torch_example=_SOFT_COUNTS
        + """\
output = (1 - (2 * tp + 1e-5) / (2 * (tp + fp + fn) + 1e-5)).mean()
output.backward()
""",
        curve=_curve(_overlap("jaccard_loss")),
    ),
    Loss(
        key="tversky",
        functional="tversky_loss",
        module="TverskyLoss",
        family="segmentation",
        summary="Tversky loss, α on false positives (MONAI, smp, kornia); focal Tversky by γ.",
        tex=(
            r"\ell_{bc} = \Bigl(1 - \frac{tp + s_{nr}}"
            r"{tp + \alpha\,fp + \beta\,fn + s_{dr}}\Bigr)^{\gamma}"
        ),
        tex_gradient=(
            r"\frac{\partial TI}{\partial p_i} = "
            r"\frac{g_i D - N (g_i + \alpha (1 - g_i) - \beta g_i)}{D^2}"
        ),
        in_torch=False,
        torch_note="monai.losses.TverskyLoss",
        notes=(
            "MONAI TverskyLoss(**kw): **kw (same names and defaults)",
            "smp TverskyLoss('binary', alpha, beta, gamma, smooth=s): sigmoid=True, batch=True, "
            "smooth_nr=s, smooth_dr=s, eps=1e-7, zero_absent=True",
            "smp TverskyLoss('multiclass', ..., gamma): softmax=True, to_onehot_y=True and the "
            "above, gamma_after_reduction=True (smp raises the mean over the classes to γ); "
            "classes=k, class_weights=w: classes=k, class_average='weighted', "
            "weight=[w[i] for i in k]",
            "keras.losses.Tversky(alpha=a, beta=b) weighs false negatives by a: here alpha=b, "
            "beta=a, batch=True, pool_classes=True, smooth_nr=0, smooth_dr=1e-7",
            "kornia tversky_loss(alpha, beta, eps): softmax=True, to_onehot_y=True, smooth_nr=0, "
            "smooth_dr=eps, when every class is present (kornia averages present classes)",
        ),
        example=_IMAGE
        + """\
output = F.tversky_loss(input, target, sigmoid=True, alpha=0.3, beta=0.7)
output.backward()
""",
        torch_example=_SOFT_COUNTS
        + """\
output = (1 - (tp + 1e-5) / (tp + 0.3 * fp + 0.7 * fn + 1e-5)).mean()
output.backward()
""",
        curve=_curve(_overlap("tversky_loss")),
    ),
    Loss(
        key="generalized_dice",
        functional="generalized_dice_loss",
        module="GeneralizedDiceLoss",
        family="segmentation",
        summary="Generalized Dice (Sudre 2017): classes weighted by 1/volume², MONAI's.",
        tex=(
            r"\ell_b = 1 - \frac{2\sum_c w_c\,tp_c + s_{nr}}"
            r"{\sum_c w_c (\sum p_c + \sum g_c) + s_{dr}},"
            r"\quad w_c = 1/G_c^2"
        ),
        tex_gradient=r"\frac{\partial \ell}{\partial p_{ci}} = -w_c \frac{2 g_{ci} D - N}{D^2}",
        in_torch=False,
        torch_note="monai.losses.GeneralizedDiceLoss",
        notes=(
            "w_type 'square' (1/G²), 'simple' (1/G) or 'uniform'; an absent class takes the "
            "largest finite weight, as MONAI",
        ),
        example=_IMAGE
        + """\
output = F.generalized_dice_loss(input, target, sigmoid=True, w_type='simple')
output.backward()
""",
        torch_example=_SOFT_COUNTS
        + """\
w = 1 / target.sum(dim=(2, 3))                         # MONAI's w_type='simple'
output = (1 - (2 * (w * tp).sum(1) + 1e-5) / ((w * (2 * tp + fp + fn)).sum(1) + 1e-5)).mean()
output.backward()
""",
        curve=_curve(_overlap("generalized_dice_loss")),
    ),
    Loss(
        key="dice_ce",
        functional="dice_ce_loss",
        module="DiceCELoss",
        family="segmentation",
        summary="Dice plus cross-entropy (MONAI DiceCELoss; the nnU-Net compound).",
        tex=r"\ell = \lambda_{dice}\,\mathrm{Dice} + \lambda_{ce}\,\mathrm{CE}",
        tex_gradient=(
            r"\frac{\partial \ell}{\partial x} = "
            r"\lambda_{dice}\,\frac{\partial \mathrm{Dice}}{\partial x}"
            r" + \lambda_{ce}\,\frac{\partial \mathrm{CE}}{\partial x}"
        ),
        in_torch=False,
        torch_note="monai.losses.DiceCELoss",
        notes=(
            "CE is cross_entropy on class indices (or soft targets), BCE-with-logits for one "
            "channel",
            "reduction 'mean' or 'sum' only, as MONAI",
        ),
        example=_IMAGE
        + """\
output = F.dice_ce_loss(input, target, sigmoid=True)
output.backward()
""",
        torch_example=_SOFT_COUNTS
        + """\
dice = (1 - (2 * tp + 1e-5) / (2 * tp + fp + fn + 1e-5)).mean()
output = dice + F.binary_cross_entropy_with_logits(input, target)
output.backward()
""",
        curve=_curve(_per_point("dice_ce_loss", sigmoid=True)),
    ),
    Loss(
        key="dice_focal",
        functional="dice_focal_loss",
        module="DiceFocalLoss",
        family="segmentation",
        summary="Dice plus sigmoid focal loss (MONAI DiceFocalLoss).",
        tex=(
            r"\ell = \lambda_{dice}\,\mathrm{Dice} + "
            r"\lambda_{focal}\,\operatorname{mean}\bigl(\alpha_t (1-p_t)^{\gamma}"
            r"\,\mathrm{BCE}\bigr)"
        ),
        tex_gradient=(
            r"\frac{\partial \ell}{\partial x} = "
            r"\lambda_{dice}\,\frac{\partial \mathrm{Dice}}{\partial x}"
            r" + \lambda_{focal}\,\frac{\partial \mathrm{focal}}{\partial x}"
        ),
        in_torch=False,
        torch_note="monai.losses.DiceFocalLoss",
        notes=(
            "the focal term is MONAI's sigmoid focal loss on the logits, whatever the Dice "
            "activation; MONAI computes it in float32, lossgrad in the input's precision",
        ),
        example=_IMAGE
        + """\
output = F.dice_focal_loss(input, target, sigmoid=True)
output.backward()
""",
        torch_example=_SOFT_COUNTS
        + """\
dice = (1 - (2 * tp + 1e-5) / (2 * tp + fp + fn + 1e-5)).mean()
p_t = p * target + (1 - p) * (1 - target)
bce = F.binary_cross_entropy_with_logits(input, target, reduction='none')
output = dice + ((1 - p_t) ** 2 * bce).mean()
output.backward()
""",
        curve=_curve(_per_point("dice_focal_loss", sigmoid=True)),
    ),
    Loss(
        key="mcc",
        functional="mcc_loss",
        module="MCCLoss",
        family="segmentation",
        summary="Soft Matthews-correlation loss (MONAI MCCLoss; smp with eps).",
        tex=(
            r"\ell = 1 - \frac{tp\,tn - fp\,fn + s_{nr}}"
            r"{\sqrt{(tp+fp)(tp+fn)(tn+fp)(tn+fn) + s_{dr}}}"
        ),
        tex_gradient=r"\text{autograd through the soft counts}",
        in_torch=False,
        torch_note="monai.losses.MCCLoss",
        notes=(
            "0 where the prediction is exact (fp = fn = 0), as MONAI",
            "smp MCCLoss(eps): batch=True, smooth_nr=0, smooth_dr=0, eps=eps on probabilities",
        ),
        example=_IMAGE
        + """\
output = F.mcc_loss(input, target, sigmoid=True)
output.backward()
""",
        torch_example=_SOFT_COUNTS
        + """\
tn = (1 - p).mul(1 - target).sum(dim=(2, 3))
root = ((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn) + 1e-5).sqrt()
output = (1 - (tp * tn - fp * fn) / root).mean()
output.backward()
""",
        curve=_curve(_overlap("mcc_loss")),
    ),
    Loss(
        key="lovasz_hinge",
        functional="lovasz_hinge_loss",
        module="LovaszHingeLoss",
        family="segmentation",
        summary="Lovász hinge (Berman 2018): the Lovász extension of the Jaccard loss, binary.",
        tex=r"\ell = \sum_k e_{(k)}\,(J_k - J_{k-1}),\qquad e_i = \max(0, 1 - x_i (2y_i - 1))",
        tex_gradient=r"\frac{\partial \ell}{\partial x_i} = -(2y_i - 1)\,w_i\,[e_i > 0]",
        in_torch=False,
        torch_note="kornia.losses.lovasz_hinge_loss",
        notes=(
            "kornia lovasz_hinge_loss: the defaults (per_image=True)",
            "smp LovaszLoss('binary' | 'multilabel', per_image=p, ignore_index=i): "
            "per_image=p, ignore_index=i",
        ),
        example="""\
input = torch.tensor([[[[2.0, -1.0], [0.5, -3.0]]]], requires_grad=True)
target = torch.tensor([[[1, 0], [0, 0]]])
output = F.lovasz_hinge_loss(input, target)
output.backward()
""",
        torch_example="""\
input = torch.tensor([[[[2.0, -1.0], [0.5, -3.0]]]], requires_grad=True)
target = torch.tensor([[[1, 0], [0, 0]]])
y = target.reshape(-1).float()
errors = 1 - input.reshape(-1) * (2 * y - 1)               # Berman's lovasz_hinge_flat
errors_sorted, order = errors.sort(descending=True)
g = y[order]
jaccard = 1 - (g.sum() - g.cumsum(0)) / (g.sum() + (1 - g).cumsum(0))
weights = torch.cat([jaccard[:1], jaccard[1:] - jaccard[:-1]])
output = (errors_sorted.relu() * weights).sum()
output.backward()
""",
        curve=_curve(_per_point("lovasz_hinge_loss")),
    ),
    Loss(
        key="lovasz_softmax",
        functional="lovasz_softmax_loss",
        module="LovaszSoftmaxLoss",
        family="segmentation",
        summary="Lovász-softmax (Berman 2018): per-class Lovász Jaccard on softmax errors.",
        tex=r"\ell = \frac{1}{|C|}\sum_c \sum_k e_{c(k)}\,(J_{c,k} - J_{c,k-1})",
        tex_gradient=(
            r"\frac{\partial \ell}{\partial p_{ci}} = w_{ci}\,\mathrm{sign}(p_{ci} - [y_i = c])"
        ),
        in_torch=False,
        torch_note="smp LovaszLoss('multiclass')",
        notes=(
            "smp LovaszLoss('multiclass', per_image=p, ignore_index=i): the defaults "
            "(classes='present') with per_image=p, ignore_index=i",
            "kornia lovasz_softmax_loss(weight=w): classes='all', per_image=True, weight=w",
        ),
        example="""\
input = torch.tensor([[[[2.0, -1.0]], [[0.0, 1.0]]]], requires_grad=True)
target = torch.tensor([[[0, 1]]])
output = F.lovasz_softmax_loss(input, target)
output.backward()
""",
        torch_example="""\
input = torch.tensor([[[[2.0, -1.0]], [[0.0, 1.0]]]], requires_grad=True)
target = torch.tensor([[[0, 1]]])
p = input.softmax(1).reshape(2, -1)
losses = []
for c in range(2):                                     # both classes are present
    fg = (target.reshape(-1) == c).float()
    errors_sorted, order = (fg - p[c]).abs().sort(descending=True)
    g = fg[order]
    jaccard = 1 - (g.sum() - g.cumsum(0)) / (g.sum() + (1 - g).cumsum(0))
    weights = torch.cat([jaccard[:1], jaccard[1:] - jaccard[:-1]])
    losses.append((errors_sorted * weights).sum())
output = torch.stack(losses).mean()
output.backward()
""",
        curve=Curve(
            "logit",
            "logit margin z of the right class at each of two pixels",
            (-4.0, 4.0),
            _lovasz_softmax_curve,
        ),
    ),
)
