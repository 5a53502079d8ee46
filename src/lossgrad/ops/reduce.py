"""Reductions: sum, mean, prod, max/min, amax/amin, logsumexp, norm, var, std, any/all, arg*.

Each backward follows torch's derivative formula (tools/autograd/derivatives.yaml and
FunctionsManual.cpp) with differentiable ops, so second derivatives come for free and match torch's
even where they are NaN. The incoming gradient is reshaped to the keepdim shape (``_keep``) and
broadcast against the input rather than materialised.
"""

from __future__ import annotations

import builtins
import math
import warnings
from collections import namedtuple
from collections.abc import Callable
from typing import Any

import numpy as np

from lossgrad import _dtype, _parallel
from lossgrad._tensor import Tensor
from lossgrad.autograd import grad_mode
from lossgrad.autograd.function import ArrayFunction
from lossgrad.ops._common import last_axis_rows, normalize_dims
from lossgrad.ops.pointwise import (
    _float_input,
    abs,
    div,
    exp,
    mul,
    pow,
    sgn,
    sub,
    to_dtype,
    where,
)

_add_reduce = np.add.reduce
_prod = math.prod
values_indices = namedtuple("values_indices", ["values", "indices"])
_make = Tensor._make


def _keep(g: Tensor, axes: tuple[int, ...], keepdim: bool, ndim: int) -> Tensor:
    """A reduced tensor reshaped to the keepdim shape (1 on the reduced axes), for broadcasting."""
    if keepdim or not axes or g._data.ndim == ndim:
        return g
    from lossgrad.ops.shape import reshape

    shape = list(g._data.shape)
    for ax in sorted(axes):
        shape.insert(ax, 1)
    return reshape(g, tuple(shape))


def _unsqueeze_to(
    g: Tensor, axes: tuple[int, ...], keepdim: bool, shape: tuple[int, ...]
) -> Tensor:
    """A reduced gradient expanded back over the input's shape."""
    from lossgrad.ops.shape import expand

    return expand(_keep(g, axes, keepdim, len(shape)), shape)


def _broadcast_back(
    g: np.ndarray, axes: tuple[int, ...], keepdim: bool, shape: tuple[int, ...]
) -> np.ndarray:
    """``_unsqueeze_to`` on a raw array: a read-only broadcast view, no copy (for a full
    reduction of at most `_FILLED` elements, a filled array: cheaper than building the view,
    and a leaf's ``.grad`` then takes it without the copy it makes of a view)."""
    if g.ndim == 0:  # a full reduction: the view built directly (a third of broadcast_to's cost)
        if _prod(shape) <= _FILLED:
            v = np.empty(shape, g.dtype)
            v.fill(g)
            return v
        v = np.ndarray(shape, g.dtype, buffer=g, strides=(0,) * len(shape))
        v.flags.writeable = False
        return v
    g = _keep_array(g, axes, keepdim, len(shape))
    return g.view() if g.shape == shape else np.broadcast_to(g, shape)


#: Elements up to which a full reduction's gradient is filled rather than a broadcast view.
_FILLED = 1 << 12


def _keep_array(a: np.ndarray, axes: tuple[int, ...], keepdim: bool, ndim: int) -> np.ndarray:
    if keepdim or not axes or a.ndim == ndim:
        return a
    return np.expand_dims(a, tuple(sorted(axes)))


# -- sum, mean ------------------------------------------------------------------------------------


class _Sum(ArrayFunction):
    saves_tensors = False  # torch's node saves no tensors: a second backward is allowed
    node_name = "SumBackward1"

    @staticmethod
    def forward(
        ctx: Any, a: np.ndarray, axes: tuple[int, ...], keepdim: bool, dt: Any
    ) -> np.ndarray:
        ctx.meta = (a.shape, a.dtype, axes, keepdim)
        # ``a.sum(...)`` without its Python-level wrapper (NumPy's ``_methods._sum``)
        return np.asarray(_add_reduce(a, axes, dt, None, keepdim))

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        shape, src, axes, keepdim = ctx.meta
        if g._data.dtype != src:  # sum(dtype=...) casts back
            g = to_dtype(g, src)
        return _unsqueeze_to(g, axes, keepdim, shape), None, None, None

    @staticmethod
    def backward_array(ctx: Any, g: np.ndarray) -> tuple[Any, ...]:
        shape, src, axes, keepdim = ctx.meta
        if g.dtype != src:
            g = g.astype(src)
        return _broadcast_back(g, axes, keepdim, shape), None, None, None


class _SumAll(_Sum):
    node_name = "SumBackward0"


def _sum_dtype(a: Tensor, dtype: Any) -> Any:
    if dtype is not None:
        return _dtype.to_numpy_dtype(dtype)
    if a._data.dtype.kind in "biu":
        return np.int64
    return None


def sum(input: Tensor, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """Sum over ``dim`` (all dims if None); bool and integer inputs sum to int64.

    Gradient: the incoming gradient broadcast back over the reduced dims.
    """
    axes = normalize_dims(dim, input._data.ndim)
    return (_SumAll if dim is None else _Sum).apply(input, axes, keepdim, _sum_dtype(input, dtype))


def nansum(input: Tensor, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """Sum treating NaN as zero (gradient zero at the NaNs)."""
    return sum(where(input != input, 0.0, input), dim, keepdim, dtype=dtype)


class _Mean(ArrayFunction):
    saves_tensors = False  # torch's node saves no tensors: a second backward is allowed
    node_name = "MeanBackward1"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, axes: tuple[int, ...], keepdim: bool) -> np.ndarray:
        n = 1
        for i in axes:
            n *= a.shape[i]
        ctx.meta = (a.shape, axes, keepdim, n)
        if n == 0:
            return np.full(np.sum(a, axis=axes, keepdims=keepdim).shape, np.nan, a.dtype)
        return np.asarray(np.mean(a, axis=axes, keepdims=keepdim), a.dtype)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        shape, axes, keepdim, n = ctx.meta
        return div(_unsqueeze_to(g, axes, keepdim, shape), float(n) if n else 0.0), None, None

    @staticmethod
    def backward_array(ctx: Any, g: np.ndarray) -> tuple[Any, ...]:
        shape, axes, keepdim, n = ctx.meta
        full = _broadcast_back(g, axes, keepdim, shape)
        return full / np.asarray(float(n) if n else 0.0, g.dtype), None, None


class _MeanAll(_Mean):
    node_name = "MeanBackward0"


def mean(input: Tensor, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """Arithmetic mean over ``dim``; an empty reduction gives NaN, like torch.

    Gradient: the incoming gradient broadcast back and divided by the number of elements reduced.
    """
    if dtype is not None:
        input = input.to(dtype)
    if input._data.dtype.kind != "f":
        raise RuntimeError(
            "mean(): could not infer output dtype. Input dtype must be either a floating point or "
            f"complex dtype. Got: {input.dtype.name.capitalize()}"
        )
    axes = normalize_dims(dim, input._data.ndim)
    return (_MeanAll if dim is None else _Mean).apply(input, axes, keepdim)


# -- prod, cumsum ---------------------------------------------------------------------------------


class _Prod(ArrayFunction):
    """Product over one axis (or all, flattened). torch's prod_backward: ``g * out / x`` when no
    factor is zero; otherwise the product of the other factors, built without division."""

    node_name = "ProdBackward1"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, axis: int | None, keepdim: bool, dt: Any) -> np.ndarray:
        out = np.asarray(np.prod(a, axis=axis, keepdims=keepdim, dtype=dt))
        ctx.save_for_backward(a, out)
        ctx.meta = (axis, keepdim)
        return out

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        from lossgrad.ops.shape import reshape

        a, out = ctx.saved_tensors
        axis, keepdim = ctx.meta
        x = a._data
        if x.ndim == 0:
            return g, None, None, None
        if axis is None:
            if not (x == 0).any():
                return mul(g, div(out, a)), None, None, None
            flat = reshape(a, (-1,))
            return mul(g, reshape(_prod_others(flat, 0), x.shape)), None, None, None
        axes = (axis,)
        gk = _keep(g, axes, keepdim, x.ndim)
        if not (x == 0).any():
            return mul(gk, div(_keep(out, axes, keepdim, x.ndim), a)), None, None, None
        return mul(gk, _prod_others(a, axis)), None, None, None


class _ProdAll(_Prod):
    node_name = "ProdBackward0"


def _prod_others(a: Tensor, axis: int) -> Tensor:
    """``prod_{j != i} a_j`` along ``axis`` for every i, exact with zeros.

    Without a graph to record it is two exclusive cumulative products (NumPy). When recording
    (create_graph), it is ``prod(where(eye, 1, a_j))`` over an (n, n) expansion, so that it can be
    differentiated again; that costs n times the memory, only on this zero-factor path.
    """
    x = a._data
    if not grad_mode._state.enabled:
        n = x.shape[axis]
        ones = np.ones_like(np.take(x, [0], axis=axis))
        head = np.take(x, np.arange(n - 1), axis=axis)
        tail = np.flip(np.take(x, np.arange(1, n), axis=axis), axis)
        left = np.cumprod(np.concatenate([ones, head], axis=axis), axis=axis)
        right = np.flip(np.cumprod(np.concatenate([ones, tail], axis=axis), axis=axis), axis)
        return _make(left * right)
    from lossgrad.ops.shape import expand, movedim, unsqueeze

    last = movedim(a, axis, -1)
    n = x.shape[axis]
    grid = expand(unsqueeze(last, -2), last._data.shape[:-1] + (n, n))
    others = prod(where(_make(np.eye(n, dtype=bool)), 1.0, grid), -1)
    return movedim(others, -1, axis)


def prod(
    input: Tensor, dim: int | None = None, keepdim: bool = False, *, dtype: Any = None
) -> Tensor:
    """Product over one dim (or all elements); bool and integer inputs give int64.

    Gradient: ``g * prod / x`` without zeros; with zeros, the product of the other factors.
    """
    dt = _sum_dtype(input, dtype)
    if dim is None:
        return _ProdAll.apply(input, None, False, dt)
    axis = normalize_dims(dim, input._data.ndim)
    return _Prod.apply(input, axis[0] if axis else None, keepdim, dt)


class _Cumsum(ArrayFunction):
    saves_tensors = False  # torch's node saves no tensors: a second backward is allowed
    node_name = "CumsumBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, axis: int, dt: Any) -> np.ndarray:
        ctx.axis = axis
        return np.cumsum(a, axis=axis, dtype=dt) if a.ndim else a.astype(dt or a.dtype)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        from lossgrad.ops.shape import flip

        if g._data.ndim == 0:
            return g, None, None
        return flip(cumsum(flip(g, (ctx.axis,)), ctx.axis), (ctx.axis,)), None, None


def cumsum(input: Tensor, dim: int, *, dtype: Any = None) -> Tensor:
    """Running sum along ``dim``; gradient: the reversed running sum of the gradient."""
    axes = normalize_dims(dim, input._data.ndim)
    return _Cumsum.apply(input, axes[0] if axes else 0, _sum_dtype(input, dtype))


# -- max, min, amax, amin, argmax, argmin ---------------------------------------------------------


class _Amax(ArrayFunction):
    """amax over dims: the gradient is split evenly among tied extreme values (torch)."""

    node_name = "AmaxBackward0"
    _reduce: Callable[..., Any] = staticmethod(np.max)

    @classmethod
    def forward(cls, ctx: Any, a: np.ndarray, axes: tuple[int, ...], keepdim: bool) -> np.ndarray:
        out = np.asarray(cls._reduce(a, axis=axes, keepdims=keepdim))
        ctx.save_for_backward(a, out)
        ctx.meta = (axes, keepdim)
        return out

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        a, out = (t._data for t in ctx.saved_tensors)
        axes, keepdim = ctx.meta
        mask = a == _keep_array(out, axes, keepdim, a.ndim)
        count = np.sum(mask, axis=axes, keepdims=True).astype(a.dtype)
        return mul(div(_keep(g, axes, keepdim, a.ndim), _make(count)), _make(mask)), None, None


class _Amin(_Amax):
    node_name = "AminBackward0"
    _reduce = staticmethod(np.min)


class _MaxAll(ArrayFunction):
    """max()/min() of all elements: torch's evenly_distribute_backward (NaN: to the NaNs)."""

    node_name = "MaxBackward1"
    _reduce: Callable[..., Any] = staticmethod(np.max)

    @classmethod
    def forward(cls, ctx: Any, a: np.ndarray) -> np.ndarray:
        out = np.asarray(cls._reduce(a))
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        a, out = (t._data for t in ctx.saved_tensors)
        mask = np.isnan(a) if np.isnan(out) else a == out
        return mul(_make(mask), div(g, float(np.count_nonzero(mask))))


class _MinAll(_MaxAll):
    node_name = "MinBackward1"
    _reduce = staticmethod(np.min)


class _MaxDim(ArrayFunction):
    """max/min along one dim: values and indices; the gradient goes to the chosen index."""

    node_name = "MaxBackward0"
    _arg: Callable[..., Any] = staticmethod(np.argmax)

    @classmethod
    def forward(cls, ctx: Any, a: np.ndarray, axis: int, keepdim: bool) -> tuple[np.ndarray, ...]:
        arr = a if a.ndim else a.reshape(1)
        idx = np.expand_dims(cls._arg(arr, axis=axis), axis)  # first extreme; NaN wins (torch)
        values = np.take_along_axis(arr, idx, axis)
        ctx.meta = (a.shape, axis, keepdim, idx)
        if not a.ndim:
            values, idx = values.reshape(()), idx.reshape(())
        elif not keepdim:
            values, idx = values.squeeze(axis), idx.squeeze(axis)
        ind = idx.astype(np.int64, copy=False)
        ctx.mark_non_differentiable(ind)
        return values, ind

    @staticmethod
    def backward(ctx: Any, g: Tensor, _gi: Any = None) -> tuple[Any, ...]:
        from lossgrad.ops.index import _ScatterAdd
        from lossgrad.ops.shape import reshape, unsqueeze

        shape, axis, keepdim, idx = ctx.meta
        if not shape:
            return reshape(g, ()), None, None
        gk = g if keepdim else unsqueeze(g, axis)
        return _ScatterAdd.apply(gk, shape, axis, idx), None, None


class _MinDim(_MaxDim):
    node_name = "MinBackward0"
    _arg = staticmethod(np.argmin)


def _check_nonempty(input: Tensor, dim: Any, axes: tuple[int, ...], name: str) -> None:
    """torch's errors for max/amax/argmax over nothing (full reduce vs an empty dim)."""
    shape = input._data.shape
    if dim is None or (isinstance(dim, (tuple, list)) and not dim):
        if input._data.size == 0:
            msg = f"{name}(): Expected reduction dim to be specified for input.numel() == 0."
            if name.startswith("arg"):
                raise IndexError(msg)
            raise RuntimeError(msg + " Specify the reduction dim with the 'dim' argument.")
        return
    for ax in axes:
        if shape and shape[ax] == 0:
            raise IndexError(f"{name}(): Expected reduction dim {ax} to have non-zero size.")


def amax(input: Tensor, dim: Any = (), keepdim: bool = False) -> Tensor:
    """Largest value over ``dim`` (all dims by default); ties share the gradient evenly."""
    axes = normalize_dims(dim, input._data.ndim)
    _check_nonempty(input, dim, axes, "amax")
    return _Amax.apply(input, axes, keepdim)


def amin(input: Tensor, dim: Any = (), keepdim: bool = False) -> Tensor:
    """Smallest value over ``dim`` (all dims by default); ties share the gradient evenly."""
    axes = normalize_dims(dim, input._data.ndim)
    _check_nonempty(input, dim, axes, "amin")
    return _Amin.apply(input, axes, keepdim)


def _max_min(input: Tensor, dim: Any, keepdim: bool, other: Any, is_max: bool) -> Any:
    if isinstance(dim, Tensor) or other is not None:
        from lossgrad.ops.pointwise import maximum, minimum

        return (maximum if is_max else minimum)(input, dim if other is None else other)
    name = "max" if is_max else "min"
    if dim is None:
        _check_nonempty(input, None, (), name)
        return (_MaxAll if is_max else _MinAll).apply(input)
    axes = normalize_dims(dim, input._data.ndim)
    _check_nonempty(input, dim, axes, name)
    values, ind = (_MaxDim if is_max else _MinDim).apply(input, axes[0] if axes else 0, keepdim)
    return values_indices(values, ind)


def max(input: Tensor, dim: Any = None, keepdim: bool = False, *, other: Any = None) -> Any:
    """``max(x)`` (value), ``max(x, dim)`` (values, indices), or ``max(x, y)`` (elementwise).

    Gradient: ``max(x)`` splits it evenly among ties; ``max(x, dim)`` sends it to the returned
    index (the first extreme, NaN first); ``max(x, y)`` is ``maximum`` (halves at ties).
    """
    return _max_min(input, dim, keepdim, other, True)


def min(input: Tensor, dim: Any = None, keepdim: bool = False, *, other: Any = None) -> Any:
    """``min(x)``, ``min(x, dim)`` or ``min(x, y)``; see :func:`max`."""
    return _max_min(input, dim, keepdim, other, False)


def _arg_extreme(input: Tensor, dim: Any, keepdim: bool, is_max: bool) -> Tensor:
    name = "argmax" if is_max else "argmin"
    if input._data.dtype == np.bool_:
        raise RuntimeError(f"{name}(): does not support bool input")
    fn = np.argmax if is_max else np.argmin
    if dim is None:
        _check_nonempty(input, None, (), name)
        out = np.asarray(fn(input._data), np.int64)
        return _make(out.reshape((1,) * input._data.ndim) if keepdim else out)
    axes = normalize_dims(dim, input._data.ndim)
    _check_nonempty(input, dim, axes, name)
    if not input._data.ndim:
        return _make(np.zeros((), np.int64))
    out = fn(input._data, axis=axes[0], keepdims=keepdim).astype(np.int64)
    return _make(np.asarray(out))


def argmax(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Index of the first largest value (NaN counts as largest); no gradient."""
    return _arg_extreme(input, dim, keepdim, True)


def argmin(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Index of the first smallest value (NaN counts as smallest); no gradient."""
    return _arg_extreme(input, dim, keepdim, False)


# -- logsumexp ------------------------------------------------------------------------------------


class _LogSumExp(ArrayFunction):
    """``log sum exp(x)`` with each reduced slice's maximum shifted out (0 for a slice whose
    maximum is not finite). Over the last axis of a large array it runs in blocks of rows
    (`_parallel.map_rows`), so that the shifted exponentials of a block stay in the cache
    and are never a full-size array; the same values, bit for bit (each row sums alone)."""

    node_name = "LogsumexpBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, axes: tuple[int, ...], keepdim: bool) -> np.ndarray:
        rows = last_axis_rows(a, axes)
        if rows is not None:
            out = np.empty(rows.shape[0], a.dtype)
            _parallel.map_rows(
                lambda lo, hi: _log_sum_exp_block(rows[lo:hi], out[lo:hi]), *rows.shape
            )
            out = out.reshape(a.shape[:-1] + ((1,) if keepdim else ()))
        else:
            if a.size:
                m = np.max(a, axis=axes, keepdims=True)
                m = np.where(np.isfinite(m), m, 0)
            else:
                m = np.zeros((1,) * a.ndim, a.dtype)
            out = np.log(np.sum(np.exp(a - m), axis=axes, keepdims=True))
            out += m
            if not keepdim:
                out = out.reshape(tuple(s for i, s in enumerate(a.shape) if i not in axes))
            out = np.asarray(out, a.dtype)
        ctx.save_for_backward(a, out)
        ctx.meta = (axes, keepdim)
        return out

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        """torch: ``g * exp(x - logsumexp(x))``."""
        a, out = ctx.saved_tensors
        axes, keepdim = ctx.meta
        nd = a._data.ndim
        return (
            mul(_keep(g, axes, keepdim, nd), exp(sub(a, _keep(out, axes, keepdim, nd)))),
            None,
            None,
        )

    @staticmethod
    def backward_array(ctx: Any, g: np.ndarray) -> tuple[Any, ...]:
        """``backward`` on arrays, in blocks of rows over the last axis of a large input."""
        a, out = ctx._saved_arrays()
        axes, keepdim = ctx.meta
        rows = last_axis_rows(a, axes)
        if rows is None or g.dtype != a.dtype:
            if not keepdim:
                g, out = np.expand_dims(g, axes), np.expand_dims(out, axes)
            return np.multiply(g, np.exp(a - out)), None, None
        row_grads, row_lse = np.reshape(g, -1), np.reshape(out, -1)
        grad = np.empty_like(a)
        grad_rows = grad.reshape(rows.shape)

        def block(lo: int, hi: int) -> None:
            part = np.subtract(rows[lo:hi], row_lse[lo:hi, None], out=grad_rows[lo:hi])
            np.multiply(np.exp(part, out=part), row_grads[lo:hi, None], out=part)

        _parallel.map_rows(block, *rows.shape)
        return grad, None, None


def _log_sum_exp_block(rows: np.ndarray, out: np.ndarray) -> None:
    """``out = log sum exp(rows)`` per row of one block, through a scratch buffer."""
    row_max = rows.max(axis=1)
    row_max[~np.isfinite(row_max)] = 0
    shifted = _parallel.scratch(rows.size, rows.dtype).reshape(rows.shape)
    np.exp(np.subtract(rows, row_max[:, None], out=shifted), out=shifted)
    np.add(np.log(shifted.sum(axis=1)), row_max, out=out)


def logsumexp(input: Tensor, dim: Any, keepdim: bool = False) -> Tensor:
    """log(sum(exp(x))) over ``dim`` with the max shifted out (stable for large logits).

    Gradient: ``g * softmax(x)`` over the reduced dims. Integer inputs give the default float.
    """
    axes = normalize_dims(dim, input._data.ndim)
    return _LogSumExp.apply(_float_input(input), axes, keepdim)


# -- var, std -------------------------------------------------------------------------------------

_DOF_MSG = (
    "{}(): degrees of freedom is <= 0. Correction should be strictly less than the reduction "
    "factor (input numel divided by output numel). (Triggered internally at "
    "/__w/pytorch/pytorch/aten/src/ATen/native/ReduceOps.cpp:1861.)"
)


def _var_backward(
    g: Tensor, a: Tensor, axes: tuple[int, ...], full: bool, correction: float, keepdim: bool
) -> Tensor:
    """torch's var_backward: ``2 / (n - correction) * g * (x - mean)``; with no degrees of freedom
    in a full reduction, ``g * (NaN where x == mean else inf)``."""
    x = a._data
    n = 1
    for i in axes:
        n *= x.shape[i]
    if full:
        dof = n - correction
        if dof <= 0:
            m = np.mean(x) if x.size else np.nan
            return mul(g, _make(np.where(x == m, np.nan, np.inf).astype(x.dtype)))
        return mul(mul(g, 2.0 / dof), sub(a, mean(a)))
    with np.errstate(divide="ignore"):
        scale = float(np.float64(2.0) / np.float64(n - correction))
    return mul(mul(_keep(g, axes, keepdim, x.ndim), scale), sub(a, mean(a, axes, True)))


class _Var(ArrayFunction):
    node_name = "VarBackward0"

    @staticmethod
    def forward(
        ctx: Any, a: np.ndarray, axes: tuple[int, ...], full: bool, correction: float, keepdim: bool
    ) -> np.ndarray:
        ctx.save_for_backward(a)
        ctx.meta = (axes, full, correction, keepdim)
        return _np_var(a, axes, correction, keepdim)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        (a,) = ctx.saved_tensors
        axes, full, correction, keepdim = ctx.meta
        return _var_backward(g, a, axes, full, correction, keepdim), None, None, None, None


class _Std(ArrayFunction):
    node_name = "StdBackward0"

    @staticmethod
    def forward(
        ctx: Any, a: np.ndarray, axes: tuple[int, ...], full: bool, correction: float, keepdim: bool
    ) -> np.ndarray:
        out = np.sqrt(_np_var(a, axes, correction, keepdim))
        ctx.save_for_backward(a, out)
        ctx.meta = (axes, full, correction, keepdim)
        return out

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        """torch: var's backward of ``g / (2 std)``, zero where std == 0."""
        a, out = ctx.saved_tensors
        axes, full, correction, keepdim = ctx.meta
        gv = where(_make(out._data == 0), 0.0, div(g, mul(out, 2.0)))
        return _var_backward(gv, a, axes, full, correction, keepdim), None, None, None, None


def _np_var(a: np.ndarray, axes: tuple[int, ...], correction: float, keepdim: bool) -> np.ndarray:
    n = 1
    for i in axes:
        n *= a.shape[i]
    centered = a - np.mean(a, axis=axes, keepdims=True) if n else a
    ss = np.sum(centered * centered, axis=axes, keepdims=keepdim)
    return np.asarray(ss / np.asarray(builtins.max(n - correction, 0), a.dtype), a.dtype)


def _var_args(
    input: Tensor, dim: Any, unbiased: Any, correction: Any, name: str
) -> tuple[Any, ...]:
    if input._data.dtype.kind != "f":
        raise RuntimeError("std and var only support floating point and complex dtypes")
    if isinstance(dim, bool):  # var(x, True): the legacy unbiased flag in dim's place
        dim, unbiased = None, dim
    if unbiased is not None:
        correction = 1 if unbiased else 0
    elif correction is None:
        correction = 1
    axes = normalize_dims(dim, input._data.ndim)
    n = 1
    for i in axes:
        n *= input._data.shape[i]
    if n - correction <= 0:
        warnings.warn(_DOF_MSG.format(name), UserWarning, stacklevel=3)
    full = dim is None or input._data.ndim == 0
    return axes, full, float(correction)


def var(
    input: Tensor,
    dim: Any = None,
    unbiased: Any = None,
    keepdim: bool = False,
    *,
    correction: Any = None,
) -> Tensor:
    """Variance ``sum((x - mean)^2) / (n - correction)``, Bessel's ``correction=1`` by default.

    Gradient: ``2 / (n - correction) * g * (x - mean)`` (torch's, including its NaN/inf when
    ``n <= correction``, which also warns like torch).
    """
    axes, full, corr = _var_args(input, dim, unbiased, correction, "var")
    return _Var.apply(input, axes, full, corr, keepdim)


def std(
    input: Tensor,
    dim: Any = None,
    unbiased: Any = None,
    keepdim: bool = False,
    *,
    correction: Any = None,
) -> Tensor:
    """Standard deviation, ``sqrt(var)``; its gradient is zero where std is 0 (torch)."""
    axes, full, corr = _var_args(input, dim, unbiased, correction, "std")
    return _Std.apply(input, axes, full, corr, keepdim)


# -- norm -----------------------------------------------------------------------------------------


class _VectorNorm(ArrayFunction):
    """``(sum |x|^p)^(1/p)`` over dims; torch's norm_backward for each p (0 at the origin)."""

    node_name = "LinalgVectorNormBackward0"

    @staticmethod
    def forward(
        ctx: Any, a: np.ndarray, p: float, axes: tuple[int, ...], keepdim: bool
    ) -> np.ndarray:
        if p == 2:
            out = np.sqrt(np.sum(a * a, axis=axes, keepdims=keepdim))
        elif p == 1:
            out = np.sum(np.abs(a), axis=axes, keepdims=keepdim)
        elif p == np.inf:
            out = np.max(np.abs(a), axis=axes, keepdims=keepdim)
        elif p == -np.inf:
            out = np.min(np.abs(a), axis=axes, keepdims=keepdim)
        elif p == 0:
            out = np.sum(a != 0, axis=axes, keepdims=keepdim)
        else:
            out = np.sum(np.abs(a) ** p, axis=axes, keepdims=keepdim) ** (1.0 / p)
        out = np.asarray(out, a.dtype)
        ctx.save_for_backward(a, out)
        ctx.meta = (p, axes, keepdim)
        return out

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        a, out = ctx.saved_tensors
        p, axes, keepdim = ctx.meta
        nd = a._data.ndim
        if p == 0:
            return None, None, None, None
        g = _keep(g, axes, keepdim, nd)
        norm = _keep(out, axes, keepdim, nd)
        zero = _make(norm._data == 0)
        if p == 1:
            gi = mul(sgn(a), g)
        elif p == 2:
            gi = mul(g, where(zero, 0.0, div(a, norm)))
        elif p in (np.inf, -np.inf):
            mag = np.abs(a._data)
            mask = (mag == norm._data) | np.isnan(mag)
            count = np.sum(mask, axis=axes, keepdims=True).astype(mag.dtype)
            gi = mul(sgn(a), mul(div(g, _make(count)), _make(mask)))
        elif p < 1:
            scaled = mul(sgn(a), where(_make(a._data == 0), 0.0, pow(abs(a), p - 1)))
            gi = mul(mul(scaled, g), pow(norm, 1 - p))
        else:
            scaled = mul(sgn(a), pow(abs(a), p - 1)) if p < 2 else mul(a, pow(abs(a), p - 2))
            gi = mul(scaled, where(zero, 0.0, div(g, pow(norm, p - 1))))
        return gi, None, None, None


def norm(
    input: Tensor, p: Any = "fro", dim: Any = None, keepdim: bool = False, dtype: Any = None
) -> Tensor:
    """Vector p-norm over ``dim`` (all elements by default); 'fro' is the 2-norm.

    Gradient (torch's): ``g * x / ||x||`` for p=2, ``g * sign(x)`` for p=1, split among the
    largest ``|x|`` for p=inf, and 0 wherever the norm is 0 (not NaN).
    """
    if dtype is not None:
        input = input.to(dtype)
    if input._data.dtype.kind != "f":
        name = _dtype.from_numpy_dtype(input._data.dtype).name.capitalize()
        raise RuntimeError(
            "linalg.vector_norm: Expected a floating point or complex tensor as input. Got "
            f"{name.replace('Int64', 'Long')}"
        )
    if p is None or p == "fro":
        if dim is not None and not isinstance(dim, (int, np.integer)) and len(dim) > 2:
            raise RuntimeError(
                f"linalg.matrix_norm: dim must be a 2-tuple. Got {' '.join(map(str, dim))}"
            )
        p = 2
    elif isinstance(p, str):
        raise NotImplementedError(f"norm with p={p!r} is not supported")
    p = float(p)
    axes = normalize_dims(dim, input._data.ndim)
    if np.isinf(p) and input._data.size == 0:
        empty = [ax for ax in axes if input._data.shape[ax] == 0]
        if dim is None or not empty:
            raise RuntimeError(
                "linalg.vector_norm cannot compute the inf norm on an empty tensor because the "
                "operation does not have an identity"
            )
        raise RuntimeError(
            f"linalg.vector_norm cannot compute the inf norm on the dimension {empty[0]}because "
            "this dimension is empty and the operation does not have an identity"
        )
    return _VectorNorm.apply(input, p, axes, keepdim)


# -- logical reductions ---------------------------------------------------------------------------


def any(input: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    axes = normalize_dims(dim, input._data.ndim)
    return _make(np.asarray(np.any(input._data, axis=axes, keepdims=keepdim)))


def all(input: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    axes = normalize_dims(dim, input._data.ndim)
    return _make(np.asarray(np.all(input._data, axis=axes, keepdims=keepdim)))


def count_nonzero(input: Tensor, dim: Any = None) -> Tensor:
    axes = normalize_dims(dim, input._data.ndim)
    return _make(np.asarray(np.count_nonzero(input._data, axis=axes), np.int64))
