"""Elementwise ops: arithmetic with broadcasting, unary math, clamp/maximum/where, comparisons.

Every backward is written with these same ops, so it can be recorded and differentiated again.
Gradients of broadcast operands are summed back to the operand's shape (``sum_to_shape``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lossgrad._tensor import Tensor
from lossgrad.autograd.function import ArrayFunction
from lossgrad.ops._common import as_tensor, promote, sum_to_shape

# -- arithmetic -----------------------------------------------------------------------------------


class _Add(ArrayFunction):
    node_name = "AddBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, b: np.ndarray, alpha: Any) -> np.ndarray:
        ctx.shapes, ctx.alpha = (a.shape, b.shape), alpha
        return a + b if alpha == 1 else a + b * np.asarray(alpha, a.dtype)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        sa, sb = ctx.shapes
        ga = sum_to_shape(g, sa) if ctx.needs_input_grad[0] else None
        gb = None
        if ctx.needs_input_grad[1]:
            gb = sum_to_shape(g if ctx.alpha == 1 else mul(g, ctx.alpha), sb)
        return ga, gb, None


class _Sub(ArrayFunction):
    node_name = "SubBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, b: np.ndarray, alpha: Any) -> np.ndarray:
        ctx.shapes, ctx.alpha = (a.shape, b.shape), alpha
        return a - b if alpha == 1 else a - b * np.asarray(alpha, a.dtype)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        sa, sb = ctx.shapes
        ga = sum_to_shape(g, sa) if ctx.needs_input_grad[0] else None
        gb = None
        if ctx.needs_input_grad[1]:
            gb = sum_to_shape(neg(g) if ctx.alpha == 1 else mul(g, -ctx.alpha), sb)
        return ga, gb, None


class _Mul(ArrayFunction):
    node_name = "MulBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        a, b = ctx.saved_tensors
        ga = sum_to_shape(mul(g, b), a._data.shape) if ctx.needs_input_grad[0] else None
        gb = sum_to_shape(mul(g, a), b._data.shape) if ctx.needs_input_grad[1] else None
        return ga, gb


class _Div(ArrayFunction):
    node_name = "DivBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a, b)
        with np.errstate(divide="ignore", invalid="ignore"):
            return a / b

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        a, b = ctx.saved_tensors
        ga = sum_to_shape(div(g, b), a._data.shape) if ctx.needs_input_grad[0] else None
        gb = None
        if ctx.needs_input_grad[1]:
            gb = sum_to_shape(neg(div(mul(g, a), mul(b, b))), b._data.shape)
        return ga, gb


class _Pow(ArrayFunction):
    node_name = "PowBackward1"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            out = np.power(a, b)
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        a, b, out = ctx.saved_tensors
        ga = gb = None
        if ctx.needs_input_grad[0]:
            # b * a**(b-1), and 0 where b == 0 (torch's pow_backward)
            d = where(eq(b, 0), 0.0, mul(b, pow(a, sub(b, 1))))
            ga = sum_to_shape(mul(g, d), a._data.shape)
        if ctx.needs_input_grad[1]:
            # out * log(a), and 0 where a == 0 and b >= 0
            d = where(logical_and(eq(a, 0), ge(b, 0)), 0.0, mul(out, log(a)))
            gb = sum_to_shape(mul(g, d), b._data.shape)
        return ga, gb


def add(input: Any, other: Any, *, alpha: Any = 1) -> Tensor:
    """``input + alpha * other`` with broadcasting and torch's type promotion."""
    _, (a, b) = promote(input, other)
    return _Add.apply(a, b, alpha)


def sub(input: Any, other: Any, *, alpha: Any = 1) -> Tensor:
    """``input - alpha * other``."""
    _, (a, b) = promote(input, other)
    if a._data.dtype == np.bool_ if isinstance(a, Tensor) else False:
        raise RuntimeError(
            "Subtraction, the `-` operator, with two bool tensors is not supported. "
            "Use the `^` or `logical_xor()` operator instead."
        )
    return _Sub.apply(a, b, alpha)


subtract = sub


def mul(input: Any, other: Any) -> Tensor:
    """``input * other``."""
    _, (a, b) = promote(input, other)
    return _Mul.apply(a, b)


multiply = mul


def div(input: Any, other: Any, *, rounding_mode: str | None = None) -> Tensor:
    """``input / other``; integer inputs give floats unless ``rounding_mode`` is 'trunc'/'floor'."""
    dt, (a, b) = promote(input, other)
    if rounding_mode is None:
        if dt.kind != "f":
            from lossgrad._dtype import get_default_dtype

            a = a.to(get_default_dtype()) if isinstance(a, Tensor) else a.astype(get_default_dtype().np)
            b = b.to(get_default_dtype()) if isinstance(b, Tensor) else b.astype(get_default_dtype().np)
        return _Div.apply(a, b)
    ra = a._data if isinstance(a, Tensor) else a
    rb = b._data if isinstance(b, Tensor) else b
    with np.errstate(divide="ignore", invalid="ignore"):
        if rounding_mode == "floor":
            out = np.floor_divide(ra, rb) if dt.kind != "f" else np.floor(ra / rb)
        elif rounding_mode == "trunc":
            out = np.trunc(ra / rb).astype(dt) if dt.kind != "f" else np.trunc(ra / rb)
        else:
            raise ValueError(
                "div expected rounding_mode to be one of None, 'trunc', or 'floor' but found "
                f"'{rounding_mode}'"
            )
    return Tensor._make(np.asarray(out, dtype=dt))


divide = true_divide = div


def floor_divide(input: Any, other: Any) -> Tensor:
    return div(input, other, rounding_mode="floor")


def remainder(input: Any, other: Any) -> Tensor:
    """Python-style modulus (sign of the divisor); gradient 1 for input, -floor(a/b) for other."""
    _, (a, b) = promote(input, other)
    ta, tb = as_tensor(a), as_tensor(b)
    return sub(ta, mul(div(ta, tb, rounding_mode="floor"), tb))


def pow(input: Any, exponent: Any) -> Tensor:
    """``input ** exponent`` (either may be a scalar)."""
    if isinstance(input, Tensor) and not isinstance(exponent, Tensor):
        return _pow_scalar(input, exponent)
    _, (a, b) = promote(input, exponent)
    return _Pow.apply(a, b)


class _PowScalar(ArrayFunction):
    node_name = "PowBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, e: Any) -> np.ndarray:
        ctx.save_for_backward(a)
        ctx.e = e
        if e == 2:
            return a * a
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return np.power(a, np.asarray(e, a.dtype))

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        (a,) = ctx.saved_tensors
        e = ctx.e
        if e == 0:
            return mul(g, 0.0)
        if e == 1:
            return g
        if e == 2:
            return mul(g, mul(a, 2.0))
        return mul(g, mul(pow(a, e - 1), float(e)))


def _pow_scalar(a: Tensor, e: Any) -> Tensor:
    if isinstance(e, (np.generic, np.ndarray)):
        e = e.item()
    dt, (a,) = promote(a, e)[0], [a]
    if a._data.dtype != dt:
        a = a.to(dt)
    return _PowScalar.apply(a, e)


float_power = pow


# -- unary math -----------------------------------------------------------------------------------


class _Neg(ArrayFunction):
    node_name = "NegBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray) -> np.ndarray:
        return -a

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        return neg(g)


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
        with np.errstate(over="ignore"):
            out = np.exp(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        (out,) = ctx.saved_tensors
        return mul(g, out)


class _Expm1(ArrayFunction):
    node_name = "Expm1Backward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
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
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(a)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        (a,) = ctx.saved_tensors
        return div(g, a)


class _Log1p(ArrayFunction):
    node_name = "Log1PBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log1p(a)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        (a,) = ctx.saved_tensors
        return div(g, add(a, 1.0))


class _Sqrt(ArrayFunction):
    node_name = "SqrtBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):
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
        with np.errstate(divide="ignore", invalid="ignore"):
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
        return mul(g, rsub(mul(out, out), 1.0))


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
        return mul(g, mul(out, rsub(out, 1.0)))


def _np_sigmoid(a: np.ndarray) -> np.ndarray:
    """1/(1+exp(-a)) without overflow warnings: exp of a non-positive number only."""
    e = np.exp(-np.abs(a))
    return np.where(a >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(a.dtype, copy=False)


def _float_input(a: Tensor) -> Tensor:
    """Integer inputs of float-valued functions (exp, log, ...) are cast to the default float."""
    if a._data.dtype.kind in "f":
        return a
    from lossgrad._dtype import get_default_dtype

    return a.to(get_default_dtype())


def neg(input: Tensor) -> Tensor:
    return _Neg.apply(input)


negative = neg


def rsub(input: Any, other: Any, *, alpha: Any = 1) -> Tensor:
    """``other - alpha * input``."""
    return sub(other, input, alpha=alpha)


def abs(input: Tensor) -> Tensor:
    return _Abs.apply(input)


absolute = abs


def sign(input: Tensor) -> Tensor:
    """Sign (-1, 0, 1); its gradient is zero everywhere."""
    return Tensor._make(np.sign(input._data))


sgn = sign


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


def reciprocal(input: Tensor) -> Tensor:
    return div(1.0, _float_input(input))


def square(input: Tensor) -> Tensor:
    return pow(input, 2)


# -- clamp, maximum, minimum, where ---------------------------------------------------------------


class _Clamp(ArrayFunction):
    node_name = "ClampBackward1"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, lo: Any, hi: Any) -> np.ndarray:
        ctx.save_for_backward(a, lo, hi)
        if lo is None:
            return np.minimum(a, hi)
        if hi is None:
            return np.maximum(a, lo)
        return np.minimum(np.maximum(a, lo), hi)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        a, lo, hi = ctx.saved_tensors
        keep = None
        if lo is not None:
            keep = ge(a, lo)
        if hi is not None:
            keep = le(a, hi) if keep is None else logical_and(keep, le(a, hi))
        ga = where(keep, g, 0.0) if ctx.needs_input_grad[0] else None
        glo = ghi = None
        if ctx.needs_input_grad[1]:
            glo = sum_to_shape(where(lt(a, lo), g, 0.0), lo._data.shape)
        if ctx.needs_input_grad[2]:
            ghi = sum_to_shape(where(gt(a, hi), g, 0.0), hi._data.shape)
        return ga, glo, ghi


def clamp(input: Tensor, min: Any = None, max: Any = None) -> Tensor:
    """Limit values to [min, max]; the gradient passes where min <= x <= max."""
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    ops = [input] + [m for m in (min, max) if m is not None]
    dt, cast = promote(*ops)
    a = cast[0]
    rest = iter(cast[1:])
    lo = next(rest) if min is not None else None
    hi = next(rest) if max is not None else None
    return _Clamp.apply(a, lo, hi)


clip = clamp


def clamp_min(input: Tensor, min: Any) -> Tensor:
    return clamp(input, min=min)


def clamp_max(input: Tensor, max: Any) -> Tensor:
    return clamp(input, max=max)


class _MaxMin(ArrayFunction):
    """Elementwise maximum/minimum; at ties the gradient is split in half (torch)."""

    node_name = "MaximumBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, b: np.ndarray, is_max: bool) -> np.ndarray:
        ctx.save_for_backward(a, b)
        ctx.is_max = is_max
        return np.maximum(a, b) if is_max else np.minimum(a, b)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        a, b = ctx.saved_tensors
        win = gt(a, b) if ctx.is_max else lt(a, b)
        tie = eq(a, b)
        half = mul(g, 0.5)
        ga = gb = None
        if ctx.needs_input_grad[0]:
            ga = sum_to_shape(where(win, g, where(tie, half, 0.0)), a._data.shape)
        if ctx.needs_input_grad[1]:
            lose = logical_not(logical_or(win, tie))
            gb = sum_to_shape(where(lose, g, where(tie, half, 0.0)), b._data.shape)
        return ga, gb, None


def maximum(input: Tensor, other: Tensor) -> Tensor:
    _, (a, b) = promote(input, other)
    return _MaxMin.apply(a, b, True)


def minimum(input: Tensor, other: Tensor) -> Tensor:
    _, (a, b) = promote(input, other)
    return _MaxMin.apply(a, b, False)


fmax, fmin = maximum, minimum


class _Where(ArrayFunction):
    node_name = "WhereBackward0"

    @staticmethod
    def forward(ctx: Any, cond: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(cond)
        ctx.shapes = (a.shape, b.shape)
        return np.where(cond, a, b)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        (cond,) = ctx.saved_tensors
        sa, sb = ctx.shapes
        ga = sum_to_shape(where(cond, g, 0.0), sa) if ctx.needs_input_grad[1] else None
        gb = sum_to_shape(where(cond, 0.0, g), sb) if ctx.needs_input_grad[2] else None
        return None, ga, gb


def where(condition: Any, input: Any = None, other: Any = None) -> Any:
    """``input`` where ``condition`` else ``other``; ``where(cond)`` alone gives the indices."""
    cond = condition._data if isinstance(condition, Tensor) else np.asarray(condition)
    if input is None and other is None:
        return tuple(Tensor._make(i) for i in np.nonzero(cond))
    _, (a, b) = promote(input, other)
    if cond.dtype != np.bool_:
        cond = cond.astype(bool)
    return _Where.apply(cond, a, b)


# -- casts and copies -----------------------------------------------------------------------------


class _ToDtype(ArrayFunction):
    node_name = "ToCopyBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, dt: np.dtype, copy: bool) -> np.ndarray:
        ctx.src = a.dtype
        return a.astype(dt, copy=copy)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        return to_dtype(g, ctx.src), None, None


def to_dtype(input: Tensor, dt: np.dtype, copy: bool = False) -> Tensor:
    """Cast to a NumPy dtype; the gradient is cast back (returns ``input`` itself if no-op)."""
    if input._data.dtype == dt and not copy:
        return input
    return _ToDtype.apply(input, dt, True)


class _Clone(ArrayFunction):
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
    return Tensor._make(np.asarray(fn(xa, ya)))


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
        raise RuntimeError(f"\"{fn.__name__}_cpu\" not implemented for '{dt.name.capitalize()}'")
    return Tensor._make(np.asarray(fn(_raw(x), _raw(y))))


def bitwise_not(input: Tensor) -> Tensor:
    if input._data.dtype.kind == "f":
        raise TypeError("~ (operator.invert) is only implemented on integer and Boolean-type tensors")
    return Tensor._make(np.invert(input._data))


def isnan(input: Tensor) -> Tensor:
    return Tensor._make(np.isnan(input._data))


def isinf(input: Tensor) -> Tensor:
    return Tensor._make(np.isinf(input._data))


def isfinite(input: Tensor) -> Tensor:
    return Tensor._make(np.isfinite(input._data))


def isclose(input: Tensor, other: Tensor, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> Tensor:
    return Tensor._make(np.isclose(_raw(input), _raw(other), rtol, atol, equal_nan))


def allclose(input: Tensor, other: Tensor, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> bool:
    return bool(np.allclose(_raw(input), _raw(other), rtol, atol, equal_nan))


def floor(input: Tensor) -> Tensor:
    """Rounding ops have zero gradient (torch); no graph is recorded."""
    return Tensor._make(np.floor(input._data))


def ceil(input: Tensor) -> Tensor:
    return Tensor._make(np.ceil(input._data))


def round(input: Tensor, *, decimals: int = 0) -> Tensor:
    return Tensor._make(np.round(input._data, decimals))


def trunc(input: Tensor) -> Tensor:
    return Tensor._make(np.trunc(input._data))
