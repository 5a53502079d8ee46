"""Linear, Identity, Flatten.

>>> import lossgrad as torch
>>> layer = torch.nn.Linear(3, 2)
>>> layer.weight.shape, layer.bias.shape
(torch.Size([2, 3]), torch.Size([2]))
>>> layer(torch.ones(4, 3)).shape
torch.Size([4, 2])
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from lossgrad import _dtype
from lossgrad._tensor import Tensor
from lossgrad.nn import init
from lossgrad.nn.modules.module import Module
from lossgrad.nn.parameter import Parameter
from lossgrad.ops.linalg import linear
from lossgrad.ops.shape import flatten


class Identity(Module):
    """Returns its input unchanged; accepts and ignores any constructor arguments."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, input: Tensor) -> Tensor:
        return input


class Linear(Module):
    r"""``y = x W^T + b`` for input ``(*, in_features)`` and output ``(*, out_features)``.

    torch's default init: ``W ~ U(-1/sqrt(in_features), 1/sqrt(in_features))`` (Kaiming-uniform
    with ``a = sqrt(5)``, whose bound works out to that) and ``b`` from the same interval.
    Gradients: ``dW = g^T x``, ``db = sum(g)``, ``dx = g W``.
    """

    __constants__ = ["in_features", "out_features"]

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        dt = _dtype.to_numpy_dtype(dtype) if dtype is not None else _dtype.get_default_dtype().np
        self.weight = Parameter(Tensor._make(np.empty((out_features, in_features), dt)))
        if bias:
            self.bias = Parameter(Tensor._make(np.empty((out_features,), dt)))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Redraw the weight and bias with torch's default initialisation."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:
        return linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )


class Flatten(Module):
    """Flattens dims ``start_dim..end_dim`` into one (by default all but the batch dim)."""

    __constants__ = ["start_dim", "end_dim"]

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input: Tensor) -> Tensor:
        return flatten(input, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
