"""Stability at extremes for the regression and probability losses: no NaN or inf where torch is
finite, torch's NaN/inf where torch has them, and the true finite value where lossgrad
deliberately improves on torch (soft_margin_loss)."""

import numpy as np
import pytest
import torch

import lossgrad
from parity import check as _check

F = lossgrad.nn.functional
DTYPES = [np.float32, np.float64]
DT_IDS = ["f32", "f64"]


def check(fn, args, **kw):
    return _check(fn, [np.asarray(a) if isinstance(a, np.generic) else a for a in args], **kw)


def _finite(t):
    return bool(np.isfinite(t.detach().numpy()).all())


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("reduction", ["none", "sum"])
def test_bce_with_logits_huge_logits(dtype, reduction):
    x = np.array([1000.0, -1000.0, 1e4, -1e4, 30.0, -30.0], dtype)
    y = np.array([1.0, 1.0, 0.0, 0.5, 1.0, 0.0], dtype)
    pw = np.array([2.0, 2.0, 0.5, 3.0, 1.0, 1.0], dtype)
    out = check(
        lambda lib, a, b: lib.nn.functional.binary_cross_entropy_with_logits(
            a, b, reduction=reduction
        ),
        [x, y],
        grad=(0, 1),
    )
    assert _finite(out)
    out = check(
        lambda lib, a, b, p: lib.nn.functional.binary_cross_entropy_with_logits(
            a, b, reduction=reduction, pos_weight=p
        ),
        [x, y, pw],
        grad=(0, 1),
    )
    assert _finite(out)


def test_bce_with_logits_value_at_1000_by_hand():
    x = lossgrad.tensor([1000.0, -1000.0], requires_grad=True)
    loss = F.binary_cross_entropy_with_logits(x, lossgrad.tensor([0.0, 1.0]), reduction="none")
    np.testing.assert_allclose(loss.detach().numpy(), [1000.0, 1000.0])  # softplus(1000)
    loss.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, -1.0])


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
def test_bce_exact_probabilities(dtype):
    """log clamp at -100, gradient denominator clamp at 1e-12, torch's second derivatives."""
    x = np.array([0.0, 1.0, 0.0, 1.0, 1e-30, 1 - 1e-7], dtype)
    y = np.array([1.0, 0.0, 0.0, 1.0, 1.0, 0.0], dtype)
    out = check(
        lambda lib, a, b: lib.nn.functional.binary_cross_entropy(a, b, reduction="none"),
        [x, y],
        grad=(0,),
        rtol=1e-5,
    )
    assert out.detach().numpy()[0] == 100.0
    # target gradients are -logit(x): +-inf at exactly 0 and 1, as in torch
    check(
        lambda lib, a, b: lib.nn.functional.binary_cross_entropy(a, b, reduction="sum"),
        [x, y],
        grad=(1,),
        second_order=False,
        rtol=1e-5,
    )


def test_soft_margin_large_negative_margin_is_finite():
    """A deliberate improvement: torch gives inf (value) and NaN (gradient) at y x = -1000."""
    x = lossgrad.tensor([-1000.0, 1000.0, -100.0, 0.0], requires_grad=True)
    y = lossgrad.tensor([1.0, -1.0, 1.0, 1.0])
    loss = F.soft_margin_loss(x, y, reduction="none")
    # softplus(m) = m + log1p(exp(-m)) for the margin m = -y x
    np.testing.assert_allclose(
        loss.detach().numpy(), [1000.0, 1000.0, 100.0, np.log(2.0)], rtol=1e-6
    )
    loss.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [-1.0, 1.0, -1.0, -0.5], rtol=1e-6)
    th = torch.nn.functional.soft_margin_loss(torch.tensor([-1000.0]), torch.tensor([1.0]))
    assert torch.isinf(th)  # what torch does; lossgrad returns 1000


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
def test_soft_margin_matches_torch_where_torch_is_finite(dtype):
    x = np.array([-80.0, -20.0, -1e-3, 0.0, 5.0, 80.0], dtype)
    y = np.array([1.0, 1.0, -1.0, 1.0, -1.0, 1.0], dtype)
    check(
        lambda lib, a, b: lib.nn.functional.soft_margin_loss(a, b, reduction="none"),
        [x, y],
        grad=(0,),
    )


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize(
    "name,kw",
    [
        ("l1_loss", {}),
        ("mse_loss", {}),
        ("smooth_l1_loss", {}),
        ("smooth_l1_loss", {"beta": 1e-6}),
        ("huber_loss", {}),
        ("huber_loss", {"delta": 1e6}),
    ],
)
def test_regression_extremes(name, kw, dtype):
    """Huge differences: mse overflows to inf exactly where torch's does; the others stay finite."""
    x = np.array([1e30, -1e30, 1e-30, 3e19, 0.0, 1e10], dtype)
    y = np.array([-1e30, 1e30, 0.0, 0.0, 1e-30, -1e10], dtype)
    out = check(
        lambda lib, a, b: getattr(lib.nn.functional, name)(a, b, reduction="none", **kw),
        [x, y],
        grad=(0, 1),
    )
    if name != "mse_loss":
        assert _finite(out)


def test_gaussian_nll_zero_variance():
    x, y = np.array([0.5, 0.0, 1.0]), np.array([0.0, 0.0, 1.0])
    var = np.array([0.0, 0.0, 0.0])
    out = check(
        lambda lib, a, b, v: lib.nn.functional.gaussian_nll_loss(a, b, v, reduction="none"),
        [x, y, var],
        grad=(0, 1, 2),
    )
    assert _finite(out)
    xs = [lossgrad.tensor(a, requires_grad=True) for a in (x, y, var)]
    F.gaussian_nll_loss(*xs).backward()
    # straight-through clamp: d/dvar = 0.5 (1/eps - d^2/eps^2) / 3 at var = 0 (eps = 1e-6)
    eps = 1e-6
    np.testing.assert_allclose(
        xs[2].grad.numpy(), 0.5 * (1 / eps - np.array([0.25, 0, 0]) / eps**2) / 3
    )


def test_kl_div_zero_targets_and_extreme_log_probs():
    x = np.array([-1e4, -1e-30, -50.0, -np.inf])
    y = np.array([0.0, 1.0, 1e-30, 0.0])  # y = 0 with x = -inf: 0 * -inf is NaN in torch too
    check(lambda lib, a, b: lib.nn.functional.kl_div(a, b, reduction="none"), [x, y], grad=(0, 1))
    check(
        lambda lib, a, b: lib.nn.functional.kl_div(a, b, reduction="sum", log_target=True),
        [x[:3], np.array([-1e4, 0.0, -700.0])],
        grad=(0, 1),
    )


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
def test_poisson_nll_extremes(dtype):
    """exp overflows to inf for large log-rates, as in torch (no guard); zero counts with full."""
    x = np.array([100.0, -100.0, 0.0, 800.0], dtype)
    y = np.array([0.0, 1.0, 0.0, 3.0], dtype)
    for full in (False, True):
        check(
            lambda lib, a, b, full=full: lib.nn.functional.poisson_nll_loss(
                a, b, full=full, reduction="none"
            ),
            [x, y],
            grad=(0, 1),
        )
    check(
        lambda lib, a, b: lib.nn.functional.poisson_nll_loss(
            a, b, log_input=False, full=True, reduction="none"
        ),
        [np.abs(x), y],
        grad=(0, 1),
    )


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
def test_multilabel_soft_margin_huge_logits(dtype):
    x = np.array([[1e4, -1e4, 50.0], [-1000.0, 0.0, 1000.0]], dtype)
    y = np.array([[1.0, 0.0, 0.5], [1.0, 0.0, 0.0]], dtype)
    out = check(
        lambda lib, a, b: lib.nn.functional.multilabel_soft_margin_loss(a, b, reduction="none"),
        [x, y],
        grad=(0, 1),
    )
    assert _finite(out)
