"""Parity of l1_loss, mse_loss, smooth_l1_loss, huber_loss (and their modules) with torch."""

import numpy as np
import pytest
import torch

import lossgrad
from lossgrad.autograd import gradcheck, gradgradcheck
from parity import check as _check
from parity import check_raises, same_signature


def check(fn, args, **kw):
    """parity.check with NumPy scalars (0-d results of NumPy math) passed as 0-d arrays."""
    return _check(fn, [np.asarray(a) if isinstance(a, np.generic) else a for a in args], **kw)


rng = np.random.default_rng(7)
REDUCTIONS = ["none", "mean", "sum"]
DTYPES = [np.float32, np.float64]

# (functional name, extra keyword options)
LOSSES = [
    ("l1_loss", {}),
    ("mse_loss", {}),
    ("smooth_l1_loss", {}),
    ("smooth_l1_loss", {"beta": 0.4}),
    ("smooth_l1_loss", {"beta": 0.0}),
    ("huber_loss", {}),
    ("huber_loss", {"delta": 0.3}),
]
LOSS_IDS = [f"{n}-{kw}" for n, kw in LOSSES]

# (input shape, target shape): same, unbatched, 0-d, broadcast target, broadcast input, empty
SHAPES = [
    ((4, 3), (4, 3)),
    ((5,), (5,)),
    ((), ()),
    ((4, 3), (3,)),
    ((4, 1), (4, 3)),
    ((0, 3), (0, 3)),
]


def _normal(shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("shapes", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name,kw", LOSSES, ids=LOSS_IDS)
def test_parity_grid(name, kw, reduction, dtype, shapes):
    x, y = _normal(shapes[0], dtype), _normal(shapes[1], dtype)
    check(
        lambda lib, a, b: getattr(lib.nn.functional, name)(a, b, reduction=reduction, **kw),
        [x, y],
        grad=(0, 1),
    )


@pytest.mark.parametrize("size_average", [None, True, False])
@pytest.mark.parametrize("reduce", [None, True, False])
@pytest.mark.parametrize("name", ["l1_loss", "mse_loss", "smooth_l1_loss"])
def test_legacy_flags(name, size_average, reduce):
    x, y = _normal((3, 4), np.float64), _normal((3, 4), np.float64)
    # reduction="sum" is overridden whenever a legacy flag is given (torch's truth table + warning)
    check(
        lambda lib, a, b: getattr(lib.nn.functional, name)(
            a, b, size_average=size_average, reduce=reduce, reduction="sum"
        ),
        [x, y],
        grad=(0, 1),
    )


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", ["l1_loss", "mse_loss", "huber_loss"])
def test_functional_weight(name, reduction, dtype):
    """l1/mse 'mean' = sum(w l) / sum(w); huber 'mean' = mean(w l): torch's inconsistency."""
    x, y = _normal((4, 3), dtype), _normal((4, 3), dtype)
    w = rng.random((4, 3)).astype(dtype)
    check(
        lambda lib, a, b, c: getattr(lib.nn.functional, name)(a, b, reduction=reduction, weight=c),
        [x, y, w],
        grad=(0, 1, 2),
    )


@pytest.mark.parametrize("name", ["l1_loss", "mse_loss"])
def test_weight_with_broadcast_and_legacy(name):
    x, y, w = _normal((4, 1), np.float64), _normal((4, 3), np.float64), rng.random((4, 1))
    check(
        lambda lib, a, b, c: getattr(lib.nn.functional, name)(a, b, weight=c, reduce=True),
        [x, y, w],
        grad=(0, 1, 2),
    )


def test_weighted_mean_value_by_hand():
    x, y, w = np.array([1.0, 3.0]), np.array([0.0, 0.0]), np.array([1.0, 3.0])
    F = lossgrad.nn.functional
    t = [lossgrad.tensor(a) for a in (x, y, w)]
    assert F.mse_loss(*t[:2], weight=t[2]).item() == pytest.approx((1 * 1 + 3 * 9) / 4)
    assert F.l1_loss(*t[:2], weight=t[2]).item() == pytest.approx((1 * 1 + 3 * 3) / 4)
    assert F.huber_loss(*t[:2], weight=t[2]).item() == pytest.approx((1 * 0.5 + 3 * 2.5) / 2)


@pytest.mark.parametrize("name", ["l1_loss", "mse_loss", "huber_loss"])
@pytest.mark.parametrize("case", ["bad_size", "elementwise_mean", "bad_reduction"])
def test_weight_errors(name, case):
    x, y = _normal((4, 3), np.float64), _normal((4, 3), np.float64)
    w = rng.random((3,) if case == "bad_size" else (4, 3))
    red = {"bad_size": "mean", "elementwise_mean": "elementwise_mean", "bad_reduction": "avg"}[case]
    err = check_raises(
        lambda lib, a, b, c: getattr(lib.nn.functional, name)(a, b, reduction=red, weight=c),
        [x, y, w],
    )
    assert isinstance(err, ValueError)


@pytest.mark.parametrize("name,kw", LOSSES, ids=LOSS_IDS)
def test_elementwise_mean_alias_warns(name, kw):
    x, y = _normal((3,), np.float32), _normal((3,), np.float32)
    check(
        lambda lib, a, b: getattr(lib.nn.functional, name)(
            a, b, reduction="elementwise_mean", **kw
        ),
        [x, y],
        grad=(0, 1),
    )


@pytest.mark.parametrize(
    "name,kw,shapes,expected",
    [
        ("mse_loss", {"reduction": "avg"}, ((3,), (3,)), ValueError),
        ("l1_loss", {"reduction": "batchmean"}, ((3,), (3,)), ValueError),
        ("huber_loss", {"reduction": "avg"}, ((3,), (3,)), ValueError),
        ("smooth_l1_loss", {"beta": -1.0}, ((3,), (3,)), RuntimeError),
        ("smooth_l1_loss", {"beta": "a"}, ((3,), (3,)), TypeError),
        ("huber_loss", {"delta": 0.0}, ((3,), (3,)), RuntimeError),
        ("huber_loss", {"delta": -2.0}, ((3,), (3,)), RuntimeError),
        ("huber_loss", {"delta": None}, ((3,), (3,)), TypeError),
        ("mse_loss", {}, ((4, 3), (4, 2)), RuntimeError),
        ("l1_loss", {}, ((4, 3), (2,)), RuntimeError),
        ("smooth_l1_loss", {}, ((4, 3), (5, 3)), RuntimeError),
        ("huber_loss", {}, ((3,), (2,)), RuntimeError),
    ],
)
def test_errors(name, kw, shapes, expected):
    x, y = _normal(shapes[0], np.float32), _normal(shapes[1], np.float32)
    err = check_raises(lambda lib, a, b: getattr(lib.nn.functional, name)(a, b, **kw), [x, y])
    assert isinstance(err, expected)


@pytest.mark.parametrize("name,kw", LOSSES, ids=LOSS_IDS)
@pytest.mark.parametrize(
    "dtypes",
    [
        (np.float32, np.float64),
        (np.float64, np.float32),
        (np.float32, np.int64),
        (np.int64, np.float32),
        (np.int64, np.int64),
        (np.float32, np.bool_),
    ],
    ids=str,
)
def test_mixed_dtypes(name, kw, dtypes):
    """Promotion (mse, smooth_l1, l1), the input's dtype (huber), torch's errors for ints and
    for a bool target in l1 (its ``input - target``)."""
    x = (rng.standard_normal((3, 2)) * 3).astype(dtypes[0])
    y = (rng.standard_normal((3, 2)) * 3).astype(dtypes[1])
    grad = tuple(i for i, d in enumerate(dtypes) if d not in (np.int64, np.bool_))
    if name == "huber_loss" and dtypes[0] != dtypes[1]:
        grad = ()  # torch's huber backward raises "Found dtype ... but expected ..." (a torch bug)
    # torch's smooth_l1 double backward computes ``input - target`` and raises for a bool target
    second = not (name == "smooth_l1_loss" and dtypes[1] == np.bool_)
    # float32 rounding enters wherever a gradient is cast back: float32-level tolerances
    check(
        lambda lib, a, b: getattr(lib.nn.functional, name)(a, b, **kw),
        [x, y],
        grad=grad,
        rtol=1e-4,
        atol=1e-5,
        second_order=second,
    )


@pytest.mark.parametrize("name,kw", LOSSES, ids=LOSS_IDS)
def test_subgradients_at_kinks(name, kw):
    """d = 0 (abs), |d| == beta / delta (branch choice) and both sides: first and second order."""
    x = np.array([0.0, 1.0, -1.0, 0.4, -0.4, 0.3, -0.3, 2.5, -0.1])
    check(
        lambda lib, a, b: getattr(lib.nn.functional, name)(a, b, reduction="sum", **kw),
        [x, np.zeros_like(x)],
        grad=(0, 1),
    )


@pytest.mark.parametrize("name,kw", LOSSES, ids=LOSS_IDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gradcheck(name, kw, reduction):
    # |d| kept off 0, beta and delta so that finite differences see a smooth function
    x = lossgrad.tensor(np.array([[0.1, -0.75, 1.7], [-2.2, 0.55, 0.2]]), requires_grad=True)
    y = lossgrad.tensor(np.array([[0.3, 0.3, -0.5], [0.05, -0.5, 0.9]]), requires_grad=True)

    def fn(a, b):
        return getattr(lossgrad.nn.functional, name)(a, b, reduction=reduction, **kw)

    assert gradcheck(fn, (x, y))
    assert gradgradcheck(fn, (x, y))


def test_weighted_gradcheck():
    x = lossgrad.tensor(np.array([0.1, -0.75, 1.7]), requires_grad=True)
    y = lossgrad.tensor(np.array([0.3, 0.3, -0.5]), requires_grad=True)
    w = lossgrad.tensor(np.array([0.5, 2.0, 1.5]), requires_grad=True)
    for name in ("l1_loss", "mse_loss", "huber_loss"):
        fn = getattr(lossgrad.nn.functional, name)
        assert gradcheck(lambda a, b, c, f=fn: f(a, b, weight=c), (x, y, w))
        assert gradgradcheck(lambda a, b, c, f=fn: f(a, b, weight=c), (x, y, w))


def test_third_order_mse():
    """The fused gradient op is itself differentiable twice (d^3/dx^3 of sum (x - y)^2 = 0)."""
    x = lossgrad.tensor([1.0, 2.0], requires_grad=True)
    y = lossgrad.tensor([0.5, -1.0])
    g1 = lossgrad.autograd.grad(
        lossgrad.nn.functional.mse_loss(x, y, reduction="sum"), x, create_graph=True
    )[0]
    g2 = lossgrad.autograd.grad(g1.sum(), x, create_graph=True)[0]
    np.testing.assert_allclose(g1.detach().numpy(), [1.0, 6.0])
    np.testing.assert_allclose(g2.detach().numpy(), [2.0, 2.0])


# -- modules ---------------------------------------------------------------------------------------

MODULES = [
    ("L1Loss", {}),
    ("MSELoss", {}),
    ("SmoothL1Loss", {"beta": 0.5}),
    ("HuberLoss", {"delta": 0.5}),
]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name,kw", MODULES, ids=[m for m, _ in MODULES])
def test_modules(name, kw, reduction):
    x, y = _normal((4, 3), np.float32), _normal((4, 3), np.float32)
    check(
        lambda lib, a, b: getattr(lib.nn, name)(reduction=reduction, **kw)(a, b),
        [x, y],
        grad=(0, 1),
    )


@pytest.mark.parametrize("name", ["L1Loss", "MSELoss", "SmoothL1Loss"])
def test_module_legacy_flags(name):
    """The flags are resolved (and warned about) at construction, as in torch."""
    x, y = _normal((4, 3), np.float64), _normal((4, 3), np.float64)
    check(lambda lib, a, b: getattr(lib.nn, name)(size_average=False)(a, b), [x, y], grad=(0, 1))
    check(
        lambda lib, a, b: getattr(lib.nn, name)(reduce=False, reduction="sum")(a, b),
        [x, y],
        grad=(0, 1),
    )


def test_huber_module_delta_type():
    err = check_raises(lambda lib: lib.nn.HuberLoss(delta="1"), [])
    assert isinstance(err, TypeError)
    assert lossgrad.nn.HuberLoss(delta=2).delta == 2


@pytest.mark.parametrize("name", ["l1_loss", "mse_loss", "smooth_l1_loss", "huber_loss"])
def test_functional_signature(name):
    same_signature(getattr(lossgrad.nn.functional, name), getattr(torch.nn.functional, name))


@pytest.mark.parametrize("name", [m for m, _ in MODULES])
def test_module_signature(name):
    same_signature(getattr(lossgrad.nn, name), getattr(torch.nn, name))
    same_signature(getattr(lossgrad.nn, name).forward, getattr(torch.nn, name).forward)


def test_grad_fn_names():
    x = lossgrad.tensor([1.0, 2.0], requires_grad=True)
    y = lossgrad.tensor([0.0, 0.0])
    F = lossgrad.nn.functional
    assert F.mse_loss(x, y).grad_fn.name() == "MseLossBackward0"
    assert F.smooth_l1_loss(x, y).grad_fn.name() == "SmoothL1LossBackward0"
    assert F.huber_loss(x, y).grad_fn.name() == "HuberLossBackward0"


# -- the first-order fast path (backward_array from the array the forward kept) -----------------

FAST_SIZES = [9, 300_001]  # one block; several blocks over the thread pool


def _with_kinks(x, y, dtype):
    """d = 0, |d| = 0.4 / 1 (branch points), subnormal d, huge d and NaN."""
    tiny = np.finfo(dtype).smallest_subnormal
    x[:9] = [0.0, 0.4, -1.0, tiny, -tiny, 3.0, 1e30, -1e30, np.nan]
    y[:9] = [0.0, 0.0, 0.0, 0.0, 0.0, 3.0, 0.0, 0.0, 0.0]
    return x, y


@pytest.mark.parametrize("n", FAST_SIZES)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name,kw", LOSSES, ids=LOSS_IDS)
def test_first_order_fast_path(name, kw, reduction, dtype, n):
    """create_graph=False takes backward_array (the kept slope scaled in place): both inputs,
    the input only and the target only (the sign folds into the scale)."""
    x, y = _with_kinks(_normal(n, dtype), _normal(n, dtype), dtype)
    if name == "mse_loss":  # squares of 1e30 overflow float32 to inf, as in torch; keep finite
        x[6:8] = [1e10, -1e10]
    for grad in ((0, 1), (0,), (1,)):
        check(
            lambda lib, a, b: getattr(lib.nn.functional, name)(a, b, reduction=reduction, **kw),
            [x, y],
            grad=grad,
            second_order=False,
        )


@pytest.mark.parametrize("copies", [1, 1000])
def test_l1_gradient_signs_exactly(copies):
    """sgn(d) is exactly -1, 0 or 1 (subnormals, infinities), and 0 at NaN as torch's sgn; at
    8000 elements through the scratch masks of ``sgn_into``."""
    for dtype in DTYPES:
        tiny = np.finfo(dtype).smallest_subnormal
        x = np.tile(np.array([tiny, -tiny, 0.0, -0.0, np.inf, -np.inf, np.nan, 2.5], dtype), copies)
        for lib in (lossgrad, torch):
            a = lib.tensor(x, requires_grad=True)
            zeros = lib.zeros(x.size, dtype=a.dtype)
            lib.nn.functional.l1_loss(a, zeros, reduction="sum").backward()
            got = a.grad.numpy()
            np.testing.assert_array_equal(got, np.tile([1, -1, 0, 0, 1, -1, 0, 1], copies))


@pytest.mark.parametrize("name,kw", LOSSES, ids=LOSS_IDS)
def test_retained_graph_backward_twice(name, kw):
    """The kept array is copied while the graph is retained, consumed on the last walk."""
    x, y = _normal((300_001,), np.float32), _normal((300_001,), np.float32)
    grads = []
    for lib in (lossgrad, torch):
        a, b = lib.tensor(x, requires_grad=True), lib.tensor(y, requires_grad=True)
        loss = getattr(lib.nn.functional, name)(a, b, **kw)
        loss.backward(retain_graph=True)
        first = a.grad.numpy().copy()
        loss.backward()
        grads.append((first, a.grad.numpy(), b.grad.numpy()))
    for lg, th in zip(grads[0], grads[1]):
        np.testing.assert_allclose(lg, th, rtol=1e-4, atol=1e-6)


def test_fast_path_raises_after_free_and_inplace_change():
    for lib in (lossgrad, torch):
        a = lib.tensor([1.0, 2.0], requires_grad=True)
        loss = lib.nn.functional.mse_loss(a, lib.tensor([0.0, 0.0]))
        loss.backward()
        with pytest.raises(RuntimeError):
            loss.backward()
        h = a * 1.0
        loss = lib.nn.functional.huber_loss(h, lib.tensor([0.0, 0.0]))
        with lib.no_grad():
            h.add_(1.0)
        with pytest.raises(RuntimeError):
            loss.backward()


def test_create_graph_after_a_first_order_walk():
    """A retained first-order walk leaves the double-backward path intact."""
    x, y = _normal((5,), np.float64), _normal((5,), np.float64)
    out = []
    for lib in (lossgrad, torch):
        a = lib.tensor(x, requires_grad=True)
        loss = lib.nn.functional.smooth_l1_loss(a, lib.tensor(y), beta=0.5, reduction="sum")
        (g1,) = lib.autograd.grad(loss, a, retain_graph=True)
        (g2,) = lib.autograd.grad(loss, a, create_graph=True)
        (h,) = lib.autograd.grad((g2 * g2).sum(), a)
        out.append((g1.numpy(), g2.detach().numpy(), h.numpy()))
    for lg, th in zip(*out):
        np.testing.assert_allclose(lg, th, rtol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize(
    "call",
    [
        lambda F, a, b, r: F.mse_loss(a, b, reduction=r),
        lambda F, a, b, r: F.l1_loss(a, b, reduction=r),
        lambda F, a, b, r: F.huber_loss(a, b, reduction=r, delta=0.5),
        lambda F, a, b, r: F.smooth_l1_loss(a, b, reduction=r, beta=0.3),
    ],
)
@pytest.mark.parametrize("size", [7, 300_001])
def test_plain_backward_hands_out_the_prescaled_slopes(call, reduction, size):
    """``loss.backward()`` (an upstream gradient of 1) takes the slopes the forward already
    scaled; both target and input gradients, small and threaded sizes, against torch."""
    g = np.random.default_rng(size)
    a = g.standard_normal(size).astype(np.float32)
    b = g.standard_normal(size).astype(np.float32)
    out = []
    for lib in (lossgrad, torch):
        x, y = lib.tensor(a, requires_grad=True), lib.tensor(b, requires_grad=True)
        call(lib.nn.functional, x, y, reduction).backward()
        out.append([t.grad.detach().numpy() if lib is torch else t.grad.numpy() for t in (x, y)])
    for mine, theirs in zip(out[0], out[1]):
        np.testing.assert_allclose(mine, theirs, rtol=1e-6, atol=1e-12)
