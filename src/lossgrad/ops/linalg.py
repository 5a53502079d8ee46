"""Matrix products: matmul (with torch's 1-D and batched rules), mm, bmm, dot, linear."""

from __future__ import annotations

from typing import Any

import numpy as np

from lossgrad._dtype import scalar_type_name
from lossgrad._tensor import Tensor
from lossgrad.autograd.function import ArrayFunction
from lossgrad.ops._common import broadcast_error, sum_to_shape, sum_to_shape_array
from lossgrad.ops.pointwise import mul
from lossgrad.ops.shape import reshape, squeeze, transpose, unsqueeze


class _MatMul(ArrayFunction):
    """Matrix product with torch's rules for 1-D operands and broadcast batch dims.

    Gradients: ``g @ b^T`` and ``a^T @ g`` with 1-D operands treated as a row (``a``) or column
    (``b``) vector and broadcast batch dims summed away.
    """

    node_name = "UnsafeViewBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        need_a, need_b = ctx.needs_input_grad
        ctx.save_for_backward(a if need_b else None, b if need_a else None)  # only what is used
        ctx.shapes = (a.shape, b.shape)
        try:
            return np.matmul(a, b)
        except ValueError:
            raise broadcast_error(a.shape[:-2], b.shape[:-2]) from None

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        a, b = ctx.saved_tensors
        sa, sb = ctx.shapes
        ga = gb = None
        if len(sa) == 1 and len(sb) == 1:  # dot: g is 0-d
            ga = mul(g, b) if ctx.needs_input_grad[0] else None
            gb = mul(g, a) if ctx.needs_input_grad[1] else None
            return ga, gb
        if len(sa) == 1:  # (k,) @ (..., k, m) -> (..., m)
            if ctx.needs_input_grad[0]:
                ga = sum_to_shape(squeeze(matmul(b, unsqueeze(g, -1)), -1), sa)
            if ctx.needs_input_grad[1]:
                gb = sum_to_shape(mul(unsqueeze(a, -1), unsqueeze(g, -2)), sb)
            return ga, gb
        if len(sb) == 1:  # (..., n, k) @ (k,) -> (..., n)
            if ctx.needs_input_grad[0]:
                ga = mul(unsqueeze(g, -1), b)
            if ctx.needs_input_grad[1]:
                at = transpose(a, -1, -2)
                gb = matmul(at, g) if len(sa) == 2 else squeeze(matmul(at, unsqueeze(g, -1)), -1)
                gb = sum_to_shape(gb, sb)
            return ga, gb
        if ctx.needs_input_grad[0]:
            ga = sum_to_shape(matmul(g, transpose(b, -1, -2)), sa)
        if ctx.needs_input_grad[1]:
            gb = sum_to_shape(matmul(transpose(a, -1, -2), g), sb)
        return ga, gb

    @staticmethod
    def backward_array(ctx: Any, g: np.ndarray) -> tuple[Any, ...]:
        a, b = ctx._saved_arrays()
        sa, sb = ctx.shapes
        need_a, need_b = ctx.needs_input_grad
        ga = gb = None
        if len(sa) == 1 and len(sb) == 1:
            return (g * b if need_a else None), (g * a if need_b else None)
        if len(sa) == 1:
            if need_a:
                ga = sum_to_shape_array(np.matmul(b, g[..., None])[..., 0], sa)
            if need_b:
                gb = sum_to_shape_array(a[:, None] * g[..., None, :], sb)
            return ga, gb
        if len(sb) == 1:
            if need_a:
                ga = g[..., None] * b
            if need_b:
                at = a.swapaxes(-1, -2)
                gb = np.matmul(at, g) if len(sa) == 2 else np.matmul(at, g[..., None])[..., 0]
                gb = sum_to_shape_array(gb, sb)
            return ga, gb
        if need_a:
            ga = sum_to_shape_array(np.matmul(g, b.swapaxes(-1, -2)), sa)
        if need_b:
            gb = sum_to_shape_array(np.matmul(a.swapaxes(-1, -2), g), sb)
        return ga, gb


class _Mm(_MatMul):
    node_name = "MmBackward0"


class _Mv(_MatMul):
    node_name = "MvBackward0"


class _Dot(_MatMul):
    node_name = "DotBackward0"


class _Vm(_MatMul):
    node_name = "SqueezeBackward4"


class _Bmm(_MatMul):
    node_name = "BmmBackward0"


_BY_NDIM = {(1, 1): _Dot, (2, 1): _Mv, (1, 2): _Vm, (2, 2): _Mm}
_DT_NAMES = {
    "float64": "double",
    "float32": "float",
    "float16": "c10::Half",
    "int64": "long int",
    "int32": "int",
    "int16": "short int",
    "int8": "signed char",
    "uint8": "unsigned char",
    "bool": "bool",
}


def _check_same_dtype(a: Tensor, b: Tensor) -> None:
    da, db = a._data.dtype, b._data.dtype
    if da != db:
        raise RuntimeError(
            f"expected m1 and m2 to have the same dtype, but got: {_DT_NAMES[da.name]} != "
            f"{_DT_NAMES[db.name]}"
        )


def matmul(input: Tensor, other: Tensor) -> Tensor:
    """Matrix product with NumPy/torch broadcasting rules for batched and 1-D operands.

    Both operands must have the same dtype (torch does not promote here).
    """
    a, b = input, other
    na, nb = a._data.ndim, b._data.ndim
    if na == 0 or nb == 0:
        raise RuntimeError(
            f"both arguments to matmul need to be at least 1D, but they are {na}D and {nb}D"
        )
    _check_same_dtype(a, b)
    if a._data.dtype == np.bool_:
        raise NotImplementedError('"addmm_impl_cpu_" not implemented for \'Bool\'')
    ka = a._data.shape[-1]
    kb = b._data.shape[-2] if nb > 1 else b._data.shape[0]
    if ka != kb:
        if na == 1 and nb == 1:
            raise RuntimeError(
                f"inconsistent tensor size, expected tensor [{ka}] and src [{kb}] to have the same "
                f"number of elements, but got {ka} and {kb} elements respectively"
            )
        sa = "x".join(
            map(str, a._data.shape if na == 2 else (int(np.prod(a._data.shape[:-1])), ka))
        )
        sb = "x".join(map(str, b._data.shape[-2:] if nb > 1 else b._data.shape))
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({sa} and {sb})")
    return _BY_NDIM.get((na, nb), _MatMul).apply(a, b)


def mm(input: Tensor, mat2: Tensor) -> Tensor:
    if input._data.ndim != 2 or mat2._data.ndim != 2:
        raise RuntimeError("self must be a matrix")
    return matmul(input, mat2)


def bmm(input: Tensor, mat2: Tensor) -> Tensor:
    """Batched matrix product of (b, n, k) and (b, k, m) tensors (no broadcasting)."""
    if input._data.ndim != 3:
        raise RuntimeError("batch1 must be a 3D tensor")
    if mat2._data.ndim != 3:
        raise RuntimeError("batch2 must be a 3D tensor")
    sa, sb = input._data.shape, mat2._data.shape
    if sb[:2] != (sa[0], sa[2]):
        raise RuntimeError(
            "Expected size for first two dimensions of batch2 tensor to be: "
            f"[{sa[0]}, {sa[2]}] but got: [{sb[0]}, {sb[1]}]."
        )
    _check_same_dtype(input, mat2)
    return _Bmm.apply(input, mat2)


def dot(input: Tensor, other: Tensor) -> Tensor:
    if input._data.ndim != 1 or other._data.ndim != 1:
        raise RuntimeError(
            f"1D tensors expected, but got {input._data.ndim}D and {other._data.ndim}D tensors"
        )
    return matmul(input, other)


def outer(input: Tensor, vec2: Tensor) -> Tensor:
    return reshape(input, (-1, 1)) * reshape(vec2, (1, -1))


class _Addmm(ArrayFunction):
    """``bias + input @ weight.T`` for a batch of rows, one node (torch's addmm).

    Gradients: ``sum_rows(g)``, ``g @ weight`` and ``g^T @ input``.
    """

    node_name = "AddmmBackward0"

    @staticmethod
    def forward(ctx: Any, bias: np.ndarray, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        _, need_x, need_w = ctx.needs_input_grad
        ctx.save_for_backward(x if need_w else None, w if need_x else None)
        ctx.bias_shape = bias.shape
        out = np.matmul(x, w.T)
        return np.add(out, bias, out=out)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        x, w = ctx.saved_tensors
        need_b, need_x, need_w = ctx.needs_input_grad
        return (
            sum_to_shape(g, ctx.bias_shape) if need_b else None,
            matmul(g, w) if need_x else None,
            matmul(transpose(g, 0, 1), x) if need_w else None,
        )

    @staticmethod
    def backward_array(ctx: Any, g: np.ndarray) -> tuple[Any, ...]:
        x, w = ctx._saved_arrays()
        need_b, need_x, need_w = ctx.needs_input_grad
        return (
            sum_to_shape_array(g, ctx.bias_shape) if need_b else None,
            np.matmul(g, w) if need_x else None,
            np.matmul(g.T, x) if need_w else None,
        )


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``input @ weight.T + bias``; a batch of rows with a bias is one fused node (addmm)."""
    if bias is not None:
        x, w, b = input._data, weight._data, bias._data
        if (
            x.ndim == 2
            and w.ndim == 2
            and b.ndim == 1
            and x.shape[1] == w.shape[1]
            and b.shape[0] == w.shape[0]
            and x.dtype == w.dtype == b.dtype
            and x.dtype.kind == "f"
        ):
            return _Addmm.apply(bias, input, weight)
        if b.dtype != x.dtype and x.dtype == w.dtype:  # torch's addmm refuses to promote
            raise RuntimeError(
                "self and mat2 must have the same dtype, but got "
                f"{scalar_type_name(b.dtype)} and "
                f"{scalar_type_name(x.dtype)}"
            )
    out = matmul(input, transpose(weight, 0, 1) if weight._data.ndim == 2 else weight)
    return out + bias if bias is not None else out
