"""lossgrad.autograd: backward, grad, Function, grad modes, gradcheck."""

from __future__ import annotations

import warnings
from typing import Any

from lossgrad.autograd.function import Function, once_differentiable
from lossgrad.autograd.grad_mode import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)
from lossgrad.autograd.gradcheck import gradcheck, gradgradcheck


def backward(
    tensors: Any,
    grad_tensors: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    grad_variables: Any = None,
    inputs: Any = None,
) -> None:
    """Accumulate into the leaves' ``.grad`` the gradient of ``tensors`` (summed).

    ``grad_variables`` is torch's deprecated name of ``grad_tensors``.
    """
    if grad_variables is not None:
        if grad_tensors is not None:
            raise RuntimeError(
                "'grad_tensors' and 'grad_variables' (deprecated) arguments both passed to "
                "backward(). Please only use 'grad_tensors'."
            )
        warnings.warn(
            "`grad_variables` is deprecated. Use `grad_tensors` instead.", FutureWarning,
            stacklevel=2,
        )
        grad_tensors = grad_variables
    from lossgrad.autograd.engine import run_backward

    run_backward(tensors, grad_tensors, retain_graph, create_graph, inputs=inputs)


def grad(
    outputs: Any,
    inputs: Any,
    grad_outputs: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    only_inputs: bool = True,
    allow_unused: bool | None = None,
    is_grads_batched: bool = False,
    materialize_grads: bool = False,
) -> tuple[Any, ...]:
    """Return the gradients of ``outputs`` w.r.t. ``inputs`` without touching ``.grad``."""
    from lossgrad._tensor import Tensor
    from lossgrad.autograd.engine import run_backward

    single = isinstance(inputs, Tensor)
    inputs_list = [inputs] if single else list(inputs)
    if not inputs_list:
        raise RuntimeError("`inputs` argument to `grad()` cannot be empty.")
    if materialize_grads and allow_unused is False:
        raise ValueError(
            "Expected allow_unused to be True or not passed when materialize_grads=True"
        )
    allow = bool(allow_unused) or materialize_grads
    res = run_backward(
        outputs,
        grad_outputs,
        retain_graph,
        create_graph,
        inputs=inputs_list,
        allow_unused=allow,
        accumulate=False,
    )
    if materialize_grads:
        from lossgrad._factories import zeros_like

        res = tuple(
            zeros_like(i) if g is None else g for g, i in zip(res, inputs_list, strict=True)
        )
    return res


__all__ = [
    "Function",
    "backward",
    "enable_grad",
    "grad",
    "gradcheck",
    "gradgradcheck",
    "inference_mode",
    "is_grad_enabled",
    "no_grad",
    "once_differentiable",
    "set_grad_enabled",
]
