"""Elementwise ops: arithmetic with broadcasting, unary math, clamp/maximum/where, comparisons.

Every backward is written with these same ops, so it can be recorded and differentiated again.
Gradients of broadcast operands are summed back to the operand's shape (``sum_to_shape``).
"""

from __future__ import annotations

import builtins
import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from lossgrad import _dtype
from lossgrad._backend import clip as _clip
from lossgrad._tensor import Tensor
from lossgrad.autograd.function import ArrayFunction, backward_via_tensors
from lossgrad.ops._common import (
    broadcast_error,
    promote,
    sgn_into,
    sum_to_shape,
    sum_to_shape_array,
)

# -- arithmetic -----------------------------------------------------------------------------------
# The binary ops read an operand's shape from its graph edge (``ctx.next_edges[i][2]``, present for
# every operand that needs a gradient) rather than storing it again in forward.


def _plus_scaled(a: np.ndarray, b: np.ndarray, alpha: Any) -> np.ndarray:
    """``a + alpha b``; for float16 operands as torch: ``alpha`` rounded to float16, the sum
    made in float32 (the product of two float16 values is exact there) and rounded once."""
    if a.dtype == np.float16:
        half_alpha = np.float16(alpha)
        if np.isinf(half_alpha) and math.isfinite(alpha):
            raise RuntimeError("value cannot be converted to type c10::Half without overflow")
        scaled = b.astype(np.float32) * np.float32(half_alpha)
        return (a.astype(np.float32) + scaled).astype(np.float16)
    return a + b * np.asarray(alpha, a.dtype)


class _Add(ArrayFunction):
    saves_tensors = False  # torch's node saves no tensors: a second backward is allowed
    node_name = "AddBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, b: np.ndarray, alpha: Any) -> np.ndarray:
        ctx.alpha = alpha
        try:
            return a + b if alpha == 1 else _plus_scaled(a, b, alpha)
        except ValueError:
            raise broadcast_error(np.shape(a), np.shape(b)) from None

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        ea, eb, _ = ctx.next_edges
        ga = sum_to_shape(g, ea[2]) if ctx.needs_input_grad[0] else None
        gb = None
        if ctx.needs_input_grad[1]:
            gb = sum_to_shape(g if ctx.alpha == 1 else mul(g, ctx.alpha), eb[2])
        return ga, gb, None

    @staticmethod
    def backward_array(ctx: Any, g: np.ndarray) -> tuple[Any, ...]:
        if ctx.alpha != 1:
            return backward_via_tensors(ctx, g)
        ea, eb, _ = ctx.next_edges
        return (
            sum_to_shape_array(g, ea[2]) if ea else None,
            sum_to_shape_array(g, eb[2]) if eb else None,
            None,
        )


class _Sub(ArrayFunction):
    saves_tensors = False  # torch's node saves no tensors: a second backward is allowed
    node_name = "SubBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, b: np.ndarray, alpha: Any) -> np.ndarray:
        ctx.alpha = alpha
        try:
            return a - b if alpha == 1 else _plus_scaled(a, b, -alpha)
        except ValueError:
            raise broadcast_error(np.shape(a), np.shape(b)) from None

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        ea, eb, _ = ctx.next_edges
        ga = sum_to_shape(g, ea[2]) if ctx.needs_input_grad[0] else None
        gb = None
        if ctx.needs_input_grad[1]:
            gb = sum_to_shape(neg(g) if ctx.alpha == 1 else mul(g, -ctx.alpha), eb[2])
        return ga, gb, None

    @staticmethod
    def backward_array(ctx: Any, g: np.ndarray) -> tuple[Any, ...]:
        if ctx.alpha != 1:
            return backward_via_tensors(ctx, g)
        ea, eb, _ = ctx.next_edges
        return (
            sum_to_shape_array(g, ea[2]) if ea else None,
            sum_to_shape_array(-g, eb[2]) if eb else None,
            None,
        )


class _Mul(ArrayFunction):
    node_name = "MulBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        need_a, need_b = ctx.needs_input_grad
        # like torch, keep only what a needed gradient uses (in-place changes to the rest are fine)
        ctx.save_for_backward(a if need_b else None, b if need_a else None)
        try:
            return a * b
        except ValueError:
            raise broadcast_error(np.shape(a), np.shape(b)) from None

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        a, b = ctx.saved_tensors
        ea, eb = ctx.next_edges
        ga = sum_to_shape(mul(g, b), ea[2]) if ctx.needs_input_grad[0] else None
        gb = sum_to_shape(mul(g, a), eb[2]) if ctx.needs_input_grad[1] else None
        return ga, gb

    @staticmethod
    def backward_array(ctx: Any, g: np.ndarray) -> tuple[Any, ...]:
        a, b = ctx._saved_arrays()
        ea, eb = ctx.next_edges
        return (
            sum_to_shape_array(g * b, ea[2]) if ea else None,
            sum_to_shape_array(g * a, eb[2]) if eb else None,
        )


class _Div(ArrayFunction):
    node_name = "DivBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a if ctx.needs_input_grad[1] else None, b)
        try:
            return a / b
        except ValueError:
            raise broadcast_error(np.shape(a), np.shape(b)) from None

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        a, b = ctx.saved_tensors
        ea, eb = ctx.next_edges
        ga = sum_to_shape(div(g, b), ea[2]) if ctx.needs_input_grad[0] else None
        gb = None
        if ctx.needs_input_grad[1]:  # torch's -g * ((a / b) / b): same infs and NaNs at b == 0
            gb = sum_to_shape(neg(mul(g, div(div(a, b), b))), eb[2])
        return ga, gb

    @staticmethod
    def backward_array(ctx: Any, g: np.ndarray) -> tuple[Any, ...]:
        a, b = ctx._saved_arrays()
        ea, eb = ctx.next_edges
        return (
            sum_to_shape_array(g / b, ea[2]) if ea else None,
            sum_to_shape_array(-(g * ((a / b) / b)), eb[2]) if eb else None,
        )


class _Pow(ArrayFunction):
    node_name = "PowBackward1"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        try:
            out = np.power(a, b)
        except ValueError:
            raise broadcast_error(np.shape(a), np.shape(b)) from None
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        a, b, out = ctx.saved_tensors
        ga = gb = None
        if ctx.needs_input_grad[0]:
            # g * b * a**(b-1), and 0 where b == 0 (torch's pow_backward_self)
            d = where(eq(b, 0), 0.0, mul(g, mul(b, pow(a, sub(b, 1)))))
            ga = sum_to_shape(d, a._data.shape)
        if ctx.needs_input_grad[1]:
            # out * log(a), and 0 where a == 0 and b >= 0
            d = where(logical_and(eq(a, 0), ge(b, 0)), 0.0, mul(out, log(a)))
            gb = sum_to_shape(mul(g, d), b._data.shape)
        return ga, gb


def add(input: Any, other: Any, *, alpha: Any = 1) -> Tensor:
    """``input + alpha * other`` with broadcasting and torch's type promotion."""
    if alpha == 1 and isinstance(input, Tensor):  # the common cases, before general promotion
        if isinstance(other, Tensor):
            if input._data.dtype is other._data.dtype:
                return _Add.apply(input, other, 1)
        elif (type(other) is float or type(other) is int) and input._data.dtype.kind == "f":
            return _Add.apply(input, np.asarray(other, input._data.dtype), 1)
    elif alpha == 1 and (type(input) is float or type(input) is int):
        if isinstance(other, Tensor) and other._data.dtype.kind == "f":  # ``1 + t``
            return _Add.apply(np.asarray(input, other._data.dtype), other, 1)
    dt, (a, b) = promote(input, other)
    if alpha != 1 and dt.kind != "f":
        _check_int_alpha(alpha, dt)
    return _Add.apply(a, b, alpha)


def _check_int_alpha(alpha: Any, dt: np.dtype) -> None:
    if isinstance(alpha, float) or (isinstance(alpha, Tensor) and alpha._data.dtype.kind == "f"):
        raise RuntimeError(
            "For integral input tensors, argument alpha must not be a floating point number."
        )


def sub(input: Any, other: Any, *, alpha: Any = 1) -> Tensor:
    """``input - alpha * other``."""
    if alpha == 1 and isinstance(input, Tensor) and input._data.dtype.kind == "f":
        if isinstance(other, Tensor):  # the common cases, before general promotion
            if input._data.dtype is other._data.dtype:
                return _Sub.apply(input, other, 1)
        elif type(other) is float or type(other) is int:
            return _Sub.apply(input, np.asarray(other, input._data.dtype), 1)
    dt, (a, b) = promote(input, other)
    if dt.kind == "b" or (dt.kind != "f" and (_is_bool(input) or _is_bool(other))):
        _check_bool_sub(input, other)
    if alpha != 1 and dt.kind != "f":
        _check_int_alpha(alpha, dt)
    return _Sub.apply(a, b, alpha)


def _is_bool(x: Any) -> bool:
    return isinstance(x, Tensor) and x._data.dtype == np.bool_


def _check_bool_sub(input: Any, other: Any) -> None:
    """torch refuses ``-`` on bool tensors (two bools and one bool have different messages)."""
    bools = [_is_bool(input), _is_bool(other)]
    if all(bools):
        raise RuntimeError(
            "Subtraction, the `-` operator, with two bool tensors is not supported. "
            "Use the `^` or `logical_xor()` operator instead."
        )
    if any(bools):
        raise RuntimeError(
            "Subtraction, the `-` operator, with a bool tensor is not supported. If you are "
            "trying to invert a mask, use the `~` or `logical_not()` operator instead."
        )


subtract = sub


def _in_float32(ufunc: Any, half: np.ndarray, number: Any) -> np.ndarray:
    """``ufunc(half, number)`` computed in float32 with the number as a float32, rounded to
    ``half``'s dtype once (torch's "opmath" for a float16 tensor and a Python number)."""
    return ufunc(half, np.float32(number)).astype(half.dtype)


class _HalfByScalar(ArrayFunction):
    """A float16 tensor times a Python number as torch computes it (`_in_float32`): rounding
    the number to float16 first (``x * 0.1``: 0.0999755859375) gave another float16 for a third
    of the elements or more. The gradient is the upstream times the number, the same way (the
    same op: `_HalfOverScalar` divides)."""

    node_name = "MulBackward0"
    ufunc: Any = np.multiply

    @staticmethod
    def forward(ctx: Any, half: np.ndarray, number: Any) -> np.ndarray:
        ctx.number = number
        return _in_float32(ctx._forward_cls.ufunc, half, number)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        return ctx._forward_cls.apply(g, ctx.number), None

    @staticmethod
    def backward_array(ctx: Any, g: np.ndarray) -> tuple[Any, ...]:
        return _in_float32(ctx._forward_cls.ufunc, g, ctx.number), None


class _HalfOverScalar(_HalfByScalar):
    """A float16 tensor over a Python number, as `_HalfByScalar`."""

    node_name = "DivBackward0"
    ufunc = np.divide


def mul(input: Any, other: Any) -> Tensor:
    """``input * other``."""
    if isinstance(input, Tensor):  # the common cases, before general promotion
        if isinstance(other, Tensor):
            if input._data.dtype is other._data.dtype:
                return _Mul.apply(input, other)
        elif (type(other) is float or type(other) is int) and input._data.dtype.kind == "f":
            if input._data.dtype == np.float16:
                return _HalfByScalar.apply(input, other)
            return _Mul.apply(input, np.asarray(other, input._data.dtype))
    elif (type(input) is float or type(input) is int) and isinstance(other, Tensor):
        if other._data.dtype.kind == "f":  # ``0.5 * t`` (through __rmul__)
            if other._data.dtype == np.float16:
                return _HalfByScalar.apply(other, input)
            return _Mul.apply(np.asarray(input, other._data.dtype), other)
    _, (a, b) = promote(input, other)
    return _Mul.apply(a, b)


multiply = mul


def div(input: Any, other: Any, *, rounding_mode: str | None = None) -> Tensor:
    """``input / other``; integer inputs give floats unless ``rounding_mode`` is 'trunc'/'floor'."""
    if (
        rounding_mode is None
        and isinstance(input, Tensor)
        and isinstance(other, Tensor)
        and input._data.dtype is other._data.dtype
        and input._data.dtype.kind == "f"
    ):  # the common case, before promotion's general machinery
        return _Div.apply(input, other)
    if (
        rounding_mode is None
        and isinstance(input, Tensor)
        and input._data.dtype == np.float16
        and (type(other) is float or type(other) is int)
    ):
        return _HalfOverScalar.apply(input, other)
    dt, (a, b) = promote(input, other)
    if rounding_mode is None:
        if dt.kind != "f":
            from lossgrad._dtype import get_default_dtype

            a = (
                a.to(get_default_dtype())
                if isinstance(a, Tensor)
                else a.astype(get_default_dtype().np)
            )
            b = (
                b.to(get_default_dtype())
                if isinstance(b, Tensor)
                else b.astype(get_default_dtype().np)
            )
        return _Div.apply(a, b)
    if rounding_mode != "floor" and rounding_mode != "trunc":
        raise RuntimeError(
            "div expected rounding_mode to be one of None, 'trunc', or 'floor' but found "
            f"'{rounding_mode}'"
        )
    return _DivRounded.apply(a, b, rounding_mode)


class _DivRounded(ArrayFunction):
    """div with a rounding mode: piecewise constant, so both gradients are zero (torch)."""

    node_name = "DivBackward2"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, b: np.ndarray, mode: str) -> np.ndarray:
        ctx.shapes = (a.shape, b.shape)
        try:
            np.broadcast_shapes(a.shape, b.shape)
        except ValueError:
            raise broadcast_error(a.shape, b.shape) from None
        if a.dtype.kind == "f":
            return np.floor_divide(a, b) if mode == "floor" else np.trunc(a / b)
        if (b == 0).any():
            raise RuntimeError("ZeroDivisionError")
        q = np.floor_divide(a, b)
        if mode == "trunc":  # round toward zero: undo floor's step down for inexact negatives
            q = q + ((np.remainder(a, b) != 0) & ((a < 0) != (b < 0)))
        return np.asarray(q, a.dtype)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        sa, sb = ctx.shapes
        zero = np.zeros((), g._data.dtype)
        ga = Tensor._make(np.broadcast_to(zero, sa)) if ctx.needs_input_grad[0] else None
        gb = Tensor._make(np.broadcast_to(zero, sb)) if ctx.needs_input_grad[1] else None
        return ga, gb, None


class _FloorDivide(_DivRounded):
    """``a // b``: torch records it but has no derivative for it."""

    node_name = "NotImplemented"

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        raise RuntimeError("derivative for aten::floor_divide is not implemented")


divide = true_divide = div


def floor_divide(input: Any, other: Any) -> Tensor:
    """``input // other``: floor of the quotient; not differentiable (torch raises on backward)."""
    _, (a, b) = promote(input, other)
    return _FloorDivide.apply(a, b, "floor")


class _Remainder(ArrayFunction):
    """Python-style modulus ``a - b * floor(a / b)`` (the sign of the divisor)."""

    node_name = "RemainderBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a if ctx.needs_input_grad[1] else None, b)
        if a.dtype.kind != "f" and (np.asarray(b) == 0).any():
            raise RuntimeError("ZeroDivisionError")
        try:
            return np.remainder(a, b)
        except ValueError:
            raise broadcast_error(np.shape(a), np.shape(b)) from None

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        a, b = ctx.saved_tensors
        ea, eb = ctx.next_edges
        ga = sum_to_shape(g, ea[2]) if ctx.needs_input_grad[0] else None
        gb = None
        if ctx.needs_input_grad[1]:  # d/db (a - b floor(a/b)) = -floor(a/b)
            gb = sum_to_shape(mul(neg(g), div(a, b, rounding_mode="floor")), eb[2])
        return ga, gb


class _RemainderOfNumber(_Remainder):
    """``number % t``: torch records it but has no derivative for it."""

    node_name = "NotImplemented"

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        raise RuntimeError("derivative for aten::remainder is not implemented")


def remainder(input: Any, other: Any) -> Tensor:
    """Python-style modulus (sign of the divisor); gradient 1 for input, -floor(a/b) for other."""
    _, (a, b) = promote(input, other)
    return (_Remainder if isinstance(input, Tensor) else _RemainderOfNumber).apply(a, b)


class _RPow(_Pow):
    """A Python number raised to a tensor power (torch names it apart)."""

    node_name = "PowBackward2"


def pow(input: Any, exponent: Any) -> Tensor:
    """``input ** exponent`` (either may be a scalar)."""
    if isinstance(input, Tensor) and not isinstance(exponent, Tensor):
        return _pow_scalar(input, exponent)
    _, (a, b) = promote(input, exponent)
    return (_Pow if isinstance(input, Tensor) else _RPow).apply(a, b)


class _PowScalar(ArrayFunction):
    node_name = "PowBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, e: Any) -> np.ndarray:
        ctx.save_for_backward(a)
        ctx.e = e
        return _np_pow_scalar(a, e)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None]:
        (a,) = ctx.saved_tensors
        e = ctx.e
        if e == 0:
            return mul(g, 0.0), None
        if e == 2:
            return mul(g, mul(a, 2.0)), None
        return mul(g, mul(pow(a, e - 1), float(e))), None  # e == 1 too: torch's grad uses a

    @staticmethod
    def backward_array(ctx: Any, g: np.ndarray) -> tuple[Any, ...]:
        e = ctx.e
        if type(e) is not int and type(e) is not float:
            return backward_via_tensors(ctx, g)
        (a,) = ctx._saved_arrays()
        dt = g.dtype
        if e == 0:
            return g * np.asarray(0.0, dt), None
        if e == 2:
            return g * (a * np.asarray(2.0, dt)), None
        return g * (_np_pow_scalar(a, e - 1) * np.asarray(float(e), dt)), None


def _np_pow_scalar(a: np.ndarray, e: Any) -> np.ndarray:
    """``a ** e`` for a Python number ``e``.

    Squares and cubes are plain products, as torch's kernel computes them. Other small integer
    powers of float32/float16 arrays are products in float64 rounded once (the correctly
    rounded power, which torch's vectorised ``pow`` matches to an ulp): NumPy's ``powf`` takes
    a slow path for negative bases, about 100x slower than the products.
    """
    if e == 2:
        return a * a
    if e == 3:
        return a * a * a
    if a.dtype.kind == "f" and a.dtype.itemsize <= 4 and _SMALL_POWERS[0] <= e <= _SMALL_POWERS[1]:
        if type(e) is int or (type(e) is float and e.is_integer()):
            wide = a.astype(np.float64)
            out = _integer_power(wide, int(builtins.abs(e)))
            if e < 0:
                out = np.divide(1.0, out, out=out)
            return out.astype(a.dtype)
    return np.power(a, np.asarray(e, a.dtype))


#: The integer exponents computed as products (beyond 2 and 3).
_SMALL_POWERS = (-16, 16)


def _integer_power(base: np.ndarray, n: int) -> np.ndarray:
    """``base ** n`` for ``n >= 0`` by repeated squaring (a new array)."""
    result = np.ones_like(base)
    square = base
    while n:
        if n & 1:
            result = result * square
        n >>= 1
        if n:
            square = square * square
    return result


def _pow_scalar(a: Tensor, e: Any) -> Tensor:
    if isinstance(e, (np.generic, np.ndarray)):
        e = e.item()
    dt = promote(a, e)[0]
    if dt.kind != "f" and isinstance(e, int) and e < 0:
        raise RuntimeError("Integers to negative integer powers are not allowed.")
    if a._data.dtype != dt:
        a = a.to(dt)
    return _PowScalar.apply(a, e)


float_power = pow


# -- unary math -----------------------------------------------------------------------------------


class _Neg(ArrayFunction):
    saves_tensors = False  # torch's node saves no tensors: a second backward is allowed
    node_name = "NegBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray) -> np.ndarray:
        return -a

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        return neg(g)

    @staticmethod
    def backward_array(ctx: Any, g: np.ndarray) -> np.ndarray:
        return -g


class _Abs(ArrayFunction):
    node_name = "AbsBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a)
        return np.abs(a)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        (a,) = ctx.saved_tensors
        return mul(g, sign(a))


class _Exp(ArrayFunction):
    node_name = "ExpBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray) -> np.ndarray:
        out = np.exp(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        (out,) = ctx.saved_tensors
        return mul(g, out)

    @staticmethod
    def backward_array(ctx: Any, g: np.ndarray) -> np.ndarray:
        return g * ctx._saved_arrays()[0]


class _Expm1(ArrayFunction):
    node_name = "Expm1Backward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray) -> np.ndarray:
        out = np.expm1(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        (out,) = ctx.saved_tensors
        return mul(g, add(out, 1.0))


class _Log(ArrayFunction):
    node_name = "LogBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a)
        return np.log(a)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        (a,) = ctx.saved_tensors
        return div(g, a)

    @staticmethod
    def backward_array(ctx: Any, g: np.ndarray) -> np.ndarray:
        return g / ctx._saved_arrays()[0]


class _Log1p(ArrayFunction):
    node_name = "Log1PBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a)
        return np.log1p(a)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        (a,) = ctx.saved_tensors
        return div(g, add(a, 1.0))


class _Sqrt(ArrayFunction):
    node_name = "SqrtBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray) -> np.ndarray:
        out = np.sqrt(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        (out,) = ctx.saved_tensors
        return div(g, mul(out, 2.0))


class _Rsqrt(ArrayFunction):
    node_name = "RsqrtBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray) -> np.ndarray:
        out = 1.0 / np.sqrt(a)
        out = out.astype(a.dtype, copy=False)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        (out,) = ctx.saved_tensors
        return mul(g, mul(pow(out, 3), -0.5))


class _Sin(ArrayFunction):
    node_name = "SinBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a)
        return np.sin(a)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        (a,) = ctx.saved_tensors
        return mul(g, cos(a))


class _Cos(ArrayFunction):
    node_name = "CosBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a)
        return np.cos(a)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        (a,) = ctx.saved_tensors
        return neg(mul(g, sin(a)))


_ONES: dict[np.dtype, np.ndarray] = {}


def _one(dt: np.dtype) -> np.ndarray:
    """A read-only 0-d 1 of dtype ``dt``: NumPy combines it with an array at half the cost of a
    Python ``1``, with the same result."""
    one = _ONES.get(dt)
    if one is None:
        one = _ONES[dt] = np.ones((), dt)
        one.flags.writeable = False
    return one


def _tanh_grad(g: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``g * (1 - out^2)``."""
    return g * (_one(out.dtype) - out * out)


def _sigmoid_grad(g: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``g * (out * (1 - out))``."""
    return g * (out * (_one(out.dtype) - out))


class _Tanh(ArrayFunction):
    node_name = "TanhBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray) -> np.ndarray:
        out = np.tanh(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        (out,) = ctx.saved_tensors
        return _TanhBackward.apply(g, out)

    @staticmethod
    def backward_array(ctx: Any, g: np.ndarray) -> np.ndarray:
        return _tanh_grad(g, ctx._saved_arrays()[0])


class _TanhBackward(ArrayFunction):
    """tanh's backward ``g * (1 - out^2)`` as one op (torch's tanh_backward)."""

    node_name = "TanhBackwardBackward0"

    @staticmethod
    def forward(ctx: Any, g: np.ndarray, out: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(g if ctx.needs_input_grad[1] else None, out)
        return _tanh_grad(g, out)

    @staticmethod
    def backward(ctx: Any, gg: Tensor) -> tuple[Any, ...]:
        g, out = ctx.saved_tensors
        d_g = _TanhBackward.apply(gg, out) if ctx.needs_input_grad[0] else None
        d_out = mul(mul(gg, g), mul(out, -2.0)) if ctx.needs_input_grad[1] else None
        return d_g, d_out


class _Sigmoid(ArrayFunction):
    node_name = "SigmoidBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray) -> np.ndarray:
        out = _np_sigmoid(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        (out,) = ctx.saved_tensors
        return _SigmoidBackward.apply(g, out)

    @staticmethod
    def backward_array(ctx: Any, g: np.ndarray) -> np.ndarray:
        return _sigmoid_grad(g, ctx._saved_arrays()[0])


class _SigmoidBackward(ArrayFunction):
    """sigmoid's backward ``g * out * (1 - out)`` as one op (torch's sigmoid_backward)."""

    node_name = "SigmoidBackwardBackward0"

    @staticmethod
    def forward(ctx: Any, g: np.ndarray, out: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(g if ctx.needs_input_grad[1] else None, out)
        return _sigmoid_grad(g, out)

    @staticmethod
    def backward(ctx: Any, gg: Tensor) -> tuple[Any, ...]:
        g, out = ctx.saved_tensors
        d_g = _SigmoidBackward.apply(gg, out) if ctx.needs_input_grad[0] else None
        d_out = mul(mul(gg, g), rsub(mul(out, 2.0), 1.0)) if ctx.needs_input_grad[1] else None
        return d_g, d_out


def _np_sigmoid(a: np.ndarray) -> np.ndarray:
    """``exp(min(a, 0)) / (1 + exp(-|a|))``: 1/(1+exp(-a)) without overflow, exact in both tails
    and branch-free (NumPy's ``where`` on a data-dependent mask costs 10x these SIMD passes)."""
    t = a.dtype.type  # a float dtype: sigmoid casts integer inputs first
    den = np.asarray(np.exp(-np.abs(a)))  # 0-d results of NumPy math are scalars
    den += t(1)
    num = np.asarray(np.exp(_clip(a, t(-np.inf), t(0))))
    return np.divide(num, den, out=num)


def _float_input(a: Tensor) -> Tensor:
    """Integer inputs of float-valued functions (exp, log, ...) are cast to the default float."""
    if a._data.dtype.kind in "f":
        return a
    from lossgrad._dtype import get_default_dtype

    return a.to(get_default_dtype())


def neg(input: Tensor) -> Tensor:
    if input._data.dtype == np.bool_:
        raise RuntimeError(
            "Negation, the `-` operator, on a bool tensor is not supported. If you are trying to "
            "invert a mask, use the `~` or `logical_not()` operator instead."
        )
    return _Neg.apply(input)


negative = neg


class _Rsub(ArrayFunction):
    """``other - alpha * input`` with a tensor ``other`` (torch.rsub)."""

    node_name = "RsubBackward0"
    saves_tensors = False

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, b: np.ndarray, alpha: Any) -> np.ndarray:
        ctx.alpha = alpha
        try:
            return b - a if alpha == 1 else _plus_scaled(b, a, -alpha)
        except ValueError:
            raise broadcast_error(np.shape(a), np.shape(b)) from None

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        ea, eb, _ = ctx.next_edges
        ga = gb = None
        if ctx.needs_input_grad[0]:
            ga = sum_to_shape(neg(g) if ctx.alpha == 1 else mul(g, -ctx.alpha), ea[2])
        if ctx.needs_input_grad[1]:
            gb = sum_to_shape(g, eb[2])
        return ga, gb, None


class _RsubScalar(_Rsub):
    """``number - alpha * input``: what ``4.2 - t`` records in torch."""

    node_name = "RsubBackward1"


def rsub(input: Any, other: Any, *, alpha: Any = 1) -> Tensor:
    """``other - alpha * input`` (torch records RsubBackward0/1, not SubBackward0)."""
    if not isinstance(input, Tensor):
        return sub(other, input, alpha=alpha)
    dt, (a, b) = promote(input, other)
    if dt.kind == "b" or (dt.kind != "f" and (_is_bool(input) or _is_bool(other))):
        _check_bool_sub(other, input)
    if alpha != 1 and dt.kind != "f":
        _check_int_alpha(alpha, dt)
    return (_Rsub if isinstance(other, Tensor) else _RsubScalar).apply(a, b, alpha)


def abs(input: Tensor) -> Tensor:
    """|x|; gradient ``g * sign(x)``, so 0 at x == 0 (torch)."""
    if input._data.dtype == np.bool_:
        raise NotImplementedError("\"abs_cpu\" not implemented for 'Bool'")
    return _Abs.apply(input)


absolute = abs


class _ZeroGrad(ArrayFunction):
    """A piecewise-constant op (sign, floor, ...): recorded like torch, with gradient zero."""

    saves_tensors = False  # torch's node saves no tensors: a second backward is allowed

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, fn: Any) -> np.ndarray:
        return fn(a)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        return mul(g, 0.0), None


class _Sign(_ZeroGrad):
    node_name = "SignBackward0"


class _Sgn(_ZeroGrad):
    saves_tensors = True  # torch's SgnBackward0 saves tensors
    node_name = "SgnBackward0"


class _Floor(_ZeroGrad):
    node_name = "FloorBackward0"


class _Ceil(_ZeroGrad):
    node_name = "CeilBackward0"


class _Round(_ZeroGrad):
    node_name = "RoundBackward0"


class _RoundDecimals(_ZeroGrad):
    node_name = "RoundBackward1"


class _Trunc(_ZeroGrad):
    node_name = "TruncBackward0"


def _zero_grad_op(cls: type[_ZeroGrad], input: Tensor, fn: Any) -> Tensor:
    if input._data.dtype.kind != "f":  # integers and bools: the values are already there
        return Tensor._make(input._data.copy())
    return cls.apply(input, fn)


def _float_sign(a: np.ndarray) -> np.ndarray:
    """torch's sign of a float array: -1, 0 or 1, and 0 at NaN (``np.sign`` gives NaN)."""
    return sgn_into(a, np.empty_like(a))


def sign(input: Tensor) -> Tensor:
    """Sign (-1, 0, 1) in the input's dtype (0 at NaN, as torch); its gradient is zero."""
    if input._data.dtype == np.bool_:
        return Tensor._make(input._data.copy())
    if input._data.dtype.kind != "f":
        return Tensor._make(np.sign(input._data))
    return _Sign.apply(input, _float_sign)


def sgn(input: Tensor) -> Tensor:
    """``sign`` for real tensors (torch names its gradient node apart)."""
    if input._data.dtype.kind != "f":
        return sign(input)
    return _Sgn.apply(input, _float_sign)


def exp(input: Tensor) -> Tensor:
    return _Exp.apply(_float_input(input))


def expm1(input: Tensor) -> Tensor:
    return _Expm1.apply(_float_input(input))


def log(input: Tensor) -> Tensor:
    return _Log.apply(_float_input(input))


def log1p(input: Tensor) -> Tensor:
    return _Log1p.apply(_float_input(input))


def sqrt(input: Tensor) -> Tensor:
    return _Sqrt.apply(_float_input(input))


def rsqrt(input: Tensor) -> Tensor:
    return _Rsqrt.apply(_float_input(input))


def sin(input: Tensor) -> Tensor:
    return _Sin.apply(_float_input(input))


def cos(input: Tensor) -> Tensor:
    return _Cos.apply(_float_input(input))


def tanh(input: Tensor) -> Tensor:
    return _Tanh.apply(_float_input(input))


def sigmoid(input: Tensor) -> Tensor:
    return _Sigmoid.apply(_float_input(input))


class _Reciprocal(ArrayFunction):
    node_name = "ReciprocalBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray) -> np.ndarray:
        out = np.reciprocal(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        (out,) = ctx.saved_tensors  # torch: -g * out^2
        return neg(mul(g, mul(out, out)))

    @staticmethod
    def backward_array(ctx: Any, g: np.ndarray) -> np.ndarray:
        out = ctx._saved_arrays()[0]
        return -(g * (out * out))


def reciprocal(input: Tensor) -> Tensor:
    """``1 / x``; gradient ``-g / x^2``, written ``-g * out^2`` as torch does."""
    return _Reciprocal.apply(_float_input(input))


def square(input: Tensor) -> Tensor:
    return pow(input, 2)


# -- clamp, maximum, minimum, where ---------------------------------------------------------------


_NUMBER_OR_NONE = (int, float, type(None))


class _Clamp(ArrayFunction):
    """clamp with number bounds: the gradient passes where min <= x <= max (boundary included)."""

    node_name = "ClampBackward1"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, lo: Any, hi: Any) -> np.ndarray:
        ctx.save_for_backward(a)
        ctx.bounds = (lo, hi)
        if lo is None:
            return np.minimum(a, hi)
        if hi is None:
            return np.maximum(a, lo)
        return np.minimum(np.maximum(a, lo), hi)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        (a,) = ctx.saved_tensors
        lo, hi = ctx.bounds
        x = a._data
        keep = (x >= lo) if hi is None else (x <= hi) if lo is None else (x >= lo) & (x <= hi)
        return where(Tensor._make(keep), g, 0.0), None, None


class _ClampTensor(ArrayFunction):
    """clamp with tensor bounds; torch's clamp_backward_min_max (max wins when min > max)."""

    node_name = "ClampBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, lo: Any, hi: Any) -> np.ndarray:
        ctx.save_for_backward(a, lo, hi)
        try:
            if lo is None:
                return np.minimum(a, hi)
            if hi is None:
                return np.maximum(a, lo)
            return np.minimum(np.maximum(a, lo), hi)
        except ValueError:
            raise broadcast_error(np.shape(a), np.shape(lo if hi is None else hi)) from None

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        a, lo, hi = ctx.saved_tensors
        x = a._data
        lo_d = None if lo is None else lo._data
        hi_d = None if hi is None else hi._data
        need = ctx.needs_input_grad
        ga = glo = ghi = None
        if need[0]:
            if hi_d is None:
                keep = x >= lo_d
            elif lo_d is None:
                keep = x <= hi_d
            else:
                keep = (x >= lo_d) & (x <= hi_d)
            ga = sum_to_shape(where(Tensor._make(keep), g, 0.0), x.shape)
        if need[1]:
            m = x < lo_d if hi_d is None else (x < lo_d) & (lo_d < hi_d)
            glo = sum_to_shape(where(Tensor._make(m), g, 0.0), lo._data.shape)
        if need[2]:
            m = x > hi_d if lo_d is None else (x > hi_d) | (hi_d < lo_d)
            ghi = sum_to_shape(where(Tensor._make(m), g, 0.0), hi._data.shape)
        return ga, glo, ghi


def clamp(input: Tensor, min: Any = None, max: Any = None) -> Tensor:
    """Limit values to [min, max] (numbers or broadcastable tensors).

    The gradient passes to ``input`` where min <= x <= max, boundary included (torch's choice);
    a tensor bound gets the gradient where it is the active limit. When min > max every element
    is ``max``. Integer inputs with float bounds give floats (torch's promotion).
    """
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    if (
        input._data.dtype.kind == "f"
        and type(min) in _NUMBER_OR_NONE
        and type(max) in _NUMBER_OR_NONE
    ):  # fast path: float tensor, number bounds (NumPy keeps the array's dtype)
        return _Clamp.apply(input, min, max)
    ops = [input] + [m for m in (min, max) if m is not None]
    _, cast = promote(*ops)
    a = cast[0]
    rest = iter(cast[1:])
    lo = next(rest) if min is not None else None
    hi = next(rest) if max is not None else None
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        return _ClampTensor.apply(a, lo, hi)
    return _Clamp.apply(a, lo, hi)


clip = clamp


class _ClampMin(_Clamp):
    node_name = "ClampMinBackward0"


class _ClampMax(_Clamp):
    node_name = "ClampMaxBackward0"


def clamp_min(input: Tensor, min: Any) -> Tensor:
    """``max(x, min)``; the gradient passes where ``x >= min``."""
    if input._data.dtype.kind == "f" and type(min) in (int, float):
        return _ClampMin.apply(input, min, None)
    return clamp(input, min=min)


def clamp_max(input: Tensor, max: Any) -> Tensor:
    """``min(x, max)``; the gradient passes where ``x <= max``."""
    if input._data.dtype.kind == "f" and type(max) in (int, float):
        return _ClampMax.apply(input, None, max)
    return clamp(input, max=max)


class _Maximum(ArrayFunction):
    """Elementwise maximum: ties split the gradient in half, NaN sends it to both (torch)."""

    node_name = "MaximumBackward0"
    _np: Callable[..., Any] = staticmethod(np.maximum)
    _lose: Callable[..., Any] = staticmethod(np.less)

    @classmethod
    def forward(cls, ctx: Any, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a, b)
        try:
            return cls._np(a, b)
        except ValueError:
            raise broadcast_error(np.shape(a), np.shape(b)) from None

    @classmethod
    def backward(cls, ctx: Any, g: Tensor) -> tuple[Any, ...]:
        a, b = ctx.saved_tensors
        x, y = a._data, b._data
        g = where(Tensor._make(x == y), mul(g, 0.5), g)
        ga = gb = None
        if ctx.needs_input_grad[0]:
            ga = sum_to_shape(where(Tensor._make(cls._lose(x, y)), 0.0, g), x.shape)
        if ctx.needs_input_grad[1]:
            gb = sum_to_shape(where(Tensor._make(cls._lose(y, x)), 0.0, g), y.shape)
        return ga, gb


class _Minimum(_Maximum):
    node_name = "MinimumBackward0"
    _np = staticmethod(np.minimum)
    _lose = staticmethod(np.greater)


class _Fmax(ArrayFunction):
    """fmax: NaN loses; at ties the whole gradient goes to ``input`` (torch)."""

    node_name = "FmaxBackward0"
    _np: Callable[..., Any] = staticmethod(np.fmax)
    _win: Callable[..., Any] = staticmethod(np.greater_equal)

    @classmethod
    def forward(cls, ctx: Any, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a, b)
        try:
            return cls._np(a, b)
        except ValueError:
            raise broadcast_error(np.shape(a), np.shape(b)) from None

    @classmethod
    def backward(cls, ctx: Any, g: Tensor) -> tuple[Any, ...]:
        a, b = ctx.saved_tensors
        x, y = a._data, b._data
        to_a = Tensor._make(cls._win(x, y) | np.isnan(y))
        ga = sum_to_shape(where(to_a, g, 0.0), x.shape) if ctx.needs_input_grad[0] else None
        gb = sum_to_shape(where(to_a, 0.0, g), y.shape) if ctx.needs_input_grad[1] else None
        return ga, gb


class _Fmin(_Fmax):
    node_name = "FminBackward0"
    _np = staticmethod(np.fmin)
    _win = staticmethod(np.less_equal)


def _not_a_tensor(name: str, other: Any) -> None:
    raise TypeError(
        f"{name}(): argument 'other' (position 2) must be Tensor, not {type(other).__name__}"
    )


def maximum(input: Tensor, other: Tensor) -> Tensor:
    """Elementwise max; at ties each side gets half the gradient (torch)."""
    if not isinstance(other, Tensor):
        _not_a_tensor("maximum", other)
    _, (a, b) = promote(input, other)
    return _Maximum.apply(a, b)


def minimum(input: Tensor, other: Tensor) -> Tensor:
    """Elementwise min; at ties each side gets half the gradient (torch)."""
    if not isinstance(other, Tensor):
        _not_a_tensor("minimum", other)
    _, (a, b) = promote(input, other)
    return _Minimum.apply(a, b)


def fmax(input: Tensor, other: Tensor) -> Tensor:
    """Elementwise max ignoring NaN; at ties the gradient goes to ``input``."""
    if not isinstance(other, Tensor):
        _not_a_tensor("fmax", other)
    _, (a, b) = promote(input, other)
    return _Fmax.apply(a, b)


def fmin(input: Tensor, other: Tensor) -> Tensor:
    if not isinstance(other, Tensor):
        _not_a_tensor("fmin", other)
    _, (a, b) = promote(input, other)
    return _Fmin.apply(a, b)


class _Where(ArrayFunction):
    node_name = "WhereBackward0"

    @staticmethod
    def forward(ctx: Any, cond: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(cond)
        ctx.shapes = (a.shape, b.shape)
        try:
            return np.where(cond, a, b)
        except ValueError:
            raise _where_broadcast_error(cond.shape, a.shape, b.shape) from None

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        (cond,) = ctx.saved_tensors
        sa, sb = ctx.shapes
        ga = sum_to_shape(where(cond, g, 0.0), sa) if ctx.needs_input_grad[1] else None
        gb = sum_to_shape(where(cond, 0.0, g), sb) if ctx.needs_input_grad[2] else None
        return None, ga, gb


def _where_broadcast_error(
    sc: tuple[int, ...], sa: tuple[int, ...], sb: tuple[int, ...]
) -> RuntimeError:
    try:
        return broadcast_error(sc, np.broadcast_shapes(sa, sb))
    except ValueError:
        return broadcast_error(sa, sb)


def where(condition: Any, input: Any = None, other: Any = None) -> Any:
    """``input`` where ``condition`` else ``other``; ``where(cond)`` alone gives the indices."""
    cond = condition._data if isinstance(condition, Tensor) else np.asarray(condition)
    if input is None and other is None:
        return tuple(Tensor._make(i) for i in np.nonzero(cond))
    _, (a, b) = promote(input, other)
    if cond.dtype != np.bool_:
        if cond.dtype != np.uint8:
            raise RuntimeError(
                "where expected condition to be a boolean tensor, but got a tensor with dtype "
                f"{_dtype.from_numpy_dtype(cond.dtype).name.capitalize()}"
            )
        warnings.warn(
            "where received a uint8 condition tensor. This behavior is deprecated and will be "
            "removed in a future version of PyTorch. Use a boolean condition instead. (Triggered "
            "internally at /__w/pytorch/pytorch/aten/src/ATen/native/TensorCompare.cpp:621.)",
            UserWarning,
            stacklevel=2,
        )
        cond = cond.astype(bool)
    return _Where.apply(cond, a, b)


# -- casts and copies -----------------------------------------------------------------------------


class _ToDtype(ArrayFunction):
    saves_tensors = False  # torch's node saves no tensors: a second backward is allowed
    node_name = "ToCopyBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, dt: np.dtype, copy: bool) -> np.ndarray:
        ctx.src = a.dtype
        return a.astype(dt, copy=copy)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        return to_dtype(g, ctx.src), None, None

    @staticmethod
    def backward_array(ctx: Any, g: np.ndarray) -> tuple[Any, ...]:
        return (g if g.dtype == ctx.src else g.astype(ctx.src)), None, None


def to_dtype(input: Tensor, dt: np.dtype, copy: bool = False) -> Tensor:
    """Cast to a NumPy dtype; the gradient is cast back (returns ``input`` itself if no-op)."""
    if input._data.dtype == dt and not copy:
        return input
    return _ToDtype.apply(input, dt, True)


class _Clone(ArrayFunction):
    saves_tensors = False  # torch's node saves no tensors: a second backward is allowed
    node_name = "CloneBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray) -> np.ndarray:
        return a.copy()

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        return g


def clone(input: Tensor, *, memory_format: Any = None) -> Tensor:
    return _Clone.apply(input)


# -- comparisons and logic (never differentiable) ------------------------------------------------


def _cmp(fn: Any, a: Any, b: Any) -> Tensor:
    _, (x, y) = promote(a, b)
    xa = x._data if isinstance(x, Tensor) else x
    ya = y._data if isinstance(y, Tensor) else y
    try:
        return Tensor._make(np.asarray(fn(xa, ya)))
    except ValueError:
        raise broadcast_error(np.shape(xa), np.shape(ya)) from None


def eq(input: Any, other: Any) -> Tensor:
    return _cmp(np.equal, input, other)


def ne(input: Any, other: Any) -> Tensor:
    return _cmp(np.not_equal, input, other)


def lt(input: Any, other: Any) -> Tensor:
    return _cmp(np.less, input, other)


def le(input: Any, other: Any) -> Tensor:
    return _cmp(np.less_equal, input, other)


def gt(input: Any, other: Any) -> Tensor:
    return _cmp(np.greater, input, other)


def ge(input: Any, other: Any) -> Tensor:
    return _cmp(np.greater_equal, input, other)


greater, greater_equal, less, less_equal, not_equal = gt, ge, lt, le, ne


def equal(input: Tensor, other: Tensor) -> bool:
    """True if both have the same shape and values."""
    return input.shape == other.shape and bool(np.array_equal(input._data, other._data))


def _raw(x: Any) -> Any:
    return x._data if isinstance(x, Tensor) else x


def logical_and(input: Any, other: Any) -> Tensor:
    return Tensor._make(np.logical_and(_raw(input), _raw(other)))


def logical_or(input: Any, other: Any) -> Tensor:
    return Tensor._make(np.logical_or(_raw(input), _raw(other)))


def logical_xor(input: Any, other: Any) -> Tensor:
    return Tensor._make(np.logical_xor(_raw(input), _raw(other)))


def logical_not(input: Any) -> Tensor:
    return Tensor._make(np.logical_not(_raw(input)))


def bitwise_and(input: Any, other: Any) -> Tensor:
    return _bitwise(np.bitwise_and, input, other)


def bitwise_or(input: Any, other: Any) -> Tensor:
    return _bitwise(np.bitwise_or, input, other)


def bitwise_xor(input: Any, other: Any) -> Tensor:
    return _bitwise(np.bitwise_xor, input, other)


def _bitwise(fn: Any, a: Any, b: Any) -> Tensor:
    dt, (x, y) = promote(a, b)
    if dt.kind == "f":
        names = {"float16": "Half", "float32": "Float", "float64": "Double"}
        raise NotImplementedError(f"\"{fn.__name__}_cpu\" not implemented for '{names[dt.name]}'")
    return Tensor._make(np.asarray(fn(_raw(x), _raw(y))))


def bitwise_not(input: Tensor) -> Tensor:
    if input._data.dtype.kind == "f":
        raise TypeError(
            "~ (operator.invert) is only implemented on integer and Boolean-type tensors"
        )
    return Tensor._make(np.invert(input._data))


def isnan(input: Tensor) -> Tensor:
    return Tensor._make(np.isnan(input._data))


def isinf(input: Tensor) -> Tensor:
    return Tensor._make(np.isinf(input._data))


def isfinite(input: Tensor) -> Tensor:
    return Tensor._make(np.isfinite(input._data))


def isclose(
    input: Tensor, other: Tensor, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False
) -> Tensor:
    return Tensor._make(np.isclose(_raw(input), _raw(other), rtol, atol, equal_nan))


def allclose(
    input: Tensor, other: Tensor, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False
) -> bool:
    return bool(np.allclose(_raw(input), _raw(other), rtol, atol, equal_nan))


def floor(input: Tensor) -> Tensor:
    """Round down; the gradient is zero (recorded, as in torch); integers are returned as is."""
    return _zero_grad_op(_Floor, input, np.floor)


def ceil(input: Tensor) -> Tensor:
    return _zero_grad_op(_Ceil, input, np.ceil)


def round(input: Tensor, *, decimals: int = 0) -> Tensor:
    """Round half to even (torch and NumPy agree); zero gradient."""
    if decimals:
        if input._data.dtype.kind != "f":
            name = _dtype.from_numpy_dtype(input._data.dtype).name.capitalize()
            raise NotImplementedError(
                f"\"round_cpu\" not implemented for '{name.replace('Int64', 'Long')}'"
            )
        return _zero_grad_op(_RoundDecimals, input, lambda a: np.round(a, decimals))
    return _zero_grad_op(_Round, input, np.round)


def trunc(input: Tensor) -> Tensor:
    return _zero_grad_op(_Trunc, input, np.trunc)
