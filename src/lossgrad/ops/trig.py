"""Inverse trigonometric ops (torch's names): ``atan``, ``atan2``.

The backward is written with lossgrad ops, so it can be differentiated again.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lossgrad._tensor import Tensor
from lossgrad.autograd.function import ArrayFunction
from lossgrad.ops._common import promote, sum_to_shape
from lossgrad.ops.pointwise import _float_input, add, div, mul, neg


class _Atan(ArrayFunction):
    node_name = "AtanBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a)
        return np.arctan(a)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        (a,) = ctx.saved_tensors
        return div(g, add(mul(a, a), 1.0))


def atan(input: Tensor) -> Tensor:
    """Elementwise arctangent; gradient ``1 / (1 + x^2)``.

    Example:
        >>> import lossgrad as torch
        >>> torch.atan(torch.tensor([0.0, 1.0]))
        tensor([0.0000, 0.7854])
    """
    return _Atan.apply(_float_input(input))


arctan = atan


class _Atan2(ArrayFunction):
    node_name = "Atan2Backward0"

    @staticmethod
    def forward(ctx: Any, y: np.ndarray, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(y, x)
        return np.arctan2(y, x)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        y, x = ctx.saved_tensors
        edge_y, edge_x = ctx.next_edges
        scaled = div(g, add(mul(x, x), mul(y, y)))
        grad_y = sum_to_shape(mul(scaled, x), edge_y[2]) if ctx.needs_input_grad[0] else None
        grad_x = sum_to_shape(neg(mul(scaled, y)), edge_x[2]) if ctx.needs_input_grad[1] else None
        return grad_y, grad_x


def atan2(input: Tensor, other: Tensor) -> Tensor:
    """Elementwise angle of the point ``(other, input)``, in ``[-pi, pi]``; gradients
    ``x / (x^2 + y^2)`` in ``input`` (y) and ``-y / (x^2 + y^2)`` in ``other`` (x), as torch
    (NaN at the origin).

    Example:
        >>> import lossgrad as torch
        >>> torch.atan2(torch.tensor([1.0, 1.0]), torch.tensor([0.0, -1.0]))
        tensor([1.5708, 2.3562])
    """
    _, (y, x) = promote(_float_input(input), _float_input(other))
    return _Atan2.apply(y, x)


arctan2 = atan2
