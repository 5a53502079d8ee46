"""nll_loss / NLLLoss / NLLLoss2d against torch: weights, ignore_index, weighted mean, shapes,
dtypes, legacy flags, errors, second derivatives."""

import numpy as np
import pytest
import torch

import lossgrad
from lossgrad.autograd import gradcheck, gradgradcheck
from parity import check, check_raises, same_signature

rng = np.random.default_rng(11)

SHAPES = {  # input shape -> target shape
    "unbatched": ((5,), ()),
    "unbatched, 1-element target": ((5,), (1,)),
    "batched": ((4, 5), (4,)),
    "3d": ((3, 5, 4), (3, 4)),
    "4d": ((2, 5, 3, 2), (2, 3, 2)),
    "5d": ((2, 5, 2, 2, 2), (2, 2, 2, 2)),
}


def _targets(tshape, c, ignore):
    t = np.asarray(rng.integers(0, c, size=tshape).astype(np.int64))
    if ignore == "some" and t.size > 1:
        t.flat[::2] = -100
    elif ignore == "all":
        t[...] = -100
    return t


def _nll(reduction="mean", weight=False, **kw):
    def fn(lib, x, t, *w):
        return lib.nn.functional.nll_loss(
            x, t, weight=w[0] if weight else None, reduction=reduction, **kw
        )

    return fn


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("ignore", ["absent", "some", "all"])
@pytest.mark.parametrize("weight", [False, True])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_parity(reduction, weight, ignore, shape, dtype):
    xs, ts = SHAPES[shape]
    c = xs[0] if len(xs) == 1 else xs[1]
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.uniform(0.2, 2.0, size=c).astype(dtype)
    # torch's backward rejects the (C) input with a (1) target that its forward accepts
    grad = () if ts == (1,) else (0,)
    t = _targets(ts, c, ignore)
    check(_nll(reduction, weight), [x, t, w], grad=grad)
    check(_nll(reduction, weight), [x, t, w], grad=grad, second_order=False)


@pytest.mark.parametrize("size_average", [None, True, False])
@pytest.mark.parametrize("reduce", [None, True, False])
def test_legacy_flags(size_average, reduce):
    x, t = rng.standard_normal((4, 3)), np.array([0, 2, -100, 1])
    w = rng.uniform(0.5, 2, 3)
    check(
        lambda lib, a, b, c: lib.nn.functional.nll_loss(
            a, b, c, size_average=size_average, reduce=reduce
        ),
        [x, t, w],
    )
    check(lambda lib, a, b: lib.nn.NLLLoss(size_average=size_average, reduce=reduce)(a, b), [x, t])


@pytest.mark.parametrize("reduction", ["elementwise_mean", "bogus"])
def test_reduction_strings(reduction):
    check(_nll(reduction), [rng.standard_normal((3, 4)), np.array([0, 1, 3])])


def test_weighted_mean_by_hand():
    # 'mean' divides by the weights of the targets that count: (-w0 x00 - w2 x12) / (w0 + w2)
    x = lossgrad.tensor([[-1.0, -2.0, -3.0], [-4.0, -5.0, -6.0], [-7.0, -8.0, -9.0]])
    w = lossgrad.tensor([2.0, 10.0, 0.5])
    out = lossgrad.nn.functional.nll_loss(x, lossgrad.tensor([0, 2, -100]), weight=w)
    assert np.isclose(out.item(), (2.0 * 1.0 + 0.5 * 6.0) / 2.5)


def test_uint8_targets_and_custom_ignore():
    x = rng.standard_normal((4, 300))
    t = np.array([0, 255, 7, 255], dtype=np.uint8)
    check(_nll("none", ignore_index=255), [x, t])
    check(_nll("mean", ignore_index=255), [x, t])
    check(_nll("mean"), [x, t])
    check(_nll("sum", ignore_index=7), [x, np.array([7, 1, 7, 0])])


def test_empty_inputs():
    check(_nll("mean"), [np.zeros((0, 4)), np.zeros(0, np.int64)])
    check(_nll("sum"), [np.zeros((0, 4)), np.zeros(0, np.int64)])
    check(_nll("none"), [np.zeros((2, 5, 0)), np.zeros((2, 0), np.int64)])
    check(_nll("mean"), [np.zeros((2, 5, 0)), np.zeros((2, 0), np.int64)])
    check(_nll("mean"), [np.zeros((2, 0)), np.full(2, -100)])


def test_zero_total_weight():
    w = np.array([0.0, 1.0, 1.0])
    check(_nll("mean", weight=True), [rng.standard_normal((3, 3)), np.array([0, 0, -100]), w])


ERRORS = [
    ("0-d input", (), np.array(0)),
    ("int32 target", (3, 5), np.array([0, 1, 2], np.int32)),
    ("float target", (3, 5), np.array([0.0, 1.0, 2.0])),
    ("bool target", (3, 5), np.array([True, False, True])),
    ("out of bounds", (3, 5), np.array([0, 1, 5])),
    ("negative", (3, 5), np.array([0, -1, 2])),
    ("out of bounds, none", (3, 5), np.array([0, 1, 5])),
    ("out of bounds, 4d", (3, 5, 2, 2), np.full((3, 2, 2), 7)),
    ("batch mismatch", (3, 5), np.array([0, 1])),
    ("0-d target for batch", (3, 5), np.array(1)),
    ("2-d target", (3, 5), np.zeros((3, 2), np.int64)),
    ("1-d input, long 1-d target", (5,), np.zeros(5, np.int64)),
    ("3-d target size", (3, 5, 4), np.zeros((3, 3), np.int64)),
    ("4-d target rank", (3, 5, 2, 2), np.zeros((3, 2), np.int64)),
    ("4-d target size", (3, 5, 2, 2), np.zeros((3, 2, 3), np.int64)),
    ("5-d target size", (3, 5, 2, 2, 2), np.zeros((3, 2, 2), np.int64)),
    ("int32 target and wrong weight", (3, 5), np.array([0, 1, 2], np.int32)),
]


@pytest.mark.parametrize("case", ERRORS, ids=[c[0] for c in ERRORS])
def test_errors(case):
    name, xs, t = case
    x = np.asarray(rng.standard_normal(xs).astype(np.float32))
    red = "none" if "none" in name else "mean"
    if "weight" in name:
        check_raises(
            lambda lib, a, b, w: lib.nn.functional.nll_loss(a, b, w), [x, t, np.ones(4, np.float32)]
        )
    else:
        check_raises(_nll(red), [x, t])


@pytest.mark.parametrize(
    "w", [np.ones(4, np.float32), np.ones((1, 5), np.float32), np.ones(5), np.ones(5, np.int64)]
)
def test_weight_errors(w):
    check_raises(
        lambda lib, a, b, c: lib.nn.functional.nll_loss(a, b, c),
        [rng.standard_normal((3, 5)).astype(np.float32), np.array([0, 1, 2]), w],
    )


def test_integer_input():
    check_raises(_nll(), [np.ones((3, 5), np.int64), np.array([0, 1, 2])])


def test_messages():
    x = lossgrad.randn(3, 5)
    with pytest.raises(IndexError, match="Target 9 is out of bounds"):
        lossgrad.nn.functional.nll_loss(x, lossgrad.tensor([0, 9, 2]))
    with pytest.raises(RuntimeError, match=r"got weight tensor of shape: \[4\]"):
        lossgrad.nn.functional.nll_loss(x, lossgrad.tensor([0, 1, 2]), lossgrad.ones(4))


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_gradcheck(reduction):
    x = lossgrad.tensor(rng.standard_normal((3, 4, 2)), requires_grad=True)
    t = lossgrad.tensor(np.array([[0, 3], [-100, 1], [2, 2]]))
    w = lossgrad.tensor(rng.uniform(0.5, 2, 4))
    fn = lambda a: lossgrad.nn.functional.nll_loss(a, t, w, reduction=reduction)  # noqa: E731
    assert gradcheck(fn, (x,))
    assert gradgradcheck(fn, (x,))


def test_modules():
    x = rng.standard_normal((4, 5, 3))
    t = rng.integers(0, 5, size=(4, 3))
    w = rng.uniform(0.5, 2, 5)
    check(
        lambda lib, a, b, c: lib.nn.NLLLoss(weight=c, ignore_index=1, reduction="sum")(a, b),
        [x, t, w],
    )
    # the deprecated alias: same numbers, torch's FutureWarning (compared by check)
    x4, t4 = rng.standard_normal((2, 5, 3, 3)), rng.integers(0, 5, size=(2, 3, 3))
    check(lambda lib, a, b: lib.nn.NLLLoss2d()(a, b), [x4, t4])
    m = lossgrad.nn.NLLLoss(weight=lossgrad.tensor(w))
    assert "weight" in dict(m.named_buffers())


def test_signatures():
    same_signature(lossgrad.nn.functional.nll_loss, torch.nn.functional.nll_loss)
    same_signature(lossgrad.nn.NLLLoss, torch.nn.NLLLoss)
    same_signature(lossgrad.nn.NLLLoss.forward, torch.nn.NLLLoss.forward)
    same_signature(lossgrad.nn.NLLLoss2d, torch.nn.NLLLoss)  # torch's alias hides it behind *args


def test_weight_requiring_grad():
    # torch refuses a weight that requires grad on the class-index paths (forward RuntimeError)
    x, t, w = rng.standard_normal((3, 4)), np.array([0, 3, 1]), rng.uniform(0.5, 2, 4)
    check(lambda lib, a, b, c: lib.nn.functional.nll_loss(a, b, c), [x, t, w], grad=(0, 2))
    check(
        lambda lib, a, b, c: lib.nn.functional.cross_entropy(a, b, c, label_smoothing=0.1),
        [x, t, w],
        grad=(0, 2),
    )
    # ... and differentiates it on the probability path
    y = rng.uniform(size=(3, 4))
    check(lambda lib, a, b, c: lib.nn.functional.cross_entropy(a, b, c), [x, y, w], grad=(0, 2))
