"""In-place semantics: ``x.add_(y)``, ``x[i] = v``, ``copy_``, ``fill_``.

An in-place op computes its result out of place, writes it into the tensor's own array and bumps
the tensor's version counter, so a backward that saved the old value raises torch's "modified by
an inplace operation" error. When the op is recorded, the tensor takes over the result's history
and the op sees a snapshot of the old value (the same trick as torch's ``original_self``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from lossgrad._tensor import Tensor
from lossgrad.autograd import grad_mode

_LEAF_MSG = "a leaf Variable that requires grad is being used in an in-place operation."


def _category(dt: np.dtype) -> int:
    return 2 if dt.kind == "f" else (0 if dt.kind == "b" else 1)


def apply_inplace(self: Tensor, fn: Callable[..., Tensor], *args: Any, **kwargs: Any) -> Tensor:
    recording = grad_mode.is_grad_enabled() and (
        self._requires_grad or any(isinstance(a, Tensor) and a._requires_grad for a in args)
    )
    if recording:
        if self._requires_grad and self.grad_fn is None:
            raise RuntimeError(_LEAF_MSG)
        src = Tensor._make(self._data.copy(), self._requires_grad, self.grad_fn, self._output_nr)
        result = fn(src, *args, **kwargs)
    else:
        result = fn(self, *args, **kwargs)
    _write(self, result._data)
    if recording and result.grad_fn is not None:
        self.grad_fn, self._output_nr, self._requires_grad = result.grad_fn, result._output_nr, True
        # outputs saved by the node for backward must be found at the tensor's new version
        _retarget_saved_output(result, self)
    return self


def _retarget_saved_output(result: Tensor, self: Tensor) -> None:
    node = result.grad_fn
    if node is None or not node._saved:
        return
    for i, (kind, obj, version) in enumerate(node._saved):
        if kind == "out" and obj[1] is result._data:
            node._saved[i] = ("out", (obj[0], self._data, self._vbox), self._vbox[0])


def _write(self: Tensor, values: np.ndarray) -> None:
    dst = self._data
    if values.shape != dst.shape:
        raise RuntimeError(
            f"output with shape {list(dst.shape)} doesn't match the broadcast shape {list(values.shape)}"
        )
    if _category(values.dtype) > _category(dst.dtype):
        names = {"f": "Float", "i": "Long", "u": "Byte", "b": "Bool"}
        raise RuntimeError(
            f"result type {names[values.dtype.kind]} can't be cast to the desired output type "
            f"{self.dtype.name.capitalize() if dst.dtype.kind != 'i' else 'Long'}"
        )
    if not dst.flags.writeable:
        raise RuntimeError(
            "unsupported operation: more than one element of the written-to tensor refers to a "
            "single memory location. Please clone() the tensor before performing the operation."
        )
    np.copyto(dst, values, casting="unsafe")
    self._vbox[0] += 1


def copy_(self: Tensor, src: Any) -> Tensor:
    """Copy ``src`` (broadcast) into ``self``; differentiable w.r.t. ``src``."""
    from lossgrad.ops.shape import expand

    if not isinstance(src, Tensor):
        src = Tensor._make(np.asarray(src))
    if src._data.dtype != self._data.dtype:
        src = src.to(self._data.dtype)
    return apply_inplace(self, lambda _old, s: expand(s, self._data.shape) if s._data.shape != self._data.shape else s + 0, src)


def fill_(self: Tensor, value: Any) -> Tensor:
    """Set every element to ``value`` (a number or a 0-d tensor)."""
    if grad_mode.is_grad_enabled() and self._requires_grad and self.grad_fn is None:
        raise RuntimeError(_LEAF_MSG)
    v = value._data if isinstance(value, Tensor) else value
    self._data.fill(v)
    self._vbox[0] += 1
    if self.grad_fn is not None and grad_mode.is_grad_enabled():
        self.grad_fn, self._requires_grad = None, False
    return self
