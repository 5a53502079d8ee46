"""Tensor factories with torch's dtype inference and torch's numbers.

``tensor(data)`` infers the dtype as torch does: Python floats give the default dtype (float32),
Python ints int64, bools bool; NumPy arrays, NumPy scalars and Tensors keep their dtype; a nested
list takes the highest category among its elements (bool < integer < floating). ``arange`` and
``linspace`` reproduce torch's CPU kernels bit for bit (see their docstrings).
"""

from __future__ import annotations

import builtins
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from lossgrad import _dtype
from lossgrad._device import check_device
from lossgrad._tensor import Tensor, _unwrap, _warn_once

_INT64 = np.dtype(np.int64)
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_COPY_WARNING = (
    "To copy construct from a tensor, it is recommended to use sourceTensor.detach().clone() or "
    "sourceTensor.detach().clone().requires_grad_(True), rather than torch.tensor(sourceTensor)."
)

_NDARRAYS_WARNING = (
    "Creating a tensor from a list of numpy.ndarrays is extremely slow. Please consider converting "
    "the list to a single numpy.ndarray with numpy.array() before converting to a tensor."
)


# -- dtype inference ------------------------------------------------------------------------------


def _is_seq(x: Any) -> bool:
    return isinstance(x, Sequence) and not isinstance(x, (str, bytes))


def _leaf_dtype(x: Any) -> np.dtype:
    """The dtype torch infers for one element of the data (a scalar, an array or a Tensor)."""
    if isinstance(x, (np.ndarray, np.generic)):  # first: np.float64 is a Python float too
        return _dtype.from_numpy_dtype(x.dtype).np
    if isinstance(x, bool):
        return np.dtype(np.bool_)
    if isinstance(x, int):
        if not _INT64_MIN <= x <= _INT64_MAX:
            raise ValueError("Overflow when unpacking long long")
        return _INT64
    if isinstance(x, float):
        return _dtype.get_default_dtype().np
    if isinstance(x, Tensor):
        return x._data.dtype
    if isinstance(x, str):
        raise ValueError(f"too many dimensions '{type(x).__name__}'")
    raise RuntimeError(f"Could not infer dtype of {type(x).__name__}")


def _check_nesting(data: Any) -> list[Any]:
    """Walk nested sequences as torch does: every sequence at depth ``d`` has the length of the
    first one (torch's ValueError otherwise); returns the leaves."""
    shape = []
    x = data
    while _is_seq(x):
        shape.append(len(x))
        if not len(x):
            break
        x = x[0]
    leaves = []
    stack = [(data, 0)]
    while stack:
        obj, d = stack.pop()
        if _is_seq(obj):
            if d >= len(shape):
                raise TypeError(
                    f"'{type(obj).__name__}' object cannot be interpreted as an integer"
                )
            if len(obj) != shape[d]:
                raise ValueError(
                    f"expected sequence of length {shape[d]} at dim {d} (got {len(obj)})"
                )
            stack.extend((o, d + 1) for o in obj)
        elif d < len(shape) and not isinstance(obj, np.ndarray):
            raise TypeError("not a sequence")
        else:
            if isinstance(obj, Tensor) and obj._data.size != 1:
                raise TypeError(
                    "only integer tensors of a single element can be converted to an index"
                )
            leaves.append(obj)
    return leaves


def _promote_leaves(leaves: list[Any]) -> np.dtype:
    """torch's promotion over the element dtypes: highest category, then highest width in it."""
    dts = {_leaf_dtype(x) for x in leaves}
    if not dts:
        return _dtype.get_default_dtype().np
    cat = builtins.max(_dtype._category(d) for d in dts)
    out, *rest = (d for d in dts if _dtype._category(d) == cat)
    for d in rest:
        out = np.promote_types(out, d)
    return out


def _scalars(data: Any) -> Any:
    """Nested data with Tensors and arrays as NumPy values (one-element Tensors as scalars)."""
    if isinstance(data, Tensor):
        return data._data.reshape(())
    if _is_seq(data):
        return [_scalars(d) for d in data]
    return data


_PYTHON_SCALARS = frozenset({int, float, bool})


def _infer_plain_lists(data: list[Any]) -> np.ndarray | None:
    """A list, or a list of lists, of Python numbers as an array of torch's inferred kind (bool,
    int64, or float64 to be narrowed by the caller); None for anything else (ragged lists,
    Tensors, NumPy scalars, ints beyond int64), which the general path handles."""
    first = data[0]
    if type(first) is list:
        if not all(type(row) is list for row in data):
            return None
        if not all(type(x) in _PYTHON_SCALARS for row in data for x in row):
            return None
        depth = 2
    else:
        if not all(type(x) in _PYTHON_SCALARS for x in data):
            return None
        depth = 1
    try:
        arr = np.array(data)
    except (ValueError, OverflowError):
        return None
    if (
        arr.ndim != depth
        or arr.dtype.kind not in "bif"
        or arr.dtype.itemsize != 8
        and (arr.dtype.kind != "b")
    ):
        return None
    return arr


def _infer(data: Any, wide: bool = False) -> np.ndarray:
    """A new array holding ``data`` with torch's inferred dtype; with ``wide``, Python floats are
    kept in float64 (a requested dtype is applied afterwards, as torch parses doubles)."""
    kind = type(data)
    if kind is float:
        with np.errstate(over="ignore"):
            return np.array(data, np.float64 if wide else _dtype.get_default_dtype().np)
    if kind is bool or (kind is int and -(2**63) <= data < 2**63):
        return np.array(data, np.bool_ if kind is bool else np.int64)
    if kind is list and data:  # the common case: Python numbers, checked in one pass
        arr = _infer_plain_lists(data)
        if arr is not None:
            if arr.dtype.kind == "f" and not wide:
                with np.errstate(over="ignore"):  # 1e40 -> inf in float32, as torch
                    return arr.astype(_dtype.get_default_dtype().np)
            return arr
    if isinstance(data, Tensor):
        warnings.warn(_COPY_WARNING, UserWarning, stacklevel=3)
        return data._data.copy()
    if isinstance(data, (np.ndarray, np.generic)):
        _dtype.from_numpy_dtype(data.dtype)
        return np.array(data)
    if isinstance(data, str):
        raise TypeError(f"new(): invalid data type '{type(data).__name__}'")
    if not _is_seq(data):
        dt = _leaf_dtype(data)
    else:
        leaves = _check_nesting(data)
        dt = _promote_leaves(leaves)
        if any(isinstance(x, np.ndarray) for x in leaves):
            _warn_once("ndarrays", _NDARRAYS_WARNING)
    if wide and dt.kind == "f":
        dt = np.promote_types(dt, np.float64)
    with np.errstate(over="ignore"):  # 1e40 -> inf in float32, as torch
        return np.array(_scalars(data), dtype=dt)


def _np_dtype(dtype: Any) -> np.dtype | None:
    return None if dtype is None else _dtype.to_numpy_dtype(dtype)


def _cast(arr: np.ndarray, dt: np.dtype) -> np.ndarray:
    """``arr`` as ``dt``, with torch's error for non-finite floats cast to an integer dtype."""
    if arr.dtype == dt:
        return arr
    if dt.kind in "iu" and arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise RuntimeError(f"value cannot be converted to type {dt.name} without overflow")
    with np.errstate(over="ignore", invalid="ignore"):
        return arr.astype(dt)


def _checked(arr: np.ndarray, requires_grad: bool) -> Tensor:
    t = Tensor._make(arr)
    if requires_grad:
        t.requires_grad = True
    return t


def _size(args: tuple[Any, ...], name: str) -> tuple[int, ...]:
    """``f(2, 3)``, ``f((2, 3))``, ``f([2, 3])``, ``f(torch.Size)``: validated as torch does."""
    given = bool(args)
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = tuple(args[0])
    if all(type(a) is int and a >= 0 for a in args) and given:  # the common case, checked fast
        return args
    if not given and name in ("zeros", "ones", "empty", "rand", "randn"):
        raise TypeError(f'{name}() missing 1 required positional arguments: "size"')
    out = []
    for a in args:
        if isinstance(a, (bool, float)) or not hasattr(a, "__index__"):
            raise TypeError(
                f"{name}(): argument 'size' (position 1) must be tuple of ints, "
                f"not {type(a).__name__}"
            )
        out.append(a.__index__())
    if any(s < 0 for s in out):
        if name == "zeros":
            raise RuntimeError("zeros: Dimension size must be non-negative.")
        neg = next(s for s in out if s < 0)
        raise RuntimeError(f"Trying to create tensor with negative dimension {neg}: {out}")
    return tuple(out)


# -- from data ------------------------------------------------------------------------------------


def tensor(
    data: Any,
    *,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
    pin_memory: bool = False,
) -> Tensor:
    """A new tensor holding a copy of ``data`` (nested sequences, scalars, arrays or Tensors).

    >>> tensor([1, 2.5])
    tensor([1.0000, 2.5000])
    >>> tensor([[1, 2]]).dtype
    torch.int64
    """
    check_device(device)
    arr = _infer(data, wide=dtype is not None)
    if dtype is not None:
        dt = _dtype.to_numpy_dtype(dtype)
        if (
            dt.kind in "iu"
            and arr.dtype.kind in "iu"
            and arr.size
            and not isinstance(data, np.ndarray)
        ):
            if int(arr.max()) > np.iinfo(dt).max:
                raise RuntimeError(f"value cannot be converted to type {dt.name} without overflow")
        arr = _cast(arr, dt)
    return _checked(arr, requires_grad)


def as_tensor(data: Any, dtype: Any = None, device: Any = None) -> Tensor:
    """Like ``tensor`` but shares memory with a NumPy array or Tensor when no cast is needed."""
    check_device(device)
    if isinstance(data, Tensor):
        return data if dtype is None else data.to(dtype)
    if isinstance(data, np.ndarray) and (dtype is None or data.dtype == _np_dtype(dtype)):
        _dtype.from_numpy_dtype(data.dtype)
        return Tensor._make(data)
    return tensor(data, dtype=dtype)


def from_numpy(ndarray: np.ndarray) -> Tensor:
    """A tensor sharing memory with ``ndarray`` (writes through either are seen by both)."""
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(ndarray).__name__})")
    _dtype.from_numpy_dtype(ndarray.dtype)
    return Tensor._make(ndarray)


# -- filled ---------------------------------------------------------------------------------------


def _filled(fill: Any, shape: tuple[int, ...], dtype: Any, requires_grad: bool) -> Tensor:
    dt = _np_dtype(dtype) or _dtype.get_default_dtype().np
    if fill == 0 and type(fill) is int:  # np.zeros/np.ones are several times faster than full
        return _checked(np.zeros(shape, dt), requires_grad)
    if fill == 1 and type(fill) is int:
        return _checked(np.ones(shape, dt), requires_grad)
    return _checked(np.full(shape, fill, dtype=dt), requires_grad)


def zeros(
    *size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False, out: Any = None
) -> Tensor:
    """A tensor of zeros (default dtype unless ``dtype``)."""
    check_device(device)
    return _filled(0, _size(size, "zeros"), dtype, requires_grad)


def ones(
    *size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False, out: Any = None
) -> Tensor:
    """A tensor of ones (default dtype unless ``dtype``)."""
    check_device(device)
    return _filled(1, _size(size, "ones"), dtype, requires_grad)


def empty(
    *size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False, out: Any = None
) -> Tensor:
    """An uninitialised tensor in torch; lossgrad fills it with zeros."""
    check_device(device)
    return _filled(0, _size(size, "empty"), dtype, requires_grad)


def full(
    size: Any,
    fill_value: Any,
    *,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """A tensor filled with ``fill_value``; the dtype is inferred from it (int -> int64)."""
    check_device(device)
    if dtype is None:
        dtype = _leaf_dtype(
            fill_value._data.item() if isinstance(fill_value, Tensor) else fill_value
        )
    fill = fill_value._data.item() if isinstance(fill_value, Tensor) else fill_value
    return _filled(fill, _size((size,), "full"), dtype, requires_grad)


def _like(input: Tensor, fill: Any, dtype: Any, requires_grad: bool) -> Tensor:
    dt = _np_dtype(dtype) or input._data.dtype
    return _checked(np.full(input._data.shape, fill, dtype=dt), requires_grad)


def zeros_like(
    input: Tensor,
    *,
    dtype: Any = None,
    layout: Any = None,
    device: Any = None,
    requires_grad: bool = False,
    memory_format: Any = None,
) -> Tensor:
    """Zeros with the shape (and, unless ``dtype``, the dtype) of ``input``."""
    check_device(device)
    return _like(input, 0, dtype, requires_grad)


def ones_like(
    input: Tensor,
    *,
    dtype: Any = None,
    layout: Any = None,
    device: Any = None,
    requires_grad: bool = False,
    memory_format: Any = None,
) -> Tensor:
    """Ones with the shape (and, unless ``dtype``, the dtype) of ``input``."""
    check_device(device)
    return _like(input, 1, dtype, requires_grad)


def empty_like(
    input: Tensor,
    *,
    dtype: Any = None,
    layout: Any = None,
    device: Any = None,
    requires_grad: bool = False,
    memory_format: Any = None,
) -> Tensor:
    """Uninitialised in torch; zeros here."""
    check_device(device)
    return _like(input, 0, dtype, requires_grad)


def full_like(
    input: Tensor,
    fill_value: Any,
    *,
    dtype: Any = None,
    layout: Any = None,
    device: Any = None,
    requires_grad: bool = False,
    memory_format: Any = None,
) -> Tensor:
    """``fill_value`` with the shape (and, unless ``dtype``, the dtype) of ``input``."""
    check_device(device)
    return _like(input, fill_value, dtype, requires_grad)


# -- ranges ---------------------------------------------------------------------------------------


def _split(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Veltkamp's split of float64 values into two halves whose products are exact."""
    t = 134217729.0 * x
    hi = t - (t - x)
    return hi, x - hi


def _fma(a: Any, b: Any, c: Any) -> np.ndarray:
    """``a * b + c`` rounded once (a fused multiply-add, as compiled into torch's kernels)."""
    a, b, c = np.asarray(a, np.float64), np.asarray(b, np.float64), np.asarray(c, np.float64)
    p = a * b
    (ah, al), (bh, bl) = _split(a), _split(b)
    p_err = ((ah * bh - p) + ah * bl + al * bh) + al * bl
    s = p + c
    bv = s - p
    s_err = (p - (s - bv)) + (c - bv)
    return s + (p_err + s_err)


def _scalar(v: Any) -> Any:
    return v._data.item() if isinstance(v, Tensor) else v


def arange(
    start: Any,
    end: Any = None,
    step: Any = 1,
    *,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """Values from ``start`` to ``end`` (exclusive) by ``step``; int64 unless one is a float.

    Floating values are torch's CPU kernel's bit for bit: ``start + i * step`` as a fused
    multiply-add in double, except in the vectorised blocks (two 32-byte vectors at a time),
    where each lane adds ``lane * step`` to its vector's first value rounded to the dtype.

    >>> arange(5)
    tensor([0, 1, 2, 3, 4])
    >>> arange(1, 2, 0.25)
    tensor([1.0000, 1.2500, 1.5000, 1.7500])
    """
    check_device(device)
    if end is None:
        start, end = 0, start
    s, e, st = _scalar(start), _scalar(end), _scalar(step)
    if dtype is None:
        is_float = builtins.any(isinstance(v, float) for v in (s, e, st))
        dtype = _dtype.get_default_dtype() if is_float else _dtype.int64
    dt = _dtype.to_numpy_dtype(dtype)
    if st == 0:
        raise RuntimeError("step must be nonzero")
    if not ((st > 0 and e >= s) or (st < 0 and e <= s)):
        raise RuntimeError("upper bound and lower bound inconsistent with step sign")
    if dt.kind != "f":  # integer dtypes: the bounds and the step are truncated first
        s, e, st = int(s), int(e), int(st)
        if st == 0:
            raise ValueError("step must be nonzero")
        n = builtins.max(0, -((s - e) // st))  # ceil((e - s) / st) in exact integers
        return _checked((s + np.arange(n, dtype=np.int64) * st).astype(dt), requires_grad)
    n = int(np.ceil((float(e) - float(s)) / float(st)))
    width = 32 // dt.itemsize
    idx = np.arange(n)
    lane = idx % width
    first = _fma(st, idx - lane, s).astype(dt).astype(np.float64)
    vectorised = _fma(lane, st, first)
    serial = _fma(st, idx, s)
    blocks = n // (2 * width) * (2 * width)
    with np.errstate(over="ignore"):
        arr = np.where(idx < blocks, vectorised, serial).astype(dt)
    return _checked(arr, requires_grad)


def linspace(
    start: Any,
    end: Any,
    steps: int,
    *,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """``steps`` values evenly spaced from ``start`` to ``end`` inclusive.

    torch's kernel: ``step = (end - start) / (steps - 1)`` in the dtype (double for integer
    dtypes); the first half is ``start + i * step``, the second ``end - (steps - 1 - i) * step``.

    >>> linspace(0, 1, 5)
    tensor([0.0000, 0.2500, 0.5000, 0.7500, 1.0000])
    """
    check_device(device)
    steps = int(steps)
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    dt = _np_dtype(dtype) or _dtype.get_default_dtype().np
    s, e = _scalar(start), _scalar(end)
    if steps == 0:
        return _checked(np.zeros(0, dt), requires_grad)
    if steps == 1:
        return _checked(np.full(1, s, dt), requires_grad)
    idx = np.arange(steps)
    first = idx < steps // 2
    if dt == np.float16:  # c10::Half rounds after every operation, the index included
        s_, e_ = np.float16(s), np.float16(e)
        step = (e_ - s_) / np.float16(steps - 1)
        arr = np.where(first, s_ + step * idx.astype(dt), e_ - step * (steps - 1 - idx).astype(dt))
    elif (
        dt.kind == "f"
    ):  # in the dtype, each value a fused multiply-add (exact in double for <= 32 bits)
        s_, e_ = dt.type(s), dt.type(e)
        step = (e_ - s_) / dt.type(steps - 1)
        arr = np.where(first, _fma(step, idx, s_), _fma(-step, steps - 1 - idx, e_)).astype(dt)
    else:  # step in double, values truncated
        s_, e_ = float(int(s)), float(int(e))
        step = (e_ - s_) / (steps - 1)
        arr = np.trunc(
            np.where(first, _fma(step, idx, s_), _fma(-step, steps - 1 - idx, e_))
        ).astype(dt)
    return _checked(arr, requires_grad)


def logspace(
    start: Any,
    end: Any,
    steps: int,
    base: float = 10.0,
    *,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """``base ** linspace(start, end, steps)``."""
    check_device(device)
    dt = _np_dtype(dtype) or _dtype.get_default_dtype().np
    return _checked(np.logspace(start, end, int(steps), base=base).astype(dt), requires_grad)


def eye(
    n: int,
    m: int | None = None,
    *,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """The ``n x m`` identity matrix (``m = n`` by default)."""
    check_device(device)
    if n < 0:
        raise RuntimeError(f"n must be greater or equal to 0, got {n}")
    if m is not None and m < 0:
        raise RuntimeError(f"m must be greater or equal to 0, got {m}")
    dt = _np_dtype(dtype) or _dtype.get_default_dtype().np
    return _checked(np.eye(n, m, dtype=dt), requires_grad)


# -- legacy typed constructors --------------------------------------------------------------------


def _legacy(dt: _dtype.dtype, name: str) -> type:
    """``torch.FloatTensor`` & co: ``FloatTensor([1, 2])`` (data) or ``FloatTensor(2, 3)`` (size);
    ``isinstance(t, FloatTensor)`` checks the dtype."""

    def __new__(cls: type, *args: Any) -> Tensor:
        if len(args) == 1 and not isinstance(args[0], (int, np.integer)):
            data = args[0]
            arr = data._data if isinstance(data, Tensor) else np.array(_unwrap(data))
            return Tensor._make(_cast(arr, dt.np) if arr.dtype != dt.np else arr.copy())
        return Tensor._make(np.zeros(_size(args, name), dtype=dt.np))

    def __instancecheck__(cls: type, obj: Any) -> bool:
        return isinstance(obj, Tensor) and obj._data.dtype == dt.np

    meta = type(f"_{name}Meta", (type,), {"__instancecheck__": __instancecheck__})
    return meta(name, (), {"__new__": __new__})


FloatTensor = _legacy(_dtype.float32, "FloatTensor")
DoubleTensor = _legacy(_dtype.float64, "DoubleTensor")
HalfTensor = _legacy(_dtype.float16, "HalfTensor")
LongTensor = _legacy(_dtype.int64, "LongTensor")
IntTensor = _legacy(_dtype.int32, "IntTensor")
ShortTensor = _legacy(_dtype.int16, "ShortTensor")
CharTensor = _legacy(_dtype.int8, "CharTensor")
ByteTensor = _legacy(_dtype.uint8, "ByteTensor")
BoolTensor = _legacy(_dtype.bool, "BoolTensor")
