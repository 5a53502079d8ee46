"""Robust and probabilistic regression, and classification margins: losses torch lacks.

Three groups:

- **robust regression** on the residual ``d = input - target``: ``log_cosh_loss``,
  ``pseudo_huber_loss`` (``charbonnier_loss``), ``welsch_loss``, ``cauchy_loss``,
  ``geman_mcclure_loss`` and Barron's general ``barron_loss`` (with its partition function,
  :func:`barron_log_partition`, for the adaptive loss of ``nn.AdaptiveBarronLoss``);
- **quantile and distributional regression**: ``pinball_loss``, ``expectile_loss``,
  ``tweedie_loss``, ``mape_loss``, ``smape_loss``, ``msle_loss``, ``keras_poisson_loss``;
- **classification margins and noise-robust classification**: ``squared_hinge_loss``,
  ``multiclass_hinge_loss``, ``perceptron_loss``, ``multiclass_perceptron_loss``,
  ``generalized_cross_entropy_loss``, ``asymmetric_loss``, ``symmetric_cross_entropy_loss``.

Each docstring names the library whose convention it follows (kornia, optax, Keras,
scikit-learn, timm, the paper's code); the tests compare with that library.

Elementwise regression losses take an optional ``weight`` broadcastable to the loss; with it,
``'mean'`` is the weighted mean ``sum(w * l) / sum(w)`` (scikit-learn's ``sample_weight``).

The elementwise losses of fixed parameters are pointwise specs (``nn/functional/_pointwise.py``):
a NumPy block kernel writing the loss and ``dl/dx``, and the same ``dl/dx`` in lossgrad ops, from
which autograd gives the second derivatives (``tests/test_loss_specs.py`` keeps the two
together). Barron's loss with Tensor ``alpha`` or ``scale`` (the adaptive loss) and the
classification losses are composites of lossgrad ops.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from lossgrad import _parallel
from lossgrad._dtype import get_default_dtype
from lossgrad._exports import public_names
from lossgrad._tensor import Tensor
from lossgrad.nn.functional import _checks, _reduction
from lossgrad.nn.functional._pointwise import Pointwise, scratch
from lossgrad.nn.functional._pointwise import apply as _pointwise
from lossgrad.nn.functional.loss_probability import poisson_nll_loss
from lossgrad.ops._common import promote, sgn_into
from lossgrad.ops.activation import log_softmax
from lossgrad.ops.pointwise import ge, gt, lt, sgn, sigmoid, tanh, where
from lossgrad.ops.reduce import amax
from lossgrad.ops.reduce import sum as _sum
from lossgrad.ops.shape import expand

_LOG2 = math.log(2.0)


# -- shared plumbing -------------------------------------------------------------------------------


def _residual(input: Tensor, target: Tensor) -> Tensor:
    """``input - target`` after torch's regression checks (tensors; a warning on broadcasting)."""
    _checks.check_tensor(input, "input")
    _checks.check_tensor(target, "target")
    _checks.warn_if_broadcast(input, target)
    return input - target


def _elementwise(
    spec: Pointwise,
    input: Tensor,
    target: Tensor,
    reduction: str,
    weight: Tensor | None,
    params: tuple[Any, ...] = (),
    extra: tuple[Tensor | None, ...] = (),
    warn: bool = True,
) -> Tensor:
    """The pointwise loss ``spec`` of ``input`` and ``target`` (Tensors, promoted to one float
    dtype as ``input - target`` would be, broadcast by the driver; with ``warn``, torch's
    regression warning when their sizes differ), with the operands ``extra`` after them (cast
    to that dtype) and the parameters ``params``; reduced as `_reduce`."""
    _checks.check_tensor(input, "input")
    _checks.check_tensor(target, "target")
    if warn:
        _checks.warn_if_broadcast(input, target)
    dtype, (x, y) = promote(input, target)
    if dtype.kind != "f":
        x, y = x.to(get_default_dtype()), y.to(get_default_dtype())
    extra = tuple(t if t is None or t.dtype == x.dtype else t.to(x.dtype) for t in extra)
    if weight is None:
        return _pointwise(spec, (x, y, *extra), reduction, params)
    return _reduce(_pointwise(spec, (x, y, *extra), "none", params), reduction, weight)


def _scaled_residual(x: np.ndarray, y: np.ndarray, scale: float, out: np.ndarray) -> np.ndarray:
    """``q = (x - y) / scale`` into ``out`` (no pass for the scale at 1)."""
    residual = np.subtract(x, y, out=out)
    if scale != 1.0:
        residual *= x.dtype.type(1.0 / scale)
    return residual


def _by_scale(scale: float) -> float:
    """The ``dldx_factor`` of a loss of ``q = (x - y) / scale`` whose kernel writes ``dl/dq``."""
    return 1.0 / scale


def _widened_on_overflow(block: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    """``block`` (a kernel that squares the scaled residual ``q``), rerun in float64 on a
    float16 or float32 block whose loss is not finite: there ``q**2`` overflowed (``|q|`` above
    about 1.8e19 in float32) where the loss and its slope are finite (``sqrt(q**2 + 1)``,
    ``log1p(q**2 / 2)``, ``(q**2 / b + 1) ** (alpha / 2)`` grow more slowly than ``q**2``). One
    sum of the block, in cache, tells it; an infinite or NaN input gives the same result wide."""

    def kernel(x: np.ndarray, y: np.ndarray, *rest: Any) -> np.ndarray:
        loss = block(x, y, *rest)
        if x.dtype.itemsize == 8 or np.isfinite(_parallel.total(loss)):
            return loss
        *params, loss_out, dldx = rest
        wide_loss, wide_dldx = np.empty(x.shape), np.empty(x.shape)
        block(x.astype(np.float64), y.astype(np.float64), *params, wide_loss, wide_dldx)
        np.copyto(dldx, wide_dldx, casting="unsafe")
        np.copyto(loss_out, wide_loss, casting="unsafe")
        return loss_out

    kernel.__doc__ = block.__doc__
    return kernel


def _reduce(loss: Tensor, reduction: str, weight: Tensor | None = None) -> Tensor:
    """Reduce an elementwise loss; with ``weight`` (broadcastable to the loss), ``'mean'`` is
    ``sum(w * l) / sum(w)``."""
    if weight is None:
        return _reduction.apply(loss, reduction)
    _checks.check_tensor(weight, "weight")
    try:
        weight = expand(weight, loss.shape)
    except RuntimeError:
        raise ValueError(
            f"weight of size {weight.size()} does not broadcast to the loss of size {loss.size()}"
        ) from None
    weighted = loss * weight
    return _reduction.apply(weighted, reduction, _sum(weight) if reduction == "mean" else None)


def _scaled(residual: Tensor, scale: float | Tensor) -> Tensor:
    """``residual / scale``, skipping the division (a pass and its backward) at scale 1."""
    if not isinstance(scale, Tensor) and scale == 1:
        return residual
    return residual / scale


def _positive(value: Any, name: str) -> None:
    if not isinstance(value, Tensor) and not value > 0:
        raise ValueError(f"{name} must be positive, got {value}")


# -- robust regression -----------------------------------------------------------------------------


def _log_cosh_block(x: np.ndarray, y: np.ndarray, loss: np.ndarray, dldx: np.ndarray) -> np.ndarray:
    """``log cosh d = |d| + log(2 + m) - log 2`` into ``loss`` and ``tanh d = sgn(d) (-m) / (2 +
    m)`` into ``dldx``, both from ``m = expm1(-2 |d|)`` (so that tanh keeps its digits near 0)."""
    diff = np.subtract(x, y, out=dldx)
    magnitude = np.abs(diff, out=loss)
    shrink = np.multiply(magnitude, x.dtype.type(-2.0), out=scratch(x, 1))
    np.expm1(shrink, out=shrink)
    denominator = np.add(shrink, x.dtype.type(2.0), out=scratch(x, 2))
    np.divide(shrink, denominator, out=shrink)
    np.copysign(shrink, diff, out=dldx)
    magnitude += np.log(denominator, out=denominator)
    magnitude -= x.dtype.type(_LOG2)
    return magnitude


def _log_cosh_derivatives(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    slope = tanh(x - y)
    return slope, -slope


_LOG_COSH = Pointwise(
    node="LogCoshLossBackward0",
    block=_log_cosh_block,
    derivatives=_log_cosh_derivatives,
    antisymmetric=True,
)


def log_cosh_loss(
    input: Tensor, target: Tensor, reduction: str = "mean", weight: Tensor | None = None
) -> Tensor:
    """Logarithm of the hyperbolic cosine of the residual, computed without overflow.

    With ``d = input - target``::

        l = log(cosh(d)) = d + softplus(-2 d) - log 2

    Gradient: ``dl/dinput = tanh(d)``; second derivative ``1 - tanh(d)**2``.

    Quadratic (``d**2 / 2``) near 0 and linear (``|d| - log 2``) far away, like Huber but
    smooth everywhere. The softplus form is Keras's (``keras.losses.LogCosh``, equal to optax's
    ``log_cosh``); it is evaluated as ``|d| + log(2 + m) - log 2`` with ``m = expm1(-2 |d|)``
    in one fused pass, with the gradient ``tanh(d) = sgn(d) (-m) / (2 + m)`` stated directly
    (so the second derivative is right at ``d = 0`` too); ``log(cosh(d))`` itself overflows
    for ``|d| > 89`` in float32 (JuliaML/LossFunctions.jl#136). Finite for every finite ``d``.

    Args:
        input: predictions, any shape.
        target: targets, broadcastable to ``input`` (a warning when the sizes differ, as torch's
            regression losses).
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default ``'mean'`` (Keras's
            ``'sum_over_batch_size'``).
        weight: optional elementwise weight; ``'mean'`` then divides by ``sum(weight)``.

    Returns:
        A scalar, or the loss of each element for ``reduction='none'``.

    Shape:
        input ``(*)``, target ``(*)`` → ``()`` or ``(*)``.

    Example:
        >>> import lossgrad as torch
        >>> F = torch.nn.functional
        >>> F.log_cosh_loss(torch.tensor([0.0, 1.0, 100.0]), torch.zeros(3), reduction="none")
        tensor([ 0.0000,  0.4338, 99.3069])
    """
    return _elementwise(_LOG_COSH, input, target, _reduction.resolve(reduction), weight)


@_widened_on_overflow
def _charbonnier_block(
    x: np.ndarray, y: np.ndarray, scale: float, loss: np.ndarray, dldx: np.ndarray
) -> np.ndarray:
    """Barron's loss at ``alpha = 1`` of ``q = (x - y) / scale``: ``sqrt(q**2 + 1) - 1``, as
    ``q**2 / (r + 1)`` with ``r = sqrt(q**2 + 1)`` (no cancellation near 0), into ``loss``;
    ``dl/dq = q / r`` into ``dldx`` (``dl/dx`` is that over ``scale``, the spec's factor)."""
    residual = _scaled_residual(x, y, scale, dldx)
    squared = np.multiply(residual, residual, out=loss)
    root = np.add(squared, x.dtype.type(1.0), out=scratch(x, 1))
    np.sqrt(root, out=root)
    np.divide(residual, root, out=dldx)
    root += x.dtype.type(1.0)
    return np.divide(squared, root, out=loss)


def _charbonnier_slope(x: Tensor, y: Tensor, scale: float) -> tuple[Tensor, Tensor]:
    residual = (x - y) / scale
    slope = residual / (residual.square() + 1.0).sqrt() / scale
    return slope, -slope


def _pseudo_huber_block(
    x: np.ndarray, y: np.ndarray, delta: float, loss: np.ndarray, dldx: np.ndarray
) -> np.ndarray:
    """``delta**2`` times `_charbonnier_block` at scale ``delta``."""
    loss = _charbonnier_block(x, y, delta, loss, dldx)
    if delta != 1.0:
        loss *= x.dtype.type(delta * delta)
    return loss


def _pseudo_huber_slope(x: Tensor, y: Tensor, delta: float) -> tuple[Tensor, Tensor]:
    residual = x - y
    slope = residual / ((residual / delta).square() + 1.0).sqrt()
    return slope, -slope


_PSEUDO_HUBER = Pointwise(
    node="PseudoHuberLossBackward0",
    block=_pseudo_huber_block,
    derivatives=_pseudo_huber_slope,
    antisymmetric=True,
    dldx_factor=lambda delta: delta,  # delta**2 dl/dq / delta
)


def pseudo_huber_loss(
    input: Tensor,
    target: Tensor,
    delta: float = 1.0,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    """Pseudo-Huber (Charbonnier) loss: a smooth Huber loss.

    With ``d = input - target``::

        l = delta**2 * (sqrt(1 + (d / delta)**2) - 1) = d**2 / (sqrt(1 + (d / delta)**2) + 1)

    Gradient: ``dl/dinput = d / sqrt(1 + (d / delta)**2)``, which tends to ``delta * sign(d)``.

    The second form has no cancellation for small residuals. ``delta = 1`` is kornia's
    ``charbonnier_loss`` (``sqrt(d**2 + 1) - 1``) and Barron's general loss at ``alpha = 1``;
    ``delta**2 * barron_loss(alpha=1, scale=delta)`` in general. ``charbonnier_loss`` is the same
    function.

    Args:
        input: predictions, any shape.
        target: targets, broadcastable to ``input``.
        delta: the scale where the loss turns from quadratic to linear, ``> 0``. Default 1.0.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default ``'mean'``.
        weight: optional elementwise weight; ``'mean'`` then divides by ``sum(weight)``.

    Returns:
        A scalar, or the loss of each element for ``reduction='none'``.

    Shape:
        input ``(*)``, target ``(*)`` → ``()`` or ``(*)``.

    References:
        Charbonnier et al., "Two deterministic half-quadratic regularization algorithms for
        computed imaging", ICIP 1994; kornia ``kornia.losses.charbonnier_loss``.

    Example:
        >>> import lossgrad as torch
        >>> F = torch.nn.functional
        >>> F.pseudo_huber_loss(torch.tensor([0.1, 3.0]), torch.zeros(2), reduction="none")
        tensor([0.0050, 2.1623])
    """
    reduction = _reduction.resolve(reduction)
    _positive(delta, "delta")
    delta = float(delta)
    return _elementwise(_PSEUDO_HUBER, input, target, reduction, weight, (delta,))


charbonnier_loss = pseudo_huber_loss


def _welsch_block(
    x: np.ndarray, y: np.ndarray, scale: float, loss: np.ndarray, dldx: np.ndarray
) -> np.ndarray:
    """``-expm1(-q**2 / 2)`` of ``q = (x - y) / scale`` into ``loss`` (accurate near 0) and
    ``dl/dq = q exp(-q**2 / 2)`` into ``dldx`` (its own exponential: ``1 - loss`` would lose the
    tiny one far out)."""
    residual = _scaled_residual(x, y, scale, dldx)
    exponent = np.multiply(residual, x.dtype.type(-0.5), out=scratch(x, 1))
    exponent *= residual
    np.expm1(exponent, out=loss)
    np.negative(loss, out=loss)
    residual *= np.exp(exponent, out=exponent)
    return loss


def _welsch_slope(x: Tensor, y: Tensor, scale: float) -> tuple[Tensor, Tensor]:
    residual = (x - y) / scale
    slope = residual * (-0.5 * residual.square()).exp() / scale
    return slope, -slope


_WELSCH = Pointwise(
    node="WelschLossBackward0",
    block=_welsch_block,
    derivatives=_welsch_slope,
    antisymmetric=True,
    dldx_factor=_by_scale,
)


def welsch_loss(
    input: Tensor,
    target: Tensor,
    scale: float = 1.0,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    """Welsch (Leclerc) loss: bounded, a Gaussian well.

    With ``d = input - target`` and ``c = scale``::

        l = 1 - exp(-(d / c)**2 / 2)

    Gradient: ``dl/dinput = d / c**2 * exp(-(d / c)**2 / 2)`` (redescending to 0).

    kornia's ``welsch_loss`` at ``scale=1``; Barron's general loss at ``alpha = -inf``.
    Computed as ``-expm1(-(d / c)**2 / 2)`` below ``|d| = c`` (accurate for small residuals) and
    ``1 - exp(-(d / c)**2 / 2)`` above (so the gradient keeps the tiny exponential).

    Args:
        input: predictions, any shape.
        target: targets, broadcastable to ``input``.
        scale: the residual scale ``c > 0``. Default 1.0 (kornia).
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default ``'mean'``.
        weight: optional elementwise weight; ``'mean'`` then divides by ``sum(weight)``.

    Returns:
        A scalar, or the loss of each element for ``reduction='none'``.

    Shape:
        input ``(*)``, target ``(*)`` → ``()`` or ``(*)``.

    References:
        Dennis & Welsch, "Techniques for nonlinear least squares and robust regression", 1978;
        Barron, "A General and Adaptive Robust Loss Function", CVPR 2019.

    Example:
        >>> import lossgrad as torch
        >>> F = torch.nn.functional
        >>> F.welsch_loss(torch.tensor([0.0, 1.0, 100.0]), torch.zeros(3), reduction="none")
        tensor([0.0000, 0.3935, 1.0000])
    """
    reduction = _reduction.resolve(reduction)
    _positive(scale, "scale")
    return _elementwise(_WELSCH, input, target, reduction, weight, (float(scale),))


def _welsch(squared: Tensor) -> Tensor:
    """``1 - exp(-squared / 2)``: ``-expm1`` below 1 (no cancellation), ``1 - exp`` above, where
    expm1's gradient ``expm1 + 1`` would lose the tiny ``exp(-squared / 2)``."""
    half = -0.5 * squared
    return where(squared < 1.0, -half.expm1(), 1.0 - half.exp())


@_widened_on_overflow
def _cauchy_block(
    x: np.ndarray, y: np.ndarray, scale: float, loss: np.ndarray, dldx: np.ndarray
) -> np.ndarray:
    """``log1p(q**2 / 2)`` of ``q = (x - y) / scale`` into ``loss``, ``dl/dq = q / (1 +
    q**2 / 2)`` into ``dldx``."""
    residual = _scaled_residual(x, y, scale, dldx)
    half_square = np.multiply(residual, x.dtype.type(0.5), out=scratch(x, 1))
    half_square *= residual
    np.log1p(half_square, out=loss)
    half_square += x.dtype.type(1.0)
    residual /= half_square
    return loss


def _cauchy_slope(x: Tensor, y: Tensor, scale: float) -> tuple[Tensor, Tensor]:
    residual = (x - y) / scale
    slope = residual / (0.5 * residual.square() + 1.0) / scale
    return slope, -slope


_CAUCHY = Pointwise(
    node="CauchyLossBackward0",
    block=_cauchy_block,
    derivatives=_cauchy_slope,
    antisymmetric=True,
    dldx_factor=_by_scale,
)


def cauchy_loss(
    input: Tensor,
    target: Tensor,
    scale: float = 1.0,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    """Cauchy (Lorentzian) loss: logarithmic growth.

    With ``d = input - target`` and ``c = scale``::

        l = log(1 + (d / c)**2 / 2)

    Gradient: ``dl/dinput = 2 d / (2 c**2 + d**2)``.

    kornia's ``cauchy_loss`` at ``scale=1``; Barron's general loss at ``alpha = 0``.

    Args:
        input: predictions, any shape.
        target: targets, broadcastable to ``input``.
        scale: the residual scale ``c > 0``. Default 1.0 (kornia).
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default ``'mean'``.
        weight: optional elementwise weight; ``'mean'`` then divides by ``sum(weight)``.

    Returns:
        A scalar, or the loss of each element for ``reduction='none'``.

    Shape:
        input ``(*)``, target ``(*)`` → ``()`` or ``(*)``.

    References:
        Black & Anandan, "The robust estimation of multiple motions", CVIU 1996.

    Example:
        >>> import lossgrad as torch
        >>> F = torch.nn.functional
        >>> F.cauchy_loss(torch.tensor([0.0, 1.0, 100.0]), torch.zeros(3), reduction="none")
        tensor([0.0000, 0.4055, 8.5174])
    """
    reduction = _reduction.resolve(reduction)
    _positive(scale, "scale")
    return _elementwise(_CAUCHY, input, target, reduction, weight, (float(scale),))


def _geman_mcclure_block(
    x: np.ndarray, y: np.ndarray, scale: float, loss: np.ndarray, dldx: np.ndarray
) -> np.ndarray:
    """``2 s / (s + 4) = 2 / (1 + 4 / s)`` of ``s = q**2``, ``q = (x - y) / scale``, into
    ``loss`` (0 at ``s = 0`` and 2 where ``s`` overflows, through the infinities), and ``q t**2``
    with ``t = 1 / (s + 4)`` into ``dldx`` (``dl/dq = 16 q t**2``: the spec's factor has the 16;
    stating the slope keeps its digits at huge residuals, where the quotient's derivative
    would subtract two nearly equal terms)."""
    residual = _scaled_residual(x, y, scale, dldx)
    squared = np.multiply(residual, residual, out=scratch(x, 1))
    np.divide(x.dtype.type(4.0), squared, out=loss)
    loss += x.dtype.type(1.0)
    np.divide(x.dtype.type(2.0), loss, out=loss)
    squared += x.dtype.type(4.0)
    inverse = np.divide(x.dtype.type(1.0), squared, out=squared)
    residual *= inverse
    residual *= inverse
    return loss


def _geman_mcclure_slope(x: Tensor, y: Tensor, scale: float) -> tuple[Tensor, Tensor]:
    residual = (x - y) / scale
    slope = (16.0 / scale) * residual / (residual.square() + 4.0).square()
    return slope, -slope


_GEMAN_MCCLURE = Pointwise(
    node="GemanMcclureLossBackward0",
    block=_geman_mcclure_block,
    derivatives=_geman_mcclure_slope,
    antisymmetric=True,
    dldx_factor=lambda scale: 16.0 / scale,
)


def geman_mcclure_loss(
    input: Tensor,
    target: Tensor,
    scale: float = 1.0,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    """Geman–McClure loss: bounded by 2, rational.

    With ``d = input - target``, ``c = scale`` and ``s = (d / c)**2``::

        l = 2 s / (s + 4)

    Gradient: ``dl/dinput = 16 d / (c**2 (s + 4)**2)``.

    kornia's ``geman_mcclure_loss`` at ``scale=1``; Barron's general loss at ``alpha = -2``.

    Args:
        input: predictions, any shape.
        target: targets, broadcastable to ``input``.
        scale: the residual scale ``c > 0``. Default 1.0 (kornia).
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default ``'mean'``.
        weight: optional elementwise weight; ``'mean'`` then divides by ``sum(weight)``.

    Returns:
        A scalar, or the loss of each element for ``reduction='none'``.

    Shape:
        input ``(*)``, target ``(*)`` → ``()`` or ``(*)``.

    References:
        Geman & McClure, "Statistical methods for tomographic image reconstruction", 1987.

    Example:
        >>> import lossgrad as torch
        >>> F = torch.nn.functional
        >>> F.geman_mcclure_loss(torch.tensor([0.0, 2.0, 6.0]), torch.zeros(3), reduction="none")
        tensor([0.0000, 1.0000, 1.8000])
    """
    reduction = _reduction.resolve(reduction)
    _positive(scale, "scale")
    return _elementwise(_GEMAN_MCCLURE, input, target, reduction, weight, (float(scale),))


def _barron_safe(alpha: float, dtype: np.dtype) -> tuple[float, float]:
    """The reference code's ``b = max(eps, |alpha - 2|)`` and ``a = sign(alpha) max(eps,
    |alpha|)`` (``eps`` the dtype's machine epsilon): the general formula's divisors."""
    epsilon = float(np.finfo(dtype).eps)
    return max(epsilon, abs(alpha - 2.0)), math.copysign(max(epsilon, abs(alpha)), alpha)


@_widened_on_overflow
def _barron_block(
    x: np.ndarray, y: np.ndarray, alpha: float, scale: float, loss: np.ndarray, dldx: np.ndarray
) -> np.ndarray:
    """Barron's general formula of ``q = (x - y) / scale``: with ``z = q**2 / b + 1`` and ``p =
    z ** (alpha / 2 - 1)``, ``b / a (z p - 1)`` into ``loss`` and ``dl/dq = q p`` into
    ``dldx`` (one power for both)."""
    beta, alpha_safe = _barron_safe(alpha, x.dtype)
    residual = _scaled_residual(x, y, scale, dldx)
    base = np.multiply(residual, x.dtype.type(1.0 / beta), out=scratch(x, 1))
    base *= residual
    base += x.dtype.type(1.0)
    power = np.power(base, x.dtype.type(0.5 * alpha - 1.0), out=scratch(x, 2))
    residual *= power
    base *= power
    base -= x.dtype.type(1.0)
    return np.multiply(base, x.dtype.type(beta / alpha_safe), out=loss)


def _barron_slope(x: Tensor, y: Tensor, alpha: float, scale: float) -> tuple[Tensor, Tensor]:
    beta, _ = _barron_safe(alpha, x._data.dtype)
    residual = (x - y) / scale
    slope = residual * (residual.square() / beta + 1.0) ** (0.5 * alpha - 1.0) / scale
    return slope, -slope


def _half_square_block(
    x: np.ndarray, y: np.ndarray, scale: float, loss: np.ndarray, dldx: np.ndarray
) -> np.ndarray:
    """Barron's loss at ``alpha = 2``: ``q**2 / 2`` into ``loss``, ``dl/dq = q`` into ``dldx``."""
    residual = _scaled_residual(x, y, scale, dldx)
    loss = np.multiply(residual, residual, out=loss)
    loss *= x.dtype.type(0.5)
    return loss


def _half_square_slope(x: Tensor, y: Tensor, scale: float) -> tuple[Tensor, Tensor]:
    slope = (x - y) / (scale * scale)
    return slope, -slope


def _exponential_block(
    x: np.ndarray, y: np.ndarray, scale: float, loss: np.ndarray, dldx: np.ndarray
) -> np.ndarray:
    """Barron's loss at ``alpha = +inf``: ``expm1(q**2 / 2)`` into ``loss``, ``dl/dq = q
    exp(q**2 / 2)`` into ``dldx``."""
    residual = _scaled_residual(x, y, scale, dldx)
    exponent = np.multiply(residual, x.dtype.type(0.5), out=scratch(x, 1))
    exponent *= residual
    np.expm1(exponent, out=loss)
    residual *= np.exp(exponent, out=exponent)
    return loss


def _exponential_slope(x: Tensor, y: Tensor, scale: float) -> tuple[Tensor, Tensor]:
    residual = (x - y) / scale
    slope = residual * (0.5 * residual.square()).exp() / scale
    return slope, -slope


_BARRON = Pointwise(
    node="BarronLossBackward0",
    block=_barron_block,
    derivatives=_barron_slope,
    antisymmetric=True,
    dldx_factor=lambda alpha, scale: 1.0 / scale,
)

#: Barron's loss where ``alpha`` is one of its limits (or the special values 1 and -2): that
#: loss's exact formula, as the reference code's ``lossfun`` selects it.
_BARRON_LIMITS = {
    alpha: Pointwise(
        node="BarronLossBackward0",
        block=block,
        derivatives=slope,
        antisymmetric=True,
        dldx_factor=factor,
    )
    for alpha, block, slope, factor in [
        (2.0, _half_square_block, _half_square_slope, _by_scale),
        (1.0, _charbonnier_block, _charbonnier_slope, _by_scale),
        (0.0, _cauchy_block, _cauchy_slope, _by_scale),
        (-2.0, _geman_mcclure_block, _geman_mcclure_slope, lambda scale: 16.0 / scale),
        (-math.inf, _welsch_block, _welsch_slope, _by_scale),
        (math.inf, _exponential_block, _exponential_slope, _by_scale),
    ]
}


def barron_loss(
    input: Tensor,
    target: Tensor,
    alpha: float | Tensor = 1.0,
    scale: float | Tensor = 1.0,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    """Barron's general robust loss: one shape parameter ``alpha`` spans the classic losses.

    With ``x = (input - target) / scale`` and ``b = |alpha - 2|``::

        l = b / alpha * ((x**2 / b + 1) ** (alpha / 2) - 1)

    and, as limits of that formula (exact values, no division by zero):

    ======================  =================================  ==================
    ``alpha``               ``l``                              the loss
    ======================  =================================  ==================
    2                       ``x**2 / 2``                       L2
    1                       ``sqrt(x**2 + 1) - 1``             pseudo-Huber
    0                       ``log(x**2 / 2 + 1)``              Cauchy
    -2                      ``2 x**2 / (x**2 + 4)``            Geman–McClure
    -inf                    ``1 - exp(-x**2 / 2)``             Welsch
    +inf                    ``exp(x**2 / 2) - 1``
    ======================  =================================  ==================

    Gradient: ``dl/dinput = x / scale * (x**2 / b + 1) ** (alpha / 2 - 1)``.

    This is the reference code's ``lossfun`` (google-research/robust_loss_pytorch,
    ``general.py``): ``b`` and ``|alpha|`` are clamped at the dtype's machine epsilon, and the
    special values of ``alpha`` select their exact formula. ``alpha`` and ``scale`` may be
    Tensors (broadcastable to the residual) that require gradients, as in
    ``nn.AdaptiveBarronLoss``.

    Args:
        input: predictions, any shape.
        target: targets, broadcastable to ``input``.
        alpha: shape parameter (any real, or ``±inf``), a float or a Tensor. Default 1.0.
        scale: residual scale ``> 0``, a float or a Tensor. Default 1.0.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default ``'mean'``.
        weight: optional elementwise weight; ``'mean'`` then divides by ``sum(weight)``.

    Returns:
        A scalar, or the loss of each element for ``reduction='none'``.

    Shape:
        input ``(*)``, target ``(*)`` → ``()`` or ``(*)``.

    References:
        Barron, "A General and Adaptive Robust Loss Function", CVPR 2019 (equations 1 and 3).

    Example:
        >>> import lossgrad as torch
        >>> F = torch.nn.functional
        >>> d = torch.tensor([0.5, 2.0])
        >>> F.barron_loss(d, torch.zeros(2), alpha=0.0, reduction="none")
        tensor([0.1178, 1.0986])
    """
    reduction = _reduction.resolve(reduction)
    _positive(scale, "scale")
    if not isinstance(alpha, Tensor) and not isinstance(scale, Tensor):
        alpha, scale = float(alpha), float(scale)
        limit = _BARRON_LIMITS.get(alpha)
        if limit is not None:
            return _elementwise(limit, input, target, reduction, weight, (scale,))
        return _elementwise(_BARRON, input, target, reduction, weight, (alpha, scale))
    squared = _scaled(_residual(input, target), scale).square()
    if not isinstance(alpha, Tensor):
        return _reduce(_barron_rho(squared, float(alpha)), reduction, weight)
    return _reduce(_barron_rho_tensor(squared, alpha), reduction, weight)


_LIMITS = (2.0, 0.0, -math.inf, math.inf)


def _barron_rho_tensor(squared: Tensor, alpha: Tensor) -> Tensor:
    """Barron's loss for a Tensor ``alpha``: the general formula, and each limit's exact formula
    where ``alpha`` equals it. Every branch sees only the elements it is selected for (others get
    harmless stand-ins), so no unselected branch can put ``0 * inf = NaN`` into a gradient."""
    at_limit = np.isin(alpha._data, _LIMITS)
    general_alpha = where(Tensor._make(at_limit), 1.0, alpha) if at_limit.any() else alpha
    loss = _barron_general(squared, general_alpha)
    for value in _LIMITS:
        mask = alpha == value
        if mask._data.any():
            loss = where(mask, _barron_rho(where(mask, squared, 0.0), value), loss)
    return loss


def _barron_rho(squared: Tensor, alpha: float) -> Tensor:
    """Barron's loss of ``x**2 = squared`` at a fixed ``alpha`` (the special cases exactly)."""
    if alpha == 2.0:
        return 0.5 * squared
    if alpha == 0.0:
        return (0.5 * squared).log1p()
    if alpha == -math.inf:
        return _welsch(squared)
    if alpha == math.inf:
        return (0.5 * squared).expm1()
    if alpha == -2.0:
        return _geman_mcclure_of_square(squared)
    if alpha == 1.0:
        return squared / ((squared + 1.0).sqrt() + 1.0)
    return _barron_general(squared, alpha)


def _geman_mcclure_of_square(squared: Tensor) -> Tensor:
    """``2 s / (s + 4)`` below ``s = 4`` and ``2 - 8 / (s + 4)`` above (as ``_GemanMcClure``,
    but from the square, for Barron's loss): each form keeps its gradient's digits."""
    small = squared < 4.0
    below = where(small, squared, 0.0)
    return where(small, 2.0 * below / (below + 4.0), 2.0 - 8.0 / (squared + 4.0))


def _barron_general(squared: Tensor, alpha: float | Tensor) -> Tensor:
    """The reference code's ``loss_otherwise``: ``b / a * ((x**2 / b + 1) ** (a / 2) - 1)``
    with ``b = max(eps, |alpha - 2|)`` and ``|a| = max(eps, |alpha|)`` (sign of alpha kept)."""
    epsilon = float(np.finfo(squared._data.dtype).eps)
    if isinstance(alpha, Tensor):
        beta_safe = (alpha - 2.0).abs().clamp_min(epsilon)
        alpha_safe = where(alpha >= 0, 1.0, -1.0) * alpha.abs().clamp_min(epsilon)
    else:
        beta_safe = max(epsilon, abs(alpha - 2.0))
        alpha_safe = math.copysign(max(epsilon, abs(alpha)), alpha)
    return (beta_safe / alpha_safe) * ((squared / beta_safe + 1.0) ** (0.5 * alpha) - 1.0)


_QUADRATURE_NODES = 161
_QUADRATURE_RANGE = 4.0


def barron_log_partition(alpha: Tensor) -> Tensor:
    """``log Z(alpha)``: the log normaliser of Barron's density ``exp(-rho(x, alpha, 1)) / Z``.

    ``Z(alpha) = integral over x of exp(-rho(x, alpha, 1))`` for ``alpha >= 0`` (the integral
    diverges for ``alpha < 0``). Computed by exp-sinh quadrature: ``x = exp(pi/2 sinh(t))`` and
    the trapezoidal rule on 161 points of ``t`` in ``[-4, 4]``, which converges exponentially even
    for the algebraic ``1 / x**2`` tail of ``alpha = 0``. Written with lossgrad ops, so it is
    differentiable in ``alpha`` (to any order). In float64 it agrees with the exact values
    ``Z(2) = sqrt(2 pi)``, ``Z(0) = pi sqrt(2)``, ``Z(1) = 2 e K_1(1)`` and with adaptive
    quadrature elsewhere on ``[0, 3]`` to about 1e-14.

    The paper's reference code tabulates the same function as a cubic Hermite spline
    (``partition_spline.npz``); this evaluates the integral instead.

    Args:
        alpha: shape parameters ``>= 0``, any shape (float Tensor).

    Returns:
        ``log Z(alpha)``, the shape of ``alpha``.

    Example:
        >>> import lossgrad as torch
        >>> F = torch.nn.functional
        >>> F.barron_log_partition(torch.tensor([2.0], dtype=torch.float64)).exp()
        tensor([2.5066], dtype=torch.float64)
    """
    _checks.check_tensor(alpha, "alpha")
    if (alpha._data < 0).any():
        raise ValueError(
            f"alpha must be >= 0 for the partition function (it diverges below), got "
            f"min {alpha._data.min()}"
        )
    t = np.linspace(-_QUADRATURE_RANGE, _QUADRATURE_RANGE, _QUADRATURE_NODES)
    step = t[1] - t[0]
    x = np.exp(0.5 * np.pi * np.sinh(t))
    log_weight = np.log(2.0 * step * 0.5 * np.pi * np.cosh(t) * x)  # 2: the integrand is even
    dtype = alpha._data.dtype
    squared = Tensor._make((x * x).astype(dtype))
    alphas = alpha.unsqueeze(-1)
    rho = _barron_rho_tensor(expand(squared, (*alpha.shape, _QUADRATURE_NODES)), alphas)
    return (Tensor._make(log_weight.astype(dtype)) - rho).logsumexp(-1)


# -- quantile and distributional regression --------------------------------------------------------


def _pinball_block(
    x: np.ndarray,
    y: np.ndarray,
    quantiles: np.ndarray | None,
    quantile: float,
    loss: np.ndarray,
    dldx: np.ndarray,
) -> np.ndarray:
    """With ``d = x - y`` and ``q`` the quantile (``quantiles``' block, or ``quantile``):
    ``dl/dx = [d > 0] - q`` into ``dldx``, and the loss ``(dl/dx) d`` into ``loss`` (``q |d|``
    below the target, ``(1 - q) d`` above)."""
    residual = np.subtract(x, y, out=loss)
    np.greater(residual, 0, out=dldx)
    dldx -= quantile if quantiles is None else quantiles
    return np.multiply(dldx, residual, out=loss)


def _pinball_sum(
    x: np.ndarray,
    y: np.ndarray,
    quantiles: np.ndarray | None,
    quantile: float,
    loss: np.ndarray,
    dldx: np.ndarray,
) -> Any:
    """The block's total of `_pinball_block` as one dot product ``(dl/dx) . d``."""
    residual = np.subtract(x, y, out=loss)
    np.greater(residual, 0, out=dldx)
    dldx -= quantile if quantiles is None else quantiles
    return _parallel.total(dldx, residual)


def _pinball_slope(
    x: Tensor, y: Tensor, quantiles: Tensor | None, quantile: float
) -> tuple[Tensor, Tensor, None]:
    slope = gt(x, y).to(x.dtype) - (quantile if quantiles is None else quantiles)
    return slope, -slope, None


_PINBALL = Pointwise(
    node="PinballLossBackward0",
    block=_pinball_block,
    block_sum=_pinball_sum,
    derivatives=_pinball_slope,
    antisymmetric=True,
)


def pinball_loss(
    input: Tensor,
    target: Tensor,
    quantile: float | Sequence[float] | Tensor = 0.5,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    """Pinball (quantile) loss: its minimiser is the ``quantile``-th quantile of the target.

    With ``u = target - input`` and ``q = quantile``::

        l = max(q u, (q - 1) u)     (= q u where u >= 0, (q - 1) u elsewhere)

    Gradient: ``dl/dinput = -q`` where ``target >= input``, ``1 - q`` elsewhere.

    Equal to scikit-learn's ``mean_pinball_loss(target, input, alpha=quantile)`` (and its
    ``sample_weight`` for ``weight``). Several quantiles at once: pass a sequence (or 1-D
    Tensor) of ``Q`` quantiles and an ``input`` whose last dimension has size ``Q`` (one
    prediction per quantile); ``target`` is then either ``input``'s shape or that shape
    without the last dimension (broadcast over the quantiles). ``q = 0.5`` is half the
    absolute error.

    Args:
        input: predicted quantiles, any shape (last dimension ``Q`` for several quantiles).
        target: observed values.
        quantile: ``q`` in ``[0, 1]``, or a sequence of them. Default 0.5.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default ``'mean'``.
        weight: optional elementwise weight; ``'mean'`` then divides by ``sum(weight)``.

    Returns:
        A scalar, or the loss of each element for ``reduction='none'``.

    Shape:
        input ``(*)`` or ``(*, Q)``; target ``(*)``; output ``()`` or input's shape.

    References:
        Koenker & Bassett, "Regression Quantiles", Econometrica 1978.

    Example:
        >>> import lossgrad as torch
        >>> F = torch.nn.functional
        >>> y = torch.tensor([1.0, 2.0, 3.0])
        >>> F.pinball_loss(torch.tensor([2.0, 2.0, 2.0]), y, quantile=0.9)
        tensor(0.3333)
        >>> F.pinball_loss(torch.zeros(3, 2), y, quantile=[0.1, 0.9], reduction="none")
        tensor([[0.1000, 0.9000],
                [0.2000, 1.8000],
                [0.3000, 2.7000]])
    """
    reduction = _reduction.resolve(reduction)
    _checks.check_tensor(input, "input")
    _checks.check_tensor(target, "target")
    quantiles = None
    if isinstance(quantile, (int, float)):
        values = np.array([float(quantile)])
    else:
        values = np.asarray(quantile._data if isinstance(quantile, Tensor) else quantile, float)
        if values.ndim != 1 or input.dim() == 0 or input.shape[-1] != values.size:
            raise ValueError(
                f"quantile holds {values.size} values: input must have them on its last "
                f"dimension, got input of size {input.size()}"
            )
        quantiles = Tensor._make(values)
        if target.shape == input.shape[:-1]:
            target = target.unsqueeze(-1)
    if not ((values >= 0) & (values <= 1)).all():
        raise ValueError(f"quantile must be in [0, 1], got {quantile}")
    params = (float(values[0]) if quantiles is None else 0.0,)
    return _elementwise(_PINBALL, input, target, reduction, weight, params, (quantiles,), False)


def _expectile_block(
    x: np.ndarray, y: np.ndarray, expectile: float, loss: np.ndarray, dldx: np.ndarray
) -> np.ndarray:
    """With ``d = x - y`` and the weight ``w = tau + [d > 0] (1 - 2 tau)`` (``tau`` below the
    target, ``1 - tau`` above): ``w d`` into ``dldx`` (the factor 2 is the spec's) and
    ``w d**2`` into ``loss``."""
    residual = np.subtract(x, y, out=loss)
    np.greater(residual, 0, out=dldx)
    dldx *= x.dtype.type(1.0 - 2.0 * expectile)
    dldx += x.dtype.type(expectile)
    dldx *= residual
    return np.multiply(dldx, residual, out=loss)


def _expectile_slope(x: Tensor, y: Tensor, expectile: float) -> tuple[Tensor, Tensor]:
    weight = gt(x, y).to(x.dtype) * (1.0 - 2.0 * expectile) + expectile
    slope = 2.0 * weight * (x - y)
    return slope, -slope


_EXPECTILE = Pointwise(
    node="ExpectileLossBackward0",
    block=_expectile_block,
    derivatives=_expectile_slope,
    antisymmetric=True,
    dldx_factor=lambda expectile: 2.0,
)


def expectile_loss(
    input: Tensor,
    target: Tensor,
    expectile: float = 0.5,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    """Expectile loss: asymmetric squared error; its minimiser is the ``expectile`` of the target.

    With ``u = target - input`` and ``tau = expectile``::

        l = |tau - 1[u < 0]| * u**2     (tau u**2 where u >= 0, (1 - tau) u**2 elsewhere)

    Gradient: ``dl/dinput = -2 |tau - 1[u < 0]| u``.

    ``tau = 0.5`` is half the squared error. The minimiser of the mean loss over a sample is
    ``scipy.stats.expectile(target, alpha=tau)`` (the test's oracle).

    Args:
        input: predicted expectiles, any shape.
        target: observed values, broadcastable to ``input``.
        expectile: ``tau`` in ``(0, 1)``. Default 0.5.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default ``'mean'``.
        weight: optional elementwise weight; ``'mean'`` then divides by ``sum(weight)``.

    Returns:
        A scalar, or the loss of each element for ``reduction='none'``.

    Shape:
        input ``(*)``, target ``(*)`` → ``()`` or ``(*)``.

    References:
        Newey & Powell, "Asymmetric Least Squares Estimation and Testing", Econometrica 1987.

    Example:
        >>> import lossgrad as torch
        >>> F = torch.nn.functional
        >>> F.expectile_loss(torch.zeros(2), torch.tensor([1.0, -1.0]), 0.9, reduction="none")
        tensor([0.9000, 0.1000])
    """
    reduction = _reduction.resolve(reduction)
    if not 0.0 < expectile < 1.0:
        raise ValueError(f"expectile must be in (0, 1), got {expectile}")
    return _elementwise(_EXPECTILE, input, target, reduction, weight, (float(expectile),))


def _tweedie_block(
    mu: np.ndarray, y: np.ndarray, power: float, loss: np.ndarray, dldx: np.ndarray
) -> np.ndarray:
    """The deviance for ``power = p`` off 0, 1 and 2: with ``r = mu**(1-p)``,
    ``2 (max(y, 0)**(2-p) / ((1-p)(2-p)) - y r / (1-p) + mu r / (2-p))`` into ``loss`` and
    ``(mu - y) / mu**p = (mu r - y r) / mu`` into ``dldx`` (the factor 2 is the spec's)."""
    one, two = 1.0 - power, 2.0 - power
    dtype = mu.dtype.type
    rate = np.power(mu, dtype(one), out=scratch(mu, 1))
    cross = np.multiply(y, rate, out=scratch(mu, 2))  # y mu**(1-p)
    np.multiply(mu, rate, out=dldx)  # mu**(2-p)
    observed = np.maximum(y, dtype(0.0), out=loss) if power < 0 else y
    np.power(observed, dtype(two), out=loss)
    loss *= dtype(2.0 / (one * two))
    loss += np.multiply(dldx, dtype(2.0 / two), out=rate)
    loss -= np.multiply(cross, dtype(2.0 / one), out=rate)
    dldx -= cross
    dldx /= mu
    return loss


def _tweedie_slopes(mu: Tensor, y: Tensor, power: float) -> tuple[Tensor, Tensor]:
    one = 1.0 - power
    return (
        2.0 * (mu - y) * mu ** (-power),
        2.0 * (y.clamp_min(0.0) ** one - mu**one) / one,
    )


def _normal_deviance_block(
    mu: np.ndarray, y: np.ndarray, loss: np.ndarray, dldx: np.ndarray
) -> np.ndarray:
    """``power = 0``: ``(mu - y)**2`` into ``loss``, ``mu - y`` into ``dldx``."""
    residual = np.subtract(mu, y, out=dldx)
    return np.multiply(residual, residual, out=loss)


def _normal_deviance_slopes(mu: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    slope = 2.0 * (mu - y)
    return slope, -slope


def _poisson_deviance_block(
    mu: np.ndarray, y: np.ndarray, loss: np.ndarray, dldx: np.ndarray
) -> np.ndarray:
    """``power = 1``: with ``r = y / mu``, ``2 (y (log r - 1) + mu)`` into ``loss`` (``r`` is
    floored at the smallest normal number, so that ``y = 0`` gives ``0 log 0 = 0``) and
    ``1 - r`` into ``dldx``."""
    ratio = np.divide(y, mu, out=scratch(mu, 1))
    np.subtract(mu.dtype.type(1.0), ratio, out=dldx)
    np.maximum(ratio, np.finfo(mu.dtype).tiny, out=ratio)
    log_ratio = np.log(ratio, out=ratio)
    log_ratio -= mu.dtype.type(1.0)
    np.multiply(y, log_ratio, out=loss)
    loss += mu
    loss *= mu.dtype.type(2.0)
    return loss


def _poisson_deviance_slopes(mu: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    return 2.0 * (1.0 - y / mu), 2.0 * (y.log() - mu.log())


def _gamma_deviance_block(
    mu: np.ndarray, y: np.ndarray, loss: np.ndarray, dldx: np.ndarray
) -> np.ndarray:
    """``power = 2``: with ``r = y / mu``, ``2 (r - 1 - log r)`` into ``loss`` and
    ``(1 - r) / mu`` into ``dldx``."""
    ratio = np.divide(y, mu, out=scratch(mu, 1))
    np.subtract(mu.dtype.type(1.0), ratio, out=dldx)
    dldx /= mu
    np.log(ratio, out=loss)
    np.subtract(ratio, loss, out=loss)
    loss -= mu.dtype.type(1.0)
    loss *= mu.dtype.type(2.0)
    return loss


def _gamma_deviance_slopes(mu: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    return 2.0 * (mu - y) / mu.square(), 2.0 * (1.0 / mu - 1.0 / y)


def _tweedie_spec(block: Any, derivatives: Any) -> Pointwise:
    return Pointwise(
        node="TweedieLossBackward0",
        block=block,
        derivatives=derivatives,
        dldx_factor=lambda *power: 2.0,
    )


_TWEEDIE = _tweedie_spec(_tweedie_block, _tweedie_slopes)
#: The deviances of the powers whose general formula divides by zero (and p = 0, a square).
_TWEEDIE_CASES = {
    0.0: _tweedie_spec(_normal_deviance_block, _normal_deviance_slopes),
    1.0: _tweedie_spec(_poisson_deviance_block, _poisson_deviance_slopes),
    2.0: _tweedie_spec(_gamma_deviance_block, _gamma_deviance_slopes),
}


def tweedie_loss(
    input: Tensor,
    target: Tensor,
    power: float = 0.0,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    """Tweedie deviance of the mean ``input`` for observations ``target``, power ``p``.

    With ``mu = input``, ``y = target``::

        p = 0:  (y - mu)**2                                        (normal)
        p = 1:  2 (y log(y / mu) - y + mu)                         (Poisson; 0 log 0 = 0)
        p = 2:  2 (log(mu / y) + y / mu - 1)                       (Gamma)
        else:   2 (max(y, 0)**(2-p) / ((1-p)(2-p)) - y mu**(1-p) / (1-p) + mu**(2-p) / (2-p))

    Gradient: ``dl/dmu = 2 (mu - y) / mu**p`` (``2 (mu - y)`` at ``p = 0``).

    Equal to scikit-learn's ``mean_tweedie_deviance(target, input, power=power)`` (with
    ``sample_weight`` for ``weight``), and to its ``mean_poisson_deviance`` (``p = 1``) and
    ``mean_gamma_deviance`` (``p = 2``), with scikit-learn's domain checks.

    Args:
        input: predicted means ``mu``: ``> 0`` for ``p < 0`` or ``p >= 1``.
        target: observations ``y``: ``>= 0`` for ``1 <= p < 2``, ``> 0`` for ``p >= 2``.
        power: ``p <= 0`` or ``p >= 1`` (the deviance is undefined in between). Default 0.0.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default ``'mean'``.
        weight: optional elementwise weight; ``'mean'`` then divides by ``sum(weight)``.

    Returns:
        A scalar, or the deviance of each element for ``reduction='none'``.

    Shape:
        input ``(*)``, target ``(*)`` → ``()`` or ``(*)``.

    References:
        Jørgensen, "The Theory of Dispersion Models", 1997; scikit-learn's
        ``mean_tweedie_deviance``.

    Example:
        >>> import lossgrad as torch
        >>> F = torch.nn.functional
        >>> F.tweedie_loss(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 4.0]), power=1.0)
        tensor(1.7726)
    """
    reduction = _reduction.resolve(reduction)
    _checks.check_tensor(input, "input")
    _checks.check_tensor(target, "target")
    power = _checks.check_float(power, "tweedie_loss", "power", 3)
    _check_tweedie_domain(input, target, power)
    spec = _TWEEDIE_CASES.get(power)
    if spec is not None:
        return _elementwise(spec, input, target, reduction, weight, warn=False)
    return _elementwise(_TWEEDIE, input, target, reduction, weight, (power,), warn=False)


def _check_tweedie_domain(mu: Tensor, y: Tensor, power: float) -> None:
    """scikit-learn's domain of the Tweedie deviance, as ValueErrors naming the argument."""
    if 0.0 < power < 1.0:
        raise ValueError(f"power must be <= 0 or >= 1 (Tweedie deviance), got {power}")
    if power != 0.0 and (mu._data <= 0).any():
        raise ValueError(f"input (the mean) must be > 0 for power={power}, got min {mu.min()}")
    if 1.0 <= power < 2.0 and (y._data < 0).any():
        raise ValueError(f"target must be >= 0 for power={power}, got min {y.min()}")
    if power >= 2.0 and (y._data <= 0).any():
        raise ValueError(f"target must be > 0 for power={power}, got min {y.min()}")


def _mape_block(
    x: np.ndarray, y: np.ndarray, eps: float, loss: np.ndarray, dldx: np.ndarray
) -> np.ndarray:
    """With ``m = 100 / max(|y|, eps)``: ``m |x - y|`` into ``loss``, ``m sgn(x - y)`` into
    ``dldx``."""
    scale = np.abs(y, out=scratch(x, 1))
    np.maximum(scale, x.dtype.type(eps), out=scale)
    np.divide(x.dtype.type(100.0), scale, out=scale)
    residual = np.subtract(x, y, out=loss)
    sgn_into(residual, dldx)
    dldx *= scale
    np.abs(residual, out=residual)
    residual *= scale
    return residual


def _mape_slopes(x: Tensor, y: Tensor, eps: float) -> tuple[Tensor, Tensor]:
    scale = 100.0 / y.abs().clamp_min(eps)
    residual = x - y
    slope = sgn(residual) * scale
    floor_slope = ge(y.abs(), eps).to(x.dtype) * sgn(y) * scale.square() / 100.0
    return slope, -slope - residual.abs() * floor_slope


_MAPE = Pointwise(node="MapeLossBackward0", block=_mape_block, derivatives=_mape_slopes)


def mape_loss(
    input: Tensor,
    target: Tensor,
    eps: float = 1e-7,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    """Mean absolute percentage error (in percent).

    ``l = 100 |target - input| / max(|target|, eps)``; gradient
    ``dl/dinput = 100 sign(input - target) / max(|target|, eps)``.

    Keras's ``MeanAbsolutePercentageError`` (``eps = keras.backend.epsilon() = 1e-7``);
    scikit-learn's ``mean_absolute_percentage_error`` is the same without the factor 100 (and
    with ``eps`` the float64 machine epsilon).

    Args:
        input: predictions, any shape.
        target: targets, broadcastable to ``input``.
        eps: floor of ``|target|``. Default 1e-7.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default ``'mean'``.
        weight: optional elementwise weight; ``'mean'`` then divides by ``sum(weight)``.

    Returns:
        A scalar, or the loss of each element for ``reduction='none'``.

    Shape:
        input ``(*)``, target ``(*)`` → ``()`` or ``(*)``.

    Example:
        >>> import lossgrad as torch
        >>> F = torch.nn.functional
        >>> F.mape_loss(torch.tensor([110.0, 45.0]), torch.tensor([100.0, 50.0]))
        tensor(10.)
    """
    reduction = _reduction.resolve(reduction)
    return _elementwise(_MAPE, input, target, reduction, weight, (float(eps),))


def _smape_block(
    x: np.ndarray, y: np.ndarray, eps: float, loss: np.ndarray, dldx: np.ndarray
) -> np.ndarray:
    """With ``S = |x| + |y|`` and ``m = 200 / max(S, eps)``: ``l = m |x - y|`` into ``loss``,
    ``m sgn(x - y) - l sgn(x) [S >= eps] / max(S, eps)`` into ``dldx``."""
    total = np.abs(x, out=scratch(x, 1))
    total += np.abs(y, out=scratch(x, 2))
    above = np.greater_equal(total, x.dtype.type(eps), out=scratch(x, 2))
    np.maximum(total, x.dtype.type(eps), out=total)
    scale = np.divide(x.dtype.type(200.0), total, out=total)
    residual = np.subtract(x, y, out=loss)
    sgn_into(residual, dldx)
    dldx *= scale
    np.abs(residual, out=residual)
    residual *= scale  # the loss
    floor_slope = sgn_into(x, scratch(x, 3))
    floor_slope *= above
    floor_slope *= scale
    floor_slope *= residual
    floor_slope *= x.dtype.type(1.0 / 200.0)
    dldx -= floor_slope
    return residual


def _smape_slopes(x: Tensor, y: Tensor, eps: float) -> tuple[Tensor, Tensor]:
    total = x.abs() + y.abs()
    above = ge(total, eps).to(x.dtype)
    denominator = total.clamp_min(eps)
    residual = x - y
    loss = 200.0 * residual.abs() / denominator
    slope = 200.0 * sgn(residual) / denominator
    return (
        slope - loss * sgn(x) * above / denominator,
        -slope - loss * sgn(y) * above / denominator,
    )


_SMAPE = Pointwise(node="SmapeLossBackward0", block=_smape_block, derivatives=_smape_slopes)


def smape_loss(
    input: Tensor,
    target: Tensor,
    eps: float = 1e-7,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    """Symmetric mean absolute percentage error (in percent, from 0 to 200).

    ``l = 200 |target - input| / max(|target| + |input|, eps)``; gradient (away from 0)
    ``dl/dinput = 200 (sign(d) (|y| + |x|) - |d| sign(x)) / (|y| + |x|)**2`` with
    ``d = x - y``.

    The percent scale of ``mape_loss``: 100 times the fraction of torchmetrics'
    ``SymmetricMeanAbsolutePercentageError`` and sktime's ``symmetric=True`` MAPE (both
    ``2 |d| / (|y| + |x|)``); ``eps`` floors the denominator as Keras floors MAPE's.

    Args:
        input: predictions, any shape.
        target: targets, broadcastable to ``input``.
        eps: floor of ``|target| + |input|``. Default 1e-7.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default ``'mean'``.
        weight: optional elementwise weight; ``'mean'`` then divides by ``sum(weight)``.

    Returns:
        A scalar, or the loss of each element for ``reduction='none'``.

    Shape:
        input ``(*)``, target ``(*)`` → ``()`` or ``(*)``.

    References:
        Makridakis, "Accuracy measures: theoretical and practical concerns", IJF 1993.

    Example:
        >>> import lossgrad as torch
        >>> F = torch.nn.functional
        >>> F.smape_loss(torch.tensor([110.0, 0.0]), torch.tensor([90.0, 5.0]), reduction="none")
        tensor([ 20., 200.])
    """
    reduction = _reduction.resolve(reduction)
    return _elementwise(_SMAPE, input, target, reduction, weight, (float(eps),))


def _msle_block(
    x: np.ndarray, y: np.ndarray, eps: float, loss: np.ndarray, dldx: np.ndarray
) -> np.ndarray:
    """With ``r = log1p(max(x, eps)) - log1p(max(y, eps))``: ``r**2`` into ``loss`` and
    ``r / (1 + max(x, eps))`` where ``x >= eps`` (else 0) into ``dldx`` (the factor 2 is the
    spec's)."""
    floor = x.dtype.type(eps)
    shifted = np.maximum(x, floor, out=scratch(x, 1))
    log_ratio = np.log1p(shifted, out=loss)
    log_ratio -= np.log1p(np.maximum(y, floor, out=dldx), out=dldx)
    shifted += x.dtype.type(1.0)
    np.divide(log_ratio, shifted, out=dldx)
    dldx *= np.greater_equal(x, floor, out=shifted)
    return np.multiply(log_ratio, log_ratio, out=loss)


def _msle_slopes(x: Tensor, y: Tensor, eps: float) -> tuple[Tensor, Tensor]:
    floored_x, floored_y = x.clamp_min(eps), y.clamp_min(eps)
    log_ratio = 2.0 * (floored_x.log1p() - floored_y.log1p())
    return (
        log_ratio / (1.0 + floored_x) * ge(x, eps).to(x.dtype),
        -log_ratio / (1.0 + floored_y) * ge(y, eps).to(x.dtype),
    )


_MSLE = Pointwise(
    node="MsleLossBackward0",
    block=_msle_block,
    derivatives=_msle_slopes,
    dldx_factor=lambda eps: 2.0,
)


def msle_loss(
    input: Tensor,
    target: Tensor,
    eps: float = 1e-7,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    """Mean squared logarithmic error.

    ``l = (log(1 + max(input, eps)) - log(1 + max(target, eps)))**2``; gradient
    ``dl/dinput = 2 (log1p(x) - log1p(y)) / (1 + x)`` where ``input > eps``, 0 below.

    Keras's ``MeanSquaredLogarithmicError`` (values below ``eps = 1e-7`` are replaced by it);
    ``log1p`` is used for ``log(x + 1)``.

    Args:
        input: predictions, any shape.
        target: targets, broadcastable to ``input``.
        eps: floor of both arguments. Default 1e-7.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default ``'mean'``.
        weight: optional elementwise weight; ``'mean'`` then divides by ``sum(weight)``.

    Returns:
        A scalar, or the loss of each element for ``reduction='none'``.

    Shape:
        input ``(*)``, target ``(*)`` → ``()`` or ``(*)``.

    Example:
        >>> import lossgrad as torch
        >>> F = torch.nn.functional
        >>> F.msle_loss(torch.tensor([0.0, 3.0]), torch.tensor([1.0, 1.0]), reduction="none")
        tensor([0.4805, 0.4805])
    """
    reduction = _reduction.resolve(reduction)
    return _elementwise(_MSLE, input, target, reduction, weight, (float(eps),))


def keras_poisson_loss(
    input: Tensor, target: Tensor, eps: float = 1e-7, reduction: str = "mean"
) -> Tensor:
    """Keras's Poisson loss on the predicted rate: ``l = input - target * log(input + eps)``.

    Gradient: ``dl/dinput = 1 - target / (input + eps)``.

    ``keras.losses.Poisson`` (``eps = 1e-7``); the same as
    ``poisson_nll_loss(input, target, log_input=False, eps=eps)``, which computes it.

    Args:
        input: predicted rates ``>= 0``, any shape.
        target: observed counts, broadcastable to ``input``.
        eps: added to the rate inside the log. Default 1e-7.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default ``'mean'``.

    Returns:
        A scalar, or the loss of each element for ``reduction='none'``.

    Shape:
        input ``(*)``, target ``(*)`` → ``()`` or ``(*)``.

    Example:
        >>> import lossgrad as torch
        >>> F = torch.nn.functional
        >>> F.keras_poisson_loss(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 3.0]))
        tensor(0.4603)
    """
    return poisson_nll_loss(input, target, log_input=False, eps=eps, reduction=reduction)


# -- classification margins ------------------------------------------------------------------------


def _hinge_labels(target: Tensor) -> Tensor:
    """Keras's labels for hinge losses: targets all in {0, 1} become {-1, +1}; others are kept."""
    values = target._data
    if ((values == 0) | (values == 1)).all():
        return 2.0 * target - 1.0
    return target


def _squared_hinge_block(
    x: np.ndarray, y: np.ndarray, margin: float, loss: np.ndarray, dldx: np.ndarray
) -> np.ndarray:
    """With ``h = max(0, margin - y x)``: ``h**2`` into ``loss``, ``y h`` into ``dldx`` (the
    factor -2 is the spec's)."""
    hinge = np.multiply(y, x, out=scratch(x, 1))
    np.subtract(x.dtype.type(margin), hinge, out=hinge)
    np.maximum(hinge, x.dtype.type(0.0), out=hinge)
    np.multiply(y, hinge, out=dldx)
    return np.multiply(hinge, hinge, out=loss)


def _squared_hinge_slopes(x: Tensor, y: Tensor, margin: float) -> tuple[Tensor, Tensor]:
    hinge = -2.0 * (margin - y * x).clamp_min(0.0)
    return y * hinge, x * hinge


_SQUARED_HINGE = Pointwise(
    node="SquaredHingeLossBackward0",
    block=_squared_hinge_block,
    derivatives=_squared_hinge_slopes,
    dldx_factor=lambda margin: -2.0,
)


def squared_hinge_loss(
    input: Tensor, target: Tensor, margin: float = 1.0, reduction: str = "mean"
) -> Tensor:
    """Squared hinge loss for binary labels ``y`` in ``{-1, +1}``.

    ``l = max(0, margin - y * input)**2``; gradient ``dl/dinput = -2 y max(0, margin - y x)``.

    Keras's ``SquaredHinge`` (targets that are all 0 or 1 are mapped to -1 and +1 first, as
    Keras does); the L2-SVM loss.

    Args:
        input: scores, any shape.
        target: labels in ``{-1, +1}`` (or all in ``{0, 1}``), input's shape.
        margin: the margin. Default 1.0.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default ``'mean'``.

    Returns:
        A scalar, or the loss of each element for ``reduction='none'``.

    Shape:
        input ``(*)``, target ``(*)`` → ``()`` or ``(*)``.

    Example:
        >>> import lossgrad as torch
        >>> F = torch.nn.functional
        >>> F.squared_hinge_loss(torch.tensor([2.0, 0.5, -1.0]), torch.tensor([1.0, 1.0, 1.0]))
        tensor(1.4167)
    """
    reduction = _reduction.resolve(reduction)
    _checks.check_tensor(input, "input")
    _checks.check_same_size(input, _checks.check_tensor(target, "target"))
    labels = _hinge_labels(target)
    return _elementwise(_SQUARED_HINGE, input, labels, reduction, None, (float(margin),), (), False)


def _perceptron_block(
    x: np.ndarray, y: np.ndarray, loss: np.ndarray, dldx: np.ndarray
) -> np.ndarray:
    """With ``z = -y x``: ``max(0, z)`` into ``loss``, ``y [z >= 0]`` into ``dldx`` (the
    factor -1 is the spec's; the gradient passes at ``z = 0``, as ``clamp_min``'s)."""
    score = np.multiply(y, x, out=scratch(x, 1))
    np.negative(score, out=score)
    np.greater_equal(score, 0, out=dldx)
    dldx *= y
    return np.maximum(score, x.dtype.type(0.0), out=loss)


def _perceptron_slopes(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    wrong = -ge(-y * x, 0.0).to(x.dtype)
    return wrong * y, wrong * x


_PERCEPTRON = Pointwise(
    node="PerceptronLossBackward0",
    block=_perceptron_block,
    derivatives=_perceptron_slopes,
    dldx_factor=lambda: -1.0,
)


def perceptron_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Binary perceptron loss: ``l = max(0, -y * input)`` for labels ``y`` in ``{-1, +1}``.

    Gradient: ``dl/dinput = -y`` where the sign is wrong (``y x < 0``), else 0.

    optax's ``perceptron_loss``.

    Args:
        input: scores, any shape.
        target: labels in ``{-1, +1}``, input's shape.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default ``'mean'``.

    Returns:
        A scalar, or the loss of each element for ``reduction='none'``.

    Shape:
        input ``(*)``, target ``(*)`` → ``()`` or ``(*)``.

    Example:
        >>> import lossgrad as torch
        >>> F = torch.nn.functional
        >>> F.perceptron_loss(torch.tensor([2.0, -0.5]), torch.tensor([1.0, 1.0]), "none")
        tensor([0.0000, 0.5000])
    """
    reduction = _reduction.resolve(reduction)
    _checks.check_tensor(input, "input")
    _checks.check_same_size(input, _checks.check_tensor(target, "target"))
    return _elementwise(_PERCEPTRON, input, target, reduction, None, warn=False)


def _class_scores(input: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """``(onehot, score of the target class)`` for class-index or probability targets."""
    _checks.check_tensor(input, "input")
    _checks.check_tensor(target, "target")
    if input.dim() != 2:
        raise ValueError(f"input must be (N, C) scores, got size {input.size()}")
    if target.shape == input.shape and target.is_floating_point():
        onehot = target
    else:
        if target.dim() != 1 or target.shape[0] != input.shape[0] or target.is_floating_point():
            raise ValueError(
                f"target must be (N,) class indices or (N, C) probabilities for input of size "
                f"{input.size()}, got {target.dtype} target of size {target.size()}"
            )
        classes = input.shape[1]
        if ((target._data < 0) | (target._data >= classes)).any():
            raise IndexError(f"Target {target._data.max()} is out of bounds (C = {classes}).")
        onehot = Tensor._make(np.eye(classes, dtype=input._data.dtype)[target._data])
    return onehot, _sum(onehot * input, 1)


def multiclass_hinge_loss(
    input: Tensor,
    target: Tensor,
    margin: float = 1.0,
    reduction: str = "mean",
    convention: str = "crammer_singer",
) -> Tensor:
    """Crammer–Singer multi-class hinge: the margin of the true class over the best other one.

    With scores ``x`` and true class ``y``::

        l = max(0, margin + max_{j != y} x_j - x_y)            (convention='crammer_singer')
        l = max(0, margin + max_j (1 - t_j) x_j - sum_j t_j x_j)   (convention='keras')

    Gradient (crammer_singer): ``+1`` on the best wrong class and ``-1`` on ``y`` where the
    loss is positive, else 0.

    ``'crammer_singer'`` is optax's ``multiclass_hinge_loss`` (its ``max_j (x_j + 1 - t_j) -
    x_y``); ``'keras'`` is Keras's ``CategoricalHinge``, whose max over ``(1 - t) x`` includes
    the zeroed true class, so it is 0 whenever every wrong score is below ``-margin`` rather
    than below ``x_y - margin``. torch's ``multi_margin_loss`` is the Weston–Watkins sum
    instead.

    Args:
        input: scores ``(N, C)``.
        target: class indices ``(N,)`` (int64) or one-hot / probabilities ``(N, C)`` (``t``).
        margin: the margin. Default 1.0.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default ``'mean'``.
        convention: ``'crammer_singer'`` | ``'keras'``. Default ``'crammer_singer'``.

    Returns:
        A scalar, or the loss of each sample ``(N,)`` for ``reduction='none'``.

    Shape:
        input ``(N, C)``, target ``(N)`` or ``(N, C)`` → ``()`` or ``(N)``.

    References:
        Crammer & Singer, "On the Algorithmic Implementation of Multiclass Kernel-based Vector
        Machines", JMLR 2001.

    Example:
        >>> import lossgrad as torch
        >>> F = torch.nn.functional
        >>> x = torch.tensor([[2.0, 1.5, -3.0], [-2.0, -3.0, -4.0]])
        >>> F.multiclass_hinge_loss(x, torch.tensor([0, 0]), reduction="none")
        tensor([0.5000, 0.0000])
        >>> F.multiclass_hinge_loss(x, torch.tensor([0, 0]), reduction="none", convention="keras")
        tensor([0.5000, 3.0000])
    """
    reduction = _reduction.resolve(reduction)
    if convention not in ("crammer_singer", "keras"):
        raise ValueError(f"convention must be 'crammer_singer' or 'keras', got {convention!r}")
    onehot, true_score = _class_scores(input, target)
    if convention == "keras":
        best_other = amax((1.0 - onehot) * input, 1)
        loss = (best_other - true_score + margin).clamp_min(0.0)
    else:
        loss = amax(input + margin * (1.0 - onehot), 1) - true_score
    return _reduction.apply(loss, reduction)


def multiclass_perceptron_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Multi-class perceptron loss: ``l = max_j x_j - x_y``.

    Gradient: ``+1`` on the top-scoring class and ``-1`` on ``y`` (0 when ``y`` is on top).

    optax's ``multiclass_perceptron_loss``.

    Args:
        input: scores ``(N, C)``.
        target: class indices ``(N,)`` or one-hot ``(N, C)``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default ``'mean'``.

    Returns:
        A scalar, or the loss of each sample ``(N,)`` for ``reduction='none'``.

    Shape:
        input ``(N, C)``, target ``(N)`` or ``(N, C)`` → ``()`` or ``(N)``.

    Example:
        >>> import lossgrad as torch
        >>> F = torch.nn.functional
        >>> x = torch.tensor([[2.0, 1.5], [0.0, 3.0]])
        >>> F.multiclass_perceptron_loss(x, torch.tensor([0, 0]), reduction="none")
        tensor([0., 3.])
    """
    reduction = _reduction.resolve(reduction)
    _, true_score = _class_scores(input, target)
    return _reduction.apply(amax(input, 1) - true_score, reduction)


def generalized_cross_entropy_loss(
    input: Tensor, target: Tensor, q: float = 0.5, reduction: str = "mean"
) -> Tensor:
    """Generalized cross-entropy (noise-robust): between cross-entropy and mean absolute error.

    With ``p_y = softmax(input)[y]``::

        l = (1 - p_y**q) / q = -expm1(q log_softmax(input)[y]) / q

    Gradient: ``dl/dinput = p_y**q (softmax(input) - onehot(y))``.

    Keras's ``CategoricalGeneralizedCrossEntropy(q)`` applied to ``softmax(input)`` (lossgrad
    takes logits, like ``cross_entropy``, and works in log space). ``q -> 0`` gives
    cross-entropy, ``q = 1`` the MAE ``1 - p_y``.

    Args:
        input: logits ``(N, C)``.
        target: class indices ``(N,)`` or one-hot / probabilities ``(N, C)``.
        q: in ``(0, 1]``. Default 0.5.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default ``'mean'``.

    Returns:
        A scalar, or the loss of each sample ``(N,)`` for ``reduction='none'``.

    Shape:
        input ``(N, C)``, target ``(N)`` or ``(N, C)`` → ``()`` or ``(N)``.

    References:
        Zhang & Sabuncu, "Generalized Cross Entropy Loss for Training Deep Neural Networks with
        Noisy Labels", NeurIPS 2018.

    Example:
        >>> import lossgrad as torch
        >>> F = torch.nn.functional
        >>> F.generalized_cross_entropy_loss(torch.tensor([[2.0, 0.0]]), torch.tensor([0]))
        tensor(0.1230)
    """
    reduction = _reduction.resolve(reduction)
    if not 0.0 < q <= 1.0:
        raise ValueError(f"q must be in (0, 1], got {q}")
    onehot, _ = _class_scores(input, target)
    log_p = _sum(onehot * log_softmax(input, 1), 1)
    return _reduction.apply(-(q * log_p).expm1() / q, reduction)


def asymmetric_loss(
    input: Tensor,
    target: Tensor,
    gamma_neg: float = 4.0,
    gamma_pos: float = 1.0,
    clip: float = 0.05,
    eps: float = 1e-8,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> Tensor:
    """Asymmetric loss (ASL): focal terms with separate exponents for positives and negatives.

    Multi-label (float ``target`` of input's shape), with ``p = sigmoid(x)`` and the shifted
    negative probability ``p_m = min(1 - p + clip, 1)``::

        l = -sum_c [ y (1 - p)**gamma_pos log(max(p, eps))
                     + (1 - y) (1 - p_m)**gamma_neg log(max(p_m, eps)) ]

    Single-label (class-index ``target``), with ``p = softmax(x)`` and ``t`` the one-hot
    target smoothed to ``t (1 - s) + s / C``::

        l = -sum_c t_c w_c log p_c,   w_y = (1 - p_y)**gamma_pos,  w_c = p_c**gamma_neg (c != y)

    The loss of each sample sums over classes. Gradients flow through the focusing weights
    (timm's default ``disable_torch_grad_focal_loss=False``).

    timm's ``AsymmetricLossMultiLabel`` (``reduction='batchmean'`` there is ``'mean'`` here,
    its ``'sum'`` is ``'sum'``; ``smoothing`` is ``label_smoothing``, moving targets to 0.5)
    and ``AsymmetricLossSingleLabel`` (its ``eps`` is ``label_smoothing``, default 0.1 there;
    ``clip`` and ``eps`` here are not used for single-label targets). timm computes in float32
    whatever the input dtype; lossgrad keeps the input's dtype.

    Args:
        input: logits ``(N, C)``.
        target: multi-hot / soft labels ``(N, C)`` (float), or class indices ``(N,)``.
        gamma_neg: focusing exponent of the negatives. Default 4.0.
        gamma_pos: focusing exponent of the positives. Default 1.0.
        clip: probability margin added to the negatives' ``1 - p`` (0 disables). Default 0.05.
        eps: floor of the probabilities inside the logs (multi-label). Default 1e-8.
        label_smoothing: see above. Default 0.0.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default ``'mean'``.

    Returns:
        A scalar, or the loss of each sample ``(N,)`` for ``reduction='none'``.

    Shape:
        input ``(N, C)``, target ``(N, C)`` or ``(N)`` → ``()`` or ``(N)``.

    References:
        Ridnik et al., "Asymmetric Loss For Multi-Label Classification", ICCV 2021.

    Example:
        >>> import lossgrad as torch
        >>> F = torch.nn.functional
        >>> x = torch.tensor([[3.0, -1.0, 0.5]])
        >>> F.asymmetric_loss(x, torch.tensor([[1.0, 0.0, 1.0]]))
        tensor(0.1819)
    """
    reduction = _reduction.resolve(reduction)
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
    if target.shape == input.shape and target.is_floating_point():
        if label_smoothing:
            target = target * (1.0 - label_smoothing) + 0.5 * label_smoothing
        params = (float(gamma_neg), float(gamma_pos), float(clip), float(eps))
        if _asymmetric_fuses(input, target, *params):
            return _asymmetric_fused(input, target, params, reduction)
        loss = _asymmetric_multilabel(input, target, *params)
    else:
        loss = _asymmetric_single_label(input, target, gamma_neg, gamma_pos, label_smoothing)
    return _reduction.apply(loss, reduction)


def _asymmetric_multilabel(
    input: Tensor,
    target: Tensor,
    gamma_neg: float,
    gamma_pos: float,
    clip: float,
    eps: float,
) -> Tensor:
    p_pos = sigmoid(input)
    p_neg = 1.0 - p_pos
    if clip > 0:
        p_neg = (p_neg + clip).clamp(max=1.0)
    loss = target * p_pos.clamp_min(eps).log() + (1.0 - target) * p_neg.clamp_min(eps).log()
    if gamma_neg > 0 or gamma_pos > 0:
        p_true = p_pos * target + p_neg * (1.0 - target)
        loss = loss * (1.0 - p_true) ** (gamma_pos * target + gamma_neg * (1.0 - target))
    return -_sum(loss, 1)


def _asymmetric_fuses(
    input: Tensor, target: Tensor, gamma_neg: float, gamma_pos: float, clip: float, eps: float
) -> bool:
    """Whether the multi-label loss goes to the pointwise spec: float logits, a target that
    needs no gradient, focusing exponents 0 or at least 1 (``(1 - p_t)**(gamma - 1)`` stays
    finite) and a clip of 0 or at least ``eps`` (the clipped probability is then above it)."""
    focusing = gamma_neg > 0 or gamma_pos > 0
    return (
        input._data.dtype.kind == "f"
        and not target.requires_grad
        and (not focusing or min(gamma_neg, gamma_pos) >= 1.0)
        and (clip == 0 or clip >= eps)
    )


def _asymmetric_fused(
    input: Tensor, target: Tensor, params: tuple[float, ...], reduction: str
) -> Tensor:
    """The multi-label loss by `_ASYMMETRIC`: each sample's loss sums its classes, so
    ``'mean'`` over the samples is the driver's ``'batchmean'``."""
    if reduction == "none":
        loss = _elementwise(_ASYMMETRIC, input, target, "none", None, params, warn=False)
        return _sum(loss, 1)
    total = "batchmean" if reduction == "mean" else reduction
    return _elementwise(_ASYMMETRIC, input, target, total, None, params, warn=False)


def _asymmetric_probabilities(x: np.ndarray, clip: float, eps: float) -> tuple[np.ndarray, ...]:
    """Of one block of logits: ``p = sigmoid(x)``, ``q = 1 - p``, ``dp/dx = p q``, the
    negatives' probability ``p_m = min(q + clip, 1)`` (``q`` without a clip), ``-dp_m/dx``,
    and ``d log max(p_m, eps) / dx`` negated (``p [q >= eps]`` without a clip)."""
    one = x.dtype.type(1.0)
    p = np.negative(x, out=scratch(x, 1))
    np.exp(p, out=p)
    p += one
    np.divide(one, p, out=p)
    q = np.subtract(one, p, out=scratch(x, 2))
    slope = np.multiply(p, q, out=scratch(x, 3))
    if clip == 0:
        log_slope = np.greater_equal(q, x.dtype.type(eps), out=scratch(x, 6))
        negative_slope = scratch(x, 5)  # a copy: the caller updates the slope in place
        negative_slope[...] = slope
        return p, q, slope, q, negative_slope, np.multiply(log_slope, p, out=log_slope)
    negative = np.add(q, x.dtype.type(clip), out=scratch(x, 4))
    negative_slope = np.less(negative, one, out=scratch(x, 5))
    negative_slope *= slope
    np.minimum(negative, one, out=negative)
    return (
        p,
        q,
        slope,
        negative,
        negative_slope,
        np.divide(negative_slope, negative, out=scratch(x, 6)),
    )


def _asymmetric_block(
    x: np.ndarray,
    t: np.ndarray,
    gamma_neg: float,
    gamma_pos: float,
    clip: float,
    eps: float,
    loss: np.ndarray,
    dldx: np.ndarray,
) -> np.ndarray:
    """timm's multi-label ASL of each element (before the sum over classes): with ``ce = t log
    max(p, eps) + (1 - t) log max(p_m, eps)``, ``p_t = t p + (1 - t) p_m``, ``gamma = t
    gamma_pos + (1 - t) gamma_neg`` and ``w = (1 - p_t)**gamma``, ``-ce w`` into ``loss`` and
    ``-(ce' w + ce w')`` into ``dldx``, with ``w' = -gamma (1 - p_t)**(gamma - 1) p_t'``."""
    dtype = x.dtype.type
    p, q, slope, negative, negative_slope, log_slope = _asymmetric_probabilities(x, clip, eps)
    ce = np.log(np.maximum(p, dtype(eps), out=loss), out=loss)
    log_negative = np.log(np.maximum(negative, dtype(eps), out=dldx), out=dldx)
    ce -= log_negative
    ce *= t
    ce += log_negative
    d_ce = np.greater_equal(p, dtype(eps), out=dldx)  # ce' = t (q [p >= eps] + s) - s
    d_ce *= q
    d_ce += log_slope
    d_ce *= t
    d_ce -= log_slope
    if gamma_neg == 0 and gamma_pos == 0:
        np.negative(d_ce, out=d_ce)
        return np.negative(ce, out=ce)
    base = np.subtract(p, negative, out=scratch(x, 6))  # 1 - p_t
    base *= t
    base += negative
    np.subtract(dtype(1.0), base, out=base)
    gamma = np.multiply(t, dtype(gamma_pos - gamma_neg), out=p)
    gamma += dtype(gamma_neg)
    power = np.subtract(gamma, dtype(1.0), out=q)
    np.power(base, power, out=power)  # (1 - p_t)**(gamma - 1)
    weight = np.multiply(power, base, out=negative if negative is not q else base)
    slope += negative_slope  # p_t' = t (p' - p_m') + p_m'
    slope *= t
    slope -= negative_slope
    slope *= power
    slope *= gamma  # -w'
    slope *= ce
    d_ce *= weight
    np.subtract(slope, d_ce, out=dldx)
    ce *= weight
    return np.negative(ce, out=ce)


def _asymmetric_slope(
    x: Tensor, t: Tensor, gamma_neg: float, gamma_pos: float, clip: float, eps: float
) -> tuple[Tensor, None]:
    p = sigmoid(x)
    q = 1.0 - p
    slope = p * q
    if clip > 0:
        negative = (q + clip).clamp(max=1.0)
        negative_slope = slope * lt(q + clip, 1.0).to(x.dtype)
        log_slope = negative_slope / negative
    else:
        negative, negative_slope = q, slope
        log_slope = p * ge(q, eps).to(x.dtype)
    log_p, log_negative = p.clamp_min(eps).log(), negative.clamp_min(eps).log()
    ce = log_negative + t * (log_p - log_negative)
    d_ce = t * (q * ge(p, eps).to(x.dtype) + log_slope) - log_slope
    if gamma_neg == 0 and gamma_pos == 0:
        return -d_ce, None
    base = 1.0 - (negative + t * (p - negative))
    gamma = gamma_neg + t * (gamma_pos - gamma_neg)
    power = base ** (gamma - 1.0)
    true_slope = t * (slope + negative_slope) - negative_slope
    return ce * gamma * power * true_slope - d_ce * power * base, None


_ASYMMETRIC = Pointwise(
    node="AsymmetricLossBackward0",
    block=_asymmetric_block,
    derivatives=_asymmetric_slope,
)


def _asymmetric_single_label(
    input: Tensor, target: Tensor, gamma_neg: float, gamma_pos: float, smoothing: float
) -> Tensor:
    onehot, _ = _class_scores(input, target)
    log_p = log_softmax(input, 1)
    p = log_p.exp()
    focus = where(onehot > 0, (1.0 - p) ** gamma_pos, p**gamma_neg)
    if smoothing:
        onehot = onehot * (1.0 - smoothing) + smoothing / input.shape[1]
    return -_sum(onehot * focus * log_p, 1)


def symmetric_cross_entropy_loss(
    input: Tensor,
    target: Tensor,
    alpha: float = 0.1,
    beta: float = 1.0,
    reduction: str = "mean",
) -> Tensor:
    """Symmetric cross-entropy (noise-robust): cross-entropy plus reverse cross-entropy.

    With ``p = clamp(softmax(input), 1e-7, 1)`` and the one-hot target clamped to
    ``[1e-4, 1]`` (so ``log 0`` becomes ``A = log(1e-4)``)::

        l = alpha * CE(input, y) + beta * RCE,   RCE = -sum_c p_c log(clamp(onehot_c, 1e-4))
                                                    = -A * sum_{c != y} p_c

    Gradient: ``alpha (softmax - onehot)`` plus ``-beta A`` times the softmax Jacobian
    applied to the wrong-class indicator (0 through the clamp where ``p_c < 1e-7``).

    The paper's reference code (``SCELoss`` of the authors' repository, with its clamps);
    ``alpha = 0.1, beta = 1.0`` are its CIFAR-10 values.

    Args:
        input: logits ``(N, C)``.
        target: class indices ``(N,)``.
        alpha: weight of cross-entropy. Default 0.1.
        beta: weight of reverse cross-entropy. Default 1.0.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default ``'mean'``.

    Returns:
        A scalar, or the loss of each sample ``(N,)`` for ``reduction='none'``.

    Shape:
        input ``(N, C)``, target ``(N)`` → ``()`` or ``(N)``.

    References:
        Wang et al., "Symmetric Cross Entropy for Robust Learning with Noisy Labels", ICCV 2019.

    Example:
        >>> import lossgrad as torch
        >>> F = torch.nn.functional
        >>> F.symmetric_cross_entropy_loss(torch.tensor([[2.0, 0.0]]), torch.tensor([0]))
        tensor(1.1106)
    """
    reduction = _reduction.resolve(reduction)
    onehot, _ = _class_scores(input, target)
    log_p = log_softmax(input, 1)
    cross_entropy = -_sum(onehot * log_p, 1)
    probabilities = log_p.exp().clamp(1e-7, 1.0)
    reverse = -_sum(probabilities * onehot.clamp(1e-4, 1.0).log(), 1)
    return _reduction.apply(alpha * cross_entropy + beta * reverse, reduction)


if not TYPE_CHECKING:  # see lossgrad._exports
    __all__ = public_names(globals())
