"""Printing tensors exactly as torch does (``tensor(0.5732, grad_fn=<MseLossBackward0>)``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from lossgrad._tensor import Tensor


def _fmt(v: float, kind: str) -> str:
    if kind == "b":
        return str(bool(v))
    if kind in "iu":
        return str(int(v))
    if np.isfinite(v) and float(v).is_integer():
        return f"{v:.0f}."
    return f"{v:.4f}"


def tensor_repr(t: Tensor) -> str:
    arr = t._data
    body = np.array2string(arr, separator=", ", formatter={"all": lambda v: _fmt(v, arr.dtype.kind)})
    suffix = []
    if arr.dtype not in (np.float32, np.int64, np.bool_):
        suffix.append(f"dtype=torch.{arr.dtype.name}")
    if t.grad_fn is not None:
        suffix.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        suffix.append("requires_grad=True")
    return "tensor(" + ", ".join([body] + suffix) + ")"
