"""Parameter: a leaf Tensor that a Module registers as trainable."""

from __future__ import annotations

from typing import Any

import numpy as np

from lossgrad._tensor import Tensor


class Parameter(Tensor):
    """A Tensor that requires grad by default and is registered when assigned to a Module."""

    def __new__(cls, data: Tensor | None = None, requires_grad: bool = True) -> Parameter:
        if data is None:
            arr = np.empty((0,), np.float32)
        elif isinstance(data, Tensor):
            arr = data._data
        else:
            arr = np.asarray(data)
        p = Tensor._make.__func__(cls, arr)  # type: ignore[attr-defined]
        if requires_grad:
            p.requires_grad_(True)
        return p

    def __init__(self, data: Tensor | None = None, requires_grad: bool = True) -> None:
        pass

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo: dict[int, Any]) -> Parameter:
        p = Parameter(Tensor._make(self._data.copy()), self.requires_grad)
        memo[id(self)] = p
        return p

    def __reduce_ex__(self, proto: Any) -> Any:
        return (Parameter, (Tensor._make(self._data), self.requires_grad))


class Buffer(Tensor):
    """Marker for ``nn.Buffer(t)``: assigning it to a Module registers a buffer."""

    def __new__(cls, data: Tensor, *, persistent: bool = True) -> Buffer:
        b = Tensor._make.__func__(cls, data._data)  # type: ignore[attr-defined]
        b.persistent = persistent
        return b

    def __init__(self, data: Tensor, *, persistent: bool = True) -> None:
        pass
