"""More elementwise functions torch has: other bases of log and exp, trigonometric and hyperbolic
functions and their inverses, the error and gamma functions, and a few binary ones (``atan2``,
``hypot``, ``logaddexp``, ``xlogy``).

Each unary op is declared by one line: its torch node name, the NumPy (or SciPy) function of the
forward, and its derivative written with lossgrad ops of the input ``x`` and the output ``y``,
taken from torch's ``derivatives.yaml`` so that first and second gradients round as torch's do.
The backward is ``g * derivative(x, y)``, itself recorded when ``create_graph=True``.

Example:
    >>> import lossgrad as torch
    >>> x = torch.tensor([1.0, 2.0, 8.0], requires_grad=True)
    >>> x.log2()
    tensor([0., 1., 3.], grad_fn=<Log2Backward0>)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from lossgrad._tensor import Tensor
from lossgrad.autograd.function import ArrayFunction
from lossgrad.ops._common import promote, sum_to_shape
from lossgrad.ops.pointwise import (
    _float_input,
    add,
    div,
    exp,
    mul,
    neg,
    rsqrt,
    sin,
    sub,
    where,
)

_Derivative = Callable[[Tensor, Tensor], Any]


def _special(name: str) -> Callable[[np.ndarray], np.ndarray]:
    """A ``scipy.special`` ufunc, imported on first use (SciPy is slow to import)."""

    def call(a: np.ndarray) -> np.ndarray:
        from scipy import special

        return np.asarray(getattr(special, name)(a), dtype=a.dtype)

    return call


def _unary(node_name: str, forward: Callable[[np.ndarray], np.ndarray], derivative: _Derivative):
    """The Function of ``y = forward(x)`` with ``dy/dx = derivative(x, y)``."""

    def forward_arrays(ctx: Any, a: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):  # torch gives inf/NaN outside the domain, silently
            out = forward(a)
        ctx.save_for_backward(a, out)
        return out

    def backward(ctx: Any, g: Tensor) -> Tensor:
        x, y = ctx.saved_tensors
        return mul(g, derivative(x, y))

    name = "_" + node_name.removesuffix("Backward0")
    namespace = {
        "node_name": node_name,
        "forward": staticmethod(forward_arrays),
        "backward": staticmethod(backward),
        "__qualname__": name,
        "__module__": __name__,
    }
    return type(ArrayFunction)(name, (ArrayFunction,), namespace)


_LN10 = math.log(10.0)
_LN2 = math.log(2.0)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)

_Log10 = _unary("Log10Backward0", np.log10, lambda x, y: div(1.0, mul(x, _LN10)))
_Log2 = _unary("Log2Backward0", np.log2, lambda x, y: div(1.0, mul(x, _LN2)))
_Exp2 = _unary("Exp2Backward0", np.exp2, lambda x, y: mul(y, _LN2))
_Tan = _unary("TanBackward0", np.tan, lambda x, y: add(mul(y, y), 1.0))
_Sinh = _unary("SinhBackward0", np.sinh, lambda x, y: cosh(x))
_Cosh = _unary("CoshBackward0", np.cosh, lambda x, y: sinh(x))
_Asin = _unary("AsinBackward0", np.arcsin, lambda x, y: rsqrt(add(neg(mul(x, x)), 1.0)))
_Acos = _unary("AcosBackward0", np.arccos, lambda x, y: neg(rsqrt(add(neg(mul(x, x)), 1.0))))
_Atan = _unary("AtanBackward0", np.arctan, lambda x, y: div(1.0, add(mul(x, x), 1.0)))
_Asinh = _unary("AsinhBackward0", np.arcsinh, lambda x, y: rsqrt(add(mul(x, x), 1.0)))
_Acosh = _unary("AcoshBackward0", np.arccosh, lambda x, y: rsqrt(sub(mul(x, x), 1.0)))
_Atanh = _unary("AtanhBackward0", np.arctanh, lambda x, y: div(1.0, sub(1.0, mul(x, x))))
_Erf = _unary(
    "ErfBackward0", _special("erf"), lambda x, y: mul(exp(neg(mul(x, x))), _TWO_OVER_SQRT_PI)
)
_Erfc = _unary(
    "ErfcBackward0", _special("erfc"), lambda x, y: mul(exp(neg(mul(x, x))), -_TWO_OVER_SQRT_PI)
)
_Erfinv = _unary(
    "ErfinvBackward0",
    _special("erfinv"),
    lambda x, y: mul(exp(mul(y, y)), 0.5 * math.sqrt(math.pi)),
)
_Digamma = _unary("DigammaBackward0", _special("digamma"), lambda x, y: _polygamma(1, x))
_Lgamma = _unary("LgammaBackward0", _special("gammaln"), lambda x, y: digamma(x))
_Deg2rad = _unary("Deg2RadBackward0", np.deg2rad, lambda x, y: math.pi / 180.0)
_Rad2deg = _unary("Rad2DegBackward0", np.rad2deg, lambda x, y: 180.0 / math.pi)
_Frac = _unary("FracBackward0", lambda a: a - np.trunc(a), lambda x, y: 1.0)
_Logit = _unary(
    "LogitBackward0",
    lambda a: np.log(a / (1 - a)),
    lambda x, y: div(1.0, mul(x, sub(1.0, x))),
)


class _Polygamma(ArrayFunction):
    """The n-th derivative of digamma; its derivative is polygamma(n + 1)."""

    node_name = "PolygammaBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, n: int) -> np.ndarray:
        from scipy import special

        ctx.save_for_backward(a)
        ctx.n = n
        return np.asarray(special.polygamma(n, a), dtype=a.dtype)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None]:
        (a,) = ctx.saved_tensors
        return mul(g, _polygamma(ctx.n + 1, a)), None


def _polygamma(n: int, input: Tensor) -> Tensor:
    return _Polygamma.apply(input, n)


def log10(input: Tensor) -> Tensor:
    """Base-10 logarithm; gradient ``g / (x ln 10)``."""
    return _Log10.apply(_float_input(input))


def log2(input: Tensor) -> Tensor:
    """Base-2 logarithm; gradient ``g / (x ln 2)``."""
    return _Log2.apply(_float_input(input))


def exp2(input: Tensor) -> Tensor:
    """``2^x``; gradient ``g 2^x ln 2``."""
    return _Exp2.apply(_float_input(input))


def tan(input: Tensor) -> Tensor:
    """Tangent; gradient ``g (1 + tan^2 x)``."""
    return _Tan.apply(_float_input(input))


def sinh(input: Tensor) -> Tensor:
    """Hyperbolic sine; gradient ``g cosh x``."""
    return _Sinh.apply(_float_input(input))


def cosh(input: Tensor) -> Tensor:
    """Hyperbolic cosine; gradient ``g sinh x``."""
    return _Cosh.apply(_float_input(input))


def asin(input: Tensor) -> Tensor:
    """Inverse sine; gradient ``g / sqrt(1 - x^2)``."""
    return _Asin.apply(_float_input(input))


def acos(input: Tensor) -> Tensor:
    """Inverse cosine; gradient ``-g / sqrt(1 - x^2)``."""
    return _Acos.apply(_float_input(input))


def atan(input: Tensor) -> Tensor:
    """Inverse tangent; gradient ``g / (1 + x^2)``."""
    return _Atan.apply(_float_input(input))


def asinh(input: Tensor) -> Tensor:
    """Inverse hyperbolic sine; gradient ``g / sqrt(x^2 + 1)``."""
    return _Asinh.apply(_float_input(input))


def acosh(input: Tensor) -> Tensor:
    """Inverse hyperbolic cosine; gradient ``g / sqrt(x^2 - 1)``."""
    return _Acosh.apply(_float_input(input))


def atanh(input: Tensor) -> Tensor:
    """Inverse hyperbolic tangent; gradient ``g / (1 - x^2)``."""
    return _Atanh.apply(_float_input(input))


def erf(input: Tensor) -> Tensor:
    """Error function; gradient ``g 2/sqrt(pi) exp(-x^2)``."""
    return _Erf.apply(_float_input(input))


def erfc(input: Tensor) -> Tensor:
    """Complementary error function ``1 - erf(x)``; gradient ``-g 2/sqrt(pi) exp(-x^2)``."""
    return _Erfc.apply(_float_input(input))


def erfinv(input: Tensor) -> Tensor:
    """Inverse error function; gradient ``g sqrt(pi)/2 exp(erfinv(x)^2)``."""
    return _Erfinv.apply(_float_input(input))


def lgamma(input: Tensor) -> Tensor:
    """``log |Gamma(x)|``; gradient ``g digamma(x)``."""
    return _Lgamma.apply(_float_input(input))


def digamma(input: Tensor) -> Tensor:
    """``d/dx log Gamma(x)``; gradient ``g polygamma(1, x)``."""
    return _Digamma.apply(_float_input(input))


def polygamma(n: int, input: Tensor) -> Tensor:
    """The n-th derivative of digamma; gradient ``g polygamma(n + 1, x)``."""
    return _polygamma(n, _float_input(input))


def deg2rad(input: Tensor) -> Tensor:
    """Degrees to radians."""
    return _Deg2rad.apply(_float_input(input))


def rad2deg(input: Tensor) -> Tensor:
    """Radians to degrees."""
    return _Rad2deg.apply(_float_input(input))


def frac(input: Tensor) -> Tensor:
    """Fractional part ``x - trunc(x)``; gradient ``g``."""
    return _Frac.apply(input)


def logit(input: Tensor, eps: float | None = None) -> Tensor:
    """``log(p / (1 - p))``, ``p`` clamped to ``[eps, 1 - eps]`` first when ``eps`` is given.

    The gradient is ``g / (p (1 - p))``; with ``eps``, it is 0 where ``p`` was clamped (torch).
    """
    input = _float_input(input)
    if eps is None:
        return _Logit.apply(input)
    from lossgrad.ops.pointwise import clamp

    return _Logit.apply(clamp(input, eps, 1.0 - eps))


def _binary(input: Any, other: Any) -> tuple[Tensor, Tensor]:
    """Promote two operands to a common floating dtype, as Tensors."""
    _, (a, b) = promote(input, other)
    a = a if isinstance(a, Tensor) else Tensor._make(np.asarray(a))
    b = b if isinstance(b, Tensor) else Tensor._make(np.asarray(b))
    return _float_input(a), _float_input(b)


def atan2(input: Tensor, other: Any) -> Tensor:
    """The angle of the point ``(other, input)``: gradients ``g b / (a^2 + b^2)`` and
    ``-g a / (a^2 + b^2)``."""
    a, b = _binary(input, other)
    return _Atan2.apply(a, b)


arctan2 = atan2


class _Atan2(ArrayFunction):
    node_name = "Atan2Backward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a, b)
        return np.arctan2(a, b)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, Any]:
        a, b = ctx.saved_tensors
        scale = div(1.0, add(mul(a, a), mul(b, b)))
        ga = sum_to_shape(mul(g, mul(b, scale)), a.shape) if ctx.needs_input_grad[0] else None
        gb = sum_to_shape(mul(g, mul(neg(a), scale)), b.shape) if ctx.needs_input_grad[1] else None
        return ga, gb


class _Hypot(ArrayFunction):
    node_name = "HypotBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        out = np.hypot(a, b)
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, Any]:
        a, b, out = ctx.saved_tensors
        ga = sum_to_shape(mul(g, div(a, out)), a.shape) if ctx.needs_input_grad[0] else None
        gb = sum_to_shape(mul(g, div(b, out)), b.shape) if ctx.needs_input_grad[1] else None
        return ga, gb


def hypot(input: Tensor, other: Any) -> Tensor:
    """``sqrt(a^2 + b^2)`` without overflow; gradients ``g a / out`` and ``g b / out``."""
    a, b = _binary(input, other)
    return _Hypot.apply(a, b)


class _LogAddExp(ArrayFunction):
    node_name = "LogaddexpBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a, b)
        return np.logaddexp(a, b)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, Any]:
        a, b = ctx.saved_tensors  # torch: g / (1 + exp(b - a)), g / (1 + exp(a - b))
        ga = gb = None
        if ctx.needs_input_grad[0]:
            ga = sum_to_shape(div(g, add(exp(sub(b, a)), 1.0)), a.shape)
        if ctx.needs_input_grad[1]:
            gb = sum_to_shape(div(g, add(exp(sub(a, b)), 1.0)), b.shape)
        return ga, gb


def logaddexp(input: Tensor, other: Any) -> Tensor:
    """``log(exp(a) + exp(b))`` computed stably; gradients ``g sigmoid(a - b)`` and
    ``g sigmoid(b - a)``."""
    a, b = _binary(input, other)
    return _LogAddExp.apply(a, b)


class _Xlogy(ArrayFunction):
    node_name = "XlogyBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a, b)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where(a == 0, 0, a * np.log(b)).astype(np.result_type(a, b), copy=False)
        return np.where(np.isnan(b), np.nan, out).astype(out.dtype, copy=False)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, Any]:
        a, b = ctx.saved_tensors
        ga = gb = None
        if ctx.needs_input_grad[0]:  # torch: xlogy(g, b).masked_fill((a == 0) & (b <= 0), 0)
            at_zero = Tensor._make((a._data == 0) & (b._data <= 0))
            ga = sum_to_shape(where(at_zero, 0.0, xlogy(g, b)), a.shape)
        if ctx.needs_input_grad[1]:  # torch: grad * self / other, in that order
            gb = sum_to_shape(div(mul(g, a), b), b.shape)
        return ga, gb


def xlogy(input: Any, other: Any) -> Tensor:
    """``x log y``, and 0 where ``x == 0`` (unless ``y`` is NaN); gradients ``xlogy(g, y)`` (0
    where ``x == 0`` and ``y <= 0``) and ``g x / y``, torch's formulas."""
    a, b = _binary(input, other)
    return _Xlogy.apply(a, b)


class _LogAddExp2(ArrayFunction):
    node_name = "Logaddexp2Backward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a, b)
        return np.logaddexp2(a, b)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, Any]:
        a, b = ctx.saved_tensors  # torch: g / (1 + 2^(b - a)), g / (1 + 2^(a - b))
        ga = gb = None
        if ctx.needs_input_grad[0]:
            ga = sum_to_shape(div(g, add(exp2(sub(b, a)), 1.0)), a.shape)
        if ctx.needs_input_grad[1]:
            gb = sum_to_shape(div(g, add(exp2(sub(a, b)), 1.0)), b.shape)
        return ga, gb


def logaddexp2(input: Tensor, other: Any) -> Tensor:
    """``log2(2^a + 2^b)``; gradients ``g / (1 + 2^(b - a))`` and ``g / (1 + 2^(a - b))``."""
    a, b = _binary(input, other)
    return _LogAddExp2.apply(a, b)


class _Copysign(ArrayFunction):
    node_name = "CopysignBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        out = np.copysign(a, b)
        ctx.save_for_backward(a, out)
        ctx.other_shape = np.shape(b)
        return out

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, Any]:
        a, out = ctx.saved_tensors  # torch: g * out / a, and 0 where a == 0
        ga = gb = None
        if ctx.needs_input_grad[0]:
            ratio = where(a == 0, 0.0, div(out, where(a == 0, 1.0, a)))
            ga = sum_to_shape(mul(g, ratio), a.shape)
        if ctx.needs_input_grad[1]:
            gb = sum_to_shape(mul(g, 0.0), ctx.other_shape)
        return ga, gb


def copysign(input: Tensor, other: Any) -> Tensor:
    """``|a|`` with the sign of ``b``; gradient ``g sign(a) sign(b)`` (0 at ``a == 0``), none
    for ``b``."""
    a, b = _binary(input, other)
    return _Copysign.apply(a, b)


class _Fmod(ArrayFunction):
    node_name = "FmodBackward1"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a if ctx.needs_input_grad[1] else None, b)
        if a.dtype.kind != "f" and (np.asarray(b) == 0).any():
            raise RuntimeError("ZeroDivisionError")
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.fmod(a, b)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, Any]:
        a, b = ctx.saved_tensors
        ga = sum_to_shape(g, ctx.next_edges[0][2]) if ctx.needs_input_grad[0] else None
        gb = None
        if ctx.needs_input_grad[1]:  # d/db (a - b trunc(a/b)) = -trunc(a/b)
            gb = sum_to_shape(mul(neg(g), div(a, b, rounding_mode="trunc")), b.shape)
        return ga, gb


class _FmodScalar(_Fmod):
    node_name = "FmodBackward0"


def fmod(input: Tensor, other: Any) -> Tensor:
    """C's remainder ``a - b trunc(a / b)`` (the sign of the dividend); gradients ``g`` and
    ``-g trunc(a / b)``."""
    _, (a, b) = promote(input, other)
    return (_Fmod if isinstance(other, Tensor) else _FmodScalar).apply(a, b)


def ldexp(input: Tensor, other: Tensor) -> Tensor:
    """``input * 2^other`` (torch computes it as that product)."""
    return mul(input, exp2(other))


_I0 = _unary("I0Backward0", _special("i0"), lambda x, y: _i1(x))
_I1 = _unary(
    "SpecialI1Backward0",
    _special("i1"),
    lambda x, y: where(x == 0, 0.5, sub(i0(x), div(y, where(x == 0, 1.0, x)))),
)


def i0(input: Tensor) -> Tensor:
    """The modified Bessel function of the first kind, order 0; gradient ``g i1(x)``."""
    return _I0.apply(_float_input(input))


def _i1(input: Tensor) -> Tensor:
    return _I1.apply(input)


class _Angle(ArrayFunction):
    node_name = "AngleBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray) -> np.ndarray:
        return np.where(a < 0, np.pi, np.where(np.isnan(a), np.nan, 0)).astype(a.dtype)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        return mul(g, 0.0)


def angle(input: Tensor) -> Tensor:
    """The argument of a real number: 0 for ``x >= 0``, pi for ``x < 0`` (gradient zero)."""
    return _Angle.apply(_float_input(input))


def real(input: Tensor) -> Tensor:
    """The real part: a real tensor itself."""
    return input


def _flag(fn: Callable[[np.ndarray], np.ndarray]) -> Callable[[Tensor], Tensor]:
    def flag(input: Tensor) -> Tensor:
        return Tensor._make(np.asarray(fn(input._data)))

    return flag


isposinf = _flag(np.isposinf)
isposinf.__name__ = isposinf.__qualname__ = "isposinf"
isposinf.__doc__ = "True where the input is +inf."
isneginf = _flag(np.isneginf)
isneginf.__name__ = isneginf.__qualname__ = "isneginf"
isneginf.__doc__ = "True where the input is -inf."


def isreal(input: Tensor) -> Tensor:
    """All True for a real tensor."""
    return Tensor._make(np.ones(input._data.shape, np.bool_))


def nextafter(input: Tensor, other: Any) -> Tensor:
    """The next representable float after ``input`` toward ``other`` (not differentiable)."""
    _, (a, b) = promote(input, other)
    return Tensor._make(np.nextafter(getattr(a, "_data", a), getattr(b, "_data", b)))


def _shift(fn: np.ufunc, input: Tensor, other: Any) -> Tensor:
    _, (a, b) = promote(input, other)
    return Tensor._make(np.asarray(fn(getattr(a, "_data", a), getattr(b, "_data", b))))


def bitwise_left_shift(input: Tensor, other: Any) -> Tensor:
    """``input << other`` for integer tensors."""
    return _shift(np.left_shift, input, other)


def bitwise_right_shift(input: Tensor, other: Any) -> Tensor:
    """``input >> other`` for integer tensors (arithmetic shift)."""
    return _shift(np.right_shift, input, other)


def sinc(input: Tensor) -> Tensor:
    """Normalised sinc ``sin(pi x) / (pi x)``, 1 at 0 (composite: its gradient is autograd's)."""
    input = _float_input(input)
    scaled = mul(input, math.pi)
    safe = where(input == 0, 1.0, scaled)
    return where(input == 0, 1.0, div(sin(safe), safe))


def lerp(input: Tensor, end: Tensor, weight: Any) -> Tensor:
    """``input + weight (end - input)``."""
    return add(input, mul(weight, sub(end, input)))


def addcmul(input: Tensor, tensor1: Tensor, tensor2: Tensor, *, value: Any = 1) -> Tensor:
    """``input + value tensor1 tensor2``."""
    return add(input, mul(tensor1, tensor2), alpha=value)


def addcdiv(input: Tensor, tensor1: Tensor, tensor2: Tensor, *, value: Any = 1) -> Tensor:
    """``input + value tensor1 / tensor2``."""
    return add(input, div(tensor1, tensor2), alpha=value)


def nan_to_num(
    input: Tensor, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None
) -> Tensor:
    """NaN, +inf and -inf replaced by ``nan``, ``posinf`` and ``neginf`` (the dtype's largest and
    lowest by default); gradient ``g`` where the input was finite, 0 elsewhere."""
    data = input._data
    if data.dtype.kind != "f":
        return input.clone()
    info = np.finfo(data.dtype)
    hi = info.max if posinf is None else posinf
    lo = info.min if neginf is None else neginf
    out = where(Tensor._make(np.isnan(data)), nan, input)
    out = where(Tensor._make(np.isposinf(data)), hi, out)
    return where(Tensor._make(np.isneginf(data)), lo, out)


def positive(input: Tensor) -> Tensor:
    """The input itself (``+x``)."""
    return input


def signbit(input: Tensor) -> Tensor:
    """Whether the sign bit is set (True for -0.0)."""
    return Tensor._make(np.signbit(input._data))


def fix(input: Tensor) -> Tensor:
    """Round toward zero (an alias of trunc)."""
    from lossgrad.ops.pointwise import trunc

    return trunc(input)


arcsin, arccos, arctan = asin, acos, atan
arcsinh, arccosh, arctanh = asinh, acosh, atanh

__all__ = [
    "acos",
    "angle",
    "bitwise_left_shift",
    "bitwise_right_shift",
    "copysign",
    "fmod",
    "i0",
    "isneginf",
    "isposinf",
    "isreal",
    "ldexp",
    "logaddexp2",
    "nextafter",
    "real",
    "acosh",
    "addcdiv",
    "addcmul",
    "arccos",
    "arccosh",
    "arcsin",
    "arcsinh",
    "arctan",
    "arctan2",
    "arctanh",
    "asin",
    "asinh",
    "atan",
    "atan2",
    "atanh",
    "cosh",
    "deg2rad",
    "digamma",
    "erf",
    "erfc",
    "erfinv",
    "exp2",
    "fix",
    "frac",
    "hypot",
    "lerp",
    "lgamma",
    "log2",
    "log10",
    "logaddexp",
    "logit",
    "nan_to_num",
    "polygamma",
    "positive",
    "rad2deg",
    "signbit",
    "sinc",
    "sinh",
    "tan",
    "xlogy",
]
