"""Bounding-box losses (lossgrad extensions) with torchvision.ops's names, signatures and results.

Boxes are ``(x1, y1, x2, y2)`` rows (``0 <= x1 < x2``, ``0 <= y1 < y2`` for proper boxes). For the
pair ``b`` (predicted) and ``g`` (target), with ``I`` the intersection area, ``U`` the union and
``C`` the smallest enclosing box::

    IoU  = I / (U + eps)
    GIoU loss = 1 - IoU + (area(C) - U) / (area(C) + eps)
    DIoU loss = 1 - IoU + rho^2 / (c^2 + eps)          rho: centre distance, c: diagonal of C
    CIoU loss = DIoU loss + alpha v,   v = 4/pi^2 (atan(w_g/h_g) - atan(w_b/h_b))^2,
                alpha = v / (1 - IoU + v + eps) held constant (no gradient), as torchvision

Each is a composite of lossgrad ops: autograd gives the gradient (and second derivatives; CIoU's
are those of the loss with alpha constant, torchvision's definition). Integer and float16 boxes
are computed in float32, as torchvision's ``_upcast_non_float``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from lossgrad._exports import public_names
from lossgrad._factories import from_numpy
from lossgrad._tensor import Tensor
from lossgrad.autograd import grad_mode
from lossgrad.nn.functional import _checks, _reduction
from lossgrad.ops.pointwise import maximum, minimum, where
from lossgrad.ops.elementary import atan2

_BOX_FORMATS = ("xyxy", "xywh", "cxcywh")


def _upcast(boxes: Tensor, name: str) -> Tensor:
    _checks.check_tensor(boxes, name)
    if boxes.dim() == 0 or boxes.shape[-1] != 4:
        raise ValueError(f"{name}: expected boxes of shape (..., 4), got {tuple(boxes.shape)}")
    if boxes._data.dtype in (np.float32, np.float64):
        return boxes
    return boxes.float()


def _corners(boxes: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    return boxes[..., 0], boxes[..., 1], boxes[..., 2], boxes[..., 3]


def _pair_terms(
    boxes1: Tensor, boxes2: Tensor
) -> tuple[Tensor, Tensor, tuple[Tensor, Tensor, Tensor, Tensor]]:
    """Intersection, union and the enclosing box ``(xc1, yc1, xc2, yc2)`` of matched pairs."""
    x1, y1, x2, y2 = _corners(boxes1)
    x1g, y1g, x2g, y2g = _corners(boxes2)
    inner_width = minimum(x2, x2g) - maximum(x1, x1g)
    inner_height = minimum(y2, y2g) - maximum(y1, y1g)
    overlaps = (inner_width._data > 0) & (inner_height._data > 0)
    intersection = where(from_numpy(overlaps), inner_width * inner_height, 0.0)
    union = (x2 - x1) * (y2 - y1) + (x2g - x1g) * (y2g - y1g) - intersection
    enclosing = (minimum(x1, x1g), minimum(y1, y1g), maximum(x2, x2g), maximum(y2, y2g))
    return intersection, union, enclosing


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    """torchvision's reductions: the mean of no boxes is 0 (``0.0 * loss.sum()``), not NaN."""
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(
            f"Invalid Value for arg 'reduction': '{reduction} \n Supported reduction modes: "
            "'none', 'mean', 'sum'"
        )
    if reduction == "mean" and loss.numel() == 0:
        return 0.0 * loss.sum()
    return _reduction.apply(loss, reduction)


def _check_pair(boxes1: Tensor, boxes2: Tensor) -> tuple[Tensor, Tensor]:
    boxes1, boxes2 = _upcast(boxes1, "boxes1"), _upcast(boxes2, "boxes2")
    try:
        np.broadcast_shapes(tuple(boxes1.shape), tuple(boxes2.shape))
    except ValueError:
        raise ValueError(
            f"boxes1 and boxes2 must be matched pairs of the same (or broadcastable) shape, got "
            f"{tuple(boxes1.shape)} and {tuple(boxes2.shape)}"
        ) from None
    return boxes1, boxes2


def generalized_box_iou_loss(
    boxes1: Tensor, boxes2: Tensor, reduction: str = "none", eps: float = 1e-7
) -> Tensor:
    r"""Generalized IoU loss (Rezatofighi et al. 2019), torchvision.ops's.

    ``l = 1 - I / (U + eps) + (area(C) - U) / (area(C) + eps)`` for each matched pair (module
    docstring). The gradient flows through the corner coordinates of both boxes (``max``/``min``
    split the gradient at ties, as torch); where the boxes do not overlap the IoU term has none.

    Args:
        boxes1: ``(..., 4)`` predicted boxes ``(x1, y1, x2, y2)``.
        boxes2: ``(..., 4)`` target boxes.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``; torchvision's default ``'none'``.
        eps: keeps the divisions finite for boxes of zero area. Default 1e-7.

    Returns:
        ``(...)`` for ``'none'``, else a scalar (0 for the mean of no boxes, as torchvision).

    Example:
        >>> import lossgrad as torch
        >>> import lossgrad.nn.functional as F
        >>> b = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
        >>> g = torch.tensor([[1.0, 1.0, 3.0, 3.0]])
        >>> F.generalized_box_iou_loss(b, g)
        tensor([1.0794])
    """
    boxes1, boxes2 = _check_pair(boxes1, boxes2)
    intersection, union, (xc1, yc1, xc2, yc2) = _pair_terms(boxes1, boxes2)
    iou = intersection / (union + eps)
    enclosing_area = (xc2 - xc1) * (yc2 - yc1)
    loss = 1 - iou + (enclosing_area - union) / (enclosing_area + eps)
    return _reduce(loss, reduction)


def _distance_iou(boxes1: Tensor, boxes2: Tensor, eps: float) -> tuple[Tensor, Tensor]:
    """``(DIoU loss, IoU)`` of matched pairs."""
    intersection, union, (xc1, yc1, xc2, yc2) = _pair_terms(boxes1, boxes2)
    iou = intersection / (union + eps)
    diagonal_squared = (xc2 - xc1) ** 2 + (yc2 - yc1) ** 2 + eps
    x1, y1, x2, y2 = _corners(boxes1)
    x1g, y1g, x2g, y2g = _corners(boxes2)
    centre_distance_squared = ((x2 + x1) / 2 - (x1g + x2g) / 2) ** 2 + (
        (y2 + y1) / 2 - (y1g + y2g) / 2
    ) ** 2
    return 1 - iou + centre_distance_squared / diagonal_squared, iou


def distance_box_iou_loss(
    boxes1: Tensor, boxes2: Tensor, reduction: str = "none", eps: float = 1e-7
) -> Tensor:
    r"""Distance IoU loss (Zheng et al. 2020), torchvision.ops's.

    ``l = 1 - IoU + rho^2 / (c^2 + eps)``: ``rho`` the distance between the box centres, ``c``
    the diagonal of the smallest enclosing box. Gradient by autograd through the corners.

    Args:
        boxes1: ``(..., 4)`` predicted boxes ``(x1, y1, x2, y2)``.
        boxes2: ``(..., 4)`` target boxes.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default ``'none'``.
        eps: small number against division by zero. Default 1e-7.

    Returns:
        ``(...)`` for ``'none'``, else a scalar.

    Example:
        >>> import lossgrad as torch
        >>> import lossgrad.nn.functional as F
        >>> b = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
        >>> g = torch.tensor([[1.0, 1.0, 3.0, 3.0]])
        >>> F.distance_box_iou_loss(b, g)
        tensor([0.9683])
    """
    boxes1, boxes2 = _check_pair(boxes1, boxes2)
    loss, _ = _distance_iou(boxes1, boxes2, eps)
    return _reduce(loss, reduction)


def complete_box_iou_loss(
    boxes1: Tensor, boxes2: Tensor, reduction: str = "none", eps: float = 1e-7
) -> Tensor:
    r"""Complete IoU loss (Zheng et al. 2020), torchvision.ops's.

    ``l = DIoU loss + alpha v`` with the aspect-ratio term
    ``v = 4/pi^2 (atan(w_g / h_g) - atan(w_b / h_b))^2`` and ``alpha = v / (1 - IoU + v + eps)``
    computed without gradient (the paper's choice, and torchvision's): ``dl/db`` is
    ``d(DIoU)/db + alpha dv/db``. So a finite-difference check of the full formula does not hold
    by design; the second derivatives are those of the loss with ``alpha`` constant.

    A box of zero height has the aspect angle ``pi/2`` (torchvision's value) and, here, the
    finite gradient of ``atan2(w, h)`` where torchvision's ``atan(w / h)`` gives NaN; a 0-by-0
    box has no aspect ratio: NaN, as torchvision. ``eps`` enters ``alpha`` only (torchvision's
    DIoU term inside CIoU uses its default 1e-7).

    Args:
        boxes1: ``(..., 4)`` predicted boxes ``(x1, y1, x2, y2)``.
        boxes2: ``(..., 4)`` target boxes.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default ``'none'``.
        eps: used in ``alpha``. Default 1e-7.

    Returns:
        ``(...)`` for ``'none'``, else a scalar.

    Example:
        >>> import lossgrad as torch
        >>> import lossgrad.nn.functional as F
        >>> b = torch.tensor([[0.0, 0.0, 2.0, 1.0]])
        >>> g = torch.tensor([[1.0, 1.0, 3.0, 3.0]])
        >>> F.complete_box_iou_loss(b, g)
        tensor([1.1822])
    """
    boxes1, boxes2 = _check_pair(boxes1, boxes2)
    diou_loss, iou = _distance_iou(boxes1, boxes2, 1e-7)
    x1, y1, x2, y2 = _corners(boxes1)
    x1g, y1g, x2g, y2g = _corners(boxes2)
    aspect_gap = _aspect_angle(x2g - x1g, y2g - y1g) - _aspect_angle(x2 - x1, y2 - y1)
    v = (4 / math.pi**2) * aspect_gap**2
    with grad_mode.no_grad():
        alpha = v / (1 - iou + v + eps)
    return _reduce(diou_loss + alpha * v, reduction)


def _aspect_angle(width: Tensor, height: Tensor) -> Tensor:
    """``atan(width / height)`` as torchvision computes it, from ``atan2`` so that the gradient
    of a box of zero height is the finite ``(h dw - w dh) / (w^2 + h^2)``, where
    ``atan(w / h)`` gives ``0 * inf = NaN``. For ``h < 0`` the two differ by a constant ``pi``
    (removed); a 0-by-0 box has no aspect ratio: NaN, as torchvision."""
    angle = atan2(width, height)
    offset = np.where(height._data < 0, np.where(angle._data > 0, np.pi, -np.pi), 0.0)
    offset[(height._data == 0) & (width._data == 0)] = np.nan
    return angle - from_numpy(offset.astype(angle._data.dtype))


# -- pairwise IoU matrices (torchvision.ops.boxes) ------------------------------------------------


def _to_xyxy(boxes: Tensor, fmt: str) -> Tensor:
    from lossgrad.ops.shape import stack

    if fmt == "xyxy":
        return boxes
    if fmt == "xywh":
        x, y, width, height = _corners(boxes)
        return stack([x, y, x + width, y + height], -1)
    centre_x, centre_y, width, height = _corners(boxes)
    return stack(
        [centre_x - width / 2, centre_y - height / 2, centre_x + width / 2, centre_y + height / 2],
        -1,
    )


def _pairwise(boxes1: Tensor, boxes2: Tensor, fmt: str) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Intersection and union ``(..., N, M)`` and the broadcast boxes ``(..., N, 1, 4)``,
    ``(..., 1, M, 4)``."""
    if fmt not in _BOX_FORMATS:
        raise ValueError(f"fmt: unsupported format {fmt!r}; supported: {_BOX_FORMATS}")
    first = _to_xyxy(_upcast(boxes1, "boxes1"), fmt).unsqueeze(-2)
    second = _to_xyxy(_upcast(boxes2, "boxes2"), fmt).unsqueeze(-3)
    x1, y1, x2, y2 = _corners(first)
    x1g, y1g, x2g, y2g = _corners(second)
    inner_width = (minimum(x2, x2g) - maximum(x1, x1g)).clamp_min(0)
    inner_height = (minimum(y2, y2g) - maximum(y1, y1g)).clamp_min(0)
    intersection = inner_width * inner_height
    union = (x2 - x1) * (y2 - y1) + (x2g - x1g) * (y2g - y1g) - intersection
    return intersection, union, first, second


def box_iou(boxes1: Tensor, boxes2: Tensor, fmt: str = "xyxy") -> Tensor:
    r"""Pairwise IoU ``I / U`` of ``(..., N, 4)`` and ``(..., M, 4)`` boxes: ``(..., N, M)``.

    torchvision.ops.box_iou for the axis-aligned formats ``'xyxy'``, ``'xywh'``, ``'cxcywh'``
    (differentiable; NaN for two boxes of zero area, as torchvision).

    Example:
        >>> import lossgrad as torch
        >>> import lossgrad.nn.functional as F
        >>> F.box_iou(torch.tensor([[0.0, 0.0, 2.0, 2.0]]), torch.tensor([[1.0, 1.0, 3.0, 3.0]]))
        tensor([[0.1429]])
    """
    intersection, union, _, _ = _pairwise(boxes1, boxes2, fmt)
    return intersection / union


def generalized_box_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    r"""Pairwise generalized IoU ``IoU - (area(C) - U) / area(C)``: ``(..., N, M)``.

    torchvision.ops.generalized_box_iou (``'xyxy'`` boxes; differentiable).

    Example:
        >>> import lossgrad as torch
        >>> import lossgrad.nn.functional as F
        >>> b = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
        >>> F.generalized_box_iou(b, torch.tensor([[1.0, 1.0, 3.0, 3.0]]))
        tensor([[-0.0794]])
    """
    intersection, union, first, second = _pairwise(boxes1, boxes2, "xyxy")
    x1, y1, x2, y2 = _corners(first)
    x1g, y1g, x2g, y2g = _corners(second)
    enclosing_area = (maximum(x2, x2g) - minimum(x1, x1g)).clamp_min(0) * (
        maximum(y2, y2g) - minimum(y1, y1g)
    ).clamp_min(0)
    return intersection / union - (enclosing_area - union) / enclosing_area


if not TYPE_CHECKING:  # see lossgrad._exports
    __all__ = public_names(globals())
