"""Parity of the elementwise ops with torch: values, dtypes, first and second gradients."""

import warnings

import numpy as np
import pytest
import torch

import lossgrad
from lossgrad.autograd import gradcheck, gradgradcheck
from parity import check, check_raises

rng = np.random.default_rng(0)


def rand(*shape, low=-2.0, high=2.0, dtype=np.float64):
    return np.asarray(rng.uniform(low, high, shape), dtype=dtype)


def away(*shape, gap=0.2, dtype=np.float64):
    """Random values with |x| >= gap (off the kink of abs, sign, relu, ...)."""
    x = rng.uniform(gap, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
    return np.asarray(x, dtype=dtype)


# -- binary arithmetic with broadcasting ---------------------------------------------------------

BROADCAST = [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((), (2, 3)), ((5,), ())]

BINARY = {
    "add": lambda lib, a, b: lib.add(a, b),
    "add_alpha": lambda lib, a, b: lib.add(a, b, alpha=2.5),
    "sub": lambda lib, a, b: a - b,
    "sub_alpha": lambda lib, a, b: lib.sub(a, b, alpha=-1.5),
    "mul": lambda lib, a, b: a * b,
    "div": lambda lib, a, b: a / b,
    "pow": lambda lib, a, b: a.abs() ** b,
    "maximum": lambda lib, a, b: lib.maximum(a, b),
    "minimum": lambda lib, a, b: lib.minimum(a, b),
    "max_binary": lambda lib, a, b: lib.max(a, b),
    "min_binary": lambda lib, a, b: a.min(b),
    "where": lambda lib, a, b: lib.where(a > 0.3, a, b),
    "atan2ish": lambda lib, a, b: (a * b).exp() / (1 + b * b),
}


@pytest.mark.parametrize("sa,sb", BROADCAST)
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_float64(name, sa, sb):
    a, b = away(*sa), away(*sb)
    check(BINARY[name], [a, b], grad=(0, 1))


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "pow", "maximum", "where"])
def test_binary_float32(name):
    check(BINARY[name], [away(3, 4, dtype=np.float32), away(4, dtype=np.float32)], grad=(0, 1))


REFLECTED = {
    "radd": lambda lib, a: 2.5 + a,
    "rsub": lambda lib, a: 2.5 - a,
    "rmul": lambda lib, a: 3 * a,
    "rdiv": lambda lib, a: 1.5 / a,
    "rpow": lambda lib, a: 2.0**a,
    "rpow_int": lambda lib, a: 3**a,
    "pow_scalar": lambda lib, a: a**3,
    "pow_half": lambda lib, a: a.abs() ** 0.5,
    "pow_neg": lambda lib, a: a**-2,
    "pow_zero": lambda lib, a: a**0,
    "pow_one": lambda lib, a: a.pow(1),
    "pow_two": lambda lib, a: lib.pow(a, 2),
    "pow_float_int": lambda lib, a: a**2.0,
    "torch_pow_scalar_base": lambda lib, a: lib.pow(2.5, a),
    "neg": lambda lib, a: -a,
    "pos": lambda lib, a: +a,
    "rsub_fn": lambda lib, a: lib.rsub(a, 2.0),
    "sub_scalar": lambda lib, a: a - 1,
    "div_scalar": lambda lib, a: a / 4,
    "square": lambda lib, a: lib.square(a),
    "reciprocal": lambda lib, a: lib.reciprocal(a),
    "remainder": lambda lib, a: lib.remainder(a, 0.7),
    "mod": lambda lib, a: a % 0.7,
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(REFLECTED))
def test_scalar_operand(name, dtype):
    check(REFLECTED[name], [away(3, 4, dtype=dtype)])


# -- unary math ------------------------------------------------------------------------------------

UNARY = {
    "neg": (lambda lib, a: lib.neg(a), "any"),
    "abs": (lambda lib, a: lib.abs(a), "away"),
    "sign": (lambda lib, a: lib.sign(a) * a, "away"),
    "sgn": (lambda lib, a: a.sgn() + a, "away"),
    "exp": (lambda lib, a: lib.exp(a), "any"),
    "log": (lambda lib, a: lib.log(a), "pos"),
    "log1p": (lambda lib, a: lib.log1p(a), "pos"),
    "expm1": (lambda lib, a: lib.expm1(a), "any"),
    "sqrt": (lambda lib, a: lib.sqrt(a), "pos"),
    "rsqrt": (lambda lib, a: lib.rsqrt(a), "pos"),
    "sin": (lambda lib, a: lib.sin(a), "any"),
    "cos": (lambda lib, a: lib.cos(a), "any"),
    "tanh": (lambda lib, a: lib.tanh(a), "any"),
    "sigmoid": (lambda lib, a: lib.sigmoid(a), "any"),
    "relu": (lambda lib, a: lib.relu(a), "away"),
    "relu_method": (lambda lib, a: a.relu(), "away"),
    "softplus": (lambda lib, a: lib.nn.functional.softplus(a), "any"),
    "softplus_beta": (
        lambda lib, a: lib.nn.functional.softplus(a * 8, beta=2.0, threshold=5.0),
        "away",
    ),
    "logsigmoid": (lambda lib, a: lib.nn.functional.logsigmoid(a), "any"),
    "relu_inplace": (lambda lib, a: lib.nn.functional.relu(a * 1.0, inplace=True), "away"),
    "leaky_relu": (lambda lib, a: lib.nn.functional.leaky_relu(a, 0.2), "away"),
    "leaky_relu_inplace": (
        lambda lib, a: lib.nn.functional.leaky_relu(a * 1.0, inplace=True),
        "away",
    ),
    "clamp": (lambda lib, a: lib.clamp(a, -0.5, 0.7), "clampsafe"),
    "clamp_min": (lambda lib, a: a.clamp(min=-0.5), "clampsafe"),
    "clamp_max": (lambda lib, a: a.clamp(max=0.7), "clampsafe"),
    "clamp_min_fn": (lambda lib, a: lib.clamp_min(a, 0.3), "clampsafe"),
    "clamp_max_fn": (lambda lib, a: a.clamp_max(0.3), "clampsafe"),
    "clip": (lambda lib, a: a.clip(-0.5, 0.7), "clampsafe"),
    "floor": (lambda lib, a: lib.floor(a) + a, "any"),
    "ceil": (lambda lib, a: a.ceil() * a, "any"),
    "round": (lambda lib, a: lib.round(a) + a, "any"),
    "trunc": (lambda lib, a: a.trunc() + a, "any"),
}


def _domain(kind, shape, dtype):
    if kind == "pos":
        return rand(*shape, low=0.2, high=3.0, dtype=dtype)
    if kind == "away":
        return away(*shape, dtype=dtype)
    if kind == "clampsafe":  # stays off the clamp boundaries
        x = rand(*shape, dtype=dtype)
        for b in (-0.5, 0.7, 0.3):
            x = np.where(np.abs(x - b) < 0.05, x + 0.1, x).astype(dtype)
        return x
    return rand(*shape, dtype=dtype)


@pytest.mark.parametrize("shape", [(3, 4), ()])
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_float64(name, shape):
    fn, kind = UNARY[name]
    check(fn, [_domain(kind, shape, np.float64)])


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_float32(name):
    fn, kind = UNARY[name]
    check(fn, [_domain(kind, (2, 5), np.float32)])


@pytest.mark.parametrize("name", ["exp", "log", "sqrt", "sin", "tanh", "sigmoid", "abs", "neg"])
def test_unary_on_integer_input(name):
    """Integer tensors go to the default float for float-valued functions (abs/neg stay int)."""
    fn, _ = UNARY[name]
    check(fn, [np.array([[1, 2], [3, 4]], np.int64)], grad=())


def test_unary_large_values_are_stable():
    x = np.array([-1e4, -50.0, -1.0, 0.0, 1.0, 50.0, 1e4])
    for fn in (
        lambda lib, a: lib.sigmoid(a),
        lambda lib, a: lib.nn.functional.softplus(a),
        lambda lib, a: lib.nn.functional.logsigmoid(a),
        lambda lib, a: lib.tanh(a),
        lambda lib, a: lib.exp(a),
    ):
        check(fn, [x])
        check(fn, [x.astype(np.float32)])


# -- tensor bounds in clamp, kinks and ties --------------------------------------------------------


def test_clamp_tensor_bounds():
    x, lo, hi = rand(3, 4), rand(4, low=-1.0, high=-0.1), rand(3, 1, low=0.1, high=1.0)
    check(lambda lib, a, l, h: lib.clamp(a, l, h), [x, lo, hi], grad=(0, 1, 2))
    check(lambda lib, a, l: a.clamp(min=l), [x, lo], grad=(0, 1))
    check(lambda lib, a, h: lib.clamp(a, max=h), [x, hi], grad=(0, 1))


def test_clamp_gradient_at_boundary_passes():
    x = np.array([-1.0, -0.5, 0.0, 0.7, 1.0])
    check(lambda lib, a: a.clamp(-0.5, 0.7), [x])
    check(lambda lib, a: a.clamp(min=0.0), [x])
    lo, hi = np.array([-0.5, -0.5, 0.0, 0.0, 0.0]), np.array([0.7, 0.7, 0.7, 0.7, 1.0])
    check(lambda lib, a, l, h: lib.clamp(a, l, h), [x, lo, hi], grad=(0, 1, 2))


def test_clamp_min_above_max_gives_max():
    check(lambda lib, a: a.clamp(0.5, -0.5), [rand(6)])


def test_clamp_needs_a_bound():
    check_raises(lambda lib, a: lib.clamp(a), [rand(3)])


def test_abs_and_sign_gradient_at_zero():
    x = np.array([-1.0, 0.0, 2.0, 0.0])
    check(lambda lib, a: a.abs(), [x])
    check(lambda lib, a: a.sign(), [x])
    check(lambda lib, a: lib.relu(a), [x])
    check(lambda lib, a: a.sqrt(), [np.array([0.0, 1.0, 4.0])])


def test_maximum_minimum_split_ties_in_half():
    a = np.array([[1.0, 2.0, 3.0], [0.5, 0.5, -1.0]])
    b = np.array([1.0, 5.0, 3.0])
    check(lambda lib, x, y: lib.maximum(x, y), [a, b], grad=(0, 1))
    check(lambda lib, x, y: lib.minimum(x, y), [a, b], grad=(0, 1))
    check(lambda lib, x, y: lib.max(x, y), [a, b], grad=(0, 1))


def test_pow_zero_base_and_exponent():
    a = np.array([0.0, 0.0, 1.5, 2.0])
    b = np.array([0.0, 2.0, 0.0, -1.0])
    check(lambda lib, x, y: x**y, [a, b], grad=(0, 1))
    check(lambda lib, x: x**2, [a])
    check(lambda lib, x: x**0.0, [a])
    check(lambda lib, x: x**1.5, [a])


def test_division_by_zero():
    check(
        lambda lib, x, y: x / y,
        [np.array([1.0, -1.0, 0.0]), np.array([0.0, 0.0, 0.0])],
        grad=(0, 1),
    )
    check(lambda lib, x: 1.0 / x, [np.array([0.0, 2.0])])


def test_log_of_zero_and_negative():
    check(lambda lib, x: x.log(), [np.array([0.0, -1.0, 1.0])])
    check(lambda lib, x: x.sqrt(), [np.array([-1.0, 1.0])])


def test_where_forms():
    c = rng.random((3, 4)) > 0.5
    x, y = rand(3, 4), rand(4)
    check(lambda lib, cond, a, b: lib.where(cond, a, b), [c, x, y], grad=(1, 2))
    check(lambda lib, cond, a: lib.where(cond, a, 0.0), [c, x], grad=(1,))
    check(lambda lib, cond, a: lib.where(cond, 1.5, a), [c, x], grad=(1,))
    check(lambda lib, cond, a: a.where(cond, -a), [c, x], grad=(1,))
    check(lambda lib, cond, a: lib.where(cond, a.float(), 2), [c, x], grad=(1,))
    out = check(lambda lib, cond: lib.where(cond), [c], grad=())
    assert isinstance(out, tuple)


def test_where_condition_must_be_bool():
    check_raises(lambda lib, c, a: lib.where(c, a, a), [np.array([1.0, 0.0]), rand(2)])
    check(lambda lib, c, a: lib.where(c, a, -a), [np.array([1, 0], np.uint8), rand(2)], grad=(1,))


# -- dtype promotion -------------------------------------------------------------------------------

I64 = np.array([[1, -2, 3], [4, 5, -6]], np.int64)
I32 = np.array([[1, -2, 3], [4, 5, -6]], np.int32)
F32 = rand(2, 3, dtype=np.float32)
F64 = rand(2, 3)
B = np.array([[True, False, True], [False, False, True]])

PROMOTION = {
    "int_plus_float_scalar": (lambda lib, i: i + 1.5, [I64]),
    "int_times_int_scalar": (lambda lib, i: i * 3, [I64]),
    "int_div_int": (lambda lib, i: i / 2, [I64]),
    "int_div_tensor": (lambda lib, i, j: i / j, [I64, I32]),
    "int_floordiv": (lambda lib, i: i // 4, [I64]),
    "int_floordiv_neg": (lambda lib, i: lib.div(i, -4, rounding_mode="floor"), [I64]),
    "int_trunc": (lambda lib, i: lib.div(i, 4, rounding_mode="trunc"), [I64]),
    "float_floordiv": (lambda lib, f: f // 0.3, [F64]),
    "float_trunc": (lambda lib, f: lib.div(f, -0.3, rounding_mode="trunc"), [F32]),
    "int_mod": (lambda lib, i: i % 4, [I64]),
    "int_mod_neg": (lambda lib, i: lib.remainder(i, -4), [I64]),
    "int64_times_float32": (lambda lib, i, f: i * f, [I64, F32]),
    "int32_plus_int64": (lambda lib, i, j: i + j, [I32, I64]),
    "float32_times_0d_float64": (lambda lib, f, d: f * d, [F32, np.array(2.5)]),
    "0d_float64_times_float32": (lambda lib, d, f: d * f, [np.array(2.5), F32]),
    "float32_times_float64": (lambda lib, f, d: f * d, [F32, F64]),
    "0d_int_times_float32": (lambda lib, i, f: i * f, [np.array(3), F32]),
    "int_times_0d_float64": (lambda lib, i, d: i * d, [I64, np.array(2.5)]),
    "float32_plus_py_float": (lambda lib, f: f + 1e-3, [F32]),
    "bool_plus_bool": (lambda lib, b: b + b, [B]),
    "bool_times_int": (lambda lib, b: b * 3, [B]),
    "bool_plus_float": (lambda lib, b: b + 0.5, [B]),
    "bool_times_float_tensor": (lambda lib, b, f: b * f, [B, F32]),
    "bool_plus_int_tensor": (lambda lib, b, i: b + i, [B, I32]),
    "bool_div": (lambda lib, b: b / 2, [B]),
    "int_pow_int": (lambda lib, i: i**2, [I64]),
    "int_pow_float": (lambda lib, i: i.abs() ** 0.5, [I64]),
    "float_scalar_pow_int": (lambda lib, i: 2.0**i, [I64]),
    "int_scalar_pow_int": (lambda lib, i: 2 ** i.abs(), [I64]),
    "int_maximum_float": (lambda lib, i, f: lib.maximum(i, f), [I64, F32]),
    "int_where_float": (lambda lib, b, i, f: lib.where(b, i, f), [B, I64, F32]),
    "int_where_scalar": (lambda lib, b, i: lib.where(b, i, 2.5), [B, I64]),
    "clamp_int_float_bound": (lambda lib, i: i.clamp(0.5, 3), [I64]),
    "clamp_int_int_bound": (lambda lib, i: i.clamp(0, 3), [I64]),
    "clamp_f32_f64_tensor_bound": (lambda lib, f, d: f.clamp(min=d), [F32, F64]),
    "compare_int_float": (lambda lib, i: i > 0.5, [I64]),
    "compare_mixed": (lambda lib, i, f: i <= f, [I64, F32]),
    "eq_bool_int": (lambda lib, b, i: b == i, [B, I64]),
    "neg_int": (lambda lib, i: -i, [I64]),
    "abs_int": (lambda lib, i: i.abs(), [I32]),
    "sign_int": (lambda lib, i: i.sign(), [I64]),
    "sign_bool": (lambda lib, b: b.sign(), [B]),
    "sum_int": (lambda lib, i: i.sum(), [I32]),
    "sum_bool": (lambda lib, b: b.sum(1), [B]),
    "logical": (lambda lib, b, i: lib.logical_and(b, i) | lib.logical_not(i), [B, I64]),
    "logical_xor_or": (lambda lib, b, f: lib.logical_xor(b, f) ^ lib.logical_or(f, b), [B, F32]),
    "bitwise_int": (lambda lib, i, j: (i & j) | (i ^ j), [I64, I32]),
    "invert_bool": (lambda lib, b: ~b, [B]),
    "invert_int": (lambda lib, i: ~i, [I64]),
    "isnan": (
        lambda lib, f: (lib.isnan(f), lib.isinf(f), lib.isfinite(f)),
        [np.array([1.0, np.nan, np.inf, -np.inf])],
    ),
    "isnan_int": (lambda lib, i: (i.isnan(), i.isinf(), i.isfinite()), [I64]),
}


@pytest.mark.parametrize("name", sorted(PROMOTION))
def test_promotion(name):
    fn, args = PROMOTION[name]
    check(fn, args, grad=())


def test_promotion_gradients_are_cast_back():
    check(lambda lib, f, d: f * d, [F32, np.array(2.5)], grad=(0, 1))
    check(lambda lib, f, d: f + d, [F32, F64], grad=(0, 1))
    check(lambda lib, f, d: lib.where(f > 0, f, d), [F32, F64], grad=(0, 1))


def test_bool_subtraction_raises():
    check_raises(lambda lib, b: b - b, [B])
    check_raises(lambda lib, f: ~f, [F32])
    check_raises(lambda lib, f: f & f, [F32])


def test_shape_mismatch_raises_runtime_error():
    for fn in (
        lambda lib, a, b: a + b,
        lambda lib, a, b: a * b,
        lambda lib, a, b: lib.maximum(a, b),
        lambda lib, a, b: lib.where(a > 0, a, b),
        lambda lib, a, b: a > b,
    ):
        check_raises(fn, [rand(3, 4), rand(3)])


def test_comparisons_and_equal():
    a = np.array([1.0, 2.0, np.nan, 3.0])
    b = np.array([1.0, 3.0, np.nan, 2.0])
    fns = [
        lambda lib, x, y: (x == y, x != y, x < y, x <= y, x > y, x >= y),
        lambda lib, x, y: (
            lib.eq(x, y),
            lib.ne(x, 1.0),
            lib.lt(x, y),
            lib.le(x, y),
            lib.gt(x, y),
            lib.ge(x, 2),
        ),
        lambda lib, x, y: (lib.isclose(x, y), lib.isclose(x, y, equal_nan=True)),
        lambda lib, x, y: x.eq(y) & x.greater(0),
    ]
    for fn in fns:
        check(fn, [a, b], grad=())
    assert lossgrad.equal(lossgrad.tensor([1.0, 2.0]), lossgrad.tensor([1.0, 2.0])) is True
    assert lossgrad.equal(lossgrad.tensor([1.0, 2.0]), lossgrad.tensor([1.0])) is False


def test_comparisons_have_no_gradient():
    x = lossgrad.tensor([1.0, 2.0], requires_grad=True)
    for out in (x > 1, x == x, lossgrad.isnan(x), lossgrad.isfinite(x), x.argmax()):
        assert not out.requires_grad and out.grad_fn is None
    tx = torch.tensor([1.0, 2.0], requires_grad=True)
    for out in (tx > 1, tx == tx, torch.isnan(tx)):
        assert not out.requires_grad


def test_grad_fn_names():
    x = lossgrad.tensor([1.0, 2.0], requires_grad=True)
    tx = torch.tensor([1.0, 2.0], requires_grad=True)
    for fn in (
        lambda t: t + t,
        lambda t: t * 2,
        lambda t: t - 1,
        lambda t: t / t,
        lambda t: t.exp(),
        lambda t: t**2,
        lambda t: 2**t,
        lambda t: t.abs(),
        lambda t: t.clamp(0, 1),
        lambda t: t.tanh(),
        lambda t: t.sigmoid(),
        lambda t: t.log(),
        lambda t: -t,
        lambda t: t.sqrt(),
        lambda t: t.rsqrt(),
        lambda t: t.sin(),
        lambda t: t.cos(),
        lambda t: t.sign(),
        lambda t: t.sgn(),
        lambda t: t.floor(),
        lambda t: t.round(),
        lambda t: t.round(decimals=1),
        lambda t: t.ceil(),
        lambda t: t.trunc(),
        lambda t: t.relu(),
        lambda t: torch.maximum(t, t) if isinstance(t, torch.Tensor) else lossgrad.maximum(t, t),
        lambda t: t.clamp(max=t),
    ):
        assert fn(x).grad_fn.name() == fn(tx).grad_fn.name()


# -- gradcheck -------------------------------------------------------------------------------------

GRADCHECK = [
    lambda a, b: a * b + a / (b * b + 1),
    lambda a, b: lossgrad.maximum(a, b) - lossgrad.minimum(a, b) * a,
    lambda a, b: a.abs() ** b.sigmoid(),
    lambda a, b: lossgrad.where(a > 0, a.exp(), b.tanh()),
    lambda a, b: lossgrad.clamp(a, -0.5, 0.5) * b.sin() + a.cos() * b.expm1(),
    lambda a, b: (a * a + 1).log() + (b * b + 1).sqrt() + (a * a + 0.5).rsqrt() + b.abs().log1p(),
    lambda a, b: lossgrad.nn.functional.softplus(a) * lossgrad.nn.functional.logsigmoid(b),
    lambda a, b: lossgrad.relu(a) * b + a.clamp(min=b),
]


@pytest.mark.parametrize("k", range(len(GRADCHECK)))
def test_gradcheck(k):
    a = lossgrad.tensor(away(3, 4, gap=0.6), requires_grad=True)
    b = lossgrad.tensor(away(4, gap=0.1) + 3.0, requires_grad=True)
    assert gradcheck(GRADCHECK[k], (a, b))
    assert gradgradcheck(GRADCHECK[k], (a, b))


@pytest.mark.parametrize("number", [0.1, 1 / 3, 1e-3, 3.0, 3001, 1e5, -2.5e-8, 0.0])
def test_float16_times_and_over_a_python_number_round_once_as_torch(number):
    """torch computes a float16 tensor with a Python number in float32 (the number not rounded
    to float16 first): every finite float16, its value, gradient and node name; no warning
    (x / 0 is inf)."""
    half = np.arange(1 << 16, dtype=np.uint16).view(np.float16)
    half = half[np.isfinite(half)]
    upstream = np.full(half.shape, 0.7, np.float16)
    for op in (
        lambda t: t * number,
        lambda t: number * t,
        lambda t: t / number,
        lambda t: number / t,
        lambda t: t.mul(number).div(number),
    ):
        results = []
        for lib in (torch, lossgrad):
            x = lib.tensor(half, requires_grad=True)
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                y = op(x)
                (grad,) = lib.autograd.grad(y, x, lib.tensor(upstream), create_graph=True)
            results.append((y.detach().numpy(), grad.detach().numpy(), y.grad_fn.name()))
        (value, grad, name), (l_value, l_grad, l_name) = results
        np.testing.assert_array_equal(l_value, value)
        np.testing.assert_array_equal(l_grad, grad)
        assert l_name == name


@pytest.mark.parametrize("alpha", [0.1, 1 / 3, -0.7, 1e-5, 3001.3, 2])
def test_float16_add_sub_rsub_with_alpha_as_torch(alpha):
    """torch rounds ``alpha`` to float16 and makes ``a + alpha b`` in float32, rounded once:
    every finite float16 against a shuffled partner, values and gradients; an ``alpha`` that
    overflows float16 is torch's RuntimeError."""
    half = np.arange(1 << 16, dtype=np.uint16).view(np.float16)
    half = half[np.isfinite(half)]
    partner = np.roll(half, 7777)
    upstream = np.full(half.shape, 0.3, np.float16)
    for name in ("add", "sub", "rsub"):
        results = []
        for lib in (torch, lossgrad):
            x, y = lib.tensor(half, requires_grad=True), lib.tensor(partner, requires_grad=True)
            out = getattr(lib, name)(x, y, alpha=alpha)
            grads = lib.autograd.grad(out, [x, y], lib.tensor(upstream))
            results.append([out.detach().numpy(), *(g.numpy() for g in grads)])
        for l_array, t_array in zip(results[1], results[0]):
            np.testing.assert_array_equal(l_array, t_array)
    error = check_raises(lambda lib, x: x.add(x, alpha=1e5), [half[:2]])
    assert "c10::Half without overflow" in str(error)


def test_float16_in_place_arithmetic_with_a_number_as_torch():
    """The in-place quick path (``x *= 0.1``, ``x.div_(3001.3)``) rounds as torch's float32
    "opmath" too, and an overflow is inf with no NumPy warning."""
    half = np.arange(1 << 16, dtype=np.uint16).view(np.float16)
    half = half[np.isfinite(half)]
    for number in (0.1, 1 / 3, 3001.3):
        results = []
        for lib in (torch, lossgrad):
            x = lib.tensor(half.copy())
            x *= number
            x.div_(number / 7)
            x.add_(number)
            results.append(x.numpy())
        np.testing.assert_array_equal(results[1], results[0])
    x = lossgrad.tensor(np.ones(3, np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x *= 1e38
        x *= 1e38
    assert np.isinf(x.numpy()).all()
