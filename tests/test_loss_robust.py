"""Robust and probabilistic regression, and classification margins (``loss_robust.py``), against
their reference libraries: kornia, optax (JAX), Keras (JAX backend), scikit-learn, SciPy, timm,
and the symmetric cross-entropy paper's code (written in torch below)."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import torch

import lossgrad
import lossgrad.nn as lnn
import lossgrad.nn.functional as F
from lossgrad.autograd import gradcheck, gradgradcheck
from oracles import load_submodule

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
import kornia.losses as kl  # noqa: E402
import optax  # noqa: E402
import scipy.integrate  # noqa: E402
import scipy.special  # noqa: E402
import scipy.stats  # noqa: E402
import sklearn.metrics as skm  # noqa: E402

DTYPES = [np.float32, np.float64]


def _tol(dtype: type) -> dict[str, float]:
    return {"rtol": 2e-5, "atol": 2e-6} if dtype == np.float32 else {"rtol": 1e-10, "atol": 1e-12}


def _lg(array: np.ndarray, grad: bool = False) -> lossgrad.Tensor:
    return lossgrad.tensor(array.copy(), requires_grad=grad)


def _value_and_grad(fn, *arrays, **kwargs):
    """Our loss (reduction='sum' unless given) and its gradient in the first argument; also
    checks that no caller's array was modified."""
    copies = [a.copy() for a in arrays]
    x = lossgrad.tensor(arrays[0], requires_grad=True)
    rest = [lossgrad.tensor(a) if isinstance(a, np.ndarray) else a for a in arrays[1:]]
    out = fn(x, *rest, **kwargs)
    out.sum().backward()
    for before, after in zip(copies, arrays):
        np.testing.assert_array_equal(before, after)
    return out.detach().numpy(), x.grad.numpy()


def _kornia(name: str, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = torch.tensor(d, requires_grad=True)
    out = getattr(kl, name)(x, torch.zeros_like(x), reduction="none")
    out.sum().backward()
    return out.detach().numpy(), x.grad.numpy()


# -- robust regression -----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        ("charbonnier_loss", "charbonnier_loss"),
        ("pseudo_huber_loss", "charbonnier_loss"),
        ("welsch_loss", "welsch_loss"),
        ("cauchy_loss", "cauchy_loss"),
        ("geman_mcclure_loss", "geman_mcclure_loss"),
    ],
)
def test_robust_equal_kornia(ours, theirs, dtype):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((4, 5)) * 3).astype(dtype)
    y = rng.standard_normal((4, 5)).astype(dtype)
    value, grad = _value_and_grad(getattr(F, ours), x, y, reduction="none")
    ref_value, ref_grad = _kornia(theirs, x - y)
    np.testing.assert_allclose(value, ref_value, **_tol(dtype))
    np.testing.assert_allclose(grad, ref_grad, **_tol(dtype))
    assert value.dtype == dtype


@pytest.mark.parametrize("scale", [0.3, 2.5])
@pytest.mark.parametrize("name", ["welsch_loss", "cauchy_loss", "geman_mcclure_loss"])
def test_robust_scale_is_kornia_on_scaled_residual(name, scale):
    rng = np.random.default_rng(1)
    d = rng.standard_normal(20) * 4
    value, grad = _value_and_grad(getattr(F, name), d, np.zeros(20), scale=scale, reduction="none")
    ref_value, ref_grad = _kornia(name, d / scale)
    np.testing.assert_allclose(value, ref_value, rtol=1e-12)
    np.testing.assert_allclose(grad, ref_grad / scale, rtol=1e-12)


@pytest.mark.parametrize("delta", [0.1, 1.0, 7.0])
def test_pseudo_huber_delta(delta):
    d = np.linspace(-30, 30, 41)
    value, grad = _value_and_grad(F.pseudo_huber_loss, d, np.zeros_like(d), delta=delta,
                                  reduction="none")
    ref_value, ref_grad = _kornia("charbonnier_loss", d / delta)
    np.testing.assert_allclose(value, delta**2 * ref_value, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(grad, delta * ref_grad, rtol=1e-12, atol=1e-15)
    assert F.charbonnier_loss is F.pseudo_huber_loss


@pytest.mark.parametrize("dtype", DTYPES)
def test_log_cosh_equals_optax_and_keras(dtype):
    rng = np.random.default_rng(2)
    x = (rng.standard_normal((3, 7)) * 5).astype(dtype)
    y = rng.standard_normal((3, 7)).astype(dtype)
    value, grad = _value_and_grad(F.log_cosh_loss, x, y, reduction="none")
    with jax.enable_x64(dtype == np.float64):
        ref = np.asarray(optax.losses.log_cosh(jnp.asarray(x), jnp.asarray(y)))
        ref_grad = np.asarray(jax.grad(lambda a: optax.losses.log_cosh(a, y).sum())(x))
    np.testing.assert_allclose(value, ref, **_tol(dtype))
    np.testing.assert_allclose(grad, ref_grad, **_tol(dtype))
    keras_mean = np.asarray(keras.losses.LogCosh()(y, x))  # 'sum_over_batch_size'
    ours_mean = F.log_cosh_loss(_lg(x), _lg(y)).item()
    np.testing.assert_allclose(ours_mean, keras_mean, rtol=2e-6)


def _barron_paper(x: np.ndarray, alpha: float, scale: float) -> np.ndarray:
    """Equation 1 of Barron (2019), written out in float64 (valid away from alpha = 0, 2)."""
    b = abs(alpha - 2)
    return b / alpha * (((x / scale) ** 2 / b + 1) ** (alpha / 2) - 1)


@pytest.mark.parametrize("alpha", [-7.0, -1.0, 0.5, 1.5, 3.0, 8.0])
@pytest.mark.parametrize("scale", [0.5, 2.0])
def test_barron_general_equals_paper(alpha, scale):
    d = np.linspace(-10, 10, 33)
    value, grad = _value_and_grad(F.barron_loss, d, np.zeros_like(d), alpha=alpha, scale=scale,
                                  reduction="none")
    np.testing.assert_allclose(value, _barron_paper(d, alpha, scale), rtol=1e-12, atol=1e-15)
    expected_grad = d / scale**2 * ((d / scale) ** 2 / abs(alpha - 2) + 1) ** (alpha / 2 - 1)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-11, atol=1e-15)


@pytest.mark.parametrize(
    ("alpha", "special"),
    [
        (2.0, lambda d: 0.5 * d**2),
        (1.0, lambda d: np.sqrt(d**2 + 1) - 1),
        (0.0, lambda d: np.log(0.5 * d**2 + 1)),
        (-2.0, lambda d: 2 * d**2 / (d**2 + 4)),
        (-math.inf, lambda d: 1 - np.exp(-0.5 * d**2)),
        (math.inf, lambda d: np.expm1(0.5 * d**2)),
    ],
)
def test_barron_special_cases_are_limits(alpha, special):
    d = np.linspace(-4, 4, 17)
    value = F.barron_loss(_lg(d), _lg(np.zeros_like(d)), alpha=alpha, reduction="none").numpy()
    np.testing.assert_allclose(value, special(d), rtol=1e-12, atol=1e-15)
    # the same value with alpha as a Tensor (the where-selected branch) ...
    alpha_t = lossgrad.tensor(alpha, dtype=lossgrad.float64)
    tensor_value = F.barron_loss(_lg(d), _lg(np.zeros_like(d)), alpha=alpha_t, reduction="none")
    np.testing.assert_allclose(tensor_value.numpy(), special(d), rtol=1e-12, atol=1e-15)
    # ... and the general formula tends to it (a limit, not a division by zero)
    if math.isfinite(alpha):
        for step in (1e-5, -1e-5):
            near = _barron_paper(d, alpha + step, 1.0) if alpha + step not in (0, 2) else None
            np.testing.assert_allclose(near, special(d), rtol=1e-4, atol=1e-6)


def test_barron_equals_kornia_cases():
    d = np.random.default_rng(3).standard_normal(50) * 3
    for alpha, name in [(1.0, "charbonnier_loss"), (0.0, "cauchy_loss"),
                        (-2.0, "geman_mcclure_loss"), (-math.inf, "welsch_loss")]:
        value, grad = _value_and_grad(F.barron_loss, d, np.zeros(50), alpha=alpha,
                                      reduction="none")
        ref_value, ref_grad = _kornia(name, d)
        np.testing.assert_allclose(value, ref_value, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(grad, ref_grad, rtol=1e-12, atol=1e-15)


def test_barron_alpha_and_scale_gradients():
    d = lossgrad.tensor(np.linspace(-3, 3, 7))
    zeros = lossgrad.zeros(7, dtype=lossgrad.float64)
    for alpha in (-1.3, 0.7, 1.9, 4.0):
        alpha_t = lossgrad.tensor(alpha, dtype=lossgrad.float64, requires_grad=True)
        scale_t = lossgrad.tensor(1.3, dtype=lossgrad.float64, requires_grad=True)
        assert gradcheck(lambda a, c: F.barron_loss(d, zeros, a, c, reduction="sum"),
                         (alpha_t, scale_t))
        assert gradgradcheck(lambda a, c: F.barron_loss(d, zeros, a, c, reduction="sum"),
                             (alpha_t, scale_t))


def _partition_quad(alpha: float) -> float:
    def integrand(x: float) -> float:
        if alpha == 0:
            return 1 / (0.5 * x * x + 1)
        b = abs(alpha - 2)
        return math.exp(-b / alpha * ((x * x / b + 1) ** (alpha / 2) - 1))

    return 2 * scipy.integrate.quad(integrand, 0, math.inf, epsabs=1e-13, epsrel=1e-12)[0]


def test_barron_log_partition():
    alphas = np.array([0.0, 1.0, 2.0, 0.001, 0.3, 1.5, 1.999, 3.0])
    log_z = F.barron_log_partition(lossgrad.tensor(alphas)).numpy()
    exact = [math.pi * math.sqrt(2), 2 * math.e * scipy.special.k1(1.0), math.sqrt(2 * math.pi)]
    np.testing.assert_allclose(np.exp(log_z[:3]), exact, rtol=1e-13)
    np.testing.assert_allclose(np.exp(log_z[3:]), [_partition_quad(a) for a in alphas[3:]],
                               rtol=1e-7)
    # its derivative in alpha: central differences of scipy's quadrature
    alpha_t = lossgrad.tensor([0.4, 1.2], dtype=lossgrad.float64, requires_grad=True)
    F.barron_log_partition(alpha_t).sum().backward()
    h = 1e-5
    slope = [(math.log(_partition_quad(a + h)) - math.log(_partition_quad(a - h))) / (2 * h)
             for a in (0.4, 1.2)]
    np.testing.assert_allclose(alpha_t.grad.numpy(), slope, rtol=1e-5)
    assert gradgradcheck(F.barron_log_partition, (alpha_t,))
    with pytest.raises(ValueError, match="alpha"):
        F.barron_log_partition(lossgrad.tensor([-0.5]))


def test_adaptive_barron_loss_module():
    criterion = lnn.AdaptiveBarronLoss(num_dims=3, alpha_init=1.2, scale_init=0.7)
    np.testing.assert_allclose(criterion.alpha().detach().numpy().ravel(), [1.2] * 3, rtol=1e-6)
    np.testing.assert_allclose(criterion.scale().detach().numpy().ravel(), [0.7] * 3, rtol=1e-6)
    assert len(list(criterion.parameters())) == 2
    rng = np.random.default_rng(4)
    x = rng.standard_normal((10, 3)).astype(np.float32)
    loss = criterion(lossgrad.tensor(x), lossgrad.zeros(10, 3))
    # the negative log-likelihood of the reference code: rho + log(scale) + log Z(alpha)
    alpha, scale = 1.2, 0.7
    nll = _barron_paper(x, alpha, scale) + math.log(scale) + math.log(_partition_quad(alpha))
    np.testing.assert_allclose(loss.item(), nll.mean(), rtol=1e-5)
    loss.backward()
    for p in criterion.parameters():
        assert p.grad is not None and np.isfinite(p.grad.numpy()).all()
    # a few Adam steps on Cauchy-like data move alpha down and keep everything finite
    data = lossgrad.tensor(rng.standard_cauchy((400, 1)).astype(np.float32))
    fit = lnn.AdaptiveBarronLoss(num_dims=1)
    optimizer = lossgrad.optim.Adam(fit.parameters(), lr=0.05)
    for _ in range(60):
        optimizer.zero_grad()
        fit(data, lossgrad.zeros(400, 1)).backward()
        optimizer.step()
    assert fit.alpha().item() < 1.0
    # alpha_lo == alpha_hi fixes alpha: only the scale is learnt; Z(1) = 2 e K_1(1)
    fixed = lnn.AdaptiveBarronLoss(num_dims=2, alpha_lo=1.0, alpha_hi=1.0, dtype=lossgrad.float64)
    assert [name for name, _ in fixed.named_parameters()] == ["latent_scale"]
    value = fixed(lossgrad.tensor([[0.5, -2.0]]), lossgrad.zeros(1, 2, dtype=lossgrad.float64))
    rho = np.sqrt(np.array([0.25, 4.0]) + 1) - 1
    expected = np.mean(rho + math.log(2 * math.e * scipy.special.k1(1.0)))
    np.testing.assert_allclose(value.item(), expected, rtol=1e-12)
    with pytest.raises(ValueError, match="alpha_init"):
        lnn.AdaptiveBarronLoss(alpha_init=3.0)
    with pytest.raises(ValueError, match="scale_lo"):
        lnn.AdaptiveBarronLoss(scale_init=0.0)
    with pytest.raises(ValueError, match="num_dims"):
        fixed(lossgrad.zeros(3, 3), lossgrad.zeros(3, 3))


# -- quantile and distributional regression --------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("quantile", [0.05, 0.5, 0.9, 1.0])
def test_pinball_equals_sklearn(quantile, dtype):
    rng = np.random.default_rng(5)
    pred = rng.standard_normal(30).astype(dtype)
    obs = rng.standard_normal(30).astype(dtype)
    weight = rng.uniform(0.1, 2, 30).astype(dtype)
    ours = F.pinball_loss(_lg(pred), _lg(obs), quantile=quantile).item()
    np.testing.assert_allclose(ours, skm.mean_pinball_loss(obs, pred, alpha=quantile), rtol=2e-6)
    ours_w = F.pinball_loss(_lg(pred), _lg(obs), quantile, weight=_lg(weight)).item()
    ref_w = skm.mean_pinball_loss(obs, pred, alpha=quantile, sample_weight=weight)
    np.testing.assert_allclose(ours_w, ref_w, rtol=2e-6)
    _, grad = _value_and_grad(F.pinball_loss, pred, obs, quantile=quantile, reduction="sum")
    np.testing.assert_allclose(grad, np.where(obs >= pred, -quantile, 1 - quantile), rtol=1e-6)


def test_pinball_many_quantiles():
    rng = np.random.default_rng(6)
    quantiles = [0.1, 0.5, 0.95]
    pred = rng.standard_normal((20, 3))
    obs = rng.standard_normal(20)
    loss = F.pinball_loss(_lg(pred), _lg(obs), quantile=quantiles, reduction="none").numpy()
    for k, q in enumerate(quantiles):
        np.testing.assert_allclose(loss[:, k].mean(), skm.mean_pinball_loss(obs, pred[:, k],
                                                                             alpha=q))
    same = F.pinball_loss(_lg(pred), _lg(np.repeat(obs[:, None], 3, 1)), quantile=quantiles)
    np.testing.assert_allclose(same.item(), loss.mean())
    # the minimiser of the mean pinball loss over a constant is the quantile
    sample = rng.standard_normal(1001)
    for q in (0.1, 0.5, 0.9):
        at = np.quantile(sample, q, method="inverted_cdf")
        grid = at + np.array([-1e-3, 0.0, 1e-3])
        losses = [F.pinball_loss(_lg(np.full(1001, g)), _lg(sample), q).item() for g in grid]
        assert losses[1] <= min(losses[0], losses[2])


def test_expectile_minimiser_is_scipy_expectile():
    sample = np.random.default_rng(7).standard_normal(501) * 2 + 1
    for tau in (0.1, 0.5, 0.8):
        best = scipy.stats.expectile(sample, alpha=tau)
        constant = lossgrad.tensor(np.full(501, best), requires_grad=True)
        F.expectile_loss(constant, _lg(sample), tau, reduction="sum").backward()
        assert abs(constant.grad.numpy().sum()) < 1e-4  # scipy's root-finding tolerance
        slopes = []
        for shift in (-1e-3, 1e-3):
            moved = lossgrad.tensor(np.full(501, best + shift), requires_grad=True)
            F.expectile_loss(moved, _lg(sample), tau, reduction="sum").backward()
            slopes.append(moved.grad.numpy().sum())
        assert slopes[0] < 0 < slopes[1]
    half = F.expectile_loss(_lg(sample), lossgrad.zeros(501, dtype=lossgrad.float64), 0.5)
    np.testing.assert_allclose(half.item(), 0.5 * np.mean(sample**2), rtol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("power", [-0.5, 0.0, 1.0, 1.5, 2.0, 3.0])
def test_tweedie_equals_sklearn(power, dtype):
    rng = np.random.default_rng(8)
    mu = rng.uniform(0.2, 3, 40).astype(dtype)
    y = rng.poisson(1.5, 40).astype(dtype)
    if power >= 2:
        y = y + 0.5
    weight = rng.uniform(0.5, 1.5, 40).astype(dtype)
    ours = F.tweedie_loss(_lg(mu), _lg(y), power=power).item()
    np.testing.assert_allclose(ours, skm.mean_tweedie_deviance(y, mu, power=power), rtol=1e-5)
    ours_w = F.tweedie_loss(_lg(mu), _lg(y), power=power, weight=_lg(weight)).item()
    ref_w = skm.mean_tweedie_deviance(y, mu, power=power, sample_weight=weight)
    np.testing.assert_allclose(ours_w, ref_w, rtol=1e-5)
    _, grad = _value_and_grad(F.tweedie_loss, mu, y, power=power, reduction="sum")
    np.testing.assert_allclose(grad, 2 * (mu - y) / mu**power, rtol=1e-4)
    if power == 1.0:
        np.testing.assert_allclose(ours, skm.mean_poisson_deviance(y, mu), rtol=1e-5)
    if power == 2.0:
        np.testing.assert_allclose(ours, skm.mean_gamma_deviance(y, mu), rtol=1e-5)


def test_tweedie_domain_errors():
    one = lossgrad.ones(3)
    with pytest.raises(ValueError, match="power"):
        F.tweedie_loss(one, one, power=0.5)
    with pytest.raises(ValueError, match="input"):
        F.tweedie_loss(lossgrad.tensor([1.0, 0.0, 1.0]), one, power=1.0)
    with pytest.raises(ValueError, match="target"):
        F.tweedie_loss(one, lossgrad.tensor([1.0, -1.0, 1.0]), power=1.5)
    with pytest.raises(ValueError, match="target"):
        F.tweedie_loss(one, lossgrad.tensor([1.0, 0.0, 1.0]), power=2.0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_keras_regression_losses(dtype):
    rng = np.random.default_rng(9)
    pred = rng.uniform(-1, 5, (6, 4)).astype(dtype)
    obs = rng.uniform(-1, 5, (6, 4)).astype(dtype)
    obs[0, 0] = 0.0
    rates = np.abs(pred) + 0.1
    cases = [
        (F.mape_loss, keras.losses.MeanAbsolutePercentageError(), pred, obs),
        (F.msle_loss, keras.losses.MeanSquaredLogarithmicError(), pred, obs),
        (F.keras_poisson_loss, keras.losses.Poisson(), rates, np.abs(obs)),
    ]
    for ours, theirs, x, y in cases:
        np.testing.assert_allclose(ours(_lg(x), _lg(y)).item(), float(theirs(y, x)), rtol=2e-5)
        keras_none = np.asarray(theirs.__class__(reduction=None)(y, x))  # mean over last axis
        ours_none = ours(_lg(x), _lg(y), reduction="none").numpy().mean(-1)
        np.testing.assert_allclose(ours_none, keras_none, rtol=2e-5)


def test_smape_formula_and_gradient():
    rng = np.random.default_rng(10)
    x, y = rng.uniform(-3, 3, 30), rng.uniform(-3, 3, 30)
    value, grad = _value_and_grad(F.smape_loss, x, y, reduction="none")
    np.testing.assert_allclose(value, 200 * np.abs(x - y) / (np.abs(x) + np.abs(y)), rtol=1e-12)
    denominator = np.abs(x) + np.abs(y)
    expected = 200 * (np.sign(x - y) * denominator - np.abs(x - y) * np.sign(x)) / denominator**2
    np.testing.assert_allclose(grad, expected, rtol=1e-10, atol=1e-9)


# -- classification margins ------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_squared_hinge_equals_keras(dtype):
    rng = np.random.default_rng(11)
    scores = rng.standard_normal((5, 4)).astype(dtype) * 2
    for labels in (rng.integers(0, 2, (5, 4)), rng.choice([-1, 1], (5, 4))):
        labels = labels.astype(dtype)
        ours = F.squared_hinge_loss(_lg(scores), _lg(labels)).item()
        np.testing.assert_allclose(ours, float(keras.losses.SquaredHinge()(labels, scores)),
                                   rtol=2e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_optax_margin_losses(dtype):
    rng = np.random.default_rng(12)
    scores = (rng.standard_normal((8, 5)) * 2).astype(dtype)
    labels = rng.integers(0, 5, 8)
    signs = rng.choice([-1.0, 1.0], 8).astype(dtype)
    with jax.enable_x64(dtype == np.float64):
        for ours, theirs in [
            (F.multiclass_hinge_loss, optax.losses.multiclass_hinge_loss),
            (F.multiclass_perceptron_loss, optax.losses.multiclass_perceptron_loss),
        ]:
            value, grad = _value_and_grad(ours, scores, labels, reduction="none")
            np.testing.assert_allclose(value, np.asarray(theirs(scores, labels)), **_tol(dtype))
            ref_grad = jax.grad(lambda s, fn=theirs: fn(s, labels).sum())(jnp.asarray(scores))
            np.testing.assert_allclose(grad, np.asarray(ref_grad), **_tol(dtype))
        value, grad = _value_and_grad(F.perceptron_loss, scores[:, 0], signs, reduction="none")
        np.testing.assert_allclose(value, optax.losses.perceptron_loss(scores[:, 0], signs))


def test_multiclass_hinge_keras_convention():
    rng = np.random.default_rng(13)
    scores = rng.standard_normal((8, 4)) * 2
    scores[0] = [-2.0, -3.0, -4.0, -5.0]  # every score negative: Keras's max((1 - t) x) is 0
    labels = rng.integers(0, 4, 8)
    labels[0] = 0
    onehot = np.eye(4)[labels]
    keras_value = np.asarray(keras.losses.categorical_hinge(onehot, scores))
    ours = F.multiclass_hinge_loss(_lg(scores), _lg(labels), reduction="none",
                                   convention="keras").numpy()
    np.testing.assert_allclose(ours, keras_value, rtol=1e-6)
    ours_onehot = F.multiclass_hinge_loss(_lg(scores), _lg(onehot), reduction="none",
                                          convention="keras").numpy()
    np.testing.assert_allclose(ours_onehot, keras_value, rtol=1e-6)
    crammer = F.multiclass_hinge_loss(_lg(scores), _lg(labels), reduction="none").numpy()
    assert crammer[0] == pytest.approx(0.0) and keras_value[0] == pytest.approx(3.0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("q", [0.3, 0.7, 0.95])  # Keras refuses q = 1
def test_generalized_cross_entropy_equals_keras(q, dtype):
    rng = np.random.default_rng(14)
    logits = (rng.standard_normal((6, 4)) * 2).astype(dtype)
    labels = rng.integers(0, 4, 6)
    probs = torch.softmax(torch.tensor(logits), 1).numpy()
    ref = np.asarray(keras.losses.CategoricalGeneralizedCrossEntropy(q=q, reduction=None)(
        labels, probs))
    ours = F.generalized_cross_entropy_loss(_lg(logits), _lg(labels), q=q, reduction="none")
    np.testing.assert_allclose(ours.numpy(), ref, rtol=1e-5, atol=1e-7)


def _timm_asl():
    return load_submodule("timm.loss.asymmetric_loss")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("gamma_neg", "gamma_pos", "clip", "smoothing"),
                         [(4, 1, 0.05, 0.0), (2, 0, 0.0, 0.1), (0, 0, 0.1, 0.0)])
def test_asymmetric_multilabel_equals_timm(gamma_neg, gamma_pos, clip, smoothing, dtype):
    asl = _timm_asl()
    rng = np.random.default_rng(15)
    logits = (rng.standard_normal((6, 5)) * 3).astype(dtype)
    labels = rng.integers(0, 2, (6, 5)).astype(dtype)
    x = torch.tensor(logits, requires_grad=True)
    ref = asl.AsymmetricLossMultiLabel(gamma_neg, gamma_pos, clip, smoothing=smoothing)(
        x, torch.tensor(labels))
    ref.backward()
    value, grad = _value_and_grad(F.asymmetric_loss, logits, labels, gamma_neg=gamma_neg,
                                  gamma_pos=gamma_pos, clip=clip, label_smoothing=smoothing)
    np.testing.assert_allclose(value, ref.item(), rtol=2e-5)  # timm computes in float32
    np.testing.assert_allclose(grad, x.grad.numpy(), rtol=2e-4, atol=1e-6)
    total = F.asymmetric_loss(_lg(logits), _lg(labels), gamma_neg, gamma_pos, clip,
                              label_smoothing=smoothing, reduction="sum").item()
    np.testing.assert_allclose(total, asl.AsymmetricLossMultiLabel(
        gamma_neg, gamma_pos, clip, smoothing=smoothing, reduction="sum")(
        torch.tensor(logits), torch.tensor(labels)).item(), rtol=2e-5)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_asymmetric_single_label_equals_timm(smoothing, dtype):
    asl = _timm_asl()
    rng = np.random.default_rng(16)
    logits = (rng.standard_normal((7, 4)) * 2).astype(dtype)
    labels = rng.integers(0, 4, 7)
    x = torch.tensor(logits, requires_grad=True)
    ref = asl.AsymmetricLossSingleLabel(gamma_pos=1, gamma_neg=4, eps=smoothing)(
        x, torch.tensor(labels))
    ref.backward()
    value, grad = _value_and_grad(F.asymmetric_loss, logits, labels, label_smoothing=smoothing)
    np.testing.assert_allclose(value, ref.item(), **_tol(dtype))
    np.testing.assert_allclose(grad, x.grad.numpy(), **_tol(dtype))


def _sce_reference(logits: torch.Tensor, labels: torch.Tensor, alpha: float, beta: float,
                   num_classes: int) -> torch.Tensor:
    """SCELoss.forward of the paper's repository (HanxunH/SCELoss-Reproduce, loss.py)."""
    ce = torch.nn.functional.cross_entropy(logits, labels)
    pred = torch.nn.functional.softmax(logits, dim=1)
    pred = torch.clamp(pred, min=1e-7, max=1.0)
    label_one_hot = torch.nn.functional.one_hot(labels, num_classes).to(logits.dtype)
    label_one_hot = torch.clamp(label_one_hot, min=1e-4, max=1.0)
    rce = -1 * torch.sum(pred * torch.log(label_one_hot), dim=1)
    return alpha * ce + beta * rce.mean()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("alpha", "beta"), [(0.1, 1.0), (6.0, 0.1)])
def test_symmetric_cross_entropy_equals_reference(alpha, beta, dtype):
    rng = np.random.default_rng(17)
    logits = (rng.standard_normal((9, 5)) * 3).astype(dtype)
    logits[0, 1] = -30.0  # a probability under the 1e-7 clamp
    labels = rng.integers(0, 5, 9)
    x = torch.tensor(logits, requires_grad=True)
    ref = _sce_reference(x, torch.tensor(labels), alpha, beta, 5)
    ref.backward()
    x_ours = lossgrad.tensor(logits, requires_grad=True)
    ours = F.symmetric_cross_entropy_loss(x_ours, _lg(labels), alpha, beta)
    ours.backward()
    np.testing.assert_allclose(ours.item(), ref.item(), **_tol(dtype))
    np.testing.assert_allclose(x_ours.grad.numpy(), x.grad.numpy(), **_tol(dtype))


# -- for every loss: gradgradcheck, stability, reductions, errors, modules ------------------------

_ELEMENTWISE = {
    "log_cosh_loss": {},
    "pseudo_huber_loss": {"delta": 0.7},
    "welsch_loss": {"scale": 1.3},
    "cauchy_loss": {"scale": 0.8},
    "geman_mcclure_loss": {"scale": 1.1},
    "barron_loss": {"alpha": 0.6, "scale": 1.2},
    "expectile_loss": {"expectile": 0.3},
    "pinball_loss": {"quantile": 0.3},
    "mape_loss": {},
    "smape_loss": {},
    "msle_loss": {},
}


@pytest.mark.parametrize("name", sorted(_ELEMENTWISE))
def test_elementwise_gradgradcheck(name):
    rng = np.random.default_rng(18)
    x = lossgrad.tensor(rng.uniform(0.5, 3, 6), requires_grad=True)
    y = lossgrad.tensor(rng.uniform(0.5, 3, 6) + 0.05, requires_grad=True)
    fn = getattr(F, name)
    kwargs = _ELEMENTWISE[name]
    assert gradcheck(lambda a, b: fn(a, b, reduction="sum", **kwargs), (x, y))
    assert gradgradcheck(lambda a, b: fn(a, b, reduction="sum", **kwargs), (x, y))


@pytest.mark.parametrize("power", [-1.0, 0.0, 1.0, 1.5, 2.0, 3.0])
def test_tweedie_gradgradcheck(power):
    rng = np.random.default_rng(19)
    mu = lossgrad.tensor(rng.uniform(0.5, 3, 5), requires_grad=True)
    y = lossgrad.tensor(rng.uniform(0.5, 3, 5), requires_grad=True)
    assert gradgradcheck(lambda a, b: F.tweedie_loss(a, b, power=power), (mu, y))


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("multiclass_hinge_loss", {}),
        ("multiclass_perceptron_loss", {}),
        ("generalized_cross_entropy_loss", {"q": 0.6}),
        ("asymmetric_loss", {}),
        ("asymmetric_loss", {"label_smoothing": 0.1}),
        ("symmetric_cross_entropy_loss", {}),
    ],
)
def test_classification_gradgradcheck(name, kwargs):
    rng = np.random.default_rng(20)
    x = lossgrad.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    labels = lossgrad.tensor(np.array([0, 2, 1, 2]))
    fn = getattr(F, name)
    assert gradgradcheck(lambda a: fn(a, labels, **kwargs), (x,))
    if name == "asymmetric_loss":
        multi = lossgrad.tensor(rng.integers(0, 2, (4, 3)).astype(np.float64))
        assert gradgradcheck(lambda a: fn(a, multi, **kwargs), (x,))


def test_binary_margin_gradgradcheck():
    x = lossgrad.tensor(np.array([0.3, -1.7, 2.2, 0.6]), requires_grad=True)
    y = lossgrad.tensor(np.array([1.0, 1.0, -1.0, -1.0]))
    assert gradgradcheck(lambda a: F.squared_hinge_loss(a, y), (x,))
    assert gradgradcheck(lambda a: F.perceptron_loss(a, y), (x,))


def test_stability_at_huge_residuals():
    d = np.array([-1e30, -1e4, 1e4, 1e30])
    zeros = np.zeros(4)
    cases = {
        "log_cosh_loss": (np.abs(d) - math.log(2), np.sign(d)),
        "pseudo_huber_loss": (np.sqrt(d**2 + 1) - 1, d / np.sqrt(d**2 + 1)),
        "welsch_loss": (np.ones(4), np.zeros(4)),
        "cauchy_loss": (np.log1p(0.5 * d**2), 2 * d / (2 + d**2)),
        "geman_mcclure_loss": (2 * d**2 / (d**2 + 4), 16 * d / (d**2 + 4) ** 2),
        "barron_loss": (np.sqrt(d**2 + 1) - 1, d / np.sqrt(d**2 + 1)),
    }
    for name, (value, grad) in cases.items():
        ours, ours_grad = _value_and_grad(getattr(F, name), d, zeros, reduction="none")
        np.testing.assert_allclose(ours, value, rtol=1e-12, err_msg=name)
        np.testing.assert_allclose(ours_grad, grad, rtol=1e-12, atol=1e-300, err_msg=name)
    for alpha in (-math.inf, -2.0, 0.0, 0.5, 2.0, 4.0):
        ours, ours_grad = _value_and_grad(F.barron_loss, d[1:3], zeros[1:3], alpha=alpha,
                                          reduction="none")
        assert np.isfinite(ours).all() and np.isfinite(ours_grad).all(), alpha
    # float32 at 1e4: log-cosh finite where log(cosh(x)) overflows
    value, grad = _value_and_grad(F.log_cosh_loss, np.float32([1e4, -100.0]),
                                  np.float32([0.0, 0.0]), reduction="none")
    np.testing.assert_allclose(value, [1e4 - math.log(2), 100 - math.log(2)], rtol=1e-6)
    np.testing.assert_allclose(grad, [1.0, -1.0])
    big = np.array([1e4, 1e30])
    for name, kwargs in [("pinball_loss", {"quantile": 0.2}), ("expectile_loss", {}),
                         ("smape_loss", {}), ("mape_loss", {}), ("msle_loss", {})]:
        ours, ours_grad = _value_and_grad(getattr(F, name), big, np.ones(2), reduction="none",
                                          **kwargs)
        assert np.isfinite(ours).all() and np.isfinite(ours_grad).all(), name
    logits = np.array([[1e4, -1e4, 0.0], [-1e30, 1e30, 0.0]])
    labels = np.array([1, 0])
    for name in ["multiclass_hinge_loss", "multiclass_perceptron_loss",
                 "generalized_cross_entropy_loss", "asymmetric_loss",
                 "symmetric_cross_entropy_loss"]:
        ours, ours_grad = _value_and_grad(getattr(F, name), logits, labels, reduction="none")
        assert np.isfinite(ours).all() and np.isfinite(ours_grad).all(), name


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("pseudo_huber_loss", {}),
        ("charbonnier_loss", {}),
        ("cauchy_loss", {}),
        ("barron_loss", {"alpha": 1.0}),
        ("barron_loss", {"alpha": 0.0}),
        ("barron_loss", {"alpha": 0.5}),
        ("barron_loss", {"alpha": -1.0, "scale": 2.0}),
    ],
)
def test_float32_residuals_whose_square_overflows(name, kwargs):
    # |d| = 1e20: d**2 is beyond float32's range, the loss and its slope are not; the expected
    # values are the formulas in float64 (Python floats), rounded to float32
    alpha, scale = kwargs.get("alpha", 1.0), kwargs.get("scale", 1.0)
    b = abs(alpha - 2.0)

    def formula(d: float) -> tuple[float, float]:
        q = d / scale
        if name == "cauchy_loss" or alpha == 0.0:
            return math.log1p(q * q / 2), q / (1 + q * q / 2) / scale
        if alpha == 1.0:
            return math.sqrt(q * q + 1) - 1, q / math.sqrt(q * q + 1) / scale
        z = q * q / b + 1
        return b / alpha * (z ** (alpha / 2) - 1), q * z ** (alpha / 2 - 1) / scale

    d = np.float32([1e20, -3.0, -1e20, 0.5])
    ours, ours_grad = _value_and_grad(getattr(F, name), d, np.zeros(4, np.float32),
                                      reduction="none", **kwargs)
    expected = np.float32([formula(float(v))[0] for v in d])
    expected_grad = np.float32([formula(float(v))[1] for v in d])
    np.testing.assert_allclose(ours, expected, rtol=1e-6)
    np.testing.assert_allclose(ours_grad, expected_grad, rtol=1e-6, atol=1e-30)


@pytest.mark.parametrize("name", sorted(_ELEMENTWISE))
def test_reductions_and_weight(name):
    rng = np.random.default_rng(21)
    x, y = rng.uniform(0.5, 3, (3, 4)), rng.uniform(0.5, 3, (3, 4))
    weight = rng.uniform(0.1, 1, (3, 1))
    fn, kwargs = getattr(F, name), _ELEMENTWISE[name]
    none = fn(_lg(x), _lg(y), reduction="none", **kwargs).numpy()
    assert none.shape == (3, 4)
    np.testing.assert_allclose(fn(_lg(x), _lg(y), reduction="sum", **kwargs).item(), none.sum())
    np.testing.assert_allclose(fn(_lg(x), _lg(y), **kwargs).item(), none.mean())
    if name in ("expectile_loss", "pinball_loss"):
        kwargs = dict(kwargs)
    weighted = fn(_lg(x), _lg(y), weight=_lg(weight), **kwargs).item()
    full = np.broadcast_to(weight, (3, 4))
    np.testing.assert_allclose(weighted, (none * full).sum() / full.sum())
    with pytest.raises(ValueError, match="reduction"):
        fn(_lg(x), _lg(y), reduction="avg", **kwargs)
    with pytest.raises(ValueError, match="weight"):
        fn(_lg(x), _lg(y), weight=_lg(np.ones(3)), **kwargs)
    with pytest.raises(TypeError, match="input"):
        fn(x, _lg(y), **kwargs)


def test_errors_name_the_argument():
    x, y = lossgrad.ones(3), lossgrad.zeros(3)
    with pytest.raises(ValueError, match="delta"):
        F.pseudo_huber_loss(x, y, delta=0.0)
    for name in ("welsch_loss", "cauchy_loss", "geman_mcclure_loss", "barron_loss"):
        with pytest.raises(ValueError, match="scale"):
            getattr(F, name)(x, y, scale=-1.0)
    with pytest.raises(ValueError, match="quantile"):
        F.pinball_loss(x, y, quantile=1.5)
    with pytest.raises(ValueError, match="quantile"):
        F.pinball_loss(x, y, quantile=[0.1, 0.9])
    with pytest.raises(ValueError, match="expectile"):
        F.expectile_loss(x, y, expectile=1.0)
    scores, labels = lossgrad.ones(2, 3), lossgrad.tensor([0, 3])
    with pytest.raises(IndexError, match="out of bounds"):
        F.multiclass_hinge_loss(scores, labels)
    with pytest.raises(ValueError, match="convention"):
        F.multiclass_hinge_loss(scores, lossgrad.tensor([0, 1]), convention="weston")
    with pytest.raises(ValueError, match="target"):
        F.multiclass_perceptron_loss(scores, lossgrad.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="input"):
        F.generalized_cross_entropy_loss(lossgrad.ones(3), lossgrad.tensor([0]))
    with pytest.raises(ValueError, match="q"):
        F.generalized_cross_entropy_loss(scores, lossgrad.tensor([0, 1]), q=0.0)
    with pytest.raises(ValueError, match="label_smoothing"):
        F.asymmetric_loss(scores, lossgrad.tensor([0, 1]), label_smoothing=1.0)
    with pytest.raises(ValueError, match="size"):
        F.squared_hinge_loss(lossgrad.ones(3), lossgrad.ones(2))


@pytest.mark.parametrize(
    ("module", "functional", "kwargs"),
    [
        ("LogCoshLoss", "log_cosh_loss", {}),
        ("PseudoHuberLoss", "pseudo_huber_loss", {"delta": 2.0}),
        ("CharbonnierLoss", "pseudo_huber_loss", {}),
        ("WelschLoss", "welsch_loss", {"scale": 2.0}),
        ("CauchyLoss", "cauchy_loss", {"scale": 2.0}),
        ("GemanMcClureLoss", "geman_mcclure_loss", {"scale": 2.0}),
        ("BarronLoss", "barron_loss", {"alpha": 0.5, "scale": 2.0}),
        ("PinballLoss", "pinball_loss", {"quantile": 0.8}),
        ("ExpectileLoss", "expectile_loss", {"expectile": 0.8}),
        ("TweedieLoss", "tweedie_loss", {"power": 1.5}),
        ("MAPELoss", "mape_loss", {}),
        ("SMAPELoss", "smape_loss", {}),
        ("MSLELoss", "msle_loss", {}),
        ("KerasPoissonLoss", "keras_poisson_loss", {}),
    ],
)
def test_regression_modules(module, functional, kwargs):
    rng = np.random.default_rng(22)
    x, y = _lg(rng.uniform(0.5, 2, 5)), _lg(rng.uniform(0.5, 2, 5))
    for reduction in ("mean", "none"):
        ours = getattr(lnn, module)(reduction=reduction, **kwargs)(x, y).numpy()
        np.testing.assert_array_equal(
            ours, getattr(F, functional)(x, y, reduction=reduction, **kwargs).numpy())


@pytest.mark.parametrize(
    ("module", "functional", "kwargs"),
    [
        ("MulticlassHingeLoss", "multiclass_hinge_loss", {"margin": 0.5}),
        ("MulticlassPerceptronLoss", "multiclass_perceptron_loss", {}),
        ("GeneralizedCrossEntropyLoss", "generalized_cross_entropy_loss", {"q": 0.3}),
        ("AsymmetricLoss", "asymmetric_loss", {"gamma_neg": 2.0}),
        ("SymmetricCrossEntropyLoss", "symmetric_cross_entropy_loss", {"alpha": 1.0}),
    ],
)
def test_classification_modules(module, functional, kwargs):
    rng = np.random.default_rng(23)
    x, y = _lg(rng.standard_normal((4, 3))), lossgrad.tensor([0, 1, 2, 1])
    ours = getattr(lnn, module)(**kwargs)(x, y).numpy()
    np.testing.assert_array_equal(ours, getattr(F, functional)(x, y, **kwargs).numpy())
    signs = _lg(np.array([1.0, -1.0, 1.0]))
    scores = _lg(np.array([0.3, 0.4, -2.0]))
    np.testing.assert_array_equal(lnn.SquaredHingeLoss()(scores, signs).numpy(),
                                  F.squared_hinge_loss(scores, signs).numpy())
    np.testing.assert_array_equal(lnn.PerceptronLoss()(scores, signs).numpy(),
                                  F.perceptron_loss(scores, signs).numpy())
