"""Activations: relu, leaky_relu, softplus, logsigmoid, softmax, log_softmax.

Stable by construction: softplus/logsigmoid never exponentiate a positive number, softmax and
log_softmax shift the max out first.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lossgrad import _dtype, _parallel
from lossgrad._tensor import Tensor
from lossgrad.autograd.function import ArrayFunction
from lossgrad.ops._common import last_axis_rows, normalize_dims
from lossgrad.ops.pointwise import exp, gt, mul, sigmoid, sub, where
from lossgrad.ops.reduce import sum as _sum


class _Relu(ArrayFunction):
    node_name = "ReluBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray) -> np.ndarray:
        out = np.maximum(a, 0)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        (out,) = ctx.saved_tensors
        return _ThresholdBackward.apply(g, out)

    @staticmethod
    def backward_array(ctx: Any, g: np.ndarray) -> np.ndarray:
        return _threshold_backward(g, ctx._saved_arrays()[0])


class _ThresholdBackward(ArrayFunction):
    """relu's backward ``g * (out > 0)``, recorded like torch's: zero gradient w.r.t. ``out``."""

    node_name = "ThresholdBackwardBackward0"

    @staticmethod
    def forward(ctx: Any, g: np.ndarray, out: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(out)
        return _threshold_backward(g, out)

    @staticmethod
    def backward(ctx: Any, gg: Tensor) -> tuple[Any, ...]:
        (out,) = ctx.saved_tensors
        g_g = _ThresholdBackward.apply(gg, out) if ctx.needs_input_grad[0] else None
        g_out = Tensor._make(np.zeros_like(out._data)) if ctx.needs_input_grad[1] else None
        return g_g, g_out


def _threshold_backward(g: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``g`` where ``out > 0``, else 0."""
    return np.where(out > 0, g, np.zeros((), g.dtype))


def _check_float(input: Tensor, kernel: str) -> None:
    """torch's NotImplementedError for kernels that have no integer version."""
    dt = input._data.dtype
    if dt.kind != "f":
        name = _dtype.from_numpy_dtype(dt).name.capitalize().replace("Int64", "Long")
        raise NotImplementedError(f"\"{kernel}\" not implemented for '{name}'")


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """max(x, 0); gradient 1 where x > 0, else 0. ``inplace=True`` writes into ``input``."""
    if input._data.dtype == np.bool_:
        raise RuntimeError("Boolean inputs not supported for relu")
    if inplace:
        from lossgrad.ops.inplace import apply_inplace

        return apply_inplace(input, _Relu.apply)
    return _Relu.apply(input)


class _LeakyRelu(ArrayFunction):
    node_name = "LeakyReluBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, slope: float) -> np.ndarray:
        ctx.save_for_backward(a)
        ctx.slope = slope
        return np.where(a > 0, a, a * np.asarray(slope, a.dtype))

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        (a,) = ctx.saved_tensors
        return _LeakyReluBackward.apply(g, a, ctx.slope), None


class _LeakyReluBackward(ArrayFunction):
    """leaky_relu's backward, recorded like torch's: zero gradient w.r.t. the input."""

    node_name = "LeakyReluBackwardBackward0"

    @staticmethod
    def forward(ctx: Any, g: np.ndarray, a: np.ndarray, slope: float) -> np.ndarray:
        ctx.save_for_backward(a)
        ctx.slope = slope
        return np.where(a > 0, g, g * np.asarray(slope, g.dtype))

    @staticmethod
    def backward(ctx: Any, gg: Tensor) -> tuple[Any, ...]:
        (a,) = ctx.saved_tensors
        g_g = _LeakyReluBackward.apply(gg, a, ctx.slope) if ctx.needs_input_grad[0] else None
        g_a = Tensor._make(np.zeros_like(a._data)) if ctx.needs_input_grad[1] else None
        return g_g, g_a, None


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x where x > 0, else ``negative_slope * x``; ``inplace=True`` writes into ``input``."""
    if inplace:
        from lossgrad.ops.inplace import apply_inplace

        return apply_inplace(input, _LeakyRelu.apply, negative_slope)
    return _LeakyRelu.apply(input, negative_slope)


class _Softplus(ArrayFunction):
    node_name = "SoftplusBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, beta: float, threshold: float) -> np.ndarray:
        ctx.save_for_backward(a)
        ctx.meta = (beta, threshold)
        z = a * np.asarray(beta, a.dtype)
        soft = (np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))) / np.asarray(beta, a.dtype)
        return np.where(z > threshold, a, soft).astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        (a,) = ctx.saved_tensors
        beta, threshold = ctx.meta
        z = mul(a, beta)
        return where(gt(z, threshold), g, mul(g, sigmoid(z))), None, None


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta x)) / beta, linear above ``threshold``; gradient sigmoid(beta x)."""
    _check_float(input, "softplus_cpu")
    return _Softplus.apply(input, beta, threshold)


class _LogSigmoid(ArrayFunction):
    node_name = "LogSigmoidBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a)
        return (np.minimum(a, 0) - np.log1p(np.exp(-np.abs(a)))).astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        (a,) = ctx.saved_tensors
        return mul(g, sigmoid(-a))


def logsigmoid(input: Tensor) -> Tensor:
    """log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)); gradient sigmoid(-x)."""
    _check_float(input, "log_sigmoid_cpu")
    return _LogSigmoid.apply(input)


def _softmax_dim(ndim: int, dim: int | None) -> int:
    if dim is None:  # torch's legacy implicit choice
        dim = 0 if ndim in (0, 1, 3) else 1
    return normalize_dims(dim, ndim)[0] if ndim else 0


class _Softmax(ArrayFunction):
    node_name = "SoftmaxBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, axis: int) -> np.ndarray:
        if a.ndim == 0:
            out = np.ones_like(a)
        else:
            e = np.exp(a - np.max(a, axis=axis, keepdims=True))
            out = e / np.sum(e, axis=axis, keepdims=True)
        ctx.save_for_backward(out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        """torch's ``out * (g - sum(g * out))``."""
        (out,) = ctx.saved_tensors
        return mul(out, sub(g, _sum(mul(g, out), ctx.axis, True))), None


def _softmax_input(input: Tensor, dim: int | None, dtype: Any, kernel: str) -> tuple[Tensor, int]:
    """Cast to ``dtype``, resolve ``dim``; integer inputs raise like torch's kernels."""
    if dtype is not None:
        input = input.to(dtype)
    axis = _softmax_dim(input._data.ndim, dim)
    dt = input._data.dtype
    if dt.kind != "f":
        last = "_lastdim" if axis == input._data.ndim - 1 or input._data.ndim == 0 else ""
        name = _dtype.from_numpy_dtype(dt).name.capitalize().replace("Int64", "Long")
        raise NotImplementedError(f"\"{kernel}{last}_kernel_impl\" not implemented for '{name}'")
    return input, axis


def softmax(
    input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None
) -> Tensor:
    """exp(x - max) / sum(exp(x - max)) along ``dim``."""
    return _Softmax.apply(*_softmax_input(input, dim, dtype, "softmax"))


class _LogSoftmax(ArrayFunction):
    """``x - max - log sum exp(x - max)`` along ``axis``. Over the last axis of a large array,
    forward and backward run in blocks of rows (`_parallel.map_rows`): one full-size array
    each (the composite made three more), the same values bit for bit."""

    node_name = "LogSoftmaxBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, axis: int) -> np.ndarray:
        rows = None if a.ndim == 0 else last_axis_rows(a, (axis % a.ndim,))
        if a.ndim == 0:
            out = np.zeros_like(a)
        elif rows is not None:
            out = np.empty_like(a)
            out_rows = out.reshape(rows.shape)
            _parallel.map_rows(
                lambda lo, hi: _log_softmax_block(rows[lo:hi], out_rows[lo:hi]), *rows.shape
            )
        else:
            m = np.max(a, axis=axis, keepdims=True)
            # a row whose maximum is +inf is NaN throughout, as torch's (inf - inf in the
            # shift); every logit -inf is NaN either way
            m = np.where(m == -np.inf, 0, m)
            shifted = a - m
            out = shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))
        ctx.save_for_backward(out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        """torch's ``g - exp(out) * sum(g)``."""
        (out,) = ctx.saved_tensors
        return sub(g, mul(exp(out), _sum(g, ctx.axis, True))), None

    @staticmethod
    def backward_array(ctx: Any, g: np.ndarray) -> tuple[Any, ...]:
        """``backward`` on arrays, in blocks of rows over the last axis of a large input."""
        (out,) = ctx._saved_arrays()
        axis = ctx.axis % max(out.ndim, 1)
        rows = None if out.ndim == 0 else last_axis_rows(out, (axis,))
        if rows is None or g.shape != out.shape or g.dtype != out.dtype:
            return g - np.exp(out) * np.sum(g, axis=axis, keepdims=True), None
        upstream = np.ascontiguousarray(g).reshape(rows.shape)
        grad = np.empty_like(out)
        grad_rows = grad.reshape(rows.shape)

        def block(lo: int, hi: int) -> None:
            part = np.exp(rows[lo:hi], out=grad_rows[lo:hi])
            part *= upstream[lo:hi].sum(axis=1, keepdims=True)
            np.subtract(upstream[lo:hi], part, out=part)

        _parallel.map_rows(block, *rows.shape)
        return grad, None


def _log_softmax_block(rows: np.ndarray, out: np.ndarray) -> None:
    """One block of `_LogSoftmax`'s rows: the composite's operations, through a scratch buffer."""
    row_max = rows.max(axis=1, keepdims=True)
    row_max[row_max == -np.inf] = 0
    shifted = np.subtract(rows, row_max, out=out)
    exps = np.exp(shifted, out=_parallel.scratch(rows.size, rows.dtype).reshape(rows.shape))
    shifted -= np.log(exps.sum(axis=1, keepdims=True))


def log_softmax(
    input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None
) -> Tensor:
    """x - logsumexp(x) along ``dim``; gradient g - softmax(x) * sum(g)."""
    return _LogSoftmax.apply(*_softmax_input(input, dim, dtype, "log_softmax"))
