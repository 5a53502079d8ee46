"""Parity of the probability losses (BCE, BCEWithLogits, KLDiv, PoissonNLL, GaussianNLL, SoftMargin,
MultiLabelSoftMargin) and their modules with torch."""

import warnings

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


rng = np.random.default_rng(11)
REDUCTIONS = ["none", "mean", "sum"]
DTYPES = [np.float32, np.float64]
DT_IDS = ["f32", "f64"]
SHAPES = [(4, 3), (5,), (), (0, 3)]


def _normal(shape, dtype=np.float64):
    return np.asarray(rng.standard_normal(shape), dtype)


def _prob(shape, dtype=np.float64):
    return np.asarray(rng.uniform(0.05, 0.95, shape), dtype)


def _sign(shape, dtype=np.float64):
    return np.asarray(np.where(rng.random(shape) < 0.5, -1.0, 1.0), dtype)


def F(lib):
    return lib.nn.functional


# -- binary_cross_entropy --------------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce(reduction, dtype, shape):
    check(
        lambda lib, x, y: F(lib).binary_cross_entropy(x, y, reduction=reduction),
        [_prob(shape, dtype), _prob(shape, dtype)],
        grad=(0, 1),
    )


@pytest.mark.parametrize("wshape", [(3,), (4, 3), (4, 1), (1, 1)], ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_weight(reduction, wshape):
    check(
        lambda lib, x, y, w: F(lib).binary_cross_entropy(x, y, w, reduction=reduction),
        [_prob((4, 3)), _prob((4, 3)), rng.random(wshape)],
        grad=(0, 1),
    )


def test_bce_exact_zero_one():
    """log clamped at -100 (BCE(0, 1) = 100) and the gradient denominator at 1e-12, as in torch."""
    x = np.array([0.0, 1.0, 0.0, 1.0, 0.5])
    y = np.array([1.0, 0.0, 0.0, 1.0, 0.5])
    out = check(
        lambda lib, a, b: F(lib).binary_cross_entropy(a, b, reduction="none"),
        [x, y],
        grad=(0,),
        second_order=False,
    )
    np.testing.assert_allclose(out.detach().numpy(), [100, 100, 0, 0, np.log(2)])


@pytest.mark.parametrize("n", [12, 600_000])
@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_input_gradient_kept(n, dtype, reduction):
    """Only the input needs a gradient: the fused forward keeps it, prescaled (one call at 12
    elements, blocks over the thread pool at 600k); exact 0 and 1, -0.0 (accepted, as torch's
    ``x >= 0`` does) and targets of 0 and 1 included."""
    x, y = _prob((n // 6, 6), dtype), _prob((n // 6, 6), dtype)
    x[0, :4] = [0.0, 1.0, -0.0, 1.0]
    y[0, :4] = [1.0, 0.0, 0.0, 1.0]
    check(
        lambda lib, a, b: F(lib).binary_cross_entropy(a, b, reduction=reduction),
        [x, y],
        rtol=1e-4,
        atol=1e-6,
        second_order=n < 100,
    )


@pytest.mark.parametrize("bad", [-1e-30, 1.0000001, np.nan, np.inf, -np.inf])
def test_bce_range_check_one_pass(bad):
    """The one-pass check on the bits refuses everything outside [0, 1] that the two-pass check
    refuses, in either argument."""
    for which in (0, 1):
        args = [_prob((3, 4), np.float32), _prob((3, 4), np.float32)]
        args[which][2, 1] = bad
        check_raises(lambda lib, a, b: F(lib).binary_cross_entropy(a, b), args)


@pytest.mark.parametrize(
    "case",
    [
        "size",
        "input_range",
        "input_nan",
        "target_range",
        "dtype",
        "int",
        "weight_grad",
        "weight_shape",
    ],
)
def test_bce_errors(case):
    x, y, w = _prob((4, 3)), _prob((4, 3)), None
    grad = ()
    if case == "size":
        y = _prob((4, 1))
    elif case == "input_range":
        x[1, 1] = 1.5
    elif case == "input_nan":
        x[0, 0] = np.nan
    elif case == "target_range":
        y[0, 2] = -0.1
    elif case == "dtype":
        y = y.astype(np.float32)
    elif case == "int":
        x, y = (x > 0.5).astype(np.int64), (y > 0.5).astype(np.int64)
    elif case == "weight_grad":
        w, grad = rng.random(3), (0, 2)
    elif case == "weight_shape":
        w = rng.random((2, 4, 3))
    # check() returns None only when torch raised, after asserting lossgrad raised the same class
    assert (
        check(lambda lib, a, b, c: F(lib).binary_cross_entropy(a, b, c), [x, y, w], grad=grad)
        is None
    )


# -- binary_cross_entropy_with_logits --------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits(reduction, dtype, shape):
    check(
        lambda lib, x, y: F(lib).binary_cross_entropy_with_logits(x, y, reduction=reduction),
        [_normal(shape, dtype) * 3, _prob(shape, dtype)],
        grad=(0, 1),
    )


@pytest.mark.parametrize("pw_shape", [None, (3,), (4, 3), (1, 3), ()], ids=str)
@pytest.mark.parametrize("w_shape", [None, (3,), (4, 1)], ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits_weights(reduction, w_shape, pw_shape):
    w = rng.random(w_shape) + 0.5 if w_shape is not None else None
    pw = rng.random(pw_shape) * 3 if pw_shape is not None else None
    check(
        lambda lib, x, y, a, b: F(lib).binary_cross_entropy_with_logits(
            x, y, a, reduction=reduction, pos_weight=b
        ),
        [_normal((4, 3)) * 2, _prob((4, 3)), w, pw],
        grad=(0, 1),
    )


def test_bce_with_logits_pos_weight_channels():
    """pos_weight (C, 1, 1) for a (B, C, H, W) target, as torch's docs advise."""
    check(
        lambda lib, x, y, p: F(lib).binary_cross_entropy_with_logits(x, y, pos_weight=p),
        [_normal((2, 3, 2, 2)), _prob((2, 3, 2, 2)), rng.random((3, 1, 1)) * 2],
        grad=(0, 1),
    )


@pytest.mark.parametrize(
    "case",
    [
        "size",
        "weight_grad",
        "pos_weight_grad",
        "weight_shape",
        "pw_shape",
        "int_input",
        "int_target",
    ],
)
def test_bce_with_logits_errors(case):
    x, y, w, pw, grad = _normal((4, 3)), _prob((4, 3)), None, None, ()
    if case == "size":
        y = _prob((3,))
    elif case == "weight_grad":
        w, grad = rng.random(3), (0, 2)
    elif case == "pos_weight_grad":
        pw, grad = rng.random(3), (0, 3)
    elif case == "weight_shape":
        w = rng.random((2, 4, 3))
    elif case == "pw_shape":
        pw = rng.random((5, 1, 3))
    elif case == "int_input":
        x = (x > 0).astype(np.int64)
    elif case == "int_target":
        y = (y > 0.5).astype(np.int64)
    assert (
        check(
            lambda lib, a, b, c, d: F(lib).binary_cross_entropy_with_logits(a, b, c, pos_weight=d),
            [x, y, w, pw],
            grad=grad,
        )
        is None
    )


@pytest.mark.parametrize("dtypes", [(np.float32, np.float64), (np.float64, np.float32)], ids=str)
def test_bce_with_logits_output_dtype_is_targets(dtypes):
    check(
        lambda lib, x, y: F(lib).binary_cross_entropy_with_logits(x, y),
        [_normal((3, 2), dtypes[0]), _prob((3, 2), dtypes[1])],
        grad=(0, 1),
        rtol=1e-4,
        atol=1e-5,
    )


# -- soft_margin_loss ------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_soft_margin(reduction, dtype, shape):
    check(
        lambda lib, x, y: F(lib).soft_margin_loss(x, y, reduction=reduction),
        [_normal(shape, dtype) * 2, _sign(shape, dtype)],
        grad=(0,),
    )


def test_soft_margin_broadcast_target_and_dtypes():
    check(
        lambda lib, x, y: F(lib).soft_margin_loss(x, y, reduction="none"),
        [_normal((4, 3)), _sign((3,))],
        grad=(0,),
    )
    check(
        lambda lib, x, y: F(lib).soft_margin_loss(x, y),  # output keeps the input's dtype
        [_normal((4, 3), np.float32), _sign((4, 3))],
        grad=(0,),
    )
    check(
        lambda lib, x, y: F(lib).soft_margin_loss(x, y),
        [_normal((4, 3)), _sign((4, 3)).astype(np.int64)],
    )


@pytest.mark.parametrize("case", ["target_grad", "int_input", "bad_broadcast"])
def test_soft_margin_errors(case):
    x, y, grad = _normal((4, 3)), _sign((4, 3)), ()
    if case == "target_grad":
        grad = (0, 1)
    elif case == "int_input":
        x = x.astype(np.int64)
    else:
        x = _normal((3,))
    assert check(lambda lib, a, b: F(lib).soft_margin_loss(a, b), [x, y], grad=grad) is None


# -- kl_div ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("log_target", [False, True])
@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("reduction", REDUCTIONS + ["batchmean"])
def test_kl_div(reduction, dtype, log_target, shape):
    x = np.log(_prob(shape, dtype))
    y = np.log(_prob(shape, dtype)) if log_target else _prob(shape, dtype)
    check(
        lambda lib, a, b: F(lib).kl_div(a, b, reduction=reduction, log_target=log_target),
        [x, y],
        grad=(0, 1),
    )


@pytest.mark.parametrize("n", [12, 600_000])
@pytest.mark.parametrize("log_target", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS + ["batchmean"])
def test_kl_div_input_gradient_kept(n, log_target, reduction):
    """Only the input needs a gradient: the fused forward keeps it (in one call at 12 elements,
    in blocks over the thread pool at 600k); zero, negative and NaN targets included."""
    x = np.log(_prob((n // 6, 6), np.float32))
    y = np.log(_prob((n // 6, 6), np.float32)) if log_target else _prob((n // 6, 6), np.float32)
    y[0, :3] = [0.0, -0.5, np.nan]
    check(
        lambda lib, a, b: F(lib).kl_div(a, b, reduction=reduction, log_target=log_target),
        [x, y],
        rtol=1e-4,
        atol=1e-6,
        second_order=n < 100,
    )


def test_kl_div_zero_and_broadcast_targets():
    """y == 0 contributes 0 (xlogy), its target gradient is NaN as in torch; targets broadcast."""
    x = np.log(_prob((3, 4)))
    y = _prob((3, 4))
    y[0, 1] = 0.0
    check(lambda lib, a, b: F(lib).kl_div(a, b, reduction="sum"), [x, y], grad=(0, 1))
    check(
        lambda lib, a, b: F(lib).kl_div(a, b, reduction="batchmean"), [x, _prob((4,))], grad=(0, 1)
    )


@pytest.mark.parametrize(
    "dtypes",
    [
        (np.float32, np.float64),
        (np.float64, np.float32),
        (np.float32, np.int64),
        (np.int64, np.float64),
    ],
    ids=str,
)
def test_kl_div_dtypes(dtypes):
    x, y = np.log(_prob((3, 2))).astype(dtypes[0]), (_prob((3, 2)) * 4).astype(dtypes[1])
    check(
        lambda lib, a, b: F(lib).kl_div(a, b, reduction="sum"),
        [x, y],
        rtol=1e-4,
        atol=1e-5,
        grad=tuple(i for i, d in enumerate(dtypes) if d != np.int64),
    )


# -- poisson_nll_loss ------------------------------------------------------------------------------


@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("log_input", [True, False])
@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_poisson_nll(reduction, dtype, log_input, full):
    x = _normal((4, 3), dtype) if log_input else _prob((4, 3), dtype) * 3
    y = rng.integers(0, 6, (4, 3)).astype(dtype)  # counts 0 and 1 hit the Stirling mask
    check(
        lambda lib, a, b: F(lib).poisson_nll_loss(
            a, b, log_input=log_input, full=full, reduction=reduction
        ),
        [x, y],
        grad=(0, 1),
    )


def test_poisson_nll_eps_shapes_and_zero_rate():
    check(
        lambda lib, a, b: F(lib).poisson_nll_loss(a, b, log_input=False, eps=0.5),
        [_prob((3,)), _prob((3,))],
        grad=(0, 1),
    )
    check(
        lambda lib, a, b: F(lib).poisson_nll_loss(a, b, log_input=False),
        [np.zeros(3), np.ones(3) * 2],
        grad=(0, 1),
    )
    for shape in [(), (0, 2)]:
        check(
            lambda lib, a, b: F(lib).poisson_nll_loss(a, b, full=True),
            [_normal(shape), _prob(shape) * 3],
            grad=(0, 1),
        )


# -- gaussian_nll_loss -----------------------------------------------------------------------------


@pytest.mark.parametrize("var_form", ["full", "no_last_dim", "one_dim_1", "float"])
@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gaussian_nll(reduction, dtype, full, var_form):
    x, y = _normal((4, 3), dtype), _normal((4, 3), dtype)
    var = {
        "full": rng.uniform(0.2, 2, (4, 3)),
        "no_last_dim": rng.uniform(0.2, 2, (4,)),
        "one_dim_1": rng.uniform(0.2, 2, (1, 3)),
        "float": 0.7,
    }[var_form]
    var = var.astype(dtype) if isinstance(var, np.ndarray) else var
    grad = (0, 1, 2) if isinstance(var, np.ndarray) else (0, 1)
    check(
        lambda lib, a, b, v: F(lib).gaussian_nll_loss(a, b, v, full=full, reduction=reduction),
        [x, y, var],
        grad=grad,
    )


def test_gaussian_nll_clamp_is_straight_through():
    """var below eps is clamped in the value but the gradient passes through (torch's no_grad)."""
    var = np.array([0.0, 1e-8, 0.5, 2.0])
    check(
        lambda lib, a, b, v: F(lib).gaussian_nll_loss(a, b, v, reduction="sum"),
        [_normal((4,)), _normal((4,)), var],
        grad=(0, 1, 2),
    )
    check(
        lambda lib, a, b, v: F(lib).gaussian_nll_loss(a, b, v, eps=0.1),
        [_normal((2, 2)), _normal((2, 1)), rng.random((2, 2))],
        grad=(0, 1, 2),
    )


@pytest.mark.parametrize(
    "case",
    [
        "neg_tensor",
        "neg_float",
        "int_var",
        "size_0d",
        "size_last",
        "size_two",
        "bad_reduction",
        "elementwise_mean",
    ],
)
def test_gaussian_nll_errors(case):
    x, y = _normal((3, 4)), _normal((3, 4))
    var, red = rng.random((3, 4)), "mean"
    if case == "neg_tensor":
        var[1, 2] = -1e-3
    elif case == "neg_float":
        var = -1.0
    elif case == "int_var":
        var = 1
    elif case == "size_0d":
        var = np.array(1.0)
    elif case == "size_last":
        var = rng.random(4)
    elif case == "size_two":
        var = rng.random((1, 1))
    elif case == "bad_reduction":
        red = "avg"
    else:
        red = "elementwise_mean"
    check_raises(lambda lib, a, b, v: F(lib).gaussian_nll_loss(a, b, v, reduction=red), [x, y, var])


# -- multilabel_soft_margin_loss -------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(4, 3), (3,), (2, 3, 4), (0, 3)], ids=str)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_multilabel_soft_margin(reduction, dtype, weighted, shape):
    w = rng.random(shape[-1]).astype(dtype) if weighted else None
    check(
        lambda lib, x, y, c: F(lib).multilabel_soft_margin_loss(x, y, c, reduction=reduction),
        [_normal(shape, dtype) * 2, _prob(shape, dtype), w],
        grad=(0, 1, 2) if weighted else (0, 1),
    )


def test_multilabel_soft_margin_errors():
    check_raises(
        lambda lib, x, y: F(lib).multilabel_soft_margin_loss(x, y), [np.array(0.5), np.array(1.0)]
    )
    check_raises(
        lambda lib, x, y: F(lib).multilabel_soft_margin_loss(x, y, reduction="elementwise_mean"),
        [_normal((2, 3)), _prob((2, 3))],
    )
    check_raises(
        lambda lib, x, y: F(lib).multilabel_soft_margin_loss(x, y),
        [np.ones((2, 3), np.int64), _prob((2, 3))],
    )


# -- shared: reductions, legacy flags --------------------------------------------------------------

LEGACY = {
    "binary_cross_entropy": lambda: (_prob((3, 4)), _prob((3, 4))),
    "binary_cross_entropy_with_logits": lambda: (_normal((3, 4)), _prob((3, 4))),
    "kl_div": lambda: (np.log(_prob((3, 4))), _prob((3, 4))),
    "poisson_nll_loss": lambda: (_normal((3, 4)), _prob((3, 4)) * 3),
    "soft_margin_loss": lambda: (_normal((3, 4)), _sign((3, 4))),
    "multilabel_soft_margin_loss": lambda: (_normal((3, 4)), _prob((3, 4))),
}
ALL = {
    **LEGACY,
    "gaussian_nll_loss": lambda: (_normal((3, 4)), _normal((3, 4)), rng.random((3, 4)) + 0.1),
}


@pytest.mark.parametrize("size_average", [None, True, False])
@pytest.mark.parametrize("reduce", [None, True, False])
@pytest.mark.parametrize("name", list(LEGACY))
def test_legacy_flags(name, size_average, reduce):
    grad = (0,) if name == "soft_margin_loss" else (0, 1)
    check(
        lambda lib, x, y: getattr(F(lib), name)(
            x, y, size_average=size_average, reduce=reduce, reduction="sum"
        ),
        list(LEGACY[name]()),
        grad=grad,
    )


@pytest.mark.parametrize("reduction", ["elementwise_mean", "avg", "batchmean"])
@pytest.mark.parametrize("name", list(ALL))
def test_reduction_strings(name, reduction):
    """'elementwise_mean' warns and means 'mean' where torch uses get_enum, raises elsewhere."""
    args = ALL[name]()
    check(
        lambda lib, *a: getattr(F(lib), name)(*a, reduction=reduction),
        list(args),
        grad=() if name == "soft_margin_loss" else (0,),
    )


@pytest.mark.parametrize("size_average,reduce", [(False, None), (None, False), (True, True)])
def test_kl_div_batchmean_with_legacy_flags(size_average, reduce):
    """torch's quirk: legacy flags pick the reduction, but 'batchmean' still divides by size(0)."""
    x, y = LEGACY["kl_div"]()
    check(
        lambda lib, a, b: F(lib).kl_div(
            a, b, size_average=size_average, reduce=reduce, reduction="batchmean"
        ),
        [x, y],
        grad=(0, 1),
    )


# -- gradcheck / gradgradcheck (float64, off kinks) ------------------------------------------------

GRADCHECK = [
    ("binary_cross_entropy", lambda f, x, y: f(x.sigmoid(), y.sigmoid(), reduction="sum")),
    (
        "binary_cross_entropy",
        lambda f, x, y: f(x.sigmoid(), y.sigmoid(), lossgrad.tensor([0.3, 1.2, 0.9]).double()),
    ),
    ("binary_cross_entropy_with_logits", lambda f, x, y: f(x, y.sigmoid())),
    (
        "binary_cross_entropy_with_logits",
        lambda f, x, y: f(
            x,
            y.sigmoid(),
            lossgrad.tensor([0.5, 1.0, 2.0]),
            pos_weight=lossgrad.tensor([3.0, 0.5, 1.0]),
        ),
    ),
    (
        "soft_margin_loss",
        lambda f, x, y: f(x, lossgrad.tensor([[1.0, -1.0, 1.0], [-1.0, -1.0, 1.0]])),
    ),
    ("kl_div", lambda f, x, y: f(x, y.sigmoid(), reduction="batchmean")),
    ("kl_div", lambda f, x, y: f(x, y, reduction="sum", log_target=True)),
    ("poisson_nll_loss", lambda f, x, y: f(x, y.exp() + 1.0, full=True)),
    ("poisson_nll_loss", lambda f, x, y: f(x.exp(), y.exp(), log_input=False)),
    ("gaussian_nll_loss", lambda f, x, y: f(x, y, x.exp() * 0.5 + y.exp(), full=True)),
    (
        "multilabel_soft_margin_loss",
        lambda f, x, y: f(x, y.sigmoid(), lossgrad.tensor([0.2, 1.0, 2.0])),
    ),
]


@pytest.mark.parametrize("name,fn", GRADCHECK, ids=[n for n, _ in GRADCHECK])
def test_gradcheck(name, fn):
    x = lossgrad.tensor(np.array([[0.1, -0.75, 1.7], [-2.2, 0.55, 0.2]]), requires_grad=True)
    y = lossgrad.tensor(np.array([[0.3, 0.3, -0.5], [0.05, -0.5, 0.9]]), requires_grad=True)
    f = getattr(lossgrad.nn.functional, name)
    if name == "soft_margin_loss":
        assert gradcheck(lambda a: fn(f, a, None), (x,))
        assert gradgradcheck(lambda a: fn(f, a, None), (x,))
        return
    assert gradcheck(lambda a, b: fn(f, a, b), (x, y))
    assert gradgradcheck(lambda a, b: fn(f, a, b), (x, y))


# -- modules, signatures, the tutorial's examples --------------------------------------------------

MODULES = {
    "BCELoss": (lambda: (_prob((4, 3)), _prob((4, 3))), {"weight": "w3"}),
    "BCEWithLogitsLoss": (
        lambda: (_normal((4, 3)), _prob((4, 3))),
        {"weight": "w3", "pos_weight": "w3"},
    ),
    "KLDivLoss": (lambda: (np.log(_prob((4, 3))), _prob((4, 3))), {"log_target": False}),
    "PoissonNLLLoss": (lambda: (_normal((4, 3)), _prob((4, 3)) * 3), {"full": True}),
    "GaussianNLLLoss": (
        lambda: (_normal((4, 3)), _normal((4, 3)), rng.random((4, 3)) + 0.1),
        {"full": True},
    ),
    "SoftMarginLoss": (lambda: (_normal((4, 3)), _sign((4, 3))), {}),
    "MultiLabelSoftMarginLoss": (lambda: (_normal((4, 3)), _prob((4, 3))), {"weight": "w3"}),
}


@pytest.mark.parametrize("reduction", REDUCTIONS + ["batchmean"])
@pytest.mark.parametrize("name", list(MODULES))
def test_modules(name, reduction):
    make, opts = MODULES[name]
    if reduction == "batchmean" and name != "KLDivLoss":
        return
    w3 = rng.random(3) + 0.5

    def run(lib, *args):
        kw = {k: (lib.tensor(w3) if v == "w3" else v) for k, v in opts.items()}
        return getattr(lib.nn, name)(reduction=reduction, **kw)(*args)

    check(run, list(make()), grad=(0,))


@pytest.mark.parametrize("name", ["BCELoss", "BCEWithLogitsLoss", "MultiLabelSoftMarginLoss"])
def test_module_weight_buffers(name):
    w = lossgrad.tensor([1.0, 2.0, 3.0])
    m = getattr(lossgrad.nn, name)(weight=w)
    assert "weight" in dict(m.named_buffers()) and m.weight is w
    assert "weight" in m.state_dict()
    if name == "BCEWithLogitsLoss":
        m = lossgrad.nn.BCEWithLogitsLoss(pos_weight=w)
        assert m.pos_weight is w and "pos_weight" in m.state_dict()


def test_module_legacy_flags_warn_at_construction():
    check(
        lambda lib, x, y: lib.nn.BCELoss(size_average=False)(x, y),
        list(LEGACY["binary_cross_entropy"]()),
        grad=(0,),
    )
    check(
        lambda lib, x, y: lib.nn.KLDivLoss(reduce=False)(x, y),
        list(LEGACY["kl_div"]()),
        grad=(0, 1),
    )


FUNCTIONALS = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "kl_div",
    "poisson_nll_loss",
    "gaussian_nll_loss",
    "soft_margin_loss",
    "multilabel_soft_margin_loss",
]


#: lossgrad's keyword-only additions to torch's signatures
EXTENSIONS = {
    name: ("label_smoothing",)
    for name in (
        "binary_cross_entropy", "binary_cross_entropy_with_logits", "BCELoss", "BCEWithLogitsLoss"
    )
}


@pytest.mark.parametrize("name", FUNCTIONALS)
def test_functional_signature(name):
    same_signature(
        getattr(lossgrad.nn.functional, name),
        getattr(torch.nn.functional, name),
        EXTENSIONS.get(name, ()),
    )


@pytest.mark.parametrize("name", list(MODULES))
def test_module_signature(name):
    same_signature(getattr(lossgrad.nn, name), getattr(torch.nn, name), EXTENSIONS.get(name, ()))
    same_signature(getattr(lossgrad.nn, name).forward, getattr(torch.nn, name).forward)


def _tutorial_kldiv(lib):
    inputs = lib.tensor([[0.5, 0.3, 0.2], [0.2, 0.3, 0.5]])
    target = lib.tensor([[0.9, 0.05, 0.05], [0.1, 0.7, 0.2]], dtype=lib.float)
    return lib.nn.KLDivLoss()(inputs, target)


def _tutorial_soft_margin(lib):
    inputs = lib.tensor([[0.3, 0.7], [0.5, 0.5]])
    target = lib.tensor([[-1, 1], [1, -1]], dtype=lib.float)
    return lib.nn.SoftMarginLoss()(inputs, target)


@pytest.mark.parametrize(
    "example,printed,warns",
    [(_tutorial_kldiv, "-0.3335", True), (_tutorial_soft_margin, "0.6764", False)],
)
def test_tutorial_examples(example, printed, warns):
    """The tutorial's printed values, from both libraries, with torch's KLDiv 'mean' warning."""
    for lib in (torch, lossgrad):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            out = example(lib)
        assert f"{out.item():.4f}" == printed
        assert repr(out) == f"tensor({printed})"
        assert any("'batchmean'" in str(m.message) for m in w) == warns
    check(lambda lib: example(lib), [])


# -- the first-order fast paths (backward_array; bce_with_logits / soft_margin keep exp(-z)) -----

FAST_SIZES = [9, 300_001]  # one block; several blocks over the thread pool


@pytest.mark.parametrize("n", FAST_SIZES)
@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_logistic_first_order_fast_path(reduction, dtype, n):
    """Logits past exp's overflow (+-100, +-1000), 0 and an infinite logit; the target-grad and
    input-grad cases; soft margins kept where torch is finite."""
    x, y, s = _normal(n, dtype) * 5, _prob(n, dtype), _sign(n, dtype)
    x[:6] = [100.0, -100.0, 1000.0, -1000.0, 0.0, 30.0]
    for grad in ((0,), (0, 1)):
        check(
            lambda lib, a, b: F(lib).binary_cross_entropy_with_logits(a, b, reduction=reduction),
            [x, y],
            grad=grad,
            second_order=False,
        )
    check(
        lambda lib, a, b: F(lib).binary_cross_entropy(a, b, reduction=reduction),
        [y, y[::-1]],
        second_order=False,
    )
    xs = np.clip(x, -80, 80)
    check(
        lambda lib, a, b: F(lib).soft_margin_loss(a, b, reduction=reduction),
        [xs, s],
        second_order=False,
    )
    if n % 3 == 0:
        check(
            lambda lib, a, b: F(lib).multilabel_soft_margin_loss(a, b, reduction=reduction),
            [x.reshape(-1, 3), y.reshape(-1, 3)],
            second_order=False,
        )


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
def test_logistic_reduced_sums_with_infinite_logits(dtype, reduction):
    """+-inf logits make the blocked dot-product sums inf - inf: the elementwise sum, as torch."""
    x = np.array([np.inf, -np.inf, 1.0, -2.0], dtype)
    y = np.array([0.0, 0.0, 1.0, 0.5], dtype)
    check(
        lambda lib, a, b: F(lib).binary_cross_entropy_with_logits(a, b, reduction=reduction),
        [x, y],
        second_order=False,
    )


@pytest.mark.parametrize("name", ["bce_with_logits", "soft_margin", "multilabel"])
def test_logistic_retained_graph_backward_twice(name):
    x = _normal((300_000,), np.float32)
    y = _prob((300_000,), np.float32) if name != "soft_margin" else _sign((300_000,), np.float32)
    call = {
        "bce_with_logits": lambda lib, a, b: F(lib).binary_cross_entropy_with_logits(a, b),
        "soft_margin": lambda lib, a, b: F(lib).soft_margin_loss(a, b),
        "multilabel": lambda lib, a, b: F(lib).multilabel_soft_margin_loss(
            a.reshape(-1, 10), b.reshape(-1, 10)
        ),
    }[name]
    grads = []
    for lib in (lossgrad, torch):
        a = lib.tensor(x, requires_grad=True)
        loss = call(lib, a, lib.tensor(y))
        loss.backward(retain_graph=True)
        first = a.grad.numpy().copy()
        loss.backward()
        grads.append((first, a.grad.numpy()))
    for lg, th in zip(grads[0], grads[1]):
        np.testing.assert_allclose(lg, th, rtol=1e-4, atol=1e-9)


def test_multilabel_soft_margin_mean_node_name():
    x = lossgrad.tensor([[2.0, -1.0]], requires_grad=True)
    loss = lossgrad.nn.functional.multilabel_soft_margin_loss(x, lossgrad.tensor([[1.0, 0.0]]))
    assert loss.grad_fn.name() == "MeanBackward0"


@pytest.mark.parametrize("n", FAST_SIZES)
@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_poisson_first_order_fast_path(reduction, dtype, n):
    """log_input: exp(x) kept from the forward; input-only and input-and-target gradients."""
    x, k = _normal(n, dtype), np.asarray(rng.integers(0, 5, n), dtype)
    x[:3] = [100.0, -100.0, 0.0]  # exp overflows to inf in float32, as in torch
    for grad in ((0,), (0, 1)):
        check(
            lambda lib, a, b: F(lib).poisson_nll_loss(a, b, reduction=reduction),
            [x, k],
            grad=grad,
            second_order=False,
        )


def test_poisson_retained_graph_backward_twice():
    x, k = _normal((300_000,), np.float32), np.asarray(rng.integers(0, 5, 300_000), np.float32)
    grads = []
    for lib in (lossgrad, torch):
        a = lib.tensor(x, requires_grad=True)
        loss = F(lib).poisson_nll_loss(a, lib.tensor(k))
        loss.backward(retain_graph=True)
        loss.backward()
        grads.append(a.grad.numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-4, atol=1e-9)


@pytest.mark.parametrize("n", FAST_SIZES)
@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("full", [False, True])
def test_gaussian_first_order_fast_path(full, reduction, dtype, n):
    """(x - y) / v kept from the forward for the input's gradient; all three gradients too."""
    x, y = _normal(n, dtype), _normal(n, dtype)
    v = np.asarray(rng.uniform(0.1, 2.0, n), dtype)
    v[:2] = [0.0, 1e-9]  # clamped at eps
    for grad in ((0,), (0, 1, 2)):
        check(
            lambda lib, a, b, c: F(lib).gaussian_nll_loss(a, b, c, full=full, reduction=reduction),
            [x, y, v],
            grad=grad,
            second_order=False,
        )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gaussian_input_gradient_has_torch_bits(reduction, dtype):
    """The kept ∂l/∂x is torch's backward bit for bit at ``loss.backward()``: its composite's
    ``(0.5 / v) (2 (x - y))`` (times ``1 / n`` first for a mean) is ``(x - y) (1 / v)`` in
    each rounding, where ``(x - y) / v`` differs in the last bit for about a quarter of the
    elements (only IEEE operations: the same on every CPU)."""
    gen = np.random.default_rng(7)
    x, y = gen.standard_normal(1000).astype(dtype), gen.standard_normal(1000).astype(dtype)
    v = (gen.random(1000) + 0.1).astype(dtype)
    grads = []
    for lib in (lossgrad, torch):
        a = lib.tensor(x, requires_grad=True)
        loss = F(lib).gaussian_nll_loss(a, lib.tensor(y), lib.tensor(v), reduction=reduction)
        (loss.sum() if reduction == "none" else loss).backward()
        grads.append(a.grad.numpy())
    np.testing.assert_array_equal(grads[0], grads[1])


@pytest.mark.parametrize("case", ["int_input", "weight_shape"])
def test_bce_refuses_a_weight_requiring_grad_first(case):
    """torch's autograd refuses a ``weight`` that requires grad before its kernel checks the
    dtypes or the weight's shape: the same error, message included."""
    errors = []
    for lib in (lossgrad, torch):
        x = lib.tensor([1, 0, 1]) if case == "int_input" else lib.tensor([0.5, 0.2, 0.1])
        w = lib.ones(3, requires_grad=True) if case == "int_input" else lib.ones(4, 3)
        w.requires_grad_(True)
        with pytest.raises(RuntimeError) as raised:
            F(lib).binary_cross_entropy(x, lib.tensor([1.0, 0.0, 1.0]), weight=w)
        errors.append(str(raised.value))
    assert errors[0] == errors[1]
