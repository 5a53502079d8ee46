"""Matrix products: matmul (with torch's 1-D and batched rules), mm, bmm, dot, linear."""

from __future__ import annotations

from typing import Any

import numpy as np

from lossgrad._tensor import Tensor
from lossgrad.autograd.function import ArrayFunction
from lossgrad.ops._common import promote, sum_to_shape
from lossgrad.ops.shape import reshape, transpose


class _MatMul(ArrayFunction):
    node_name = "MmBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a, b)
        return np.matmul(a, b)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        a, b = ctx.saved_tensors
        ga = gb = None
        a2, b2 = a._data.ndim, b._data.ndim
        if ctx.needs_input_grad[0]:
            if b2 == 1:  # (..., n) @ (n,) -> (...): ga = g[..., None] * b
                ga = reshape(g, g._data.shape + (1,)) * b
            elif a2 == 1:  # (n,) @ (..., n, m) -> (..., m)
                col = matmul(b, reshape(g, g._data.shape + (1,)))
                ga = sum_to_shape(reshape(col, col._data.shape[:-1]), a._data.shape)
            else:
                ga = sum_to_shape(matmul(g, transpose(b, -1, -2)), a._data.shape)
        if ctx.needs_input_grad[1]:
            if a2 == 1:  # (n,) @ (..., n, m): gb = a[:, None] * g[..., None, :]
                gb = sum_to_shape(reshape(a, (-1, 1)) * reshape(g, g._data.shape[:-1] + (1, -1)), b._data.shape)
            elif b2 == 1:  # (..., n) @ (n,): gb = sum over batch of a * g[..., None]
                gb = sum_to_shape(a * reshape(g, g._data.shape + (1,)), b._data.shape)
            else:
                gb = sum_to_shape(matmul(transpose(a, -1, -2), g), b._data.shape)
        return ga, gb


def matmul(input: Tensor, other: Tensor) -> Tensor:
    """Matrix product with NumPy/torch broadcasting rules for batched and 1-D operands."""
    _, (a, b) = promote(input, other)
    if a._data.ndim == 0 or b._data.ndim == 0:
        raise RuntimeError("both arguments to matmul need to be at least 1D, but they are "
                           f"{a._data.ndim}D and {b._data.ndim}D")
    ka = a._data.shape[-1]
    kb = b._data.shape[-2] if b._data.ndim > 1 else b._data.shape[0]
    if ka != kb:
        sa = "x".join(map(str, a._data.shape if a._data.ndim == 2 else (int(np.prod(a._data.shape[:-1])), ka)))
        sb = "x".join(map(str, b._data.shape[-2:] if b._data.ndim > 1 else b._data.shape))
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({sa} and {sb})")
    return _MatMul.apply(a, b)


def mm(input: Tensor, mat2: Tensor) -> Tensor:
    if input._data.ndim != 2 or mat2._data.ndim != 2:
        raise RuntimeError("self must be a matrix")
    return matmul(input, mat2)


def bmm(input: Tensor, mat2: Tensor) -> Tensor:
    if input._data.ndim != 3 or mat2._data.ndim != 3:
        raise RuntimeError("batch1 must be a 3D tensor")
    return matmul(input, mat2)


def dot(input: Tensor, other: Tensor) -> Tensor:
    if input._data.ndim != 1 or other._data.ndim != 1:
        raise RuntimeError(
            f"1D tensors expected, but got {input._data.ndim}D and {other._data.ndim}D tensors"
        )
    return matmul(input, other)


def outer(input: Tensor, vec2: Tensor) -> Tensor:
    return reshape(input, (-1, 1)) * reshape(vec2, (1, -1))


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``input @ weight.T + bias``."""
    out = matmul(input, transpose(weight, 0, 1) if weight._data.ndim == 2 else weight)
    return out + bias if bias is not None else out
