"""cross_entropy / CrossEntropyLoss against torch: index and probability targets, weights,
ignore_index, label smoothing, shapes, dtypes, errors, stability and second derivatives."""

import numpy as np
import pytest
import torch

import lossgrad
from lossgrad.autograd import gradcheck, gradgradcheck
from parity import check, check_raises, same_signature

rng = np.random.default_rng(7)

SHAPES = {  # input shape -> target shape (class indices)
    "unbatched": ((5,), ()),
    "batched": ((4, 5), (4,)),
    "3d": ((3, 5, 4), (3, 4)),
    "4d": ((2, 5, 3, 2), (2, 3, 2)),
}


def _targets(tshape, c, ignore):
    t = rng.integers(0, c, size=tshape).astype(np.int64)
    if ignore == "some" and t.size:
        t.flat[::2] = -100
    elif ignore == "all":
        t[...] = -100
    return np.asarray(t)


def _ce(reduction, weight=False, ls=0.0, **kw):
    def fn(lib, x, t, *w):
        return lib.nn.functional.cross_entropy(
            x, t, weight=w[0] if weight else None, reduction=reduction, label_smoothing=ls, **kw
        )

    return fn


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("ls", [0.0, 0.3, 1.0])
@pytest.mark.parametrize("ignore", ["absent", "some", "all"])
@pytest.mark.parametrize("weight", [False, True])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_index_targets(reduction, weight, ignore, ls, shape, dtype):
    xs, ts = SHAPES[shape]
    x = rng.standard_normal(xs).astype(dtype)
    t = _targets(ts, xs[0] if len(xs) == 1 else xs[1], ignore)
    w = rng.uniform(0.2, 2.0, size=xs[0] if len(xs) == 1 else xs[1]).astype(dtype)
    check(_ce(reduction, weight, ls), [x, t, w])
    check(_ce(reduction, weight, ls), [x, t, w], second_order=False)  # the NumPy backward


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("ls", [0.0, 0.3, 1.0])
@pytest.mark.parametrize("weight", [False, True])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_probability_targets(reduction, weight, ls, shape, dtype):
    xs, _ = SHAPES[shape]
    axis = 0 if len(xs) == 1 else 1
    x = rng.standard_normal(xs).astype(dtype)
    y = rng.uniform(size=xs).astype(dtype)
    y = y / y.sum(axis=axis, keepdims=True)
    w = rng.uniform(0.2, 2.0, size=xs[axis]).astype(dtype)
    check(_ce(reduction, weight, ls), [x, y, w], grad=(0, 1))
    check(_ce(reduction, weight, ls), [x, y, w], grad=(0, 1), second_order=False)


@pytest.mark.parametrize("size_average", [None, True, False])
@pytest.mark.parametrize("reduce", [None, True, False])
@pytest.mark.parametrize("probs", [False, True])
def test_legacy_flags(size_average, reduce, probs):
    x = rng.standard_normal((4, 3))
    t = rng.uniform(size=(4, 3)) if probs else np.array([0, 2, -100, 1])
    check(
        lambda lib, a, b: lib.nn.functional.cross_entropy(
            a, b, size_average=size_average, reduce=reduce
        ),
        [x, t],
    )
    check(
        lambda lib, a, b: lib.nn.CrossEntropyLoss(size_average=size_average, reduce=reduce)(a, b),
        [x, t],
    )


@pytest.mark.parametrize("reduction", ["elementwise_mean", "bogus"])
def test_reduction_strings(reduction):
    x, t = rng.standard_normal((3, 4)), np.array([0, 1, 3])
    check(lambda lib, a, b: lib.nn.functional.cross_entropy(a, b, reduction=reduction), [x, t])


def test_negative_smoothing_is_zero():
    x, t = rng.standard_normal((3, 4)), np.array([0, 1, 3])
    check(_ce("mean", ls=-0.5), [x, t])


@pytest.mark.parametrize("ignore_index", [1, 3, -1, -7])
def test_ignore_index_values(ignore_index):
    x, t = rng.standard_normal((5, 4)), np.array([0, 1, 3, 1, 2])
    check(_ce("mean", ignore_index=ignore_index), [x, t])
    check(_ce("mean", ls=0.2, ignore_index=ignore_index), [x, t])


def test_uint8_targets():
    x = rng.standard_normal((4, 300))
    t = np.array([0, 255, 7, 255], dtype=np.uint8)
    check(_ce("none", ignore_index=255), [x, t])
    check(_ce("mean", ls=0.1), [x, t])


def test_empty_and_zero_total_weight():
    check(_ce("mean"), [np.zeros((0, 4)), np.zeros(0, np.int64)])
    check(_ce("sum", ls=0.3), [np.zeros((2, 3, 0)), np.zeros((2, 0), np.int64)])
    check(_ce("mean"), [np.zeros((0, 4)), np.zeros((0, 4))])
    w = np.array([0.0, 1.0, 1.0, 1.0])
    x, t = rng.standard_normal((3, 4)), np.array([0, 0, -100])
    check(_ce("mean", weight=True), [x, t, w])
    check(_ce("mean", weight=True, ls=0.3), [x, t, w])


def test_mixed_dtypes_probability_path():
    x = rng.standard_normal((3, 4)).astype(np.float32)
    y = rng.uniform(size=(3, 4))
    # float64 result carrying float32 log-probabilities: float32's precision
    check(_ce("mean"), [x, y], grad=(0, 1), rtol=1e-5, atol=1e-7)
    check(_ce("sum", weight=True), [x, y.astype(np.float32), np.ones(4)], grad=(0, 1))


ERRORS = [
    ("0-d input", np.float32(1.0), np.array(0)),
    ("0-d input, 0-d float target", np.float32(1.0), np.array(0.0, np.float32)),
    ("target not a tensor", None, [0, 1, 2]),
    ("int32 target", None, np.array([0, 1, 2], np.int32)),
    ("float index target", None, np.array([0.0, 1.0, 2.0])),
    ("out of bounds", None, np.array([0, 1, 5])),
    ("negative target", None, np.array([0, -1, 2])),
    ("batch mismatch", None, np.array([0, 1])),
    ("2-d target", None, np.zeros((3, 2), np.int64)),
    ("long probability target", None, np.zeros((3, 5), np.int64)),
    ("prob target with ignore_index >= 0", "ignore", np.full((3, 5), 0.2)),
    ("smoothing above 1", "ls", np.array([0, 1, 2])),
    ("smoothing above 1, probs", "ls", np.full((3, 5), 0.2)),
    ("weight of wrong size", "w4", np.array([0, 1, 2])),
    ("weight of wrong size, probs", "w4", np.full((3, 5), 0.2)),
    ("weight of wrong dtype", "w64", np.array([0, 1, 2])),
    ("3-d target size", "3d", np.zeros((3, 3), np.int64)),
    ("4-d target rank", "4d", np.zeros((3, 2), np.int64)),
    ("integer input", "int", np.array([0, 1, 2])),
    ("1-d input, 1-d target, smoothing", "1d", np.array([2])),
]


@pytest.mark.parametrize("case", ERRORS, ids=[c[0] for c in ERRORS])
def test_errors(case):
    _, kind, t = case
    x = rng.standard_normal((3, 5)).astype(np.float32)
    kw = {}
    w = None
    if isinstance(kind, np.ndarray) or isinstance(kind, np.floating):
        x = np.asarray(kind)
    elif kind == "ignore":
        kw["ignore_index"] = 1
    elif kind == "ls":
        kw["label_smoothing"] = 1.5
    elif kind == "w4":
        w = np.ones(4, np.float32)
    elif kind == "w64":
        w = np.ones(5)
    elif kind == "3d":
        x = rng.standard_normal((3, 5, 4)).astype(np.float32)
    elif kind == "4d":
        x = rng.standard_normal((3, 5, 2, 2)).astype(np.float32)
    elif kind == "int":
        x = np.ones((3, 5), np.int64)
    elif kind == "1d":
        x = rng.standard_normal(5).astype(np.float32)
        kw["label_smoothing"] = 0.2
    args = [x, t] + ([w] if w is not None else [])
    check_raises(
        lambda lib, a, b, *ww: lib.nn.functional.cross_entropy(
            a, b, weight=ww[0] if ww else None, **kw
        ),
        args,
    )


def test_error_messages_name_the_value():
    x = lossgrad.randn(3, 5)
    with pytest.raises(IndexError, match="Target 5 is out of bounds"):
        lossgrad.nn.functional.cross_entropy(x, lossgrad.tensor([0, 1, 5]))
    with pytest.raises(RuntimeError, match="but got Int$"):
        lossgrad.nn.functional.cross_entropy(x, lossgrad.tensor([0, 1, 2], dtype=lossgrad.int32))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ls", [0.0, 0.3])
def test_shift_invariance(dtype, ls):
    # dyadic logits, so that adding 1e4 is exact in float32 too
    x = (rng.integers(-512, 512, size=(6, 7)) / 256).astype(dtype)
    t = np.array([0, 3, 6, -100, 2, 2])
    w = rng.uniform(0.5, 2, 7).astype(dtype)
    for weight in (None, w):

        def ce(lib, logits, weight=weight):
            kw = {"weight": lib.tensor(weight)} if weight is not None else {}
            return lib.nn.functional.cross_entropy(
                lib.tensor(logits), lib.tensor(t), label_smoothing=ls, **kw
            ).item()

        a, b = ce(lossgrad, x), ce(lossgrad, x + 1e4)
        assert np.isfinite(a) and a == b
        assert np.isclose(a, ce(torch, x), rtol=1e-6)


def test_infinite_logits_follow_torch():
    x = np.array([[0.0, -np.inf, 1.0], [2.0, 0.0, -np.inf]])
    check(_ce("mean"), [x, np.array([0, 1])])
    check(_ce("none", ls=0.1), [x, np.array([0, 1])], second_order=False)
    check(_ce("mean"), [x, np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]])], second_order=False)


def test_large_logits_finite():
    x = rng.standard_normal((4, 6)) * 1000
    check(_ce("mean", ls=0.2), [x, np.array([0, 5, 2, 3])])
    check(_ce("none"), [x.astype(np.float32), np.array([0, 5, 2, 3])])


def test_retained_graph_backward_twice():
    x = lossgrad.tensor(rng.standard_normal((4, 5)), requires_grad=True)
    t = lossgrad.tensor(np.array([1, 0, 4, -100]))
    loss = lossgrad.nn.functional.cross_entropy(x, t, label_smoothing=0.1)
    loss.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * first, rtol=1e-12)
    xt = torch.tensor(x.detach().numpy(), requires_grad=True)
    torch.nn.functional.cross_entropy(xt, torch.tensor(t.numpy()), label_smoothing=0.1).backward()
    np.testing.assert_allclose(first, xt.grad.numpy(), rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ls", [0.0, 0.2])
@pytest.mark.parametrize("weight", [False, True])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_large_input_row_blocks(reduction, weight, ls, dtype):
    # above the thread pool's threshold: exp(x) in row blocks without a max shift, except the
    # rows whose sums leave the safe range, which are redone shifted
    n, c = 300, 1000
    x = rng.standard_normal((n, c)).astype(dtype)
    x[5] += 200.0  # exp overflows
    x[17] -= 120.0  # exp underflows
    x[250, :500] += 60.0  # beyond the unshifted range, finite
    x[251] -= 52.0  # a sum under the lower bound, all terms normal
    t = rng.integers(0, c, n)
    t[::7] = -100
    t[5] = t[17] = 3
    w = rng.uniform(0.5, 2.0, c).astype(dtype)
    check(_ce(reduction, weight, ls), [x, t, w], second_order=False)


@pytest.mark.parametrize("ls", [0.0, 0.2])
def test_large_input_retained_graph(ls):
    n, c = 300, 1000
    x = rng.standard_normal((n, c)).astype(np.float32)
    x[9] += 300.0
    t = rng.integers(0, c, n)
    xt = torch.tensor(x, requires_grad=True)
    torch.nn.functional.cross_entropy(xt, torch.tensor(t), label_smoothing=ls).backward()
    xl = lossgrad.tensor(x, requires_grad=True)
    loss = lossgrad.nn.functional.cross_entropy(xl, lossgrad.tensor(t), label_smoothing=ls)
    first = lossgrad.autograd.grad(loss, xl, retain_graph=True)[0].numpy()
    second = lossgrad.autograd.grad(loss, xl)[0].numpy()  # recomputed exponentials
    np.testing.assert_allclose(first, xt.grad.numpy(), rtol=1e-4, atol=1e-9)
    np.testing.assert_array_equal(first, second)


def test_large_input_second_order():
    x = rng.standard_normal((300, 900))
    x[3] -= 500.0
    t = rng.integers(0, 900, 300)
    check(_ce("mean", ls=0.1), [x, t])


def test_grad_fn_names():
    x = lossgrad.randn(3, 5, requires_grad=True)
    t = lossgrad.tensor([0, 1, 2])
    assert lossgrad.nn.functional.cross_entropy(x, t).grad_fn.name() == "NllLossBackward0"
    smoothed = lossgrad.nn.functional.cross_entropy(x, t, label_smoothing=0.1)
    assert smoothed.grad_fn.name() == "AddBackward0"


def _d(*shape):
    return lossgrad.tensor(rng.standard_normal(shape), requires_grad=True)


@pytest.mark.parametrize("ls", [0.0, 0.25])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_gradcheck_index(reduction, ls):
    x = _d(3, 4, 2)
    t = lossgrad.tensor(np.array([[0, 3], [-100, 1], [2, 2]]))
    w = lossgrad.tensor(rng.uniform(0.5, 2, 4))
    fn = lambda a: lossgrad.nn.functional.cross_entropy(  # noqa: E731
        a, t, weight=w, reduction=reduction, label_smoothing=ls
    )
    assert gradcheck(fn, (x,))
    assert gradgradcheck(fn, (x,))


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_gradcheck_probabilities(reduction):
    x, y = _d(3, 4), lossgrad.tensor(rng.uniform(size=(3, 4)), requires_grad=True)
    w = lossgrad.tensor(rng.uniform(0.5, 2, 4))
    fn = lambda a, b: lossgrad.nn.functional.cross_entropy(  # noqa: E731
        a, b, weight=w, reduction=reduction, label_smoothing=0.2
    )
    assert gradcheck(fn, (x, y))
    assert gradgradcheck(fn, (x, y))


def test_module_parity():
    x = rng.standard_normal((4, 5, 3))
    t = rng.integers(0, 5, size=(4, 3))
    t[0, 0] = 2
    w = rng.uniform(0.5, 2, 5)
    check(
        lambda lib, a, b, c: lib.nn.CrossEntropyLoss(weight=c, ignore_index=2, label_smoothing=0.1)(
            a, b
        ),
        [x, t, w],
    )
    m = lossgrad.nn.CrossEntropyLoss(weight=lossgrad.tensor(w))
    assert "weight" in dict(m.named_buffers())


def test_signatures():
    same_signature(
        lossgrad.nn.functional.cross_entropy,
        torch.nn.functional.cross_entropy,
        extensions=(
            "lse_square_scale",
            "softcap",
            "return_z_loss",
            "return_token_accuracy",
            "use_token_scaling",
        ),
    )
    same_signature(lossgrad.nn.CrossEntropyLoss, torch.nn.CrossEntropyLoss)
    same_signature(lossgrad.nn.CrossEntropyLoss.forward, torch.nn.CrossEntropyLoss.forward)


def test_tutorial_example():
    torch_ = lossgrad
    nn = lossgrad.nn
    loss = nn.CrossEntropyLoss()
    input = torch_.randn(3, 5, requires_grad=True)
    target = torch_.empty(3, dtype=torch_.long).random_(5)
    output = loss(input, target)
    output.backward()
    assert "grad_fn=<NllLossBackward0>" in repr(output)
    # the same numbers as torch on these inputs
    xt = torch.tensor(input.detach().numpy(), requires_grad=True)
    ref = torch.nn.CrossEntropyLoss()(xt, torch.tensor(target.numpy()))
    ref.backward()
    assert np.isclose(output.item(), ref.item(), rtol=1e-6)
    np.testing.assert_allclose(input.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_non_contiguous_input():
    a = rng.standard_normal((5, 4))
    t = np.array([0, 3, -100, 1])
    for lib in (lossgrad, torch):
        x = lib.tensor(a, requires_grad=True)
        loss = lib.nn.functional.cross_entropy(x.t(), lib.tensor(t), label_smoothing=0.1)
        loss.backward()
        nll = lib.nn.functional.nll_loss(x.t(), lib.tensor(t), reduction="none")
        if lib is lossgrad:
            got = (loss.item(), x.grad.numpy().copy(), nll.detach().numpy())
        else:
            ref = (loss.item(), x.grad.numpy(), nll.detach().numpy())
    assert np.isclose(got[0], ref[0], rtol=1e-12)
    np.testing.assert_allclose(got[1], ref[1], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got[2], ref[2], rtol=1e-12)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_probability_targets_weight_gradient(reduction):
    """A class weight that requires grad gets torch's gradient on the probability path."""
    x, y, w = rng.standard_normal((3, 4, 5)), rng.uniform(size=(3, 4, 5)), rng.uniform(0.5, 2, 4)
    check(_ce(reduction, weight=True, ls=0.1), [x, y, w], grad=(0, 1, 2))


def test_probability_targets_grad_fn_names():
    x = lossgrad.randn(3, 5, requires_grad=True)
    y = lossgrad.rand(3, 5)
    names = {"mean": "DivBackward1", "sum": "NegBackward0", "none": "NegBackward0"}
    for reduction, name in names.items():
        loss = lossgrad.nn.functional.cross_entropy(x, y, reduction=reduction)
        assert loss.grad_fn.name() == name  # torch's
