"""Image losses against pytorch-msssim and kornia: SSIM / MS-SSIM losses, total variation, PSNR
loss; the separable filter op against torch's conv1d; second derivatives; degenerate images."""

import kornia.losses
import numpy as np
import pytest
import pytorch_msssim
import torch

import lossgrad
from lossgrad.autograd import gradcheck, gradgradcheck
from lossgrad.ops.filter import correlate1d, gaussian_filter, gaussian_window

F = lossgrad.nn.functional
rng = np.random.default_rng(1500)


def images(shape, noise=0.1, dtype=np.float64):
    x = rng.random(shape)
    y = np.clip(x + rng.normal(size=shape) * noise, 0, 1)
    return x.astype(dtype), y.astype(dtype)


def msssim_window(size=11, sigma=1.5, channels=3, spatial=2):
    """pytorch-msssim's window shape, built in float64 (its own default is built in float32)."""
    window = torch.tensor(gaussian_window(size, sigma))
    return window.view(1, 1, *([1] * (spatial - 1)), -1).repeat(channels, 1, *([1] * spatial))


def compare(reference, ours, x, y, rtol, atol):
    xt = torch.tensor(x, requires_grad=True)
    want = reference(xt, torch.tensor(y))
    xl = lossgrad.tensor(x, requires_grad=True)
    got = ours(xl, lossgrad.tensor(y))
    assert tuple(got.shape) == tuple(want.shape)
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=rtol, atol=atol)
    seed = rng.normal(size=tuple(want.shape))
    (want * torch.tensor(seed, dtype=want.dtype)).sum().backward()
    (got * lossgrad.tensor(seed.astype(x.dtype))).sum().backward()
    scale = np.abs(xt.grad.numpy()).max()
    np.testing.assert_allclose(xl.grad.numpy(), xt.grad.numpy(), rtol=rtol * 10, atol=atol * scale + 1e-30)


SSIM_SETTINGS = [
    dict(data_range=1.0),
    dict(data_range=1.0, size_average=False, win_size=7, win_sigma=1.0),
    dict(data_range=1.0, nonnegative_ssim=True, K=(0.02, 0.05)),
    dict(data_range=255.0),
]


@pytest.mark.parametrize("kw", SSIM_SETTINGS)
def test_ssim_loss_matches_pytorch_msssim_float64(kw):
    """Exact with the same (float64) window."""
    x, y = images((2, 3, 24, 20))
    if kw["data_range"] == 255.0:
        x, y = x * 255, y * 255
    window = msssim_window(kw.get("win_size", 11), kw.get("win_sigma", 1.5))
    compare(lambda a, b: 1 - pytorch_msssim.ssim(a, b, win=window, **kw), lambda a, b: F.ssim_loss(a, b, **kw), x, y, 1e-12, 1e-12)


@pytest.mark.parametrize("kw", SSIM_SETTINGS[:3])
def test_ssim_loss_matches_pytorch_msssim_defaults_float32(kw):
    """pytorch-msssim's own window is computed in float32: agreement to float32 rounding."""
    x, y = images((2, 3, 24, 20), dtype=np.float32)
    compare(lambda a, b: 1 - pytorch_msssim.ssim(a, b, **kw), lambda a, b: F.ssim_loss(a, b, **kw), x, y, 2e-5, 1e-5)
    compare(lambda a, b: 1 - pytorch_msssim.ssim(a, b, **kw), lossgrad.nn.SSIMLoss(**kw), x, y, 2e-5, 1e-5)


def test_ssim_loss_volumes_and_short_axes_match_pytorch_msssim():
    x, y = images((1, 2, 6, 14, 13))
    window = msssim_window(channels=2, spatial=3)
    with pytest.warns(UserWarning, match="Skipping Gaussian Smoothing"):
        want = 1 - pytorch_msssim.ssim(torch.tensor(x), torch.tensor(y), data_range=1.0, win=window)
    with pytest.warns(UserWarning, match="Skipping Gaussian Smoothing"):
        got = F.ssim_loss(lossgrad.tensor(x), lossgrad.tensor(y), data_range=1.0)
    np.testing.assert_allclose(float(got), float(want), rtol=1e-12)


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("dtype,tol,window_size", [(np.float32, 1e-5, 11), (np.float64, 1e-12, 5)])
def test_ssim_loss_matches_kornia(padding, window_size, dtype, tol):
    x, y = images((2, 3, 20, 18), dtype=dtype)
    kw = dict(data_range=1.0, win_size=window_size, padding=padding, halved=True, eps=1e-12)
    compare(lambda a, b: kornia.losses.ssim_loss(a, b, window_size, padding=padding), lambda a, b: F.ssim_loss(a, b, **kw), x, y, tol, tol)


@pytest.mark.parametrize(
    "kw",
    [dict(data_range=1.0, win_size=7), dict(data_range=1.0, size_average=False, weights=[0.5, 0.3, 0.2], win_size=5)],
)
def test_ms_ssim_loss_matches_pytorch_msssim(kw):
    """Windows of 7 and 5 taps (images above 96 and 64 pixels a side; the default 11 taps need
    161, tested in the float32 default-window test below with the same code path)."""
    x, y = images((2, 1, 100, 98), noise=0.2)
    window = msssim_window(kw.get("win_size", 11), channels=1)
    compare(lambda a, b: 1 - pytorch_msssim.ms_ssim(a, b, win=window, **kw), lambda a, b: F.ms_ssim_loss(a, b, **kw), x, y, 1e-12, 1e-12)
    x32, y32 = x.astype(np.float32), y.astype(np.float32)
    # float32 (pytorch-msssim's float32 window and five scales of float32 sums): gradients agree
    # to 1e-4 of their largest entry
    compare(lambda a, b: 1 - pytorch_msssim.ms_ssim(a, b, **kw), lossgrad.nn.MS_SSIMLoss(**kw), x32, y32, 2e-5, 1e-4)


def test_ms_ssim_default_window_matches_pytorch_msssim_float32():
    x, y = images((1, 1, 165, 162), noise=0.2, dtype=np.float32)
    compare(lambda a, b: 1 - pytorch_msssim.ms_ssim(a, b, data_range=1.0), lambda a, b: F.ms_ssim_loss(a, b, data_range=1.0), x, y, 2e-5, 1e-4)


def test_ms_ssim_negative_terms_give_zero_not_nan():
    """Anti-correlated images: negative cs / SSIM terms. pytorch-msssim 1.0 clamps them (value
    1 - 0 = 1); the gradient of the clamped power is 0 there, finite (ours) where a direct
    ``0 ** w`` derivative would be inf * 0."""
    x = rng.random((1, 1, 170, 170))
    y = 1.0 - x
    want = 1 - pytorch_msssim.ms_ssim(torch.tensor(x), torch.tensor(y), data_range=1.0)
    xl = lossgrad.tensor(x, requires_grad=True)
    got = F.ms_ssim_loss(xl, lossgrad.tensor(y), data_range=1.0)
    got.backward()
    np.testing.assert_allclose(float(got), float(want), rtol=1e-6)
    assert np.isfinite(xl.grad.numpy()).all()


@pytest.mark.parametrize("fn", ["ssim", "ms_ssim", "kornia"])
def test_constant_and_identical_images_are_finite(fn):
    side = 170 if fn == "ms_ssim" else 16
    for image in (np.zeros((1, 2, side, side)), np.full((1, 2, side, side), 0.7)):
        x = lossgrad.tensor(image, requires_grad=True)
        if fn == "ssim":
            loss = F.ssim_loss(x, lossgrad.tensor(image), data_range=1.0)
        elif fn == "ms_ssim":
            loss = F.ms_ssim_loss(x, lossgrad.tensor(image), data_range=1.0)
        else:
            loss = F.ssim_loss(x, lossgrad.tensor(image), data_range=1.0, padding="same", halved=True)
        loss.backward()
        assert abs(float(loss)) < 1e-12
        assert np.isfinite(x.grad.numpy()).all()


def test_float16_large_images_are_computed_in_float32():
    x, y = images((1, 1, 512, 512), dtype=np.float16)
    xl = lossgrad.tensor(x, requires_grad=True)
    loss = F.ssim_loss(xl, lossgrad.tensor(y), data_range=1.0)
    loss.backward()
    assert loss.dtype == lossgrad.float16
    want = 1 - pytorch_msssim.ssim(torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32), data_range=1.0)
    np.testing.assert_allclose(float(loss), float(want), rtol=2e-3)
    assert np.isfinite(xl.grad.numpy().astype(np.float32)).all()


@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize("shape", [(2, 3, 6, 5), (4, 4), (2, 1, 7)])
def test_total_variation_matches_kornia(reduction, shape):
    x = rng.random(shape)
    x.reshape(-1)[:3] = 0.5  # ties: |0| has gradient 0 in both
    compare(lambda a, b: kornia.losses.total_variation(a, reduction), lambda a, b: F.total_variation(a, reduction), x, x, 1e-12, 1e-12)
    got = lossgrad.nn.TotalVariation(reduction)(lossgrad.tensor(x))
    np.testing.assert_allclose(got.numpy(), kornia.losses.total_variation(torch.tensor(x), reduction).numpy(), rtol=1e-12)


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_total_variation_split_over_threads_matches_kornia(reduction):
    """18 images of 128x128: blocks of images over two threads (past the pool's threshold)."""
    from lossgrad import _parallel

    x = rng.random((6, 3, 128, 128))
    threads = _parallel.get_num_threads()
    _parallel.set_num_threads(2)
    try:
        compare(lambda a, b: kornia.losses.total_variation(a, reduction), lambda a, b: F.total_variation(a, reduction), x, x, 1e-12, 1e-12)
    finally:
        _parallel.set_num_threads(threads)


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_total_variation_mean_of_a_wide_image_matches_kornia(dtype):
    # 299 x 300 differences per image: a count above float16's 65504; torch's Half mean sums
    # and divides in float32 (lossgrad divided by an infinite float16 count: 0, gradient 0)
    x = np.random.default_rng(4).random((1, 3, 300, 300)).astype(dtype)
    upstream = np.array([[0.5, -1.0, 2.0]], dtype)
    theirs_x, ours_x = torch.tensor(x, requires_grad=True), lossgrad.tensor(x, requires_grad=True)
    theirs = kornia.losses.total_variation(theirs_x, reduction="mean")
    ours = F.total_variation(ours_x, reduction="mean")
    theirs.backward(torch.tensor(upstream))
    ours.backward(lossgrad.tensor(upstream))
    tol = 1e-3 if dtype == np.float16 else 1e-6
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=tol)
    np.testing.assert_allclose(ours_x.grad.numpy(), theirs_x.grad.numpy(), rtol=tol, atol=1e-8)


@pytest.mark.parametrize("dtype,tol", [(np.float32, 1e-6), (np.float64, 1e-12)])
def test_psnr_loss_matches_kornia(dtype, tol):
    x, y = images((2, 3, 8, 8), dtype=dtype)
    for max_val in (1.0, 2.5):
        compare(lambda a, b, m=max_val: kornia.losses.psnr_loss(a, b, m), lambda a, b, m=max_val: F.psnr_loss(a, b, m), x, y, tol, tol)
        got = lossgrad.nn.PSNRLoss(max_val)(lossgrad.tensor(x), lossgrad.tensor(y))
        np.testing.assert_allclose(float(got), float(kornia.losses.psnr_loss(torch.tensor(x), torch.tensor(y), max_val)), rtol=tol)


@pytest.mark.parametrize(
    "fn",
    [
        lambda a, b: F.ssim_loss(a, b, data_range=1.0, win_size=3),
        lambda a, b: F.ssim_loss(a, b, data_range=1.0, win_size=3, padding="same", halved=True, eps=1e-12),
        lambda a, b: F.ssim_loss(a, b, data_range=1.0, win_size=3, nonnegative_ssim=True, size_average=False),
        lambda a, b: F.total_variation(a + b, "mean"),
        lambda a, b: F.psnr_loss(a, b, 1.0),
    ],
)
def test_gradgradcheck(fn):
    x, y = images((1, 2, 6, 5), noise=0.3)
    xl, yl = lossgrad.tensor(x, requires_grad=True), lossgrad.tensor(y, requires_grad=True)
    assert gradcheck(fn, (xl, yl))
    assert gradgradcheck(fn, (xl, yl))


def test_ms_ssim_second_derivative_by_finite_differences():
    """MS-SSIM needs images above 32 pixels a side (four halvings), too many inputs for a full
    gradgradcheck: the Hessian-vector product along a random direction is checked against the
    central difference of the gradient instead (float64)."""
    x, y = images((1, 1, 36, 35), noise=0.3)
    direction = rng.normal(size=x.shape)

    def gradient(at):
        xl = lossgrad.tensor(at, requires_grad=True)
        loss = F.ms_ssim_loss(xl, lossgrad.tensor(y), data_range=1.0, win_size=3, weights=[0.6, 0.4])
        (grad,) = lossgrad.autograd.grad(loss, (xl,), create_graph=True)
        return xl, grad

    xl, grad = gradient(x)
    (hessian_direction,) = lossgrad.autograd.grad((grad * lossgrad.tensor(direction)).sum(), (xl,))
    step = 1e-5
    plus, minus = gradient(x + step * direction)[1], gradient(x - step * direction)[1]
    numeric = (plus.detach().numpy() - minus.detach().numpy()) / (2 * step)
    np.testing.assert_allclose(hessian_direction.numpy(), numeric, rtol=1e-4, atol=1e-6 * np.abs(numeric).max())


def test_filter_op_matches_conv1d_and_is_twice_differentiable():
    x = rng.normal(size=(2, 3, 9, 8))
    weights = rng.normal(size=4)
    got = correlate1d(lossgrad.tensor(x), weights, 2).numpy()
    columns = torch.tensor(x).permute(0, 1, 3, 2).reshape(-1, 1, 9)
    want = torch.nn.functional.conv1d(columns, torch.tensor(weights).view(1, 1, -1))
    np.testing.assert_allclose(got, want.reshape(2, 3, 8, 6).permute(0, 1, 3, 2).numpy(), rtol=1e-13, atol=1e-14)
    window = gaussian_window(5, 1.5)
    got = correlate1d(lossgrad.tensor(x), window, 3, "same").numpy()
    padded = torch.nn.functional.pad(torch.tensor(x).reshape(6, 9, 8), (2, 2), mode="reflect")
    want = torch.nn.functional.conv1d(padded.reshape(-1, 1, 12), torch.tensor(window).view(1, 1, -1))
    np.testing.assert_allclose(got, want.reshape(2, 3, 9, 8).numpy(), rtol=1e-13, atol=1e-14)
    t = lossgrad.tensor(rng.normal(size=(2, 7, 6)), requires_grad=True)
    for padding in ("valid", "same"):
        for kernel in (weights[:3], window):
            assert gradgradcheck(lambda z, k=kernel, p=padding: correlate1d(z, k, 1, p), (t,))
    blurred = gaussian_filter(lossgrad.tensor(x), window, (2, 3))
    assert tuple(blurred.shape) == (2, 3, 5, 4)


def test_bad_inputs_name_the_argument_and_are_not_mutated():
    x, y = images((1, 2, 16, 16))
    x_copy, y_copy = x.copy(), y.copy()
    xl, yl = lossgrad.tensor(x), lossgrad.tensor(y)
    with pytest.raises(ValueError, match="same dimensions"):
        F.ssim_loss(xl, lossgrad.tensor(y[:, :1]))
    with pytest.raises(ValueError, match="win_size"):
        F.ssim_loss(xl, yl, win_size=4)
    with pytest.raises(ValueError, match="padding"):
        F.ssim_loss(xl, yl, padding="full")
    with pytest.raises(ValueError, match="input"):
        F.ssim_loss(lossgrad.tensor(x[0]), lossgrad.tensor(y[0]))
    with pytest.raises(TypeError, match="input and target"):
        F.ssim_loss(lossgrad.tensor((x * 255).astype(np.int64)), lossgrad.tensor((y * 255).astype(np.int64)))
    with pytest.raises(ValueError, match="larger than 160"):
        F.ms_ssim_loss(xl, yl)
    with pytest.raises(ValueError, match="reduction"):
        F.total_variation(xl, "none")
    with pytest.raises(TypeError, match="equal shapes"):
        F.psnr_loss(xl, lossgrad.tensor(y[:, :1]), 1.0)
    F.ssim_loss(xl, yl, data_range=1.0, padding="same", halved=True)
    F.total_variation(xl)
    F.psnr_loss(xl, yl, 1.0)
    np.testing.assert_array_equal(x, x_copy)
    np.testing.assert_array_equal(y, y_copy)


def test_pytorch_msssim_and_kornia_keywords():
    import inspect

    for ours, theirs in ((F.ssim_loss, pytorch_msssim.ssim), (F.ms_ssim_loss, pytorch_msssim.ms_ssim)):
        mine = inspect.signature(ours).parameters
        reference = list(inspect.signature(theirs).parameters.values())[2:]
        for parameter in reference:
            assert mine[parameter.name].default == parameter.default, parameter.name
    assert list(inspect.signature(F.total_variation).parameters) == ["img", "reduction"]
    assert list(inspect.signature(F.psnr_loss).parameters) == ["image", "target", "max_val"]
