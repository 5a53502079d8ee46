"""Catalog entries of the box losses (``lossgrad.nn.functional.loss_detection``).

Curves slide a unit box horizontally past the unit target box ``(0, 0, 1, 1)``: ``z`` is the
predicted box's left edge, so the boxes overlap for ``|z| < 1``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType
from typing import Any

from lossgrad._catalog import Curve, CurveFn, Loss

TITLE = "Bounding-box losses (torchvision.ops)"


def _sliding_box(fn: str) -> CurveFn:
    def curve(lib: ModuleType, z: Any, p: Mapping[str, Any], s: Mapping[str, Any]) -> Any:
        height = s["height"]
        ones = lib.ones_like(z)
        boxes = lib.stack([z, 0 * z, z + 1, height * ones], dim=1)
        target = lib.tensor([[0.0, 0.0, 1.0, 1.0]], dtype=lib.float64).expand(z.shape[0], 4)
        return getattr(lib.nn.functional, fn)(boxes, target, reduction="none", **p)

    return curve


def _curve(fn: str) -> Curve:
    return Curve(
        "shift",
        "left edge z of a 1×{height:g} box (target: the unit box at 0)",
        (-2.5, 2.5),
        _sliding_box(fn),
        {"height": 1.0},
    )


_BOXES = """\
boxes1 = torch.tensor([[0.0, 0.0, 2.0, 2.0], [1.0, 1.0, 4.0, 2.5]], requires_grad=True)
boxes2 = torch.tensor([[1.0, 1.0, 3.0, 3.0], [0.5, 0.5, 3.5, 3.0]])
"""

_TERMS = (
    _BOXES
    + """\
x1, y1, x2, y2 = boxes1.unbind(-1)                     # torchvision.ops' formulas
x1g, y1g, x2g, y2g = boxes2.unbind(-1)
inter = (torch.min(x2, x2g) - torch.max(x1, x1g)).clamp(min=0) * (
    torch.min(y2, y2g) - torch.max(y1, y1g)).clamp(min=0)
union = (x2 - x1) * (y2 - y1) + (x2g - x1g) * (y2g - y1g) - inter
iou = inter / (union + 1e-7)
cw, ch = torch.max(x2, x2g) - torch.min(x1, x1g), torch.max(y2, y2g) - torch.min(y1, y1g)
"""
)

_DISTANCE = """\
rho2 = ((x1 + x2 - x1g - x2g) / 2) ** 2 + ((y1 + y2 - y1g - y2g) / 2) ** 2
diou = 1 - iou + rho2 / (cw ** 2 + ch ** 2 + 1e-7)
"""

ENTRIES: tuple[Loss, ...] = (
    Loss(
        key="generalized_box_iou",
        functional="generalized_box_iou_loss",
        module="GeneralizedBoxIoULoss",
        family="detection",
        summary="GIoU loss (Rezatofighi 2019): 1 − IoU + (area(C) − U)/area(C); torchvision's.",
        tex=r"\ell = 1 - \frac{I}{U + \varepsilon} + \frac{|C| - U}{|C| + \varepsilon}",
        tex_gradient=r"\text{autograd through the box corners}",
        in_torch=False,
        torch_note="torchvision.ops.generalized_box_iou_loss",
        notes=(
            "torchvision.ops' name, signature and defaults (reduction='none', eps=1e-7)",
            "boxes (x1, y1, x2, y2); disjoint and zero-area boxes stay finite",
        ),
        example=_BOXES
        + """\
output = F.generalized_box_iou_loss(boxes1, boxes2, reduction='mean')
output.backward()
""",
        torch_example=_TERMS
        + """\
output = (1 - iou + (cw * ch - union) / (cw * ch + 1e-7)).mean()
output.backward()
""",
        curve=_curve("generalized_box_iou_loss"),
        aliases=("giou",),
    ),
    Loss(
        key="distance_box_iou",
        functional="distance_box_iou_loss",
        module="DistanceBoxIoULoss",
        family="detection",
        summary="DIoU loss (Zheng 2020): 1 − IoU + ρ²/c²; torchvision's.",
        tex=r"\ell = 1 - \mathrm{IoU} + \frac{\rho^2}{c^2 + \varepsilon}",
        tex_gradient=r"\text{autograd through the box corners}",
        in_torch=False,
        torch_note="torchvision.ops.distance_box_iou_loss",
        notes=("torchvision.ops' name, signature and defaults",),
        example=_BOXES
        + """\
output = F.distance_box_iou_loss(boxes1, boxes2, reduction='mean')
output.backward()
""",
        torch_example=_TERMS
        + _DISTANCE
        + """\
output = diou.mean()
output.backward()
""",
        curve=_curve("distance_box_iou_loss"),
        aliases=("diou",),
    ),
    Loss(
        key="complete_box_iou",
        functional="complete_box_iou_loss",
        module="CompleteBoxIoULoss",
        family="detection",
        summary="CIoU loss (Zheng 2020): DIoU + α·v, α held constant as torchvision.",
        tex=(
            r"\ell = \mathrm{DIoU} + \alpha v,\quad v = \tfrac{4}{\pi^2}"
            r"\bigl(\arctan\tfrac{w_g}{h_g} - \arctan\tfrac{w}{h}\bigr)^2"
        ),
        tex_gradient=(
            r"\frac{\partial \ell}{\partial b} = \frac{\partial\,\mathrm{DIoU}}{\partial b}"
            r" + \alpha \frac{\partial v}{\partial b}"
        ),
        in_torch=False,
        torch_note="torchvision.ops.complete_box_iou_loss",
        notes=(
            "α is computed without gradient (the paper's and torchvision's choice): the gradient"
            " is not the finite-difference one by design",
            "a box of zero height: the finite limit gradient, where torchvision's atan(w/h) "
            "gives NaN; a 0×0 box has no aspect ratio (NaN, as torchvision)",
        ),
        example=_BOXES
        + """\
output = F.complete_box_iou_loss(boxes1, boxes2, reduction='mean')
output.backward()
""",
        torch_example=_TERMS
        + _DISTANCE
        + """\
gap = torch.atan((x2g - x1g) / (y2g - y1g)) - torch.atan((x2 - x1) / (y2 - y1))
v = 4 / torch.pi ** 2 * gap ** 2
with torch.no_grad():
    alpha = v / (1 - iou + v + 1e-7)
output = (diou + alpha * v).mean()
output.backward()
""",
        curve=_curve("complete_box_iou_loss"),
        aliases=("ciou",),
    ),
)
