"""Helpers shared by the op families: operand promotion and gradient un-broadcasting."""

from __future__ import annotations

import functools
from typing import Any
from weakref import ref as _weakref

import numpy as np

from lossgrad import _dtype, _parallel
from lossgrad._tensor import Tensor

_may_share_memory = np.may_share_memory


def promote(*operands: Any) -> tuple[np.dtype, list[Any]]:
    """Apply torch's promotion to Tensors and Python scalars.

    Returns the result dtype and the operands, Tensors cast to it (differentiably) and scalars as
    0-d arrays of it, ready to hand to an ArrayFunction.
    """
    if len(operands) == 2:  # fast paths for the common binary cases (no category change)
        a, b = operands
        if isinstance(a, Tensor):
            dt = a._data.dtype
            if isinstance(b, Tensor):
                if b._data.dtype == dt:
                    return dt, [a, b]
            elif (type(b) is float and dt.kind == "f") or (type(b) is int and dt.kind in "fiu"):
                return dt, [a, np.asarray(b, dt)]
        elif isinstance(b, Tensor) and type(a) in (float, int):
            dt = b._data.dtype
            if dt.kind == "f" or (type(a) is int and dt.kind in "iu"):
                return dt, [np.asarray(a, dt), b]
    raws = [op._data if isinstance(op, Tensor) else _scalar(op) for op in operands]
    dt = _dtype.result_type(*raws)
    out: list[Any] = []
    for op, raw in zip(operands, raws, strict=True):
        if isinstance(op, Tensor):
            out.append(op if raw.dtype == dt else op.to(dt))
        else:
            out.append(np.asarray(raw, dtype=dt))
    return dt, out


def promote_present(*operands: Any) -> tuple[np.dtype, list[Any]]:
    """`promote` of the operands that are not None (a loss's absent optional operands, which
    stay None, in their place)."""
    dt, promoted = promote(*[op for op in operands if op is not None])
    return dt, [None if op is None else promoted.pop(0) for op in operands]


def _scalar(x: Any) -> Any:
    if isinstance(x, (bool, int, float)):
        return x
    if isinstance(x, np.generic):
        return x.item()
    arr = np.asarray(x)
    if arr.dtype == np.float64 and arr.ndim:
        return arr.astype(_dtype.get_default_dtype().np)
    return arr


def as_tensor(x: Any, like: Tensor | None = None) -> Tensor:
    """Wrap a scalar or array as a constant Tensor (dtype of ``like`` for Python floats)."""
    if isinstance(x, Tensor):
        return x
    if like is not None and isinstance(x, (int, float)) and not isinstance(x, bool):
        return Tensor._make(np.asarray(x, dtype=like._data.dtype))
    return Tensor._make(np.asarray(_scalar(x)))


def sum_to_shape(g: Tensor, shape: tuple[int, ...]) -> Tensor:
    """Sum a broadcast gradient back to an input's shape (differentiable)."""
    gs = g._data.shape
    if gs == shape:
        return g
    from lossgrad.ops.reduce import sum as _sum
    from lossgrad.ops.shape import reshape

    lead = len(gs) - len(shape)
    axes = tuple(range(lead)) + tuple(
        i + lead for i, s in enumerate(shape) if s == 1 and gs[i + lead] != 1
    )
    out = _sum(g, dim=axes, keepdim=True) if axes else g
    return reshape(out, shape) if out._data.shape != shape else out


def sum_to_shape_array(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``sum_to_shape`` on a raw array (the same sums, for ``backward_array``)."""
    gs = g.shape
    if gs == shape:
        return g
    lead = len(gs) - len(shape)
    axes = tuple(range(lead)) + tuple(
        i + lead for i, s in enumerate(shape) if s == 1 and gs[i + lead] != 1
    )
    out = np.asarray(g.sum(axis=axes, keepdims=True)) if axes else g
    return out.reshape(shape) if out.shape != shape else out


@functools.lru_cache(maxsize=64)
def row_offsets(n: int, c: int) -> np.ndarray:
    """``[0, C, 2C, ...]``: the flat offset of each row of an ``(N, C)`` array, so that
    ``row_offsets(N, C) + y`` indexes one entry per row with one flat index (cached, read-only:
    a training loop asks for the same ones at every step)."""
    out = np.arange(n, dtype=np.int64) * c
    out.flags.writeable = False
    return out


@functools.lru_cache(maxsize=64)
def arange(n: int) -> np.ndarray:
    """``np.arange(n)`` as int64, cached and read-only."""
    out = np.arange(n, dtype=np.int64)
    out.flags.writeable = False
    return out


def sgn_into(d: np.ndarray, out: np.ndarray) -> np.ndarray:
    """torch's ``sgn`` of a real array into ``out`` (which may be ``d``), returned: -1, 0 or 1,
    and 0 at NaN (``np.sign`` gives NaN there), as ``(d > 0) - (d < 0)``.

    For large C-contiguous blocks the two masks go to per-thread scratch buffers and their
    difference is taken as int8, then cast once: about 40% faster than NumPy's subtraction of
    two bool arrays into floats (measured on float32 blocks of 2^18). A small float array
    takes ``np.sign`` (one call, a fifth of the masks' cost at 160 elements), and its NaNs,
    which the sum of the signs shows, are set to 0."""
    n = d.size
    if n < _SGN_SCRATCH or not (d.flags.c_contiguous and out.flags.c_contiguous):
        if d.dtype.kind != "f" or out.dtype != d.dtype:
            return np.subtract(d > 0, d < 0, out=out, dtype=out.dtype)
        np.sign(d, out=out)
        total = np.add.reduce(out, axis=None)
        if total != total:  # a NaN: torch's sgn is 0 there
            out[np.isnan(out)] = 0
        return out
    shape = d.shape
    pos = np.greater(d, 0, out=_parallel.scratch(n, np.bool_, 5).reshape(shape))
    neg = np.less(d, 0, out=_parallel.scratch(n, np.bool_, 6).reshape(shape))
    diff = _parallel.scratch(n, np.int8, 7).reshape(shape)
    np.copyto(out, np.subtract(pos.view(np.int8), neg.view(np.int8), out=diff))
    return out


#: Elements from which :func:`sgn_into` uses scratch masks.
_SGN_SCRATCH = 1 << 12


def normalize_dims(dim: Any, ndim: int) -> tuple[int, ...]:
    """``dim`` (None, int, or sequence) as a tuple of non-negative axes; torch's IndexError."""
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    if not dims:
        return tuple(range(ndim))
    n = max(ndim, 1)
    out = []
    for d in dims:
        d = int(d)
        if not -n <= d < n:
            raise IndexError(
                f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {d})"
            )
        out.append(d % n if ndim else 0)
    if len(out) > 1 and len(set(out)) < len(out):
        dup = next(d for d in out if out.count(d) > 1)
        raise RuntimeError(f"dim {dup} appears multiple times in the list of dims")
    return tuple(out) if ndim else ()


def broadcast_error(sa: tuple[int, ...], sb: tuple[int, ...]) -> RuntimeError:
    """torch's RuntimeError for two shapes that do not broadcast (name the first clash)."""
    n = max(len(sa), len(sb))
    pa, pb = (1,) * (n - len(sa)) + tuple(sa), (1,) * (n - len(sb)) + tuple(sb)
    for d in range(n - 1, -1, -1):
        if pa[d] != pb[d] and 1 not in (pa[d], pb[d]):
            return RuntimeError(
                f"The size of tensor a ({pa[d]}) must match the size of tensor b ({pb[d]}) at "
                f"non-singleton dimension {d}"
            )
    return RuntimeError(f"shapes {list(sa)} and {list(sb)} cannot be broadcast together")


def mark_view(
    out: Tensor, inp: Tensor, vfn: Any, multi: str | None = None, *, shares: bool = False
) -> Tensor:
    """Record that ``out`` (made by ``vfn(inp)``) is a view of ``inp``, as torch's views are.

    A view shares its base's memory and version counter, so an in-place change through either is
    seen by the saved-tensor checks of both; ``ops.inplace`` uses ``(base, vfn)`` to rewrite the
    base's history (torch's CopySlices) and the base's weak list of views to re-derive their
    history from the new base. A view of a view points at the root base with the
    composed function. ``multi`` names an output of split/unbind ("Output 1 of Split"): torch
    refuses recorded in-place ops on those. NumPy results that are copies are left alone;
    ``shares=True`` says the caller knows ``out`` is a view (the memory check is skipped).
    """
    if not shares and not _may_share_memory(out._data, inp._data):
        return out
    parent = inp.__dict__.get("_view_of")
    if parent is None:
        root = inp
        out._view_of = (inp, vfn, multi)
    else:
        root, pfn, pmulti = parent
        out._view_of = (root, lambda t: vfn(pfn(t)), multi or pmulti)
    out._vbox = inp._vbox
    views = root.__dict__.get("_views")
    if views is None:
        root._views = [_weakref(out)]
    else:
        views.append(_weakref(out))
        n = len(views)
        if n >= 64 and not n & (n - 1):  # at 64, 128, ...: drop the dead (amortised O(1))
            views[:] = [r for r in views if r() is not None]
    return out


def last_axis_rows(a: np.ndarray, axes: tuple[int, ...]) -> np.ndarray | None:
    """``a`` as C-contiguous ``(rows, n)`` rows when ``axes`` is its last axis and it is large
    enough for blocks of rows (`_parallel.map_rows`) to pay, else None."""
    if axes != (a.ndim - 1,) or a.size < _parallel.BLOCK or not a.flags.c_contiguous:
        return None
    return a.reshape(-1, a.shape[-1])
