"""Indexing ops: ``x[idx]``, ``x[idx] = v``, gather, index_select, masked_fill, take_along_dim,
scatter_add, sort, topk.

Reading by index and scattering into zeros are each other's backward, so both are Functions and
second derivatives go through them.
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any

import numpy as np

from lossgrad._tensor import Tensor
from lossgrad.autograd.function import ArrayFunction
from lossgrad.ops._common import normalize_dims, sum_to_shape
from lossgrad.ops.pointwise import where

values_indices = namedtuple("values_indices", ["values", "indices"])


def _convert_index(index: Any) -> Any:
    """Tensors and lists inside an index become NumPy arrays (bool stays bool)."""
    if isinstance(index, tuple):
        return tuple(_convert_index(i) for i in index)
    if isinstance(index, Tensor):
        return index._data
    if isinstance(index, list):
        return np.asarray([i._data if isinstance(i, Tensor) else i for i in index])
    return index


def _is_basic(index: Any) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return all(
        isinstance(i, (int, np.integer, slice)) or i is None or i is Ellipsis for i in items
    )


def _check_int_index(arr: np.ndarray, index: Any) -> None:
    items = index if isinstance(index, tuple) else (index,)
    for i in items:
        if isinstance(i, np.ndarray) and i.dtype.kind == "f":
            raise IndexError(
                "tensors used as indices must be long, int, byte or bool tensors"
            )


class _GetItem(ArrayFunction):
    node_name = "IndexBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, index: Any) -> np.ndarray:
        ctx.meta = (a.shape, index)
        try:
            out = a[index]
        except IndexError as e:
            raise IndexError(str(e).replace("axis", "dimension")) from None
        return out if isinstance(out, np.ndarray) else np.asarray(out)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        shape, index = ctx.meta
        return _IndexScatter.apply(g, shape, index), None


class _IndexScatter(ArrayFunction):
    """Zeros of ``shape`` with ``g`` added at ``index`` (duplicates accumulate)."""

    node_name = "IndexPutBackward0"

    @staticmethod
    def forward(ctx: Any, g: np.ndarray, shape: tuple[int, ...], index: Any) -> np.ndarray:
        ctx.index = index
        out = np.zeros(shape, g.dtype)
        if _is_basic(index):
            out[index] = g
        else:
            np.add.at(out, index, g)
        return out

    @staticmethod
    def backward(ctx: Any, gg: Tensor) -> tuple[Any, ...]:
        return _GetItem.apply(gg, ctx.index), None, None


def getitem(input: Tensor, index: Any) -> Tensor:
    """``input[index]`` with ints, slices, None, Ellipsis, bool and integer tensors."""
    idx = _convert_index(index)
    _check_int_index(input._data, idx)
    return _GetItem.apply(input, idx)


class _IndexPut(ArrayFunction):
    node_name = "IndexPutBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, value: np.ndarray, index: Any) -> np.ndarray:
        ctx.meta = (index, value.shape, a.shape)
        out = a.copy()
        out[index] = value
        return out

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        index, vshape, ashape = ctx.meta
        ga = gv = None
        if ctx.needs_input_grad[0]:
            mask = np.ones(ashape, bool)
            mask[index] = False
            ga = where(Tensor._make(mask), g, 0.0)
        if ctx.needs_input_grad[1]:
            picked = _GetItem.apply(g, index)
            gv = sum_to_shape(picked, vshape)
        return ga, gv, None


def index_put(input: Tensor, index: Any, value: Any) -> Tensor:
    """A copy of ``input`` with ``value`` written at ``index`` (the out-of-place ``x[i] = v``)."""
    idx = _convert_index(index)
    if isinstance(value, Tensor):
        v = value if value._data.dtype == input._data.dtype else value.to(input._data.dtype)
    else:
        v = np.asarray(value, dtype=input._data.dtype)
    return _IndexPut.apply(input, v, idx)


def _gather_index(shape: tuple[int, ...], axis: int, index: np.ndarray) -> tuple[np.ndarray, ...]:
    grids = np.ogrid[tuple(slice(0, s) for s in index.shape)]
    full = list(grids)
    full[axis] = index
    return tuple(full)


class _Gather(ArrayFunction):
    node_name = "GatherBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, axis: int, index: np.ndarray) -> np.ndarray:
        ctx.meta = (a.shape, axis, index)
        if index.ndim == 0:
            return a[index] if a.ndim == 0 else a.reshape(-1)[index]
        return a[_gather_index(a.shape, axis, index)]

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        shape, axis, index = ctx.meta
        return _ScatterAdd.apply(g, shape, axis, index), None, None


class _ScatterAdd(ArrayFunction):
    node_name = "ScatterAddBackward0"

    @staticmethod
    def forward(ctx: Any, g: np.ndarray, shape: tuple[int, ...], axis: int, index: np.ndarray) -> np.ndarray:
        ctx.meta = (axis, index)
        out = np.zeros(shape, g.dtype)
        if index.ndim == 0:
            out.reshape(-1)[index] += g
        else:
            np.add.at(out, _gather_index(shape, axis, index), g)
        return out

    @staticmethod
    def backward(ctx: Any, gg: Tensor) -> tuple[Any, ...]:
        axis, index = ctx.meta
        return _Gather.apply(gg, axis, index), None, None, None


def _int_index(index: Any, name: str) -> np.ndarray:
    arr = index._data if isinstance(index, Tensor) else np.asarray(index)
    if arr.dtype != np.int64:
        raise RuntimeError(f"{name}(): Expected dtype int64 for index")
    return arr


def gather(input: Tensor, dim: int, index: Tensor, *, sparse_grad: bool = False) -> Tensor:
    """``out[i][j] = input[i][index[i][j]]`` along ``dim`` (index may be smaller than input)."""
    idx = _int_index(index, "gather")
    nd = input._data.ndim
    axis = normalize_dims(dim, nd)[0] if nd else 0
    if idx.ndim != nd and not (nd <= 1 and idx.ndim <= 1):
        raise RuntimeError("Index tensor must have the same number of dimensions as input tensor")
    n = input._data.shape[axis] if nd else 1
    if idx.size and (idx.min() < -n or idx.max() >= n):
        bad = idx.max() if idx.max() >= n else idx.min()
        raise RuntimeError(f"index {bad} is out of bounds for dimension {axis} with size {n}")
    for d in range(idx.ndim):
        if d != axis and idx.shape[d] > input._data.shape[d]:
            raise RuntimeError(
                f"Size does not match at dimension {d} expected index {list(idx.shape)} to be "
                f"no larger than self {list(input._data.shape)} apart from dimension {axis}"
            )
    return _Gather.apply(input, axis, idx)


def take_along_dim(input: Tensor, indices: Tensor, dim: int | None = None) -> Tensor:
    if dim is None:
        return gather(input.reshape(-1), 0, indices.reshape(-1))
    from lossgrad.ops.shape import expand

    axis = normalize_dims(dim, input._data.ndim)[0]
    ishape = list(input._data.shape)
    jshape = list(indices._data.shape)
    ishape[axis] = jshape[axis] = 1
    b = np.broadcast_shapes(tuple(ishape), tuple(jshape))
    xs = list(b)
    xs[axis] = input._data.shape[axis]
    js = list(b)
    js[axis] = indices._data.shape[axis]
    return gather(expand(input, xs), axis, Tensor._make(np.broadcast_to(indices._data, js).copy()))


def index_select(input: Tensor, dim: int, index: Tensor) -> Tensor:
    idx = index._data if isinstance(index, Tensor) else np.asarray(index)
    if idx.ndim > 1:
        raise IndexError("index_select(): Index is supposed to be a vector")
    axis = normalize_dims(dim, input._data.ndim)[0] if input._data.ndim else 0
    return _GetItem.apply(input, (slice(None),) * axis + (idx.reshape(-1),))


def scatter_add(input: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    """``input`` plus ``src`` added at ``index`` along ``dim``."""
    idx = _int_index(index, "scatter_add")
    axis = normalize_dims(dim, input._data.ndim)[0]
    src_part = src
    if src._data.shape != idx.shape:
        src_part = src[tuple(slice(0, s) for s in idx.shape)]
    return input + _ScatterAdd.apply(src_part, input._data.shape, axis, idx)


def masked_fill(input: Tensor, mask: Tensor, value: Any) -> Tensor:
    """``value`` where ``mask`` is True, else ``input``; the output keeps input's dtype."""
    m = mask._data if isinstance(mask, Tensor) else np.asarray(mask)
    if m.dtype != np.bool_:
        raise RuntimeError(f"masked_fill_ only supports boolean masks, but got mask with dtype {m.dtype}")
    if isinstance(value, Tensor):
        if value._data.ndim:
            raise RuntimeError(
                "masked_fill_ only supports a 0-dimensional value tensor, but got tensor with "
                f"{value._data.ndim} dimension(s)."
            )
        value = value.to(input._data.dtype)
    else:
        value = np.asarray(value, dtype=input._data.dtype)
    return where(Tensor._make(m), value, input)


def sort(input: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> Any:
    """Values and indices, sorted stably along ``dim``; values carry the gradient."""
    nd = input._data.ndim
    axis = normalize_dims(dim, nd)[0] if nd else 0
    a = input._data if nd else input._data.reshape(1)
    key = -a if descending and a.dtype.kind != "b" else (~a if descending else a)
    idx = np.argsort(key, axis=axis, kind="stable")
    if not nd:
        idx = idx.reshape(())
    ind = Tensor._make(idx.astype(np.int64))
    return values_indices(gather(input, axis, ind), ind)


def argsort(input: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
    return sort(input, dim, descending, stable).indices


def topk(input: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> Any:
    nd = input._data.ndim
    axis = normalize_dims(dim, nd)[0] if nd else 0
    n = input._data.shape[axis] if nd else 1
    if not 0 <= k <= n:
        raise RuntimeError("selected index k out of range")
    values, ind = sort(input, axis, descending=largest)
    sl = (slice(None),) * axis + (slice(0, k),)
    ind_k = Tensor._make(ind._data[sl].copy())
    return values_indices(gather(input, axis, ind_k), ind_k)


def nonzero(input: Tensor, *, as_tuple: bool = False) -> Any:
    nz = np.nonzero(input._data)
    if as_tuple:
        return tuple(Tensor._make(i.astype(np.int64)) for i in nz)
    return Tensor._make(np.stack(nz, axis=1).astype(np.int64) if nz else np.zeros((0, 0), np.int64))

