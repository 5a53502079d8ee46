"""Distances between distributions and samples (``loss_distribution.py``) against SciPy, POT and
geomloss."""

from __future__ import annotations

import numpy as np
import ot
import pytest
import scipy.spatial.distance
import scipy.stats
import torch
from geomloss import SamplesLoss

import lossgrad
import lossgrad.nn as lnn
import lossgrad.nn.functional as F
from lossgrad.autograd import gradcheck, gradgradcheck

DTYPES = [np.float32, np.float64]


def _tol(dtype: type) -> dict[str, float]:
    return {"rtol": 1e-5, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-10, "atol": 1e-12}


def _lg(array: np.ndarray, grad: bool = False) -> lossgrad.Tensor:
    return lossgrad.tensor(array.copy(), requires_grad=grad)


# -- one-dimensional -------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weighted", [False, True])
def test_wasserstein_1d_p1_equals_scipy(weighted, dtype):
    rng = np.random.default_rng(0)
    u, v = rng.standard_normal(13).astype(dtype), (rng.standard_normal(9) * 2 + 1).astype(dtype)
    u_w = rng.uniform(0.1, 2, 13).astype(dtype) if weighted else None
    v_w = rng.uniform(0.1, 2, 9).astype(dtype) if weighted else None
    copies = [a.copy() for a in (u, v, u_w, v_w) if a is not None]
    ours = F.wasserstein_1d(_lg(u), _lg(v), None if u_w is None else _lg(u_w),
                            None if v_w is None else _lg(v_w))
    assert ours.dtype == lossgrad.float32 if dtype == np.float32 else lossgrad.float64
    ref = scipy.stats.wasserstein_distance(u, v, u_w, v_w)
    np.testing.assert_allclose(ours.item(), ref, **_tol(dtype))
    for before, after in zip(copies, [a for a in (u, v, u_w, v_w) if a is not None]):
        np.testing.assert_array_equal(before, after)


@pytest.mark.parametrize("p", [1, 1.5, 2, 3])
@pytest.mark.filterwarnings("ignore:The use of `x.T`")
def test_wasserstein_1d_equals_pot_with_gradients(p):
    rng = np.random.default_rng(1)
    u, v = rng.standard_normal(11), rng.standard_normal(7) + 0.5
    u_w, v_w = rng.uniform(0.1, 1, 11), rng.uniform(0.1, 1, 7)
    u_w, v_w = u_w / u_w.sum(), v_w / v_w.sum()
    tu, tv = (torch.tensor(a, requires_grad=True) for a in (u, v))
    tuw, tvw = (torch.tensor(a, requires_grad=True) for a in (u_w, v_w))
    ref = ot.wasserstein_1d(tu, tv, tuw, tvw, p=p)
    ref.backward()
    args = [_lg(a, True) for a in (u, v, u_w, v_w)]
    ours = F.wasserstein_1d(*args, p=p)
    ours.backward()
    np.testing.assert_allclose(ours.item(), ref.item(), rtol=1e-12)
    np.testing.assert_allclose(args[0].grad.numpy(), tu.grad.numpy(), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(args[1].grad.numpy(), tv.grad.numpy(), rtol=1e-10, atol=1e-14)
    # the weights are normalised here (POT's are used as given): compare the gradient along
    # directions that keep the sum, where both define the same function
    for ours_w, theirs_w in ((args[2], tuw), (args[3], tvw)):
        ours_g, theirs_g = ours_w.grad.numpy(), theirs_w.grad.numpy()
        np.testing.assert_allclose(ours_g - ours_g.mean(), theirs_g - theirs_g.mean(),
                                   rtol=1e-9, atol=1e-12)


def test_wasserstein_1d_columns_and_gradgradcheck():
    rng = np.random.default_rng(2)
    u, v = rng.standard_normal((8, 3)), rng.standard_normal((5, 3))
    ours = F.wasserstein_1d(_lg(u), _lg(v), p=2).numpy()
    np.testing.assert_allclose(ours, ot.wasserstein_1d(u, v, p=2), rtol=1e-12)
    args = (_lg(u[:, 0], True), _lg(v[:, 0], True), _lg(rng.uniform(0.2, 1, 8), True),
            _lg(rng.uniform(0.2, 1, 5), True))
    assert gradcheck(lambda *a: F.wasserstein_1d(*a, p=2), args)
    assert gradgradcheck(lambda *a: F.wasserstein_1d(*a, p=2), args)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weighted", [False, True])
def test_energy_distance_equals_scipy(weighted, dtype):
    rng = np.random.default_rng(3)
    u, v = rng.standard_normal(10).astype(dtype), (rng.standard_normal(12) + 0.3).astype(dtype)
    u_w = rng.uniform(0.1, 2, 10).astype(dtype) if weighted else None
    v_w = rng.uniform(0.1, 2, 12).astype(dtype) if weighted else None
    ours = F.energy_distance(_lg(u), _lg(v), None if u_w is None else _lg(u_w),
                             None if v_w is None else _lg(v_w))
    np.testing.assert_allclose(ours.item(), scipy.stats.energy_distance(u, v, u_w, v_w),
                               **_tol(dtype))
    # gradient in the values: finite differences of SciPy's value (float64)
    if dtype == np.float64:
        x = _lg(u, True)
        F.energy_distance(x, _lg(v), None if u_w is None else _lg(u_w),
                          None if v_w is None else _lg(v_w)).backward()
        step = 1e-6
        numeric = [(scipy.stats.energy_distance(u + step * e, v, u_w, v_w)
                    - scipy.stats.energy_distance(u - step * e, v, u_w, v_w)) / (2 * step)
                   for e in np.eye(10)]
        np.testing.assert_allclose(x.grad.numpy(), numeric, rtol=1e-6, atol=1e-9)


def test_energy_distance_zero_and_gradgradcheck():
    u = _lg(np.array([0.0, 1.0, 2.5]), True)
    value = F.energy_distance(u, _lg(np.array([2.5, 0.0, 1.0])))
    value.backward()
    assert value.item() == 0.0 and np.isfinite(u.grad.numpy()).all()
    args = (_lg(np.array([0.1, 1.3, 2.0]), True), _lg(np.array([0.5, 2.7]), True))
    assert gradgradcheck(F.energy_distance, args)


@pytest.mark.parametrize("dtype", DTYPES)
def test_js_divergence_equals_scipy(dtype):
    rng = np.random.default_rng(4)
    p = rng.dirichlet(np.ones(6), 5).astype(dtype)
    q = rng.dirichlet(np.ones(6), 5).astype(dtype)
    p[0, :3] = 0.0
    p[0] /= p[0].sum()
    ours = F.js_divergence(_lg(p), _lg(q), reduction="none").numpy()
    ref = scipy.spatial.distance.jensenshannon(p.astype(np.float64), q, axis=1) ** 2
    np.testing.assert_allclose(ours, ref, **_tol(dtype))
    np.testing.assert_allclose(F.js_divergence(_lg(p.T), _lg(q.T), dim=0).item(), ref.mean(),
                               **_tol(dtype))
    x = _lg(p, True)
    F.js_divergence(x, _lg(q), reduction="sum").backward()
    middle = (p + q) / 2
    with np.errstate(divide="ignore"):
        expected = np.where(p > 0, 0.5 * (np.log(np.where(p > 0, p, 1)) - np.log(middle)),
                            -0.5 * np.log(middle) - 0.5)
    expected = np.where(p > 0, expected, 0.5 * (0.0 - np.log(middle)) - 0.5)
    np.testing.assert_allclose(x.grad.numpy()[1:], expected[1:], **_tol(dtype))
    assert np.isfinite(x.grad.numpy()).all()


def test_js_divergence_gradgradcheck():
    rng = np.random.default_rng(5)
    p, q = rng.dirichlet(np.ones(4), 3), rng.dirichlet(np.ones(4), 3)
    assert gradgradcheck(F.js_divergence, (_lg(p, True), _lg(q, True)))


# -- point clouds ----------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("kernel", "blur"), [("gaussian", 0.5), ("laplacian", 0.3),
                                              ("energy", 0.05)])
def test_mmd_equals_geomloss(kernel, blur, dtype):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((20, 3)).astype(dtype)
    y = (rng.standard_normal((15, 3)) + 0.5).astype(dtype)
    tx, ty = torch.tensor(x, requires_grad=True), torch.tensor(y, requires_grad=True)
    ref = SamplesLoss(kernel, blur=blur, backend="tensorized")(tx, ty)
    ref.backward()
    ox, oy = _lg(x, True), _lg(y, True)
    ours = F.mmd_loss(ox, oy, kernel=kernel, blur=blur)
    ours.backward()
    tol = {"rtol": 1e-4, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-9, "atol": 1e-12}
    np.testing.assert_allclose(ours.item(), ref.item(), **tol)
    for mine, theirs in ((ox.grad.numpy(), tx.grad.numpy()), (oy.grad.numpy(), ty.grad.numpy())):
        if dtype == np.float32:  # sums of cancelling float32 terms: 0.5% of the largest entry
            tol = {"rtol": 0, "atol": 5e-3 * np.abs(theirs).max()}
        np.testing.assert_allclose(mine, theirs, **tol)


def test_mmd_weights_batch_and_gradgradcheck():
    rng = np.random.default_rng(7)
    x, y = rng.standard_normal((2, 6, 2)), rng.standard_normal((2, 5, 2))
    a, b = rng.dirichlet(np.ones(6), 2), rng.dirichlet(np.ones(5), 2)
    ref = SamplesLoss("gaussian", blur=0.7, backend="tensorized")(
        *(torch.tensor(t) for t in (a, x, b, y)))
    ours = F.mmd_loss(_lg(x), _lg(y), _lg(a), _lg(b), blur=0.7, reduction="none")
    np.testing.assert_allclose(ours.numpy(), ref.numpy(), rtol=1e-10)
    for kernel in ("gaussian", "laplacian", "energy"):
        assert gradgradcheck(lambda p, q, k=kernel: F.mmd_loss(p, q, kernel=k, blur=0.8),
                             (_lg(x[0], True), _lg(y[0], True)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("p", "blur", "scaling", "debias"),
                         [(2, 0.05, 0.5, True), (2, 0.5, 0.8, True), (1, 0.1, 0.5, True),
                          (2, 0.1, 0.5, False)])
def test_sinkhorn_value_equals_geomloss(p, blur, scaling, debias, dtype):
    rng = np.random.default_rng(8)
    x = rng.uniform(0, 1, (25, 3)).astype(dtype)
    y = (rng.uniform(0, 1, (30, 3)) * 0.8 + 0.3).astype(dtype)
    tx, ty = torch.tensor(x, requires_grad=True), torch.tensor(y, requires_grad=True)
    loss = SamplesLoss("sinkhorn", p=p, blur=blur, scaling=scaling, debias=debias,
                       backend="tensorized")
    ref = loss(tx, ty)
    ref.backward()
    tol = {"rtol": 2e-5, "atol": 1e-5} if dtype == np.float32 else {"rtol": 1e-10, "atol": 1e-13}
    for gradient in ("envelope", "exact"):
        ox, oy = _lg(x, True), _lg(y, True)
        ours = F.sinkhorn_loss(ox, oy, p=p, blur=blur, scaling=scaling, debias=debias,
                               gradient=gradient)
        ours.backward()
        np.testing.assert_allclose(ours.item(), ref.item(), **tol)
        if gradient == "envelope":  # geomloss's gradient, computed the same way
            np.testing.assert_allclose(ox.grad.numpy(), tx.grad.numpy(), **tol)
            np.testing.assert_allclose(oy.grad.numpy(), ty.grad.numpy(), **tol)
        else:  # the true gradient differs from geomloss's by the unconverged part: measured
            # 2% to 50% of the largest entry on these settings, the direction within 12 degrees
            mine, theirs = ox.grad.numpy().ravel(), tx.grad.numpy().ravel()
            cosine = mine @ theirs / np.linalg.norm(mine) / np.linalg.norm(theirs)
            assert cosine > 0.975
            assert np.abs(mine - theirs).max() < 0.6 * np.abs(theirs).max()


def test_sinkhorn_exact_gradient_is_the_derivative_of_the_value():
    rng = np.random.default_rng(9)
    x, y = rng.uniform(0, 1, (5, 2)), rng.uniform(0, 1, (4, 2)) + 0.2
    args = (_lg(x, True), _lg(y, True))

    def loss(a, b):
        return F.sinkhorn_loss(a, b, blur=0.3, diameter=2.0)

    assert gradcheck(loss, args)
    assert gradgradcheck(loss, args)
    # geomloss's envelope gradient is off by more than finite differences of the value allow
    ox = _lg(x, True)
    F.sinkhorn_loss(ox, _lg(y), blur=0.3, diameter=2.0, gradient="envelope").backward()
    exact = _lg(x, True)
    F.sinkhorn_loss(exact, _lg(y), blur=0.3, diameter=2.0).backward()
    step = 1e-6
    numeric = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        shifted = np.zeros_like(x)
        shifted[index] = step
        numeric[index] = (loss(_lg(x + shifted), _lg(y)).item()
                          - loss(_lg(x - shifted), _lg(y)).item()) / (2 * step)
    np.testing.assert_allclose(exact.grad.numpy(), numeric, rtol=1e-6, atol=1e-9)
    assert np.abs(ox.grad.numpy() - numeric).max() > 1e-6


def test_sinkhorn_weights_and_batch():
    rng = np.random.default_rng(10)
    x, y = rng.standard_normal((2, 7, 2)), rng.standard_normal((2, 6, 2))
    a, b = rng.dirichlet(np.ones(7), 2), rng.dirichlet(np.ones(6), 2)
    ref = SamplesLoss("sinkhorn", blur=0.1, backend="tensorized")(
        *(torch.tensor(t) for t in (a, x, b, y)))
    ours = F.sinkhorn_loss(_lg(x), _lg(y), _lg(a), _lg(b), blur=0.1, reduction="none")
    np.testing.assert_allclose(ours.numpy(), ref.numpy(), rtol=1e-10)
    assert (ours.numpy() >= 0).all()


def test_stability_far_apart_and_large_values():
    x = np.array([[0.0, 0.0], [1.0, 0.0]])
    far = x + 1e4
    value = F.sinkhorn_loss(_lg(x, True), _lg(far), blur=0.05)
    assert np.isfinite(value.item())
    np.testing.assert_allclose(value.item(), 0.5 * (2 * 1e8), rtol=1e-6)  # |shift|**2 / 2
    for kernel in ("gaussian", "laplacian", "energy"):
        v = F.mmd_loss(_lg(x), _lg(far), kernel=kernel)
        assert np.isfinite(v.item())
    u = np.array([0.0, 1e30])
    ours = F.wasserstein_1d(_lg(u, True), _lg(np.array([1.0, -1e30])))
    np.testing.assert_allclose(ours.item(), scipy.stats.wasserstein_distance(u, [1.0, -1e30]))
    np.testing.assert_allclose(F.energy_distance(_lg(u), _lg(np.array([1e4, 2e4]))).item(),
                               scipy.stats.energy_distance(u, [1e4, 2e4]))


def test_errors_name_the_argument():
    u = lossgrad.tensor([0.0, 1.0])
    with pytest.raises(ValueError, match="p must"):
        F.wasserstein_1d(u, u, p=0.5)
    with pytest.raises(ValueError, match="u_weights"):
        F.wasserstein_1d(u, u, u_weights=lossgrad.tensor([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="v_weights"):
        F.energy_distance(u, u, v_weights=lossgrad.tensor([-1.0, 2.0]))
    with pytest.raises(ValueError, match="u_values"):
        F.wasserstein_1d(lossgrad.zeros(0), u)
    with pytest.raises(TypeError, match="v_values"):
        F.wasserstein_1d(u, [0.0, 1.0])
    clouds = lossgrad.zeros(4, 2)
    with pytest.raises(ValueError, match="kernel"):
        F.mmd_loss(clouds, clouds, kernel="cosine")
    with pytest.raises(ValueError, match="x and y"):
        F.mmd_loss(clouds, lossgrad.zeros(4, 3))
    with pytest.raises(ValueError, match="blur"):
        F.sinkhorn_loss(clouds, clouds, blur=0.0)
    with pytest.raises(ValueError, match="scaling"):
        F.sinkhorn_loss(clouds, clouds, scaling=1.0)
    with pytest.raises(ValueError, match="gradient"):
        F.sinkhorn_loss(clouds, clouds, gradient="implicit")
    with pytest.raises(ValueError, match="x_weights"):
        F.sinkhorn_loss(clouds, clouds, x_weights=lossgrad.ones(3))
    with pytest.raises(ValueError, match="size"):
        F.js_divergence(lossgrad.ones(3), lossgrad.ones(2))


def test_modules():
    rng = np.random.default_rng(11)
    x, y = _lg(rng.standard_normal((6, 2))), _lg(rng.standard_normal((5, 2)))
    np.testing.assert_array_equal(lnn.SinkhornLoss(blur=0.2)(x, y).numpy(),
                                  F.sinkhorn_loss(x, y, blur=0.2).numpy())
    np.testing.assert_array_equal(lnn.MMDLoss(kernel="laplacian", blur=0.4)(x, y).numpy(),
                                  F.mmd_loss(x, y, kernel="laplacian", blur=0.4).numpy())
    u, v = _lg(rng.standard_normal(6)), _lg(rng.standard_normal(5))
    np.testing.assert_array_equal(lnn.WassersteinLoss1d(p=2)(u, v).numpy(),
                                  F.wasserstein_1d(u, v, p=2).numpy())
    np.testing.assert_array_equal(lnn.EnergyDistanceLoss()(u, v).numpy(),
                                  F.energy_distance(u, v).numpy())
    p, q = _lg(rng.dirichlet(np.ones(3), 2)), _lg(rng.dirichlet(np.ones(3), 2))
    np.testing.assert_array_equal(lnn.JSDivergenceLoss(reduction="sum")(p, q).numpy(),
                                  F.js_divergence(p, q, reduction="sum").numpy())


@pytest.mark.parametrize("dtype", DTYPES)
def test_soft_c_transform_equals_torch_logsumexp(dtype):
    from lossgrad.nn.functional.loss_distribution import _softmin

    rng = np.random.default_rng(12)
    cost = rng.uniform(0, 3, (2, 5, 4)).astype(dtype)
    h = rng.standard_normal((2, 4)).astype(dtype)
    weights = rng.standard_normal((2, 5)).astype(dtype)
    tc, th = torch.tensor(cost, requires_grad=True), torch.tensor(h, requires_grad=True)
    ref = -0.3 * (th.unsqueeze(1) - tc / 0.3).logsumexp(2)
    (ref * torch.tensor(weights)).sum().backward()
    oc, oh = _lg(cost, True), _lg(h, True)
    ours = _softmin(0.3, oc, oh)
    (ours * _lg(weights)).sum().backward()
    np.testing.assert_allclose(ours.detach().numpy(), ref.detach().numpy(), **_tol(dtype))
    np.testing.assert_allclose(oc.grad.numpy(), tc.grad.numpy(), **_tol(dtype))
    np.testing.assert_allclose(oh.grad.numpy(), th.grad.numpy(), **_tol(dtype))
    if dtype == np.float64:
        assert gradgradcheck(lambda c, v: _softmin(0.3, c, v), (_lg(cost, True), _lg(h, True)))
