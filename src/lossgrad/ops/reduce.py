"""Reductions: sum, mean, prod, max/min, amax/amin, logsumexp, norm, var, std, any/all, arg*.

Each backward broadcasts the incoming gradient back over the reduced axes (``_unsqueeze_to``)
with differentiable ops, so second derivatives come for free.
"""

from __future__ import annotations

import builtins
from collections import namedtuple
from typing import Any

import numpy as np

from lossgrad import _dtype
from lossgrad._tensor import Tensor
from lossgrad.autograd.function import ArrayFunction
from lossgrad.ops._common import normalize_dims
from lossgrad.ops.pointwise import (
    abs,
    div,
    eq,
    exp,
    mul,
    pow,
    sub,
    where,
)

values_indices = namedtuple("values_indices", ["values", "indices"])


def _unsqueeze_to(g: Tensor, axes: tuple[int, ...], keepdim: bool, shape: tuple[int, ...]) -> Tensor:
    """Reshape a reduced gradient so that it broadcasts against the input, then expand it."""
    from lossgrad.ops.shape import expand, reshape

    if not keepdim and axes:
        kshape = tuple(1 if i in axes else s for i, s in enumerate(shape))
        g = reshape(g, kshape)
    return expand(g, shape)


class _Sum(ArrayFunction):
    node_name = "SumBackward1"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, axes: tuple[int, ...], keepdim: bool, dt: Any) -> np.ndarray:
        ctx.meta = (a.shape, axes, keepdim)
        return np.asarray(np.sum(a, axis=axes, keepdims=keepdim, dtype=dt))

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        shape, axes, keepdim = ctx.meta
        return _unsqueeze_to(g, axes, keepdim, shape), None, None, None


def _sum_dtype(a: Tensor, dtype: Any) -> Any:
    if dtype is not None:
        return _dtype.to_numpy_dtype(dtype)
    if a._data.dtype.kind in "biu":
        return np.int64
    return None


def sum(input: Tensor, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """Sum over ``dim`` (all dims if None); bool and integer inputs sum to int64."""
    axes = normalize_dims(dim, input._data.ndim)
    return _Sum.apply(input, axes, keepdim, _sum_dtype(input, dtype))


def nansum(input: Tensor, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    return sum(where(input != input, 0.0, input), dim, keepdim, dtype=dtype)


class _Mean(ArrayFunction):
    node_name = "MeanBackward1"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, axes: tuple[int, ...], keepdim: bool) -> np.ndarray:
        n = int(np.prod([a.shape[i] for i in axes])) if axes else 1
        ctx.meta = (a.shape, axes, keepdim, n)
        with np.errstate(invalid="ignore", divide="ignore"):
            s = np.sum(a, axis=axes, keepdims=keepdim)
            return np.asarray(s / np.asarray(n, a.dtype) if n else s * np.asarray(np.nan, a.dtype), a.dtype)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        shape, axes, keepdim, n = ctx.meta
        return div(_unsqueeze_to(g, axes, keepdim, shape), float(n) if n else float("nan")), None, None


def mean(input: Tensor, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """Arithmetic mean over ``dim``; an empty reduction gives NaN, like torch."""
    if dtype is not None:
        input = input.to(dtype)
    if input._data.dtype.kind != "f":
        raise RuntimeError(
            "mean(): could not infer output dtype. Input dtype must be either a floating point or "
            f"complex dtype. Got: {input.dtype.name.capitalize()}"
        )
    return _Mean.apply(input, normalize_dims(dim, input._data.ndim), keepdim)


class _Prod(ArrayFunction):
    node_name = "ProdBackward1"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, axis: int | None, keepdim: bool) -> np.ndarray:
        out = np.asarray(np.prod(a, axis=axis, keepdims=keepdim))
        ctx.save_for_backward(a, out)
        ctx.meta = (axis, keepdim)
        return out

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        """d prod / d a_i = prod_{j != i} a_j: ``out / a`` when no factor is zero; otherwise the
        product of the others, computed directly (first-order only at the zeros)."""
        a, out = ctx.saved_tensors
        axis, keepdim = ctx.meta
        axes = tuple(range(a._data.ndim)) if axis is None else (axis,)
        shape = a._data.shape
        gg = _unsqueeze_to(g, axes, keepdim, shape)
        if not (a._data == 0).any():
            return mul(gg, div(_unsqueeze_to(out, axes, keepdim, shape), a)), None, None
        flat = a._data.reshape(-1) if axis is None else a._data
        ax = 0 if axis is None else axis
        ones = np.ones_like(np.take(flat, [0], axis=ax))
        left = np.cumprod(np.concatenate([ones, np.delete(flat, -1, axis=ax)], axis=ax), axis=ax)
        rev = np.flip(flat, ax)
        right = np.flip(np.cumprod(np.concatenate([ones, np.delete(rev, -1, axis=ax)], axis=ax), axis=ax), ax)
        others = Tensor._make((left * right).reshape(shape))
        return mul(gg, others), None, None


class _Cumsum(ArrayFunction):
    node_name = "CumsumBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, axis: int) -> np.ndarray:
        ctx.axis = axis
        return np.cumsum(a, axis=axis) if a.ndim else a.copy()

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        from lossgrad.ops.shape import flip

        if g._data.ndim == 0:
            return g, None
        return flip(cumsum(flip(g, (ctx.axis,)), ctx.axis), (ctx.axis,)), None


def cumsum(input: Tensor, dim: int, *, dtype: Any = None) -> Tensor:
    return _Cumsum.apply(input, normalize_dims(dim, input._data.ndim)[0] if input._data.ndim else 0)


def prod(input: Tensor, dim: int | None = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """Product over one dim (or all); gradient without division, so zeros are fine."""
    if dtype is not None:
        input = input.to(dtype)
    axis = None if dim is None else (normalize_dims(dim, input._data.ndim) or (None,))[0]
    return _Prod.apply(input, axis, keepdim)


class _Amax(ArrayFunction):
    """amax/amin: the gradient is split evenly among tied extreme values (torch)."""

    node_name = "AmaxBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, axes: tuple[int, ...], keepdim: bool, is_max: bool) -> np.ndarray:
        out = np.asarray((np.max if is_max else np.min)(a, axis=axes, keepdims=keepdim))
        ctx.save_for_backward(a, out)
        ctx.meta = (axes, keepdim)
        return out

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        a, out = ctx.saved_tensors
        axes, keepdim = ctx.meta
        shape = a._data.shape
        hit = eq(a, _unsqueeze_to(out, axes, keepdim, shape)).to(a._data.dtype)
        count = sum(hit, axes, True)
        return mul(div(hit, count), _unsqueeze_to(g, axes, keepdim, shape)), None, None, None


def _check_nonempty(input: Tensor, axes: tuple[int, ...], name: str) -> None:
    if input._data.size == 0 and (not axes or builtins.any(input._data.shape[i] == 0 for i in axes)):
        raise IndexError(
            f"{name}(): Expected reduction dim to be specified for input.numel() == 0. "
            "Specify the reduction dim with the 'dim' argument."
        )


def amax(input: Tensor, dim: Any = (), keepdim: bool = False) -> Tensor:
    axes = normalize_dims(dim if dim != () else None, input._data.ndim)
    _check_nonempty(input, axes, "amax")
    return _Amax.apply(input, axes, keepdim, True)


def amin(input: Tensor, dim: Any = (), keepdim: bool = False) -> Tensor:
    axes = normalize_dims(dim if dim != () else None, input._data.ndim)
    _check_nonempty(input, axes, "amin")
    return _Amax.apply(input, axes, keepdim, False)


def _max_min(input: Tensor, dim: Any, keepdim: bool, other: Any, is_max: bool) -> Any:
    from lossgrad.ops.index import gather
    from lossgrad.ops.pointwise import maximum, minimum

    if isinstance(dim, Tensor):
        return (maximum if is_max else minimum)(input, dim)
    if other is not None:
        return (maximum if is_max else minimum)(input, other)
    if dim is None:
        _check_nonempty(input, (), "max" if is_max else "min")
        # all-reduce: torch's max() evenly splits the gradient among ties, like amax
        return _Amax.apply(input, tuple(range(input._data.ndim)), False, is_max)
    axis = normalize_dims(dim, input._data.ndim)
    axis_i = axis[0] if axis else 0
    arr = input._data if input._data.ndim else input._data.reshape(1)
    idx = (np.argmax if is_max else np.argmin)(arr, axis=axis_i)
    if arr.dtype.kind == "f":  # NaN wins, as in torch
        nan = np.isnan(arr)
        if nan.any():
            idx = np.where(nan.any(axis=axis_i), np.argmax(nan, axis=axis_i), idx)
    idx_k = np.expand_dims(idx, axis_i)
    src = input if input._data.ndim else input.reshape(1)
    values = gather(src, axis_i, Tensor._make(idx_k))
    if not keepdim:
        values = values.squeeze(axis_i) if input._data.ndim else values.reshape(())
        ind = Tensor._make(idx.astype(np.int64) if input._data.ndim else np.asarray(idx, np.int64).reshape(()))
    else:
        ind = Tensor._make(idx_k.astype(np.int64))
    return values_indices(values, ind)


def max(input: Tensor, dim: Any = None, keepdim: bool = False, *, other: Any = None) -> Any:
    """``max(x)`` (value), ``max(x, dim)`` (values, indices), or ``max(x, y)`` (elementwise)."""
    return _max_min(input, dim, keepdim, other, True)


def min(input: Tensor, dim: Any = None, keepdim: bool = False, *, other: Any = None) -> Any:
    return _max_min(input, dim, keepdim, other, False)


def argmax(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    if dim is None:
        out = np.asarray(np.argmax(input._data), np.int64)
        return Tensor._make(out.reshape((1,) * input._data.ndim) if keepdim else out)
    return max(input, dim, keepdim).indices


def argmin(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    if dim is None:
        out = np.asarray(np.argmin(input._data), np.int64)
        return Tensor._make(out.reshape((1,) * input._data.ndim) if keepdim else out)
    return min(input, dim, keepdim).indices


class _LogSumExp(ArrayFunction):
    node_name = "LogsumexpBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, axes: tuple[int, ...], keepdim: bool) -> np.ndarray:
        m = np.max(a, axis=axes, keepdims=True) if a.size else np.zeros((1,) * a.ndim, a.dtype)
        m = np.where(np.isfinite(m), m, 0)
        with np.errstate(divide="ignore"):
            out = np.log(np.sum(np.exp(a - m), axis=axes, keepdims=True)) + m
        if not keepdim:
            out = out.reshape(tuple(s for i, s in enumerate(a.shape) if i not in axes))
        out = np.asarray(out, a.dtype)
        ctx.save_for_backward(a, out)
        ctx.meta = (axes, keepdim)
        return out

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        a, out = ctx.saved_tensors
        axes, keepdim = ctx.meta
        shape = a._data.shape
        p = exp(sub(a, _unsqueeze_to(out, axes, keepdim, shape)))
        return mul(_unsqueeze_to(g, axes, keepdim, shape), p), None, None


def logsumexp(input: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    """log(sum(exp(x))) with the max shifted out (stable for large logits)."""
    return _LogSumExp.apply(input, normalize_dims(dim, input._data.ndim), keepdim)


def var(input: Tensor, dim: Any = None, unbiased: Any = None, keepdim: bool = False, *, correction: Any = None) -> Tensor:
    """Variance with Bessel's correction by default (``correction=1``)."""
    if isinstance(unbiased, bool):
        correction = 1 if unbiased else 0
    elif unbiased is not None and dim is None:  # var(x, dim) positional
        dim, unbiased = unbiased, None
    if correction is None:
        correction = 1
    axes = normalize_dims(dim, input._data.ndim)
    n = int(np.prod([input._data.shape[i] for i in axes])) if axes else 1
    centered = sub(input, mean(input, axes, True))
    ss = sum(mul(centered, centered), axes, keepdim)
    return div(ss, float(builtins.max(n - correction, 0)))


def std(input: Tensor, dim: Any = None, unbiased: Any = None, keepdim: bool = False, *, correction: Any = None) -> Tensor:
    return pow(var(input, dim, unbiased, keepdim, correction=correction), 0.5)


def norm(input: Tensor, p: Any = "fro", dim: Any = None, keepdim: bool = False, dtype: Any = None) -> Tensor:
    """Vector p-norm over ``dim`` (all elements by default); 'fro' is the 2-norm."""
    if p == "fro" or p is None:
        p = 2
    axes = normalize_dims(dim, input._data.ndim)
    if p == float("inf"):
        return amax(abs(input), axes, keepdim)
    if p == float("-inf"):
        return amin(abs(input), axes, keepdim)
    if p == 0:
        return sum(input != 0, axes, keepdim).to(input.dtype)
    if p == 2:
        return _Norm2.apply(input, axes, keepdim)
    return pow(sum(pow(abs(input), p), axes, keepdim), 1.0 / p)


class _Norm2(ArrayFunction):
    """2-norm with torch's subgradient 0 at the origin (not NaN)."""

    node_name = "NormBackward1"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, axes: tuple[int, ...], keepdim: bool) -> np.ndarray:
        out = np.asarray(np.sqrt(np.sum(a * a, axis=axes, keepdims=keepdim)), a.dtype)
        ctx.save_for_backward(a, out)
        ctx.meta = (axes, keepdim)
        return out

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        a, out = ctx.saved_tensors
        axes, keepdim = ctx.meta
        shape = a._data.shape
        o = _unsqueeze_to(out, axes, keepdim, shape)
        scale = where(eq(o, 0), 0.0, div(_unsqueeze_to(g, axes, keepdim, shape), o))
        return mul(a, scale), None, None


def any(input: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    axes = normalize_dims(dim, input._data.ndim)
    return Tensor._make(np.asarray(np.any(input._data, axis=axes, keepdims=keepdim)))


def all(input: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    axes = normalize_dims(dim, input._data.ndim)
    return Tensor._make(np.asarray(np.all(input._data, axis=axes, keepdims=keepdim)))


def count_nonzero(input: Tensor, dim: Any = None) -> Tensor:
    axes = normalize_dims(dim, input._data.ndim)
    return Tensor._make(np.asarray(np.count_nonzero(input._data, axis=axes), np.int64))

