"""Adam and AdamW (amsgrad, weight decay, maximize): torch's exact single-tensor update.

>>> import lossgrad as torch
>>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
>>> opt = torch.optim.Adam([w], lr=0.1)
>>> (w * w).sum().backward()
>>> opt.step()  # the first step moves each weight by about lr against its gradient's sign
>>> [round(v, 6) for v in w.tolist()]
[0.9, -1.9]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from lossgrad._tensor import Tensor
from lossgrad.optim.optimizer import Optimizer, _scalar_dtype, params_with_grad


def _lerp_(start: np.ndarray, end: np.ndarray, weight: float) -> None:
    """torch's ``lerp_``: ``start + w (end - start)`` if ``|w| < 0.5``, else anchored at ``end``."""
    if abs(weight) < 0.5:
        start += weight * (end - start)
    else:
        start[...] = end - (end - start) * (1 - weight)


class Adam(Optimizer):
    r"""Adam (Kingma & Ba), torch's single-tensor update term for term.

    With ``g = -grad if maximize else grad`` and step ``t``: L2 decay ``g = g + weight_decay * p``
    (or, decoupled, ``p = p * (1 - lr * weight_decay)``); ``m = lerp(m, g, 1 - beta1)``;
    ``v = beta2 * v + (1 - beta2) * g * g``; ``vmax = max(vmax, v)`` with amsgrad (used in
    place of ``v`` below); ``denom = sqrt(v) / sqrt(1 - beta2^t) + eps``;
    ``p = p + (-lr / (1 - beta1^t)) * m / denom``. State: ``step`` (a 0-d float tensor),
    ``exp_avg``, ``exp_avg_sq`` and ``max_exp_avg_sq`` (amsgrad).
    """

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        decoupled_weight_decay: bool = False,
    ) -> None:
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not (
            (isinstance(betas[0], float) and isinstance(betas[1], float))
            or (isinstance(betas[0], Tensor) and isinstance(betas[1], Tensor))
        ):
            raise ValueError("betas must be either both floats or both Tensors")
        betas = (float(betas[0]), float(betas[1]))
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "maximize": maximize,
            "foreach": foreach,
            "capturable": capturable,
            "differentiable": differentiable,
            "fused": fused,
            "decoupled_weight_decay": decoupled_weight_decay,
        }
        super().__init__(params, defaults)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("amsgrad", False)
            group.setdefault("maximize", False)
            group.setdefault("foreach", None)
            group.setdefault("capturable", False)
            group.setdefault("differentiable", False)
            group.setdefault("decoupled_weight_decay", False)
            group.setdefault("fused", None)
            for p in group["params"]:
                p_state = self.state.get(p, [])
                if len(p_state) != 0 and not isinstance(p_state["step"], Tensor):
                    dt = _scalar_dtype().np
                    p_state["step"] = Tensor._make(np.asarray(float(p_state["step"]), dt))

    def _init_state(self, p: Tensor, amsgrad: bool) -> dict[str, Any]:
        state = self.state[p]
        if len(state) == 0:
            state["step"] = Tensor._make(np.zeros((), _scalar_dtype().np))
            state["exp_avg"] = Tensor._make(np.zeros_like(p._data))
            state["exp_avg_sq"] = Tensor._make(np.zeros_like(p._data))
            if amsgrad:
                state["max_exp_avg_sq"] = Tensor._make(np.zeros_like(p._data))
        return state

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns ``closure()``'s loss if given."""
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            lr, eps, weight_decay = float(group["lr"]), group["eps"], group["weight_decay"]
            amsgrad = group["amsgrad"]
            for p, grad in params_with_grad(group):
                state = self._init_state(p, amsgrad)
                if group["maximize"]:
                    grad = -grad
                state["step"]._data += 1
                step = float(state["step"]._data)
                param = p._data
                if weight_decay != 0:
                    if group["decoupled_weight_decay"]:
                        param *= 1 - lr * weight_decay
                    else:
                        grad = grad + weight_decay * param
                exp_avg, exp_avg_sq = state["exp_avg"]._data, state["exp_avg_sq"]._data
                _lerp_(exp_avg, grad, 1 - beta1)
                exp_avg_sq *= beta2
                exp_avg_sq += (1 - beta2) * grad * grad
                bias_correction1 = 1 - beta1**step
                bias_correction2 = 1 - beta2**step
                step_size = lr / bias_correction1
                bias_correction2_sqrt = bias_correction2**0.5
                if amsgrad:
                    max_sq = state["max_exp_avg_sq"]._data
                    np.maximum(max_sq, exp_avg_sq, out=max_sq)
                    denom = np.sqrt(max_sq) / bias_correction2_sqrt + eps
                else:
                    denom = np.sqrt(exp_avg_sq) / bias_correction2_sqrt + eps
                param += -step_size * exp_avg / denom
                for t in (p, *(v for v in state.values() if isinstance(v, Tensor))):
                    t._vbox[0] += 1
        return loss


class AdamW(Adam):
    """Adam with decoupled weight decay: ``p = p * (1 - lr * weight_decay)`` before the update.

    Identical to ``Adam(..., decoupled_weight_decay=True)``; the default weight decay is 1e-2.
    """

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        super().__init__(
            params,
            lr,
            betas,
            eps,
            weight_decay,
            amsgrad,
            foreach=foreach,
            maximize=maximize,
            capturable=capturable,
            differentiable=differentiable,
            fused=fused,
            decoupled_weight_decay=True,
        )

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True
