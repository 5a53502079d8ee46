"""Bounding-box losses (lossgrad extensions) with torchvision.ops's names, signatures and results.

Boxes are ``(x1, y1, x2, y2)`` rows (``0 <= x1 < x2``, ``0 <= y1 < y2`` for proper boxes). For the
pair ``b`` (predicted) and ``g`` (target), with ``I`` the intersection area, ``U`` the union and
``C`` the smallest enclosing box::

    IoU  = I / (U + eps)
    GIoU loss = 1 - IoU + (area(C) - U) / (area(C) + eps)
    DIoU loss = 1 - IoU + rho^2 / (c^2 + eps)          rho: centre distance, c: diagonal of C
    CIoU loss = DIoU loss + alpha v,   v = 4/pi^2 (atan(w_g/h_g) - atan(w_b/h_b))^2,
                alpha = v / (1 - IoU + v + eps) held constant (no gradient), as torchvision

Each is one fused op (``_BoxLoss``): the loss and its first derivative in NumPy over the corner
columns, and the composite of lossgrad ops as the differentiable definition that create_graph
differentiates (second derivatives; CIoU's are those of the loss with alpha constant,
torchvision's definition). Integer and float16 boxes are computed in float32, as torchvision's
``_upcast_non_float``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from lossgrad import _parallel
from lossgrad._exports import public_names
from lossgrad._factories import from_numpy
from lossgrad._tensor import Tensor
from lossgrad.autograd import grad_mode
from lossgrad.autograd.function import ArrayFunction
from lossgrad.nn.functional import _checks, _kept, _reduction
from lossgrad.ops._common import sum_to_shape_array
from lossgrad.ops.elementary import atan2
from lossgrad.ops.pointwise import maximum, minimum, where

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
    return _reduce(_BoxLoss.apply(boxes1, boxes2, "giou", float(eps)), reduction)


def _generalized_iou_composite(boxes1: Tensor, boxes2: Tensor, eps: float) -> Tensor:
    intersection, union, (xc1, yc1, xc2, yc2) = _pair_terms(boxes1, boxes2)
    iou = intersection / (union + eps)
    enclosing_area = (xc2 - xc1) * (yc2 - yc1)
    return 1 - iou + (enclosing_area - union) / (enclosing_area + eps)


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
    return _reduce(_BoxLoss.apply(boxes1, boxes2, "diou", float(eps)), reduction)


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
    return _reduce(_BoxLoss.apply(boxes1, boxes2, "ciou", float(eps)), reduction)


def _complete_iou_composite(boxes1: Tensor, boxes2: Tensor, eps: float) -> Tensor:
    diou_loss, iou = _distance_iou(boxes1, boxes2, 1e-7)
    x1, y1, x2, y2 = _corners(boxes1)
    x1g, y1g, x2g, y2g = _corners(boxes2)
    aspect_gap = _aspect_angle(x2g - x1g, y2g - y1g) - _aspect_angle(x2 - x1, y2 - y1)
    v = (4 / math.pi**2) * aspect_gap**2
    with grad_mode.no_grad():
        alpha = v / (1 - iou + v + eps)
    return diou_loss + alpha * v


def _aspect_angle(width: Tensor, height: Tensor) -> Tensor:
    """``atan(width / height)`` as torchvision computes it, from ``atan2`` so that the gradient
    of a box of zero height is the finite ``(h dw - w dh) / (w^2 + h^2)``, where
    ``atan(w / h)`` gives ``0 * inf = NaN``. For ``h < 0`` the two differ by a constant ``pi``
    (removed); a 0-by-0 box has no aspect ratio: NaN, as torchvision."""
    angle = atan2(width, height)
    offset = np.where(height._data < 0, np.where(angle._data > 0, np.pi, -np.pi), 0.0)
    offset[(height._data == 0) & (width._data == 0)] = np.nan
    return angle - from_numpy(offset.astype(angle._data.dtype))


# -- the fused kernel: one NumPy pass over the corners, and its hand-derived derivative ---------


class _BoxLoss(ArrayFunction):
    """The GIoU, DIoU or CIoU loss (``kind``) of matched pairs as one op.

    ``forward`` and ``backward_array`` run on the corner columns in NumPy (``_box_terms``,
    ``_box_loss_array``, ``_box_loss_gradient``); ``backward`` differentiates the composite of
    lossgrad ops (``_COMPOSITES``), which is the definition, so second derivatives come from
    autograd. The tests compare the two paths, and both with torchvision. The composite makes some
    forty small ops: at small batches their dispatch, not the arithmetic, decided the time.
    """

    node_name = "BoxLossBackward0"

    @staticmethod
    def forward(
        ctx: Any, boxes1: np.ndarray, boxes2: np.ndarray, kind: str, eps: float
    ) -> np.ndarray:
        ctx.save_for_backward(boxes1, boxes2)
        ctx.meta = (kind, eps)
        rows = _box_rows(boxes1, boxes2)
        if rows is None:  # broadcast pairs: one pass over the whole arrays
            loss, ctx.aspect_slope = _box_loss_array(_box_terms(boxes1, boxes2), kind, eps)
            return loss
        loss = np.empty(len(rows[0]), boxes1.dtype)
        aspect_slope = np.empty_like(loss) if kind == "ciou" else None

        def block(lo: int, hi: int) -> None:
            terms = _box_terms(*_columns(rows, lo, hi))
            loss[lo:hi], slope = _box_loss_array(terms, kind, eps)
            if aspect_slope is not None:
                aspect_slope[lo:hi] = slope

        _parallel.map_rows(block, len(loss), _ROW_WORK)
        ctx.aspect_slope = aspect_slope
        return loss.reshape(boxes1.shape[:-1])

    @staticmethod
    def backward_array(ctx: Any, grad: np.ndarray) -> tuple[Any, ...]:
        boxes1, boxes2 = ctx._saved_arrays()
        kind, eps = ctx.meta
        rows = _box_rows(boxes1, boxes2)
        aspect_slope = ctx.aspect_slope
        if rows is None:
            terms = _box_terms(boxes1, boxes2)
            first, second = _box_loss_gradient(terms, kind, eps, grad, aspect_slope)
        else:
            grad = np.broadcast_to(grad, boxes1.shape[:-1]).reshape(-1)
            first, second = np.empty(rows[0].shape, grad.dtype), np.empty(rows[0].shape, grad.dtype)

            def block(lo: int, hi: int) -> None:
                terms = _box_terms(*_columns(rows, lo, hi))
                slope = None if aspect_slope is None else aspect_slope[lo:hi]
                gradients = _box_loss_gradient(terms, kind, eps, grad[lo:hi], slope)
                first[lo:hi], second[lo:hi] = gradients

            _parallel.map_rows(block, len(first), _ROW_WORK)
            first, second = first.reshape(boxes1.shape), second.reshape(boxes2.shape)
        return (
            sum_to_shape_array(first, boxes1.shape) if ctx.needs_input_grad[0] else None,
            sum_to_shape_array(second, boxes2.shape) if ctx.needs_input_grad[1] else None,
            None,
            None,
        )

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Any, ...]:
        boxes = ctx.saved_tensors
        kind, eps = ctx.meta
        loss = _COMPOSITES[kind](*boxes, eps)
        return (*_kept.definition_grads(loss, boxes, ctx.needs_input_grad[:2], grad), None, None)


#: What ``map_rows`` counts per pair of boxes: the loss and its gradient make some twenty to
#: fifty passes over each box's four corners, so a few tens of thousands of pairs already pay
#: for the thread pool's hand-off.
_ROW_WORK = 16


def _box_rows(boxes1: np.ndarray, boxes2: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Both boxes as ``(N, 4)`` rows when they have one shape and are C-contiguous (the blocked
    path), else None (broadcast pairs)."""
    if boxes1.shape != boxes2.shape or boxes1.ndim < 2:
        return None
    if not (boxes1.flags.c_contiguous and boxes2.flags.c_contiguous):
        return None
    return boxes1.reshape(-1, 4), boxes2.reshape(-1, 4)


def _columns(rows: tuple[np.ndarray, np.ndarray], lo: int, hi: int) -> tuple[Any, Any]:
    """Rows ``lo:hi`` of both boxes with each corner column contiguous (a transposed copy of
    the block): NumPy's loops over contiguous columns run faster than over every fourth
    element."""
    return tuple(np.ascontiguousarray(boxes[lo:hi].T).T for boxes in rows)


class _BoxTerms(NamedTuple):
    """The corner columns of both boxes and the quantities every loss needs (``_box_terms``)."""

    first: tuple[np.ndarray, ...]
    second: tuple[np.ndarray, ...]
    inner: tuple[np.ndarray, np.ndarray]  # width, height of the intersection (may be < 0)
    overlaps: np.ndarray
    intersection: np.ndarray
    sizes: tuple[np.ndarray, ...]  # w1, h1, w2, h2
    union: np.ndarray
    enclosing: tuple[np.ndarray, np.ndarray]  # width, height of the smallest enclosing box


def _box_terms(boxes1: np.ndarray, boxes2: np.ndarray) -> _BoxTerms:
    x1, y1, x2, y2 = (boxes1[..., k] for k in range(4))
    x1g, y1g, x2g, y2g = (boxes2[..., k] for k in range(4))
    inner_width = np.minimum(x2, x2g) - np.maximum(x1, x1g)
    inner_height = np.minimum(y2, y2g) - np.maximum(y1, y1g)
    overlaps = (inner_width > 0) & (inner_height > 0)
    intersection = np.where(overlaps, inner_width * inner_height, 0)
    sizes = (x2 - x1, y2 - y1, x2g - x1g, y2g - y1g)
    union = sizes[0] * sizes[1] + sizes[2] * sizes[3] - intersection
    enclosing = (
        np.maximum(x2, x2g) - np.minimum(x1, x1g),
        np.maximum(y2, y2g) - np.minimum(y1, y1g),
    )
    return _BoxTerms(
        (x1, y1, x2, y2), (x1g, y1g, x2g, y2g), (inner_width, inner_height), overlaps,
        intersection, sizes, union, enclosing,
    )  # fmt: skip


def _centre_gaps(terms: _BoxTerms) -> tuple[np.ndarray, np.ndarray]:
    """The centre of box 1 minus that of box 2, along x and y."""
    x1, y1, x2, y2 = terms.first
    x1g, y1g, x2g, y2g = terms.second
    return (x2 + x1) / 2 - (x1g + x2g) / 2, (y2 + y1) / 2 - (y1g + y2g) / 2


def _aspect_gap(terms: _BoxTerms) -> np.ndarray:
    """``atan(w_g / h_g) - atan(w / h)`` as ``_aspect_angle`` computes each angle."""
    w1, h1, w2, h2 = terms.sizes
    return _aspect_angle_array(w2, h2) - _aspect_angle_array(w1, h1)


def _aspect_angle_array(width: np.ndarray, height: np.ndarray) -> np.ndarray:
    angle = np.asarray(np.arctan2(width, height))
    angle -= np.where(height < 0, np.where(angle > 0, np.pi, -np.pi), 0.0).astype(angle.dtype)
    angle[(height == 0) & (width == 0)] = np.nan
    return angle


_ASPECT = 4 / math.pi**2


def _box_loss_array(terms: _BoxTerms, kind: str, eps: float) -> tuple[np.ndarray, Any]:
    """The loss of each pair (the module docstring's formulas), and for CIoU the slope of
    ``alpha v`` in box 2's aspect angle, ``alpha dv/dtheta = 2 (4/pi^2) alpha gap`` (None for the
    others), which the backward keeps: no second pass of ``atan2``."""
    iou_eps = 1e-7 if kind == "ciou" else eps
    iou = terms.intersection / (terms.union + iou_eps)
    enclosing_width, enclosing_height = terms.enclosing
    if kind == "giou":
        area = enclosing_width * enclosing_height
        return 1 - iou + (area - terms.union) / (area + eps), None
    gap_x, gap_y = _centre_gaps(terms)
    diagonal = enclosing_width**2 + enclosing_height**2 + iou_eps
    loss = 1 - iou + (gap_x**2 + gap_y**2) / diagonal
    if kind != "ciou":
        return loss, None
    gap = _aspect_gap(terms)
    v = _ASPECT * gap**2
    alpha = v / (1 - iou + v + eps)
    return loss + alpha * v, alpha * (2 * _ASPECT * gap)


def _share(a: np.ndarray, b: np.ndarray, larger: bool) -> np.ndarray:
    """The part of the gradient of ``max(a, b)`` (``larger``) or ``min(a, b)`` that goes to ``a``:
    1 where ``a`` is chosen, 1/2 at ties (torch's ``maximum``/``minimum``); ``b`` gets the rest,
    ``1 - share``."""
    share = np.asarray(a > b if larger else a < b, a.dtype)
    share[a == b] = 0.5
    return share


def _box_loss_gradient(
    terms: _BoxTerms, kind: str, eps: float, grad: np.ndarray, aspect_slope: Any
) -> tuple[np.ndarray, np.ndarray]:
    """``(dl/dboxes1, dl/dboxes2)`` of ``_box_loss_array`` times ``grad``, by the chain rule
    through the terms, backwards (broadcast shape; the caller sums to each input's shape);
    ``aspect_slope``: CIoU's, from ``_box_loss_array``."""
    iou_eps = 1e-7 if kind == "ciou" else eps
    union_eps = terms.union + iou_eps
    d_intersection = -grad / union_eps  # through -IoU
    d_union = grad * terms.intersection / union_eps**2
    enclosing_width, enclosing_height = terms.enclosing
    d_gap = (0.0, 0.0)
    if kind == "giou":
        area = enclosing_width * enclosing_height
        d_union = d_union - grad / (area + eps)
        d_area = grad * (terms.union + eps) / (area + eps) ** 2
        d_enclosing = (d_area * enclosing_height, d_area * enclosing_width)
    else:
        gap_x, gap_y = _centre_gaps(terms)
        diagonal = enclosing_width**2 + enclosing_height**2 + iou_eps
        d_diagonal = -grad * (gap_x**2 + gap_y**2) / diagonal**2
        d_enclosing = (2 * enclosing_width * d_diagonal, 2 * enclosing_height * d_diagonal)
        d_gap = (2 * gap_x * grad / diagonal, 2 * gap_y * grad / diagonal)
    w1, h1, w2, h2 = terms.sizes
    d_sizes = [d_union * h1, d_union * w1, d_union * h2, d_union * w2]
    if kind == "ciou":
        _add_aspect_gradient(terms, grad * aspect_slope, d_sizes)
    d_intersection = np.where(terms.overlaps, d_intersection - d_union, 0)
    inner_width, inner_height = terms.inner
    d_inner = (d_intersection * inner_height, d_intersection * inner_width)
    return _corner_gradients(terms, d_inner, d_sizes, d_enclosing, d_gap)


def _add_aspect_gradient(terms: _BoxTerms, d_angle: np.ndarray, d_sizes: list[np.ndarray]) -> None:
    """CIoU's ``alpha v`` with ``alpha`` constant: ``d_angle`` its gradient in box 2's aspect
    angle (``alpha dv/dtheta = 2 (4/pi^2) alpha gap`` times the upstream; box 1's is the
    opposite) and ``dtheta/dw = h / (w^2 + h^2)``, ``dtheta/dh = -w / (w^2 + h^2)``, added into
    ``d_sizes``."""
    w1, h1, w2, h2 = terms.sizes
    for offset, sign, width, height in ((0, -1.0, w1, h1), (2, 1.0, w2, h2)):
        radius = width**2 + height**2
        d_sizes[offset] = d_sizes[offset] + sign * d_angle * height / radius
        d_sizes[offset + 1] = d_sizes[offset + 1] - sign * d_angle * width / radius


def _corner_gradients(
    terms: _BoxTerms,
    d_inner: tuple[np.ndarray, np.ndarray],
    d_sizes: list[np.ndarray],
    d_enclosing: tuple[np.ndarray, np.ndarray],
    d_gap: tuple[Any, Any],
) -> tuple[np.ndarray, np.ndarray]:
    """Corners from the inner box (``min`` of the far corners minus ``max`` of the near ones),
    the sizes (far minus near corner), the enclosing box and the centre gaps."""
    first, second = [], []
    for axis in (0, 1):  # x, then y
        near, far = terms.first[axis], terms.first[axis + 2]
        near_g, far_g = terms.second[axis], terms.second[axis + 2]
        inner, enclosing, gap = d_inner[axis], d_enclosing[axis], d_gap[axis] / 2
        both = inner + enclosing
        # box 1's part of the inner box's max of the near corners and of the enclosing box's
        # min of them (shares s and 1 - s), and of the far corners' min and max; box 2 gets
        # the rest of each: both - near_part, both - far_part
        near_part = inner - enclosing
        near_part *= _share(near, near_g, True)
        near_part += enclosing
        far_part = inner - enclosing
        far_part *= _share(far, far_g, False)
        far_part += enclosing
        first.append((-near_part - d_sizes[axis] + gap, far_part + d_sizes[axis] + gap))
        second.append(
            (near_part - both - d_sizes[axis + 2] - gap, both - far_part + d_sizes[axis + 2] - gap)
        )
    return (
        np.stack([first[0][0], first[1][0], first[0][1], first[1][1]], -1),
        np.stack([second[0][0], second[1][0], second[0][1], second[1][1]], -1),
    )


_COMPOSITES = {
    "giou": _generalized_iou_composite,
    "diou": lambda boxes1, boxes2, eps: _distance_iou(boxes1, boxes2, eps)[0],
    "ciou": _complete_iou_composite,
}


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
