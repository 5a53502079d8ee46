"""Parity with torch for pairwise_distance, cosine_similarity and their modules."""

import inspect
import re

import numpy as np
import pytest
import torch

import lossgrad
from lossgrad.autograd import gradcheck, gradgradcheck
from parity import check, check_raises, same_signature

DTYPES = [np.float32, np.float64]
P_VALUES = [2, 1, 3, 1.5, 0.5, 0, float("inf"), float("-inf"), -1, -0.5]
rng = np.random.default_rng(2)


def _torch_builtin_signature(fn) -> inspect.Signature:
    """torch's builtins have no inspect signature: parse the first line of their docstring."""
    first = fn.__doc__.strip().splitlines()[0]
    params = re.match(r"\w+\((.*)\)", first).group(1)
    out = []
    for item in params.split(", "):
        name, _, default = item.partition("=")
        out.append(
            inspect.Parameter(
                name,
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                default=eval(default) if default else inspect.Parameter.empty,
            )
        )
    return inspect.Signature(out)


@pytest.mark.parametrize("name", ["pairwise_distance", "cosine_similarity"])
def test_functional_signatures(name):
    lg = inspect.signature(getattr(lossgrad.nn.functional, name))
    th = _torch_builtin_signature(getattr(torch.nn.functional, name))
    assert [(p.name, p.default) for p in lg.parameters.values()] == [
        (p.name, p.default) for p in th.parameters.values()
    ]


@pytest.mark.parametrize("name", ["PairwiseDistance", "CosineSimilarity"])
def test_module_signatures(name):
    same_signature(getattr(lossgrad.nn, name), getattr(torch.nn, name))
    same_signature(getattr(lossgrad.nn, name).forward, getattr(torch.nn, name).forward)
    assert repr(getattr(lossgrad.nn, name)()) == repr(getattr(torch.nn, name)())


# -- pairwise_distance --------------------------------------------------------------------------


@pytest.mark.parametrize("p", P_VALUES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("second_order", [True, False])  # False: the array fast path (p=2)
def test_pairwise_distance_parity(p, dtype, keepdim, second_order):
    a, b = rng.standard_normal((5, 4)).astype(dtype), rng.standard_normal((5, 4)).astype(dtype)
    if p >= 0 or dtype == np.float64:  # (float32 second derivatives at |d| = eps cancel for p < 0)
        b[0, 1] = a[0, 1]  # one coordinate where only eps separates the points
    check(
        lambda lib, a, b: lib.nn.functional.pairwise_distance(a, b, p, keepdim=keepdim),
        [a, b],
        grad=(0, 1),
        second_order=second_order,
    )
    check(
        lambda lib, a, b: lib.nn.PairwiseDistance(p, eps=1e-3, keepdim=keepdim)(a, b),
        [a, b],
        grad=(0, 1),
        second_order=second_order,
    )


@pytest.mark.parametrize(
    "shapes",
    [
        ((4,), (4,)),
        ((), ()),
        ((4,), (3, 4)),
        ((2, 3, 4), (3, 4)),
        ((3, 1), (3, 4)),
        ((0, 4), (0, 4)),
        ((2, 0), (2, 0)),
    ],
)
@pytest.mark.parametrize("keepdim", [False, True])
def test_pairwise_distance_shapes(shapes, keepdim):
    s1, s2 = shapes
    check(
        lambda lib, a, b: lib.nn.functional.pairwise_distance(a, b, keepdim=keepdim),
        [rng.standard_normal(s1), rng.standard_normal(s2)],
        grad=(0, 1),
    )


@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("grad", [(0, 1), (0,), (1,)])
def test_pairwise_distance_fused_blocks(p, grad):
    """The fused p = 1, 2 rows, threaded from (600, 500), with an exact zero difference (sign 0)
    and a NaN (torch's sign is 0 there too)."""
    a = rng.standard_normal((600, 500)).astype(np.float32)
    b = rng.standard_normal((600, 500)).astype(np.float32)
    b[3, 7] = a[3, 7]
    a[599, 2] = np.nan
    check(
        lambda lib, a, b: lib.nn.functional.pairwise_distance(a, b, p, eps=0.0),
        [a, b],
        grad=grad,
        second_order=False,
    )


def test_pairwise_distance_retain_graph_twice():
    """The kept difference is never overwritten: a retained graph gives the same gradient."""
    a_np, b_np = rng.standard_normal((6, 5)), rng.standard_normal((6, 5))
    for p in (1, 2):
        a, b = lossgrad.tensor(a_np, requires_grad=True), lossgrad.tensor(b_np)
        loss = lossgrad.nn.functional.pairwise_distance(a, b, p).sum()
        loss.backward(retain_graph=True)
        first = a.grad.numpy().copy()
        loss.backward()
        np.testing.assert_array_equal(a.grad.numpy(), 2 * first)
        ta = torch.tensor(a_np, requires_grad=True)
        torch.nn.functional.pairwise_distance(ta, torch.tensor(b_np), p).sum().backward()
        np.testing.assert_allclose(first, ta.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("p", [2, 1, 3, float("inf")])
def test_pairwise_distance_coincident_points(p):
    a = rng.standard_normal((3, 4))
    check(
        lambda lib, a: lib.nn.functional.pairwise_distance(a, a.detach(), p), [a]
    )  # distance eps*D^(1/p)
    check(
        lambda lib, a: lib.nn.functional.pairwise_distance(a, a.detach(), p, eps=0.0), [a]
    )  # norm 0: grad 0


def test_pairwise_distance_dtypes_and_errors():
    check(
        lambda lib, a, b: lib.nn.functional.pairwise_distance(a, b),
        [np.array([[1, 2]]), np.array([[0, 0]])],
        grad=(),
    )
    check(
        lambda lib, a, b: lib.nn.functional.pairwise_distance(a, b, 2, 0),
        [rng.standard_normal((2, 3)).astype(np.float32), rng.standard_normal((2, 3))],
        grad=(0, 1),
    )
    check_raises(
        lambda lib, a, b: lib.nn.functional.pairwise_distance(a, b),
        [rng.standard_normal((2, 3)), rng.standard_normal((2, 4))],
    )


def test_pairwise_distance_reference_and_gradcheck():
    """Against the formula (sum |x1 - x2 + eps|^p)^(1/p), then gradcheck and gradgradcheck."""
    a, b = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    for p in (1.5, 2, 3):
        got = lossgrad.nn.functional.pairwise_distance(
            lossgrad.tensor(a), lossgrad.tensor(b), p, eps=0.25
        )
        np.testing.assert_allclose(
            got.numpy(), (np.abs(a - b + 0.25) ** p).sum(1) ** (1 / p), rtol=1e-12
        )
    ta, tb = lossgrad.tensor(a, requires_grad=True), lossgrad.tensor(b, requires_grad=True)
    for p in (1, 1.5, 2, 3, 0.5, float("inf"), -1):

        def f(x, y, p=p):
            return lossgrad.nn.functional.pairwise_distance(x, y, p, keepdim=True)

        assert gradcheck(f, (ta, tb)) and gradgradcheck(f, (ta, tb))


# -- cosine_similarity --------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dim", [1, 0, -1])
@pytest.mark.parametrize("second_order", [True, False])  # False: the array fast path
def test_cosine_similarity_parity(dtype, dim, second_order):
    a, b = rng.standard_normal((5, 4)).astype(dtype), rng.standard_normal((5, 4)).astype(dtype)
    check(
        lambda lib, a, b: lib.nn.functional.cosine_similarity(a, b, dim),
        [a, b],
        grad=(0, 1),
        second_order=second_order,
    )
    check(
        lambda lib, a, b: lib.nn.CosineSimilarity(dim, eps=1e-3)(a, b),
        [a, b],
        grad=(0, 1),
        second_order=second_order,
    )


@pytest.mark.parametrize(
    "shapes,dim",
    [
        (((2, 1, 3), (4, 3)), -1),
        (((4,), (4,)), 0),
        (((), ()), 0),
        (((3, 4), (1, 4)), 1),
        (((2, 0), (2, 0)), 1),
    ],
)
def test_cosine_similarity_shapes(shapes, dim):
    s1, s2 = shapes
    check(
        lambda lib, a, b: lib.nn.functional.cosine_similarity(a, b, dim),
        [rng.standard_normal(s1), rng.standard_normal(s2)],
        grad=(0, 1),
    )
    check(
        lambda lib, a, b: lib.nn.functional.cosine_similarity(a, b, dim),
        [rng.standard_normal(s1), rng.standard_normal(s2)],
        grad=(0, 1),
        second_order=False,
    )


@pytest.mark.parametrize("second_order", [True, False])
def test_cosine_similarity_eps_edges(second_order):
    ones = np.ones((1, 3), np.float32)
    # a zero vector: cos 0, and a 1/eps-sized gradient (the clamp is invisible to autograd)
    check(
        lambda lib, a, b: lib.nn.functional.cosine_similarity(a, b),
        [np.zeros((1, 3), np.float32), ones],
        grad=(0, 1),
        second_order=second_order,
    )
    check(
        lambda lib, a, b: lib.nn.functional.cosine_similarity(a, b),
        [ones * 1e30, ones * 1e30],
        grad=(0, 1),
        second_order=second_order,
    )
    check(
        lambda lib, a, b: lib.nn.functional.cosine_similarity(a, b),
        [ones * 1e-30, ones * 2e-30],
        grad=(0, 1),
        second_order=second_order,
        atol=1e-30,
    )
    check(
        lambda lib, a, b: lib.nn.functional.cosine_similarity(a, b, eps=0.5),
        [ones * 0.1, ones],
        grad=(0, 1),
        second_order=second_order,
    )
    check(
        lambda lib, a, b: lib.nn.functional.cosine_similarity(a, b),
        [np.array([[1, 2]]), np.array([[1.0, 0.0]])],
        grad=(1,),
        second_order=second_order,
    )


@pytest.mark.parametrize(
    "case",
    [
        lambda lib, a, b: lib.nn.functional.cosine_similarity(a.long(), b.long()),
        lambda lib, a, b: lib.nn.functional.cosine_similarity(a, b[:, :2]),
        lambda lib, a, b: lib.nn.functional.cosine_similarity(a, b, dim=2),
        lambda lib, a, b: lib.nn.functional.cosine_similarity(a[0], b[0]),
    ],
)
def test_cosine_similarity_errors(case):
    check_raises(case, [rng.standard_normal((2, 3)), rng.standard_normal((2, 3))])


@pytest.mark.parametrize("grad", [(0, 1), (0,), (1,)])
def test_cosine_similarity_fused_threaded(grad):
    """Rows along the last dim, threaded from (600, 500), with a zero row (norm 0, clamped)."""
    a = rng.standard_normal((600, 500)).astype(np.float32)
    b = rng.standard_normal((600, 500)).astype(np.float32)
    a[3] = 0
    check(
        lambda lib, a, b: lib.nn.functional.cosine_similarity(a, b, dim=-1),
        [a, b],
        grad=grad,
        second_order=False,
    )


def test_cosine_similarity_retain_graph_twice():
    a_np, b_np = rng.standard_normal((6, 5)), rng.standard_normal((6, 5))
    a, b = lossgrad.tensor(a_np, requires_grad=True), lossgrad.tensor(b_np, requires_grad=True)
    loss = lossgrad.nn.functional.cosine_similarity(a, b).sum()
    loss.backward(retain_graph=True)
    first = a.grad.numpy().copy(), b.grad.numpy().copy()
    loss.backward()
    ta, tb = torch.tensor(a_np, requires_grad=True), torch.tensor(b_np, requires_grad=True)
    torch.nn.functional.cosine_similarity(ta, tb).sum().backward()
    for x, f, t in zip((a, b), first, (ta, tb), strict=True):
        np.testing.assert_array_equal(x.grad.numpy(), 2 * f)
        np.testing.assert_allclose(f, t.grad.numpy(), rtol=1e-12)


def test_cosine_similarity_gradcheck():
    a = lossgrad.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    b = lossgrad.tensor(rng.standard_normal((1, 4)), requires_grad=True)
    for dim in (1, 0):

        def f(x, y, dim=dim):
            return lossgrad.nn.functional.cosine_similarity(x, y, dim)

        assert gradcheck(f, (a, b)) and gradgradcheck(f, (a, b))
