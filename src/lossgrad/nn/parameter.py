"""Parameter and Buffer: the Tensors a Module registers when they are assigned as attributes.

>>> import lossgrad as torch
>>> p = torch.nn.Parameter(torch.zeros(2))
>>> p.requires_grad, p.is_leaf
(True, True)
>>> p
Parameter containing:
tensor([0., 0.], requires_grad=True)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from lossgrad import _dtype
from lossgrad._tensor import Tensor


def _empty() -> Tensor:
    return Tensor._make(np.empty((0,), _dtype.get_default_dtype().np))


def _check_tensor(data: Any, what: str) -> Tensor:
    if not isinstance(data, Tensor):
        raise TypeError(f"{what}(): argument 'data' must be Tensor, not {type(data).__name__}")
    return data


class Parameter(Tensor):
    """A leaf Tensor that requires grad by default and shares memory with ``data``.

    Assigning it as a Module attribute registers it, so ``parameters()`` and ``state_dict()``
    find it. ``requires_grad=True`` holds even inside ``no_grad()``, as in torch.
    """

    def __new__(cls, data: Tensor | None = None, requires_grad: bool = True) -> Parameter:
        data = _empty() if data is None else _check_tensor(data, "Parameter")
        p = Tensor._make.__func__(cls, data._data)  # type: ignore[attr-defined]
        p._vbox = data._vbox
        p.requires_grad_(requires_grad)
        return p

    def __init__(self, data: Tensor | None = None, requires_grad: bool = True) -> None:
        pass

    def __repr__(self) -> str:  # type: ignore[override]  # torch's takes no tensor_contents
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo: dict[int, Any]) -> Parameter:
        if id(self) in memo:
            return memo[id(self)]
        p = type(self)(Tensor._make(self._data.copy()), self.requires_grad)
        memo[id(self)] = p
        return p

    def __reduce_ex__(self, proto: Any) -> Any:
        return (Parameter, (Tensor._make(self._data), self.requires_grad))


class Buffer(Tensor):
    """Marker for ``nn.Buffer(t)``: assigning it to a Module registers ``t`` as a buffer."""

    persistent: bool

    def __new__(cls, data: Tensor | None = None, *, persistent: bool = True) -> Buffer:
        data = _empty() if data is None else _check_tensor(data, "Buffer")
        b = Tensor._make.__func__(cls, data._data, data.requires_grad)  # type: ignore[attr-defined]
        b.persistent = persistent
        return b

    def __init__(self, data: Tensor | None = None, *, persistent: bool = True) -> None:
        pass


def zero_grads(params: Iterable[Tensor], set_to_none: bool) -> None:
    """torch's ``zero_grad``: drop each ``.grad``, or detach it and fill it with zeros in place.

    Shared by ``Module.zero_grad`` and ``Optimizer.zero_grad``.
    """
    for p in params:
        grad = p._grad
        if grad is None:
            continue
        if set_to_none:
            p._grad = None
            continue
        if grad.grad_fn is not None:
            grad.detach_()
        else:
            grad.requires_grad_(False)
        grad._data[...] = 0
        grad._vbox[0] += 1
