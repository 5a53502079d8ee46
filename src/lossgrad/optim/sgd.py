"""SGD with momentum, dampening, Nesterov, weight decay and maximize: torch's exact update."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from lossgrad._tensor import Tensor
from lossgrad.optim.optimizer import Optimizer, params_with_grad


class SGD(Optimizer):
    r"""Stochastic gradient descent.

    With ``g = grad (+ weight_decay * p)``: ``b = momentum * b + (1 - dampening) * g`` (``b = g``
    at the first step), ``g = g + momentum * b`` if nesterov else ``b``, then ``p -= lr * g``
    (``+=`` with ``maximize``).
    """

    def __init__(self, params: Any, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, differentiable: bool = False, fused: bool | None = None) -> None:
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize, foreach=foreach,
                        differentiable=differentiable, fused=fused)
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            lr, mom, damp = group["lr"], group["momentum"], group["dampening"]
            wd, nesterov, maximize = group["weight_decay"], group["nesterov"], group["maximize"]
            for p in params_with_grad(group):
                g = p._grad._data if not maximize else -p._grad._data
                if wd != 0:
                    g = g + wd * p._data
                if mom != 0:
                    state = self.state[p]
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = Tensor._make(np.array(g, copy=True))
                        state["momentum_buffer"] = buf
                    else:
                        b = buf._data
                        b *= mom
                        b += (1 - damp) * g
                    g = g + mom * buf._data if nesterov else buf._data
                p._data -= lr * g
                p._vbox[0] += 1
        return loss
