"""SGD with momentum, dampening, Nesterov, weight decay and maximize (torch's exact update).

>>> import lossgrad as torch
>>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
>>> opt = torch.optim.SGD([w], lr=0.1, momentum=0.9)
>>> (w * w).sum().backward()  # grad = 2 w
>>> opt.step()  # first step: the momentum buffer is the gradient
>>> w.tolist()
[0.8, -1.6]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lossgrad._tensor import Tensor
from lossgrad.optim.optimizer import Optimizer, params_with_grad


class SGD(Optimizer):
    r"""Stochastic gradient descent, torch's single-tensor update term for term.

    For each parameter ``p`` with gradient: ``g = -grad if maximize else grad``;
    ``g = g + weight_decay * p``; with momentum, ``b = g`` at the first step and
    ``b = momentum * b + (1 - dampening) * g`` after, then ``g = g + momentum * b`` (Nesterov)
    or ``g = b``; finally ``p = p - lr * g``. Parameters whose ``.grad`` is None are skipped.
    The momentum buffer lives in ``state[p]["momentum_buffer"]``.
    """

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
            "maximize": maximize,
            "foreach": foreach,
            "differentiable": differentiable,
            "fused": fused,
        }
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, defaults)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("nesterov", False)
            group.setdefault("maximize", False)
            group.setdefault("foreach", None)
            group.setdefault("differentiable", False)
            group.setdefault("fused", False)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns ``closure()``'s loss if given."""
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            lr, momentum, dampening = float(group["lr"]), group["momentum"], group["dampening"]
            weight_decay = group["weight_decay"]
            for p, grad in params_with_grad(group):
                if group["maximize"]:
                    grad = -grad
                if weight_decay != 0:
                    grad = grad + weight_decay * p._data
                if momentum != 0:
                    state = self.state[p]
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = Tensor._make(grad.copy())
                        state["momentum_buffer"] = buf
                    else:
                        b = buf._data
                        b *= momentum
                        b += grad if dampening == 0 else (1 - dampening) * grad  # 1 * g is g
                        buf._vbox[0] += 1
                    grad = grad + momentum * buf._data if group["nesterov"] else buf._data
                p._data += -lr * grad
                p._vbox[0] += 1
        return loss
