"""Tensor factories with torch's dtype inference: Python floats -> float32 (the default dtype),
Python ints -> int64, bools -> bool; NumPy arrays keep their dtype."""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

from lossgrad import _dtype
from lossgrad._tensor import Tensor, _shape_args, _unwrap


def _infer(data: Any) -> np.ndarray:
    if isinstance(data, Tensor):
        return data._data.copy()
    if isinstance(data, np.ndarray):
        return data.copy()
    arr = np.array(_unwrap(data))
    if arr.dtype == np.float64 and not isinstance(data, np.generic):
        arr = arr.astype(_dtype.get_default_dtype().np)
    elif arr.dtype.kind in "iu" and arr.dtype != np.uint8:
        arr = arr.astype(np.int64)
    elif arr.dtype.kind not in "fiub":
        raise TypeError(f"Could not infer dtype of {type(data).__name__}")
    return arr


def _np_dtype(dtype: Any) -> np.dtype | None:
    return None if dtype is None else _dtype.to_numpy_dtype(dtype)


def _checked(arr: np.ndarray, requires_grad: bool) -> Tensor:
    t = Tensor._make(arr)
    if requires_grad:
        t.requires_grad_(True)
    return t


def tensor(data: Any, *, dtype: Any = None, device: Any = None, requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """A new tensor holding a copy of ``data``."""
    arr = _infer(data)
    if dtype is not None:
        arr = arr.astype(_np_dtype(dtype), copy=False)
    return _checked(arr, requires_grad)


def as_tensor(data: Any, dtype: Any = None, device: Any = None) -> Tensor:
    """Like ``tensor`` but shares memory with a NumPy array or Tensor when no cast is needed."""
    if isinstance(data, Tensor):
        return data if dtype is None else data.to(dtype)
    if isinstance(data, np.ndarray) and (dtype is None or data.dtype == _np_dtype(dtype)):
        return Tensor._make(data)
    return tensor(data, dtype=dtype)


def from_numpy(ndarray: np.ndarray) -> Tensor:
    """A tensor sharing memory with ``ndarray``."""
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(ndarray).__name__})")
    _dtype.from_numpy_dtype(ndarray.dtype)
    return Tensor._make(ndarray)


def _make_filled(fill: Any, size: tuple[Any, ...], dtype: Any, requires_grad: bool) -> Tensor:
    dt = _np_dtype(dtype) or _dtype.get_default_dtype().np
    return _checked(np.full(_shape_args(size), fill, dtype=dt), requires_grad)


def zeros(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False, out: Any = None) -> Tensor:
    return _make_filled(0, size, dtype, requires_grad)


def ones(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False, out: Any = None) -> Tensor:
    return _make_filled(1, size, dtype, requires_grad)


def empty(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False, out: Any = None) -> Tensor:
    return _make_filled(0, size, dtype, requires_grad)


def full(size: Any, fill_value: Any, *, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    if dtype is None:
        dtype = _infer(fill_value).dtype
    return _make_filled(fill_value, (size,), dtype, requires_grad)


def _like(input: Tensor, fill: Any, dtype: Any, requires_grad: bool) -> Tensor:
    dt = _np_dtype(dtype) or input._data.dtype
    return _checked(np.full(input._data.shape, fill, dtype=dt), requires_grad)


def zeros_like(input: Tensor, *, dtype: Any = None, device: Any = None, requires_grad: bool = False, memory_format: Any = None) -> Tensor:
    return _like(input, 0, dtype, requires_grad)


def ones_like(input: Tensor, *, dtype: Any = None, device: Any = None, requires_grad: bool = False, memory_format: Any = None) -> Tensor:
    return _like(input, 1, dtype, requires_grad)


def empty_like(input: Tensor, *, dtype: Any = None, device: Any = None, requires_grad: bool = False, memory_format: Any = None) -> Tensor:
    return _like(input, 0, dtype, requires_grad)


def full_like(input: Tensor, fill_value: Any, *, dtype: Any = None, device: Any = None, requires_grad: bool = False, memory_format: Any = None) -> Tensor:
    return _like(input, fill_value, dtype, requires_grad)


def rand_like(input: Tensor, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    from lossgrad._random import rand

    return rand(input.shape, dtype=dtype or input.dtype, requires_grad=requires_grad)


def randn_like(input: Tensor, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    from lossgrad._random import randn

    return randn(input.shape, dtype=dtype or input.dtype, requires_grad=requires_grad)


def arange(start: Any, end: Any = None, step: Any = 1, *, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Values from ``start`` to ``end`` (exclusive); int64 unless an argument is a float."""
    if end is None:
        start, end = 0, start
    vals = [v._data.item() if isinstance(v, Tensor) else v for v in (start, end, step)]
    if dtype is None:
        is_float = builtins.any(isinstance(v, float) for v in vals)
        dtype = _dtype.get_default_dtype() if is_float else _dtype.int64
    dt = _np_dtype(dtype)
    if dt.kind == "f":  # torch computes start + i*step in double, then casts
        n = int(np.ceil((vals[1] - vals[0]) / vals[2]))
        arr = (vals[0] + np.arange(builtins.max(n, 0), dtype=np.float64) * vals[2]).astype(dt)
    else:
        arr = np.arange(*vals, dtype=dt)
    return _checked(arr, requires_grad)


def linspace(start: Any, end: Any, steps: int, *, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    dt = _np_dtype(dtype) or _dtype.get_default_dtype().np
    return _checked(np.linspace(start, end, int(steps)).astype(dt), requires_grad)


def logspace(start: Any, end: Any, steps: int, base: float = 10.0, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    dt = _np_dtype(dtype) or _dtype.get_default_dtype().np
    return _checked(np.logspace(start, end, int(steps), base=base).astype(dt), requires_grad)


def eye(n: int, m: int | None = None, *, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    dt = _np_dtype(dtype) or _dtype.get_default_dtype().np
    return _checked(np.eye(n, m, dtype=dt), requires_grad)


def _legacy(dt: _dtype.dtype) -> type:
    def __new__(cls: type, *args: Any) -> Tensor:
        if len(args) == 1 and not isinstance(args[0], (int, np.integer)):
            return Tensor._make(np.array(_unwrap(args[0]), dtype=dt.np))
        return Tensor._make(np.zeros(_shape_args(args), dtype=dt.np))

    def __instancecheck__(cls: type, obj: Any) -> bool:
        return isinstance(obj, Tensor) and obj._data.dtype == dt.np

    meta = type(f"_{dt.name}Meta", (type,), {"__instancecheck__": __instancecheck__})
    names = {"float32": "FloatTensor", "float64": "DoubleTensor", "int64": "LongTensor",
             "int32": "IntTensor", "uint8": "ByteTensor", "bool": "BoolTensor"}
    return meta(names[dt.name], (), {"__new__": __new__})


FloatTensor = _legacy(_dtype.float32)
DoubleTensor = _legacy(_dtype.float64)
LongTensor = _legacy(_dtype.int64)
IntTensor = _legacy(_dtype.int32)
ByteTensor = _legacy(_dtype.uint8)
BoolTensor = _legacy(_dtype.bool)
