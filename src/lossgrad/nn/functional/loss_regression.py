"""Regression losses: mse_loss (more arrive with the regression-loss family).

Each functional follows DESIGN.md §5: resolve the reduction, validate, compute, reduce.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lossgrad._exports import public_names
from lossgrad._tensor import Tensor
from lossgrad.autograd.function import ArrayFunction
from lossgrad.nn.functional import _checks, _reduction
from lossgrad.ops._common import promote, sum_to_shape
from lossgrad.ops.pointwise import mul, sub


class _MseLoss(ArrayFunction):
    """Fused squared error with the reduction inside: one pass forward, one pass backward."""

    node_name = "MseLossBackward0"

    @staticmethod
    def forward(ctx: Any, input: np.ndarray, target: np.ndarray, reduction: str) -> np.ndarray:
        ctx.save_for_backward(input, target)
        ctx.reduction = reduction
        d = input - target
        np.multiply(d, d, out=d)
        if reduction == "none":
            return d
        total = np.asarray(d.sum(dtype=d.dtype))
        if reduction == "sum":
            return total
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.asarray(total / np.asarray(d.size, d.dtype), d.dtype)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        input, target = ctx.saved_tensors
        d = sub(input, target)
        n = d._data.size
        if ctx.reduction == "mean":
            scale = mul(g, 2.0 / n if n else float("nan"))
        elif ctx.reduction == "sum":
            scale = mul(g, 2.0)
        else:
            scale = mul(g, 2.0)
        gd = mul(d, scale)
        gi = sum_to_shape(gd, input._data.shape) if ctx.needs_input_grad[0] else None
        gt = sum_to_shape(mul(gd, -1.0), target._data.shape) if ctx.needs_input_grad[1] else None
        return gi, gt, None


def mse_loss(
    input: Tensor,
    target: Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    """Mean squared error.

    Unreduced: ``l_n = (x_n - y_n)^2``; gradient ``dl/dx = 2 (x - y)`` (and ``-2 (x - y)`` for
    the target, which is differentiable too).

    Args:
        input: any shape ``(*)``.
        target: the same shape (broadcastable, with torch's warning).
        size_average, reduce: deprecated legacy flags (override ``reduction``).
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default ``'mean'``.
        weight: functional-only elementwise weights of exactly ``input.size()``; ``'mean'`` is then
            ``sum(w * l) / sum(w)``.

    Returns:
        The loss: a scalar, or ``(*)`` for ``reduction='none'``.

    Note:
        Empty input gives NaN for ``'mean'``, as in torch. Second derivatives are supported.

    Example:
        >>> import lossgrad as torch
        >>> torch.nn.functional.mse_loss(torch.tensor([1., 2.]), torch.tensor([0., 0.]))
        tensor(2.5000)
    """
    reduction = _reduction.resolve(reduction, size_average, reduce)
    _checks.warn_if_broadcast(input, target)
    _, (x, y) = promote(input, target)
    x = x if isinstance(x, Tensor) else Tensor._make(x)
    y = y if isinstance(y, Tensor) else Tensor._make(y)
    if x._data.dtype.kind != "f":
        raise NotImplementedError(f'"mse_cpu" not implemented for \'{x.dtype.name.capitalize()}\'')
    if weight is not None:
        if weight.shape != input.shape:
            raise ValueError(
                f"Weights must have the same shape as input. Got weight of shape {tuple(weight.shape)} "
                f"and input of shape {tuple(input.shape)}"
            )
        loss = _MseLoss.apply(x, y, "none") * weight
        return _reduction.apply(loss, reduction, denominator=weight.sum() if reduction == "mean" else None)
    if x._data.shape != y._data.shape:
        shape = np.broadcast_shapes(x._data.shape, y._data.shape)
        x, y = x.expand(shape), y.expand(shape)
    return _MseLoss.apply(x, y, reduction)

__all__ = public_names(globals())
