"""Parity of the elementwise functions of ``ops/elementary.py`` and of grad_fn names with torch."""

import numpy as np
import pytest
import torch

import lossgrad
from parity import check, check_code

rng = np.random.default_rng(3)


def uniform(low, high, shape=(3, 4), dtype=np.float64):
    return np.asarray(rng.uniform(low, high, shape), dtype=dtype)


# name -> (function of (lib, x), input range)
UNARY = {
    "log10": (lambda lib, x: lib.log10(x), (0.2, 3.0)),
    "log2": (lambda lib, x: x.log2(), (0.2, 3.0)),
    "exp2": (lambda lib, x: x.exp2(), (-2.0, 2.0)),
    "tan": (lambda lib, x: lib.tan(x), (-1.2, 1.2)),
    "sinh": (lambda lib, x: x.sinh(), (-2.0, 2.0)),
    "cosh": (lambda lib, x: lib.cosh(x), (-2.0, 2.0)),
    "asin": (lambda lib, x: lib.asin(x), (-0.9, 0.9)),
    "acos": (lambda lib, x: x.acos(), (-0.9, 0.9)),
    "atan": (lambda lib, x: lib.atan(x), (-3.0, 3.0)),
    "arctan": (lambda lib, x: lib.arctan(x), (-3.0, 3.0)),
    "asinh": (lambda lib, x: x.asinh(), (-3.0, 3.0)),
    "acosh": (lambda lib, x: lib.acosh(x), (1.2, 3.0)),
    "atanh": (lambda lib, x: x.atanh(), (-0.9, 0.9)),
    "erf": (lambda lib, x: lib.erf(x), (-2.0, 2.0)),
    "erfc": (lambda lib, x: x.erfc(), (-2.0, 2.0)),
    "erfinv": (lambda lib, x: lib.erfinv(x), (-0.9, 0.9)),
    "lgamma": (lambda lib, x: x.lgamma(), (0.3, 4.0)),
    "digamma": (lambda lib, x: lib.digamma(x), (0.3, 4.0)),
    "polygamma": (lambda lib, x: lib.polygamma(1, x), (0.3, 4.0)),
    "deg2rad": (lambda lib, x: lib.deg2rad(x), (-180.0, 180.0)),
    "rad2deg": (lambda lib, x: x.rad2deg(), (-3.0, 3.0)),
    "frac": (lambda lib, x: x.frac(), (-3.1, 3.1)),
    "logit": (lambda lib, x: lib.logit(x), (0.05, 0.95)),
    "logit_eps": (lambda lib, x: lib.logit(x, eps=0.2), (0.05, 0.95)),
    "sinc": (lambda lib, x: lib.sinc(x), (0.1, 2.0)),
    "log1p": (lambda lib, x: x.log1p(), (-0.5, 2.0)),
    "expm1": (lambda lib, x: lib.expm1(x), (-2.0, 2.0)),
    "reciprocal": (lambda lib, x: x.reciprocal(), (0.3, 2.0)),
    "i0": (lambda lib, x: lib.i0(x), (-2.0, 2.0)),
    "angle": (lambda lib, x: lib.angle(x), (-2.0, 2.0)),
    "nan_to_num": (lambda lib, x: lib.nan_to_num(x / (x - x.detach())), (0.3, 2.0)),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_unary_matches_torch(name, dtype):
    fn, (low, high) = UNARY[name]
    second = name not in ("polygamma",)  # torch has no derivative of polygamma's n
    rtol = 2e-5 if dtype == np.float32 else 1e-10
    if name in ("digamma", "polygamma", "lgamma"):  # torch's float64 series are good to ~1e-9
        rtol = max(rtol, 1e-8)
    check(fn, [uniform(low, high, dtype=dtype)], rtol=rtol, atol=rtol, second_order=second)


BINARY = {
    "atan2": lambda lib, a, b: lib.atan2(a, b),
    "hypot": lambda lib, a, b: a.hypot(b),
    "logaddexp": lambda lib, a, b: lib.logaddexp(a, b),
    "xlogy": lambda lib, a, b: lib.xlogy(a, b.abs()),
    "lerp": lambda lib, a, b: lib.lerp(a, b, 0.3),
    "addcmul": lambda lib, a, b: lib.addcmul(a, a, b, value=0.5),
    "addcdiv": lambda lib, a, b: a.addcdiv(a, b, value=2),
    "remainder": lambda lib, a, b: lib.remainder(a, b),
    "fmod": lambda lib, a, b: lib.fmod(a * 3, b),
    "fmod_number": lambda lib, a, b: (a * b).fmod(0.7),
    "copysign": lambda lib, a, b: lib.copysign(a, b),
    "logaddexp2": lambda lib, a, b: lib.logaddexp2(a, b),
    "ldexp": lambda lib, a, b: lib.ldexp(a, b),
    "rsub_tensor": lambda lib, a, b: lib.rsub(a, b, alpha=2),
    "rsub_number": lambda lib, a, b: 4.2 - a * b,
    "rdiv_number": lambda lib, a, b: 1.5 / (a * b),
}


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_matches_torch(name):
    a = uniform(0.3, 2.0, (3, 4))
    b = uniform(0.3, 2.0, (4,)) * rng.choice([-1, 1], 4)
    check(BINARY[name], [a, b], grad=(0, 1))


def test_number_modulo_tensor_has_no_derivative():
    check_code("b = t.tensor([0.7, 1.5], requires_grad=True)\nout = 2.5 % b\nout.sum().backward()")


NO_GRAD = [
    "t.isposinf(t.tensor([1.0, float('inf'), -float('inf')]))",
    "t.isneginf(t.tensor([1.0, float('inf'), -float('inf')]))",
    "t.isreal(t.tensor([1.0, 2.0]))",
    "t.real(t.tensor([1.0, 2.0]))",
    "t.nextafter(t.tensor([1.0, 2.0]), t.tensor([2.0, 0.0]))",
    "t.bitwise_left_shift(t.tensor([1, 2, -3]), 2)",
    "t.bitwise_right_shift(t.tensor([8, -8]), t.tensor([1, 2]))",
    "t.fmod(t.tensor([5, -5]), 3)",
    "t.fmod(t.tensor([5, -5]), 0)",
    "t.copysign(t.tensor([0.0, 1.0]), t.tensor([-0.0, -1.0]))",
    "t.angle(t.tensor([-1.0, 0.0, float('nan')]))",
]


@pytest.mark.parametrize("code", NO_GRAD)
def test_values_and_errors_as_torch(code):
    check_code(f"out = {code}")


def test_i0_of_integers_as_torch():
    check_code("out = t.i0(t.tensor([0, 1]))", rtol=1e-6)  # torch's float32 i0(0) is 1 - 2^-24


def test_xlogy_zero_x_is_zero():
    x = lossgrad.tensor([0.0, 2.0])
    y = lossgrad.tensor([0.0, 3.0])
    assert (
        lossgrad.xlogy(x, y).tolist()
        == torch.xlogy(torch.tensor([0.0, 2.0]), torch.tensor([0.0, 3.0])).tolist()
    )


GRAD_FN = [
    "4.2 - b",
    "2 - b",
    "1 / b",
    "2.0 / b",
    "torch.rsub(b, 2)",
    "torch.rsub(b, b)",
    "b % 2",
    "b.reciprocal()",
    "b.clamp_min(0.)",
    "b.clamp_max(0.)",
    "b.clamp(0., 1.)",
    "b.log10()",
    "b.log2()",
    "b.exp2()",
    "b.sinh()",
    "b.atan()",
    "b.erf()",
    "b.lgamma()",
    "2 ** b",
    "b ** 2",
    "b - 2",
    "b / 2",
    "b * 2",
    "b + 2",
    "b.sub(b)",
    "torch.tensor(2.) - b",
    "b.max()",
    "b.atan2(b)",
    "b.hypot(b)",
    "b.logaddexp(b)",
    "b.xlogy(b)",
    "b.logit()",
]


@pytest.mark.parametrize("expr", GRAD_FN)
def test_grad_fn_name_matches_torch(expr):
    names = []
    for lib in (torch, lossgrad):
        b = lib.tensor([0.5, 1.5, 2.0], requires_grad=True)
        names.append(eval(expr, {"torch": lib, "b": b}).grad_fn.name())
    assert names[1] == names[0]
