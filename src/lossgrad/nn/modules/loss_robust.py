"""The modules of ``F``'s robust, quantile and margin losses (``nn/functional/loss_robust.py``):
thin classes that store the options and call the functional, plus ``AdaptiveBarronLoss``, whose
shape ``alpha`` and scale are learnable Parameters."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from lossgrad._exports import public_names
from lossgrad._tensor import Tensor
from lossgrad.nn import functional as F
from lossgrad.nn.functional import _reduction
from lossgrad.nn.modules.loss import _Loss
from lossgrad.nn.parameter import Parameter
from lossgrad.ops.activation import softplus
from lossgrad.ops.pointwise import sigmoid


class _OptionLoss(_Loss):
    """A loss module that passes ``reduction`` and its stored options to one functional."""

    _functional: str
    _options: tuple[str, ...] = ()

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        options = {name: getattr(self, name) for name in self._options}
        return getattr(F, self._functional)(input, target, reduction=self.reduction, **options)


class LogCoshLoss(_OptionLoss):
    """``log(cosh(input - target))``, reduced (see ``F.log_cosh_loss``)."""

    _functional = "log_cosh_loss"

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__(None, None, reduction)


class PseudoHuberLoss(_OptionLoss):
    """``delta**2 (sqrt(1 + (d / delta)**2) - 1)``, reduced (see ``F.pseudo_huber_loss``)."""

    _functional = "pseudo_huber_loss"
    _options = ("delta",)

    def __init__(self, delta: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(None, None, reduction)
        self.delta = delta


CharbonnierLoss = PseudoHuberLoss


class _ScaledLoss(_OptionLoss):
    _options = ("scale",)

    def __init__(self, scale: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(None, None, reduction)
        self.scale = scale


class WelschLoss(_ScaledLoss):
    """``1 - exp(-(d / scale)**2 / 2)``, reduced (see ``F.welsch_loss``)."""

    _functional = "welsch_loss"


class CauchyLoss(_ScaledLoss):
    """``log(1 + (d / scale)**2 / 2)``, reduced (see ``F.cauchy_loss``)."""

    _functional = "cauchy_loss"


class GemanMcClureLoss(_ScaledLoss):
    """``2 s / (s + 4)`` with ``s = (d / scale)**2``, reduced (see ``F.geman_mcclure_loss``)."""

    _functional = "geman_mcclure_loss"


class BarronLoss(_OptionLoss):
    """Barron's general robust loss at a fixed ``alpha`` and ``scale`` (see ``F.barron_loss``;
    ``AdaptiveBarronLoss`` learns them)."""

    _functional = "barron_loss"
    _options = ("alpha", "scale")

    def __init__(self, alpha: float = 1.0, scale: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(None, None, reduction)
        self.alpha = alpha
        self.scale = scale


class AdaptiveBarronLoss(_Loss):
    """Barron's adaptive robust loss: a negative log-likelihood whose shape and scale are learnt.

    For residuals ``x = input - target`` of shape ``(N, num_dims)``, each dimension ``k`` has its
    own ``alpha_k`` in ``[alpha_lo, alpha_hi]`` and ``scale_k > scale_lo``::

        l = rho(x, alpha_k, scale_k) + log(scale_k) + log Z(alpha_k)

    with ``rho`` = ``F.barron_loss`` and ``log Z`` = ``F.barron_log_partition``. Minimising it
    over the Parameters fits the robustness to the data (heavy-tailed residuals drive ``alpha``
    down). The parametrisation is the reference code's ``AdaptiveLossFunction``
    (google-research/robust_loss_pytorch, ``adaptive.py``): ``alpha = alpha_lo + (alpha_hi -
    alpha_lo) sigmoid(latent_alpha)``, ``scale = softplus(latent_scale) + scale_lo``, the
    Parameters ``latent_alpha`` and ``latent_scale`` of shape ``(1, num_dims)``; ``alpha_init``
    defaults to the middle of the range. The partition function is evaluated by quadrature
    rather than the reference's spline table (see ``F.barron_log_partition``).

    Args:
        num_dims: size of the last dimension of the residuals. Default 1.
        alpha_lo, alpha_hi: range of ``alpha`` (``0 <= alpha_lo <= alpha_hi``; equal values fix
            ``alpha``). Default 0.001 and 1.999.
        alpha_init: initial ``alpha``. Default the middle of the range.
        scale_lo: floor of the scale, ``> 0``. Default 1e-5.
        scale_init: initial scale, ``> scale_lo``. Default 1.0.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default ``'mean'``.
        dtype: dtype of the Parameters. Default float32.

    Shape:
        input ``(N, num_dims)``, target broadcastable → ``()`` or ``(N, num_dims)``.

    References:
        Barron, "A General and Adaptive Robust Loss Function", CVPR 2019, section 2.

    Example:
        >>> import lossgrad as torch
        >>> criterion = torch.nn.AdaptiveBarronLoss(num_dims=2)
        >>> loss = criterion(torch.tensor([[0.5, -3.0]]), torch.zeros(1, 2))
        >>> loss.backward()
        >>> [round(float(a), 3) for a in criterion.alpha()[0]]
        [1.0, 1.0]
    """

    def __init__(
        self,
        num_dims: int = 1,
        alpha_lo: float = 0.001,
        alpha_hi: float = 1.999,
        alpha_init: float | None = None,
        scale_lo: float = 1e-5,
        scale_init: float = 1.0,
        reduction: str = "mean",
        dtype: Any = None,
    ) -> None:
        super().__init__(None, None, reduction)
        if not 0 <= alpha_lo <= alpha_hi:
            raise ValueError(
                f"alpha_lo and alpha_hi must satisfy 0 <= alpha_lo <= alpha_hi, got {alpha_lo} "
                f"and {alpha_hi}"
            )
        if alpha_init is None:
            alpha_init = (alpha_lo + alpha_hi) / 2.0
        if not alpha_lo <= alpha_init <= alpha_hi:
            raise ValueError(f"alpha_init must be in [{alpha_lo}, {alpha_hi}], got {alpha_init}")
        if not 0 < scale_lo < scale_init:
            raise ValueError(
                f"scale_lo and scale_init must satisfy 0 < scale_lo < scale_init, got {scale_lo} "
                f"and {scale_init}"
            )
        numpy_dtype = np.float32 if dtype is None else np.dtype(str(dtype).split(".")[-1])
        self.num_dims, self.alpha_lo, self.alpha_hi, self.scale_lo = (
            num_dims, alpha_lo, alpha_hi, scale_lo
        )
        if alpha_lo == alpha_hi:
            self.latent_alpha = None
        else:
            fraction = (alpha_init - alpha_lo) / (alpha_hi - alpha_lo)
            fraction = min(max(fraction, 1e-12), 1 - 1e-12)
            latent = math.log(fraction / (1.0 - fraction))
            self.latent_alpha = Parameter(
                Tensor._make(np.full((1, num_dims), latent, numpy_dtype))
            )
        latent_scale = math.log(math.expm1(scale_init - scale_lo))
        self.latent_scale = Parameter(
            Tensor._make(np.full((1, num_dims), latent_scale, numpy_dtype))
        )

    def alpha(self) -> Tensor:
        """The current shape parameters, ``(1, num_dims)``."""
        if self.latent_alpha is None:
            return Tensor._make(np.full((1, self.num_dims), self.alpha_lo,
                                        self.latent_scale._data.dtype))
        return self.alpha_lo + (self.alpha_hi - self.alpha_lo) * sigmoid(self.latent_alpha)

    def scale(self) -> Tensor:
        """The current scales, ``(1, num_dims)``."""
        return softplus(self.latent_scale) + self.scale_lo

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        reduction = _reduction.resolve(self.reduction)
        if input.dim() != 2 or input.shape[1] != self.num_dims:
            raise ValueError(
                f"input must have shape (N, num_dims={self.num_dims}), got {input.size()}"
            )
        alpha, scale = self.alpha(), self.scale()
        rho = F.barron_loss(input, target, alpha, scale, reduction="none")
        nll = rho + scale.log() + F.barron_log_partition(alpha)
        return _reduction.apply(nll, reduction)


class PinballLoss(_OptionLoss):
    """Quantile regression loss, reduced (see ``F.pinball_loss``)."""

    _functional = "pinball_loss"
    _options = ("quantile",)

    def __init__(self, quantile: Any = 0.5, reduction: str = "mean") -> None:
        super().__init__(None, None, reduction)
        self.quantile = quantile


class ExpectileLoss(_OptionLoss):
    """Asymmetric squared error, reduced (see ``F.expectile_loss``)."""

    _functional = "expectile_loss"
    _options = ("expectile",)

    def __init__(self, expectile: float = 0.5, reduction: str = "mean") -> None:
        super().__init__(None, None, reduction)
        self.expectile = expectile


class TweedieLoss(_OptionLoss):
    """Tweedie deviance of power ``power``, reduced (see ``F.tweedie_loss``)."""

    _functional = "tweedie_loss"
    _options = ("power",)

    def __init__(self, power: float = 0.0, reduction: str = "mean") -> None:
        super().__init__(None, None, reduction)
        self.power = power


class _EpsLoss(_OptionLoss):
    _options = ("eps",)

    def __init__(self, eps: float = 1e-7, reduction: str = "mean") -> None:
        super().__init__(None, None, reduction)
        self.eps = eps


class MAPELoss(_EpsLoss):
    """Mean absolute percentage error (Keras), reduced (see ``F.mape_loss``)."""

    _functional = "mape_loss"


class SMAPELoss(_EpsLoss):
    """Symmetric mean absolute percentage error, reduced (see ``F.smape_loss``)."""

    _functional = "smape_loss"


class MSLELoss(_EpsLoss):
    """Mean squared logarithmic error (Keras), reduced (see ``F.msle_loss``)."""

    _functional = "msle_loss"


class KerasPoissonLoss(_EpsLoss):
    """Keras's Poisson loss ``input - target log(input + eps)`` (see ``F.keras_poisson_loss``)."""

    _functional = "keras_poisson_loss"


class SquaredHingeLoss(_OptionLoss):
    """``max(0, margin - y x)**2`` (Keras), reduced (see ``F.squared_hinge_loss``)."""

    _functional = "squared_hinge_loss"
    _options = ("margin",)

    def __init__(self, margin: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(None, None, reduction)
        self.margin = margin


class PerceptronLoss(_OptionLoss):
    """``max(0, -y x)`` (optax), reduced (see ``F.perceptron_loss``)."""

    _functional = "perceptron_loss"

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__(None, None, reduction)


class MulticlassHingeLoss(_OptionLoss):
    """Crammer–Singer multi-class hinge (optax; Keras's CategoricalHinge by ``convention``),
    reduced (see ``F.multiclass_hinge_loss``)."""

    _functional = "multiclass_hinge_loss"
    _options = ("margin", "convention")

    def __init__(
        self, margin: float = 1.0, reduction: str = "mean", convention: str = "crammer_singer"
    ) -> None:
        super().__init__(None, None, reduction)
        self.margin = margin
        self.convention = convention


class MulticlassPerceptronLoss(_OptionLoss):
    """``max_j x_j - x_y`` (optax), reduced (see ``F.multiclass_perceptron_loss``)."""

    _functional = "multiclass_perceptron_loss"

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__(None, None, reduction)


class GeneralizedCrossEntropyLoss(_OptionLoss):
    """``(1 - p_y**q) / q`` on logits (Keras), reduced (see
    ``F.generalized_cross_entropy_loss``)."""

    _functional = "generalized_cross_entropy_loss"
    _options = ("q",)

    def __init__(self, q: float = 0.5, reduction: str = "mean") -> None:
        super().__init__(None, None, reduction)
        self.q = q


class AsymmetricLoss(_OptionLoss):
    """Asymmetric loss ASL (timm; multi-label or single-label), reduced (see
    ``F.asymmetric_loss``)."""

    _functional = "asymmetric_loss"
    _options = ("gamma_neg", "gamma_pos", "clip", "eps", "label_smoothing")

    def __init__(
        self,
        gamma_neg: float = 4.0,
        gamma_pos: float = 1.0,
        clip: float = 0.05,
        eps: float = 1e-8,
        label_smoothing: float = 0.0,
        reduction: str = "mean",
    ) -> None:
        super().__init__(None, None, reduction)
        self.gamma_neg, self.gamma_pos, self.clip = gamma_neg, gamma_pos, clip
        self.eps, self.label_smoothing = eps, label_smoothing


class SymmetricCrossEntropyLoss(_OptionLoss):
    """``alpha CE + beta RCE``, reduced (see ``F.symmetric_cross_entropy_loss``)."""

    _functional = "symmetric_cross_entropy_loss"
    _options = ("alpha", "beta")

    def __init__(self, alpha: float = 0.1, beta: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(None, None, reduction)
        self.alpha = alpha
        self.beta = beta


if not TYPE_CHECKING:  # see lossgrad._exports
    __all__ = public_names(globals())
