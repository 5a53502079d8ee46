"""Catalog entries of the image losses (``lossgrad.nn.functional.loss_image``).

SSIM curves compare a fixed textured image with a brightness-shifted copy of it (``z`` is the
shift, in units of the data range); total variation and PSNR curves scale a fixed pattern.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType
from typing import Any

import numpy as np

from lossgrad._catalog import Curve, Loss

TITLE = "Image losses (pytorch-msssim, kornia)"


def _texture(lib: ModuleType, side: int) -> Any:
    pattern = np.add.outer(np.sin(np.arange(side) * 0.7), np.cos(np.arange(side) * 0.4))
    return lib.tensor((pattern - pattern.min()) / np.ptp(pattern), dtype=lib.float64)


def _shifted(lib: ModuleType, z: Any, side: int) -> tuple[Any, Any]:
    """``(N, 1, side, side)`` images ``texture + z`` and the texture itself."""
    texture = _texture(lib, side)
    batch = z.shape[0]
    shifted = texture.reshape(1, 1, side, side) + z.reshape(batch, 1, 1, 1)
    return shifted, texture.reshape(1, 1, side, side).expand(batch, 1, side, side)


def _ssim_curve(lib: ModuleType, z: Any, p: Mapping[str, Any], s: Mapping[str, Any]) -> Any:
    shifted, texture = _shifted(lib, z, 16)
    options = {"data_range": 1.0, **p, "size_average": False}
    return lib.nn.functional.ssim_loss(shifted, texture, **options)


def _ms_ssim_curve(lib: ModuleType, z: Any, p: Mapping[str, Any], s: Mapping[str, Any]) -> Any:
    shifted, texture = _shifted(lib, z, 34)
    options = {"data_range": 1.0, "win_size": 3, **p, "size_average": False}
    return lib.nn.functional.ms_ssim_loss(shifted, texture, **options)


def _tv_curve(lib: ModuleType, z: Any, p: Mapping[str, Any], s: Mapping[str, Any]) -> Any:
    texture = _texture(lib, 8)
    return lib.nn.functional.total_variation(z.reshape(-1, 1, 1) * texture, **p)


def _psnr_curve(lib: ModuleType, z: Any, p: Mapping[str, Any], s: Mapping[str, Any]) -> Any:
    texture = _texture(lib, 8)
    loss = lib.nn.functional.psnr_loss
    options = {"max_val": 1.0, **p}
    target = 0.9 * texture + 0.05  # never equal to a shifted texture: the PSNR stays finite
    return lib.stack([loss(texture + z[i], target, **options) for i in range(z.shape[0])])


_IMAGES = """\
grid = torch.arange(576.).reshape(1, 1, 24, 24)
x = ((grid * 0.37).sin() * 0.5 + 0.5).requires_grad_()
y = (grid * 0.23).cos() * 0.5 + 0.5
"""

ENTRIES: tuple[Loss, ...] = (
    Loss(
        key="ssim",
        functional="ssim_loss",
        module="SSIMLoss",
        family="image",
        summary="1 − SSIM with pytorch-msssim's keywords; kornia's (1 − SSIM)/2 'same' option.",
        tex=(
            r"\ell = 1 - \overline{\frac{(2\mu_x\mu_y + C_1)(2\sigma_{xy} + C_2)}"
            r"{(\mu_x^2 + \mu_y^2 + C_1)(\sigma_x^2 + \sigma_y^2 + C_2)}}"
        ),
        tex_gradient=r"\text{autograd through the Gaussian filter}",
        in_torch=False,
        torch_note="1 − pytorch_msssim.ssim",
        notes=(
            "F.ssim_loss(x, y, **kw) equals 1 − pytorch_msssim.ssim(x, y, **kw) ('valid' "
            "Gaussian filtering, 11 taps, σ = 1.5); MONAI SSIMLoss gives the same",
            "kornia ssim_loss(x, y, window_size, max_val, eps): padding='same', halved=True, "
            "eps=eps, data_range=max_val, win_size=window_size",
            "constant images: loss 0, finite gradients; float16 computed in float32",
        ),
        example=_IMAGES
        + """\
output = F.ssim_loss(x, y, data_range=1.0)
output.backward()
""",
        torch_example=_IMAGES
        + """\
k = torch.exp(-(torch.arange(11.) - 5) ** 2 / 4.5)     # pytorch-msssim's window
k = k / k.sum()
blur = lambda t: F.conv2d(F.conv2d(t, k.view(1, 1, 1, 11)), k.view(1, 1, 11, 1))
mx, my = blur(x), blur(y)
sxx, syy, sxy = blur(x * x) - mx ** 2, blur(y * y) - my ** 2, blur(x * y) - mx * my
c1, c2 = 0.01 ** 2, 0.03 ** 2
ssim = (2 * mx * my + c1) * (2 * sxy + c2) / ((mx ** 2 + my ** 2 + c1) * (sxx + syy + c2))
output = 1 - ssim.mean()
output.backward()
""",
        curve=Curve("shift", "brightness shift z of the image", (-1.0, 1.0), _ssim_curve),
    ),
    Loss(
        key="ms_ssim",
        functional="ms_ssim_loss",
        module="MS_SSIMLoss",
        family="image",
        summary="1 − MS-SSIM with pytorch-msssim 1.0's keywords and clamping (no NaN).",
        tex=(
            r"\ell = 1 - \prod_{j<M} \mathrm{relu}(cs_j)^{w_j}\,"
            r"\mathrm{relu}(\mathrm{SSIM}_M)^{w_M}"
        ),
        tex_gradient=r"\text{autograd through the scales}",
        in_torch=False,
        torch_note="1 − pytorch_msssim.ms_ssim",
        notes=(
            "five scales with weights (0.0448, 0.2856, 0.3001, 0.2363, 0.1333) by default; the "
            "smaller side must exceed (win_size − 1)·16",
            "the curve uses win_size=3 on 34×34 images",
        ),
        example="""\
grid = torch.arange(1600.).reshape(1, 1, 40, 40)
x = ((grid * 0.37).sin() * 0.5 + 0.5).requires_grad_()
y = (grid * 0.23).cos() * 0.5 + 0.5
output = F.ms_ssim_loss(x, y, data_range=1.0, win_size=3, weights=[0.5, 0.5])
output.backward()
""",
        torch_example="""\
grid = torch.arange(1600.).reshape(1, 1, 40, 40)
x = ((grid * 0.37).sin() * 0.5 + 0.5).requires_grad_()
y = (grid * 0.23).cos() * 0.5 + 0.5
k = torch.exp(-(torch.arange(3.) - 1) ** 2 / 4.5)
k = (k / k.sum())
blur = lambda t: F.conv2d(F.conv2d(t, k.view(1, 1, 1, 3)), k.view(1, 1, 3, 1))
def terms(a, b):
    ma, mb = blur(a), blur(b)
    saa, sbb, sab = blur(a * a) - ma ** 2, blur(b * b) - mb ** 2, blur(a * b) - ma * mb
    cs = (2 * sab + 0.03 ** 2) / (saa + sbb + 0.03 ** 2)
    return ((2 * ma * mb + 1e-4) / (ma ** 2 + mb ** 2 + 1e-4) * cs).mean(), cs.mean()
_, cs = terms(x, y)
ssim, _ = terms(F.avg_pool2d(x, 2), F.avg_pool2d(y, 2))
output = 1 - cs.relu() ** 0.5 * ssim.relu() ** 0.5
output.backward()
""",
        curve=Curve("shift", "brightness shift z of the image", (-1.0, 1.0), _ms_ssim_curve),
    ),
    Loss(
        key="total_variation",
        functional="total_variation",
        module="TotalVariation",
        family="image",
        summary="Anisotropic total variation Σ|∂x| + Σ|∂y| per image and channel (kornia).",
        tex=r"\mathrm{TV} = \sum |x_{i+1,j} - x_{i,j}| + \sum |x_{i,j+1} - x_{i,j}|",
        tex_gradient=(
            r"\frac{\partial\,\mathrm{TV}}{\partial x_{ij}} = \sum_{n} \mathrm{sign}(x_{ij} - x_n)"
        ),
        in_torch=False,
        torch_note="kornia.losses.total_variation",
        notes=("kornia's shape (one value per leading index) and reductions ('sum', 'mean')",),
        example=_IMAGES
        + """\
output = F.total_variation(x).sum()
output.backward()
""",
        torch_example=_IMAGES
        + """\
vertical = (x[..., 1:, :] - x[..., :-1, :]).abs().sum()
output = vertical + (x[..., :, 1:] - x[..., :, :-1]).abs().sum()
output.backward()
""",
        curve=Curve("scale", "scale z of a fixed 8×8 pattern", (-1.0, 1.0), _tv_curve),
    ),
    Loss(
        key="psnr",
        functional="psnr_loss",
        module="PSNRLoss",
        family="image",
        summary="Negative PSNR, −10·log10(max²/MSE) (kornia psnr_loss).",
        tex=r"\ell = -10 \log_{10}\frac{\mathrm{max}^2}{\mathrm{MSE}}",
        tex_gradient=(
            r"\frac{\partial \ell}{\partial x_i} = "
            r"\frac{10}{\ln 10}\,\frac{2 (x_i - y_i)}{N\,\mathrm{MSE}}"
        ),
        in_torch=False,
        torch_note="kornia.losses.psnr_loss",
        notes=("identical images give −inf (infinite PSNR), as kornia",),
        example=_IMAGES
        + """\
output = F.psnr_loss(x, y, 1.0)
output.backward()
""",
        torch_example=_IMAGES
        + """\
output = -10 * torch.log10(1.0 / F.mse_loss(x, y))
output.backward()
""",
        curve=Curve("shift", "brightness shift z of the image", (-1.0, 1.0), _psnr_curve),
    ),
)
