"""``logcumsumexp``: the running log-sum-exp along one dim (torch.logcumsumexp)."""

from __future__ import annotations

from typing import Any

import numpy as np

from lossgrad._tensor import Tensor
from lossgrad.autograd.function import ArrayFunction
from lossgrad.ops._common import normalize_dims
from lossgrad.ops.pointwise import add, exp, gt, isfinite, log, mul, neg, sub, where
from lossgrad.ops.shape import flip


class _LogCumSumExp(ArrayFunction):
    node_name = "LogcumsumexpBackward0"

    @staticmethod
    def forward(ctx: Any, values: np.ndarray, axis: int) -> np.ndarray:
        out = np.logaddexp.accumulate(values, axis=axis) if values.ndim else values.copy()
        ctx.save_for_backward(values, out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Any, ...]:
        """``∂L/∂x_j = Σ_{i ≥ j} g_i exp(x_j - out_i)``, summed in log space for the positive and
        the negative parts of ``g`` separately (so nothing overflows), with this op itself:
        differentiable again."""
        values, out = ctx.saved_tensors
        if values._data.ndim == 0:
            return grad, None
        axis = ctx.axis
        reachable = isfinite(out)  # out_i = -inf only where every x_j, j <= i, is -inf
        result: Tensor | None = None
        for sign, part in ((1, grad), (-1, neg(grad))):
            chosen = gt(part, 0)
            if not bool(chosen._data.any()):
                continue
            log_part = where(chosen & reachable, log(where(chosen, part, 1.0)), float("-inf"))
            shifted = where(reachable, sub(log_part, out), float("-inf"))
            tail = flip(_LogCumSumExp.apply(flip(shifted, (axis,)), axis), (axis,))
            term = exp(add(values, tail))
            if sign < 0:
                term = neg(term)
            result = term if result is None else add(result, term)
        return (result if result is not None else mul(grad, 0.0)), None


def logcumsumexp(input: Tensor, dim: int) -> Tensor:
    """``out_i = log Σ_{j ≤ i} exp(x_j)`` along ``dim``, exact and stable (NumPy's
    ``logaddexp.accumulate``); torch's ``logcumsumexp``.

    Gradient: ``∂out_i/∂x_j = exp(x_j - out_i)`` for ``j ≤ i``.

    Example:
        >>> import lossgrad as torch
        >>> torch.logcumsumexp(torch.tensor([0.0, 0.0, 1000.0]), 0)
        tensor([0.0000e+00, 6.9315e-01, 1.0000e+03])
    """
    axis = normalize_dims(dim, input._data.ndim)
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"\"logcumsumexp\" not implemented for '{input.dtype}'")
    return _LogCumSumExp.apply(input, axis[0] if axis else 0)
