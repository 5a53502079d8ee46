"""Parity with torch for cosine_embedding, triplet_margin and triplet_margin_with_distance losses
(functional and module forms): values, first and second gradients, warnings, exception classes."""

import numpy as np
import pytest
import torch

import lossgrad
from lossgrad.autograd import gradcheck, gradgradcheck
from parity import check, check_raises, same_signature

REDUCTIONS = ["none", "mean", "sum"]
DTYPES = [np.float32, np.float64]
LEGACY = [(None, False), (False, None), (False, False), (True, True)]
rng = np.random.default_rng(1)


# -- cosine_embedding_loss ----------------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("margin", [0, 0.3, -0.4])
@pytest.mark.parametrize("second_order", [True, False])  # False: the array fast path
def test_cosine_embedding_parity(reduction, dtype, margin, second_order):
    a, b = rng.standard_normal((6, 4)).astype(dtype), rng.standard_normal((6, 4)).astype(dtype)
    y = np.array([1.0, -1.0, 1.0, -1.0, 0.0, 2.0], dtype)  # other values give 0
    check(
        lambda lib, a, b, y: lib.nn.functional.cosine_embedding_loss(
            a, b, y, margin, reduction=reduction
        ),
        [a, b, y],
        grad=(0, 1),
        second_order=second_order,
    )
    check(
        lambda lib, a, b, y: lib.nn.CosineEmbeddingLoss(margin, reduction=reduction)(a, b, y),
        [a, b, y],
        grad=(0, 1),
        second_order=second_order,
    )


@pytest.mark.parametrize(
    "shapes",
    [
        ((4,), (4,), ()),
        ((3, 4), (1, 4), (3,)),
        ((3, 4), (3, 4), (1,)),
        ((1, 4), (1, 4), (3,)),
        ((0, 4), (0, 4), (0,)),
    ],
)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("second_order", [True, False])
def test_cosine_embedding_shapes(shapes, reduction, second_order):
    s1, s2, sy = shapes
    y = np.where(rng.random(sy) < 0.5, -1.0, 1.0)
    check(
        lambda lib, a, b, y: lib.nn.functional.cosine_embedding_loss(a, b, y, reduction=reduction),
        [rng.standard_normal(s1), rng.standard_normal(s2), y],
        grad=(0, 1),
        second_order=second_order,
    )


@pytest.mark.parametrize("second_order", [True, False])
def test_cosine_embedding_edges(second_order):
    zero = np.zeros((2, 3))
    other = rng.standard_normal((2, 3))
    y = np.array([1.0, -1.0])
    check(
        lambda lib, a, b, y: lib.nn.functional.cosine_embedding_loss(a, b, y, reduction="none"),
        [zero, other, y],
        grad=(0, 1),
        second_order=second_order,
    )
    # orthogonal pair, y = -1, margin 0: cos - margin == 0 exactly, the kink counts as active
    check(
        lambda lib, a, b, y: lib.nn.functional.cosine_embedding_loss(a, b, y, reduction="none"),
        [np.array([[1.0, 0.0, 0.0]]), np.array([[0.0, 2.0, 0.0]]), np.array([-1.0])],
        grad=(0, 1),
        second_order=second_order,
    )
    same = rng.standard_normal((2, 3))  # x2 is x1 detached (the same array under two tensors)
    check(
        lambda lib, a, y: lib.nn.functional.cosine_embedding_loss(a, a.detach(), y, margin=0.0),
        [same, y],
        second_order=second_order,
    )
    check(
        lambda lib, a, b, y: lib.nn.functional.cosine_embedding_loss(a, b, y),
        [np.ones((2, 3), np.int64), np.arange(6).reshape(2, 3), np.array([1, -1])],
        grad=(),
    )
    check(
        lambda lib, a, b, y: lib.nn.functional.cosine_embedding_loss(a, b, y),
        [other.astype(np.float32), other, y.astype(np.float32)],
        grad=(0, 1),
    )
    check(
        lambda lib, a, b, y: lib.nn.functional.cosine_embedding_loss(a, b, y),
        [other.astype(np.float32), zero.astype(np.float32) + 1, y],
        grad=(0, 1),
    )
    for size_average, reduce in LEGACY:
        check(
            lambda lib, a, b, y, sa=size_average, r=reduce: lib.nn.CosineEmbeddingLoss(
                size_average=sa, reduce=r
            )(a, b, y),
            [other, zero + 1, y],
            grad=(0, 1),
        )


@pytest.mark.parametrize(
    "case",
    [
        lambda F, a, b, y: F.cosine_embedding_loss(a, b, y[:, None]),
        lambda F, a, b, y: F.cosine_embedding_loss(a[0], b[0], y),
        lambda F, a, b, y: F.cosine_embedding_loss(a, b[0], y),
        lambda F, a, b, y: F.cosine_embedding_loss(a, b[None], y),
        lambda F, a, b, y: F.cosine_embedding_loss(a, b[:, :2], y),
        lambda F, a, b, y: F.cosine_embedding_loss(a, b, y[:0]),
        lambda F, a, b, y: F.cosine_embedding_loss(a, b, y, reduction="bad"),
    ],
)
def test_cosine_embedding_errors(case):
    check_raises(
        lambda lib, a, b, y: case(lib.nn.functional, a, b, y),
        [rng.standard_normal((2, 3)), rng.standard_normal((2, 3)), np.array([1.0, -1.0])],
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("grad", [(0, 1), (1,)])
def test_cosine_embedding_fused_threaded(reduction, grad):
    """One loss per row, threaded from (600, 500) (a zero row included: cos 0)."""
    a = rng.standard_normal((600, 500)).astype(np.float32)
    b = rng.standard_normal((600, 500)).astype(np.float32)
    a[5] = 0
    y = np.where(rng.random(600) < 0.5, -1.0, 1.0).astype(np.float32)
    check(
        lambda lib, a, b, y: lib.nn.functional.cosine_embedding_loss(
            a, b, y, margin=-0.05, reduction=reduction
        ),
        [a, b, y],
        grad=grad,
        second_order=False,
    )


def test_cosine_embedding_retain_graph_twice():
    a_np, b_np = rng.standard_normal((6, 5)), rng.standard_normal((6, 5))
    y_np = np.array([1.0, -1.0, 1.0, -1.0, -1.0, 1.0])
    grads = []
    for lib in (lossgrad, torch):
        a, b = lib.tensor(a_np, requires_grad=True), lib.tensor(b_np, requires_grad=True)
        loss = lib.nn.functional.cosine_embedding_loss(a, b, lib.tensor(y_np), margin=-0.5)
        loss.backward(retain_graph=True)
        first = a.grad.numpy().copy(), b.grad.numpy().copy()
        loss.backward()
        grads.append((first, (a.grad.numpy(), b.grad.numpy())))
    for k in range(2):
        np.testing.assert_array_equal(grads[0][1][k], 2 * grads[0][0][k])
        np.testing.assert_allclose(grads[0][0][k], grads[1][0][k], rtol=1e-12)


def test_cosine_embedding_gradcheck():
    a = lossgrad.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    b = lossgrad.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    y = lossgrad.tensor([1.0, -1.0, -1.0, 1.0])
    for red in REDUCTIONS:

        def f(a, b, red=red):
            return lossgrad.nn.functional.cosine_embedding_loss(a, b, y, margin=-0.9, reduction=red)

        assert gradcheck(f, (a, b)) and gradgradcheck(f, (a, b))


# -- triplet_margin_loss ------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p,swap", [(2, False), (2, True), (1, False), (3, True), (1.5, False)])
@pytest.mark.parametrize("second_order", [True, False])
def test_triplet_parity(reduction, dtype, p, swap, second_order):
    a, pos, neg = (rng.standard_normal((5, 4)).astype(dtype) for _ in range(3))
    check(
        lambda lib, a, b, c: lib.nn.functional.triplet_margin_loss(
            a, b, c, margin=1.5, p=p, swap=swap, reduction=reduction
        ),
        [a, pos, neg],
        grad=(0, 1, 2),
        second_order=second_order,
    )
    check(
        lambda lib, a, b, c: lib.nn.TripletMarginLoss(
            margin=0.5, p=p, swap=swap, reduction=reduction
        )(a, b, c),
        [a, pos, neg],
        grad=(0, 1, 2),
        second_order=second_order,
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("p,swap,margin", [(2, False, 0.5), (1, True, 20.0)])
def test_triplet_fused_threaded(reduction, p, swap, margin):
    """The fused p = 1, 2 kernel on rows large enough for blocks over the thread pool."""
    local = np.random.default_rng(7)  # fixed data: no row sits on the clamp's kink
    a, pos, neg = (local.standard_normal((600, 500)).astype(np.float32) for _ in range(3))
    check(
        lambda lib, a, b, c: lib.nn.functional.triplet_margin_loss(
            a, b, c, margin=margin, p=p, swap=swap, reduction=reduction
        ),
        [a, pos, neg],
        grad=(0, 1, 2),
        atol=2e-3,  # float32 norms of ~400 (p = 1) differ by their last bits, then cancel
        second_order=False,
    )


@pytest.mark.parametrize("swap", [False, True])
def test_triplet_retain_graph_twice(swap):
    """The kept differences are never overwritten: a retained graph gives the same gradients."""
    arrays = [rng.standard_normal((6, 5)) for _ in range(3)]
    for p in (1, 2):
        xs = [lossgrad.tensor(v, requires_grad=True) for v in arrays]
        loss = lossgrad.nn.functional.triplet_margin_loss(*xs, margin=3.0, p=p, swap=swap)
        loss.backward(retain_graph=True)
        first = [x.grad.numpy().copy() for x in xs]
        loss.backward()
        ts = [torch.tensor(v, requires_grad=True) for v in arrays]
        torch.nn.functional.triplet_margin_loss(*ts, margin=3.0, p=p, swap=swap).backward()
        for x, f, t in zip(xs, first, ts, strict=True):
            np.testing.assert_array_equal(x.grad.numpy(), 2 * f)
            np.testing.assert_allclose(f, t.grad.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(
    "shapes", [((4,), (4,), (4,)), ((3, 4), (1, 4), (3, 4)), ((2, 3, 4),) * 3, ((),) * 3]
)
def test_triplet_shapes_and_eps(shapes):
    args = [rng.standard_normal(s) for s in shapes]
    for eps in (1e-6, 0.0, 0.5):
        check(
            lambda lib, a, b, c, e=eps: lib.nn.functional.triplet_margin_loss(
                a, b, c, eps=e, reduction="none"
            ),
            args,
            grad=(0, 1, 2),
        )


def test_triplet_coincident_points_and_legacy():
    a = rng.standard_normal((3, 4))
    # anchor == positive: d = eps * D**(1/p) and its gradient is defined (eps shifts the difference)
    check(
        lambda lib, a, c: lib.nn.functional.triplet_margin_loss(a, a.detach(), c, margin=2.0),
        [a, a + 0.1],
        grad=(0, 1),
    )
    # the swap's min at a tie (d(a, n) == d(p, n)) splits the gradient
    check(
        lambda lib, a, c: lib.nn.functional.triplet_margin_loss(a, a.detach(), c, swap=True),
        [a, a[::-1].copy()],
        grad=(0, 1),
    )
    for size_average, reduce in LEGACY:
        check(
            lambda lib, a, b, sa=size_average, r=reduce: lib.nn.functional.triplet_margin_loss(
                a, b, -b, size_average=sa, reduce=r
            ),
            [a, a * 0.5],
            grad=(0, 1),
        )
        check(
            lambda lib, a, b, sa=size_average, r=reduce: lib.nn.TripletMarginLoss(
                size_average=sa, reduce=r
            )(a, b, -b),
            [a, a * 0.5],
            grad=(0, 1),
        )
    check(
        lambda lib, a: lib.nn.functional.triplet_margin_loss(a, a, a, reduction="elementwise_mean"),
        [a],
    )


@pytest.mark.parametrize(
    "case",
    [
        lambda lib, a: lib.nn.functional.triplet_margin_loss(a, a, a, margin=0),
        lambda lib, a: lib.nn.functional.triplet_margin_loss(a, a, a, margin=-1.0),
        lambda lib, a: lib.nn.functional.triplet_margin_loss(a, a[0], a),
        lambda lib, a: lib.nn.functional.triplet_margin_loss(a, a, a[:, :2]),
        lambda lib, a: lib.nn.functional.triplet_margin_loss(a, a, a, reduction="bad"),
        lambda lib, a: lib.nn.TripletMarginLoss(margin=0.0),
        lambda lib, a: lib.nn.functional.triplet_margin_with_distance_loss(a, a, a, margin=0),
        lambda lib, a: lib.nn.functional.triplet_margin_with_distance_loss(a, a[0], a),
        lambda lib, a: lib.nn.functional.triplet_margin_with_distance_loss(
            a, a, a, reduction="elementwise_mean"
        ),
        lambda lib, a: lib.nn.TripletMarginWithDistanceLoss(margin=-2.0),
    ],
)
def test_triplet_errors(case):
    check_raises(case, [rng.standard_normal((3, 4))])


# -- triplet_margin_with_distance_loss ----------------------------------------------------------


def _cosine_distance(lib):
    return lambda u, v: 1.0 - lib.nn.functional.cosine_similarity(u, v)


def _l1_distance(lib):
    return lambda u, v: (u - v).abs().sum(-1)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("swap", [False, True])
@pytest.mark.parametrize("distance", [None, _cosine_distance, _l1_distance, "module"])
def test_triplet_with_distance_parity(reduction, swap, distance):
    args = [rng.standard_normal((5, 4)) for _ in range(3)]

    def fn(lib, a, b, c):
        if distance == "module":
            d = lib.nn.PairwiseDistance(p=1.5)
        else:
            d = None if distance is None else distance(lib)
        out = lib.nn.functional.triplet_margin_with_distance_loss(
            a, b, c, distance_function=d, margin=0.7, swap=swap, reduction=reduction
        )
        mod = lib.nn.TripletMarginWithDistanceLoss(
            distance_function=d, margin=0.7, swap=swap, reduction=reduction
        )
        return out, mod(a, b, c)

    check(fn, args, grad=(0, 1, 2))


def test_triplet_with_distance_module_repr():
    for lib in (lossgrad, torch):
        assert repr(lib.nn.TripletMarginWithDistanceLoss()) == (
            "TripletMarginWithDistanceLoss(\n  (distance_function): PairwiseDistance()\n)"
        )


def test_triplet_gradcheck():
    a, b, c = (lossgrad.tensor(rng.standard_normal((3, 4)), requires_grad=True) for _ in range(3))
    for p, swap in ((2, False), (2, True), (1, True), (1.5, True), (3, True)):

        def f(a, b, c, p=p, swap=swap):
            return lossgrad.nn.functional.triplet_margin_loss(
                a, b, c, margin=5.0, p=p, swap=swap, reduction="none"
            )

        assert gradcheck(f, (a, b, c)) and gradgradcheck(f, (a, b, c))

    def g(a, b, c):
        return lossgrad.nn.functional.triplet_margin_with_distance_loss(
            a, b, c, distance_function=_cosine_distance(lossgrad), margin=3.0, swap=True
        )

    assert gradcheck(g, (a, b, c)) and gradgradcheck(g, (a, b, c))


# -- signatures and the tutorial's example ------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["cosine_embedding_loss", "triplet_margin_loss", "triplet_margin_with_distance_loss"]
)
def test_functional_signatures(name):
    same_signature(getattr(lossgrad.nn.functional, name), getattr(torch.nn.functional, name))


@pytest.mark.parametrize(
    "name", ["CosineEmbeddingLoss", "TripletMarginLoss", "TripletMarginWithDistanceLoss"]
)
def test_module_signatures(name):
    same_signature(getattr(lossgrad.nn, name), getattr(torch.nn, name))
    same_signature(getattr(lossgrad.nn, name).forward, getattr(torch.nn, name).forward)


def test_tutorial_cosine_embedding():
    for lib in (lossgrad, torch):
        inputs_1 = lib.tensor([[0.3, 0.5, 0.7], [0.3, 0.5, 0.7]])
        inputs_2 = lib.tensor([[0.1, 0.3, 0.5], [0.1, 0.3, 0.5]])
        target = lib.tensor([1, -1], dtype=lib.float)
        assert f"{lib.nn.CosineEmbeddingLoss()(inputs_1, inputs_2, target).item():.4f}" == "0.5000"
