"""In-place semantics: ``x.add_(y)``, ``x[i] = v``, ``copy_``, ``fill_``.

An in-place op computes its result out of place, writes it into the tensor's own array and bumps
the tensor's version counter, so a backward that saved the old value raises torch's "modified by
an inplace operation" error. When the op is recorded, the tensor takes over the result's history
and the op sees a snapshot of the old value (the same trick as torch's ``original_self``).

A view (``y[0]``, ``y.view(...)``, ``y.t()``, ...: see ``_common.mark_view``) shares its base's
memory and version counter. An in-place op on it rewrites the base's history as torch's
``CopySlices`` does: the new base is the old one with the view's region replaced by the op's
result, so gradients reach both the untouched part of the base and the op's other inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from lossgrad._tensor import Tensor
from lossgrad.autograd import grad_mode
from lossgrad.autograd.function import ArrayFunction, quiet_call
from lossgrad.ops._common import broadcast_error, sum_to_shape

_LEAF_MSG = "a leaf Variable that requires grad is being used in an in-place operation."
_MULTI_VIEW_MSG = (
    " is a view and is being modified inplace. This view is the output of a function that "
    "returns multiple views. Such functions do not allow the output views to be modified "
    "inplace. You should replace the inplace operation by an out-of-place one."
)
_VIEW_LEAF_MSG = (
    "a view of a leaf Variable that requires grad is being used in an in-place operation."
)


def _category(dt: np.dtype) -> int:
    return 2 if dt.kind == "f" else (0 if dt.kind == "b" else 1)


def apply_inplace(self: Tensor, fn: Callable[..., Tensor], *args: Any, **kwargs: Any) -> Tensor:
    recording = grad_mode.is_grad_enabled() and (
        self._requires_grad or any(isinstance(a, Tensor) and a._requires_grad for a in args)
    )
    if recording:
        if self._requires_grad and self.grad_fn is None:
            raise RuntimeError(_LEAF_MSG)
        view = self.__dict__.get("_view_of")
        if view is not None:
            if view[2] is not None:
                raise RuntimeError(view[2] + _MULTI_VIEW_MSG)
            return _inplace_on_view(self, view[0], view[1], fn, args, kwargs)
        src = Tensor._make(self._data.copy(), self._requires_grad, self.grad_fn, self._output_nr)
        result = fn(src, *args, **kwargs)
    else:
        result = fn(self, *args, **kwargs)
    _write(self, result._data)
    if recording and result.grad_fn is not None:
        self.grad_fn, self._output_nr, self._requires_grad = result.grad_fn, result._output_nr, True
        # outputs saved by the node for backward must be found at the tensor's new version
        _retarget_saved_output(result, self)
        _refresh_views(self)
    return self


def _refresh_views(base: Tensor) -> None:
    """Views taken from ``base`` before an in-place op now read its new values: give them the
    matching history, ``vfn(base)`` (torch regenerates a view's grad_fn the same way)."""
    views = base.__dict__.get("_views")
    if not views:
        return
    live = [v for v in (r() for r in list(views)) if v is not None]
    for v in live:
        fresh = v._view_of[1](base)
        v.grad_fn, v._output_nr = fresh.grad_fn, fresh._output_nr
        v._requires_grad = fresh._requires_grad


def _inplace_on_view(
    self: Tensor,
    base: Tensor,
    vfn: Callable[[Tensor], Tensor],
    fn: Callable[..., Tensor],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Tensor:
    """A recorded in-place op on a view: torch's CopySlices (see the module docstring)."""
    if base._requires_grad and base.grad_fn is None:
        raise RuntimeError(_VIEW_LEAF_MSG)
    snap = Tensor._make(base._data.copy(), base._requires_grad, base.grad_fn, base._output_nr)
    result = fn(vfn(snap), *args, **kwargs)
    _check_result(self, result._data)
    new_base = _CopySlices.apply(snap, result, vfn)
    _write(base, new_base._data)  # self._data is a view of base._data: it sees the new values
    base.grad_fn, base._output_nr, base._requires_grad = new_base.grad_fn, new_base._output_nr, True
    _refresh_views(base)  # self among them
    _retarget_saved_output(result, self)
    return self


class _CopySlices(ArrayFunction):
    """The base after an in-place op on its view ``vfn(base)``: ``new_view`` written into it.

    Gradients: the base's, zero over the view's region; ``new_view``'s, ``vfn(g)``.
    """

    node_name = "torch::autograd::CopySlices"

    @staticmethod
    def forward(ctx: Any, base: np.ndarray, new_view: np.ndarray, vfn: Any) -> np.ndarray:
        ctx.vfn = vfn
        out = base.copy()
        np.copyto(vfn(Tensor._make(out))._data, new_view, casting="unsafe")
        return out

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        from lossgrad.ops.pointwise import where

        vfn = ctx.vfn
        g_base = None
        if ctx.needs_input_grad[0]:
            keep = np.ones(g._data.shape, bool)
            vfn(Tensor._make(keep))._data[...] = False
            g_base = where(Tensor._make(keep), g, 0.0)
        return g_base, (vfn(g) if ctx.needs_input_grad[1] else None), None


def _retarget_saved_output(result: Tensor, self: Tensor) -> None:
    if result.grad_fn is not None:
        result.grad_fn._retarget_saved_output(result._data, self)


def _write(self: Tensor, values: np.ndarray) -> None:
    _check_result(self, values)
    np.copyto(self._data, values, casting="unsafe")
    self._vbox[0] += 1


def check_writeable(self: Tensor) -> None:
    """torch's error for writing into a broadcast (expanded, read-only) tensor."""
    if not self._data.flags.writeable:
        raise RuntimeError(
            "unsupported operation: more than one element of the written-to tensor refers to a "
            "single memory location. Please clone() the tensor before performing the operation."
        )


#: The in-place arithmetic with a Python number that ``quick_inplace`` does directly: the dtype
#: kinds of ``self`` for which the result keeps ``self``'s dtype (torch's rule, NumPy's too).
_KEEPS_DTYPE = {
    (float, "f"): True,
    (int, "f"): True,
    (int, "i"): True,
}


def quick_inplace(self: Tensor, ufunc: np.ufunc, other: Any) -> bool:
    """``ufunc(self, other)`` written into ``self`` when nothing is recorded and the result
    keeps ``self``'s dtype and shape (a number, or a tensor of the same dtype and shape);
    returns False, having done nothing, otherwise (the general in-place path then runs).

    The tensor-creation and checking cost of the general path dominates loops of small in-place
    updates (``p -= lr * p.grad`` under no_grad, ``counts[i, j] += 1``).
    """
    data = self._data
    kind = type(other)
    if kind is float or kind is int:
        if not _KEEPS_DTYPE.get((kind, data.dtype.kind), False):
            return False
        if kind is int and data.dtype.itemsize < 4 or not -(2**31) <= other < 2**31:
            return False
        raw = other
        if data.dtype == np.float16 and (ufunc is np.multiply or ufunc is np.true_divide):
            raw = np.float32(other)  # torch's float32 "opmath": the number unrounded
        if self._requires_grad and grad_mode.is_grad_enabled():
            return False
    elif isinstance(other, Tensor):
        raw = other._data
        if raw.dtype is not data.dtype or raw.shape != data.shape:
            return False
        if (self._requires_grad or other._requires_grad) and grad_mode.is_grad_enabled():
            return False
    else:
        return False
    if not data.flags.writeable:
        return False
    if data.dtype.kind == "f":  # an overflow is inf, as torch's, with no NumPy warning
        quiet_call(ufunc, data, raw, data)
    else:
        ufunc(data, raw, out=data)
    self._vbox[0] += 1
    return True


def _check_result(self: Tensor, values: np.ndarray) -> None:
    """torch's errors for an in-place result of another shape, a wider dtype or into a
    broadcast (read-only) tensor."""
    dst = self._data
    if values.shape != dst.shape:
        raise RuntimeError(
            f"output with shape {list(dst.shape)} doesn't match the broadcast shape "
            f"{list(values.shape)}"
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


class _Copy(ArrayFunction):
    """``self.copy_(src)``: ``src`` broadcast and cast into ``self``'s shape and dtype. The old
    values get a zero gradient, ``src`` the gradient summed back to its shape (torch's)."""
    saves_tensors = False  # torch's node saves no tensors: a second backward is allowed

    node_name = "CopyBackwards"

    @staticmethod
    def forward(ctx: Any, old: np.ndarray, src: np.ndarray) -> np.ndarray:
        ctx.src = (src.shape, src.dtype)
        try:
            return np.broadcast_to(src, old.shape).astype(old.dtype)
        except ValueError:
            raise broadcast_error(old.shape, src.shape) from None

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        from lossgrad.ops.pointwise import mul, to_dtype

        shape, dt = ctx.src
        g_old = mul(g, 0.0) if ctx.needs_input_grad[0] else None
        g_src = to_dtype(sum_to_shape(g, shape), dt) if ctx.needs_input_grad[1] else None
        return g_old, g_src


def copy_(self: Tensor, src: Any) -> Tensor:
    """Copy ``src`` (broadcast, cast) into ``self``; differentiable w.r.t. ``src``."""
    if not isinstance(src, Tensor):
        src = Tensor._make(np.asarray(src))
    return apply_inplace(self, _Copy.apply, src)


class _Fill(ArrayFunction):
    """``fill_`` recorded: the old values get a zero gradient, a tensor ``value`` the sum."""
    saves_tensors = False  # torch's node saves no tensors: a second backward is allowed

    node_name = "FillBackward0"

    @staticmethod
    def forward(ctx: Any, old: np.ndarray, value: Any) -> np.ndarray:
        return np.full(old.shape, value, old.dtype)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        from lossgrad.ops.pointwise import mul
        from lossgrad.ops.reduce import sum as _sum

        g_old = mul(g, 0.0) if ctx.needs_input_grad[0] else None
        return g_old, (_sum(g) if ctx.needs_input_grad[1] else None)


def fill_(self: Tensor, value: Any) -> Tensor:
    """Set every element to ``value`` (a number or a 0-d tensor)."""
    if isinstance(value, Tensor) and value._data.ndim:
        raise RuntimeError(
            "fill_ only supports 0-dimension value tensor but got tensor with "
            f"{value._data.ndim} dimensions."
        )
    if grad_mode.is_grad_enabled() and (
        self._requires_grad or (isinstance(value, Tensor) and value._requires_grad)
    ):
        return apply_inplace(self, _Fill.apply, value)
    self._data.fill(value._data if isinstance(value, Tensor) else value)
    self._vbox[0] += 1
    return self
