"""Parity with torch for multi_margin, multilabel_margin, margin_ranking and hinge_embedding
losses (functional and module forms), plus their double backward, which torch lacks for the two
multi-class losses."""

import numpy as np
import pytest
import torch

import lossgrad
from lossgrad.autograd import gradcheck, gradgradcheck
from parity import check, check_raises, same_signature

REDUCTIONS = ["none", "mean", "sum"]
DTYPES = [np.float32, np.float64]
LEGACY = [(None, False), (False, None), (False, False), (True, True), (None, True)]
rng = np.random.default_rng(0)


def _off_kinks(x: np.ndarray, step: float = 0.37) -> np.ndarray:
    """Scores on a coarse grid plus distinct small offsets: every margin is far from 0."""
    return (np.round(x / step) * step + np.linspace(0.01, 0.05, x.size).reshape(x.shape)).astype(
        x.dtype
    )


def _backward_twice(x, loss):
    """Backpropagate ``loss`` twice through a retained graph: ``x``'s gradient after the first
    pass and after the second (which accumulates)."""
    loss.backward(retain_graph=True)
    first = x.grad.clone()
    loss.backward()
    return first.numpy(), x.grad.numpy()


# -- multi_margin_loss --------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("margin", [1.0, 0.3, 0])
def test_multi_margin_parity(reduction, dtype, p, weighted, margin):
    x = rng.standard_normal((6, 5)).astype(dtype)
    y = rng.integers(0, 5, 6)
    w = rng.uniform(0.5, 2, 5).astype(dtype) if weighted else None
    check(
        lambda lib, a, t, w: lib.nn.functional.multi_margin_loss(
            a, t, p=p, margin=margin, weight=w, reduction=reduction
        ),
        [x, y, w],
        second_order=False,
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shape", [(160, 500), (600, 500)])
def test_multi_margin_blocked_and_threaded(reduction, p, weighted, shape):
    """Above one cache block the backward recomputes the margins block by block (threaded from
    (600, 500)); below it the forward's hinge values are reused."""
    x = rng.standard_normal(shape).astype(np.float32)
    y = rng.integers(0, shape[1], shape[0])
    w = rng.uniform(0.5, 2, shape[1]).astype(np.float32) if weighted else None
    check(
        lambda lib, a, t, w: lib.nn.functional.multi_margin_loss(
            a, t, p=p, margin=0.5, weight=w, reduction=reduction
        ),
        [x, y, w],
        rtol=1e-4,
        atol=1e-6,
        second_order=False,
    )


@pytest.mark.parametrize("shape", [(6, 5), (160, 500)])
def test_multi_margin_retain_graph_twice(shape):
    """A retained graph backpropagates twice to the same gradient (kept or recomputed hinge)."""
    x_np = rng.standard_normal(shape)
    y_np = rng.integers(0, shape[1], shape[0])
    for p in (1, 2):
        grads = []
        for lib in (lossgrad, torch):
            x = lib.tensor(x_np, requires_grad=True)
            grads.append(
                _backward_twice(x, lib.nn.functional.multi_margin_loss(x, lib.tensor(y_np), p=p))
            )
        np.testing.assert_allclose(grads[0][0], grads[1][0], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(grads[0][1], 2 * grads[1][0], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    "shapes", [((5,), ()), ((5,), (1,)), ((), ()), ((1, 5), (1,)), ((1, 5), ())]
)
def test_multi_margin_unbatched(reduction, shapes):
    xs, ts = shapes
    x = rng.standard_normal(xs)
    y = np.zeros(ts, np.int64) + (2 if xs else 0)
    check(
        lambda lib, a, t: lib.nn.functional.multi_margin_loss(a, t, reduction=reduction),
        [x, y],
        second_order=False,
    )


@pytest.mark.parametrize("size_average,reduce", LEGACY)
def test_multi_margin_legacy_flags(size_average, reduce):
    x, y = rng.standard_normal((4, 3)), rng.integers(0, 3, 4)
    check(
        lambda lib, a, t, sa=size_average, r=reduce: lib.nn.functional.multi_margin_loss(
            a, t, size_average=sa, reduce=r
        ),
        [x, y],
        second_order=False,
    )
    check(
        lambda lib, a, t, sa=size_average, r=reduce: lib.nn.MultiMarginLoss(
            p=2, size_average=sa, reduce=r
        )(a, t),
        [x, y],
        second_order=False,
    )


def test_multi_margin_ties_and_nan():
    # z == 0 exactly (x[i] = x[y] - margin): torch's kernel uses z > 0, so no gradient there
    x = np.array([[1.0, 0.0, 0.5], [np.nan, 1.0, 2.0], [0.0, 0.0, 0.0]])
    check(
        lambda lib, a, t: lib.nn.functional.multi_margin_loss(a, t, reduction="none"),
        [x, np.array([0, 0, 1])],
        second_order=False,
    )


def test_multi_margin_module_and_weight_buffer():
    w = rng.uniform(0.5, 2, 4).astype(np.float32)
    x, y = rng.standard_normal((3, 4)).astype(np.float32), rng.integers(0, 4, 3)
    check(
        lambda lib, a, t, w: lib.nn.MultiMarginLoss(p=2, margin=0.5, weight=w, reduction="sum")(
            a, t
        ),
        [x, y, w],
        second_order=False,
    )
    m = lossgrad.nn.MultiMarginLoss(weight=lossgrad.tensor(w))
    assert list(m.state_dict()) == ["weight"] and repr(m) == "MultiMarginLoss()"


@pytest.mark.parametrize(
    "case",
    [
        lambda lib, x, y: lib.nn.functional.multi_margin_loss(x, y, p=3),
        lambda lib, x, y: lib.nn.functional.multi_margin_loss(x, y, weight=lib.ones(1, 4)),
        lambda lib, x, y: lib.nn.functional.multi_margin_loss(x, y, weight=lib.ones(3)),
        lambda lib, x, y: lib.nn.functional.multi_margin_loss(x, y, weight=lib.ones(4).double()),
        lambda lib, x, y: lib.nn.functional.multi_margin_loss(x, y.int()),
        lambda lib, x, y: lib.nn.functional.multi_margin_loss(x, y.float()),
        lambda lib, x, y: lib.nn.functional.multi_margin_loss(x, y + 4),
        lambda lib, x, y: lib.nn.functional.multi_margin_loss(x, y - 4),
        lambda lib, x, y: lib.nn.functional.multi_margin_loss(x, y[:2]),
        lambda lib, x, y: lib.nn.functional.multi_margin_loss(x, y[None]),
        lambda lib, x, y: lib.nn.functional.multi_margin_loss(x[None], y),
        lambda lib, x, y: lib.nn.functional.multi_margin_loss(x[:, :0], y),
        lambda lib, x, y: lib.nn.functional.multi_margin_loss(x.long(), y),
        lambda lib, x, y: lib.nn.functional.multi_margin_loss(x, y, reduction="avg"),
        lambda lib, x, y: lib.nn.MultiMarginLoss(p=0),
        lambda lib, x, y: lib.nn.MultiMarginLoss(weight=lib.ones(2, 2)),
    ],
)
def test_multi_margin_errors(case):
    x, y = rng.standard_normal((3, 4)).astype(np.float32), np.array([0, 1, 3])
    check_raises(case, [x, y])


def test_multi_margin_weight_requires_grad_raises():
    x, y = rng.standard_normal((3, 4)).astype(np.float32), np.array([0, 1, 3])
    w = np.ones(4, np.float32)
    check(
        lambda lib, a, t, w: lib.nn.functional.multi_margin_loss(a, t, weight=w),
        [x, y, w],
        grad=(0, 2),
    )


def test_multi_margin_empty_batch():
    x, y = np.zeros((0, 4)), np.zeros(0, np.int64)
    check(
        lambda lib, a, t: lib.nn.functional.multi_margin_loss(a, t, reduction="none"),
        [x, y],
        second_order=False,
    )
    # torch returns uninitialised memory for both reductions (0.0 only by chance): the sum of
    # nothing is 0, the mean of nothing NaN
    F, a, t = lossgrad.nn.functional, lossgrad.tensor(x), lossgrad.tensor(y)
    assert F.multi_margin_loss(a, t, reduction="sum").item() == 0.0
    assert np.isnan(F.multi_margin_loss(a, t).item())


@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("weighted", [False, True])
def test_multi_margin_gradcheck_gradgradcheck(p, weighted):
    x = lossgrad.tensor(_off_kinks(rng.standard_normal((4, 5))), requires_grad=True)
    y = lossgrad.tensor(rng.integers(0, 5, 4))
    w = lossgrad.tensor(rng.uniform(0.5, 2, 5)) if weighted else None
    for red in REDUCTIONS:

        def f(a, red=red):
            return lossgrad.nn.functional.multi_margin_loss(
                a, y, p=p, margin=0.9, weight=w, reduction=red
            )

        assert gradcheck(f, (x,))
        assert gradgradcheck(f, (x,))


def test_multi_margin_double_backward_beyond_torch():
    """torch raises; lossgrad's Hessian-vector product matches the closed form
    H = 2 w[y] / C * sum_{active i} (e_i - e_y)(e_i - e_y)^T (p = 2), and H = 0 for p = 1."""
    x_np = _off_kinks(rng.standard_normal((3, 5)))
    y_np = np.array([0, 2, 4])
    w_np = rng.uniform(0.5, 2, 5)
    tx = torch.tensor(x_np, requires_grad=True)
    (tg,) = torch.autograd.grad(
        torch.nn.functional.multi_margin_loss(tx, torch.tensor(y_np)), tx, create_graph=True
    )
    with pytest.raises(RuntimeError, match="not implemented"):
        torch.autograd.grad(tg.sum(), tx)
    v = rng.standard_normal((3, 5))
    for p in (1, 2):
        x = lossgrad.tensor(x_np, requires_grad=True)
        loss = lossgrad.nn.functional.multi_margin_loss(
            x, lossgrad.tensor(y_np), p=p, margin=0.9, weight=lossgrad.tensor(w_np), reduction="sum"
        )
        (g,) = lossgrad.autograd.grad(loss, x, create_graph=True)
        assert g.requires_grad == (p == 2)  # for p = 1 the gradient is constant in x
        hv = (
            lossgrad.autograd.grad((g * lossgrad.tensor(v)).sum(), x, allow_unused=True)[0]
            if p == 2
            else None
        )
        expected = np.zeros_like(x_np)
        if p == 2:
            for n in range(3):
                yn = y_np[n]
                for i in range(5):
                    if i != yn and 0.9 - x_np[n, yn] + x_np[n, i] > 0:
                        e = np.zeros(5)
                        e[i], e[yn] = 1, -1
                        expected[n] += 2 * w_np[yn] / 5 * e * (e @ v[n])
        got = np.zeros_like(x_np) if hv is None else hv.numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


# -- multilabel_margin_loss ---------------------------------------------------------------------


TARGETS = np.array(
    [
        [3, 0, -1, 1, 2],  # prefix {3, 0}; entries after -1 are ignored
        [0, 1, 2, 3, 4],  # no -1: every class is a target (loss 0)
        [-1, 2, 1, 0, 4],  # empty prefix
        [1, 1, -1, 0, 0],  # a repeated target counts twice
        [4, 2, 0, 1, -1],  # four targets
        [2, -1, -1, -1, -1],
    ]
)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_multilabel_margin_parity(reduction, dtype):
    x = rng.standard_normal((6, 5)).astype(dtype)
    check(
        lambda lib, a, t: lib.nn.functional.multilabel_margin_loss(a, t, reduction=reduction),
        [x, TARGETS],
        second_order=False,
    )
    check(
        lambda lib, a, t: lib.nn.MultiLabelMarginLoss(reduction=reduction)(a, t),
        [x, TARGETS],
        second_order=False,
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_multilabel_margin_large_and_unbatched(reduction):
    x = rng.standard_normal((40, 30))
    t = np.where(rng.random((40, 30)) < 0.2, -1, rng.integers(0, 30, (40, 30)))
    check(
        lambda lib, a, t: lib.nn.functional.multilabel_margin_loss(a, t, reduction=reduction),
        [x, t],
        second_order=False,
    )
    for xs, tv in (
        ((5,), TARGETS[0]),
        ((), np.array(0)),
        ((), np.array([0])),
        ((1, 5), TARGETS[:1]),
    ):
        check(
            lambda lib, a, t: lib.nn.functional.multilabel_margin_loss(a, t, reduction=reduction),
            [rng.standard_normal(xs), tv],
            second_order=False,
        )


def _label_prefixes(n: int, c: int, longest: int) -> np.ndarray:
    """Targets whose prefixes (before the first -1) have random lengths up to ``longest``, with
    repeats, and arbitrary in-range entries after the -1; the first row's prefix is the longest."""
    t = rng.integers(-1, c, (n, c))
    length = rng.integers(0, longest + 1, n)
    length[0] = longest
    t[np.arange(c) < length[:, None]] = rng.integers(0, c, int(length.sum()))
    t[length < c, length[length < c]] = -1
    return t


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    "n, c, longest",
    # trimmed to the longest prefix (one block; no prefix at all), one block of rows, four
    # blocks over the threads, one row per block (wide rows), two blocks of slots in a row
    [(40, 50, 3), (50, 40, 0), (300, 100, 8), (1200, 100, 8), (3, 400, 400), (2, 600, 600)],
)
def test_multilabel_margin_blocked(reduction, n, c, longest):
    x = rng.standard_normal((n, c)).astype(np.float32)
    check(
        lambda lib, a, t: lib.nn.functional.multilabel_margin_loss(a, t, reduction=reduction),
        [x, _label_prefixes(n, c, longest)],
        rtol=1e-4,
        atol=1e-6,
        second_order=False,
    )


@pytest.mark.parametrize("n, c, longest", [(6, 5, 5), (300, 100, 8)])
def test_multilabel_margin_retain_graph_twice(n, c, longest):
    x_np, t_np = rng.standard_normal((n, c)), _label_prefixes(n, c, longest)
    grads = []
    for lib in (lossgrad, torch):
        x = lib.tensor(x_np, requires_grad=True)
        loss = lib.nn.functional.multilabel_margin_loss(x, lib.tensor(t_np), reduction="sum")
        grads.append(_backward_twice(x, loss))
    np.testing.assert_allclose(grads[0][0], grads[1][0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grads[0][1], 2 * grads[1][0], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("size_average,reduce", LEGACY)
def test_multilabel_margin_legacy_flags(size_average, reduce):
    x = rng.standard_normal((6, 5))
    check(
        lambda lib, a, t, sa=size_average, r=reduce: lib.nn.functional.multilabel_margin_loss(
            a, t, size_average=sa, reduce=r
        ),
        [x, TARGETS],
        second_order=False,
    )
    check(
        lambda lib, a, t: lib.nn.MultiLabelMarginLoss(size_average, reduce)(a, t),
        [x, TARGETS],
        second_order=False,
    )


def test_multilabel_margin_ties_and_nan():
    x = np.array([[1.0, 0.0, 0.5, np.nan], [0.0, 0.0, 0.0, 0.0]])
    t = np.array([[0, -1, 0, 0], [1, -1, 0, 0]])
    check(
        lambda lib, a, t: lib.nn.functional.multilabel_margin_loss(a, t, reduction="none"),
        [x, t],
        second_order=False,
    )


@pytest.mark.parametrize(
    "case",
    [
        lambda F, x, t: F.multilabel_margin_loss(x, t.int()),
        lambda F, x, t: F.multilabel_margin_loss(x, t + 5),
        lambda F, x, t: F.multilabel_margin_loss(x, t - 1),  # -2 after the first -1 still raises
        lambda F, x, t: F.multilabel_margin_loss(x[:2], t[:2] + 5),  # few entries: a Python scan
        lambda F, x, t: F.multilabel_margin_loss(x[:2], t[:2] - 1),
        lambda F, x, t: F.multilabel_margin_loss(x, t[:, :3]),
        lambda F, x, t: F.multilabel_margin_loss(x[0], t),
        lambda F, x, t: F.multilabel_margin_loss(x[None], t[None]),
        lambda F, x, t: F.multilabel_margin_loss(x[:, :0], t[:, :0]),
        lambda F, x, t: F.multilabel_margin_loss(x.long(), t),
        lambda F, x, t: F.multilabel_margin_loss(x, t, reduction="bad"),
    ],
)
def test_multilabel_margin_errors(case):
    check_raises(
        lambda lib, a, t: case(lib.nn.functional, a, t), [rng.standard_normal((6, 5)), TARGETS]
    )


def test_multilabel_margin_empty_batch():
    x, t = np.zeros((0, 4)), np.zeros((0, 4), np.int64)
    check(
        lambda lib, a, t: lib.nn.functional.multilabel_margin_loss(a, t, reduction="none"),
        [x, t],
        second_order=False,
    )
    assert np.isnan(
        lossgrad.nn.functional.multilabel_margin_loss(lossgrad.tensor(x), lossgrad.tensor(t)).item()
    )


def _multilabel_reference(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Slow loop over samples, target slots and classes (torch's documented formula)."""
    out = np.zeros(len(x))
    for n in range(len(x)):
        prefix = []
        for v in t[n]:
            if v < 0:
                break
            prefix.append(v)
        for j in prefix:
            for i in range(x.shape[1]):
                if i not in prefix:
                    out[n] += max(0.0, 1 - x[n, j] + x[n, i])
    return out / x.shape[1]


def test_multilabel_margin_reference_and_double_backward():
    x_np = _off_kinks(rng.standard_normal((6, 5)))
    got = lossgrad.nn.functional.multilabel_margin_loss(
        lossgrad.tensor(x_np), lossgrad.tensor(TARGETS), reduction="none"
    )
    np.testing.assert_allclose(got.numpy(), _multilabel_reference(x_np, TARGETS), rtol=1e-12)
    x = lossgrad.tensor(x_np, requires_grad=True)
    t = lossgrad.tensor(TARGETS)
    for red in REDUCTIONS:

        def f(a, red=red):
            return lossgrad.nn.functional.multilabel_margin_loss(a, t, reduction=red)

        assert gradcheck(f, (x,))
        assert gradgradcheck(f, (x,))
    tx = torch.tensor(x_np, requires_grad=True)
    (tg,) = torch.autograd.grad(
        torch.nn.functional.multilabel_margin_loss(tx, torch.tensor(TARGETS)), tx, create_graph=True
    )
    with pytest.raises(RuntimeError, match="not implemented"):
        torch.autograd.grad(tg.sum(), tx)


# -- margin_ranking_loss ------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("margin", [0, 0.5, -0.2])
def test_margin_ranking_parity(reduction, dtype, margin):
    a, b = rng.standard_normal(7).astype(dtype), rng.standard_normal(7).astype(dtype)
    y = rng.choice([-1.0, 1.0], 7).astype(dtype)
    check(
        lambda lib, a, b, y: lib.nn.functional.margin_ranking_loss(
            a, b, y, margin, reduction=reduction
        ),
        [a, b, y],
        grad=(0, 1, 2),
    )
    check(
        lambda lib, a, b, y: lib.nn.MarginRankingLoss(margin, reduction=reduction)(a, b, y),
        [a, b, y],
        grad=(0, 1, 2),
    )


@pytest.mark.parametrize(
    "shapes", [((4,), (1,), (4,)), ((2, 3), (2, 1), (1, 3)), ((), (), ()), ((1,), (3,), (1,))]
)
def test_margin_ranking_broadcast_and_ties(shapes):
    sa, sb, sy = shapes
    a, b = rng.standard_normal(sa), rng.standard_normal(sb)
    check(
        lambda lib, a, b, y: lib.nn.functional.margin_ranking_loss(a, b, y, reduction="none"),
        [a, b, rng.standard_normal(sy)],
        grad=(0, 1, 2),
    )
    # x1 == x2 with margin 0: the kink counts as active (gradient -y)
    check(
        lambda lib, a, y: lib.nn.functional.margin_ranking_loss(a, a.detach(), y), [a, np.ones(sa)]
    )


def test_margin_ranking_dtypes_and_legacy():
    a, b = rng.standard_normal(5).astype(np.float32), rng.standard_normal(5).astype(np.float32)
    check(
        lambda lib, a, b, y: lib.nn.functional.margin_ranking_loss(a, b, y),
        [a, b, np.array([1, -1, 1, 1, -1])],
    )
    check(
        lambda lib, a, b, y: lib.nn.functional.margin_ranking_loss(a, b, y), [a, b, np.ones(5)]
    )  # float64 y
    check(
        lambda lib, a, b, y: lib.nn.functional.margin_ranking_loss(a, b, y),
        [np.arange(3), np.ones(3, np.int64), np.array([1, -1, 1])],
        grad=(),
    )
    for size_average, reduce in LEGACY:
        check(
            lambda lib, a, b, sa=size_average, r=reduce: lib.nn.functional.margin_ranking_loss(
                a, b, -b, size_average=sa, reduce=r
            ),
            [a, b],
            grad=(0, 1),
        )


@pytest.mark.parametrize(
    "case",
    [
        lambda F, a, b: F.margin_ranking_loss(a, b[0], b),
        lambda F, a, b: F.margin_ranking_loss(a, b, b[None]),
        lambda F, a, b: F.margin_ranking_loss(a, b[:3], b),
        lambda F, a, b: F.margin_ranking_loss(a, b, b, reduction="bad"),
    ],
)
def test_margin_ranking_errors(case):
    check_raises(
        lambda lib, a, b: case(lib.nn.functional, a, b),
        [rng.standard_normal(4), rng.standard_normal(4)],
    )


# -- hinge_embedding_loss -----------------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("margin", [1.0, 0.25, -0.5])
def test_hinge_embedding_parity(reduction, dtype, margin):
    x = rng.standard_normal((4, 5)).astype(dtype)
    y = rng.choice([-1.0, 1.0, 0.0, 2.0], (4, 5)).astype(dtype)  # other values get both terms
    check(
        lambda lib, a, y: lib.nn.functional.hinge_embedding_loss(a, y, margin, reduction=reduction),
        [x, y],
    )
    check(lambda lib, a, y: lib.nn.HingeEmbeddingLoss(margin, reduction=reduction)(a, y), [x, y])


def test_hinge_embedding_broadcast_ties_and_legacy():
    x = np.array([1.0, 0.5, 1.0, -2.0])  # x == margin is the kink: counted as active
    check(
        lambda lib, a, y: lib.nn.functional.hinge_embedding_loss(a, y, reduction="none"),
        [x, np.array([-1.0, 1.0, 0.0, -1.0])],
    )
    check(
        lambda lib, a, y: lib.nn.functional.hinge_embedding_loss(a, y, reduction="none"),
        [rng.standard_normal((3, 1)), np.array([1.0, -1.0])],
    )
    check(
        lambda lib, a, y: lib.nn.functional.hinge_embedding_loss(a, y),
        [x.astype(np.float32), np.array([1, -1, 1, -1])],
    )
    check(
        lambda lib, a, y: lib.nn.functional.hinge_embedding_loss(a, y),
        [x.astype(np.float32), -np.ones(4)],
    )
    check(
        lambda lib, a, y: lib.nn.functional.hinge_embedding_loss(a, y),
        [x, -np.ones(4)],
        grad=(0, 1),
    )
    for size_average, reduce in LEGACY:
        check(
            lambda lib, a, sa=size_average, r=reduce: lib.nn.HingeEmbeddingLoss(
                size_average=sa, reduce=r
            )(a, -a.sign().detach()),
            [x + 0.1],
        )
    check_raises(lambda lib, a: lib.nn.functional.hinge_embedding_loss(a, lib.ones(3)), [x])
    for reduction in REDUCTIONS:  # integer inputs: computed in int64 with the margin truncated
        check(
            lambda lib, a, y, r=reduction: lib.nn.functional.hinge_embedding_loss(
                a, y, 2.5, reduction=r
            ),
            [np.array([1, 2, 3, 0]), np.array([1, -1, -1, 0])],
            grad=(),
        )


def _sprinkled(n: int, dtype: type = np.float32) -> np.ndarray:
    """Normal scores with inf, -inf and NaN in the first of several pool blocks only."""
    x = rng.standard_normal(n).astype(dtype)
    x[[3, 10, 17]] = [np.inf, -np.inf, np.nan]
    return x


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("nonfinite", [False, True])
def test_hinge_embedding_blocked(reduction, nonfinite):
    """600k elements: the fused forward in blocks over the thread pool. A block with a
    non-finite score (where a product with the mask would give NaN for torch's 0: x = +inf with
    y = -1, x = -inf with y = 1) is recomputed with ``where``."""
    n = 600_000
    x = _sprinkled(n) if nonfinite else rng.standard_normal(n).astype(np.float32)
    y = rng.choice([-1.0, 1.0, 0.5], n).astype(np.float32)
    y[[3, 10, 17]] = [-1.0, 1.0, -1.0]
    check(
        lambda lib, a, t: lib.nn.functional.hinge_embedding_loss(a, t, 0.3, reduction=reduction),
        [x, y],
        rtol=1e-4,
        atol=1e-6,
        second_order=False,
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("grad", [(0, 1), (0,), (1,), (0, 1, 2)])
def test_margin_ranking_blocked(reduction, grad):
    """600k elements: the fused blocked forward keeps input1's gradient (input2's is its
    negation); a target that needs a gradient takes the general path."""
    n = 600_000
    a, b = _sprinkled(n), rng.standard_normal(n).astype(np.float32)
    y = rng.choice([-1.0, 1.0], n).astype(np.float32)
    check(
        lambda lib, a, b, t: lib.nn.functional.margin_ranking_loss(
            a, b, t, 0.1, reduction=reduction
        ),
        [a, b, y],
        grad=grad,
        rtol=1e-4,
        atol=1e-6,
        second_order=False,
    )


@pytest.mark.parametrize(
    "loss",
    [
        lambda F, a, b: F.hinge_embedding_loss(a, b.sign()),
        lambda F, a, b: F.margin_ranking_loss(a, b, b.sign()),
    ],
)
@pytest.mark.parametrize("n", [5, 600_000])
def test_hinge_and_ranking_backward_twice(loss, n):
    """A retained graph gives the same gradient twice (the kept gradient is copied); without
    retain_graph a second backward raises torch's RuntimeError."""
    a_np, b_np = rng.standard_normal(n), rng.standard_normal(n)
    for lib in (lossgrad, torch):
        a = lib.tensor(a_np, requires_grad=True)
        out = loss(lib.nn.functional, a, lib.tensor(b_np))
        first, second = _backward_twice(a, out)
        np.testing.assert_allclose(second, 2 * first, rtol=1e-12)
        with pytest.raises(RuntimeError, match="backward through the graph a second time"):
            out.backward()


def test_margin_and_hinge_gradcheck():
    a = lossgrad.tensor(_off_kinks(rng.standard_normal(6)), requires_grad=True)
    b = lossgrad.tensor(_off_kinks(rng.standard_normal(6)) * 0.5, requires_grad=True)
    y = lossgrad.tensor(rng.choice([-1.0, 1.0], 6) * 1.3, requires_grad=True)
    for red in REDUCTIONS:

        def mr(a, b, y, red=red):
            return lossgrad.nn.functional.margin_ranking_loss(a, b, y, 0.05, reduction=red)

        def he(a, red=red):
            return lossgrad.nn.functional.hinge_embedding_loss(
                a, y.detach().sign(), 0.7, reduction=red
            )

        assert gradcheck(mr, (a, b, y)) and gradgradcheck(mr, (a, b, y))
        assert gradcheck(he, (a,)) and gradgradcheck(he, (a,))


# -- signatures and the tutorial's examples -----------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["multi_margin_loss", "multilabel_margin_loss", "margin_ranking_loss", "hinge_embedding_loss"],
)
def test_functional_signatures(name):
    same_signature(getattr(lossgrad.nn.functional, name), getattr(torch.nn.functional, name))


@pytest.mark.parametrize(
    "name", ["MultiMarginLoss", "MultiLabelMarginLoss", "MarginRankingLoss", "HingeEmbeddingLoss"]
)
def test_module_signatures(name):
    same_signature(getattr(lossgrad.nn, name), getattr(torch.nn, name))
    same_signature(getattr(lossgrad.nn, name).forward, getattr(torch.nn, name).forward)


def test_tutorial_examples():
    """The tutorial's printed values; torch must print the same ones."""
    for lib in (lossgrad, torch):
        x = lib.tensor([[0.9, 0.2, 0.4, 0.8]])
        y = lib.tensor([[3, 0, -1, 1]], dtype=lib.long)
        assert f"{lib.nn.MultiLabelMarginLoss()(x, y).item():.4f}" == "0.4500"
        inputs = lib.tensor([[0.3, 0.7], [0.5, 0.5]])
        target = lib.tensor([0, 1], dtype=lib.long)
        assert f"{lib.nn.MultiMarginLoss()(inputs, target).item():.4f}" == "0.6000"
        inputs = lib.tensor([[1.0, 0.8, 0.5]])
        target = lib.tensor([[1, 1, -1]])
        assert f"{lib.nn.HingeEmbeddingLoss()(inputs, target).item():.4f}" == "0.7667"


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_grad_fn_names(reduction):
    """The graph ends in the node torch shows (fused kernels or torch's last composite op)."""
    names = []
    for lib in (lossgrad, torch):
        F = lib.nn.functional
        x = lib.tensor([[0.1, 0.9, -0.3], [0.5, 0.2, 0.4]], requires_grad=True)
        s = lib.tensor([1.0, -1.0, 1.0])
        names.append(
            [
                F.multi_margin_loss(x, lib.tensor([0, 2]), reduction=reduction).grad_fn.name(),
                F.multilabel_margin_loss(
                    x, lib.tensor([[0, -1, 1], [2, 1, -1]]), reduction=reduction
                ).grad_fn.name(),
                F.margin_ranking_loss(x[0], x[1], s, reduction=reduction).grad_fn.name(),
                F.hinge_embedding_loss(x[0], s, reduction=reduction).grad_fn.name(),
                F.cosine_embedding_loss(x, x.flip(0), s[:2], reduction=reduction).grad_fn.name(),
                F.pairwise_distance(x, x.flip(0)).grad_fn.name(),
                F.cosine_similarity(x, x.flip(0)).grad_fn.name(),
            ]
        )
    assert names[0] == names[1]
