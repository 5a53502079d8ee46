"""Parity of matmul and friends with torch: 1-D, 2-D and broadcast batched operands."""

import numpy as np
import pytest
import torch

import lossgrad
from lossgrad.autograd import gradcheck, gradgradcheck
from parity import check, check_raises

rng = np.random.default_rng(4)


def rand(*shape, dtype=np.float64):
    return np.asarray(rng.standard_normal(shape), dtype=dtype)


MATMUL_SHAPES = [
    ((3,), (3,)),
    ((2, 3), (3,)),
    ((3,), (3, 4)),
    ((2, 3), (3, 4)),
    ((5, 2, 3), (3, 4)),
    ((2, 3), (5, 3, 4)),
    ((5, 2, 3), (5, 3, 4)),
    ((1, 2, 3), (5, 3, 4)),
    ((6, 1, 2, 3), (5, 3, 4)),
    ((3,), (5, 3, 4)),
    ((5, 2, 3), (3,)),
    ((2, 0), (0, 3)),
]


@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES, ids=str)
def test_matmul_float64(sa, sb):
    check(lambda lib, a, b: (a @ b).tanh(), [rand(*sa), rand(*sb)], grad=(0, 1))
    check(lambda lib, a, b: lib.matmul(a, b) ** 2, [rand(*sa), rand(*sb)], grad=(0, 1))


@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES[:7], ids=str)
def test_matmul_float32(sa, sb):
    check(
        lambda lib, a, b: (a @ b) ** 2,
        [rand(*sa, dtype=np.float32), rand(*sb, dtype=np.float32)],
        grad=(0, 1),
    )


def test_named_products():
    check(lambda lib, a, b: lib.mm(a, b) ** 2, [rand(2, 3), rand(3, 4)], grad=(0, 1))
    check(lambda lib, a, b: a.mm(b) ** 2, [rand(2, 3), rand(3, 4)], grad=(0, 1))
    check(lambda lib, a, b: lib.bmm(a, b) ** 2, [rand(5, 2, 3), rand(5, 3, 4)], grad=(0, 1))
    check(lambda lib, a, b: lib.dot(a, b) ** 2, [rand(3), rand(3)], grad=(0, 1))
    check(lambda lib, a, b: a.dot(b) ** 2, [rand(3), rand(3)], grad=(0, 1))
    check(lambda lib, a, b: lib.outer(a, b) ** 2, [rand(3), rand(4)], grad=(0, 1))
    check(lambda lib, a, b: a.outer(b) ** 2, [rand(3), rand(4)], grad=(0, 1))


def test_reflected_matmul_and_integer_operands():
    check(lambda lib, a, b: a.__rmatmul__(b) ** 2, [rand(3, 4), rand(2, 3)], grad=(0, 1))
    i = rng.integers(-3, 3, (2, 3))
    check(lambda lib, a, b: a @ b, [i, rng.integers(-3, 3, (3, 2))], grad=())


@pytest.mark.parametrize(
    "fn,args",
    [
        (lambda lib, a, b: a @ b, [(2, 3), (4, 5)]),
        (lambda lib, a, b: a @ b, [(3,), (4,)]),
        (lambda lib, a, b: a @ b, [(), (3,)]),
        (lambda lib, a, b: a @ b, [(5, 2, 3), (4, 3, 4)]),
        (lambda lib, a, b: lib.mm(a, b), [(2, 3), (3,)]),
        (lambda lib, a, b: lib.mm(a, b), [(2, 3), (4, 2)]),
        (lambda lib, a, b: lib.bmm(a, b), [(2, 3), (3, 2)]),
        (lambda lib, a, b: lib.bmm(a, b), [(2, 2, 3), (3, 3, 2)]),
        (lambda lib, a, b: lib.dot(a, b), [(3,), (4,)]),
        (lambda lib, a, b: lib.dot(a, b), [(3, 1), (3,)]),
    ],
)
def test_shape_errors_are_runtime_errors(fn, args):
    err = check_raises(fn, [rand(*s) for s in args])
    assert isinstance(err, RuntimeError)


def test_dtype_mismatch_raises_like_torch():
    check_raises(lambda lib, a, b: a @ b, [rand(2, 3), rand(3, 2, dtype=np.float32)])
    check_raises(lambda lib, a, b: a @ b, [rand(2, 3), rng.integers(0, 3, (3, 2))])
    check_raises(lambda lib, a, b: lib.mm(a, b), [rand(2, 3, dtype=np.float32), rand(3, 2)])


def test_grad_fn_names():
    a = lossgrad.tensor(rand(5, 2, 3), requires_grad=True)
    ta = torch.tensor(a.detach().numpy(), requires_grad=True)

    def lib(t):
        return torch if isinstance(t, torch.Tensor) else lossgrad

    for fn in (
        lambda t: t[0] @ t[0].T,
        lambda t: t[0] @ t[0, 0],
        lambda t: t[0, 0] @ t[0, 0],
        lambda t: lib(t).bmm(t, t.mT),
        lambda t: t[0].mm(t[0].t()),
    ):
        assert fn(a).grad_fn.name() == fn(ta).grad_fn.name(), fn(ta).grad_fn.name()


def test_gradcheck():
    pairs = [((3,), (3, 4)), ((2, 3), (3,)), ((2, 2, 3), (3, 2)), ((3,), (3,))]
    for sa, sb in pairs:
        a = lossgrad.tensor(rand(*sa), requires_grad=True)
        b = lossgrad.tensor(rand(*sb), requires_grad=True)
        assert gradcheck(lambda x, y: (x @ y) ** 2, (a, b))
        assert gradgradcheck(lambda x, y: (x @ y) ** 2, (a, b))
