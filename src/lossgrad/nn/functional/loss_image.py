"""Image losses (lossgrad extensions): SSIM and MS-SSIM losses, total variation, PSNR loss.

SSIM (Wang et al. 2004) compares local Gaussian-weighted statistics of two images ``x``, ``y``
of shape ``(B, C, H, W)`` (or ``(B, C, D, H, W)``). With ``mu`` the blurred images, ``sigma^2``
and ``sigma_xy`` the blurred (co)variances and ``C1 = (K1 L)^2``, ``C2 = (K2 L)^2`` for the data
range ``L``::

    cs   = (2 sigma_xy + C2) / (sigma_x^2 + sigma_y^2 + C2)
    SSIM = (2 mu_x mu_y + C1) / (mu_x^2 + mu_y^2 + C1) * cs

per pixel, then averaged. The blur is ``lossgrad.ops.filter.gaussian_filter`` (a separable,
differentiable op), so these losses are composites: autograd gives every derivative.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from lossgrad import _parallel
from lossgrad._exports import public_names
from lossgrad._factories import from_numpy
from lossgrad._tensor import Tensor
from lossgrad.autograd.function import ArrayFunction
from lossgrad.nn.functional import _checks
from lossgrad.nn.functional.loss_regression import mse_loss
from lossgrad.ops import reduce as _R
from lossgrad.ops.activation import relu
from lossgrad.ops.filter import gaussian_filter, gaussian_window
from lossgrad.ops.pointwise import clamp, log, where
from lossgrad.ops.shape import pad_axis, reshape, stack

_MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
_HALF = np.dtype(np.float16)


def _check_images(input: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """Two float images of one shape ``(B, C, H, W)`` or ``(B, C, D, H, W)``; float16 goes to
    float32 (the window sums of large images would lose precision)."""
    _checks.check_tensor(input, "input")
    _checks.check_tensor(target, "target")
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(
            f"Input images should have the same dimensions, but got input {tuple(input.shape)} "
            f"and target {tuple(target.shape)}."
        )
    if input.dim() not in (4, 5):
        raise ValueError(
            f"input: images should be 4-d or 5-d tensors, got shape {tuple(input.shape)}"
        )
    if input._data.dtype.kind != "f" or target._data.dtype.kind != "f":
        raise TypeError(
            f"input and target: expected floating point images, got {input.dtype} and "
            f"{target.dtype}"
        )
    if input._data.dtype == _HALF:
        input = input.float()
    if target._data.dtype != input._data.dtype:
        target = target.to(input.dtype)
    return input, target


def _window(win_size: int, win_sigma: float, win: Any) -> np.ndarray:
    if win is not None:
        window = np.asarray(win._data if isinstance(win, Tensor) else win, np.float64)
        window = window.reshape(-1, window.shape[-1])[0]  # pytorch-msssim's (C, 1, ..., size)
    else:
        window = gaussian_window(int(win_size), float(win_sigma))
    if window.shape[0] % 2 != 1:
        raise ValueError(f"win_size: window size should be odd, got {window.shape[0]}")
    return window


def _ssim_maps(
    x: Tensor,
    y: Tensor,
    data_range: float,
    window: np.ndarray,
    K: Sequence[float],
    padding: str,
    eps: float,
) -> tuple[Tensor, Tensor]:
    """``(ssim_map, cs_map)``; 'valid' skips a spatial axis shorter than the window (with
    pytorch-msssim's warning)."""
    k1, k2 = (float(k) for k in K)
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    dims = []
    for dim in range(2, x.dim()):
        if padding == "same" or x.shape[dim] >= window.shape[0]:
            dims.append(dim)
        else:
            warnings.warn(
                f"Skipping Gaussian Smoothing at dimension {dim} for input: {tuple(x.shape)} "
                f"and win size: {window.shape[0]}",
                stacklevel=4,
            )
    # the five blurred maps in one filter call: x, y, x^2, y^2, xy stacked on a new axis 0
    blurred = gaussian_filter(
        stack([x, y, x * x, y * y, x * y]), window, [d + 1 for d in dims], padding
    )
    mu_x, mu_y, xx, yy, xy = (blurred[i] for i in range(5))
    mu_xx, mu_yy, mu_xy = mu_x * mu_x, mu_y * mu_y, mu_x * mu_y
    variance_x, variance_y, covariance = xx - mu_xx, yy - mu_yy, xy - mu_xy
    luminance_num, luminance_den = 2 * mu_xy + c1, mu_xx + mu_yy + c1
    contrast_num, contrast_den = 2 * covariance + c2, variance_x + variance_y + c2
    if eps:  # kornia: one eps on the product of the denominators
        ssim_map = (luminance_num * contrast_num) / (luminance_den * contrast_den + eps)
    else:
        ssim_map = (luminance_num / luminance_den) * (contrast_num / contrast_den)
    return ssim_map, contrast_num / contrast_den


def _channel_means(values: Tensor) -> Tensor:
    return _R.mean(values, tuple(range(2, values.dim())))


def ssim_loss(
    input: Tensor,
    target: Tensor,
    data_range: float = 255,
    size_average: bool = True,
    win_size: int = 11,
    win_sigma: float = 1.5,
    win: Any = None,
    K: Sequence[float] = (0.01, 0.03),
    nonnegative_ssim: bool = False,
    *,
    padding: str = "valid",
    halved: bool = False,
    eps: float = 0.0,
) -> Tensor:
    r"""``1 - SSIM`` with pytorch-msssim's keywords: ``F.ssim_loss(x, y, **kw)`` equals
    ``1 - pytorch_msssim.ssim(x, y, **kw)``.

    SSIM is averaged over the pixels of each (sample, channel) -- a ReLU on those means with
    ``nonnegative_ssim`` -- then over everything (``size_average``) or over the channels
    (one loss per sample). The Gaussian window has ``win_size`` taps (odd) and ``win_sigma``;
    'valid' filtering, as pytorch-msssim and MONAI's ``SSIMLoss``.

    The gradient is autograd's through the composite (the blur's adjoint is the blur with the
    flipped window): ``dSSIM/dx`` at a pixel collects ``d(ssim_map)/d(mu, sigma)`` from every
    window that covers it.

    kornia's ``ssim_loss(x, y, window_size, max_val, eps, reduction='mean', padding)`` is
    ``padding='same', halved=True, eps=eps (1e-12), data_range=max_val, win_size=window_size``:
    the loss per pixel is ``clamp((1 - ssim) / 2, 0, 1)`` and 'same' reflect-pads the images
    (its default). ``eps`` is added to the SSIM denominator.

    Args:
        input: ``(B, C, H, W)`` or ``(B, C, D, H, W)`` image.
        target: image of the same shape.
        data_range: value range ``L`` of the images (255 for bytes, 1 for [0, 1]).
        size_average: one scalar (True) or one loss per sample.
        win_size: number of window taps (odd). Default 11.
        win_sigma: standard deviation of the window. Default 1.5.
        win: an explicit 1-D window (pytorch-msssim's ``(C, 1, ..., size)`` also accepted).
        K: ``(K1, K2)``. Default ``(0.01, 0.03)``.
        nonnegative_ssim: clamp each channel's SSIM at 0 (pytorch-msssim).
        padding: ``'valid'`` (default) or ``'same'`` (reflect padding, kornia).
        halved: the per-pixel ``clamp((1 - SSIM) / 2, 0, 1)`` of kornia.
        eps: added to the denominator of SSIM (kornia's ``eps``).

    Returns:
        A scalar, or ``(B,)`` when ``size_average`` is False.

    Note:
        Constant and identical images give loss 0 with finite gradients (the ``C1``, ``C2``
        terms keep every denominator positive). float16 images are computed in float32 and the
        loss returned in float16.

    Example:
        >>> import lossgrad as torch
        >>> import lossgrad.nn.functional as F
        >>> x = torch.linspace(0, 1, 256).reshape(1, 1, 16, 16)
        >>> F.ssim_loss(x, 1 - x, data_range=1.0)  # anti-correlated: SSIM < 0
        tensor(1.8262)
    """
    original_dtype = input.dtype
    x, y = _check_images(input, target)
    if padding not in ("valid", "same"):
        raise ValueError(f"padding: expected 'valid' or 'same', got {padding!r}")
    window = _window(win_size, win_sigma, win)
    ssim_map, _ = _ssim_maps(x, y, float(data_range), window, K, padding, float(eps))
    if halved:
        loss_map = clamp((1.0 - ssim_map) / 2, 0.0, 1.0)
        loss = _R.mean(loss_map) if size_average else _R.mean(loss_map, tuple(range(1, x.dim())))
    else:
        per_channel = _channel_means(ssim_map)
        if nonnegative_ssim:
            per_channel = relu(per_channel)
        loss = 1.0 - (_R.mean(per_channel) if size_average else _R.mean(per_channel, 1))
    return loss.to(original_dtype) if original_dtype != loss.dtype else loss


def _average_pool_2(image: Tensor) -> Tensor:
    """pytorch-msssim's ``avg_pool(kernel_size=2, padding=s % 2)`` over the spatial axes: odd
    axes are zero-padded by one on both sides (the zeros count in the average)."""
    for dim in range(2, image.dim()):
        length = image.shape[dim]
        if length % 2:
            image = pad_axis(image, dim, 1, 1)[(slice(None),) * dim + (slice(0, length + 1),)]
    pooled_shape: list[int] = list(image.shape[:2])
    for dim in range(2, image.dim()):
        pooled_shape += [image.shape[dim] // 2, 2]
    pairs = reshape(image, tuple(pooled_shape))
    return _R.mean(pairs, tuple(range(3, len(pooled_shape), 2)))


def _positive_power(base: Tensor, exponent: float) -> Tensor:
    """``max(base, 0) ** exponent`` with gradient 0 (not NaN) where ``base <= 0``."""
    positive = from_numpy(base._data > 0)
    safe = where(positive, base, 1.0)
    return where(positive, safe**exponent, 0.0)


def ms_ssim_loss(
    input: Tensor,
    target: Tensor,
    data_range: float = 255,
    size_average: bool = True,
    win_size: int = 11,
    win_sigma: float = 1.5,
    win: Any = None,
    weights: Sequence[float] | None = None,
    K: Sequence[float] = (0.01, 0.03),
) -> Tensor:
    r"""``1 - MS-SSIM`` (Wang et al. 2003) with pytorch-msssim 1.0's keywords and clamping.

    At each of ``len(weights)`` scales (halved by 2x2 average pooling in between) the contrast-
    structure term ``cs`` is averaged per (sample, channel); at the last scale SSIM itself::

        MS-SSIM = prod_{j < M} relu(cs_j) ** w_j  *  relu(SSIM_M) ** w_M

    The ReLUs are pytorch-msssim 1.0's fix for the NaN of a negative base to a fractional
    power (its issues #7, #16): a negative term makes MS-SSIM 0, and here its gradient 0
    (not NaN). Default weights ``(0.0448, 0.2856, 0.3001, 0.2363, 0.1333)``; the smaller image
    side must exceed ``(win_size - 1) * 2**4``.

    Args:
        input, target, data_range, size_average, win_size, win_sigma, win, K: as ``ssim_loss``.
        weights: the scale exponents (their number sets the number of scales).

    Returns:
        A scalar, or ``(B,)`` when ``size_average`` is False.

    Example:
        >>> import lossgrad as torch
        >>> import lossgrad.nn.functional as F
        >>> x = torch.linspace(0, 1, 161 * 161).reshape(1, 1, 161, 161)
        >>> F.ms_ssim_loss(x, x, data_range=1.0)
        tensor(0.)
    """
    original_dtype = input.dtype
    x, y = _check_images(input, target)
    window = _window(win_size, win_sigma, win)
    smaller_side = min(x.shape[-2:])
    minimum_side = (window.shape[0] - 1) * 2**4
    if smaller_side <= minimum_side:
        raise ValueError(
            f"input: image size should be larger than {minimum_side} due to the 4 "
            f"downsamplings in ms-ssim, got {tuple(x.shape)}"
        )
    exponents = [float(w) for w in (_MS_SSIM_WEIGHTS if weights is None else weights)]
    terms = []
    for level, exponent in enumerate(exponents):
        ssim_map, cs_map = _ssim_maps(x, y, float(data_range), window, K, "valid", 0.0)
        if level < len(exponents) - 1:
            terms.append(_positive_power(_channel_means(cs_map), exponent))
            x, y = _average_pool_2(x), _average_pool_2(y)
        else:
            terms.append(_positive_power(_channel_means(ssim_map), exponent))
    ms_ssim = terms[0]
    for term in terms[1:]:
        ms_ssim = ms_ssim * term
    loss = 1.0 - (_R.mean(ms_ssim) if size_average else _R.mean(ms_ssim, 1))
    return loss.to(original_dtype) if original_dtype != loss.dtype else loss


def total_variation(img: Tensor, reduction: str = "sum") -> Tensor:
    r"""Anisotropic total variation, kornia's: ``sum |dx| + sum |dy|`` over the last two axes.

    For ``(*, H, W)`` images, per leading index::

        TV = sum_{i,j} |x[i+1, j] - x[i, j]| + sum_{i,j} |x[i, j+1] - x[i, j]|

    ('mean' averages each of the two sums over its own count of differences, as kornia).
    Gradient: ``sign(x - x_up) - sign(x_down - x) + ...`` (0 where neighbours are equal, so a
    constant image has gradient 0).

    Args:
        img: ``(*, H, W)`` image(s).
        reduction: ``'sum'`` (default) | ``'mean'``.

    Returns:
        ``img.shape[:-2]``: one value per image and channel (kornia's shape).

    Example:
        >>> import lossgrad as torch
        >>> import lossgrad.nn.functional as F
        >>> F.total_variation(torch.tensor([[0.0, 1.0], [3.0, 1.0]]))
        tensor(6.)
    """
    _checks.check_tensor(img, "img")
    if img.dim() < 2:
        raise ValueError(f"img: expected shape (*, H, W), got {tuple(img.shape)}")
    if reduction not in ("mean", "sum"):
        raise ValueError(f"Expected reduction to be one of 'mean'/'sum', but got '{reduction}'.")
    if img._data.dtype.kind != "f":
        img = img.float()
    return _TotalVariation.apply(img, reduction == "mean")


class _TotalVariation(ArrayFunction):
    """``total_variation`` as one op: per image, ``sum |d|`` (or its mean) of the differences
    ``d`` along each of the last two axes (kornia's composite makes about a dozen ops of it).

    Gradient: with ``s = sign(d) g / n`` along an axis (``n`` the count of differences for
    'mean', else 1), ``s`` goes to the later pixel of each pair and ``-s`` to the earlier one.
    ``backward`` builds it from lossgrad ops (``pad_axis``), and it is linear in ``g`` with
    ``sign(d)`` a constant: the second derivative is 0, as that of ``|d|`` almost everywhere.
    """

    node_name = "TotalVariationBackward0"

    @staticmethod
    def forward(ctx: Any, img: np.ndarray, mean: bool) -> np.ndarray:
        ctx.save_for_backward(img)
        ctx.mean = mean
        images = _images(img)
        counts = _counts(images, mean, img.dtype)
        total = np.empty(len(images), img.dtype)

        def block(lo: int, hi: int) -> None:
            part = images[lo:hi]
            vertical, horizontal = _differences(part, 1, 0), _differences(part, 2, 1)
            np.abs(vertical, out=vertical)
            np.abs(horizontal, out=horizontal)
            accumulate = counts[0].dtype
            np.divide(vertical.sum((1, 2), dtype=accumulate), counts[0], out=total[lo:hi])
            across = horizontal.sum((1, 2), dtype=accumulate) / counts[1]
            total[lo:hi] += across.astype(total.dtype)

        _parallel.map_rows(block, len(images), images[0].size)
        return total.reshape(img.shape[:-2])

    @staticmethod
    def backward_array(ctx: Any, g: np.ndarray) -> tuple[Any, ...]:
        (img,) = ctx._saved_arrays()
        images = _images(img)
        counts = _counts(images, ctx.mean, img.dtype)
        upstream = np.broadcast_to(g, img.shape[:-2]).reshape(-1, 1, 1)
        grad = np.empty(images.shape, img.dtype)

        def block(lo: int, hi: int) -> None:
            part, out = images[lo:hi], grad[lo:hi]
            vertical = _signs(_differences(part, 1, 0))
            vertical *= upstream[lo:hi] / counts[0]
            out[:, 1:] = vertical
            out[:, :1] = 0
            out[:, :-1] -= vertical
            horizontal = _signs(_differences(part, 2, 0))
            horizontal *= upstream[lo:hi] / counts[1]
            out[:, :, 1:] += horizontal
            out[:, :, :-1] -= horizontal

        _parallel.map_rows(block, len(images), images[0].size)
        return grad.reshape(img.shape), None

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        (img,) = ctx.saved_tensors
        grad = None
        per_image = reshape(g, tuple(g.shape) + (1, 1))
        for axis in (img.dim() - 2, img.dim() - 1):
            sign = np.sign(np.diff(img._data, axis=axis))
            share = per_image * from_numpy(sign / _count(*sign.shape[-2:], ctx.mean))
            part = pad_axis(share, axis, 1, 0) - pad_axis(share, axis, 0, 1)
            grad = part if grad is None else grad + part
        return grad, None


def _count(rows: int, columns: int, mean: bool) -> int:
    """The divisor of one direction's sum: its count of differences per image (``rows *
    columns``) for a 'mean' (1 for 'sum', or for no differences at all, as kornia)."""
    count = rows * columns
    return count if mean and count else 1


def _counts(images: np.ndarray, mean: bool, dtype: np.dtype) -> tuple[Any, Any]:
    """The divisors of the vertical and the horizontal sum of ``(k, H, W)`` images, in the
    dtype the sums are taken in: ``dtype``, float32 for float16 (torch's Half ``mean``
    accumulates and divides in float32; a count above 65504 is infinite in float16)."""
    height, width = images.shape[1:]
    accumulate = np.float32 if dtype == np.float16 else dtype.type
    return accumulate(_count(height - 1, width, mean)), accumulate(_count(height, width - 1, mean))


def _images(img: np.ndarray) -> np.ndarray:
    """``(*, H, W)`` as ``(images, H, W)``."""
    return img.reshape((-1,) + img.shape[-2:])


def _differences(part: np.ndarray, axis: int, slot: int) -> np.ndarray:
    """``x[i+1] - x[i]`` along ``axis`` (1: down, 2: across) of ``(k, H, W)`` images, in the
    calling thread's scratch buffer ``slot`` (overwritten by its next use)."""
    if axis == 1:
        later, earlier = part[:, 1:], part[:, :-1]
    else:
        later, earlier = part[:, :, 1:], part[:, :, :-1]
    out = _parallel.scratch(later.size, part.dtype, slot).reshape(later.shape)
    return np.subtract(later, earlier, out=out)


def _signs(difference: np.ndarray) -> np.ndarray:
    """``sign(difference)`` in scratch buffer 1 (NumPy's sign in place runs ten times slower)."""
    out = _parallel.scratch(difference.size, difference.dtype, 1).reshape(difference.shape)
    return np.sign(difference, out=out)


def psnr_loss(image: Tensor, target: Tensor, max_val: float) -> Tensor:
    r"""Negative PSNR, kornia's ``psnr_loss``: ``-10 log10(max_val^2 / MSE)``.

    ``MSE`` is the mean over all elements. Gradient:
    ``d/dx = (10 / ln 10) * 2 (x - y) / (N * MSE)``. Identical images give ``-inf`` (the PSNR is
    infinite), as kornia.

    Args:
        image: image of any shape.
        target: image of the same shape.
        max_val: the largest possible pixel value.

    Returns:
        A scalar.

    Example:
        >>> import lossgrad as torch
        >>> import lossgrad.nn.functional as F
        >>> ones = torch.ones(1)
        >>> F.psnr_loss(ones, 1.2 * ones, 2.0)
        tensor(-20.0000)
    """
    _checks.check_tensor(image, "image")
    _checks.check_tensor(target, "target")
    if tuple(image.shape) != tuple(target.shape):
        raise TypeError(
            f"Expected tensors of equal shapes, but got image {tuple(image.shape)} and target "
            f"{tuple(target.shape)}"
        )
    if image._data.dtype.kind != "f":
        image = image.float()
    if target._data.dtype != image._data.dtype:
        target = target.to(image.dtype)
    mse = mse_loss(image, target)  # fused, as kornia's F.mse_loss
    return -10.0 / math.log(10.0) * log(max_val**2 / mse)


if not TYPE_CHECKING:  # see lossgrad._exports
    __all__ = public_names(globals())
