"""dtype objects with torch's names, and torch's type-promotion rules.

torch promotes by *category* (bool < integer < floating) and lets an operand of a higher category
decide the result even when it is a 0-d tensor or a Python scalar; within one category, only
dimensioned tensors decide (a float32 tensor times a float64 0-d tensor stays float32). NumPy 2's
rules differ (int64 with float32 gives float64), so every binary op asks :func:`result_type` first.
"""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np


class dtype:
    """A torch-style dtype: ``lossgrad.float32`` prints as ``torch.float32``."""

    __slots__ = ("name", "np", "is_floating_point", "is_signed", "itemsize")

    def __init__(self, name: str, np_type: type) -> None:
        self.name = name
        self.np = np.dtype(np_type)
        self.is_floating_point = self.np.kind == "f"
        self.is_signed = self.np.kind in "fi"
        self.itemsize = self.np.itemsize

    def __repr__(self) -> str:
        return f"torch.{self.name}"

    def __reduce__(self) -> str:
        return self.name

    @property
    def is_complex(self) -> builtins.bool:
        return False


float16 = half = dtype("float16", np.float16)
float32 = float = dtype("float32", np.float32)
float64 = double = dtype("float64", np.float64)
int8 = dtype("int8", np.int8)
int16 = short = dtype("int16", np.int16)
int32 = int = dtype("int32", np.int32)
int64 = long = dtype("int64", np.int64)
uint8 = dtype("uint8", np.uint8)
bool = dtype("bool", np.bool_)

_ALL = (float16, float32, float64, int8, int16, int32, int64, uint8, bool)
_BY_NP: dict[Any, dtype] = {d.np: d for d in _ALL}
_default_float = float32


def from_numpy_dtype(np_dtype: Any) -> dtype:
    """The lossgrad dtype of a NumPy dtype; TypeError for ones torch lacks."""
    try:
        return _BY_NP[np.dtype(np_dtype)]
    except KeyError:
        raise TypeError(
            f"can't convert np.ndarray of type {np.dtype(np_dtype)}. The only supported types "
            "are: float64, float32, float16, int64, int32, int16, int8, uint8, and bool."
        ) from None


def to_numpy_dtype(d: Any) -> np.dtype:
    """Accept a lossgrad dtype, a NumPy dtype or a Python type; return the NumPy dtype."""
    if isinstance(d, dtype):
        return d.np
    if d is builtins.float:
        return _default_float.np
    if d is builtins.int:
        return np.dtype(np.int64)
    if d is builtins.bool:
        return np.dtype(np.bool_)
    return np.dtype(d)


_SCALAR_TYPE_NAMES = {
    "float16": "Half", "float32": "Float", "float64": "Double", "int8": "Char", "int16": "Short",
    "int32": "Int", "int64": "Long", "uint8": "Byte", "bool": "Bool",
}


def scalar_type_name(dt: Any) -> str:
    """torch's C++ scalar-type name of a dtype (``Float``, ``Long``, ``Byte``, ...), as its error
    messages print it; accepts NumPy dtypes and lossgrad dtypes."""
    name = dt.name if isinstance(dt, dtype) else np.dtype(dt).name
    return _SCALAR_TYPE_NAMES.get(name, name)


def get_default_dtype() -> dtype:
    return _default_float


def set_default_dtype(d: dtype) -> None:
    global _default_float
    if not isinstance(d, dtype) or not d.is_floating_point:
        raise TypeError("only floating-point types are supported as the default type")
    _default_float = d


def _category(np_dtype: np.dtype) -> builtins.int:
    k = np_dtype.kind
    return 2 if k == "f" else (0 if k == "b" else 1)


def result_type(*operands: Any) -> np.dtype:
    """torch's result dtype for operands that are arrays (tensors' data) or Python scalars.

    Three priority tiers: dimensioned arrays, 0-d arrays, Python scalars. The result category is
    the highest among all operands; the dtype comes from the highest tier that reaches it.
    """
    tiers: list[list[np.dtype]] = [[], [], []]
    for op in operands:
        if isinstance(op, np.ndarray):
            tiers[0 if op.ndim else 1].append(op.dtype)
        elif isinstance(op, builtins.bool):
            tiers[2].append(np.dtype(np.bool_))
        elif isinstance(op, builtins.int):
            tiers[2].append(np.dtype(np.int64))
        elif isinstance(op, builtins.float):
            tiers[2].append(_default_float.np)
        else:
            tiers[1].append(np.asarray(op).dtype)
    cat = max(_category(d) for tier in tiers for d in tier)
    for tier in tiers:
        same = [d for d in tier if _category(d) == cat]
        if same:
            out = same[0]
            for d in same[1:]:
                out = np.promote_types(out, d)
            return out
    raise AssertionError("unreachable")
