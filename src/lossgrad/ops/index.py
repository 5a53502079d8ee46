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
from lossgrad.autograd.grad_mode import is_grad_enabled
from lossgrad.ops._common import broadcast_error, mark_view, normalize_dims, sum_to_shape
from lossgrad.ops.inplace import _VIEW_LEAF_MSG, apply_inplace, check_writeable
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
    return all(isinstance(i, (int, np.integer, slice)) or i is None or i is Ellipsis for i in items)


def _check_int_index(arr: np.ndarray, index: Any) -> None:
    items = index if isinstance(index, tuple) else (index,)
    for i in items:
        if isinstance(i, np.ndarray) and i.dtype.kind == "f":
            raise IndexError("tensors used as indices must be long, int, byte or bool tensors")


class _GetItem(ArrayFunction):
    node_name = "IndexBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, index: Any) -> np.ndarray:
        ctx.meta = (a.shape, index)
        try:
            out = a[index]
        except IndexError as e:
            raise IndexError(str(e).replace("axis", "dimension")) from None
        if isinstance(out, np.ndarray):
            return out
        # ints only: NumPy gives a scalar; with a trailing Ellipsis it is a 0-d view, like torch
        return a[(index if isinstance(index, tuple) else (index,)) + (Ellipsis,)]

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


class _Select(_GetItem):
    saves_tensors = False  # torch's node saves no tensors: a second backward is allowed
    node_name = "SelectBackward0"


class _Slice(_GetItem):
    saves_tensors = False  # torch's node saves no tensors: a second backward is allowed
    node_name = "SliceBackward0"


class _UnsqueezeIndex(_GetItem):
    saves_tensors = False  # torch's node saves no tensors: a second backward is allowed
    node_name = "UnsqueezeBackward0"


class _Alias(_GetItem):
    saves_tensors = False  # torch's node saves no tensors: a second backward is allowed
    node_name = "AliasBackward0"


def _basic_cls(index: Any) -> type[_GetItem]:
    """torch's node for a basic index: that of the last view op it applies (select, slice, ...)."""
    items = index if isinstance(index, tuple) else (index,)
    for i in reversed(items):
        if i is None:
            return _UnsqueezeIndex
        if isinstance(i, slice):
            if i != slice(None):
                return _Slice
        elif i is not Ellipsis:
            return _Select
    return _Alias


def getitem(input: Tensor, index: Any) -> Tensor:
    """``input[index]`` with ints, slices, None, Ellipsis, bool and integer tensors.

    The gradient is scattered back into zeros (summed where an index repeats).
    """
    kind = type(index)
    if kind is int or kind is slice:
        _check_int_or_slice(input._data, index)
    if not input._requires_grad:  # no node would be recorded: the NumPy view, marked as one
        if kind is int:
            return _select_ints(input, (index,))
        if kind is tuple and _all_ints(index):
            return _select_ints(input, index)  # N[i, j]
        if kind is slice:
            return mark_view(
                Tensor._make(input._data[index]), input, lambda t: getitem(t, index), shares=True
            )
    if kind is int:
        out = _Select.apply(input, index)
    elif kind is slice:
        out = (_Alias if index == slice(None) else _Slice).apply(input, index)
    else:
        idx = _convert_index(index)
        if not _is_basic(idx):
            _check_int_index(input._data, idx)
            return _GetItem.apply(input, idx)  # advanced indexing copies: not a view
        out = _basic_cls(idx).apply(input, idx)
    return mark_view(out, input, lambda t: getitem(t, index))


def _all_ints(index: tuple[Any, ...]) -> bool:
    for item in index:
        if type(item) is not int:
            return False
    return True


def _select_ints(input: Tensor, index: tuple[int, ...]) -> Tensor:
    """``input[i, j, ...]`` with Python ints, for an input that requires no gradient: the view
    ``_Select`` would give, without a node (none would be recorded)."""
    try:
        out = input._data[index + (Ellipsis,)]  # a 0-d view, not a NumPy scalar
    except IndexError as e:
        raise IndexError(str(e).replace("axis", "dimension")) from None
    return mark_view(Tensor._make(out), input, lambda t: getitem(t, index), shares=True)


def _check_int_or_slice(data: np.ndarray, index: int | slice) -> None:
    """torch's errors for ``x[i]`` and ``x[a:b:c]`` where NumPy's words differ."""
    if not data.ndim:
        if type(index) is int:
            raise IndexError(
                "invalid index of a 0-dim tensor. Use `tensor.item()` in Python or "
                "`tensor.item<T>()` in C++ to convert a 0-dim tensor to a number"
            )
        raise IndexError("slice() cannot be applied to a 0-dim tensor.")
    if type(index) is slice and index.step is not None and index.step < 0:
        raise ValueError("step must be greater than zero")


def setitem(input: Tensor, index: Any, value: Any) -> None:
    """``input[index] = value`` in place.

    Recorded (through ``index_put`` and the in-place machinery) when grad mode is on and either
    side requires grad; otherwise written straight into the array, cast to ``input``'s dtype as
    torch casts, with torch's shape-mismatch error.
    """
    value_grad = isinstance(value, Tensor) and value._requires_grad
    if is_grad_enabled() and (input._requires_grad or value_grad):
        if input._requires_grad and input.grad_fn is None and _writes_through_a_view(index):
            raise RuntimeError(_VIEW_LEAF_MSG)
        apply_inplace(input, index_put, index, value)
        return
    kind = type(index)
    if kind is int or (kind is tuple and _all_ints(index)):
        idx = index
    else:
        idx = _convert_index(index)
        _check_int_index(input._data, idx)
    check_writeable(input)
    raw = value._data if isinstance(value, Tensor) else value
    try:
        input._data[idx] = raw
    except ValueError:
        target = np.shape(input._data[idx])
        if _is_basic(idx):  # torch copies into the view: expand's error
            raise _expand_error(raw, target) from None
        raise RuntimeError(
            f"shape mismatch: value tensor of shape {list(np.shape(raw))} cannot be broadcast "
            f"to indexing result of shape {list(target)}"
        ) from None
    except IndexError as e:
        raise IndexError(str(e).replace("axis", "dimension")) from None
    input._vbox[0] += 1


def _writes_through_a_view(index: Any) -> bool:
    """Whether torch writes ``x[index] = v`` into a view of ``x`` (a basic index that is not
    the whole tensor) rather than into ``x`` itself."""
    items = index if isinstance(index, tuple) else (index,)
    if not _is_basic(_convert_index(index)):
        return False
    return any(not (item is Ellipsis or item == slice(None)) for item in items)


def _expand_error(value: Any, target: tuple[int, ...]) -> RuntimeError:
    """torch's error for a value that does not expand to the indexed region's shape."""
    from lossgrad import _dtype

    shape = list(np.shape(value))
    while shape and shape[0] == 1 and len(shape) > len(target):  # torch drops leading 1s
        shape.pop(0)
    if len(shape) > len(target):
        name = _dtype.from_numpy_dtype(np.asarray(value).dtype)
        legacy = {"float32": "Float", "float64": "Double", "int64": "Long", "int32": "Int"}
        kind = legacy.get(str(name).replace("torch.", ""), "Float")
        return RuntimeError(
            f"expand(torch.{kind}Tensor{{{shape}}}, size={list(target)}): the number of sizes "
            f"provided ({len(target)}) must be greater or equal to the number of dimensions in "
            f"the tensor ({len(shape)})"
        )
    offset = len(target) - len(shape)
    for dim in range(len(target) - 1, offset - 1, -1):
        size = shape[dim - offset]
        if size != 1 and size != target[dim]:
            return RuntimeError(
                f"The expanded size of the tensor ({target[dim]}) must match the existing size "
                f"({size}) at non-singleton dimension {dim}.  Target sizes: {list(target)}.  "
                f"Tensor sizes: {shape}"
            )
    return RuntimeError(f"cannot expand {shape} to {list(target)}")


class _IndexPut(ArrayFunction):
    node_name = "IndexPutBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, value: np.ndarray, index: Any) -> np.ndarray:
        ctx.meta = (index, value.shape, a.shape)
        out = a.copy()
        try:
            out[index] = value
        except ValueError:
            target = np.shape(a[index])
            raise RuntimeError(
                f"shape mismatch: value tensor of shape {list(value.shape)} cannot be broadcast "
                f"to indexing result of shape {list(target)}"
            ) from None
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
    v: Tensor | np.ndarray
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
            return a.copy() if a.ndim == 0 else a.reshape(-1)[index]
        if a.ndim == 0:
            return np.broadcast_to(a, index.shape).copy()
        return a[_gather_index(a.shape, axis, index)]

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        shape, axis, index = ctx.meta
        return _ScatterAdd.apply(g, shape, axis, index), None, None


class _ScatterAdd(ArrayFunction):
    node_name = "ScatterAddBackward0"

    @staticmethod
    def forward(
        ctx: Any, g: np.ndarray, shape: tuple[int, ...], axis: int, index: np.ndarray
    ) -> np.ndarray:
        ctx.meta = (axis, index)
        out = np.zeros(shape, g.dtype)
        if index.ndim == 0 or not shape:
            out.reshape(-1)[index.reshape(-1)] += g.reshape(-1)
        else:
            np.add.at(out, _gather_index(shape, axis, index), g)
        return out

    @staticmethod
    def backward(ctx: Any, gg: Tensor) -> tuple[Any, ...]:
        axis, index = ctx.meta
        return _Gather.apply(gg, axis, index), None, None, None


def _int_index(index: Any, name: str) -> np.ndarray:
    arr = index._data if isinstance(index, Tensor) else np.asarray(index)
    if arr.dtype != np.int64 and arr.dtype != np.int32:
        raise RuntimeError(f"{name}(): Expected dtype int32/int64 for index")
    return arr


def gather(input: Tensor, dim: int, index: Tensor, *, sparse_grad: bool = False) -> Tensor:
    """``out[i][j] = input[i][index[i][j]]`` along ``dim`` (index may be smaller than input)."""
    idx = _int_index(index, "gather")
    nd = input._data.ndim
    axis = normalize_dims(dim, nd)[0] if nd else 0
    if idx.ndim != nd and not (nd <= 1 and idx.ndim <= 1):
        raise RuntimeError("Index tensor must have the same number of dimensions as input tensor")
    n = input._data.shape[axis] if nd else 1
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        bad = idx.reshape(-1)[np.argmax((idx < 0) | (idx >= n))]
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


class _IndexSelect(_GetItem):
    node_name = "IndexSelectBackward0"


def index_select(input: Tensor, dim: int, index: Tensor) -> Tensor:
    """The entries at ``index`` (a vector) along ``dim``; gradients of repeats accumulate."""
    idx = index._data if isinstance(index, Tensor) else np.asarray(index)
    if idx.ndim > 1:
        raise IndexError("index_select(): Index is supposed to be a vector")
    if idx.dtype != np.int64 and idx.dtype != np.int32:
        raise RuntimeError("index_select(): Expected dtype int32 or int64 for index")
    axis = normalize_dims(dim, input._data.ndim)[0] if input._data.ndim else 0
    n = input._data.shape[axis] if input._data.ndim else 1
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        nd = input._data.ndim
        if 0 < axis and (nd == 2 or axis < nd - 1):  # torch's CPU kernels word it two ways
            bad = idx.reshape(-1)[np.argmax((idx < 0) | (idx >= n))]
            raise RuntimeError(f"INDICES element is out of DATA bounds, id={bad} axis_dim={n}")
        raise IndexError("index out of range in self")
    if not input._data.ndim:
        if idx.size != 1:
            raise RuntimeError(
                f"index_select(): Index to scalar can have only 1 value, got {idx.size} value(s)"
            )
        return _IndexSelect.apply(input, ())
    return _IndexSelect.apply(input, (slice(None),) * axis + (idx.reshape(-1),))


def scatter_add(input: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    """``input`` plus ``src`` added at ``index`` along ``dim``."""
    idx = _int_index(index, "scatter_add")
    axis = normalize_dims(dim, input._data.ndim)[0]
    src_part = src
    if src._data.shape != idx.shape:
        src_part = src[tuple(slice(0, s) for s in idx.shape)]
    return input + _ScatterAdd.apply(src_part, input._data.shape, axis, idx)


class _MaskedFill(ArrayFunction):
    node_name = "MaskedFillBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, mask: np.ndarray, value: np.ndarray) -> np.ndarray:
        try:
            out = np.where(mask, value, a)
        except ValueError:
            raise broadcast_error(a.shape, mask.shape) from None
        if out.shape != a.shape:
            raise RuntimeError(
                f"masked_fill_: the mask of shape {list(mask.shape)} does not broadcast to the "
                f"input of shape {list(a.shape)}"
            )
        ctx.mask = mask
        return out

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        from lossgrad.ops.reduce import sum as _sum

        m = Tensor._make(ctx.mask)
        ga = where(m, 0.0, g) if ctx.needs_input_grad[0] else None
        gv = _sum(where(m, g, 0.0)) if ctx.needs_input_grad[2] else None
        return ga, None, gv


def masked_fill(input: Tensor, mask: Tensor, value: Any) -> Tensor:
    """``value`` where ``mask`` (broadcast) is True, else ``input``; keeps input's dtype.

    Gradient: ``g`` where the mask is False for ``input``; the sum of ``g`` over the mask for a
    0-d tensor ``value``.
    """
    m = mask._data if isinstance(mask, Tensor) else np.asarray(mask)
    if m.dtype != np.bool_:
        raise RuntimeError(
            f"masked_fill_ only supports boolean masks, but got mask with dtype {m.dtype}"
        )
    if isinstance(value, Tensor):
        if value._data.ndim:
            raise RuntimeError(
                "masked_fill_ only supports a 0-dimensional value tensor, but got tensor with "
                f"{value._data.ndim} dimension(s)."
            )
        if value._data.dtype != input._data.dtype:
            value = value.to(input._data.dtype)
    else:
        value = np.asarray(value, dtype=input._data.dtype)
    return _MaskedFill.apply(input, m, value)


def sort(input: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> Any:
    """Values and indices, sorted stably along ``dim``; values carry the gradient."""
    nd = input._data.ndim
    axis = normalize_dims(dim, nd)[0] if nd else 0
    a = input._data if nd else input._data.reshape(1)
    key = -a if descending and a.dtype.kind != "b" else (~a if descending else a)
    idx = np.argsort(key, axis=axis, kind="stable")
    if descending and a.dtype.kind == "f":  # NaN counts as the largest: first when descending
        nan_last = ~np.isnan(np.take_along_axis(a, idx, axis))
        idx = np.take_along_axis(idx, np.argsort(nan_last, axis=axis, kind="stable"), axis)
    if not nd:
        idx = idx.reshape(())
    ind = Tensor._make(idx.astype(np.int64))
    return values_indices(_SortValues.apply(input, axis, ind._data), ind)


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
    return values_indices(_TopkValues.apply(input, axis, ind_k._data), ind_k)


class _SortValues(_Gather):
    node_name = "SortBackward0"


class _TopkValues(_Gather):
    node_name = "TopkBackward0"


def nonzero(input: Tensor, *, as_tuple: bool = False) -> Any:
    nz = np.nonzero(input._data)
    if as_tuple:
        return tuple(Tensor._make(i.astype(np.int64)) for i in nz)
    return Tensor._make(np.stack(nz, axis=1).astype(np.int64) if nz else np.zeros((0, 0), np.int64))
