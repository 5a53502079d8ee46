"""Catalog entries of the robust regression losses (``nn/functional/loss_robust.py``): the
losses of a residual that grow slower than the square, drawn on one scale in the family's
overview figure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lossgrad._catalog import Curve, Loss, _residual

TITLE = "Robust regression losses"

_RESIDUAL_LABEL = "residual x − y"
_LIM = (-6.0, 6.0)

#: Shared by the examples of the elementwise regression extensions.
REGRESSION_DATA = """\
input = torch.tensor([[0.5, -1.0, 2.0], [1.5, 0.0, -4.5]], requires_grad=True)
target = torch.tensor([[0.0, 1.0, 1.5], [-1.0, 0.5, 0.4]])
"""


def _example(module: str) -> str:
    call = "output = loss(input, target)\noutput.backward()\n"
    return f"loss = nn.{module}\n" + REGRESSION_DATA + call


def _curve(functional: str) -> Curve:
    return Curve("residual", _RESIDUAL_LABEL, _LIM, _residual(functional))


def _barron_curve(lib: Any, z: Any, params: Mapping[str, Any], settings: Mapping[str, Any]) -> Any:
    """Barron's loss drawn at alpha = 0.5 unless set (alpha = 1 would hide pseudo-Huber)."""
    options = {"alpha": 0.5, **params}
    return lib.nn.functional.barron_loss(z, lib.zeros_like(z), reduction="none", **options)


_WEIGHT_NOTE = "the functional's weight= makes 'mean' the weighted mean Σ w·ℓ / Σ w"

ENTRIES: tuple[Loss, ...] = (
    Loss(
        key="log_cosh",
        functional="log_cosh_loss",
        module="LogCoshLoss",
        family="robust",
        summary="log(cosh(x − y)): quadratic near 0, linear far away, smooth everywhere.",
        tex=r"\ell = \log\cosh(d) = d + \operatorname{softplus}(-2d) - \log 2,\quad d = x - y",
        tex_gradient=r"\frac{\partial \ell}{\partial x} = \tanh(d)",
        in_torch=False,
        notes=(
            "Keras's LogCosh (= optax's log_cosh); finite for every finite residual, where "
            "log(cosh(d)) overflows beyond |d| ≈ 89 in float32",
            _WEIGHT_NOTE,
        ),
        example=_example("LogCoshLoss()"),
        curve=_curve("log_cosh_loss"),
    ),
    Loss(
        key="pseudo_huber",
        functional="pseudo_huber_loss",
        module="PseudoHuberLoss",
        family="robust",
        summary="Smooth Huber: δ²(√(1 + (d/δ)²) − 1); Charbonnier at δ = 1.",
        tex=r"\ell = \delta^2\Bigl(\sqrt{1 + (d/\delta)^2} - 1\Bigr),\quad d = x - y",
        tex_gradient=r"\frac{\partial \ell}{\partial x} = \frac{d}{\sqrt{1 + (d/\delta)^2}}",
        in_torch=False,
        notes=(
            "delta = 1 is kornia's charbonnier_loss; charbonnier_loss / CharbonnierLoss are the "
            "same function and class; delta ≤ 0 → ValueError",
            "computed as d² / (√(1 + (d/δ)²) + 1): no cancellation for small residuals",
            _WEIGHT_NOTE,
        ),
        example=_example("PseudoHuberLoss(delta=1.0)"),
        curve=_curve("pseudo_huber_loss"),
        aliases=("charbonnier", "charbonnier_loss", "CharbonnierLoss"),
    ),
    Loss(
        key="welsch",
        functional="welsch_loss",
        module="WelschLoss",
        family="robust",
        summary="1 − exp(−(d/c)²/2): bounded by 1, outliers are ignored (redescending).",
        tex=r"\ell = 1 - \exp\bigl(-\tfrac{1}{2}(d/c)^2\bigr)",
        tex_gradient=(
            r"\frac{\partial \ell}{\partial x} = \frac{d}{c^2}\exp\bigl(-\tfrac12 (d/c)^2\bigr)"
        ),
        in_torch=False,
        notes=("kornia's welsch_loss at scale = 1; Barron's loss at α = −∞", _WEIGHT_NOTE),
        example=_example("WelschLoss(scale=1.0)"),
        curve=_curve("welsch_loss"),
    ),
    Loss(
        key="cauchy",
        functional="cauchy_loss",
        module="CauchyLoss",
        family="robust",
        summary="log(1 + (d/c)²/2): logarithmic growth (Lorentzian).",
        tex=r"\ell = \log\bigl(1 + \tfrac12 (d/c)^2\bigr)",
        tex_gradient=r"\frac{\partial \ell}{\partial x} = \frac{2d}{2c^2 + d^2}",
        in_torch=False,
        notes=("kornia's cauchy_loss at scale = 1; Barron's loss at α = 0", _WEIGHT_NOTE),
        example=_example("CauchyLoss(scale=1.0)"),
        curve=_curve("cauchy_loss"),
    ),
    Loss(
        key="geman_mcclure",
        functional="geman_mcclure_loss",
        module="GemanMcClureLoss",
        family="robust",
        summary="2s/(s + 4) with s = (d/c)²: bounded by 2, rational.",
        tex=r"\ell = \frac{2s}{s + 4},\quad s = \bigl((x-y)/c\bigr)^2",
        tex_gradient=r"\frac{\partial \ell}{\partial x} = \frac{16\,d}{c^2 (s+4)^2}",
        in_torch=False,
        notes=(
            "kornia's geman_mcclure_loss at scale = 1; Barron's loss at α = −2",
            "computed as 2 − 8/(s + 4) above s = 4, so the gradient keeps its digits at huge "
            "residuals",
            _WEIGHT_NOTE,
        ),
        example=_example("GemanMcClureLoss(scale=1.0)"),
        curve=_curve("geman_mcclure_loss"),
    ),
    Loss(
        key="barron",
        functional="barron_loss",
        module="BarronLoss",
        family="robust",
        summary="Barron's general robust loss: α spans L2, pseudo-Huber, Cauchy, Geman–McClure, "
        "Welsch.",
        tex=(
            r"\ell = \frac{|\alpha-2|}{\alpha}\left(\left(\frac{(d/c)^2}{|\alpha-2|} + 1"
            r"\right)^{\alpha/2} - 1\right)"
        ),
        tex_gradient=(
            r"\frac{\partial \ell}{\partial x} = \frac{d}{c^2}\left(\frac{(d/c)^2}{|\alpha-2|}"
            r" + 1\right)^{\alpha/2 - 1}"
        ),
        in_torch=False,
        notes=(
            "α = 2: d²/2 (L2); 1: pseudo-Huber; 0: Cauchy; −2: Geman–McClure; −∞: Welsch; "
            "the limits are evaluated by their own formulas, never as 0/0",
            "alpha and scale may be Tensors with gradients; nn.AdaptiveBarronLoss learns them "
            "(with the partition function F.barron_log_partition)",
            "the curve is drawn at alpha = 0.5 unless set",
            _WEIGHT_NOTE,
        ),
        example=_example("BarronLoss(alpha=0.5, scale=1.0)"),
        curve=Curve("residual", _RESIDUAL_LABEL, _LIM, _barron_curve),
    ),
)
