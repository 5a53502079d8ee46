"""Focal losses (lossgrad extensions): focal_loss / FocalLoss and sigmoid_focal_loss /
SigmoidFocalLoss, against slow references written from the published formulas and against the
same formulas composed from torch ops (whose autograd gives the reference gradients)."""

import math

import numpy as np
import pytest
import torch

import lossgrad
from lossgrad.autograd import gradcheck, gradgradcheck
from parity import check

rng = np.random.default_rng(5)
F = lossgrad.nn.functional


# -- slow references (Python loops over positions, float64) ---------------------------------------


def focal_reference(x, t, gamma, weight=None, reduction="mean", ignore_index=-100):
    """Tutorial's focal loss on (N, C) logits, 'mean' over cross-entropy's weighted count."""
    losses, denom = [], 0.0
    for n in range(x.shape[0]):
        row = [float(v) for v in x[n]]
        if t.ndim == 2:  # class probabilities
            m = max(row)
            lse = m + math.log(sum(math.exp(v - m) for v in row))
            ce = -sum(
                (1.0 if weight is None else weight[c]) * t[n, c] * (row[c] - lse)
                for c in range(len(row))
            )
            denom += 1
        elif t[n] == ignore_index:
            losses.append(0.0)
            continue
        else:
            w = 1.0 if weight is None else float(weight[t[n]])
            m = max(row)
            lse = m + math.log(sum(math.exp(v - m) for v in row))
            ce = w * (lse - row[t[n]])
            denom += w
        losses.append((1 - math.exp(-ce)) ** gamma * ce)
    if reduction == "none":
        return np.array(losses)
    total = sum(losses)
    return total if reduction == "sum" else total / denom


def sigmoid_focal_reference(x, y, alpha, gamma, reduction):
    """torchvision.ops.sigmoid_focal_loss, element by element (moderate logits)."""
    out = []
    for xi, yi in zip(x.ravel(), y.ravel(), strict=True):
        p = 1 / (1 + math.exp(-xi))
        ce = -(yi * math.log(p) + (1 - yi) * math.log(1 - p))
        p_t = p * yi + (1 - p) * (1 - yi)
        loss = ce * (1 - p_t) ** gamma
        if alpha >= 0:
            loss *= alpha * yi + (1 - alpha) * (1 - yi)
        out.append(loss)
    out = np.array(out).reshape(x.shape)
    return out if reduction == "none" else (out.sum() if reduction == "sum" else out.mean())


# -- focal_loss -----------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0, 2.0])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignored", [False, True])
def test_focal_matches_reference(reduction, gamma, weighted, ignored):
    x = rng.standard_normal((6, 4)) * 2
    t = rng.integers(0, 4, 6)
    if ignored:
        t[1] = t[4] = -100
    w = rng.uniform(0.3, 2, 4) if weighted else None
    out = F.focal_loss(
        lossgrad.tensor(x),
        lossgrad.tensor(t),
        gamma=gamma,
        weight=None if w is None else lossgrad.tensor(w),
        reduction=reduction,
    )
    ref = focal_reference(x, t, gamma, w, reduction)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_focal_probability_targets_reference(reduction):
    x = rng.standard_normal((5, 3))
    y = rng.uniform(size=(5, 3))
    y /= y.sum(1, keepdims=True)
    w = rng.uniform(0.5, 2, 3)
    out = F.focal_loss(
        lossgrad.tensor(x),
        lossgrad.tensor(y),
        gamma=2.0,
        weight=lossgrad.tensor(w),
        reduction=reduction,
    )
    np.testing.assert_allclose(out.numpy(), focal_reference(x, y, 2.0, w, reduction), rtol=1e-10)


def _torch_or_lossgrad_focal(gamma, reduction, weighted=False):
    """lossgrad's focal_loss vs the tutorial's formula composed of torch ops."""

    def fn(lib, x, t, *w):
        weight = w[0] if weighted else None
        if lib is lossgrad:
            return F.focal_loss(x, t, gamma=gamma, weight=weight, reduction=reduction)
        ce = torch.nn.functional.cross_entropy(x, t, weight=weight, reduction="none")
        loss = (1 - torch.exp(-ce)) ** gamma * ce
        if reduction == "none":
            return loss
        if reduction == "sum":
            return loss.sum()
        if t.dtype.is_floating_point:
            return loss.sum() / (t.numel() // t.shape[1])
        keep = t != -100
        tw = weight[t[keep]] if weighted else keep.to(x.dtype)
        return loss.sum() / tw.sum()

    return fn


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("gamma", [0.5, 2.0])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("weighted", [False, True])
def test_focal_gradients_match_torch_composite(weighted, reduction, gamma, dtype):
    x = (rng.standard_normal((5, 4, 3)) * 2).astype(dtype)
    t = rng.integers(0, 4, (5, 3))
    w = rng.uniform(0.3, 2, 4).astype(dtype)
    check(_torch_or_lossgrad_focal(gamma, reduction, weighted), [x, t, w])
    check(_torch_or_lossgrad_focal(gamma, reduction, weighted), [x, t, w], second_order=False)


def test_focal_ignored_and_probability_targets_match_torch_composite():
    x = rng.standard_normal((5, 4))
    t = np.array([0, -100, 3, -100, 1])  # gamma >= 1: torch's composite has no 0 * inf there
    check(_torch_or_lossgrad_focal(2.0, "mean", weighted=True), [x, t, rng.uniform(0.5, 2, 4)])
    y = rng.uniform(size=(5, 4))
    check(_torch_or_lossgrad_focal(1.5, "mean"), [x, y / y.sum(1, keepdims=True)], grad=(0, 1))


def test_gamma_zero_is_cross_entropy_exactly():
    x = lossgrad.tensor(rng.standard_normal((6, 5, 2)), requires_grad=True)
    t = lossgrad.tensor(rng.integers(0, 5, (6, 2)))
    t[0, 0] = -100
    w = lossgrad.tensor(rng.uniform(0.5, 2, 5))
    for reduction in ("none", "mean", "sum"):
        a = F.focal_loss(x, t, gamma=0.0, weight=w, reduction=reduction)
        b = F.cross_entropy(x, t, weight=w, reduction=reduction)
        assert np.array_equal(a.detach().numpy(), b.detach().numpy())
        (ga,) = lossgrad.autograd.grad(a.sum(), x)
        (gb,) = lossgrad.autograd.grad(b.sum(), x)
        assert np.array_equal(ga.numpy(), gb.numpy())


@pytest.mark.parametrize("gamma", [0.25, 0.5])
def test_small_gamma_ignored_and_certain_targets_stay_finite(gamma):
    # ce == 0 (ignored, or a prediction certain in floating point): (1 - exp(-ce))**gamma has an
    # infinite slope there, yet the loss is 0 with gradient 0 (d/dce of ce**(1+gamma) at 0)
    x = lossgrad.tensor([[50.0, 0.0, 0.0], [0.3, -0.2, 0.1], [1.0, 2.0, 3.0]], requires_grad=True)
    t = lossgrad.tensor([0, 2, -100])
    loss = F.focal_loss(x, t, gamma=gamma, reduction="sum")
    loss.backward()
    g = x.grad.numpy()
    assert np.all(np.isfinite(g)) and np.all(g[2] == 0)
    # the row that counts has torch's composite gradient
    xt = torch.tensor(x.detach().numpy()[1:2], requires_grad=True)
    ce = torch.nn.functional.cross_entropy(xt, torch.tensor([2]), reduction="none")
    ((1 - torch.exp(-ce)) ** gamma * ce).sum().backward()
    np.testing.assert_allclose(g[1:2], xt.grad.numpy(), rtol=1e-5)


@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_focal_large_input_and_retained_graph(reduction):
    # above the thread pool's threshold (row blocks; row 4 needs the max shift)
    x = rng.standard_normal((300, 1000)).astype(np.float32)
    x[4] += 150.0
    t = rng.integers(0, 1000, 300)
    t[::9] = -100
    w = rng.uniform(0.3, 2, 1000).astype(np.float32)
    check(_torch_or_lossgrad_focal(2.0, reduction, weighted=True), [x, t, w], second_order=False)
    xl = lossgrad.tensor(x, requires_grad=True)
    loss = F.focal_loss(xl, lossgrad.tensor(t), gamma=2.0, reduction=reduction).sum()
    first = lossgrad.autograd.grad(loss, xl, retain_graph=True)[0].numpy()
    second = lossgrad.autograd.grad(loss, xl)[0].numpy()  # recorded ops, not the kept buffer
    np.testing.assert_allclose(second, first, rtol=1e-5, atol=1e-9)


def test_focal_gradcheck():
    x = lossgrad.tensor(rng.standard_normal((4, 3, 2)), requires_grad=True)
    t = lossgrad.tensor(np.array([[0, 2], [-100, 1], [2, 2], [1, 0]]))
    w = lossgrad.tensor(rng.uniform(0.5, 2, 3))
    for gamma in (0.5, 2.0):
        fn = lambda a, g=gamma: F.focal_loss(a, t, gamma=g, weight=w)  # noqa: E731
        assert gradcheck(fn, (x,))
        assert gradgradcheck(fn, (x,))


def test_focal_module_and_errors():
    x = lossgrad.tensor(rng.standard_normal((4, 3)))
    t = lossgrad.tensor(np.array([0, 2, 1, 1]))
    w = lossgrad.tensor(rng.uniform(0.5, 2, 3))
    m = lossgrad.nn.FocalLoss(gamma=2.0, weight=w)
    assert "weight" in dict(m.named_buffers())
    assert m(x, t).item() == F.focal_loss(x, t, gamma=2.0, weight=w).item()
    with pytest.raises(ValueError, match="-1"):
        lossgrad.nn.FocalLoss(gamma=-1)
    with pytest.raises(ValueError, match="-0.5"):
        F.focal_loss(x, t, gamma=-0.5)
    with pytest.raises(ValueError):
        F.focal_loss(x, t, gamma=1.0, reduction="bogus")
    with pytest.raises(IndexError, match="Target 3"):
        F.focal_loss(x, lossgrad.tensor([0, 3, 1, 1]), gamma=1.0)


# -- sigmoid_focal_loss ---------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("alpha", [0.25, 0.6, -1.0])
@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("soft", [False, True])
def test_sigmoid_focal_matches_reference(reduction, alpha, gamma, soft):
    x = rng.standard_normal((4, 5)) * 3
    y = rng.uniform(size=(4, 5)) if soft else rng.integers(0, 2, (4, 5)).astype(np.float64)
    out = F.sigmoid_focal_loss(lossgrad.tensor(x), lossgrad.tensor(y), alpha, gamma, reduction)
    ref = sigmoid_focal_reference(x, y, alpha, gamma, reduction)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-10, atol=1e-13)


def _sigmoid_focal_both(alpha, gamma, reduction):
    """lossgrad vs torchvision's formula composed of torch ops."""

    def fn(lib, x, y):
        if lib is lossgrad:
            return F.sigmoid_focal_loss(x, y, alpha=alpha, gamma=gamma, reduction=reduction)
        p = torch.sigmoid(x)
        ce = torch.nn.functional.binary_cross_entropy_with_logits(x, y, reduction="none")
        p_t = p * y + (1 - p) * (1 - y)
        loss = ce * ((1 - p_t) ** gamma)
        if alpha >= 0:
            loss = (alpha * y + (1 - alpha) * (1 - y)) * loss
        return {"none": loss, "mean": loss.mean(), "sum": loss.sum()}[reduction]

    return fn


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("gamma", [1.0, 2.0])
def test_sigmoid_focal_gradients_match_torch_composite(gamma, reduction, dtype):
    x = (rng.standard_normal((3, 4)) * 2).astype(dtype)
    y = rng.uniform(0.05, 0.95, (3, 4)).astype(dtype)
    yb = rng.integers(0, 2, (3, 4)).astype(dtype)
    for second_order in (True, False):  # recorded backward, then the NumPy one
        check(
            _sigmoid_focal_both(0.25, gamma, reduction),
            [x, y],
            grad=(0, 1),
            second_order=second_order,
        )
        check(_sigmoid_focal_both(-1, gamma, reduction), [x, yb], second_order=second_order)


def test_sigmoid_focal_extreme_logits():
    x = lossgrad.tensor(np.array([1000.0, -1000.0, 1000.0, -1000.0, 0.0]), requires_grad=True)
    y = lossgrad.tensor(np.array([1.0, 1.0, 0.0, 0.0, 1.0]))
    for gamma in (0.5, 2.0):
        loss = F.sigmoid_focal_loss(x, y, alpha=0.25, gamma=gamma)
        (g,) = lossgrad.autograd.grad(loss.sum(), x, create_graph=True)
        (gg,) = lossgrad.autograd.grad(g.sum(), x)
        # by hand: confident and right -> 0; confident and wrong -> alpha_t * |x|, slope alpha_t
        half = 0.25 * math.log(2) * 0.5**gamma
        np.testing.assert_allclose(loss.detach().numpy(), [0, 250, 750, 0, half], rtol=1e-12)
        np.testing.assert_allclose(g.detach().numpy()[:4], [0, -0.25, 0.75, 0], atol=1e-12)
        assert np.all(np.isfinite(g.detach().numpy())) and np.all(np.isfinite(gg.numpy()))
    # float32 too
    x32 = lossgrad.tensor([1000.0, -1000.0], requires_grad=True)
    out = F.sigmoid_focal_loss(x32, lossgrad.tensor([1.0, 0.0]), reduction="sum")
    out.backward()
    assert out.item() == 0.0 and np.all(x32.grad.numpy() == 0)


@pytest.mark.parametrize("grad", [(0,), (0, 1)])
@pytest.mark.parametrize("alpha, gamma", [(0.25, 2.0), (-1.0, 1.5), (0.6, 1.0), (0.25, 0.0)])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_sigmoid_focal_large_blocks(reduction, alpha, gamma, grad):
    # above the thread pool's threshold: blocks of binary targets take the short formula, the
    # block holding soft targets (and every block when the targets need a gradient) the general
    x = (rng.standard_normal((300, 1000)) * 3).astype(np.float32)
    y = rng.integers(0, 2, (300, 1000)).astype(np.float32)
    y[100:102] = rng.uniform(size=(2, 1000))
    x[0, :10] = [30, -30, 80, -80, 1e-3, -1e-3, 0, 17, -17, 5]
    check(
        _sigmoid_focal_both(alpha, gamma, reduction),
        [x, y],
        grad=grad,
        second_order=False,
    )


def test_sigmoid_focal_large_retained_graph():
    x = lossgrad.tensor(rng.standard_normal((300, 1000)).astype(np.float32), requires_grad=True)
    y = lossgrad.tensor(rng.integers(0, 2, (300, 1000)).astype(np.float32))
    loss = F.sigmoid_focal_loss(x, y, reduction="mean")
    first = lossgrad.autograd.grad(loss, x, retain_graph=True)[0].numpy()
    second = lossgrad.autograd.grad(loss, x)[0].numpy()  # recorded ops, not the kept buffer
    np.testing.assert_allclose(second, first, rtol=1e-5, atol=1e-12)


def test_sigmoid_focal_gradcheck():
    x = lossgrad.tensor(rng.standard_normal((3, 4)) * 2, requires_grad=True)
    y = lossgrad.tensor(rng.uniform(0.1, 0.9, (3, 4)), requires_grad=True)
    yb = lossgrad.tensor(rng.integers(0, 2, (3, 4)).astype(np.float64))
    for gamma in (0.5, 2.0):
        assert gradcheck(lambda a, b, g=gamma: F.sigmoid_focal_loss(a, b, gamma=g), (x, y))
        assert gradgradcheck(lambda a, b, g=gamma: F.sigmoid_focal_loss(a, b, gamma=g), (x, y))
        fn = lambda a, g=gamma: F.sigmoid_focal_loss(a, yb, gamma=g, reduction="mean")  # noqa: E731
        assert gradgradcheck(fn, (x,))


def test_sigmoid_focal_module_and_errors():
    m = lossgrad.nn.SigmoidFocalLoss()
    assert (m.alpha, m.gamma, m.reduction) == (0.25, 2.0, "none")
    x, y = lossgrad.randn(3, 2), lossgrad.tensor(rng.integers(0, 2, (3, 2)).astype(np.float32))
    np.testing.assert_array_equal(m(x, y).numpy(), F.sigmoid_focal_loss(x, y).numpy())
    assert m(x, y).dtype == lossgrad.float32
    with pytest.raises(ValueError, match="bogus"):
        F.sigmoid_focal_loss(x, y, reduction="bogus")
    with pytest.raises(ValueError, match="must be the same"):
        F.sigmoid_focal_loss(x, y[:2])


def test_signatures():
    import inspect

    params = inspect.signature(F.sigmoid_focal_loss).parameters
    assert [(p.name, p.default) for p in params.values()] == [
        ("inputs", inspect.Parameter.empty),
        ("targets", inspect.Parameter.empty),
        ("alpha", 0.25),
        ("gamma", 2),
        ("reduction", "none"),
    ]  # torchvision's
    params = inspect.signature(lossgrad.nn.FocalLoss).parameters
    assert list(params)[:3] == ["gamma", "weight", "reduction"]
    assert params["gamma"].default == 0.0 and params["reduction"].default == "mean"
