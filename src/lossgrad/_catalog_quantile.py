"""Catalog entries of the quantile and distributional regression losses
(``nn/functional/loss_robust.py``): pinball, expectile, Tweedie, percentage and log errors."""

from __future__ import annotations

from lossgrad._catalog import Curve, Loss, _logit, _residual
from lossgrad._catalog_robust import REGRESSION_DATA

TITLE = "Quantile and distributional regression losses"

_PREDICTION = "prediction x (target y = {target:g})"
_POSITIVE_DATA = """\
input = torch.tensor([[0.5, 1.0, 2.0], [1.5, 0.2, 4.5]], requires_grad=True)
target = torch.tensor([[1.0, 1.0, 1.5], [2.0, 0.5, 4.0]])
"""
_WEIGHT_NOTE = "the functional's weight= makes 'mean' the weighted mean Σ w·ℓ / Σ w"


def _example(module: str, data: str = REGRESSION_DATA) -> str:
    return f"loss = nn.{module}\n" + data + "output = loss(input, target)\noutput.backward()\n"


def _prediction_curve(functional: str, lim: tuple[float, float] = (0.05, 4.0)) -> Curve:
    return Curve("prediction", _PREDICTION, lim, _logit(functional), {"target": 1.0})


ENTRIES: tuple[Loss, ...] = (
    Loss(
        key="pinball",
        functional="pinball_loss",
        module="PinballLoss",
        family="quantile",
        summary="Quantile loss: its minimiser is the q-th quantile of the target.",
        tex=r"\ell = \max\bigl(q\,u,\ (q-1)\,u\bigr),\quad u = y - x",
        tex_gradient=r"\frac{\partial \ell}{\partial x} = \begin{cases} -q & y \ge x \\ 1 - q "
        r"& \text{otherwise} \end{cases}",
        in_torch=False,
        notes=(
            "equal to scikit-learn's mean_pinball_loss(target, input, alpha=quantile), "
            "sample_weight as weight=",
            "quantile=[q1, ..., qQ] evaluates Q quantiles at once: input (*, Q), target (*) or "
            "(*, Q); quantile outside [0, 1] → ValueError",
            "q = 0.5 is half the absolute error",
        ),
        example=_example("PinballLoss(quantile=0.9)"),
        curve=Curve("residual", "residual x − y", (-3.0, 3.0), _residual("pinball_loss")),
        aliases=("quantile", "quantile_loss", "QuantileLoss"),
    ),
    Loss(
        key="expectile",
        functional="expectile_loss",
        module="ExpectileLoss",
        family="quantile",
        summary="Asymmetric squared error: its minimiser is the τ-expectile of the target.",
        tex=r"\ell = \bigl|\tau - \mathbb{1}[u < 0]\bigr|\,u^2,\quad u = y - x",
        tex_gradient=r"\frac{\partial \ell}{\partial x} = -2\,\bigl|\tau - \mathbb{1}[u<0]"
        r"\bigr|\,u",
        in_torch=False,
        notes=(
            "τ = 0.5 is half the squared error; the minimiser over a constant is "
            "scipy.stats.expectile(target, alpha=τ)",
            _WEIGHT_NOTE,
        ),
        example=_example("ExpectileLoss(expectile=0.9)"),
        curve=Curve("residual", "residual x − y", (-3.0, 3.0), _residual("expectile_loss")),
    ),
    Loss(
        key="tweedie",
        functional="tweedie_loss",
        module="TweedieLoss",
        family="quantile",
        summary="Tweedie deviance of power p: squared error (0), Poisson (1), Gamma (2), ...",
        tex=(
            r"\ell = 2\left(\frac{y^{2-p}}{(1-p)(2-p)} - \frac{y\,\mu^{1-p}}{1-p} + "
            r"\frac{\mu^{2-p}}{2-p}\right)"
        ),
        tex_gradient=r"\frac{\partial \ell}{\partial \mu} = \frac{2(\mu - y)}{\mu^{p}}",
        in_torch=False,
        notes=(
            "equal to scikit-learn's mean_tweedie_deviance(target, input, power=p), and to "
            "mean_poisson_deviance (p = 1, y log(y/μ) with 0 log 0 = 0) and mean_gamma_deviance "
            "(p = 2)",
            "0 < p < 1, μ ≤ 0 (p ≠ 0), y < 0 (1 ≤ p < 2) or y ≤ 0 (p ≥ 2) → ValueError naming "
            "the argument",
        ),
        example=_example("TweedieLoss(power=1.5)", _POSITIVE_DATA),
        curve=_prediction_curve("tweedie_loss"),
    ),
    Loss(
        key="mape",
        functional="mape_loss",
        module="MAPELoss",
        family="quantile",
        summary="Mean absolute percentage error, in percent (Keras).",
        tex=r"\ell = \frac{100\,|y - x|}{\max(|y|, \varepsilon)}",
        tex_gradient=r"\frac{\partial \ell}{\partial x} = \frac{100\,\operatorname{sign}(x-y)}"
        r"{\max(|y|, \varepsilon)}",
        in_torch=False,
        notes=("Keras's MeanAbsolutePercentageError, ε = 1e-7", _WEIGHT_NOTE),
        example=_example("MAPELoss()", _POSITIVE_DATA),
        curve=_prediction_curve("mape_loss"),
    ),
    Loss(
        key="smape",
        functional="smape_loss",
        module="SMAPELoss",
        family="quantile",
        summary="Symmetric mean absolute percentage error, in percent (0 to 200).",
        tex=r"\ell = \frac{200\,|y - x|}{\max(|y| + |x|, \varepsilon)}",
        tex_gradient=r"\frac{\partial \ell}{\partial x} = 200\,\frac{\operatorname{sign}(d)"
        r"(|y|+|x|) - |d|\operatorname{sign}(x)}{(|y|+|x|)^2}",
        in_torch=False,
        notes=(
            "100 × torchmetrics' and sktime's fraction 2|d| / (|y| + |x|); ε = 1e-7 floors the "
            "denominator",
            _WEIGHT_NOTE,
        ),
        example=_example("SMAPELoss()", _POSITIVE_DATA),
        curve=_prediction_curve("smape_loss"),
    ),
    Loss(
        key="msle",
        functional="msle_loss",
        module="MSLELoss",
        family="quantile",
        summary="Mean squared logarithmic error (Keras).",
        tex=r"\ell = \bigl(\log(1 + x) - \log(1 + y)\bigr)^2",
        tex_gradient=r"\frac{\partial \ell}{\partial x} = \frac{2\bigl(\log(1+x) - \log(1+y)"
        r"\bigr)}{1 + x}",
        in_torch=False,
        notes=(
            "Keras's MeanSquaredLogarithmicError: both arguments floored at ε = 1e-7",
            _WEIGHT_NOTE,
        ),
        example=_example("MSLELoss()", _POSITIVE_DATA),
        curve=_prediction_curve("msle_loss"),
    ),
    Loss(
        key="keras_poisson",
        functional="keras_poisson_loss",
        module="KerasPoissonLoss",
        family="quantile",
        summary="Keras's Poisson loss on the predicted rate: x − y·log(x + ε).",
        tex=r"\ell = x - y\log(x + \varepsilon)",
        tex_gradient=r"\frac{\partial \ell}{\partial x} = 1 - \frac{y}{x + \varepsilon}",
        in_torch=False,
        notes=(
            "keras.losses.Poisson (ε = 1e-7); the same as torch's poisson_nll_loss(log_input="
            "False, eps=ε), which computes it",
        ),
        example=_example("KerasPoissonLoss()", _POSITIVE_DATA),
        curve=_prediction_curve("keras_poisson_loss"),
    ),
)
