"""Modules of the language-model losses: ``nn.LinearCrossEntropyLoss`` (torch 2.13)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from lossgrad._exports import public_names
from lossgrad._tensor import Tensor
from lossgrad.nn import functional as F
from lossgrad.nn.functional.loss_language import LinearCrossEntropyOptions
from lossgrad.nn.modules.linear import Linear
from lossgrad.nn.modules.loss import _WeightedLoss
from lossgrad.ops.shape import reshape


class LinearCrossEntropyLoss(_WeightedLoss):
    """A language-model head ``nn.Linear(in_features, prod(num_classes, *out_features))`` and
    cross-entropy in one (see ``F.linear_cross_entropy``).

    The head is kept as a 2-D ``self.linear`` and reshaped to ``(num_classes, *out_features,
    in_features)`` in ``forward``, as torch does. ``options=LinearCrossEntropyOptions(...)``
    selects the chunked path (no ``N x num_classes`` logits held).

    Shape:
        - Input: ``(in_features)`` or ``(N, in_features)``.
        - Target: class indices ``()``, ``(N)`` or ``(N, *out_features)``; or probabilities
          ``(C)`` or ``(N, C, *out_features)``.
        - Output: scalar, or the target's shape for ``reduction='none'``.

    Example:
        >>> import lossgrad as torch
        >>> loss = torch.nn.LinearCrossEntropyLoss(4, 10, bias=True)
        >>> out = loss(torch.randn(3, 4), torch.tensor([1, 0, 9]))
        >>> out.shape
        torch.Size([])
    """

    __constants__ = ["num_classes", "out_features", "reduction", "ignore_index", "label_smoothing"]

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        *,
        out_features: tuple[int, ...] = (),
        bias: bool = False,
        device: Any = None,
        dtype: Any = None,
        reduction: str = "mean",
        weight: Tensor | None = None,
        ignore_index: int | None = None,
        label_smoothing: float = 0.0,
        options: LinearCrossEntropyOptions | None = None,
    ) -> None:
        if weight is not None and tuple(weight.shape) != (num_classes,):
            raise RuntimeError(
                f"expected weight shape to be {(num_classes,)}, got {tuple(weight.shape)}"
            )
        if label_smoothing < 0 or label_smoothing > 1.0:
            raise RuntimeError(
                f"expected label_smoothing to be in range [0, 1], got {label_smoothing}"
            )
        super().__init__(weight, None, None, reduction)
        self.num_classes = num_classes
        self.out_features = out_features
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing
        self.linear = Linear(
            in_features,
            math.prod(out_features, start=num_classes),
            bias=bias,
            device=device,
            dtype=dtype,
        )
        self.options = options

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        head_shape = (self.num_classes, *self.out_features)
        linear_weight = reshape(self.linear.weight, (*head_shape, self.linear.in_features))
        bias = self.linear.bias
        return F.linear_cross_entropy(
            input,
            linear_weight,
            target,
            linear_bias=reshape(bias, head_shape) if bias is not None else None,
            weight=self.weight,
            reduction=self.reduction,
            ignore_index=self.ignore_index,
            label_smoothing=self.label_smoothing,
            options=self.options,
        )

    def extra_repr(self) -> str:
        return (
            f"in_features={self.linear.in_features},"
            f" num_classes={self.num_classes},"
            f" out_features={self.out_features},"
            f" bias={self.linear.bias is not None},"
            f" reduction={self.reduction},"
            f" ignore_index={self.ignore_index},"
            f" label_smoothing={self.label_smoothing},"
            f" options={self.options}"
        )


if not TYPE_CHECKING:  # see lossgrad._exports
    __all__ = [*public_names(globals()), "LinearCrossEntropyOptions"]
